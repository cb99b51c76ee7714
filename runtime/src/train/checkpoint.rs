//! The one checkpoint format of the trainer, for training from scratch and fine-tuning alike: one safetensors file
//! holding the run's variables (`model/<name>`, batch-norm statistics included where the run stores them), the
//! optimiser state (`optim/<key>`, e.g. Adam moments `optim/m/<name>`), the best weights so far (`best/<name>`) and the
//! JSON metadata as a UInt8 tensor (`meta/json`), plus a human-readable copy of that JSON beside it (`<path>.json`).
//! Both files are written to a temporary file in the same directory, synced and renamed, so a crash (even SIGKILL)
//! leaves either the previous checkpoint or the new one; the safetensors file alone is authoritative.
//!
//! **The previous checkpoint is kept** as `<path>.prev` ([`previous_path`]). Writing epoch *k* goes: (1) if `<path>`
//! exists, it is hard-linked (copied where the file system has no hard links) to a temporary name and that is renamed
//! over `<path>.prev`; (2) the new checkpoint is written to a temporary file, synced and renamed over `<path>`; (3) the
//! sidecar likewise. Every rename is atomic, so at any moment `<path>` is a whole checkpoint (epoch *k*−1 or *k*) and
//! `<path>.prev` a whole older one (epoch *k*−1, or *k*−2 if the run stops between (1) and (2)); a failure leaves
//! `<path>` as it was. On resume, [`load_checkpoint_or_previous`] reads `<path>` and, when it is missing, truncated or
//! unreadable (a kill of a copy, a full disk outside gscript), falls back to `<path>.prev` with a warning; when both
//! are bad the error names both files.
//!
//! The random streams need no saved state: they derive from `(seed, epoch)` (see [`trainer`](super::trainer)).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use super::error::TrainError;
use super::history::History;
use super::optim::Optimizer;

/// Identifies the file format in the metadata.
pub const CHECKPOINT_FORMAT: &str = "gscript-checkpoint/2";
const META_KEY: &str = "meta/json";

/// The JSON metadata of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Finished epochs (equals `history.len()`).
    pub epochs_done: usize,
    /// Optimiser updates applied.
    pub optimizer_steps: u64,
    /// Epoch of the stored best weights, if any.
    pub best_epoch: Option<usize>,
    /// What was run: the recipe's settings (its `seed` fixes every random stream).
    pub run: serde_json::Value,
    /// The model the run trains (family and configuration); a resume must match it.
    pub model: serde_json::Value,
    /// Every finished epoch.
    pub history: History,
}

/// A copy of named variables (batch-norm statistics included) at some epoch.
#[derive(Debug)]
pub struct BestWeights {
    /// Epoch (from 1) the weights were taken at.
    pub epoch: usize,
    /// `(name, copy)` in the order of the variables snapshotted.
    pub tensors: Vec<(String, Tensor)>,
}

impl BestWeights {
    /// Copies `variables`.
    pub fn snapshot(variables: &[(String, Tensor)], epoch: usize) -> Self {
        let tensors = variables.iter().map(|(n, t)| (n.clone(), tch::no_grad(|| t.detach().copy()))).collect();
        BestWeights { epoch, tensors }
    }

    /// Writes the copies back into `variables` (matched by name).
    pub fn restore(&self, variables: &[(String, Tensor)]) -> Result<(), TrainError> {
        let by_name: HashMap<&str, &Tensor> = variables.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (name, t) in &self.tensors {
            let Some(var) = by_name.get(name.as_str()) else {
                return Err(TrainError::InvalidData(format!("best weights: no variable `{name}` in the model")));
            };
            tch::no_grad(|| var.shallow_clone().f_copy_(t))?;
        }
        Ok(())
    }
}

/// Every variable of `vs` (batch-norm statistics included), sorted by name, sharing storage with the store.
pub fn sorted_variables(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// What [`save_checkpoint`] writes.
pub struct CheckpointState<'a> {
    /// The run's variables.
    pub variables: &'a [(String, Tensor)],
    /// The optimiser.
    pub optimizer: &'a dyn Optimizer,
    /// Best weights so far (restore_best).
    pub best: Option<&'a BestWeights>,
    /// Finished epochs.
    pub history: &'a History,
    /// The recipe's settings.
    pub run: &'a serde_json::Value,
    /// The model's identity.
    pub model: &'a serde_json::Value,
}

