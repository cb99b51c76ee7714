//! `scooby_model` (a fresh, untrained scooby of a preset), `import_scooby` (released or peft checkpoints) and the
//! `ScoobyModel` methods `to_string`, `summary`, `parameters` and `save`.

use std::path::PathBuf;

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, MimeBundle, OptDefault, Options, Registrar};
use gscript_runtime::models::borzoi::Preset;
use gscript_runtime::models::scooby::{import_scooby, Scooby, ScoobyImportOptions, ScoobyPreset};
use gscript_runtime::models::{Precision, SequenceModel};

use super::value::{ScoobyModel, ScoobyState};
use crate::bridge::{device_option, in_argument, in_primitive, register0, register1, ScriptResult};
use crate::rank_zero::write_from_rank_zero;

fn precision_option(o: &Options) -> ScriptResult<Precision> {
    Ok(match o.choice("precision", &["fp32", "bf16"])?.as_deref() {
        Some("bf16") => Precision::Bf16,
        _ => Precision::F32,
    })
}

fn model_doc() -> FnDoc {
    FnDoc::new(
        "scooby_model",
        "scooby",
        "scooby_model(options?: map) -> ScoobyModel",
        "A freshly initialised, untrained scooby model: Borzoi trunk with LoRA adapters, transform layer and cell-state decoder.",
    )
    .details(
        "scooby (Hingerl, Martens et al. 2024) predicts per-cell coverage profiles: the Borzoi trunk's 32-bp embedding, an \
         optional transform (Conv1d 1,920 → 4,096 → 1,920 with GELU, not residual), and a per-cell 1×1 read-out whose \
         weights and bias a decoder (E → 128 → 256 → 1,024 → 1,921·T, GELU, dropout 0.2) computes from the cell's state \
         embedding; softplus outputs with channel cell·T + t. LoRA (r 8, α 8) adapts the 12 non-separable convolutions and \
         q, v and both MLP linears of every transformer block; the trunk is frozen. Presets: \"tiny\" (the tiny Borzoi, \
         E 8, T 3, transform width 128; runs in a fraction of a second), \"neurips\" (published size, E 14, T 3: RNA +, \
         RNA −, ATAC), \"onek1k\" (E 10, T 2). The trunk here is random; scooby on a pretrained Borzoi comes from \
         fine-tuning a loaded Borzoi, released models from import_scooby.",
    )
    .opt("preset", "string", OptDefault::Str("tiny"), "\"tiny\", \"neurips\" or \"onek1k\"")
    .opt("trunk", "string", OptDefault::None, "Borzoi preset of the trunk: \"tiny\" or \"borzoi\" (default: the preset's)")
    .opt("state_dim", "int", OptDefault::None, "width E of the cell-state embeddings (default: the preset's)")
    .opt("tracks", "int", OptDefault::None, "tracks per cell: 3 (RNA +, RNA −, ATAC), 2 (RNA +, −) or 1")
    .opt("transform", "bool", OptDefault::Bool(true), "use the transform layer on the trunk's embedding")
    .opt("seed", "int", OptDefault::Int(0), "seed of the initial weights")
    .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"")
    .opt("precision", "string", OptDefault::Str("fp32"), "\"fp32\" or \"bf16\" (the trunk's matrix products)")
    .example("let m = scooby_model(#{state_dim: 6, tracks: 2, seed: 1});\nprint(m);")
}

fn fresh(o: &Options) -> ScriptResult<ScoobyModel> {
    const P: &str = "scooby_model";
    let preset = match o.string("preset")? {
        Some(n) => ScoobyPreset::parse(&n).map_err(in_argument(P, "preset"))?,
        None => ScoobyPreset::Tiny,
    };
    let mut c = preset.config();
    if let Some(t) = o.string("trunk")? {
        let p = Preset::parse(&t).map_err(in_argument(P, "trunk"))?;
        c.trunk =
            gscript_runtime::models::borzoi::BorzoiConfig { human_tracks: None, mouse_tracks: None, ..p.config() };
        if p == Preset::Tiny {
            c.transform_dim = 128;
        }
    }
    if let Some(e) = o.int_at_least("state_dim", 1)? {
        c.state_dim = e as usize;
    }
    if let Some(t) = o.int("tracks")? {
        if !(1..=3).contains(&t) {
            return Err(primitive_error(P, Some("tracks"), "must be 1, 2 or 3"));
        }
        c.tracks = t as usize;
    }
    if let Some(t) = o.bool("transform")? {
        c.transform = t;
    }
    let seed = o.int("seed")?.unwrap_or(0);
    let device = device_option(P, o)?;
    let precision = precision_option(o)?;
    let mut net = Scooby::new(&c, device, seed).map_err(in_primitive(P))?;
    net.trunk_mut().set_precision(precision);
    Ok(ScoobyModel::new(ScoobyState {
        name: format!("scooby {}, untrained", preset.name()),
        net,
        history: Default::default(),
    }))
}

