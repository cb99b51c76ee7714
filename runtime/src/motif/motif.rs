//! Position probability matrices ([`Motif`]) and collections of them
//! ([`MotifSet`]).
//!
//! Bases are always in the order A, C, G, T (index 0..4), matching
//! [`ALPHABET`]. All log-odds values produced here are in **bits**
//! (`log2(p / background)`).

use rand::{Rng, RngExt};

use crate::motif::error::{MotifError, ROW_SUM_TOLERANCE};

/// The DNA alphabet, in matrix column order.
pub const ALPHABET: [u8; 4] = *b"ACGT";

/// Uniform background frequencies (0.25 each).
pub const UNIFORM_BACKGROUND: [f64; 4] = [0.25; 4];

/// Tolerance used by [`Motif::validate`] on rows that should already be
/// normalised (a motif built by this crate is normalised to within rounding).
const NORMALISED_TOLERANCE: f64 = 1e-6;

/// Column index (A=0, C=1, G=2, T=3) of a base; lower-case is accepted.
/// Returns `None` for anything else (N, gaps, IUPAC codes...).
pub fn base_index(base: u8) -> Option<usize> {
    match base {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' => Some(3),
        _ => None,
    }
}

/// One motif: a position probability matrix over A, C, G, T.
#[derive(Debug, Clone, PartialEq)]
pub struct Motif {
    /// Identifier, e.g. `MA0004.1`. Never empty for a valid motif.
    pub id: String,
    /// Human-readable name, e.g. `Arnt`; empty when the source has none.
    pub name: String,
    /// One row per position, columns A, C, G, T; each row sums to 1.
    pub ppm: Vec<[f64; 4]>,
    /// Background letter frequencies (A, C, G, T), all > 0, summing to 1.
    pub background: [f64; 4],
    /// Number of sites the matrix was built from, when known.
    pub n_sites: Option<f64>,
}

fn invalid(id: &str, reason: impl Into<String>) -> MotifError {
    MotifError::Invalid { id: id.to_string(), reason: reason.into() }
}

/// Checks and renormalises a background; `tolerance` bounds `|sum - 1|`.
fn checked_background(id: &str, bg: [f64; 4], tolerance: f64) -> Result<[f64; 4], MotifError> {
    if bg.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(invalid(id, format!("background {bg:?} must be finite and > 0")));
    }
    let sum: f64 = bg.iter().sum();
    if (sum - 1.0).abs() > tolerance {
        return Err(invalid(id, format!("background sums to {sum}, expected 1")));
    }
    Ok(bg.map(|v| v / sum))
}

