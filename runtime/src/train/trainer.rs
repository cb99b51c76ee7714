//! The one training loop of gscript. Every model trains through it — scBasset from scratch and fine-tuning with LoRA
//! adapters and any head alike; the loop knows models only through an [`Objective`] (forward + loss + metrics on a
//! minibatch of items) and an [`Optimizer`] over named tensors.
//!
//! One step: interrupt check → objective's training loss on the minibatch → NaN guard → zero gradients → backward →
//! [gradient hooks](GradientHook) (where a data-parallel all-reduce goes) → global-norm clipping → optimiser step with
//! the [schedule](Schedule)'s learning-rate factor → observer. One epoch: a seeded permutation of the training items
//! in minibatches (a trailing minibatch of one item joins the previous one: batch norm cannot train on one sample),
//! then an evaluation-mode validation pass, the epoch's statistics, best weights, early stopping, an atomic
//! [checkpoint](super::checkpoint) and the observer.
//!
//! **Randomness.** Every epoch derives independent streams from `(seed, epoch)` ([`stream_seed`]): the shuffle
//! (ChaCha8, stream 1), the objective's own draws (augmentation, cell sampling; it derives them from the seed it is
//! given) and libtorch's global generator (re-seeded with `tch::manual_seed` at the start of the epoch, stream 3;
//! dropout draws from it). A run is therefore reproducible on CPU, and a resumed run continues exactly. Re-seeding the
//! global generator affects any other libtorch code running concurrently in the process.

use std::path::PathBuf;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::checkpoint::{
    describe_differences, load_checkpoint_or_previous, save_checkpoint, BestWeights, CheckpointState,
};
use super::error::TrainError;
use super::history::{EarlyStopping, EpochStats, History};
use super::hooks::{GradientHook, StepContext, TrainObserver};
use super::optim::{clip_grad_norm, Optimizer, Schedule};

/// Random stream of the minibatch order.
pub const STREAM_SHUFFLE: u64 = 1;
/// Random stream of data augmentation (objectives).
pub const STREAM_AUGMENT: u64 = 2;
/// Random stream of libtorch's global generator (dropout).
pub const STREAM_TORCH: u64 = 3;
/// Random stream of per-minibatch cell sampling (objectives).
pub const STREAM_CELLS: u64 = 4;

/// Seed of random stream `stream` for epoch index `epoch` (from 0): SplitMix64 over the three numbers.
pub fn stream_seed(seed: u64, epoch: usize, stream: u64) -> u64 {
    let mut z = seed;
    for x in [epoch as u64, stream] {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(x.wrapping_mul(0xD1B5_4A32_D192_ED69));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// Minibatch boundaries over `n` items; a trailing batch of one item joins the previous batch (batch statistics of a
/// single item), unless every batch holds one item (`batch_size` 1, e.g. scooby's one sequence per step).
pub fn batch_ranges(n: usize, batch_size: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges: Vec<_> = (0..n).step_by(batch_size.max(1)).map(|s| s..(s + batch_size).min(n)).collect();
    if batch_size > 1 && ranges.len() > 1 && ranges.last().is_some_and(|r| r.len() == 1) {
        let last = ranges.pop().unwrap();
        ranges.last_mut().unwrap().end = last.end;
    }
    ranges
}

/// Per-cell (or per-track) classification metrics of an epoch's training predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainMetrics {
    /// Mean auROC (the early-stopping and best-weight monitor).
    pub auroc: Option<f64>,
    /// Mean auPR.
    pub aupr: Option<f64>,
}

/// Metrics of a validation pass.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ValMetrics {
    /// Mean loss per validation item.
    pub loss: Option<f64>,
    /// Mean per-cell auROC.
    pub auroc: Option<f64>,
    /// Mean per-cell auPR.
    pub aupr: Option<f64>,
    /// Mean per-item (per-peak) auROC over the cells.
    pub item_auroc: Option<f64>,
}

