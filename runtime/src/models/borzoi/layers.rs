//! Borzoi's building blocks (borzoi-pytorch `pytorch_borzoi_model.py`: `ConvDna`, `ConvBlock` standard and separable;
//! `nn.Linear`, `nn.LayerNorm`), each computing in the model's precision. Variables are named as in the PyTorch
//! state dict (`norm.*`, `conv_layer.*`, `conv_layer.{0,1}.*`), so that a checkpoint's keys are the variable names.

use gscript_dist::ProcessGroup;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use crate::adapters::Lora;
use crate::models::ModelError;

/// Batch-norm epsilon of every `ConvBlock` (`nn.BatchNorm1d(eps = 0.001)`).
pub const BN_EPS: f64 = 1e-3;
/// Batch-norm momentum (PyTorch's default 0.1).
pub const BN_MOMENTUM: f64 = 0.1;
/// Layer-norm epsilon of the transformer blocks.
pub const LN_EPS: f64 = 1e-3;

/// How fresh variables are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// borzoi-pytorch's `_init_weights`: Xavier-normal convolution and linear weights, zero biases, unit norms.
    Random,
    /// Zeros everywhere (fast; the weights are about to be overwritten by an import).
    Zeros,
}

/// `w` in `kind` (no copy when it already is).
pub fn cast(w: &Tensor, kind: Kind) -> Tensor {
    if w.kind() == kind {
        w.shallow_clone()
    } else {
        w.to_kind(kind)
    }
}

fn xavier(path: &nn::Path, name: &str, dims: &[i64], fan_in: i64, fan_out: i64, init: Init) -> Tensor {
    let std = (2.0 / (fan_in + fan_out) as f64).sqrt();
    match init {
        Init::Random => path.var(name, dims, nn::Init::Randn { mean: 0.0, stdev: std }),
        Init::Zeros => path.zeros(name, dims),
    }
}

/// A 1-d convolution with "same" padding (odd kernels) and optional bias.
#[derive(Debug)]
pub struct Conv1d {
    /// `(C_out, C_in / groups, k)`.
    pub weight: Tensor,
    /// `(C_out)`, if any.
    pub bias: Option<Tensor>,
    /// Channel groups (depthwise: `C_in`).
    pub groups: i64,
    /// A LoRA adapter (scooby), applied in the forward pass while unmerged.
    pub lora: Option<Lora>,
}

impl Conv1d {
    /// `c_in → c_out` with an odd `kernel` under `path` (`weight`, `bias`).
    pub fn new(
        path: &nn::Path,
        c_in: usize,
        c_out: usize,
        kernel: usize,
        groups: usize,
        bias: bool,
        init: Init,
    ) -> Self {
        let (ci, co, k, g) = (c_in as i64, c_out as i64, kernel as i64, groups as i64);
        let weight = xavier(path, "weight", &[co, ci / g, k], ci / g * k, co * k, init);
        let bias = bias.then(|| path.zeros("bias", &[co]));
        Conv1d { weight, bias, groups: g, lora: None }
    }

    /// `(B, C_in, L)` → `(B, C_out, L)` computed in `kind`.
    pub fn forward(&self, x: &Tensor, kind: Kind) -> Tensor {
        let k = self.weight.size()[2];
        let w = cast(&self.weight, kind);
        let b = self.bias.as_ref().map(|b| cast(b, kind));
        let x = cast(x, kind);
        let y = x.conv1d(&w, b.as_ref(), [1], [k / 2], [1], self.groups);
        match self.lora.as_ref().filter(|l| !l.merged) {
            Some(l) => y + l.apply_conv(&x, k / 2, kind),
            None => y,
        }
    }
}

/// A dense layer `y = x Wᵀ + b` over the last dimension.
#[derive(Debug)]
pub struct Linear {
    /// `(out, in)`.
    pub weight: Tensor,
    /// `(out)`, if any.
    pub bias: Option<Tensor>,
    /// A LoRA adapter (scooby), applied in the forward pass while unmerged.
    pub lora: Option<Lora>,
}

