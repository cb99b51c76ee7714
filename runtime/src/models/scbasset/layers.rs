//! Building blocks of scBasset (`GELU`, `conv_block`, `dense_block` in calico/scBasset `scbasset/basenji_utils.py`):
//! the sigmoid GELU, Keras initialisers, the pre-activation convolution block and the dense bottleneck block, each able
//! to run its matrix products in bfloat16 while keeping fp32 weights.

use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

use crate::adapters::Lora;

/// Batch-norm epsilon: Keras' `BatchNormalization` default, which calico/scBasset's `conv_block` and `dense_block`
/// (`scbasset/basenji_utils.py`) keep.
pub const BN_EPS: f64 = 1e-3;
/// Batch-norm momentum in the torch convention: `running = 0.9·running + 0.1·batch` (Keras momentum 0.9).
pub const BN_MOMENTUM: f64 = 0.1;
/// Keras `VarianceScaling` divides the standard deviation by this constant so that the normal truncated at ±2σ
/// has the requested variance.
const TRUNCATED_NORMAL_STD_CORRECTION: f64 = 0.879_625_661_034_239_8;

pub use crate::models::precision::Precision;

/// scBasset's GELU: `x · sigmoid(1.702·x)` (the sigmoid approximation; not libtorch's erf or tanh GELU).
pub fn gelu(x: &Tensor) -> Tensor {
    x * (x * 1.702).sigmoid()
}

/// Samples N(0, stddev²) truncated to ±2·stddev by redrawing the entries outside, like TensorFlow's
/// `truncated_normal`. Uses the libtorch generator (seed it with `tch::manual_seed`).
pub fn truncated_normal(dims: &[i64], stddev: f64, device: Device) -> Tensor {
    tch::no_grad(|| {
        let mut x = Tensor::randn(dims, (Kind::Float, device));
        loop {
            let outside = x.abs().gt(2.0);
            if outside.any().int64_value(&[]) == 0 {
                break;
            }
            x = x.where_self(&outside.logical_not(), &Tensor::randn(dims, (Kind::Float, device)));
        }
        x * stddev
    })
}

/// Keras `he_normal`: VarianceScaling(scale 2, fan_in, truncated normal), i.e. a ±2σ truncated normal with
/// σ = √(2/fan_in) / 0.8796.
pub fn he_normal(dims: &[i64], fan_in: usize, device: Device) -> Tensor {
    truncated_normal(dims, (2.0 / fan_in as f64).sqrt() / TRUNCATED_NORMAL_STD_CORRECTION, device)
}

/// Keras `glorot_uniform`: U(−l, l) with l = √(6/(fan_in + fan_out)).
pub fn glorot_uniform(dims: &[i64], fan_in: usize, fan_out: usize, device: Device) -> Tensor {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    tch::no_grad(|| Tensor::zeros(dims, (Kind::Float, device)).uniform_(-limit, limit))
}

fn batch_norm(path: &nn::Path, dim: i64) -> nn::BatchNorm {
    let config = nn::BatchNormConfig {
        cudnn_enabled: true,
        eps: BN_EPS,
        momentum: BN_MOMENTUM,
        affine: true,
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
    };
    nn::batch_norm1d(path, dim, config)
}

/// `conv_block` of basenji: GELU → Conv1d ("same" padding, no bias, he_normal) → BatchNorm → MaxPool.
/// Variables under its path: `conv.weight` `(C_out, C_in, k)`, `bn.{weight, bias, running_mean, running_var}`.
#[derive(Debug)]
pub struct ConvBlock {
    /// Convolution kernel, `(C_out, C_in, k)` (torch layout).
    pub weight: Tensor,
    /// Batch norm over the `C_out` channels.
    pub bn: nn::BatchNorm,
    /// Max-pool size and stride (1: no pooling).
    pub pool: i64,
    /// Max-pool padding (scvi stem only).
    pub pool_padding: i64,
    /// Low-rank adapter (fine-tuning), if any.
    pub lora: Option<Lora>,
}

impl ConvBlock {
    /// A block with `c_in → c_out` channels, an odd `kernel`, pooling `pool` (1 = none) with `pool_padding`.
    pub fn new(path: &nn::Path, c_in: usize, c_out: usize, kernel: usize, pool: usize, pool_padding: usize) -> Self {
        let dims = [c_out as i64, c_in as i64, kernel as i64];
        let weight = path.sub("conv").add("weight", he_normal(&dims, kernel * c_in, path.device()), true);
        ConvBlock {
            weight,
            bn: batch_norm(&path.sub("bn"), c_out as i64),
            pool: pool as i64,
            pool_padding: pool_padding as i64,
            lora: None,
        }
    }

