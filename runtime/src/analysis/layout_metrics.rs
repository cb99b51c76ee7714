//! Quality of low-dimensional layouts: trustworthiness (scikit-learn's
//! `sklearn.manifold.trustworthiness`) and the kNN label agreement of a
//! layout.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::knn::{knn_exact, label_score};
use crate::analysis::labels::check_same_len;
use crate::analysis::matrix::{sq_dist_f64, validate_matrix};
use crate::progress::{CancelToken, NoProgress};
use rayon::prelude::*;

/// Trustworthiness of an embedding at `k` neighbours (Venna & Kaski),
/// exactly as `sklearn.manifold.trustworthiness(X, X_embedded, n_neighbors=k)`:
///
/// `T(k) = 1 − 2 / (n k (2n − 3k − 1)) Σ_i Σ_{j ∈ U_k(i)} (r(i, j) − k)`,
///
/// where `U_k(i)` are the `k` nearest neighbours of `i` in the embedding
/// that are not among its `k` nearest in the original space, and `r(i, j)`
/// is the rank of `j` by distance from `i` in the original space (1 for the
/// nearest, the point itself excluded). Ranks are exact (original-space
/// distances in `f64`, ties ordered by index). `data` is row-major
/// `n_rows × n_cols`, `embedding` row-major `n_rows × n_components`; needs
/// `1 <= k < n_rows / 2`. Costs `O(n² n_cols)` time, parallel over points.
pub fn trustworthiness(
    data: &[f32],
    n_rows: usize,
    n_cols: usize,
    embedding: &[f32],
    n_components: usize,
    k: usize,
) -> Result<f64> {
    validate_matrix("data", data, n_rows, n_cols)?;
    validate_matrix("embedding", embedding, n_rows, n_components)?;
    if k == 0 || 2 * k >= n_rows {
        return Err(AnalysisError::InvalidParameter {
            name: "k",
            reason: format!(
                "trustworthiness needs 1 <= k < n_rows / 2 (scikit-learn's rule), got k = {k} for {n_rows} points"
            ),
        });
    }
    let emb_knn = knn_exact(embedding, n_rows, n_components, k, &mut NoProgress, &CancelToken::new())?;
    let x: Vec<f64> = data.iter().map(|&v| v as f64).collect();
    let penalty: Vec<f64> = (0..n_rows)
        .into_par_iter()
        .map(|i| {
            let xi = &x[i * n_cols..(i + 1) * n_cols];
            // Targets (distance, index) sorted; bump[q] counts points ranked before target q..
            let mut targets: Vec<(f64, u32)> = emb_knn.indices[i * k..(i + 1) * k]
                .iter()
                .map(|&j| (sq_dist_f64(xi, &x[j as usize * n_cols..(j as usize + 1) * n_cols]), j))
                .collect();
            targets.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
            let mut bump = vec![0usize; k + 1];
            for l in 0..n_rows {
                if l == i {
                    continue;
                }
                let d = sq_dist_f64(xi, &x[l * n_cols..(l + 1) * n_cols]);
                let q = targets.partition_point(|&(td, tj)| td < d || (td == d && tj as usize <= l));
                bump[q] += 1;
            }
            let mut before = 0usize;
            let mut sum = 0f64;
            for &b in bump.iter().take(k) {
                before += b;
                let rank = before + 1;
                sum += rank.saturating_sub(k) as f64;
            }
            sum
        })
        .collect();
    let total: f64 = penalty.iter().sum();
    let (n, kf) = (n_rows as f64, k as f64);
    Ok(1.0 - total * 2.0 / (n * kf * (2.0 * n - 3.0 * kf - 1.0)))
}

/// Share of each point's `k` nearest neighbours in the layout that carry
/// its label ([`label_score`] on an exact kNN of the layout).
pub fn layout_label_agreement(
    embedding: &[f32],
    n_rows: usize,
    n_components: usize,
    labels: &[u32],
    k: usize,
) -> Result<f64> {
    check_same_len("embedding rows", n_rows, "labels", labels.len())?;
    let knn = knn_exact(embedding, n_rows, n_components, k, &mut NoProgress, &CancelToken::new())?;
    label_score(&knn, labels, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct transcription of the definition with full sorting.
    fn naive(data: &[f32], n: usize, d: usize, emb: &[f32], e: usize, k: usize) -> f64 {
        let rank_lists = |m: &[f32], dim: usize, i: usize| {
            let mut v: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| ((0..dim).map(|c| ((m[i * dim + c] - m[j * dim + c]) as f64).powi(2)).sum::<f64>(), j))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            v.into_iter().map(|p| p.1).collect::<Vec<_>>()
        };
        let mut t = 0.0;
        for i in 0..n {
            let orig = rank_lists(data, d, i);
            let low = rank_lists(emb, e, i);
            for &j in &low[..k] {
                let r = orig.iter().position(|&x| x == j).unwrap() + 1;
                if r > k {
                    t += (r - k) as f64;
                }
            }
        }
        1.0 - 2.0 / (n as f64 * k as f64 * (2.0 * n as f64 - 3.0 * k as f64 - 1.0)) * t
    }

    #[test]
    fn matches_definition() {
        let (data, _) = crate::analysis::synthetic::gaussian_mixture(60, 5, 2, 3.0, 1);
        // Identity-like embedding: first two coordinates only.
        let emb: Vec<f32> = data.chunks(5).flat_map(|r| [r[0], r[1]]).collect();
        for k in [1, 5, 12] {
            let ours = trustworthiness(&data, 60, 5, &emb, 2, k).unwrap();
            let reference = naive(&data, 60, 5, &emb, 2, k);
            assert!((ours - reference).abs() < 1e-12, "k={k}: {ours} vs {reference}");
        }
        // The data itself as embedding is perfectly trustworthy.
        assert_eq!(trustworthiness(&data, 60, 5, &data, 5, 5).unwrap(), 1.0);
    }

    #[test]
    fn errors() {
        let data = vec![0f32; 20];
        let e = trustworthiness(&data, 10, 2, &data, 2, 5).unwrap_err();
        assert!(e.to_string().contains("k < n_rows / 2"), "{e}");
        let mut bad = data.clone();
        bad[3] = f32::NAN;
        assert!(matches!(
            trustworthiness(&data, 10, 2, &bad, 2, 2),
            Err(AnalysisError::NonFinite { what: "embedding", row: 1 })
        ));
        assert!(layout_label_agreement(&data, 10, 2, &[0; 9], 2).is_err());
    }
}
