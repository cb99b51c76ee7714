//! The one trainer of gscript and its parts. Every model trains through [`Trainer::fit`]; models are seen only
//! through an [`Objective`] (built on [`crate::models::SequenceModel`] and a [`crate::heads::CellHead`]) and an
//! [`Optimizer`] over named tensors.
//!
//! - [`trainer`]: the loop — seeded minibatch order, NaN guard, [gradient hooks](GradientHook), clipping, the
//!   [schedule](Schedule), validation, history, early stopping, best weights, checkpoints, interrupts.
//! - [`optim`], [`adam`]: the optimiser interface, [`KerasAdam`] (scBasset) and [`AdamW`] with parameter groups
//!   (scooby), learning-rate schedules, global-norm clipping.
//! - [`loss`]: binary cross-entropy from logits and the positive entries.
//! - [`metrics`], [`history`]: per-cell auROC/auPR, the history and Keras' early-stopping rule.
//! - [`checkpoint`]: one checkpoint format for training and fine-tuning, written atomically, resumed exactly.
//! - [`hooks`]: gradient hooks (where a data-parallel all-reduce plugs in) and observers (progress, live figures).
//! - [`peaks`]: the peak-accessibility objective; [`data`]: the peak data view; [`augment`]: reverse complement and
//!   shift.
//!
//! A new objective (e.g. per-position profiles with a Poisson–multinomial loss) implements [`Objective`]; a new
//! training backend (e.g. data-parallel over c10d) registers a [`GradientHook`] and shards the minibatch order.

pub mod adam;
pub mod augment;
pub mod checkpoint;
pub mod data;
pub mod distributed;
pub mod error;
pub mod history;
pub mod hooks;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod peaks;
pub mod profile_loss;
pub mod profiles;
pub mod trainer;

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod trainer_tests;

pub use adam::{AdamW, KerasAdam, ParamGroup};
pub use augment::{Augmentation, Augmenter};
pub use checkpoint::{
    load_checkpoint, load_checkpoint_or_previous, previous_path, save_checkpoint, sidecar_path, sorted_variables,
    BestWeights, Checkpoint, CheckpointMeta, CheckpointState,
};
pub use data::TrainData;
pub use error::TrainError;
pub use history::{EarlyStopping, EpochStats, History};
pub use hooks::{gradient_norm, GradientHook, GradientNorms, StepContext, TrainObserver};
pub use loss::{bce_with_logits_positives, positive_flat_indices};
pub use metrics::{exact_auroc, AucSummary, CellHistograms};
pub use optim::{clip_grad_norm, Optimizer, Schedule};
pub use peaks::{gather, peak_auroc_sum, PeakObjective, PeakOptions};
pub use trainer::{
    batch_ranges, stream_seed, Objective, TrainMetrics, TrainOutcome, Trainer, TrainerConfig, ValMetrics,
};
