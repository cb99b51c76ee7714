//! `train_scbasset`: trains scBasset (optionally scBasset-BC with a batch column) on a peak dataset, with a progress
//! bar and a live training-curve figure through the session; stops promptly on interrupt.

use gscript_lang::rhai::Map;
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::models::scbasset::{
    train_with_hooks, ModelMeta, PeakFingerprint, Precision, Preset, ScBasset, TrainConfig, Versions, MODEL_FORMAT,
};
use gscript_runtime::train::distributed::DataParallel;
use gscript_runtime::train::GradientHook;
use tch::nn;

use crate::bridge::ScriptResult;
use crate::training::{batches_of, genome_for, SessionObserver, TrainingInputs};
use crate::values::peak_data::PeakData;

use super::{ModelValue, TrainedModel};

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
        .opt("threads", "int", OptDefault::None, "CPU threads for libtorch, kept fixed (default: all cores, fewer while other processes keep cores busy)")
        .opt("precision", "string", OptDefault::Str("auto"), "\"auto\" (bf16 on GPUs and on CPUs with AVX-512 BF16, else fp32), \"fp32\" or \"bf16\" (mixed precision: ~2× faster where bf16 is native; same analysis results, see docs/fidelity.md)")
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
        let preset = o.choice("preset", &Preset::names())?.unwrap();
        let mut cfg = preset
            .parse::<Preset>()
            .map_err(|e| {
                crate::bridge::script_error(P, gscript_runtime::RuntimeError::invalid("preset", e.to_string()))
            })?
            .config(d.n_cells());
        let batches = o.string("batch")?.map(|col| batches_of(P, &data, &col)).transpose()?;
        cfg.n_batches = batches.as_ref().map(|(_, names)| names.len());
        let device = crate::bridge::device_option(P, &o)?;
        if let Some(t) = o.int_at_least("threads", 1)? {
            gscript_runtime::threads::set_threads(t as i32);
        }
        let precision = o
            .choice("precision", &["auto", "fp32", "bf16"])?
            .and_then(|p| Precision::parse(&p, device))
            .unwrap_or(Precision::F32);
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
            bar: host.progress(
                &format!("training scBasset ({preset}, {} peaks × {} cells)", d.n_peaks(), d.n_cells()),
                Some(n_batches * tcfg.epochs as u64),
            ),
            n_batches_total: n_batches * tcfg.epochs as u64,
            display_id: format!("training-{}", host.next_id()),
            shown: false,
        };
        let h2 = host.clone();
        // Data-parallel when launched in a process group (torchrun's environment; see docs/scaling.md): batch_size
        // stays the global minibatch, each rank trains on its shard, rank 0 writes the checkpoints.
        let mut dp = DataParallel::from_env().map_err(|e| crate::bridge::script_error(P, e))?;
        let hooks: Vec<&mut dyn GradientHook> = dp.iter_mut().map(|d| d as &mut dyn GradientHook).collect();
        let outcome =
            train_with_hooks(&mut net, &vs, &tdata, &tcfg, &mut observer, &move || h2.is_interrupted(), hooks);
        let outcome = outcome.map_err(|e| crate::bridge::script_error(P, e))?;
        let last = outcome
            .history
            .last()
            .map(|s| format!("{} epochs, final loss {:.4}", s.epoch, s.train_loss))
            .unwrap_or_default();
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
            precision: net.precision(),
            versions: Versions::current(),
        };
        Ok(ModelValue::new(TrainedModel { vs, net, meta, tuning: None }))
    };
    let t2 = train_fn.clone();
    reg.engine.register_fn("train_scbasset", train_fn);
    reg.engine.register_fn("train_scbasset", move |d: PeakData| t2(d, Map::new()));
}
