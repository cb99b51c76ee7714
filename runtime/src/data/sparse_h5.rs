//! Streaming a compressed-sparse matrix stored in HDF5 (`indptr`, `indices`, `data`, as 10x and AnnData write it)
//! into a peaks × cells [`PeakMatrix`]. Entries are read in chunks of [`CHUNK`]; memory is the output (≈ 8 bytes per
//! stored entry) plus one chunk. When the stored major axis is cells, the matrix is transposed on the fly with two
//! passes over `indices` (count per peak, then place) — no triplet list and no dense array.

use hdf5::Dataset;

use crate::data::h5::{read_range, H5File, CHUNK};
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
    fn read_indptr(&self) -> Result<Vec<u64>> {
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

    /// Reads chunk `[a, b)` of indices (checked against `n_minor`) and values.
    fn read_chunk(&self, a: usize, b: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        let idx = read_range::<i64>(&self.indices, a, b).map_err(|e| self.err("indices", e))?;
        let n = self.n_minor as i64;
        if let Some(k) = idx.iter().position(|&i| i < 0 || i >= n) {
            return Err(self.err(
                "indices",
                format!("entry {} is {}, outside 0..{n} (wrong shape or corrupt matrix)", a + k, idx[k]),
            ));
        }
        let val = read_range::<f32>(&self.data, a, b).map_err(|e| self.err("data", e))?;
        Ok((idx.into_iter().map(|i| i as u32).collect(), val))
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
            let (mut indices, mut values) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
            for a in (0..nnz).step_by(CHUNK) {
                cancel.check()?;
                let (i, v) = self.read_chunk(a, (a + CHUNK).min(nnz))?;
                indices.extend_from_slice(&i);
                values.extend_from_slice(&v);
                progress.update(indices.len() as u64, "");
            }
            let mut m = PeakMatrix { n_peaks: self.n_major, n_cells: self.n_minor, indptr, indices, values };
            m.sort_and_merge_rows();
            m
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
            let idx = read_range::<i64>(&self.indices, a, (a + CHUNK).min(nnz)).map_err(|e| self.err("indices", e))?;
            for (k, &i) in idx.iter().enumerate() {
                if i < 0 || i as usize >= self.n_minor {
                    return Err(self.err(
                        "indices",
                        format!("entry {} is {i}, outside 0..{} (wrong shape or corrupt matrix)", a + k, self.n_minor),
                    ));
                }
                let p = map(i as u32);
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
        let (mut indices, mut values) = (vec![0u32; kept], vec![0f32; kept]);
        // pass 2: place each entry in its peak's row; cells arrive in increasing order, so rows come out sorted
        let mut cell = 0usize;
        for a in (0..nnz).step_by(CHUNK) {
            cancel.check()?;
            let b = (a + CHUNK).min(nnz);
            let (idx, val) = self.read_chunk(a, b)?;
            for (k, (&i, &v)) in idx.iter().zip(&val).enumerate() {
                while indptr[cell + 1] as usize <= a + k {
                    cell += 1;
                }
                let p = map(i);
                if p != u32::MAX {
                    let slot = &mut next[p as usize];
                    indices[*slot as usize] = cell as u32;
                    values[*slot as usize] = v;
                    *slot += 1;
                }
            }
            progress.update((nnz + b) as u64, "");
        }
        let mut m = PeakMatrix { n_peaks, n_cells: self.n_major, indptr: counts, indices, values };
        m.sort_and_merge_rows();
        Ok(m)
    }
}
