//! The Borzoi network (Linder et al. 2025, Nature Genetics; borzoi-pytorch `Borzoi.get_embs_after_crop` and
//! `forward`): conv stem, pre-activation residual-free conv tower, a two-level U-net around the transformer, centre crop,
//! the joined 1,920-wide embedding per 32-bp bin and softplus track heads.
//!
//! Variables are named exactly as borzoi-pytorch's state dict (`conv_dna.conv_layer.weight`,
//! `res_tower.2.norm.running_var`, `transformer.3.0.fn.1.to_q.weight`, `human_head.bias`, …), so importing a checkpoint
//! is a name-by-name copy and [`save_state`](crate::models::save_state) writes a file borzoi-pytorch loads.

use tch::nn;
use tch::{Device, Kind, Tensor};

use super::attention::{Attention, RelativeAttention, RotaryAttention};
use super::config::BorzoiConfig;
use super::layers::{
    cast, chunked_conv, dropout, pool2, upsample2, Conv1d, ConvBlock, Init, LayerNorm, Linear, Separable,
};
use super::training::TrunkTraining;

#[path = "checkpoint.rs"]
pub mod checkpoint;
use crate::adapters::{Adaptable, AdaptableLayer};
use crate::models::{GroupKind, ModelError, ModelFamily, ParameterGroup, Precision, SequenceModel};

/// One transformer block: `x += Drop(Attn(LN(x)))`, `x += Drop(W₂ ReLU(Drop(W₁ LN(x))))`.
#[derive(Debug)]
pub struct TransformerBlock {
    /// `.0.fn.0`.
    pub attn_norm: LayerNorm,
    /// `.0.fn.1`.
    pub attn: Attention,
    /// `.1.fn.0`.
    pub ff_norm: LayerNorm,
    /// `.1.fn.1`: `dim → 2·dim`.
    pub ff1: Linear,
    /// `.1.fn.4`: `2·dim → dim`.
    pub ff2: Linear,
    dropout: f64,
}

/// The residual dropout after attention (`nn.Dropout(0.2)` in borzoi-pytorch, whatever `dropout_rate` is).
const ATTN_RESIDUAL_DROPOUT: f64 = 0.2;
/// Positions per chunk of the inference path's long levels (stem and tower at ≥ 64k positions).
const INFERENCE_CHUNK: i64 = 16_384;
/// The dropout inside `final_joined_convs`.
const FINAL_DROPOUT: f64 = 0.1;

impl TransformerBlock {
    fn new(path: &nn::Path, c: &BorzoiConfig, init: Init) -> Self {
        let attn_path = path.sub("0").sub("fn");
        let ff_path = path.sub("1").sub("fn");
        let attn = if c.flashed {
            Attention::Rotary(RotaryAttention::new(&attn_path.sub("1"), c, init))
        } else {
            Attention::Relative(RelativeAttention::new(&attn_path.sub("1"), c, init))
        };
        TransformerBlock {
            attn_norm: LayerNorm::new(&attn_path.sub("0"), c.dim),
            attn,
            ff_norm: LayerNorm::new(&ff_path.sub("0"), c.dim),
            ff1: Linear::new(&ff_path.sub("1"), c.dim, 2 * c.dim, true, init),
            ff2: Linear::new(&ff_path.sub("4"), 2 * c.dim, c.dim, true, init),
            dropout: c.dropout,
        }
    }

    /// `(B, n, dim)` fp32 residual stream → the same.
    fn forward(&self, x: &Tensor, train: bool, kind: Kind) -> Tensor {
        let a = self.attn.forward(&self.attn_norm.forward(x), train, kind);
        let x = x + dropout(&a, ATTN_RESIDUAL_DROPOUT, train);
        let h = dropout(&self.ff1.forward(&self.ff_norm.forward(&x), kind), self.dropout, train).relu();
        let h = dropout(&self.ff2.forward(&h, kind), self.dropout, train);
        x + h
    }
}

