//! Activation checkpointing of the Borzoi trunk in training (what `torch.utils.checkpoint` does for scooby's trunk,
//! written with plain tch: libtorch's C++ API has no checkpoint function and tch no custom autograd functions).
//!
//! [`Borzoi::trunk_checkpointed`] runs the trunk stage by stage ([`Stage`]: stem, each tower block, `unet1`, the
//! tokens, each transformer block, the upsampling path with the crop) without recording a graph, keeping only the
//! stage boundaries — the tensors passed from one stage to the next, 16 of them for Borzoi, the largest the stem's
//! output (512 channels × 262,144 positions) — and returns the cropped output as a leaf that requires gradients. The
//! caller computes the rest (`final_joined_convs`, transform, decoder, loss) with gradients and runs its backward pass,
//! which stops at that leaf; [`TrunkTape::backward`] then walks the stages in reverse: each is recomputed with
//! gradients from its detached input boundaries and back-propagated with the gradient that reached its output
//! (`(out · grad_out).sum()`), which accumulates the adapters' (and any trainable trunk variable's) gradients and gives
//! the gradients of its inputs, the next stages' output gradients. So only one stage's activations exist at a time, at
//! the price of computing the trunk's forward twice.
//!
//! The recomputation reproduces the first pass exactly:
//! - batch norm in training mode normalises with the statistics of the same batch, so its output is the same; its
//!   moving averages, which the recomputation updates a second time, are saved before the backward walk and restored
//!   after it (one update per step, as without checkpointing);
//! - dropout (transformer blocks: residual, feed-forward, attention and position dropout) draws the same masks: before
//!   each stage of the first pass a seed is drawn from torch's generator and the generator is reseeded with it, and the
//!   recomputation reseeds with the same seed;
//! - precision: every stage computes in the trunk's precision (bf16 boundaries in bf16), as in [`Borzoi::trunk`].
//!
//! Without gradient recording, or when nothing in the trunk is trainable, the trunk runs once as usual and there is
//! nothing to recompute.

use tch::{Kind, Tensor};

use super::{cast, pool2};
use super::{grad_mode_on, Attention, Borzoi, ConvBlock};
use crate::models::ModelError;

/// A stage of the training-mode trunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `conv_dna` and its max-pool.
    Stem,
    /// `res_tower.{2i}` and its max-pool (none after the last; its output is the U-net's level 0).
    Tower(usize),
    /// Max-pool and `unet1.1` (the U-net's level 1).
    Unet1,
    /// Max-pool to the tokens, fp32, `(B, n, dim)`.
    Tokens,
    /// Transformer block `i`.
    Block(usize),
    /// The upsampling path and the centre crop (reads the tokens and both U-net levels).
    Up,
}

/// What [`TrunkTape::backward`] needs: the stage boundaries of the first pass, the per-stage dropout seeds and the
/// output leaf handed to the caller.
#[derive(Debug)]
pub struct TrunkTape {
    plan: Vec<(Stage, Vec<usize>)>,
    /// Boundary 0 is the one-hot input; stage `k` wrote boundary `k + 1`.
    boundaries: Vec<Tensor>,
    seeds: Vec<Option<i64>>,
    output: Tensor,
    train: bool,
}

impl Borzoi {
    /// The stages in forward order, each with the boundaries it reads. Boundary 0 is the one-hot input and stage `k`
    /// writes boundary `k + 1`; the last boundary is the cropped trunk output.
    pub fn stage_plan(&self) -> Vec<(Stage, Vec<usize>)> {
        let mut plan = vec![(Stage::Stem, vec![0])];
        for i in 0..self.res_tower.len() {
            plan.push((Stage::Tower(i), vec![i + 1]));
        }
        let unet0 = self.res_tower.len() + 1;
        plan.push((Stage::Unet1, vec![unet0]));
        plan.push((Stage::Tokens, vec![unet0 + 1]));
        for i in 0..self.transformer.len() {
            plan.push((Stage::Block(i), vec![unet0 + 2 + i]));
        }
        plan.push((Stage::Up, vec![unet0 + 2 + self.transformer.len(), unet0 + 1, unet0]));
        plan
    }