fn ck_err(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Checkpoint { path: path.to_path_buf(), message: message.into() }
}

/// `<path>.json`, the sidecar with the metadata.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".json");
    PathBuf::from(s)
}

/// `<path>.prev`, the checkpoint before the latest one.
pub fn previous_path(path: &Path) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(".prev");
    PathBuf::from(s)
}

/// Step (1) of the scheme in the module doc: the current `<path>` (if any) becomes `<path>.prev`, atomically, while
/// `<path>` stays in place.
fn keep_previous(path: &Path) -> Result<(), TrainError> {
    if !path.is_file() {
        return Ok(());
    }
    let prev = previous_path(path);
    crate::io::write_via_temp(&prev, |tmp| {
        let _ = std::fs::remove_file(tmp);
        std::fs::hard_link(path, tmp).or_else(|_| std::fs::copy(path, tmp).map(|_| ()))
    })
    .map_err(|e| ck_err(&prev, format!("could not keep the previous checkpoint: {e}")))
}

/// Writes `path` through [`crate::io::write_via_temp`] (temporary file, synced, renamed).
fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), TrainError> {
    crate::io::write_via_temp(path, |tmp| write(tmp).map_err(std::io::Error::other))
        .map_err(|e| ck_err(path, format!("could not write it: {e}")))
}

fn to_cpu(t: &Tensor) -> Result<Tensor, tch::TchError> {
    tch::no_grad(|| t.detach().f_to_device(Device::Cpu).and_then(|t| t.f_contiguous()))
}

/// Every variable of `vs` (batch-norm statistics included) as `(prefix + name, contiguous CPU copy)`, in name order:
/// what model files store.
pub(crate) fn cpu_variables(vs: &nn::VarStore, prefix: &str) -> Result<Vec<(String, Tensor)>, tch::TchError> {
    sorted_variables(vs).into_iter().map(|(name, t)| Ok((format!("{prefix}{name}"), to_cpu(&t)?))).collect()
}

/// Writes a checkpoint of `state` to `path` (safetensors) and `<path>.json`, atomically each.
pub fn save_checkpoint(path: &Path, state: &CheckpointState) -> Result<(), TrainError> {
    let meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT.into(),
        epochs_done: state.history.len(),
        optimizer_steps: state.optimizer.steps(),
        best_epoch: state.best.map(|b| b.epoch),
        run: state.run.clone(),
        model: state.model.clone(),
        history: state.history.clone(),
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| ck_err(path, e.to_string()))?;
    let mut named = Vec::new();
    for (name, t) in state.variables {
        named.push((format!("model/{name}"), to_cpu(t)?));
    }
    for (key, t) in state.optimizer.state() {
        named.push((format!("optim/{key}"), to_cpu(&t)?));
    }
    if let Some(best) = state.best {
        for (name, t) in &best.tensors {
            named.push((format!("best/{name}"), to_cpu(t)?));
        }
    }
    named.push((META_KEY.into(), Tensor::from_slice(json.as_bytes())));
    keep_previous(path)?;
    write_atomic(path, |tmp| Tensor::write_safetensors(&named, tmp).map_err(|e| e.to_string()))?;
    write_atomic(&sidecar_path(path), |tmp| std::fs::write(tmp, json.as_bytes()).map_err(|e| e.to_string()))
}

/// A checkpoint read back: its metadata and tensors (on the CPU).
#[derive(Debug)]
pub struct Checkpoint {
    /// The metadata.
    pub meta: CheckpointMeta,
    /// Every stored tensor by name (`model/…`, `optim/…`, `best/…`).
    pub tensors: HashMap<String, Tensor>,
}