/// Borzoi or Flashzoi, owning its variables.
#[derive(Debug)]
pub struct Borzoi {
    config: BorzoiConfig,
    precision: Precision,
    vs: nn::VarStore,
    conv_dna: Conv1d,
    res_tower: Vec<ConvBlock>,
    unet1: ConvBlock,
    transformer: Vec<TransformerBlock>,
    horizontal_conv0: ConvBlock,
    horizontal_conv1: ConvBlock,
    upsampling_unet1: ConvBlock,
    separable1: Separable,
    upsampling_unet0: ConvBlock,
    separable0: Separable,
    final_joined: ConvBlock,
    human_head: Option<Conv1d>,
    mouse_head: Option<Conv1d>,
    training: TrunkTraining,
}

/// Which output head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Species {
    /// `human_head` (7,611 tracks in the published model).
    Human,
    /// `mouse_head` (2,608 tracks).
    Mouse,
}

impl Borzoi {
    /// A network shaped by `config` on `device`, initialised by `init`.
    pub fn new(config: &BorzoiConfig, device: Device, init: Init) -> Result<Borzoi, ModelError> {
        config.validate()?;
        let c = config;
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let conv_dna = Conv1d::new(&root.sub("conv_dna").sub("conv_layer"), 4, c.stem_channels, 15, 1, true, init);
        let mut res_tower = Vec::new();
        let mut c_in = c.stem_channels;
        for (i, &c_out) in c.tower.iter().enumerate() {
            res_tower.push(ConvBlock::new(&root.sub("res_tower").sub(2 * i), c_in, c_out, 5, init));
            c_in = c_out;
        }
        let unet0 = c.tower[4];
        let unet1 = ConvBlock::new(&root.sub("unet1").sub("1"), unet0, c.dim, 5, init);
        let transformer =
            (0..c.depth).map(|i| TransformerBlock::new(&root.sub("transformer").sub(i), c, init)).collect();
        let head = |name: &str, tracks: usize| Conv1d::new(&root.sub(name), c.embedding_dim, tracks, 1, 1, true, init);
        let model = Borzoi {
            config: c.clone(),
            precision: Precision::F32,
            conv_dna,
            res_tower,
            unet1,
            transformer,
            horizontal_conv0: ConvBlock::new(&root.sub("horizontal_conv0"), unet0, c.dim, 1, init),
            horizontal_conv1: ConvBlock::new(&root.sub("horizontal_conv1"), c.dim, c.dim, 1, init),
            upsampling_unet1: ConvBlock::new(&root.sub("upsampling_unet1").sub("0"), c.dim, c.dim, 1, init),
            separable1: Separable::new(&root.sub("separable1"), c.dim, init),
            upsampling_unet0: ConvBlock::new(&root.sub("upsampling_unet0").sub("0"), c.dim, c.dim, 1, init),
            separable0: Separable::new(&root.sub("separable0"), c.dim, init),
            final_joined: ConvBlock::new(&root.sub("final_joined_convs").sub("0"), c.dim, c.embedding_dim, 1, init),
            human_head: c.human_tracks.map(|t| head("human_head", t)),
            mouse_head: c.mouse_tracks.map(|t| head("mouse_head", t)),
            vs,
            training: TrunkTraining::default(),
        };
        Ok(model)
    }

    /// The configuration.
    pub fn config(&self) -> &BorzoiConfig {
        &self.config
    }

    /// The precision of the matrix products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Training-mode settings (synchronised batch norm, dropout); see [`TrunkTraining`].
    pub fn training(&self) -> &TrunkTraining {
        &self.training
    }

    /// Sets the training-mode settings for a training run (reset them afterwards).
    pub fn set_training(&mut self, training: TrunkTraining) {
        self.training = training;
    }

    /// Sets the precision of the matrix products (weights stay as stored; they are cast inside the forward).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// The variables.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Tracks of a head, if it exists.
    pub fn tracks(&self, species: Species) -> Option<usize> {
        match species {
            Species::Human => self.config.human_tracks,
            Species::Mouse => self.config.mouse_tracks,
        }
    }

