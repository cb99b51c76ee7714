//! Errors raised while configuring or building the scBasset model.

use thiserror::Error;

/// Everything that can go wrong while validating a model configuration, building the network or converting weights.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A configuration field (or constructor argument) has a value the network cannot be built with.
    #[error("`{field}`: {message}")]
    InvalidConfig {
        /// Name of the offending field, as spelled in [`ScBassetConfig`](super::ScBassetConfig) or the argument.
        field: String,
        /// What is wrong and what would be accepted.
        message: String,
    },

    /// A tensor handed to the model has the wrong shape or element type.
    #[error("{what}: {message}")]
    Shape {
        /// Which input or weight.
        what: String,
        /// Expected versus found.
        message: String,
    },

    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// A collective inside the model failed (synchronised batch norm in data-parallel training).
    #[error("synchronised batch norm: {0}")]
    Collective(String),
}

impl ModelError {
    /// An [`InvalidConfig`](ModelError::InvalidConfig) error for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::InvalidConfig { field: field.into(), message: message.into() }
    }

    /// A [`Shape`](ModelError::Shape) error for the input or weight `what`.
    pub fn shape(what: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Shape { what: what.into(), message: message.into() }
    }
}

/// Result alias used throughout the model module.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

impl From<ModelError> for crate::error::RuntimeError {
    /// A bad configuration field is an invalid argument naming the field; libtorch errors stay libtorch errors.
    fn from(e: ModelError) -> Self {
        use crate::error::RuntimeError;
        match e {
            ModelError::InvalidConfig { field, message } => RuntimeError::InvalidArgument { field, message },
            ModelError::Torch(t) => RuntimeError::Torch(t),
            e @ (ModelError::Shape { .. } | ModelError::Collective(_)) => RuntimeError::Other(e.to_string()),
        }
    }
}
