//! The two attentions of the Borzoi family.
//!
//! - [`RelativeAttention`]: Borzoi's multi-head attention with Enformer-style relative positions (borzoi-pytorch
//!   `pytorch_borzoi_transformer.py` `Attention`): `q` scaled by `key_dim^-½` before the learned content and position
//!   biases are added; logits = `(q + content_bias)·k + (q + pos_bias)·R[j − i]` where `R` projects the central-mask
//!   features of every distance; the position table is recomputed (it is not stored in checkpoints).
//! - [`RotaryAttention`]: Flashzoi's flash-attn `MHA` (Hingerl et al. 2025): one `Wqkv` projection laid out
//!   `[q | k | v]`, grouped-query attention (query head `i` reads key/value head `i / (heads / kv_heads)`), rotary
//!   position embeddings (non-interleaved, rotate-half) on the first `rotary_dim` dimensions of every query and key
//!   head, softmax scale `head_dim^-½`.
//!
//! Both work one head at a time so that the `n × n` logits of a 4,096-token sequence exist for one head only.

use tch::nn;
use tch::{Device, Kind, Tensor};

use super::config::BorzoiConfig;
use super::layers::{cast, dropout, Init, Linear};

/// The relative-position features of borzoi-pytorch (`get_positional_embed` with the central mask only): for every
/// distance `d = −(n−1) … n−1` the `features / 2` indicators `[wₘ > |d|]`, `wₘ = r^m − 1`, `r = exp(ln(train + 1) /
/// (features / 2))`, `m = 1 … features / 2`, followed by the same times `sign(d)`. `(2n − 1, features)` fp32.
pub fn positional_features(n: usize, train_tokens: usize, features: usize, device: Device) -> Tensor {
    let basis = (features / 2) as i64;
    let n = n as i64;
    let distances = Tensor::arange_start(-n + 1, n, (Kind::Int64, device));
    let pow_rate = ((train_tokens as f64 + 1.0).ln() / basis as f64).exp();
    // torch.pow(python float, int64 arange).float(): computed in fp32
    let exponents = Tensor::arange_start(1, basis + 1, (Kind::Float, device));
    let widths = Tensor::full([basis], pow_rate, (Kind::Float, device)).pow(&exponents) - 1.0;
    let mask = widths.unsqueeze(0).gt_tensor(&distances.abs().to_kind(Kind::Float).unsqueeze(-1)).to_kind(Kind::Float);
    let signed = &mask * distances.sign().to_kind(Kind::Float).unsqueeze(-1);
    Tensor::cat(&[mask, signed], -1)
}

/// Queries per block of the relative attention: logits exist for one head and one block of queries at a time.
const QUERY_BLOCK: i64 = 512;

/// Borzoi's attention (`transformer.{i}.0.fn.1`).
#[derive(Debug)]
pub struct RelativeAttention {
    /// `to_q` (no bias).
    pub to_q: Linear,
    /// `to_k` (no bias).
    pub to_k: Linear,
    /// `to_v` (no bias).
    pub to_v: Linear,
    /// `to_out` (bias).
    pub to_out: Linear,
    /// `to_rel_k`: position features → keys (no bias).
    pub to_rel_k: Linear,
    /// `rel_content_bias` `(1, heads, 1, key_dim)`.
    pub rel_content_bias: Tensor,
    /// `rel_pos_bias` `(1, heads, 1, key_dim)`.
    pub rel_pos_bias: Tensor,
    heads: i64,
    key_dim: i64,
    value_dim: i64,
    attn_dropout: f64,
    pos_dropout: f64,
    pos_train_tokens: usize,
    pos_features: usize,
}