impl Linear {
    /// `d_in → d_out` under `path`.
    pub fn new(path: &nn::Path, d_in: usize, d_out: usize, bias: bool, init: Init) -> Self {
        let weight = xavier(path, "weight", &[d_out as i64, d_in as i64], d_in as i64, d_out as i64, init);
        let bias = bias.then(|| path.zeros("bias", &[d_out as i64]));
        Linear { weight, bias, lora: None }
    }

    /// Applies the layer in `kind`.
    pub fn forward(&self, x: &Tensor, kind: Kind) -> Tensor {
        let b = self.bias.as_ref().map(|b| cast(b, kind));
        let x = cast(x, kind);
        let y = x.linear(&cast(&self.weight, kind), b.as_ref());
        match self.lora.as_ref().filter(|l| !l.merged) {
            Some(l) => y + l.apply_linear(&x, kind),
            None => y,
        }
    }
}

/// Layer norm over the last dimension, computed in fp32 (the result is fp32).
#[derive(Debug)]
pub struct LayerNorm {
    /// Scale `(d)`.
    pub weight: Tensor,
    /// Shift `(d)`.
    pub bias: Tensor,
}

impl LayerNorm {
    /// Over `d` features under `path`.
    pub fn new(path: &nn::Path, d: usize) -> Self {
        LayerNorm { weight: path.ones("weight", &[d as i64]), bias: path.zeros("bias", &[d as i64]) }
    }

    /// Normalises `x` (any float kind) in fp32.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let d = self.weight.size()[0];
        cast(x, Kind::Float).layer_norm([d], Some(&self.weight), Some(&self.bias), LN_EPS, true)
    }
}

/// borzoi's pre-activation `ConvBlock`: BatchNorm1d → GELU (tanh) → Conv1d ("same", bias).
#[derive(Debug)]
pub struct ConvBlock {
    /// `norm`: fp32 affine parameters and moving statistics.
    pub norm: nn::BatchNorm,
    /// `conv_layer`.
    pub conv: Conv1d,
}

impl ConvBlock {
    /// `c_in → c_out` with an odd `kernel` under `path`.
    pub fn new(path: &nn::Path, c_in: usize, c_out: usize, kernel: usize, init: Init) -> Self {
        let config = nn::BatchNormConfig {
            cudnn_enabled: true,
            eps: BN_EPS,
            momentum: BN_MOMENTUM,
            affine: true,
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
        };
        ConvBlock {
            norm: nn::batch_norm1d(path.sub("norm"), c_in as i64, config),
            conv: Conv1d::new(&path.sub("conv_layer"), c_in, c_out, kernel, 1, true, init),
        }
    }

    /// `(B, C_in, L)` → `(B, C_out, L)`: batch norm (batch statistics when `train`) in fp32 accumulation, GELU and the
    /// convolution in `kind`.
    pub fn forward(&self, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        self.activate(self.norm.forward_t(&cast(x, kind), train), kind)
    }

    /// [`forward`](ConvBlock::forward) with the batch statistics of every rank of `group` in training mode
    /// (synchronised batch norm, [`ProcessGroup::sync_batch_norm`]); plain batch norm without a group or outside
    /// training. Every rank must run the same blocks in the same order.
    pub fn forward_synced(
        &self,
        x: &Tensor,
        train: bool,
        kind: Kind,
        group: Option<&ProcessGroup>,
    ) -> Result<Tensor, ModelError> {
        let Some(group) = group.filter(|g| train && g.world() > 1) else { return Ok(self.forward(x, train, kind)) };
        let n = &self.norm;
        let (Some(w), Some(b)) = (n.ws.as_ref(), n.bs.as_ref()) else {
            return Err(ModelError::Collective("the batch norm has no affine weight and bias".into()));
        };
        let h = group
            .sync_batch_norm(&cast(x, kind), w, b, &n.running_mean, &n.running_var, BN_MOMENTUM, BN_EPS)
            .map_err(|e| ModelError::Collective(e.to_string()))?;
        Ok(self.activate(h, kind))
    }

