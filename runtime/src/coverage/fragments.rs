//! 10x ATAC fragment files (`atac_fragments.tsv.gz`) → per-cell Tn5 insertions.
//!
//! Format (10x Genomics, Cell Ranger ATAC `fragments.tsv.gz`): `chrom  start  end  barcode  count`, 0-based
//! half-open, already corrected for the Tn5 offset, `#` header lines; BGZF-compressed (decoded on several threads),
//! plain gzip or plain text. The count column may be missing or `.` (1); further columns are ignored.
//!
//! The file may be in any order: insertions are sorted once at the end, so neither position nor barcode order is
//! needed (SnapATAC2 sorts by barcode on disk when `sorted_by_barcode=False`). A tabix index is not needed.
//!
//! Conventions follow SnapATAC2 2.9 (`snapatac2-core/src/preprocessing/import.rs`, `import_fragments`, and
//! `preprocessing/qc.rs`, `Fragment::to_insertions`, `FragmentQCBuilder`; checked against SnapATAC2 in the tests):
//! - a fragment gives two insertions, at `start` and at `end − 1`, with no further shift (10x files are shifted
//!   already; SnapATAC2 shifts only in `make_fragment_file`);
//! - every line is a fragment: the `count` column (reads of the same fragment) does not multiply insertions; it
//!   enters the duplicate rate `frac_dup = 1 − unique / Σ count`;
//! - fragments on chromosomes outside the genome are skipped; fragments on mitochondrial chromosomes (`chrM`, `M`)
//!   are stored but not counted in `n_fragment`, which `min_fragments` filters on (`min_num_fragments`);
//! - a whitelist keeps only its barcodes.
//!
//! Differences: cells come in whitelist order or in order of first appearance (SnapATAC2 sorts them by barcode);
//! a fragment reaching past its chromosome's end is an error here (SnapATAC2 would spill it into the next
//! chromosome's columns); `end <= start` is an error (SnapATAC2 drops zero-length fragments silently); without a
//! genome, chromosomes and their lengths come from the file (SnapATAC2 requires `chrom_sizes`); a count of 0 is an
//! error; the size distribution counts the fragments of every barcode read, before `min_fragments` (SnapATAC2's
//! `frag_size_distr` reads the kept cells' fragments: the same with a whitelist or `min_fragments` 0).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::qc::SizeDistribution;
use super::{Coverage, InsertionsBuilder, ReferenceSequences};
use crate::progress::{CancelToken, Progress};
use crate::{Result, RuntimeError};

/// Nucleosome-free fragments are shorter than this (bp); mono-nucleosome ones shorter than twice it (10x, SnapATAC2's
/// `make_fragment_file` metrics).
pub const NUCLEOSOME_BP: u64 = 147;

/// Settings of [`load_fragments`].
#[derive(Clone, Debug)]
pub struct FragmentOptions {
    /// Chromosome names and lengths (a genome's `.fai`); `None`: taken from the file (in order of first appearance,
    /// each as long as its largest fragment end).
    pub chrom_sizes: Option<Vec<(String, u64)>>,
    /// Only these barcodes, in this order; `None`: every barcode, in order of first appearance.
    pub barcodes: Option<Vec<String>>,
    /// Drop cells with fewer unique nuclear fragments (`n_fragment`), after reading. Cells without any fragment are
    /// always dropped.
    pub min_fragments: u64,
    /// Keep only these chromosomes (fragments on others are skipped and counted).
    pub chromosomes: Option<Vec<String>>,
    /// Mitochondrial chromosomes: stored, but not counted in `n_fragment` (SnapATAC2's `chrM`).
    pub mitochondria: Vec<String>,
}

impl Default for FragmentOptions {
    fn default() -> Self {
        FragmentOptions {
            chrom_sizes: None,
            barcodes: None,
            min_fragments: 0,
            chromosomes: None,
            mitochondria: vec!["chrM".into(), "M".into()],
        }
    }
}

/// Per-cell numbers of an import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CellFragmentQc {
    /// Unique fragments (lines) off the mitochondrial chromosomes: SnapATAC2's `n_fragment`.
    pub n_fragment: u64,
    /// Unique fragments on mitochondrial chromosomes.
    pub n_mito: u64,
    /// Reads: Σ count over the cell's lines (duplicates = `n_reads − n_fragment − n_mito`).
    pub n_reads: u64,
    /// Unique fragments shorter than 147 bp / of 147–293 bp.
    pub n_nucleosome_free: u64,
    pub n_mono_nucleosome: u64,
}