impl Motif {
    /// Builds a motif from a probability matrix.
    ///
    /// Every row must contain finite, non-negative values summing to 1
    /// within [`ROW_SUM_TOLERANCE`] (0.01); rows are renormalised to sum to
    /// exactly 1 (up to rounding). The background must be finite, strictly
    /// positive and sum to 1 within the same tolerance. The id must not be
    /// empty and the matrix must have at least one row. `n_sites` is `None`.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        ppm: Vec<[f64; 4]>,
        background: [f64; 4],
    ) -> Result<Motif, MotifError> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(invalid(&id, "empty motif id"));
        }
        if ppm.is_empty() {
            return Err(invalid(&id, "motif has width 0"));
        }
        let background = checked_background(&id, background, ROW_SUM_TOLERANCE)?;
        let mut rows = Vec::with_capacity(ppm.len());
        for (i, row) in ppm.iter().enumerate() {
            if row.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(invalid(&id, format!("position {}: {row:?} has a negative or non-finite value", i + 1)));
            }
            let sum: f64 = row.iter().sum();
            if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
                return Err(invalid(&id, format!("position {}: row sums to {sum}, expected 1", i + 1)));
            }
            rows.push(row.map(|v| v / sum));
        }
        Ok(Motif { id, name: name.into(), ppm: rows, background, n_sites: None })
    }

    /// Builds a motif from a count matrix (PFM), one row per position.
    ///
    /// Each position's probabilities are
    /// `p_b = (c_b + pseudocount * bg_b) / (n + pseudocount)` where `n` is
    /// the position's total count, i.e. `pseudocount` is a total number of
    /// pseudo-sites spread over the bases in proportion to the background.
    /// A position whose counts are all zero (with `pseudocount == 0`)
    /// becomes the background distribution. `n_sites` is set to the largest
    /// position total. Counts must be finite and non-negative; the
    /// pseudocount must be finite and non-negative.
    pub fn from_counts(
        id: impl Into<String>,
        name: impl Into<String>,
        counts: &[[f64; 4]],
        pseudocount: f64,
        background: [f64; 4],
    ) -> Result<Motif, MotifError> {
        let id = id.into();
        if !pseudocount.is_finite() || pseudocount < 0.0 {
            return Err(invalid(&id, format!("pseudocount {pseudocount} must be finite and >= 0")));
        }
        let bg = checked_background(&id, background, ROW_SUM_TOLERANCE)?;
        let mut ppm = Vec::with_capacity(counts.len());
        let mut max_total: f64 = 0.0;
        for (i, row) in counts.iter().enumerate() {
            if row.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(invalid(&id, format!("position {}: counts {row:?} must be finite and >= 0", i + 1)));
            }
            let n: f64 = row.iter().sum();
            max_total = max_total.max(n);
            let denom = n + pseudocount;
            if denom > 0.0 {
                ppm.push([0, 1, 2, 3].map(|b| (row[b] + pseudocount * bg[b]) / denom));
            } else {
                ppm.push(bg);
            }
        }
        let mut motif = Motif::new(id, name, ppm, bg)?;
        motif.n_sites = Some(max_total);
        Ok(motif)
    }

    /// Checks the invariants documented on the fields: non-empty id, width
    /// at least 1, finite non-negative rows summing to 1 (within 1e-6), a
    /// finite strictly positive background summing to 1 (within 1e-6), and
    /// a finite non-negative `n_sites` when present.
    pub fn validate(&self) -> Result<(), MotifError> {
        if self.id.trim().is_empty() {
            return Err(invalid(&self.id, "empty motif id"));
        }
        if self.ppm.is_empty() {
            return Err(invalid(&self.id, "motif has width 0"));
        }
        checked_background(&self.id, self.background, NORMALISED_TOLERANCE)?;
        for (i, row) in self.ppm.iter().enumerate() {
            let sum: f64 = row.iter().sum();
            if row.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > NORMALISED_TOLERANCE {
                return Err(invalid(&self.id, format!("position {}: {row:?} is not a probability row", i + 1)));
            }
        }
        if let Some(n) = self.n_sites {
            if !n.is_finite() || n < 0.0 {
                return Err(invalid(&self.id, format!("n_sites {n} must be finite and >= 0")));
            }
        }
        Ok(())
    }

    /// Number of positions.
    pub fn width(&self) -> usize {
        self.ppm.len()
    }

    /// Consensus sequence: the most probable base at each position (the
    /// first of A, C, G, T on ties). No IUPAC ambiguity codes are used.
    pub fn consensus(&self) -> String {
        self.ppm
            .iter()
            .map(|row| {
                let mut best = 0;
                for b in 1..4 {
                    if row[b] > row[best] {
                        best = b;
                    }
                }
                ALPHABET[best] as char
            })
            .collect()
    }

    /// The motif of the opposite strand: positions reversed and bases
    /// complemented (A<->T, C<->G). The background is complemented too, so
    /// that scoring a sequence with the result equals scoring its reverse
    /// complement with `self`. Id, name and `n_sites` are kept.
    pub fn reverse_complement(&self) -> Motif {
        Motif {
            id: self.id.clone(),
            name: self.name.clone(),
            ppm: self.ppm.iter().rev().map(|r| [r[3], r[2], r[1], r[0]]).collect(),
            background: [self.background[3], self.background[2], self.background[1], self.background[0]],
            n_sites: self.n_sites,
        }
    }

    /// Log-odds position weight matrix in bits: `log2(p' / bg)` with
    /// `p' = (p + pseudocount * bg) / (1 + pseudocount)`.
    ///
    /// `pseudocount` is a fraction of probability mass (not a number of
    /// sites) mixed in from the background; `0.0` leaves the matrix as is
    /// and gives `-inf` for zero probabilities. To mimic FIMO's
    /// `--motif-pseudo c` on a motif with `n` sites use `c / n`.
    ///
    /// # Panics
    /// If `pseudocount` is negative or not finite.
    pub fn log_odds(&self, pseudocount: f64) -> Vec<[f64; 4]> {
        assert!(
            pseudocount.is_finite() && pseudocount >= 0.0,
            "pseudocount must be finite and >= 0, got {pseudocount}"
        );
        let bg = self.background;
        self.ppm
            .iter()
            .map(|row| [0, 1, 2, 3].map(|b| ((row[b] + pseudocount * bg[b]) / (1.0 + pseudocount) / bg[b]).log2()))
            .collect()
    }

    /// Draws one sequence of length [`width`](Self::width), each position
    /// independently from its row of the PPM. Bases are upper-case
    /// `b'A'`, `b'C'`, `b'G'`, `b'T'`; a base with probability 0 is never
    /// drawn.
    pub fn sample_sequence<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<u8> {
        self.ppm
            .iter()
            .map(|row| {
                let u: f64 = rng.random::<f64>() * row.iter().sum::<f64>();
                let mut cumulative = 0.0;
                let mut last_nonzero = 0;
                for b in 0..4 {
                    if row[b] > 0.0 {
                        last_nonzero = b;
                        cumulative += row[b];
                        if u < cumulative {
                            return ALPHABET[b];
                        }
                    }
                }
                // Only reachable through rounding in the cumulative sum.
                ALPHABET[last_nonzero]
            })
            .collect()
    }
}

