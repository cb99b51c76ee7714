//! The per-cell profile objective (scooby, gagneurlab/scooby `scripts/train_multiome.py`): a
//! [`CellProfileModel`] predicts bins × (cells × tracks) for each window's sampled cells from the window's sequence
//! and the cells' state embeddings; the loss is scooby's [Poisson–multinomial](poisson_multinomial) over every
//! cell-track profile, in fp32.
//!
//! Items come from [`ProfileData`] (cells with replacement, shift and reverse complement drawn per (seed, epoch,
//! item)). The model runs in training mode during training steps (scooby switches every batch-norm and dropout layer to
//! training mode after its step-0 evaluation; `train_mode: false` keeps the trunk's moving statistics instead) and in
//! evaluation mode for validation.
//!
//! Metrics (the trainer's fields, reused): [`TrainMetrics::auroc`] and [`ValMetrics::auroc`] hold the **mean Pearson
//! correlation** between ln(1 + prediction) and ln(1 + target) over the bins of each cell-track profile (profiles
//! with a constant prediction or target are skipped), averaged over the epoch's / validation pass's profiles;
//! [`ValMetrics::loss`] is the mean validation loss per window. `aupr` and `item_auroc` stay empty. The training
//! "auROC" is therefore the early-stopping and best-weight monitor (higher is better, as for auROC).

use tch::{Device, Kind, Tensor};

use super::error::TrainError;
use super::profile_loss::{poisson_multinomial, EPS, TOTAL_WEIGHT};
use super::trainer::{Objective, TrainMetrics, ValMetrics};
use crate::models::borzoi::TrunkBackward;
use crate::models::profile::CellProfileModel;
use crate::profile::dataset::{context_onehot, stack_targets, ProfileData, ProfileItem};

/// The objective over a profile model, its data and the cells' state embeddings.
pub struct ProfileObjective<'a> {
    model: &'a dyn CellProfileModel,
    data: &'a ProfileData<'a>,
    /// `(n_cells, E)` fp32 on the model's device.
    states: Tensor,
    /// Run the model in training mode during training steps (scooby: true).
    pub train_mode: bool,
    /// Weight of the Poisson term (scooby: 0.2).
    pub total_weight: f64,
    /// Checkpoint the trunk's activations in training steps (recomputed in the backward pass; the same gradients in
    /// a fraction of the memory, [`CellProfileModel::try_forward_checkpointed`]).
    pub checkpoint_activations: bool,
    /// The rest of the current step's backward pass (checkpointed trunk).
    pending: Option<TrunkBackward<'a>>,
    seed: u64,
    epoch: usize,
    train_r: (f64, usize),
    val_r: (f64, usize),
    val_loss: (f64, usize),
}

fn data_err(e: crate::RuntimeError) -> TrainError {
    match e {
        crate::RuntimeError::Interrupted => TrainError::Callback("interrupted".into()),
        other => TrainError::InvalidData(other.to_string()),
    }
}

/// Sum and count of the per-profile Pearson correlations of ln(1 + x) between `pred` and `target` `(B, L, C)` over
/// `L`; profiles with zero variance on either side are skipped.
pub fn profile_pearson_sum(pred: &Tensor, target: &Tensor) -> Result<(f64, usize), TrainError> {
    let p = pred.f_detach()?.f_to_kind(Kind::Double)?.f_log1p()?;
    let t = target.f_to_kind(Kind::Double)?.f_to_device(p.device())?.f_log1p()?;
    let p = &p - p.f_mean_dim(1, true, Kind::Double)?;
    let t = &t - t.f_mean_dim(1, true, Kind::Double)?;
    let cov = (&p * &t).f_sum_dim_intlist(1, false, Kind::Double)?;
    let vp = p.square().f_sum_dim_intlist(1, false, Kind::Double)?;
    let vt = t.square().f_sum_dim_intlist(1, false, Kind::Double)?;
    let ok = vp.gt(1e-12).logical_and(&vt.gt(1e-12));
    let r = (cov / (vp * vt).clamp_min(1e-24).sqrt()).masked_select(&ok);
    Ok((r.f_sum(Kind::Double)?.f_double_value(&[])?, r.numel()))
}

