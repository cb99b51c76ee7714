//! Adapters for fine-tuning pretrained networks: LoRA on any network whose layers implement [`Adaptable`], merging
//! and unmerging, target selection by layer-name globs, and freezing the trunk.

pub mod lora;

pub use lora::{
    adapter_tensors, attach_lora, glob_match, merge_lora, unmerge_lora, Adaptable, AdaptableLayer, Lora, LoraConfig,
};

use crate::models::{GroupKind, SequenceModel};

/// Stops gradients for the trunk's trainable tensors so that only adapters and the head train.
pub fn freeze_trunk(model: &dyn SequenceModel) {
    for group in model.parameter_groups().into_iter().filter(|g| g.kind == GroupKind::Trunk) {
        for (_, t) in group.tensors {
            let _ = t.set_requires_grad(false);
        }
    }
}
