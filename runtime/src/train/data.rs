//! The minimal view of a training set the scBasset trainer reads: base codes of every peak, and for every peak the
//! cells in which it is accessible (a CSR row's column indices). Nothing dense over peaks × cells is ever built.

use super::error::TrainError;
use crate::data::CellRows;

/// Borrowed training data. Peaks are rows: peak `p`'s sequence is `codes[p·seq_len .. (p+1)·seq_len]` and its
/// positive cells are `positives[p]`.
#[derive(Clone, Copy, Debug)]
pub struct TrainData<'a> {
    /// `n_peaks × seq_len` base codes, row-major, A=0, C=1, G=2, T=3.
    pub codes: &'a [u8],
    /// Sequence length of every peak (must equal the model's `seq_len`).
    pub seq_len: usize,
    /// Number of cells (must equal the model's `n_cells`).
    pub n_cells: usize,
    /// For each peak, the strictly increasing cell indices with a stored entry (checked when the rows were built);
    /// `positives.len()` is the number of peaks.
    pub positives: &'a CellRows,
    /// Training peaks (indices into the peak rows).
    pub train: &'a [usize],
    /// Validation peaks; may be empty, in which case the validation metrics are `None`.
    pub val: &'a [usize],
}

impl TrainData<'_> {
    /// Number of peaks (rows).
    pub fn n_peaks(&self) -> usize {
        self.positives.len()
    }

    /// Base codes of peak `p`.
    pub fn peak_codes(&self, p: usize) -> &[u8] {
        &self.codes[p * self.seq_len..(p + 1) * self.seq_len]
    }

    /// Checks the data against the model's `seq_len` and `n_cells`: shapes, index ranges and codes in 0..4 for every
    /// peak of the train and validation sets (the rows' order and range are checked by [`CellRows`] itself). Errors name both numbers of a mismatch.
    pub fn validate(&self, model_seq_len: usize, model_n_cells: usize) -> Result<(), TrainError> {
        let bad = |message: String| Err(TrainError::InvalidData(message));
        if self.seq_len != model_seq_len {
            return bad(format!(
                "sequence length mismatch: the data has seq_len = {} but the model was built for seq_len = {}",
                self.seq_len, model_seq_len
            ));
        }
        if self.n_cells != model_n_cells {
            return bad(format!(
                "cell count mismatch: the data has n_cells = {} but the model was built for n_cells = {}",
                self.n_cells, model_n_cells
            ));
        }
        if self.positives.n_cells() != self.n_cells {
            return bad(format!(
                "cell count mismatch: the positives index {} cells but the data says n_cells = {}",
                self.positives.n_cells(),
                self.n_cells
            ));
        }
        let n_peaks = self.n_peaks();
        if self.codes.len() != n_peaks * self.seq_len {
            return bad(format!(
                "codes hold {} bases, expected n_peaks · seq_len = {} · {} = {}",
                self.codes.len(),
                n_peaks,
                self.seq_len,
                n_peaks * self.seq_len
            ));
        }
        if self.train.is_empty() {
            return bad("the training set is empty".into());
        }
        if self.train.len() < 2 {
            return bad("the training set has a single peak; batch normalisation needs at least 2".into());
        }
        for (name, set) in [("train", self.train), ("val", self.val)] {
            for &p in set {
                if p >= n_peaks {
                    return bad(format!("{name} peak index {p} is out of range (n_peaks = {n_peaks})"));
                }
                if let Some(pos) = self.peak_codes(p).iter().position(|&b| b > 3) {
                    return bad(format!(
                        "peak {p} has base code {} at position {pos}; codes must be 0..=3 (A, C, G, T)",
                        self.peak_codes(p)[pos]
                    ));
                }
            }
        }
        Ok(())
    }
}
