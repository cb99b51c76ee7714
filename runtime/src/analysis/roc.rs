//! Ranking metrics (auROC, average precision) for binary labels, per-row
//! and per-column evaluation over a dense score matrix, and Pearson /
//! Spearman correlation.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::labels::check_same_len;
use crate::analysis::matrix::{validate_matrix, validate_vector};
use rayon::prelude::*;

/// Mid-ranks (1-based; tied values share the average of their ranks) of
/// finite values.
pub fn midranks<T: Copy + Into<f64>>(values: &[T]) -> Result<Vec<f64>> {
    validate_vector("values", values)?;
    Ok(midranks_unchecked(&values.iter().map(|&v| v.into()).collect::<Vec<f64>>()))
}

fn midranks_unchecked(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_unstable_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0f64; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        // -0.0 and 0.0 are equal scores.
        while j < order.len() && x[order[j]] == x[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share rank ((i + 1) + j) / 2.
        let r = (i + 1 + j) as f64 / 2.0;
        for &o in &order[i..j] {
            ranks[o] = r;
        }
        i = j;
    }
    ranks
}

fn check_binary<T: Copy + Into<f64>>(scores: &[T], labels: &[bool]) -> Result<(usize, usize)> {
    check_same_len("scores", scores.len(), "labels", labels.len())?;
    validate_vector("scores", scores)?;
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(AnalysisError::InvalidLabels(format!(
            "ranking metrics need both classes; got {n_pos} positives and {n_neg} negatives"
        )));
    }
    Ok((n_pos, n_neg))
}

/// Area under the ROC curve, exact with ties handled by mid-ranks:
/// the Mann–Whitney `U` of the positives divided by `n_pos · n_neg` (equal to
/// `sklearn.metrics.roc_auc_score`). Needs at least one positive and one
/// negative.
pub fn auroc<T: Copy + Into<f64>>(scores: &[T], labels: &[bool]) -> Result<f64> {
    let (n_pos, n_neg) = check_binary(scores, labels)?;
    let x: Vec<f64> = scores.iter().map(|&v| v.into()).collect();
    Ok(auroc_unchecked(&x, labels, n_pos, n_neg))
}

fn auroc_unchecked(x: &[f64], labels: &[bool], n_pos: usize, n_neg: usize) -> f64 {
    let ranks = midranks_unchecked(x);
    let rank_sum: f64 = ranks.iter().zip(labels).filter(|(_, &l)| l).map(|(r, _)| r).sum();
    let np = n_pos as f64;
    (rank_sum - np * (np + 1.0) / 2.0) / (np * n_neg as f64)
}

/// Average precision as `sklearn.metrics.average_precision_score`:
/// `Σ_t (R_t − R_{t−1}) P_t` over the distinct score thresholds `t` in
/// decreasing order (tied scores enter together), with precision `P_t` and
/// recall `R_t` of the predictions `score >= t`. Needs at least one positive
/// and one negative.
pub fn average_precision<T: Copy + Into<f64>>(scores: &[T], labels: &[bool]) -> Result<f64> {
    let (n_pos, _) = check_binary(scores, labels)?;
    let x: Vec<f64> = scores.iter().map(|&v| v.into()).collect();
    Ok(average_precision_unchecked(&x, labels, n_pos))
}

