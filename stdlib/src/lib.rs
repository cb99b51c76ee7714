//! The gscript standard library: genomics primitives registered into the language, one module per area.
//! Each primitive validates its arguments, calls into `gscript-runtime`, and reports progress and errors through
//! the session's [`Host`](gscript_lang::Host).

use gscript_lang::{Package, Registrar};

pub mod analysis;
pub mod bridge;
pub mod finetune;
pub mod interpret;
pub mod io;
pub mod model;
pub mod plot;
pub mod seq;
pub mod system;
pub mod training;
pub mod values;

/// Every standard-library area, registered in one go.
pub struct StdLib;

impl Package for StdLib {
    fn register(&self, reg: &mut Registrar) {
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
    }
}
