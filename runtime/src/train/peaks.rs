//! The peak-accessibility objective: a sequence model and a per-cell head trained on binary peak × cell data
//! (scBasset from scratch, and fine-tuning with LoRA adapters and a new per-cell layer or a cell-state decoder).
//!
//! A minibatch of peaks → base codes → one-hot → (augmentation) → trunk `z` → head logits → binary cross-entropy
//! from the logits and the positive entries only ([`bce_with_logits_positives`]; + optional L2 terms, Keras' sum
//! form). With `cells_per_batch`, each minibatch reads out only that many cells, sampled with replacement as scooby
//! samples cells per sequence, so a step's cost does not grow with the number of cells. Training metrics are
//! per-cell auROC/auPR from histograms of the epoch's predictions; validation (evaluation mode, all cells, no
//! augmentation) adds the loss and the exact mean per-peak auROC over cells.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::augment::Augmenter;
use super::data::TrainData;
use super::error::TrainError;
use super::loss::{bce_with_logits_positives, positive_flat_indices};
use super::metrics::{exact_auroc_positives, CellHistograms};
use super::trainer::{stream_seed, Objective, TrainMetrics, ValMetrics, STREAM_AUGMENT, STREAM_CELLS};
use crate::heads::CellHead;
use crate::models::{one_hot, SequenceModel};

/// How the objective trains.
pub struct PeakOptions {
    /// Run the trunk in training mode (batch statistics, dropout); false for fine-tuning a frozen trunk.
    pub train_trunk: bool,
    /// Reverse complement (p = 1/2) and shift in {−3…3}, drawn once per minibatch.
    pub augment: bool,
    /// Cells read out per minibatch, sampled with replacement (`None`: all cells).
    pub cells_per_batch: Option<usize>,
    /// `(tensor, coefficient)`: `coefficient · Σ tensor²` is added to the loss.
    pub l2: Vec<(Tensor, f64)>,
}

/// The objective over a model, a head and peak data.
pub struct PeakObjective<'a> {
    model: &'a dyn SequenceModel,
    head: &'a dyn CellHead,
    data: &'a TrainData<'a>,
    options: PeakOptions,
    augmenter: Augmenter,
    cell_rng: ChaCha8Rng,
    hist: CellHistograms,
    val_hist: CellHistograms,
    val_loss: f64,
    val_peak_sum: f64,
    val_peaks_used: usize,
}

impl<'a> PeakObjective<'a> {
    /// The objective for `model` read out by `head` on `data` (validated by the caller against the model).
    pub fn new(
        model: &'a dyn SequenceModel,
        head: &'a dyn CellHead,
        data: &'a TrainData<'a>,
        options: PeakOptions,
    ) -> Self {
        let device = model.device();
        PeakObjective {
            model,
            head,
            data,
            options,
            augmenter: Augmenter::new(0),
            cell_rng: ChaCha8Rng::seed_from_u64(0),
            hist: CellHistograms::new(data.n_cells, device),
            val_hist: CellHistograms::new(data.n_cells, device),
            val_loss: 0.0,
            val_peak_sum: 0.0,
            val_peaks_used: 0,
        }
    }

    fn loss(&self, logits: &Tensor, positives: &Tensor) -> Result<Tensor, TrainError> {
        let mut loss = bce_with_logits_positives(logits, positives)?;
        for (t, coefficient) in &self.options.l2 {
            loss += t.square().sum(Kind::Float) * *coefficient;
        }
        Ok(loss)
    }
}

/// Codes `(B, seq_len)` UInt8 and the flat positive indices of `peaks`, on `device`.
pub fn gather(data: &TrainData, peaks: &[usize], device: Device) -> Result<(Tensor, Tensor), TrainError> {
    let mut codes = Vec::with_capacity(peaks.len() * data.seq_len);
    for &p in peaks {
        codes.extend_from_slice(data.peak_codes(p));
    }
    let rows: Vec<&[u32]> = peaks.iter().map(|&p| data.positives.row(p)).collect();
    let flat = positive_flat_indices(&rows, data.n_cells)?;
    let codes = Tensor::from_slice(&codes).f_view([peaks.len() as i64, data.seq_len as i64])?.f_to_device(device)?;
    Ok((codes, Tensor::from_slice(&flat).f_to_device(device)?))
}

/// Sum of the exact per-peak auROCs over the cells of `logits` `(peaks.len(), n_cells)`, and how many peaks had
/// both classes.
pub fn peak_auroc_sum(logits: &Tensor, peaks: &[usize], data: &TrainData) -> Result<(f64, usize), TrainError> {
    let host: Vec<f32> = Vec::try_from(logits.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_reshape([-1])?)?;
    let (mut sum, mut used) = (0.0, 0);
    for (row, &p) in host.chunks(data.n_cells).zip(peaks) {
        if let Some(a) = exact_auroc_positives(row, &data.positives[p]) {
            sum += a;
            used += 1;
        }
    }
    Ok((sum, used))
}

