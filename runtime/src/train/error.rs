//! Why training stopped without a result.

use std::path::PathBuf;

use thiserror::Error;

use crate::models::ModelError;

/// Errors of the trainer, its optimisers, checkpoints and objectives.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A configuration field has an unusable value.
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
    /// An observer or a gradient hook asked to stop.
    #[error("{0}")]
    Callback(String),
    /// A model error.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A libtorch error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl TrainError {
    /// An [`InvalidConfig`](TrainError::InvalidConfig) error for `field`.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        TrainError::InvalidConfig { field: field.into(), message: message.into() }
    }
}

impl From<TrainError> for crate::error::RuntimeError {
    /// Interrupts stay interrupts (the language turns them into its own interrupt error); the rest keep their
    /// message.
    fn from(e: TrainError) -> Self {
        use crate::error::RuntimeError;
        match e {
            TrainError::Interrupted { .. } => RuntimeError::Interrupted,
            TrainError::Torch(t) => RuntimeError::Torch(t),
            other => RuntimeError::Other(other.to_string()),
        }
    }
}
