//! Unit tests of `scan.rs` (kept in their own file for size).

use super::*;
use crate::motif::motif::{Motif, ALPHABET, UNIFORM_BACKGROUND};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_row(rng: &mut ChaCha8Rng) -> [f64; 4] {
    let r: [f64; 4] = [0; 4].map(|_| rng.random::<f64>() + 0.01);
    let s: f64 = r.iter().sum();
    r.map(|v| v / s)
}

fn random_motif(rng: &mut ChaCha8Rng, w: usize, bg: [f64; 4]) -> Motif {
    let ppm = (0..w).map(|_| random_row(rng)).collect();
    Motif::new("R", "random", ppm, bg).unwrap()
}

/// A motif with 0.85 on each consensus base and 0.05 elsewhere.
fn consensus_motif(consensus: &str) -> Motif {
    let ppm = consensus
        .bytes()
        .map(|c| {
            let mut row = [0.05; 4];
            row[base_index(c).unwrap()] = 0.85;
            row
        })
        .collect();
    Motif::new("C", "planted", ppm, UNIFORM_BACKGROUND).unwrap()
}

fn random_seq(rng: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| ALPHABET[rng.random_range(0..4)]).collect()
}

fn revcomp(s: &[u8]) -> Vec<u8> {
    s.iter()
        .rev()
        .map(|&b| match b {
            b'A' => b'T',
            b'C' => b'G',
            b'G' => b'C',
            b'T' => b'A',
            o => o,
        })
        .collect()
}

#[test]
fn strand_chars() {
    assert_eq!(Strand::Forward.as_char(), '+');
    assert_eq!(Strand::Reverse.to_string(), "-");
}

#[test]
fn distribution_sums_to_one_and_tail_is_monotone() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for w in [1, 3, 8, 15, 25] {
        let bg = random_row(&mut rng);
        let m = random_motif(&mut rng, w, bg);
        let p = Pssm::new(&m, 0.01).unwrap();
        let total: f64 = p.pmf.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "w={w}: {total}");
        assert!((p.p_value(0) - 1.0).abs() < 1e-12);
        assert!(p.pmf.iter().all(|&v| v >= 0.0));
        for s in 1..p.tail.len() {
            assert!(p.tail[s] <= p.tail[s - 1], "tail increases at {s}");
        }
        let max = p.pmf.len() - 1;
        assert!(p.pmf[max] > 0.0);
        assert_eq!(p.p_value(max + 1), 0.0);
        assert_eq!(p.p_value(max + 1000), 0.0);
        // P(S >= max) = probability that every position takes a base whose
        // integer cell equals that row's maximum.
        let direct: f64 = p
            .scaled
            .iter()
            .map(|row| {
                let rmax = row.iter().flatten().max().unwrap();
                (0..4).filter(|&b| row[b] == Some(*rmax)).map(|b| bg[b]).sum::<f64>()
            })
            .product();
        assert!((p.p_value(max) - direct).abs() <= 1e-12 * direct);
    }
}

#[test]
fn scale_maps_cell_range_to_score_range() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let m = random_motif(&mut rng, 7, [0.2, 0.3, 0.3, 0.2]);
    let p = Pssm::new(&m, 0.05).unwrap();
    let cells: Vec<u32> = p.scaled.iter().flatten().map(|c| c.unwrap()).collect();
    assert_eq!(*cells.iter().min().unwrap(), 0);
    assert_eq!(*cells.iter().max().unwrap() as f64, SCORE_RANGE);
    let lo = m.log_odds(0.05);
    for (row, srow) in lo.iter().zip(&p.scaled) {
        for b in 0..4 {
            let back = srow[b].unwrap() as f64 / p.scale() + p.offset();
            assert!((back - row[b]).abs() <= 0.5 / p.scale() + 1e-12);
        }
    }
}

