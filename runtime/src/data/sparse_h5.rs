//! Streaming a compressed-sparse matrix stored in HDF5 (`indptr`, `indices`, `data`, as 10x and AnnData write it)
//! into a peaks × cells [`PeakMatrix`]. Entries are read in chunks of `CHUNK` (1M); memory is the output (≈ 8 bytes per
//! stored entry) plus one chunk. When the stored major axis is cells, the matrix is transposed on the fly with two
//! passes over `indices` (count per peak, then place) — no triplet list and no dense array.

use hdf5::Dataset;
use rayon::prelude::*;

use crate::data::h5::{read_range, H5File};

/// Entries read per HDF5 call: small enough that the transient buffers (indices as i64, values, their copies; about
/// 28 bytes per entry) stay a few tens of MB beside the output, large enough that the per-call cost is negligible.
const CHUNK: usize = 1 << 20;
use crate::data::matrix::PeakMatrix;
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, Progress};

/// The three datasets of a compressed-sparse matrix and its logical shape.
pub struct SparseH5<'a> {
    pub file: &'a H5File,
    /// Name of the group holding the datasets (for errors), e.g. `X` or `matrix`.
    pub group: String,
    pub indptr: Dataset,
    pub indices: Dataset,
    pub data: Dataset,
    /// Length of the axis `indptr` runs over.
    pub n_major: usize,
    /// Length of the axis `indices` point into.
    pub n_minor: usize,
}

