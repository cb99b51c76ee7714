//! Weighted neighbour graphs from a [`Knn`]: UMAP's fuzzy simplicial set
//! (the `connectivities` of scanpy's `pp.neighbors(method="umap")`) and
//! PhenoGraph's shared-nearest-neighbour Jaccard graph.
//!
//! Written here rather than taken from a crate: the one UMAP crate on
//! crates.io (`umap-rs`) computes its own neighbours and pulls `sprs`,
//! `dashmap`, `indicatif` and a second `rand`, and neither it nor any other
//! crate exposes the fuzzy set for precomputed exact neighbours.
//!
//! # Neighbour convention
//!
//! A [`Knn`] excludes the point itself, whereas scanpy and umap-learn count
//! it: scanpy's `n_neighbors = 15` means the point plus 14 others. The
//! functions here take `n_neighbors` **as scanpy does (self included)** and
//! read the first `n_neighbors - 1` stored neighbours, treating the point as
//! its own neighbour at distance 0. So `knn_exact(data, n, d, 14)` with
//! `umap_connectivities(&knn, 15)` reproduces
//! `sc.pp.neighbors(adata, n_neighbors=15, use_rep="X", method="umap")`.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::graph::Graph;
use crate::analysis::knn::Knn;
use rayon::prelude::*;

/// Binary-search steps for each bandwidth σ (umap-learn's `n_iter`).
const SIGMA_ITERATIONS: usize = 64;
/// Tolerance on `Σ exp(−max(0, d − ρ)/σ) − log2(k)`.
const SIGMA_TOLERANCE: f64 = 1e-5;
/// Floor for σ as a fraction of the mean neighbour distance.
const MIN_K_DIST_SCALE: f64 = 1e-3;

/// Per-point scale parameters of the fuzzy simplicial set.
#[derive(Debug, Clone, PartialEq)]
pub struct SmoothKnnDist {
    /// Bandwidth σ of every point.
    pub sigmas: Vec<f32>,
    /// Distance ρ to the nearest neighbour at a non-zero distance (0 when
    /// every listed neighbour is a duplicate of the point).
    pub rhos: Vec<f32>,
}

/// Checks `knn` and `2 <= n_neighbors <= knn.k + 1` (self included).
fn check_n_neighbors(knn: &Knn, n_neighbors: usize) -> Result<()> {
    knn.validate()?;
    if n_neighbors < 2 || n_neighbors > knn.k + 1 {
        return Err(AnalysisError::InvalidParameter {
            name: "n_neighbors",
            reason: format!(
                "counts the point itself (as scanpy's n_neighbors), so it must be between 2 and \
                 the {} stored neighbours + 1, got {n_neighbors}",
                knn.k
            ),
        });
    }
    Ok(())
}

/// umap-learn's `smooth_knn_dist` with `local_connectivity = 1` and
/// bandwidth 1, for `n_neighbors` counted with the point itself (see the
/// module docs).
///
/// For every point, ρ is the distance to its nearest neighbour at a
/// non-zero distance, and σ is found by 64 steps of bisection (doubling
/// while no upper bound is known) until
/// `|Σ_j exp(−max(0, d_j − ρ)/σ) − log2(n_neighbors)| < 1e-5`, the sum
/// running over the `n_neighbors − 1` other neighbours. σ is then raised to
/// at least `1e-3 ×` the mean of the point's `n_neighbors` distances (self
/// included), or of all distances when ρ = 0.
pub fn smooth_knn_dist(knn: &Knn, n_neighbors: usize) -> Result<SmoothKnnDist> {
    check_n_neighbors(knn, n_neighbors)?;
    let m = n_neighbors - 1;
    let row = |i: usize| &knn.distances[i * knn.k..i * knn.k + m];
    let total: f64 = (0..knn.n).map(|i| row(i).iter().map(|&d| d as f64).sum::<f64>()).sum();
    let mean_all = total / (knn.n as f64 * n_neighbors as f64);
    let target = (n_neighbors as f64).log2();
    let (sigmas, rhos): (Vec<f32>, Vec<f32>) = (0..knn.n)
        .into_par_iter()
        .map(|i| {
            let d = row(i);
            let rho = d.iter().copied().find(|&x| x > 0.0).unwrap_or(0.0);
            let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
            for _ in 0..SIGMA_ITERATIONS {
                let psum: f64 = d
                    .iter()
                    .map(|&x| {
                        let t = x - rho;
                        if t > 0.0 {
                            (-(t as f64) / mid).exp()
                        } else {
                            1.0
                        }
                    })
                    .sum();
                if (psum - target).abs() < SIGMA_TOLERANCE {
                    break;
                }
                if psum > target {
                    hi = mid;
                    mid = (lo + hi) / 2.0;
                } else {
                    lo = mid;
                    mid = if hi.is_infinite() { mid * 2.0 } else { (lo + hi) / 2.0 };
                }
            }
            let mean = if rho > 0.0 { d.iter().map(|&x| x as f64).sum::<f64>() / n_neighbors as f64 } else { mean_all };
            let sigma = mid.max(MIN_K_DIST_SCALE * mean);
            (sigma as f32, rho)
        })
        .unzip();
    Ok(SmoothKnnDist { sigmas, rhos })
}

