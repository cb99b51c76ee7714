//! scvi-tools `SCBASSET` models (`scvi.external.scbasset.ScBassetModule`, v1.x): the module's state dict, saved as
//! safetensors.
//!
//! Keys read (torch layouts, so no conversion but one transpose):
//!
//! ```text
//! stem.conv.weight (C, 4, k)              stem.batch_norm.{weight, bias, running_mean, running_var}
//! tower.{i}.conv.weight                   tower.{i}.batch_norm.…
//! pre_bottleneck.conv.weight (256, C, 1)  pre_bottleneck.batch_norm.…
//! bottleneck.dense.weight (32, 256·7)     bottleneck.batch_norm.…       (flatten is channel-major, as ours)
//! cell_embedding (32, n_cells)            cell_bias (n_cells)
//! batch_emdedding.weight (n_batches, 32)  batch_ids (n_cells[, 1])     (only with a batch key; the typo is scvi's)
//! *.num_batches_tracked                   (ignored)
//! ```
//!
//! The module has scvi's tower widths and stem pooling, so the import is [`Arch::Scvi`]. scvi has no per-batch bias:
//! the batch head gets `batch_embedding = batch_emdedding.weightᵀ` and a zero `batch_bias` (`ScBassetModule.generative`
//! in scvi-tools `scvi/external/scbasset/_module.py` adds the batch embedding to the cell embedding, no bias).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use tch::{Kind, Tensor};

use super::copy::{add_batch_norm, build_and_copy, dims, infer_tower_mult, Layout, Plan, Source};
use super::error::ImportError;
use super::{BatchImport, ImportFormat, ImportOptions, ImportSource, ImportedModel};
use crate::models::scbasset::config::{Arch, ScBassetConfig};

/// The Python that turns an scvi-tools model directory's `model.pt` into the safetensors file [`import_scvi`] reads
/// (run it in the environment that trained the model; needs `torch` and `safetensors`).
pub const SCVI_CONVERSION_SNIPPET: &str = "python -c \"import torch, safetensors.torch as st; \
sd = torch.load('model_dir/model.pt', map_location='cpu', weights_only=False)['model_state_dict']; \
st.save_file({k: v.contiguous() for k, v in sd.items()}, 'scbasset_scvi.safetensors')\"";

const BN: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// True when the file starts like a PyTorch checkpoint (a zip archive or a bare pickle) or is named like one.
fn looks_like_torch_pickle(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if matches!(ext.as_deref(), Some("pt" | "pth" | "ckpt" | "pkl")) {
        return true;
    }
    let mut head = [0u8; 4];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    match f.read(&mut head) {
        Ok(n) if n >= 2 => head.starts_with(b"PK\x03\x04") || (head[0] == 0x80 && (2..=5).contains(&head[1])),
        _ => false,
    }
}

struct Dict<'a> {
    path: &'a Path,
    map: BTreeMap<String, Tensor>,
}

impl Dict<'_> {
    fn take(&mut self, key: &str, layout: Layout) -> Result<Source, ImportError> {
        let tensor = self.map.remove(key).ok_or_else(|| {
            ImportError::not_scbasset(
                self.path,
                format!("the state dict has no `{key}` (not an scvi-tools SCBASSET module?)"),
            )
        })?;
        Ok(Source { name: key.to_string(), tensor, layout })
    }

    fn dims_of(&self, key: &str, rank: usize, meaning: &str) -> Result<Vec<i64>, ImportError> {
        let t = self.map.get(key).ok_or_else(|| {
            ImportError::not_scbasset(
                self.path,
                format!("the state dict has no `{key}` (not an scvi-tools SCBASSET module?)"),
            )
        })?;
        let d = dims(t);
        if d.len() != rank {
            return Err(ImportError::not_scbasset(self.path, format!("`{key}` has shape {d:?}; expected {meaning}")));
        }
        Ok(d)
    }

    fn batch_norm(&mut self, theirs: &str) -> Result<[(String, Tensor); 4], ImportError> {
        let mut out = Vec::with_capacity(4);
        for s in BN {
            let src = self.take(&format!("{theirs}.batch_norm.{s}"), Layout::Same)?;
            out.push((src.name, src.tensor));
        }
        out.try_into().map_err(|_| ImportError::not_scbasset(self.path, "batch norm entries"))
    }
}