    /// Stores the convolution and dense weights of the trunk in bf16 (inference: half the memory, no per-forward
    /// casts) and switches the products to bf16. Norms, their statistics and the track heads stay fp32.
    pub fn store_bf16(&mut self) {
        tch::no_grad(|| {
            for mut t in self.matrices() {
                let b = t.to_kind(Kind::BFloat16);
                t.set_data(&b);
            }
        });
        self.precision = Precision::Bf16;
    }

    /// The trunk's convolution and dense weights and biases (what [`store_bf16`](Borzoi::store_bf16) converts).
    fn matrices(&self) -> Vec<Tensor> {
        let mut out = Vec::new();
        let mut conv = |c: &Conv1d| {
            out.push(c.weight.shallow_clone());
            out.extend(c.bias.iter().map(Tensor::shallow_clone));
        };
        conv(&self.conv_dna);
        for b in self.conv_blocks() {
            conv(&b.conv);
        }
        for s in [&self.separable1, &self.separable0] {
            conv(&s.depthwise);
            conv(&s.pointwise);
        }
        let mut lin = |l: &Linear| {
            out.push(l.weight.shallow_clone());
            out.extend(l.bias.iter().map(Tensor::shallow_clone));
        };
        for t in &self.transformer {
            lin(&t.ff1);
            lin(&t.ff2);
            match &t.attn {
                Attention::Relative(a) => {
                    for l in [&a.to_q, &a.to_k, &a.to_v, &a.to_out, &a.to_rel_k] {
                        lin(l);
                    }
                }
                Attention::Rotary(a) => {
                    lin(&a.wqkv);
                    lin(&a.out_proj);
                }
            }
        }
        out
    }

    fn conv_blocks(&self) -> impl Iterator<Item = &ConvBlock> {
        self.res_tower.iter().chain([
            &self.unet1,
            &self.horizontal_conv0,
            &self.horizontal_conv1,
            &self.upsampling_unet1,
            &self.upsampling_unet0,
            &self.final_joined,
        ])
    }

    fn check_input(&self, onehot: &Tensor) -> Result<(), ModelError> {
        let size = onehot.size();
        if size.len() != 3 || size[1] != 4 {
            return Err(ModelError::shape("sequence", format!("expected one-hot (batch, 4, length), got {size:?}")));
        }
        self.config.check_length(size[2] as usize)
    }

    /// `(B, 4, L)` one-hot → `(B, dim, bins)`: the network up to and including the centre crop
    /// (`get_embs_after_crop`).
    pub fn trunk(&self, onehot: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        self.trunk_marked(onehot, train, !train, &mut |_| {})
    }

