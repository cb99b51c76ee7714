//! scBasset in the language: `train_scbasset` and the `ScBassetModel` value (cell embeddings, intercepts, training
//! history, summary). Training reports a progress bar and a live training-curve figure through the session, and
//! stops promptly on interrupt.

use std::sync::{Arc, Mutex};

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, MimeBundle, OptDefault, Options, ProgressBar, Registrar};
use gscript_runtime::data::Split;
use gscript_runtime::model::{train, EpochStats, History, Precision, ScBasset, ScBassetConfig, TrainConfig, TrainData, TrainError, TrainObserver};
use gscript_runtime::plot::{Figure, TrainingOptions, TrainingSeries};
use gscript_runtime::seq::peak_codes;
use gscript_runtime::DeviceRequest;
use tch::nn;

use crate::bridge::{cancel_token, in_primitive, ScriptResult, SessionProgress};
use crate::plot::figure_bundle;
use crate::seq::GenomeValue;
use crate::values::peak_data::PeakData;
use crate::values::Matrix;

/// A trained model and what it was trained on.
pub struct TrainedModel {
    pub vs: nn::VarStore,
    pub net: ScBasset,
    pub history: History,
    pub barcodes: Vec<String>,
    pub preset: String,
}

/// The model as a script value (tensors live behind a mutex: values must be shareable).
#[derive(Clone)]
pub struct ModelValue(pub Arc<Mutex<TrainedModel>>);

impl ModelValue {
    fn summary(&self) -> String {
        let m = self.0.lock().unwrap();
        let c = m.net.config();
        let best = m.history.best().map(|b| format!(", best train auROC {:.3} at epoch {}", b.train_auroc.unwrap_or(f64::NAN), b.epoch)).unwrap_or_default();
        format!(
            "ScBassetModel({}, {} bp, {} cells, {} parameters, {:?}; {} epochs{best})",
            m.preset,
            c.seq_len,
            c.n_cells,
            m.net.trainable_parameter_count(),
            m.net.device(),
            m.history.len()
        )
    }
}

/// Per-epoch series as a map of arrays (for plot_training and scripts).
fn history_map(h: &History) -> Map {
    let mut m = Map::new();
    let col = |f: &dyn Fn(&EpochStats) -> Option<f64>| -> Dynamic { Dynamic::from_array(h.epochs.iter().map(|e| Dynamic::from(f(e).unwrap_or(f64::NAN))).collect()) };
    m.insert("epoch".into(), Dynamic::from_array(h.epochs.iter().map(|e| Dynamic::from(e.epoch as i64)).collect()));
    m.insert("train_loss".into(), col(&|e| Some(e.train_loss)));
    m.insert("train_auroc".into(), col(&|e| e.train_auroc));
    m.insert("val_loss".into(), col(&|e| e.val_loss));
    m.insert("val_auroc".into(), col(&|e| e.val_auroc));
    m.insert("val_aupr".into(), col(&|e| e.val_aupr));
    m.insert("val_peak_auroc".into(), col(&|e| e.val_peak_auroc));
    m
}

fn training_figure(h: &History) -> Option<Figure> {
    let series = |name: &str, f: &dyn Fn(&EpochStats) -> Option<f64>| TrainingSeries::new(name, h.epochs.iter().map(|e| f(e).unwrap_or(f64::NAN)).collect());
    let mut s = vec![series("train loss", &|e| Some(e.train_loss)), series("train auROC", &|e| e.train_auroc)];
    if h.epochs.iter().any(|e| e.val_loss.is_some()) {
        s.push(series("val loss", &|e| e.val_loss));
        s.push(series("val auROC", &|e| e.val_auroc));
    }
    Figure::training(s, TrainingOptions { title: "scBasset training".into(), ..TrainingOptions::default() }).ok()
}

/// Progress bar per batch, a log line and a live figure per epoch.
struct SessionObserver {
    host: Arc<Host>,
    bar: ProgressBar,
    n_batches_total: u64,
    display_id: String,
    shown: bool,
}

impl TrainObserver for SessionObserver {
    fn on_batch(&mut self, epoch: usize, batch: usize, n_batches: usize, running_loss: f64) -> Result<(), TrainError> {
        let pos = ((epoch - 1) * n_batches + batch) as u64;
        self.bar.update(pos.min(self.n_batches_total), &format!("epoch {epoch} loss {running_loss:.4}"));
        Ok(())
    }
    fn on_epoch(&mut self, s: &EpochStats, h: &History) -> Result<(), TrainError> {
        let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
        self.bar.update(
            self.bar_position(),
            &format!("epoch {} loss {:.4} auROC {} val auROC {}", s.epoch, s.train_loss, f(s.train_auroc), f(s.val_auroc)),
        );
        if let Some(fig) = training_figure(h) {
            self.host.display_live(&figure_bundle(&fig), &self.display_id, !self.shown);
            self.shown = true;
        }
        Ok(())
    }
}