/// An ordered collection of motifs read from one source. Duplicate ids are
/// allowed and kept in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MotifSet {
    /// The motifs, in source order.
    pub motifs: Vec<Motif>,
    /// Where they came from: a file path, or `<string>`.
    pub source: String,
}

impl MotifSet {
    /// An empty set with the given source name.
    pub fn new(source: impl Into<String>) -> MotifSet {
        MotifSet { motifs: Vec::new(), source: source.into() }
    }

    /// Number of motifs.
    pub fn len(&self) -> usize {
        self.motifs.len()
    }

    /// True when the set holds no motif.
    pub fn is_empty(&self) -> bool {
        self.motifs.is_empty()
    }

    /// Iterates over the motifs in source order.
    pub fn iter(&self) -> std::slice::Iter<'_, Motif> {
        self.motifs.iter()
    }

    /// Finds a motif by id or name, ignoring ASCII case. Ids are searched
    /// first (so `MA0004.1` never resolves to a motif *named* `MA0004.1`
    /// when one has that id), then names; within each, the first match in
    /// source order wins. Empty names never match.
    pub fn get(&self, key: &str) -> Option<&Motif> {
        let key = key.trim();
        if key.is_empty() {
            return None;
        }
        self.motifs
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(key))
            .or_else(|| self.motifs.iter().find(|m| !m.name.is_empty() && m.name.eq_ignore_ascii_case(key)))
    }
}

