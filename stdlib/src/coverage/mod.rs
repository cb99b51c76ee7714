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

use gscript_lang::Registrar;

pub use value::CoverageValue;

pub fn register(reg: &mut Registrar) {
    value::register(reg);
    fragments::register(reg);
    rna::register(reg);
    genes::register(reg);
    tracks::register(reg);
    simulate::register(reg);
}