/// What is trained: forward pass, loss and metrics on minibatches of items (peaks, windows). Implementations hold
/// the model, its head and the data; the trainer never names a model.
pub trait Objective {
    /// Number of training items; minibatches hold indices into `0..n_train()`.
    fn n_train(&self) -> usize;
    /// Number of validation items (0: no validation).
    fn n_val(&self) -> usize;
    /// Starts epoch `epoch` (from 0): reset the metric accumulators and seed the objective's own random draws from
    /// `(seed, epoch)` (see [`stream_seed`]).
    fn begin_epoch(&mut self, epoch: usize, seed: u64) -> Result<(), TrainError>;
    /// The training-mode loss (a differentiable scalar) of the training items `batch`, accumulating the epoch's
    /// training metrics.
    fn train_loss(&mut self, batch: &[usize]) -> Result<Tensor, TrainError>;
    /// The backward pass of the loss [`train_loss`](Objective::train_loss) just returned (default: autograd's). An
    /// objective whose forward pass checkpointed activations finishes the recomputation here.
    fn backward(&mut self, loss: &Tensor) -> Result<(), TrainError> {
        loss.f_backward()?;
        Ok(())
    }
    /// The epoch's training metrics.
    fn train_metrics(&mut self) -> Result<TrainMetrics, TrainError>;
    /// Starts a validation pass.
    fn begin_validation(&mut self) -> Result<(), TrainError>;
    /// Evaluation-mode pass over the validation items `batch` (indices into `0..n_val()`), without gradients.
    fn validate(&mut self, batch: &[usize]) -> Result<(), TrainError>;
    /// The validation pass's metrics.
    fn val_metrics(&mut self) -> Result<ValMetrics, TrainError>;
}

/// Settings of the loop itself (the recipe — optimiser, learning rates, loss — lives with the caller).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerConfig {
    /// Total number of epochs (a resumed run continues up to this number).
    pub epochs: usize,
    /// Items per minibatch.
    pub batch_size: usize,
    /// Seed of every random stream.
    pub seed: u64,
    /// Stop after this many epochs without a training-auROC improvement of more than `min_delta` (`None`: never).
    pub patience: Option<usize>,
    /// Minimal improvement for early stopping.
    pub min_delta: f64,
    /// At the end, put back the weights of the epoch with the best training auROC.
    pub restore_best: bool,
    /// Global gradient-norm limit (`None`: no clipping).
    pub clip_norm: Option<f64>,
    /// Learning-rate factor per step.
    pub schedule: Schedule,
    /// Checkpoint written (atomically) after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Checkpoint to continue from.
    pub resume: Option<PathBuf>,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Every epoch, including those of a resumed checkpoint.
    pub history: History,
    /// Whether early stopping ended training before `epochs`.
    pub stopped_early: bool,
    /// The epoch whose weights were put back by `restore_best`, if any.
    pub restored_epoch: Option<usize>,
}

/// One training run: the loop's settings, the optimiser, the variables a checkpoint stores, what identifies the run
/// in checkpoints, and the extension points.
pub struct Trainer<'a, 'h> {
    /// The loop's settings.
    pub config: TrainerConfig,
    /// The optimiser (its tensors must belong to `variables`' model).
    pub optimizer: &'a mut dyn Optimizer,
    /// The tensors a checkpoint stores and best weights copy, by name (every trained tensor, plus buffers such as
    /// batch-norm statistics that change during training).
    pub variables: Vec<(String, Tensor)>,
    /// The recipe's settings, written into checkpoints.
    pub run: serde_json::Value,
    /// The model's identity (family and configuration), written into checkpoints and checked on resume.
    pub model: serde_json::Value,
    /// Called after every backward pass, in order.
    pub hooks: Vec<&'h mut dyn GradientHook>,
    /// Progress and per-epoch callbacks.
    pub observer: &'a mut dyn TrainObserver,
    /// Polled before every minibatch (training and validation); true stops with [`TrainError::Interrupted`].
    pub interrupt: &'a dyn Fn() -> bool,
}

