//! Sequence models: one folder per network (configuration with named presets, the module, import of published
//! weights), all behind the [`SequenceModel`] trait that training, fine-tuning and interpretation use.
//!
//! A model maps base codes → one-hot `(B, 4, L)` → a sequence embedding `z` (its trunk) → outputs through a head
//! ([`crate::heads`]). Its tensors come in named [parameter groups](ParameterGroup) — trunk, adapters, head — so that
//! recipes freeze, adapt and optimise them by role without knowing the network.
//!
//! - [`scbasset`]: scBasset (Yuan & Kelley 2022), Keras and scvi-tools variants and a tiny preset.
//! - [`borzoi`]: Borzoi (Linder et al. 2025) and Flashzoi (Hingerl et al. 2025), the trunk scooby fine-tunes, with
//!   weight import from borzoi-pytorch checkpoints.
//!
//! A new network goes in a new folder here: its config (with presets), its module implementing [`SequenceModel`]
//! (and [`crate::adapters::Adaptable`] for LoRA), and its weight import.

pub mod borzoi;
pub mod error;
pub mod pool;
pub mod precision;
pub mod profile;
pub mod scbasset;
pub mod scooby;

use std::path::Path;

use tch::{Device, Tensor};

pub use error::ModelError;
pub use precision::Precision;
pub use profile::CellProfileModel;

use crate::error::{Result, RuntimeError};

/// The role of a group of tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// The pretrained sequence network (convolutions, transformer blocks, their norms).
    Trunk,
    /// Low-rank adapters added for fine-tuning.
    Adapters,
    /// The read-out from the sequence embedding to the outputs (per-cell layer, batch path, decoder).
    Head,
}

/// Named trainable tensors of one role.
#[derive(Debug)]
pub struct ParameterGroup {
    /// Trunk, adapters or head.
    pub kind: GroupKind,
    /// `(name, tensor)`, sharing storage with the model.
    pub tensors: Vec<(String, Tensor)>,
}

impl ParameterGroup {
    /// Number of scalars in the group.
    pub fn numel(&self) -> usize {
        self.tensors.iter().map(|(_, t)| t.numel()).sum()
    }
}

/// Model families: recipes pick their defaults by family (e.g. fine-tuning learning rates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// scBasset-style peak CNNs (a few million parameters, one 1,344-bp peak → every cell).
    ScBasset,
    /// Borzoi-style profile models (a ~170M-parameter trunk, 524 kb of sequence → 32-bp bins).
    Borzoi,
}

/// A network from DNA sequence to a per-position or per-sequence embedding.
pub trait SequenceModel {
    /// The family, for family-dependent defaults.
    fn family(&self) -> ModelFamily;
    /// Where the tensors live.
    fn device(&self) -> Device;
    /// Input length in bases.
    fn seq_len(&self) -> usize;
    /// Width of the sequence embedding `z`.
    fn embedding_dim(&self) -> usize;
    /// Output bins of a profile model (`z` per bin), `None` for a per-sequence model.
    fn bins(&self) -> Option<usize> {
        None
    }
    /// The trunk: `(B, 4, seq_len)` fp32 one-hot → `z` fp32, `(B, embedding_dim)` for a per-sequence model or
    /// `(B, embedding_dim, bins)` for a profile model. `train` selects batch statistics (updating moving averages) and
    /// enables dropout. The input must have the model's shape (callers check it).
    fn embed(&self, onehot: &Tensor, train: bool) -> Tensor;
    /// The trainable tensors by role, named as in [`state`](SequenceModel::state).
    fn parameter_groups(&self) -> Vec<ParameterGroup>;
    /// Every tensor of the model by name (trainable tensors and buffers such as batch-norm statistics), sharing
    /// storage with it: what model files store.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// A layer-by-layer description with parameter counts.
    fn summary(&self) -> String;

    /// Number of trainable scalars over every group.
    fn parameter_count(&self) -> usize {
        self.parameter_groups().iter().map(ParameterGroup::numel).sum()
    }
}

/// `(B, L)` base codes (A=0, C=1, G=2, T=3; UInt8, Int8, Int32 or Int64) → `(B, 4, L)` fp32 one-hot on the codes'
/// device.
pub fn one_hot(codes: &Tensor) -> std::result::Result<Tensor, ModelError> {
    if codes.dim() != 2 {
        return Err(ModelError::shape("codes", format!("expected (batch, length), got {:?}", codes.size())));
    }
    match codes.kind() {
        tch::Kind::Uint8 | tch::Kind::Int8 | tch::Kind::Int | tch::Kind::Int64 => {}
        other => return Err(ModelError::shape("codes", format!("expected integer codes, got {other:?}"))),
    }
    Ok(codes.to_kind(tch::Kind::Int64).f_one_hot(4)?.permute([0, 2, 1]).to_kind(tch::Kind::Float))
}

/// Writes `model.state()` to a safetensors file (atomically: temporary file, synced, renamed).
pub fn save_state(model: &dyn SequenceModel, path: &Path) -> Result<()> {
    let named: Vec<(String, Tensor)> = model
        .state()
        .into_iter()
        .map(|(n, t)| Ok((n, tch::no_grad(|| t.detach().f_to_device(Device::Cpu))?.f_contiguous()?)))
        .collect::<Result<_>>()?;
    crate::io::write_via_temp(path, |tmp| Tensor::write_safetensors(&named, tmp).map_err(std::io::Error::other))
        .map_err(|e| RuntimeError::io(path, e))
}

/// Reads a file written by [`save_state`] into `model`: every tensor of the model must be present with its shape;
/// errors name the file and the tensor.
pub fn load_state(model: &dyn SequenceModel, path: &Path) -> Result<()> {
    let stored: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| {
            let why = crate::io::safetensors_problem(path).unwrap_or_else(|| e.to_string());
            RuntimeError::parse(path, 0, format!("not a readable safetensors file: {why}"))
        })?
        .into_iter()
        .collect();
    let state = model.state();
    for (name, t) in &state {
        let s = stored.get(name).ok_or_else(|| RuntimeError::parse(path, 0, format!("missing tensor `{name}`")))?;
        if s.size() != t.size() {
            return Err(RuntimeError::parse(
                path,
                0,
                format!("tensor `{name}` has shape {:?}, the model expects {:?}", s.size(), t.size()),
            ));
        }
    }
    if let Some(extra) = stored.keys().find(|k| !state.iter().any(|(n, _)| n == *k)) {
        return Err(RuntimeError::parse(path, 0, format!("unexpected tensor `{extra}`: written for another model?")));
    }
    tch::no_grad(|| -> Result<()> {
        for (name, t) in &state {
            t.shallow_clone().f_copy_(&stored[name].to_device(t.device()).to_kind(t.kind()))?;
        }
        Ok(())
    })
}
