//! BED and narrowPeak peak files (plain or gzipped): the first three columns are chrom, start, end (0-based,
//! half-open); a fourth column, when present, names the peak. Header (`track`, `browser`, `#`) lines are skipped.
//! [`parse_bed`] reads any [`BufRead`]; [`read_bed`] opens a path (gunzipping it when needed) and calls it.

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

/// Reads a BED / narrowPeak file (plain or gzipped). Errors name the file, the line and the field.
pub fn read_bed(path: &Path) -> Result<PeakSet> {
    parse_bed(open_text(path)?, path)
}

/// Parses BED / narrowPeak lines from `reader`; `source` names the input in errors (`source:line: message`).
pub fn parse_bed(reader: impl BufRead, source: impl AsRef<Path>) -> Result<PeakSet> {
    let path = source.as_ref();
    let mut peaks = PeakSet::default();
    for (i, line) in reader.lines().enumerate() {
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

    #[test]
    fn parses_bed_from_bytes() {
        let text = b"browser position chr1\n#c\nchr1\t10\t20\tp1\t0\t+\nchr2 5 9\n\nchrX\t0\t3\t.\r\n";
        let peaks = parse_bed(&text[..], "<bytes>").unwrap();
        assert_eq!(peaks.chrom, ["chr1", "chr2", "chrX"]);
        assert_eq!((&peaks.start[..], &peaks.end[..]), (&[10, 5, 0][..], &[20, 9, 3][..]));
        assert_eq!(peaks.name, ["p1", "chr2:5-9", "chrX:0-3"]);
        let round = parse_bed(std::io::Cursor::new(peaks.to_bed()), "round").unwrap();
        assert_eq!(round.name, ["p1", "chr2:5-9", "chrX:0-3"]);
    }

    #[test]
    fn broken_bed_bytes_name_the_source_and_line() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"track x\nchr1\t10\t20\nchr1\t10\t2e3\n",
                "<bytes>:3: end (column 3) is not a non-negative integer: '2e3'",
            ),
            (
                b"chr1\t10\t20\nchr1\n",
                "<bytes>:2: expected at least 3 tab-separated fields (chrom, start, end), found 1",
            ),
            (b"# only a comment\nchr1\t7\t7\n", "<bytes>:2: end 7 is not greater than start 7"),
            (b"chr1\t1\t2\n\xff\xfe\n", "<bytes>:2: cannot read line"),
            (b"track x\n# header only\n", "<bytes>: no peaks found"),
        ];
        for (bytes, expected) in cases {
            let err = parse_bed(bytes, "<bytes>").unwrap_err().to_string();
            assert!(err.starts_with(expected), "{:?}: {err}", String::from_utf8_lossy(bytes));
        }
    }
}