fn average_precision_unchecked(x: &[f64], labels: &[bool], n_pos: usize) -> f64 {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_unstable_by(|&a, &b| x[b].total_cmp(&x[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && x[order[j]] == x[order[i]] {
            if labels[order[j]] {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        let recall = tp as f64 / n_pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j;
    }
    ap
}

/// Which ranking metric the per-row / per-column helpers compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankMetric {
    /// [`auroc`].
    AuRoc,
    /// [`average_precision`].
    AveragePrecision,
}

/// Result of a per-row or per-column evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingSummary {
    /// Metric value of every evaluated row (or column), in order.
    pub values: Vec<f64>,
    /// Index of the row (or column) of each entry of `values`.
    pub evaluated: Vec<usize>,
    /// Rows (or columns) skipped for having no positives or no negatives.
    pub n_skipped: usize,
    /// Mean of `values`; `None` when everything was skipped.
    pub mean: Option<f64>,
}

fn summarize(results: Vec<Option<f64>>) -> RankingSummary {
    let mut values = Vec::new();
    let mut evaluated = Vec::new();
    for (i, r) in results.iter().enumerate() {
        if let Some(v) = r {
            values.push(*v);
            evaluated.push(i);
        }
    }
    let n_skipped = results.len() - values.len();
    let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
    RankingSummary { values, evaluated, n_skipped, mean }
}

fn metric_or_skip(x: &[f64], labels: &[bool], metric: RankMetric) -> Option<f64> {
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    Some(match metric {
        RankMetric::AuRoc => auroc_unchecked(x, labels, n_pos, n_neg),
        RankMetric::AveragePrecision => average_precision_unchecked(x, labels, n_pos),
    })
}

fn check_positives(positives: &[Vec<u32>], n_rows: usize, n_cols: usize) -> Result<()> {
    check_same_len("score rows", n_rows, "positives", positives.len())?;
    for (i, row) in positives.iter().enumerate() {
        if let Some(&j) = row.iter().find(|&&j| j as usize >= n_cols) {
            return Err(AnalysisError::IndexOutOfRange {
                what: "positives",
                position: i,
                index: j as usize,
                bound: n_cols,
            });
        }
    }
    Ok(())
}

/// Evaluates `metric` on every row of the dense `n_rows × n_cols` score
/// matrix, where `positives[i]` lists the columns that are positive in row
/// `i` (all others are negative; duplicates are ignored). Rows without
/// positives or without negatives are skipped and counted.
pub fn per_row(
    scores: &[f32],
    n_rows: usize,
    n_cols: usize,
    positives: &[Vec<u32>],
    metric: RankMetric,
) -> Result<RankingSummary> {
    validate_matrix("scores", scores, n_rows, n_cols)?;
    check_positives(positives, n_rows, n_cols)?;
    let results: Vec<Option<f64>> = (0..n_rows)
        .into_par_iter()
        .map(|i| {
            let x: Vec<f64> = scores[i * n_cols..(i + 1) * n_cols].iter().map(|&v| v as f64).collect();
            let mut labels = vec![false; n_cols];
            for &j in &positives[i] {
                labels[j as usize] = true;
            }
            metric_or_skip(&x, &labels, metric)
        })
        .collect();
    Ok(summarize(results))
}

/// Evaluates `metric` on every column of the dense `n_rows × n_cols` score
/// matrix; column `j` is positive in the rows `i` whose `positives[i]`
/// contains `j`. Columns without positives or without negatives are skipped
/// and counted.
pub fn per_column(
    scores: &[f32],
    n_rows: usize,
    n_cols: usize,
    positives: &[Vec<u32>],
    metric: RankMetric,
) -> Result<RankingSummary> {
    validate_matrix("scores", scores, n_rows, n_cols)?;
    check_positives(positives, n_rows, n_cols)?;
    // Transpose the positive lists: rows that are positive in each column.
    let mut col_pos: Vec<Vec<u32>> = vec![Vec::new(); n_cols];
    for (i, row) in positives.iter().enumerate() {
        for &j in row {
            col_pos[j as usize].push(i as u32);
        }
    }
    let results: Vec<Option<f64>> = (0..n_cols)
        .into_par_iter()
        .map(|j| {
            let x: Vec<f64> = (0..n_rows).map(|i| scores[i * n_cols + j] as f64).collect();
            let mut labels = vec![false; n_rows];
            for &i in &col_pos[j] {
                labels[i as usize] = true;
            }
            metric_or_skip(&x, &labels, metric)
        })
        .collect();
    Ok(summarize(results))
}

/// Pearson correlation coefficient (two-pass, in `f64`). Errors on length
/// mismatch, non-finite values, fewer than two points, or a constant input.
pub fn pearson<T: Copy + Into<f64>>(x: &[T], y: &[T]) -> Result<f64> {
    check_same_len("x", x.len(), "y", y.len())?;
    validate_vector("x", x)?;
    validate_vector("y", y)?;
    let xf: Vec<f64> = x.iter().map(|&v| v.into()).collect();
    let yf: Vec<f64> = y.iter().map(|&v| v.into()).collect();
    pearson_f64(&xf, &yf)
}

fn pearson_f64(x: &[f64], y: &[f64]) -> Result<f64> {
    if x.len() < 2 {
        return Err(AnalysisError::InvalidParameter {
            name: "x",
            reason: format!("a correlation needs at least 2 points, got {}", x.len()),
        });
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(AnalysisError::ZeroVariance { what: "x" });
    }
    if syy == 0.0 {
        return Err(AnalysisError::ZeroVariance { what: "y" });
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Spearman rank correlation: Pearson correlation of the mid-ranks.
pub fn spearman<T: Copy + Into<f64>>(x: &[T], y: &[T]) -> Result<f64> {
    check_same_len("x", x.len(), "y", y.len())?;
    validate_vector("x", x)?;
    validate_vector("y", y)?;
    let rx = midranks_unchecked(&x.iter().map(|&v| v.into()).collect::<Vec<f64>>());
    let ry = midranks_unchecked(&y.iter().map(|&v| v.into()).collect::<Vec<f64>>());
    pearson_f64(&rx, &ry)
}

#[cfg(test)]
#[path = "roc_tests.rs"]
mod tests;