#[test]
fn brute_force_enumeration_matches_dp() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    for w in 1..=6 {
        let bg = random_row(&mut rng);
        let m = random_motif(&mut rng, w, bg);
        let p = Pssm::new(&m, 0.01).unwrap();
        let n = 4usize.pow(w as u32);
        let mut hist = vec![0.0; p.pmf.len()];
        let mut seqs = Vec::with_capacity(n);
        for code in 0..n {
            let bases: Vec<usize> = (0..w).map(|i| (code >> (2 * i)) & 3).collect();
            let score: usize = bases.iter().enumerate().map(|(i, &b)| p.scaled[i][b].unwrap() as usize).sum();
            let prob: f64 = bases.iter().map(|&b| bg[b]).product();
            hist[score] += prob;
            seqs.push((bases, score));
        }
        let mut tail = vec![0.0; hist.len() + 1];
        for s in (0..hist.len()).rev() {
            tail[s] = tail[s + 1] + hist[s];
        }
        for s in 0..hist.len() {
            assert!((hist[s] - p.pmf[s]).abs() <= 1e-12 * p.pmf[s].max(1e-300) + 1e-300, "w={w} s={s}");
            assert!((tail[s] - p.p_value(s)).abs() <= 1e-12 * tail[s], "w={w} s={s}");
        }
        // Per-sequence: `score` reports the brute-force tail and the sum of
        // log-odds cells.
        let lo = m.log_odds(0.01);
        for (bases, s) in seqs.iter().step_by(7) {
            let window: Vec<u8> = bases.iter().map(|&b| ALPHABET[b]).collect();
            let (raw, pv) = p.score(&window, Strand::Forward).unwrap();
            let want_raw: f64 = bases.iter().enumerate().map(|(i, &b)| lo[i][b]).sum();
            assert!((raw - want_raw).abs() < 1e-12);
            assert!((pv - tail[*s]).abs() <= 1e-12 * tail[*s]);
        }
    }
}

#[test]
fn impossible_cells_without_pseudocount() {
    let m =
        Motif::new("Z", "", vec![[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.25; 4]], [0.1, 0.2, 0.3, 0.4]).unwrap();
    let p = Pssm::new(&m, 0.0).unwrap();
    // Mass of sequences avoiding every zero cell: (0.1 + 0.2) * 0.4 * 1.
    let total: f64 = p.pmf.iter().sum();
    assert!((total - 0.3 * 0.4).abs() < 1e-15);
    assert_eq!(p.score(b"GTA", Strand::Forward), Some((f64::NEG_INFINITY, 1.0)));
    let (raw, pv) = p.score(b"ATA", Strand::Forward).unwrap();
    assert!(raw.is_finite() && pv < 1.0);
    // A sequence made only of impossible windows yields hits only at p = 1.
    assert!(p.scan(b"GGGGGG", 0.99).is_empty());
    assert_eq!(p.scan(b"GGGGGG", 1.0).len(), 8);
}

#[test]
fn planted_sites_found_on_the_right_strand() {
    let consensus = "GATTACAGCC";
    let m = consensus_motif(consensus);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut seq = random_seq(&mut rng, 600);
    seq[137..147].copy_from_slice(consensus.as_bytes());
    seq[401..411].copy_from_slice(&revcomp(consensus.as_bytes()));
    let hits = scan(&seq, &m, 1e-5).unwrap();
    let fwd = hits.iter().find(|h| h.start == 137 && h.strand == Strand::Forward).expect("forward site");
    let rev = hits.iter().find(|h| h.start == 401 && h.strand == Strand::Reverse).expect("reverse site");
    for h in [fwd, rev] {
        assert_eq!(h.matched, consensus);
        assert_eq!(h.end, h.start + 10);
        // Only the consensus reaches the maximal integer score.
        let want = 0.25f64.powi(10);
        assert!((h.p_value - want).abs() < 1e-9 * want, "{}", h.p_value);
        let best: f64 =
            m.log_odds(DEFAULT_PSEUDOCOUNT).iter().map(|r| r.iter().cloned().fold(f64::MIN, f64::max)).sum();
        assert!((h.score - best).abs() < 1e-9);
    }
    // Nothing else in 600 random bases comes close at this threshold.
    let best_two: Vec<(usize, Strand)> = {
        let mut sorted = hits.clone();
        sorted.sort_by(|a, b| a.p_value.total_cmp(&b.p_value));
        sorted.iter().take(2).map(|h| (h.start, h.strand)).collect()
    };
    assert!(best_two.contains(&(137, Strand::Forward)) && best_two.contains(&(401, Strand::Reverse)));
    // Ordering: by start, + before - at the same start.
    assert!(hits.windows(2).all(|w| (w[0].start, w[0].strand) < (w[1].start, w[1].strand)));
}

#[test]
fn lowercase_is_scanned_and_n_windows_are_skipped() {
    let consensus = "GATTACAGCC";
    let m = consensus_motif(consensus);
    let p = Pssm::new(&m, DEFAULT_PSEUDOCOUNT).unwrap();
    let mut seq = b"TTTTTTTTTT".to_vec();
    seq.extend_from_slice(b"gattacagcc");
    seq.extend_from_slice(b"CCCCC");
    seq.extend_from_slice(b"GATTNCAGCC");
    seq.extend_from_slice(b"AAAAA");
    let hits = p.scan(&seq, 1e-4);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!((hits[0].start, hits[0].strand, hits[0].matched.as_str()), (10, Strand::Forward, consensus));
    // Every window overlapping the N is absent even at threshold 1.
    let all = p.scan(&seq, 1.0);
    let n_pos = 29;
    assert!(all.iter().all(|h| !(h.start <= n_pos && n_pos < h.end)));
    let windows = seq.len() - 10 + 1 - 10; // 10 windows contain the N
    assert_eq!(all.len(), 2 * windows);
    assert!(p.scan(b"GATTACAGC", 1.0).is_empty()); // shorter than the motif
    assert_eq!(p.score(b"GATTACAGCN", Strand::Forward), None);
    assert_eq!(p.score(b"GATTACAGC", Strand::Forward), None);
}

