use super::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_labels(n: usize, k: u32, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..k)).collect()
}

/// Classic Hubert–Arabie ARI from unordered pair counts, enumerated directly.
fn ari_by_pairs(t: &[u32], p: &[u32]) -> f64 {
    let n = t.len();
    let (mut a, mut b, mut c, mut d) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..n {
        for j in i + 1..n {
            match (t[i] == t[j], p[i] == p[j]) {
                (true, true) => a += 1.0,
                (true, false) => b += 1.0,
                (false, true) => c += 1.0,
                (false, false) => d += 1.0,
            }
        }
    }
    let pairs = a + b + c + d;
    let expected = (a + b) * (a + c) + (c + d) * (b + d);
    (pairs * (a + d) - expected) / (pairs * pairs - expected)
}

/// Joint labels: one code per distinct (true, pred) pair.
fn joint(t: &[u32], p: &[u32]) -> Vec<u32> {
    t.iter().zip(p).map(|(&a, &b)| a * 1000 + b).collect()
}

/// Averages MI over every permutation of `p` (Heap's algorithm): the exact
/// expectation under the permutation model.
fn emi_by_permutations(t: &[u32], p: &[u32]) -> f64 {
    let mut perm = p.to_vec();
    let n = perm.len();
    let mut c = vec![0usize; n];
    let mut values = vec![mutual_information(t, &perm).unwrap()];
    let mut i = 0;
    while i < n {
        if c[i] < i {
            if i % 2 == 0 {
                perm.swap(0, i);
            } else {
                perm.swap(c[i], i);
            }
            values.push(mutual_information(t, &perm).unwrap());
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    let count = values.len() as f64;
    neumaier_sum(values) / count
}

fn choose(n: u64, k: u64) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// EMI from the textbook formula with directly computed binomial
/// coefficients (only usable for small N).
fn emi_textbook(t: &[u32], p: &[u32]) -> f64 {
    let n = t.len() as u64;
    let a = compact_labels(t).counts;
    let b = compact_labels(p).counts;
    let mut s = 0.0;
    for &ai in &a {
        for &bj in &b {
            let (ai, bj) = (ai as u64, bj as u64);
            let lo = (ai + bj).saturating_sub(n).max(1);
            for k in lo..=ai.min(bj) {
                let prob = choose(ai, k) * choose(n - ai, bj - k) / choose(n, bj);
                let kf = k as f64;
                s += prob * kf / n as f64 * (n as f64 * kf / (ai as f64 * bj as f64)).ln();
            }
        }
    }
    s
}

#[test]
fn ari_hand_example() {
    // Pair-confusion by hand for [0,0,1,1] vs [0,0,1,2]: sum n_ij^2 = 6,
    // sum a^2 = 8, sum b^2 = 6, n = 4 -> tp = 2, fp = 0, fn = 2, tn = 8,
    // ARI = 2(2*8 - 0) / ((2+2)(2+8) + (2+0)(0+8)) = 32 / 56.
    let ari = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]).unwrap();
    assert!((ari - 32.0 / 56.0).abs() < 1e-15);
}

#[test]
fn ari_matches_pair_enumeration() {
    for seed in 0..5 {
        let t = random_labels(300, 4, seed);
        let mut p = t.clone();
        // Corrupt a third of the labels.
        let noise = random_labels(300, 6, seed + 100);
        for i in (0..300).step_by(3) {
            p[i] = noise[i];
        }
        let fast = adjusted_rand_index(&t, &p).unwrap();
        let slow = ari_by_pairs(&t, &p);
        assert!((fast - slow).abs() < 1e-12, "seed {seed}: {fast} vs {slow}");
        assert!(fast > 0.2 && fast < 0.95);
    }
}

#[test]
fn ari_special_cases() {
    let t = random_labels(100, 5, 1);
    let renamed: Vec<u32> = t.iter().map(|&x| 40 - x * 7).collect();
    assert_eq!(adjusted_rand_index(&t, &renamed).unwrap(), 1.0);
    let singletons: Vec<u32> = (0..50).collect();
    assert_eq!(adjusted_rand_index(&singletons, &singletons).unwrap(), 1.0);
    assert_eq!(adjusted_rand_index(&[3], &[9]).unwrap(), 1.0);
    // One cluster versus all singletons: no pair agrees.
    let ones = vec![0u32; 50];
    assert_eq!(adjusted_rand_index(&ones, &singletons).unwrap(), 0.0);
    // Independent labels give ARI near 0.
    let a = random_labels(20_000, 5, 2);
    let b = random_labels(20_000, 5, 3);
    assert!(adjusted_rand_index(&a, &b).unwrap().abs() < 0.01);
}

