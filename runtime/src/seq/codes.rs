//! Byte codes for bases, as the Keras original stores them: A=0, C=1, G=2, T=3 (int8 in `*_seqs.h5`).
//!
//! Soft-masked (lower-case) bases count as normal bases. Any other character (N, IUPAC codes) becomes a random base
//! drawn by a seeded RNG, as the original does once at preprocessing time (the original's RNG is unseeded; we seed
//! it so runs are reproducible).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Code of one base, or `None` for anything that is not A/C/G/T (either case).
#[inline]
pub fn base_code(b: u8) -> Option<u8> {
    match b {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' => Some(3),
        _ => None,
    }
}

/// Upper-case letter of a code 0..=3.
#[inline]
pub fn code_base(c: u8) -> u8 {
    b"ACGT"[(c & 3) as usize]
}

/// Resolves non-ACGT characters to random bases, reproducibly.
pub struct NResolver {
    rng: ChaCha8Rng,
}

impl NResolver {
    pub fn new(seed: u64) -> Self {
        NResolver { rng: ChaCha8Rng::seed_from_u64(seed) }
    }
    fn random_code(&mut self) -> u8 {
        self.rng.random_range(0..4u8)
    }
}

/// Encodes `seq` into `out` (cleared first); non-ACGT characters are drawn from `resolver`.
pub fn encode_into(seq: &[u8], resolver: &mut NResolver, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(seq.len());
    for &b in seq {
        out.push(match base_code(b) {
            Some(c) => c,
            None => resolver.random_code(),
        });
    }
}

/// Encodes one sequence with a fresh resolver seeded by `seed`.
pub fn encode(seq: &[u8], seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(seq, &mut NResolver::new(seed), &mut out);
    out
}

/// Decodes codes to an upper-case A/C/G/T string.
pub fn decode(codes: &[u8]) -> String {
    codes.iter().map(|&c| code_base(c) as char).collect()
}

/// Reverse complement of a sequence of letters; case is kept, IUPAC ambiguity codes are complemented, anything else
/// (e.g. `-`) is kept as it is.
pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| complement(b)).collect()
}

/// Reverse complement of codes (A↔T is 0↔3, C↔G is 1↔2: `3 - c`).
pub fn reverse_complement_codes(codes: &[u8]) -> Vec<u8> {
    codes.iter().rev().map(|&c| 3 - c).collect()
}

fn complement(b: u8) -> u8 {
    let up = b.to_ascii_uppercase();
    let c = match up {
        b'A' => b'T',
        b'T' | b'U' => b'A',
        b'C' => b'G',
        b'G' => b'C',
        b'R' => b'Y',
        b'Y' => b'R',
        b'K' => b'M',
        b'M' => b'K',
        b'B' => b'V',
        b'V' => b'B',
        b'D' => b'H',
        b'H' => b'D',
        other => other, // N, S, W and non-letters are their own complement
    };
    if b.is_ascii_lowercase() {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Fraction of G and C among the A/C/G/T bases of `seq` (other characters are ignored); `None` when there are none.
pub fn gc_content(seq: &[u8]) -> Option<f64> {
    let (mut gc, mut acgt) = (0usize, 0usize);
    for &b in seq {
        match base_code(b) {
            Some(1) | Some(2) => {
                gc += 1;
                acgt += 1;
            }
            Some(_) => acgt += 1,
            None => {}
        }
    }
    (acgt > 0).then(|| gc as f64 / acgt as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_acgt_in_keras_order_and_upper_cases_soft_masked_bases() {
        assert_eq!(encode(b"ACGTacgt", 0), vec![0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(decode(&[3, 2, 1, 0]), "TGCA");
    }

    #[test]
    fn non_acgt_is_random_but_seeded() {
        let a = encode(&[b'N'; 400], 7);
        assert_eq!(a, encode(&[b'N'; 400], 7));
        assert_ne!(a, encode(&[b'N'; 400], 8));
        for c in 0..4u8 {
            let n = a.iter().filter(|&&x| x == c).count();
            assert!((60..140).contains(&n), "code {c} drawn {n} times of 400");
        }
    }

    #[test]
    fn reverse_complements() {
        assert_eq!(reverse_complement(b"AACGTn"), b"nACGTT".to_vec());
        assert_eq!(reverse_complement(b"ACGRYacgt"), b"acgtRYCGT".to_vec());
        let codes = encode(b"AACCGT", 0);
        assert_eq!(reverse_complement_codes(&codes), encode(&reverse_complement(b"AACCGT"), 0));
    }

    #[test]
    fn gc_content_ignores_non_acgt() {
        assert_eq!(gc_content(b"GGCCAATT"), Some(0.5));
        assert_eq!(gc_content(b"GCNN"), Some(1.0));
        assert_eq!(gc_content(b"NNN"), None);
    }
}
