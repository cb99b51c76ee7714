//! Errors of the weight importers; every variant names the file.

use std::path::PathBuf;

use thiserror::Error;

use crate::models::error::ModelError;

/// Why a pretrained model could not be imported.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file is missing, empty, truncated or not in the expected container format (HDF5, safetensors).
    #[error("{}: {message}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// The file is readable but does not hold an scBasset model in the expected layout (another Keras model,
    /// a missing layer or weight, an unexpected entry).
    #[error("{}: not an importable scBasset model: {message}", path.display())]
    NotScBasset {
        /// The file.
        path: PathBuf,
        /// What is missing or unexpected.
        message: String,
    },

    /// A weight's shape differs from what the inferred configuration implies.
    #[error("{0}")]
    Shape(Box<ShapeMismatch>),

    /// A PyTorch pickle (`.pt`) was given where a safetensors file is needed.
    #[error("{}: this is a PyTorch pickle, which is not read for safety; convert the scvi-tools model once with:\n{snippet}",
        path.display())]
    TorchPickle {
        /// The file.
        path: PathBuf,
        /// The Python conversion to run.
        snippet: String,
    },

    /// The inferred configuration or an option was rejected while building the model.
    #[error("{}: {source}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The model's error.
        #[source]
        source: ModelError,
    },
}

/// The details of an [`ImportError::Shape`].
#[derive(Debug, Error)]
#[error("{}: layer `{layer}` ({ours}): expected shape {expected:?}, found {found:?}{}", path.display(),
    if note.is_empty() { String::new() } else { format!(" ({note})") })]
pub struct ShapeMismatch {
    /// The file.
    pub path: PathBuf,
    /// The layer or weight as the file names it (Keras `layer/weight` path, scvi state-dict key).
    pub layer: String,
    /// The corresponding variable of this crate's model.
    pub ours: String,
    /// Expected shape, in the file's layout (−1: any size that satisfies the note).
    pub expected: Vec<i64>,
    /// Shape found in the file.
    pub found: Vec<i64>,
    /// What the expectation follows from (may be empty).
    pub note: String,
}

impl ImportError {
    /// A [`Shape`](ImportError::Shape) error.
    pub fn shape(
        path: &std::path::Path,
        layer: &str,
        ours: &str,
        expected: Vec<i64>,
        found: Vec<i64>,
        note: String,
    ) -> Self {
        ImportError::Shape(Box::new(ShapeMismatch {
            path: path.to_path_buf(),
            layer: layer.to_string(),
            ours: ours.to_string(),
            expected,
            found,
            note,
        }))
    }

    /// An [`Unreadable`](ImportError::Unreadable) error.
    pub fn unreadable(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ImportError::Unreadable { path: path.into(), message: message.into() }
    }

    /// A [`NotScBasset`](ImportError::NotScBasset) error.
    pub fn not_scbasset(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ImportError::NotScBasset { path: path.into(), message: message.into() }
    }

    /// A [`Model`](ImportError::Model) error.
    pub fn model(path: impl Into<PathBuf>, source: impl Into<ModelError>) -> Self {
        ImportError::Model { path: path.into(), source: source.into() }
    }
}