#[test]
fn mutual_information_equals_entropy_identity() {
    for seed in 0..4 {
        let t = random_labels(500, 3 + seed as u32, seed);
        let p = random_labels(500, 4, seed + 10);
        let mi = mutual_information(&t, &p).unwrap();
        let identity = label_entropy(&t).unwrap() + label_entropy(&p).unwrap() - label_entropy(&joint(&t, &p)).unwrap();
        assert!((mi - identity).abs() < 1e-13, "{mi} vs {identity}");
    }
    // MI of a labeling with itself is its entropy.
    let t = random_labels(200, 7, 9);
    assert!((mutual_information(&t, &t).unwrap() - label_entropy(&t).unwrap()).abs() < 1e-14);
    assert_eq!(mutual_information(&t, &vec![1; 200]).unwrap(), 0.0);
}

#[test]
fn emi_equals_average_over_all_permutations() {
    let cases: [(&[u32], &[u32]); 3] = [
        (&[0, 0, 0, 1, 1, 2, 2, 2], &[0, 1, 1, 1, 2, 2, 0, 0]),
        (&[0, 0, 1, 1, 1, 1, 1, 2], &[5, 5, 5, 5, 9, 9, 9, 9]),
        (&[0, 1, 2, 3, 4, 5, 6], &[0, 0, 0, 1, 1, 1, 1]),
    ];
    for (t, p) in cases {
        let emi = expected_mutual_information(t, p).unwrap();
        let brute = emi_by_permutations(t, p);
        assert!((emi - brute).abs() < 1e-14, "{emi} vs {brute}");
    }
}

#[test]
fn emi_matches_textbook_formula_for_moderate_n() {
    for seed in 0..3 {
        let t = random_labels(60, 3, seed);
        let p = random_labels(60, 5, seed + 50);
        let emi = expected_mutual_information(&t, &p).unwrap();
        let text = emi_textbook(&t, &p);
        assert!((emi - text).abs() < 1e-13 * text.max(1e-3), "{emi} vs {text}");
    }
}

#[test]
fn emi_with_singleton_clusters_is_the_entropy_at_large_n() {
    // With every predicted cluster a singleton, every permutation gives the
    // same MI, equal to H(true), so E[MI] = H(true) exactly.
    let n = 100_000;
    let t = random_labels(n, 30, 4);
    let p: Vec<u32> = (0..n as u32).collect();
    let emi = expected_mutual_information(&t, &p).unwrap();
    let h = label_entropy(&t).unwrap();
    assert!((emi - h).abs() < 1e-12 * h, "{emi} vs {h}");
    // And a single predicted cluster gives E[MI] = 0.
    assert_eq!(expected_mutual_information(&t, &vec![0; n]).unwrap(), 0.0);
}

#[test]
fn ami_from_its_components() {
    let t: &[u32] = &[0, 0, 0, 1, 1, 2, 2, 2];
    let p: &[u32] = &[0, 1, 1, 1, 2, 2, 0, 0];
    let mi = mutual_information(t, p).unwrap();
    let emi = emi_by_permutations(t, p);
    let h = 0.5 * (label_entropy(t).unwrap() + label_entropy(p).unwrap());
    let expected = (mi - emi) / (h - emi);
    let ami = adjusted_mutual_information(t, p).unwrap();
    assert!((ami - expected).abs() < 1e-13, "{ami} vs {expected}");
}

