//! The scBasset training loop (calico/scBasset `bin/scbasset_train.py`): minibatches of training peaks → one-hot →
//! per-minibatch augmentation → logits → BCE from logits (softplus over all entries minus the positives' logits) and
//! L2 → Keras-form Adam; per-epoch Keras-style metrics, validation, early stopping on training auROC, best-weight
//! restore, NaN guard, interruption and exact checkpoint/resume.
//!
//! **Randomness.** Every epoch derives three independent streams from `(seed, epoch)`: the shuffle (ChaCha8), the
//! augmentation draws ([`Augmenter`]) and libtorch's global generator (re-seeded with `tch::manual_seed` at the start
//! of the epoch; dropout draws from it). A run is therefore reproducible on CPU, and a resumed run continues exactly.
//! Re-seeding the global generator affects any other libtorch code running concurrently in the process.
//!
//! **Deviations from Keras.** Each epoch visits the training peaks in a full seeded permutation (Keras shuffles
//! the file order through a 2000-element buffer). A trailing minibatch of a single peak is merged into the previous
//! one (batch norm cannot train on one sample). Per-cell AUCs skip cells without both classes; auPR is the step-wise
//! average precision (see [`metrics`](super::metrics)).

use std::path::PathBuf;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};
use thiserror::Error;

use super::adam::KerasAdam;
use super::augment::Augmenter;
use super::checkpoint::{load_checkpoint, save_checkpoint, BestWeights, CheckpointState};
use super::error::ModelError;
use super::history::{EarlyStopping, EpochStats, History};
use super::layers::Precision;
use super::loss::{bce_with_logits_positives, positive_flat_indices};
use super::metrics::{exact_auroc_positives, AucSummary, CellHistograms};
use super::scbasset::ScBasset;
use super::train_data::TrainData;

/// Training hyper-parameters; the defaults are scBasset's (Keras `scbasset_train.py`). Missing fields take their
/// defaults when deserialised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Total number of epochs (a resumed run continues up to this number).
    pub epochs: usize,
    /// Minibatch size (128; at least 2).
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε̂ (TensorFlow form, Keras default 1e-7).
    pub eps: f64,
    /// Early-stopping patience in epochs, on training auROC.
    pub patience: usize,
    /// Minimal auROC increase that counts as an improvement.
    pub min_delta: f64,
    /// Seed of the shuffle, augmentation and dropout streams.
    pub seed: u64,
    /// Reverse complement (p = 1/2) and shift in {−3…3}, drawn once per minibatch.
    pub augment: bool,
    /// Compute precision of the tower (the model is switched to it).
    pub precision: Precision,
    /// L2 coefficient on the cell embedding kernel (scBasset-BC; 0 = off).
    pub l2_cells: f64,
    /// L2 coefficient on the batch embedding kernel (scBasset-BC; 0 = off).
    pub l2_batches: f64,
    /// At the end, put back the weights of the epoch with the best training auROC (Keras `ModelCheckpoint` on `auc`).
    pub restore_best: bool,
    /// Checkpoint written (atomically) after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Checkpoint to continue from: weights, optimiser state, best weights and history.
    pub resume: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 1000,
            batch_size: 128,
            lr: 0.01,
            beta1: 0.95,
            beta2: 0.9995,
            eps: 1e-7,
            patience: 50,
            min_delta: 1e-6,
            seed: 0,
            augment: true,
            precision: Precision::F32,
            l2_cells: 0.0,
            l2_batches: 0.0,
            restore_best: true,
            checkpoint: None,
            resume: None,
        }
    }
}

impl TrainConfig {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field: &str, message: String| Err(TrainError::InvalidConfig { field: field.into(), message });
        if self.batch_size < 2 {
            return bad("batch_size", format!("{} is below 2 (batch normalisation needs 2 samples)", self.batch_size));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("{} is not a positive number", self.lr));
        }
        for (field, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(field, format!("{b} is outside [0, 1)"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad("eps", format!("{} is not a positive number", self.eps));
        }
        for (field, v) in [("min_delta", self.min_delta), ("l2_cells", self.l2_cells), ("l2_batches", self.l2_batches)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, format!("{v} is not a non-negative number"));
            }
        }
        Ok(())
    }
}