impl RelativeAttention {
    /// Under `path`, shaped by `c`.
    pub fn new(path: &nn::Path, c: &BorzoiConfig, init: Init) -> Self {
        let (h, dk, dv) = (c.heads, c.key_dim, c.value_dim);
        let bias = |name: &str| match init {
            Init::Random => path.randn_standard(name, &[1, h as i64, 1, dk as i64]),
            Init::Zeros => path.zeros(name, &[1, h as i64, 1, dk as i64]),
        };
        RelativeAttention {
            to_q: Linear::new(&path.sub("to_q"), c.dim, dk * h, false, init),
            to_k: Linear::new(&path.sub("to_k"), c.dim, dk * h, false, init),
            to_v: Linear::new(&path.sub("to_v"), c.dim, dv * h, false, init),
            to_out: Linear::new(&path.sub("to_out"), dv * h, c.dim, true, init),
            to_rel_k: Linear::new(&path.sub("to_rel_k"), c.pos_features, dk * h, false, init),
            rel_content_bias: bias("rel_content_bias"),
            rel_pos_bias: bias("rel_pos_bias"),
            heads: h as i64,
            key_dim: dk as i64,
            value_dim: dv as i64,
            attn_dropout: c.attn_dropout,
            pos_dropout: c.pos_dropout,
            pos_train_tokens: c.pos_train_tokens,
            pos_features: c.pos_features,
        }
    }

    /// `(B, n, dim)` → `(B, n, dim)`; products in `kind`, softmax in fp32.
    pub fn forward(&self, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        let (b, n) = (x.size()[0], x.size()[1]);
        let (h, dk, dv) = (self.heads, self.key_dim, self.value_dim);
        let split = |t: Tensor, d: i64| t.view([b, n, h, d]).permute([0, 2, 1, 3]);
        let q = split(self.to_q.forward(x, kind), dk) * (dk as f64).powf(-0.5);
        let k = split(self.to_k.forward(x, kind), dk);
        let v = split(self.to_v.forward(x, kind), dv);
        let positions = positional_features(n as usize, self.pos_train_tokens, self.pos_features, x.device());
        let positions = dropout(&positions, self.pos_dropout, train);
        // (2n − 1, h·dk) → (h, dk, 2n − 1)
        let rel_k = self.to_rel_k.forward(&positions, kind).view([2 * n - 1, h, dk]).permute([1, 2, 0]);
        let q_content = &q + cast(&self.rel_content_bias, kind);
        let q_position = &q + cast(&self.rel_pos_bias, kind);
        let mut outs = Vec::with_capacity(h as usize);
        for head in 0..h {
            let (k_h, v_h) = (k.select(1, head), v.select(1, head));
            let k_t = k_h.transpose(-1, -2);
            let rel_h = rel_k.select(0, head);
            let mut rows = Vec::with_capacity(((n + QUERY_BLOCK - 1) / QUERY_BLOCK) as usize);
            // query blocks: block [i0, i0 + bs) needs distances j − i ∈ [−(i0 + bs − 1), n − 1 − i0], i.e. n + bs − 1
            // columns of the position keys starting at n − i0 − bs (not all 2n − 1)
            for i0 in (0..n).step_by(QUERY_BLOCK as usize) {
                let bs = QUERY_BLOCK.min(n - i0);
                let width = n + bs - 1;
                let qc = q_content.select(1, head).narrow(1, i0, bs);
                let qp = q_position.select(1, head).narrow(1, i0, bs);
                let content = qc.matmul(&k_t);
                // row r (query i0 + r) reads columns bs − 1 − r + j, j = 0 … n − 1: a strided view
                // (borzoi-pytorch's fast_relative_shift, per block)
                let full = qp.matmul(&rel_h.narrow(1, n - i0 - bs, width)).contiguous();
                let rel = full.as_strided([b, bs, n], [bs * width, width - 1, 1], Some(bs - 1));
                let attn = (content + rel).softmax(-1, Kind::Float);
                let attn = dropout(&attn, self.attn_dropout, train);
                rows.push(cast(&attn, kind).matmul(&v_h));
            }
            outs.push(Tensor::cat(&rows, 1));
        }
        // heads side by side: (B, n, h·dv), head-major as einops' 'b h n d -> b n (h d)'
        let out = Tensor::stack(&outs, 2).view([b, n, h * dv]);
        self.to_out.forward(&out, kind)
    }
}

