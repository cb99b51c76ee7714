//! Training metrics of scBasset (as calico/scBasset `bin/scbasset_train.py` compiles them): per-cell auROC and auPR
//! accumulated over an epoch like Keras `AUC(multi_label=True, num_thresholds=200)`, and an exact auROC for per-peak
//! scores and tests.
//!
//! **Histogram AUC.** Keras evaluates the confusion matrix at 200 thresholds `t₀ = −ε, tᵢ = i/199 (i = 1…198),
//! t₁₉₉ = 1 + ε`, counting a prediction `p` as positive at `tᵢ` when `p > tᵢ`. Equivalently, each prediction falls
//! into bin `b(p)` = the number of thresholds below it, `clamp(⌈199·p⌉, 1, 199)`, and the true positives at
//! threshold `i` are the positives in bins `> i`. [`CellHistograms`] keeps, per cell, the bin counts of all
//! predictions and of the positive ones (on the device, `n_cells × 200` Int32 each); at the end of the epoch
//! [`histogram_auc`] turns one cell's counts into
//! - auROC by the trapezoid rule over the 200 (FPR, TPR) points (Keras `summation_method='interpolation'`), and
//! - auPR as the **step-wise average precision** `Σᵢ (Rᵢ − Rᵢ₊₁)·Pᵢ` over the thresholds. Keras' PR curve uses the
//!   Davis–Goadrich interpolation between thresholds instead; the two agree closely but not exactly.
//!
//! Cells with no positives or no negatives are **skipped** in the mean over cells (Keras counts them as 0).

use tch::{Device, Kind, Tensor};

use crate::models::error::Result;

/// Number of thresholds (and histogram bins) per cell, as Keras' `AUC` default.
pub const AUC_THRESHOLDS: usize = 200;

/// Exact auROC of `scores` against 0/1 `labels` (Mann–Whitney U with average ranks for ties), `None` when either
/// class is empty or the lengths differ.
pub fn exact_auroc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() {
        return None;
    }
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // ranks start+1 ..= end share their average
        let avg_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_tie = order[start..end].iter().filter(|&&i| labels[i]).count();
        rank_sum_pos += avg_rank * pos_in_tie as f64;
        start = end;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}

/// Exact auROC of one row of `scores` whose positives are the sorted column indices `positives`.
pub fn exact_auroc_positives(scores: &[f32], positives: &[u32]) -> Option<f64> {
    let mut labels = vec![false; scores.len()];
    for &c in positives {
        *labels.get_mut(c as usize)? = true;
    }
    exact_auroc(scores, &labels)
}

/// Step-wise average precision `Σ (Rₖ − Rₖ₋₁)·Pₖ` over the distinct scores (scikit-learn's definition), for tests.
pub fn exact_average_precision(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let n_pos = labels.iter().filter(|&&l| l).count();
    if n_pos == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut ap, mut last_recall) = (0usize, 0usize, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            tp += labels[order[j]] as usize;
            seen += 1;
            j += 1;
        }
        let recall = tp as f64 / n_pos as f64;
        ap += (recall - last_recall) * tp as f64 / seen as f64;
        last_recall = recall;
        i = j;
    }
    Some(ap)
}

/// auROC (trapezoid) and step-wise auPR of one cell from its bin counts (`AUC_THRESHOLDS` bins each, bin `b` =
/// number of thresholds below the prediction). `None` for a cell without positives or without negatives.
pub fn histogram_auc(pos: &[i64], neg: &[i64]) -> Option<(f64, f64)> {
    let n_pos: i64 = pos.iter().sum();
    let n_neg: i64 = neg.iter().sum();
    if n_pos == 0 || n_neg == 0 || pos.len() != neg.len() {
        return None;
    }
    let k = pos.len();
    // tp[i], fp[i]: predictions in bins > i, for thresholds i = 0..k
    let (mut tp, mut fp) = (vec![0i64; k], vec![0i64; k]);
    let (mut acc_tp, mut acc_fp) = (0i64, 0i64);
    for i in (0..k).rev() {
        tp[i] = acc_tp;
        fp[i] = acc_fp;
        acc_tp += pos[i];
        acc_fp += neg[i];
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    let (mut roc, mut pr) = (0.0f64, 0.0f64);
    for i in 0..k - 1 {
        let (tpr0, tpr1) = (tp[i] as f64 / p, tp[i + 1] as f64 / p);
        let (fpr0, fpr1) = (fp[i] as f64 / n, fp[i + 1] as f64 / n);
        roc += (fpr0 - fpr1) * (tpr0 + tpr1) / 2.0;
        if tp[i] + fp[i] > 0 {
            pr += (tpr0 - tpr1) * tp[i] as f64 / (tp[i] + fp[i]) as f64;
        }
    }
    Some((roc, pr))
}

/// Means over cells of the per-cell AUCs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AucSummary {
    /// Mean per-cell auROC; `None` when no cell has both classes.
    pub auroc: Option<f64>,
    /// Mean per-cell auPR (step-wise average precision).
    pub aupr: Option<f64>,
    /// Cells with both classes, i.e. the cells averaged.
    pub cells_used: usize,
}

