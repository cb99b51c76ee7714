//! Single-cell coverage in the language (help area "coverage"): the `Coverage` value ([`value`]) and its window
//! targets and pseudobulk tracks, `load_fragments` ([`fragments`]), `load_rna_coverage` and SnapATAC2-scooby files
//! ([`rna`]), genes and gene windows ([`genes`]), BigWig output and multi-track plots ([`tracks`]), and
//! `simulate_multiome` ([`simulate`]). Computation lives in `gscript_runtime::coverage` and `gscript_runtime::genes`.

pub mod fragments;
pub mod genes;
pub mod rna;
pub mod simulate;
pub mod tracks;
pub mod value;

use gscript_lang::rhai::Array;
use gscript_lang::{primitive_error, Options, Registrar};

use crate::bridge::ScriptResult;

pub use value::CoverageValue;

pub fn register(reg: &mut Registrar) {
    value::register(reg);
    fragments::register(reg);
    rna::register(reg);
    genes::register(reg);
    tracks::register(reg);
    simulate::register(reg);
}

/// A names option (chromosomes, gene types, …): an array of names or one name; `None` when absent.
pub fn names_option(primitive: &str, o: &Options, key: &str) -> ScriptResult<Option<Vec<String>>> {
    let Some(v) = o.raw(key) else { return Ok(None) };
    if let Some(arr) = v.clone().try_cast::<Array>() {
        Ok(Some(arr.iter().map(crate::bridge::label_text).collect()))
    } else if v.is_string() {
        Ok(Some(vec![crate::bridge::label_text(v)]))
    } else {
        Err(primitive_error(primitive, Some(key), "must be an array of names or one name"))
    }
}
