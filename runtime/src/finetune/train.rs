//! The fine-tuning loop (scooby's recipe in gagneurlab/scooby `scripts/train_multiome.py`, adapted to scBasset peaks):
//! AdamW with two learning rates (head 4e-4, adapters 1e-4; weight decay 1e-6 on matrices), linear warm-up, global
//! gradient-norm clipping at 1.0. Only the adapters and the head train; the pretrained trunk runs in inference mode (BN
//! moving statistics, no dropout).
//!
//! Heads: [`Head::Cells`] trains scBasset's per-cell layer of the new dataset on all cells of each minibatch;
//! [`Head::Decoder`] samples `cells_per_batch` cells (with replacement, as scooby) per minibatch and predicts their
//! read-out from their state embeddings, so a step's cost does not grow with the number of cells.
//!
//! History, progress, interrupts and checkpoints (written whole after every epoch; `resume` continues from one)
//! behave as in [`crate::model::train`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::decoder::CellStateDecoder;
use crate::model::loss::bce_with_logits_positives;
use crate::model::metrics::CellHistograms;
use crate::model::train::{batch_ranges, gather, peak_auroc_sum, stream_seed};
use crate::model::{EarlyStopping, EpochStats, History, ScBasset, TrainData, TrainError, TrainObserver, TrainOutcome};

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
    fn default() -> Self {
        FineTuneConfig {
            epochs: 20,
            batch_size: 64,
            lr_head: 4e-4,
            lr_adapters: 1e-4,
            weight_decay: 1e-6,
            warmup_steps: None,
            clip_norm: 1.0,
            cells_per_batch: 64,
            patience: 0,
            seed: 0,
            checkpoint: None,
            resume: None,
        }
    }
}

/// What is trained on top of the frozen trunk.
pub enum Head<'a> {
    /// The model's own per-cell layer.
    Cells,
    /// A cell-state decoder and the cells' state embeddings `(n_cells, E)` on the model's device.
    Decoder { decoder: &'a CellStateDecoder, states: &'a Tensor },
}

/// A trainable tensor and its optimiser group.
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
    /// True for head tensors (head learning rate), false for adapters.
    pub head: bool,
}

/// AdamW (torch's form) over named tensors with per-tensor learning rate and decay.
struct AdamW {
    params: Vec<Param>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    fn new(params: Vec<Param>) -> Self {
        let m = params.iter().map(|p| tch::no_grad(|| p.tensor.zeros_like())).collect();
        let v = params.iter().map(|p| tch::no_grad(|| p.tensor.zeros_like())).collect();
        AdamW { params, m, v, step: 0 }
    }

