//! The gscript standard library: genomics primitives registered into the language, one module per area.
//! Each primitive validates its arguments, calls into `gscript-runtime`, and reports progress and errors through
//! the session's [`Host`](gscript_lang::Host).

use gscript_lang::{Package, Registrar};

pub mod analysis;
pub mod borzoi;
pub mod bridge;
pub mod coverage;
pub mod finetune;
pub mod interpret;
pub mod io;
pub mod model;
pub mod plot;
pub mod rank_zero;
pub mod scooby;
pub mod seq;
pub mod system;
pub mod training;
pub mod values;

/// Every standard-library area, registered in one go.
pub struct StdLib;

/// The standard library's help areas (name, title), in the order `help()`, the manual and the README list them
/// (after the language's own `core`).
pub const AREAS: [(&str, &str); 10] = [
    ("io", "Reading and writing data"),
    ("seq", "Sequences and genomes"),
    ("model", "scBasset models and training"),
    ("interpret", "Interpretation: motifs, ISM, variants"),
    ("borzoi", "Borzoi and Flashzoi: coverage tracks from sequence"),
    ("coverage", "Single-cell coverage: fragments, BAM, genes, tracks"),
    ("scooby", "scooby: per-cell RNA and ATAC profiles from sequence"),
    ("finetune", "Transfer learning"),
    ("analysis", "Single-cell analysis"),
    ("plot", "Figures"),
];

impl Package for StdLib {
    fn register(&self, reg: &mut Registrar) {
        for (name, title) in AREAS {
            reg.area(name, title);
        }
        values::matrix::register(reg);
        values::table::register(reg);
        system::register(reg);
        seq::register(reg);
        values::peak_data::register(reg);
        io::register(reg);
        plot::register(reg);
        model::register(reg);
        analysis::register(reg);
        interpret::register(reg);
        finetune::register(reg);
        borzoi::register(reg);
        coverage::register(reg);
        scooby::register(reg);
    }
}