impl Trainer<'_, '_> {
    fn check(&self) -> Result<(), TrainError> {
        let c = &self.config;
        if c.batch_size == 0 {
            return Err(TrainError::config("batch_size", "must be at least 1"));
        }
        if let Some(clip) = c.clip_norm {
            if !(clip.is_finite() && clip > 0.0) {
                return Err(TrainError::config("clip_norm", format!("{clip} is not a positive number")));
            }
        }
        if !(c.min_delta.is_finite() && c.min_delta >= 0.0) {
            return Err(TrainError::config("min_delta", format!("{} is not a non-negative number", c.min_delta)));
        }
        Ok(())
    }

    /// Trains `objective` for `config.epochs` epochs, or until early stopping. With `config.resume`, training
    /// continues from the checkpoint's epoch with its variables, optimiser state, best weights and history.
    /// Interrupted runs leave the variables as they are in the middle of the epoch; checkpoints are only ever
    /// written whole, after complete epochs.
    pub fn fit(mut self, objective: &mut dyn Objective) -> Result<TrainOutcome, TrainError> {
        self.check()?;
        let mut history = History::default();
        let mut best: Option<BestWeights> = None;
        if let Some(path) = self.config.resume.clone() {
            let (checkpoint, path, warning) = load_checkpoint_or_previous(&path)?;
            if let Some(w) = warning {
                self.observer.on_warning(&w);
            }
            if checkpoint.meta.model != self.model {
                let diff = describe_differences(&checkpoint.meta.model, &self.model);
                return Err(TrainError::Checkpoint {
                    path,
                    message: format!("it was written for a different model ({diff})"),
                });
            }
            best = checkpoint.restore(&path, &self.variables, self.optimizer)?;
            history = checkpoint.meta.history;
            self.observer.on_resume(&path, history.len(), self.config.epochs);
        }
        for hook in self.hooks.iter_mut() {
            hook.before_training(&self.variables)?;
        }
        let writes_files = self.shard().is_none_or(|(rank, _)| rank == 0);
        let patience = self.config.patience.unwrap_or(usize::MAX);
        let mut stopper = EarlyStopping::replay(&history, patience, self.config.min_delta);
        let mut stopped_early = stopper.should_stop();
        for epoch in history.len()..self.config.epochs {
            if stopped_early {
                break;
            }
            let start = Instant::now();
            let (train_loss, train) = self.train_epoch(objective, epoch)?;
            let val = self.validate(objective, epoch)?;
            let stats = EpochStats {
                epoch: epoch + 1,
                train_loss,
                train_auroc: train.auroc,
                train_aupr: train.aupr,
                val_loss: val.and_then(|v| v.loss),
                val_auroc: val.and_then(|v| v.auroc),
                val_aupr: val.and_then(|v| v.aupr),
                val_peak_auroc: val.and_then(|v| v.item_auroc),
                seconds: start.elapsed().as_secs_f64(),
                lr: self.optimizer.lr(),
            };
            let previous_best = history.best_epoch();
            history.epochs.push(stats);
            if self.config.restore_best && history.best_epoch() != previous_best {
                best = Some(BestWeights::snapshot(&self.variables, epoch + 1));
            }
            stopper.update(history.epochs[epoch].train_auroc);
            stopped_early = stopper.should_stop();
            if let Some(path) = self.config.checkpoint.as_ref().filter(|_| writes_files) {
                let state = CheckpointState {
                    variables: &self.variables,
                    optimizer: &*self.optimizer,
                    best: best.as_ref(),
                    history: &history,
                    run: &self.run,
                    model: &self.model,
                };
                save_checkpoint(path, &state)?;
            }
            self.observer.on_epoch(history.last().unwrap(), &history)?;
        }
        let mut restored_epoch = None;
        if self.config.restore_best {
            if let Some(b) = &best {
                b.restore(&self.variables)?;
                restored_epoch = Some(b.epoch);
            }
        }
        let stopped_early = stopped_early && history.len() < self.config.epochs;
        Ok(TrainOutcome { history, stopped_early, restored_epoch })
    }

    /// `(rank, world)` of a data-parallel run (from the first hook that shards).
    fn shard(&self) -> Option<(usize, usize)> {
        self.hooks.iter().find_map(|h| h.shard())
    }

