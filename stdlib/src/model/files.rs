//! Models on disk: `model.save(path)` and `load_model(path)` (safetensors + JSON sidecar, see
//! `gscript_runtime::model::saved`).

use std::path::PathBuf;

use gscript_lang::rhai::Map;
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::model::{load_model, save_model};
use gscript_runtime::DeviceRequest;

use super::{ModelValue, TrainedModel};
use crate::bridge::{in_primitive, ScriptResult};

pub fn register(reg: &mut Registrar) {
    reg.docs.add(
        FnDoc::method("ScBassetModel", "save", "model", "model.save(path: string)", "Saves the model: weights as safetensors plus a JSON sidecar (<path>.json).")
            .details(
                "The sidecar (and a copy inside the safetensors file) records the configuration, cell barcodes (and batches), a fingerprint \
                 of the training peaks, the training history and the gscript/libtorch versions. Both files are written atomically. \
                 Load with load_model(path).",
            )
            .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nmodel.save(out_path(\"model.safetensors\"));"),
    );
    reg.engine.register_fn("save", |model: &mut ModelValue, path: &str| -> ScriptResult<()> {
        let t = model.lock();
        save_model(&PathBuf::from(path), &t.vs, &t.meta).map_err(|e| primitive_error("save", Some("path"), &e.to_string()))
    });

    let doc = FnDoc::new("load_model", "model", "load_model(path: string, options?: map) -> ScBassetModel", "Loads a model saved with model.save.")
        .details("Every stored tensor is checked against the network its configuration describes; the history, barcodes and batches come back too.")
        .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"")
        .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nmodel.save(out_path(\"m.safetensors\"));\nlet again = load_model(out_path(\"m.safetensors\"));\nprint(again);");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let load = move |path: &str, opts: Map| -> ScriptResult<ModelValue> {
        const P: &str = "load_model";
        let o = Options::new(P, opts, &specs)?;
        let device = o.string("device")?.unwrap().parse::<DeviceRequest>().and_then(|r| r.resolve()).map_err(in_primitive(P))?;
        let loaded = load_model(&PathBuf::from(path), device.0).map_err(|e| primitive_error(P, Some("path"), &e.to_string()))?;
        Ok(ModelValue::new(TrainedModel { vs: loaded.vs, net: loaded.net, meta: loaded.meta }))
    };
    let l2 = load.clone();
    reg.engine.register_fn("load_model", load);
    reg.engine.register_fn("load_model", move |p: &str| l2(p, Map::new()));
}