/// Whether a scalar loss is finite: diverged logits are kept out of the metric histograms (the trainer then stops with
/// its NaN error).
fn finite(loss: &Tensor) -> Result<bool, TrainError> {
    Ok(loss.f_double_value(&[])?.is_finite())
}

/// 0/1 targets `(B, m)` and the flat indices of their ones, for `peaks` and the sampled `cells`.
fn subset_targets(data: &TrainData, peaks: &[usize], cells: &[i64]) -> (Tensor, Vec<i64>) {
    let m = cells.len();
    let mut t = vec![0f32; peaks.len() * m];
    let mut flat = Vec::new();
    for (r, &p) in peaks.iter().enumerate() {
        let pos = &data.positives[p];
        for (j, &c) in cells.iter().enumerate() {
            if pos.binary_search(&(c as u32)).is_ok() {
                t[r * m + j] = 1.0;
                flat.push((r * m + j) as i64);
            }
        }
    }
    (Tensor::from_slice(&t).view([peaks.len() as i64, m as i64]), flat)
}

impl Objective for PeakObjective<'_> {
    fn n_train(&self) -> usize {
        self.data.train.len()
    }

    fn n_val(&self) -> usize {
        self.data.val.len()
    }

    fn begin_epoch(&mut self, epoch: usize, seed: u64) -> Result<(), TrainError> {
        self.augmenter = Augmenter::new(stream_seed(seed, epoch, STREAM_AUGMENT));
        self.cell_rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, epoch, STREAM_CELLS));
        self.hist = CellHistograms::new(self.data.n_cells, self.model.device());
        Ok(())
    }

    fn train_loss(&mut self, batch: &[usize]) -> Result<Tensor, TrainError> {
        let device = self.model.device();
        let peaks: Vec<usize> = batch.iter().map(|&i| self.data.train[i]).collect();
        let (codes, positives) = gather(self.data, &peaks, device)?;
        let mut x = one_hot(&codes)?;
        if self.options.augment {
            x = self.augmenter.augment(&x).0;
        }
        let z = self.model.embed(&x, self.options.train_trunk);
        match self.options.cells_per_batch {
            None => {
                let logits = self.head.logits(&z, true);
                let loss = self.loss(&logits, &positives)?;
                if finite(&loss)? {
                    self.hist.update(&logits, &positives)?;
                }
                Ok(loss)
            }
            Some(m) => {
                let n = self.data.n_cells;
                let cells: Vec<i64> = (0..m).map(|_| self.cell_rng.random_range(0..n) as i64).collect();
                let idx = Tensor::from_slice(&cells).f_to_device(device)?;
                let logits = self.head.logits_for(&z, &idx, true);
                let (targets, flat) = subset_targets(self.data, &peaks, &cells);
                let loss = self.loss(&logits, &Tensor::from_slice(&flat).f_to_device(device)?)?;
                if finite(&loss)? {
                    self.hist.update_subset(&logits, &targets.f_to_device(device)?, &idx)?;
                }
                Ok(loss)
            }
        }
    }

    fn train_metrics(&mut self) -> Result<TrainMetrics, TrainError> {
        let s = self.hist.summary()?;
        Ok(TrainMetrics { auroc: s.auroc, aupr: s.aupr })
    }

    fn begin_validation(&mut self) -> Result<(), TrainError> {
        self.val_hist = CellHistograms::new(self.data.n_cells, self.model.device());
        (self.val_loss, self.val_peak_sum, self.val_peaks_used) = (0.0, 0.0, 0);
        Ok(())
    }

    fn validate(&mut self, batch: &[usize]) -> Result<(), TrainError> {
        let peaks: Vec<usize> = batch.iter().map(|&i| self.data.val[i]).collect();
        let (codes, positives) = gather(self.data, &peaks, self.model.device())?;
        let z = self.model.embed(&one_hot(&codes)?, false);
        let logits = self.head.logits(&z, false);
        self.val_loss += self.loss(&logits, &positives)?.f_double_value(&[])? * peaks.len() as f64;
        self.val_hist.update(&logits, &positives)?;
        let (sum, used) = peak_auroc_sum(&logits, &peaks, self.data)?;
        self.val_peak_sum += sum;
        self.val_peaks_used += used;
        Ok(())
    }

    fn val_metrics(&mut self) -> Result<ValMetrics, TrainError> {
        let s = self.val_hist.summary()?;
        Ok(ValMetrics {
            loss: Some(self.val_loss / self.data.val.len().max(1) as f64),
            auroc: s.auroc,
            aupr: s.aupr,
            item_auroc: (self.val_peaks_used > 0).then(|| self.val_peak_sum / self.val_peaks_used as f64),
        })
    }
}