/// Flashzoi's attention (`transformer.{i}.0.fn.1.mha`).
#[derive(Debug)]
pub struct RotaryAttention {
    /// `Wqkv`: `dim → (heads + 2·kv_heads)·head_dim`, bias.
    pub wqkv: Linear,
    /// `out_proj`: `dim → dim`, bias.
    pub out_proj: Linear,
    heads: i64,
    kv_heads: i64,
    head_dim: i64,
    rotary_dim: i64,
    rotary_base: f64,
    attn_dropout: f64,
}

impl RotaryAttention {
    /// Under `path` (the `mha` level is added here), shaped by `c`.
    pub fn new(path: &nn::Path, c: &BorzoiConfig, init: Init) -> Self {
        let mha = path.sub("mha");
        let hd = c.head_dim();
        RotaryAttention {
            wqkv: Linear::new(&mha.sub("Wqkv"), c.dim, (c.heads + 2 * c.kv_heads()) * hd, true, init),
            out_proj: Linear::new(&mha.sub("out_proj"), c.heads * hd, c.dim, true, init),
            heads: c.heads as i64,
            kv_heads: c.kv_heads() as i64,
            head_dim: hd as i64,
            rotary_dim: c.rotary_dim as i64,
            rotary_base: c.rotary_base,
            attn_dropout: c.attn_dropout,
        }
    }

    /// Rotates the first `rotary_dim` dimensions of `(B, n, heads, head_dim)` (fp32 angles, positions 0 … n − 1).
    fn rotate(&self, x: &Tensor) -> Tensor {
        let (n, half) = (x.size()[1], self.rotary_dim / 2);
        let device = x.device();
        let inv_freq = (Tensor::arange_start_step(0, self.rotary_dim, 2, (Kind::Float, device))
            * (-(self.rotary_base.ln()) / self.rotary_dim as f64))
            .exp();
        let t = Tensor::arange(n, (Kind::Float, device));
        let freqs = t.outer(&inv_freq).view([1, n, 1, half]);
        let (cos, sin) = (freqs.cos(), freqs.sin());
        let xf = cast(x, Kind::Float);
        let x1 = xf.narrow(-1, 0, half);
        let x2 = xf.narrow(-1, half, half);
        let rest = xf.narrow(-1, self.rotary_dim, self.head_dim - self.rotary_dim);
        let rotated = Tensor::cat(&[&x1 * &cos - &x2 * &sin, &x1 * &sin + &x2 * &cos, rest], -1);
        cast(&rotated, x.kind())
    }

