//! Exact dinucleotide-preserving shuffling ([`dinucleotide_shuffle`]).
//!
//! A sequence is an Eulerian path in the multigraph whose vertices are the
//! letters and whose edges are its consecutive letter pairs. Every Eulerian
//! path from the first to the last letter spells a sequence with exactly the
//! same dinucleotide counts, first and last letter. Following Altschul &
//! Erickson (1985) and Kandel et al. (1996), a uniformly random such
//! sequence is drawn by:
//!
//! 1. choosing, for every letter except the last one, the edge by which the
//!    path leaves it for the last time, such that these "last edges" form an
//!    arborescence (a tree directed towards the last letter). The tree is
//!    drawn with probability proportional to the product of the chosen edge
//!    multiplicities, using Wilson's loop-erased random walk where a step
//!    from `u` follows one of `u`'s edges uniformly at random;
//! 2. shuffling each letter's remaining outgoing edges uniformly and putting
//!    its last edge at the end;
//! 3. walking from the first letter, always taking the next unused edge.
//!
//! By the BEST theorem each arrangement of labelled edges is equally
//! likely, and every distinct sequence corresponds to the same number of
//! labelled arrangements, so the output is uniform over all sequences with
//! the input's dinucleotide counts and end letters. The alphabet is
//! whatever bytes occur (`N`, lower case and anything else are ordinary
//! letters). Runs in `O(n)` expected time.

use rand::{Rng, RngExt};

