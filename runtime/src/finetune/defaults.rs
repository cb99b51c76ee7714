//! Fine-tuning defaults by model family and head, in one place.
//!
//! scooby's recipe (AdamW: head 4e-4, adapters 1e-4, decoupled decay 1e-6, linear warm-up; gagneurlab/scooby's
//! training scripts) was made for a 190M-parameter Borzoi trunk. A new per-cell head on a small scBasset trained at
//! 4e-4 barely moves in a few epochs: on a simulated transfer case (a tiny base, 200 new cells on another genome with
//! the same motif programs) it fitted the new cells worse than training from scratch for the same epochs (mean per-cell
//! auROC 0.525 vs 0.563). The scBasset family therefore trains a per-cell head at scBasset's own learning rate (Adam
//! 0.01, as `train_scbasset` and the original's `scbasset_train.py`) and the adapters at 1e-3; the cell-state decoder
//! (an MLP) keeps 1e-3. [`SCOOBY`] holds scooby's values for the Borzoi family. docs/fidelity.md ("Fine-tuning") lists
//! the measurements; tests/finetune.rs checks that the defaults beat training from scratch on a transfer case.

use super::FineTuneConfig;
use crate::models::ModelFamily;

/// The kind of head trained on top of the frozen trunk (its default learning rate differs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// A per-cell layer for the new data's cells.
    Cells,
    /// scooby's cell-state decoder.
    Decoder,
}

/// The settings of [`FineTuneConfig`] whose defaults differ between families.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FineTuneDefaults {
    /// Learning rate of a per-cell head.
    pub lr_cells: f64,
    /// Learning rate of a cell-state decoder.
    pub lr_decoder: f64,
    /// Learning rate of the adapters.
    pub lr_adapters: f64,
    /// AdamW decoupled weight decay (matrices only).
    pub weight_decay: f64,
    /// Warm-up steps (None: one epoch, at most 1,000 steps).
    pub warmup_steps: Option<usize>,
}

/// scooby's fine-tuning recipe (AdamW 4e-4 for the head, 1e-4 for the adapters, decay 1e-6, warm-up): the defaults of
/// the Borzoi family once a Borzoi trunk loads.
pub const SCOOBY: FineTuneDefaults =
    FineTuneDefaults { lr_cells: 4e-4, lr_decoder: 4e-4, lr_adapters: 1e-4, weight_decay: 1e-6, warmup_steps: None };

/// The scBasset family's: scBasset's Adam learning rate for a new per-cell layer; adapters and decoder a tenth of it.
pub const SCBASSET: FineTuneDefaults =
    FineTuneDefaults { lr_cells: 1e-2, lr_decoder: 1e-3, lr_adapters: 1e-3, weight_decay: 1e-6, warmup_steps: None };

impl FineTuneDefaults {
    /// This family's fine-tuning defaults.
    pub fn of(family: ModelFamily) -> Self {
        match family {
            ModelFamily::ScBasset => SCBASSET,
            ModelFamily::Borzoi => SCOOBY,
        }
    }

    /// The head's learning rate for `head`.
    pub fn lr_head(&self, head: HeadKind) -> f64 {
        match head {
            HeadKind::Cells => self.lr_cells,
            HeadKind::Decoder => self.lr_decoder,
        }
    }
}

/// Documentation of `lr` (the head's learning rate), naming each family's default.
pub const LR_HEAD_DOC: &str =
    "learning rate of the head (family default: scBasset 0.01 for head \"cells\", 1e-3 for \"decoder\"; scooby 4e-4)";
/// Documentation of `lr_adapters`.
pub const LR_ADAPTERS_DOC: &str = "learning rate of the adapters (family default: scBasset 1e-3, scooby 1e-4)";
/// Documentation of `weight_decay`.
pub const WEIGHT_DECAY_DOC: &str = "AdamW weight decay, matrices only (family default: 1e-6 for scBasset and scooby)";
/// Documentation of `warmup`.
pub const WARMUP_DOC: &str = "warm-up steps (family default: one epoch, at most 1,000, for scBasset and scooby)";

impl FineTuneConfig {
    /// The default settings for fine-tuning a `head` on a base model of `family`.
    pub fn for_family(family: ModelFamily, head: HeadKind) -> Self {
        let d = FineTuneDefaults::of(family);
        FineTuneConfig {
            epochs: 20,
            batch_size: 64,
            lr_head: d.lr_head(head),
            lr_adapters: d.lr_adapters,
            weight_decay: d.weight_decay,
            warmup_steps: d.warmup_steps,
            clip_norm: 1.0,
            cells_per_batch: 64,
            patience: 0,
            seed: 0,
            checkpoint: None,
            resume: None,
        }
    }
}

// scBasset trains its small head and adapters faster than scooby does Borzoi's.
const _: () = assert!(SCBASSET.lr_cells > SCOOBY.lr_cells && SCBASSET.lr_adapters > SCOOBY.lr_adapters);

#[cfg(test)]
mod tests {
    use super::*;

    /// The option docs state each family's values as the table holds them.
    #[test]
    fn the_docs_name_each_familys_learning_rates() {
        let fmt = |x: f64| if x >= 1e-2 { format!("{x}") } else { format!("{x:e}") };
        let sc = SCBASSET;
        let head = format!("scBasset {} for head \"cells\", {} for \"decoder\"", fmt(sc.lr_cells), fmt(sc.lr_decoder));
        assert!(LR_HEAD_DOC.contains(&head), "{LR_HEAD_DOC} vs {head}");
        assert_eq!(SCOOBY.lr_cells, SCOOBY.lr_decoder);
        assert!(LR_HEAD_DOC.contains(&format!("scooby {})", fmt(SCOOBY.lr_cells))), "{LR_HEAD_DOC} vs {SCOOBY:?}");
        for (name, d) in [("scBasset", SCBASSET), ("scooby", SCOOBY)] {
            assert!(LR_ADAPTERS_DOC.contains(&format!("{name} {}", fmt(d.lr_adapters))), "{LR_ADAPTERS_DOC} vs {d:?}");
            assert!(WEIGHT_DECAY_DOC.contains(&fmt(d.weight_decay)) && d.warmup_steps.is_none(), "{d:?}");
        }
        for head in [HeadKind::Cells, HeadKind::Decoder] {
            let c = FineTuneConfig::for_family(ModelFamily::ScBasset, head);
            let d = FineTuneDefaults::of(ModelFamily::ScBasset);
            assert_eq!(
                (c.lr_head, c.lr_adapters, c.weight_decay, c.warmup_steps),
                (d.lr_head(head), d.lr_adapters, d.weight_decay, d.warmup_steps)
            );
        }
    }
}
