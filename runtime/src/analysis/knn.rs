//! Exact k-nearest-neighbour search (Euclidean), brute force, blocked and
//! parallel with rayon.
//!
//! The neighbour-based scores live in their own modules and are re-exported
//! here for convenience: [`label_score`], [`neighbor_score`] (scBasset
//! definitions), [`ilisi`]/[`lisi`] and [`kbet`].

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::matrix::{sq_dist_f32, validate_matrix};
use crate::analysis::work;
use crate::progress::{CancelToken, Progress};
use rayon::prelude::*;

pub use crate::analysis::kbet::{kbet, kbet_subset, KbetResult};
pub use crate::analysis::lisi::{ilisi, lisi, LisiResult};
pub use crate::analysis::neighborhood::{label_score, neighbor_score};

/// Queries handled by one task.
const QUERY_BLOCK: usize = 64;
/// Reference points per cache tile.
const REF_TILE: usize = 256;

/// k nearest neighbours of every point, excluding the point itself.
///
/// Row `i` of `indices`/`distances` (each `n × k`, row-major) lists the
/// neighbours of point `i` by increasing Euclidean distance; equal distances
/// are ordered by index, so results are deterministic. Duplicates of a point
/// (other rows with identical coordinates) are kept as neighbours at
/// distance 0; only the point's own index is excluded.
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    /// Number of points.
    pub n: usize,
    /// Neighbours per point.
    pub k: usize,
    /// Neighbour indices, `n × k` row-major.
    pub indices: Vec<u32>,
    /// Euclidean distances matching `indices`, `n × k` row-major.
    pub distances: Vec<f32>,
}

impl Knn {
    /// Builds a `Knn` from precomputed neighbour lists (for example from a
    /// GPU search), checking shapes, index range, self-exclusion, distinct
    /// neighbours, finite non-negative distances and their ascending order
    /// within each row.
    pub fn from_parts(n: usize, k: usize, indices: Vec<u32>, distances: Vec<f32>) -> Result<Knn> {
        let knn = Knn { n, k, indices, distances };
        knn.validate()?;
        Ok(knn)
    }

    /// Checks the invariants listed at [`Knn::from_parts`]. The fields are
    /// public, so every function taking a `Knn` calls this first.
    pub fn validate(&self) -> Result<()> {
        let (n, k, indices, distances) = (self.n, self.k, &self.indices, &self.distances);
        if n == 0 || k == 0 {
            return Err(AnalysisError::EmptyInput { what: "knn" });
        }
        let expected = n.checked_mul(k).ok_or(AnalysisError::ShapeMismatch {
            what: "knn indices",
            len: indices.len(),
            n_rows: n,
            n_cols: k,
        })?;
        if indices.len() != expected {
            return Err(AnalysisError::ShapeMismatch { what: "knn indices", len: indices.len(), n_rows: n, n_cols: k });
        }
        if distances.len() != expected {
            return Err(AnalysisError::ShapeMismatch {
                what: "knn distances",
                len: distances.len(),
                n_rows: n,
                n_cols: k,
            });
        }
        let mut sorted_row = Vec::with_capacity(k);
        for i in 0..n {
            let row = &indices[i * k..(i + 1) * k];
            let drow = &distances[i * k..(i + 1) * k];
            for (p, &j) in row.iter().enumerate() {
                if j as usize >= n {
                    return Err(AnalysisError::IndexOutOfRange {
                        what: "knn indices",
                        position: i * k + p,
                        index: j as usize,
                        bound: n,
                    });
                }
                if j as usize == i {
                    return Err(AnalysisError::InvalidParameter {
                        name: "knn indices",
                        reason: format!("point {i} lists itself as a neighbour"),
                    });
                }
            }
            sorted_row.clear();
            sorted_row.extend_from_slice(row);
            sorted_row.sort_unstable();
            if sorted_row.windows(2).any(|w| w[0] == w[1]) {
                return Err(AnalysisError::InvalidParameter {
                    name: "knn indices",
                    reason: format!("point {i} lists the same neighbour twice"),
                });
            }
            if drow.iter().any(|d| !d.is_finite() || *d < 0.0) {
                return Err(AnalysisError::NonFinite { what: "knn distances", row: i });
            }
            if drow.windows(2).any(|w| w[1] < w[0]) {
                return Err(AnalysisError::InvalidParameter {
                    name: "knn distances",
                    reason: format!("row {i} is not sorted by increasing distance"),
                });
            }
        }
        Ok(())
    }

