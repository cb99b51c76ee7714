//! Building the cell-index file behind a memory-mapped [`CellRows`] from an AnnData `.h5ad` whose X is sparse (CSR or
//! CSC, cells × peaks or peaks × cells), written once beside the input as `<input>.cells` and reused while the input
//! is unchanged (its length and modification time are recorded in the header).
//!
//! Memory: the input is streamed in blocks of about a million entries. When the stored major axis is cells (the usual
//! cells × peaks CSR), the transpose takes two passes: the first counts the entries of every peak, the second appends
//! each cell to its peaks' rows through a small buffer per peak (at most 256 MiB in all) written out with positioned
//! writes — so the file's pages go through the page cache, never through this process's own memory. Values are
//! binarised (any non-zero is 1); duplicated coordinates count once. The file is written to a temporary beside it and
//! renamed into place, so an interrupted build leaves no partial store.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::data::cell_rows::{store_error, CellRows, StoreHeader};
use crate::data::h5::{read_range, H5File};
use crate::data::h5ad_read::{read_frames, sparse_x};
use crate::data::sparse_h5::SparseH5;
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, Progress};

/// Entries read per block.
const BLOCK: usize = 1 << 20;
/// Bytes of the per-peak write buffers, in all.
const BUFFER_BYTES: usize = 256 << 20;

/// `<input>.cells`: where the store of `input` lives.
pub fn store_path(input: &Path) -> PathBuf {
    let mut s = input.as_os_str().to_owned();
    s.push(".cells");
    PathBuf::from(s)
}

/// The input's length and modification time (ns), recorded in the store.
fn stamp(input: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(input).map_err(|e| RuntimeError::io(input, e))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
    Ok((meta.len(), mtime))
}

/// What [`open_or_build`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOrigin {
    /// An existing store matched the input and was mapped.
    Reused,
    /// A store was built (none existed).
    Built,
    /// The existing store was stale (input changed) or unreadable (the reason) and was rebuilt.
    Rebuilt(String),
}

