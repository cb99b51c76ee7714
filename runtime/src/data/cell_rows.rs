//! `CellRows`: the binary peaks × cells matrix as, for every peak, the strictly increasing indices of the cells where
//! it is open — 4 bytes per stored entry (a `u32` cell index; the value 1 is implicit) plus 8 per peak. This is what
//! training reads. It is held in memory, or memory-mapped from a file written once beside the input
//! ([`crate::data::cell_store`]), so that an atlas (the scBasset paper's 1.1M cells × 118k peaks at 3%: 3.9 billion
//! entries, 15.6 GB as indices) trains without holding the matrix in anonymous memory: the kernel pages rows in as
//! minibatches touch them and can drop them again under pressure.
//!
//! File layout (little-endian): a 64-byte header — magic `GSCELLS1`, `n_peaks`, `n_cells`, `nnz`, the source file's
//! length and modification time in nanoseconds (to notice a changed input), three reserved words — then `indptr`
//! (`n_peaks + 1` × u64) and `indices` (`nnz` × u32).

use std::fs::File;
use std::ops::Index;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use crate::data::matrix::PeakMatrix;
use crate::error::{Result, RuntimeError};

pub(crate) const MAGIC: &[u8; 8] = b"GSCELLS1";
pub(crate) const HEADER_BYTES: usize = 64;

/// The header of a cell-index file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreHeader {
    pub n_peaks: u64,
    pub n_cells: u64,
    pub nnz: u64,
    /// Length of the file the store was built from (0 when unknown).
    pub source_len: u64,
    /// Modification time of that file, nanoseconds since the epoch (0 when unknown).
    pub source_mtime_ns: u64,
}

