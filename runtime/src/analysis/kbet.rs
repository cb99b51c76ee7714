//! k-nearest-neighbour batch-effect test (kBET; Büttner et al. 2019).
//!
//! For each tested cell, the batch composition of its `k` nearest neighbours
//! is compared with the global batch frequencies by Pearson's chi-square
//! test (`Σ_b (O_b - E_b)² / E_b` with `E_b = k f_b`, `B - 1` degrees of
//! freedom). The acceptance rate is the share of tests that are *not*
//! rejected at level `alpha`: close to `1 - alpha` for well-mixed batches and
//! close to 0 for strong batch effects.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::knn::{check_k, Knn};
use crate::analysis::labels::{check_same_len, compact_labels};
use crate::analysis::special::chi2_sf;
use rayon::prelude::*;

/// Outcome of kBET.
#[derive(Debug, Clone, PartialEq)]
pub struct KbetResult {
    /// Share of tested cells whose test is not rejected (`p >= alpha`).
    pub acceptance_rate: f64,
    /// `1 - acceptance_rate`.
    pub rejection_rate: f64,
    /// Number of cells tested.
    pub n_tested: usize,
    /// Chi-square p-value of every tested cell, in the order tested.
    pub p_values: Vec<f64>,
}

/// kBET over every cell. See [`kbet_subset`].
pub fn kbet(knn: &Knn, batch_labels: &[u32], k: usize, alpha: f64) -> Result<KbetResult> {
    let all: Vec<usize> = (0..knn.n).collect();
    kbet_subset(knn, batch_labels, k, alpha, &all)
}

