//! `gscript bench distributed`: c10d over Gloo on loopback, world 2 on this machine. All-reduce bandwidth (tensor
//! bytes / seconds per all-reduce, as in the c10d notes) for 4.5M (scBasset) and 170M (Borzoi-sized) fp32
//! parameters, and scBasset training throughput (global sequences per second) of world 1 vs world 2 with 1 libtorch
//! thread per rank. Every measurement runs in child processes (`gscript bench distributed --worker …`) with
//! torchrun's environment, as `gscript launch` starts them.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use tch::{nn, Kind, Tensor};

use super::model::RandomPeaks;
use super::BenchError;
use crate::models::scbasset::{train_with_hooks, Preset, ScBasset, TrainConfig};
use crate::train::distributed::DataParallel;
use crate::train::{GradientHook, TrainData};

pub const USAGE: &str = "gscript bench distributed [--quick]
  c10d (Gloo, loopback, world 2): all-reduce GB/s for 4.5M and 170M fp32 parameters; scBasset training seq/s
  world 1 vs world 2, 1 thread per rank (--quick: 170M skipped, fewer minibatches)";

fn failed(e: impl std::fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}

/// Runs `gscript bench distributed --worker <what> <arg>` as `world` ranks; rank 0's last stdout line.
fn spawn_ranks(world: usize, what: &str, arg: &str) -> Result<String, BenchError> {
    let exe = std::env::current_exe().map_err(failed)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(failed)?.port();
    let children: Vec<_> = (0..world)
        .map(|r| {
            let mut c = Command::new(&exe);
            c.args(["bench", "distributed", "--worker", what, arg]).stdout(Stdio::piped()).stderr(Stdio::inherit());
            if world > 1 {
                c.env("RANK", r.to_string())
                    .env("LOCAL_RANK", r.to_string())
                    .env("WORLD_SIZE", world.to_string())
                    .env("MASTER_ADDR", "127.0.0.1")
                    .env("MASTER_PORT", port.to_string())
                    .env("GSCRIPT_DIST_TIMEOUT", "120");
            }
            c.spawn().map_err(failed)
        })
        .collect::<Result<_, _>>()?;
    let mut first = String::new();
    for (r, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().map_err(failed)?;
        if !out.status.success() {
            return Err(BenchError::Failed(format!("{what} worker rank {r} failed ({})", out.status)));
        }
        if r == 0 {
            first = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        }
    }
    Ok(first)
}

/// Seconds per all-reduce of `numel` fp32 values (the mean of `reps` after one warm-up).
fn allreduce_worker(numel: usize) -> Result<f64, BenchError> {
    crate::threads::set_threads(1);
    let group = gscript_dist::ProcessGroup::from_env().map_err(failed)?.ok_or_else(|| failed("not in a group"))?;
    let t = Tensor::ones([numel as i64], (Kind::Float, tch::Device::Cpu));
    let reps = if numel > 50_000_000 { 3 } else { 20 };
    group.all_reduce(&t, gscript_dist::ReduceOp::Avg).map_err(failed)?;
    group.barrier().map_err(failed)?;
    let start = Instant::now();
    for _ in 0..reps {
        group.all_reduce(&t, gscript_dist::ReduceOp::Avg).map_err(failed)?;
    }
    Ok(start.elapsed().as_secs_f64() / reps as f64)
}

/// Global sequences per second of `batches` scBasset (keras preset, 200 cells) minibatches of 128 (global).
fn train_worker(batches: usize) -> Result<f64, BenchError> {
    crate::threads::set_threads(1);
    let group = gscript_dist::ProcessGroup::from_env().map_err(failed)?.map(Arc::new);
    let config = Preset::Keras.config(200);
    let batch = 128;
    let data = RandomPeaks::generate(batch * (batches + 1), config.seq_len, 200, 0.05, 7);
    let train_ids: Vec<usize> = (0..batch * (batches + 1)).collect();
    let tdata = TrainData {
        codes: &data.codes,
        seq_len: data.seq_len,
        n_cells: data.n_cells,
        positives: &data.positives,
        train: &train_ids,
        val: &[],
    };
    tch::manual_seed(7);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let mut model = ScBasset::new(&vs.root(), &config).map_err(failed)?;
    let tc = TrainConfig { epochs: 1, batch_size: batch, seed: 7, restore_best: false, ..TrainConfig::default() };
    let mut dp = group.map(DataParallel::new);
    let hooks: Vec<&mut dyn GradientHook> = dp.iter_mut().map(|d| d as &mut dyn GradientHook).collect();
    // The first minibatch warms up (allocations, thread pool); the rest are timed.
    let mut timer = FirstBatch(None);
    train_with_hooks(&mut model, &vs, &tdata, &tc, &mut timer, &|| false, hooks).map_err(failed)?;
    let start = timer.0.ok_or_else(|| failed("no minibatch ran"))?;
    Ok((batch * batches) as f64 / start.elapsed().as_secs_f64())
}

struct FirstBatch(Option<Instant>);

impl crate::train::TrainObserver for FirstBatch {
    fn on_batch(&mut self, _: usize, b: usize, _: usize, _: f64) -> Result<(), crate::train::TrainError> {
        if b == 1 {
            self.0 = Some(Instant::now());
        }
        Ok(())
    }
}

/// Runs the benchmark (or one of its workers) and prints the table.
pub fn print(args: &[String]) -> Result<(), BenchError> {
    if args.first().map(String::as_str) == Some("--worker") {
        let what = args.get(1).map(String::as_str).unwrap_or("");
        let n: usize = args.get(2).and_then(|v| v.parse().ok()).ok_or_else(|| failed("worker needs a number"))?;
        let value = match what {
            "allreduce" => allreduce_worker(n)?,
            "train" => train_worker(n)?,
            other => return Err(BenchError::Usage(format!("unknown worker {other}"))),
        };
        println!("{value}");
        return Ok(());
    }
    let quick = match args {
        [] => false,
        [q] if q == "--quick" => true,
        _ => return Err(BenchError::Usage(format!("bench distributed: unknown arguments {}", args.join(" ")))),
    };
    let parse = |s: String| s.trim().parse::<f64>().map_err(|_| failed(format!("worker printed {s:?}")));
    println!("c10d all-reduce over Gloo, loopback, world 2 (fp32, average)");
    println!("{:>12} {:>12} {:>10}", "parameters", "s/all-reduce", "GB/s");
    let sizes: &[usize] = if quick { &[4_500_000] } else { &[4_500_000, 170_000_000] };
    for &n in sizes {
        let s = parse(spawn_ranks(2, "allreduce", &n.to_string())?)?;
        println!("{:>12} {:>12.4} {:>10.2}", n, s, (n * 4) as f64 / s / 1e9);
    }
    let batches = if quick { 3 } else { 10 };
    println!("\nscBasset (keras, 200 cells) training, global minibatch 128, 1 thread per rank");
    let one = parse(spawn_ranks(1, "train", &batches.to_string())?)?;
    let two = parse(spawn_ranks(2, "train", &batches.to_string())?)?;
    println!("{:>8} {:>10}", "world", "seq/s");
    println!("{:>8} {:>10.1}", 1, one);
    println!("{:>8} {:>10.1}   ({:.2}× world 1)", 2, two, two / one);
    Ok(())
}