    fn zero_grad(&self) {
        for p in &self.params {
            let mut g = p.tensor.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Clips the global gradient norm to `max`; returns the norm before clipping.
    fn clip(&self, max: f64) -> f64 {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().map(|p| p.tensor.grad()).filter(|g| g.defined()).collect();
            let total = grads.iter().map(|g| g.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
            if total > max {
                for mut g in grads {
                    let _ = g.g_mul_scalar_(max / (total + 1e-6));
                }
            }
            total
        })
    }

    fn update(&mut self, cfg: &FineTuneConfig, factor: f64) {
        self.step += 1;
        let t = self.step as i32;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        tch::no_grad(|| {
            for ((p, m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
                let g = p.tensor.grad();
                if !g.defined() {
                    continue;
                }
                let lr = factor * if p.head { cfg.lr_head } else { cfg.lr_adapters };
                let mut w = p.tensor.shallow_clone();
                if p.tensor.dim() >= 2 && cfg.weight_decay > 0.0 {
                    let _ = w.g_mul_scalar_(1.0 - lr * cfg.weight_decay);
                }
                let _ = m.g_mul_scalar_(BETA1).g_add_(&(&g * (1.0 - BETA1)));
                let _ = v.g_mul_scalar_(BETA2).g_add_(&(g.square() * (1.0 - BETA2)));
                let _ = w.g_sub_(&((&*m / c1) * lr / ((&*v / c2).sqrt() + EPS)));
            }
        });
    }
}

const FORMAT: &str = "gscript-finetune-checkpoint-1";

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointMeta {
    format: String,
    step: u64,
    history: History,
    config: FineTuneConfig,
}

fn ckpt_err(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Checkpoint { path: path.to_path_buf(), message: message.into() }
}

fn save(path: &Path, opt: &AdamW, history: &History, cfg: &FineTuneConfig) -> Result<(), TrainError> {
    let meta = CheckpointMeta { format: FORMAT.into(), step: opt.step, history: history.clone(), config: cfg.clone() };
    let json = serde_json::to_string(&meta).map_err(|e| ckpt_err(path, e.to_string()))?;
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for ((p, m), v) in opt.params.iter().zip(&opt.m).zip(&opt.v) {
        named.push((format!("param/{}", p.name), p.tensor.detach().to_device(Device::Cpu)));
        named.push((format!("adam_m/{}", p.name), m.to_device(Device::Cpu)));
        named.push((format!("adam_v/{}", p.name), v.to_device(Device::Cpu)));
    }
    named.push(("meta/json".into(), Tensor::from_slice(json.as_bytes())));
    crate::io::write_via_temp(path, |tmp| Tensor::write_safetensors(&named, tmp).map_err(std::io::Error::other)).map_err(|e| ckpt_err(path, format!("could not write it: {e}")))
}

fn restore(path: &Path, opt: &mut AdamW) -> Result<History, TrainError> {
    let mut t: HashMap<String, Tensor> = Tensor::read_safetensors(path).map_err(|e| ckpt_err(path, format!("not readable: {e}")))?.into_iter().collect();
    let bytes: Vec<u8> = t.remove("meta/json").map(|m| Vec::try_from(&m).unwrap_or_default()).ok_or_else(|| ckpt_err(path, "not a fine-tuning checkpoint (no meta/json)"))?;
    let meta: CheckpointMeta = serde_json::from_slice(&bytes).map_err(|e| ckpt_err(path, format!("unreadable metadata: {e}")))?;
    if meta.format != FORMAT {
        return Err(ckpt_err(path, format!("format `{}`, expected `{FORMAT}` (a training checkpoint? use train_scbasset's resume)", meta.format)));
    }
    tch::no_grad(|| -> Result<(), TrainError> {
        for ((p, m), v) in opt.params.iter().zip(&mut opt.m).zip(&mut opt.v) {
            for (prefix, target) in [("param", &mut p.tensor.shallow_clone()), ("adam_m", m), ("adam_v", v)] {
                let key = format!("{prefix}/{}", p.name);
                let src = t.get(&key).ok_or_else(|| ckpt_err(path, format!("no `{key}`: it was written for another model or settings")))?;
                if src.size() != target.size() {
                    return Err(ckpt_err(path, format!("`{key}` has shape {:?}, the model {:?}", src.size(), target.size())));
                }
                target.copy_(&src.to_device(target.device()));
            }
        }
        Ok(())
    })?;
    opt.step = meta.step;
    Ok(meta.history)
}

/// 0/1 targets `(B, m)` of `peaks` for the sampled `cells`.
fn subset_targets(data: &TrainData, peaks: &[usize], cells: &[i64]) -> Tensor {
    let mut t = vec![0f32; peaks.len() * cells.len()];
    for (r, &p) in peaks.iter().enumerate() {
        let pos = &data.positives[p];
        for (j, &c) in cells.iter().enumerate() {
            if pos.binary_search(&(c as u32)).is_ok() {
                t[r * cells.len() + j] = 1.0;
            }
        }
    }
    Tensor::from_slice(&t).view([peaks.len() as i64, cells.len() as i64])
}

/// Fine-tunes `params` (adapters and head tensors, which must require gradients) of `model` on `data`.
pub fn fine_tune(
    model: &ScBasset,
    params: Vec<Param>,
    head: &Head,
    data: &TrainData,
    cfg: &FineTuneConfig,
    observer: &mut dyn TrainObserver,
    interrupt: &dyn Fn() -> bool,
) -> Result<TrainOutcome, TrainError> {
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.cells_per_batch == 0 {
        return Err(TrainError::InvalidConfig { field: "epochs / batch_size / cells_per_batch".into(), message: "must be at least 1".into() });
    }
    if !(cfg.lr_head > 0.0 && cfg.lr_adapters >= 0.0 && cfg.clip_norm > 0.0) {
        return Err(TrainError::InvalidConfig { field: "lr".into(), message: "learning rates must be positive and clip_norm > 0".into() });
    }
    data.validate(model.config().seq_len, data.n_cells)?;
    if let Head::Cells = head {
        if data.n_cells != model.config().n_cells {
            return Err(TrainError::InvalidData(format!("{} cells in the data, {} in the model's cell layer", data.n_cells, model.config().n_cells)));
        }
    }
    if let Some(p) = params.iter().find(|p| !p.tensor.requires_grad()) {
        return Err(TrainError::InvalidData(format!("`{}` is frozen; only trainable tensors can be fine-tuned", p.name)));
    }
    let device = model.device();
    let mut opt = AdamW::new(params);
    let mut history = match &cfg.resume {
        Some(path) => restore(path, &mut opt)?,
        None => History::default(),
    };
    let n_batches = batch_ranges(data.train.len(), cfg.batch_size).len();
    let warmup = cfg.warmup_steps.unwrap_or(n_batches.min(1000)).max(1);
    let mut stopper = EarlyStopping::replay(&history, if cfg.patience == 0 { usize::MAX } else { cfg.patience }, 0.0);
    for epoch in history.len()..cfg.epochs {
        if stopper.should_stop() {
            break;
        }
        let start = Instant::now();
        let mut order = data.train.to_vec();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, epoch, 11)));
        let mut cell_rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, epoch, 12));
        let mut hist = CellHistograms::new(data.n_cells, device);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let ranges = batch_ranges(order.len(), cfg.batch_size);
        for (b, range) in ranges.iter().enumerate() {
            if interrupt() {
                return Err(TrainError::Interrupted { epoch: epoch + 1, batch: b + 1 });
            }
            let peaks = &order[range.clone()];
            let (codes, positives) = gather(data, peaks, device)?;
            let z = model.embed(&ScBasset::one_hot(&codes)?, false);
            let loss = match head {
                Head::Cells => {
                    let logits = model.cell_logits(&z);
                    hist.update(&logits, &positives)?;
                    bce_with_logits_positives(&logits, &positives)?
                }
                Head::Decoder { decoder, states } => {
                    let cells: Vec<i64> = (0..cfg.cells_per_batch).map(|_| cell_rng.random_range(0..data.n_cells) as i64).collect();
                    let idx = Tensor::from_slice(&cells).to_device(device);
                    let logits = decoder.logits(&z, &states.index_select(0, &idx), true);
                    let targets = subset_targets(data, peaks, &cells).to_device(device);
                    hist.update_subset(&logits, &targets, &idx)?;
                    logits.binary_cross_entropy_with_logits::<Tensor>(&targets, None, None, tch::Reduction::Mean)
                }
            };
            let value = loss.f_double_value(&[])?;
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss { epoch: epoch + 1, batch: b + 1, n_batches, value, lr: cfg.lr_head });
            }
            opt.zero_grad();
            loss.f_backward()?;
            opt.clip(cfg.clip_norm);
            let factor = if (opt.step as usize) < warmup { 1e-7 + (1.0 - 1e-7) * opt.step as f64 / warmup as f64 } else { 1.0 };
            opt.update(cfg, factor);
            loss_sum += value * peaks.len() as f64;
            seen += peaks.len();
            observer.on_batch(epoch + 1, b + 1, ranges.len(), loss_sum / seen as f64)?;
        }
        let auc = hist.summary()?;
        let val_peak = validation_peak_auroc(model, head, data, cfg, interrupt, epoch)?;
        history.epochs.push(EpochStats {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_auroc: auc.auroc,
            train_aupr: auc.aupr,
            val_loss: None,
            val_auroc: None,
            val_aupr: None,
            val_peak_auroc: val_peak,
            seconds: start.elapsed().as_secs_f64(),
            lr: cfg.lr_head,
        });
        stopper.update(history.epochs[epoch].train_auroc);
        if let Some(path) = &cfg.checkpoint {
            save(path, &opt, &history, cfg)?;
        }
        observer.on_epoch(history.last().unwrap(), &history)?;
    }
    let stopped_early = history.len() < cfg.epochs;
    Ok(TrainOutcome { history, stopped_early, restored_epoch: None })
}

