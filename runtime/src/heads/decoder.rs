//! The cell-state decoder of scooby (`Scooby.cell_state_to_conv`, gagneurlab/scooby `scooby/modeling/scooby.py`): an
//! MLP from a cell's state embedding (E dims: PCA/LSI of the peak matrix, or any obsm entry) to the weights and bias of
//! that cell's read-out of the sequence embedding, `E → 128 → 256 → 1024 → D + 1` with exact GELU and dropout after the
//! second and third hidden layers. Logits for a batch of sequences and a set of cells are one matmul: `z·W_cᵀ + b_c`.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::CellHead;
use crate::error::{Result, RuntimeError};

/// Decoder shape.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DecoderConfig {
    /// Width of the cell-state embedding (E).
    pub input: usize,
    /// Hidden widths (scooby: 128, 256, 1024).
    pub hidden: Vec<usize>,
    /// Width of the sequence embedding the decoder reads out (D); the output is D + 1.
    pub output: usize,
    /// Dropout after every hidden layer but the first (scooby: 0.2).
    pub dropout: f64,
}

impl DecoderConfig {
    pub fn scooby(input: usize, output: usize) -> Self {
        DecoderConfig { input, hidden: vec![128, 256, 1024], output, dropout: 0.2 }
    }
}

/// The MLP; variables `layer{i}.weight`, `layer{i}.bias` under its path.
#[derive(Debug)]
pub struct CellStateDecoder {
    pub config: DecoderConfig,
    layers: Vec<nn::Linear>,
}

impl CellStateDecoder {
    /// Linear layers with libtorch's default initialisation (kaiming-uniform weights, uniform biases).
    pub fn new(path: &nn::Path, config: &DecoderConfig) -> Result<Self> {
        if config.input == 0 || config.output == 0 || config.hidden.contains(&0) {
            return Err(RuntimeError::invalid("decoder", "every layer needs at least one unit"));
        }
        let mut dims = vec![config.input];
        dims.extend(&config.hidden);
        dims.push(config.output + 1);
        let layers = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| nn::linear(path.sub(format!("layer{i}")), w[0] as i64, w[1] as i64, Default::default()))
            .collect();
        Ok(CellStateDecoder { config: config.clone(), layers })
    }

    /// `(m, E)` cell states → `(m, D + 1)`: per-cell weights (first D) and bias (last).
    pub fn forward_t(&self, states: &Tensor, train: bool) -> Tensor {
        let last = self.layers.len() - 1;
        let mut x = states.to_kind(Kind::Float);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x);
            if i < last {
                x = x.gelu("none");
                if i >= 1 {
                    x = x.dropout(self.config.dropout, train);
                }
            }
        }
        x
    }

    /// Logits `(B, m)` of sequence embeddings `z` `(B, D)` for cells with states `(m, E)`.
    pub fn logits(&self, z: &Tensor, states: &Tensor, train: bool) -> Tensor {
        let wb = self.forward_t(states, train);
        let d = self.config.output as i64;
        z.matmul(&wb.narrow(1, 0, d).tr()) + wb.select(1, d).unsqueeze(0)
    }

    /// The read-out for many cells in evaluation mode, in chunks: kernel `(D, n)` and bias `(n)`.
    pub fn readout(&self, states: &Tensor) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let n = states.size()[0];
            let d = self.config.output as i64;
            let parts: Vec<Tensor> = (0..n)
                .step_by(65536)
                .map(|s| self.forward_t(&states.narrow(0, s, (n - s).min(65536)), false))
                .collect();
            let wb = Tensor::cat(&parts, 0);
            (wb.narrow(1, 0, d).tr().contiguous(), wb.select(1, d).contiguous())
        })
    }

    /// The trainable tensors by name (`layer{i}.weight`, `layer{i}.bias`).
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            out.push((format!("layer{i}.weight"), l.ws.shallow_clone()));
            if let Some(b) = &l.bs {
                out.push((format!("layer{i}.bias"), b.shallow_clone()));
            }
        }
        out
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.ws.numel() + l.bs.as_ref().map_or(0, |b| b.numel())).sum()
    }
}

/// The decoder as a [`CellHead`] over a fixed set of cells: their (standardised) state embeddings `(n_cells, E)` on
/// the model's device.
pub struct DecoderHead<'a> {
    /// The MLP.
    pub decoder: &'a CellStateDecoder,
    /// One state embedding per cell.
    pub states: &'a Tensor,
}

impl CellHead for DecoderHead<'_> {
    fn n_cells(&self) -> usize {
        self.states.size()[0] as usize
    }

    fn logits(&self, z: &Tensor, train: bool) -> Tensor {
        if train {
            self.decoder.logits(z, self.states, true)
        } else {
            let (w, b) = self.decoder.readout(self.states);
            z.matmul(&w) + b.unsqueeze(0)
        }
    }

    fn logits_for(&self, z: &Tensor, cells: &Tensor, train: bool) -> Tensor {
        self.decoder.logits(z, &self.states.index_select(0, cells), train)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.decoder.parameters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn shapes_counts_and_batched_logits() {
        let vs = nn::VarStore::new(Device::Cpu);
        let dec = CellStateDecoder::new(&vs.root(), &DecoderConfig::scooby(14, 1920)).unwrap();
        // scooby's E14, T = 1 decoder: 14·128+128 + 128·256+256 + 256·1024+1024 + 1024·1921+1921
        assert_eq!(dec.parameter_count(), 14 * 128 + 128 + 128 * 256 + 256 + 256 * 1024 + 1024 + 1024 * 1921 + 1921);
        let vs = nn::VarStore::new(Device::Cpu);
        let dec = CellStateDecoder::new(&vs.root(), &DecoderConfig::scooby(5, 8)).unwrap();
        let states = Tensor::randn([7, 5], (Kind::Float, Device::Cpu));
        let z = Tensor::randn([3, 8], (Kind::Float, Device::Cpu));
        let l = dec.logits(&z, &states, false);
        let (w, b) = dec.readout(&states);
        let direct = z.matmul(&w) + b.unsqueeze(0);
        assert_eq!(l.size(), [3, 7]);
        assert!(f64::try_from((l - direct).abs().max()).unwrap() < 1e-5);
    }
}