    /// Runs one stage of [`stage_plan`](Borzoi::stage_plan) on its input boundaries: the same operations, in the same
    /// order, as [`trunk`](Borzoi::trunk) without early cropping.
    pub fn run_stage(&self, stage: Stage, inputs: &[&Tensor], train: bool) -> Result<Tensor, ModelError> {
        let kind = self.precision.compute_kind();
        let group = self.training.sync_group();
        let block = |b: &ConvBlock, x: &Tensor| b.forward_synced(x, train, kind, group);
        let x = inputs[0];
        Ok(match stage {
            Stage::Stem => {
                self.check_input(x)?;
                pool2(&self.conv_dna.forward(x, kind))
            }
            Stage::Tower(i) => {
                let y = block(&self.res_tower[i], x)?;
                if i + 1 < self.res_tower.len() {
                    pool2(&y)
                } else {
                    y
                }
            }
            Stage::Unet1 => block(&self.unet1, &pool2(x))?,
            Stage::Tokens => cast(&pool2(x), Kind::Float).permute([0, 2, 1]),
            Stage::Block(i) => self.transformer[i].forward(x, self.training.dropout_on(train), kind),
            Stage::Up => {
                let (unet1, unet0) = (inputs[1].shallow_clone(), inputs[2].shallow_clone());
                self.upsample_and_crop(&x.permute([0, 2, 1]), unet1, unet0, train)?
            }
        })
    }

    /// Whether a backward pass through the trunk reaches anything trainable: a trunk variable or an unmerged LoRA
    /// adapter that requires gradients.
    pub fn has_trainable(&self) -> bool {
        let lora = |l: &Option<crate::adapters::Lora>| {
            l.as_ref().is_some_and(|l| !l.merged && (l.a.requires_grad() || l.b.requires_grad()))
        };
        let mut convs = vec![&self.conv_dna];
        convs.extend(self.conv_blocks().map(|b| &b.conv));
        for s in [&self.separable1, &self.separable0] {
            convs.extend([&s.depthwise, &s.pointwise]);
        }
        let mut linears = Vec::new();
        for t in &self.transformer {
            linears.extend([&t.ff1, &t.ff2]);
            match &t.attn {
                Attention::Relative(a) => linears.extend([&a.to_q, &a.to_k, &a.to_v, &a.to_out, &a.to_rel_k]),
                Attention::Rotary(a) => linears.extend([&a.wqkv, &a.out_proj]),
            }
        }
        self.vs.variables().values().any(Tensor::requires_grad)
            || convs.iter().any(|c| lora(&c.lora))
            || linears.iter().any(|l| lora(&l.lora))
    }

    /// [`trunk`](Borzoi::trunk) (no early crop) with activation checkpointing (module notes): `(B, 4, L)` →
    /// `(B, dim, bins)` as a leaf that requires gradients, and the tape to call
    /// [`backward`](TrunkTape::backward) with once the caller's backward pass has reached that leaf. Without gradient
    /// recording or anything trainable in the trunk: the ordinary trunk and no tape.
    pub fn trunk_checkpointed(&self, onehot: &Tensor, train: bool) -> Result<(Tensor, Option<TrunkTape>), ModelError> {
        if !grad_mode_on() || !self.has_trainable() {
            return Ok((self.trunk(onehot, train)?, None));
        }
        let plan = self.stage_plan();
        let dropout = self.training.dropout_on(train);
        let mut boundaries = vec![onehot.detach()];
        let mut seeds = Vec::with_capacity(plan.len());
        tch::no_grad(|| -> Result<(), ModelError> {
            for (stage, inputs) in &plan {
                let seed = dropout.then(draw_seed);
                if let Some(s) = seed {
                    tch::manual_seed(s);
                }
                let xs: Vec<&Tensor> = inputs.iter().map(|&i| &boundaries[i]).collect();
                let y = self.run_stage(*stage, &xs, train)?;
                boundaries.push(y);
                seeds.push(seed);
            }
            Ok(())
        })?;
        let output = boundaries[plan.len()].detach().set_requires_grad(true);
        Ok((output.shallow_clone(), Some(TrunkTape { plan, boundaries, seeds, output, train })))
    }

