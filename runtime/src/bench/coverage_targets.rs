//! The window-target section of `gscript bench coverage`: scooby's training targets (bins × (cells × tracks) with its
//! transforms) for gene-centred 196,608-bp windows and 64 sampled cells each, as scooby's loader builds them per
//! training item — ours from the compact store ([`window_targets`]) beside a Python twin of scooby's loader
//! (bench/coverage_targets_python.py: AnnData files opened backed, per-cell CSR rows, per-base coverage, 32-bp sums) on
//! the same SnapATAC2-scooby files, written once by [`write_scooby_h5ad`] and cached in the temporary directory.
//! Both sides report a checksum (the sum of every target), so the table also says whether they computed the same.
//!
//! The data: hg38 chromosome sizes; per cell 10,000 ATAC fragments (20,000 insertions, uniform over the genome) and
//! 6,000 RNA reads of 90 bp, 60 % of them inside 400 expressed 30-kb genes on chr1–chr4 (the windows are centred on
//! these genes, as scooby's gene windows are), the rest uniform; strands half and half.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{BenchError, CoverageBenchConfig, HG38};
use crate::coverage::scooby_h5ad::write_scooby_h5ad;
use crate::coverage::window::{window_targets, WindowOptions};
use crate::coverage::{Coverage, InsertionsBuilder, ReadsBuilder, ReferenceSequences};
use crate::progress::{CancelToken, NoProgress};
use crate::seq::region::Region;

/// Window length (scooby's target window: 6,144 bins of 32 bp).
pub const WINDOW: u64 = 196_608;
const GENES: usize = 400;
const GENE_LENGTH: u64 = 30_000;
const READ_LENGTH: u32 = 90;

/// One side's result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TargetsRow {
    pub who: String,
    pub seconds: Option<f64>,
    pub windows_per_second: Option<f64>,
    pub checksum: Option<f64>,
    pub note: String,
}

/// The section's report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TargetsReport {
    pub cells: usize,
    pub windows: usize,
    pub cells_per_window: usize,
    pub entries: usize,
    pub dir: String,
    pub rows: Vec<TargetsRow>,
}

/// Expressed genes: `(chromosome index, start)` on chr1–chr4, seeded.
fn genes(refs: &ReferenceSequences, rng: &mut ChaCha8Rng) -> Vec<(usize, u64)> {
    (0..GENES)
        .map(|i| {
            let c = i % 4;
            let len = refs.length(c);
            (c, rng.random_range(WINDOW..len - WINDOW))
        })
        .collect()
}

/// The in-memory coverage of the benchmark (see the module docs) and its genes.
pub fn generate(cells: usize, seed: u64) -> crate::Result<(Coverage, Vec<(usize, u64)>)> {
    let refs = Arc::new(ReferenceSequences::new(HG38.iter().map(|(c, l)| (c.to_string(), *l)))?);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let genes = genes(&refs, &mut rng);
    let n = refs.len();
    let cum: Vec<u64> = refs
        .lengths()
        .iter()
        .scan(0, |s, &l| {
            *s += l;
            Some(*s)
        })
        .collect();
    let total = *cum.last().unwrap_or(&1);
    let locate = |rng: &mut ChaCha8Rng, margin: u64| loop {
        let x = rng.random_range(0..total);
        let c = cum.partition_point(|&e| e <= x);
        let pos = x - if c == 0 { 0 } else { cum[c - 1] };
        if pos + margin < refs.length(c) {
            return (c, pos);
        }
    };
    let (mut atac, mut plus, mut minus) = (InsertionsBuilder::new(n), ReadsBuilder::new(n), ReadsBuilder::new(n));
    for cell in 0..cells as u32 {
        for _ in 0..10_000 {
            let (c, s) = locate(&mut rng, 1_000);
            let len = rng.random_range(50..600u64);
            atac.push(c, s as u32, cell);
            atac.push(c, (s + len - 1) as u32, cell);
        }
        for _ in 0..6_000 {
            let (c, s) = if rng.random_range(0..10) < 6 {
                let (c, g) = genes[rng.random_range(0..GENES)];
                (c, g + rng.random_range(0..GENE_LENGTH))
            } else {
                locate(&mut rng, READ_LENGTH as u64)
            };
            let s = s as u32;
            if rng.random_range(0..2) == 0 {
                plus.push(c, s, cell, READ_LENGTH as i32);
            } else {
                minus.push(c, s + READ_LENGTH - 1, cell, -(READ_LENGTH as i32));
            }
        }
    }
    let cov = Coverage {
        refs,
        cells: (0..cells).map(|i| format!("cell{i}")).collect(),
        atac: Some(atac.finish()),
        rna_plus: Some(plus.finish()),
        rna_minus: Some(minus.finish()),
    };
    Ok((cov, genes))
}

