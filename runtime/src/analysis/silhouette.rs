//! Exact Euclidean silhouette coefficients, computed in parallel without an
//! `n × n` distance matrix.
//!
//! For point `i` in cluster `C`, `a(i)` is its mean distance to the other
//! members of `C` and `b(i)` the smallest mean distance to the members of
//! another cluster; `s(i) = (b - a) / max(a, b)`, and `s(i) = 0` for points
//! in singleton clusters (as in scikit-learn's `silhouette_samples`).
//!
//! Points are sorted by cluster so that each point's per-cluster distance
//! sums are accumulated over contiguous tiles; all arithmetic is in `f64`
//! on exact coordinate differences. Memory is `O(n·d + n_clusters)` per
//! thread; time is `O(n²·d)`.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::labels::{check_same_len, compact_labels};
use crate::analysis::matrix::{sq_dist_f64, validate_matrix};
use rayon::prelude::*;

/// Rows processed together by one task.
const ROW_BLOCK: usize = 32;
/// Columns of one cache tile.
const COL_TILE: usize = 128;

/// Silhouette coefficient of every point (Euclidean distance), in input
/// order. Matches `sklearn.metrics.silhouette_samples`.
///
/// Needs `2 <= n_clusters <= n_rows - 1`.
pub fn silhouette_samples(data: &[f32], n_rows: usize, n_cols: usize, labels: &[u32]) -> Result<Vec<f64>> {
    validate_matrix("data", data, n_rows, n_cols)?;
    check_same_len("data rows", n_rows, "labels", labels.len())?;
    let compact = compact_labels(labels);
    let n_clusters = compact.n_classes;
    if n_clusters < 2 || n_clusters > n_rows - 1 {
        return Err(AnalysisError::InvalidLabels(format!(
            "the silhouette needs between 2 and n_points - 1 = {} distinct labels, got {n_clusters}",
            n_rows.saturating_sub(1)
        )));
    }

    // Sort points by cluster; cluster c occupies sorted rows starts[c]..starts[c+1].
    let mut order: Vec<usize> = (0..n_rows).collect();
    order.sort_by_key(|&i| compact.codes[i]);
    let mut starts = vec![0usize; n_clusters + 1];
    for (c, &cnt) in compact.counts.iter().enumerate() {
        starts[c + 1] = starts[c] + cnt;
    }
    let mut sorted = vec![0f64; n_rows * n_cols];
    for (s, &i) in order.iter().enumerate() {
        for (dst, &src) in sorted[s * n_cols..(s + 1) * n_cols].iter_mut().zip(&data[i * n_cols..(i + 1) * n_cols]) {
            *dst = src as f64;
        }
    }

    let mut sil_sorted = vec![0f64; n_rows];
    sil_sorted.par_chunks_mut(ROW_BLOCK).enumerate().for_each(|(block, out)| {
        let r0 = block * ROW_BLOCK;
        let rows = out.len();
        // sums[r * n_clusters + c] = Σ_{j in cluster c} d(r0 + r, j).
        let mut sums = vec![0f64; rows * n_clusters];
        for c in 0..n_clusters {
            let mut t0 = starts[c];
            while t0 < starts[c + 1] {
                let t1 = (t0 + COL_TILE).min(starts[c + 1]);
                for r in 0..rows {
                    let x = &sorted[(r0 + r) * n_cols..(r0 + r + 1) * n_cols];
                    let mut acc = 0f64;
                    for j in t0..t1 {
                        acc += sq_dist_f64(x, &sorted[j * n_cols..(j + 1) * n_cols]).sqrt();
                    }
                    sums[r * n_clusters + c] += acc;
                }
                t0 = t1;
            }
        }
        for (r, slot) in out.iter_mut().enumerate() {
            let s = r0 + r;
            // The cluster of sorted row s.
            let own = starts.partition_point(|&st| st <= s) - 1;
            let own_size = compact.counts[own];
            if own_size <= 1 {
                *slot = 0.0;
                continue;
            }
            let row_sums = &sums[r * n_clusters..(r + 1) * n_clusters];
            let a = row_sums[own] / (own_size - 1) as f64;
            let b = (0..n_clusters)
                .filter(|&c| c != own)
                .map(|c| row_sums[c] / compact.counts[c] as f64)
                .fold(f64::INFINITY, f64::min);
            let denom = a.max(b);
            *slot = if denom > 0.0 { (b - a) / denom } else { 0.0 };
        }
    });

    let mut result = vec![0f64; n_rows];
    for (s, &i) in order.iter().enumerate() {
        result[i] = sil_sorted[s];
    }
    Ok(result)
}

/// Mean silhouette coefficient over all points (`sklearn.metrics.silhouette_score`
/// with the Euclidean metric and no sampling).
pub fn silhouette_score(data: &[f32], n_rows: usize, n_cols: usize, labels: &[u32]) -> Result<f64> {
    let s = silhouette_samples(data, n_rows, n_cols, labels)?;
    Ok(s.iter().sum::<f64>() / s.len() as f64)
}

