//! scooby in the language: the `ScoobyModel` value ([`value`]), `scooby_model` and `import_scooby` and the model's
//! methods ([`model`]), `model.train` ([`train`]) and `model.predict` ([`predict`]). Computation lives in `gscript_runtime::models::scooby`.

pub mod model;
pub mod predict;
pub mod train;
pub mod value;

pub use value::{ScoobyModel, ScoobyState};

use gscript_lang::Registrar;

pub fn register(reg: &mut Registrar) {
    model::register(reg);
    train::register(reg);
    predict::register(reg);
}
