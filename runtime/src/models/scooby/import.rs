//! scooby checkpoints: the released, merged models (`johahi/neurips-scooby`, `lauradmartens/onek1k-scooby`: the trunk
//! without its head, `transform_borzoi_emb.{0,2}.*`, `cell_state_to_conv.{0,2,5,8}.*`) and unmerged peft checkpoints
//! (`base_model.model.<module>.base_layer.*`, `<module>.lora_A.default.weight`, `<module>.lora_B.default.weight`), and
//! the files [`Scooby::save`] writes (adapters as `<module>.lora_a` / `.lora_b`).
//!
//! The shapes fix E (`cell_state_to_conv.0.weight` `(128, E)`), T (last decoder layer `((D + 1)·T, 1024)`), the
//! decoder's hidden widths, the transform layer and its width, the LoRA rank and the adapted layers, and the trunk's
//! stem, tower, width, depth, heads and key/value widths. What shapes cannot tell — the number of returned bins and the
//! input length — comes from `config.json` beside the file (borzoi-pytorch's), else from the given trunk
//! configuration, else the Borzoi preset with the same widths (tiny or published). LoRA α comes from peft's `adapter_config.json` beside the file, else α = r (scooby's setting).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use super::config::{scooby_lora, ScoobyConfig};
use super::network::Scooby;
use crate::adapters::{glob_match, Adaptable, LoraConfig};
use crate::error::{Result, RuntimeError};
use crate::models::borzoi::{Borzoi, BorzoiConfig, Init, Preset};
use crate::models::Precision;

/// How to import.
#[derive(Clone, Debug)]
pub struct ScoobyImportOptions {
    /// The trunk configuration when there is no `config.json` beside the file (`None`: the published Borzoi); width,
    /// depth, heads and attention widths are taken from the tensors' shapes either way.
    pub trunk: Option<BorzoiConfig>,
    /// Where the model runs.
    pub device: Device,
    /// Precision of the trunk's matrix products.
    pub precision: Precision,
}

impl Default for ScoobyImportOptions {
    fn default() -> Self {
        ScoobyImportOptions { trunk: None, device: Device::Cpu, precision: Precision::F32 }
    }
}

/// A checkpoint tensor name in our naming (peft prefixes and wrappers removed), or `None` for tensors to skip.
fn our_name(name: &str) -> Option<String> {
    if name.ends_with(".num_batches_tracked") {
        return None;
    }
    let n = name.strip_prefix("base_model.model.").unwrap_or(name);
    let n = n.replace(".base_layer.", ".");
    let n = if let Some(m) = n.strip_suffix(".lora_A.default.weight") {
        format!("{m}.lora_a")
    } else if let Some(m) = n.strip_suffix(".lora_B.default.weight") {
        format!("{m}.lora_b")
    } else {
        n
    };
    Some(n)
}

fn weights_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_path_buf()
    }
}

fn bad(path: &Path, msg: impl Into<String>) -> RuntimeError {
    RuntimeError::parse(path, 0, msg.into())
}

fn dims(t: &HashMap<String, Tensor>, name: &str, path: &Path) -> Result<Vec<i64>> {
    t.get(name).map(Tensor::size).ok_or_else(|| bad(path, format!("missing tensor `{name}`: not a scooby checkpoint?")))
}

/// The configuration the tensors describe.
fn infer(t: &HashMap<String, Tensor>, base: BorzoiConfig, alpha: Option<f64>, path: &Path) -> Result<ScoobyConfig> {
    let mut trunk = BorzoiConfig { human_tracks: None, mouse_tracks: None, ..base };
    trunk.dim = dims(t, "unet1.1.conv_layer.weight", path)?[0] as usize;
    trunk.embedding_dim = dims(t, "final_joined_convs.0.conv_layer.weight", path)?[0] as usize;
    trunk.stem_channels = dims(t, "conv_dna.conv_layer.weight", path)?[0] as usize;
    for (i, w) in trunk.tower.iter_mut().enumerate() {
        *w = dims(t, &format!("res_tower.{}.conv_layer.weight", 2 * i), path)?[0] as usize;
    }
    trunk.depth = (0..).take_while(|i| t.contains_key(&format!("transformer.{i}.0.fn.0.weight"))).count();
    trunk.flashed = t.keys().any(|k| k.contains(".mha."));
    if !trunk.flashed && trunk.depth > 0 {
        let rb = dims(t, "transformer.0.0.fn.1.rel_content_bias", path)?;
        trunk.heads = rb[1] as usize;
        trunk.key_dim = rb[3] as usize;
        trunk.value_dim = dims(t, "transformer.0.0.fn.1.to_v.weight", path)?[0] as usize / trunk.heads.max(1);
    }
    let mut layers: Vec<(usize, Vec<i64>)> = t
        .iter()
        .filter_map(|(k, v)| {
            let i = k.strip_prefix("cell_state_to_conv.")?.strip_suffix(".weight")?.parse().ok()?;
            Some((i, v.size()))
        })
        .collect();
    layers.sort_by_key(|(i, _)| *i);
    if layers.len() < 2 {
        return Err(bad(path, "no cell-state decoder (`cell_state_to_conv.*`): not a scooby checkpoint"));
    }
    let state_dim = layers[0].1[1] as usize;
    let out = layers.last().unwrap().1[0] as usize;
    let d1 = trunk.embedding_dim + 1;
    if !out.is_multiple_of(d1) {
        return Err(bad(
            path,
            format!("the decoder's last layer has {out} outputs, not a multiple of embedding width + 1 = {d1}"),
        ));
    }
    let hidden: Vec<usize> = layers[..layers.len() - 1].iter().map(|(_, s)| s[0] as usize).collect();
    let mut config = ScoobyConfig::new(trunk, state_dim, out / d1);
    config.decoder_hidden = hidden;
    let transform = t.get("transform_borzoi_emb.0.weight");
    config.transform = transform.is_some();
    if let Some(w) = transform {
        config.transform_dim = w.size()[0] as usize;
    }
    let mut adapted: Vec<String> = t.keys().filter_map(|k| k.strip_suffix(".lora_a")).map(String::from).collect();
    adapted.sort();
    config.lora = if adapted.is_empty() {
        None
    } else {
        let rank = t[&format!("{}.lora_a", adapted[0])].size()[0] as usize;
        Some(LoraConfig { rank, alpha: alpha.unwrap_or(rank as f64), targets: adapted })
    };
    Ok(config)
}

