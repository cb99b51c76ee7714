//! scBasset in the language: `train_scbasset`, `load_model`, and the `ScBassetModel` value (cell embeddings,
//! intercepts, history, denoising, predictions, peak embeddings, summary, save).
//!
//! - [`train`](mod@train): `train_scbasset`, with progress bar and live training curves.
//! - [`inference`]: `denoise`, `write_denoised`, `predict`, `peak_embeddings`.
//! - [`files`]: `save` and `load_model`.

pub mod files;
pub mod inference;
pub mod train;

use std::fmt::Write as _;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{FnDoc, MimeBundle, Registrar};
use gscript_runtime::models::scbasset::layer_table;
use gscript_runtime::models::SequenceModel;
use gscript_runtime::train::{EpochStats, History};

use crate::values::matrix::html_escape;
pub(crate) use crate::values::model::{device_name, tensor_matrix};
pub use crate::values::model::{ModelValue, TrainedModel};
use crate::values::Matrix;

fn summary_text(m: &TrainedModel) -> String {
    let c = m.net.config();
    format!(
        "{}\npreset {}, arch {:?}, {} bp, {} cells, device {}, precision {:?}, {} epochs trained",
        SequenceModel::summary(&m.net),
        m.meta.preset,
        c.arch,
        c.seq_len,
        c.n_cells,
        device_name(m.net.device()),
        m.net.precision(),
        m.meta.history.len()
    )
}

fn summary_html(m: &TrainedModel) -> String {
    let mut s = String::from("<table><thead><tr><th>layer</th><th>output</th><th>parameters</th></tr></thead><tbody>");
    for r in layer_table(&m.net) {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td style=\"text-align:right\">{}</td></tr>",
            html_escape(&r.name),
            r.output,
            group(r.trainable)
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn group(n: usize) -> String {
    gscript_runtime::plot::group_thousands(n as i64)
}

/// One per-epoch column: its name in the history map and the value of an epoch (NaN where absent).
pub(crate) type EpochColumn<'a> = (&'a str, fn(&EpochStats) -> Option<f64>);

/// Per-epoch series as a map of arrays (for plot_training and scripts): `epoch`, the given columns, `seconds`.
/// Shared by scBasset's and scooby's training (which name the same fields differently).
pub(crate) fn epoch_series(h: &History, columns: &[EpochColumn]) -> Map {
    let mut m = Map::new();
    let col = |f: &dyn Fn(&EpochStats) -> Option<f64>| -> Dynamic {
        Dynamic::from_array(h.epochs.iter().map(|e| Dynamic::from(f(e).unwrap_or(f64::NAN))).collect())
    };
    m.insert("epoch".into(), Dynamic::from_array(h.epochs.iter().map(|e| Dynamic::from(e.epoch as i64)).collect()));
    for (name, f) in columns {
        m.insert((*name).into(), col(f));
    }
    m.insert("seconds".into(), col(&|e| Some(e.seconds)));
    m
}

/// scBasset's per-epoch series.
fn history_map(h: &History) -> Map {
    epoch_series(
        h,
        &[
            ("train_loss", |e| Some(e.train_loss)),
            ("train_auroc", |e| e.train_auroc),
            ("train_aupr", |e| e.train_aupr),
            ("val_loss", |e| e.val_loss),
            ("val_auroc", |e| e.val_auroc),
            ("val_aupr", |e| e.val_aupr),
            ("val_peak_auroc", |e| e.val_peak_auroc),
        ],
    )
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<ModelValue>("ScBassetModel");
    reg.host.register_renderer::<ModelValue>(|m| MimeBundle::plain(m.text()));
    train::register(reg);
    inference::register(reg);
    files::register(reg);

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("ScBassetModel", name, "model", sig, summary);
    reg.docs.add(m("to_string", "model.to_string() -> string", "Preset, sequence length, cells, parameters, device, epochs trained.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nprint(model.to_string());"));
    reg.engine.register_fn("to_string", |m: &mut ModelValue| m.text());
    reg.docs.add(
        m("summary", "model.summary() -> ModelSummary", "The network layer by layer (output shape, parameters), parameter totals, device and precision.")
            .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nprint(model.summary());"),
    );
    reg.engine.register_type_with_name::<ModelSummary>("ModelSummary");
    reg.host.register_renderer::<ModelSummary>(|s| {
        MimeBundle::plain(s.text.clone()).with_text("text/html", s.html.clone())
    });
    reg.engine.register_fn("to_string", |s: &mut ModelSummary| s.text.clone());
    reg.engine.register_fn("summary", |m: &mut ModelValue| {
        let t = m.lock();
        ModelSummary { text: summary_text(&t), html: summary_html(&t) }
    });
    reg.docs.add(m(
        "cell_embeddings",
        "model.cell_embeddings() -> Matrix",
        "Cell embeddings (n_cells × 32): the final layer's weights, one row per cell (barcodes as row names).",
    ).example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet emb = model.cell_embeddings();\nprint(emb.shape());\nsim.data.write_h5ad(out_path(\"scbasset.h5ad\"), #{obsm: #{X_scbasset: emb}});"));
    reg.engine.register_fn("cell_embeddings", |m: &mut ModelValue| -> Matrix {
        let t = m.lock();
        tensor_matrix(&t.net.cell_embeddings()).with_row_names(t.meta.barcodes.clone())
    });
    reg.docs.add(m("intercept", "model.intercept() -> array", "Per-cell intercepts (the final layer's bias; tracks sequencing depth).").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nprint(pearson(model.intercept(), sim.data.peaks_per_cell()));"));
    reg.engine.register_fn("intercept", |m: &mut ModelValue| -> Array {
        let t = m.lock();
        let b: Vec<f32> =
            Vec::try_from(t.net.intercept().to_kind(tch::Kind::Float).to_device(tch::Device::Cpu)).unwrap_or_default();
        b.into_iter().map(|x| Dynamic::from(x as f64)).collect()
    });
    reg.docs.add(m("barcodes", "model.barcodes() -> array", "The cells of the final layer, in order.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nprint(model.barcodes()[0]);"));
    reg.engine.register_fn("barcodes", |m: &mut ModelValue| -> Array {
        m.lock().meta.barcodes.iter().cloned().map(Dynamic::from).collect()
    });
    reg.docs.add(m(
        "history",
        "model.history() -> map",
        "Per-epoch metrics as arrays: epoch, train_loss, train_auroc, train_aupr, val_loss, val_auroc, val_aupr, val_peak_auroc, seconds.",
    ).example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet h = model.history();\nprint(`epoch ${h.epoch[-1]}: validation auROC ${fmt(h.val_auroc[-1], 3)}`);"));
    reg.engine.register_fn("history", |m: &mut ModelValue| history_map(&m.lock().meta.history));
    reg.docs.add(m("parameter_count", "model.parameter_count() -> int", "Number of trainable parameters (4,513,960 + 33·n_cells for the published model).").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nprint(model.parameter_count());"));
    reg.engine.register_fn("parameter_count", |m: &mut ModelValue| m.lock().net.trainable_parameter_count() as i64);
}

/// What `model.summary()` returns: a layer table with text and HTML renderings.
#[derive(Clone)]
pub struct ModelSummary {
    pub text: String,
    pub html: String,
}