impl CellFragmentQc {
    fn unique(&self) -> u64 {
        self.n_fragment + self.n_mito
    }
    /// `1 − unique / Σ count` (SnapATAC2's `frac_dup`).
    pub fn frac_dup(&self) -> f64 {
        ratio(self.n_reads - self.unique(), self.n_reads)
    }
    /// Mitochondrial share of the unique fragments (SnapATAC2's `frac_mito`).
    pub fn frac_mito(&self) -> f64 {
        ratio(self.n_mito, self.unique())
    }
    /// Share of unique fragments shorter than 147 bp.
    pub fn frac_nucleosome_free(&self) -> f64 {
        ratio(self.n_nucleosome_free, self.unique())
    }
    /// Share of unique fragments of 147–293 bp.
    pub fn frac_mono_nucleosome(&self) -> f64 {
        ratio(self.n_mono_nucleosome, self.unique())
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Lines that gave no insertions, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkippedLines {
    /// `#` header lines and blank lines.
    pub header: u64,
    /// Barcode not in the whitelist.
    pub barcode: u64,
    /// Chromosome not in the genome, or not among `chromosomes`.
    pub chromosome: u64,
}

/// What an import read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FragmentStats {
    /// Lines in the file.
    pub lines: u64,
    pub skipped: SkippedLines,
    /// Fragments stored (lines kept, 2 insertions each), after `min_fragments`.
    pub fragments: u64,
    /// Σ (count − 1) over the stored fragments.
    pub duplicates: u64,
    /// Per cell of the returned coverage, in its order.
    pub cells: Vec<CellFragmentQc>,
    /// Barcodes dropped by `min_fragments` (or without fragments), and their fragments.
    pub dropped_cells: usize,
    pub dropped_fragments: u64,
    /// Fragment sizes of every fragment read on a kept chromosome with a kept barcode (before `min_fragments`).
    pub sizes: SizeDistribution,
}

/// FxHash (rustc's): fast for short keys such as barcodes; no untrusted-input concerns for a local file.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Counts the compressed bytes read (the progress position).
struct Counted<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The compression of a fragments (or barcode) file, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Bgzf,
    Gzip,
    None,
}

/// The empty block that ends every complete BGZF file (SAM/BAM specification §4.1.2).
const BGZF_EOF: [u8; 28] = [
    0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 0x06, 0, 0x42, 0x43, 0x02, 0, 0x1b, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Opens a text file whatever its compression: BGZF (decoded on up to 8 threads), gzip, or none. `bytes` counts the
/// compressed bytes read. A BGZF file without its end-of-file block is reported as truncated.
pub fn open_text(path: &Path, bytes: Arc<AtomicU64>) -> Result<(Box<dyn BufRead + Send>, Compression)> {
    let mut f = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let mut head = [0u8; 18];
    let n = read_up_to(&mut f, &mut head).map_err(|e| RuntimeError::io(path, e))?;
    let gzip = n >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let bgzf = gzip && n >= 14 && head[3] & 0x04 != 0 && &head[12..14] == b"BC";
    if bgzf {
        let mut tail = [0u8; 28];
        let len = f.metadata().map_err(|e| RuntimeError::io(path, e))?.len();
        let ok = len >= 28
            && f.seek(SeekFrom::Start(len - 28)).is_ok()
            && read_up_to(&mut f, &mut tail).is_ok_and(|k| k == 28)
            && tail == BGZF_EOF;
        if !ok {
            return Err(RuntimeError::parse(
                path,
                0,
                "the BGZF end-of-file block is missing: the file is truncated (an interrupted download or copy?)",
            ));
        }
    }
    f.seek(SeekFrom::Start(0)).map_err(|e| RuntimeError::io(path, e))?;
    let f = Counted { inner: f, bytes };
    Ok(if bgzf {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let reader = noodles::bgzf::io::MultithreadedReader::with_worker_count(
            std::num::NonZero::new(workers).unwrap_or(std::num::NonZero::<usize>::MIN),
            f,
        );
        (Box::new(BufReader::with_capacity(1 << 20, reader)), Compression::Bgzf)
    } else if gzip {
        (Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(f))), Compression::Gzip)
    } else {
        (Box::new(BufReader::with_capacity(1 << 20, f)), Compression::None)
    })
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[inline]
fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &b in field {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    Some(v)
}

