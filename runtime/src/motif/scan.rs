//! FIMO-style motif scanning with exact p-values ([`Pssm`], [`scan`]) and
//! motif-weighted ISM scores ([`pwm_ism_score`]).
//!
//! # Scores
//! A window's score is the sum of the motif's log-odds values in **bits**
//! (`log2(p' / bg)`, see [`Motif::log_odds`]) over its positions.
//!
//! # P-values
//! As in FIMO, the p-value comes from a discretised score: every log-odds
//! cell `x` is mapped to the integer `round((x - offset) * scale)` with
//! `offset` the smallest cell of the matrix and
//! `scale = SCORE_RANGE / (largest cell - smallest cell)`, so each cell lies
//! in `0..=1000` (the same scale for every position). The distribution of
//! the integer window score under the background (positions independent,
//! base `b` with probability `bg[b]`) is computed exactly by dynamic
//! programming over the positions, and the p-value of a window is
//! `P(S >= s)` for its integer score `s`. The p-value is therefore exact for
//! the discretised matrix; relative to the continuous score it differs only
//! through the rounding of each cell (at most `0.5 / scale` bits per
//! position).
//!
//! The null model is that the motif-oriented strand is i.i.d. from the
//! background; for a strand-symmetric background (A = T, C = G, such as the
//! uniform one in JASPAR files) this is the same as an i.i.d. forward
//! sequence, so both strands share one distribution.
//!
//! Cells that are `-inf` (a zero probability with pseudocount 0) make a
//! window impossible: its score is `-inf` and its p-value 1.
//!
//! # Sequences
//! `A`, `C`, `G`, `T` in either case are scored; a window containing any
//! other byte (`N`, IUPAC codes, gaps) is skipped entirely.

use crate::motif::error::MotifError;
use crate::motif::motif::{base_index, Motif};

/// Number of integer bins spanned by the range of the log-odds matrix
/// (largest cell minus smallest cell).
pub const SCORE_RANGE: f64 = 1000.0;

/// Pseudocount used by [`scan`]: the fraction of probability mass mixed in
/// from the background before taking logs (see [`Motif::log_odds`]).
pub const DEFAULT_PSEUDOCOUNT: f64 = 0.01;

/// DNA strand of a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strand {
    /// The given sequence (`+`).
    Forward,
    /// Its reverse complement (`-`).
    Reverse,
}

impl Strand {
    /// `'+'` or `'-'`.
    pub fn as_char(self) -> char {
        match self {
            Strand::Forward => '+',
            Strand::Reverse => '-',
        }
    }
}

impl std::fmt::Display for Strand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// One motif occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// 0-based start on the forward sequence (also for `-` hits).
    pub start: usize,
    /// Exclusive end on the forward sequence (`start + width`).
    pub end: usize,
    /// Strand the motif was read on.
    pub strand: Strand,
    /// Log-odds score in bits.
    pub score: f64,
    /// `P(S >= score)` under the background, from the discretised matrix.
    pub p_value: f64,
    /// The matched bases in motif orientation, upper-case: the window for
    /// `+`, its reverse complement for `-`.
    pub matched: String,
}

/// A motif prepared for scanning: log-odds matrix, its integer version and
/// the exact distribution of the integer score.
#[derive(Debug, Clone)]
pub struct Pssm {
    log_odds: Vec<[f64; 4]>,
    /// `None` marks an impossible (`-inf`) cell.
    scaled: Vec<[Option<u32>; 4]>,
    scale: f64,
    offset: f64,
    /// `pmf[s]` = P(integer score = s); excludes impossible sequences.
    pmf: Vec<f64>,
    /// `tail[s]` = P(integer score >= s); one extra 0 at the end.
    tail: Vec<f64>,
}