impl SessionObserver {
    fn bar_position(&self) -> u64 {
        self.bar.position()
    }
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<ModelValue>("ScBassetModel");
    reg.host.register_renderer::<ModelValue>(|m| MimeBundle::plain(m.summary()));

    let doc = FnDoc::new("train_scbasset", "model", "train_scbasset(data: PeakDataset, options?: map) -> ScBassetModel", "Trains scBasset (sequence → accessibility in every cell) on a peak dataset.")
        .details(
            "Follows the published model: 1,344-bp peak windows (Keras extraction rule), the Keras architecture (4,513,960 + 33·n_cells \
             parameters), BCE with logits, Adam(lr 0.01, β 0.95/0.9995), batch 128, reverse-complement and ±3 bp shift augmentation per \
             minibatch, early stopping on training auROC (patience 50) with the best weights kept. Peaks are split 90/5/5 (seeded); \
             validation auROC per cell and per peak is reported every epoch. `preset: \"tiny\"` is a small network for demos and tests. \
             The genome comes from the data (load_peaks with `genome`, or simulate_atac) or the `genome` option.",
        )
        .opt("genome", "Genome", OptDefault::None, "genome to read peak sequences from (default: the one attached to the data)")
        .opt("preset", "string", OptDefault::Str("keras"), "\"keras\" (published), \"scvi\" (scvi-tools widths), or \"tiny\"")
        .opt("epochs", "int", OptDefault::Int(1000), "maximum number of epochs")
        .opt("batch_size", "int", OptDefault::Int(128), "peaks per minibatch")
        .opt("lr", "float", OptDefault::Float(0.01), "Adam learning rate")
        .opt("patience", "int", OptDefault::Int(50), "epochs without training-auROC improvement before stopping")
        .opt("seed", "int", OptDefault::Int(0), "seed for initialisation, split, shuffling and augmentation")
        .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"")
        .opt("precision", "string", OptDefault::Str("fp32"), "\"fp32\" or \"bf16\" (mixed precision: ~2× faster on CPUs with AVX-512 BF16)")
        .opt("augment", "bool", OptDefault::Bool(true), "reverse-complement and shift augmentation")
        .opt("checkpoint", "string", OptDefault::None, "save a resumable checkpoint here after every epoch (atomically)")
        .opt("resume", "string", OptDefault::None, "continue from this checkpoint")
        .example("let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, n_cell_types: 2});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 2, batch_size: 32});\nprint(model);");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let train_fn = move |data: PeakData, opts: Map| -> ScriptResult<ModelValue> {
        const P: &str = "train_scbasset";
        let o = Options::new(P, opts, &specs)?;
        let genome = match o.raw("genome") {
            Some(g) => g.clone().try_cast::<GenomeValue>().ok_or_else(|| primitive_error(P, Some("genome"), "expected a Genome from load_genome"))?,
            None => data.1.clone().ok_or_else(|| {
                primitive_error(P, Some("genome"), "the data has no genome attached: pass #{genome: load_genome(\"genome.fa\")} (or load the data with load_peaks(path, #{genome: g}))")
            })?,
        };
        let d = &data.0;
        let preset = o.choice("preset", &["keras", "scvi", "tiny"])?.unwrap();
        let cfg = match preset.as_str() {
            "tiny" => ScBassetConfig::tiny(d.n_cells()),
            "scvi" => ScBassetConfig::scvi(d.n_cells()),
            _ => ScBassetConfig::keras(d.n_cells()),
        };
        let device = o.string("device")?.unwrap().parse::<DeviceRequest>().and_then(|r| r.resolve()).map_err(in_primitive(P))?;
        let precision = match o.choice("precision", &["fp32", "bf16"])?.as_deref() {
            Some("bf16") => Precision::Bf16,
            _ => Precision::F32,
        };
        let seed = o.int("seed")?.unwrap() as u64;
        let (missing, _) = (d.missing_chromosomes(&genome.0), ());
        if !missing.is_empty() {
            return Err(primitive_error(P, Some("genome"), &format!("peaks lie on chromosomes the genome lacks: {}", missing.join(", "))));
        }
        let cancel = cancel_token(&host);
        let codes = peak_codes(&genome.0, &d.peaks, cfg.seq_len as u64, seed, &mut SessionProgress::new(&host), &cancel).map_err(in_primitive(P))?;
        let positives: Vec<Vec<u32>> = (0..d.n_peaks()).map(|p| d.matrix.row_indices(p).to_vec()).collect();
        let split = Split::new(d.n_peaks(), 0.9, seed).map_err(in_primitive(P))?;
        let tdata = TrainData { codes: &codes.codes, seq_len: cfg.seq_len, n_cells: d.n_cells(), positives: &positives, train: &split.train, val: &split.val };
        let tcfg = TrainConfig {
            epochs: o.int_at_least("epochs", 1)?.unwrap() as usize,
            batch_size: o.int_at_least("batch_size", 2)?.unwrap() as usize,
            lr: o.float("lr")?.unwrap(),
            patience: o.int_at_least("patience", 0)?.unwrap() as usize,
            seed,
            augment: o.bool("augment")?.unwrap(),
            precision,
            checkpoint: o.string("checkpoint")?.map(Into::into),
            resume: o.string("resume")?.map(Into::into),
            ..TrainConfig::default()
        };
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device.0);
        let mut net = ScBasset::new(&vs.root(), &cfg).map_err(|e| primitive_error(P, None, &e.to_string()))?;
        let n_batches = split.train.len().div_ceil(tcfg.batch_size) as u64;
        let mut observer = SessionObserver {
            host: host.clone(),
            bar: host.progress(&format!("training scBasset ({preset}, {} peaks × {} cells)", d.n_peaks(), d.n_cells()), Some(n_batches * tcfg.epochs as u64)),
            n_batches_total: n_batches * tcfg.epochs as u64,
            display_id: format!("training-{}", host.next_id()),
            shown: false,
        };
        let h2 = host.clone();
        let outcome = train(&mut net, &vs, &tdata, &tcfg, &mut observer, &move || h2.is_interrupted());
        let outcome = match outcome {
            Ok(o) => o,
            Err(TrainError::Interrupted { .. }) => return Err(crate::bridge::script_error(P, gscript_runtime::RuntimeError::Interrupted)),
            Err(e) => return Err(primitive_error(P, None, &e.to_string())),
        };
        let last = outcome.history.last().map(|s| format!("{} epochs, final loss {:.4}", s.epoch, s.train_loss)).unwrap_or_default();
        observer.bar.finish(&last);
        Ok(ModelValue(Arc::new(Mutex::new(TrainedModel { vs, net, history: outcome.history, barcodes: d.cells.barcodes.clone(), preset }))))
    };
    let t2 = train_fn.clone();
    reg.engine.register_fn("train_scbasset", train_fn);
    reg.engine.register_fn("train_scbasset", move |d: PeakData| t2(d, Map::new()));

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("ScBassetModel", name, "model", sig, summary);
    reg.docs.add(m("to_string", "model.to_string() -> string", "Preset, sequence length, cells, parameters, device, epochs trained."));
    reg.engine.register_fn("to_string", |m: &mut ModelValue| m.summary());
    reg.docs.add(m("cell_embeddings", "model.cell_embeddings() -> Matrix", "Cell embeddings (n_cells × 32): the final layer's weights, one row per cell (barcodes as row names)."));
    reg.engine.register_fn("cell_embeddings", |m: &mut ModelValue| -> Matrix {
        let t = m.0.lock().unwrap();
        let e = t.net.cell_embeddings().to_kind(tch::Kind::Float).to_device(tch::Device::Cpu).contiguous();
        let (r, c) = (e.size()[0] as usize, e.size()[1] as usize);
        let v: Vec<f32> = Vec::try_from(e.flatten(0, -1)).unwrap_or_default();
        Matrix::new(r, c, v).with_row_names(t.barcodes.clone())
    });
    reg.docs.add(m("intercept", "model.intercept() -> array", "Per-cell intercepts (the final layer's bias; tracks sequencing depth)."));
    reg.engine.register_fn("intercept", |m: &mut ModelValue| -> Array {
        let t = m.0.lock().unwrap();
        let b: Vec<f32> = Vec::try_from(t.net.intercept().to_kind(tch::Kind::Float).to_device(tch::Device::Cpu)).unwrap_or_default();
        b.into_iter().map(|x| Dynamic::from(x as f64)).collect()
    });
    reg.docs.add(m("history", "model.history() -> map", "Per-epoch training and validation metrics (train_loss, train_auroc, val_loss, val_auroc, val_aupr, val_peak_auroc)."));
    reg.engine.register_fn("history", |m: &mut ModelValue| history_map(&m.0.lock().unwrap().history));
    reg.docs.add(m("parameter_count", "model.parameter_count() -> int", "Number of trainable parameters."));
    reg.engine.register_fn("parameter_count", |m: &mut ModelValue| m.0.lock().unwrap().net.trainable_parameter_count() as i64);
}