/// Directed membership strengths `(i, j, w_ij)` of the first `m` stored
/// neighbours: `exp(−(d_ij − ρ_i)/σ_i)`, or 1 when `d_ij <= ρ_i`.
fn membership_strengths(knn: &Knn, m: usize, scale: &SmoothKnnDist) -> Vec<Vec<(u32, f32)>> {
    (0..knn.n)
        .into_par_iter()
        .map(|i| {
            let (rho, sigma) = (scale.rhos[i], scale.sigmas[i]);
            (0..m)
                .map(|p| {
                    let (j, d) = (knn.indices[i * knn.k + p], knn.distances[i * knn.k + p]);
                    let w = if d - rho <= 0.0 || sigma == 0.0 { 1.0 } else { (-((d - rho) / sigma)).exp() };
                    (j, w)
                })
                .collect()
        })
        .collect()
}

/// Symmetrises directed rows (column ids distinct within a row, no self
/// entries) with `combine(w_ij, w_ji)` (a missing direction counts as 0)
/// and drops zero weights.
fn symmetrise(rows: &[Vec<(u32, f32)>], combine: impl Fn(f32, f32) -> f32) -> Result<Graph> {
    let n = rows.len();
    // Entries (row, col, forward weight, backward weight).
    let mut entries: Vec<(u32, u32, f32, f32)> = Vec::with_capacity(rows.iter().map(Vec::len).sum::<usize>() * 2);
    for (i, row) in rows.iter().enumerate() {
        for &(j, w) in row {
            entries.push((i as u32, j, w, 0.0));
            entries.push((j, i as u32, 0.0, w));
        }
    }
    entries.par_sort_unstable_by_key(|&(i, j, _, _)| (i, j));
    let mut indptr = vec![0usize; n + 1];
    let mut indices = Vec::with_capacity(entries.len());
    let mut weights = Vec::with_capacity(entries.len());
    let mut p = 0;
    while p < entries.len() {
        let (i, j, mut a, mut b) = entries[p];
        p += 1;
        while p < entries.len() && entries[p].0 == i && entries[p].1 == j {
            a += entries[p].2;
            b += entries[p].3;
            p += 1;
        }
        let w = combine(a, b);
        if w > 0.0 {
            indices.push(j);
            weights.push(w);
            indptr[i as usize + 1] += 1;
        }
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    Graph::from_csr(indptr, indices, weights)
}

/// UMAP fuzzy simplicial set: scanpy's `connectivities` for
/// `pp.neighbors(n_neighbors, method="umap")` (umap-learn's
/// `fuzzy_simplicial_set` with `set_op_mix_ratio = 1`,
/// `local_connectivity = 1`).
///
/// `n_neighbors` counts the point itself, as in scanpy (see the module
/// docs); the first `n_neighbors − 1` neighbours stored in `knn` are used.
/// Directed strengths `w_ij = exp(−max(0, d_ij − ρ_i)/σ_i)` (see
/// [`smooth_knn_dist`]) are combined by fuzzy union,
/// `w = w_ij + w_ji − w_ij·w_ji`, in `f32` as umap-learn does. The result
/// has no self-loops.
pub fn umap_connectivities(knn: &Knn, n_neighbors: usize) -> Result<Graph> {
    let scale = smooth_knn_dist(knn, n_neighbors)?;
    let rows = membership_strengths(knn, n_neighbors - 1, &scale);
    symmetrise(&rows, |a, b| (a + b) - a * b)
}

/// Shared-nearest-neighbour graph with Jaccard weights, as PhenoGraph's
/// default (undirected, unpruned) graph.
///
/// With `N(i)` the first `k` stored neighbours of `i` (the point itself
/// excluded, as in PhenoGraph), each kNN pair `(i, j ∈ N(i))` gets
/// `s_ij = |N(i) ∩ N(j)| / |N(i) ∪ N(j)|` and the graph is symmetrised by
/// averaging, `w = (s_ij + s_ji) / 2`, where `s_ji = 0` when `i ∉ N(j)`.
/// Pairs with no shared neighbour get no edge.
pub fn jaccard_connectivities(knn: &Knn, k: usize) -> Result<Graph> {
    crate::analysis::knn::check_k(knn, k)?;
    let sorted: Vec<Vec<u32>> = (0..knn.n)
        .map(|i| {
            let mut v = knn.indices[i * knn.k..i * knn.k + k].to_vec();
            v.sort_unstable();
            v
        })
        .collect();
    let rows: Vec<Vec<(u32, f32)>> = (0..knn.n)
        .into_par_iter()
        .map(|i| {
            knn.indices[i * knn.k..i * knn.k + k]
                .iter()
                .map(|&j| {
                    let shared = sorted_intersection(&sorted[i], &sorted[j as usize]);
                    (j, shared as f32 / (2 * k - shared) as f32)
                })
                .collect()
        })
        .collect();
    symmetrise(&rows, |a, b| (a + b) * 0.5)
}

/// Size of the intersection of two sorted lists of distinct ids.
fn sorted_intersection(a: &[u32], b: &[u32]) -> usize {
    let (mut p, mut q, mut n) = (0, 0, 0);
    while p < a.len() && q < b.len() {
        match a[p].cmp(&b[q]) {
            std::cmp::Ordering::Less => p += 1,
            std::cmp::Ordering::Greater => q += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                p += 1;
                q += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{CancelToken, NoProgress};

    fn knn_1d(points: &[f32], k: usize) -> Knn {
        crate::analysis::knn::knn_exact(points, points.len(), 1, k, &mut NoProgress, &CancelToken::new()).unwrap()
    }

    /// Dense matrix of a graph for comparisons.
    #[allow(clippy::needless_range_loop)]
    fn dense(g: &Graph) -> Vec<Vec<f32>> {
        let n = g.n_nodes();
        let mut m = vec![vec![0f32; n]; n];
        for i in 0..n {
            let (idx, w) = g.neighbors(i).unwrap();
            for (&j, &w) in idx.iter().zip(w) {
                m[i][j as usize] = w;
            }
        }
        m
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn hand_computed_tiny_example() {
        // Points 0, 1, 3, 7 on a line; n_neighbors = 3 (self + 2 others):
        // log2(3) is the target for the sum over the 2 others.
        let knn = knn_1d(&[0.0, 1.0, 3.0, 7.0], 2);
        let s = smooth_knn_dist(&knn, 3).unwrap();
        assert_eq!(s.rhos, vec![1.0, 1.0, 2.0, 4.0]);
        let target = 3f64.log2();
        // Second neighbour distances: 3, 2, 3, 6 -> exp(-(d2 - rho)/sigma) = target - 1.
        let d2 = [3.0, 2.0, 3.0, 6.0];
        for i in 0..4 {
            let expected = (d2[i] - s.rhos[i] as f64) / -(target - 1.0).ln();
            assert!((s.sigmas[i] as f64 - expected).abs() < 1e-4 * expected, "{i}: {} vs {expected}", s.sigmas[i]);
        }
        let g = umap_connectivities(&knn, 3).unwrap();
        let m = dense(&g);
        // Directed: 0->1 (nearest) = 1, 0->2 = target-1; 1->0 = 1, 1->2 = target-1;
        // 2->1 = 1, 2->0 = target-1; 3->2 = 1, 3->1 = target-1.
        let t = (target - 1.0) as f32;
        let union = |a: f32, b: f32| a + b - a * b;
        let expected = [
            [0.0, union(1.0, 1.0), union(t, t), 0.0],
            [1.0, 0.0, union(t, 1.0), union(0.0, t)],
            [union(t, t), union(1.0, t), 0.0, 1.0],
            [0.0, t, 1.0, 0.0],
        ];
        for i in 0..4 {
            for j in 0..4 {
                assert!((m[i][j] - expected[i][j]).abs() < 2e-5, "({i},{j}): {} vs {}", m[i][j], expected[i][j]);
            }
        }
        assert_eq!(g.neighbors(0).unwrap().0, &[1, 2]);
    }

    #[test]
    fn duplicates_and_floor() {
        // Point 1 duplicates point 0: rho skips the zero distance.
        let knn = knn_1d(&[0.0, 0.0, 5.0, 6.0], 2);
        let s = smooth_knn_dist(&knn, 3).unwrap();
        assert_eq!(s.rhos[0], 5.0);
        let g = umap_connectivities(&knn, 3).unwrap();
        g.validate().unwrap();
        // 0 -> 1 at distance 0 <= rho: strength 1, and so both ways.
        assert_eq!(dense(&g)[0][1], 1.0);
    }

    #[test]
    fn jaccard_hand_example() {
        // Points 0, 1, 2 close together, 3 far: k = 2.
        let knn = knn_1d(&[0.0, 1.0, 2.0, 10.0], 2);
        // N(0) = {1,2}, N(1) = {0,2}, N(2) = {1,0}, N(3) = {2,1}.
        let g = jaccard_connectivities(&knn, 2).unwrap();
        let m = dense(&g);
        // |N0 ∩ N1| = 1 -> 1/3 both ways.
        assert!((m[0][1] - 1.0 / 3.0).abs() < 1e-7);
        // 3 -> 2: N3 ∩ N2 = {1}: 1/3 one way, averaged with 0 -> 1/6.
        assert!((m[3][2] - 1.0 / 6.0).abs() < 1e-7);
        assert!((m[2][3] - 1.0 / 6.0).abs() < 1e-7);
        assert_eq!(m[0][3], 0.0);
    }

    #[test]
    fn bad_n_neighbors() {
        let knn = knn_1d(&[0.0, 1.0, 3.0, 7.0], 2);
        for bad in [0, 1, 4] {
            let e = umap_connectivities(&knn, bad).unwrap_err();
            assert!(e.to_string().contains("n_neighbors"), "{e}");
        }
        assert!(jaccard_connectivities(&knn, 3).is_err());
    }
}
