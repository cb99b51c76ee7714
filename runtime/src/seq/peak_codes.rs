//! `SeqCodes`: the model input windows of a peak set as byte codes, one row of `length` bytes per peak — the only
//! form in which training sequences live in host memory (1 byte per base; one-hot exists per minibatch on the device).

use crate::data::PeakSet;
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, Progress};
use crate::seq::codes::{encode_into, NResolver};
use crate::seq::Genome;

/// `n × length` codes, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct SeqCodes {
    pub length: usize,
    pub codes: Vec<u8>,
}

impl SeqCodes {
    pub fn len(&self) -> usize {
        self.codes.len().checked_div(self.length).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
    pub fn row(&self, i: usize) -> &[u8] {
        &self.codes[i * self.length..(i + 1) * self.length]
    }
    /// Rows `idx` concatenated (a minibatch).
    pub fn gather(&self, idx: &[usize], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(idx.len() * self.length);
        for &i in idx {
            out.extend_from_slice(self.row(i));
        }
    }
    /// Builds from sequences of equal length (non-ACGT drawn from a seeded RNG).
    pub fn from_sequences(seqs: &[impl AsRef<[u8]>], seed: u64) -> Result<SeqCodes> {
        let length = seqs.first().map_or(0, |s| s.as_ref().len());
        let mut resolver = NResolver::new(seed);
        let (mut codes, mut row) = (Vec::with_capacity(seqs.len() * length), Vec::new());
        for (i, s) in seqs.iter().enumerate() {
            if s.as_ref().len() != length {
                return Err(RuntimeError::invalid(
                    "sequences",
                    format!(
                        "sequence {i} has {} bases but the first has {length}: all must have the same length",
                        s.as_ref().len()
                    ),
                ));
            }
            encode_into(s.as_ref(), &mut resolver, &mut row);
            codes.extend_from_slice(&row);
        }
        Ok(SeqCodes { length, codes })
    }
}

/// Extracts every peak's window (Keras rule: centre (start+end)//2, `length` bp, N-padded) and encodes it; non-ACGT
/// bases are resolved by one RNG seeded with `seed`, in peak order.
pub fn peak_codes(
    genome: &Genome,
    peaks: &PeakSet,
    length: u64,
    seed: u64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<SeqCodes> {
    let mut resolver = NResolver::new(seed);
    let mut codes = Vec::with_capacity(peaks.len() * length as usize);
    let mut row = Vec::with_capacity(length as usize);
    progress.start("extracting peak sequences", Some(peaks.len() as u64));
    for i in 0..peaks.len() {
        if i % 4096 == 0 {
            cancel.check()?;
            progress.update(i as u64, "");
        }
        let seq = genome.peak_window(&peaks.region(i), length)?;
        encode_into(&seq, &mut resolver, &mut row);
        codes.extend_from_slice(&row);
    }
    progress.update(peaks.len() as u64, "");
    progress.finish(&format!("{} sequences of {length} bp", peaks.len()));
    Ok(SeqCodes { length: length as usize, codes })
}
