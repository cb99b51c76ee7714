use super::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// P(score_pos > score_neg) + 0.5 P(tie), over all pairs.
fn auroc_pairs(x: &[f64], labels: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &li) in labels.iter().enumerate() {
        for (j, &lj) in labels.iter().enumerate() {
            if li && !lj {
                pairs += 1.0;
                if x[i] > x[j] {
                    wins += 1.0;
                } else if x[i] == x[j] {
                    wins += 0.5;
                }
            }
        }
    }
    wins / pairs
}

/// Step-wise AP by enumerating thresholds directly: for every distinct
/// score t (descending), precision and recall of `score >= t`.
fn ap_thresholds(x: &[f64], labels: &[bool]) -> f64 {
    let mut t: Vec<f64> = x.to_vec();
    t.sort_by(|a, b| b.partial_cmp(a).unwrap());
    t.dedup();
    let n_pos = labels.iter().filter(|&&l| l).count() as f64;
    let mut prev = 0.0;
    let mut ap = 0.0;
    for th in t {
        let tp = x.iter().zip(labels).filter(|(&s, &l)| s >= th && l).count() as f64;
        let pp = x.iter().filter(|&&s| s >= th).count() as f64;
        let recall = tp / n_pos;
        ap += (recall - prev) * tp / pp;
        prev = recall;
    }
    ap
}

fn random_case(n: usize, levels: u32, seed: u64) -> (Vec<f64>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<bool> = (0..n).map(|_| rng.random::<f64>() < 0.3).collect();
    // Quantised scores (many ties), shifted up for positives.
    let x = labels.iter().map(|&l| (rng.random_range(0..levels) as f64 + if l { 2.0 } else { 0.0 }) * 0.25).collect();
    (x, labels)
}

#[test]
fn hand_examples() {
    // Positive scores 0.35, 0.8; negatives 0.1, 0.4: 3 of 4 pairs won.
    let s = [0.1f64, 0.4, 0.35, 0.8];
    let y = [false, false, true, true];
    assert!((auroc(&s, &y).unwrap() - 0.75).abs() < 1e-15);
    // Descending: 0.8 (+) P=1 R=1/2; 0.4 (-); 0.35 (+) P=2/3 R=1 -> AP = 1/2 + (1/2)(2/3).
    assert!((average_precision(&s, &y).unwrap() - (0.5 + 1.0 / 3.0)).abs() < 1e-15);
    // All tied: AUC 1/2, AP = prevalence.
    let t = [1.0f32; 5];
    let y = [true, false, false, true, false];
    assert_eq!(auroc(&t, &y).unwrap(), 0.5);
    assert!((average_precision(&t, &y).unwrap() - 0.4).abs() < 1e-15);
    // Perfect and reversed rankings.
    let s = [0.9f32, 0.8, 0.2, 0.1];
    assert_eq!(auroc(&s, &[true, true, false, false]).unwrap(), 1.0);
    assert_eq!(auroc(&s, &[false, false, true, true]).unwrap(), 0.0);
    assert_eq!(average_precision(&s, &[true, true, false, false]).unwrap(), 1.0);
    // Reversed: positives at ranks 3 and 4 -> AP = (1/2)(1/3) + (1/2)(2/4).
    let ap = average_precision(&s, &[false, false, true, true]).unwrap();
    assert!((ap - (1.0 / 6.0 + 0.25)).abs() < 1e-15);
}

#[test]
fn match_brute_force_with_ties() {
    for seed in 0..6 {
        let (x, y) = random_case(400, 5 + seed as u32, seed);
        let a = auroc(&x, &y).unwrap();
        assert!((a - auroc_pairs(&x, &y)).abs() < 1e-13, "seed {seed}");
        let ap = average_precision(&x, &y).unwrap();
        assert!((ap - ap_thresholds(&x, &y)).abs() < 1e-13, "seed {seed}");
        assert!(a > 0.6 && ap > 0.4);
    }
}