/// Reads a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint, TrainError> {
    if !path.is_file() {
        return Err(ck_err(path, "no such file"));
    }
    let mut tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| {
            let why = crate::io::safetensors_problem(path).unwrap_or_else(|| e.to_string());
            ck_err(path, format!("not a readable safetensors file: {why}"))
        })?
        .into_iter()
        .collect();
    let meta =
        tensors.remove(META_KEY).ok_or_else(|| ck_err(path, "no `meta/json` entry: not a training checkpoint"))?;
    let bytes: Vec<u8> = Vec::try_from(&meta)?;
    let meta: CheckpointMeta =
        serde_json::from_slice(&bytes).map_err(|e| ck_err(path, format!("unreadable metadata: {e}")))?;
    if meta.format != CHECKPOINT_FORMAT {
        return Err(ck_err(path, format!("format `{}`, expected `{CHECKPOINT_FORMAT}`", meta.format)));
    }
    if meta.epochs_done != meta.history.len() {
        return Err(ck_err(
            path,
            format!("{} epochs done but {} in the history", meta.epochs_done, meta.history.len()),
        ));
    }
    Ok(Checkpoint { meta, tensors })
}

/// Reads the checkpoint at `path`, or, when that is missing, truncated or unreadable, the previous one at
/// `<path>.prev` ([`previous_path`]). Returns the checkpoint, the file it came from and, after a fallback, a warning
/// that says why `path` was not used. When neither can be read, the error names both files.
pub fn load_checkpoint_or_previous(path: &Path) -> Result<(Checkpoint, PathBuf, Option<String>), TrainError> {
    let main_err = match load_checkpoint(path) {
        Ok(c) => return Ok((c, path.to_path_buf(), None)),
        Err(e) => e,
    };
    let prev = previous_path(path);
    if !prev.exists() {
        return Err(main_err);
    }
    match load_checkpoint(&prev) {
        Ok(c) => {
            let warning = format!(
                "{main_err}; resuming from the previous checkpoint {} (epoch {}) instead",
                prev.display(),
                c.meta.epochs_done
            );
            Ok((c, prev, Some(warning)))
        }
        Err(prev_err) => Err(ck_err(path, format!("unusable ({main_err}), and so is the previous one ({prev_err})"))),
    }
}

/// The fields in which two JSON values differ, as `path stored vs current` (nested objects joined with `.`), for
/// resume errors.
pub fn describe_differences(stored: &serde_json::Value, current: &serde_json::Value) -> String {
    fn walk(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        match (a.as_object(), b.as_object()) {
            (Some(x), Some(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                let null = serde_json::Value::Null;
                for k in keys {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&path, x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), out);
                }
            }
            _ if a != b => out.push(format!("{prefix} {a} vs {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", stored, current, &mut out);
    out.join(", ")
}

impl Checkpoint {
    fn get(&self, path: &Path, key: &str, like: &Tensor) -> Result<&Tensor, TrainError> {
        let t = self.tensors.get(key).ok_or_else(|| ck_err(path, format!("missing tensor `{key}`")))?;
        if t.size() != like.size() || t.kind() != like.kind() {
            return Err(ck_err(
                path,
                format!(
                    "`{key}` is {:?} {:?}, the model expects {:?} {:?}",
                    t.kind(),
                    t.size(),
                    like.kind(),
                    like.size()
                ),
            ));
        }
        Ok(t)
    }

    /// Loads the stored variables into `variables` and the optimiser state into `optimizer`; returns the stored best
    /// weights. `path` is only used in error messages.
    pub fn restore(
        &self,
        path: &Path,
        variables: &[(String, Tensor)],
        optimizer: &mut dyn Optimizer,
    ) -> Result<Option<BestWeights>, TrainError> {
        let stored = self.tensors.keys().filter(|k| k.starts_with("model/")).count();
        if stored != variables.len() {
            return Err(ck_err(path, format!("{stored} model variables stored, the model has {}", variables.len())));
        }
        for (name, var) in variables {
            let t = self.get(path, &format!("model/{name}"), var)?;
            tch::no_grad(|| var.shallow_clone().f_copy_(t))?;
        }
        optimizer
            .load_state(self.meta.optimizer_steps, &mut |key| {
                self.tensors.get(&format!("optim/{key}")).map(Tensor::shallow_clone)
            })
            .map_err(|m| ck_err(path, m))?;
        let Some(epoch) = self.meta.best_epoch else { return Ok(None) };
        let mut tensors = Vec::with_capacity(variables.len());
        for (name, var) in variables {
            let t = self.get(path, &format!("best/{name}"), var)?;
            tensors.push((name.clone(), t.f_to_device(var.device())?));
        }
        Ok(Some(BestWeights { epoch, tensors }))
    }
}