    /// `(B, n, dim)` → `(B, n, dim)`; products in `kind`, softmax accumulated in fp32 by libtorch's kernel.
    pub fn forward(&self, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        let (b, n) = (x.size()[0], x.size()[1]);
        let (h, hkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let qkv = self.wqkv.forward(x, kind);
        let q = self.rotate(&qkv.narrow(-1, 0, h * hd).view([b, n, h, hd])).permute([0, 2, 1, 3]);
        let k = self.rotate(&qkv.narrow(-1, h * hd, hkv * hd).view([b, n, hkv, hd])).permute([0, 2, 1, 3]);
        let v = qkv.narrow(-1, (h + hkv) * hd, hkv * hd).view([b, n, hkv, hd]).permute([0, 2, 1, 3]);
        let group = h / hkv;
        let p = if train { self.attn_dropout } else { 0.0 };
        let scale = (hd as f64).powf(-0.5);
        let mut outs = Vec::with_capacity(h as usize);
        for head in 0..h {
            let kv = head / group;
            let o = Tensor::scaled_dot_product_attention(
                &q.narrow(1, head, 1),
                &k.narrow(1, kv, 1),
                &v.narrow(1, kv, 1),
                None::<Tensor>,
                p,
                false,
                scale,
                false,
            );
            outs.push(o.squeeze_dim(1));
        }
        let out = Tensor::stack(&outs, 2).view([b, n, h * hd]);
        self.out_proj.forward(&out, kind)
    }
}

/// Either attention.
#[derive(Debug)]
pub enum Attention {
    /// Borzoi.
    Relative(RelativeAttention),
    /// Flashzoi.
    Rotary(RotaryAttention),
}

impl Attention {
    /// `(B, n, dim)` → `(B, n, dim)`.
    pub fn forward(&self, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        match self {
            Attention::Relative(a) => a.forward(x, train, kind),
            Attention::Rotary(a) => a.forward(x, train, kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_table_matches_the_definition() {
        let n = 7;
        let t = positional_features(n, 4096, 32, Device::Cpu);
        assert_eq!(t.size(), [13, 32]);
        let r = (4097f64.ln() / 16.0).exp();
        for (row, d) in (-6i64..=6).enumerate() {
            for m in 1..=16 {
                let w = r.powi(m) - 1.0;
                let f = if w > d.abs() as f64 { 1.0 } else { 0.0 };
                let got = t.double_value(&[row as i64, m as i64 - 1]);
                assert_eq!(got, f, "d {d} m {m}");
                assert_eq!(t.double_value(&[row as i64, 16 + m as i64 - 1]), f * d.signum() as f64);
            }
        }
    }

    /// The blocked strided relative shift equals the explicit `rel[i, j] = (q_i + b)·R[j − i + n − 1]` (a gather),
    /// for one block and for several blocks with a partial last one.
    #[test]
    fn relative_shift_is_the_explicit_gather() {
        let _g = crate::testing::torch_rng_lock();
        tch::manual_seed(3);
        let c = BorzoiConfig { dim: 12, heads: 2, key_dim: 4, value_dim: 3, ..super::super::Preset::Tiny.config() };
        let vs = nn::VarStore::new(Device::Cpu);
        let a = RelativeAttention::new(&vs.root(), &c, Init::Random);
        for n in [5i64, 2 * QUERY_BLOCK + 77] {
            check_against_gather(&a, &c, 2, n);
        }
    }

    fn check_against_gather(a: &RelativeAttention, c: &BorzoiConfig, b: i64, n: i64) {
        let x = Tensor::randn([b, n, 12], (Kind::Float, Device::Cpu));
        let _ng = tch::no_grad_guard();
        let got = a.forward(&x, false, Kind::Float);
        let split = |t: Tensor, d: i64| t.view([b, n, 2, d]).permute([0, 2, 1, 3]);
        let q = split(a.to_q.forward(&x, Kind::Float), 4) * 0.5;
        let k = split(a.to_k.forward(&x, Kind::Float), 4);
        let v = split(a.to_v.forward(&x, Kind::Float), 3);
        let pos = positional_features(n as usize, c.pos_train_tokens, 32, Device::Cpu);
        // (2, 4, 2n − 1)
        let rel_k = a.to_rel_k.forward(&pos, Kind::Float).view([2 * n - 1, 2, 4]).permute([1, 2, 0]);
        let content = (&q + &a.rel_content_bias).matmul(&k.transpose(-1, -2));
        let full = (&q + &a.rel_pos_bias).matmul(&rel_k.unsqueeze(0)); // (b, 2, n, 2n − 1)
        let i = Tensor::arange(n, (Kind::Int64, Device::Cpu)).unsqueeze(1);
        let j = Tensor::arange(n, (Kind::Int64, Device::Cpu)).unsqueeze(0);
        let idx = (j - i + (n - 1)).expand([b, 2, n, n], false);
        let rel = full.gather(-1, &idx, false);
        let attn = (content + rel).softmax(-1, Kind::Float);
        let out = attn.matmul(&v).permute([0, 2, 1, 3]).reshape([b, n, 6]);
        let want = a.to_out.forward(&out, Kind::Float);
        let err = f64::try_from((&got - &want).abs().max()).unwrap();
        assert!(err < 1e-5, "n {n}: max error {err}");
    }
}