/// Where a chromosome's fragments go: `(index, mitochondrial)`, or `None` when they are skipped.
type ChromSlot = Option<(usize, bool)>;

/// Chromosome of each name seen: an index (into the genome or the inferred list) or skipped.
struct Chroms {
    refs: Option<ReferenceSequences>,
    keep: Option<HashSet<String>>,
    mito: HashSet<String>,
    index: FxMap<Vec<u8>, ChromSlot>,
    inferred: Vec<(String, u64)>,
    last: Option<(Vec<u8>, ChromSlot)>,
}

impl Chroms {
    /// `(index, mitochondrial)`, or `None` when fragments on it are skipped.
    #[inline]
    fn lookup(&mut self, name: &[u8]) -> ChromSlot {
        if let Some((n, i)) = &self.last {
            if n.as_slice() == name {
                return *i;
            }
        }
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                let s = String::from_utf8_lossy(name).into_owned();
                let mito = self.mito.contains(&s);
                let i = if !self.keep.as_ref().is_none_or(|k| k.contains(&s)) {
                    None
                } else if let Some(r) = &self.refs {
                    r.get(&s).map(|i| (i, mito))
                } else {
                    self.inferred.push((s, 0));
                    Some((self.inferred.len() - 1, mito))
                };
                self.index.insert(name.to_vec(), i);
                i
            }
        };
        self.last = Some((name.to_vec(), i));
        i
    }
}

/// Splits off the next tab-separated field.
#[inline]
fn next_field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    if rest.is_empty() {
        return None;
    }
    match rest.iter().position(|&b| b == b'\t') {
        Some(i) => {
            let f = &rest[..i];
            *rest = &rest[i + 1..];
            Some(f)
        }
        None => {
            let f = *rest;
            *rest = &[];
            Some(f)
        }
    }
}

