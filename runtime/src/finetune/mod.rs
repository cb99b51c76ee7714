//! Fine-tuning a pretrained sequence model to new cells (scooby's recipe, Hingerl et al. 2024; gagneurlab/scooby
//! training scripts): low-rank adapters on the trunk ([`crate::adapters`]), a new head ([`crate::heads`]: a per-cell
//! layer, or a cell-state decoder that predicts each cell's read-out from its embedding), AdamW with separate
//! learning rates for head and adapters (defaults by model family: [`defaults`]), linear warm-up and global gradient-norm clipping — all on the shared
//! trainer ([`crate::train::Trainer`]); this module has no loop of its own. Only the adapters and the head train; the
//! pretrained trunk runs in inference mode (batch-norm moving statistics, no dropout).
//!
//! Heads: [`Head::Cells`] trains a per-cell layer of the new dataset on all cells of each minibatch;
//! [`Head::Decoder`] samples `cells_per_batch` cells (with replacement, as scooby) per minibatch and predicts their
//! read-out from their state embeddings, so a step's cost does not grow with the number of cells.

pub mod defaults;
pub mod scooby;

pub use defaults::{FineTuneDefaults, HeadKind};

use std::path::PathBuf;

use tch::Tensor;

use crate::heads::{CellHead, DecoderHead};
use crate::models::{ModelFamily, SequenceModel};
use crate::train::{
    AdamW, GradientHook, ParamGroup, PeakObjective, PeakOptions, Schedule, TrainData, TrainError, TrainObserver,
    TrainOutcome, Trainer, TrainerConfig,
};

/// Settings of [`fine_tune`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FineTuneConfig {
    pub epochs: usize,
    /// Peaks per minibatch.
    pub batch_size: usize,
    /// Learning rate of the head (per-cell layer or decoder).
    pub lr_head: f64,
    /// Learning rate of the adapters.
    pub lr_adapters: f64,
    /// Decoupled weight decay on 2-D and larger tensors (AdamW).
    pub weight_decay: f64,
    /// Steps of linear warm-up from 1e-7 × lr (None: one epoch, at most 1,000 steps).
    pub warmup_steps: Option<usize>,
    /// Global gradient-norm limit.
    pub clip_norm: f64,
    /// Cells sampled per minibatch for the decoder head.
    pub cells_per_batch: usize,
    /// Stop when the training auROC has not improved for this many epochs (0: never).
    pub patience: usize,
    pub seed: u64,
    #[serde(skip)]
    pub checkpoint: Option<PathBuf>,
    #[serde(skip)]
    pub resume: Option<PathBuf>,
}

impl Default for FineTuneConfig {
    /// The scBasset family's defaults for a per-cell head ([`defaults`]).
    fn default() -> Self {
        FineTuneConfig::for_family(ModelFamily::ScBasset, HeadKind::Cells)
    }
}

/// What is trained on top of the frozen trunk.
pub enum Head<'a> {
    /// A per-cell layer (e.g. the model's own), trained on all cells of each minibatch.
    Cells(&'a dyn CellHead),
    /// A cell-state decoder over the cells' state embeddings, trained on cells sampled per minibatch.
    Decoder(DecoderHead<'a>),
}

/// A trainable tensor and its optimiser group.
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
    /// True for head tensors (head learning rate), false for adapters.
    pub head: bool,
}

