//! Per-cell profile models (scooby, Hingerl et al. 2024): a sequence trunk gives an embedding per output bin, and a
//! per-cell read-out — a 1×1 convolution whose weights and bias come from each cell's state embedding — turns it into
//! `T` coverage tracks per cell (e.g. RNA +, RNA −, ATAC). Training ([`crate::train`]), prediction and the
//! downstream analyses see a profile model only through [`CellProfileModel`].
//!
//! Shapes: one-hot `(B, 4, seq_len)` → embedding `(B, D, bins)` → for `m` cells per sequence, outputs
//! `(B, bins, m·T)` with channel `cell·T + t` (scooby's `forward_sequence_w_convs` layout), non-negative (softplus),
//! fp32, in the model's target space (scooby's squashed RNA scale and ATAC × 0.05).

use tch::{Device, Kind, Tensor};

use crate::models::borzoi::TrunkBackward;

/// A model predicting per-cell, per-track coverage profiles from sequence and cell-state embeddings.
pub trait CellProfileModel {
    /// Where the tensors live.
    fn device(&self) -> Device;
    /// Input length in bases.
    fn seq_len(&self) -> usize;
    /// Output bins per sequence.
    fn bins(&self) -> usize;
    /// Bases per output bin (32 for Borzoi); the bins cover the central `bins · bin_size` bases of the input.
    fn bin_size(&self) -> usize;
    /// Tracks per cell (T).
    fn n_tracks(&self) -> usize;
    /// Width of a cell-state embedding (E).
    fn state_dim(&self) -> usize;
    /// Width of the sequence embedding per bin (D).
    fn embedding_dim(&self) -> usize;
    /// The cacheable, cell-independent part: `(B, 4, seq_len)` fp32 one-hot → `(B, D, bins)` fp32.
    fn embed(&self, onehot: &Tensor, train: bool) -> Tensor;
    /// [`embed`](CellProfileModel::embed) with errors (e.g. a failed collective of synchronised batch norm) instead
    /// of panics.
    fn try_embed(&self, onehot: &Tensor, train: bool) -> Result<Tensor, crate::models::ModelError> {
        Ok(self.embed(onehot, train))
    }
    /// Per-cell read-out from cell states `(m, E)`: weights `(m·T, D)` and biases `(m·T)`, row `cell·T + t`.
    fn cell_readout(&self, states: &Tensor, train: bool) -> (Tensor, Tensor);

    /// Applies read-outs to embeddings: `emb` `(B, D, bins)`, `w` `(B, n, D)` or `(n, D)`, `b` `(B, n)` or `(n)` →
    /// softplus outputs `(B, bins, n)` in fp32 (scooby computes softplus and the loss in fp32).
    fn decode(&self, emb: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
        let emb = emb.to_kind(Kind::Float);
        let (w, b) = (w.to_kind(Kind::Float), b.to_kind(Kind::Float));
        let logits = if w.dim() == 2 { w.matmul(&emb) + b.view([1, -1, 1]) } else { w.bmm(&emb) + b.unsqueeze(-1) };
        logits.softplus().permute([0, 2, 1])
    }

    /// The whole model: one-hot `(B, 4, seq_len)` and cell states `(B, m, E)` (each sequence its own cells) →
    /// `(B, bins, m·T)`.
    fn forward(&self, onehot: &Tensor, states: &Tensor, train: bool) -> Tensor {
        let emb = self.embed(onehot, train);
        self.forward_embedded(&emb, states, train)
    }

    /// [`forward`](CellProfileModel::forward) with the embedding's errors instead of panics.
    fn try_forward(&self, onehot: &Tensor, states: &Tensor, train: bool) -> Result<Tensor, crate::models::ModelError> {
        let emb = self.try_embed(onehot, train)?;
        Ok(self.forward_embedded(&emb, states, train))
    }

    /// [`try_forward`](CellProfileModel::try_forward) for a training step with the trunk's activations checkpointed
    /// ([`crate::models::borzoi::network::checkpoint`]): the prediction and, when the trunk has something to
    /// recompute, the rest of the backward pass, to [`run`](TrunkBackward::run) after the loss's backward pass.
    /// Models without a checkpointed trunk forward as usual and return no continuation.
    fn try_forward_checkpointed(
        &self,
        onehot: &Tensor,
        states: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Option<TrunkBackward<'_>>), crate::models::ModelError> {
        Ok((self.try_forward(onehot, states, train)?, None))
    }

    /// The read-out part of [`forward`](CellProfileModel::forward) on an embedding `(B, D, bins)`.
    fn forward_embedded(&self, emb: &Tensor, states: &Tensor, train: bool) -> Tensor {
        let (bsz, m) = (states.size()[0], states.size()[1]);
        let (w, b) = self.cell_readout(&states.reshape([bsz * m, -1]), train);
        let d = w.size()[1];
        self.decode(emb, &w.reshape([bsz, -1, d]), &b.reshape([bsz, -1]))
    }
}