impl SparseH5<'_> {
    fn err(&self, what: &str, msg: impl std::fmt::Display) -> RuntimeError {
        self.file.err(&format!("{}/{what}", self.group), msg)
    }

    /// Reads and checks `indptr`: n_major + 1 non-decreasing entries from 0 to nnz = len(indices) = len(data).
    pub(crate) fn read_indptr(&self) -> Result<Vec<u64>> {
        let n = self.indptr.size();
        if n != self.n_major + 1 {
            return Err(self.err(
                "indptr",
                format!(
                    "has {n} entries; the shape needs {} (one more than {} rows of the stored axis)",
                    self.n_major + 1,
                    self.n_major
                ),
            ));
        }
        let p = read_range::<i64>(&self.indptr, 0, n).map_err(|e| self.err("indptr", e))?;
        let nnz = self.indices.size();
        if self.data.size() != nnz {
            return Err(self.err("data", format!("has {} entries but indices has {nnz}", self.data.size())));
        }
        if p[0] != 0 || p.windows(2).any(|w| w[1] < w[0]) {
            return Err(self.err("indptr", "is not a non-decreasing list starting at 0 (corrupt matrix)"));
        }
        if *p.last().unwrap() as usize != nnz {
            return Err(self.err(
                "indptr",
                format!("ends at {} but the matrix stores {nnz} entries (truncated?)", p.last().unwrap()),
            ));
        }
        Ok(p.into_iter().map(|v| v as u64).collect())
    }

    /// Reads indices `[a, b)`, checked against `n_minor`. 32-bit integers (AnnData's and 10x's usual type) are read
    /// as stored, other integer types through HDF5's conversion to i64.
    pub(crate) fn read_indices(&self, a: usize, b: usize) -> Result<Vec<u32>> {
        let n = self.n_minor as i64;
        let bad = |k: usize, i: i64| {
            self.err("indices", format!("entry {} is {i}, outside 0..{n} (wrong shape or corrupt matrix)", a + k))
        };
        let narrow = self.indices.dtype().map(|t| t.size() == 4 && t.is::<i32>()).unwrap_or(false);
        if narrow {
            let idx = read_range::<i32>(&self.indices, a, b).map_err(|e| self.err("indices", e))?;
            if let Some(k) = idx.iter().position(|&i| i < 0 || i as i64 >= n) {
                return Err(bad(k, idx[k] as i64));
            }
            Ok(idx.into_iter().map(|i| i as u32).collect())
        } else {
            let idx = read_range::<i64>(&self.indices, a, b).map_err(|e| self.err("indices", e))?;
            if let Some(k) = idx.iter().position(|&i| i < 0 || i >= n) {
                return Err(bad(k, idx[k]));
            }
            Ok(idx.into_iter().map(|i| i as u32).collect())
        }
    }

    /// Reads chunk `[a, b)` of indices (checked against `n_minor`) and values.
    fn read_chunk(&self, a: usize, b: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        let idx = self.read_indices(a, b)?;
        let val = read_range::<f32>(&self.data, a, b).map_err(|e| self.err("data", e))?;
        Ok((idx, val))
    }

    /// The matrix as peaks × cells. `major_is_peaks`: the stored major axis is peaks (CSR peaks × cells or CSC
    /// cells × peaks). `minor_keep` (when the minor axis is peaks): new peak index per stored minor index, or
    /// `u32::MAX` to skip (e.g. gene features in a multiome matrix).
    pub fn to_peak_matrix(
        &self,
        major_is_peaks: bool,
        minor_keep: Option<&[u32]>,
        progress: &mut dyn Progress,
        cancel: &CancelToken,
    ) -> Result<PeakMatrix> {
        let indptr = self.read_indptr()?;
        let nnz = self.indices.size();
        progress.start(
            &format!("reading {} stored entries{}", nnz, if major_is_peaks { "" } else { " (two passes)" }),
            Some(nnz as u64 * if major_is_peaks { 1 } else { 2 }),
        );
        let m = if major_is_peaks {
            // values are kept only once one differs from 1 (a binary matrix is held at 4 bytes per entry)
            let (mut indices, mut values) = (Vec::with_capacity(nnz), None::<Vec<f32>>);
            for a in (0..nnz).step_by(CHUNK) {
                cancel.check()?;
                let (i, v) = self.read_chunk(a, (a + CHUNK).min(nnz))?;
                if values.is_none() && v.iter().any(|&x| x != 1.0) {
                    let mut all = Vec::with_capacity(nnz);
                    all.resize(indices.len(), 1.0);
                    values = Some(all);
                }
                indices.extend_from_slice(&i);
                if let Some(values) = values.as_mut() {
                    values.extend_from_slice(&v);
                }
                progress.update(indices.len() as u64, "");
            }
            PeakMatrix::from_parts(self.n_major, self.n_minor, indptr, indices, values)
        } else {
            self.transpose(&indptr, minor_keep, progress, cancel)?
        };
        progress.finish(&format!("{} peaks × {} cells, {} entries", m.n_peaks, m.n_cells, m.nnz()));
        Ok(m)
    }

    fn transpose(
        &self,
        indptr: &[u64],
        keep: Option<&[u32]>,
        progress: &mut dyn Progress,
        cancel: &CancelToken,
    ) -> Result<PeakMatrix> {
        let nnz = self.indices.size();
        let n_peaks = match keep {
            Some(k) => k.iter().filter(|&&p| p != u32::MAX).count(),
            None => self.n_minor,
        };
        let map = |i: u32| -> u32 { keep.map_or(i, |k| k[i as usize]) };
        // pass 1: entries per peak
        let mut counts = vec![0u64; n_peaks + 1];
        for a in (0..nnz).step_by(CHUNK) {
            cancel.check()?;
            let idx = self.read_indices(a, (a + CHUNK).min(nnz))?;
            for &i in &idx {
                let p = map(i);
                if p != u32::MAX {
                    counts[p as usize + 1] += 1;
                }
            }
            progress.update((a + idx.len()) as u64, "");
        }
        for p in 0..n_peaks {
            counts[p + 1] += counts[p];
        }
        let kept = counts[n_peaks] as usize;
        let mut next = counts.clone();
        // values are allocated once one differs from 1 (filled with ones: the entries placed so far were all 1)
        let (mut indices, mut values) = (vec![0u32; kept], None::<Vec<f32>>);
        // pass 2: place each entry in its peak's row; cells arrive in increasing order, so rows come out sorted.
        // Placing a chunk's entries directly would write to one stream per peak at once (tens of thousands: a cache
        // miss per entry). Instead each chunk is first grouped by blocks of consecutive peaks (`BLOCKS` streams),
        // keeping the entries' order, then the blocks are placed in parallel: a block writes only its peaks' rows.
        const BLOCKS: usize = 256;
        let per = n_peaks.div_ceil(BLOCKS).max(1);
        let blocks = n_peaks.div_ceil(per);
        let mut out = Scatter { indices: indices.as_mut_ptr(), values: std::ptr::null_mut() };
        let (mut peak_of, mut cell_of, mut val_of) = (Vec::new(), Vec::new(), Vec::new());
        let mut cell = 0usize;
        for a in (0..nnz).step_by(CHUNK) {
            cancel.check()?;
            let b = (a + CHUNK).min(nnz);
            let (idx, val) = self.read_chunk(a, b)?;
            if values.is_none() && val.iter().any(|&x| x != 1.0) {
                out.values = values.insert(vec![1f32; kept]).as_mut_ptr();
            }
            // group the chunk's kept entries by block (counting sort, stable)
            let mut start = vec![0usize; blocks + 1];
            for &i in &idx {
                let p = map(i);
                if p != u32::MAX {
                    start[p as usize / per + 1] += 1;
                }
            }
            for k in 0..blocks {
                start[k + 1] += start[k];
            }
            let n = start[blocks];
            peak_of.resize(n, 0u32);
            cell_of.resize(n, 0u32);
            val_of.resize(n, 0f32);
            let mut at = start.clone();
            for (k, (&i, &v)) in idx.iter().zip(&val).enumerate() {
                while indptr[cell + 1] as usize <= a + k {
                    cell += 1;
                }
                let p = map(i);
                if p != u32::MAX {
                    let slot = &mut at[p as usize / per];
                    (peak_of[*slot], cell_of[*slot], val_of[*slot]) = (p, cell as u32, v);
                    *slot += 1;
                }
            }
            let out = &out;
            let (peak_of, cell_of, val_of) = (&peak_of, &cell_of, &val_of);
            next[..n_peaks].par_chunks_mut(per).enumerate().for_each(|(blk, next)| {
                let first = blk * per;
                for e in start[blk]..start[blk + 1] {
                    let s = &mut next[peak_of[e] as usize - first];
                    // SAFETY: `next` holds each peak's next free slot in its own row (prefix sums of the counts of
                    // pass 1, below `kept`); a block writes only its peaks' rows, so no two threads write one slot.
                    unsafe { out.put(*s as usize, cell_of[e], val_of[e]) };
                    *s += 1;
                }
            });
            progress.update((nnz + b) as u64, "");
        }
        Ok(PeakMatrix::from_parts(n_peaks, self.n_major, counts, indices, values))
    }
}

