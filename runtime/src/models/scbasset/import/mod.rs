//! Importing pretrained scBasset weights (calico/scBasset Keras files, scvi-tools `SCBASSET` state dicts) into an
//! [`ScBasset`] model.
//!
//! - [`import_keras_h5`]: a Keras file from calico/scBasset, either a whole model (`model.save("x.h5")`, weights under
//!   `model_weights/`) or weights only (`model.save_weights("x.h5")`), plain or batch-corrected (scBasset-BC).
//! - [`import_scvi`]: the state dict of an scvi-tools `SCBASSET` module, saved as safetensors.
//!
//! Both infer the [`ScBassetConfig`] from the weight shapes (and, for Keras, the `model_config` attribute when the
//! file has one), check every weight against the shape that config implies, and copy the weights into a fresh
//! VarStore under `tch::no_grad`. Layer names are never trusted to carry meaning beyond the file's own bookkeeping:
//! Keras layers are matched by their order and their weights, since their names carry auto-increment suffixes.

mod copy;
mod error;
mod keras;
mod scvi;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod keras_tests;
#[cfg(test)]
mod scvi_tests;

use std::path::PathBuf;

use tch::{nn, Device};

use super::config::ScBassetConfig;
use super::network::ScBasset;

pub use error::{ImportError, ShapeMismatch};
pub use keras::import_keras_h5;
pub use scvi::{import_scvi, SCVI_CONVERSION_SNIPPET};

/// Options shared by the importers.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Device the VarStore (and so the model) is created on.
    pub device: Device,
    /// Batch of every cell for a batch-corrected model (`cell_batch[c] < n_batches`). When given, the full
    /// batch-correction head is built with it. When absent, a Keras importer recovers it from the model's own
    /// `model_config` (the batch matrix is stored there) and an scvi importer from the `batch_ids` buffer; failing
    /// that, only the cell path is imported (see [`BatchImport::CellPathOnly`]). Ignored for plain models.
    pub cell_batch: Option<Vec<usize>>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { device: Device::Cpu, cell_batch: None }
    }
}

/// Which file format a model was imported from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// A whole Keras model saved with `model.save("x.h5")` (weights under `model_weights/`).
    KerasModel,
    /// A Keras weights file saved with `model.save_weights("x.h5")` (layer groups at the root).
    KerasWeights,
    /// An scvi-tools `SCBASSET` module state dict in safetensors.
    Scvi,
}

/// Where an imported model came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportSource {
    /// The format of the file.
    pub format: ImportFormat,
    /// The file read.
    pub path: PathBuf,
}

/// What became of the batch-correction path of a batch-corrected model (calico/scBasset `make_model_bc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchImport {
    /// The file holds a plain scBasset model.
    NotBatchCorrected,
    /// The full batch-correction head was built; `from` says where each cell's batch came from.
    Full {
        /// Number of batches.
        n_batches: usize,
        /// `"options"`, `"model_config"` (Keras) or `"batch_ids"` (scvi).
        from: String,
    },
    /// The file is batch-corrected but no cell → batch assignment was available: only the cell path (Keras W1/b1,
    /// scvi `cell_embedding`/`cell_bias`) was imported, which is what the original's downstream functions use
    /// (`get_cell_embedding`, `imputation_Y(bc_model=True)`). Logits then lack the batch term.
    CellPathOnly {
        /// Number of batches in the file.
        n_batches: usize,
    },
}

/// A model with imported weights.
#[derive(Debug)]
pub struct ImportedModel {
    /// The configuration inferred from the file.
    pub config: ScBassetConfig,
    /// The variables (weights and batch-norm statistics) on the requested device.
    pub vs: nn::VarStore,
    /// The network, sharing its tensors with `vs`; switch to eval mode by passing `train = false` to its forwards.
    pub net: ScBasset,
    /// The file it came from.
    pub source: ImportSource,
    /// What became of the batch-correction path.
    pub batch: BatchImport,
    /// Human-readable remarks: assumptions made (e.g. default pool sizes in a weights-only file), ignored entries.
    pub notes: Vec<String>,
}
