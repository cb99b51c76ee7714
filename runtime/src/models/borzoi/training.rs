//! How a Borzoi trunk behaves in training mode for the length of one training run: batch norm with the batch
//! statistics of every rank of a process group (synchronised batch norm, as PyTorch's `SyncBatchNorm`; scooby trains
//! with it) and whether dropout is active. A trainer sets them through [`Borzoi::set_training`] (or a guard that
//! resets them, e.g. `Scooby::training`), so nothing carries over to the next run; outside training mode (`train =
//! false`) neither matters.

use std::sync::Arc;

use gscript_dist::ProcessGroup;

/// Training-mode settings of a Borzoi trunk (default: per-process batch statistics, dropout on).
#[derive(Clone, Debug)]
pub struct TrunkTraining {
    /// Batch norms use the statistics of the global batch over this group (a world of 1 is plain batch norm).
    pub batch_norm_group: Option<Arc<ProcessGroup>>,
    /// Dropout layers are active in training mode (false: batch statistics without dropout).
    pub dropout: bool,
}

impl Default for TrunkTraining {
    fn default() -> Self {
        TrunkTraining { batch_norm_group: None, dropout: true }
    }
}

impl TrunkTraining {
    /// The group synchronised batch norm runs over, if any and of more than one rank.
    pub fn sync_group(&self) -> Option<&ProcessGroup> {
        self.batch_norm_group.as_deref().filter(|g| g.world() > 1)
    }

    /// Whether dropout is active in a forward pass with `train`.
    pub fn dropout_on(&self, train: bool) -> bool {
        train && self.dropout
    }
}
