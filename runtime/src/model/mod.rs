//! scBasset (Yuan & Kelley 2022): a CNN that predicts per-cell chromatin accessibility of a peak from its DNA
//! sequence, in libtorch through tch. The network follows the Keras original (tower widths, stem pooling, Keras
//! initialisation); [`Arch::Scvi`] switches to the scvi-tools widths and stem pooling, keeping the Keras initialisation.
//!
//! - [`config`]: [`ScBassetConfig`] and its validation.
//! - [`layers`]: the sigmoid [`gelu`], Keras initialisers, [`ConvBlock`], [`DenseBlock`], [`Precision`].
//! - [`scbasset`]: the [`ScBasset`] model (plain and batch-corrected).
//! - [`augment`]: per-minibatch reverse complement and shift.
//! - [`loss`]: BCE with logits from the positive entries only.
//! - [`keras`]: weight layout conversions from Keras kernels.
//! - [`import`](mod@import): pretrained weights from Keras `.h5` files and scvi-tools state dicts.
//! - [`inference`]: evaluation-mode embeddings, predictions and denoising in blocks.
//! - [`saved`]: trained models on disk (safetensors + JSON sidecar).
//! - [`train`](mod@train): the training loop ([`train()`], [`TrainConfig`]) over [`train_data::TrainData`], with [`adam`],
//!   [`metrics`], [`history`] and [`checkpoint`].

pub mod adam;
pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod history;
pub mod import;
pub mod inference;
pub mod keras;
pub mod layers;
pub mod loss;
pub mod metrics;
pub mod saved;
pub mod scbasset;
pub mod train;
pub mod train_data;

#[cfg(test)]
mod scbasset_tests;
#[cfg(test)]
mod reference_forward_tests;
#[cfg(test)]
mod torch_reference_tests;
#[cfg(test)]
mod speed_tests;
#[cfg(test)]
mod train_tests;

pub use augment::{Augmentation, Augmenter};
pub use config::{Arch, ScBassetConfig};
pub use error::{ModelError, Result};
pub use layers::{gelu, ConvBlock, DenseBlock, Precision};
pub use adam::KerasAdam;
pub use checkpoint::{load_checkpoint, save_checkpoint, BestWeights, Checkpoint, CheckpointMeta, CheckpointState};
pub use inference::{denoise_blocks, embed_codes, eval_batch, predict_codes, probabilities, DenoiseScale, EVAL_BATCH};
pub use history::{EarlyStopping, EpochStats, History};
pub use import::{
    import_keras_h5, import_scvi, BatchImport, ImportError, ImportFormat, ImportOptions, ImportSource, ImportedModel, ShapeMismatch,
    SCVI_CONVERSION_SNIPPET,
};
pub use loss::{bce_with_logits_positives, positive_flat_indices};
pub use metrics::{exact_auroc, AucSummary, CellHistograms};
pub use saved::{load_model, save_model, Fnv1a, LoadedModel, ModelMeta, PeakFingerprint, SavedModelError, Versions, MODEL_FORMAT};
pub use scbasset::{BatchHead, ScBasset};
pub use train::{train, TrainConfig, TrainError, TrainObserver, TrainOutcome};
pub use train_data::TrainData;

/// Serialises the tests that draw from libtorch's global generator, so that `tch::manual_seed` followed by draws is
/// reproducible while other tests run in parallel threads.
#[cfg(test)]
pub(crate) fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
