//! The changed-span path of local recomputation (bf16): a block whose pooled window needs `out_width · pool`
//! convolution outputs recomputes only the `w + 2·halo` of them that an input change on `[a, a + w)` reaches, from the
//! GELU of the changed inputs between the references' cached GELU, and takes the others from the references' cached
//! batch-norm outputs (−∞ past the sequence ends: the max-pool's padding), then max-pools. Every value is computed as
//! the model computes it (the same GELU, kernel, adapter and batch norm on the same inputs), only fewer of them: unlike
//! the delta path no difference is rounded, so bf16 stays as close to full recomputation as the direct path.
//!
//! Its caches cost a pass over the references, so they are built on the first call with at least [`SPAN_MIN_EDITS`]
//! point edits per reference (ISM, not one variant per window).

use tch::nn::ModuleT;
use tch::{Kind, Tensor};

use super::{
    changed_rows, conv_window, padded_rows, padded_rows_of, ConvBlock, Geometry, LevelCache, LocalEmbedder, Step,
};
use crate::error::{Result, RuntimeError};
use crate::models::pool::max_pool;
use crate::models::scbasset::{eval_batch, gelu, ScBasset};

/// Point edits per reference in one call from which the changed-span caches are built: their pass costs about a
/// forward pass per reference, and the path saves about a fifth of each point edit's recomputation.
pub const SPAN_MIN_EDITS: usize = 64;

/// The references' caches of one block for the changed-span path.
pub(super) struct SpanCache {
    /// GELU of the block input in the compute kind, zero past the ends (the convolution's padding).
    gelu_in: LevelCache,
    /// Batch-norm outputs of the convolution, −∞ past the ends (the max-pool's padding).
    normed: LevelCache,
}

/// Whether a block takes the changed-span path in `kind`: reduced precision (fp32 takes the delta path), with pooling
/// (without it the window is the changed span).
fn takes_span(kind: Kind, g: &Geometry) -> bool {
    kind != Kind::Float && g.pool > 1
}

/// Zero rows of the GELU cache at each end: the convolution's inputs reach `2·halo` past a changed span.
fn input_margin(g: &Geometry) -> i64 {
    2 * g.halo
}

/// Rows of −∞ of the batch-norm cache at each end: the pooled window reaches `pool_padding + pool` past the ends.
fn normed_margin(g: &Geometry) -> i64 {
    g.pool_padding + g.pool
}

/// Bytes of the changed-span caches of `n_refs` references, or `None` when no block takes the path.
pub(super) fn cache_bytes(kind: Kind, blocks: &[&ConvBlock], geometry: &[Geometry], n_refs: usize) -> Option<usize> {
    let elem = if kind == Kind::Float { 4 } else { 2 };
    let rows = |g: &Geometry, b: &ConvBlock| {
        let input = (g.len_in + 2 * input_margin(g)) * b.weight.size()[1];
        input + (g.len_in + 2 * normed_margin(g)) * b.out_channels()
    };
    let spans: Vec<usize> = blocks
        .iter()
        .zip(geometry)
        .filter(|(_, g)| takes_span(kind, g))
        .map(|(b, g)| rows(g, b) as usize * elem * n_refs)
        .collect();
    (!spans.is_empty()).then(|| spans.iter().sum())
}