impl StoreHeader {
    pub(crate) fn to_bytes(self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[..8].copy_from_slice(MAGIC);
        for (k, v) in [self.n_peaks, self.n_cells, self.nnz, self.source_len, self.source_mtime_ns].iter().enumerate() {
            b[8 + 8 * k..16 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub(crate) fn parse(path: &Path, b: &[u8]) -> Result<StoreHeader> {
        if b.len() < HEADER_BYTES || &b[..8] != MAGIC {
            return Err(store_error(path, "is not a gscript cell-index file (bad magic or shorter than its header)"));
        }
        let word = |k: usize| u64::from_le_bytes(b[8 + 8 * k..16 + 8 * k].try_into().unwrap());
        Ok(StoreHeader {
            n_peaks: word(0),
            n_cells: word(1),
            nnz: word(2),
            source_len: word(3),
            source_mtime_ns: word(4),
        })
    }

    /// Byte offset of `indices[k]` in the file.
    pub(crate) fn index_offset(&self, k: u64) -> u64 {
        HEADER_BYTES as u64 + 8 * (self.n_peaks + 1) + 4 * k
    }

    /// Total file length.
    pub(crate) fn file_len(&self) -> u64 {
        self.index_offset(self.nnz)
    }
}

pub(crate) fn store_error(path: &Path, msg: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(format!("{}: {msg}", path.display()))
}

#[derive(Clone)]
enum Backing {
    Owned { indptr: Vec<u64>, indices: Vec<u32> },
    Mapped { map: Arc<Mmap>, path: PathBuf, n_peaks: usize, nnz: usize },
}

/// Accessible cells per peak (see the module docs). Every row is checked on construction: strictly increasing and
/// below `n_cells`. Cloning a mapped one shares the mapping.
#[derive(Clone)]
pub struct CellRows {
    n_cells: usize,
    backing: Backing,
}

impl std::fmt::Debug for CellRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CellRows({} peaks × {} cells, {} entries", self.n_peaks(), self.n_cells, self.nnz())?;
        match &self.backing {
            Backing::Owned { .. } => write!(f, ")"),
            Backing::Mapped { path, .. } => write!(f, ", mapped from {})", path.display()),
        }
    }
}

impl PartialEq for CellRows {
    fn eq(&self, other: &CellRows) -> bool {
        self.n_cells == other.n_cells && self.indptr() == other.indptr() && self.indices() == other.indices()
    }
}

impl CellRows {
    /// From CSR parts that the caller still has to clean (sort, merge); see [`CellRows::owned_parts_mut`].
    pub(crate) fn owned_unchecked(n_cells: usize, indptr: Vec<u64>, indices: Vec<u32>) -> CellRows {
        CellRows { n_cells, backing: Backing::Owned { indptr, indices } }
    }

    /// The row pointers and indices of an owned matrix, to edit in place (a mapped one is copied into memory first).
    pub(crate) fn owned_parts_mut(&mut self) -> (&mut Vec<u64>, &mut Vec<u32>) {
        if let Backing::Mapped { .. } = self.backing {
            self.backing = Backing::Owned { indptr: self.indptr().to_vec(), indices: self.indices().to_vec() };
        }
        match &mut self.backing {
            Backing::Owned { indptr, indices } => (indptr, indices),
            Backing::Mapped { .. } => unreachable!("converted above"),
        }
    }

    /// From CSR parts; errors name the first peak whose row is unsorted or out of range.
    pub fn new(n_cells: usize, indptr: Vec<u64>, indices: Vec<u32>) -> Result<CellRows> {
        check_parts(n_cells, &indptr, &indices).map_err(|m| RuntimeError::invalid("positives", m))?;
        Ok(CellRows { n_cells, backing: Backing::Owned { indptr, indices } })
    }

    /// From one list of cells per peak.
    pub fn from_rows(n_cells: usize, rows: &[Vec<u32>]) -> Result<CellRows> {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        indptr.push(0u64);
        let mut indices = Vec::with_capacity(rows.iter().map(Vec::len).sum());
        for r in rows {
            indices.extend_from_slice(r);
            indptr.push(indices.len() as u64);
        }
        CellRows::new(n_cells, indptr, indices)
    }

    /// The stored entries of a peak matrix (a copy of its rows; shared when they are mapped).
    pub fn from_matrix(m: &PeakMatrix) -> CellRows {
        m.rows().clone()
    }

    /// Memory-maps a cell-index file and checks it whole (header, length, row pointers, every row sorted and in
    /// range). The check reads the file once; pages it touched are released from this process again as it goes.
    pub fn open(path: &Path) -> Result<CellRows> {
        let file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
        // SAFETY: the file is only read; a store is written to a temporary and renamed into place, never rewritten.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| RuntimeError::io(path, e))?;
        let h = StoreHeader::parse(path, &map)?;
        if cfg!(target_endian = "big") {
            return Err(store_error(path, "cell-index files are little-endian; this machine is big-endian"));
        }
        let need = (h.n_peaks.checked_add(1).and_then(|n| n.checked_mul(8)))
            .and_then(|p| p.checked_add(h.nnz.checked_mul(4)?))
            .and_then(|x| x.checked_add(HEADER_BYTES as u64));
        if need != Some(map.len() as u64) {
            return Err(store_error(
                path,
                format!(
                    "is {} bytes but its header ({} peaks, {} entries) needs {} (truncated or corrupt; delete it to rebuild)",
                    map.len(),
                    h.n_peaks,
                    h.nnz,
                    need.map_or("more than 2^64".to_string(), |n| n.to_string())
                ),
            ));
        }
        if h.n_cells > u32::MAX as u64 + 1 {
            return Err(store_error(path, format!("claims {} cells; at most 2^32 fit a u32 index", h.n_cells)));
        }
        let rows = CellRows {
            n_cells: h.n_cells as usize,
            backing: Backing::Mapped {
                map: Arc::new(map),
                path: path.to_path_buf(),
                n_peaks: h.n_peaks as usize,
                nnz: h.nnz as usize,
            },
        };
        rows.check_mapped(1 << 24).map_err(|m| store_error(path, format!("{m} (corrupt; delete it to rebuild)")))?;
        Ok(rows)
    }

    /// Checks a mapped file in blocks of rows of about `block` entries, releasing each block's pages after reading it.
    pub(crate) fn check_mapped(&self, block: usize) -> std::result::Result<(), String> {
        let (indptr, indices) = (self.indptr(), self.indices());
        if indptr[0] != 0 || indptr.windows(2).any(|w| w[1] < w[0]) || *indptr.last().unwrap() as usize != indices.len()
        {
            return Err("its row pointers are not non-decreasing from 0 to the number of entries".into());
        }
        let mut p = 0;
        while p < self.n_peaks() {
            let start = indptr[p] as usize;
            let mut q = p + 1;
            while q < self.n_peaks() && (indptr[q + 1] as usize - start) < block {
                q += 1;
            }
            check_rows(self.n_cells, &indptr[p..=q], indices, p)?;
            self.release(start, indptr[q] as usize);
            p = q;
        }
        Ok(())
    }

    /// Tells the kernel that this process no longer needs the pages of entries `[a, b)` (a mapped store only; the
    /// data stays in the page cache and is read again when touched).
    fn release(&self, a: usize, b: usize) {
        if let Backing::Mapped { map, n_peaks, .. } = &self.backing {
            let page = 4096;
            let lo = (HEADER_BYTES + 8 * (n_peaks + 1) + 4 * a).div_ceil(page) * page;
            let hi = (HEADER_BYTES + 8 * (n_peaks + 1) + 4 * b) / page * page;
            if hi > lo {
                // SAFETY: a read-only shared file mapping: dropped pages are re-read from the file on the next access.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, lo, hi - lo) };
            }
        }
    }

    pub fn n_peaks(&self) -> usize {
        match &self.backing {
            Backing::Owned { indptr, .. } => indptr.len() - 1,
            Backing::Mapped { n_peaks, .. } => *n_peaks,
        }
    }
    /// Number of peaks (rows).
    pub fn len(&self) -> usize {
        self.n_peaks()
    }
    pub fn is_empty(&self) -> bool {
        self.n_peaks() == 0
    }
    pub fn n_cells(&self) -> usize {
        self.n_cells
    }
    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices().len()
    }
    /// The file this is mapped from, if any.
    pub fn mapped_from(&self) -> Option<&Path> {
        match &self.backing {
            Backing::Mapped { path, .. } => Some(path),
            Backing::Owned { .. } => None,
        }
    }

    /// Row pointers: `n_peaks + 1` offsets into [`CellRows::indices`].
    pub fn indptr(&self) -> &[u64] {
        match &self.backing {
            Backing::Owned { indptr, .. } => indptr,
            Backing::Mapped { map, n_peaks, .. } => {
                let bytes = &map[HEADER_BYTES..HEADER_BYTES + 8 * (n_peaks + 1)];
                // SAFETY: the map is page-aligned and the header 64 bytes, so the pointer is 8-byte aligned; length
                // checked in `open`.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const u64, n_peaks + 1) }
            }
        }
    }

    /// Every stored cell index, row after row.
    pub fn indices(&self) -> &[u32] {
        match &self.backing {
            Backing::Owned { indices, .. } => indices,
            Backing::Mapped { map, n_peaks, nnz, .. } => {
                let start = HEADER_BYTES + 8 * (n_peaks + 1);
                let bytes = &map[start..start + 4 * nnz];
                // SAFETY: 4-byte aligned (page-aligned map, offset a multiple of 8); length checked in `open`.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const u32, *nnz) }
            }
        }
    }

    /// The cells in which peak `p` is open, increasing.
    pub fn row(&self, p: usize) -> &[u32] {
        let ptr = self.indptr();
        &self.indices()[ptr[p] as usize..ptr[p + 1] as usize]
    }

    /// Entries per peak.
    pub fn row_lengths(&self) -> impl Iterator<Item = usize> + '_ {
        self.indptr().windows(2).map(|w| (w[1] - w[0]) as usize)
    }
}

