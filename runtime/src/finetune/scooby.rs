//! scooby's fine-tuning recipe (gagneurlab/scooby `scripts/train_multiome.py` and its yaml configs; Lal et al. 2024)
//! on the shared trainer: a [`CellProfileModel`] (Borzoi trunk with LoRA adapters, optional transform layer,
//! cell-state decoder) trained on per-cell profiles with the [`ProfileObjective`].
//!
//! - AdamW (β 0.9/0.999, ε 1e-8) with scooby's `add_weight_decay` groups: decoder weights lr 4e-4, wd 1e-6; adapter
//!   and transform weights lr 1e-4, wd 1e-6; every 1-D tensor (biases, decoder biases included) lr 1e-4, wd 0. The
//!   1-D group is split off here by tensor rank, whatever group the caller put a tensor in.
//! - Learning rate: linear warm-up from 1e-7 × lr to lr over `warmup_steps` (scooby 1,000), then linear decay to 0 at
//!   `decay_steps` (transformers' `get_linear_schedule_with_warmup`). scooby's horizon is 45,000 × 40 / batch size
//!   = 1.8M scheduler steps, far beyond its 1–2 days of training, so its rate barely decays; here the default horizon
//!   is the run's own number of steps (epochs × minibatches), i.e. a full decay — set `decay_steps` to mimic scooby.
//! - Global gradient-norm clipping at 1.0; the model in training mode during steps (batch statistics and dropout, as
//!   scooby after its step-0 evaluation), evaluation mode for validation.
//! - One minibatch = `batch_size` sequences × `cells_per_sequence` cells each (scooby: 1 × 64 per GPU).
//! - Checkpoints, exact resume, observer and interrupts are the trainer's.

use std::path::PathBuf;

use tch::Tensor;

use crate::models::profile::CellProfileModel;
use crate::models::scooby::Scooby;
use crate::profile::dataset::ProfileData;
use crate::train::profiles::ProfileObjective;
use crate::train::{
    batch_ranges, AdamW, GradientHook, ParamGroup, Schedule, TrainError, TrainObserver, TrainOutcome, Trainer,
    TrainerConfig,
};

/// Settings of [`fine_tune_profiles`] (defaults: scooby's).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoobyFineTuneConfig {
    pub epochs: usize,
    /// Sequences per minibatch (scooby: 1 per GPU).
    pub batch_size: usize,
    /// Learning rate of the decoder's weight tensors.
    pub lr_decoder: f64,
    /// Learning rate of adapter and transform weight tensors.
    pub lr_adapters: f64,
    /// Learning rate of every 1-D tensor (no weight decay).
    pub lr_1d: f64,
    /// Decoupled weight decay of weight tensors.
    pub weight_decay: f64,
    /// Warm-up steps (None: 1,000, at most the run's number of steps).
    pub warmup_steps: Option<usize>,
    /// Step at which the rate reaches 0 (None: the run's number of steps).
    pub decay_steps: Option<usize>,
    pub clip_norm: f64,
    /// Model in training mode during steps (batch statistics, dropout), as scooby.
    pub train_mode: bool,
    /// Weight of the Poisson term of the loss.
    pub total_weight: f64,
    pub seed: u64,
    /// Checkpoint the trunk's activations (recomputed in the backward pass: the same gradients, a fraction of the
    /// memory, about one more trunk forward per step). Not part of the run's identity: it does not change the numbers.
    #[serde(skip)]
    pub checkpoint_activations: bool,
    #[serde(skip)]
    pub checkpoint: Option<PathBuf>,
    #[serde(skip)]
    pub resume: Option<PathBuf>,
}

impl Default for ScoobyFineTuneConfig {
    fn default() -> Self {
        ScoobyFineTuneConfig {
            epochs: 40,
            batch_size: 1,
            lr_decoder: 4e-4,
            lr_adapters: 1e-4,
            lr_1d: 1e-4,
            weight_decay: 1e-6,
            warmup_steps: None,
            decay_steps: None,
            clip_norm: 1.0,
            train_mode: true,
            total_weight: crate::train::profile_loss::TOTAL_WEIGHT,
            seed: 0,
            checkpoint_activations: false,
            checkpoint: None,
            resume: None,
        }
    }
}

/// Input length from which activation checkpointing is on by default ([`checkpoint_by_default`]): Borzoi's
/// 524,288 bp (scooby's full-size presets). Measured with `gscript bench scooby` on a CPU (bf16, one sequence × 64
/// cells): the ordinary step ran out of 18 GiB in the first transformer block; checkpointed, its peak was 8.4 GiB.
pub const CHECKPOINT_FROM_LENGTH: usize = 524_288;

/// Whether a model with `seq_len`-bp inputs checkpoints its trunk's activations unless told otherwise.
pub fn checkpoint_by_default(seq_len: usize) -> bool {
    seq_len >= CHECKPOINT_FROM_LENGTH
}

/// The trainable tensors of a profile model, by role (all must require gradients).
#[derive(Default)]
pub struct ProfileParams {
    /// The cell-state decoder (`cell_state_to_conv`).
    pub decoder: Vec<(String, Tensor)>,
    /// LoRA adapters and the transform layer.
    pub adapters: Vec<(String, Tensor)>,
    /// Tensors that change without the optimiser (batch-norm running statistics in training mode): checkpointed and
    /// restored on resume, not optimised.
    pub buffers: Vec<(String, Tensor)>,
}

