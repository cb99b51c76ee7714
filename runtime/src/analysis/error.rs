//! The single error type returned by every fallible function of this crate.

use thiserror::Error;

/// Errors reported by the analysis functions.
///
/// Every public function validates its input and returns one of these instead
/// of panicking.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AnalysisError {
    /// The input has no elements (no points, no labels, no nodes, ...).
    #[error("empty input: {what} has no elements")]
    EmptyInput {
        /// Which argument was empty.
        what: &'static str,
    },

    /// A row (or element) contains NaN or an infinite value.
    #[error("{what} contains a non-finite value (NaN or infinity) in row {row}")]
    NonFinite {
        /// Which argument holds the bad value.
        what: &'static str,
        /// Index of the first row (or element, for vectors) with a bad value.
        row: usize,
    },

    /// Fewer points than the number of neighbours requested.
    #[error(
        "not enough points: {n_points} points cannot provide k = {k} neighbours \
         per point excluding the point itself (need at least k + 1 = {} points)",
        k + 1
    )]
    TooFewPoints {
        /// Number of points available.
        n_points: usize,
        /// Number of neighbours requested.
        k: usize,
    },

    /// Two inputs that must have the same length do not.
    #[error("length mismatch: {what_a} has length {len_a} but {what_b} has length {len_b}")]
    LengthMismatch {
        /// Name of the first input.
        what_a: &'static str,
        /// Its length.
        len_a: usize,
        /// Name of the second input.
        what_b: &'static str,
        /// Its length.
        len_b: usize,
    },

    /// A flat matrix buffer does not match the stated shape.
    #[error(
        "shape mismatch: {what} has {len} values but the stated shape \
         {n_rows} x {n_cols} needs {}",
        n_rows.saturating_mul(*n_cols)
    )]
    ShapeMismatch {
        /// Which matrix.
        what: &'static str,
        /// Number of values in the buffer.
        len: usize,
        /// Stated number of rows.
        n_rows: usize,
        /// Stated number of columns.
        n_cols: usize,
    },

    /// An index (label code, node id, positive index, ...) is out of range.
    #[error("index out of range in {what}: value {index} at position {position} is not below {bound}")]
    IndexOutOfRange {
        /// Which input holds the bad index.
        what: &'static str,
        /// Position of the bad entry in that input.
        position: usize,
        /// The bad value.
        index: usize,
        /// The exclusive upper bound it had to respect.
        bound: usize,
    },

    /// A parameter has an invalid value.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// Labels that do not allow the metric to be computed (for example a
    /// silhouette with a single cluster, or an auROC without negatives).
    #[error("invalid labels: {0}")]
    InvalidLabels(String),

    /// A quantity whose variance must be positive is constant.
    #[error("{what} is constant (zero variance); the correlation is undefined")]
    ZeroVariance {
        /// Which input is constant.
        what: &'static str,
    },

    /// A graph whose CSR arrays are inconsistent or not symmetric.
    #[error("invalid graph: {0}")]
    InvalidGraph(String),

    /// A numerical routine (SVD, QR) failed.
    #[error("numerical computation failed: {0}")]
    Compute(String),

    /// The resolution search could not find a resolution giving the
    /// requested number of clusters.
    #[error(
        "no resolution in [{low}, {high}] gives {k} clusters \
         (closest: {best_n_clusters} clusters at resolution {best_resolution})"
    )]
    ResolutionNotFound {
        /// The requested number of clusters.
        k: usize,
        /// Lower end of the searched interval.
        low: f64,
        /// Upper end of the searched interval.
        high: f64,
        /// The number of clusters closest to `k` that was seen.
        best_n_clusters: usize,
        /// The resolution that gave `best_n_clusters`.
        best_resolution: f64,
    },

    /// The work was stopped through its cancel token (the user interrupted
    /// it); nothing was returned.
    #[error("interrupted")]
    Interrupted,
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, AnalysisError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_details() {
        let e = AnalysisError::NonFinite { what: "data", row: 17 };
        assert!(e.to_string().contains("row 17"), "{e}");
        let e = AnalysisError::LengthMismatch { what_a: "labels_true", len_a: 3, what_b: "labels_pred", len_b: 5 };
        let s = e.to_string();
        assert!(s.contains('3') && s.contains('5') && s.contains("labels_pred"), "{s}");
        let e = AnalysisError::TooFewPoints { n_points: 4, k: 10 };
        assert!(e.to_string().contains("k + 1 = 11"), "{e}");
        let e = AnalysisError::ShapeMismatch { what: "data", len: 7, n_rows: 2, n_cols: 3 };
        assert!(e.to_string().contains("needs 6"), "{e}");
    }
}