    /// Neighbour indices of point `i` (`None` if `i >= n`).
    pub fn neighbors(&self, i: usize) -> Option<&[u32]> {
        (i < self.n).then(|| &self.indices[i * self.k..(i + 1) * self.k])
    }

    /// Neighbour distances of point `i` (`None` if `i >= n`).
    pub fn neighbor_distances(&self, i: usize) -> Option<&[f32]> {
        (i < self.n).then(|| &self.distances[i * self.k..(i + 1) * self.k])
    }

    /// The first `k` neighbours of every point (`k <= self.k`).
    pub fn truncate(&self, k: usize) -> Result<Knn> {
        self.validate()?;
        check_k(self, k)?;
        let mut indices = Vec::with_capacity(self.n * k);
        let mut distances = Vec::with_capacity(self.n * k);
        for i in 0..self.n {
            indices.extend_from_slice(&self.indices[i * self.k..i * self.k + k]);
            distances.extend_from_slice(&self.distances[i * self.k..i * self.k + k]);
        }
        Ok(Knn { n: self.n, k, indices, distances })
    }
}

/// Checks the stored neighbour lists and `1 <= k <= knn.k`.
pub(crate) fn check_k(knn: &Knn, k: usize) -> Result<()> {
    knn.validate()?;
    if k == 0 || k > knn.k {
        return Err(AnalysisError::InvalidParameter {
            name: "k",
            reason: format!("must be between 1 and the {} neighbours stored, got {k}", knn.k),
        });
    }
    Ok(())
}

/// Inserts `(d, j)` into the ascending list `best` (lexicographic order on
/// distance then index), keeping at most `k` entries.
#[inline]
fn push_candidate(best: &mut Vec<(f32, u32)>, k: usize, d: f32, j: u32) {
    if best.len() == k {
        let &(wd, wj) = best.last().expect("k >= 1");
        if d > wd || (d == wd && j > wj) {
            return;
        }
    }
    let pos = best.partition_point(|&(bd, bj)| bd < d || (bd == d && bj < j));
    best.insert(pos, (d, j));
    if best.len() > k {
        best.pop();
    }
}