/// Fine-tunes `params` (adapters and head tensors, which must require gradients) of `model` read out by `head` on
/// `data`. `hooks` run after every backward pass.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune(
    model: &dyn SequenceModel,
    params: Vec<Param>,
    head: &Head,
    data: &TrainData,
    cfg: &FineTuneConfig,
    observer: &mut dyn TrainObserver,
    interrupt: &dyn Fn() -> bool,
    hooks: Vec<&mut dyn GradientHook>,
) -> Result<TrainOutcome, TrainError> {
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.cells_per_batch == 0 {
        return Err(TrainError::config("epochs / batch_size / cells_per_batch", "must be at least 1"));
    }
    if !(cfg.lr_head > 0.0 && cfg.lr_adapters >= 0.0 && cfg.clip_norm > 0.0) {
        return Err(TrainError::config("lr", "learning rates must be positive and clip_norm > 0"));
    }
    let (cell_head, cells_per_batch): (&dyn CellHead, Option<usize>) = match head {
        Head::Cells(h) => (*h, None),
        Head::Decoder(d) => (d, Some(cfg.cells_per_batch)),
    };
    data.validate(model.seq_len(), data.n_cells)?;
    if cell_head.n_cells() != data.n_cells {
        return Err(TrainError::InvalidData(format!(
            "{} cells in the data, {} in the model's cell layer",
            data.n_cells,
            cell_head.n_cells()
        )));
    }
    if let Some(p) = params.iter().find(|p| !p.tensor.requires_grad()) {
        return Err(TrainError::InvalidData(format!(
            "`{}` is frozen; only trainable tensors can be fine-tuned",
            p.name
        )));
    }
    let variables: Vec<(String, Tensor)> = params.iter().map(|p| (p.name.clone(), p.tensor.shallow_clone())).collect();
    let identity: Vec<serde_json::Value> =
        params.iter().map(|p| serde_json::json!([p.name, p.tensor.size()])).collect();
    let (head_params, adapter_params): (Vec<Param>, Vec<Param>) = params.into_iter().partition(|p| p.head);
    let named = |ps: Vec<Param>| ps.into_iter().map(|p| (p.name, p.tensor)).collect::<Vec<_>>();
    let mut optimizer = AdamW::new(vec![
        (ParamGroup { name: "head".into(), lr: cfg.lr_head, weight_decay: cfg.weight_decay }, named(head_params)),
        (
            ParamGroup { name: "adapters".into(), lr: cfg.lr_adapters, weight_decay: cfg.weight_decay },
            named(adapter_params),
        ),
    ]);
    let n_batches = crate::train::batch_ranges(data.train.len(), cfg.batch_size).len();
    let warmup = cfg.warmup_steps.unwrap_or(n_batches.min(1000)).max(1);
    let options = PeakOptions { train_trunk: false, augment: false, cells_per_batch, l2: Vec::new() };
    let mut objective = PeakObjective::new(model, cell_head, data, options);
    let trainer = Trainer {
        config: TrainerConfig {
            epochs: cfg.epochs,
            batch_size: cfg.batch_size,
            seed: cfg.seed,
            patience: (cfg.patience > 0).then_some(cfg.patience),
            min_delta: 0.0,
            restore_best: false,
            clip_norm: Some(cfg.clip_norm),
            schedule: Schedule::warmup(warmup),
            checkpoint: cfg.checkpoint.clone(),
            resume: cfg.resume.clone(),
        },
        optimizer: &mut optimizer,
        variables,
        run: serde_json::to_value(cfg).map_err(|e| TrainError::config("config", e.to_string()))?,
        model: serde_json::json!({ "family": model.family(), "fine_tuned": identity }),
        hooks,
        observer,
        interrupt,
    };
    trainer.fit(&mut objective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{adapter_tensors, attach_lora, freeze_trunk, LoraConfig};
    use crate::models::scbasset::{ScBasset, ScBassetConfig};
    use crate::train::History;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tch::{nn, Device};

    #[test]
    fn only_adapters_and_head_change_and_training_lowers_the_loss() {
        let _rng = crate::testing::torch_rng_lock();
        tch::manual_seed(5);
        let n_cells = 12;
        let vs = nn::VarStore::new(Device::Cpu);
        let mut net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
        let avs = nn::VarStore::new(Device::Cpu);
        attach_lora(
            &mut net,
            &avs.root(),
            &LoraConfig { rank: 2, alpha: 4.0, targets: vec!["tower*".into(), "bottleneck".into()] },
        )
        .unwrap();
        freeze_trunk(&net);
        // The starting weights, copied into the fresh models below: re-seeding alone would not reproduce them while
        // other tests draw from libtorch's global generator in parallel threads.
        let snapshot = |vs: &nn::VarStore| -> std::collections::HashMap<String, Tensor> {
            vs.variables().into_iter().map(|(name, t)| (name, t.copy())).collect()
        };
        let (init_vs, init_avs) = (snapshot(&vs), snapshot(&avs));
        let trunk_before: Vec<Tensor> = net.trunk_tensors().iter().map(|t| t.copy()).collect();
        let adapters = adapter_tensors(&mut net);
        let b_before: Vec<Tensor> = adapters.iter().map(|(_, t)| t.copy()).collect();
        let (w, b) = net.cell_layer();
        let mut params: Vec<Param> =
            adapters.into_iter().map(|(name, tensor)| Param { name, tensor, head: false }).collect();
        params.push(Param { name: "cell_embedding".into(), tensor: w.shallow_clone(), head: true });
        params.push(Param { name: "cell_bias".into(), tensor: b.shallow_clone(), head: true });
        // Peaks open in the first half of the cells when they start with A.
        let n_peaks = 96;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let codes: Vec<u8> = (0..n_peaks * 336).map(|_| rng.random_range(0..4u8)).collect();
        let positives: Vec<Vec<u32>> =
            (0..n_peaks).map(|p| if codes[p * 336 + 168] == 0 { (0..6).collect() } else { vec![7] }).collect();
        let positives = crate::data::CellRows::from_rows(n_cells, &positives).unwrap();
        let train: Vec<usize> = (0..80).collect();
        let val: Vec<usize> = (80..96).collect();
        let data = TrainData { codes: &codes, seq_len: 336, n_cells, positives: &positives, train: &train, val: &val };
        struct Quiet;
        impl TrainObserver for Quiet {}
        let cfg =
            FineTuneConfig { epochs: 4, batch_size: 16, lr_head: 1e-2, lr_adapters: 1e-2, ..FineTuneConfig::default() };
        let out =
            fine_tune(&net, params, &Head::Cells(net.cell_head()), &data, &cfg, &mut Quiet, &|| false, Vec::new())
                .unwrap();
        assert_eq!(out.history.len(), 4);
        assert!(
            out.history.epochs[3].train_loss < out.history.epochs[0].train_loss,
            "{:?}",
            out.history.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>()
        );
        for (a, b) in net.trunk_tensors().iter().zip(&trunk_before) {
            assert!(a.equal(b), "a frozen tensor changed");
        }
        let after = adapter_tensors(&mut net);
        assert!(
            after.iter().zip(&b_before).any(|((n, a), b)| n.ends_with("lora_b") && !a.equal(b)),
            "adapters did not train"
        );
        // Resume from a checkpoint reproduces the uninterrupted history.
        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("ft.safetensors");
        let fresh = || {
            tch::manual_seed(5);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
            let avs = nn::VarStore::new(Device::Cpu);
            attach_lora(
                &mut net,
                &avs.root(),
                &LoraConfig { rank: 2, alpha: 4.0, targets: vec!["tower*".into(), "bottleneck".into()] },
            )
            .unwrap();
            freeze_trunk(&net);
            tch::no_grad(|| {
                for (store, init) in [(&vs, &init_vs), (&avs, &init_avs)] {
                    for (name, mut t) in store.variables() {
                        t.copy_(&init[&name]);
                    }
                }
            });
            let (w, b) = net.cell_layer();
            let mut params: Vec<Param> = adapter_tensors(&mut net)
                .into_iter()
                .map(|(name, tensor)| Param { name, tensor, head: false })
                .collect();
            params.push(Param { name: "cell_embedding".into(), tensor: w, head: true });
            params.push(Param { name: "cell_bias".into(), tensor: b, head: true });
            (vs, avs, net, params)
        };
        let (_v1, _a1, net1, p1) = fresh();
        let two = FineTuneConfig { epochs: 2, checkpoint: Some(ck.clone()), ..cfg.clone() };
        fine_tune(&net1, p1, &Head::Cells(net1.cell_head()), &data, &two, &mut Quiet, &|| false, Vec::new()).unwrap();
        let (_v2, _a2, net2, p2) = fresh();
        let rest = FineTuneConfig { resume: Some(ck.clone()), ..cfg.clone() };
        let resumed =
            fine_tune(&net2, p2, &Head::Cells(net2.cell_head()), &data, &rest, &mut Quiet, &|| false, Vec::new())
                .unwrap();
        let losses = |h: &History| h.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>();
        assert_eq!(losses(&resumed.history), losses(&out.history));
    }
}