/// Windows centred on the first `n` genes and the cells of each (64 drawn with replacement, as scooby's loader).
fn windows(cov: &Coverage, genes: &[(usize, u64)], n: usize, per: usize, seed: u64) -> Vec<(Region, Vec<usize>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    genes
        .iter()
        .cycle()
        .take(n)
        .map(|&(c, g)| {
            let mid = g + GENE_LENGTH / 2;
            let region = Region { chrom: cov.refs.name(c).to_string(), start: mid - WINDOW / 2, end: mid + WINDOW / 2 };
            (region, (0..per).map(|_| rng.random_range(0..cov.n_cells())).collect())
        })
        .collect()
}

fn peer_script() -> PathBuf {
    let here = PathBuf::from("bench/coverage_targets_python.py");
    if here.is_file() {
        return here;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/coverage_targets_python.py"))
}

fn peer(python: &Path, dir: &Path, spec: &Path) -> TargetsRow {
    let fail = |note: String| TargetsRow {
        who: "scooby loader (Python)".into(),
        seconds: None,
        windows_per_second: None,
        checksum: None,
        note,
    };
    match Command::new(python).arg(peer_script()).arg(dir).arg(spec).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().last().unwrap_or_default();
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => {
                    let seconds = v["seconds"].as_f64();
                    let n = v["windows"].as_f64().unwrap_or(0.0);
                    TargetsRow {
                        who: "scooby loader (Python)".into(),
                        seconds,
                        windows_per_second: seconds.map(|s| n / s),
                        checksum: v["checksum"].as_f64(),
                        note: "bench/coverage_targets_python.py: backed h5ad, per-cell rows".into(),
                    }
                }
                Err(e) => fail(format!("unreadable output ({e}): {line}")),
            }
        }
        Ok(out) => {
            fail(format!("failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no message")))
        }
        Err(e) => fail(format!("could not run {}: {e}", python.display())),
    }
}

