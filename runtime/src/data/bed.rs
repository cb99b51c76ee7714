//! BED and narrowPeak peak files (plain or gzipped): the first three columns are chrom, start, end (0-based,
//! half-open); a fourth column, when present, names the peak. Header (`track`, `browser`, `#`) lines are skipped.

use std::io::BufRead;
use std::path::Path;

use crate::data::text::open_text;
use crate::error::{Result, RuntimeError};
use crate::seq::Region;

/// An ordered set of peaks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeakSet {
    pub chrom: Vec<String>,
    pub start: Vec<u64>,
    pub end: Vec<u64>,
    /// Peak names (`chr:start-end` when the source has none).
    pub name: Vec<String>,
}

impl PeakSet {
    pub fn len(&self) -> usize {
        self.start.len()
    }
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }
    pub fn push(&mut self, chrom: &str, start: u64, end: u64, name: Option<&str>) {
        self.chrom.push(chrom.to_string());
        self.start.push(start);
        self.end.push(end);
        self.name.push(name.map(str::to_string).unwrap_or_else(|| format!("{chrom}:{start}-{end}")));
    }
    pub fn region(&self, i: usize) -> Region {
        Region { chrom: self.chrom[i].clone(), start: self.start[i], end: self.end[i] }
    }
    /// Keeps the peaks whose index is in `keep` (in that order).
    pub fn select(&self, keep: &[usize]) -> PeakSet {
        PeakSet {
            chrom: keep.iter().map(|&i| self.chrom[i].clone()).collect(),
            start: keep.iter().map(|&i| self.start[i]).collect(),
            end: keep.iter().map(|&i| self.end[i]).collect(),
            name: keep.iter().map(|&i| self.name[i].clone()).collect(),
        }
    }
    /// Writes `chrom\tstart\tend\tname` lines.
    pub fn to_bed(&self) -> String {
        let mut s = String::with_capacity(self.len() * 32);
        for i in 0..self.len() {
            s.push_str(&format!("{}\t{}\t{}\t{}\n", self.chrom[i], self.start[i], self.end[i], self.name[i]));
        }
        s
    }
}

/// Reads a BED / narrowPeak file. Errors name the file, the line and the field.
pub fn read_bed(path: &Path) -> Result<PeakSet> {
    let reader = open_text(path)?;
    let mut peaks = PeakSet::default();
    for (i, line) in BufRead::lines(reader).enumerate() {
        let lineno = i + 1;
        let line = line.map_err(|e| RuntimeError::parse(path, lineno, format!("cannot read line: {e}")))?;
        let t = line.trim_end_matches('\r');
        if t.trim().is_empty() || t.starts_with('#') || t.starts_with("track") || t.starts_with("browser") {
            continue;
        }
        let fields: Vec<&str> = t.split('\t').collect();
        let fields = if fields.len() < 3 { t.split_whitespace().collect() } else { fields };
        if fields.len() < 3 {
            return Err(RuntimeError::parse(
                path,
                lineno,
                format!("expected at least 3 tab-separated fields (chrom, start, end), found {}", fields.len()),
            ));
        }
        let num = |k: usize, what: &str| -> Result<u64> {
            fields[k].trim().parse::<u64>().map_err(|_| {
                RuntimeError::parse(
                    path,
                    lineno,
                    format!("{what} (column {}) is not a non-negative integer: '{}'", k + 1, fields[k]),
                )
            })
        };
        let (start, end) = (num(1, "start")?, num(2, "end")?);
        if end <= start {
            return Err(RuntimeError::parse(path, lineno, format!("end {end} is not greater than start {start}")));
        }
        let name = fields.get(3).map(|s| s.trim()).filter(|s| !s.is_empty() && *s != ".");
        peaks.push(fields[0].trim(), start, end, name);
    }
    if peaks.is_empty() {
        return Err(RuntimeError::parse(path, 0, "no peaks found (the file is empty or has only header lines)"));
    }
    Ok(peaks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_bed_narrowpeak_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a.bed", "track name=x\n# c\nchr1\t10\t20\tp1\nchr2\t5\t9\n");
        let peaks = read_bed(&p).unwrap();
        assert_eq!(peaks.len(), 2);
        assert_eq!(peaks.name, vec!["p1", "chr2:5-9"]);
        let np = "chr1\t100\t300\tpeak1\t500\t.\t10.2\t5.1\t3.2\t100\n";
        let gz = dir.path().join("b.narrowPeak.gz");
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(np.as_bytes()).unwrap();
        enc.finish().unwrap();
        let peaks = read_bed(&gz).unwrap();
        assert_eq!((peaks.start[0], peaks.end[0], peaks.name[0].as_str()), (100, 300, "peak1"));
    }

    #[test]
    fn broken_bed_files_name_the_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("chr1\t10\t20\nchr1\tx\t30\n", "a.bed:2: start (column 2) is not a non-negative integer: 'x'"),
            ("chr1\t10\n", "a.bed:1: expected at least 3"),
            ("chr1\t30\t20\n", "a.bed:1: end 20 is not greater than start 30"),
            ("chr1\t-5\t20\n", "a.bed:1: start (column 2)"),
            ("", "no peaks found"),
        ];
        for (text, expected) in cases {
            let p = write(&dir, "a.bed", text);
            let err = read_bed(&p).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        let err = read_bed(&dir.path().join("missing.bed")).unwrap_err().to_string();
        assert!(err.contains("missing.bed"), "{err}");
    }
}
