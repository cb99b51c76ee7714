//! `gscript bench coverage`: single-cell coverage data throughput, one [`Section`] at a time.
//!
//! - [`Section::Import`]: a generated 10x fragments file (BGZF, sorted by position as Cell Ranger writes it) read by
//!   [`load_fragments`] — fragments per second and peak resident memory (the high-water mark reset just before the
//!   import, so generation does not count) — beside SnapATAC2's `snap.pp.import_fragments` on the same file
//!   (bench/coverage_snapatac2.py, run with `--peer PYTHON`). The file is generated once per (fragments, cells, seed)
//!   and cached in the temporary directory.
//! - [`Section::Targets`]: scooby's window targets from the store beside a Python twin of scooby's loader
//!   ([`coverage_targets`](targets)).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{int_at_least, value_of, BenchError};

#[path = "coverage_targets.rs"]
pub mod targets;
use crate::coverage::fragments::{load_fragments, FragmentOptions};
use crate::error::RuntimeError;
use crate::progress::{CancelToken, NoProgress};

pub const USAGE: &str = "gscript bench coverage [--section import|targets|all] [--fragments N] [--cells C] [--seed S]
                       [--min-fragments M] [--target-cells C] [--windows W] [--cells-per-window K]
                       [--peer PYTHON] [--json]
  import: a generated 10x fragments file (BGZF, position-sorted, hg38 chromosome sizes, cells plus 10x as many
  background barcodes; cached in the temporary directory) read by load_fragments: fragments/s and peak RSS; --peer
  runs SnapATAC2's snap.pp.import_fragments on the same file with that Python (bench/coverage_snapatac2.py,
  sorted_by_barcode=False, in-memory AnnData). Defaults: 50,000,000 fragments, 10,000 cells, seed 1,
  min fragments 200 (SnapATAC2's default), both sides.
  targets: scooby's window targets (196,608-bp gene-centred windows, K cells drawn with replacement, RNA +/− and
  ATAC with scooby's transforms) from a generated store of C cells (hg38 sizes; 20,000 insertions and 6,000 reads per
  cell) by window_targets; --peer runs bench/coverage_targets_python.py (scooby's loader: backed AnnData, per-cell
  rows) on the same data written as SnapATAC2-scooby files (cached). Defaults: 1,000 cells, 32 windows, 64 cells per
  window. Default section: all.";

/// Parts of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Fragments file → insertions, beside SnapATAC2.
    Import,
    /// Window targets, beside scooby's loader.
    Targets,
}

/// Settings of `gscript bench coverage`.
#[derive(Clone, Debug)]
pub struct CoverageBenchConfig {
    pub sections: Vec<Section>,
    pub fragments: usize,
    pub cells: usize,
    pub seed: u64,
    pub min_fragments: u64,
    /// Cells of the window-target store.
    pub target_cells: usize,
    pub windows: usize,
    pub cells_per_window: usize,
    pub peer: Option<PathBuf>,
    pub json: bool,
}

impl CoverageBenchConfig {
    pub fn from_args(args: &[String]) -> crate::error::Result<Self> {
        let mut c = CoverageBenchConfig {
            sections: vec![Section::Import, Section::Targets],
            fragments: 50_000_000,
            cells: 10_000,
            seed: 1,
            min_fragments: 200,
            target_cells: 1_000,
            windows: 32,
            cells_per_window: 64,
            peer: None,
            json: false,
        };
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--json" {
                c.json = true;
                i += 1;
                continue;
            }
            let v = value_of(args, i)?;
            match args[i].as_str() {
                "--fragments" => c.fragments = int_at_least(args, i, 1000)?,
                "--cells" => c.cells = int_at_least(args, i, 1)?,
                "--seed" => c.seed = int_at_least(args, i, 0)? as u64,
                "--min-fragments" => c.min_fragments = int_at_least(args, i, 0)? as u64,
                "--peer" => c.peer = Some(PathBuf::from(v)),
                "--target-cells" => c.target_cells = int_at_least(args, i, 1)?,
                "--windows" => c.windows = int_at_least(args, i, 1)?,
                "--cells-per-window" => c.cells_per_window = int_at_least(args, i, 1)?,
                "--section" => {
                    c.sections = match v {
                        "import" => vec![Section::Import],
                        "targets" => vec![Section::Targets],
                        "all" => vec![Section::Import, Section::Targets],
                        _ => {
                            return Err(RuntimeError::invalid(
                                "--section",
                                format!("unknown section \"{v}\"; valid: import, targets, all"),
                            ))
                        }
                    }
                }
                other => return Err(RuntimeError::invalid(other, format!("unknown option; usage: {USAGE}"))),
            }
            i += 2;
        }
        Ok(c)
    }
}

