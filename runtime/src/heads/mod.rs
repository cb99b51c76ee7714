//! Heads: the read-out from a sequence embedding `z` `(B, D)` to per-cell outputs, each its own module.
//!
//! - [`cells`]: scBasset's per-cell linear layer, `z·W + b` (the cell embeddings are `Wᵀ`).
//! - [`batch`]: scBasset-BC's batch path, added to the cell layer's logits.
//! - [`decoder`]: scooby's cell-state decoder, an MLP from each cell's state embedding to its read-out.
//!
//! A profile head (per-position outputs over a window, for Borzoi/scooby) implements the same idea over `(B, P, D)`
//! embeddings and goes here too.

pub mod batch;
pub mod cells;
pub mod decoder;

use tch::Tensor;

pub use batch::BatchHead;
pub use cells::CellLayer;
pub use decoder::{CellStateDecoder, DecoderConfig, DecoderHead};

/// A head producing one logit per cell from a sequence embedding.
pub trait CellHead {
    /// Number of cells the head reads out.
    fn n_cells(&self) -> usize;
    /// Logits `(B, n_cells)` from `z` `(B, D)`; `train` enables dropout where the head has it.
    fn logits(&self, z: &Tensor, train: bool) -> Tensor;
    /// Logits `(B, m)` for the cells `cells` `(m)` (Int64 indices, repeats allowed); by default a column gather of
    /// [`logits`](CellHead::logits). Heads whose cost grows with the cells (the decoder) compute only these.
    fn logits_for(&self, z: &Tensor, cells: &Tensor, train: bool) -> Tensor {
        self.logits(z, train).index_select(1, cells)
    }
    /// The head's trainable tensors by name.
    fn parameters(&self) -> Vec<(String, Tensor)>;
}
