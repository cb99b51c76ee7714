//! scBasset's final dense layer as a head (Yuan & Kelley 2022, Methods; calico/scBasset `scbasset/utils.py`
//! `make_model`: `Dense(n_cells)` on the bottleneck, sigmoid): logits `z·W + b`, with `W` `(D, n_cells)` in Keras' kernel
//! layout. The columns of `W` are the cell embeddings (`get_cell_embedding`), `b` the intercepts.

use tch::{nn, Kind, Tensor};

use super::CellHead;

/// The per-cell linear read-out; variables `cell_embedding` `(D, n_cells)` and `cell_bias` `(n_cells)` under the
/// model's path.
#[derive(Debug)]
pub struct CellLayer {
    /// `W`, `(D, n_cells)`.
    pub kernel: Tensor,
    /// `b`, `(n_cells)`.
    pub bias: Tensor,
}

impl CellLayer {
    /// Adds the layer's variables under `path`, with the given initial kernel and a zero bias.
    pub fn new(path: &nn::Path, kernel: Tensor) -> Self {
        let n = kernel.size()[1];
        let device = path.device();
        let kernel = path.add("cell_embedding", kernel, true);
        let bias = path.add("cell_bias", Tensor::zeros([n], (Kind::Float, device)), true);
        CellLayer { kernel, bias }
    }

    /// Cell embeddings `(n_cells, D)`, detached.
    pub fn embeddings(&self) -> Tensor {
        self.kernel.detach().tr()
    }
}

impl CellHead for CellLayer {
    fn n_cells(&self) -> usize {
        self.bias.size()[0] as usize
    }

    fn logits(&self, z: &Tensor, _train: bool) -> Tensor {
        self.bias.addmm(z, &self.kernel)
    }

    fn logits_for(&self, z: &Tensor, cells: &Tensor, _train: bool) -> Tensor {
        self.bias.index_select(0, cells).addmm(z, &self.kernel.index_select(1, cells))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("cell_embedding".into(), self.kernel.shallow_clone()), ("cell_bias".into(), self.bias.shallow_clone())]
    }
}
