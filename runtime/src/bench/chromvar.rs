//! `gscript bench chromvar`: chromVAR deviations on simulated data — motif matching, background peaks and deviations
//! timed separately — beside pychromvar (`--peer PYTHON`) on the same counts, motifs and sequences: its MOODS matching
//! (`match_motif`, where MOODS is installed) and `compute_deviations` given our background peaks (its own sampler
//! needs pynndescent).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::{int_at_least, value_of, BenchError};
use crate::analysis::chromvar::{
    background_peaks, compute_deviations, gc_content, motif_matches, ChromVarOptions, DEFAULT_P_VALUE,
};
use crate::data::simulate::{jaspar_vertebrates, simulate_atac, SimulateOptions};
use crate::error::RuntimeError;
use crate::motif::DEFAULT_PSEUDOCOUNT;
use crate::progress::{CancelToken, NoProgress};

pub const USAGE: &str = "gscript bench chromvar [--cells N] [--peaks N] [--motifs M] [--iterations K] [--peer PYTHON]
  chromVAR on simulate_atac data (4 cell types) with the first M motifs of the shipped JASPAR collection: seconds for
  motif matching, background peaks and deviations (K background iterations). --peer runs pychromvar with that Python
  on the same data: match_motif (MOODS, if installed) and compute_deviations (n_jobs=1) on our background peaks.
  Defaults: 1,000 cells, 10,000 peaks, 100 motifs, 50 iterations.";

/// Settings of `gscript bench chromvar`.
#[derive(Clone, Debug)]
pub struct ChromVarBenchConfig {
    pub cells: usize,
    pub peaks: usize,
    pub motifs: usize,
    pub iterations: usize,
    pub peer: Option<String>,
}

impl ChromVarBenchConfig {
    pub fn from_args(args: &[String]) -> Result<Self, RuntimeError> {
        let mut c = ChromVarBenchConfig { cells: 1000, peaks: 10_000, motifs: 100, iterations: 50, peer: None };
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "--cells" => c.cells = int_at_least(args, i, 10)?,
                "--peaks" => c.peaks = int_at_least(args, i, 10)?,
                "--motifs" => c.motifs = int_at_least(args, i, 1)?,
                "--iterations" => c.iterations = int_at_least(args, i, 2)?,
                "--peer" => c.peer = Some(value_of(args, i)?.to_string()),
                other => return Err(RuntimeError::invalid(other, "unknown option")),
            }
            i += 2;
        }
        Ok(c)
    }
}

const PEER: &str = r#"
import sys, json, time, importlib.util, pathlib
import numpy as np
d = pathlib.Path(sys.argv[1])
meta = json.loads((d / "meta.json").read_text())
X = np.zeros((meta["n_cells"], meta["n_peaks"]), dtype=np.float32)
t = np.loadtxt(d / "counts.txt", dtype=np.int64, ndmin=2)
X[t[:, 1], t[:, 0]] = t[:, 2]
import anndata, logging
logging.disable(logging.INFO)
loc = pathlib.Path(importlib.util.find_spec("pychromvar").submodule_search_locations[0])
def load(name):
    s = importlib.util.spec_from_file_location("pcv_" + name, loc / (name + ".py"))
    m = importlib.util.module_from_spec(s); s.loader.exec_module(m); return m
cd = load("compute_deviations")
ad = anndata.AnnData(X)
ad.uns["motif_name"] = [n for n, _ in meta["ppm"]]
match_s = None
try:
    mm = load("match_motif")
    class M:
        def __init__(self, name, ppm):
            self.matrix_id, self.name = name, name
            self.counts = {b: [row[i] * 100.0 for row in ppm] for i, b in enumerate("ACGT")}
    ad.uns["peak_seq"] = (d / "seqs.txt").read_text().split()
    t0 = time.perf_counter()
    mm.match_motif(ad, [M(n, p) for n, p in meta["ppm"]], p_value=5e-5)
    match_s = time.perf_counter() - t0
except ImportError:
    ad.varm["motif_match"] = np.loadtxt(d / "match.txt", dtype=np.float32, ndmin=2)
ad.varm["bg_peaks"] = np.loadtxt(d / "bg.txt", dtype=np.int64, ndmin=2)
t0 = time.perf_counter()
cd.compute_deviations(ad, n_jobs=1)
print(json.dumps({"match_s": match_s, "deviations_s": time.perf_counter() - t0}))
"#;