/// The output vectors of the parallel placement (disjoint slots per thread); `values` is null while every value
/// placed is 1.
struct Scatter {
    indices: *mut u32,
    values: *mut f32,
}

// SAFETY: every thread writes slots no other thread writes (see `transpose`).
unsafe impl Sync for Scatter {}

impl Scatter {
    /// # Safety
    /// `slot` is in bounds and written by one thread only.
    unsafe fn put(&self, slot: usize, cell: u32, value: f32) {
        *self.indices.add(slot) = cell;
        if !self.values.is_null() {
            *self.values.add(slot) = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::data::matrix::PeakMatrix;
    use crate::data::{read_any, LoadOptions};
    use crate::progress::{CancelToken, NoProgress};

    /// A cells × peaks AnnData matrix of more than one chunk, transposed by the blocked parallel placement, equals the
    /// same entries put in order by `from_triplets` (a counting sort over the whole matrix).
    #[test]
    fn transposed_chunks_equal_a_direct_sort() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.h5ad");
        let nnz = crate::bench::data::write_random_h5ad(&path, 3000, 2000, 0.2, 7).unwrap() as usize;
        assert!(nnz > super::CHUNK, "{nnz} entries: the test needs several chunks");
        // without HDF5's lock, as the readers: the writer's handle may still be closing ("weak" close degree)
        let f = crate::data::h5::H5File::open(&path).unwrap().file;
        let indptr: Vec<i64> = f.dataset("X/indptr").unwrap().read_raw().unwrap();
        let idx: Vec<i32> = f.dataset("X/indices").unwrap().read_raw().unwrap();
        let val: Vec<f32> = f.dataset("X/data").unwrap().read_raw().unwrap();
        drop(f);
        let mut cells = Vec::with_capacity(nnz);
        for c in 0..3000 {
            cells.extend(std::iter::repeat_n(c as u32, (indptr[c + 1] - indptr[c]) as usize));
        }
        let peaks: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
        let want = PeakMatrix::from_triplets(2000, 3000, &peaks, &cells, &val).unwrap();
        let got = read_any(&path, &LoadOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap().matrix;
        assert_eq!((got.n_peaks, got.n_cells), (2000, 3000));
        assert_eq!(got.indptr(), want.indptr());
        assert_eq!(got.indices(), want.indices());
        // all ones: read as binary (no stored values)
        assert!(got.is_binary());
        assert_eq!(got, want);
        // values other than 1 from the second chunk on: stored from there, the ones before filled in
        let val: Vec<f32> = (0..nnz).map(|k| if k > super::CHUNK && k % 7 == 0 { 2.0 } else { 1.0 }).collect();
        // (on a copy: the reader's handle of `path` may still be closing, and HDF5 locks files it has open)
        let counts = dir.path().join("counts.h5ad");
        std::fs::copy(&path, &counts).unwrap();
        let f = hdf5::File::open_rw(&counts).unwrap();
        f.dataset("X/data").unwrap().write_raw(&val).unwrap();
        drop(f);
        let want = PeakMatrix::from_triplets(2000, 3000, &peaks, &cells, &val).unwrap();
        let got = read_any(&counts, &LoadOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap().matrix;
        assert!(!got.is_binary());
        assert_eq!(got.values(), want.values());
    }
}