#[test]
fn ami_special_cases_and_chance_level() {
    let t = random_labels(300, 5, 7);
    let renamed: Vec<u32> = t.iter().map(|&x| x + 100).collect();
    assert!((adjusted_mutual_information(&t, &renamed).unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(adjusted_mutual_information(&[1, 1, 1], &[4, 4, 4]).unwrap(), 1.0);
    // All singletons on both sides: MI = E[MI] = ln n, the limit is 1.
    let singletons: Vec<u32> = (0..1000).collect();
    let reversed: Vec<u32> = (0..1000).rev().collect();
    assert_eq!(adjusted_mutual_information(&singletons, &reversed).unwrap(), 1.0);
    // Nearly identical partitions stay below 1.
    let mut moved = t.clone();
    moved[0] = (moved[0] + 1) % 5;
    assert!(adjusted_mutual_information(&t, &moved).unwrap() < 1.0);
    assert_eq!(adjusted_mutual_information(&[1, 1, 1], &[1, 2, 3]).unwrap(), 0.0);
    let a = random_labels(5_000, 8, 11);
    let b = random_labels(5_000, 8, 12);
    let ami = adjusted_mutual_information(&a, &b).unwrap();
    let nmi = normalized_mutual_information(&a, &b).unwrap();
    assert!(ami.abs() < 0.01, "{ami}");
    // NMI is biased upward for independent labels; AMI corrects that.
    assert!(nmi > ami);
}

#[test]
fn nmi_homogeneity_completeness_hand_example() {
    // pred refines true: MI = H(true) = ln 2, H(pred) = 1.5 ln 2,
    // NMI = ln2 / 1.25 ln2 = 0.8, h = 1, c = 2/3, V = 0.8.
    let t = [0u32, 0, 1, 1];
    let p = [0u32, 0, 1, 2];
    assert!((normalized_mutual_information(&t, &p).unwrap() - 0.8).abs() < 1e-15);
    let hc = homogeneity_completeness_v_measure(&t, &p, 1.0).unwrap();
    assert!((hc.homogeneity - 1.0).abs() < 1e-15);
    assert!((hc.completeness - 2.0 / 3.0).abs() < 1e-15);
    assert!((hc.v_measure - 0.8).abs() < 1e-15);
    assert!((homogeneity(&t, &p).unwrap() - 1.0).abs() < 1e-15);
    assert!((completeness(&t, &p).unwrap() - 2.0 / 3.0).abs() < 1e-15);
    assert!((v_measure(&t, &p).unwrap() - 0.8).abs() < 1e-15);
    // beta = 0 gives homogeneity; large beta approaches completeness.
    let hc0 = homogeneity_completeness_v_measure(&t, &p, 0.0).unwrap();
    assert!((hc0.v_measure - 1.0).abs() < 1e-15);
    let hcb = homogeneity_completeness_v_measure(&t, &p, 1e9).unwrap();
    assert!((hcb.v_measure - 2.0 / 3.0).abs() < 1e-8);
}

#[test]
fn homogeneity_matches_conditional_entropy() {
    let t = random_labels(400, 4, 21);
    let p = random_labels(400, 6, 22);
    let h_joint = label_entropy(&joint(&t, &p)).unwrap();
    let (ht, hp) = (label_entropy(&t).unwrap(), label_entropy(&p).unwrap());
    // h = 1 - H(C|K)/H(C), c = 1 - H(K|C)/H(K).
    let h_expected = 1.0 - (h_joint - hp) / ht;
    let c_expected = 1.0 - (h_joint - ht) / hp;
    let hc = homogeneity_completeness_v_measure(&t, &p, 1.0).unwrap();
    assert!((hc.homogeneity - h_expected).abs() < 1e-12);
    assert!((hc.completeness - c_expected).abs() < 1e-12);
}

#[test]
fn degenerate_labelings() {
    // Single predicted cluster: homogeneity 0 (MI = 0), completeness 1.
    let hc = homogeneity_completeness_v_measure(&[0, 0, 1, 1], &[0, 0, 0, 0], 1.0).unwrap();
    assert_eq!((hc.homogeneity, hc.completeness, hc.v_measure), (0.0, 1.0, 0.0));
    assert_eq!(normalized_mutual_information(&[0, 0, 1, 1], &[0, 0, 0, 0]).unwrap(), 0.0);
    assert_eq!(normalized_mutual_information(&[2, 2], &[0, 0]).unwrap(), 1.0);
    assert_eq!(label_entropy(&[5, 5, 5]).unwrap(), 0.0);
    assert!((label_entropy(&[0, 1]).unwrap() - std::f64::consts::LN_2).abs() < 1e-16);
}

#[test]
fn errors_instead_of_panics() {
    let e = adjusted_rand_index(&[0, 1], &[0, 1, 2]).unwrap_err();
    assert_eq!(e, AnalysisError::LengthMismatch { what_a: "labels_true", len_a: 2, what_b: "labels_pred", len_b: 3 });
    assert!(matches!(adjusted_mutual_information(&[], &[]), Err(AnalysisError::EmptyInput { .. })));
    assert!(matches!(normalized_mutual_information(&[], &[]), Err(AnalysisError::EmptyInput { .. })));
    assert!(matches!(label_entropy(&[]), Err(AnalysisError::EmptyInput { .. })));
    assert!(matches!(
        homogeneity_completeness_v_measure(&[0], &[0], f64::NAN),
        Err(AnalysisError::InvalidParameter { .. })
    ));
    assert!(homogeneity_completeness_v_measure(&[0], &[0], -1.0).is_err());
    assert!(expected_mutual_information(&[0, 1], &[0]).is_err());
}
