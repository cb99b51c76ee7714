//! Partition-comparison metrics: adjusted Rand index, mutual-information
//! scores (MI, expected MI, AMI, NMI), homogeneity, completeness and
//! V-measure.
//!
//! Definitions and special cases follow scikit-learn's `sklearn.metrics`
//! (natural logarithms, arithmetic-mean normalisation for AMI and NMI), so
//! results agree with it to floating-point accuracy. Unlike scikit-learn,
//! empty inputs are an error.
//!
//! Labels are arbitrary `u32` codes; use [`crate::analysis::labels::factorize`] for
//! string labels.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::labels::{check_same_len, compact_labels};
use crate::analysis::special::ln_hypergeom_pmf;
use rayon::prelude::*;

/// Sparse contingency table of two labelings.
struct Contingency {
    n: u64,
    row_sums: Vec<u64>,
    col_sums: Vec<u64>,
    /// Non-zero cells `(row, col, count)`.
    cells: Vec<(u32, u32, u64)>,
}

fn contingency(labels_true: &[u32], labels_pred: &[u32]) -> Result<Contingency> {
    check_same_len("labels_true", labels_true.len(), "labels_pred", labels_pred.len())?;
    if labels_true.is_empty() {
        return Err(AnalysisError::EmptyInput { what: "labels_true" });
    }
    let t = compact_labels(labels_true);
    let p = compact_labels(labels_pred);
    let mut keys: Vec<u64> = t.codes.iter().zip(&p.codes).map(|(&a, &b)| ((a as u64) << 32) | b as u64).collect();
    keys.sort_unstable();
    let mut cells = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let mut j = i;
        while j < keys.len() && keys[j] == keys[i] {
            j += 1;
        }
        cells.push(((keys[i] >> 32) as u32, keys[i] as u32, (j - i) as u64));
        i = j;
    }
    Ok(Contingency {
        n: labels_true.len() as u64,
        row_sums: t.counts.iter().map(|&c| c as u64).collect(),
        col_sums: p.counts.iter().map(|&c| c as u64).collect(),
        cells,
    })
}

/// Compensated (Neumaier) summation.
fn neumaier_sum<I: IntoIterator<Item = f64>>(values: I) -> f64 {
    let mut sum = 0.0f64;
    let mut comp = 0.0f64;
    for v in values {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            comp += (sum - t) + v;
        } else {
            comp += (v - t) + sum;
        }
        sum = t;
    }
    sum + comp
}

/// Entropy (natural log) of a vector of class counts summing to `n`.
fn entropy_of_counts(counts: &[u64], n: u64) -> f64 {
    let nonzero = counts.iter().filter(|&&c| c > 0).count();
    if nonzero <= 1 {
        return 0.0;
    }
    let ln_n = (n as f64).ln();
    let nf = n as f64;
    -neumaier_sum(counts.iter().filter(|&&c| c > 0).map(|&c| (c as f64 / nf) * ((c as f64).ln() - ln_n)))
}

fn mutual_info_of(ct: &Contingency) -> f64 {
    if ct.row_sums.len() == 1 || ct.col_sums.len() == 1 {
        return 0.0;
    }
    let nf = ct.n as f64;
    let ln_n = nf.ln();
    let mi = neumaier_sum(ct.cells.iter().map(|&(r, c, nij)| {
        let (a, b) = (ct.row_sums[r as usize] as f64, ct.col_sums[c as usize] as f64);
        let x = nij as f64;
        (x / nf) * (x.ln() + ln_n - a.ln() - b.ln())
    }));
    mi.max(0.0)
}

/// Distinct values of `sizes` with their multiplicities.
fn size_histogram(sizes: &[u64]) -> Vec<(u64, u64)> {
    let mut s = sizes.to_vec();
    s.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for v in s {
        match out.last_mut() {
            Some((val, mult)) if *val == v => *mult += 1,
            _ => out.push((v, 1)),
        }
    }
    out
}

