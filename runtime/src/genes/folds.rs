//! Borzoi-style fold splits: `sequences.bed` lists the model's training regions with a fold label in column 4
//! (`chr1  1000  197608  fold3`), and scooby trains on every fold but the test fold `fold3` and the validation fold
//! `fold4` (`scripts/train_multiome.py`, `test_fold: 3`, `val_fold: 4` in `scripts/config_*.yaml`).
//!
//! [`read_folds`] reads such a file (plain or gzip; `#`, `track` and `browser` lines skipped; columns after the
//! fourth ignored). [`make_folds`] makes one for a genome that has none (a simulated one): each chromosome is tiled
//! with non-overlapping windows from its start, and the genome's windows, in chromosome order, are cut into
//! `n_folds` contiguous runs of near-equal size, run k being `fold{k}` — neighbouring windows share a fold, as
//! Borzoi's folds keep contiguous stretches of the genome together.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use crate::{Result, RuntimeError};

/// One region of a fold split (0-based, half-open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldRegion {
    pub chrom: String,
    pub start: u64,
    pub end: u64,
    /// The label as written (`fold3`).
    pub fold: String,
}

/// Which part of the data a region belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Valid,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

/// The folds held out for testing and validation; all others train.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldSplit {
    pub test: Vec<String>,
    pub valid: Vec<String>,
}

impl Default for FoldSplit {
    /// scooby's split: test `fold3`, validation `fold4`.
    fn default() -> Self {
        FoldSplit { test: vec!["fold3".into()], valid: vec!["fold4".into()] }
    }
}

impl FoldSplit {
    /// The split of a fold label (`fold3`; a bare number `3` counts as `fold3`).
    pub fn split_of(&self, fold: &str) -> Split {
        let label = normalize(fold);
        if self.test.iter().any(|f| normalize(f) == label) {
            Split::Test
        } else if self.valid.iter().any(|f| normalize(f) == label) {
            Split::Valid
        } else {
            Split::Train
        }
    }
    /// The regions of one split, in file order.
    pub fn select<'a>(&self, regions: &'a [FoldRegion], split: Split) -> Vec<&'a FoldRegion> {
        regions.iter().filter(|r| self.split_of(&r.fold) == split).collect()
    }
}

fn normalize(fold: &str) -> String {
    if fold.chars().all(|c| c.is_ascii_digit()) && !fold.is_empty() {
        format!("fold{fold}")
    } else {
        fold.to_string()
    }
}

/// Reads a fold BED file; errors name the file, the line and the column.
pub fn read_folds(path: &Path) -> Result<Vec<FoldRegion>> {
    let mut file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(|e| RuntimeError::io(path, e))?;
    let file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let reader: Box<dyn BufRead> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let no = i + 1;
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => RuntimeError::parse(path, no, format!("not text: {e}")),
            _ => RuntimeError::io(path, e),
        })?;
        let t = line.trim_end();
        if t.trim().is_empty() || t.starts_with('#') || t.starts_with("track") || t.starts_with("browser") {
            continue;
        }
        let f: Vec<&str> = t.split('\t').collect();
        if f.len() < 4 {
            return Err(RuntimeError::parse(
                path,
                no,
                format!("expected 4 tab-separated columns (chrom, start, end, fold), found {}", f.len()),
            ));
        }
        let num = |k: usize, name: &str| {
            f[k].parse::<u64>().map_err(|_| {
                RuntimeError::parse(path, no, format!("column {} ({name}): `{}` is not a whole number", k + 1, f[k]))
            })
        };
        let (start, end) = (num(1, "start")?, num(2, "end")?);
        if end <= start {
            return Err(RuntimeError::parse(path, no, format!("column 3 (end): {end} is not after start {start}")));
        }
        if f[3].is_empty() {
            return Err(RuntimeError::parse(path, no, "column 4 (fold) is empty"));
        }
        out.push(FoldRegion { chrom: f[0].to_string(), start, end, fold: f[3].to_string() });
    }
    if out.is_empty() {
        return Err(RuntimeError::parse(path, 0, "no regions"));
    }
    Ok(out)
}

