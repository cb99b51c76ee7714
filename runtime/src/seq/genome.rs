//! Indexed FASTA genomes (`.fai`), with sequence extraction exactly as the Keras scBasset original.
//!
//! The `.fai` index is read when present and built otherwise (saved next to the FASTA when the directory is
//! writable; when it is not, the index is kept in memory and a warning says so). Sequences are fetched with
//! positioned reads, so a whole genome is never loaded. bgzip-compressed FASTA is detected and refused with a clear
//! message (decompress it, or use an uncompressed copy). The index parsers take any [`BufRead`]: [`parse_fai`] reads
//! `.fai` lines and [`build_fai_from`] streams FASTA text; [`read_fai`] and [`build_fai`] open paths and call them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};
use crate::seq::Region;

/// One `.fai` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaiEntry {
    pub name: String,
    pub length: u64,
    /// Byte offset of the first base.
    pub offset: u64,
    pub line_bases: u64,
    pub line_width: u64,
}

#[derive(Debug)]
pub struct Genome {
    path: PathBuf,
    file: File,
    entries: Vec<FaiEntry>,
    by_name: HashMap<String, usize>,
    /// A note for the user, e.g. that the index could not be saved.
    pub warning: Option<String>,
}

impl Genome {
    pub fn open(path: &Path) -> Result<Genome> {
        let mut file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
        let mut magic = [0u8; 2];
        let n = file.read(&mut magic).map_err(|e| RuntimeError::io(path, e))?;
        if n == 2 && magic == [0x1f, 0x8b] {
            return Err(RuntimeError::parse(
                path,
                0,
                "the FASTA is gzip/bgzip-compressed; decompress it first (e.g. `bgzip -d` or `gunzip -k`)",
            ));
        }
        let fai_path = fai_path(path);
        let mut warning = None;
        let entries = if fai_path.is_file() && !older_than(&fai_path, path) {
            read_fai(&fai_path)?
        } else {
            let entries = build_fai(path)?;
            if entries.is_empty() {
                return Err(RuntimeError::parse(path, 0, "the FASTA holds no sequences"));
            }
            let text: String = entries
                .iter()
                .map(|e| format!("{}\t{}\t{}\t{}\t{}\n", e.name, e.length, e.offset, e.line_bases, e.line_width))
                .collect();
            if let Err(e) = crate::io::write_atomic(&fai_path, text.as_bytes()) {
                warning = Some(format!(
                    "could not save the FASTA index {} ({e}); it was built in memory and will be rebuilt next time",
                    fai_path.display()
                ));
            }
            entries
        };
        if entries.is_empty() {
            return Err(RuntimeError::parse(path, 0, "the FASTA holds no sequences"));
        }
        let by_name = entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        Ok(Genome {
            path: path.to_path_buf(),
            file: File::open(path).map_err(|e| RuntimeError::io(path, e))?,
            entries,
            by_name,
            warning,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn chromosomes(&self) -> &[FaiEntry] {
        &self.entries
    }
    pub fn chrom_length(&self, chrom: &str) -> Option<u64> {
        self.by_name.get(chrom).map(|&i| self.entries[i].length)
    }
    pub fn has_chrom(&self, chrom: &str) -> bool {
        self.by_name.contains_key(chrom)
    }

    /// Bases `[start, end)` of `chrom` as stored (case kept). Positions outside the chromosome (negative starts,
    /// ends past its length) are filled with `N`, as the original pads.
    pub fn fetch(&self, chrom: &str, start: i64, end: i64) -> Result<Vec<u8>> {
        let e = self.entry(chrom)?;
        if end < start {
            return Err(RuntimeError::invalid("region", format!("{chrom}:{start}-{end}: end before start")));
        }
        let len = e.length as i64;
        let mut out = Vec::with_capacity((end - start) as usize);
        let left = (0.min(end) - start).max(0);
        out.resize(left as usize, b'N');
        let (a, b) = (start.max(0), end.min(len));
        if a < b {
            self.read_bases(e, a as u64, b as u64, &mut out)?;
        }
        out.resize((end - start) as usize, b'N');
        Ok(out)
    }

    /// Upper-cased bases of a region, N-padded beyond the chromosome ends.
    pub fn fetch_region(&self, r: &Region) -> Result<Vec<u8>> {
        let mut s = self.fetch(&r.chrom, r.start as i64, r.end as i64)?;
        s.make_ascii_uppercase();
        Ok(s)
    }

    /// The model input window of a peak, as the Keras original extracts it: centre = (start + end) // 2,
    /// window `[centre − length/2, centre − length/2 + length)`, N-padded at chromosome ends, upper-cased
    /// (soft-masked bases count as normal bases).
    pub fn peak_window(&self, peak: &Region, length: u64) -> Result<Vec<u8>> {
        let s = peak.center() as i64 - (length / 2) as i64;
        let mut seq = self.fetch(&peak.chrom, s, s + length as i64)?;
        seq.make_ascii_uppercase();
        Ok(seq)
    }

    fn entry(&self, chrom: &str) -> Result<&FaiEntry> {
        self.by_name.get(chrom).map(|&i| &self.entries[i]).ok_or_else(|| {
            RuntimeError::invalid(
                "chrom",
                format!(
                    "chromosome '{chrom}' is not in {} ({} sequences, e.g. {})",
                    self.path.display(),
                    self.entries.len(),
                    self.entries.iter().take(3).map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    fn read_bases(&self, e: &FaiEntry, a: u64, b: u64, out: &mut Vec<u8>) -> Result<()> {
        let mismatch = || {
            RuntimeError::parse(
                &self.path,
                0,
                format!(
                    "the .fai index does not match the FASTA around {}:{a}-{b}; delete the .fai to rebuild it",
                    e.name
                ),
            )
        };
        // Checked: a damaged index can hold offsets and widths whose products overflow.
        let byte = |pos: u64| {
            (pos / e.line_bases).checked_mul(e.line_width)?.checked_add(e.offset)?.checked_add(pos % e.line_bases)
        };
        let (Some(first), Some(last)) = (byte(a), byte(b - 1).and_then(|x| x.checked_add(1))) else {
            return Err(mismatch());
        };
        // The range must lie in the file: the buffer is sized from the index, which must not be trusted past it.
        let size = self.file.metadata().map_err(|err| RuntimeError::io(&self.path, err))?.len();
        if last > size {
            return Err(mismatch());
        }
        let mut buf = vec![0u8; (last - first) as usize];
        self.file.read_exact_at(&mut buf, first).map_err(|err| RuntimeError::io(&self.path, err))?;
        let before = out.len();
        out.extend(buf.into_iter().filter(|c| *c != b'\n' && *c != b'\r'));
        if (out.len() - before) as u64 != b - a {
            return Err(mismatch());
        }
        Ok(())
    }
}

/// True when `a` was modified before `b` (a stale index).
fn older_than(a: &Path, b: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(a), m(b)), (Some(x), Some(y)) if x < y)
}

fn fai_path(fasta: &Path) -> PathBuf {
    let mut s = fasta.as_os_str().to_owned();
    s.push(".fai");
    PathBuf::from(s)
}

/// Reads a `.fai` index file.
pub fn read_fai(path: &Path) -> Result<Vec<FaiEntry>> {
    let file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    parse_fai(BufReader::new(file), path)
}

/// Parses `.fai` index lines (`name  length  offset  line_bases  line_width`, tab-separated) from `reader`;
/// `source` names the input in errors (`source:line: message`).
pub fn parse_fai(reader: impl BufRead, source: impl AsRef<Path>) -> Result<Vec<FaiEntry>> {
    let path = source.as_ref();
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| RuntimeError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            return Err(RuntimeError::parse(
                path,
                i + 1,
                format!("expected 5 tab-separated fields, found {}", f.len()),
            ));
        }
        let num = |k: usize| {
            f[k].parse::<u64>()
                .map_err(|_| RuntimeError::parse(path, i + 1, format!("field {} is not a number: '{}'", k + 1, f[k])))
        };
        let e = FaiEntry {
            name: f[0].to_string(),
            length: num(1)?,
            offset: num(2)?,
            line_bases: num(3)?,
            line_width: num(4)?,
        };
        if e.line_bases == 0 || e.line_width < e.line_bases {
            return Err(RuntimeError::parse(path, i + 1, "line lengths must be positive and width ≥ bases"));
        }
        out.push(e);
    }
    Ok(out)
}

/// Scans a FASTA file and builds its index; lines within a record must have equal length except the last.
pub fn build_fai(path: &Path) -> Result<Vec<FaiEntry>> {
    let file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    build_fai_from(BufReader::with_capacity(1 << 20, file), path)
}

/// Streams FASTA text from `reader` and builds its index (byte offsets count from the reader's first byte); lines
/// within a record must have equal length except the last. `source` names the input in errors.
pub fn build_fai_from(mut reader: impl BufRead, source: impl AsRef<Path>) -> Result<Vec<FaiEntry>> {
    let path = source.as_ref();
    let mut entries: Vec<FaiEntry> = Vec::new();
    let mut offset = 0u64;
    let mut line = Vec::new();
    let mut lineno = 0usize;
    // state of the current record
    let mut short_line_seen: Option<usize> = None;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| RuntimeError::io(path, e))? as u64;
        if n == 0 {
            break;
        }
        lineno += 1;
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if let Some(header) = content.strip_prefix(b">") {
            let name = String::from_utf8_lossy(header).split_whitespace().next().unwrap_or("").to_string();
            if name.is_empty() {
                return Err(RuntimeError::parse(path, lineno, "sequence header '>' without a name"));
            }
            if entries.iter().any(|e| e.name == name) {
                return Err(RuntimeError::parse(path, lineno, format!("sequence name '{name}' appears twice")));
            }
            entries.push(FaiEntry { name, length: 0, offset: offset + n, line_bases: 0, line_width: 0 });
            short_line_seen = None;
        } else if content.is_empty() {
            if let Some(e) = entries.last() {
                if e.length > 0 {
                    short_line_seen.get_or_insert(lineno);
                }
            }
        } else {
            let Some(e) = entries.last_mut() else {
                return Err(RuntimeError::parse(
                    path,
                    lineno,
                    "sequence data before the first '>' header: is this a FASTA file?",
                ));
            };
            if let Some(bad) = content.iter().position(|c| !c.is_ascii_alphabetic() && *c != b'*' && *c != b'-') {
                return Err(RuntimeError::parse(
                    path,
                    lineno,
                    format!("unexpected character '{}' in sequence {}", content[bad].escape_ascii(), e.name),
                ));
            }
            if let Some(short) = short_line_seen {
                return Err(RuntimeError::parse(
                    path,
                    short,
                    format!("line lengths in {} vary before its last line; an indexed FASTA needs equal line lengths (reformat, e.g. with `samtools faidx` or seqkit)", e.name),
                ));
            }
            let bases = content.len() as u64;
            if e.line_bases == 0 {
                e.line_bases = bases;
                e.line_width = n;
            } else if bases > e.line_bases || (bases == e.line_bases && n != e.line_width) {
                return Err(RuntimeError::parse(
                    path,
                    lineno,
                    format!(
                        "line has {bases} bases, expected at most {} as in the lines before it in {}",
                        e.line_bases, e.name
                    ),
                ));
            } else if bases < e.line_bases {
                short_line_seen = Some(lineno);
            }
            e.length += bases;
        }
        offset += n;
    }
    if let Some(e) = entries.iter().find(|e| e.length == 0) {
        return Err(RuntimeError::parse(path, 0, format!("sequence '{}' is empty", e.name)));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genome(dir: &tempfile::TempDir, text: &str) -> Genome {
        let p = dir.path().join("g.fa");
        std::fs::write(&p, text).unwrap();
        Genome::open(&p).unwrap()
    }

    /// Plain string slicing of the same chromosome, with N padding: the reference for extraction.
    fn direct(seq: &str, start: i64, end: i64) -> String {
        (start..end)
            .map(|i| if i < 0 || i >= seq.len() as i64 { 'N' } else { seq.as_bytes()[i as usize] as char })
            .collect()
    }

    #[test]
    fn fetches_match_direct_slices_at_starts_middles_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let chr1: String = (0..103).map(|i| b"ACGTacgtNA"[(i * 7) % 10] as char).collect();
        let wrapped: String = chr1.as_bytes().chunks(10).map(|c| format!("{}\n", String::from_utf8_lossy(c))).collect();
        let g = genome(&dir, &format!(">chr1 description\n{wrapped}>chr2\nACGT\n"));
        assert!(dir.path().join("g.fa.fai").is_file(), "index saved");
        assert_eq!(g.chrom_length("chr1"), Some(103));
        for (a, b) in [(0, 10), (0, 103), (5, 17), (9, 11), (95, 103), (-5, 4), (100, 110), (-3, 106), (50, 50)] {
            let got = String::from_utf8(g.fetch("chr1", a, b).unwrap()).unwrap();
            assert_eq!(got, direct(&chr1, a, b), "{a}..{b}");
        }
        assert_eq!(g.fetch("chr2", 0, 4).unwrap(), b"ACGT");
        // the saved index is read back identically
        let again = Genome::open(g.path()).unwrap();
        assert_eq!(again.chromosomes(), g.chromosomes());
    }

    #[test]
    fn peak_window_is_centred_like_keras_with_n_padding() {
        let dir = tempfile::tempdir().unwrap();
        let chr: String = (0..50).map(|i| b"acgt"[i % 4] as char).collect();
        let g = genome(&dir, &format!(">c\n{chr}\n"));
        // peak [20, 31): centre (20+31)//2 = 25, window length 10 → [20, 30)
        let w = g.peak_window(&Region::new("c", 20, 31).unwrap(), 10).unwrap();
        assert_eq!(String::from_utf8(w).unwrap(), direct(&chr, 20, 30).to_uppercase());
        // near the start: centre 2, window [-3, 7) → three Ns prepended
        let w = g.peak_window(&Region::new("c", 0, 5).unwrap(), 10).unwrap();
        assert_eq!(&w[..3], b"NNN");
        assert_eq!(String::from_utf8(w[3..].to_vec()).unwrap(), chr[..7].to_uppercase());
        // near the end: Ns appended
        let w = g.peak_window(&Region::new("c", 46, 50).unwrap(), 10).unwrap();
        assert_eq!(&w[w.len() - 3..], b"NNN");
    }

    #[test]
    fn broken_fasta_files_give_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("ACGT\n>c\nAC\n", "g.fa:1: sequence data before the first '>' header"),
            (">c\nACGT\nAC\nACGT\n", "g.fa:3: line lengths in c vary"),
            (">c\nACGT\nACGTA\n", "g.fa:3: line has 5 bases, expected at most 4"),
            (">c\nAC1T\n", "g.fa:2: unexpected character '1'"),
            (">c\nACGT\n>c\nAA\n", "g.fa:3: sequence name 'c' appears twice"),
            (">\nACGT\n", "g.fa:1: sequence header '>' without a name"),
            (">a\n>b\nAC\n", "sequence 'a' is empty"),
            ("", "holds no sequences"),
        ];
        for (text, expected) in cases {
            let p = dir.path().join("g.fa");
            let _ = std::fs::remove_file(dir.path().join("g.fa.fai"));
            std::fs::write(&p, text).unwrap();
            let err = Genome::open(&p).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        let g = genome(&dir, ">c\nACGT\n");
        let err = g.fetch("chr9", 0, 2).unwrap_err().to_string();
        assert!(err.contains("chromosome 'chr9' is not in") && err.contains("e.g. c"), "{err}");
    }

    #[test]
    fn read_only_directory_keeps_the_index_in_memory_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.fa");
        std::fs::write(&p, ">c\nACGT\n").unwrap();
        let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        perms.set_mode(0o555);
        std::fs::set_permissions(dir.path(), perms.clone()).unwrap();
        let g = Genome::open(&p).unwrap();
        perms.set_mode(0o755);
        std::fs::set_permissions(dir.path(), perms).unwrap();
        assert_eq!(g.fetch("c", 0, 4).unwrap(), b"ACGT");
        // root ignores directory permissions; only check the warning where the write really failed
        if !dir.path().join("g.fa.fai").exists() {
            assert!(g.warning.as_deref().unwrap_or("").contains("could not save the FASTA index"));
        }
    }

