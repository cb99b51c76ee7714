//! Error type for figure construction, rendering and saving.

/// Errors produced while building, rendering or saving a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A required input had no elements.
    #[error("empty data: {0} is empty")]
    Empty(String),
    /// Two inputs that must have the same length do not.
    #[error("length mismatch: {what_a} has {len_a} entries but {what_b} has {len_b}")]
    LengthMismatch {
        /// Name of the first input.
        what_a: String,
        /// Length of the first input.
        len_a: usize,
        /// Name of the second input.
        what_b: String,
        /// Length of the second input.
        len_b: usize,
    },
    /// Every value of an input was NaN (or non-finite), so nothing can be drawn.
    #[error("all values in {0} are NaN or infinite; nothing to plot")]
    AllNan(String),
    /// Width, height or scale out of range.
    #[error("bad figure size: {0}")]
    BadSize(String),
    /// Any other invalid argument (message says which and why).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// `save` was given a path whose extension is neither `.svg` nor `.png`.
    #[error("unsupported file extension {0:?}: use .svg or .png")]
    UnsupportedExtension(String),
    /// The drawing backend failed.
    #[error("render error: {0}")]
    Render(String),
    /// PNG encoding failed.
    #[error("png encoding error: {0}")]
    Png(String),
    /// Writing the output file failed.
    #[error("i/o error writing {path}: {source}")]
    Io {
        /// Path that was being written.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias for plotting.
pub type Result<T> = std::result::Result<T, PlotError>;

impl PlotError {
    /// Convenience constructor for [`PlotError::LengthMismatch`].
    pub(crate) fn mismatch(what_a: &str, len_a: usize, what_b: &str, len_b: usize) -> Self {
        PlotError::LengthMismatch { what_a: what_a.to_string(), len_a, what_b: what_b.to_string(), len_b }
    }
}
