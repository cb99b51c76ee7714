//! Borzoi and Flashzoi in the language: the `BorzoiModel` value, `load_borzoi` (borzoi-pytorch checkpoints),
//! `borzoi_model` (a fresh, untrained network of a preset), `model.save`, and the analyses in [`predict`]:
//! `predict_tracks`, `embed`, `variant_effect` and `saliency`. Computation lives in
//! `gscript_runtime::models::borzoi`.

pub mod predict;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use gscript_lang::{primitive_error, FnDoc, Host, MimeBundle, OptDefault, Options, Registrar};
use gscript_runtime::models::borzoi::targets::TargetTable;
use gscript_runtime::models::borzoi::{load_pretrained, Borzoi, BorzoiConfig, Init, LoadOptions, Preset, BIN_SIZE};
use gscript_runtime::models::{Precision, SequenceModel};

use crate::bridge::{device_option, in_argument, in_primitive, register0, register1, write_output, ScriptResult};
use crate::rank_zero::write_from_rank_zero;
use crate::values::matrix::html_escape;
use crate::values::model::device_name;

/// A Borzoi network with the table naming its human tracks.
pub struct BorzoiState {
    pub net: Borzoi,
    /// The human head's targets (`None`: tracks are known by index only).
    pub targets: Option<TargetTable>,
    /// `Borzoi`, `Flashzoi`, `Borzoi tiny`, … (what `to_string` starts with).
    pub name: String,
}

/// The model as a script value (shared; tensors behind a mutex, as every model value).
#[derive(Clone)]
pub struct BorzoiModel(pub Arc<Mutex<BorzoiState>>);

impl BorzoiModel {
    pub fn new(state: BorzoiState) -> Self {
        BorzoiModel(Arc::new(Mutex::new(state)))
    }

    pub fn lock(&self) -> MutexGuard<'_, BorzoiState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Borzoi (185,892,699 parameters, 524,288 bp → 6,144 × 32 bp, 7,611 tracks, cpu fp32)`.
    pub fn text(&self) -> String {
        describe(&self.lock())
    }

    fn html(&self) -> String {
        let st = self.lock();
        let mut s = format!(
            "<div><b>{}</b><table><thead><tr><th>stage</th><th>what</th><th>parameters</th></tr></thead><tbody>",
            html_escape(&describe(&st))
        );
        let rows = gscript_runtime::models::borzoi::summary::rows(&st.net);
        let total: usize = rows.iter().map(|r| r.2).sum();
        for (stage, desc, n) in &rows {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td></tr>",
                html_escape(stage),
                html_escape(desc),
                group(*n)
            );
        }
        let _ = write!(s, "<tr><th>total</th><td></td><th style=\"text-align:right\">{}</th></tr>", group(total));
        s.push_str("</tbody></table></div>");
        s
    }
}

/// What `to_string` prints.
fn describe(st: &BorzoiState) -> String {
    let c = st.net.config();
    let tracks = match (c.human_tracks, c.mouse_tracks) {
        (Some(h), Some(m)) => format!("{} human + {} mouse tracks", group(h), group(m)),
        (Some(h), None) => format!("{} tracks", group(h)),
        (None, Some(m)) => format!("{} mouse tracks", group(m)),
        (None, None) => "no tracks".into(),
    };
    format!(
        "{} ({} parameters, {} bp → {} × {BIN_SIZE} bp, {tracks}, {} {})",
        st.name,
        group(st.net.parameter_count()),
        group(c.seq_len),
        group(c.bins),
        device_name(st.net.device()),
        st.net.precision().name()
    )
}

fn group(n: usize) -> String {
    gscript_runtime::plot::group_thousands(n as i64)
}

/// The name of a configuration: its preset's (`Borzoi`, `Flashzoi`, `Borzoi tiny`), else the family's.
fn config_name(c: &BorzoiConfig) -> String {
    match Preset::ALL.iter().find(|(_, p)| p.config() == *c).map(|(_, p)| *p) {
        Some(Preset::Tiny) => "Borzoi tiny".into(),
        _ if c.flashed => "Flashzoi".into(),
        _ => "Borzoi".into(),
    }
}

fn preset_option(primitive: &str, o: &Options) -> ScriptResult<Option<Preset>> {
    match o.string("preset")? {
        None => Ok(None),
        Some(name) => Preset::parse(&name).map(Some).map_err(in_primitive(primitive)),
    }
}

/// The default targets of a configuration: the shipped human table when the human head has its 7,611 tracks.
fn default_targets(c: &BorzoiConfig) -> Option<TargetTable> {
    (c.human_tracks == Some(TargetTable::borzoi_human().len())).then(TargetTable::borzoi_human)
}

