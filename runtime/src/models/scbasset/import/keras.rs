//! Keras HDF5 files of calico/scBasset (tf.keras 2.x): whole models saved with `model.save("x.h5")` and weights
//! saved with `model.save_weights("x.h5")`.
//!
//! Layout read: the weights group (`model_weights/` in a model file, the root in a weights file) lists its layers in
//! model order in the `layer_names` attribute; each layer group lists its weights in `weight_names`
//! (`<scope>/kernel:0`, …) and holds them as datasets under those relative paths. A model file also has the JSON
//! `model_config` attribute at the root. Layers are recognised by their weights, never by their names: a 3-D
//! `kernel` is a Conv1D, `gamma/beta/moving_mean/moving_variance` a BatchNormalization, a 2-D `kernel` (with or
//! without `bias`) a Dense. scBasset's weighted layers come in this order (`make_model`, `make_model_bc` in
//! calico/scBasset `scbasset/utils.py`):
//!
//! ```text
//! (Conv1D, BN) stem, (Conv1D, BN) × tower blocks, (Conv1D, BN) 1×1, Dense (no bias), BN, Dense(n_cells) [, Dense(n_batches)]
//! ```
//!
//! In `model_config` the importer reads the input length, the max-pool sizes, the dropout rate and, for scBasset-BC,
//! the batch matrix that the `tf.linalg.matmul` layer stores as a constant argument (and which tells the batch
//! Dense layer from the cell one).

use std::path::Path;

use hdf5::Group;
use serde_json::Value;
use tch::Tensor;

use super::copy::{add_batch_norm, build_and_copy, dims, infer_tower_mult, Layout, Plan, Source};
use super::error::ImportError;
use super::{BatchImport, ImportFormat, ImportOptions, ImportSource, ImportedModel};
use crate::data::h5::{long_string_attr, short, string_list_attr, H5File};
use crate::error::RuntimeError;
use crate::models::scbasset::config::{Arch, ScBassetConfig};

/// A layer with weights, classified by them.
#[derive(Debug)]
struct Layer {
    /// The Keras layer name.
    name: String,
    kind: Kind,
    /// `(weight name as stored, values)` in `weight_names` order.
    weights: Vec<(String, Tensor)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Conv,
    BatchNorm,
    DenseNoBias,
    Dense,
    Other,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Conv => "Conv1D",
            Kind::BatchNorm => "BatchNormalization",
            Kind::DenseNoBias => "Dense without bias",
            Kind::Dense => "Dense",
            Kind::Other => "layer with weights scBasset has no use for",
        }
    }
}

impl Layer {
    /// The weight whose stored name ends in `suffix` (`kernel`, `gamma`, …), with its full name `layer/weight`.
    fn weight(&self, suffix: &str) -> Option<(String, Tensor)> {
        self.weights
            .iter()
            .find(|(n, _)| weight_suffix(n) == suffix)
            .map(|(n, t)| (format!("{}/{n}", self.name), t.shallow_clone()))
    }

    fn kernel_dims(&self) -> Vec<i64> {
        self.weight("kernel").map(|(_, t)| dims(&t)).unwrap_or_default()
    }
}

/// `conv1d_3/kernel:0` → `kernel`.
fn weight_suffix(name: &str) -> &str {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split(':').next().unwrap_or(last)
}

fn classify(weights: &[(String, Tensor)]) -> Kind {
    let mut suffixes: Vec<&str> = weights.iter().map(|(n, _)| weight_suffix(n)).collect();
    suffixes.sort_unstable();
    let kernel_rank = weights.iter().find(|(n, _)| weight_suffix(n) == "kernel").map(|(_, t)| t.dim());
    match (suffixes.as_slice(), kernel_rank) {
        (["kernel"], Some(3)) => Kind::Conv,
        (["kernel"], Some(2)) => Kind::DenseNoBias,
        (["bias", "kernel"], Some(2)) => Kind::Dense,
        (["beta", "gamma", "moving_mean", "moving_variance"], _) => Kind::BatchNorm,
        _ => Kind::Other,
    }
}

