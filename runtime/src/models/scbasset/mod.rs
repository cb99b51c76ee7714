//! scBasset (Yuan & Kelley 2022, Nature Methods): a CNN that predicts per-cell chromatin accessibility of a peak from
//! its DNA sequence, in libtorch through tch. The network follows the Keras original (calico/scBasset
//! `scbasset/utils.py` `make_model`: tower widths, stem pooling, Keras initialisation); [`Arch::Scvi`] switches to the
//! scvi-tools widths and stem pooling (scverse/scvi-tools `scvi/external/scbasset/_module.py`), keeping the Keras
//! initialisation.
//!
//! - [`config`]: [`ScBassetConfig`], its validation and the named presets ([`Preset`]).
//! - [`layers`]: the sigmoid [`gelu`], Keras initialisers, [`ConvBlock`], [`DenseBlock`], [`Precision`].
//! - [`network`]: the [`ScBasset`] module (plain and batch-corrected), implementing
//!   [`SequenceModel`](crate::models::SequenceModel), [`CellHead`](crate::heads::CellHead) and
//!   [`Adaptable`](crate::adapters::Adaptable).
//! - [`training`]: scBasset's recipe on the shared trainer ([`train()`], [`TrainConfig`]).
//! - [`keras`], [`import`](mod@import): pretrained weights from Keras `.h5` files and scvi-tools state dicts.
//! - [`inference`]: evaluation-mode embeddings, predictions and denoising in blocks.
//! - [`saved`]: trained models on disk (safetensors + JSON sidecar).
//! - [`summary`]: the layer table.

pub mod config;
pub mod import;
pub mod inference;
pub mod keras;
pub mod layers;
pub mod network;
pub mod saved;
pub mod summary;
pub mod training;

#[cfg(test)]
mod network_tests;
#[cfg(test)]
mod reference_forward_tests;
#[cfg(test)]
mod speed_tests;
#[cfg(test)]
mod torch_reference_tests;
#[cfg(test)]
mod training_tests;

pub use config::{Arch, Preset, ScBassetConfig};
pub use import::{
    import_keras_h5, import_scvi, BatchImport, ImportError, ImportFormat, ImportOptions, ImportSource, ImportedModel,
    ShapeMismatch, SCVI_CONVERSION_SNIPPET,
};
pub use inference::{denoise_blocks, embed_codes, eval_batch, predict_codes, probabilities, DenoiseScale, EVAL_BATCH};
pub use layers::{gelu, ConvBlock, DenseBlock, Precision};
pub use network::ScBasset;
pub use saved::{
    load_model, save_model, Fnv1a, LoadedModel, ModelMeta, PeakFingerprint, SavedModelError, Versions, MODEL_FORMAT,
};
pub use summary::{layer_table, LayerRow};
pub use training::{train, train_with_hooks, TrainConfig};