/// Tiles the chromosomes with `length`-bp windows and assigns `n_folds` folds in contiguous runs (module docs).
/// Chromosomes shorter than `length` get no window.
pub fn make_folds(chrom_sizes: &[(String, u64)], length: u64, n_folds: usize) -> Result<Vec<FoldRegion>> {
    if length == 0 {
        return Err(RuntimeError::invalid("length", "must be positive"));
    }
    if n_folds == 0 {
        return Err(RuntimeError::invalid("folds", "must be at least 1"));
    }
    let windows: Vec<(&str, u64)> =
        chrom_sizes.iter().flat_map(|(c, len)| (0..len / length).map(move |k| (c.as_str(), k * length))).collect();
    if windows.len() < n_folds {
        return Err(RuntimeError::invalid(
            "folds",
            format!("the genome holds {} windows of {length} bp, fewer than {n_folds} folds", windows.len()),
        ));
    }
    let n = windows.len();
    Ok(windows
        .into_iter()
        .enumerate()
        .map(|(i, (c, s))| FoldRegion {
            chrom: c.to_string(),
            start: s,
            end: s + length,
            fold: format!("fold{}", i * n_folds / n),
        })
        .collect())
}

/// Writes regions as a fold BED file (atomically).
pub fn write_folds(path: &Path, regions: &[FoldRegion]) -> Result<()> {
    crate::io::write_via_temp(path, |tmp| {
        let mut w = std::io::BufWriter::new(File::create(tmp)?);
        for r in regions {
            writeln!(w, "{}\t{}\t{}\t{}", r.chrom, r.start, r.end, r.fold)?;
        }
        w.flush()
    })
    .map_err(|e| RuntimeError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_borzoi_fold_bed_and_splits_like_scooby() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sequences.bed");
        std::fs::write(
            &p,
            "# header\nchr1\t0\t196608\tfold0\nchr1\t196608\t393216\tfold3\tx\nchr2\t10\t20\tfold4\nchr2\t20\t30\tfold7\n",
        )
        .unwrap();
        let r = read_folds(&p).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[1], FoldRegion { chrom: "chr1".into(), start: 196_608, end: 393_216, fold: "fold3".into() });
        let s = FoldSplit::default();
        let splits: Vec<Split> = r.iter().map(|x| s.split_of(&x.fold)).collect();
        assert_eq!(splits, [Split::Train, Split::Test, Split::Valid, Split::Train]);
        assert_eq!(s.select(&r, Split::Train).len(), 2);
        let custom = FoldSplit { test: vec!["7".into()], valid: vec!["fold0".into()] };
        assert_eq!(custom.split_of("fold7"), Split::Test);
        assert_eq!(custom.split_of("fold0"), Split::Valid);

        // gzip
        let gz = dir.path().join("sequences.bed.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&std::fs::read(&p).unwrap()).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        assert_eq!(read_folds(&gz).unwrap(), r);
    }

    #[test]
    fn bad_fold_lines_name_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.bed");
        for (text, want) in [
            ("chr1\t0\t10\tfold0\nchr1\t5\tten\tfold1\n", "bad.bed:2: column 3 (end): `ten` is not a whole number"),
            ("chr1\t0\t10\n", "bad.bed:1: expected 4 tab-separated columns"),
            ("chr1\t10\t10\tfold0\n", "bad.bed:1: column 3 (end): 10 is not after start 10"),
            ("# only a comment\n", "bad.bed: no regions"),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = read_folds(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{e} (want {want})");
        }
    }

    #[test]
    fn made_folds_tile_the_genome_contiguously_and_read_back() {
        let sizes = vec![("chr1".to_string(), 1000), ("chr2".to_string(), 450), ("chrS".to_string(), 50)];
        let r = make_folds(&sizes, 100, 3).unwrap();
        // 10 + 4 windows; chrS is shorter than a window
        assert_eq!(r.len(), 14);
        assert!(r.iter().all(|x| x.end - x.start == 100 && x.chrom != "chrS"));
        assert_eq!(r[10], FoldRegion { chrom: "chr2".into(), start: 0, end: 100, fold: "fold2".into() });
        let folds: Vec<&str> = r.iter().map(|x| x.fold.as_str()).collect();
        // contiguous runs, sizes within one of each other
        let mut runs: Vec<(&str, usize)> = Vec::new();
        for f in &folds {
            match runs.last_mut() {
                Some((g, n)) if g == f => *n += 1,
                _ => runs.push((f, 1)),
            }
        }
        assert_eq!(runs.iter().map(|r| r.0).collect::<Vec<_>>(), ["fold0", "fold1", "fold2"]);
        assert!(runs.iter().all(|r| r.1 == 4 || r.1 == 5), "{runs:?}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("seq.bed");
        write_folds(&p, &r).unwrap();
        assert_eq!(read_folds(&p).unwrap(), r);
        assert!(make_folds(&sizes, 600, 3).unwrap_err().to_string().contains("fewer than 3 folds"));
    }
}
