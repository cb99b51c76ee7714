//! Approximate k nearest neighbours for large embeddings through an HNSW index (Malkov & Yashunin 2018), from the
//! `instant-distance` crate: a small, dependency-light implementation whose graph construction is seeded.
//!
//! The index is built on one thread so that a seed gives the same graph (the crate inserts points in parallel
//! otherwise); the queries run in parallel and are read-only. Neighbour distances are recomputed exactly, and the
//! lists are sorted as [`knn_exact`](super::knn::knn_exact) sorts them. Recall against the exact search is reported
//! by the tests (≥ 0.98 at k = 15 on clustered data with the default `ef`).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use instant_distance::{Builder, HnswMap, Point, Search};
use rayon::prelude::*;

use super::error::{AnalysisError, Result};
use super::knn::Knn;
use super::matrix::{sq_dist_f32, validate_matrix};
use super::work;
use crate::progress::{CancelToken, Progress};

/// A row of the data as an HNSW point (Euclidean distance), with the token that stops the work.
#[derive(Clone, Copy)]
struct Row<'a> {
    x: &'a [f32],
    cancel: &'a CancelToken,
}

/// The unwinding payload that abandons an HNSW build or search once the token is set.
struct Cancelled;

impl Point for Row<'_> {
    fn distance(&self, other: &Self) -> f32 {
        // `instant-distance` offers no way to stop a build, and computes a distance at every step of it: once the
        // token is set, unwind out of the crate's loops (without the panic hook, so nothing is printed);
        // `knn_hnsw` catches exactly this payload and drops the partial index.
        if self.cancel.is_cancelled() {
            resume_unwind(Box::new(Cancelled));
        }
        sq_dist_f32(self.x, other.x).sqrt()
    }
}

/// Options of [`knn_hnsw`].
#[derive(Clone, Debug)]
pub struct HnswOptions {
    /// Candidate list size while building (`efConstruction`).
    pub ef_construction: usize,
    /// Candidate list size while searching (`ef`; at least `k + 1`).
    pub ef_search: usize,
    /// Seed of the layer assignment.
    pub seed: u64,
}

impl Default for HnswOptions {
    fn default() -> Self {
        HnswOptions { ef_construction: 64, ef_search: 64, seed: 0 }
    }
}

/// Approximate `k` nearest neighbours of every row of a dense row-major `n_rows × n_cols` matrix among the other rows.
/// Reports the rows searched to `progress` (position 0 while the index is built); stops with
/// [`AnalysisError::Interrupted`] within one distance evaluation once `cancel` is set, during the build as during the
/// search.
pub fn knn_hnsw(
    data: &[f32],
    n_rows: usize,
    n_cols: usize,
    k: usize,
    options: &HnswOptions,
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
    progress.start("nearest neighbours (HNSW)", Some(n_rows as u64));
    progress.update(0, "building the index");
    // Nothing outside this call observes the index or the output buffers, so a build or search abandoned half-way
    // leaves no broken state behind.
    match catch_unwind(AssertUnwindSafe(|| search_all(data, n_rows, n_cols, k, options, progress, cancel))) {
        Ok(result) => {
            let knn = result?;
            progress.finish("");
            Ok(knn)
        }
        Err(payload) if payload.is::<Cancelled>() => Err(AnalysisError::Interrupted),
        Err(payload) => resume_unwind(payload),
    }
}

/// Builds the index on one thread, then searches every row in parallel.
fn search_all(
    data: &[f32],
    n_rows: usize,
    n_cols: usize,
    k: usize,
    options: &HnswOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Knn> {
    let rows: Vec<Row> = data.chunks(n_cols).map(|x| Row { x, cancel }).collect();
    let ids: Vec<u32> = (0..n_rows as u32).collect();
    let builder = Builder::default()
        .ef_construction(options.ef_construction.max(k + 1))
        .ef_search(options.ef_search.max(k + 1))
        .seed(options.seed);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| AnalysisError::Compute(format!("thread pool for the HNSW build: {e}")))?;
    let index: HnswMap<Row, u32> = pool.install(|| builder.build(rows.clone(), ids));
    let mut indices = vec![0u32; n_rows * k];
    let mut distances = vec![0f32; n_rows * k];
    work::in_steps(n_rows, 1, progress, cancel, |range| {
        let (idx, dist) =
            (&mut indices[range.start * k..range.end * k], &mut distances[range.start * k..range.end * k]);
        idx.par_chunks_mut(k).zip(dist.par_chunks_mut(k)).enumerate().for_each_init(
            Search::default,
            |search, (r, (idx, dist))| {
                let i = range.start + r;
                let mut found: Vec<(f32, u32)> = index
                    .search(&rows[i], search)
                    .map(|item| *item.value)
                    .filter(|&j| j as usize != i)
                    .map(|j| (sq_dist_f32(rows[i].x, rows[j as usize].x), j))
                    .collect();
                found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                for (p, &(d, j)) in found.iter().take(k).enumerate() {
                    idx[p] = j;
                    dist[p] = d.sqrt();
                }
                // a point whose search found fewer than k others (only on degenerate data) repeats its last neighbour
                if let Some(&(d, j)) = found.get(found.len().min(k).wrapping_sub(1)) {
                    for p in found.len().min(k)..k {
                        idx[p] = j;
                        dist[p] = d.sqrt();
                    }
                }
            },
        );
    })?;
    Ok(Knn { n: n_rows, k, indices, distances })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::knn::knn_exact;
    use crate::analysis::synthetic::gaussian_mixture;
    use crate::progress::{CancelToken, NoProgress};

    fn recall(a: &Knn, b: &Knn) -> f64 {
        let k = a.k;
        let hits: usize = (0..a.n)
            .map(|i| {
                let exact: std::collections::HashSet<u32> = b.indices[i * k..(i + 1) * k].iter().copied().collect();
                a.indices[i * k..(i + 1) * k].iter().filter(|j| exact.contains(j)).count()
            })
            .sum();
        hits as f64 / (a.n * k) as f64
    }

    #[test]
    fn recall_against_exact_search_and_seeded_reproducibility() {
        let (x, _) = gaussian_mixture(3000, 16, 8, 1.5, 4);
        let exact = knn_exact(&x, 3000, 16, 15, &mut NoProgress, &CancelToken::new()).unwrap();
        let approx = knn_hnsw(&x, 3000, 16, 15, &HnswOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
        let r = recall(&approx, &exact);
        assert!(r > 0.98, "recall {r}");
        // sorted, no self, distances exact for the indices found
        for i in 0..3000 {
            let d = &approx.distances[i * 15..(i + 1) * 15];
            assert!(d.windows(2).all(|w| w[0] <= w[1]));
            assert!(!approx.indices[i * 15..(i + 1) * 15].contains(&(i as u32)));
        }
        let again = knn_hnsw(&x, 3000, 16, 15, &HnswOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
        assert_eq!(again.indices, approx.indices);
    }

    #[test]
    fn bad_inputs() {
        assert!(matches!(
            knn_hnsw(&[0.0; 6], 3, 2, 3, &HnswOptions::default(), &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::TooFewPoints { .. })
        ));
        assert!(matches!(
            knn_hnsw(
                &[0.0, f32::NAN, 1.0, 2.0],
                2,
                2,
                1,
                &HnswOptions::default(),
                &mut NoProgress,
                &CancelToken::new()
            ),
            Err(AnalysisError::NonFinite { row: 0, .. })
        ));
    }
}