/// Contribution of one (row size `a`, column size `b`) pair to the expected
/// mutual information: `Σ_k P(k) (k/N) ln(N k / (a b))` with `P` the
/// hypergeometric distribution of the cell count.
///
/// The sum starts at the mode and walks outwards; since the hypergeometric
/// distribution is log-concave the terms decrease monotonically, and the
/// walk stops once `P(k) < e^-80 P(mode)` (a truncation far below `f64`
/// resolution).
fn pair_emi(n: u64, a: u64, b: u64) -> f64 {
    let lo = (a + b).saturating_sub(n).max(1);
    let hi = a.min(b);
    if lo > hi {
        return 0.0;
    }
    let nf = n as f64;
    let ab = a as u128 * b as u128;
    let term = |k: u64, lp: f64| -> f64 {
        // ln(N k / (a b)) = ln1p((N k - a b) / (a b)), with the difference exact.
        let diff = (n as u128 * k as u128) as i128 - ab as i128;
        let log_ratio = (diff as f64 / ab as f64).ln_1p();
        (k as f64 / nf) * log_ratio * lp.exp()
    };
    let mode = (((a + 1) as u128 * (b + 1) as u128) / (n as u128 + 2)) as u64;
    let mode = mode.clamp(lo, hi);
    let lp_mode = ln_hypergeom_pmf(mode, n, a, b);
    let cutoff = lp_mode - 80.0;
    let mut terms = vec![term(mode, lp_mode)];
    let mut k = mode;
    while k > lo {
        k -= 1;
        let lp = ln_hypergeom_pmf(k, n, a, b);
        if lp < cutoff {
            break;
        }
        terms.push(term(k, lp));
    }
    let mut k = mode;
    while k < hi {
        k += 1;
        let lp = ln_hypergeom_pmf(k, n, a, b);
        if lp < cutoff {
            break;
        }
        terms.push(term(k, lp));
    }
    neumaier_sum(terms)
}

fn expected_mutual_info_of(ct: &Contingency) -> f64 {
    let rows = size_histogram(&ct.row_sums);
    let cols = size_histogram(&ct.col_sums);
    let n = ct.n;
    let per_row: Vec<f64> = rows
        .par_iter()
        .map(|&(a, ma)| ma as f64 * neumaier_sum(cols.iter().map(|&(b, mb)| mb as f64 * pair_emi(n, a, b))))
        .collect();
    neumaier_sum(per_row)
}

/// Mutual information (natural log) between two labelings, as
/// `sklearn.metrics.mutual_info_score`.
pub fn mutual_information(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(mutual_info_of(&contingency(labels_true, labels_pred)?))
}

/// Expected mutual information of two labelings under the permutation
/// (hypergeometric) model with the observed cluster sizes held fixed.
///
/// Every cell probability is evaluated with a saddle-point form of the
/// hypergeometric distribution (no differences of large log-factorials), so
/// the result is accurate to about 1e-12 relative even for 1e5+ points.
/// Pairs of equal cluster sizes are evaluated once.
pub fn expected_mutual_information(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(expected_mutual_info_of(&contingency(labels_true, labels_pred)?))
}

/// Entropy (natural log) of a labeling; 0 for a single class.
pub fn label_entropy(labels: &[u32]) -> Result<f64> {
    if labels.is_empty() {
        return Err(AnalysisError::EmptyInput { what: "labels" });
    }
    let c = compact_labels(labels);
    let counts: Vec<u64> = c.counts.iter().map(|&x| x as u64).collect();
    Ok(entropy_of_counts(&counts, labels.len() as u64))
}

/// Adjusted Rand index (Hubert & Arabie), as
/// `sklearn.metrics.adjusted_rand_score`: 1 for identical partitions
/// (whatever the label names), about 0 for independent ones, and it can be
/// negative. Computed from exact integer pair counts.
pub fn adjusted_rand_index(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let ct = contingency(labels_true, labels_pred)?;
    let n = ct.n as i128;
    let sum_sq: i128 = ct.cells.iter().map(|&(_, _, c)| (c as i128) * (c as i128)).sum();
    let sum_a2: i128 = ct.row_sums.iter().map(|&a| (a as i128) * (a as i128)).sum();
    let sum_b2: i128 = ct.col_sums.iter().map(|&b| (b as i128) * (b as i128)).sum();
    // Ordered-pair confusion counts.
    let tp = sum_sq - n;
    let fp = sum_b2 - sum_sq;
    let fn_ = sum_a2 - sum_sq;
    let tn = n * n - fp - fn_ - sum_sq;
    if fn_ == 0 && fp == 0 {
        return Ok(1.0);
    }
    let num = 2 * (tp * tn - fn_ * fp);
    let den = (tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn);
    Ok(num as f64 / den as f64)
}

