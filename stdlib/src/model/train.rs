//! `train_scbasset`: trains scBasset (optionally scBasset-BC with a batch column) on a peak dataset, with a progress
//! bar and a live training-curve figure through the session; stops promptly on interrupt.

use std::sync::Arc;

use gscript_lang::rhai::Map;
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, ProgressBar, Registrar};
use gscript_runtime::data::{PeakDataset, Split};
use gscript_runtime::model::{
    train, EpochStats, History, ModelMeta, PeakFingerprint, Precision, ScBasset, ScBassetConfig, TrainConfig, TrainData,
    TrainError, TrainObserver, Versions, MODEL_FORMAT,
};
use gscript_runtime::plot::{Figure, TrainingOptions, TrainingSeries};
use gscript_runtime::seq::{peak_codes, SeqCodes};
use tch::nn;

use crate::bridge::{cancel_token, in_primitive, ScriptResult, SessionProgress};
use crate::plot::figure_bundle;
use crate::seq::GenomeValue;
use crate::values::peak_data::PeakData;

use super::{ModelValue, TrainedModel};

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
pub(crate) struct SessionObserver {
    pub(crate) host: Arc<Host>,
    pub(crate) bar: ProgressBar,
    pub(crate) n_batches_total: u64,
    pub(crate) display_id: String,
    pub(crate) shown: bool,
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

/// The genome to read the data's peak sequences from: the `genome` option, else the one attached to the data. It
/// must hold every chromosome the peaks lie on.
/// What training reads from a dataset: its peaks' sequence codes (extracted with progress), each peak's open cells
/// and the seeded 90/5/5 peak split — built the same way for train_scbasset and lora_finetune.
pub(crate) struct TrainingInputs {
    codes: SeqCodes,
    positives: Vec<Vec<u32>>,
    split: Split,
    n_cells: usize,
}

impl TrainingInputs {
    pub(crate) fn new(primitive: &'static str, host: &Arc<Host>, genome: &GenomeValue, d: &PeakDataset, seq_len: usize, seed: u64) -> ScriptResult<Self> {
        let cancel = cancel_token(host);
        let codes = peak_codes(&genome.0, &d.peaks, seq_len as u64, seed, &mut SessionProgress::new(host), &cancel).map_err(in_primitive(primitive))?;
        let positives = (0..d.n_peaks()).map(|p| d.matrix.row_indices(p).to_vec()).collect();
        let split = Split::new(d.n_peaks(), 0.9, seed).map_err(in_primitive(primitive))?;
        Ok(TrainingInputs { codes, positives, split, n_cells: d.n_cells() })
    }

    pub(crate) fn data(&self) -> TrainData<'_> {
        TrainData {
            codes: &self.codes.codes,
            seq_len: self.codes.length,
            n_cells: self.n_cells,
            positives: &self.positives,
            train: &self.split.train,
            val: &self.split.val,
        }
    }
}

pub(crate) fn genome_for(primitive: &str, data: &PeakData, option: Option<&gscript_lang::rhai::Dynamic>) -> ScriptResult<GenomeValue> {
    let genome = match option {
        Some(g) => g.clone().try_cast::<GenomeValue>().ok_or_else(|| primitive_error(primitive, Some("genome"), "expected a Genome from load_genome"))?,
        None => data.1.clone().ok_or_else(|| {
            primitive_error(
                primitive,
                Some("genome"),
                "the data has no genome attached: pass #{genome: load_genome(\"genome.fa\")} (or load the data with load_peaks(path, #{genome: g}))",
            )
        })?,
    };
    let missing = data.0.missing_chromosomes(&genome.0);
    if !missing.is_empty() {
        return Err(primitive_error(primitive, Some("genome"), &format!("peaks lie on chromosomes the genome lacks: {}", missing.join(", "))));
    }
    Ok(genome)
}

/// Cells' batch indices and batch names from an obs column (categories in their stored order).
pub(crate) fn batches_of(primitive: &str, data: &PeakData, column: &str) -> ScriptResult<(Vec<usize>, Vec<String>)> {
    let p = primitive;
    let col = data.0.cells.column(column).map_err(|e| primitive_error(p, Some("batch"), &e.to_string()))?;
    let labels = col.labels();
    let mut names: Vec<String> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut cell_batch = Vec::with_capacity(labels.len());
    for (c, l) in labels.iter().enumerate() {
        if l.is_empty() || l == "NA" || l == "nan" {
            return Err(primitive_error(p, Some("batch"), &format!("cell {} ({}) has no value in column `{column}`", c, data.0.cells.barcodes[c])));
        }
        let k = *index.entry(l.clone()).or_insert_with(|| {
            names.push(l.clone());
            names.len() - 1
        });
        cell_batch.push(k);
    }
    if names.len() < 2 {
        return Err(primitive_error(p, Some("batch"), &format!("column `{column}` has a single value ({}): batch correction needs at least two batches", names.join(""))));
    }
    Ok((cell_batch, names))
}

