//! scBasset's training recipe (Yuan & Kelley 2022, Methods; calico/scBasset `bin/scbasset_train.py`) on the shared
//! trainer ([`crate::train`]): minibatches of training peaks → one-hot → per-minibatch augmentation → logits → BCE
//! over the positives (+ L2) → Keras-form Adam; per-epoch Keras-style metrics, validation, early stopping on training
//! auROC, best-weight restore, NaN guard, interruption and exact checkpoint/resume all come from the trainer.
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

use serde::{Deserialize, Serialize};
use tch::nn;

use super::layers::Precision;
use super::network::ScBasset;
use crate::train::{
    sorted_variables, GradientHook, KerasAdam, Optimizer, PeakObjective, PeakOptions, Schedule, TrainData, TrainError,
    TrainObserver, TrainOutcome, Trainer, TrainerConfig,
};

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
        let bad = |field: &str, message: String| Err(TrainError::config(field, message));
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
        for (field, v) in [("min_delta", self.min_delta), ("l2_cells", self.l2_cells), ("l2_batches", self.l2_batches)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, format!("{v} is not a non-negative number"));
            }
        }
        Ok(())
    }
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
    train_with_hooks(model, vs, data, config, observer, interrupt, Vec::new())
}

/// [`train`] with gradient hooks, called after every backward pass (e.g. a data-parallel all-reduce).
pub fn train_with_hooks(
    model: &mut ScBasset,
    vs: &nn::VarStore,
    data: &TrainData,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
    interrupt: &dyn Fn() -> bool,
    hooks: Vec<&mut dyn GradientHook>,
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
    let model: &ScBasset = model;
    let mut l2 = Vec::new();
    if config.l2_cells > 0.0 || config.l2_batches > 0.0 {
        l2.push((model.cell_head().kernel.shallow_clone(), config.l2_cells));
        if let Some(head) = model.batch_head() {
            l2.push((head.embedding.shallow_clone(), config.l2_batches));
        }
    }
    let options = PeakOptions { train_trunk: true, augment: config.augment, cells_per_batch: None, l2 };
    let mut objective = PeakObjective::new(model, model, data, options);
    let trainer = Trainer {
        config: TrainerConfig {
            epochs: config.epochs,
            batch_size: config.batch_size,
            seed: config.seed,
            patience: Some(config.patience),
            min_delta: config.min_delta,
            restore_best: config.restore_best,
            clip_norm: None,
            schedule: Schedule::constant(),
            checkpoint: config.checkpoint.clone(),
            resume: config.resume.clone(),
        },
        optimizer: &mut adam,
        variables: sorted_variables(vs),
        run: serde_json::to_value(config).map_err(|e| TrainError::config("config", e.to_string()))?,
        model: serde_json::json!({ "family": "scbasset", "config": model_config }),
        hooks,
        observer,
        interrupt,
    };
    trainer.fit(&mut objective)
}
