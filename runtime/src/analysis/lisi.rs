//! Local inverse Simpson's index (LISI; Korsunsky et al. 2019, as computed by
//! harmony and scib).
//!
//! For each cell the neighbour weights `p_j ∝ exp(-β d_j)` over its stored
//! nearest neighbours are calibrated by bisection on `β` so that their
//! perplexity `exp(H(p))` equals the target (30 by default), exactly as in
//! harmony's `compute_simpson` (which, like scib, applies the kernel to the
//! Euclidean neighbour distances). The cell's LISI is `1 / Σ_b p_b²`, where
//! `p_b` is the total weight of neighbours with label `b`. With batch labels
//! this is iLISI (1 = no mixing, up to the number of batches = perfect
//! mixing); with cell-type labels it is cLISI.
//!
//! The neighbourhood is all `knn.k` stored neighbours; harmony uses
//! `k = 3 × perplexity` (90 for the default perplexity).

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::knn::Knn;
use crate::analysis::labels::{check_same_len, compact_labels};
use rayon::prelude::*;

/// Default perplexity of harmony/scib LISI.
pub const DEFAULT_PERPLEXITY: f64 = 30.0;

/// Tolerance on `|H - ln(perplexity)|` for the bandwidth search (harmony's).
const ENTROPY_TOL: f64 = 1e-5;
/// Maximum bisection steps (harmony's).
const MAX_STEPS: usize = 50;

/// Per-cell LISI values and their summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct LisiResult {
    /// LISI of every cell, in point order.
    pub per_cell: Vec<f64>,
    /// Mean over cells.
    pub mean: f64,
    /// Median over cells.
    pub median: f64,
}

/// Normalised neighbour weights `p_j ∝ exp(-β d_j)` with `β` calibrated so
/// that `exp(H(p))` matches `perplexity` (within the harmony tolerance, or
/// after 50 bisection steps, whichever comes first).
///
/// Starts from `β = 1`, doubles or halves it until the target is bracketed,
/// then bisects. The kernel is evaluated relative to the smallest distance,
/// which leaves `p` and `H` unchanged but cannot underflow.
pub fn perplexity_weights(distances: &[f32], perplexity: f64) -> Vec<f64> {
    let d: Vec<f64> = distances.iter().map(|&x| x as f64).collect();
    let d0 = d.iter().copied().fold(f64::INFINITY, f64::min);
    let target = perplexity.ln();
    let mut p = vec![0f64; d.len()];
    let entropy = |beta: f64, p: &mut [f64]| -> f64 {
        let mut sum = 0.0;
        let mut weighted = 0.0;
        for (pj, &dj) in p.iter_mut().zip(&d) {
            *pj = (-(dj - d0) * beta).exp();
            sum += *pj;
            weighted += (dj - d0) * *pj;
        }
        for pj in p.iter_mut() {
            *pj /= sum;
        }
        sum.ln() + beta * weighted / sum
    };
    let mut beta = 1.0f64;
    let (mut beta_min, mut beta_max) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut h = entropy(beta, &mut p);
    for _ in 0..MAX_STEPS {
        let diff = h - target;
        if diff.abs() < ENTROPY_TOL {
            break;
        }
        if diff > 0.0 {
            // Too flat: sharpen the kernel.
            beta_min = beta;
            beta = if beta_max.is_finite() { (beta + beta_max) / 2.0 } else { beta * 2.0 };
        } else {
            beta_max = beta;
            beta = if beta_min.is_finite() { (beta + beta_min) / 2.0 } else { beta / 2.0 };
        }
        h = entropy(beta, &mut p);
    }
    p
}

/// LISI of every cell for the given labels over the stored neighbours.
///
/// `labels` has one entry per point; `perplexity` must be positive and
/// below `knn.k` (the largest perplexity `k` weights can reach).
pub fn lisi(knn: &Knn, labels: &[u32], perplexity: f64) -> Result<LisiResult> {
    knn.validate()?;
    check_same_len("knn points", knn.n, "labels", labels.len())?;
    if !(perplexity.is_finite() && perplexity > 0.0 && perplexity < knn.k as f64) {
        return Err(AnalysisError::InvalidParameter {
            name: "perplexity",
            reason: format!("must be positive and below the number of stored neighbours ({}), got {perplexity}", knn.k),
        });
    }
    let compact = compact_labels(labels);
    let n_classes = compact.n_classes;
    let per_cell: Vec<f64> = (0..knn.n)
        .into_par_iter()
        .map(|i| {
            let idx = &knn.indices[i * knn.k..(i + 1) * knn.k];
            let p = perplexity_weights(&knn.distances[i * knn.k..(i + 1) * knn.k], perplexity);
            let mut mass = vec![0f64; n_classes];
            for (&j, &pj) in idx.iter().zip(&p) {
                mass[compact.codes[j as usize] as usize] += pj;
            }
            1.0 / mass.iter().map(|m| m * m).sum::<f64>()
        })
        .collect();
    let mean = per_cell.iter().sum::<f64>() / per_cell.len() as f64;
    let mut sorted = per_cell.clone();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len();
    let median = if m % 2 == 1 { sorted[m / 2] } else { 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]) };
    Ok(LisiResult { per_cell, mean, median })
}