/// peft's `adapter_config.json` beside the weights: `lora_alpha`, if any.
fn peft_alpha(weights: &Path) -> Result<Option<f64>> {
    let p = weights.with_file_name("adapter_config.json");
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).map_err(|e| RuntimeError::io(&p, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&p, format!("not JSON: {e}")))?;
    Ok(v.get("lora_alpha").and_then(|a| a.as_f64()))
}

/// Loads a scooby checkpoint (a `.safetensors` file or a directory with `model.safetensors`); see the module notes.
/// Missing, unexpected and mis-shaped tensors are listed by name and shape. Adapters stay unmerged.
pub fn import_scooby(path: &Path, options: &ScoobyImportOptions) -> Result<Scooby> {
    let weights = weights_file(path);
    let raw = Tensor::read_safetensors(&weights)
        .map_err(|e| bad(&weights, format!("not a readable safetensors file: {e}")))?;
    let mut stored: HashMap<String, Tensor> = HashMap::new();
    for (name, t) in raw {
        if let Some(n) = our_name(&name) {
            stored.insert(n, t);
        }
    }
    let config_json = weights.with_file_name("config.json");
    let base = if config_json.is_file() {
        let text = std::fs::read_to_string(&config_json).map_err(|e| RuntimeError::io(&config_json, e))?;
        BorzoiConfig::from_json(&text, &config_json.display().to_string())?
    } else {
        options.trunk.clone().unwrap_or_else(|| Preset::Borzoi.config())
    };
    let mut config = infer(&stored, base, peft_alpha(&weights)?, &weights)?;
    if !config_json.is_file() && options.trunk.is_none() {
        // no configuration given: the input length and bins of the Borzoi preset with these widths (tiny or published)
        let same = |p: &BorzoiConfig| {
            let t = &config.trunk;
            (p.dim, p.depth, p.embedding_dim, p.stem_channels, p.tower)
                == (t.dim, t.depth, t.embedding_dim, t.stem_channels, t.tower)
        };
        if let Some((_, p)) = Preset::ALL.iter().find(|(_, p)| same(&p.config())) {
            let inferred = config.trunk.clone();
            config.trunk = BorzoiConfig { human_tracks: None, mouse_tracks: None, ..p.config() };
            (config.trunk.heads, config.trunk.key_dim, config.trunk.value_dim) =
                (inferred.heads, inferred.key_dim, inferred.value_dim);
        }
    }
    let mut trunk = Borzoi::new(&config.trunk, options.device, Init::Zeros)?;
    // adapters on exactly scooby's targets: keep its target globs (the configuration then reads as scooby's)
    if let Some(lora) = config.lora.as_mut() {
        let globs = scooby_lora().targets;
        let mut selected: Vec<String> = trunk
            .adaptable_layers()
            .into_iter()
            .map(|l| l.name)
            .filter(|n| globs.iter().any(|g| glob_match(g, n)))
            .collect();
        selected.sort();
        if selected == lora.targets {
            lora.targets = globs;
        }
    }
    let mut model = Scooby::build(trunk, &config, 0, Init::Zeros)?;
    let state: BTreeMap<String, Tensor> = model.state().into_iter().collect();
    let mut problems = Vec::new();
    let missing: Vec<String> =
        state.iter().filter(|(n, _)| !stored.contains_key(*n)).map(|(n, t)| format!("`{n}` {:?}", t.size())).collect();
    let mut extra: Vec<String> =
        stored.iter().filter(|(n, _)| !state.contains_key(*n)).map(|(n, t)| format!("`{n}` {:?}", t.size())).collect();
    extra.sort();
    let shaped: Vec<String> = state
        .iter()
        .filter_map(|(n, t)| {
            let s = stored.get(n)?;
            (s.size() != t.size()).then(|| format!("`{n}` has shape {:?}, the model expects {:?}", s.size(), t.size()))
        })
        .collect();
    for (what, list) in [("missing", &missing), ("unexpected", &extra), ("mis-shaped", &shaped)] {
        if !list.is_empty() {
            let more = if list.len() > 8 { format!(" and {} more", list.len() - 8) } else { String::new() };
            problems.push(format!("{what} {}: {}{more}", list.len(), list[..list.len().min(8)].join(", ")));
        }
    }
    if !problems.is_empty() {
        return Err(bad(&weights, format!("the checkpoint does not match scooby: {}", problems.join("; "))));
    }
    tch::no_grad(|| -> Result<()> {
        for (name, t) in &state {
            let src = &stored[name];
            if !src.is_floating_point() {
                return Err(bad(&weights, format!("tensor `{name}` has element type {:?}, not a float", src.kind())));
            }
            t.shallow_clone().f_copy_(&src.to_kind(Kind::Float).to_device(t.device()))?;
        }
        Ok(())
    })?;
    if options.precision == Precision::Bf16 {
        model.trunk_mut().store_bf16();
    }
    Ok(model)
}
