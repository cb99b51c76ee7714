//! Borzoi (Linder et al. 2025, "Predicting RNA-seq coverage from DNA sequence as a unifying model of gene
//! regulation", Nature Genetics) and Flashzoi (Hingerl et al. 2025, "Flashzoi: an enhanced Borzoi for accelerated
//! genomic analysis", Bioinformatics): 524 kb of DNA → coverage tracks in 32-bp bins. The trunk scooby fine-tunes.
//!
//! The reference implementation is borzoi-pytorch 0.5.1 (johahi/borzoi-pytorch, `borzoi_pytorch/
//! pytorch_borzoi_model.py`, `pytorch_borzoi_transformer.py`); its checkpoints (`johahi/borzoi-replicate-{0..3}`,
//! `johahi/flashzoi-replicate-{0..3}` on Hugging Face) load here with their own tensor names.
//!
//! - [`config`]: [`BorzoiConfig`] with presets ([`Preset`]) and `config.json` reading.
//! - [`layers`]: convolution blocks, dense layers and norms in the model's precision.
//! - [`attention`]: Borzoi's relative-position attention and Flashzoi's rotary grouped-query attention.
//! - [`network`]: the [`Borzoi`] module; [`network::checkpoint`]: activation checkpointing of its trunk in training.
//! - [`import`](mod@import): checkpoints (a directory with `config.json` + `model.safetensors`, or a file).
//! - [`predict`]: genome windows, tracks with reverse-complement averaging, embeddings, variant effects, saliency.
//! - [`summary`]: the layer table.

pub mod attention;
pub mod config;
pub mod import;
pub mod layers;
pub mod network;
pub mod predict;
pub mod summary;
pub mod targets;
pub mod training;

#[cfg(test)]
mod network_tests;
#[cfg(test)]
mod torch_reference_tests;

pub use config::{BorzoiConfig, Preset, BIN_SIZE, TOKEN_SIZE};
pub use import::{load_pretrained, LoadOptions};
pub use layers::Init;
pub use network::checkpoint::{Stage, TrunkBackward, TrunkTape};
pub use network::{Borzoi, Species};
pub use training::TrunkTraining;