impl<'a> IntoIterator for &'a MotifSet {
    type Item = &'a Motif;
    type IntoIter = std::slice::Iter<'a, Motif>;
    fn into_iter(self) -> Self::IntoIter {
        self.motifs.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn toy() -> Motif {
        Motif::new(
            "M1",
            "Toy",
            vec![[0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 1.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]],
            UNIFORM_BACKGROUND,
        )
        .unwrap()
    }

    #[test]
    fn base_index_maps_acgt_case_insensitively() {
        assert_eq!(base_index(b'A'), Some(0));
        assert_eq!(base_index(b'c'), Some(1));
        assert_eq!(base_index(b'G'), Some(2));
        assert_eq!(base_index(b't'), Some(3));
        assert_eq!(base_index(b'N'), None);
        assert_eq!(base_index(b'-'), None);
    }

    #[test]
    fn width_and_consensus() {
        let m = toy();
        assert_eq!(m.width(), 4);
        // Position 3 is a four-way tie: the first base (A) wins.
        assert_eq!(m.consensus(), "AGAT");
    }

    #[test]
    fn new_renormalises_and_rejects_bad_rows() {
        let m = Motif::new("x", "", vec![[0.5, 0.5, 0.004, 0.0]], UNIFORM_BACKGROUND).unwrap();
        let s: f64 = m.ppm[0].iter().sum();
        assert!((s - 1.0).abs() < 1e-15);
        assert!((m.ppm[0][0] - 0.5 / 1.004).abs() < 1e-15);
        assert!(Motif::new("x", "", vec![[0.5, 0.5, 0.5, 0.0]], UNIFORM_BACKGROUND).is_err());
        assert!(Motif::new("x", "", vec![[1.1, -0.1, 0.0, 0.0]], UNIFORM_BACKGROUND).is_err());
        assert!(Motif::new("x", "", vec![[f64::NAN, 0.5, 0.5, 0.0]], UNIFORM_BACKGROUND).is_err());
        assert!(Motif::new("x", "", vec![], UNIFORM_BACKGROUND).is_err());
        assert!(Motif::new(" ", "", vec![[0.25; 4]], UNIFORM_BACKGROUND).is_err());
        assert!(Motif::new("x", "", vec![[0.25; 4]], [0.5, 0.5, 0.0, 0.0]).is_err());
        let err = Motif::new("bad", "", vec![[0.25; 4], [0.9, 0.9, 0.0, 0.0]], UNIFORM_BACKGROUND).unwrap_err();
        assert!(err.to_string().contains("motif `bad`: position 2"), "{err}");
    }

    #[test]
    fn reverse_complement_reverses_and_complements() {
        let m = toy();
        let rc = m.reverse_complement();
        assert_eq!(rc.width(), 4);
        let close = |a: [f64; 4], b: [f64; 4]| a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-15);
        assert!(close(rc.ppm[0], [0.4, 0.3, 0.2, 0.1]), "{:?}", rc.ppm[0]);
        assert!(close(rc.ppm[2], [0.0, 1.0, 0.0, 0.0]));
        assert!(close(rc.ppm[3], [0.1, 0.1, 0.1, 0.7]));
        assert_eq!(rc.reverse_complement(), m);
        // Consensus of the RC is the reverse complement of the consensus
        // ("AGAT" -> "ATCT") except where ties break differently (the uniform
        // row, index 1 of the RC): compare the untied positions only.
        let c = rc.consensus();
        assert_eq!(&c[0..1], "A");
        assert_eq!(&c[2..4], "CT");
        let skewed = Motif::new("b", "", vec![[0.25; 4]], [0.1, 0.2, 0.3, 0.4]).unwrap();
        assert_eq!(skewed.reverse_complement().background, [0.4, 0.3, 0.2, 0.1]);
    }