#[test]
fn reverse_strand_equals_reverse_complement_motif() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let m = random_motif(&mut rng, 9, UNIFORM_BACKGROUND);
    let p = Pssm::new(&m, 0.01).unwrap();
    let prc = Pssm::new(&m.reverse_complement(), 0.01).unwrap();
    for _ in 0..50 {
        let w = random_seq(&mut rng, 9);
        let (s1, p1) = p.score(&w, Strand::Reverse).unwrap();
        let (s2, p2) = prc.score(&w, Strand::Forward).unwrap();
        assert!((s1 - s2).abs() < 1e-12);
        assert!((p1 - p2).abs() <= 1e-12 * p2);
        // Scoring the reverse complement on + is the same as - here.
        let (s3, p3) = p.score(&revcomp(&w), Strand::Forward).unwrap();
        assert!((s1 - s3).abs() < 1e-12 && p1 == p3);
    }
    let hits = p.scan(&random_seq(&mut rng, 40), 1.0);
    assert_eq!(hits.len(), 2 * 32);
    let minus = hits.iter().find(|h| h.strand == Strand::Reverse).unwrap();
    assert_eq!(minus.start, 0);
}

#[test]
fn p_values_of_hits_follow_integer_scores() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let m = random_motif(&mut rng, 8, [0.3, 0.2, 0.2, 0.3]);
    let p = Pssm::new(&m, 0.01).unwrap();
    let mut hits = p.scan(&random_seq(&mut rng, 300), 1.0);
    // Higher raw score never has a larger p-value, beyond rounding ties:
    // sort by score and allow only violations within one rounding step.
    hits.sort_by(|a, b| a.score.total_cmp(&b.score));
    let step = 8.0 * 0.5 / p.scale();
    for pair in hits.windows(2) {
        if pair[1].score - pair[0].score > 2.0 * step {
            assert!(pair[1].p_value <= pair[0].p_value);
        }
    }
    let thresholded = p.scan(&random_seq(&mut ChaCha8Rng::seed_from_u64(8), 300), 0.05);
    assert!(thresholded.iter().all(|h| h.p_value <= 0.05));
}

#[test]
fn rejects_invalid_input() {
    let m = consensus_motif("ACGT");
    assert!(Pssm::new(&m, -0.1).is_err());
    assert!(Pssm::new(&m, f64::NAN).is_err());
    let mut bad = m.clone();
    bad.ppm[0] = [0.5, 0.5, 0.5, 0.5];
    assert!(matches!(Pssm::new(&bad, 0.01), Err(MotifError::Invalid { .. })));
    assert!(scan(b"ACGT", &bad, 0.1).is_err());
}

#[test]
fn ism_score_dot_products() {
    // Matrix "AG": one-hot rows.
    let matrix = [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
    let ism: Vec<[f32; 4]> = (0..4).map(|i| [0, 1, 2, 3].map(|b| (10 * i + b) as f32)).collect();
    // + at start 1: ism[1][A] + ism[2][G] = 10 + 22.
    assert_eq!(pwm_ism_score(&matrix, &ism, 1, Strand::Forward), Some(32.0));
    // - at start 1: RC matrix is "CT": ism[1][C] + ism[2][T] = 11 + 23.
    assert_eq!(pwm_ism_score(&matrix, &ism, 1, Strand::Reverse), Some(34.0));
    assert_eq!(pwm_ism_score(&matrix, &ism, 2, Strand::Forward), Some(20.0 + 32.0));
    assert_eq!(pwm_ism_score(&matrix, &ism, 3, Strand::Forward), None);
    assert_eq!(pwm_ism_score(&matrix, &ism, usize::MAX, Strand::Forward), None);
    assert_eq!(pwm_ism_score(&[], &ism, 0, Strand::Forward), None);
    // '-' with a motif equals '+' with its reverse complement.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let m = random_motif(&mut rng, 5, UNIFORM_BACKGROUND);
    let ism: Vec<[f32; 4]> = (0..12).map(|_| [0; 4].map(|_| rng.random::<f32>() - 0.5)).collect();
    for start in 0..=7 {
        let a = pwm_ism_score(&m.ppm, &ism, start, Strand::Reverse).unwrap();
        let b = pwm_ism_score(&m.reverse_complement().ppm, &ism, start, Strand::Forward).unwrap();
        assert!((a - b).abs() < 1e-12);
    }
}