/// Why training stopped without a result.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A [`TrainConfig`] field has an unusable value.
    #[error("training config `{field}`: {message}")]
    InvalidConfig {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The data does not fit the model or is malformed.
    #[error("training data: {0}")]
    InvalidData(String),
    /// The loss became NaN or infinite.
    #[error(
        "the training loss became {value} at epoch {epoch}, batch {batch} of {n_batches}; training diverged, \
         try a lower learning rate (lr = {lr}, e.g. {})", lr / 10.0
    )]
    NonFiniteLoss {
        /// Epoch (from 1).
        epoch: usize,
        /// Minibatch (from 1).
        batch: usize,
        /// Minibatches in the epoch.
        n_batches: usize,
        /// The loss value.
        value: f64,
        /// Learning rate in use.
        lr: f64,
    },
    /// The interrupt check returned true; nothing was written for the unfinished epoch.
    #[error("training interrupted at epoch {epoch}, batch {batch}")]
    Interrupted {
        /// Epoch (from 1).
        epoch: usize,
        /// Minibatch (from 1) about to run.
        batch: usize,
    },
    /// Reading or writing a checkpoint failed, or it does not fit the model.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An observer asked to stop.
    #[error("{0}")]
    Callback(String),
    /// A model error.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A libtorch error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Progress hooks. Returning an error stops training with that error.
pub trait TrainObserver {
    /// After every training minibatch: epoch and batch from 1, the epoch's mean loss so far.
    fn on_batch(&mut self, _epoch: usize, _batch: usize, _n_batches: usize, _running_loss: f64) -> Result<(), TrainError> {
        Ok(())
    }
    /// After every epoch (its checkpoint, if any, already written).
    fn on_epoch(&mut self, _stats: &EpochStats, _history: &History) -> Result<(), TrainError> {
        Ok(())
    }
}

/// The observer that ignores everything.
impl TrainObserver for () {}

/// The result of [`train`].
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Every epoch, including those of a resumed checkpoint.
    pub history: History,
    /// Whether early stopping ended training before `epochs`.
    pub stopped_early: bool,
    /// The epoch whose weights were put back by `restore_best`, if any.
    pub restored_epoch: Option<usize>,
}

const STREAM_SHUFFLE: u64 = 1;
const STREAM_AUGMENT: u64 = 2;
const STREAM_TORCH: u64 = 3;

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

/// Minibatch boundaries over `n` items; a trailing batch of one item joins the previous batch.
pub fn batch_ranges(n: usize, batch_size: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges: Vec<_> = (0..n).step_by(batch_size).map(|s| s..(s + batch_size).min(n)).collect();
    if ranges.len() > 1 && ranges.last().is_some_and(|r| r.len() == 1) {
        let last = ranges.pop().unwrap();
        ranges.last_mut().unwrap().end = last.end;
    }
    ranges
}

/// Codes `(B, seq_len)` UInt8 and the flat positive indices of `peaks`, on `device`.
pub(crate) fn gather(data: &TrainData, peaks: &[usize], device: Device) -> Result<(Tensor, Tensor), TrainError> {
    let mut codes = Vec::with_capacity(peaks.len() * data.seq_len);
    for &p in peaks {
        codes.extend_from_slice(data.peak_codes(p));
    }
    let rows: Vec<&[u32]> = peaks.iter().map(|&p| data.positives[p].as_slice()).collect();
    let flat = positive_flat_indices(&rows, data.n_cells)?;
    let codes = Tensor::from_slice(&codes).f_view([peaks.len() as i64, data.seq_len as i64])?.f_to_device(device)?;
    Ok((codes, Tensor::from_slice(&flat).f_to_device(device)?))
}

fn loss_of(model: &ScBasset, logits: &Tensor, positives: &Tensor, config: &TrainConfig) -> Result<Tensor, TrainError> {
    let loss = bce_with_logits_positives(logits, positives)?;
    Ok(if config.l2_cells > 0.0 || config.l2_batches > 0.0 {
        loss + model.l2_penalty(config.l2_cells, config.l2_batches)
    } else {
        loss
    })
}

struct EpochCtx<'a> {
    model: &'a ScBasset,
    data: &'a TrainData<'a>,
    config: &'a TrainConfig,
    interrupt: &'a dyn Fn() -> bool,
}

