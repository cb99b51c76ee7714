//! Models on disk: `model.save(path)` and `load_model(path)` (safetensors + JSON sidecar, see
//! `gscript_runtime::models::scbasset::saved`), and `import_scbasset` for pretrained Keras and scvi-tools models.

use std::path::PathBuf;

use gscript_lang::rhai::Map;
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::models::scbasset::{
    import_keras_h5, import_scvi, load_model, save_model, BatchImport, ImportOptions, ModelMeta, Versions,
    MODEL_FORMAT, SCVI_CONVERSION_SNIPPET,
};

use crate::values::peak_data::PeakData;

use super::{ModelValue, TrainedModel};
use crate::bridge::ScriptResult;
use crate::rank_zero::write_from_rank_zero;

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
    let host = reg.host.clone();
    reg.engine.register_fn("save", move |model: &mut ModelValue, path: &str| -> ScriptResult<()> {
        let t = model.lock();
        if t.tuning.as_ref().is_some_and(|x| !x.merged) {
            return Err(primitive_error(
                "save",
                None,
                "the model has LoRA adapters that are not merged: call model.merge_lora() first (outputs are the same), or model.save_lora(path) to save only the adapters and head",
            ));
        }
        let meta = ModelMeta { precision: t.net.precision(), ..t.meta.clone() };
        write_from_rank_zero(&host, "save", "path", path, || {
            save_model(&PathBuf::from(path), &t.vs, &meta).map_err(|e| primitive_error("save", Some("path"), &e.to_string()))
        })
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
        let device = crate::bridge::device_option(P, &o)?;
        let loaded =
            load_model(&PathBuf::from(path), device).map_err(|e| primitive_error(P, Some("path"), &e.to_string()))?;
        Ok(ModelValue::new(TrainedModel { vs: loaded.vs, net: loaded.net, meta: loaded.meta, tuning: None }))
    };
    let l2 = load.clone();
    reg.engine.register_fn("load_model", load);
    reg.engine.register_fn("load_model", move |p: &str| l2(p, Map::new()));

    let doc = FnDoc::new(
        "import_scbasset",
        "model",
        "import_scbasset(path: string, options?: map) -> ScBassetModel",
        "Imports a pretrained scBasset: a Keras .h5 from calico/scBasset (model.save or save_weights) or an scvi-tools SCBASSET state dict.",
    )
    .details(&format!(
        "The architecture is inferred from the weight shapes (tower widths, bottleneck, cells; batch-corrected models too) and every \
         weight is checked against it; a mismatch names the layer and both shapes. Keras layers are matched by order, not by their \
         auto-numbered names. scvi-tools saves model.pt (a pickle): convert it once with\n\n    {SCVI_CONVERSION_SNIPPET}\n\n\
         Pass the dataset the model was trained on as `data` to name its cells (their number must match); for batch-corrected \
         models, `batch` names the obs column with each cell's batch when the file does not record it (otherwise only the cell \
         path is imported, which is what embeddings and denoising use)."
    ))
    .opt("format", "string", OptDefault::Str("auto"), "\"keras\", \"scvi\" or \"auto\" (by extension: .h5 → keras, .safetensors → scvi)")
    .opt("data", "PeakDataset", OptDefault::None, "the dataset the model was trained on (cell barcodes, and the genome for later calls)")
    .opt("batch", "string", OptDefault::None, "obs column of `data` with each cell's batch (batch-corrected models)")
    .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let import = move |path: &str, opts: Map| -> ScriptResult<ModelValue> {
        const P: &str = "import_scbasset";
        let o = Options::new(P, opts, &specs)?;
        let device = crate::bridge::device_option(P, &o)?;
        let data = o
            .raw("data")
            .map(|d| {
                d.clone()
                    .try_cast::<PeakData>()
                    .ok_or_else(|| primitive_error(P, Some("data"), "expected a PeakDataset"))
            })
            .transpose()?;
        let cell_batch = match (o.string("batch")?, &data) {
            (Some(_), None) => {
                return Err(primitive_error(P, Some("batch"), "needs `data`, whose obs column it names"))
            }
            (Some(col), Some(d)) => Some(crate::training::batches_of(P, d, &col)?),
            (None, _) => None,
        };
        let format = o.choice("format", &["auto", "keras", "scvi"])?.unwrap();
        let lower = path.to_lowercase();
        let keras = match format.as_str() {
            "keras" => true,
            "scvi" => false,
            _ if lower.ends_with(".h5") || lower.ends_with(".hdf5") => true,
            _ if lower.ends_with(".safetensors") || lower.ends_with(".pt") => false,
            _ => return Err(primitive_error(P, Some("format"), &format!("cannot tell the format of `{path}` from its extension: pass #{{format: \"keras\"}} or #{{format: \"scvi\"}}"))),
        };
        let options = ImportOptions { device, cell_batch: cell_batch.as_ref().map(|(c, _)| c.clone()) };
        let result = if keras { import_keras_h5(path, &options) } else { import_scvi(path, &options) };
        let imported = result.map_err(|e| primitive_error(P, None, &e.to_string()))?;
        let n_cells = imported.config.n_cells;
        let barcodes = match &data {
            Some(d) if d.0.n_cells() != n_cells => {
                return Err(primitive_error(
                    P,
                    Some("data"),
                    &format!(
                        "the model has {n_cells} cells but the data has {}: pass the dataset the model was trained on",
                        d.0.n_cells()
                    ),
                ))
            }
            Some(d) => d.0.cells.barcodes.clone(),
            None => (0..n_cells).map(|i| format!("cell{i}")).collect(),
        };
        for note in &imported.notes {
            host.warn(&format!("{P}: {note}"));
        }
        let (cell_batch, batch_names) = match (&imported.batch, imported.net.batch_head()) {
            (BatchImport::Full { n_batches, .. }, Some(head)) => {
                let cb: Vec<i64> = Vec::try_from(head.cell_batch.to_device(tch::Device::Cpu))
                    .map_err(|e: tch::TchError| primitive_error(P, None, &e.to_string()))?;
                let names = cell_batch
                    .map(|(_, n)| n)
                    .unwrap_or_else(|| (0..*n_batches).map(|b| format!("batch{b}")).collect());
                (Some(cb.into_iter().map(|b| b as usize).collect()), Some(names))
            }
            _ => (None, None),
        };
        if let BatchImport::CellPathOnly { n_batches } = imported.batch {
            host.warn(&format!("{P}: batch-corrected model with {n_batches} batches imported without its batch path (pass `data` and `batch` for the full model); embeddings and denoising use the cell path only, as in the original"));
        }
        let preset = if keras { "imported-keras" } else { "imported-scvi" };
        let meta = ModelMeta {
            format: MODEL_FORMAT.into(),
            config: imported.net.config().clone(),
            preset: preset.into(),
            barcodes,
            cell_batch,
            batch_names,
            peaks: data.as_ref().map(|d| gscript_runtime::models::scbasset::PeakFingerprint::of(&d.0.peaks)),
            history: gscript_runtime::train::History::default(),
            precision: imported.net.precision(),
            versions: Versions::current(),
        };
        Ok(ModelValue::new(TrainedModel { vs: imported.vs, net: imported.net, meta, tuning: None }))
    };
    let i2 = import.clone();
    reg.engine.register_fn("import_scbasset", import);
    reg.engine.register_fn("import_scbasset", move |p: &str| i2(p, Map::new()));
}