/// Reads a fragments file into ATAC coverage (see the module docs for the conventions) with per-cell QC numbers.
/// Progress counts compressed bytes of the file.
pub fn load_fragments(
    path: &Path,
    opts: &FragmentOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(Coverage, FragmentStats)> {
    let refs = match &opts.chrom_sizes {
        Some(c) => Some(ReferenceSequences::new(c.iter().cloned())?),
        None => None,
    };
    if let (Some(r), Some(keep)) = (&refs, &opts.chromosomes) {
        for c in keep {
            r.require(c, "chromosomes")?;
        }
    }
    let mut chroms = Chroms {
        refs,
        keep: opts.chromosomes.as_ref().map(|c| c.iter().cloned().collect()),
        mito: opts.mitochondria.iter().cloned().collect(),
        index: FxMap::default(),
        inferred: Vec::new(),
        last: None,
    };
    let mut cells: FxMap<Vec<u8>, u32> = FxMap::default();
    let mut names: Vec<String> = Vec::new();
    let whitelist = opts.barcodes.is_some();
    if let Some(b) = &opts.barcodes {
        if b.is_empty() {
            return Err(RuntimeError::invalid("barcodes", "the whitelist is empty"));
        }
        for (i, bc) in b.iter().enumerate() {
            if cells.insert(bc.as_bytes().to_vec(), i as u32).is_some() {
                return Err(RuntimeError::invalid("barcodes", format!("barcode {bc} is listed twice")));
            }
            names.push(bc.clone());
        }
    }
    let mut qc: Vec<CellFragmentQc> = vec![CellFragmentQc::default(); names.len()];
    let mut builder = InsertionsBuilder::new(chroms.refs.as_ref().map_or(0, ReferenceSequences::len));
    let mut stats = FragmentStats::default();
    let mut sizes = vec![0u64; SizeDistribution::DEFAULT_MAX + 1];
    let mut unmatched: Vec<String> = Vec::new();

    let total_bytes = std::fs::metadata(path).map_err(|e| RuntimeError::io(path, e))?.len();
    let bytes = Arc::new(AtomicU64::new(0));
    let (mut reader, _) = open_text(path, bytes.clone())?;
    progress.start(&format!("reading {}", path.display()), Some(total_bytes));
    let mut line = Vec::with_capacity(256);
    let mut lineno = 0u64;
    let bad = |lineno: u64, msg: String| RuntimeError::parse(path, lineno as usize, msg);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| truncated(path, lineno + 1, e))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        if lineno & 0xfffff == 0 {
            cancel.check()?;
            progress.update(bytes.load(Ordering::Relaxed), &format!("{lineno} lines"));
        }
        let mut text = line.strip_suffix(b"\n").unwrap_or(&line);
        text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() || text[0] == b'#' {
            stats.skipped.header += 1;
            continue;
        }
        let mut rest = text;
        let (Some(chrom), Some(start_f), Some(end_f), Some(barcode)) =
            (next_field(&mut rest), next_field(&mut rest), next_field(&mut rest), next_field(&mut rest))
        else {
            let found = text.split(|&b| b == b'\t').count();
            return Err(bad(
                lineno,
                format!("{found} tab-separated fields; expected chrom, start, end, barcode and count"),
            ));
        };
        let number = |raw: &[u8], name: &str| {
            parse_u64(raw).ok_or_else(|| {
                bad(lineno, format!("{name} {:?} is not a non-negative integer", String::from_utf8_lossy(raw)))
            })
        };
        let start = number(start_f, "start")?;
        let end = number(end_f, "end")?;
        let count = match next_field(&mut rest) {
            None | Some(b".") => 1,
            Some(c) => number(c, "count")?,
        };
        if end <= start {
            return Err(bad(lineno, format!("end {end} is not after start {start}")));
        }
        if count == 0 {
            return Err(bad(lineno, "count 0: a fragment is read at least once".into()));
        }
        let Some((ci, mito)) = chroms.lookup(chrom) else {
            stats.skipped.chromosome += 1;
            continue;
        };
        match &chroms.refs {
            Some(r) => {
                if end > r.length(ci) {
                    return Err(bad(
                        lineno,
                        format!(
                            "fragment {}:{start}-{end} ends past the chromosome end ({} bp): not the same genome?",
                            r.name(ci),
                            r.length(ci)
                        ),
                    ));
                }
            }
            None => {
                if end > u32::MAX as u64 {
                    return Err(bad(lineno, format!("end {end} is beyond 4,294,967,295")));
                }
                let e = &mut chroms.inferred[ci].1;
                *e = (*e).max(end);
                builder.ensure_chroms(ci + 1);
            }
        }
        let cell = match cells.get(barcode) {
            Some(&c) => c,
            None if whitelist => {
                stats.skipped.barcode += 1;
                if unmatched.len() < 3 && !unmatched.iter().any(|b| b.as_bytes() == barcode) {
                    unmatched.push(String::from_utf8_lossy(barcode).into_owned());
                }
                continue;
            }
            None => {
                let id = names.len() as u32;
                cells.insert(barcode.to_vec(), id);
                names.push(String::from_utf8_lossy(barcode).into_owned());
                qc.push(CellFragmentQc::default());
                id
            }
        };
        builder.push(ci, start as u32, cell);
        builder.push(ci, (end - 1) as u32, cell);
        let q = &mut qc[cell as usize];
        if mito {
            q.n_mito += 1;
        } else {
            q.n_fragment += 1;
        }
        q.n_reads += count;
        let len = end - start;
        if len < NUCLEOSOME_BP {
            q.n_nucleosome_free += 1;
        } else if len < 2 * NUCLEOSOME_BP {
            q.n_mono_nucleosome += 1;
        }
        let bin = if len as usize >= sizes.len() { 0 } else { len as usize };
        sizes[bin] += 1;
    }
    stats.lines = lineno;
    if builder.is_empty() {
        let why = if whitelist && stats.skipped.barcode > 0 {
            format!(
                "no barcode of the whitelist occurs in the file (file barcodes such as {}; whitelist barcodes such as {})",
                unmatched.join(", "),
                names.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            )
        } else if stats.skipped.chromosome > 0 {
            "no fragment is on a chromosome of the genome (check the chromosome names, e.g. chr1 vs 1)".to_string()
        } else {
            "the file has no fragments".to_string()
        };
        return Err(RuntimeError::parse(path, 0, why));
    }
    let refs = match chroms.refs {
        Some(r) => r,
        None => ReferenceSequences::new(chroms.inferred)?,
    };
    builder.ensure_chroms(refs.len());
    let keep: Vec<bool> = qc.iter().map(|q| q.unique() > 0 && q.n_fragment >= opts.min_fragments).collect();
    let n_keep = keep.iter().filter(|&&k| k).count();
    if n_keep == 0 {
        let most = qc.iter().map(|q| q.n_fragment).max().unwrap_or(0);
        return Err(RuntimeError::invalid(
            "min_fragments",
            format!("no cell has {} fragments (the most is {most})", opts.min_fragments),
        ));
    }
    cancel.check()?;
    progress.update(total_bytes, "sorting insertions");
    let ins = builder.finish();
    let mut cov = Coverage { refs: Arc::new(refs), cells: names, atac: Some(ins), rna_plus: None, rna_minus: None };
    if n_keep < keep.len() {
        cov = cov.subset_cells(&keep)?;
    }
    for (q, &k) in qc.iter().zip(&keep) {
        if k {
            stats.cells.push(*q);
            stats.fragments += q.unique();
            stats.duplicates += q.n_reads - q.unique();
        } else if q.unique() > 0 || !whitelist {
            stats.dropped_cells += 1;
            stats.dropped_fragments += q.unique();
        }
    }
    stats.sizes = SizeDistribution { counts: sizes };
    progress.finish(&format!(
        "{} cells, {} fragments, {} insertions",
        cov.n_cells(),
        stats.fragments,
        cov.atac.as_ref().map_or(0, |a| a.len())
    ));
    Ok((cov, stats))
}