    #[test]
    fn log_odds_in_bits() {
        let m = toy();
        let lo = m.log_odds(0.0);
        assert!((lo[0][0] - (0.7f64 / 0.25).log2()).abs() < 1e-12);
        assert_eq!(lo[1][2], 2.0); // log2(1 / 0.25)
        assert_eq!(lo[1][0], f64::NEG_INFINITY);
        assert_eq!(lo[2], [0.0; 4]);
        // With a pseudocount, zero probabilities become finite and the
        // mixed probabilities still sum to 1: sum_b bg_b * 2^lo = 1.
        let lo = m.log_odds(0.1);
        for row in &lo {
            assert!(row.iter().all(|v| v.is_finite()));
            let s: f64 = row.iter().map(|v| 0.25 * v.exp2()).sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
        assert!((lo[1][0] - ((0.1 * 0.25) / 1.1 / 0.25f64).log2()).abs() < 1e-12);
    }

    #[test]
    #[should_panic(expected = "pseudocount must be finite")]
    fn log_odds_rejects_negative_pseudocount() {
        toy().log_odds(-1.0);
    }

    #[test]
    fn from_counts_with_and_without_pseudocount() {
        let counts = [[4.0, 16.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]];
        let m = Motif::from_counts("MA", "Arnt", &counts, 0.0, UNIFORM_BACKGROUND).unwrap();
        assert_eq!(m.ppm[0], [0.2, 0.8, 0.0, 0.0]);
        assert_eq!(m.ppm[1], UNIFORM_BACKGROUND); // empty column -> background
        assert_eq!(m.ppm[2], [0.25; 4]);
        assert_eq!(m.n_sites, Some(20.0));
        let bg = [0.3, 0.2, 0.2, 0.3];
        let m = Motif::from_counts("MA", "Arnt", &counts, 2.0, bg).unwrap();
        // (4 + 2*0.3) / 22, (16 + 2*0.2) / 22, (0 + 2*0.2) / 22, (0 + 2*0.3) / 22
        let want = [4.6 / 22.0, 16.4 / 22.0, 0.4 / 22.0, 0.6 / 22.0];
        for (got, want) in m.ppm[0].iter().zip(want) {
            assert!((got - want).abs() < 1e-12);
        }
        assert_eq!(m.ppm[1], bg);
        assert!(Motif::from_counts("x", "", &[[1.0, -1.0, 0.0, 0.0]], 0.0, UNIFORM_BACKGROUND).is_err());
        assert!(Motif::from_counts("x", "", &[[1.0, 0.0, 0.0, 0.0]], -0.5, UNIFORM_BACKGROUND).is_err());
        assert!(Motif::from_counts("x", "", &[], 0.0, UNIFORM_BACKGROUND).is_err());
    }

    #[test]
    fn validate_catches_mutated_fields() {
        let mut m = toy();
        assert!(m.validate().is_ok());
        m.ppm[0][0] = 0.9;
        assert!(m.validate().is_err());
        let mut m = toy();
        m.background = [0.3, 0.3, 0.3, 0.3];
        assert!(m.validate().is_err());
        let mut m = toy();
        m.n_sites = Some(f64::NAN);
        assert!(m.validate().is_err());
    }

    #[test]
    fn motif_set_lookup() {
        let mut set = MotifSet::new("<string>");
        assert!(set.is_empty());
        let mut a = toy();
        a.id = "MA0004.1".into();
        a.name = "Arnt".into();
        let mut b = toy();
        b.id = "arnt".into(); // an id equal to another motif's name
        b.name = "Other".into();
        let mut c = toy();
        c.id = "MA0004.1".into(); // duplicate id, kept
        c.name = "Second".into();
        set.motifs = vec![a, b, c];
        assert_eq!(set.len(), 3);
        assert_eq!(set.get("ma0004.1").unwrap().name, "Arnt");
        assert_eq!(set.get("ARNT").unwrap().name, "Other"); // ids first
        assert_eq!(set.get("second").unwrap().id, "MA0004.1");
        assert_eq!(set.get(" other ").unwrap().id, "arnt");
        assert!(set.get("missing").is_none());
        assert!(set.get("").is_none());
        assert_eq!(set.iter().count(), 3);
        assert_eq!((&set).into_iter().filter(|m| m.id == "MA0004.1").count(), 2);
    }

    #[test]
    fn sample_sequence_follows_ppm() {
        let m = toy();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let mut counts = [[0usize; 4]; 4];
        for _ in 0..n {
            let s = m.sample_sequence(&mut rng);
            assert_eq!(s.len(), 4);
            for (i, &b) in s.iter().enumerate() {
                counts[i][base_index(b).unwrap()] += 1;
                assert!(b.is_ascii_uppercase());
            }
        }
        assert_eq!(counts[1], [0, 0, n, 0]); // deterministic position
        for i in [0, 2, 3] {
            for (b, &p) in m.ppm[i].iter().enumerate() {
                let sd = (n as f64 * p * (1.0 - p)).sqrt();
                let diff = (counts[i][b] as f64 - n as f64 * p).abs();
                assert!(diff < 5.0 * sd + 1.0, "pos {i} base {b}: {} vs {}", counts[i][b], n as f64 * p);
            }
        }
        // Same seed, same draws.
        let a: Vec<_> = (0..5).map(|_| m.sample_sequence(&mut ChaCha8Rng::seed_from_u64(1))).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
    }
}
