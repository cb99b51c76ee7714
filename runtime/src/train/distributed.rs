//! Data-parallel training over a c10d process group ([`gscript_dist`], Gloo on CPU), as PyTorch's DDP does it:
//! rank 0's weights are broadcast before training, every rank trains on a disjoint shard of each global minibatch
//! (the seeded order is the same on every rank, so the sequence of global minibatches does not depend on the world
//! size), and after backward the gradients are averaged over the global minibatch in flat buckets of about 25 MB.
//! Each rank's shard loss is a mean over its items, so gradients are weighted by the shard's item count before the
//! sum and divided by the global count after it: with any split the step equals one process's step on the global
//! minibatch (up to floating-point summation order).
//!
//! Batch-norm statistics stay per shard, except in a Borzoi trunk whose training settings name the group
//! ([`TrunkTraining`](crate::models::borzoi::TrunkTraining), scooby's `sync_batch_norm` option): its batch norms then
//! use the statistics of the global minibatch ([`ProcessGroup::sync_batch_norm`], PyTorch's `SyncBatchNorm`), whose
//! backward weights each rank's sums by its count so that this hook's count-weighted average stays exact with unequal
//! shards. Every rank must then run forward and backward on every minibatch (no empty shard).

use std::sync::Arc;

use gscript_dist::{ProcessGroup, ReduceOp};
use tch::{Kind, Tensor};

use crate::train::error::TrainError;
use crate::train::hooks::{GradientHook, StepContext};

/// DDP's default bucket size.
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// Rank `rank`'s contiguous part of a global minibatch `range` split over `world` ranks (sizes differ by at most one).
pub fn shard_range(range: std::ops::Range<usize>, rank: usize, world: usize) -> std::ops::Range<usize> {
    let n = range.len();
    let world = world.max(1);
    range.start + rank * n / world..range.start + (rank + 1) * n / world
}

/// Gives every tensor of `params` a zero gradient (a rank with an empty shard still takes part in the all-reduce).
pub fn zero_gradients(params: &[(String, Tensor)]) -> Result<(), TrainError> {
    let zero = params.iter().filter(|(_, p)| p.requires_grad()).map(|(_, p)| p.sum(Kind::Float) * 0.0);
    if let Some(total) = zero.reduce(|a, b| a + b) {
        total.f_backward()?;
    }
    Ok(())
}

fn dist_error(e: gscript_dist::DistError) -> TrainError {
    TrainError::Callback(format!("data-parallel training: {e}"))
}

/// The data-parallel gradient hook: add it first among the trainer's hooks.
pub struct DataParallel {
    group: Arc<ProcessGroup>,
    bucket_bytes: usize,
}

impl DataParallel {
    /// Data-parallel training over `group`.
    pub fn new(group: Arc<ProcessGroup>) -> DataParallel {
        DataParallel { group, bucket_bytes: DEFAULT_BUCKET_BYTES }
    }

    /// The process-wide group of torchrun's environment ([`gscript_dist::global`]); `None` outside a group.
    pub fn from_env() -> Result<Option<DataParallel>, TrainError> {
        Ok(gscript_dist::global().map_err(dist_error)?.map(DataParallel::new))
    }

    /// Changes the bucket size (bytes).
    pub fn with_bucket_bytes(mut self, bytes: usize) -> DataParallel {
        self.bucket_bytes = bytes.max(1);
        self
    }

    /// The process group.
    pub fn group(&self) -> &Arc<ProcessGroup> {
        &self.group
    }

    /// Consecutive runs of gradients of one dtype, each at most `bucket_bytes` (a larger tensor is its own bucket).
    fn buckets(&self, grads: &[Tensor]) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut bytes = 0usize;
        for (i, g) in grads.iter().enumerate() {
            let size = g.numel() * g.kind().elt_size_in_bytes();
            let same_kind = out.last().and_then(|b| b.last()).is_some_and(|&j| grads[j].kind() == g.kind());
            if same_kind && bytes + size <= self.bucket_bytes {
                out.last_mut().unwrap().push(i);
                bytes += size;
            } else {
                out.push(vec![i]);
                bytes = size;
            }
        }
        out
    }
}

impl GradientHook for DataParallel {
    fn after_backward(&mut self, ctx: &StepContext, params: &[(String, Tensor)]) -> Result<(), TrainError> {
        // Global item count of this minibatch.
        let mut count = [ctx.batch_items as f64];
        self.group.all_reduce_f64(&mut count).map_err(dist_error)?;
        let (local, total) = (ctx.batch_items as f64, count[0]);
        if total <= 0.0 {
            return Ok(());
        }
        tch::no_grad(|| -> Result<(), TrainError> {
            let grads: Vec<Tensor> = params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
            for bucket in self.buckets(&grads) {
                let mut flat = Tensor::cat(&bucket.iter().map(|&i| grads[i].reshape([-1])).collect::<Vec<_>>(), 0);
                let _ = flat.f_mul_scalar_(local)?;
                self.group.all_reduce(&flat, ReduceOp::Sum).map_err(dist_error)?;
                let _ = flat.f_div_scalar_(total)?;
                let mut offset = 0i64;
                for &i in &bucket {
                    let g = &grads[i];
                    let n = g.numel() as i64;
                    let mut g = g.shallow_clone();
                    g.f_copy_(&flat.narrow(0, offset, n).view_as(&g))?;
                    offset += n;
                }
            }
            Ok(())
        })
    }

    fn shard(&self) -> Option<(usize, usize)> {
        Some((self.group.rank(), self.group.world()))
    }

