//! Trained models on disk: one safetensors file with every variable of the model (batch-norm statistics included)
//! under its VarStore name and the metadata as a UInt8 tensor (`meta/json`), plus a human-readable copy of the
//! metadata beside it (`<path>.json`). The metadata holds the configuration, the cell barcodes (and batches for
//! scBasset-BC), a fingerprint of the peak set the model was trained on, the training history and the versions that
//! wrote it. Both files are written to a temporary name and renamed; the safetensors file alone is authoritative.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};
use thiserror::Error;

use super::config::ScBassetConfig;
use super::network::ScBasset;
use crate::data::bed::PeakSet;
use crate::train::checkpoint::{cpu_variables, sidecar_path};
use crate::train::history::History;

/// Identifies the file format in the metadata.
pub const MODEL_FORMAT: &str = "gscript-scbasset-model/1";
const META_KEY: &str = "meta/json";
const VAR_PREFIX: &str = "model/";

/// A stable fingerprint of a peak set (count and FNV-1a 64 over `chrom:start-end` lines, in order), so that a model
/// can tell whether it is applied to the peaks it was trained on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeakFingerprint {
    /// Number of peaks.
    pub n_peaks: usize,
    /// FNV-1a 64 of the coordinates, 16 hex digits.
    pub fnv1a64: String,
}

impl PeakFingerprint {
    /// The fingerprint of `peaks`.
    pub fn of(peaks: &PeakSet) -> Self {
        let mut h = Fnv1a::default();
        for i in 0..peaks.len() {
            h.update(format!("{}:{}-{}\n", peaks.chrom[i], peaks.start[i], peaks.end[i]).as_bytes());
        }
        PeakFingerprint { n_peaks: peaks.len(), fnv1a64: h.hex() }
    }
}

/// FNV-1a 64-bit hash, fed in pieces (fingerprints of peak sets and of weights).
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    /// The hash as 16 lower-case hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Software that wrote a model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// gscript (the runtime crate's version).
    pub gscript: String,
    /// libtorch, when known.
    pub libtorch: Option<String>,
}

impl Versions {
    /// The versions of this process.
    pub fn current() -> Self {
        Versions { gscript: env!("CARGO_PKG_VERSION").into(), libtorch: crate::info::libtorch_version() }
    }
}

/// The metadata of a saved model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// [`MODEL_FORMAT`].
    pub format: String,
    /// The network's configuration.
    pub config: ScBassetConfig,
    /// Preset or origin the configuration came from (`keras`, `scvi`, `tiny`, `imported-keras`, …).
    pub preset: String,
    /// One barcode per cell, in the order of the final layer.
    pub barcodes: Vec<String>,
    /// scBasset-BC: the batch of every cell (indices into `batch_names`).
    #[serde(default)]
    pub cell_batch: Option<Vec<usize>>,
    /// scBasset-BC: batch names.
    #[serde(default)]
    pub batch_names: Option<Vec<String>>,
    /// The peak set the model was trained on, when known.
    #[serde(default)]
    pub peaks: Option<PeakFingerprint>,
    /// Training history (empty for imported models).
    #[serde(default)]
    pub history: History,
    /// Precision the model computes with (training's `precision`; files without it: fp32). Restored by
    /// [`load_model`], except that bf16 falls back to fp32 on a device without native bf16.
    #[serde(default)]
    pub precision: crate::models::Precision,
    /// Versions that wrote the file.
    pub versions: Versions,
}

/// Why a model could not be saved or loaded.
#[derive(Debug, Error)]
#[error("model file {path}: {message}")]
pub struct SavedModelError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

fn err(path: &Path, message: impl Into<String>) -> SavedModelError {
    SavedModelError { path: path.to_path_buf(), message: message.into() }
}

/// Writes the variables of `vs` and `meta` to `path` (safetensors) and `<path>.json`, each atomically.
pub fn save_model(path: &Path, vs: &nn::VarStore, meta: &ModelMeta) -> Result<(), SavedModelError> {
    if meta.barcodes.len() != meta.config.n_cells {
        return Err(err(
            path,
            format!("{} barcodes for a model of {} cells", meta.barcodes.len(), meta.config.n_cells),
        ));
    }
    let json = serde_json::to_string_pretty(meta).map_err(|e| err(path, e.to_string()))?;
    let mut named = cpu_variables(vs, VAR_PREFIX).map_err(|e| err(path, e.to_string()))?;
    named.push((META_KEY.into(), Tensor::from_slice(json.as_bytes())));
    let write = |target: &Path, f: &dyn Fn(&Path) -> Result<(), String>| {
        crate::io::write_via_temp(target, |tmp| f(tmp).map_err(std::io::Error::other))
            .map_err(|e| err(target, format!("could not write it: {e}")))
    };
    write(path, &|tmp| Tensor::write_safetensors(&named, tmp).map_err(|e| e.to_string()))?;
    write(&sidecar_path(path), &|tmp| std::fs::write(tmp, json.as_bytes()).map_err(|e| e.to_string()))
}

/// A model read back by [`load_model`].
#[derive(Debug)]
pub struct LoadedModel {
    /// The variables (on the requested device).
    pub vs: nn::VarStore,
    /// The network built from the stored configuration, holding the stored weights.
    pub net: ScBasset,
    /// The metadata.
    pub meta: ModelMeta,
}

