//! `lora_finetune(borzoi, coverage, #{genome, regions, cell_embedding, ...})`: scooby built around a Borzoi's trunk
//! (LoRA adapters on scooby's target layers, the transform layer and a fresh cell-state decoder) and fine-tuned on
//! per-cell coverage — the Borzoi form of `lora_finetune`, as the scBasset form takes a peak matrix. Training is
//! scooby's `model.train` ([`super::train`]); this file builds the model and maps the options.

use std::sync::Arc;

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, Registrar};
use gscript_runtime::models::borzoi::Preset;
use gscript_runtime::models::scooby::{scooby_lora, ScoobyConfig};

use super::train::{check_cell_rows, EXAMPLE_SETUP};
use super::ScoobyModel;
use crate::borzoi::BorzoiModel;
use crate::bridge::{in_primitive, ScriptResult};
use crate::coverage::CoverageValue;
use crate::values::Matrix;

const P: &str = "lora_finetune";

fn doc() -> FnDoc {
    let mut d = FnDoc::method(
        "BorzoiModel",
        "lora_finetune",
        "scooby",
        "lora_finetune(base: BorzoiModel, coverage: Coverage, options: map) -> ScoobyModel",
        "Fine-tunes a (pretrained) Borzoi into scooby on per-cell coverage: LoRA adapters on its trunk, the transform layer and a cell-state decoder.",
    )
    .details(
        "The Borzoi form of lora_finetune (scooby's recipe, Hingerl, Martens et al. 2024): the base's trunk (its heads \
         dropped; the base itself is unchanged) gets LoRA adapters (r `rank`, α `alpha`; scooby: 8 and 8) on scooby's \
         targets — the 12 non-separable convolutions and q, v and both MLP linears of every transformer block — and \
         stays frozen; the optional transform layer (D → `transform_dim` → D) and a fresh cell-state decoder (E → 128 → \
         256 → 1,024 → (D + 1)·T) read the cells out. `cell_embedding` (cells × E, one row per cell in \
         coverage.cells() order: e.g. lsi or pca of the cells, or an obsm matrix) gives E; T is the coverage's number \
         of tracks (rna_plus, rna_minus, atac in that order). `genome` and `regions` are as in ScoobyModel.train \
         (a fold BED such as sim.sequences, regions or Genes), and every training option of ScoobyModel.train applies \
         (epochs, cells_per_sequence, learning rates, checkpoint/resume, …; data-parallel under gscript launch). \
         Returns the fine-tuned ScoobyModel: predict, gene_counts, evaluate_profiles, variant_effect, motif_deletion \
         and plot_profiles work on it, and its history() holds the run's per-epoch metrics. Equivalent to scooby's \
         training script on a Borzoi checkpoint loaded with load_borzoi.",
    )
    .opt("genome", "Genome | string", OptDefault::None, "the genome of the coverage (required)")
    .opt("regions", "string | array | Genes", OptDefault::None, "training windows, as ScoobyModel.train's `regions` (required)")
    .opt("cell_embedding", "Matrix", OptDefault::None, "cells × E cell-state embeddings, in coverage.cells() order (required)")
    .opt("rank", "int", OptDefault::Int(8), "adapter rank r (scooby: 8)")
    .opt("alpha", "float", OptDefault::Float(8.0), "adapter scale α (scaling α/r; scooby: 8)")
    .opt("transform", "bool", OptDefault::Bool(true), "use the transform layer on the trunk's embedding")
    .opt("transform_dim", "int", OptDefault::None, "hidden width of the transform layer (default 4,096; 128 on the tiny trunk)");
    d.options.extend(super::train::doc().options);
    d.example(&format!(
        "{EXAMPLE_SETUP}let b = borzoi_model(#{{seed: 3}});\nlet tuned = lora_finetune(b, cov, #{{genome: sim.genome, regions: [\"chr1:0-4096\", \"chr1:8192-12288\"], cell_embedding: states, epochs: 1, cells_per_sequence: 4, warmup_steps: 1}});\nprint(tuned);"
    ))
}

fn required<'a>(o: &'a Options, key: &str, what: &str) -> ScriptResult<&'a Dynamic> {
    o.raw(key).ok_or_else(|| primitive_error(P, Some(key), &format!("is required: {what}")))
}

fn run(host: &Arc<Host>, base: &BorzoiModel, coverage: CoverageValue, o: &Options) -> ScriptResult<ScoobyModel> {
    let genome = required(o, "genome", "the genome of the coverage (load_genome or a FASTA path)")?.clone();
    let regions = required(o, "regions", "the training windows (a fold BED, regions or Genes)")?.clone();
    let states = required(o, "cell_embedding", "a Matrix of cells × E, one row per cell in coverage.cells() order")?
        .clone()
        .try_cast::<Matrix>()
        .ok_or_else(|| primitive_error(P, Some("cell_embedding"), "expected a Matrix (cells × E)"))?;
    check_cell_rows(P, "cell_embedding", &states, Some(coverage.0.n_cells()))?;
    let tracks = coverage.0.tracks().len();
    if !(1..=3).contains(&tracks) {
        return Err(primitive_error(
            P,
            Some("coverage"),
            &format!("has {tracks} tracks; scooby predicts 1 to 3 per cell (rna_plus, rna_minus, atac)"),
        ));
    }
    let trunk = base.lock().net.config().clone();
    let mut config = ScoobyConfig::new(trunk.clone(), states.cols, tracks);
    let mut lora = scooby_lora();
    lora.rank = o.int_at_least("rank", 1)?.unwrap_or(8) as usize;
    lora.alpha = o.float("alpha")?.unwrap_or(8.0);
    if !(lora.alpha.is_finite() && lora.alpha > 0.0) {
        return Err(primitive_error(P, Some("alpha"), &format!("is {}; it must be positive", lora.alpha)));
    }
    config.lora = Some(lora);
    config.transform = o.bool("transform")?.unwrap_or(true);
    config.transform_dim = match o.int_at_least("transform_dim", 1)? {
        Some(d) => d as usize,
        None if trunk.embedding_dim == Preset::Tiny.config().embedding_dim => 128,
        None => 4096,
    };
    let seed = o.int("seed")?.unwrap_or(0);
    let model = ScoobyModel::from_borzoi(base, &config, seed).map_err(in_primitive(P))?;
    super::train::run(host, P, &model, coverage, genome, regions, states, o)?;
    Ok(model)
}

pub fn register(reg: &mut Registrar) {
    let doc = doc();
    let specs = Arc::new(doc.options.clone());
    reg.docs.add(doc);
    let host = reg.host.clone();
    reg.engine.register_fn(
        "lora_finetune",
        move |b: &mut BorzoiModel, c: CoverageValue, map: Map| -> ScriptResult<ScoobyModel> {
            run(&host, b, c, &Options::new(P, map, &specs)?)
        },
    );
}