#[test]
fn midranks_and_correlations() {
    assert_eq!(midranks(&[3.0f64, 1.0, 3.0, 2.0]).unwrap(), vec![3.5, 1.0, 3.5, 2.0]);
    assert_eq!(midranks(&[-0.0f64, 0.0]).unwrap(), vec![1.5, 1.5]);
    assert!((pearson(&[1.0f64, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0]).unwrap() - 1.0).abs() < 1e-15);
    // dx = dy up to a swap of the middle pair: r = 4 / 5.
    assert!((pearson(&[1.0f32, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).unwrap() - 0.8).abs() < 1e-15);
    assert!((pearson(&[1.0f64, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-15);
    // Ranks x = (1, 2.5, 2.5, 4), y = (1, 3, 2, 4): r = 4.5 / sqrt(4.5 * 5).
    let rho = spearman(&[1.0f64, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
    assert!((rho - 4.5 / (22.5f64).sqrt()).abs() < 1e-15);
    // Spearman is invariant under monotone transforms.
    let x: Vec<f64> = (0..50).map(|i| (i as f64 * 0.7).sin()).collect();
    let y: Vec<f64> = x.iter().map(|v| (3.0 * v).exp()).collect();
    assert!((spearman(&x, &y).unwrap() - 1.0).abs() < 1e-15);
    assert!(pearson(&x, &y).unwrap() < 0.99);
}

#[test]
fn per_row_and_per_column() {
    // 3 x 4 scores.
    let scores = [
        0.9f32, 0.1, 0.8, 0.3, // row 0: positives {0, 2} -> AUC 1
        0.2, 0.7, 0.4, 0.1, // row 1: positives {} -> skipped
        0.5, 0.6, 0.5, 0.1, // row 2: positives {0, 1, 2, 3} -> skipped
    ];
    let positives = vec![vec![0, 2], vec![], vec![3, 1, 0, 2, 2]];
    let r = per_row(&scores, 3, 4, &positives, RankMetric::AuRoc).unwrap();
    assert_eq!(r.values, vec![1.0]);
    assert_eq!(r.evaluated, vec![0]);
    assert_eq!(r.n_skipped, 2);
    assert_eq!(r.mean, Some(1.0));
    // Columns: col 0 positives rows {0, 2}: scores (0.9, 0.2, 0.5) -> neg 0.2, AUC 1.
    // col 1 rows {2}: (0.1, 0.7, 0.6) -> 0.6 beats 0.1 only -> 1/2.
    // col 2 rows {0, 2}: (0.8, 0.4, 0.5) -> 1. col 3 rows {2}: (0.3, 0.1, 0.1) -> ties 0.1, loses 0.3 -> 1/4.
    let c = per_column(&scores, 3, 4, &positives, RankMetric::AuRoc).unwrap();
    assert_eq!(c.values, vec![1.0, 0.5, 1.0, 0.25]);
    assert_eq!(c.n_skipped, 0);
    assert_eq!(c.mean, Some(0.6875));
    // AP of column 1: descending 0.7 (-), 0.6 (+) -> P = 1/2, R = 1.
    let c = per_column(&scores, 3, 4, &positives, RankMetric::AveragePrecision).unwrap();
    assert!((c.values[1] - 0.5).abs() < 1e-15);
    // Everything skipped -> mean None.
    let none = per_row(&scores, 3, 4, &[vec![], vec![], vec![]], RankMetric::AuRoc).unwrap();
    assert_eq!((none.n_skipped, none.mean), (3, None));
}

#[test]
fn per_row_matches_single_calls() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (n_rows, n_cols) = (20, 300);
    let scores: Vec<f32> = (0..n_rows * n_cols).map(|_| rng.random::<f32>()).collect();
    let positives: Vec<Vec<u32>> =
        (0..n_rows).map(|_| (0..n_cols as u32).filter(|_| rng.random::<f64>() < 0.2).collect()).collect();
    let r = per_row(&scores, n_rows, n_cols, &positives, RankMetric::AveragePrecision).unwrap();
    for (&i, &v) in r.evaluated.iter().zip(&r.values) {
        let mut y = vec![false; n_cols];
        for &j in &positives[i] {
            y[j as usize] = true;
        }
        let single = average_precision(&scores[i * n_cols..(i + 1) * n_cols], &y).unwrap();
        assert_eq!(v, single);
    }
    assert_eq!(r.values.len(), n_rows);
}

#[test]
fn errors() {
    assert!(matches!(auroc(&[1.0f64, 2.0], &[true, true]), Err(AnalysisError::InvalidLabels(_))));
    assert!(matches!(average_precision(&[1.0f64], &[true, false]), Err(AnalysisError::LengthMismatch { .. })));
    assert_eq!(auroc(&[1.0f64, f64::NAN], &[true, false]), Err(AnalysisError::NonFinite { what: "scores", row: 1 }));
    assert_eq!(pearson(&[1.0f64, 1.0], &[1.0, 2.0]), Err(AnalysisError::ZeroVariance { what: "x" }));
    assert_eq!(spearman(&[1.0f64, 2.0], &[3.0, 3.0]), Err(AnalysisError::ZeroVariance { what: "y" }));
    assert!(matches!(pearson(&[1.0f64], &[1.0]), Err(AnalysisError::InvalidParameter { .. })));
    assert!(matches!(pearson::<f64>(&[], &[]), Err(AnalysisError::EmptyInput { .. })));
    let scores = [0.0f32; 4];
    assert!(matches!(
        per_row(&scores, 2, 2, &[vec![0], vec![2]], RankMetric::AuRoc),
        Err(AnalysisError::IndexOutOfRange { position: 1, index: 2, bound: 2, .. })
    ));
    assert!(matches!(
        per_column(&scores, 2, 2, &[vec![0]], RankMetric::AuRoc),
        Err(AnalysisError::LengthMismatch { .. })
    ));
    assert!(matches!(
        per_row(&scores, 2, 3, &[vec![], vec![]], RankMetric::AuRoc),
        Err(AnalysisError::ShapeMismatch { .. })
    ));
}