/// Adjusted mutual information with arithmetic-mean normalisation, as
/// scikit-learn's default `adjusted_mutual_info_score`:
/// `(MI - E[MI]) / (mean(H_true, H_pred) - E[MI])`.
///
/// Special cases as scikit-learn: 1 when both labelings have a single
/// class, 0 when exactly one has; numerator and denominator are kept at
/// least machine epsilon in magnitude (with their sign). Identical
/// partitions (up to renaming) give exactly 1, including the limit case of
/// all-singleton partitions where `MI = E[MI]`.
pub fn adjusted_mutual_information(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let ct = contingency(labels_true, labels_pred)?;
    let (r, c) = (ct.row_sums.len(), ct.col_sums.len());
    if r == 1 && c == 1 {
        return Ok(1.0);
    }
    if r == 1 || c == 1 {
        return Ok(0.0);
    }
    if ct.cells.len() == r && r == c {
        // Identical partitions up to renaming: MI = H_true = H_pred, so the
        // ratio is exactly 1 (also in the limit MI = E[MI], e.g. all
        // singletons, where the floating-point quotient would be noise).
        return Ok(1.0);
    }
    let mi = mutual_info_of(&ct);
    let emi = expected_mutual_info_of(&ct);
    let h_true = entropy_of_counts(&ct.row_sums, ct.n);
    let h_pred = entropy_of_counts(&ct.col_sums, ct.n);
    let normalizer = 0.5 * (h_true + h_pred);
    let eps = f64::EPSILON;
    let keep_sign = |x: f64| if x < 0.0 { x.min(-eps) } else { x.max(eps) };
    Ok(keep_sign(mi - emi) / keep_sign(normalizer - emi))
}

/// Normalised mutual information with arithmetic-mean normalisation, as
/// scikit-learn's default `normalized_mutual_info_score`:
/// `MI / mean(H_true, H_pred)`; 1 when both labelings have a single class,
/// 0 when `MI = 0`.
pub fn normalized_mutual_information(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let ct = contingency(labels_true, labels_pred)?;
    if ct.row_sums.len() == 1 && ct.col_sums.len() == 1 {
        return Ok(1.0);
    }
    let mi = mutual_info_of(&ct);
    if mi == 0.0 {
        return Ok(0.0);
    }
    let h_true = entropy_of_counts(&ct.row_sums, ct.n);
    let h_pred = entropy_of_counts(&ct.col_sums, ct.n);
    Ok(mi / (0.5 * (h_true + h_pred)))
}

/// Homogeneity, completeness and their weighted harmonic mean, the V-measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HomogeneityCompleteness {
    /// `MI / H(true)` (1 when `H(true) = 0`): each cluster holds one class.
    pub homogeneity: f64,
    /// `MI / H(pred)` (1 when `H(pred) = 0`): each class sits in one cluster.
    pub completeness: f64,
    /// `(1 + β) h c / (β h + c)`, 0 when `h + c = 0`.
    pub v_measure: f64,
}

/// Homogeneity, completeness and V-measure, as scikit-learn's
/// `homogeneity_completeness_v_measure(labels_true, labels_pred, beta=beta)`.
/// `beta` must be finite and non-negative (1 is the usual V-measure).
pub fn homogeneity_completeness_v_measure(
    labels_true: &[u32],
    labels_pred: &[u32],
    beta: f64,
) -> Result<HomogeneityCompleteness> {
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "beta",
            reason: format!("must be finite and >= 0, got {beta}"),
        });
    }
    let ct = contingency(labels_true, labels_pred)?;
    let h_true = entropy_of_counts(&ct.row_sums, ct.n);
    let h_pred = entropy_of_counts(&ct.col_sums, ct.n);
    let mi = mutual_info_of(&ct);
    let homogeneity = if h_true != 0.0 { mi / h_true } else { 1.0 };
    let completeness = if h_pred != 0.0 { mi / h_pred } else { 1.0 };
    let v_measure = if homogeneity + completeness == 0.0 {
        0.0
    } else {
        (1.0 + beta) * homogeneity * completeness / (beta * homogeneity + completeness)
    };
    Ok(HomogeneityCompleteness { homogeneity, completeness, v_measure })
}

/// Homogeneity score (see [`homogeneity_completeness_v_measure`]).
pub fn homogeneity(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(homogeneity_completeness_v_measure(labels_true, labels_pred, 1.0)?.homogeneity)
}

/// Completeness score (see [`homogeneity_completeness_v_measure`]).
pub fn completeness(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(homogeneity_completeness_v_measure(labels_true, labels_pred, 1.0)?.completeness)
}

/// V-measure with `β = 1` (see [`homogeneity_completeness_v_measure`]).
pub fn v_measure(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(homogeneity_completeness_v_measure(labels_true, labels_pred, 1.0)?.v_measure)
}

#[cfg(test)]
#[path = "cluster_metrics_tests.rs"]
mod tests;