/// borzoi-pytorch's `config.json` for `c`, when it describes `c` exactly (the published sizes with its fields).
fn pytorch_config_json(c: &BorzoiConfig) -> Option<String> {
    let json = serde_json::json!({
        "model_type": "borzoi",
        "architectures": ["Borzoi"],
        "dim": c.dim,
        "depth": c.depth,
        "heads": c.heads,
        "attn_dim_key": c.key_dim,
        "attn_dim_value": c.value_dim,
        "dropout_rate": c.dropout,
        "attn_dropout": c.attn_dropout,
        "pos_dropout": c.pos_dropout,
        "bins_to_return": c.bins,
        "return_center_bins_only": true,
        "enable_human_head": c.human_tracks.is_some(),
        "enable_mouse_head": c.mouse_tracks.is_some(),
        "flashed": c.flashed,
    });
    let text = serde_json::to_string_pretty(&json).ok()?;
    match BorzoiConfig::from_json(&text, "config.json") {
        Ok(back) if back == *c => Some(text + "\n"),
        _ => None,
    }
}

/// `model.save(path)`: a `.safetensors` file, or a directory (path ending in `/`, or an existing directory) with
/// `model.safetensors` and, when borzoi-pytorch's `config.json` can describe the network, `config.json`.
fn save(host: &Host, model: &BorzoiModel, path: &str) -> ScriptResult<()> {
    const P: &str = "BorzoiModel.save";
    if path.is_empty() {
        return Err(primitive_error(P, Some("path"), "is empty"));
    }
    write_from_rank_zero(host, P, "path", path, || write_weights(model, path))
}

/// The files of [`save`] (rank 0's part in a process group).
fn write_weights(model: &BorzoiModel, path: &str) -> ScriptResult<()> {
    const P: &str = "BorzoiModel.save";
    let st = model.lock();
    let as_dir = path.ends_with('/') || Path::new(path).is_dir();
    let dir = PathBuf::from(path);
    let weights = if as_dir {
        std::fs::create_dir_all(&dir).map_err(|e| {
            primitive_error(P, Some("path"), &format!("cannot create the directory {}: {e}", dir.display()))
        })?;
        dir.join("model.safetensors")
    } else {
        dir.clone()
    };
    gscript_runtime::models::save_state(&st.net, &weights).map_err(in_argument(P, "path"))?;
    if as_dir {
        if let Some(json) = pytorch_config_json(st.net.config()) {
            write_output(P, &dir.join("config.json"), json.as_bytes())?;
        }
    }
    Ok(())
}

fn load_doc() -> FnDoc {
    FnDoc::new("load_borzoi", "borzoi", "load_borzoi(path: string, options?: map) -> BorzoiModel", "Loads a Borzoi or Flashzoi checkpoint (borzoi-pytorch's config.json + model.safetensors, or a .safetensors file).")
        .details(
            "`path` is a directory with model.safetensors (and config.json, which sets the sizes, attention kind and heads), or a \
             .safetensors file (configured by a config.json beside it, else by `preset`). The published replicates load as \
             borzoi-pytorch saves them, e.g. after `huggingface-cli download johahi/flashzoi-replicate-0 --local-dir flashzoi-0`; \
             nothing is downloaded here. Every tensor is checked by name and shape; a mismatch names the tensor. The human head's \
             tracks are named by a Borzoi targets table: the shipped one (calico/borzoi, 7,611 tracks) when the head has 7,611 \
             tracks, or the file given as `targets`; without one, tracks are selected by index.",
        )
        .opt("preset", "string", OptDefault::None, "\"borzoi\", \"flashzoi\" or \"tiny\": the sizes when there is no config.json (default \"borzoi\")")
        .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"")
        .opt("precision", "string", OptDefault::Str("fp32"), "\"fp32\" or \"bf16\" (bf16 stores the trunk's weights in bf16: half the memory, for inference)")
        .opt("targets", "string", OptDefault::None, "a Borzoi targets file (tab-separated, plain or gzipped) naming the human head's tracks")
        .example("let m = borzoi_model(#{seed: 1});\nm.save(out_path(\"tiny.safetensors\"));\nlet again = load_borzoi(out_path(\"tiny.safetensors\"), #{preset: \"tiny\"});\nprint(again);")
}