/// Mean per-peak auROC over the cells on the validation peaks (all cells, evaluation mode); `None` without them.
fn validation_peak_auroc(model: &ScBasset, head: &Head, data: &TrainData, cfg: &FineTuneConfig, interrupt: &dyn Fn() -> bool, epoch: usize) -> Result<Option<f64>, TrainError> {
    if data.val.is_empty() {
        return Ok(None);
    }
    let readout = match head {
        Head::Cells => None,
        Head::Decoder { decoder, states } => Some(decoder.readout(states)),
    };
    let (mut sum, mut used) = (0.0, 0usize);
    tch::no_grad(|| -> Result<(), TrainError> {
        for (b, range) in batch_ranges(data.val.len(), cfg.batch_size).into_iter().enumerate() {
            if interrupt() {
                return Err(TrainError::Interrupted { epoch: epoch + 1, batch: b + 1 });
            }
            let peaks = &data.val[range];
            let z = model.embed(&ScBasset::one_hot(&gather(data, peaks, model.device())?.0)?, false);
            let logits = match &readout {
                None => model.cell_logits(&z),
                Some((w, bias)) => z.matmul(w) + bias.unsqueeze(0),
            };
            let (s, u) = peak_auroc_sum(&logits, peaks, data)?;
            sum += s;
            used += u;
        }
        Ok(())
    })?;
    Ok((used > 0).then(|| sum / used as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finetune::{adapter_tensors, attach_lora, freeze_trunk, LoraConfig};
    use crate::model::ScBassetConfig;
    use tch::nn;

    #[test]
    fn only_adapters_and_head_change_and_training_lowers_the_loss() {
        let _rng = crate::model::torch_rng_lock();
        tch::manual_seed(5);
        let n_cells = 12;
        let vs = nn::VarStore::new(Device::Cpu);
        let mut net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
        let avs = nn::VarStore::new(Device::Cpu);
        attach_lora(&mut net, &avs.root(), &LoraConfig { rank: 2, alpha: 4.0, targets: vec!["tower*".into(), "bottleneck".into()] }).unwrap();
        freeze_trunk(&net);
        let trunk_before: Vec<Tensor> = net.trunk_tensors().iter().map(|t| t.copy()).collect();
        let adapters = adapter_tensors(&mut net);
        let b_before: Vec<Tensor> = adapters.iter().map(|(_, t)| t.copy()).collect();
        let (w, b) = net.cell_layer();
        let mut params: Vec<Param> = adapters.into_iter().map(|(name, tensor)| Param { name, tensor, head: false }).collect();
        params.push(Param { name: "cell_embedding".into(), tensor: w.shallow_clone(), head: true });
        params.push(Param { name: "cell_bias".into(), tensor: b.shallow_clone(), head: true });
        // Peaks open in the first half of the cells when they start with A.
        let n_peaks = 96;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let codes: Vec<u8> = (0..n_peaks * 336).map(|_| rng.random_range(0..4u8)).collect();
        let positives: Vec<Vec<u32>> = (0..n_peaks).map(|p| if codes[p * 336 + 168] == 0 { (0..6).collect() } else { vec![7] }).collect();
        let train: Vec<usize> = (0..80).collect();
        let val: Vec<usize> = (80..96).collect();
        let data = TrainData { codes: &codes, seq_len: 336, n_cells, positives: &positives, train: &train, val: &val };
        struct Quiet;
        impl TrainObserver for Quiet {}
        let cfg = FineTuneConfig { epochs: 4, batch_size: 16, lr_head: 1e-2, lr_adapters: 1e-2, ..FineTuneConfig::default() };
        let out = fine_tune(&net, params, &Head::Cells, &data, &cfg, &mut Quiet, &|| false).unwrap();
        assert_eq!(out.history.len(), 4);
        assert!(out.history.epochs[3].train_loss < out.history.epochs[0].train_loss, "{:?}", out.history.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>());
        for (a, b) in net.trunk_tensors().iter().zip(&trunk_before) {
            assert!(a.equal(b), "a frozen tensor changed");
        }
        let after = adapter_tensors(&mut net);
        assert!(after.iter().zip(&b_before).any(|((n, a), b)| n.ends_with("lora_b") && !a.equal(b)), "adapters did not train");
        // Resume from a checkpoint reproduces the uninterrupted history.
        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("ft.safetensors");
        let fresh = || {
            tch::manual_seed(5);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
            let avs = nn::VarStore::new(Device::Cpu);
            attach_lora(&mut net, &avs.root(), &LoraConfig { rank: 2, alpha: 4.0, targets: vec!["tower*".into(), "bottleneck".into()] }).unwrap();
            freeze_trunk(&net);
            let (w, b) = net.cell_layer();
            let mut params: Vec<Param> = adapter_tensors(&mut net).into_iter().map(|(name, tensor)| Param { name, tensor, head: false }).collect();
            params.push(Param { name: "cell_embedding".into(), tensor: w, head: true });
            params.push(Param { name: "cell_bias".into(), tensor: b, head: true });
            (vs, avs, net, params)
        };
        let (_v1, _a1, net1, p1) = fresh();
        let two = FineTuneConfig { epochs: 2, checkpoint: Some(ck.clone()), ..cfg.clone() };
        fine_tune(&net1, p1, &Head::Cells, &data, &two, &mut Quiet, &|| false).unwrap();
        let (_v2, _a2, net2, p2) = fresh();
        let rest = FineTuneConfig { resume: Some(ck.clone()), ..cfg.clone() };
        let resumed = fine_tune(&net2, p2, &Head::Cells, &data, &rest, &mut Quiet, &|| false).unwrap();
        let losses = |h: &History| h.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>();
        assert_eq!(losses(&resumed.history), losses(&out.history));
    }
}