    fn before_training(&mut self, variables: &[(String, Tensor)]) -> Result<(), TrainError> {
        tch::no_grad(|| -> Result<(), TrainError> {
            for (_, v) in variables {
                if v.is_contiguous() {
                    self.group.broadcast(v, 0).map_err(dist_error)?;
                } else {
                    let c = v.contiguous();
                    self.group.broadcast(&c, 0).map_err(dist_error)?;
                    v.shallow_clone().f_copy_(&c)?;
                }
            }
            Ok(())
        })
    }

    fn sum(&mut self, values: &mut [f64]) -> Result<(), TrainError> {
        self.group.all_reduce_f64(values).map_err(dist_error)
    }
}

#[cfg(test)]
mod tests {
    //! World 2 over loopback (Gloo): the test re-runs its own binary as two ranks with torchrun's environment.
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::train::trainer_tests::{fit_w, LeastSquares};
    use crate::train::{Schedule, TrainerConfig};

    #[test]
    fn shards_cover_the_minibatch_disjointly() {
        for (n, world) in [(128, 2), (7, 3), (2, 4), (1, 1)] {
            let mut items = Vec::new();
            for r in 0..world {
                items.extend(shard_range(10..10 + n, r, world));
            }
            assert_eq!(items, (10..10 + n).collect::<Vec<_>>(), "n {n} world {world}");
        }
        assert_eq!(shard_range(0..128, 1, 2), 64..128);
    }

    /// Trains `epochs` epochs at global batch 128 (sharded when `dp` is given); the final weights.
    fn train(
        epochs: usize,
        checkpoint: Option<PathBuf>,
        resume: Option<PathBuf>,
        dp: Option<DataParallel>,
    ) -> Vec<f32> {
        // 384 items: 3 global minibatches of 128
        let mut objective = LeastSquares::with_items(384);
        if dp.as_ref().is_some_and(|d| d.group().rank() == 1) {
            // Different initial weights on rank 1: the broadcast from rank 0 must replace them.
            let _ = tch::no_grad(|| objective.w.fill_(7.0));
        }
        let config = TrainerConfig {
            epochs,
            batch_size: 128,
            seed: 11,
            patience: None,
            min_delta: 0.0,
            restore_best: false,
            clip_norm: None,
            schedule: Schedule::constant(),
            checkpoint,
            resume,
        };
        let mut dp = dp;
        let hooks: Vec<&mut dyn GradientHook> = dp.iter_mut().map(|d| d as &mut dyn GradientHook).collect();
        let w = objective.w.shallow_clone();
        fit_w(&mut objective, &w, config, hooks, &mut ()).unwrap();
        Vec::try_from(objective.w.detach()).unwrap()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        // Only the summation order of the gradient differs (shard sums, then the all-reduce): a few fp32 ulps of
        // values of order 1 per step, far below 1e-5 after 3-6 Adam steps of size lr = 0.05.
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + x.abs()))
    }

    fn run_world_two(dir: &Path) {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let start = Instant::now();
        let mut children: Vec<_> = (0..2)
            .map(|rank| {
                Command::new(std::env::current_exe().unwrap())
                    .args(["train::distributed::tests::world_two_equals_world_one", "--exact", "--nocapture"])
                    .env("GSCRIPT_DP_WORKER_DIR", dir)
                    .env("RANK", rank.to_string())
                    .env("WORLD_SIZE", "2")
                    .env("MASTER_ADDR", "127.0.0.1")
                    .env("MASTER_PORT", port.to_string())
                    .env("GSCRIPT_DIST_TIMEOUT", "30")
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (rank, child) in children.iter_mut().enumerate() {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "rank {rank}: {status}");
                    break;
                }
                if start.elapsed() > Duration::from_secs(90) {
                    child.kill().ok();
                    panic!("rank {rank} did not finish within 90 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    #[test]
    fn world_two_equals_world_one() {
        if let Ok(dir) = std::env::var("GSCRIPT_DP_WORKER_DIR") {
            let group = Arc::new(gscript_dist::ProcessGroup::from_env().unwrap().expect("launched in a group"));
            let rank = group.rank();
            let dir = PathBuf::from(dir);
            // 1 epoch = 3 steps at global batch 128, i.e. 64 per rank; rank 0 alone writes the checkpoint.
            let w = train(1, Some(dir.join("world2.ckpt")), None, Some(DataParallel::new(group)));
            std::fs::write(dir.join(format!("w{rank}.json")), serde_json::to_string(&w).unwrap()).unwrap();
            return;
        }
        let _rng = crate::testing::torch_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        run_world_two(dir.path());
        let read = |name: &str| -> Vec<f32> {
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(name)).unwrap()).unwrap()
        };
        let (w0, w1) = (read("w0.json"), read("w1.json"));
        assert_eq!(w0, w1, "the ranks' weights must stay identical");
        let single = train(1, None, None, None);
        assert!(close(&w0, &single), "world 2 {w0:?} vs world 1 {single:?}");
        assert!(single.iter().any(|v| *v != 0.0), "training must move the weights");
        // Rank 1 wrote no checkpoint file of its own (only rank 0 writes; one file, written once).
        assert!(dir.path().join("world2.ckpt").is_file());
        // The world-2 checkpoint resumes in world 1 and continues as a world-1 run.
        let resumed = train(2, None, Some(dir.path().join("world2.ckpt")), None);
        let straight = train(2, None, None, None);
        assert!(close(&resumed, &straight), "resumed {resumed:?} vs straight {straight:?}");
        assert!(!close(&resumed, &single), "the second epoch must change the weights");
    }
}