    /// [`trunk`](Borzoi::trunk) calling `mark(stage)` after each stage (for per-stage timing). With `crop_early`
    /// (evaluation only: batch norm then uses its moving statistics and every layer after the transformer is
    /// position-wise or a 3-tap convolution) the upsampling path runs only on the returned bins and the few positions
    /// their 3-tap convolutions read, instead of all 16,384 — the same numbers for less work.
    pub fn trunk_marked(
        &self,
        onehot: &Tensor,
        train: bool,
        crop_early: bool,
        mark: &mut dyn FnMut(&'static str),
    ) -> Result<Tensor, ModelError> {
        self.check_input(onehot)?;
        let kind = self.precision.compute_kind();
        let group = self.training.sync_group();
        let block = |b: &ConvBlock, x: &Tensor| b.forward_synced(x, train, kind, group);
        // transformer and final dropout
        let dropout_on = self.training.dropout_on(train);
        // inference (no gradients anywhere): the long, wide levels run in chunks, without full-length temporaries
        let inference = !grad_mode_on() || (!onehot.requires_grad() && !self.conv_dna.weight.requires_grad());
        let chunked = |x: &Tensor| inference && x.size()[2] > 2 * INFERENCE_CHUNK;
        let mut x = if chunked(onehot) {
            chunked_conv(onehot, None, &self.conv_dna, true, kind, INFERENCE_CHUNK)
        } else {
            pool2(&self.conv_dna.forward(onehot, kind))
        };
        mark("conv_dna");
        const TOWER: [&str; 5] = ["res_tower.0", "res_tower.2", "res_tower.4", "res_tower.6", "res_tower.8"];
        for (i, b) in self.res_tower.iter().enumerate() {
            let pool = i + 1 < self.res_tower.len();
            x = if chunked(&x) {
                chunked_conv(&x, Some(&b.norm), &b.conv, pool, kind, INFERENCE_CHUNK)
            } else {
                let y = block(b, &x)?;
                if pool {
                    pool2(&y)
                } else {
                    y
                }
            };
            mark(TOWER[i.min(4)]);
        }
        let unet0 = x;
        let unet1 = block(&self.unet1, &pool2(&unet0))?;
        mark("unet1");
        // the residual stream of the transformer stays fp32
        let mut x = cast(&pool2(&unet1), Kind::Float).permute([0, 2, 1]);
        for t in &self.transformer {
            x = t.forward(&x, dropout_on, kind);
        }
        let x = x.permute([0, 2, 1]);
        mark("transformer");
        let bins = self.config.bins as i64;
        let n0 = unet0.size()[2];
        let c0 = (n0 - bins) / 2;
        let out = if crop_early {
            // level-0 positions separable0 reads, level-1 positions they come from, and so on down to the tokens
            let (lo0, hi0) = ((c0 - 1).max(0), (c0 + bins + 1).min(n0));
            let (a1, b1) = (lo0 / 2, (hi0 - 1) / 2 + 1);
            let (lo1, hi1) = ((a1 - 1).max(0), (b1 + 1).min(n0 / 2));
            let (a2, b2) = (lo1 / 2, (hi1 - 1) / 2 + 1);
            let u1 = upsample2(&block(&self.upsampling_unet1, &x.narrow(2, a2, b2 - a2))?);
            let h1 = block(&self.horizontal_conv1, &unet1.narrow(2, lo1, hi1 - lo1))?;
            let s1 = self.separable1.forward(&(u1.narrow(2, lo1 - 2 * a2, hi1 - lo1) + h1), kind);
            let s1 = s1.narrow(2, a1 - lo1, b1 - a1);
            let u0 = upsample2(&block(&self.upsampling_unet0, &s1)?);
            let h0 = block(&self.horizontal_conv0, &unet0.narrow(2, lo0, hi0 - lo0))?;
            let s0 = self.separable0.forward(&(u0.narrow(2, lo0 - 2 * a1, hi0 - lo0) + h0), kind);
            s0.narrow(2, c0 - lo0, bins)
        } else {
            self.upsample_and_crop(&x, unet1, unet0, train)?
        };
        mark("upsampling + crop");
        Ok(out)
    }

    /// The full-length upsampling path and the centre crop: tokens `x` `(B, dim, n)` and the skip levels `unet1`,
    /// `unet0` → `(B, dim, bins)`. The skip tensors are dropped as soon as they are read.
    fn upsample_and_crop(&self, x: &Tensor, unet1: Tensor, unet0: Tensor, train: bool) -> Result<Tensor, ModelError> {
        let kind = self.precision.compute_kind();
        let group = self.training.sync_group();
        let block = |b: &ConvBlock, x: &Tensor| b.forward_synced(x, train, kind, group);
        let bins = self.config.bins as i64;
        let c0 = (unet0.size()[2] - bins) / 2;
        let h1 = block(&self.horizontal_conv1, &unet1)?;
        drop(unet1);
        let h0 = block(&self.horizontal_conv0, &unet0)?;
        drop(unet0);
        let x = upsample2(&block(&self.upsampling_unet1, x)?) + h1;
        let x = self.separable1.forward(&x, kind);
        let x = upsample2(&block(&self.upsampling_unet0, &x)?) + h0;
        Ok(self.separable0.forward(&x, kind).narrow(2, c0, bins))
    }

    /// The cropped trunk output `(B, dim, bins)` → the embedding `(B, embedding_dim, bins)` fp32
    /// (`final_joined_convs`).
    pub fn joined(&self, trunk: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        let group = self.training.sync_group();
        let x = self.final_joined.forward_synced(trunk, train, self.precision.compute_kind(), group)?;
        Ok(cast(&dropout(&x, FINAL_DROPOUT, self.training.dropout_on(train)).gelu("tanh"), Kind::Float))
    }

    /// `(B, 4, L)` → `(B, embedding_dim, bins)` fp32: the penultimate embedding (`final_joined_convs`; borzoi-pytorch
    /// `forward(..., return_embeddings=True)`).
    pub fn embedding(&self, onehot: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        let x = self.trunk(onehot, train)?;
        self.joined(&x, train)
    }

    /// The 1×1 convolution of the head of `species`, or an error naming the missing head.
    fn head_conv(&self, species: Species) -> Result<&Conv1d, ModelError> {
        let head = match species {
            Species::Human => self.human_head.as_ref(),
            Species::Mouse => self.mouse_head.as_ref(),
        };
        head.ok_or_else(|| {
            ModelError::invalid("head", format!("this model has no {} head", format!("{species:?}").to_lowercase()))
        })
    }

    /// The track head of `species` on an embedding `(B, embedding_dim, bins)`: softplus of a 1×1 convolution, fp32.
    pub fn head(&self, embedding: &Tensor, species: Species) -> Result<Tensor, ModelError> {
        let head = self.head_conv(species)?;
        Ok(head.forward(&cast(embedding, Kind::Float), Kind::Float).softplus())
    }

    /// The 1×1 convolution of the head of `species`: `(tracks, embedding_dim, 1)` weight and `(tracks)` bias.
    pub fn head_weights(&self, species: Species) -> Result<(Tensor, Tensor), ModelError> {
        let head = self.head_conv(species)?;
        let bias = head
            .bias
            .as_ref()
            .map(Tensor::shallow_clone)
            .unwrap_or_else(|| Tensor::zeros([head.weight.size()[0]], (Kind::Float, head.weight.device())));
        Ok((head.weight.shallow_clone(), bias))
    }

    /// `(B, 4, L)` → `(B, tracks, bins)`: the full model (`forward`).
    pub fn forward(&self, onehot: &Tensor, species: Species, train: bool) -> Result<Tensor, ModelError> {
        let e = self.embedding(onehot, train)?;
        self.head(&e, species)
    }

    /// Every variable by name (sorted), or only the trainable ones (not the batch-norm statistics).
    fn named(&self, trainable_only: bool) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(n, _)| !trainable_only || !(n.ends_with(".running_mean") || n.ends_with(".running_var")))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl Borzoi {
    /// The same trunk without its track heads (scooby deletes `human_head`): the variables are copies of `self`'s
    /// (training the result in training mode updates its batch norms' running statistics, which must not change
    /// `self`), the heads dropped. Adapters attached to `self` are not carried over.
    pub fn without_heads(&self) -> Result<Borzoi, ModelError> {
        let config = BorzoiConfig { human_tracks: None, mouse_tracks: None, ..self.config.clone() };
        let mut out = Borzoi::new(&config, self.device(), Init::Zeros)?;
        out.precision = self.precision;
        let src = self.vs.variables();
        tch::no_grad(|| {
            for (name, mut t) in out.vs.variables() {
                if let Some(s) = src.get(&name) {
                    t.set_data(&s.copy());
                }
            }
        });
        Ok(out)
    }
}

fn layer<'a>(name: String, weight: &'a mut Tensor, lora: &'a mut Option<crate::adapters::Lora>) -> AdaptableLayer<'a> {
    AdaptableLayer { name, weight, lora }
}

/// The layers LoRA can adapt, named as borzoi-pytorch's modules (peft's target names): every convolution but the
/// depthwise ones (`conv_dna.conv_layer`, `res_tower.{0,2,4,6,8}.conv_layer`, `unet1.1.conv_layer`,
/// `horizontal_conv{0,1}.conv_layer`, `upsampling_unet{1,0}.0.conv_layer`, `separable{1,0}.conv_layer.1`,
/// `final_joined_convs.0.conv_layer`) and the transformer's linears (`transformer.{i}.0.fn.1.{to_q,to_k,to_v,to_out}`
/// or Flashzoi's `mha.{Wqkv,out_proj}`, `transformer.{i}.1.fn.{1,4}`). Heads are not adaptable.
impl Adaptable for Borzoi {
    fn adaptable_layers(&mut self) -> Vec<AdaptableLayer<'_>> {
        let mut out = Vec::new();
        let conv = &mut self.conv_dna;
        out.push(layer("conv_dna.conv_layer".into(), &mut conv.weight, &mut conv.lora));
        for (i, b) in self.res_tower.iter_mut().enumerate() {
            out.push(layer(format!("res_tower.{}.conv_layer", 2 * i), &mut b.conv.weight, &mut b.conv.lora));
        }
        out.push(layer("unet1.1.conv_layer".into(), &mut self.unet1.conv.weight, &mut self.unet1.conv.lora));
        for (i, t) in self.transformer.iter_mut().enumerate() {
            let p = format!("transformer.{i}");
            match &mut t.attn {
                Attention::Relative(a) => {
                    for (n, l) in
                        [("to_q", &mut a.to_q), ("to_k", &mut a.to_k), ("to_v", &mut a.to_v), ("to_out", &mut a.to_out)]
                    {
                        out.push(layer(format!("{p}.0.fn.1.{n}"), &mut l.weight, &mut l.lora));
                    }
                }
                Attention::Rotary(a) => {
                    for (n, l) in [("Wqkv", &mut a.wqkv), ("out_proj", &mut a.out_proj)] {
                        out.push(layer(format!("{p}.0.fn.1.mha.{n}"), &mut l.weight, &mut l.lora));
                    }
                }
            }
            out.push(layer(format!("{p}.1.fn.1"), &mut t.ff1.weight, &mut t.ff1.lora));
            out.push(layer(format!("{p}.1.fn.4"), &mut t.ff2.weight, &mut t.ff2.lora));
        }
        let blocks = [
            ("horizontal_conv0", &mut self.horizontal_conv0),
            ("horizontal_conv1", &mut self.horizontal_conv1),
            ("upsampling_unet1.0", &mut self.upsampling_unet1),
            ("upsampling_unet0.0", &mut self.upsampling_unet0),
            ("final_joined_convs.0", &mut self.final_joined),
        ];
        for (n, b) in blocks {
            out.push(layer(format!("{n}.conv_layer"), &mut b.conv.weight, &mut b.conv.lora));
        }
        for (n, s) in [("separable1", &mut self.separable1), ("separable0", &mut self.separable0)] {
            out.push(layer(format!("{n}.conv_layer.1"), &mut s.pointwise.weight, &mut s.pointwise.lora));
        }
        out
    }
}