    /// Output channels.
    pub fn out_channels(&self) -> i64 {
        self.weight.size()[0]
    }

    /// `(B, C_in, L)` → `(B, C_out, L/pool)`, fp32 for [`Precision::F32`], bf16 for [`Precision::Bf16`] (any input
    /// kind is accepted).
    pub fn forward_t(&self, x: &Tensor, train: bool, precision: Precision) -> Tensor {
        self.norm_pool_t(&self.conv_t(x, precision), train)
    }

    /// The block after its convolution ([`conv_t`](Self::conv_t)'s output): batch norm, then max-pool.
    pub fn norm_pool_t(&self, conv: &Tensor, train: bool) -> Tensor {
        // Bf16: libtorch's mixed batch norm takes the bf16 activations with the fp32 gamma/beta/moving statistics and
        // accumulates the statistics in fp32; its output stays bf16 through the pooling and the next block.
        let h = self.bn.forward_t(conv, train);
        crate::models::pool::max_pool(&h, self.pool, self.pool_padding)
    }

    /// The block's convolution before the batch norm: GELU, then the "same"-padded convolution (and the adapter).
    pub fn conv_t(&self, x: &Tensor, precision: Precision) -> Tensor {
        let kind = precision.compute_kind();
        let k = self.weight.size()[2];
        let h = gelu(&x.to_kind(kind));
        let mut h_out = h.conv1d::<Tensor>(&self.weight.to_kind(kind), None, [1], [k / 2], [1], 1);
        if let Some(l) = self.lora.as_ref().filter(|l| !l.merged) {
            h_out += l.apply_conv(&h, k / 2, kind);
        }
        h_out
    }

    /// Trainable tensors: kernel, BN gamma, BN beta.
    pub fn trainable(&self) -> Vec<Tensor> {
        let mut v = vec![self.weight.shallow_clone()];
        v.extend(self.bn.ws.iter().chain(self.bn.bs.iter()).map(Tensor::shallow_clone));
        v
    }
}

/// `dense_block` of basenji with `flatten=True`: GELU → flatten → Linear (no bias, he_normal) → BatchNorm → Dropout.
/// Variables under its path: `linear.weight` `(units, C·P)`, `bn.…`.
///
/// The flatten is torch's channel-major order of the `(B, C, P)` tower output: input index `c·P + p`. Keras flattens
/// position-major (`p·C + c`); convert Keras kernels with
/// [`bottleneck_kernel_from_keras`](super::keras::bottleneck_kernel_from_keras).
#[derive(Debug)]
pub struct DenseBlock {
    /// Linear weight `(units, C·P)`, columns in channel-major order.
    pub weight: Tensor,
    /// Batch norm over the `units` outputs.
    pub bn: nn::BatchNorm,
    /// Dropout rate (training only).
    pub dropout: f64,
    /// Low-rank adapter (fine-tuning), if any.
    pub lora: Option<Lora>,
}

impl DenseBlock {
    /// A dense block `in_features → units`.
    pub fn new(path: &nn::Path, in_features: usize, units: usize, dropout: f64) -> Self {
        let dims = [units as i64, in_features as i64];
        let weight = path.sub("linear").add("weight", he_normal(&dims, in_features, path.device()), true);
        DenseBlock { weight, bn: batch_norm(&path.sub("bn"), units as i64), dropout, lora: None }
    }

    /// `(B, C, P)` (fp32 or bf16) → `(B, units)` fp32 (before the final GELU); batch norm runs on fp32.
    pub fn forward_t(&self, x: &Tensor, train: bool, precision: Precision) -> Tensor {
        let kind = precision.compute_kind();
        let h = gelu(&x.to_kind(kind)).flatten(1, -1);
        let mut out = h.linear::<Tensor>(&self.weight.to_kind(kind), None);
        if let Some(l) = self.lora.as_ref().filter(|l| !l.merged) {
            out += l.apply_linear(&h, kind);
        }
        let h = out.to_kind(Kind::Float);
        self.bn.forward_t(&h, train).dropout(self.dropout, train)
    }

