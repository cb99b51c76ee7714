//! `ScoobyModel.train`: scooby's fine-tuning recipe (`gscript_runtime::finetune::scooby::fine_tune_profiles`) on a
//! coverage, a genome, training windows and the cells' state embeddings, with a progress bar, a log line and a live
//! training-curve figure through the session; stops promptly on interrupt. The model is trained in place.

use std::path::PathBuf;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, ProgressBar, Registrar};
use gscript_runtime::finetune::scooby::{fine_tune_profiles, ProfileParams, ScoobyFineTuneConfig};
use gscript_runtime::genes::{read_folds, FoldSplit};
use gscript_runtime::models::borzoi::TrunkTraining;
use gscript_runtime::models::profile::CellProfileModel;
use gscript_runtime::models::scooby::Scooby;
use gscript_runtime::plot::{Figure, TrainingOptions, TrainingSeries};
use gscript_runtime::profile::predict::gene_output_window;
use gscript_runtime::profile::{windows_from_folds, ProfileData, ProfileDataOptions};
use gscript_runtime::seq::{Genome, Region};
use gscript_runtime::train::{EpochStats, History, TrainError, TrainObserver};
use gscript_runtime::RuntimeError;
use tch::Tensor;

use super::ScoobyModel;
use crate::bridge::{in_argument, ScriptResult};
use crate::coverage::genes::GenesValue;
use crate::coverage::CoverageValue;
use crate::plot::figure_bundle;
use crate::seq::GenomeValue;
use crate::values::Matrix;

/// The genome argument: a `Genome` from load_genome or a FASTA path (as simulate_multiome returns).
pub(crate) fn genome_arg(primitive: &str, v: &Dynamic) -> ScriptResult<GenomeValue> {
    if let Some(g) = v.clone().try_cast::<GenomeValue>() {
        return Ok(g);
    }
    if let Ok(path) = v.clone().into_string() {
        let g = Genome::open(std::path::Path::new(&path)).map_err(in_argument(primitive, "genome"))?;
        return Ok(GenomeValue(Arc::new(g)));
    }
    Err(primitive_error(
        primitive,
        Some("genome"),
        &format!("expected a Genome (load_genome) or a FASTA path, got {}", v.type_name()),
    ))
}

/// The cell states `(n, E)` as fp32, checked against the model's E and the expected number of cells.
pub(crate) fn states_tensor(
    primitive: &str,
    states: &Matrix,
    state_dim: usize,
    n_cells: Option<usize>,
) -> ScriptResult<Tensor> {
    if states.cols != state_dim {
        return Err(primitive_error(
            primitive,
            Some("cell_states"),
            &format!(
                "is {} × {}: the model takes {state_dim}-wide cell-state embeddings (cells × {state_dim}; E of scooby_model)",
                states.rows, states.cols
            ),
        ));
    }
    check_cell_rows(primitive, "cell_states", states, n_cells)?;
    Ok(Tensor::from_slice(states.data.as_slice()).view([states.rows as i64, states.cols as i64]))
}

/// A cells × E matrix (argument or option `arg`): a row per cell of the coverage (`n_cells`) where given, at least
/// one row and column, finite values.
pub(crate) fn check_cell_rows(primitive: &str, arg: &str, states: &Matrix, n_cells: Option<usize>) -> ScriptResult<()> {
    if let Some(n) = n_cells.filter(|&n| n != states.rows) {
        return Err(primitive_error(
            primitive,
            Some(arg),
            &format!(
                "has {} rows but the coverage has {n} cells (one row per cell, in coverage.cells() order)",
                states.rows
            ),
        ));
    }
    if states.rows == 0 || states.cols == 0 {
        let what = if states.rows == 0 { "rows" } else { "columns" };
        return Err(primitive_error(primitive, Some(arg), &format!("has no {what}")));
    }
    if let Some(i) = states.data.iter().position(|x| !x.is_finite()) {
        return Err(primitive_error(
            primitive,
            Some(arg),
            &format!("row {}, column {} is not a finite number", i / states.cols, i % states.cols),
        ));
    }
    Ok(())
}