impl<'a> ProfileObjective<'a> {
    /// `states` holds one state embedding per cell of the coverage, row-aligned with its cells.
    pub fn new(
        model: &'a dyn CellProfileModel,
        data: &'a ProfileData<'a>,
        states: &Tensor,
    ) -> Result<Self, TrainError> {
        let n = data.coverage.n_cells() as i64;
        if states.dim() != 2 || states.size() != [n, model.state_dim() as i64] {
            return Err(TrainError::InvalidData(format!(
                "cell embeddings of shape {:?}; the coverage has {n} cells and the model takes {}-wide embeddings",
                states.size(),
                model.state_dim()
            )));
        }
        if data.n_tracks() != model.n_tracks() || data.seq_len != model.seq_len() || data.bins != model.bins() {
            return Err(TrainError::InvalidData("the data was prepared for another model geometry".into()));
        }
        Ok(ProfileObjective {
            model,
            data,
            states: states.f_to_kind(Kind::Float)?.f_to_device(model.device())?.f_detach()?,
            train_mode: true,
            total_weight: TOTAL_WEIGHT,
            checkpoint_activations: false,
            pending: None,
            seed: 0,
            epoch: 0,
            train_r: (0.0, 0),
            val_r: (0.0, 0),
            val_loss: (0.0, 0),
        })
    }

    /// Model predictions `(B, bins, m·T)` and targets of `items` (same cell count each); a training step with
    /// `checkpoint_activations` keeps the rest of its backward pass in `pending`.
    fn run(&mut self, items: &[ProfileItem], train: bool, step: bool) -> Result<(Tensor, Tensor), TrainError> {
        let device: Device = self.model.device();
        let codes: Vec<u8> = items.iter().flat_map(|it| it.codes.iter().copied()).collect();
        let x = context_onehot(&codes, items.len(), device).map_err(data_err)?;
        let cells: Vec<i64> = items.iter().flat_map(|it| it.cells.iter().map(|&c| c as i64)).collect();
        let idx = Tensor::from_slice(&cells).f_to_device(device)?;
        let m = items[0].cells.len() as i64;
        let states = self.states.f_index_select(0, &idx)?.f_view([items.len() as i64, m, -1])?;
        let pred = if step && self.checkpoint_activations {
            let model: &'a dyn CellProfileModel = self.model;
            let (pred, rest) = model.try_forward_checkpointed(&x, &states, train)?;
            self.pending = rest;
            pred
        } else {
            self.model.try_forward(&x, &states, train)?
        };
        let target = stack_targets(items, device).map_err(data_err)?;
        Ok((pred, target))
    }
}

impl Objective for ProfileObjective<'_> {
    fn n_train(&self) -> usize {
        self.data.train.len()
    }

    fn n_val(&self) -> usize {
        self.data.val.len()
    }

    fn begin_epoch(&mut self, epoch: usize, seed: u64) -> Result<(), TrainError> {
        (self.seed, self.epoch, self.train_r) = (seed, epoch, (0.0, 0));
        Ok(())
    }

    fn train_loss(&mut self, batch: &[usize]) -> Result<Tensor, TrainError> {
        let items = batch
            .iter()
            .map(|&i| self.data.train_item(i, self.seed, self.epoch))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(data_err)?;
        self.pending = None;
        let (pred, target) = self.run(&items, self.train_mode, true)?;
        let loss = poisson_multinomial(&pred, &target, self.total_weight, EPS)?;
        if loss.f_double_value(&[])?.is_finite() {
            let (s, n) = profile_pearson_sum(&pred, &target)?;
            self.train_r = (self.train_r.0 + s, self.train_r.1 + n);
        }
        Ok(loss)
    }

    fn backward(&mut self, loss: &Tensor) -> Result<(), TrainError> {
        loss.f_backward()?;
        if let Some(rest) = self.pending.take() {
            rest.run()?;
        }
        Ok(())
    }

    fn train_metrics(&mut self) -> Result<TrainMetrics, TrainError> {
        let (s, n) = self.train_r;
        Ok(TrainMetrics { auroc: (n > 0).then(|| s / n as f64), aupr: None })
    }

    fn begin_validation(&mut self) -> Result<(), TrainError> {
        (self.val_r, self.val_loss) = ((0.0, 0), (0.0, 0));
        Ok(())
    }

    fn validate(&mut self, batch: &[usize]) -> Result<(), TrainError> {
        let items = batch
            .iter()
            .map(|&i| self.data.val_item(i, self.seed))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(data_err)?;
        let (pred, target) = tch::no_grad(|| self.run(&items, false, false))?;
        let loss = poisson_multinomial(&pred, &target, self.total_weight, EPS)?.f_double_value(&[])?;
        self.val_loss = (self.val_loss.0 + loss * items.len() as f64, self.val_loss.1 + items.len());
        let (s, n) = profile_pearson_sum(&pred, &target)?;
        self.val_r = (self.val_r.0 + s, self.val_r.1 + n);
        Ok(())
    }

    fn val_metrics(&mut self) -> Result<ValMetrics, TrainError> {
        let ((s, n), (l, k)) = (self.val_r, self.val_loss);
        Ok(ValMetrics {
            loss: (k > 0).then(|| l / k as f64),
            auroc: (n > 0).then(|| s / n as f64),
            aupr: None,
            item_auroc: None,
        })
    }
}
