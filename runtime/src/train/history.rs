//! Per-epoch training statistics, the training history and the Keras `EarlyStopping` rule replayed over it.

use serde::{Deserialize, Serialize};

/// Statistics of one epoch. AUC fields are `None` when undefined (no cell or peak with both classes, or no
/// validation set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss (BCE + L2 penalty, as Keras reports it), weighted by minibatch size.
    pub train_loss: f64,
    /// Mean per-cell auROC over the epoch's training predictions (training mode, augmented inputs), Keras' `auc`.
    pub train_auroc: Option<f64>,
    /// Mean per-cell auPR (step-wise average precision), Keras' `auc_1`.
    pub train_aupr: Option<f64>,
    /// Validation loss (eval mode, no augmentation; BCE + L2 penalty).
    pub val_loss: Option<f64>,
    /// Validation mean per-cell auROC.
    pub val_auroc: Option<f64>,
    /// Validation mean per-cell auPR.
    pub val_aupr: Option<f64>,
    /// Validation mean per-peak auROC (exact, over the cells of each peak; peaks with both classes).
    pub val_peak_auroc: Option<f64>,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// All epochs trained so far, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One entry per finished epoch.
    pub epochs: Vec<EpochStats>,
}

impl History {
    /// Number of finished epochs.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// Whether no epoch has finished.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// The last finished epoch.
    pub fn last(&self) -> Option<&EpochStats> {
        self.epochs.last()
    }

    /// The epoch number (from 1) with the highest training auROC, the first one on ties (Keras `ModelCheckpoint`
    /// with `save_best_only` on `auc`, mode max: a strict improvement is needed to replace the best).
    pub fn best_epoch(&self) -> Option<usize> {
        self.best().map(|s| s.epoch)
    }

    /// The statistics of [`best_epoch`](Self::best_epoch).
    pub fn best(&self) -> Option<&EpochStats> {
        let mut best: Option<&EpochStats> = None;
        for s in &self.epochs {
            if let Some(a) = s.train_auroc {
                if best.and_then(|b| b.train_auroc).is_none_or(|b| a > b) {
                    best = Some(s);
                }
            }
        }
        best
    }
}

/// Keras `EarlyStopping(monitor='auc', mode='max', min_delta, patience)`: an epoch improves when its value exceeds
/// the best so far by more than `min_delta`; training stops once `patience` epochs in a row have not improved
/// (with `patience = 0`, after the first epoch that does not improve).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    patience: usize,
    min_delta: f64,
    best: f64,
    wait: usize,
}

impl EarlyStopping {
    /// A fresh monitor.
    pub fn new(patience: usize, min_delta: f64) -> Self {
        EarlyStopping { patience, min_delta, best: f64::NEG_INFINITY, wait: 0 }
    }

    /// The monitor's state after the epochs of `history` (training auROC).
    pub fn replay(history: &History, patience: usize, min_delta: f64) -> Self {
        let mut s = Self::new(patience, min_delta);
        for e in &history.epochs {
            s.update(e.train_auroc);
        }
        s
    }

    /// Records one epoch's monitored value (`None` never improves); returns whether it improved.
    pub fn update(&mut self, value: Option<f64>) -> bool {
        self.wait += 1;
        match value {
            Some(v) if v - self.min_delta > self.best => {
                self.best = v;
                self.wait = 0;
                true
            }
            _ => false,
        }
    }

    /// Epochs since the last improvement.
    pub fn wait(&self) -> usize {
        self.wait
    }

    /// Whether training should stop now.
    pub fn should_stop(&self) -> bool {
        self.wait > 0 && self.wait >= self.patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(aucs: &[Option<f64>]) -> History {
        let epochs = aucs
            .iter()
            .enumerate()
            .map(|(i, &a)| EpochStats {
                epoch: i + 1,
                train_loss: 0.5,
                train_auroc: a,
                train_aupr: None,
                val_loss: None,
                val_auroc: None,
                val_aupr: None,
                val_peak_auroc: None,
                seconds: 0.0,
                lr: 0.01,
            })
            .collect();
        History { epochs }
    }

    #[test]
    fn best_epoch_is_the_first_maximum() {
        let h = history(&[Some(0.6), None, Some(0.8), Some(0.8), Some(0.7)]);
        assert_eq!(h.best_epoch(), Some(3));
        assert_eq!(history(&[None, None]).best_epoch(), None);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<History>(&json).unwrap(), h);
    }

    #[test]
    fn early_stopping_follows_keras() {
        // improvements must exceed min_delta = 0.01
        let mut s = EarlyStopping::new(2, 0.01);
        assert!(s.update(Some(0.5)));
        assert!(!s.update(Some(0.505)) && !s.should_stop());
        assert!(!s.update(Some(0.51)) && s.should_stop());
        let h = history(&[Some(0.5), Some(0.505), Some(0.51)]);
        assert_eq!(EarlyStopping::replay(&h, 2, 0.01), s);
        let mut s = EarlyStopping::new(3, 0.0);
        for v in [0.1, 0.2, 0.2, 0.3, 0.3, 0.3] {
            s.update(Some(v));
        }
        assert!(!s.should_stop() && s.wait() == 2);
        s.update(None);
        assert!(s.should_stop());
    }
}