/// Regions from an array of `chr:start-end` strings; errors name `key` and the element.
fn region_list(primitive: &str, key: &str, arr: &Array) -> ScriptResult<Vec<Region>> {
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            let text = crate::bridge::label_text(x);
            text.parse::<Region>()
                .map_err(|e| primitive_error(primitive, Some(key), &format!("element {i} (`{text}`): {e}")))
        })
        .collect()
}

/// Windows of an argument or option: region strings, or the output window centred on each gene of a Genes value.
fn windows_of(
    primitive: &str,
    key: &str,
    v: &Dynamic,
    model: &dyn CellProfileModel,
    genome: &Genome,
) -> ScriptResult<Vec<Region>> {
    if let Some(g) = v.clone().try_cast::<GenesValue>() {
        return g
            .0
            .genes
            .iter()
            .map(|gene| gene_output_window(model, genome, gene).map_err(in_argument(primitive, key)))
            .collect();
    }
    if let Some(arr) = v.clone().try_cast::<Array>() {
        return region_list(primitive, key, &arr);
    }
    Err(primitive_error(
        primitive,
        Some(key),
        &format!("expected an array of regions (\"chr:start-end\") or Genes, got {}", v.type_name()),
    ))
}

/// Fold labels from an int (3 → fold3), a string or an array of them.
fn folds(primitive: &str, o: &Options, key: &str, default: &[String]) -> ScriptResult<Vec<String>> {
    let Some(v) = o.raw(key) else { return Ok(default.to_vec()) };
    let one = |x: &Dynamic| -> ScriptResult<String> {
        match x.as_int() {
            Ok(i) if i >= 0 => Ok(format!("fold{i}")),
            Ok(i) => Err(primitive_error(primitive, Some(key), &format!("{i} is not a fold number"))),
            Err(_) => Ok(crate::bridge::label_text(x)),
        }
    };
    match v.clone().try_cast::<Array>() {
        Some(arr) => arr.iter().map(one).collect(),
        None => Ok(vec![one(v)?]),
    }
}

/// Training and validation windows: a fold BED path (scooby's sequences.bed; test folds left out), an array of
/// regions or Genes (validation from the `validation` option).
fn training_windows(
    primitive: &str,
    regions: &Dynamic,
    o: &Options,
    model: &dyn CellProfileModel,
    genome: &Genome,
) -> ScriptResult<(Vec<Region>, Vec<Region>)> {
    let text = regions.clone().into_string().ok();
    let one_region =
        text.as_deref().filter(|t| !std::path::Path::new(t).exists()).and_then(|t| t.parse::<Region>().ok());
    let (train, mut val) = if let Some(r) = one_region {
        (vec![r], Vec::new())
    } else if let Some(path) = text {
        let d = FoldSplit::default();
        let split =
            FoldSplit { test: folds(primitive, o, "test", &d.test)?, valid: folds(primitive, o, "valid", &d.valid)? };
        let regions = read_folds(std::path::Path::new(&path)).map_err(in_argument(primitive, "regions"))?;
        windows_from_folds(&regions, &split).map_err(in_argument(primitive, "regions"))?
    } else {
        (windows_of(primitive, "regions", regions, model, genome)?, Vec::new())
    };
    if let Some(v) = o.raw("validation") {
        val = windows_of(primitive, "validation", v, model, genome)?;
    }
    if train.is_empty() {
        return Err(primitive_error(primitive, Some("regions"), "gives no training window"));
    }
    Ok((train, val))
}

/// A data error's field as the argument or option the user wrote.
fn data_error(primitive: &str, e: RuntimeError) -> Box<gscript_lang::rhai::EvalAltResult> {
    match e {
        RuntimeError::InvalidArgument { field, message } => {
            let arg = match field.as_str() {
                "windows" => "regions",
                "tracks" | "coverage" => "coverage",
                other => other,
            };
            primitive_error(primitive, Some(arg), &message)
        }
        other => crate::bridge::script_error(primitive, other),
    }
}

