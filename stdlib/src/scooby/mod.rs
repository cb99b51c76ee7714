//! scooby in the language: the `ScoobyModel` value ([`value`]), `scooby_model` and `import_scooby` and the model's
//! methods ([`model`]), `model.train` ([`train`]) and its Borzoi-trunk form `lora_finetune(borzoi, coverage, ...)` ([`finetune`]) and `model.predict` ([`predict`]),
//! `model.gene_counts` and `evaluate_profiles` ([`gene_counts`]),
//! `model.plot_profiles`, predicted vs observed tracks around a gene ([`figure`]),
//! `variant_effect(model, ...)` on gene counts ([`variant_effect`]), `motif_deletion` ([`motif_deletion`]). Computation lives in `gscript_runtime::models::scooby`.

pub mod figure;
pub mod finetune;
pub mod gene_counts;
pub mod model;
pub mod motif_deletion;
pub mod predict;
pub mod train;
pub mod value;
pub mod variant_effect;

pub use value::{ScoobyModel, ScoobyState};

use std::sync::Arc;

use gscript_lang::{Host, ProgressBar, Registrar};
use gscript_runtime::interpret::sharded::Shard;

use crate::bridge::{in_primitive, ScriptResult};

/// The process group's shard of a primitive sharded over `n` items (none outside a group), and a progress bar over
/// this rank's share of them.
pub(crate) fn sharded_progress(
    host: &Arc<Host>,
    primitive: &str,
    label: &str,
    n: usize,
) -> ScriptResult<(Option<Shard>, ProgressBar)> {
    let shard = Shard::from_env().map_err(in_primitive(primitive))?;
    let local = shard.as_ref().map_or(n, |s| s.range(n).len());
    Ok((shard, host.progress(label, Some(local as u64))))
}

pub fn register(reg: &mut Registrar) {
    model::register(reg);
    train::register(reg);
    finetune::register(reg);
    predict::register(reg);
    gene_counts::register(reg);
    figure::register(reg);
    variant_effect::register(reg);
    motif_deletion::register(reg);
}