/// Returns a uniformly random sequence with the same dinucleotide counts
/// (overlapping pairs), the same first letter and the same last letter as
/// `seq`. Sequences of length 0, 1 or 2 have only one such sequence and are
/// returned unchanged.
pub fn dinucleotide_shuffle<R: Rng + ?Sized>(seq: &[u8], rng: &mut R) -> Vec<u8> {
    let n = seq.len();
    if n <= 2 {
        return seq.to_vec();
    }
    // Outgoing edges of every letter, as the list of successor letters.
    let mut edges: Vec<Vec<u8>> = vec![Vec::new(); 256];
    for pair in seq.windows(2) {
        edges[pair[0] as usize].push(pair[1]);
    }
    let first = seq[0] as usize;
    let last = seq[n - 1] as usize;

    // Step 1: Wilson's algorithm rooted at the last letter. Every letter
    // with outgoing edges can reach the last letter (follow the input), so
    // each walk terminates.
    let mut in_tree = [false; 256];
    let mut next = [0u8; 256];
    in_tree[last] = true;
    for v in 0..256 {
        if edges[v].is_empty() {
            continue;
        }
        let mut u = v;
        while !in_tree[u] {
            let out = &edges[u];
            next[u] = out[rng.random_range(0..out.len())];
            u = next[u] as usize;
        }
        let mut u = v;
        while !in_tree[u] {
            in_tree[u] = true;
            u = next[u] as usize;
        }
    }

    // Step 2: order each letter's edges, last edge at the end.
    for v in 0..256 {
        let out = &mut edges[v];
        if out.is_empty() {
            continue;
        }
        let keep_last = if v == last {
            None
        } else {
            let target = next[v];
            let pos = out.iter().position(|&t| t == target).expect("tree edge exists");
            out.swap_remove(pos);
            Some(target)
        };
        // Fisher-Yates.
        for i in (1..out.len()).rev() {
            let j = rng.random_range(0..=i);
            out.swap(i, j);
        }
        if let Some(t) = keep_last {
            out.push(t);
        }
    }

    // Step 3: walk the edges.
    let mut used = [0usize; 256];
    let mut out = Vec::with_capacity(n);
    let mut cur = first;
    out.push(seq[0]);
    for _ in 1..n {
        let nxt = edges[cur][used[cur]];
        used[cur] += 1;
        out.push(nxt);
        cur = nxt as usize;
    }
    debug_assert_eq!(cur, last);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashMap;

    fn pair_counts(s: &[u8]) -> HashMap<(u8, u8), usize> {
        let mut m = HashMap::new();
        for w in s.windows(2) {
            *m.entry((w[0], w[1])).or_insert(0) += 1;
        }
        m
    }

    fn random_seq(rng: &mut ChaCha8Rng, n: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..n).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect()
    }

    #[test]
    fn preserves_dinucleotides_and_ends() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let alphabets: [&[u8]; 4] = [b"ACGT", b"ACGTN", b"AT", b"acgtACGTN-"];
        for trial in 0..400 {
            let alphabet = alphabets[trial % alphabets.len()];
            let n = rng.random_range(3..300);
            let seq = random_seq(&mut rng, n, alphabet);
            let shuffled = dinucleotide_shuffle(&seq, &mut rng);
            assert_eq!(shuffled.len(), seq.len());
            assert_eq!(shuffled[0], seq[0]);
            assert_eq!(shuffled[n - 1], seq[n - 1]);
            assert_eq!(pair_counts(&shuffled), pair_counts(&seq), "trial {trial}");
        }
    }

    #[test]
    fn long_sequences_change() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let seq = random_seq(&mut rng, 1000, b"ACGT");
        let a = dinucleotide_shuffle(&seq, &mut rng);
        let b = dinucleotide_shuffle(&seq, &mut rng);
        assert_ne!(a, seq);
        assert_ne!(a, b);
        let differing = a.iter().zip(&seq).filter(|(x, y)| x != y).count();
        assert!(differing > 500, "only {differing} positions differ");
    }

    #[test]
    fn seeded_determinism() {
        let seq = b"ACGTTGCANNACGTACGGGCTTAGCATCGATCGATTTACG".to_vec();
        let a = dinucleotide_shuffle(&seq, &mut ChaCha8Rng::seed_from_u64(42));
        let b = dinucleotide_shuffle(&seq, &mut ChaCha8Rng::seed_from_u64(42));
        let c = dinucleotide_shuffle(&seq, &mut ChaCha8Rng::seed_from_u64(43));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn edge_cases() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert_eq!(dinucleotide_shuffle(b"", &mut rng), b"");
        assert_eq!(dinucleotide_shuffle(b"A", &mut rng), b"A");
        assert_eq!(dinucleotide_shuffle(b"AC", &mut rng), b"AC");
        assert_eq!(dinucleotide_shuffle(b"AAAAAAAA", &mut rng), b"AAAAAAAA");
        assert_eq!(dinucleotide_shuffle(b"NNN", &mut rng), b"NNN");
        // Sequences with a single Eulerian path come back unchanged.
        assert_eq!(dinucleotide_shuffle(b"ACGT", &mut rng), b"ACGT");
        assert_eq!(dinucleotide_shuffle(b"ACACAC", &mut rng), b"ACACAC");
        // "ACAAC" has AC x2, CA x1, AA x1: the only sequences with these
        // doublets and ends are ACAAC and AACAC; both must appear.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(dinucleotide_shuffle(b"ACAAC", &mut rng));
        }
        let want: std::collections::HashSet<Vec<u8>> = [b"ACAAC".to_vec(), b"AACAC".to_vec()].into();
        assert_eq!(seen, want);
    }

    /// All sequences with the same length, end letters and dinucleotide
    /// counts as `seq` (over ACGT), by brute force over the interior letters.
    fn enumerate_same_doublets(seq: &[u8]) -> Vec<Vec<u8>> {
        let code = |b: u8| b"ACGT".iter().position(|&a| a == b).unwrap();
        let counts = |s: &[u8]| {
            let mut c = [0u8; 16];
            for w in s.windows(2) {
                c[4 * code(w[0]) + code(w[1])] += 1;
            }
            c
        };
        let n = seq.len();
        let target = counts(seq);
        let interior = n - 2;
        let mut out = Vec::new();
        let mut buf = seq.to_vec();
        for index in 0..4usize.pow(interior as u32) {
            let mut c = index;
            for slot in buf.iter_mut().skip(1).take(interior) {
                *slot = b"ACGT"[c % 4];
                c /= 4;
            }
            if counts(&buf) == target {
                out.push(buf.clone());
            }
        }
        out
    }

    #[test]
    fn uniform_over_all_valid_sequences() {
        let seq = b"ACGACGATAGCA";
        let valid = enumerate_same_doublets(seq);
        assert!(valid.len() >= 20, "{} valid sequences", valid.len());
        let index: HashMap<Vec<u8>, usize> = valid.iter().cloned().enumerate().map(|(i, s)| (s, i)).collect();
        let mut counts = vec![0usize; valid.len()];
        let mut rng = ChaCha8Rng::seed_from_u64(12345);
        let draws = 60_000;
        for _ in 0..draws {
            let s = dinucleotide_shuffle(seq, &mut rng);
            counts[*index.get(&s).expect("output has the input's doublets")] += 1;
        }
        let expected = draws as f64 / valid.len() as f64;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
        let dof = (valid.len() - 1) as f64;
        // Mean dof, sd sqrt(2 dof): 6 sd is far beyond chance.
        assert!(chi2 < dof + 6.0 * (2.0 * dof).sqrt(), "chi2 {chi2} with {dof} dof: {counts:?}");
        assert!(counts.iter().all(|&c| c > 0));
    }
}