fn curves(h: &History) -> Option<Figure> {
    let series = |name: &str, f: &dyn Fn(&EpochStats) -> Option<f64>| {
        TrainingSeries::new(name, h.epochs.iter().map(|e| f(e).unwrap_or(f64::NAN)).collect())
    };
    let mut s = vec![series("train loss", &|e| Some(e.train_loss)), series("train pearson", &|e| e.train_auroc)];
    if h.epochs.iter().any(|e| e.val_loss.is_some()) {
        s.push(series("val loss", &|e| e.val_loss));
        s.push(series("val pearson", &|e| e.val_auroc));
    }
    let opts = TrainingOptions {
        title: "scooby training".into(),
        loss_label: "Poisson–multinomial loss".into(),
        metric_label: "Pearson r, ln(1 + x) per profile".into(),
        ..TrainingOptions::default()
    };
    Figure::training(s, opts).ok()
}

/// Progress bar per minibatch; a log line and the live training curves per epoch.
struct Observer {
    host: Arc<Host>,
    bar: ProgressBar,
    total: u64,
    display_id: String,
    shown: bool,
}

impl TrainObserver for Observer {
    fn on_warning(&mut self, message: &str) {
        self.host.warn(message);
    }
    fn on_resume(&mut self, path: &std::path::Path, epochs_done: usize, epochs: usize) {
        self.host.eprint(&format!("resuming from {} after epoch {epochs_done} of {epochs}\n", path.display()));
    }
    fn on_batch(&mut self, epoch: usize, batch: usize, n_batches: usize, loss: f64) -> Result<(), TrainError> {
        let pos = ((epoch - 1) * n_batches + batch) as u64;
        self.bar.update(pos.min(self.total), &format!("epoch {epoch} loss {loss:.4}"));
        Ok(())
    }
    fn on_epoch(&mut self, s: &EpochStats, h: &History) -> Result<(), TrainError> {
        let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
        let pos = self.bar.position();
        self.bar.update(
            pos,
            &format!(
                "epoch {} loss {:.4} r {} val loss {} val r {}",
                s.epoch,
                s.train_loss,
                f(s.train_auroc),
                f(s.val_loss),
                f(s.val_auroc)
            ),
        );
        if let Some(fig) = curves(h) {
            self.host.display_live(&figure_bundle(&fig), &self.display_id, !self.shown);
            self.shown = true;
        }
        Ok(())
    }
}

/// Per-epoch series (for plot_training and scripts); scooby's correlation lives in the AUROC fields.
fn history_map(h: &History) -> Map {
    crate::model::epoch_series(
        h,
        &[
            ("train_loss", |e| Some(e.train_loss)),
            ("train_pearson", |e| e.train_auroc),
            ("val_loss", |e| e.val_loss),
            ("val_pearson", |e| e.val_auroc),
        ],
    )
}