/// Whether libtorch records operations for backward passes (false inside `tch::no_grad`).
fn grad_mode_on() -> bool {
    (Tensor::zeros([1], (Kind::Float, Device::Cpu)).set_requires_grad(true) * 1.0).requires_grad()
}

fn is_head(name: &str) -> bool {
    name.starts_with("human_head.") || name.starts_with("mouse_head.")
}

impl SequenceModel for Borzoi {
    fn family(&self) -> ModelFamily {
        ModelFamily::Borzoi
    }

    fn device(&self) -> Device {
        self.vs.device()
    }

    fn seq_len(&self) -> usize {
        self.config.seq_len
    }

    fn embedding_dim(&self) -> usize {
        self.config.embedding_dim
    }

    fn bins(&self) -> Option<usize> {
        Some(self.config.bins)
    }

    fn embed(&self, onehot: &Tensor, train: bool) -> Tensor {
        match self.embedding(onehot, train) {
            Ok(e) => e,
            Err(e) => panic!("Borzoi::embed: {e}"),
        }
    }

    fn parameter_groups(&self) -> Vec<ParameterGroup> {
        let (head, trunk): (Vec<_>, Vec<_>) = self.named(true).into_iter().partition(|(n, _)| is_head(n));
        vec![
            ParameterGroup { kind: GroupKind::Trunk, tensors: trunk },
            ParameterGroup { kind: GroupKind::Head, tensors: head },
        ]
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.named(false)
    }

    fn summary(&self) -> String {
        super::summary::render(self)
    }
}
