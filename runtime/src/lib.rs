//! gscript runtime: tensors (libtorch through tch), models, training, data loading and compute.
//!
//! This crate knows nothing about the scripting language: everything here is usable as a plain Rust library.
//! Long-running work reports through [`progress::Progress`] and stops when its [`progress::CancelToken`] is set.

pub mod adapters;
pub mod analysis;
pub mod bench;
pub mod coverage;
pub mod data;
pub mod device;
pub mod error;
pub mod finetune;
pub mod genes;
pub mod heads;
pub mod info;
pub mod interpret;
pub mod io;
pub mod models;
pub mod motif;
pub mod plot;
pub mod profile;
pub mod progress;
pub mod seq;
pub mod threads;
pub mod train;

pub use device::{ComputeDevice, DeviceRequest};
pub use error::{Result, RuntimeError};
pub use progress::{CancelToken, NoProgress, Progress};
#[doc(hidden)]
pub mod testing;