pub(crate) const EXAMPLE_SETUP: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 24, cell_types: 3, chromosomes: 1, chrom_length: 72000, genes: 4, max_gene_length: 8000, window: 4096});\n\
    let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{genome: sim.genome}));\n\
    let types = sim.truth.types;\n\
    let states = matrix(cov.cells().map(|b| { let t = sim.truth.cell_types[b]; types.map(|x| if x == t { 1.0 } else { 0.0 }) }));\n\
    let m = scooby_model(#{state_dim: 3, seed: 1});\n";

pub(super) fn doc() -> FnDoc {
    FnDoc::method(
        "ScoobyModel",
        "train",
        "scooby",
        "model.train(coverage: Coverage, genome: Genome | string, regions: string | array | Genes, cell_states: Matrix, options?: map) -> map",
        "Fine-tunes scooby in place on per-cell coverage (scooby's recipe): adapters, transform and cell-state decoder; the trunk stays frozen.",
    )
    .details(
        "`coverage` holds the cells' tracks in the model's channel order (rna_plus, rna_minus, atac for T = 3: \
         load_rna_coverage(bam).join(load_fragments(...)) or load_scooby); `cell_states` has one row per cell of the \
         coverage, in coverage.cells() order, and E columns (e.g. lsi or pca output; used as given, not standardised). \
         `regions` gives the training windows: a fold BED (Borzoi's sequences.bed, e.g. sim.sequences; the `test` folds \
         are left out and the `valid` folds validate), one region or an array of regions `chr:start-end`, or Genes (the output window \
         centred on each gene's exon span). Targets cover the model's bins × 32 bp around each window's centre, the \
         sequence its input length around the same centre. Each minibatch holds `batch_size` windows × \
         `cells_per_sequence` cells drawn with replacement; training items get a ±3 bp shift and a reverse complement \
         with p = 1/2; validation items use `val_cells` cells drawn once per window. Loss: scooby's Poisson–multinomial \
         over every cell-track profile. AdamW (β 0.9/0.999) with scooby's groups: decoder weights `lr`, adapter and \
         transform weights `lr_adapters`, every 1-D tensor `lr_1d` without decay; linear warm-up from 1e-7 × lr over \
         `warmup_steps`, linear decay to 0 at `decay_steps` (default: the run's last step — scooby's horizon is 1.8M \
         steps, so its rate barely decays); gradient norm clipped at `clip_norm`. Progress shows the loss and the mean \
         Pearson r of log(1 + x) profiles per cell and track. With `checkpoint` a resumable checkpoint is written after \
         every epoch; `resume` continues one (same model, data and options; keep `decay_steps` fixed for an exact \
         continuation with more epochs). Launched data-parallel (gscript launch, torchrun), each rank trains on its share \
         of every minibatch; `sync_batch_norm: true` makes the trunk's batch norms use the whole minibatch's statistics \
         (every minibatch then needs a window per rank), and with `dropout: false` as well N ranks train as one process \
         (docs/scaling.md). Returns the history: epoch, train_loss, train_pearson, val_loss, val_pearson, \
         seconds (plot_training draws it).",
    )
    .opt("epochs", "int", OptDefault::Int(40), "epochs")
    .opt("batch_size", "int", OptDefault::Int(1), "windows per minibatch (scooby: 1 per GPU)")
    .opt("cells_per_sequence", "int", OptDefault::Int(64), "cells drawn with replacement per training window")
    .opt("val_cells", "int", OptDefault::Int(32), "cells per validation window (fixed per window)")
    .opt("lr", "float", OptDefault::Float(4e-4), "learning rate of the decoder's weights")
    .opt("lr_adapters", "float", OptDefault::Float(1e-4), "learning rate of adapter and transform weights")
    .opt("lr_1d", "float", OptDefault::Float(1e-4), "learning rate of every 1-D tensor (biases; no weight decay)")
    .opt("weight_decay", "float", OptDefault::Float(1e-6), "decoupled weight decay of weight tensors")
    .opt("warmup_steps", "int", OptDefault::None, "warm-up steps (default 1,000, at most the run's steps)")
    .opt("decay_steps", "int", OptDefault::None, "step at which the rate reaches 0 (default: the run's steps)")
    .opt("clip_norm", "float", OptDefault::Float(1.0), "global gradient-norm clip")
    .opt("max_shift", "int", OptDefault::Int(3), "largest sequence shift in bp (0: none)")
    .opt("reverse_complement", "bool", OptDefault::Bool(true), "reverse-complement training items with p = 1/2")
    .opt("train_mode", "bool", OptDefault::Bool(true), "batch statistics and dropout during steps, as scooby")
    .opt("dropout", "bool", OptDefault::Bool(true), "dropout in training mode (false: batch statistics without dropout)")
    .opt("checkpoint_activations", "bool", OptDefault::None, "keep only the trunk's stage boundaries in the forward pass and recompute each stage in the backward pass: the same gradients in a fraction of the memory for one more trunk forward per step (default: on for a full-size 524,288-bp trunk, off for shorter ones)")
    .opt("sync_batch_norm", "bool", OptDefault::Bool(false), "data-parallel: batch statistics of every rank's windows (SyncBatchNorm; a world of 1: plain batch norm)")
    .opt("validation", "array | Genes", OptDefault::None, "validation windows (default: the fold BED's valid folds, else none)")
    .opt("test", "int | string | array", OptDefault::Int(3), "test fold(s) of a fold BED, left out")
    .opt("valid", "int | string | array", OptDefault::Int(4), "validation fold(s) of a fold BED")
    .opt("seed", "int", OptDefault::Int(0), "seed of cell draws, augmentation, shuffling and dropout")
    .opt("checkpoint", "string", OptDefault::None, "save a resumable checkpoint here after every epoch (atomically)")
    .opt("resume", "string", OptDefault::None, "continue from this checkpoint")
    .example(&format!(
        "{EXAMPLE_SETUP}let h = m.train(cov, sim.genome, [\"chr1:0-4096\", \"chr1:8192-12288\", \"chr1:20480-24576\"], states, #{{epochs: 2, cells_per_sequence: 8, warmup_steps: 2}});\nprint(h.train_loss);"
    ))
}

/// Trains `model` in place (scooby's `model.train`, and the Borzoi form of `lora_finetune`); errors name `p`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    host: &Arc<Host>,
    p: &'static str,
    model: &ScoobyModel,
    coverage: CoverageValue,
    genome: Dynamic,
    regions: Dynamic,
    states: Matrix,
    o: &Options,
) -> ScriptResult<Map> {
    let genome = genome_arg(p, &genome)?;
    let sync_bn = o.bool("sync_batch_norm")?.unwrap_or(false);
    let dropout = o.bool("dropout")?.unwrap_or(true);
    // Data-parallel when launched in a process group (docs/scaling.md): each rank trains on its shard of every
    // global minibatch (cells, shifts and strands drawn per item), rank 0 writes the checkpoints.
    let mut dp =
        gscript_runtime::train::distributed::DataParallel::from_env().map_err(|e| crate::bridge::script_error(p, e))?;
    let bn_group = dp.as_ref().filter(|_| sync_bn).map(|d| d.group().clone());
    let mut st = model.lock();
    // The trunk's training-mode settings for this run only (reset when `training` drops).
    let training = st.net.training(TrunkTraining { batch_norm_group: bn_group.clone(), dropout });
    let net: &Scooby = &training;
    let cov = &coverage.0;
    let states = states_tensor(p, &states, net.state_dim(), Some(cov.n_cells()))?;
    let (train, val) = training_windows(p, &regions, o, net, &genome.0)?;
    let d = ProfileDataOptions::default();
    let dopts = ProfileDataOptions {
        cells_per_sequence: o.int_at_least("cells_per_sequence", 1)?.map_or(d.cells_per_sequence, |x| x as usize),
        val_cells: o.int_at_least("val_cells", 1)?.map_or(d.val_cells, |x| x as usize),
        max_shift: o.int_at_least("max_shift", 0)?.unwrap_or(d.max_shift),
        reverse_complement: o.bool("reverse_complement")?.unwrap_or(true),
        ..d
    };
    let n_windows = train.len();
    if let Some(g) = &bn_group {
        let b = o.int_at_least("batch_size", 1)?.map_or(ScoobyFineTuneConfig::default().batch_size, |x| x as usize);
        sync_batch_norm_batches(n_windows, b, g.world()).map_err(|m| primitive_error(p, Some("batch_size"), &m))?;
    }
    let data = ProfileData::new(net, &genome.0, cov, train, val, dopts).map_err(|e| data_error(p, e))?;
    let c = ScoobyFineTuneConfig::default();
    let float = |k: &str, default: f64| -> ScriptResult<f64> {
        match o.float(k)? {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
            Some(x) => Err(primitive_error(p, Some(k), &format!("must be a number ≥ 0, not {x}"))),
            None => Ok(default),
        }
    };
    let cfg = ScoobyFineTuneConfig {
        epochs: o.int_at_least("epochs", 1)?.map_or(c.epochs, |x| x as usize),
        batch_size: o.int_at_least("batch_size", 1)?.map_or(c.batch_size, |x| x as usize),
        lr_decoder: float("lr", c.lr_decoder)?,
        lr_adapters: float("lr_adapters", c.lr_adapters)?,
        lr_1d: float("lr_1d", c.lr_1d)?,
        weight_decay: float("weight_decay", c.weight_decay)?,
        warmup_steps: o.int_at_least("warmup_steps", 1)?.map(|x| x as usize),
        decay_steps: o.int_at_least("decay_steps", 1)?.map(|x| x as usize),
        clip_norm: match float("clip_norm", c.clip_norm)? {
            x if x > 0.0 => x,
            _ => return Err(primitive_error(p, Some("clip_norm"), "must be positive")),
        },
        train_mode: o.bool("train_mode")?.unwrap_or(true),
        checkpoint_activations: o
            .bool("checkpoint_activations")?
            .unwrap_or_else(|| gscript_runtime::finetune::scooby::checkpoint_by_default(net.seq_len())),
        seed: o.int("seed")?.unwrap_or(0) as u64,
        checkpoint: o.string("checkpoint")?.map(PathBuf::from),
        resume: o.string("resume")?.map(PathBuf::from),
        ..c
    };
    if let Some(r) = cfg.resume.as_ref().filter(|r| !r.exists()) {
        return Err(primitive_error(p, Some("resume"), &format!("{}: no such file", r.display())));
    }
    let params = ProfileParams::from_scooby(net);
    let total = (gscript_runtime::train::batch_ranges(n_windows, cfg.batch_size).len() * cfg.epochs) as u64;
    let mut observer = Observer {
        host: host.clone(),
        bar: host.progress(&format!("training scooby ({n_windows} windows × {} cells)", cov.n_cells()), Some(total)),
        total,
        display_id: format!("training-{}", host.next_id()),
        shown: false,
    };
    let h2 = host.clone();
    let hooks: Vec<&mut dyn gscript_runtime::train::GradientHook> =
        dp.iter_mut().map(|d| d as &mut dyn gscript_runtime::train::GradientHook).collect();
    let outcome =
        fine_tune_profiles(net, &params, &data, &states, &cfg, &mut observer, &move || h2.is_interrupted(), hooks)
            .map_err(|e| match e {
                TrainError::Checkpoint { .. } if cfg.resume.is_some() => {
                    primitive_error(p, Some("resume"), &e.to_string())
                }
                e => crate::bridge::script_error(p, e),
            })?;
    let last = outcome.history.last().map(|s| format!("{} epochs, final loss {:.4}", s.epoch, s.train_loss));
    observer.bar.finish(&last.unwrap_or_default());
    drop((data, training));
    if let Some(base) = st.name.strip_suffix(", untrained") {
        st.name = format!("{base}, fine-tuned");
    }
    let map = history_map(&outcome.history);
    st.history = outcome.history;
    Ok(map)
}

