//! Borzoi and Flashzoi checkpoints as borzoi-pytorch writes them (`save_pretrained`: `config.json` +
//! `model.safetensors`), read from a memory map. The state dict's names are the model's variable names; every tensor
//! is checked by name and shape, and errors name the file, the key and both shapes.
//!
//! Weights are not fetched: users download a replicate themselves, e.g.
//! `huggingface-cli download johahi/borzoi-replicate-0 --local-dir borzoi-0` (or `git clone` of the model repository),
//! and pass the directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors};
use tch::{Device, Kind, Tensor};

use super::config::{BorzoiConfig, Preset};
use super::layers::Init;
use super::network::Borzoi;
use crate::error::{Result, RuntimeError};
use crate::models::{Precision, SequenceModel};

/// How to load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The configuration when there is no `config.json` (a bare `.safetensors` file); `None` = Borzoi.
    pub preset: Option<Preset>,
    /// Where the model runs.
    pub device: Device,
    /// Precision of the matrix products; bf16 also stores the trunk's matrices in bf16.
    pub precision: Precision,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { preset: None, device: Device::Cpu, precision: Precision::F32 }
    }
}

/// The weights file and the configuration for `path` (a directory or a file).
fn locate(path: &Path, preset: Option<Preset>) -> Result<(PathBuf, BorzoiConfig)> {
    let (weights, config_path) = if path.is_dir() {
        let w = path.join("model.safetensors");
        if !w.is_file() {
            let hint = if path.join("pytorch_model.bin").is_file() {
                " (it has pytorch_model.bin, a pickle: re-save it in Python with \
                 `Borzoi.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`)"
            } else {
                ""
            };
            return Err(RuntimeError::io(
                &w,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no model.safetensors in the directory{hint}"),
                ),
            ));
        }
        (w, path.join("config.json"))
    } else if path.is_file() {
        (path.to_path_buf(), path.with_file_name("config.json"))
    } else {
        return Err(RuntimeError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    };
    let config = match (config_path.is_file(), preset) {
        (_, Some(p)) if !path.is_dir() => p.config(),
        (true, _) => {
            let text = std::fs::read_to_string(&config_path).map_err(|e| RuntimeError::io(&config_path, e))?;
            BorzoiConfig::from_json(&text, &config_path.display().to_string())?
        }
        (false, p) => p.unwrap_or(Preset::Borzoi).config(),
    };
    Ok((weights, config))
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        Dtype::F64 => Some(Kind::Double),
        _ => None,
    }
}

fn list(names: &[&str], max: usize) -> String {
    let mut s = names.iter().take(max).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    if names.len() > max {
        s.push_str(&format!(" and {} more", names.len() - max));
    }
    s
}

/// Loads a checkpoint: `path` is a directory with `model.safetensors` (and `config.json`, read when present) or a
/// `.safetensors` file (configured by `config.json` beside it, or by `options.preset`). Unknown config keys are
/// ignored, BatchNorm `num_batches_tracked` counters accepted and skipped; a missing, unexpected or mis-shaped tensor
/// is an error naming it. The model is in evaluation use (call with `train = false`).
pub fn load_pretrained(path: &Path, options: &LoadOptions) -> Result<Borzoi> {
    let (weights, config) = locate(path, options.preset)?;
    let file = std::fs::File::open(&weights).map_err(|e| RuntimeError::io(&weights, e))?;
    // SAFETY: the map is read-only and lives until the copies below are done; a file changed underneath by another
    // process is the same hazard as reading it while it is written.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| RuntimeError::io(&weights, e))?;
    let st = SafeTensors::deserialize(&map)
        .map_err(|e| RuntimeError::parse(&weights, 0, format!("not a readable safetensors file: {e:?}")))?;
    let model = Borzoi::new(&config, options.device, Init::Zeros)?;
    let state = model.state();
    let expected: HashSet<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
    let stored: Vec<&String> = st.names();
    let stored_set: HashSet<&str> = stored.iter().map(|s| s.as_str()).collect();
    let mut missing: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).filter(|n| !stored_set.contains(n)).collect();
    let mut extra: Vec<&str> = stored
        .iter()
        .map(|s| s.as_str())
        .filter(|n| !expected.contains(n) && !n.ends_with(".num_batches_tracked"))
        .collect();
    missing.sort_unstable();
    extra.sort_unstable();
    if missing.len() == state.len() {
        let mut some: Vec<&str> = stored.iter().map(|s| s.as_str()).collect();
        some.sort_unstable();
        return Err(RuntimeError::parse(
            &weights,
            0,
            format!(
                "not a Borzoi checkpoint: none of its {} tensors are here (it holds {}){}",
                state.len(),
                list(&some, 4),
                if some
                    .iter()
                    .any(|n| n.contains("conv_tower") || n.contains("cell_embedding") || n.contains("bottleneck"))
                {
                    "; an scBasset model loads with load_model"
                } else {
                    ""
                }
            ),
        ));
    }
    let mut mismatched: Vec<String> = Vec::new();
    for (name, t) in &state {
        if let Ok(view) = st.tensor(name) {
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            if shape != t.size() {
                mismatched.push(format!("tensor `{name}` has shape {shape:?}, the model expects {:?}", t.size()));
            }
        }
    }
    if !missing.is_empty() || !extra.is_empty() || !mismatched.is_empty() {
        let mut parts: Vec<String> = Vec::new();
        if !mismatched.is_empty() {
            let shown: Vec<&str> = mismatched.iter().take(4).map(String::as_str).collect();
            let more = if mismatched.len() > 4 { format!(" and {} more", mismatched.len() - 4) } else { String::new() };
            parts.push(format!("{}{more}", shown.join("; ")));
        }
        if !missing.is_empty() {
            parts.push(format!("missing {} tensor(s): {}", missing.len(), list(&missing, 8)));
        }
        if !extra.is_empty() {
            parts.push(format!("unexpected {} tensor(s): {}", extra.len(), list(&extra, 8)));
        }
        let mut msg = format!("the checkpoint does not match the configuration: {}", parts.join("; "));
        if extra.iter().any(|n| n.contains(".mha.")) && !config.flashed {
            msg.push_str(" (the file holds Flashzoi attention: use preset \"flashzoi\" or its config.json)");
        } else if missing.iter().any(|n| n.contains(".mha.")) {
            msg.push_str(" (the file holds Borzoi attention: use preset \"borzoi\")");
        } else if extra.iter().any(|n| n.starts_with("mouse_head.")) {
            msg.push_str(" (the file has a mouse head: its config.json sets enable_mouse_head)");
        } else if !mismatched.is_empty() || !missing.is_empty() {
            msg.push_str(" (another size: give the checkpoint's config.json or the matching preset)");
        }
        return Err(RuntimeError::parse(&weights, 0, msg));
    }
    tch::no_grad(|| -> Result<()> {
        for (name, t) in &state {
            let view =
                st.tensor(name).map_err(|e| RuntimeError::parse(&weights, 0, format!("tensor `{name}`: {e:?}")))?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let kind = kind_of(view.dtype()).ok_or_else(|| {
                RuntimeError::parse(
                    &weights,
                    0,
                    format!("tensor `{name}` has element type {:?}, not a float", view.dtype()),
                )
            })?;
            let src = Tensor::f_from_data_size(view.data(), &shape, kind)?;
            t.shallow_clone().f_copy_(&src)?;
        }
        Ok(())
    })?;
    drop(map);
    let mut model = model;
    if options.precision == Precision::Bf16 {
        model.store_bf16();
    }
    Ok(model)
}