/// Integration LISI: [`lisi`] on batch labels. Ranges from 1 (each
/// neighbourhood holds one batch) to the number of batches (perfect mixing).
pub fn ilisi(knn: &Knn, batch_labels: &[u32], perplexity: f64) -> Result<LisiResult> {
    lisi(knn, batch_labels, perplexity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::knn_exact;
    use crate::analysis::synthetic::gaussian_mixture;
    use crate::progress::{CancelToken, NoProgress};

    fn entropy(p: &[f64]) -> f64 {
        -p.iter().filter(|&&x| x > 0.0).map(|&x| x * x.ln()).sum::<f64>()
    }

    #[test]
    fn calibrated_weights_hit_the_target_perplexity() {
        // Distances 0.1, 0.2, ..., 9.0 (90 neighbours).
        let d: Vec<f32> = (1..=90).map(|i| i as f32 * 0.1).collect();
        for perplexity in [5.0, 30.0, 60.0] {
            let p = perplexity_weights(&d, perplexity);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!((entropy(&p) - f64::ln(perplexity)).abs() < 1e-5, "perplexity {perplexity}");
            // Weights decrease with distance.
            assert!(p.windows(2).all(|w| w[0] >= w[1]));
        }
        // Huge distances must not underflow to NaN.
        let far: Vec<f32> = (1..=90).map(|i| 1e6 + i as f32 * 64.0).collect();
        let p = perplexity_weights(&far, 30.0);
        assert!(p.iter().all(|x| x.is_finite()));
        assert!((entropy(&p) - f64::ln(30.0)).abs() < 1e-5);
    }

    fn knn_from_rows(rows: Vec<(Vec<u32>, Vec<f32>)>) -> Knn {
        let n = rows.len();
        let k = rows[0].0.len();
        let mut idx = Vec::new();
        let mut dist = Vec::new();
        for (i, d) in rows {
            idx.extend(i);
            dist.extend(d);
        }
        Knn::from_parts(n, k, idx, dist).unwrap()
    }

    #[test]
    fn exact_values_for_symmetric_neighbourhoods() {
        // 181 points; point 0 has 90 neighbours in pairs at equal distances,
        // one of each pair from batch 0 and one from batch 1 -> p_0 = p_1 = 1/2,
        // LISI = 2 whatever the bandwidth.
        let n = 181;
        let mut batch = vec![0u32; n];
        for (j, b) in batch.iter_mut().enumerate().skip(1) {
            *b = (j % 2) as u32;
        }
        let mut rows = Vec::new();
        for i in 0..n {
            let idx: Vec<u32> = (0..n as u32).filter(|&j| j as usize != i).take(90).collect();
            let dist: Vec<f32> = (0..90).map(|p| (p / 2) as f32 * 0.3 + 1.0).collect();
            rows.push((idx, dist));
        }
        let knn = knn_from_rows(rows);
        let r = lisi(&knn, &batch, 30.0).unwrap();
        // Point 0's neighbours are 1..=90: pairs (1,2), (3,4), ... of opposite batches.
        assert!((r.per_cell[0] - 2.0).abs() < 1e-12, "{}", r.per_cell[0]);

        // Three batches, 30 neighbours each, all at the same distance: uniform
        // weights, LISI = 3.
        let batch3: Vec<u32> = (0..91).map(|j| (j % 3) as u32).collect();
        let rows: Vec<_> =
            (0..91).map(|i| ((0..91u32).filter(|&j| j as usize != i).take(90).collect(), vec![2.5f32; 90])).collect();
        let knn = knn_from_rows(rows);
        let r = ilisi(&knn, &batch3, 30.0).unwrap();
        // Point 0's neighbours 1..=90: 30 of each batch.
        assert!((r.per_cell[0] - 3.0).abs() < 1e-12);
        // A single batch always gives 1.
        let r = ilisi(&knn, &vec![4; 91], 30.0).unwrap();
        assert!(r.per_cell.iter().all(|&x| (x - 1.0).abs() < 1e-12));
        assert!((r.mean - 1.0).abs() < 1e-12 && (r.median - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mixed_batches_score_higher_than_separated_ones() {
        let (data, clusters) = gaussian_mixture(600, 6, 3, 10.0, 9);
        let knn = knn_exact(&data, 600, 6, 90, &mut NoProgress, &CancelToken::new()).unwrap();
        // Batch = cluster: separated, iLISI near 1.
        let separated = ilisi(&knn, &clusters, 30.0).unwrap();
        // Batch = alternating: well mixed, iLISI near 2.
        let mixed: Vec<u32> = (0..600).map(|i| (i % 2) as u32).collect();
        let mixed = ilisi(&knn, &mixed, 30.0).unwrap();
        assert!(separated.mean < 1.05, "{}", separated.mean);
        assert!(mixed.mean > 1.8 && mixed.mean <= 2.0 + 1e-12, "{}", mixed.mean);
        assert!(mixed.median > 1.8);
    }

    #[test]
    fn invalid_parameters() {
        let (data, _) = gaussian_mixture(50, 3, 2, 1.0, 1);
        let knn = knn_exact(&data, 50, 3, 10, &mut NoProgress, &CancelToken::new()).unwrap();
        let labels = vec![0u32; 50];
        assert!(matches!(lisi(&knn, &labels, 10.0), Err(AnalysisError::InvalidParameter { .. })));
        assert!(matches!(lisi(&knn, &labels, 0.0), Err(AnalysisError::InvalidParameter { .. })));
        assert!(matches!(lisi(&knn, &labels, f64::NAN), Err(AnalysisError::InvalidParameter { .. })));
        assert!(matches!(lisi(&knn, &labels[..49], 5.0), Err(AnalysisError::LengthMismatch { .. })));
    }
}