    fn train_epoch(&mut self, objective: &mut dyn Objective, epoch: usize) -> Result<(f64, TrainMetrics), TrainError> {
        let seed = self.config.seed;
        let mut order: Vec<usize> = (0..objective.n_train()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream_seed(seed, epoch, STREAM_SHUFFLE)));
        objective.begin_epoch(epoch, seed)?;
        tch::manual_seed(stream_seed(seed, epoch, STREAM_TORCH) as i64);
        let ranges = batch_ranges(order.len(), self.config.batch_size);
        let n_batches = ranges.len();
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let shard = self.shard();
        for (b, range) in ranges.into_iter().enumerate() {
            crate::threads::adapt();
            if (self.interrupt)() {
                return Err(TrainError::Interrupted { epoch: epoch + 1, batch: b + 1 });
            }
            let batch = match shard {
                Some((rank, world)) => &order[super::distributed::shard_range(range, rank, world)],
                None => &order[range],
            };
            let value = if batch.is_empty() {
                // A global minibatch smaller than the world: this rank contributes zero gradients.
                self.optimizer.zero_grad();
                super::distributed::zero_gradients(self.optimizer.params())?;
                0.0
            } else {
                let loss = objective.train_loss(batch)?;
                let value = loss.f_double_value(&[])?;
                if !value.is_finite() {
                    let lr = self.optimizer.lr();
                    return Err(TrainError::NonFiniteLoss { epoch: epoch + 1, batch: b + 1, n_batches, value, lr });
                }
                self.optimizer.zero_grad();
                objective.backward(&loss)?;
                value
            };
            let ctx =
                StepContext { epoch: epoch + 1, batch: b + 1, step: self.optimizer.steps(), batch_items: batch.len() };
            for hook in self.hooks.iter_mut() {
                hook.after_backward(&ctx, self.optimizer.params())?;
            }
            if let Some(max) = self.config.clip_norm {
                clip_grad_norm(self.optimizer.params(), max);
            }
            let factor = self.config.schedule.factor(self.optimizer.steps());
            self.optimizer.step(factor);
            loss_sum += value * batch.len() as f64;
            seen += batch.len();
            self.observer.on_batch(epoch + 1, b + 1, n_batches, loss_sum / seen as f64)?;
        }
        let mut metrics = objective.train_metrics()?;
        if shard.is_some() {
            // Epoch statistics over every rank's shard: the loss exactly, auROC/auPR as the mean of the ranks' values.
            let (a, p) = (metrics.auroc, metrics.aupr);
            let flag = |o: Option<f64>| if o.is_some() { 1.0 } else { 0.0 };
            let mut sums = [loss_sum, seen as f64, a.unwrap_or(0.0), flag(a), p.unwrap_or(0.0), flag(p)];
            for hook in self.hooks.iter_mut() {
                hook.sum(&mut sums)?;
            }
            loss_sum = sums[0];
            seen = sums[1].round() as usize;
            metrics.auroc = (sums[3] > 0.0).then(|| sums[2] / sums[3]);
            metrics.aupr = (sums[5] > 0.0).then(|| sums[4] / sums[5]);
        }
        Ok((loss_sum / seen.max(1) as f64, metrics))
    }

    fn validate(&mut self, objective: &mut dyn Objective, epoch: usize) -> Result<Option<ValMetrics>, TrainError> {
        if objective.n_val() == 0 {
            return Ok(None);
        }
        objective.begin_validation()?;
        let interrupt = self.interrupt;
        tch::no_grad(|| -> Result<(), TrainError> {
            for (b, range) in batch_ranges(objective.n_val(), self.config.batch_size).into_iter().enumerate() {
                crate::threads::adapt();
                if interrupt() {
                    return Err(TrainError::Interrupted { epoch: epoch + 1, batch: b + 1 });
                }
                objective.validate(&range.collect::<Vec<_>>())?;
            }
            Ok(())
        })?;
        Ok(Some(objective.val_metrics()?))
    }
}
