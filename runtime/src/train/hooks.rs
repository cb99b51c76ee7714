//! Extension points of the trainer: gradient hooks (called after backward, before clipping and the optimiser step —
//! where a data-parallel all-reduce of the gradients plugs in) and observers (progress, live figures, logs).

use tch::Tensor;

use super::error::TrainError;
use super::history::{EpochStats, History};

/// Where in training a gradient hook is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepContext {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Minibatch within the epoch, from 1.
    pub batch: usize,
    /// Optimiser updates applied before this one.
    pub step: u64,
    /// Items (e.g. peaks) in this minibatch.
    pub batch_items: usize,
}

/// Called by the trainer after every backward pass with the optimised tensors, whose `.grad()` holds this step's
/// gradients; a hook may read or change them in place (scale, all-reduce across processes, record norms). Hooks run
/// in the order they were added; an error stops training with that error.
pub trait GradientHook {
    /// Inspect or change the gradients of `params` for the step `ctx`.
    fn after_backward(&mut self, ctx: &StepContext, params: &[(String, Tensor)]) -> Result<(), TrainError>;

    /// `Some((rank, world))` for a data-parallel hook: the trainer then trains this process on its disjoint shard of
    /// every global minibatch, writes checkpoints on rank 0 only and sums epoch statistics with [`Self::sum`].
    fn shard(&self) -> Option<(usize, usize)> {
        None
    }

    /// Called once before the first epoch (after a resume) with the checkpointed variables (e.g. to broadcast
    /// rank 0's weights).
    fn before_training(&mut self, _variables: &[(String, Tensor)]) -> Result<(), TrainError> {
        Ok(())
    }

    /// Sums `values` over the processes of a data-parallel run, in place (nothing to do in one process).
    fn sum(&mut self, _values: &mut [f64]) -> Result<(), TrainError> {
        Ok(())
    }
}

/// Progress hooks. Returning an error stops training with that error.
pub trait TrainObserver {
    /// After every training minibatch: epoch and batch from 1, the epoch's mean loss so far.
    fn on_batch(
        &mut self,
        _epoch: usize,
        _batch: usize,
        _n_batches: usize,
        _running_loss: f64,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// After every epoch (its checkpoint, if any, already written).
    fn on_epoch(&mut self, _stats: &EpochStats, _history: &History) -> Result<(), TrainError> {
        Ok(())
    }
    /// Something the user should know that does not stop training (e.g. a resume that fell back to the previous
    /// checkpoint). The default prints it to standard error.
    fn on_warning(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
    /// Training continues from the checkpoint `path`, which holds `epochs_done` of the `epochs` asked for.
    fn on_resume(&mut self, _path: &std::path::Path, _epochs_done: usize, _epochs: usize) {}
}

/// The observer that ignores everything.
impl TrainObserver for () {}

/// The global L2 norm of the gradients of `params` (tensors without a gradient count as zero).
pub fn gradient_norm(params: &[(String, Tensor)]) -> f64 {
    tch::no_grad(|| {
        params
            .iter()
            .map(|(_, p)| p.grad())
            .filter(|g| g.defined())
            .map(|g| g.square().sum(tch::Kind::Double).double_value(&[]))
            .sum::<f64>()
            .sqrt()
    })
}

/// A gradient hook that records the global gradient norm of every step (before clipping), e.g. for a live plot.
#[derive(Debug, Default)]
pub struct GradientNorms {
    /// `(step context, norm)` in step order.
    pub norms: Vec<(StepContext, f64)>,
}

impl GradientHook for GradientNorms {
    fn after_backward(&mut self, ctx: &StepContext, params: &[(String, Tensor)]) -> Result<(), TrainError> {
        self.norms.push((*ctx, gradient_norm(params)));
        Ok(())
    }
}