/// kBET over the given cells (the original method tests a random subset,
/// by default 10% of cells).
///
/// Uses each tested cell's first `k` stored neighbours (`1 <= k <= knn.k`),
/// excluding the cell itself. Needs at least two batches and
/// `0 < alpha < 1`.
pub fn kbet_subset(knn: &Knn, batch_labels: &[u32], k: usize, alpha: f64, cells: &[usize]) -> Result<KbetResult> {
    check_same_len("knn points", knn.n, "batch_labels", batch_labels.len())?;
    check_k(knn, k)?;
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "alpha",
            reason: format!("must lie strictly between 0 and 1, got {alpha}"),
        });
    }
    if cells.is_empty() {
        return Err(AnalysisError::EmptyInput { what: "cells" });
    }
    if let Some((position, &bad)) = cells.iter().enumerate().find(|(_, &c)| c >= knn.n) {
        return Err(AnalysisError::IndexOutOfRange { what: "cells", position, index: bad, bound: knn.n });
    }
    let compact = compact_labels(batch_labels);
    let n_batches = compact.n_classes;
    if n_batches < 2 {
        return Err(AnalysisError::InvalidLabels(format!("kBET needs at least two batches, got {n_batches}")));
    }
    let n = knn.n as f64;
    let expected: Vec<f64> = compact.counts.iter().map(|&c| k as f64 * c as f64 / n).collect();
    let df = (n_batches - 1) as f64;
    let p_values: Vec<f64> = cells
        .par_iter()
        .map(|&i| {
            let mut observed = vec![0f64; n_batches];
            for &j in &knn.indices[i * knn.k..i * knn.k + k] {
                observed[compact.codes[j as usize] as usize] += 1.0;
            }
            let stat: f64 = observed.iter().zip(&expected).map(|(o, e)| (o - e) * (o - e) / e).sum();
            chi2_sf(stat, df)
        })
        .collect();
    let accepted = p_values.iter().filter(|&&p| p >= alpha).count();
    let acceptance_rate = accepted as f64 / p_values.len() as f64;
    Ok(KbetResult { acceptance_rate, rejection_rate: 1.0 - acceptance_rate, n_tested: p_values.len(), p_values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::knn_exact;
    use crate::analysis::special::erfc;
    use crate::analysis::synthetic::gaussian_mixture;
    use crate::progress::{CancelToken, NoProgress};

    fn knn_rows(n: usize, k: usize, rows: &[Vec<u32>]) -> Knn {
        let idx: Vec<u32> = rows.iter().flatten().copied().collect();
        let dist = (0..n * k).map(|p| (p % k) as f32).collect();
        Knn::from_parts(n, k, idx, dist).unwrap()
    }

    #[test]
    fn hand_computed_statistics() {
        // 8 cells, batches 0 0 0 0 1 1 1 1 -> f = (1/2, 1/2); k = 4 -> E = (2, 2).
        let batch = [0u32, 0, 0, 0, 1, 1, 1, 1];
        let rows = vec![
            vec![1, 2, 3, 4], // O = (3, 1): stat = 1/2 + 1/2 = 1
            vec![0, 2, 3, 7], // (3, 1): 1
            vec![4, 5, 0, 1], // (2, 2): 0
            vec![0, 1, 2, 4], // (3, 1): 1
            vec![5, 6, 7, 0], // (1, 3): 1
            vec![4, 6, 7, 3], // (1, 3): 1
            vec![4, 5, 7, 1], // (1, 3): 1
            vec![4, 5, 6, 3], // (1, 3): 1
        ];
        let knn = knn_rows(8, 4, &rows);
        let r = kbet(&knn, &batch, 4, 0.05).unwrap();
        // df = 1: p = erfc(sqrt(stat / 2)).
        let p1 = erfc((0.5f64).sqrt());
        for (i, &p) in r.p_values.iter().enumerate() {
            let expected = if i == 2 { 1.0 } else { p1 };
            assert!((p - expected).abs() < 1e-14, "cell {i}: {p} vs {expected}");
        }
        assert_eq!(r.acceptance_rate, 1.0);
        // All neighbours from one batch: 10 cells in two batches of 5, each
        // cell's 4 neighbours are the other members of its batch.
        // O = (4, 0), E = (2, 2), stat = 2 + 2 = 4, p = erfc(sqrt 2) < 0.05.
        let batch: Vec<u32> = (0..10).map(|i| (i / 5) as u32).collect();
        let rows: Vec<Vec<u32>> =
            (0..10u32).map(|i| (0..10u32).filter(|&j| j != i && j / 5 == i / 5).collect()).collect();
        let knn = knn_rows(10, 4, &rows);
        let r = kbet(&knn, &batch, 4, 0.05).unwrap();
        let p4 = erfc(2f64.sqrt());
        assert!(p4 < 0.05);
        assert!(r.p_values.iter().all(|&p| (p - p4).abs() < 1e-15));
        assert_eq!((r.acceptance_rate, r.rejection_rate), (0.0, 1.0));
        // Subset and k smaller than stored.
        let r = kbet_subset(&knn, &batch, 2, 0.05, &[0, 5]).unwrap();
        assert_eq!(r.n_tested, 2);
        // k = 2: O = (2, 0), E = (1, 1), stat = 2, p = erfc(1).
        assert!((r.p_values[0] - erfc(1.0)).abs() < 1e-15);
    }

    #[test]
    fn mixed_versus_separated_batches() {
        let (data, clusters) = gaussian_mixture(1000, 5, 4, 10.0, 2);
        let knn = knn_exact(&data, 1000, 5, 25, &mut NoProgress, &CancelToken::new()).unwrap();
        // Batches equal to the clusters: strong batch effect.
        let bad = kbet(&knn, &clusters, 25, 0.05).unwrap();
        assert!(bad.acceptance_rate < 0.05, "{}", bad.acceptance_rate);
        // Batches assigned independently of position: acceptance near 0.95.
        let mixed: Vec<u32> = (0..1000u32).map(|i| (i * 7 + i / 3) % 3).collect();
        let good = kbet(&knn, &mixed, 25, 0.05).unwrap();
        assert!(good.acceptance_rate > 0.85, "{}", good.acceptance_rate);
    }

    #[test]
    fn invalid_input() {
        let knn = knn_rows(3, 2, &[vec![1, 2], vec![0, 2], vec![0, 1]]);
        assert!(matches!(kbet(&knn, &[0, 0, 0], 2, 0.05), Err(AnalysisError::InvalidLabels(_))));
        assert!(matches!(kbet(&knn, &[0, 1, 0], 2, 1.0), Err(AnalysisError::InvalidParameter { .. })));
        assert!(matches!(kbet(&knn, &[0, 1, 0], 3, 0.05), Err(AnalysisError::InvalidParameter { .. })));
        assert!(matches!(kbet(&knn, &[0, 1], 2, 0.05), Err(AnalysisError::LengthMismatch { .. })));
        assert!(matches!(kbet_subset(&knn, &[0, 1, 0], 2, 0.05, &[]), Err(AnalysisError::EmptyInput { .. })));
        assert!(matches!(
            kbet_subset(&knn, &[0, 1, 0], 2, 0.05, &[0, 3]),
            Err(AnalysisError::IndexOutOfRange { position: 1, index: 3, bound: 3, .. })
        ));
    }
}
