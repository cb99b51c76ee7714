//! `PeakMatrix`: a sparse peaks × cells matrix in CSR form (one row per peak), the layout training reads: the
//! targets of a minibatch of peaks are its rows' cell indices. Memory is O(nnz); nothing here densifies it. The rows
//! are a [`CellRows`] (owned, or memory-mapped from a cell-index file for atlases); the values are stored as f32, or
//! implicit ones once binarised (4 bytes per entry in all).

use std::sync::OnceLock;

use crate::data::cell_rows::CellRows;
use crate::error::{Result, RuntimeError};

#[derive(Clone, Debug)]
pub struct PeakMatrix {
    pub n_peaks: usize,
    pub n_cells: usize,
    /// The stored cells of every peak, sorted.
    rows: CellRows,
    /// Value of each stored entry; `None`: binary (every stored entry is 1).
    values: Option<Vec<f32>>,
    /// `n_cells` ones: the values of a binary matrix's rows, made on first use.
    ones: OnceLock<Vec<f32>>,
}

impl PartialEq for PeakMatrix {
    fn eq(&self, other: &PeakMatrix) -> bool {
        self.n_peaks == other.n_peaks
            && self.rows == other.rows
            && (0..self.n_peaks).all(|p| self.row_values(p) == other.row_values(p))
    }
}