pub fn register(reg: &mut Registrar) {
    let doc = FnDoc::new("train_scbasset", "model", "train_scbasset(data: PeakDataset, options?: map) -> ScBassetModel", "Trains scBasset (sequence → accessibility in every cell) on a peak dataset.")
        .details(
            "Follows the published model: 1,344-bp peak windows (Keras extraction rule), the Keras architecture (4,513,960 + 33·n_cells \
             parameters), BCE with logits, Adam(lr 0.01, β 0.95/0.9995), batch 128, reverse-complement and ±3 bp shift augmentation per \
             minibatch, early stopping on training auROC (patience 50) with the best weights kept. Peaks are split 90/5/5 (seeded); \
             validation auROC per cell and per peak is reported every epoch. `preset: \"tiny\"` is a small network for demos and tests. \
             The genome comes from the data (load_peaks with `genome`, or simulate_atac) or the `genome` option. \
             With `batch: \"column\"` the batch-corrected model scBasset-BC is trained: a batch path (batch × cell) is added to the cell \
             path and only the cell path is used for embeddings and denoising; `l2` and `l2_batch` are Keras' L2 coefficients (sums \
             of squared weights added to the mean BCE; the paper's tutorial uses l2 1e-8).",
        )
        .opt("genome", "Genome", OptDefault::None, "genome to read peak sequences from (default: the one attached to the data)")
        .opt("preset", "string", OptDefault::Str("keras"), "\"keras\" (published), \"scvi\" (scvi-tools widths), or \"tiny\"")
        .opt("epochs", "int", OptDefault::Int(1000), "maximum number of epochs")
        .opt("batch_size", "int", OptDefault::Int(128), "peaks per minibatch")
        .opt("lr", "float", OptDefault::Float(0.01), "Adam learning rate")
        .opt("patience", "int", OptDefault::Int(50), "epochs without training-auROC improvement before stopping")
        .opt("seed", "int", OptDefault::Int(0), "seed for initialisation, split, shuffling and augmentation")
        .opt("device", "string", OptDefault::Str("cpu"), "\"cpu\", \"cuda\", \"cuda:N\" or \"auto\"")
        .opt("threads", "int", OptDefault::None, "CPU threads for libtorch (default: all cores)")
        .opt("precision", "string", OptDefault::Str("fp32"), "\"fp32\" or \"bf16\" (mixed precision: ~2× faster on CPUs with AVX-512 BF16 and on GPUs)")
        .opt("augment", "bool", OptDefault::Bool(true), "reverse-complement and shift augmentation")
        .opt("batch", "string", OptDefault::None, "obs column with each cell's batch: trains scBasset-BC")
        .opt("l2", "float", OptDefault::Float(0.0), "L2 coefficient on the cell embeddings (Keras sum form)")
        .opt("l2_batch", "float", OptDefault::Float(0.0), "L2 coefficient on the batch embeddings (scBasset-BC)")
        .opt("checkpoint", "string", OptDefault::None, "save a resumable checkpoint here after every epoch (atomically)")
        .opt("resume", "string", OptDefault::None, "continue from this checkpoint (same data and options)")
        .example("let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, n_cell_types: 2});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 2, batch_size: 32});\nprint(model);");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let train_fn = move |data: PeakData, opts: Map| -> ScriptResult<ModelValue> {
        const P: &str = "train_scbasset";
        let o = Options::new(P, opts, &specs)?;
        let genome = genome_for(P, &data, o.raw("genome"))?;
        let d = &data.0;
        let preset = o.choice("preset", &["keras", "scvi", "tiny"])?.unwrap();
        let mut cfg = match preset.as_str() {
            "tiny" => ScBassetConfig::tiny(d.n_cells()),
            "scvi" => ScBassetConfig::scvi(d.n_cells()),
            _ => ScBassetConfig::keras(d.n_cells()),
        };
        let batches = o.string("batch")?.map(|col| batches_of(P, &data, &col)).transpose()?;
        cfg.n_batches = batches.as_ref().map(|(_, names)| names.len());
        let device = crate::bridge::device_option(P, &o)?;
        if let Some(t) = o.int_at_least("threads", 1)? {
            tch::set_num_threads(t as i32);
        }
        let precision = match o.choice("precision", &["fp32", "bf16"])?.as_deref() {
            Some("bf16") => Precision::Bf16,
            _ => Precision::F32,
        };
        let seed = o.int("seed")?.unwrap() as u64;
        let inputs = TrainingInputs::new(P, &host, &genome, d, cfg.seq_len, seed)?;
        let tdata = inputs.data();
        let tcfg = TrainConfig {
            epochs: o.int_at_least("epochs", 1)?.unwrap() as usize,
            batch_size: o.int_at_least("batch_size", 2)?.unwrap() as usize,
            lr: o.float("lr")?.unwrap(),
            patience: o.int_at_least("patience", 0)?.unwrap() as usize,
            seed,
            augment: o.bool("augment")?.unwrap(),
            precision,
            l2_cells: o.float("l2")?.unwrap(),
            l2_batches: o.float("l2_batch")?.unwrap(),
            checkpoint: o.string("checkpoint")?.map(Into::into),
            resume: o.string("resume")?.map(Into::into),
            ..TrainConfig::default()
        };
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let mut net = match &batches {
            None => ScBasset::new(&vs.root(), &cfg),
            Some((cell_batch, _)) => ScBasset::with_batches(&vs.root(), &cfg, cell_batch),
        }
        .map_err(|e| primitive_error(P, None, &e.to_string()))?;
        let n_batches = tdata.train.len().div_ceil(tcfg.batch_size) as u64;
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
        let (cell_batch, batch_names) = batches.map_or((None, None), |(c, n)| (Some(c), Some(n)));
        let meta = ModelMeta {
            format: MODEL_FORMAT.into(),
            config: cfg,
            preset,
            barcodes: d.cells.barcodes.clone(),
            cell_batch,
            batch_names,
            peaks: Some(PeakFingerprint::of(&d.peaks)),
            history: outcome.history,
            versions: Versions::current(),
        };
        Ok(ModelValue::new(TrainedModel { vs, net, meta, tuning: None }))
    };
    let t2 = train_fn.clone();
    reg.engine.register_fn("train_scbasset", train_fn);
    reg.engine.register_fn("train_scbasset", move |d: PeakData| t2(d, Map::new()));
}
