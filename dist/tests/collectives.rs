//! Two processes over loopback with Gloo: the test re-runs its own binary as rank 0 and rank 1 (torchrun's
//! environment), each worker checks the collectives' values and exits 0; the parent checks both exit codes and a
//! time bound.
mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::{free_port, is_worker, spawn, wait};
use gscript_dist::{DistError, ProcessGroup, ReduceOp};
use tch::{Kind, Tensor};

#[test]
fn collectives_two_ranks() {
    if is_worker() {
        let pg = ProcessGroup::from_env().unwrap().expect("launched in a group");
        let r = pg.rank() as f64;
        // all-reduce sum and average: ranks hold [r+1, 10(r+1)] → sum [3, 30], average [1.5, 15].
        let t = Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0)]).to_kind(Kind::Float);
        pg.all_reduce(&t, ReduceOp::Sum).unwrap();
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![3.0, 30.0]);
        let t = Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0)]).to_kind(Kind::Float);
        pg.all_reduce(&t, ReduceOp::Avg).unwrap();
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![1.5, 15.0]);
        // broadcast from rank 1.
        let b = Tensor::from_slice(&[r, r, r]).to_kind(Kind::Float);
        pg.broadcast(&b, 1).unwrap();
        assert_eq!(Vec::<f32>::try_from(&b).unwrap(), vec![1.0; 3]);
        // all-gather in rank order.
        let g = pg.all_gather(&Tensor::from_slice(&[r * 2.0, r * 2.0 + 1.0])).unwrap();
        let got: Vec<Vec<f64>> = g.iter().map(|t| Vec::<f64>::try_from(t).unwrap()).collect();
        assert_eq!(got, vec![vec![0.0, 1.0], vec![2.0, 3.0]]);
        // a non-contiguous tensor is refused, not reduced wrongly.
        let nc = Tensor::ones([3, 4], (Kind::Float, tch::Device::Cpu)).transpose(0, 1);
        let err = pg.all_reduce(&nc, ReduceOp::Sum).unwrap_err();
        assert!(err.to_string().contains("not contiguous"), "{err}");
        let mut v = [r + 0.5];
        pg.all_reduce_f64(&mut v).unwrap();
        assert_eq!(v, [2.0]);
        pg.barrier().unwrap();
        return;
    }
    let port = free_port();
    let children: Vec<Child> = (0..2).map(|r| spawn("collectives_two_ranks", r, port, 20.0)).collect();
    for (r, c) in children.into_iter().enumerate() {
        let (code, out) = wait(c, Duration::from_secs(60));
        assert_eq!(code, Some(0), "rank {r}:\n{out}");
    }
}

#[test]
fn lost_rank_is_named_within_the_timeout() {
    if is_worker() {
        let pg = ProcessGroup::from_env().unwrap().expect("launched in a group");
        pg.barrier().unwrap();
        if pg.rank() == 1 {
            // Dies without a word, as a crashed or killed rank does.
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(200));
        let t = Tensor::ones([1000], (Kind::Float, tch::Device::Cpu));
        match pg.all_reduce(&t, ReduceOp::Sum) {
            Err(e @ (DistError::PeerLost { lost: Some(1), .. } | DistError::Timeout { lost: Some(1), .. })) => {
                eprintln!("ERROR: {e}");
                std::process::exit(7)
            }
            other => panic!("expected the loss of rank 1, got {other:?}"),
        }
    }
    let port = free_port();
    let timeout = 5.0;
    let start = Instant::now();
    let children: Vec<Child> =
        (0..2).map(|r| spawn("lost_rank_is_named_within_the_timeout", r, port, timeout)).collect();
    let mut it = children.into_iter();
    let (c0, c1) = (it.next().unwrap(), it.next().unwrap());
    let (code1, _) = wait(c1, Duration::from_secs(30));
    assert_eq!(code1, Some(3));
    let (code0, out0) = wait(c0, Duration::from_secs(30));
    assert_eq!(code0, Some(7), "rank 0:\n{out0}");
    assert!(out0.contains("rank 1"), "{out0}");
    // Rendezvous plus at most one collective timeout (and process start-up slack).
    assert!(start.elapsed() < Duration::from_secs_f64(timeout + 15.0), "{:?}", start.elapsed());
}