impl Pssm {
    /// Prepares `motif` for scanning with the given pseudocount (a fraction
    /// of probability mass, see [`Motif::log_odds`]). Fails if the motif is
    /// invalid ([`Motif::validate`]) or the pseudocount is negative or not
    /// finite.
    ///
    /// Cost: `O(width^2 * SCORE_RANGE)` time for the score distribution.
    pub fn new(motif: &Motif, pseudocount: f64) -> Result<Pssm, MotifError> {
        motif.validate()?;
        if !pseudocount.is_finite() || pseudocount < 0.0 {
            return Err(MotifError::Invalid {
                id: motif.id.clone(),
                reason: format!("pseudocount {pseudocount} must be finite and >= 0"),
            });
        }
        let log_odds = motif.log_odds(pseudocount);
        let finite = log_odds.iter().flatten().copied().filter(|v| v.is_finite());
        let (min, max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (offset, scale) = if max > min {
            (min, SCORE_RANGE / (max - min))
        } else if min.is_finite() {
            (min, 1.0)
        } else {
            (0.0, 1.0) // every cell impossible; cannot happen for a valid motif
        };
        let scaled: Vec<[Option<u32>; 4]> = log_odds
            .iter()
            .map(|row| row.map(|v| v.is_finite().then(|| ((v - offset) * scale).round() as u32)))
            .collect();
        let pmf = score_distribution(&scaled, &motif.background);
        let mut tail = vec![0.0; pmf.len() + 1];
        for s in (0..pmf.len()).rev() {
            tail[s] = tail[s + 1] + pmf[s];
        }
        Ok(Pssm { log_odds, scaled, scale, offset, pmf, tail })
    }

    /// Motif width.
    pub fn width(&self) -> usize {
        self.log_odds.len()
    }

    /// The log-odds matrix in bits (rows = positions, columns = A, C, G, T).
    pub fn log_odds(&self) -> &[[f64; 4]] {
        &self.log_odds
    }

    /// Integer bins per bit: `SCORE_RANGE / (largest cell - smallest cell)`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The smallest finite log-odds cell, subtracted before scaling.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// The exact distribution of the integer score under the background:
    /// element `s` is `P(S = s)` for `s` in `0..=maximum`. Windows made
    /// impossible by `-inf` cells are not included, so it sums to 1 minus
    /// their probability (to 1 whenever the pseudocount is positive).
    pub fn distribution(&self) -> &[f64] {
        &self.pmf
    }

    /// P-value of an integer (discretised) score: `P(S >= scaled_score)`.
    /// Scores above the maximum give 0.
    pub fn p_value(&self, scaled_score: usize) -> f64 {
        self.tail.get(scaled_score).copied().unwrap_or(0.0)
    }

    /// Integer score of motif-oriented base codes (0..4), `None` when a
    /// cell is impossible.
    fn scaled_score(&self, codes: impl Iterator<Item = usize>) -> Option<usize> {
        let mut s = 0usize;
        for (row, c) in self.scaled.iter().zip(codes) {
            s += row[c]? as usize;
        }
        Some(s)
    }

    fn raw_score(&self, codes: impl Iterator<Item = usize>) -> f64 {
        self.log_odds.iter().zip(codes).map(|(row, c)| row[c]).sum()
    }

    /// Score (bits) and p-value of one window read on `strand`. `None` if
    /// `window.len() != width` or it contains a non-ACGT byte.
    pub fn score(&self, window: &[u8], strand: Strand) -> Option<(f64, f64)> {
        if window.len() != self.width() {
            return None;
        }
        let codes: Vec<usize> = window.iter().map(|&b| base_index(b)).collect::<Option<_>>()?;
        Some(self.score_codes(&codes, strand))
    }

    fn score_codes(&self, codes: &[usize], strand: Strand) -> (f64, f64) {
        let (raw, scaled) = match strand {
            Strand::Forward => (self.raw_score(codes.iter().copied()), self.scaled_score(codes.iter().copied())),
            Strand::Reverse => {
                let rc = || codes.iter().rev().map(|&c| 3 - c);
                (self.raw_score(rc()), self.scaled_score(rc()))
            }
        };
        match scaled {
            Some(s) => (raw, self.p_value(s)),
            None => (f64::NEG_INFINITY, 1.0),
        }
    }

    /// All windows of `seq`, on both strands, with `p_value <= threshold_p`,
    /// ordered by start then strand (`+` first). Windows with a non-ACGT
    /// byte are skipped.
    pub fn scan(&self, seq: &[u8], threshold_p: f64) -> Vec<Hit> {
        let w = self.width();
        let mut hits = Vec::new();
        if seq.len() < w {
            return hits;
        }
        let codes: Vec<Option<usize>> = seq.iter().map(|&b| base_index(b)).collect();
        // Index of the next non-ACGT byte at or after each position.
        let mut next_bad = vec![seq.len(); seq.len() + 1];
        for i in (0..seq.len()).rev() {
            next_bad[i] = if codes[i].is_none() { i } else { next_bad[i + 1] };
        }
        let mut window = vec![0usize; w];
        for start in 0..=seq.len() - w {
            if next_bad[start] < start + w {
                continue;
            }
            for (k, slot) in window.iter_mut().enumerate() {
                *slot = codes[start + k].unwrap_or(0);
            }
            for strand in [Strand::Forward, Strand::Reverse] {
                let (score, p_value) = self.score_codes(&window, strand);
                if p_value <= threshold_p {
                    hits.push(Hit {
                        start,
                        end: start + w,
                        strand,
                        score,
                        p_value,
                        matched: matched_string(&seq[start..start + w], strand),
                    });
                }
            }
        }
        hits
    }
}

/// Exact distribution of the integer score: `pmf[s]` for s in
/// `0..=sum of row maxima`, by convolving one position at a time.
fn score_distribution(scaled: &[[Option<u32>; 4]], bg: &[f64; 4]) -> Vec<f64> {
    let max_total: usize = scaled.iter().map(|row| row.iter().flatten().copied().max().unwrap_or(0) as usize).sum();
    let mut dist = vec![0.0; max_total + 1];
    let mut next = vec![0.0; max_total + 1];
    dist[0] = 1.0;
    let mut reach = 0usize; // highest index with possible mass
    for row in scaled {
        let row_max = row.iter().flatten().copied().max().unwrap_or(0) as usize;
        next[..=reach + row_max].iter_mut().for_each(|v| *v = 0.0);
        for (b, cell) in row.iter().enumerate() {
            let Some(v) = cell else { continue };
            let v = *v as usize;
            for s in 0..=reach {
                next[s + v] += dist[s] * bg[b];
            }
        }
        reach += row_max;
        std::mem::swap(&mut dist, &mut next);
    }
    dist
}

fn matched_string(window: &[u8], strand: Strand) -> String {
    let up = |b: u8| b.to_ascii_uppercase() as char;
    match strand {
        Strand::Forward => window.iter().map(|&b| up(b)).collect(),
        Strand::Reverse => window
            .iter()
            .rev()
            .map(|&b| match b.to_ascii_uppercase() {
                b'A' => 'T',
                b'C' => 'G',
                b'G' => 'C',
                b'T' => 'A',
                other => other as char,
            })
            .collect(),
    }
}

/// Scans `seq` for `motif` on both strands with [`DEFAULT_PSEUDOCOUNT`],
/// returning hits with `p_value <= threshold_p` (see [`Pssm::scan`]).
/// Build a [`Pssm`] once instead when scanning many sequences.
pub fn scan(seq: &[u8], motif: &Motif, threshold_p: f64) -> Result<Vec<Hit>, MotifError> {
    Ok(Pssm::new(motif, DEFAULT_PSEUDOCOUNT)?.scan(seq, threshold_p))
}

/// Dot product of a motif matrix (a PPM or a log-odds PWM, rows =
/// positions, columns = A, C, G, T) with the ISM scores
/// `ism[start..start + width]` (one row per sequence position, columns
/// A, C, G, T, expected to be mean-centred per position by the caller).
/// For a `-` hit the matrix is reverse-complemented first, so it lines up
/// with the forward-strand ISM. `None` when the matrix is empty or the slice
/// runs past the end of `ism`.
pub fn pwm_ism_score(matrix: &[[f64; 4]], ism: &[[f32; 4]], start: usize, strand: Strand) -> Option<f64> {
    let w = matrix.len();
    if w == 0 || start.checked_add(w)? > ism.len() {
        return None;
    }
    let slice = &ism[start..start + w];
    let mut total = 0.0;
    for (i, row) in slice.iter().enumerate() {
        for b in 0..4 {
            let m = match strand {
                Strand::Forward => matrix[i][b],
                Strand::Reverse => matrix[w - 1 - i][3 - b],
            };
            total += m * f64::from(row[b]);
        }
    }
    Some(total)
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