fn truncated(path: &Path, line: u64, e: std::io::Error) -> RuntimeError {
    RuntimeError::parse(
        path,
        line as usize,
        format!("cannot decode the file here ({e}); is it truncated, or not a gzip/BGZF/text file?"),
    )
}

/// Barcodes from a whitelist file: one per line, first tab-separated field (gzip allowed; a 10x `barcodes.tsv.gz`
/// works), blank and `#` lines ignored.
pub fn read_barcode_list(path: &Path) -> Result<Vec<String>> {
    let (mut r, _) = open_text(path, Arc::new(AtomicU64::new(0)))?;
    let mut out = Vec::new();
    let mut s = String::new();
    let mut lineno = 0;
    loop {
        s.clear();
        let n = r.read_line(&mut s).map_err(|e| truncated(path, lineno + 1, e))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let b = s.trim_end_matches(['\n', '\r']).split('\t').next().unwrap_or("").trim();
        if !b.is_empty() && !b.starts_with('#') {
            out.push(b.to_string());
        }
    }
    if out.is_empty() {
        return Err(RuntimeError::parse(path, 0, "no barcodes in the file"));
    }
    Ok(out)
}

/// The barcodes of a 10x feature-barcode matrix (`filtered_feature_bc_matrix.h5`, `filtered_peak_bc_matrix.h5`):
/// `matrix/barcodes` (or `<genome>/barcodes` in Cell Ranger ATAC 1.x files), without reading the matrix.
pub fn read_10x_barcodes(path: &Path) -> Result<Vec<String>> {
    let f = crate::data::h5::H5File::open(path)?;
    let group = if f.has("matrix/barcodes") {
        "matrix".to_string()
    } else {
        let names = f.file.member_names().unwrap_or_default();
        names.into_iter().find(|n| f.has(&format!("{n}/barcodes"))).ok_or_else(|| {
            f.err("matrix/barcodes", "missing: expected a 10x feature-barcode matrix (.h5 with matrix/barcodes)")
        })?
    };
    let b = f.strings(&format!("{group}/barcodes"), "the cell barcodes")?;
    if b.is_empty() {
        return Err(f.err(&format!("{group}/barcodes"), "is empty"));
    }
    Ok(b)
}

/// A barcode whitelist from a file: a 10x matrix `.h5` (by its HDF5 signature) or a text list (gzip allowed).
pub fn read_barcodes(path: &Path) -> Result<Vec<String>> {
    let mut f = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let mut sig = [0u8; 8];
    let n = read_up_to(&mut f, &mut sig).map_err(|e| RuntimeError::io(path, e))?;
    if n == 8 && sig == *b"\x89HDF\r\n\x1a\n" {
        read_10x_barcodes(path)
    } else {
        read_barcode_list(path)
    }
}

#[cfg(test)]
#[path = "fragments_tests.rs"]
mod tests;