impl PeakMatrix {
    /// Builds CSR from unordered (peak, cell, value) triplets with a counting sort: O(nnz) time and memory.
    /// Duplicate coordinates are summed; explicit zeros are dropped.
    pub fn from_triplets(n_peaks: usize, n_cells: usize, rows: &[u32], cols: &[u32], vals: &[f32]) -> Result<Self> {
        assert!(rows.len() == cols.len() && cols.len() == vals.len());
        let mut counts = vec![0u64; n_peaks + 1];
        for (k, (&r, &c)) in rows.iter().zip(cols).enumerate() {
            if r as usize >= n_peaks || c as usize >= n_cells {
                return Err(RuntimeError::invalid(
                    "matrix",
                    format!("entry {k} at ({r}, {c}) is outside {n_peaks} × {n_cells}"),
                ));
            }
            counts[r as usize + 1] += 1;
        }
        for i in 0..n_peaks {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut indices = vec![0u32; rows.len()];
        let mut values = vec![0f32; rows.len()];
        for k in 0..rows.len() {
            let slot = &mut next[rows[k] as usize];
            indices[*slot as usize] = cols[k];
            values[*slot as usize] = vals[k];
            *slot += 1;
        }
        Ok(PeakMatrix::from_parts(n_peaks, n_cells, counts, indices, Some(values)))
    }

    /// From CSR parts whose rows may be unsorted, hold duplicates (summed) or zeros (dropped); `values: None` means
    /// every stored value is 1.
    pub(crate) fn from_parts(
        n_peaks: usize,
        n_cells: usize,
        indptr: Vec<u64>,
        indices: Vec<u32>,
        values: Option<Vec<f32>>,
    ) -> PeakMatrix {
        let mut m = PeakMatrix {
            n_peaks,
            n_cells,
            rows: CellRows::owned_unchecked(n_cells, indptr, indices),
            values,
            ones: OnceLock::new(),
        };
        m.sort_and_merge_rows();
        m
    }

    /// A binary matrix over checked rows (e.g. a memory-mapped cell index).
    pub fn binary(rows: CellRows) -> PeakMatrix {
        PeakMatrix { n_peaks: rows.n_peaks(), n_cells: rows.n_cells(), rows, values: None, ones: OnceLock::new() }
    }

    /// Sorts each row by cell, sums duplicates, drops zeros (a single check pass when rows are already clean). A
    /// binary matrix with duplicates gets stored values (the sums).
    fn sort_and_merge_rows(&mut self) {
        let n_peaks = self.n_peaks;
        let (indptr, indices) = self.rows.owned_parts_mut();
        let clean = (0..n_peaks).all(|r| {
            let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
            indices[a..b].windows(2).all(|w| w[0] < w[1])
        }) && self.values.as_ref().is_none_or(|v| v.iter().all(|&v| v != 0.0));
        if clean {
            return;
        }
        let values = self.values.get_or_insert_with(|| vec![1.0; indices.len()]);
        let mut out_ptr = Vec::with_capacity(n_peaks + 1);
        out_ptr.push(0u64);
        let (mut w, mut pairs) = (0usize, Vec::new());
        for r in 0..n_peaks {
            let (a, b) = (indptr[r] as usize, indptr[r + 1] as usize);
            pairs.clear();
            pairs.extend((a..b).map(|k| (indices[k], values[k])));
            pairs.sort_unstable_by_key(|p| p.0);
            let mut last: Option<u32> = None;
            for &(c, v) in &pairs {
                if last == Some(c) {
                    values[w - 1] += v;
                } else {
                    indices[w] = c;
                    values[w] = v;
                    w += 1;
                    last = Some(c);
                }
            }
            // drop entries that are (or summed to) zero
            let start = *out_ptr.last().unwrap() as usize;
            let mut keep = start;
            for k in start..w {
                if values[k] != 0.0 {
                    indices[keep] = indices[k];
                    values[keep] = values[k];
                    keep += 1;
                }
            }
            w = keep;
            out_ptr.push(w as u64);
        }
        indices.truncate(w);
        values.truncate(w);
        *indptr = out_ptr;
    }

    pub fn nnz(&self) -> usize {
        self.rows.nnz()
    }
    /// The rows (stored cells of each peak).
    pub fn rows(&self) -> &CellRows {
        &self.rows
    }
    /// Row pointers: `n_peaks + 1` offsets into [`PeakMatrix::indices`].
    pub fn indptr(&self) -> &[u64] {
        self.rows.indptr()
    }
    /// Every stored cell index, row after row.
    pub fn indices(&self) -> &[u32] {
        self.rows.indices()
    }
    /// Every stored value, row after row; `None` for a binary matrix (all ones).
    pub fn values(&self) -> Option<&[f32]> {
        self.values.as_deref()
    }
    /// Whether the values are implicit ones.
    pub fn is_binary(&self) -> bool {
        self.values.is_none()
    }
    /// Cells with a stored entry in peak `p`.
    pub fn row_indices(&self, p: usize) -> &[u32] {
        self.rows.row(p)
    }
    pub fn row_values(&self, p: usize) -> &[f32] {
        let ptr = self.rows.indptr();
        let (a, b) = (ptr[p] as usize, ptr[p + 1] as usize);
        match &self.values {
            Some(v) => &v[a..b],
            None => &self.ones.get_or_init(|| vec![1.0; self.n_cells])[..b - a],
        }
    }
    /// Number of cells in which each peak is open.
    pub fn cells_per_peak(&self) -> Vec<u32> {
        self.rows.row_lengths().map(|n| n as u32).collect()
    }
    /// Number of open peaks in each cell.
    pub fn peaks_per_cell(&self) -> Vec<u32> {
        let mut n = vec![0u32; self.n_cells];
        for &c in self.indices() {
            n[c as usize] += 1;
        }
        n
    }
    /// Sets every stored value to 1 (and stops storing them: 4 bytes per entry).
    pub fn binarize(&mut self) {
        self.values = None;
    }

    /// Keeps the peaks in `peaks` (in order) and the cells in `cells` (in order, renumbered).
    pub fn select(&self, peaks: &[usize], cells: &[usize]) -> PeakMatrix {
        let mut remap = vec![u32::MAX; self.n_cells];
        for (new, &old) in cells.iter().enumerate() {
            remap[old] = new as u32;
        }
        let mut indptr = Vec::with_capacity(peaks.len() + 1);
        indptr.push(0u64);
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        let keep_values = self.values.is_some();
        for &p in peaks {
            let mut row: Vec<(u32, f32)> = self
                .row_indices(p)
                .iter()
                .zip(self.row_values(p))
                .filter(|&(&c, _)| remap[c as usize] != u32::MAX)
                .map(|(&c, &v)| (remap[c as usize], v))
                .collect();
            row.sort_unstable_by_key(|x| x.0);
            indices.extend(row.iter().map(|x| x.0));
            if keep_values {
                values.extend(row.iter().map(|x| x.1));
            }
            indptr.push(indices.len() as u64);
        }
        PeakMatrix {
            n_peaks: peaks.len(),
            n_cells: cells.len(),
            rows: CellRows::owned_unchecked(cells.len(), indptr, indices),
            values: keep_values.then_some(values),
            ones: OnceLock::new(),
        }
    }

    /// Number of kept cells in which each peak is open (`keep[c]`), without building the subset.
    fn cells_per_peak_among(&self, keep: &[bool]) -> Vec<u32> {
        (0..self.n_peaks).map(|p| self.row_indices(p).iter().filter(|&&c| keep[c as usize]).count() as u32).collect()
    }
}

/// Which peaks and cells pass the usual filters.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterSpec {
    /// Keep peaks open in more than `floor(min_cell_fraction · n_cells)` cells (the scBasset notebook's rule; 0.05).
    pub min_cell_fraction: Option<f64>,
    /// Or: keep peaks open in at least this many cells.
    pub min_cells: Option<u32>,
    /// Keep cells with at least this many open peaks (counted before peak filtering).
    pub min_peaks_per_cell: u32,
}

