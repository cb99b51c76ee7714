//! `gscript bench analysis`: the single-cell toolkit on a large embedding — exact and HNSW kNN, UMAP connectivities,
//! Leiden, the UMAP layout — with seconds per step and peak memory, on a seeded Gaussian mixture (cells × dims, 12 centres).

use std::time::Instant;

use super::probe::peak_rss_bytes;
use crate::analysis::connectivities::umap_connectivities;
use crate::analysis::knn::knn_exact;
use crate::analysis::knn_hnsw::{knn_hnsw, HnswOptions};
use crate::analysis::synthetic::gaussian_mixture;
use crate::analysis::{leiden, umap_layout, AnalysisError, LeidenOptions, UmapOptions};
use crate::error::RuntimeError;
use crate::progress::{CancelToken, NoProgress};

/// One timed step.
#[derive(Clone, Debug)]
pub struct Step {
    /// What ran.
    pub name: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// A result worth printing (clusters, edges, ...).
    pub detail: String,
}

/// Runs kNN (k = 14, scanpy's n_neighbors = 15), connectivities, Leiden and UMAP on `n` points in `d` dimensions.
pub fn run(n: usize, d: usize, seed: u64, mut report: impl FnMut(&Step)) -> Result<Vec<Step>, AnalysisError> {
    let mut steps = Vec::new();
    let mut time = |name: &str, f: &mut dyn FnMut() -> Result<String, AnalysisError>| -> Result<(), AnalysisError> {
        let t = Instant::now();
        let detail = f()?;
        let step = Step { name: name.into(), seconds: t.elapsed().as_secs_f64(), detail };
        report(&step);
        steps.push(step);
        Ok(())
    };
    let (data, _) = gaussian_mixture(n, d, 12, 1.5, seed);
    let mut knn = None;
    time("exact kNN (k = 15 incl. self)", &mut || {
        knn = Some(knn_exact(&data, n, d, 14, &mut NoProgress, &CancelToken::new())?);
        Ok(format!("{n} × {d}"))
    })?;
    let knn = knn.expect("set above");
    time("HNSW kNN (approximate)", &mut || {
        let approx = knn_hnsw(&data, n, d, 14, &HnswOptions::default(), &mut NoProgress, &CancelToken::new())?;
        let hits: usize = (0..n)
            .map(|i| {
                let exact = &knn.indices[i * 14..(i + 1) * 14];
                approx.indices[i * 14..(i + 1) * 14].iter().filter(|j| exact.contains(j)).count()
            })
            .sum();
        Ok(format!("recall {:.4} vs exact", hits as f64 / (n * 14) as f64))
    })?;
    let mut graph = None;
    time("UMAP connectivities", &mut || {
        let g = umap_connectivities(&knn, 15)?;
        let edges = g.n_edges();
        graph = Some(g);
        Ok(format!("{edges} edges"))
    })?;
    let graph = graph.expect("set above");
    time("Leiden (resolution 1)", &mut || {
        let p =
            leiden(&graph, &LeidenOptions { seed, ..LeidenOptions::default() }, &mut NoProgress, &CancelToken::new())?;
        Ok(format!("{} clusters, modularity {:.3}", p.n_communities, p.modularity))
    })?;
    time("UMAP layout", &mut || {
        let l =
            umap_layout(&graph, &UmapOptions { seed, ..UmapOptions::default() }, &mut NoProgress, &CancelToken::new())?;
        Ok(format!("{} epochs", l.n_epochs))
    })?;
    Ok(steps)
}

/// The options of `gscript bench analysis`: `--cells N` (default 100,000) and `--dims D` (default 32).
/// Usage of `gscript bench analysis`.
pub const USAGE: &str = "gscript bench analysis [--cells N] [--dims D]
  kNN graph, Leiden and UMAP on a Gaussian mixture of N cells × D dims (default 100,000 × 32): seconds per step,
  total and peak memory.";

pub fn from_args(args: &[String]) -> crate::error::Result<(usize, usize)> {
    let (mut n, mut d) = (100_000usize, 32usize);
    for i in (0..args.len()).step_by(2) {
        let parsed = super::int_at_least(args, i, 1)?;
        match args[i].as_str() {
            "--cells" => n = parsed,
            "--dims" => d = parsed,
            other => return Err(RuntimeError::invalid(other, "unknown option of bench analysis (--cells, --dims)")),
        }
    }
    Ok((n, d))
}

/// Prints the steps as they finish, then the total and peak RSS.
pub fn print(n: usize, d: usize, seed: u64) -> Result<(), AnalysisError> {
    println!(
        "gscript bench analysis — {n} cells × {d} dims (Gaussian mixture, 12 centres), {} threads",
        rayon::current_num_threads()
    );
    let steps = run(n, d, seed, |s| println!("{:<32} {:>8.2} s   {}", s.name, s.seconds, s.detail))?;
    let total: f64 = steps.iter().map(|s| s.seconds).sum();
    let rss = peak_rss_bytes().map_or("unknown".to_string(), |b| format!("{:.0} MiB", b as f64 / 1048576.0));
    println!("{:<32} {:>8.2} s   peak RSS {rss}", "total", total);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_run_reports_every_step() {
        let steps = super::run(400, 8, 1, |_| {}).unwrap();
        assert_eq!(steps.len(), 5);
        assert!(steps.iter().all(|s| s.seconds >= 0.0 && !s.detail.is_empty()));
    }
}
