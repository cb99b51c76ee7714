//! Training checkpoints: one safetensors file holding the model variables (`model/<name>`, batch-norm statistics
//! included), the Adam moments (`adam_m/<name>`, `adam_v/<name>`), the best weights so far (`best/<name>`) and the
//! JSON metadata as a UInt8 tensor (`meta/json`), plus a human-readable copy of that JSON beside it
//! (`<path>.json`). Both files are written to a temporary file in the same directory, synced and renamed, so a
//! crash leaves either the previous checkpoint or the new one; the safetensors file alone is authoritative.
//!
//! The random streams need no saved state: they derive from `(seed, epoch)` (see [`train`](mod@super::train)).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use super::adam::KerasAdam;
use super::config::ScBassetConfig;
use super::history::History;
use super::train::{TrainConfig, TrainError};

/// Identifies the file format in the metadata.
pub const CHECKPOINT_FORMAT: &str = "gscript-scbasset-checkpoint/1";
const META_KEY: &str = "meta/json";

/// The JSON metadata of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Finished epochs (equals `history.len()`).
    pub epochs_done: usize,
    /// Adam updates applied.
    pub adam_step: u64,
    /// Epoch of the stored best weights, if any.
    pub best_epoch: Option<usize>,
    /// The training configuration of the run that wrote it (its `seed` fixes every random stream).
    pub train_config: TrainConfig,
    /// The model's configuration.
    pub model_config: ScBassetConfig,
    /// Every finished epoch.
    pub history: History,
}

/// A copy of every variable of a VarStore (batch-norm statistics included) at some epoch.
#[derive(Debug)]
pub struct BestWeights {
    /// Epoch (from 1) the weights were taken at.
    pub epoch: usize,
    /// `(name, copy)` in name order, on the VarStore's device.
    pub tensors: Vec<(String, Tensor)>,
}

impl BestWeights {
    /// Copies the current variables of `vs`.
    pub fn snapshot(vs: &nn::VarStore, epoch: usize) -> Self {
        let mut tensors: Vec<(String, Tensor)> =
            vs.variables().into_iter().map(|(n, t)| (n, tch::no_grad(|| t.detach().copy()))).collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        BestWeights { epoch, tensors }
    }

    /// Writes the copies back into `vs`.
    pub fn restore(&self, vs: &nn::VarStore) -> Result<(), TrainError> {
        let vars = vs.variables();
        for (name, t) in &self.tensors {
            let Some(var) = vars.get(name) else {
                return Err(TrainError::InvalidData(format!("best weights: no variable `{name}` in the VarStore")));
            };
            tch::no_grad(|| var.shallow_clone().f_copy_(t))?;
        }
        Ok(())
    }
}

/// What [`save_checkpoint`] writes.
pub struct CheckpointState<'a> {
    /// The model's variables.
    pub vs: &'a nn::VarStore,
    /// The optimiser.
    pub adam: &'a KerasAdam,
    /// Best weights so far (restore_best).
    pub best: Option<&'a BestWeights>,
    /// Finished epochs.
    pub history: &'a History,
    /// The run's configuration.
    pub config: &'a TrainConfig,
    /// The model's configuration.
    pub model_config: &'a ScBassetConfig,
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

/// Writes `path` through [`crate::io::write_via_temp`] (temporary file, synced, renamed).
fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), TrainError> {
    crate::io::write_via_temp(path, |tmp| write(tmp).map_err(std::io::Error::other))
        .map_err(|e| ck_err(path, format!("could not write it: {e}")))
}

fn to_cpu(t: &Tensor) -> Result<Tensor, tch::TchError> {
    tch::no_grad(|| t.detach().f_to_device(Device::Cpu).and_then(|t| t.f_contiguous()))
}

/// Every variable of `vs` (batch-norm statistics included) as `(prefix + name, contiguous CPU copy)`, in name order:
/// what checkpoints and model files store.
pub(crate) fn cpu_variables(vs: &nn::VarStore, prefix: &str) -> Result<Vec<(String, Tensor)>, tch::TchError> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(name, t)| Ok((format!("{prefix}{name}"), to_cpu(&t)?))).collect()
}