/// Synchronised batch norm needs every rank in every minibatch (a rank without windows would skip the collectives
/// the others wait in): at least `world` windows in each of the epoch's minibatches, the last one included.
fn sync_batch_norm_batches(n_windows: usize, batch_size: usize, world: usize) -> Result<(), String> {
    let last = match n_windows % batch_size {
        0 => batch_size.min(n_windows),
        r => r,
    };
    if batch_size.min(n_windows) < world || last < world {
        return Err(format!(
            "sync_batch_norm needs at least {world} windows (one per rank) in every minibatch: {n_windows} windows in \
             minibatches of {batch_size} leave {} in the smallest",
            batch_size.min(n_windows).min(last)
        ));
    }
    Ok(())
}

pub fn register(reg: &mut Registrar) {
    let doc = doc();
    let specs = Arc::new(doc.options.clone());
    reg.docs.add(doc);
    let host = reg.host.clone();
    let s = specs.clone();
    reg.engine.register_fn(
        "train",
        move |m: &mut ScoobyModel,
              c: CoverageValue,
              g: Dynamic,
              r: Dynamic,
              x: Matrix,
              map: Map|
              -> ScriptResult<Map> { run(&host, "train", m, c, g, r, x, &Options::new("train", map, &s)?) },
    );
    let host = reg.host.clone();
    reg.engine.register_fn(
        "train",
        move |m: &mut ScoobyModel, c: CoverageValue, g: Dynamic, r: Dynamic, x: Matrix| -> ScriptResult<Map> {
            run(&host, "train", m, c, g, r, x, &Options::empty("train", &specs))
        },
    );
    reg.docs.add(
        FnDoc::method(
            "ScoobyModel",
            "history",
            "scooby",
            "model.history() -> map",
            "Per-epoch metrics of the model's last train or lora_finetune as arrays: epoch, train_loss, train_pearson, \
             val_loss, val_pearson, seconds.",
        )
        .details(
            "What model.train returns, kept on the model so that lora_finetune's run can be plotted too \
             (plot_training(model.history())). Empty arrays before any training in this session; not saved with the \
             model.",
        )
        .example(&format!(
            "{EXAMPLE_SETUP}let tuned = lora_finetune(borzoi_model(#{{seed: 3}}), cov, #{{genome: sim.genome, regions: [\"chr1:0-4096\", \"chr1:8192-12288\"], cell_embedding: states, epochs: 2, cells_per_sequence: 4, warmup_steps: 1}});\nlet h = tuned.history();\nprint(`${{h.epoch.len()}} epochs, final loss ${{fmt(h.train_loss[-1], 3)}}`);"
        )),
    );
    reg.engine.register_fn("history", |m: &mut ScoobyModel| history_map(&m.lock().history));
}