impl Index<usize> for CellRows {
    type Output = [u32];
    fn index(&self, p: usize) -> &[u32] {
        self.row(p)
    }
}

/// Checks the rows of `indptr` (a window of the row pointers starting at peak `first`, pointing into the whole
/// `indices`): pointers in order and in range, cells strictly increasing and `< n_cells`.
fn check_rows(n_cells: usize, indptr: &[u64], indices: &[u32], first: usize) -> std::result::Result<(), String> {
    for (k, w) in indptr.windows(2).enumerate() {
        if w[1] < w[0] || w[1] as usize > indices.len() {
            return Err(format!("row pointers of peak {} are out of order", first + k));
        }
        let row = &indices[w[0] as usize..w[1] as usize];
        if let Some(&c) = row.iter().find(|&&c| c as usize >= n_cells) {
            return Err(format!("peak {} has cell index {c} ≥ n_cells = {n_cells}", first + k));
        }
        if row.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("the cell indices of peak {} are not strictly increasing", first + k));
        }
    }
    Ok(())
}

/// Checks whole CSR parts: pointers from 0 to the number of entries, then every row.
fn check_parts(n_cells: usize, indptr: &[u64], indices: &[u32]) -> std::result::Result<(), String> {
    if indptr.first() != Some(&0) {
        return Err("row pointers must start at 0".into());
    }
    if *indptr.last().unwrap() as usize != indices.len() {
        return Err(format!("row pointers end at {} but there are {} entries", indptr.last().unwrap(), indices.len()));
    }
    check_rows(n_cells, indptr, indices, 0)
}