    /// GELU and the convolution after the batch norm.
    fn activate(&self, mut h: Tensor, kind: Kind) -> Tensor {
        // in place when nothing needs the batch norm's output for a backward pass
        let h = if h.requires_grad() {
            h.gelu("tanh")
        } else {
            let _ = h.gelu_("tanh");
            h
        };
        self.conv.forward(&h, kind)
    }
}

/// `conv(act(x))` (+ max-pool by 2) over length chunks of `chunk` positions, each read with the kernel's halo and
/// written into one preallocated output: the same numbers as the whole-length computation without the full-length
/// temporaries (the activation and the unpooled convolution). For inference only: the activation is computed in place.
/// `norm`: the block's batch norm (then GELU) before the convolution, or none (the stem). `chunk` must be even.
pub fn chunked_conv(
    x: &Tensor,
    norm: Option<&nn::BatchNorm>,
    conv: &Conv1d,
    pool: bool,
    kind: Kind,
    chunk: i64,
) -> Tensor {
    let (b, l) = (x.size()[0], x.size()[2]);
    let (c_out, k) = (conv.weight.size()[0], conv.weight.size()[2]);
    let h = k / 2;
    let w = cast(&conv.weight, kind);
    let bias = conv.bias.as_ref().map(|t| cast(t, kind));
    let out_len = if pool { l / 2 } else { l };
    let out = Tensor::empty([b, c_out, out_len], (kind, x.device()));
    let mut a = 0;
    while a < l {
        let e = (a + chunk).min(l);
        let (lo, hi) = ((a - h).max(0), (e + h).min(l));
        let mut y = cast(&x.narrow(2, lo, hi - lo), kind);
        if let Some(bn) = norm {
            y = bn.forward_t(&y, false);
            let _ = y.gelu_("tanh");
        }
        let (pad_left, pad_right) = (h - (a - lo), h - (hi - e));
        if pad_left > 0 || pad_right > 0 {
            y = y.constant_pad_nd([pad_left, pad_right]);
        }
        let mut z = y.conv1d(&w, bias.as_ref(), [1], [0], [1], conv.groups);
        if let Some(l) = conv.lora.as_ref().filter(|l| !l.merged) {
            // the input chunk is already padded by the halo
            z += l.apply_conv(&y, 0, kind);
        }
        drop(y);
        if pool {
            z = pool2(&z);
        }
        let (at, n) = if pool { (a / 2, z.size()[2]) } else { (a, e - a) };
        out.narrow(2, at, n).copy_(&z);
        a = e;
    }
    out
}

/// The separable block: a depthwise Conv1d (k 3, no bias) then a pointwise Conv1d (k 1, bias); no norm, no activation.
#[derive(Debug)]
pub struct Separable {
    /// `conv_layer.0`.
    pub depthwise: Conv1d,
    /// `conv_layer.1`.
    pub pointwise: Conv1d,
}

impl Separable {
    /// Over `c` channels under `path`.
    pub fn new(path: &nn::Path, c: usize, init: Init) -> Self {
        let conv = path.sub("conv_layer");
        Separable {
            depthwise: Conv1d::new(&conv.sub("0"), c, c, 3, c, false, init),
            pointwise: Conv1d::new(&conv.sub("1"), c, c, 1, 1, true, init),
        }
    }

    /// `(B, C, L)` → `(B, C, L)` in `kind`.
    pub fn forward(&self, x: &Tensor, kind: Kind) -> Tensor {
        self.pointwise.forward(&self.depthwise.forward(x, kind), kind)
    }
}

/// Max-pool by 2 (`nn.MaxPool1d(2)`; an odd last position is dropped).
pub fn pool2(x: &Tensor) -> Tensor {
    crate::models::pool::max_pool(x, 2, 0)
}

/// Nearest-neighbour upsampling by 2 along the last dimension.
pub fn upsample2(x: &Tensor) -> Tensor {
    x.repeat_interleave_self_int(2, Some(-1), None)
}

/// Dropout with probability `p` when `train`.
pub fn dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if train && p > 0.0 {
        x.dropout(p, true)
    } else {
        x.shallow_clone()
    }
}