    #[test]
    fn indexes_fasta_and_parses_fai_from_bytes() {
        let fasta = b">chr1 first\nACGTA\nCGTAC\nGT\n>chr2\r\nacgt\r\nac\r\n";
        let entries = build_fai_from(&fasta[..], "<bytes>").unwrap();
        let want = [
            FaiEntry { name: "chr1".into(), length: 12, offset: 12, line_bases: 5, line_width: 6 },
            FaiEntry { name: "chr2".into(), length: 6, offset: 34, line_bases: 4, line_width: 6 },
        ];
        assert_eq!(entries, want);
        // the offsets point at the first base of each record
        assert_eq!(&fasta[12..17], b"ACGTA");
        assert_eq!(&fasta[34..38], b"acgt");
        let fai: String = entries
            .iter()
            .map(|e| format!("{}\t{}\t{}\t{}\t{}\n", e.name, e.length, e.offset, e.line_bases, e.line_width))
            .collect();
        assert_eq!(parse_fai(std::io::Cursor::new(format!("{fai}\n")), "<bytes>").unwrap(), want);
    }

    #[test]
    fn broken_fasta_and_fai_bytes_name_the_source_and_line() {
        let fasta: [(&[u8], &str); 3] = [
            (b">a\nACGT\n\n>b\nAC\n>c x\nAC GT\n", "<bytes>:7: unexpected character ' ' in sequence c"),
            (b">a\nACGT\nAC\n\nAC\n", "<bytes>:3: line lengths in a vary"),
            (b">a\nAC\n>b\n", "<bytes>: sequence 'b' is empty"),
        ];
        for (bytes, expected) in fasta {
            let err = build_fai_from(bytes, "<bytes>").unwrap_err().to_string();
            assert!(err.starts_with(expected), "{:?}: {err}", String::from_utf8_lossy(bytes));
        }
        let fai = [
            ("c\t4\t3\t4\t5\nd\t4\t3\t4\n", "<bytes>:2: expected 5 tab-separated fields, found 4"),
            ("c\t4\t3\t4\t5\n\nd\t4\tx\t4\t5\n", "<bytes>:3: field 3 is not a number: 'x'"),
            ("c\t4\t3\t4\t3\n", "<bytes>:1: line lengths must be positive and width ≥ bases"),
        ];
        for (text, expected) in fai {
            let err = parse_fai(text.as_bytes(), "<bytes>").unwrap_err().to_string();
            assert_eq!(err, expected, "{text:?}");
        }
    }
}