impl ProfileParams {
    /// The trainable tensors of a [`Scooby`] model by its own groups (`decoder`; `adapters` and `vectors` — the
    /// latter's 1-D tensors go to the 1-D group by rank), with the trunk's batch-norm running statistics as buffers.
    pub fn from_scooby(model: &Scooby) -> Self {
        let mut p = ProfileParams::default();
        for g in model.scooby_param_groups() {
            if g.name == "decoder" {
                p.decoder.extend(g.tensors);
            } else {
                p.adapters.extend(g.tensors);
            }
        }
        p.buffers = model
            .state()
            .into_iter()
            .filter(|(n, _)| n.ends_with(".running_mean") || n.ends_with(".running_var"))
            .collect();
        p
    }
}

/// AdamW over scooby's three groups: decoder weights, adapter/transform weights, 1-D tensors.
pub fn scooby_optimizer(params: &ProfileParams, cfg: &ScoobyFineTuneConfig) -> AdamW {
    type Named = Vec<(String, Tensor)>;
    let split = |v: &[(String, Tensor)]| -> (Named, Named) {
        v.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).partition(|(_, t)| t.dim() > 1)
    };
    let (dec_w, dec_1d) = split(&params.decoder);
    let (ad_w, ad_1d) = split(&params.adapters);
    let group = |name: &str, lr, weight_decay| ParamGroup { name: name.into(), lr, weight_decay };
    AdamW::new(vec![
        (group("decoder", cfg.lr_decoder, cfg.weight_decay), dec_w),
        (group("adapters", cfg.lr_adapters, cfg.weight_decay), ad_w),
        (group("1d", cfg.lr_1d, 0.0), dec_1d.into_iter().chain(ad_1d).collect()),
    ])
}

/// The learning-rate schedule of a run of `steps` optimiser steps.
pub fn scooby_schedule(cfg: &ScoobyFineTuneConfig, steps: usize) -> Schedule {
    let warmup = cfg.warmup_steps.unwrap_or(1000.min(steps)).max(1);
    Schedule { warmup, start: 1e-7, total: Some(cfg.decay_steps.unwrap_or(steps).max(warmup + 1)) }
}

/// Fine-tunes `params` of `model` on `data` with cell states `states` (`n_cells × E`, row-aligned with the coverage's
/// cells). `hooks` run after every backward pass (e.g. a data-parallel all-reduce).
#[allow(clippy::too_many_arguments)]
pub fn fine_tune_profiles(
    model: &dyn CellProfileModel,
    params: &ProfileParams,
    data: &ProfileData,
    states: &Tensor,
    cfg: &ScoobyFineTuneConfig,
    observer: &mut dyn TrainObserver,
    interrupt: &dyn Fn() -> bool,
    hooks: Vec<&mut dyn GradientHook>,
) -> Result<TrainOutcome, TrainError> {
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(TrainError::config("epochs / batch_size", "must be at least 1"));
    }
    let lrs = [cfg.lr_decoder, cfg.lr_adapters, cfg.lr_1d];
    if lrs.iter().any(|lr| !lr.is_finite() || *lr < 0.0)
        || cfg.clip_norm.is_nan()
        || cfg.clip_norm <= 0.0
        || cfg.weight_decay < 0.0
    {
        return Err(TrainError::config("lr", "learning rates and weight decay must be ≥ 0 and clip_norm > 0"));
    }
    let all: Vec<&(String, Tensor)> = params.decoder.iter().chain(&params.adapters).collect();
    if all.is_empty() {
        return Err(TrainError::config("params", "nothing to train"));
    }
    if let Some((name, _)) = all.iter().find(|(_, t)| !t.requires_grad()) {
        return Err(TrainError::InvalidData(format!("`{name}` is frozen; only trainable tensors can be fine-tuned")));
    }
    let variables: Vec<(String, Tensor)> =
        all.iter().copied().chain(&params.buffers).map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
    let identity: Vec<serde_json::Value> = all.iter().map(|(n, t)| serde_json::json!([n, t.size()])).collect();
    let mut objective = ProfileObjective::new(model, data, states)?;
    objective.train_mode = cfg.train_mode;
    objective.total_weight = cfg.total_weight;
    objective.checkpoint_activations = cfg.checkpoint_activations;
    let steps = batch_ranges(data.train.len(), cfg.batch_size).len() * cfg.epochs;
    let mut optimizer = scooby_optimizer(params, cfg);
    let trainer = Trainer {
        config: TrainerConfig {
            epochs: cfg.epochs,
            batch_size: cfg.batch_size,
            seed: cfg.seed,
            patience: None,
            min_delta: 0.0,
            restore_best: false,
            clip_norm: Some(cfg.clip_norm),
            schedule: scooby_schedule(cfg, steps),
            checkpoint: cfg.checkpoint.clone(),
            resume: cfg.resume.clone(),
        },
        optimizer: &mut optimizer,
        variables,
        run: serde_json::json!({
            "recipe": "scooby",
            "config": serde_json::to_value(cfg).map_err(|e| TrainError::config("config", e.to_string()))?,
            "data": data.options.cells_per_sequence,
        }),
        model: serde_json::json!({ "profile_model": {
            "seq_len": model.seq_len(), "bins": model.bins(), "tracks": model.n_tracks(), "state_dim": model.state_dim(),
        }, "fine_tuned": identity }),
        hooks,
        observer,
        interrupt,
    };
    trainer.fit(&mut objective)
}

#[cfg(test)]
#[path = "scooby_tests.rs"]
mod tests;