/// One measured import.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportRow {
    pub who: String,
    pub seconds: Option<f64>,
    pub fragments_per_second: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub cells: Option<u64>,
    /// Σ n_fragment over the kept cells (nuclear fragments).
    pub n_fragment: Option<u64>,
    pub note: String,
}

/// The import section's report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportReport {
    pub file: String,
    pub file_mib: f64,
    pub fragments: usize,
    pub cells: usize,
    pub min_fragments: u64,
    pub load_average: Option<f64>,
    pub rows: Vec<ImportRow>,
}

/// hg38 primary assembly chromosome lengths (GRCh38, UCSC names).
const HG38: [(&str, u64); 25] = [
    ("chr1", 248_956_422),
    ("chr2", 242_193_529),
    ("chr3", 198_295_559),
    ("chr4", 190_214_555),
    ("chr5", 181_538_259),
    ("chr6", 170_805_979),
    ("chr7", 159_345_973),
    ("chr8", 145_138_636),
    ("chr9", 138_394_717),
    ("chr10", 133_797_422),
    ("chr11", 135_086_622),
    ("chr12", 133_275_309),
    ("chr13", 114_364_328),
    ("chr14", 107_043_718),
    ("chr15", 101_991_189),
    ("chr16", 90_338_345),
    ("chr17", 83_257_441),
    ("chr18", 80_373_285),
    ("chr19", 58_617_616),
    ("chr20", 64_444_167),
    ("chr21", 46_709_983),
    ("chr22", 50_818_468),
    ("chrX", 156_040_895),
    ("chrY", 57_227_415),
    ("chrM", 16_569),
];

/// A 10x-style barcode for cell number `i`: 16 bases, then `-1`.
fn barcode(i: usize, out: &mut Vec<u8>) {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for _ in 0..16 {
        out.push(b"ACGT"[(x & 3) as usize]);
        x >>= 2;
    }
    out.extend_from_slice(b"-1");
}