/// The memory-mapped cell rows of `input` (an `.h5ad`), building `<input>.cells` first when it is missing, stale or
/// unreadable. Also returns the peaks and the cells' metadata read from the input.
pub fn open_or_build(
    input: &Path,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(CellRows, crate::data::PeakSet, crate::data::CellMeta, StoreOrigin)> {
    let f = H5File::open(input)?;
    let frames = read_frames(&f)?;
    let out = store_path(input);
    let (len, mtime) = stamp(input)?;
    let origin = if out.exists() {
        match read_header(&out) {
            Ok(h) if (h.source_len, h.source_mtime_ns) == (len, mtime) => match CellRows::open(&out) {
                Ok(rows) => {
                    check_shape(input, &rows, frames.peaks.len(), frames.cells.len())?;
                    return Ok((rows, frames.peaks, frames.cells, StoreOrigin::Reused));
                }
                Err(e) => StoreOrigin::Rebuilt(e.to_string()),
            },
            Ok(_) => StoreOrigin::Rebuilt(format!("{} changed since the store was written", input.display())),
            Err(e) => StoreOrigin::Rebuilt(e.to_string()),
        }
    } else {
        StoreOrigin::Built
    };
    build_from(&f, &frames, (len, mtime), &out, progress, cancel)?;
    let rows = CellRows::open(&out)?;
    check_shape(input, &rows, frames.peaks.len(), frames.cells.len())?;
    Ok((rows, frames.peaks, frames.cells, origin))
}

/// Builds `<input>.cells` when it is missing or its header says it was written from another version of `input`; a
/// current store is left as it is, read no further than its header (whoever maps it next checks it). For a process
/// group, where rank 0 makes sure of the file before every rank maps it with [`open_or_build`].
pub fn ensure_built(input: &Path, progress: &mut dyn Progress, cancel: &CancelToken) -> Result<()> {
    let out = store_path(input);
    let (len, mtime) = stamp(input)?;
    if matches!(read_header(&out), Ok(h) if (h.source_len, h.source_mtime_ns) == (len, mtime)) {
        return Ok(());
    }
    let f = H5File::open(input)?;
    let frames = read_frames(&f)?;
    build_from(&f, &frames, (len, mtime), &out, progress, cancel).map(|_| ())
}

/// [`build`] from the sparse X of an opened `.h5ad`; a dense X is an error.
fn build_from(
    f: &H5File,
    frames: &crate::data::h5ad_read::H5adFrames,
    stamp: (u64, u64),
    out: &Path,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<StoreHeader> {
    let Some((sparse, major_is_peaks)) = sparse_x(f, frames.n_obs, frames.n_var, frames.peaks_on_var)? else {
        return Err(f.err("X", "is dense: a cell-index store is built from a sparse X (CSR or CSC)"));
    };
    build(&sparse, major_is_peaks, stamp, out, progress, cancel)
}

fn check_shape(input: &Path, rows: &CellRows, n_peaks: usize, n_cells: usize) -> Result<()> {
    if (rows.n_peaks(), rows.n_cells()) != (n_peaks, n_cells) {
        return Err(store_error(
            &store_path(input),
            format!(
                "holds {} peaks × {} cells but {} has {n_peaks} peaks and {n_cells} cells (delete it to rebuild)",
                rows.n_peaks(),
                rows.n_cells(),
                input.display()
            ),
        ));
    }
    Ok(())
}

fn read_header(path: &Path) -> Result<StoreHeader> {
    let mut b = [0u8; crate::data::cell_rows::HEADER_BYTES];
    let f = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    f.read_exact_at(&mut b, 0).map_err(|e| RuntimeError::io(path, e))?;
    StoreHeader::parse(path, &b)
}

/// Removes the temporary unless the build succeeded.
struct TempFile(PathBuf, bool);
impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Writes the store of `sparse` to `out` (through a temporary, renamed into place).
pub(crate) fn build(
    sparse: &SparseH5,
    major_is_peaks: bool,
    (source_len, source_mtime_ns): (u64, u64),
    out: &Path,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<StoreHeader> {
    let mut tmp = TempFile(out.with_file_name(format!(".{}.tmp-{}", file_name(out), std::process::id())), false);
    let file = File::create(&tmp.0).map_err(|e| RuntimeError::io(&tmp.0, e))?;
    let major_ptr = sparse.read_indptr()?;
    let nnz_stored = *major_ptr.last().unwrap();
    let (n_peaks, n_cells) =
        if major_is_peaks { (sparse.n_major, sparse.n_minor) } else { (sparse.n_minor, sparse.n_major) };
    if n_cells > u32::MAX as usize {
        return Err(sparse.file.err("X", format!("has {n_cells} cells; a cell-index store holds at most 2^32")));
    }
    let passes = if major_is_peaks { 1 } else { 2 };
    progress.start(
        &format!("building the cell index of {} peaks × {} cells ({passes} pass(es))", n_peaks, n_cells),
        Some(nnz_stored * passes),
    );
    let write_err = |e: std::io::Error| RuntimeError::io(&tmp.0, e);
    let mut header =
        StoreHeader { n_peaks: n_peaks as u64, n_cells: n_cells as u64, nnz: 0, source_len, source_mtime_ns };
    let mut indptr = vec![0u64; n_peaks + 1];
    if major_is_peaks {
        // rows are peaks: append each cleaned row in order
        let mut k = 0u64;
        let mut batch = Vec::new();
        for_each_row(sparse, &major_ptr, progress, 0, cancel, |p, row| {
            indptr[p + 1] = indptr[p] + row.len() as u64;
            batch.extend_from_slice(row);
            if batch.len() >= BLOCK {
                write_u32s(&file, header.index_offset(k), &batch).map_err(write_err)?;
                k += batch.len() as u64;
                batch.clear();
            }
            Ok(())
        })?;
        write_u32s(&file, header.index_offset(k), &batch).map_err(write_err)?;
    } else {
        // rows are cells: count per peak, then place each cell into its peaks' rows (cells come in order)
        let mut counts = vec![0u64; n_peaks];
        for_each_row(sparse, &major_ptr, progress, 0, cancel, |_, row| {
            for &p in row {
                counts[p as usize] += 1;
            }
            Ok(())
        })?;
        for p in 0..n_peaks {
            indptr[p + 1] = indptr[p] + counts[p];
        }
        drop(counts);
        header.nnz = indptr[n_peaks];
        let cap = (BUFFER_BYTES / 4 / n_peaks.max(1)).clamp(16, 4096);
        let mut buf = vec![0u32; n_peaks * cap];
        let mut fill = vec![0u32; n_peaks];
        let mut done = indptr[..n_peaks].to_vec();
        let flush = |p: usize, fill: &mut [u32], buf: &[u32], done: &mut [u64]| -> Result<()> {
            let n = fill[p] as usize;
            write_u32s(&file, header.index_offset(done[p]), &buf[p * cap..p * cap + n]).map_err(write_err)?;
            done[p] += n as u64;
            fill[p] = 0;
            Ok(())
        };
        for_each_row(sparse, &major_ptr, progress, nnz_stored, cancel, |cell, row| {
            for &p in row {
                let p = p as usize;
                buf[p * cap + fill[p] as usize] = cell as u32;
                fill[p] += 1;
                if fill[p] as usize == cap {
                    flush(p, &mut fill, &buf, &mut done)?;
                }
            }
            Ok(())
        })?;
        for p in 0..n_peaks {
            flush(p, &mut fill, &buf, &mut done)?;
        }
    }
    header.nnz = indptr[n_peaks];
    let mut bytes = Vec::with_capacity(8 * (n_peaks + 1));
    for v in &indptr {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    file.write_all_at(&bytes, crate::data::cell_rows::HEADER_BYTES as u64).map_err(write_err)?;
    file.set_len(header.file_len()).map_err(write_err)?;
    file.write_all_at(&header.to_bytes(), 0).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    std::fs::rename(&tmp.0, out).map_err(|e| RuntimeError::io(out, e))?;
    tmp.1 = true;
    progress.finish(&format!("{} entries written to {}", header.nnz, out.display()));
    Ok(header)
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn write_u32s(file: &File, offset: u64, values: &[u32]) -> std::io::Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    // SAFETY: u32 has no padding; the byte view covers exactly the slice. The file is little-endian (checked on open).
    let bytes = unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u8, 4 * values.len()) };
    file.write_all_at(bytes, offset)
}

/// Calls `f(row, sorted distinct minor indices with a non-zero value)` for every stored major row, reading blocks of
/// whole rows (a row longer than a block is read alone).
fn for_each_row(
    sparse: &SparseH5,
    ptr: &[u64],
    progress: &mut dyn Progress,
    base: u64,
    cancel: &CancelToken,
    mut f: impl FnMut(usize, &[u32]) -> Result<()>,
) -> Result<()> {
    let n_rows = ptr.len() - 1;
    let mut r = 0;
    let mut row = Vec::new();
    while r < n_rows {
        cancel.check()?;
        let a = ptr[r] as usize;
        let mut s = r + 1;
        while s < n_rows && (ptr[s + 1] as usize - a) <= BLOCK {
            s += 1;
        }
        let b = ptr[s] as usize;
        let idx = sparse.read_indices(a, b)?;
        let val = read_range::<f32>(&sparse.data, a, b).map_err(|e| sparse.file.err("X/data", e))?;
        let all_nonzero = val.iter().all(|&v| v != 0.0);
        for q in r..s {
            let (lo, hi) = (ptr[q] as usize - a, ptr[q + 1] as usize - a);
            let part = &idx[lo..hi];
            if all_nonzero && part.windows(2).all(|w| w[0] < w[1]) {
                f(q, part)?;
            } else {
                row.clear();
                row.extend(part.iter().zip(&val[lo..hi]).filter(|(_, &v)| v != 0.0).map(|(&i, _)| i));
                row.sort_unstable();
                row.dedup();
                f(q, &row)?;
            }
        }
        progress.update(base + b as u64, "");
        r = s;
    }
    Ok(())
}

#[cfg(test)]
#[path = "cell_store_tests.rs"]
mod tests;