/// Reads a model written by [`save_model`] onto `device`. Every stored tensor must match the network its
/// configuration describes, name by name, in shape and type.
pub fn load_model(path: &Path, device: Device) -> Result<LoadedModel, SavedModelError> {
    if !path.is_file() {
        return Err(err(path, "no such file"));
    }
    let mut tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| {
            let why = crate::io::safetensors_problem(path).unwrap_or_else(|| e.to_string());
            err(path, format!("not a readable safetensors file: {why}"))
        })?
        .into_iter()
        .collect();
    let meta = tensors.remove(META_KEY).ok_or_else(|| {
        err(
            path,
            "no `meta/json` entry: not a gscript model (a training checkpoint? load it with train_scbasset's `resume`)",
        )
    })?;
    let bytes: Vec<u8> = Vec::try_from(&meta).map_err(|e: tch::TchError| err(path, e.to_string()))?;
    let meta: ModelMeta = serde_json::from_slice(&bytes).map_err(|e| {
        let hint = if String::from_utf8_lossy(&bytes).contains(crate::train::checkpoint::CHECKPOINT_FORMAT) {
            " (this is a training checkpoint: continue it with the `resume` option of train_scbasset or lora_finetune)"
        } else {
            ""
        };
        err(path, format!("unreadable metadata: {e}{hint}"))
    })?;
    if meta.format != MODEL_FORMAT {
        return Err(err(path, format!("format `{}`, expected `{MODEL_FORMAT}`", meta.format)));
    }
    meta.config.validate().map_err(|e| err(path, format!("stored configuration: {e}")))?;
    if meta.barcodes.len() != meta.config.n_cells {
        return Err(err(path, format!("{} barcodes for {} cells", meta.barcodes.len(), meta.config.n_cells)));
    }
    let vs = nn::VarStore::new(device);
    let mut net = match &meta.cell_batch {
        None => ScBasset::new(&vs.root(), &meta.config),
        Some(cb) => ScBasset::with_batches(&vs.root(), &meta.config, cb),
    }
    .map_err(|e| err(path, format!("stored configuration: {e}")))?;
    let native = crate::models::Precision::auto(device);
    net.set_precision(if native == crate::models::Precision::F32 { native } else { meta.precision });
    let vars = vs.variables();
    let stored = tensors.keys().filter(|k| k.starts_with(VAR_PREFIX)).count();
    if stored != vars.len() {
        return Err(err(path, format!("{stored} variables stored, the configured network has {}", vars.len())));
    }
    for (name, var) in &vars {
        let key = format!("{VAR_PREFIX}{name}");
        let t = tensors.get(&key).ok_or_else(|| err(path, format!("missing tensor `{key}`")))?;
        if t.size() != var.size() || t.kind() != Kind::Float {
            return Err(err(
                path,
                format!("`{key}` is {:?} {:?}, the network expects Float {:?}", t.kind(), t.size(), var.size()),
            ));
        }
        tch::no_grad(|| var.shallow_clone().f_copy_(t)).map_err(|e| err(path, e.to_string()))?;
    }
    Ok(LoadedModel { vs, net, meta })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peaks() -> PeakSet {
        let mut p = PeakSet::default();
        for (c, s, e) in [("chr1", 10u64, 500u64), ("chr2", 7, 900)] {
            p.push(c, s, e, None);
        }
        p
    }

    fn meta(config: ScBassetConfig) -> ModelMeta {
        ModelMeta {
            format: MODEL_FORMAT.into(),
            barcodes: (0..config.n_cells).map(|i| format!("cell{i}")).collect(),
            config,
            preset: "tiny".into(),
            cell_batch: None,
            batch_names: None,
            peaks: Some(PeakFingerprint::of(&peaks())),
            history: History::default(),
            precision: Default::default(),
            versions: Versions::current(),
        }
    }

    #[test]
    fn round_trip_keeps_every_variable_and_the_outputs() {
        let _rng = crate::testing::torch_rng_lock();
        tch::manual_seed(5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(6)).unwrap();
        // move the BN statistics away from their initial values
        let codes = Tensor::randint(4, [8, 336], (Kind::Int64, Device::Cpu));
        let _ = net.forward_codes(&codes, true);
        let before = tch::no_grad(|| net.forward_codes(&codes, false));
        save_model(&path, &vs, &meta(net.config().clone())).unwrap();
        assert!(sidecar_path(&path).is_file());
        let loaded = load_model(&path, Device::Cpu).unwrap();
        let after = tch::no_grad(|| loaded.net.forward_codes(&codes, false));
        assert!(before.equal(&after));
        assert_eq!(loaded.meta, meta(net.config().clone()));
    }

    #[test]
    fn fingerprint_depends_on_coordinates_and_order() {
        let a = PeakFingerprint::of(&peaks());
        let mut q = PeakSet::default();
        q.push("chr2", 7, 900, None);
        q.push("chr1", 10, 500, None);
        assert_ne!(a, PeakFingerprint::of(&q));
        assert_eq!(a, PeakFingerprint::of(&peaks()));
        assert_eq!(a.n_peaks, 2);
    }

    #[test]
    fn broken_files_give_clear_errors() {
        let _rng = crate::testing::torch_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        let missing = load_model(&dir.path().join("none.safetensors"), Device::Cpu).unwrap_err();
        assert!(missing.to_string().contains("no such file"), "{missing}");
        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"not safetensors").unwrap();
        let e = load_model(&junk, Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("not a readable safetensors"), "{e}");
        // a file whose tensors do not fit the stored configuration
        let path = dir.path().join("m.safetensors");
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(6)).unwrap();
        let mut m = meta(net.config().clone());
        m.config.bottleneck = 9;
        let e = save_model(&path, &vs, &m).and_then(|_| load_model(&path, Device::Cpu).map(|_| ())).unwrap_err();
        assert!(e.to_string().contains("the network expects"), "{e}");
        // wrong number of barcodes is refused on save
        let mut m = meta(net.config().clone());
        m.barcodes.pop();
        assert!(save_model(&path, &vs, &m).unwrap_err().to_string().contains("5 barcodes"));
    }
}
