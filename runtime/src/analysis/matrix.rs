//! Validation helpers for dense row-major matrices given as a flat slice plus
//! an explicit `(n_rows, n_cols)` shape.

use crate::analysis::error::{AnalysisError, Result};

/// Checks that `data` holds exactly `n_rows * n_cols` values, that the
/// matrix is not empty, and that every value is finite.
///
/// `what` names the matrix in error messages. On a non-finite value the
/// error names the first row that contains one.
pub fn validate_matrix(what: &'static str, data: &[f32], n_rows: usize, n_cols: usize) -> Result<()> {
    if n_rows.checked_mul(n_cols) != Some(data.len()) {
        return Err(AnalysisError::ShapeMismatch { what, len: data.len(), n_rows, n_cols });
    }
    if n_rows == 0 || n_cols == 0 {
        return Err(AnalysisError::EmptyInput { what });
    }
    if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
        return Err(AnalysisError::NonFinite { what, row: pos / n_cols });
    }
    Ok(())
}

/// Checks that a vector is non-empty and finite; on failure the error names
/// the first bad element index.
pub fn validate_vector<T: Copy + Into<f64>>(what: &'static str, values: &[T]) -> Result<()> {
    if values.is_empty() {
        return Err(AnalysisError::EmptyInput { what });
    }
    if let Some(pos) = values.iter().position(|&v| !v.into().is_finite()) {
        return Err(AnalysisError::NonFinite { what, row: pos });
    }
    Ok(())
}

/// Squared Euclidean distance between two equally long `f32` rows,
/// accumulated in `f32` with eight independent partial sums (which lets
/// the compiler vectorise the loop).
#[inline]
pub(crate) fn sq_dist_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        tail += d * d;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Squared Euclidean distance between two equally long `f64` rows with four
/// independent partial sums.
#[inline]
pub(crate) fn sq_dist_f64(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f64; 4];
    let (ca, ra) = a.as_chunks::<4>();
    let (cb, rb) = b.as_chunks::<4>();
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..4 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut tail = 0f64;
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        tail += d * d;
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_matrix_reports_problems() {
        assert!(validate_matrix("x", &[1.0, 2.0, 3.0, 4.0], 2, 2).is_ok());
        assert_eq!(
            validate_matrix("x", &[1.0, 2.0, 3.0], 2, 2),
            Err(AnalysisError::ShapeMismatch { what: "x", len: 3, n_rows: 2, n_cols: 2 })
        );
        assert_eq!(validate_matrix("x", &[], 0, 3), Err(AnalysisError::EmptyInput { what: "x" }));
        let data = [0.0, 1.0, 2.0, 3.0, 4.0, f32::NAN, 6.0, f32::INFINITY, 8.0];
        assert_eq!(validate_matrix("x", &data, 3, 3), Err(AnalysisError::NonFinite { what: "x", row: 1 }));
        // Overflowing shapes are reported, not a panic.
        assert!(matches!(validate_matrix("x", &[1.0], usize::MAX, 2), Err(AnalysisError::ShapeMismatch { .. })));
    }

    #[test]
    fn validate_vector_reports_first_bad_element() {
        assert!(validate_vector("v", &[1.0f64, 2.0]).is_ok());
        assert_eq!(
            validate_vector("v", &[1.0f32, f32::NEG_INFINITY, f32::NAN]),
            Err(AnalysisError::NonFinite { what: "v", row: 1 })
        );
        assert_eq!(validate_vector::<f64>("v", &[]), Err(AnalysisError::EmptyInput { what: "v" }));
    }

    #[test]
    fn distances_match_naive_sum() {
        for len in [1usize, 7, 8, 9, 31, 32, 33] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
            let d32 = sq_dist_f32(&a, &b) as f64;
            assert!((d32 - naive).abs() <= 1e-5 * naive.max(1.0), "len {len}: {d32} vs {naive}");
            let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
            let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
            let d64 = sq_dist_f64(&a64, &b64);
            assert!((d64 - naive).abs() <= 1e-12 * naive.max(1.0), "len {len}: {d64} vs {naive}");
        }
    }
}