impl LocalEmbedder<'_> {
    /// The changed-span caches of every block that takes the path: a pass over the references in evaluation-sized
    /// chunks, as the model's forward pass.
    pub(super) fn span_caches(&self) -> Result<Vec<Option<SpanCache>>> {
        let (model, kind) = (self.model, self.kind);
        let len = model.config().seq_len;
        let mut rows: Vec<(Vec<Tensor>, Vec<Tensor>)> = self.blocks.iter().map(|_| (Vec::new(), Vec::new())).collect();
        let chunk = eval_batch(model.device(), model.precision()) * len;
        tch::no_grad(|| -> Result<()> {
            for part in self.references.chunks(chunk) {
                let codes = Tensor::from_slice(part).view([-1, len as i64]).to_device(model.device());
                let mut h = ScBasset::one_hot(&codes).map_err(|e| RuntimeError::Other(e.to_string()))?;
                for (l, (b, g)) in self.blocks.iter().zip(&self.geometry).enumerate() {
                    let c = b.conv_t(&h, model.precision());
                    if !takes_span(kind, g) {
                        h = b.norm_pool_t(&c, false);
                        continue;
                    }
                    // (the model's norm_pool_t, keeping the batch norm's output)
                    let normed = b.bn.forward_t(&c, false);
                    rows[l].0.push(padded_rows(&gelu(&h.to_kind(kind)), input_margin(g)));
                    rows[l].1.push(padded_rows_of(&normed, normed_margin(g), f64::NEG_INFINITY));
                    h = max_pool(&normed, b.pool, b.pool_padding);
                }
            }
            Ok(())
        })?;
        let caches = rows
            .iter()
            .zip(&self.geometry)
            .map(|((input, normed), g)| {
                (!input.is_empty()).then(|| SpanCache {
                    gelu_in: LevelCache { rows: Tensor::cat(input, 0), len: g.len_in, margin: input_margin(g) },
                    normed: LevelCache { rows: Tensor::cat(normed, 0), len: g.len_in, margin: normed_margin(g) },
                })
            })
            .collect();
        Ok(caches)
    }

    /// Block `l`'s changed-span caches, once built, where it takes the path.
    pub(super) fn span_cache(&self, l: usize) -> Option<&SpanCache> {
        self.spans.get().and_then(|s| s[l].as_ref())
    }

    /// Block `l` by the changed-span path: `values` `(N, C_in, w)` are the mutants' inputs on `[a, a + w)` (`starts`);
    /// returns the pooled window `(N, C_out, out_width)` from `out_starts`.
    pub(super) fn span_block(
        &self,
        l: usize,
        refs: &[usize],
        starts: &[i64],
        values: &Tensor,
        out_starts: &[i64],
        step: Step,
    ) -> Tensor {
        let (g, block) = (&self.geometry[l], self.blocks[l]);
        let cache = self.span_cache(l).expect("a block of the changed-span path");
        let device = self.model.device();
        let (n, w) = (values.size()[0], values.size()[2]);
        let reach = 2 * g.halo;
        // The convolution's inputs [a − 2·halo, a + w + 2·halo): the references' GELU around the mutant's.
        let lefts: Vec<i64> = starts.iter().map(|&a| a - reach).collect();
        let rights: Vec<i64> = starts.iter().map(|&a| a + w).collect();
        let left = cache.gelu_in.windows(refs, &lefts, reach).permute([0, 2, 1]);
        let right = cache.gelu_in.windows(refs, &rights, reach).permute([0, 2, 1]);
        let h = Tensor::cat(&[left, gelu(&values.to_kind(self.kind)), right], 2);
        // The changed outputs [a − halo, a + w + halo), as the model's "same" convolution computes them.
        let changed = block.bn.forward_t(&self.block_conv(l, &h), false);
        // The references' batch-norm outputs over the pooled window, with the changed ones where they fall inside.
        let (width, conv_starts) = conv_window(g, step, out_starts);
        let window = cache.normed.windows(refs, &conv_starts, width).to_kind(changed.kind());
        let c_out = changed.size()[1];
        let keep = w + reach - step.delta_left - step.delta_right;
        if keep > 0 {
            let src = changed.narrow(2, step.delta_left, keep).permute([0, 2, 1]).reshape([n * keep, c_out]);
            let idx = changed_rows(g, step, starts, &conv_starts, keep, device);
            let flat = window.view([n * width, c_out]);
            let _ = flat.shallow_clone().index_copy_(0, &idx, &src);
        }
        // Max-pool along the positions of the (N, W, C) window: maxima of whole rows of channels.
        let y = window.view([n, step.out_width, g.pool, c_out]);
        let pooled = (1..g.pool).fold(y.select(2, 0), |m, k| m.maximum(&y.select(2, k)));
        pooled.permute([0, 2, 1])
    }
}