    /// Trainable tensors: weight, BN gamma, BN beta.
    pub fn trainable(&self) -> Vec<Tensor> {
        let mut v = vec![self.weight.shallow_clone()];
        v.extend(self.bn.ws.iter().chain(self.bn.bs.iter()).map(Tensor::shallow_clone));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_spec_values() {
        let _rng = crate::testing::torch_rng_lock();
        let x = Tensor::from_slice(&[1.0f32, 0.0, 0.25, -1.0]);
        let y: Vec<f32> = Vec::try_from(gelu(&x)).unwrap();
        assert!((y[0] - 0.845796).abs() < 1e-6, "{}", y[0]);
        assert_eq!(y[1], 0.0);
        assert!((y[2] - 0.151200).abs() < 1e-6, "{}", y[2]);
        // the sigmoid form, not erf GELU (−0.158655) nor tanh GELU (−0.158808)
        assert!((y[3] - (-1.0 / (1.0 + 1.702f32.exp()))).abs() < 1e-6, "{}", y[3]);
        let erf = x.gelu("none");
        assert!(f64::try_from((gelu(&x) - erf).abs().max()).unwrap() > 1e-3);
    }

    #[test]
    fn he_normal_is_truncated_with_keras_std() {
        let _rng = crate::testing::torch_rng_lock();
        tch::manual_seed(3);
        let fan_in = 50;
        let t = he_normal(&[200_000], fan_in, Device::Cpu);
        let target = (2.0 / fan_in as f64).sqrt();
        let sigma = target / TRUNCATED_NORMAL_STD_CORRECTION;
        let max = f64::try_from(t.abs().max()).unwrap();
        assert!(max <= 2.0 * sigma + 1e-7 && max > 1.9 * sigma, "max {max}, bound {}", 2.0 * sigma);
        let std = f64::try_from(t.std(true)).unwrap();
        assert!((std - target).abs() / target < 0.01, "std {std} vs {target}");
        let mean = f64::try_from(t.mean(Kind::Float)).unwrap();
        assert!(mean.abs() < 0.01 * target, "mean {mean}");
    }

    #[test]
    fn glorot_uniform_bounds() {
        let _rng = crate::testing::torch_rng_lock();
        tch::manual_seed(4);
        let t = glorot_uniform(&[32, 1000], 32, 1000, Device::Cpu);
        let limit = (6.0f64 / 1032.0).sqrt();
        let max = f64::try_from(t.abs().max()).unwrap();
        assert!(max <= limit && max > 0.99 * limit, "{max} vs {limit}");
    }

    #[test]
    fn seeded_init_is_reproducible() {
        let _rng = crate::testing::torch_rng_lock();
        tch::manual_seed(11);
        let a = he_normal(&[64, 4, 17], 68, Device::Cpu);
        tch::manual_seed(11);
        let b = he_normal(&[64, 4, 17], 68, Device::Cpu);
        assert!(a.equal(&b));
        let c = he_normal(&[64, 4, 17], 68, Device::Cpu);
        assert!(!a.equal(&c));
    }

    #[test]
    fn mixed_bf16_batch_norm_accumulates_in_fp32() {
        let _rng = crate::testing::torch_rng_lock();
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let (bf, fp) = (batch_norm(&vs.root().sub("a"), 6), batch_norm(&vs.root().sub("b"), 6));
        let x = (Tensor::randn([32, 6, 50], (Kind::Float, Device::Cpu)) * 3.0 + 100.0).to_kind(Kind::BFloat16);
        let y_bf = bf.forward_t(&x, true);
        let y_fp = fp.forward_t(&x.to_kind(Kind::Float), true);
        assert_eq!(y_bf.kind(), Kind::BFloat16);
        assert_eq!(bf.running_mean.kind(), Kind::Float);
        // only the output rounding to bf16 differs (2^-8 relative); a bf16 accumulation of values near 100 would not
        // get the mean to within 1e-3
        let out_err = f64::try_from((y_bf.to_kind(Kind::Float) - &y_fp).abs().max()).unwrap();
        assert!(out_err < 0.03, "output error {out_err}");
        let mean_err = f64::try_from((&bf.running_mean - &fp.running_mean).abs().max()).unwrap();
        let var_err = f64::try_from((&bf.running_var - &fp.running_var).abs().max()).unwrap();
        assert!(mean_err < 1e-4 && var_err < 1e-4, "running stats differ by {mean_err}, {var_err}");
    }
}