/// Exact k nearest neighbours (Euclidean) of every row of a dense
/// `n_rows × n_cols` matrix among all other rows.
///
/// Squared distances are accumulated in `f32` from exact coordinate
/// differences (no `‖x‖² + ‖y‖² − 2x·y` cancellation); returned distances
/// are their square roots. Needs `1 <= k <= n_rows - 1`. Reports the rows
/// done to `progress`; stops with [`AnalysisError::Interrupted`] within one
/// tile of distances once `cancel` is set.
pub fn knn_exact(
    data: &[f32],
    n_rows: usize,
    n_cols: usize,
    k: usize,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Knn> {
    work::check(cancel)?;
    validate_matrix("data", data, n_rows, n_cols)?;
    if k == 0 {
        return Err(AnalysisError::InvalidParameter { name: "k", reason: "must be at least 1".into() });
    }
    if n_rows <= k {
        return Err(AnalysisError::TooFewPoints { n_points: n_rows, k });
    }
    if n_rows > u32::MAX as usize {
        return Err(AnalysisError::InvalidParameter {
            name: "data",
            reason: format!("at most {} points are supported, got {n_rows}", u32::MAX),
        });
    }
    let mut indices = vec![0u32; n_rows * k];
    let mut distances = vec![0f32; n_rows * k];
    progress.start("nearest neighbours (exact)", Some(n_rows as u64));
    work::in_steps(n_rows, QUERY_BLOCK, progress, cancel, |rows| {
        let (idx, dist) = (&mut indices[rows.start * k..rows.end * k], &mut distances[rows.start * k..rows.end * k]);
        idx.par_chunks_mut(QUERY_BLOCK * k).zip(dist.par_chunks_mut(QUERY_BLOCK * k)).enumerate().for_each(
            |(block, (idx_out, dist_out))| {
                search_block(data, n_rows, n_cols, k, rows.start + block * QUERY_BLOCK, idx_out, dist_out, cancel)
            },
        );
    })?;
    progress.finish("");
    Ok(Knn { n: n_rows, k, indices, distances })
}

/// Neighbours of the queries `q0..q0 + idx_out.len() / k`, written into
/// `idx_out`/`dist_out`; returns early (leaving them partial) once `cancel`
/// is set, which the caller then reports.
#[allow(clippy::too_many_arguments)]
fn search_block(
    data: &[f32],
    n_rows: usize,
    n_cols: usize,
    k: usize,
    q0: usize,
    idx_out: &mut [u32],
    dist_out: &mut [f32],
    cancel: &CancelToken,
) {
    let nq = idx_out.len() / k;
    let mut best: Vec<Vec<(f32, u32)>> = (0..nq).map(|_| Vec::with_capacity(k + 1)).collect();
    let mut t0 = 0;
    while t0 < n_rows {
        if cancel.is_cancelled() {
            return;
        }
        let t1 = (t0 + REF_TILE).min(n_rows);
        for (qi, list) in best.iter_mut().enumerate() {
            let q = q0 + qi;
            let x = &data[q * n_cols..(q + 1) * n_cols];
            for j in t0..t1 {
                if j == q {
                    continue;
                }
                let d = sq_dist_f32(x, &data[j * n_cols..(j + 1) * n_cols]);
                if list.len() < k || d <= list[k - 1].0 {
                    push_candidate(list, k, d, j as u32);
                }
            }
        }
        t0 = t1;
    }
    for (qi, list) in best.iter().enumerate() {
        for (p, &(d, j)) in list.iter().enumerate() {
            idx_out[qi * k + p] = j;
            dist_out[qi * k + p] = d.sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::synthetic::gaussian_mixture;
    use crate::progress::{CancelToken, NoProgress};

    /// Sorts every other point by (f64 distance, index) and keeps k.
    fn naive(data: &[f32], n: usize, d: usize, k: usize) -> Vec<Vec<(u32, f64)>> {
        (0..n)
            .map(|i| {
                let mut all: Vec<(f64, u32)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let s: f64 = (0..d).map(|c| (data[i * d + c] as f64 - data[j * d + c] as f64).powi(2)).sum();
                        (s.sqrt(), j as u32)
                    })
                    .collect();
                all.sort_by(|a, b| a.partial_cmp(b).unwrap());
                all.into_iter().take(k).map(|(s, j)| (j, s)).collect()
            })
            .collect()
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn matches_naive_search() {
        let (n, d, k) = (613, 19, 12);
        let (data, _) = gaussian_mixture(n, d, 4, 2.0, 7);
        let knn = knn_exact(&data, n, d, k, &mut NoProgress, &CancelToken::new()).unwrap();
        let reference = naive(&data, n, d, k);
        for i in 0..n {
            for p in 0..k {
                assert_eq!(knn.indices[i * k + p], reference[i][p].0, "point {i} rank {p}");
                let got = knn.distances[i * k + p] as f64;
                assert!((got - reference[i][p].1).abs() <= 1e-5 * reference[i][p].1.max(1e-3));
            }
        }
    }

    #[test]
    fn ties_and_duplicates_are_deterministic() {
        // 1-D points 0, 1, 1, 2, 3: point 1 and 2 are duplicates.
        let data = [0.0f32, 1.0, 1.0, 2.0, 3.0];
        let knn = knn_exact(&data, 5, 1, 2, &mut NoProgress, &CancelToken::new()).unwrap();
        // Point 0: 1 and 2 both at distance 1, ordered by index.
        assert_eq!(knn.neighbors(0).unwrap(), &[1, 2]);
        assert_eq!(knn.neighbor_distances(0).unwrap(), &[1.0, 1.0]);
        // Point 1: its duplicate (2) at 0, then 0 and 3 tie at distance 1 -> 0 first.
        assert_eq!(knn.neighbors(1).unwrap(), &[2, 0]);
        assert_eq!(knn.neighbor_distances(1).unwrap(), &[0.0, 1.0]);
        assert_eq!(knn.neighbors(4).unwrap(), &[3, 1]);
        assert!(knn.neighbors(5).is_none());
    }

    #[test]
    fn truncate_and_from_parts() {
        let (data, _) = gaussian_mixture(200, 5, 3, 2.0, 3);
        let k10 = knn_exact(&data, 200, 5, 10, &mut NoProgress, &CancelToken::new()).unwrap();
        let k4 = knn_exact(&data, 200, 5, 4, &mut NoProgress, &CancelToken::new()).unwrap();
        assert_eq!(k10.truncate(4).unwrap(), k4);
        assert!(k10.truncate(11).is_err());
        let rebuilt = Knn::from_parts(200, 10, k10.indices.clone(), k10.distances.clone()).unwrap();
        assert_eq!(rebuilt, k10);
        // Corrupting the public fields is caught by every consumer.
        let mut broken = k10.clone();
        broken.indices.pop();
        assert!(matches!(broken.truncate(2), Err(AnalysisError::ShapeMismatch { .. })));
        assert!(crate::analysis::knn::label_score(&broken, &[0; 200], 2).is_err());
        assert!(crate::analysis::graph::Graph::from_knn(&broken).is_err());
        assert!(matches!(
            Knn::from_parts(2, 1, vec![0, 0], vec![1.0, 1.0]),
            Err(AnalysisError::InvalidParameter { .. })
        ));
        assert!(matches!(
            Knn::from_parts(2, 1, vec![1, 2], vec![1.0, 1.0]),
            Err(AnalysisError::IndexOutOfRange { .. })
        ));
        assert!(matches!(Knn::from_parts(2, 1, vec![1], vec![1.0]), Err(AnalysisError::ShapeMismatch { .. })));
        assert!(matches!(
            Knn::from_parts(3, 2, vec![1, 1, 0, 2, 0, 1], vec![1.0; 6]),
            Err(AnalysisError::InvalidParameter { .. })
        ));
        assert!(matches!(
            Knn::from_parts(3, 2, vec![1, 2, 0, 2, 0, 1], vec![2.0, 1.0, 0.0, 1.0, 0.0, 1.0]),
            Err(AnalysisError::InvalidParameter { .. })
        ));
        assert!(matches!(
            Knn::from_parts(2, 1, vec![1, 0], vec![f32::NAN, 1.0]),
            Err(AnalysisError::NonFinite { row: 0, .. })
        ));
    }

    #[test]
    fn bad_input_is_an_error() {
        let data = [0.0f32, 1.0, 2.0];
        assert_eq!(
            knn_exact(&data, 3, 1, 3, &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::TooFewPoints { n_points: 3, k: 3 })
        );
        assert!(matches!(
            knn_exact(&data, 3, 1, 0, &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::InvalidParameter { .. })
        ));
        let bad = [0.0f32, 1.0, 2.0, f32::INFINITY];
        assert_eq!(
            knn_exact(&bad, 2, 2, 1, &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::NonFinite { what: "data", row: 1 })
        );
        assert!(matches!(
            knn_exact(&data, 2, 2, 1, &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::ShapeMismatch { .. })
        ));
    }
}
