//! The batch-correction path of scBasset-BC (Yuan & Kelley 2022, "scBasset-BC"; calico/scBasset
//! `scbasset/utils.py` `make_model_bc`): a second dense layer from `z` to the batches, whose output is added to the
//! logits of every cell of that batch, `logits += (z·W2 + b2) @ B` with `B` the batch × cell one-hot matrix —
//! evaluated as a column gather so nothing larger than `B × n_cells` is formed.

use tch::{nn, Kind, Tensor};

/// The batch path; variables `batch_embedding` `(D, n_batches)` and `batch_bias` `(n_batches)`.
#[derive(Debug)]
pub struct BatchHead {
    /// W2, `(bottleneck, n_batches)` (Keras kernel layout).
    pub embedding: Tensor,
    /// b2, `(n_batches)`.
    pub bias: Tensor,
    /// Batch index of every cell, `(n_cells)` Int64 on the model's device.
    pub cell_batch: Tensor,
}

impl BatchHead {
    /// Adds the path's variables under `path`, both zero (see docs/fidelity.md: the original's random kernel is a
    /// per-batch offset the cell path learns to cancel).
    pub fn new(path: &nn::Path, dim: usize, n_batches: usize, cell_batch: &[usize]) -> Self {
        let device = path.device();
        let (d, k) = (dim as i64, n_batches as i64);
        BatchHead {
            embedding: path.add("batch_embedding", Tensor::zeros([d, k], (Kind::Float, device)), true),
            bias: path.add("batch_bias", Tensor::zeros([k], (Kind::Float, device)), true),
            cell_batch: Tensor::from_slice(&cell_batch.iter().map(|&b| b as i64).collect::<Vec<_>>()).to_device(device),
        }
    }

    /// The per-cell contribution `(B, n_cells)` of the batch path for `z` `(B, D)`.
    pub fn logits(&self, z: &Tensor) -> Tensor {
        self.bias.addmm(z, &self.embedding).index_select(1, &self.cell_batch)
    }

    /// The trainable tensors by name.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("batch_embedding".into(), self.embedding.shallow_clone()),
            ("batch_bias".into(), self.bias.shallow_clone()),
        ]
    }
}