fn train_epoch(
    ctx: &EpochCtx,
    adam: &mut KerasAdam,
    epoch: usize,
    observer: &mut dyn TrainObserver,
) -> Result<(f64, AucSummary), TrainError> {
    let (model, data, config) = (ctx.model, ctx.data, ctx.config);
    let device = model.device();
    let mut order = data.train.to_vec();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream_seed(config.seed, epoch, STREAM_SHUFFLE)));
    let mut augmenter = Augmenter::new(stream_seed(config.seed, epoch, STREAM_AUGMENT));
    tch::manual_seed(stream_seed(config.seed, epoch, STREAM_TORCH) as i64);
    let ranges = batch_ranges(order.len(), config.batch_size);
    let mut hist = CellHistograms::new(data.n_cells, device);
    let (mut loss_sum, mut seen) = (0.0f64, 0usize);
    for (b, range) in ranges.iter().enumerate() {
        if (ctx.interrupt)() {
            return Err(TrainError::Interrupted { epoch: epoch + 1, batch: b + 1 });
        }
        let peaks = &order[range.clone()];
        let (codes, positives) = gather(data, peaks, device)?;
        let mut x = ScBasset::one_hot(&codes)?;
        if config.augment {
            x = augmenter.augment(&x).0;
        }
        model.check_onehot(&x)?;
        let logits = model.forward_onehot(&x, true);
        let loss = loss_of(model, &logits, &positives, config)?;
        let value = loss.f_double_value(&[])?;
        if !value.is_finite() {
            let n_batches = ranges.len();
            return Err(TrainError::NonFiniteLoss { epoch: epoch + 1, batch: b + 1, n_batches, value, lr: config.lr });
        }
        adam.zero_grad();
        loss.f_backward()?;
        adam.step();
        hist.update(&logits, &positives)?;
        loss_sum += value * peaks.len() as f64;
        seen += peaks.len();
        observer.on_batch(epoch + 1, b + 1, ranges.len(), loss_sum / seen as f64)?;
    }
    Ok((loss_sum / seen as f64, hist.summary()?))
}

/// Sum of the exact per-peak auROCs over the cells of `logits` `(peaks.len(), n_cells)`, and how many peaks had
/// both classes.
pub(crate) fn peak_auroc_sum(logits: &Tensor, peaks: &[usize], data: &TrainData) -> Result<(f64, usize), TrainError> {
    let host: Vec<f32> = Vec::try_from(logits.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_reshape([-1])?)?;
    let (mut sum, mut used) = (0.0, 0);
    for (row, &p) in host.chunks(data.n_cells).zip(peaks) {
        if let Some(a) = exact_auroc_positives(row, &data.positives[p]) {
            sum += a;
            used += 1;
        }
    }
    Ok((sum, used))
}

/// Validation loss, per-cell AUCs and mean per-peak auROC; `None` without validation peaks.
fn validate_epoch(ctx: &EpochCtx, epoch: usize) -> Result<Option<(f64, AucSummary, Option<f64>)>, TrainError> {
    let (model, data, config) = (ctx.model, ctx.data, ctx.config);
    if data.val.is_empty() {
        return Ok(None);
    }
    let mut hist = CellHistograms::new(data.n_cells, model.device());
    let (mut loss_sum, mut peak_sum, mut peaks_used) = (0.0f64, 0.0f64, 0usize);
    tch::no_grad(|| -> Result<(), TrainError> {
        for (b, range) in batch_ranges(data.val.len(), config.batch_size).into_iter().enumerate() {
            if (ctx.interrupt)() {
                return Err(TrainError::Interrupted { epoch: epoch + 1, batch: b + 1 });
            }
            let peaks = &data.val[range];
            let (codes, positives) = gather(data, peaks, model.device())?;
            let logits = model.try_forward_codes(&codes, false)?;
            let loss = loss_of(model, &logits, &positives, config)?.f_double_value(&[])?;
            loss_sum += loss * peaks.len() as f64;
            hist.update(&logits, &positives)?;
            let (sum, used) = peak_auroc_sum(&logits, peaks, data)?;
            peak_sum += sum;
            peaks_used += used;
        }
        Ok(())
    })?;
    let peak = (peaks_used > 0).then(|| peak_sum / peaks_used as f64);
    Ok(Some((loss_sum / data.val.len() as f64, hist.summary()?, peak)))
}