/// Reads an scvi-tools `SCBASSET` module state dict from a safetensors file (see [`SCVI_CONVERSION_SNIPPET`];
/// a `.pt` file is refused with that snippet), infers the [`Arch::Scvi`] configuration from its shapes, checks every
/// entry and copies it into a new model on `options.device`. With a batch embedding, the batch head is built from
/// `options.cell_batch` or else the module's `batch_ids` buffer.
pub fn import_scvi(path: impl AsRef<Path>, options: &ImportOptions) -> Result<ImportedModel, ImportError> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|e| ImportError::unreadable(path, e.to_string()))?;
    if meta.len() == 0 {
        return Err(ImportError::unreadable(path, "empty file: expected a safetensors state dict"));
    }
    if looks_like_torch_pickle(path) {
        return Err(ImportError::TorchPickle { path: path.to_path_buf(), snippet: SCVI_CONVERSION_SNIPPET.into() });
    }
    let entries = Tensor::read_safetensors(path).map_err(|e| {
        ImportError::unreadable(path, format!("not a readable safetensors file (truncated or another format?): {e}"))
    })?;
    let mut notes = Vec::new();
    let mut map = BTreeMap::new();
    let mut tracked = 0;
    for (k, t) in entries {
        if k.ends_with("num_batches_tracked") {
            tracked += 1;
        } else {
            map.insert(k, t);
        }
    }
    if tracked > 0 {
        notes.push(format!("ignored {tracked} `num_batches_tracked` counters"));
    }
    let mut d = Dict { path, map };

    // --- configuration from the shapes
    let stem = d.dims_of("stem.conv.weight", 3, "(filters, 4, kernel)")?;
    let mut widths = Vec::new();
    let mut tower_kernel = 5;
    while d.map.contains_key(&format!("tower.{}.conv.weight", widths.len())) {
        let t = d.dims_of(&format!("tower.{}.conv.weight", widths.len()), 3, "(filters, in channels, kernel)")?;
        if widths.is_empty() {
            tower_kernel = t[2] as usize;
        }
        widths.push(t[0] as usize);
    }
    let pre = d.dims_of("pre_bottleneck.conv.weight", 3, "(filters, in channels, 1)")?;
    let dense = d.dims_of("bottleneck.dense.weight", 2, "(bottleneck, filters · positions)")?;
    let cells = d.dims_of("cell_embedding", 2, "(bottleneck, n_cells)")?;
    let tower_mult = infer_tower_mult(&widths, Arch::Scvi).ok_or_else(|| {
        ImportError::not_scbasset(
            path,
            format!("tower widths {widths:?} follow no multiplier under scvi-tools' rounding rule"),
        )
    })?;
    let (filters, units) = (pre[0], dense[0]);
    if filters <= 0 || dense[1] % filters != 0 {
        return Err(ImportError::shape(
            path,
            "bottleneck.dense.weight",
            "bottleneck.linear.weight",
            vec![units, -1],
            dense,
            format!("the second dimension must be {filters} (pre_bottleneck filters) × positions"),
        ));
    }
    let positions = (dense[1] / filters) as usize;
    let (stem_pool, tower_pool): (usize, usize) = (3, 2); // fixed in ScBassetModule
    let config = ScBassetConfig {
        n_cells: cells[1] as usize,
        seq_len: positions * stem_pool * tower_pool.pow(widths.len() as u32),
        arch: Arch::Scvi,
        stem_filters: stem[0] as usize,
        stem_kernel: stem[2] as usize,
        stem_pool,
        tower_filters_init: widths.first().copied().unwrap_or(stem[0] as usize),
        tower_repeat: widths.len(),
        tower_mult,
        tower_kernel,
        tower_pool,
        conv1x1_filters: filters as usize,
        bottleneck: units as usize,
        dropout: 0.2,
        n_batches: None,
    };

    // --- the plan
    let mut plan = Plan::new();
    let blocks = std::iter::once(("stem".to_string(), "stem".to_string()))
        .chain((0..widths.len()).map(|i| (format!("tower{i}"), format!("tower.{i}"))))
        .chain(std::iter::once(("conv1x1".to_string(), "pre_bottleneck".to_string())));
    for (ours, theirs) in blocks {
        plan.insert(format!("{ours}.conv.weight"), d.take(&format!("{theirs}.conv.weight"), Layout::Same)?);
        let bn = d.batch_norm(&theirs)?;
        add_batch_norm(&mut plan, &ours, bn);
    }
    plan.insert("bottleneck.linear.weight".into(), d.take("bottleneck.dense.weight", Layout::Same)?);
    let bn = d.batch_norm("bottleneck")?;
    add_batch_norm(&mut plan, "bottleneck", bn);
    plan.insert("cell_embedding".into(), d.take("cell_embedding", Layout::Same)?);
    plan.insert("cell_bias".into(), d.take("cell_bias", Layout::Same)?);

    // --- batch embedding
    let mut config = config;
    let mut cell_batch = None;
    let batch_ids = d.map.remove("batch_ids");
    let batch = match d.map.contains_key("batch_emdedding.weight") {
        false => {
            if batch_ids.is_some() || options.cell_batch.is_some() {
                notes.push("no batch embedding in the state dict: `batch_ids` / `cell_batch` ignored".into());
            }
            BatchImport::NotBatchCorrected
        }
        true => {
            let emb = d.take("batch_emdedding.weight", Layout::Transposed)?;
            let k = dims(&emb.tensor).first().copied().unwrap_or(0).max(0) as usize;
            let from_ids = match &batch_ids {
                Some(ids) => Some(
                    Vec::<i64>::try_from(ids.to_kind(Kind::Int64).reshape([-1]))
                        .map_err(|e| ImportError::model(path, e))?
                        .into_iter()
                        .map(|b| usize::try_from(b).unwrap_or(usize::MAX))
                        .collect::<Vec<usize>>(),
                ),
                None => None,
            };
            let (cb, from) = match (&options.cell_batch, from_ids) {
                (Some(cb), _) => (Some(cb.clone()), "options"),
                (None, Some(cb)) => (Some(cb), "batch_ids"),
                (None, None) => (None, ""),
            };
            match cb {
                Some(cb) => {
                    config.n_batches = Some(k);
                    plan.insert("batch_embedding".into(), emb);
                    let zeros = Tensor::zeros([k as i64], tch::kind::FLOAT_CPU);
                    plan.insert(
                        "batch_bias".into(),
                        Source {
                            name: "(zeros: scvi has no per-batch bias)".into(),
                            tensor: zeros,
                            layout: Layout::Same,
                        },
                    );
                    cell_batch = Some(cb);
                    BatchImport::Full { n_batches: k, from: from.into() }
                }
                None => {
                    notes.push(format!(
                        "batch embedding with {k} batches but no `batch_ids` and no `cell_batch`: imported `cell_embedding`/`cell_bias` alone"
                    ));
                    BatchImport::CellPathOnly { n_batches: k }
                }
            }
        }
    };
    if !d.map.is_empty() {
        let keys: Vec<&str> = d.map.keys().map(String::as_str).take(8).collect();
        return Err(ImportError::not_scbasset(
            path,
            format!(
                "unexpected entries {keys:?}{}: not the SCBASSET layout this importer knows",
                if d.map.len() > 8 { " …" } else { "" }
            ),
        ));
    }
    let note = |ours: &str| -> String {
        if ours.starts_with("bottleneck.linear") {
            format!("(bottleneck, filters × positions) = ({units}, {filters} × {positions})")
        } else if ours.ends_with(".conv.weight") {
            "torch Conv1d weights are (out channels, in channels, kernel); in channels follow the previous block".into()
        } else {
            String::new()
        }
    };
    let (vs, net) = build_and_copy(path, &config, cell_batch.as_deref(), options.device, plan, &note)?;
    let source = ImportSource { format: ImportFormat::Scvi, path: path.to_path_buf() };
    Ok(ImportedModel { config, vs, net, source, batch, notes })
}
