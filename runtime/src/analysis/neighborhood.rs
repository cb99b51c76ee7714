//! Neighbourhood-agreement scores from the scBasset paper: the label score
//! (how often a cell's nearest neighbours share its label) and the neighbour
//! score (how much two embeddings agree on each cell's neighbours).

use crate::analysis::error::Result;
use crate::analysis::knn::{check_k, Knn};
use crate::analysis::labels::check_same_len;

/// Mean over cells of the share of the cell's `k` nearest neighbours that
/// carry the same label as the cell (scBasset's "label score").
///
/// `labels` has one entry per point of `knn`; `1 <= k <= knn.k`.
pub fn label_score(knn: &Knn, labels: &[u32], k: usize) -> Result<f64> {
    check_same_len("knn points", knn.n, "labels", labels.len())?;
    check_k(knn, k)?;
    let total: usize = (0..knn.n)
        .map(|i| knn.indices[i * knn.k..i * knn.k + k].iter().filter(|&&j| labels[j as usize] == labels[i]).count())
        .sum();
    Ok(total as f64 / (knn.n as f64 * k as f64))
}

/// Mean over cells of `|N_a(k) ∩ N_b(k)| / k`, where `N_a(k)` and `N_b(k)`
/// are the cell's `k` nearest neighbours in two embeddings of the same cells
/// (scBasset's "neighbour score", e.g. ATAC embedding versus RNA embedding).
///
/// Both searches must cover the same number of points and store at least
/// `k` neighbours.
pub fn neighbor_score(knn_a: &Knn, knn_b: &Knn, k: usize) -> Result<f64> {
    check_same_len("knn_a points", knn_a.n, "knn_b points", knn_b.n)?;
    check_k(knn_a, k)?;
    check_k(knn_b, k)?;
    let mut a = Vec::with_capacity(k);
    let mut b = Vec::with_capacity(k);
    let mut total = 0usize;
    for i in 0..knn_a.n {
        a.clear();
        b.clear();
        a.extend_from_slice(&knn_a.indices[i * knn_a.k..i * knn_a.k + k]);
        b.extend_from_slice(&knn_b.indices[i * knn_b.k..i * knn_b.k + k]);
        a.sort_unstable();
        b.sort_unstable();
        let (mut p, mut q) = (0, 0);
        while p < k && q < k {
            match a[p].cmp(&b[q]) {
                std::cmp::Ordering::Less => p += 1,
                std::cmp::Ordering::Greater => q += 1,
                std::cmp::Ordering::Equal => {
                    total += 1;
                    p += 1;
                    q += 1;
                }
            }
        }
    }
    Ok(total as f64 / (knn_a.n as f64 * k as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::error::AnalysisError;
    use crate::analysis::knn::knn_exact;
    use crate::analysis::synthetic::gaussian_mixture;
    use crate::progress::{CancelToken, NoProgress};

    fn manual_knn(n: usize, k: usize, indices: Vec<u32>) -> Knn {
        let distances = (0..n * k).map(|p| (p % k) as f32).collect();
        Knn::from_parts(n, k, indices, distances).unwrap()
    }

    #[test]
    fn label_score_hand_example() {
        // 4 points, 2 neighbours each.
        let knn = manual_knn(4, 2, vec![1, 2, 0, 3, 3, 0, 2, 1]);
        let labels = [0u32, 0, 1, 1];
        // point 0: {1 same, 2 diff} = 1/2; point 1: {0 same, 3 diff} = 1/2;
        // point 2: {3 same, 0 diff} = 1/2; point 3: {2 same, 1 diff} = 1/2.
        assert!((label_score(&knn, &labels, 2).unwrap() - 0.5).abs() < 1e-15);
        // k = 1: points 0, 1 (-> 0), 2 (-> 3), 3 (-> 2) all match.
        assert!((label_score(&knn, &labels, 1).unwrap() - 1.0).abs() < 1e-15);
        // Every label distinct: 0.
        assert_eq!(label_score(&knn, &[0, 1, 2, 3], 2).unwrap(), 0.0);
    }

    #[test]
    fn neighbor_score_hand_example() {
        let a = manual_knn(3, 2, vec![1, 2, 0, 2, 0, 1]);
        let b = manual_knn(3, 2, vec![2, 1, 2, 0, 1, 0]);
        // Same sets in a different order: score 1.
        assert_eq!(neighbor_score(&a, &b, 2).unwrap(), 1.0);
        // k = 1: point 0 {1} vs {2} no; point 1 {0} vs {2} no; point 2 {0} vs {1} no.
        assert_eq!(neighbor_score(&a, &b, 1).unwrap(), 0.0);
        let c = manual_knn(3, 2, vec![1, 2, 2, 0, 1, 0]);
        // k = 1: {1}/{1} yes, {0}/{2} no, {0}/{1} no -> 1/3.
        assert!((neighbor_score(&a, &c, 1).unwrap() - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn scores_on_separated_clusters() {
        let (data, labels) = gaussian_mixture(400, 8, 4, 12.0, 5);
        let knn = knn_exact(&data, 400, 8, 15, &mut NoProgress, &CancelToken::new()).unwrap();
        // Far-apart clusters: all neighbours share the label.
        assert_eq!(label_score(&knn, &labels, 15).unwrap(), 1.0);
        assert_eq!(neighbor_score(&knn, &knn, 15).unwrap(), 1.0);
        // A shifted copy of the data has the same neighbours.
        let shifted: Vec<f32> = data.iter().map(|v| v + 3.0).collect();
        let knn2 = knn_exact(&shifted, 400, 8, 15, &mut NoProgress, &CancelToken::new()).unwrap();
        assert!(neighbor_score(&knn, &knn2, 15).unwrap() > 0.99);
        // Unrelated data: overlap close to chance (k / n).
        let (other, _) = gaussian_mixture(400, 8, 1, 0.0, 6);
        let knn3 = knn_exact(&other, 400, 8, 15, &mut NoProgress, &CancelToken::new()).unwrap();
        assert!(neighbor_score(&knn, &knn3, 15).unwrap() < 0.1);
    }

    #[test]
    fn errors() {
        let a = manual_knn(3, 2, vec![1, 2, 0, 2, 0, 1]);
        let b = manual_knn(4, 2, vec![1, 2, 0, 3, 3, 0, 2, 1]);
        assert!(matches!(neighbor_score(&a, &b, 2), Err(AnalysisError::LengthMismatch { len_a: 3, len_b: 4, .. })));
        assert!(matches!(neighbor_score(&a, &a, 3), Err(AnalysisError::InvalidParameter { .. })));
        assert!(matches!(label_score(&a, &[0, 1], 1), Err(AnalysisError::LengthMismatch { .. })));
        assert!(matches!(label_score(&a, &[0, 1, 1], 0), Err(AnalysisError::InvalidParameter { .. })));
    }
}
