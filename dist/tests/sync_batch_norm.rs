//! Synchronised batch norm over two ranks (loopback, Gloo): each rank normalises its rows of one batch; outputs,
//! running statistics and gradients must equal libtorch's `batch_norm` in training mode on the whole batch. Both ranks
//! draw the same batch from the same seed; the whole-batch reference runs on every rank.
mod common;

use std::time::Duration;

use common::{free_port, is_worker, spawn, wait};
use gscript_dist::{ProcessGroup, ReduceOp};
use tch::{Device, Kind, Tensor};

const MOMENTUM: f64 = 0.1;
const EPS: f64 = 1e-3;

/// Largest |a − b| relative to the scale of `b` (at least 1).
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let d = (a - b).abs().max().double_value(&[]);
    d / b.abs().max().double_value(&[]).max(1.0)
}

fn leaf(t: &Tensor) -> Tensor {
    t.detach().copy().set_requires_grad(true)
}

struct Batch {
    /// `(N, C, L)`, non-contiguous (a transposed `(N, L, C)`), mean ≠ 0.
    x: Tensor,
    w: Tensor,
    b: Tensor,
    rm: Tensor,
    rv: Tensor,
    /// Fixed random weights of the loss `Σ y·r`.
    r: Tensor,
}

fn batch(n: i64) -> Batch {
    tch::manual_seed(11);
    let opts = (Kind::Float, Device::Cpu);
    let (c, l) = (3, 5);
    Batch {
        x: (Tensor::randn([n, l, c], opts) * 2.0 + 0.7).transpose(1, 2),
        w: Tensor::randn([c], opts),
        b: Tensor::randn([c], opts),
        rm: Tensor::randn([c], opts),
        rv: Tensor::rand([c], opts) + 0.5,
        r: Tensor::randn([n, c, l], opts),
    }
}

/// Whole-batch reference: output, running stats after the update, and the gradients of `Σ y·r / scale` w.r.t.
/// input, weight and bias.
fn reference(bt: &Batch, scale: f64) -> [Tensor; 6] {
    let (x, w, b) = (leaf(&bt.x), leaf(&bt.w), leaf(&bt.b));
    let (rm, rv) = (bt.rm.copy(), bt.rv.copy());
    let y = Tensor::batch_norm(&x, Some(&w), Some(&b), Some(&rm), Some(&rv), true, MOMENTUM, EPS, false);
    ((&y * &bt.r).sum(Kind::Float) / scale).backward();
    [y.detach(), rm, rv, x.grad(), w.grad(), b.grad()]
}

/// Rank `rank`'s rows `start..start + n` through sync batch norm; the loss is `Σ y·r / scale`. Returns output, running
/// stats, and the gradients w.r.t. its input rows, the weight and the bias.
fn sharded(pg: &ProcessGroup, bt: &Batch, start: i64, n: i64, scale: f64) -> [Tensor; 6] {
    let x = bt.x.narrow(0, start, n).detach().set_requires_grad(true);
    assert!(!x.is_contiguous());
    let (w, b) = (leaf(&bt.w), leaf(&bt.b));
    let (rm, rv) = (bt.rm.copy(), bt.rv.copy());
    let y = pg.sync_batch_norm(&x, &w, &b, &rm, &rv, MOMENTUM, EPS).unwrap();
    assert!(y.requires_grad());
    ((&y * bt.r.narrow(0, start, n)).sum(Kind::Float) / scale).f_backward().unwrap();
    [y.detach(), rm, rv, x.grad(), w.grad(), b.grad()]
}

fn check(what: &str, got: &Tensor, want: &Tensor) {
    let d = rel_diff(got, want);
    assert!(d < 1e-5, "{what}: relative difference {d:e}\ngot {got}\nwant {want}");
}