/// A scratch directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn run_peer(python: &str, dir: &Path) -> Result<serde_json::Value, BenchError> {
    let out = Command::new(python)
        .arg("-c")
        .arg(PEER)
        .arg(dir)
        .output()
        .map_err(|e| BenchError::Failed(format!("cannot run {python}: {e}")))?;
    if !out.status.success() {
        return Err(BenchError::Failed(format!("pychromvar failed: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).map_err(|e| BenchError::Failed(format!("peer output: {e}")))
}

/// Runs the benchmark and prints its table.
pub fn print(c: &ChromVarBenchConfig) -> Result<(), BenchError> {
    let sim = simulate_atac(&SimulateOptions { n_cells: c.cells, n_peaks: c.peaks, seed: 1, ..Default::default() })?;
    let motifs: Vec<_> = jaspar_vertebrates().iter().take(c.motifs).cloned().collect();
    let peaks = &sim.data.peaks;
    let seqs: Vec<Vec<u8>> = (0..peaks.len())
        .map(|i| {
            let chrom = &sim.chromosomes.iter().find(|(n, _)| *n == peaks.chrom[i]).expect("simulated chromosome").1;
            chrom[peaks.start[i] as usize..peaks.end[i] as usize].to_vec()
        })
        .collect();
    let m = &sim.data.matrix;
    let (p, cancel) = (&mut NoProgress, &CancelToken::new());
    let t = Instant::now();
    let matches = motif_matches(&seqs, &motifs, DEFAULT_P_VALUE, DEFAULT_PSEUDOCOUNT, p, cancel)?;
    let match_s = secs(t);
    let t = Instant::now();
    let gc: Vec<f64> = seqs.iter().map(|s| gc_content(s)).collect();
    let fragments: Vec<f64> = (0..m.n_peaks).map(|p| m.row_values(p).iter().map(|&v| v as f64).sum()).collect();
    let opts = ChromVarOptions { iterations: c.iterations, ..Default::default() };
    let bg = background_peaks(&fragments, &gc, &opts)?;
    let bg_s = secs(t);
    let t = Instant::now();
    compute_deviations(m, &matches, &bg, opts.threshold, opts.formulation, p, cancel)?;
    let dev_s = secs(t);
    println!(
        "chromVAR on {} cells × {} peaks (density {:.3}), {} motifs, {} background iterations",
        c.cells,
        c.peaks,
        sim.data.density(),
        motifs.len(),
        c.iterations
    );
    println!("{:<22} {:>12} {:>12}", "step (seconds)", "gscript", "pychromvar");
    let peer = match &c.peer {
        None => None,
        Some(python) => {
            let dir = TempDir(std::env::temp_dir().join(format!("gscript-bench-chromvar-{}", std::process::id())));
            std::fs::create_dir_all(dir.path())
                .map_err(|e| BenchError::Failed(RuntimeError::io(dir.path(), e).to_string()))?;
            let mut counts = String::new();
            for p in 0..m.n_peaks {
                for (&cell, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
                    let _ = writeln!(counts, "{p} {cell} {}", v as i64);
                }
            }
            let mut bg_text = String::new();
            let mut match_text = String::new();
            for p in 0..m.n_peaks {
                let row: Vec<String> = bg.of(p).iter().map(u32::to_string).collect();
                let _ = writeln!(bg_text, "{}", row.join(" "));
                let row: Vec<&str> =
                    matches.iter().map(|s| if s.binary_search(&(p as u32)).is_ok() { "1" } else { "0" }).collect();
                let _ = writeln!(match_text, "{}", row.join(" "));
            }
            let seq_text: Vec<String> = seqs.iter().map(|s| String::from_utf8_lossy(s).to_ascii_uppercase()).collect();
            let ppm: Vec<(String, Vec<[f64; 4]>)> = motifs.iter().map(|m| (m.name.clone(), m.ppm.clone())).collect();
            let meta = serde_json::json!({"n_peaks": m.n_peaks, "n_cells": m.n_cells, "ppm": ppm});
            for (name, text) in [
                ("counts.txt", counts),
                ("bg.txt", bg_text),
                ("match.txt", match_text),
                ("seqs.txt", seq_text.join("\n")),
                ("meta.json", meta.to_string()),
            ] {
                let path = dir.path().join(name);
                std::fs::write(&path, text).map_err(|e| BenchError::Failed(RuntimeError::io(path, e).to_string()))?;
            }
            Some(run_peer(python, dir.path())?)
        }
    };
    let cell = |key: &str| match &peer {
        None => "-".to_string(),
        Some(v) => v[key].as_f64().map_or("n/a".into(), |s| format!("{s:.3}")),
    };
    println!("{:<22} {:>12.3} {:>12}", "motif matching", match_s, cell("match_s"));
    println!("{:<22} {:>12.3} {:>12}", "background peaks", bg_s, "-");
    println!("{:<22} {:>12.3} {:>12}", "deviations", dev_s, cell("deviations_s"));
    Ok(())
}