/// Per-cell histograms of predicted probabilities, accumulated over an epoch on the device.
#[derive(Debug)]
pub struct CellHistograms {
    n_cells: i64,
    all: Tensor,
    pos: Tensor,
    offsets: Tensor,
}

impl CellHistograms {
    /// Empty histograms for `n_cells` cells on `device`.
    pub fn new(n_cells: usize, device: Device) -> Self {
        let bins = AUC_THRESHOLDS as i64;
        let size = [n_cells as i64 * bins];
        CellHistograms {
            n_cells: n_cells as i64,
            all: Tensor::zeros(size, (Kind::Int, device)),
            pos: Tensor::zeros(size, (Kind::Int, device)),
            offsets: (Tensor::arange(n_cells as i64, (Kind::Int64, device)) * bins).unsqueeze(0),
        }
    }

    /// Adds a minibatch: `logits` `(B, n_cells)` and the flat Int64 indices `row·n_cells + cell` of its positives.
    pub fn update(&mut self, logits: &Tensor, positives: &Tensor) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            let top = (AUC_THRESHOLDS - 1) as f64;
            let bins =
                (logits.detach().to_kind(Kind::Float).sigmoid() * top).ceil().clamp(1.0, top).to_kind(Kind::Int64);
            let idx_all = (&bins + &self.offsets).reshape([-1]);
            let ones = Tensor::ones([idx_all.numel() as i64], (Kind::Int, idx_all.device()));
            let _ = self.all.f_index_add_(0, &idx_all, &ones)?;
            if positives.numel() > 0 {
                let pos_bins = bins.reshape([-1]).f_index_select(0, positives)?;
                let idx_pos = positives.remainder(self.n_cells) * AUC_THRESHOLDS as i64 + pos_bins;
                let _ = self.pos.f_index_add_(0, &idx_pos, &ones.narrow(0, 0, idx_pos.numel() as i64))?;
            }
            Ok(())
        })
    }

    /// Adds a minibatch over a subset of cells: `logits` and 0/1 `targets` `(B, m)` for the cells `cells` `(m)`
    /// (Int64 indices into `0..n_cells`, repeats allowed).
    pub fn update_subset(&mut self, logits: &Tensor, targets: &Tensor, cells: &Tensor) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            let top = (AUC_THRESHOLDS - 1) as f64;
            let bins =
                (logits.detach().to_kind(Kind::Float).sigmoid() * top).ceil().clamp(1.0, top).to_kind(Kind::Int64);
            let idx = (bins + (cells * AUC_THRESHOLDS as i64).unsqueeze(0)).reshape([-1]);
            let ones = Tensor::ones([idx.numel() as i64], (Kind::Int, idx.device()));
            let _ = self.all.f_index_add_(0, &idx, &ones)?;
            let _ = self.pos.f_index_add_(0, &idx, &targets.reshape([-1]).to_kind(Kind::Int))?;
            Ok(())
        })
    }

    /// Mean per-cell auROC and auPR of everything added so far.
    pub fn summary(&self) -> Result<AucSummary> {
        let all: Vec<i32> = Vec::try_from(self.all.to_device(Device::Cpu))?;
        let pos: Vec<i32> = Vec::try_from(self.pos.to_device(Device::Cpu))?;
        let k = AUC_THRESHOLDS;
        let (mut roc_sum, mut pr_sum, mut used) = (0.0f64, 0.0f64, 0usize);
        let (mut p, mut n) = (vec![0i64; k], vec![0i64; k]);
        for c in 0..self.n_cells as usize {
            for b in 0..k {
                p[b] = pos[c * k + b] as i64;
                n[b] = all[c * k + b] as i64 - p[b];
            }
            if let Some((roc, pr)) = histogram_auc(&p, &n) {
                roc_sum += roc;
                pr_sum += pr;
                used += 1;
            }
        }
        let mean = |s: f64| (used > 0).then(|| s / used as f64);
        Ok(AucSummary { auroc: mean(roc_sum), aupr: mean(pr_sum), cells_used: used })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn exact_auroc_small_cases() {
        assert_eq!(exact_auroc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(exact_auroc(&[0.9, 0.1], &[false, true]), Some(0.0));
        assert_eq!(exact_auroc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // pos {0.8, 0.3}, neg {0.5, 0.3, 0.1}: pairs won 3 + 1 + 0.5 = 4.5 of 6... 0.8 beats 3, 0.3 beats 0.1 and ties 0.3
        let a = exact_auroc(&[0.8, 0.3, 0.5, 0.3, 0.1], &[true, true, false, false, false]).unwrap();
        assert!((a - 4.5 / 6.0).abs() < 1e-12, "{a}");
        assert_eq!(exact_auroc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(exact_auroc_positives(&[0.2, 0.7, 0.1], &[1]), Some(1.0));
        assert_eq!(exact_auroc_positives(&[0.2, 0.7, 0.1], &[5]), None);
    }

    #[test]
    fn histogram_auc_agrees_with_exact_on_random_data() {
        let _rng = crate::testing::torch_rng_lock();
        let (rows, n_cells) = (300usize, 25usize);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut labels = vec![false; rows * n_cells];
        let mut logits = vec![0f32; rows * n_cells];
        for c in 0..n_cells {
            let rate = 0.05 + 0.4 * c as f64 / n_cells as f64;
            let signal = c as f32 / 8.0; // from uninformative to well separated
            for r in 0..rows {
                let y = rng.random_bool(rate);
                labels[r * n_cells + c] = y;
                let noise: f32 = rng.random_range(-2.5f32..2.5);
                logits[r * n_cells + c] = noise + if y { signal } else { 0.0 } - 1.0;
            }
        }
        let positives: Vec<i64> = (0..rows * n_cells).filter(|&i| labels[i]).map(|i| i as i64).collect();
        let mut h = CellHistograms::new(n_cells, Device::Cpu);
        // two updates, as two minibatches
        let t = Tensor::from_slice(&logits).view([rows as i64, n_cells as i64]);
        let half = (rows / 2 * n_cells) as i64;
        let (first, second): (Vec<i64>, Vec<i64>) = positives.iter().partition(|&&i| i < half);
        h.update(&t.narrow(0, 0, rows as i64 / 2), &Tensor::from_slice(&first)).unwrap();
        let second: Vec<i64> = second.iter().map(|i| i - half).collect();
        h.update(&t.narrow(0, rows as i64 / 2, rows as i64 / 2), &Tensor::from_slice(&second)).unwrap();
        let summary = h.summary().unwrap();

        let (mut roc, mut ap, mut used) = (0.0, 0.0, 0);
        for c in 0..n_cells {
            let s: Vec<f32> = (0..rows).map(|r| 1.0 / (1.0 + (-logits[r * n_cells + c]).exp())).collect();
            let l: Vec<bool> = (0..rows).map(|r| labels[r * n_cells + c]).collect();
            if let (Some(a), Some(p)) = (exact_auroc(&s, &l), exact_average_precision(&s, &l)) {
                roc += a;
                ap += p;
                used += 1;
            }
        }
        assert_eq!(summary.cells_used, used);
        let (roc, ap) = (roc / used as f64, ap / used as f64);
        let (h_roc, h_ap) = (summary.auroc.unwrap(), summary.aupr.unwrap());
        assert!(roc > 0.7, "test data should carry signal: exact auROC {roc}");
        assert!((h_roc - roc).abs() < 0.01, "histogram auROC {h_roc} vs exact {roc}");
        assert!((h_ap - ap).abs() < 0.02, "histogram auPR {h_ap} vs exact {ap}");
    }

    #[test]
    fn cells_without_both_classes_are_skipped() {
        let _rng = crate::testing::torch_rng_lock();
        let mut h = CellHistograms::new(3, Device::Cpu);
        // cell 0: perfect; cell 1: never positive; cell 2: always positive
        let logits = Tensor::from_slice(&[3.0f32, 0.0, 1.0, -3.0, 0.5, 1.0]).view([2, 3]);
        h.update(&logits, &Tensor::from_slice(&[0i64, 2, 5])).unwrap();
        let s = h.summary().unwrap();
        assert_eq!(s.cells_used, 1);
        assert!((s.auroc.unwrap() - 1.0).abs() < 1e-12 && (s.aupr.unwrap() - 1.0).abs() < 1e-12, "{s:?}");
        assert_eq!(CellHistograms::new(2, Device::Cpu).summary().unwrap().auroc, None);
    }
}