impl FilterSpec {
    /// (kept peaks, kept cells) for a matrix; `peak_ok` pre-selects peaks (e.g. the chromosome allow-list).
    pub fn apply(&self, m: &PeakMatrix, peak_ok: impl Fn(usize) -> bool) -> (Vec<usize>, Vec<usize>) {
        let cells: Vec<usize> = m
            .peaks_per_cell()
            .iter()
            .enumerate()
            .filter(|(_, &n)| n >= self.min_peaks_per_cell)
            .map(|(i, _)| i)
            .collect();
        let n_cells = cells.len() as f64;
        let counts = if cells.len() == m.n_cells {
            m.cells_per_peak()
        } else {
            let mut keep = vec![false; m.n_cells];
            cells.iter().for_each(|&c| keep[c] = true);
            m.cells_per_peak_among(&keep)
        };
        let peaks = (0..m.n_peaks)
            .filter(|&p| peak_ok(p))
            .filter(|&p| match (self.min_cell_fraction, self.min_cells) {
                (Some(f), _) => counts[p] as f64 > (f * n_cells).floor(),
                (None, Some(k)) => counts[p] >= k,
                (None, None) => true,
            })
            .collect();
        (peaks, cells)
    }
}

/// The default chromosome allow-list: autosomes 1–22 (and beyond, for other species) plus X and Y, with or without
/// a `chr` prefix. Contigs, chrM and alternative haplotypes are excluded.
pub fn is_standard_chromosome(chrom: &str) -> bool {
    let c = chrom.strip_prefix("chr").unwrap_or(chrom);
    c == "X" || c == "Y" || (!c.is_empty() && c.len() <= 2 && c.bytes().all(|b| b.is_ascii_digit()) && c != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> PeakMatrix {
        // 3 peaks × 4 cells, unordered triplets with a duplicate and an explicit zero
        PeakMatrix::from_triplets(3, 4, &[2, 0, 0, 1, 2, 0, 1], &[3, 1, 0, 2, 0, 1, 3], &[1., 2., 1., 5., 0., 1., 0.])
            .unwrap()
    }

    #[test]
    fn builds_sorted_merged_csr_without_zeros() {
        let m = small();
        assert_eq!(m.indptr(), &[0, 2, 3, 4]);
        assert_eq!(m.row_indices(0), &[0, 1]);
        assert_eq!(m.row_values(0), &[1., 3.]); // duplicate (0,1) summed
        assert_eq!(m.row_indices(1), &[2]);
        assert_eq!(m.row_indices(2), &[3]); // explicit zero at (2,0) dropped
        assert_eq!(m.cells_per_peak(), vec![2, 1, 1]);
        assert_eq!(m.peaks_per_cell(), vec![1, 1, 1, 1]);
        assert!(PeakMatrix::from_triplets(2, 2, &[2], &[0], &[1.]).unwrap_err().to_string().contains("outside 2 × 2"));
    }

    #[test]
    fn binary_parts_stay_binary_unless_duplicates_sum() {
        let m = PeakMatrix::from_parts(2, 3, vec![0, 2, 3], vec![0, 2, 1], None);
        assert!(m.is_binary());
        assert_eq!((m.row_values(0), m.row_values(1)), (&[1f32, 1.][..], &[1f32][..]));
        let d = PeakMatrix::from_parts(2, 3, vec![0, 2, 3], vec![2, 2, 1], None);
        assert_eq!((d.row_indices(0), d.row_values(0)), (&[2u32][..], &[2f32][..]));
        let mut b = small();
        b.binarize();
        assert!(b.is_binary() && b.values().is_none());
        assert_eq!(b.row_values(0), &[1., 1.]);
        assert_eq!(b.select(&[0], &[1, 0]).row_values(0), &[1., 1.]);
    }

    #[test]
    fn selects_and_filters() {
        let m = small();
        let s = m.select(&[2, 0], &[3, 1]);
        assert_eq!((s.n_peaks, s.n_cells), (2, 2));
        assert_eq!(s.row_indices(0), &[0]); // peak 2 had cell 3 → new cell 0
        assert_eq!(s.row_indices(1), &[1]); // peak 0 had cell 1 → new cell 1 (cell 0 dropped)
        let f = FilterSpec { min_cell_fraction: Some(0.3), min_cells: None, min_peaks_per_cell: 0 };
        // floor(0.3·4) = 1: keep peaks open in more than 1 cell
        assert_eq!(f.apply(&m, |_| true), (vec![0], vec![0, 1, 2, 3]));
        let f = FilterSpec { min_cell_fraction: None, min_cells: Some(1), min_peaks_per_cell: 1 };
        assert_eq!(f.apply(&m, |p| p != 1).0, vec![0, 2]);
    }

    #[test]
    fn standard_chromosomes() {
        for c in ["chr1", "chr22", "chrX", "chrY", "7", "X"] {
            assert!(is_standard_chromosome(c), "{c}");
        }
        for c in ["chrM", "chrUn_gl000220", "chr1_KI270706v1_random", "GL000194.1", "chr0", "chr"] {
            assert!(!is_standard_chromosome(c), "{c}");
        }
    }
}