fn push_int(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Writes `n` fragments (10x layout, sorted by chromosome then start; BGZF on all cores) to `path` via a temporary
/// name. Fragments per chromosome ∝ its length, 2% on chrM; lengths from a nucleosome ladder (55% < 147 bp, 30%
/// 147–293, 15% up to 700); 80% from `cells` cells (uneven depth), 20% from `10 · cells` background barcodes; count 1
/// (70%), 2 (20%) or 3–5.
pub fn generate_fragments(path: &Path, n: usize, cells: usize, seed: u64) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let file = std::fs::File::create(&tmp)?;
    let mut w = noodles::bgzf::io::MultithreadedWriter::with_worker_count(
        std::num::NonZero::new(workers).unwrap_or(std::num::NonZero::<usize>::MIN),
        file,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut names: Vec<Vec<u8>> = Vec::with_capacity(11 * cells);
    for i in 0..11 * cells {
        let mut b = Vec::with_capacity(18);
        barcode(i, &mut b);
        names.push(b);
    }
    w.write_all(b"# id=gscript-bench\n# reference_path=hg38 (generated)\n")?;
    let nuclear: u64 = HG38.iter().filter(|c| c.0 != "chrM").map(|c| c.1).sum();
    let mut counts: Vec<usize> = HG38
        .iter()
        .map(
            |&(chrom, len)| {
                if chrom == "chrM" {
                    n / 50
                } else {
                    ((n - n / 50) as f64 * len as f64 / nuclear as f64) as usize
                }
            },
        )
        .collect();
    counts[0] += n - counts.iter().sum::<usize>();
    let mut buf = Vec::with_capacity(1 << 20);
    for (&(chrom, len), &here) in HG38.iter().zip(&counts) {
        let gap = (len as f64 / here.max(1) as f64 * 2.0).max(1.0);
        let mut start = 0f64;
        for _ in 0..here {
            start = (start + rng.random::<f64>() * gap).min((len - 1000) as f64);
            let u = rng.random::<f64>();
            let flen = if u < 0.55 {
                rng.random_range(30..147u64)
            } else if u < 0.85 {
                rng.random_range(147..294u64)
            } else {
                rng.random_range(294..700u64)
            };
            let s = start as u64;
            let cell = if rng.random_bool(0.8) {
                // Uneven depth: cell i drawn with weight ∝ (1 − i / cells)^0.5 roughly.
                ((1.0 - rng.random::<f64>().powf(0.5)) * cells as f64) as usize
            } else {
                cells + rng.random_range(0..10 * cells)
            };
            let v = rng.random::<f64>();
            let count = if v < 0.7 {
                1
            } else if v < 0.9 {
                2
            } else {
                rng.random_range(3..6u64)
            };
            buf.extend_from_slice(chrom.as_bytes());
            buf.push(b'\t');
            push_int(&mut buf, s);
            buf.push(b'\t');
            push_int(&mut buf, (s + flen).min(len));
            buf.push(b'\t');
            buf.extend_from_slice(&names[cell.min(names.len() - 1)]);
            buf.push(b'\t');
            push_int(&mut buf, count);
            buf.push(b'\n');
            if buf.len() >= 1 << 20 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    w.write_all(&buf)?;
    w.finish()?;
    std::fs::rename(&tmp, path)
}

/// The cached generated file for these settings (generated when missing) and its chromosome sizes as JSON.
fn cached_fragments(c: &CoverageBenchConfig) -> Result<(PathBuf, PathBuf), BenchError> {
    let dir = std::env::temp_dir().join("gscript-bench-coverage");
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::Failed(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("fragments-n{}-c{}-s{}.tsv.gz", c.fragments, c.cells, c.seed));
    if !path.is_file() {
        if !c.json {
            eprintln!("generating {} fragments of {} cells → {} ...", c.fragments, c.cells, path.display());
        }
        let t0 = Instant::now();
        generate_fragments(&path, c.fragments, c.cells, c.seed)
            .map_err(|e| BenchError::Failed(format!("cannot write {}: {e}", path.display())))?;
        if !c.json {
            eprintln!("  generated in {:.1} s", t0.elapsed().as_secs_f64());
        }
    }
    let sizes = dir.join("hg38.chrom_sizes.json");
    let json = serde_json::to_string(
        &HG38.iter().map(|(c, l)| (c.to_string(), serde_json::Value::from(*l))).collect::<serde_json::Map<_, _>>(),
    )
    .unwrap_or_default();
    std::fs::write(&sizes, json).map_err(|e| BenchError::Failed(format!("{}: {e}", sizes.display())))?;
    Ok((path, sizes))
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn ours(path: &Path, c: &CoverageBenchConfig) -> Result<ImportRow, BenchError> {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let opts = FragmentOptions {
        chrom_sizes: Some(HG38.iter().map(|(c, l)| (c.to_string(), *l)).collect()),
        min_fragments: c.min_fragments,
        ..Default::default()
    };
    let t0 = Instant::now();
    let (cov, stats) = load_fragments(path, &opts, &mut NoProgress, &CancelToken::new())?;
    let seconds = t0.elapsed().as_secs_f64();
    let peak = if reset { super::peak_rss_bytes().map(|b| b as f64 / 1048576.0) } else { None };
    let read = stats.fragments + stats.dropped_fragments;
    let row = ImportRow {
        who: "gscript".into(),
        seconds: Some(seconds),
        fragments_per_second: Some(read as f64 / seconds),
        peak_rss_mib: peak,
        cells: Some(cov.n_cells() as u64),
        n_fragment: Some(stats.cells.iter().map(|q| q.n_fragment).sum()),
        note: if reset {
            format!("{} MiB of insertions", cov.heap_bytes() >> 20)
        } else {
            "peak not reset (includes generation)".into()
        },
    };
    drop(cov);
    Ok(row)
}

fn peer_script() -> PathBuf {
    let here = PathBuf::from("bench/coverage_snapatac2.py");
    if here.is_file() {
        return here;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/coverage_snapatac2.py"))
}

fn peer(python: &Path, path: &Path, sizes: &Path, c: &CoverageBenchConfig) -> ImportRow {
    let fail = |note: String| ImportRow {
        who: "SnapATAC2".into(),
        seconds: None,
        fragments_per_second: None,
        peak_rss_mib: None,
        cells: None,
        n_fragment: None,
        note,
    };
    let out = Command::new(python)
        .arg(peer_script())
        .arg("--fragments")
        .arg(path)
        .arg("--chrom-sizes")
        .arg(sizes)
        .args(["--min-fragments", &c.min_fragments.to_string()])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().last().unwrap_or_default();
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => {
                    let seconds = v["seconds"].as_f64();
                    ImportRow {
                        who: format!("SnapATAC2 {}", v["version"].as_str().unwrap_or("?")),
                        seconds,
                        fragments_per_second: seconds.map(|s| c.fragments as f64 / s),
                        peak_rss_mib: v["peak_rss_mib"].as_f64(),
                        cells: v["cells"].as_u64(),
                        n_fragment: v["n_fragment"].as_u64(),
                        note: "peak: whole process (ru_maxrss)".into(),
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

/// Runs the import section.
pub fn import(c: &CoverageBenchConfig) -> Result<ImportReport, BenchError> {
    let (path, sizes) = cached_fragments(c)?;
    let load = load_average();
    let mut rows = vec![ours(&path, c)?];
    if let Some(python) = &c.peer {
        rows.push(peer(python, &path, &sizes, c));
    }
    Ok(ImportReport {
        file: path.display().to_string(),
        file_mib: std::fs::metadata(&path).map_or(0.0, |m| m.len() as f64 / 1048576.0),
        fragments: c.fragments,
        cells: c.cells,
        min_fragments: c.min_fragments,
        load_average: load,
        rows,
    })
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// The import section as a table.
pub fn render_import(r: &ImportReport) -> String {
    let mut s = format!(
        "fragments import: {} fragments ({} cells + background barcodes), {:.0} MiB BGZF, min fragments {}, load {}\n",
        r.fragments,
        r.cells,
        r.file_mib,
        r.min_fragments,
        opt(r.load_average, 2)
    );
    s += &format!(
        "  {:<16} {:>9} {:>14} {:>13} {:>7} {:>12}  note\n",
        "who", "seconds", "fragments/s", "peak RSS MiB", "cells", "n_fragment"
    );
    for row in &r.rows {
        s += &format!(
            "  {:<16} {:>9} {:>14} {:>13} {:>7} {:>12}  {}\n",
            row.who,
            opt(row.seconds, 2),
            row.fragments_per_second.map_or("—".into(), |f| format!("{:.2}M", f / 1e6)),
            opt(row.peak_rss_mib, 0),
            row.cells.map_or("—".into(), |x| x.to_string()),
            row.n_fragment.map_or("—".into(), |x| x.to_string()),
            row.note
        );
    }
    if let [a, b] = &r.rows[..] {
        if let (Some(ta), Some(tb), Some(ma), Some(mb)) = (a.seconds, b.seconds, a.peak_rss_mib, b.peak_rss_mib) {
            s += &format!("  speed-up {:.1}×, memory {:.2}× of SnapATAC2's\n", tb / ta, ma / mb);
        }
    }
    s
}

/// Runs the benchmark's sections and prints tables (or one JSON object).
pub fn print(c: &CoverageBenchConfig) -> Result<(), BenchError> {
    let mut json = serde_json::Map::new();
    for section in &c.sections {
        match section {
            Section::Import => {
                let r = import(c)?;
                if c.json {
                    json.insert("import".into(), serde_json::to_value(&r).unwrap_or_default());
                } else {
                    print!("{}", render_import(&r));
                }
            }
            Section::Targets => {
                let r = targets::targets(c)?;
                if c.json {
                    json.insert("targets".into(), serde_json::to_value(&r).unwrap_or_default());
                } else {
                    print!("{}", targets::render_targets(&r));
                }
            }
        }
    }
    if c.json {
        println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_loads_with_every_fragment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.tsv.gz");
        generate_fragments(&path, 20_000, 50, 3).unwrap();
        let opts = FragmentOptions {
            chrom_sizes: Some(HG38.iter().map(|(c, l)| (c.to_string(), *l)).collect()),
            ..Default::default()
        };
        let (cov, stats) = load_fragments(&path, &opts, &mut NoProgress, &CancelToken::new()).unwrap();
        assert_eq!(stats.fragments, 20_000);
        assert_eq!(stats.skipped.header, 2);
        assert!(cov.n_cells() > 50 && cov.n_cells() <= 550);
        assert_eq!(cov.atac.as_ref().unwrap().len(), 40_000);
        // chrM gets 2%.
        let m = cov.refs.get("chrM").unwrap();
        assert_eq!(cov.atac.as_ref().unwrap().chrom(m).len(), 2 * 400);
        let c = CoverageBenchConfig::from_args(&["--fragments".into(), "5000".into(), "--json".into()]).unwrap();
        assert!(c.json && c.fragments == 5000 && c.sections == [Section::Import, Section::Targets]);
        let c = CoverageBenchConfig::from_args(&["--section".into(), "targets".into()]).unwrap();
        assert_eq!(c.sections, [Section::Targets]);
        assert!(CoverageBenchConfig::from_args(&["--section".into(), "nope".into()]).is_err());
        assert!(CoverageBenchConfig::from_args(&["--nope".into(), "1".into()]).is_err());
    }
}