/// Trains `model` (whose variables live in `vs`) on `data` for `config.epochs` epochs, or until early stopping.
///
/// The model is switched to `config.precision`; the device is the model's. `observer` sees every batch and epoch;
/// `interrupt` is polled before every minibatch (training and validation) and, when it returns true, training
/// stops with [`TrainError::Interrupted`] (the weights are then those of the middle of the epoch; checkpoints are
/// only ever written whole, after complete epochs). With `config.resume`, training continues from the checkpoint's
/// epoch with its weights, Adam state, best weights and history.
pub fn train(
    model: &mut ScBasset,
    vs: &nn::VarStore,
    data: &TrainData,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
    interrupt: &dyn Fn() -> bool,
) -> Result<TrainOutcome, TrainError> {
    config.validate()?;
    let model_config = model.config().clone();
    data.validate(model_config.seq_len, model_config.n_cells)?;
    let mut adam = KerasAdam::new(vs, config.lr, config.beta1, config.beta2, config.eps);
    if adam.parameter_count() != model.trainable_parameter_count() {
        return Err(TrainError::InvalidData(format!(
            "the VarStore holds {} trainable scalars but the model has {}: pass the VarStore the model was built in",
            adam.parameter_count(),
            model.trainable_parameter_count()
        )));
    }
    model.set_precision(config.precision);
    let mut history = History::default();
    let mut best: Option<BestWeights> = None;
    if let Some(path) = &config.resume {
        let checkpoint = load_checkpoint(path)?;
        if checkpoint.meta.model_config != model_config {
            return Err(TrainError::Checkpoint {
                path: path.clone(),
                message: format!(
                    "it was written for a different model (n_cells {} vs {}, seq_len {} vs {}, or other layers)",
                    checkpoint.meta.model_config.n_cells, model_config.n_cells, checkpoint.meta.model_config.seq_len,
                    model_config.seq_len
                ),
            });
        }
        best = checkpoint.restore(path, vs, &mut adam)?;
        history = checkpoint.meta.history;
    }
    let mut stopper = EarlyStopping::replay(&history, config.patience, config.min_delta);
    let mut stopped_early = stopper.should_stop();
    let ctx = EpochCtx { model, data, config, interrupt };
    for epoch in history.len()..config.epochs {
        if stopped_early {
            break;
        }
        let start = Instant::now();
        let (train_loss, train_auc) = train_epoch(&ctx, &mut adam, epoch, observer)?;
        let val = validate_epoch(&ctx, epoch)?;
        let stats = EpochStats {
            epoch: epoch + 1,
            train_loss,
            train_auroc: train_auc.auroc,
            train_aupr: train_auc.aupr,
            val_loss: val.as_ref().map(|v| v.0),
            val_auroc: val.as_ref().and_then(|v| v.1.auroc),
            val_aupr: val.as_ref().and_then(|v| v.1.aupr),
            val_peak_auroc: val.as_ref().and_then(|v| v.2),
            seconds: start.elapsed().as_secs_f64(),
            lr: config.lr,
        };
        let previous_best = history.best_epoch();
        history.epochs.push(stats);
        if config.restore_best && history.best_epoch() != previous_best {
            best = Some(BestWeights::snapshot(vs, epoch + 1));
        }
        stopper.update(history.epochs[epoch].train_auroc);
        stopped_early = stopper.should_stop();
        if let Some(path) = &config.checkpoint {
            let state = CheckpointState {
                vs,
                adam: &adam,
                best: best.as_ref(),
                history: &history,
                config,
                model_config: &model_config,
            };
            save_checkpoint(path, &state)?;
        }
        observer.on_epoch(history.last().unwrap(), &history)?;
    }
    let mut restored_epoch = None;
    if config.restore_best {
        if let Some(b) = &best {
            b.restore(vs)?;
            restored_epoch = Some(b.epoch);
        }
    }
    let stopped_early = stopped_early && history.len() < config.epochs;
    Ok(TrainOutcome { history, stopped_early, restored_epoch })
}