fn import_doc() -> FnDoc {
    FnDoc::new(
        "import_scooby",
        "scooby",
        "import_scooby(path: string, options?: map) -> ScoobyModel",
        "Loads a scooby checkpoint: a released merged model or an unmerged peft checkpoint (.safetensors file or directory).",
    )
    .details(
        "Released models (e.g. johahi/neurips-scooby: trunk without head, transform_borzoi_emb, cell_state_to_conv; adapters \
         already merged) and peft checkpoints (base_model.model.<module>.base_layer / lora_A / lora_B keys, α from \
         adapter_config.json beside the file, else α = r) load as PyTorch saved them; files written by ScoobyModel.save load \
         too. E, T, the decoder, the transform, the adapted layers and the trunk's width, depth and heads come from the \
         tensors' shapes; the number of bins and the input length from borzoi-pytorch's config.json beside the file (else \
         the published 524,288 bp → 6,144 bins). Missing, unexpected and mis-shaped tensors are listed by name and shape. \
         Nothing is downloaded.",
    )
    .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"")
    .opt("precision", "string", OptDefault::Str("fp32"), "\"fp32\" or \"bf16\" (bf16 stores the trunk's weights in bf16)")
    .example("let m = scooby_model(#{seed: 2});\nm.save(out_path(\"scooby.safetensors\"));\nlet back = import_scooby(out_path(\"scooby.safetensors\"));\nprint(back.parameters());")
}

fn import(path: String, o: &Options) -> ScriptResult<ScoobyModel> {
    const P: &str = "import_scooby";
    let p = PathBuf::from(&path);
    if !p.exists() {
        return Err(primitive_error(P, Some("path"), &format!("{path}: no such file or directory")));
    }
    let options = ScoobyImportOptions { trunk: None, device: device_option(P, o)?, precision: precision_option(o)? };
    let net = import_scooby(&p, &options).map_err(in_argument(P, "path"))?;
    let name = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(ScoobyModel::new(ScoobyState { name: format!("scooby {name}"), net, history: Default::default() }))
}

fn save(host: &Host, model: &ScoobyModel, path: &str) -> ScriptResult<()> {
    const P: &str = "ScoobyModel.save";
    if path.is_empty() {
        return Err(primitive_error(P, Some("path"), "is empty"));
    }
    write_from_rank_zero(host, P, "path", path, || {
        model.lock().net.save(&PathBuf::from(path)).map_err(in_argument(P, "path"))
    })
}

fn parameters(model: &ScoobyModel) -> Map {
    let mut m = Map::new();
    for (g, n, _) in model.counts() {
        m.insert(g.into(), Dynamic::from(n as i64));
    }
    m
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<ScoobyModel>("ScoobyModel");
    reg.host.register_renderer::<ScoobyModel>(|m| {
        let summary = SequenceModel::summary(&m.lock().net.as_sequence_model());
        MimeBundle::plain(format!("{}\n{summary}", m.text())).with_text("text/html", m.html())
    });
    register0(reg, model_doc(), fresh);
    register1(reg, import_doc(), import);
    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("ScoobyModel", name, "scooby", sig, summary);
    reg.docs.add(
        m(
            "to_string",
            "model.to_string() -> string",
            "Name, E, T and the tracks' meaning, input → bins, adapters, device.",
        )
        .example("print(scooby_model().to_string());"),
    );
    reg.engine.register_fn("to_string", |m: &mut ScoobyModel| m.text());
    reg.docs.add(
        m(
            "summary",
            "model.summary() -> string",
            "Trunk, adapters, transform and decoder with their parameter counts.",
        )
        .example("print(scooby_model().summary());"),
    );
    reg.engine.register_fn("summary", |m: &mut ScoobyModel| SequenceModel::summary(&m.lock().net.as_sequence_model()));
    reg.docs.add(
        m(
            "parameters",
            "model.parameters() -> map",
            "Parameters by group: trunk (frozen), adapters (LoRA), head (transform and decoder).",
        )
        .example("let p = scooby_model().parameters();\nprint(p.adapters);"),
    );
    reg.engine.register_fn("parameters", |m: &mut ScoobyModel| parameters(m));
    reg.docs.add(
        m("save", "model.save(path: string)", "Writes every tensor as safetensors (scooby's names; adapters unmerged), atomically.")
            .details("The file loads back with import_scooby.")
            .example("let m = scooby_model(#{seed: 3});\nm.save(out_path(\"s.safetensors\"));\nprint(import_scooby(out_path(\"s.safetensors\")));"),
    );
    let host = reg.host.clone();
    reg.engine.register_fn("save", move |m: &mut ScoobyModel, path: &str| save(&host, m, path));
}