/// Writes a checkpoint of `state` to `path` (safetensors) and `<path>.json`, atomically each.
pub fn save_checkpoint(path: &Path, state: &CheckpointState) -> Result<(), TrainError> {
    let meta = CheckpointMeta {
        format: CHECKPOINT_FORMAT.into(),
        epochs_done: state.history.len(),
        adam_step: state.adam.steps(),
        best_epoch: state.best.map(|b| b.epoch),
        train_config: state.config.clone(),
        model_config: state.model_config.clone(),
        history: state.history.clone(),
    };
    let json = serde_json::to_string_pretty(&meta).map_err(|e| ck_err(path, e.to_string()))?;
    let mut named = cpu_variables(state.vs, "model/")?;
    for (name, m, v) in state.adam.moments() {
        named.push((format!("adam_m/{name}"), to_cpu(m)?));
        named.push((format!("adam_v/{name}"), to_cpu(v)?));
    }
    if let Some(best) = state.best {
        for (name, t) in &best.tensors {
            named.push((format!("best/{name}"), to_cpu(t)?));
        }
    }
    named.push((META_KEY.into(), Tensor::from_slice(json.as_bytes())));
    write_atomic(path, |tmp| Tensor::write_safetensors(&named, tmp).map_err(|e| e.to_string()))?;
    write_atomic(&sidecar_path(path), |tmp| std::fs::write(tmp, json.as_bytes()).map_err(|e| e.to_string()))
}

/// A checkpoint read back: its metadata and tensors (on the CPU).
#[derive(Debug)]
pub struct Checkpoint {
    /// The metadata.
    pub meta: CheckpointMeta,
    /// Every stored tensor by name (`model/…`, `adam_m/…`, `adam_v/…`, `best/…`).
    pub tensors: HashMap<String, Tensor>,
}

/// Reads a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint, TrainError> {
    if !path.is_file() {
        return Err(ck_err(path, "no such file"));
    }
    let mut tensors: HashMap<String, Tensor> =
        Tensor::read_safetensors(path).map_err(|e| ck_err(path, format!("not a readable safetensors file: {e}")))?.into_iter().collect();
    let meta = tensors.remove(META_KEY).ok_or_else(|| ck_err(path, "no `meta/json` entry: not a training checkpoint"))?;
    let bytes: Vec<u8> = Vec::try_from(&meta)?;
    let meta: CheckpointMeta =
        serde_json::from_slice(&bytes).map_err(|e| ck_err(path, format!("unreadable metadata: {e}")))?;
    if meta.format != CHECKPOINT_FORMAT {
        return Err(ck_err(path, format!("format `{}`, expected `{CHECKPOINT_FORMAT}`", meta.format)));
    }
    if meta.epochs_done != meta.history.len() {
        return Err(ck_err(path, format!("{} epochs done but {} in the history", meta.epochs_done, meta.history.len())));
    }
    Ok(Checkpoint { meta, tensors })
}

impl Checkpoint {
    fn get(&self, path: &Path, key: &str, like: &Tensor) -> Result<&Tensor, TrainError> {
        let t = self.tensors.get(key).ok_or_else(|| ck_err(path, format!("missing tensor `{key}`")))?;
        if t.size() != like.size() || t.kind() != like.kind() {
            return Err(ck_err(
                path,
                format!("`{key}` is {:?} {:?}, the model expects {:?} {:?}", t.kind(), t.size(), like.kind(), like.size()),
            ));
        }
        Ok(t)
    }

    /// Loads the weights into `vs` and the optimiser state into `adam`; returns the stored best weights. `path` is
    /// only used in error messages.
    pub fn restore(&self, path: &Path, vs: &nn::VarStore, adam: &mut KerasAdam) -> Result<Option<BestWeights>, TrainError> {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let stored = self.tensors.keys().filter(|k| k.starts_with("model/")).count();
        if stored != vars.len() {
            return Err(ck_err(path, format!("{stored} model variables stored, the model has {}", vars.len())));
        }
        for (name, var) in &vars {
            let t = self.get(path, &format!("model/{name}"), var)?;
            tch::no_grad(|| var.shallow_clone().f_copy_(t))?;
        }
        let device = vs.device();
        adam.load_state(self.meta.adam_step, |name| {
            let m = self.tensors.get(&format!("adam_m/{name}"))?;
            let v = self.tensors.get(&format!("adam_v/{name}"))?;
            Some((m.to_device(device), v.to_device(device)))
        })
        .map_err(|m| ck_err(path, m))?;
        let Some(epoch) = self.meta.best_epoch else { return Ok(None) };
        let mut tensors = Vec::with_capacity(vars.len());
        for (name, var) in &vars {
            let t = self.get(path, &format!("best/{name}"), var)?;
            tensors.push((name.clone(), t.f_to_device(device)?));
        }
        Ok(Some(BestWeights { epoch, tensors }))
    }
}