/// The scBasset paper's cell-type average silhouette width,
/// `(mean silhouette + 1) / 2`, in `[0, 1]` (higher means cell types are
/// better separated in the embedding).
pub fn cell_type_asw(data: &[f32], n_rows: usize, n_cols: usize, labels: &[u32]) -> Result<f64> {
    Ok((silhouette_score(data, n_rows, n_cols, labels)? + 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::synthetic::gaussian_mixture;

    /// Plain O(n²) silhouette straight from the definition.
    fn naive(data: &[f32], n: usize, d: usize, labels: &[u32]) -> Vec<f64> {
        let dist = |i: usize, j: usize| -> f64 {
            (0..d).map(|k| (data[i * d + k] as f64 - data[j * d + k] as f64).powi(2)).sum::<f64>().sqrt()
        };
        let mut classes: Vec<u32> = labels.to_vec();
        classes.sort_unstable();
        classes.dedup();
        (0..n)
            .map(|i| {
                let mut mean_to = Vec::new();
                let mut a = 0.0;
                let mut own_size = 0;
                for &c in &classes {
                    let members: Vec<usize> = (0..n).filter(|&j| labels[j] == c).collect();
                    let total: f64 = members.iter().map(|&j| dist(i, j)).sum();
                    if c == labels[i] {
                        own_size = members.len();
                        a = if own_size > 1 { total / (own_size - 1) as f64 } else { 0.0 };
                    } else {
                        mean_to.push(total / members.len() as f64);
                    }
                }
                let b = mean_to.into_iter().fold(f64::INFINITY, f64::min);
                if own_size <= 1 {
                    0.0
                } else {
                    (b - a) / a.max(b)
                }
            })
            .collect()
    }

    #[test]
    fn hand_computed_one_dimensional_example() {
        // A = {0, 1}, B = {4, 6}:
        // s(0) = (5 - 1)/5, s(1) = (4 - 1)/4, s(4) = (3.5 - 2)/3.5, s(6) = (5.5 - 2)/5.5.
        let data = [0.0f32, 4.0, 1.0, 6.0];
        let labels = [0u32, 1, 0, 1];
        let s = silhouette_samples(&data, 4, 1, &labels).unwrap();
        let expected = [0.8, 1.5 / 3.5, 0.75, 3.5 / 5.5];
        for (x, e) in s.iter().zip(expected) {
            assert!((x - e).abs() < 1e-15, "{s:?}");
        }
        let mean = expected.iter().sum::<f64>() / 4.0;
        assert!((silhouette_score(&data, 4, 1, &labels).unwrap() - mean).abs() < 1e-15);
        assert!((cell_type_asw(&data, 4, 1, &labels).unwrap() - (mean + 1.0) / 2.0).abs() < 1e-15);
    }

    #[test]
    fn matches_naive_definition_with_singleton_and_many_clusters() {
        let (mut data, mut labels) = gaussian_mixture(700, 7, 5, 3.0, 42);
        // Make point 10 a singleton cluster and scramble label values.
        labels[10] = 99;
        for l in labels.iter_mut() {
            *l = *l * 3 + 1;
        }
        data[0] += 0.5;
        let fast = silhouette_samples(&data, 700, 7, &labels).unwrap();
        let slow = naive(&data, 700, 7, &labels);
        assert_eq!(fast[10], 0.0);
        for i in 0..700 {
            assert!((fast[i] - slow[i]).abs() < 1e-12, "point {i}: {} vs {}", fast[i], slow[i]);
        }
        // Well separated mixture: clearly positive mean silhouette.
        let mean = silhouette_score(&data, 700, 7, &labels).unwrap();
        assert!(mean > 0.3, "{mean}");
    }

    #[test]
    fn duplicate_points_give_zero_not_nan() {
        // Two clusters that sit on the same spot: a = b = 0.
        let data = [1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0];
        let s = silhouette_samples(&data, 3, 2, &[0, 0, 1]).unwrap();
        assert_eq!(s, vec![0.0, 0.0, 0.0]);
    }

    #[test]
    fn invalid_inputs_are_errors() {
        let data = [0.0f32, 1.0, 2.0, 3.0];
        assert!(matches!(silhouette_samples(&data, 4, 1, &[0, 0, 0, 0]), Err(AnalysisError::InvalidLabels(_))));
        assert!(matches!(silhouette_samples(&data, 4, 1, &[0, 1, 2, 3]), Err(AnalysisError::InvalidLabels(_))));
        assert_eq!(
            silhouette_samples(&data, 4, 1, &[0, 1, 1]),
            Err(AnalysisError::LengthMismatch { what_a: "data rows", len_a: 4, what_b: "labels", len_b: 3 })
        );
        let bad = [0.0f32, 1.0, f32::NAN, 3.0];
        assert_eq!(silhouette_score(&bad, 2, 2, &[0, 1]), Err(AnalysisError::NonFinite { what: "data", row: 1 }));
        assert!(matches!(cell_type_asw(&[], 0, 2, &[]), Err(AnalysisError::EmptyInput { .. })));
    }
}