/// Runs the window-target section.
pub fn targets(c: &CoverageBenchConfig) -> Result<TargetsReport, BenchError> {
    let failed = |e: String| BenchError::Failed(e);
    let t0 = Instant::now();
    let (cov, genes) = generate(c.target_cells, c.seed)?;
    let entries = cov.entries(crate::coverage::TrackKind::Atac)
        + cov.entries(crate::coverage::TrackKind::RnaPlus)
        + cov.entries(crate::coverage::TrackKind::RnaMinus);
    if !c.json {
        eprintln!("generated {} cells, {entries} entries in {:.1} s", c.target_cells, t0.elapsed().as_secs_f64());
    }
    let list = windows(&cov, &genes, c.windows, c.cells_per_window, c.seed);
    let dir =
        std::env::temp_dir().join("gscript-bench-coverage").join(format!("scooby-c{}-s{}", c.target_cells, c.seed));
    let mut rows = Vec::new();
    let opts = WindowOptions::default();
    let t0 = Instant::now();
    let mut checksum = 0f64;
    for (region, cells) in &list {
        let t = window_targets(&cov, region, cells, &opts)?;
        checksum += t.data.iter().map(|&x| x as f64).sum::<f64>();
    }
    let seconds = t0.elapsed().as_secs_f64();
    rows.push(TargetsRow {
        who: "gscript".into(),
        seconds: Some(seconds),
        windows_per_second: Some(list.len() as f64 / seconds),
        checksum: Some(checksum),
        note: "window_targets on the in-memory store".into(),
    });
    if let Some(python) = &c.peer {
        if !dir.join("atac.h5ad").is_file() || !dir.join("rna_minus.h5ad").is_file() {
            if !c.json {
                eprintln!("writing SnapATAC2-scooby files → {} ...", dir.display());
            }
            write_scooby_h5ad(&cov, &dir, &mut NoProgress, &CancelToken::new())?;
        }
        let spec = dir.join(format!("windows-{}-{}.json", c.windows, c.cells_per_window));
        let json = serde_json::json!({
            "windows": list.iter().map(|(r, _)| serde_json::json!([r.chrom, r.start, r.end])).collect::<Vec<_>>(),
            "cells": list.iter().map(|(_, cells)| cells.clone()).collect::<Vec<_>>(),
            "clip_soft": opts.clip_soft,
        });
        std::fs::write(&spec, json.to_string()).map_err(|e| failed(format!("{}: {e}", spec.display())))?;
        rows.push(peer(python, &dir, &spec));
    }
    Ok(TargetsReport {
        cells: c.target_cells,
        windows: list.len(),
        cells_per_window: c.cells_per_window,
        entries,
        dir: dir.display().to_string(),
        rows,
    })
}

/// The section as a table.
pub fn render_targets(r: &TargetsReport) -> String {
    let opt = |x: Option<f64>, d: usize| x.map_or("—".to_string(), |v| format!("{v:.d$}"));
    let mut s = format!(
        "window targets: {} windows of {} bp × {} cells (with replacement) × 3 tracks; store of {} cells, {} entries\n",
        r.windows, WINDOW, r.cells_per_window, r.cells, r.entries
    );
    s += &format!("  {:<24} {:>9} {:>10} {:>16}  note\n", "who", "seconds", "windows/s", "checksum");
    for row in &r.rows {
        s += &format!(
            "  {:<24} {:>9} {:>10} {:>16}  {}\n",
            row.who,
            opt(row.seconds, 3),
            opt(row.windows_per_second, 1),
            opt(row.checksum, 3),
            row.note
        );
    }
    if let [a, b] = &r.rows[..] {
        if let (Some(ta), Some(tb)) = (a.seconds, b.seconds) {
            s += &format!("  speed-up {:.1}×", tb / ta);
        }
        if let (Some(ca), Some(cb)) = (a.checksum, b.checksum) {
            let rel = (ca - cb).abs() / ca.abs().max(cb.abs()).max(1e-12);
            s +=
                &format!(", checksums {} (relative difference {rel:.1e})", if rel < 1e-4 { "agree" } else { "DIFFER" });
        }
        s += "\n";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_store_and_windows() {
        let (cov, genes) = generate(3, 7).unwrap();
        assert_eq!(cov.entries(crate::coverage::TrackKind::Atac), 3 * 20_000);
        let reads =
            cov.entries(crate::coverage::TrackKind::RnaPlus) + cov.entries(crate::coverage::TrackKind::RnaMinus);
        assert_eq!(reads, 3 * 6_000);
        let list = windows(&cov, &genes, 5, 64, 7);
        assert_eq!(list.len(), 5);
        for (r, cells) in &list {
            assert_eq!(r.end - r.start, WINDOW);
            assert!(r.end <= cov.refs.length(cov.refs.get(&r.chrom).unwrap()));
            assert!(cells.len() == 64 && cells.iter().all(|&c| c < 3));
            // the window holds its gene's reads: RNA targets are not all zero
            let t = window_targets(&cov, r, &cells[..2], &WindowOptions::default()).unwrap();
            assert!(t.data.iter().any(|&x| x > 0.0));
        }
    }
}