/// A string-list attribute as Keras writes it: whole, or split into `name0`, `name1`, … when it exceeds the HDF5
/// object header limit.
fn keras_string_list(loc: &hdf5::Location, name: &str) -> Option<Vec<String>> {
    let names = loc.attr_names().unwrap_or_default();
    if names.iter().any(|n| n == name) {
        return Some(string_list_attr(loc, name));
    }
    let mut out = Vec::new();
    let mut chunk = 0;
    while names.iter().any(|n| *n == format!("{name}{chunk}")) {
        out.extend(string_list_attr(loc, &format!("{name}{chunk}")));
        chunk += 1;
    }
    (chunk > 0).then_some(out)
}

fn open(path: &Path) -> Result<H5File, ImportError> {
    H5File::open(path).map_err(|e| match e {
        RuntimeError::Parse { message, .. } => ImportError::unreadable(path, message),
        RuntimeError::Io { source, .. } => ImportError::unreadable(path, source.to_string()),
        other => ImportError::unreadable(path, other.to_string()),
    })
}

/// Reads every layer with weights, in `layer_names` order.
fn read_layers(path: &Path, weights_group: &Group) -> Result<Vec<Layer>, ImportError> {
    let Some(layer_names) = keras_string_list(weights_group, "layer_names") else {
        return Err(ImportError::not_scbasset(path, "the weights group has no `layer_names` attribute"));
    };
    let mut layers = Vec::new();
    for name in layer_names {
        let group = weights_group.group(&name).map_err(|e| {
            ImportError::not_scbasset(
                path,
                format!("layer `{name}` is listed in `layer_names` but has no group: {}", short(&e)),
            )
        })?;
        let weight_names = keras_string_list(&group, "weight_names").unwrap_or_default();
        let mut weights = Vec::with_capacity(weight_names.len());
        for wn in weight_names {
            let ds = group.dataset(&wn).map_err(|e| {
                ImportError::not_scbasset(
                    path,
                    format!("layer `{name}`: weight `{wn}` is listed but missing: {}", short(&e)),
                )
            })?;
            let shape: Vec<i64> = ds.shape().iter().map(|&d| d as i64).collect();
            let values: Vec<f32> = ds.read_raw::<f32>().map_err(|e| {
                ImportError::unreadable(
                    path,
                    format!("layer `{name}`: cannot read weight `{wn}` (truncated or not numeric?): {}", short(&e)),
                )
            })?;
            let tensor =
                Tensor::from_slice(&values).f_view(shape.as_slice()).map_err(|e| ImportError::model(path, e))?;
            weights.push((wn, tensor));
        }
        if !weights.is_empty() {
            let kind = classify(&weights);
            layers.push(Layer { name, kind, weights });
        }
    }
    Ok(layers)
}

/// What `model_config` tells beyond the weights.
#[derive(Debug, Default)]
struct ModelConfigInfo {
    seq_len: Option<usize>,
    pools: Vec<usize>,
    dropout: Option<f64>,
    /// `(name of the Dense layer feeding tf.linalg.matmul, its constant matrix rows)`.
    batch_matrix: Option<(String, Vec<Vec<f64>>)>,
}

fn as_usize(v: &Value) -> Option<usize> {
    v.as_u64().map(|x| x as usize).or_else(|| v.as_array()?.first()?.as_u64().map(|x| x as usize))
}

/// Finds `[layer, node, tensor, {kwargs}]` inside an inbound-nodes structure (nesting differs between layer kinds).
fn first_call(v: &Value) -> Option<(&str, &serde_json::Map<String, Value>)> {
    let arr = v.as_array()?;
    if let (Some(Value::String(name)), Some(Value::Object(kwargs))) = (arr.first(), arr.get(3)) {
        return Some((name, kwargs));
    }
    arr.iter().find_map(first_call)
}

