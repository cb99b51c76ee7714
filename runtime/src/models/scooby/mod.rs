//! scooby (Hingerl, Martens et al. 2024, "scooby: modeling multi-modal genomic profiles from DNA sequence at
//! single-cell resolution"; gagneurlab/scooby `scooby/modeling/scooby.py`): a Borzoi trunk fine-tuned with LoRA, an
//! optional transform of its embedding, and a cell-state decoder that turns each cell's embedding into the weights and
//! bias of a 1×1 convolution read-out — per-cell RNA (+/−) and ATAC profiles in 32-bp bins.
//!
//! - [`config`]: [`ScoobyConfig`] with the released configurations ([`ScoobyPreset`]).
//! - [`network`]: the [`Scooby`] module, a [`CellProfileModel`](crate::models::CellProfileModel).

pub mod config;
pub mod import;
pub mod network;

#[cfg(test)]
mod network_tests;
#[cfg(test)]
mod torch_reference_tests;

pub use config::{scooby_lora, ScoobyConfig, ScoobyPreset};
pub use import::{import_scooby, ScoobyImportOptions};
pub use network::{Scooby, ScoobyParamGroup, ScoobyTraining};
