//! Typed runtime errors. Each variant carries the context a user needs to fix the input (file, line, field).

use std::path::PathBuf;

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A malformed input file: `path:line: message` (line 0 when the problem is not tied to a line).
    #[error("{}{}: {message}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Parse { path: PathBuf, line: usize, message: String },

    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A bad value for a named setting or argument.
    #[error("`{field}`: {message}")]
    InvalidArgument { field: String, message: String },

    /// A requested device cannot be used.
    #[error("{0}")]
    Device(String),

    /// The user interrupted a long-running operation; nothing partial was written.
    #[error("interrupted")]
    Interrupted,

    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io { path: path.into(), source }
    }
    pub fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        RuntimeError::Parse { path: path.into(), line, message: message.into() }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RuntimeError::InvalidArgument { field: field.into(), message: message.into() }
    }
}