#[test]
fn sync_batch_norm_two_ranks_equals_whole_batch() {
    if is_worker() {
        let pg = ProcessGroup::from_env().unwrap().expect("launched in a group");
        let rank = pg.rank() as i64;

        // Equal halves, loss Σ y·r (a sum): the ranks' weight and bias gradients sum to the whole batch's.
        let bt = batch(8);
        let [y, rm, rv, gx, gw, gb] = reference(&bt, 1.0);
        let [ys, rms, rvs, gxs, gws, gbs] = sharded(&pg, &bt, rank * 4, 4, 1.0);
        check("output", &ys, &y.narrow(0, rank * 4, 4));
        check("running mean", &rms, &rm);
        check("running var", &rvs, &rv);
        check("input gradient", &gxs, &gx.narrow(0, rank * 4, 4));
        assert!(rel_diff(&gws, &gw) > 1e-3, "one rank's weight gradient is not the whole batch's");
        for (name, g, want) in [("weight gradient", gws, gw), ("bias gradient", gbs, gb)] {
            pg.all_reduce(&g, ReduceOp::Sum).unwrap();
            check(name, &g, &want);
        }

        // bf16 input (a bf16 trunk): statistics in fp32 and fp64, a bf16 output within bf16 rounding of the fp32 one.
        let xb = bt.x.narrow(0, rank * 4, 4).to_kind(Kind::BFloat16);
        let yb = pg.sync_batch_norm(&xb, &bt.w, &bt.b, &bt.rm.copy(), &bt.rv.copy(), MOMENTUM, EPS).unwrap();
        assert_eq!(yb.kind(), Kind::BFloat16);
        let d = rel_diff(&yb.to_kind(Kind::Float), &y.narrow(0, rank * 4, 4));
        assert!(d < 3e-2, "bf16 output differs by {d}");

        // Unequal shards (2 and 6 rows), each rank's loss a mean over its rows as in data-parallel training:
        // gradients weighted by the rank's share of the rows (what DataParallel does) give the whole batch's.
        let bt = batch(8);
        let [y, rm, rv, gx, gw, gb] = reference(&bt, 8.0);
        let (start, n) = if rank == 0 { (0, 2) } else { (2, 6) };
        let [ys, rms, rvs, gxs, gws, gbs] = sharded(&pg, &bt, start, n, n as f64);
        let share = n as f64 / 8.0;
        check("output (unequal)", &ys, &y.narrow(0, start, n));
        check("running mean (unequal)", &rms, &rm);
        check("running var (unequal)", &rvs, &rv);
        check("input gradient (unequal)", &(gxs * share), &gx.narrow(0, start, n));
        for (name, g, want) in [("weight gradient (unequal)", gws, gw), ("bias gradient (unequal)", gbs, gb)] {
            let g = g * share;
            pg.all_reduce(&g, ReduceOp::Sum).unwrap();
            check(name, &g, &want);
        }

        // Bad arguments come back as errors (checked before any collective).
        let e = pg.sync_batch_norm(&bt.x, &bt.w.narrow(0, 0, 2), &bt.b, &bt.rm, &bt.rv, MOMENTUM, EPS).unwrap_err();
        assert!(e.to_string().contains("the weight must have 3 elements"), "{e}");
        let flat = Tensor::ones([4], (Kind::Float, Device::Cpu));
        let e = pg.sync_batch_norm(&flat, &bt.w, &bt.b, &bt.rm, &bt.rv, MOMENTUM, EPS).unwrap_err();
        assert!(e.to_string().contains("(N, C, ...)"), "{e}");
        pg.barrier().unwrap();
        return;
    }
    let port = free_port();
    let children: Vec<_> =
        (0..2).map(|r| spawn("sync_batch_norm_two_ranks_equals_whole_batch", r, port, 20.0)).collect();
    for (r, c) in children.into_iter().enumerate() {
        let (code, out) = wait(c, Duration::from_secs(60));
        assert_eq!(code, Some(0), "rank {r}:\n{out}");
    }
}

#[test]
fn sync_batch_norm_backward_error_is_an_error() {
    // Rank 1 dies after the forward pass; rank 0's backward all-reduce fails, and the failure comes back from
    // f_backward as an error instead of aborting the process.
    if is_worker() {
        let pg = ProcessGroup::from_env().unwrap().expect("launched in a group");
        let bt = batch(4);
        let x = bt.x.narrow(0, pg.rank() as i64 * 2, 2).detach().set_requires_grad(true);
        let y = pg.sync_batch_norm(&x, &bt.w, &bt.b, &bt.rm, &bt.rv, MOMENTUM, EPS).unwrap();
        if pg.rank() == 1 {
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(200));
        match y.sum(Kind::Float).f_backward() {
            Err(e) => {
                eprintln!("ERROR: {e}");
                std::process::exit(7)
            }
            Ok(()) => panic!("backward succeeded without rank 1"),
        }
    }
    let port = free_port();
    let mut children = (0..2).map(|r| spawn("sync_batch_norm_backward_error_is_an_error", r, port, 5.0));
    let (c0, c1) = (children.next().unwrap(), children.next().unwrap());
    let (code1, out1) = wait(c1, Duration::from_secs(30));
    assert_eq!(code1, Some(3), "rank 1:\n{out1}");
    let (code0, out0) = wait(c0, Duration::from_secs(30));
    assert_eq!(code0, Some(7), "rank 0:\n{out0}");
    assert!(out0.contains("ERROR:") && out0.contains("rank 0: sync_batch_norm backward: all_reduce failed"), "{out0}");
}