    /// The trunk's moving batch-norm statistics, each with a copy of its current value.
    fn batch_norm_snapshot(&self) -> Vec<(Tensor, Tensor)> {
        self.vs
            .variables()
            .into_iter()
            .filter(|(n, _)| n.ends_with(".running_mean") || n.ends_with(".running_var"))
            .map(|(_, t)| {
                let saved = t.copy();
                (t, saved)
            })
            .collect()
    }
}

/// A seed for one stage's dropout masks, drawn from torch's generator (so the run's seed determines it).
fn draw_seed() -> i64 {
    Tensor::randint(i64::MAX, [1], (Kind::Int64, tch::Device::Cpu)).int64_value(&[0])
}

impl TrunkTape {
    /// Back-propagates through the trunk `model` (the one that made this tape) after the caller's backward pass: the
    /// gradient of the output leaf goes through every stage, recomputed in reverse order, into the trunk's trainable
    /// tensors. Does nothing when no gradient reached the output. The batch-norm moving statistics end as the first
    /// pass left them. The one-hot input gets no gradient (training data; use [`Borzoi::trunk`] for saliency).
    pub fn backward(mut self, model: &Borzoi) -> Result<(), ModelError> {
        let grad = self.output.grad();
        if !grad.defined() {
            return Ok(());
        }
        let n = self.boundaries.len();
        let mut grads: Vec<Option<Tensor>> = (0..n).map(|_| None).collect();
        grads[n - 1] = Some(grad);
        let saved = model.batch_norm_snapshot();
        let result = self.walk(model, &mut grads);
        tch::no_grad(|| {
            for (mut t, s) in saved {
                t.copy_(&s);
            }
        });
        result
    }

    fn walk(&mut self, model: &Borzoi, grads: &mut [Option<Tensor>]) -> Result<(), ModelError> {
        let plan = std::mem::take(&mut self.plan);
        for (k, (stage, inputs)) in plan.iter().enumerate().rev() {
            let Some(g) = grads[k + 1].take() else { continue };
            // the output boundary is not read again
            self.boundaries[k + 1] = Tensor::new();
            // boundary 0 is the data (no gradient)
            let leaves: Vec<Tensor> = inputs
                .iter()
                .map(|&i| {
                    let b = self.boundaries[i].detach();
                    if i == 0 {
                        b
                    } else {
                        b.set_requires_grad(true)
                    }
                })
                .collect();
            if let Some(s) = self.seeds[k] {
                tch::manual_seed(s);
            }
            let y = model.run_stage(*stage, &leaves.iter().collect::<Vec<_>>(), self.train)?;
            if !y.requires_grad() {
                continue;
            }
            // d/dy of Σ y·g is g: exact in any precision
            (&y * &g).f_sum(Kind::Float)?.f_backward()?;
            drop((y, g));
            for (leaf, &i) in leaves.iter().zip(inputs) {
                let lg = leaf.grad();
                if i == 0 || !lg.defined() {
                    continue;
                }
                grads[i] = Some(match grads[i].take() {
                    Some(acc) => acc + lg,
                    None => lg,
                });
            }
        }
        Ok(())
    }
}

/// A [`TrunkTape`] with the trunk that made it: the rest of a checkpointed backward pass, to run after the loss's
/// backward pass ([`CellProfileModel::try_forward_checkpointed`](crate::models::CellProfileModel)).
#[derive(Debug)]
pub struct TrunkBackward<'a> {
    /// The trunk.
    pub model: &'a Borzoi,
    /// Its tape.
    pub tape: TrunkTape,
}

impl TrunkBackward<'_> {
    /// [`TrunkTape::backward`] through the trunk.
    pub fn run(self) -> Result<(), ModelError> {
        self.tape.backward(self.model)
    }
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
