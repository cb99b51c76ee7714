//! Transfer learning (scooby's ideas on scBasset: gagneurlab/scooby `scooby/modeling/scooby.py`,
//! `scripts/train_multiome.py`): low-rank adapters on a pretrained model ([`lora`]), a cell-state decoder that predicts
//! each cell's read-out from its embedding ([`decoder`]), and the fine-tuning loop ([`train`](mod@train)).

pub mod decoder;
pub mod lora;
pub mod train;

pub use decoder::{CellStateDecoder, DecoderConfig};
pub use lora::{adapter_tensors, attach_lora, freeze_trunk, glob_match, merge_lora, unmerge_lora, LoraConfig};
pub use train::{fine_tune, FineTuneConfig, Head, Param};
