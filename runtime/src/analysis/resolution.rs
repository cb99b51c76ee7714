//! Resolution search for a target number of clusters (the scBasset
//! evaluation protocol: Leiden clustering whose resolution is bisected until
//! the number of clusters equals the number of cell types).

use crate::analysis::community::Partition;
use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::graph::Graph;
use crate::analysis::leiden::{leiden, LeidenOptions};
use crate::analysis::work;
use crate::progress::{CancelToken, NoProgress, Progress};

/// Default lower end of the searched resolution interval.
pub const MIN_RESOLUTION: f64 = 0.01;
/// Default upper end of the searched resolution interval.
pub const MAX_RESOLUTION: f64 = 10.0;
/// Maximum number of bisection steps.
const MAX_STEPS: usize = 50;

/// Finds a resolution in `[0.01, 10]` for which Leiden (default options,
/// given seed) gives exactly `k` clusters; returns it with the partition.
/// See [`resolution_for_k_clusters_with`].
pub fn resolution_for_k_clusters(
    graph: &Graph,
    k: usize,
    seed: u64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(f64, Partition)> {
    let options = LeidenOptions { seed, ..Default::default() };
    resolution_for_k_clusters_with(graph, k, &options, MIN_RESOLUTION, MAX_RESOLUTION, progress, cancel)
}

/// Bisection on the resolution for exactly `k` clusters.
///
/// The interval ends are evaluated first; if `k` lies between their cluster
/// counts, the interval is halved (at its geometric midpoint, since the
/// number of clusters grows roughly with the logarithm of the resolution)
/// until a resolution giving `k` clusters is found. `options.resolution` is
/// ignored; the other options (seed, iterations, θ) are used for every run.
/// Fails with [`AnalysisError::ResolutionNotFound`] (reporting the closest
/// count seen) when `k` is outside the range reached or the count jumps
/// over `k`.
///
/// Reports each Leiden run (its resolution and number of clusters) to
/// `progress` as one task; the runs stop with
/// [`AnalysisError::Interrupted`] once `cancel` is set.
pub fn resolution_for_k_clusters_with(
    graph: &Graph,
    k: usize,
    options: &LeidenOptions,
    low: f64,
    high: f64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(f64, Partition)> {
    work::check(cancel)?;
    if k == 0 {
        return Err(AnalysisError::InvalidParameter { name: "k", reason: "must be at least 1".into() });
    }
    if !(low.is_finite() && high.is_finite() && low > 0.0 && low < high) {
        return Err(AnalysisError::InvalidParameter {
            name: "resolution interval",
            reason: format!("need 0 < low < high, both finite; got [{low}, {high}]"),
        });
    }
    progress.start(&format!("Leiden resolution search for {k} clusters"), None);
    let found = bisect(graph, k, options, low, high, progress, cancel)?;
    progress.finish(&format!("resolution {:.4}", found.0));
    Ok(found)
}

/// The runs of [`resolution_for_k_clusters_with`] once its arguments are checked.
fn bisect(
    graph: &Graph,
    k: usize,
    options: &LeidenOptions,
    low: f64,
    high: f64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(f64, Partition)> {
    let mut runs = 0u64;
    let mut run = |resolution: f64| -> Result<Partition> {
        let p = leiden(graph, &LeidenOptions { resolution, ..options.clone() }, &mut NoProgress, cancel)?;
        runs += 1;
        progress.update(runs, &format!("resolution {resolution:.4}: {} clusters", p.n_communities));
        Ok(p)
    };
    let mut best: Option<(usize, f64)> = None;
    let mut note = |count: usize, resolution: f64| {
        let better = match best {
            None => true,
            Some((c, _)) => count.abs_diff(k) < c.abs_diff(k),
        };
        if better {
            best = Some((count, resolution));
        }
    };
    let (mut lo, mut hi) = (low, high);
    let p_lo = run(lo)?;
    note(p_lo.n_communities, lo);
    if p_lo.n_communities == k {
        return Ok((lo, p_lo));
    }
    let p_hi = run(hi)?;
    note(p_hi.n_communities, hi);
    if p_hi.n_communities == k {
        return Ok((hi, p_hi));
    }
    if p_lo.n_communities < k && k < p_hi.n_communities {
        for _ in 0..MAX_STEPS {
            let mid = (lo * hi).sqrt();
            let p = run(mid)?;
            note(p.n_communities, mid);
            if p.n_communities == k {
                return Ok((mid, p));
            }
            if p.n_communities < k {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi / lo < 1.0 + 1e-9 {
                break;
            }
        }
    }
    let (best_n_clusters, best_resolution) = best.expect("at least one run");
    Err(AnalysisError::ResolutionNotFound { k, low, high, best_n_clusters, best_resolution })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::cluster_metrics::adjusted_rand_index;
    use crate::analysis::synthetic::planted_partition;

    #[test]
    fn finds_the_planted_number_of_blocks() {
        let (g, truth) = planted_partition(5, 40, 0.3, 0.01, 3).unwrap();
        let (res, p) = resolution_for_k_clusters(&g, 5, 1, &mut NoProgress, &CancelToken::new()).unwrap();
        assert_eq!(p.n_communities, 5);
        assert!((MIN_RESOLUTION..=MAX_RESOLUTION).contains(&res));
        assert_eq!(p.resolution, res);
        assert_eq!(adjusted_rand_index(&truth, &p.membership).unwrap(), 1.0);
    }

    #[test]
    fn finds_other_counts_and_reports_impossible_ones() {
        let (g, _) = planted_partition(6, 30, 0.3, 0.02, 4).unwrap();
        for k in [2, 3, 9] {
            match resolution_for_k_clusters(&g, k, 0, &mut NoProgress, &CancelToken::new()) {
                Ok((res, p)) => {
                    assert_eq!(p.n_communities, k);
                    // The partition is what Leiden gives at that resolution.
                    let again = leiden(
                        &g,
                        &LeidenOptions { resolution: res, seed: 0, ..Default::default() },
                        &mut NoProgress,
                        &CancelToken::new(),
                    )
                    .unwrap();
                    assert_eq!(again, p);
                }
                Err(e) => panic!("k = {k}: {e}"),
            }
        }
        // 180 nodes cannot form 500 clusters.
        match resolution_for_k_clusters(&g, 500, 0, &mut NoProgress, &CancelToken::new()) {
            Err(AnalysisError::ResolutionNotFound { k: 500, best_n_clusters, best_resolution, .. }) => {
                assert!(best_n_clusters < 500);
                assert_eq!(best_resolution, MAX_RESOLUTION);
            }
            other => panic!("expected ResolutionNotFound, got {other:?}"),
        }
    }

    #[test]
    fn invalid_arguments() {
        let (g, _) = planted_partition(2, 10, 0.5, 0.0, 1).unwrap();
        assert!(matches!(
            resolution_for_k_clusters(&g, 0, 0, &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::InvalidParameter { .. })
        ));
        let o = LeidenOptions::default();
        assert!(resolution_for_k_clusters_with(&g, 2, &o, 1.0, 0.5, &mut NoProgress, &CancelToken::new()).is_err());
        assert!(resolution_for_k_clusters_with(&g, 2, &o, 0.0, 1.0, &mut NoProgress, &CancelToken::new()).is_err());
    }
}