fn matrix(v: &Value) -> Option<Vec<Vec<f64>>> {
    v.as_array()?.iter().map(|row| row.as_array()?.iter().map(Value::as_f64).collect()).collect()
}

fn parse_model_config(json: &str) -> Result<ModelConfigInfo, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("`model_config` is not valid JSON: {e}"))?;
    let layers =
        v.pointer("/config/layers").and_then(Value::as_array).ok_or("`model_config` has no `config.layers` list")?;
    let mut info = ModelConfigInfo::default();
    for layer in layers {
        let class = layer.get("class_name").and_then(Value::as_str).unwrap_or("");
        let cfg = layer.get("config").cloned().unwrap_or(Value::Null);
        match class {
            "InputLayer" if info.seq_len.is_none() => {
                let shape = cfg.get("batch_input_shape").or_else(|| cfg.get("batch_shape")).and_then(Value::as_array);
                info.seq_len = shape.and_then(|s| s.get(1)).and_then(Value::as_u64).map(|x| x as usize);
            }
            "MaxPooling1D" | "MaxPool1D" => {
                info.pools
                    .push(cfg.get("pool_size").and_then(as_usize).ok_or("a MaxPooling1D layer has no pool_size")?);
            }
            "Dropout" if info.dropout.is_none() => info.dropout = cfg.get("rate").and_then(Value::as_f64),
            "TFOpLambda" if cfg.get("function").and_then(Value::as_str) == Some("linalg.matmul") => {
                if let Some((source, kwargs)) = layer.get("inbound_nodes").and_then(first_call) {
                    if let Some(m) = kwargs.values().find_map(matrix) {
                        info.batch_matrix = Some((source.to_string(), m));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// The batch of every cell from a one-hot `batches × cells` matrix; `None` unless every column has a single 1.
fn cell_batch_from_matrix(m: &[Vec<f64>], n_cells: usize) -> Option<Vec<usize>> {
    if m.is_empty() || m.iter().any(|row| row.len() != n_cells) {
        return None;
    }
    (0..n_cells)
        .map(|c| {
            let ones: Vec<usize> = (0..m.len()).filter(|&b| m[b][c] == 1.0).collect();
            let zeros = (0..m.len()).filter(|&b| m[b][c] == 0.0).count();
            (ones.len() == 1 && zeros == m.len() - 1).then(|| ones[0])
        })
        .collect()
}

/// scBasset's weighted layers, split by role.
struct Structure<'a> {
    blocks: Vec<(&'a Layer, &'a Layer)>,
    bottleneck: (&'a Layer, &'a Layer),
    finals: Vec<&'a Layer>,
}

fn structure<'a>(path: &Path, layers: &'a [Layer]) -> Result<Structure<'a>, ImportError> {
    let err = |m: String| ImportError::not_scbasset(path, m);
    let found = |i: usize| {
        layers.get(i).map_or("the end of the layer list".to_string(), |l| format!("{} `{}`", l.kind.describe(), l.name))
    };
    let mut i = 0;
    let mut blocks = Vec::new();
    while layers.get(i).map(|l| l.kind) == Some(Kind::Conv) {
        if layers.get(i + 1).map(|l| l.kind) != Some(Kind::BatchNorm) {
            return Err(err(format!(
                "Conv1D `{}` should be followed by a BatchNormalization, found {}",
                layers[i].name,
                found(i + 1)
            )));
        }
        blocks.push((&layers[i], &layers[i + 1]));
        i += 2;
    }
    if blocks.len() < 2 {
        return Err(err(format!(
            "expected a stem and a 1×1 Conv1D block (each Conv1D + BatchNormalization) first, found {} such block(s) and then {}",
            blocks.len(),
            found(i)
        )));
    }
    if layers.get(i).map(|l| l.kind) != Some(Kind::DenseNoBias)
        || layers.get(i + 1).map(|l| l.kind) != Some(Kind::BatchNorm)
    {
        return Err(err(format!(
            "after the Conv1D blocks expected the bottleneck Dense without bias and its BatchNormalization, found {} and {}",
            found(i),
            found(i + 1)
        )));
    }
    let bottleneck = (&layers[i], &layers[i + 1]);
    let finals: Vec<&Layer> = layers[i + 2..].iter().collect();
    if finals.is_empty() || finals.len() > 2 || finals.iter().any(|l| l.kind != Kind::Dense) {
        return Err(err(format!(
            "after the bottleneck expected the final Dense(n_cells) (and, for scBasset-BC, a Dense(n_batches)), found {}",
            if finals.is_empty() {
                "nothing".to_string()
            } else {
                finals.iter().map(|l| format!("{} `{}`", l.kind.describe(), l.name)).collect::<Vec<_>>().join(", ")
            }
        )));
    }
    Ok(Structure { blocks, bottleneck, finals })
}

fn bn_weights(layer: &Layer) -> [(String, Tensor); 4] {
    let get = |s: &str| {
        layer.weight(s).unwrap_or_else(|| (format!("{}/{s}", layer.name), Tensor::zeros([0], tch::kind::FLOAT_CPU)))
    };
    [get("gamma"), get("beta"), get("moving_mean"), get("moving_variance")]
}

fn kernel(layer: &Layer, layout: Layout) -> Source {
    let (name, tensor) =
        layer.weight("kernel").unwrap_or_else(|| (layer.name.clone(), Tensor::zeros([0], tch::kind::FLOAT_CPU)));
    Source { name, tensor, layout }
}

fn bias(layer: &Layer) -> Source {
    let (name, tensor) =
        layer.weight("bias").unwrap_or_else(|| (layer.name.clone(), Tensor::zeros([0], tch::kind::FLOAT_CPU)));
    Source { name, tensor, layout: Layout::Same }
}

/// Reads a Keras scBasset `.h5` (whole model or weights only, plain or scBasset-BC), infers its configuration from
/// the weight shapes (and `model_config` when present), checks every weight and copies it into a new model on
/// `options.device` (layouts: [`crate::model::keras`]). For scBasset-BC the batch head is built when each cell's batch
/// is known (`options.cell_batch`, else the batch matrix in `model_config`); otherwise only the cell path is imported.
pub fn import_keras_h5(path: impl AsRef<Path>, options: &ImportOptions) -> Result<ImportedModel, ImportError> {
    let path = path.as_ref();
    let h5 = open(path)?;
    let mut notes = Vec::new();
    let (weights_group, format) = if h5.file.link_exists("model_weights") {
        let g = h5
            .file
            .group("model_weights")
            .map_err(|e| ImportError::not_scbasset(path, format!("`model_weights` is not a group: {}", short(&e))))?;
        (g, ImportFormat::KerasModel)
    } else if keras_string_list(&h5.file, "layer_names").is_some() {
        let root = h5.file.group("/").map_err(|e| ImportError::unreadable(path, short(&e)))?;
        (root, ImportFormat::KerasWeights)
    } else {
        let hint = if h5.file.link_exists("layers") {
            " (a Keras 3 `.weights.h5`? save with tf.keras 2.x / tf_keras)"
        } else {
            ""
        };
        return Err(ImportError::not_scbasset(
            path,
            format!("an HDF5 file without a `model_weights` group or a `layer_names` attribute: not a Keras model or weights file{hint}"),
        ));
    };
    let layers = read_layers(path, &weights_group)?;
    let info = match long_string_attr(&h5.file, "model_config") {
        Some(json) => parse_model_config(&json).map_err(|m| ImportError::not_scbasset(path, m))?,
        None => {
            notes.push("no `model_config` in the file: pool sizes 3 (stem) and 2 (tower) and dropout 0.2 assumed, seq_len inferred from the bottleneck width".into());
            ModelConfigInfo::default()
        }
    };
    let st = structure(path, &layers)?;

    // --- configuration from the shapes
    let n_blocks = st.blocks.len();
    let (stem, conv1x1) = (st.blocks[0].0.kernel_dims(), st.blocks[n_blocks - 1].0.kernel_dims());
    let tower: Vec<Vec<i64>> = st.blocks[1..n_blocks - 1].iter().map(|(c, _)| c.kernel_dims()).collect();
    let widths: Vec<usize> = tower.iter().map(|d| d[2] as usize).collect();
    let repeat = widths.len();
    let tower_mult = match infer_tower_mult(&widths, Arch::Keras) {
        Some(m) if repeat > 0 => m,
        Some(_) => 1.122,
        None => {
            let layers: Vec<&str> = st.blocks[1..n_blocks - 1].iter().map(|(c, _)| c.name.as_str()).collect();
            let scvi = infer_tower_mult(&widths, Arch::Scvi).is_some();
            return Err(ImportError::not_scbasset(
                path,
                format!(
                    "tower widths {widths:?} (layers {layers:?}) follow no multiplier under Keras' rounding rule{}",
                    if scvi { "; they follow scvi-tools' rule, which a Keras scBasset never produces" } else { "" }
                ),
            ));
        }
    };
    let (stem_pool, tower_pool) = if info.pools.is_empty() {
        (3, 2)
    } else {
        let tower_pools = &info.pools[1..];
        if info.pools.len() != repeat + 1 || tower_pools.iter().any(|&p| p != tower_pools[0]) {
            return Err(ImportError::not_scbasset(
                path,
                format!("`model_config` has max-pool sizes {:?}; expected the stem's and then one equal size per tower block ({repeat})", info.pools),
            ));
        }
        (info.pools[0], tower_pools.first().copied().unwrap_or(2))
    };
    let bottleneck_dims = st.bottleneck.0.kernel_dims();
    let conv1x1_filters = conv1x1[2];
    let units = bottleneck_dims[1];
    if conv1x1_filters <= 0 || bottleneck_dims[0] % conv1x1_filters != 0 {
        return Err(ImportError::shape(
            path,
            &st.bottleneck.0.name,
            "bottleneck.linear.weight",
            vec![-1, units],
            bottleneck_dims,
            format!("the first dimension must be positions × {conv1x1_filters} (the 1×1 convolution's filters)"),
        ));
    }
    let positions = (bottleneck_dims[0] / conv1x1_filters) as usize;
    let implied_len = positions * stem_pool * tower_pool.pow(repeat as u32);
    let seq_len = match info.seq_len {
        Some(l) if l != implied_len => {
            return Err(ImportError::not_scbasset(
                path,
                format!(
                    "`model_config` gives input length {l}, but the bottleneck Dense `{}` takes {positions} positions, i.e. {implied_len} bp",
                    st.bottleneck.0.name
                ),
            ))
        }
        _ => implied_len,
    };

    // --- final layer(s): which is the cell path
    let (cell_layer, batch_layer) = match st.finals.as_slice() {
        [cell] => (*cell, None),
        [a, b] => {
            let by_config = info.batch_matrix.as_ref().map(|(src, _)| src.as_str());
            let width = |l: &Layer| l.kernel_dims().get(1).copied().unwrap_or(0) as usize;
            let wanted = options.cell_batch.as_ref().map(Vec::len);
            let (a_fits, b_fits) = (wanted == Some(width(a)), wanted == Some(width(b)));
            if by_config == Some(a.name.as_str()) {
                (*b, Some(*a))
            } else if by_config == Some(b.name.as_str()) {
                (*a, Some(*b))
            } else if a_fits != b_fits {
                if a_fits {
                    (*a, Some(*b))
                } else {
                    (*b, Some(*a))
                }
            } else if width(a) != width(b) {
                if width(a) > width(b) {
                    (*a, Some(*b))
                } else {
                    (*b, Some(*a))
                }
            } else {
                return Err(ImportError::not_scbasset(
                    path,
                    format!(
                        "cannot tell the cell Dense from the batch Dense: `{}` and `{}` have the same width",
                        a.name, b.name
                    ),
                ));
            }
        }
        _ => return Err(ImportError::not_scbasset(path, "more than two final Dense layers")),
    };
    let n_cells = cell_layer.kernel_dims().get(1).copied().unwrap_or(0) as usize;
    let config = ScBassetConfig {
        n_cells,
        seq_len,
        arch: Arch::Keras,
        stem_filters: stem[2] as usize,
        stem_kernel: stem[0] as usize,
        stem_pool,
        tower_filters_init: widths.first().copied().unwrap_or(stem[2] as usize),
        tower_repeat: repeat,
        tower_mult,
        tower_kernel: tower.first().map_or(5, |d| d[0] as usize),
        tower_pool,
        conv1x1_filters: conv1x1_filters as usize,
        bottleneck: units as usize,
        dropout: info.dropout.unwrap_or(0.2),
        n_batches: None,
    };

    // --- batch correction
    let mut plan = Plan::new();
    let mut config = config;
    let mut cell_batch = None;
    let batch = match batch_layer {
        None => {
            if options.cell_batch.is_some() {
                notes.push("`cell_batch` was given but the model is not batch-corrected: ignored".into());
            }
            BatchImport::NotBatchCorrected
        }
        Some(bl) => {
            let k = bl.kernel_dims().get(1).copied().unwrap_or(0) as usize;
            let from_config = info.batch_matrix.as_ref().and_then(|(_, m)| cell_batch_from_matrix(m, n_cells));
            let (cb, from) = match (&options.cell_batch, from_config) {
                (Some(cb), _) => (Some(cb.clone()), "options"),
                (None, Some(cb)) => (Some(cb), "model_config"),
                (None, None) => (None, ""),
            };
            match cb {
                Some(cb) => {
                    config.n_batches = Some(k);
                    plan.insert("batch_embedding".into(), kernel(bl, Layout::Same));
                    plan.insert("batch_bias".into(), bias(bl));
                    cell_batch = Some(cb);
                    BatchImport::Full { n_batches: k, from: from.into() }
                }
                None => {
                    notes.push(format!(
                        "scBasset-BC with {k} batches but no cell → batch assignment (none given, none in the file): imported the cell path `{}` alone; the batch Dense `{}` was left out",
                        cell_layer.name, bl.name
                    ));
                    BatchImport::CellPathOnly { n_batches: k }
                }
            }
        }
    };

    // --- the plan: every variable, its source and layout
    for (i, (conv, bn)) in st.blocks.iter().enumerate() {
        let ours = match i {
            0 => "stem".to_string(),
            i if i == n_blocks - 1 => "conv1x1".to_string(),
            i => format!("tower{}", i - 1),
        };
        plan.insert(format!("{ours}.conv.weight"), kernel(conv, Layout::KerasConv));
        add_batch_norm(&mut plan, &ours, bn_weights(bn));
    }
    let layout = Layout::KerasBottleneck { positions: positions as i64, channels: conv1x1_filters };
    plan.insert("bottleneck.linear.weight".into(), kernel(st.bottleneck.0, layout));
    add_batch_norm(&mut plan, "bottleneck", bn_weights(st.bottleneck.1));
    plan.insert("cell_embedding".into(), kernel(cell_layer, Layout::Same));
    plan.insert("cell_bias".into(), bias(cell_layer));

    let note = |ours: &str| -> String {
        if ours.ends_with(".conv.weight") {
            "Keras Conv1D kernels are (kernel, in channels, out channels); in channels follow the previous block".into()
        } else if ours.starts_with("bottleneck.linear") {
            format!("(positions × channels, units) = ({positions} × {conv1x1_filters}, {units})")
        } else {
            String::new()
        }
    };
    let (vs, net) = build_and_copy(path, &config, cell_batch.as_deref(), options.device, plan, &note)?;
    Ok(ImportedModel { config, vs, net, source: ImportSource { format, path: path.to_path_buf() }, batch, notes })
}