fn load(path: String, o: &Options) -> ScriptResult<BorzoiModel> {
    const P: &str = "load_borzoi";
    let preset = preset_option(P, o)?;
    let device = device_option(P, o)?;
    let precision = match o.choice("precision", &["fp32", "bf16"])?.as_deref() {
        Some("bf16") => Precision::Bf16,
        _ => Precision::F32,
    };
    let targets = match o.string("targets")? {
        Some(t) => Some(TargetTable::read(Path::new(&t)).map_err(in_argument(P, "targets"))?),
        None => None,
    };
    let p = PathBuf::from(&path);
    if !p.exists() {
        return Err(primitive_error(P, Some("path"), &format!("{path}: no such file or directory")));
    }
    let net = load_pretrained(&p, &LoadOptions { preset, device, precision }).map_err(in_argument(P, "path"))?;
    let c = net.config().clone();
    let targets = match targets {
        Some(t) => {
            let n = c.human_tracks.ok_or_else(|| {
                primitive_error(P, Some("targets"), "the model has no human head for a targets table to name")
            })?;
            if t.len() != n {
                return Err(primitive_error(
                    P,
                    Some("targets"),
                    &format!("the table has {} tracks but the model's human head has {n}", t.len()),
                ));
            }
            Some(t)
        }
        None => default_targets(&c),
    };
    Ok(BorzoiModel::new(BorzoiState { name: config_name(&c), net, targets }))
}

fn model_doc() -> FnDoc {
    FnDoc::new("borzoi_model", "borzoi", "borzoi_model(options?: map) -> BorzoiModel", "A freshly initialised, untrained Borzoi network of a preset (for tests, simulated data and training).")
        .details(
            "The weights are borzoi-pytorch's initialisation (Xavier-normal, zero biases), drawn from `seed`: its predictions mean \
             nothing until trained. The default preset \"tiny\" (8,192 bp → 128 bins of 32 bp, 16 tracks, about 0.2 M parameters) \
             runs anywhere in well under a second; \"borzoi\" and \"flashzoi\" build the published sizes (about 186 M parameters). \
             Pretrained models come from load_borzoi.",
        )
        .opt("preset", "string", OptDefault::Str("tiny"), "\"tiny\", \"borzoi\" or \"flashzoi\"")
        .opt("seed", "int", OptDefault::Int(0), "seed of the initial weights")
        .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"")
        .example("let m = borzoi_model(#{seed: 1});\nprint(m);")
}

fn fresh(o: &Options) -> ScriptResult<BorzoiModel> {
    const P: &str = "borzoi_model";
    let preset = preset_option(P, o)?.unwrap_or(Preset::Tiny);
    let seed = o.int("seed")?.unwrap_or(0);
    let device = device_option(P, o)?;
    let c = preset.config();
    tch::manual_seed(seed);
    let net = Borzoi::new(&c, device, Init::Random).map_err(in_primitive(P))?;
    let targets = default_targets(&c);
    Ok(BorzoiModel::new(BorzoiState { name: format!("{}, untrained", config_name(&c)), net, targets }))
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<BorzoiModel>("BorzoiModel");
    reg.host.register_renderer::<BorzoiModel>(|m| {
        let summary = SequenceModel::summary(&m.lock().net);
        MimeBundle::plain(format!("{}\n{summary}", m.text())).with_text("text/html", m.html())
    });
    register1(reg, load_doc(), load);
    register0(reg, model_doc(), fresh);

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("BorzoiModel", name, "borzoi", sig, summary);
    reg.docs.add(
        m(
            "to_string",
            "model.to_string() -> string",
            "Name, parameters, input length → bins, tracks, device and precision.",
        )
        .example("let m = borzoi_model();\nprint(m.to_string());"),
    );
    reg.engine.register_fn("to_string", |m: &mut BorzoiModel| m.text());
    reg.docs.add(
        m(
            "summary",
            "model.summary() -> string",
            "The network stage by stage (parameters per stage), with its sizes and attention kind.",
        )
        .example("let m = borzoi_model();\nprint(m.summary());"),
    );
    reg.engine.register_fn("summary", |m: &mut BorzoiModel| SequenceModel::summary(&m.lock().net));
    reg.docs.add(
        m("save", "model.save(path: string)", "Writes the weights as safetensors with borzoi-pytorch's tensor names (atomically).")
            .details(
                "A path ending in `/` (or an existing directory) receives model.safetensors, plus config.json when borzoi-pytorch's \
                 configuration can describe the network (the published sizes); otherwise (e.g. the tiny preset) load it back with \
                 load_borzoi(path, #{preset: ...}). borzoi-pytorch reads the directory with Borzoi.from_pretrained.",
            )
            .example("let m = borzoi_model();\nm.save(out_path(\"tiny/\"));\nprint(load_borzoi(out_path(\"tiny\"), #{preset: \"tiny\"}));"),
    );
    let host = reg.host.clone();
    reg.engine.register_fn("save", move |m: &mut BorzoiModel, path: &str| save(&host, m, path));
    predict::register(reg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_only_for_published_sizes() {
        let text = pytorch_config_json(&Preset::Flashzoi.config()).unwrap();
        assert_eq!(BorzoiConfig::from_json(&text, "c").unwrap(), Preset::Flashzoi.config());
        assert!(pytorch_config_json(&Preset::Borzoi.config()).is_some());
        assert!(pytorch_config_json(&Preset::Tiny.config()).is_none());
    }
}