#[cfg(test)]
mod tests {
    use super::{curves, sync_batch_norm_batches};
    use gscript_runtime::train::{EpochStats, History};

    /// scooby's curves name what they plot: its loss and the per-profile Pearson (held in the trainer's auROC fields).
    #[test]
    fn curves_label_scooby_s_loss_and_correlation() {
        let epoch = |i: usize| EpochStats {
            epoch: i,
            train_loss: 4.0 - 0.1 * i as f64,
            train_auroc: Some(0.1 * i as f64),
            train_aupr: None,
            val_loss: Some(4.1),
            val_auroc: Some(0.2),
            val_aupr: None,
            val_peak_auroc: None,
            seconds: 1.0,
            lr: 1e-4,
        };
        let svg = curves(&History { epochs: (1..=3).map(epoch).collect() }).unwrap().render_svg().unwrap();
        assert!(svg.contains("Pearson r") && svg.contains("Poisson–multinomial loss"), "labels");
        assert!(!svg.contains("auROC"), "scooby's correlation is not an auROC");
    }

    #[test]
    fn sync_batch_norm_needs_a_window_per_rank_in_every_minibatch() {
        assert!(sync_batch_norm_batches(8, 4, 2).is_ok());
        assert!(sync_batch_norm_batches(7, 4, 2).is_ok(), "4 and 3");
        assert!(sync_batch_norm_batches(3, 8, 2).is_ok(), "one minibatch of 3");
        let e = sync_batch_norm_batches(9, 4, 2).unwrap_err();
        assert!(e.contains("leave 1"), "{e}");
        assert!(sync_batch_norm_batches(8, 1, 2).is_err());
        assert!(sync_batch_norm_batches(1, 4, 2).is_err());
    }
}
