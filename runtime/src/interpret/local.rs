//! Local recomputation of scBasset embeddings for point edits (the fastISM idea, Nair et al. 2022): the activations
//! of the reference sequences are cached at the input of every convolution block; an edit of `w` bases at `p` can
//! only change, at each block's output, the positions whose receptive field meets the edited span. That window widens
//! by the kernel halo at each convolution and shrinks by the pool at each max-pool; only it is recomputed, from the
//! mutant's window of the block input overlaid on the reference's cached activations (zero "same" padding past the
//! sequence ends, −∞ max-pool padding as the model pads). Where a window covers the whole layer this is the full
//! computation of that layer.
//!
//! The bottleneck (GELU → flatten → dense → BN → GELU) is linear up to the dense output, so with `g = gelu(conv1x1
//! output)` flattened channel-major (`c·P + p`, the network's torch order) the mutant's pre-activation is
//! `W·g_ref + W[:, changed columns]·(g_mut − g_ref)[changed]` (+ the LoRA adapter's `s·B·A` the same way), followed by
//! the evaluation-mode batch norm and the final GELU.
//!
//! After the first block the change of an edit of up to [`DELTA_MAX_EDIT`] bases is propagated as a difference (the
//! delta path, in fp32 when the references' caches fit [`DELTA_CACHE_BYTES`]): the block input changes only on the previous
//! block's output window, so its GELU changes only there, `Δh = gelu(x_mut) − gelu(x_ref)`, and the convolution's change reaches the `w + k − 1` outputs around
//! it — a transposed convolution of the `w` changed positions (`w·k` kernel products per channel pair, about half of
//! recomputing the pooled window's `(hi − lo)·pool` outputs from `k` taps each). It is added to the
//! references' cached convolution outputs over the window, then batch norm and max-pool run as in the model. In exact
//! arithmetic both paths are the model's computation (the adapter's `s·B·A` joins the kernel: `W + ΔW`).
//!
//! In bf16 the blocks that pool take the changed-span path instead (`local_span`): the `w + 2·halo` changed convolution
//! outputs are recomputed directly, the rest of the pooled window read from the references' cached batch-norm outputs
//! (the same values as the direct path, about a fifth fewer kernel products).
//!
//! Mutants are grouped by the shape of their windows (every block's window width and overlay clipping), and each group
//! runs as one batch per layer.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use super::SequenceEmbedder;
use crate::adapters::Lora;
use crate::error::{Result, RuntimeError};
use crate::models::scbasset::{eval_batch, gelu, ConvBlock, ScBasset};
use span::SpanCache;
pub use span::SPAN_MIN_EDITS;

/// Mutants per batch of the local path.
const LOCAL_BATCH: usize = 512;

/// Largest size of the references' cached convolution outputs (every block after the first) for the delta path, or of
/// the changed-span path's caches; more references (e.g. a thousand backgrounds of a motif insertion) recompute the
/// windows directly instead.
pub const DELTA_CACHE_BYTES: usize = 512 << 20;

/// The widest edit that takes the delta path: point edits and small indels (ISM, SNVs). Wider edits (motif
/// insertion) change most of each window, where the direct recomputation is as fast (fp32) or faster (bf16).
pub const DELTA_MAX_EDIT: usize = 4;

/// An edit of one reference sequence: `bases` (codes 0..4) replace `bases.len()` bases from `start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// Index of the reference sequence the edit applies to.
    pub reference: usize,
    /// 0-based first edited position.
    pub start: usize,
    /// Replacement base codes (A=0, C=1, G=2, T=3).
    pub bases: Vec<u8>,
}

/// Activations of every reference at one level, as rows `(R·(L + 2·margin), C)` (position-major per reference) with
/// `margin` zero rows at both sequence ends.
struct LevelCache {
    rows: Tensor,
    len: i64,
    margin: i64,
}

/// `(R, C, L)` activations as rows `(R·(L + 2·margin), C)` with `margin` zero rows at both ends of each sequence.
fn padded_rows(x: &Tensor, margin: i64) -> Tensor {
    padded_rows_of(x, margin, 0.0)
}

/// [`padded_rows`] with `margin` rows of `value` at both ends.
fn padded_rows_of(x: &Tensor, margin: i64, value: f64) -> Tensor {
    let (r, c, len) = (x.size()[0], x.size()[1], x.size()[2]);
    x.pad([margin, margin], "constant", Some(value)).permute([0, 2, 1]).contiguous().view([r * (len + 2 * margin), c])
}

/// A layer's effective weight in fp32: the compute kind's rounding of the kernel, plus its unmerged LoRA update.
fn effective_weight(weight: &Tensor, lora: Option<&Lora>, kind: Kind) -> Tensor {
    let w = tch::no_grad(|| weight.to_kind(kind).to_kind(Kind::Float).detach());
    match lora.filter(|l| !l.merged) {
        // (not in place: for fp32 `w` may alias the model's weight)
        Some(l) => w + l.delta().to_kind(Kind::Float),
        None => w,
    }
}

impl LevelCache {
    /// `(N, W, C)` windows of `width` positions from `starts` (may reach `margin` past the ends) of references `refs`.
    fn windows(&self, refs: &[usize], starts: &[i64], width: i64) -> Tensor {
        let stride = self.len + 2 * self.margin;
        let mut idx = Vec::with_capacity(refs.len() * width as usize);
        for (&r, &s) in refs.iter().zip(starts) {
            let base = r as i64 * stride + s + self.margin;
            idx.extend(base..base + width);
        }
        let index = Tensor::from_slice(&idx).to_device(self.rows.device());
        self.rows.index_select(0, &index).view([refs.len() as i64, width, -1])
    }
}

/// Geometry of one convolution block.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Kernel half-width ("same" padding).
    halo: i64,
    pool: i64,
    pool_padding: i64,
    len_in: i64,
    len_out: i64,
}

/// One mutant's window at one block: input window `[in_start, in_start + in_width)`, output window
/// `[out_start, out_start + out_width)`, and how much of the mutant's input window falls outside on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Step {
    out_width: i64,
    drop_left: i64,
    drop_right: i64,
    /// Delta and changed-span paths: the convolution changes `[a − halo, a + w + halo)` that fall left and right of
    /// the pooled window (or of the sequence).
    delta_left: i64,
    delta_right: i64,
    out_start: i64,
}

/// Mutants that batch together: the edit's width, and every block's (output width, left and right overlay clipping,
/// left and right clipping of the convolution's change).
type GroupKey = (usize, Vec<(i64, i64, i64, i64, i64)>);

/// The scBasset trunk with the reference activations cached, for embedding edited references locally.
pub struct LocalEmbedder<'a> {
    model: &'a ScBasset,
    kind: Kind,
    blocks: Vec<&'a ConvBlock>,
    weights: Vec<Tensor>,
    geometry: Vec<Geometry>,
    /// Inputs of every block (level 0: the one-hot).
    levels: Vec<LevelCache>,
    /// `gelu(conv1x1 output)` of the references, `(R·P, C)` rows, in the compute kind.
    g_ref: LevelCache,
    /// Dense pre-activations of the references `(R, U)` fp32.
    pre_ref: Tensor,
    /// Effective dense weight `(U, C, P)` fp32 (the compute kind's rounding, plus the LoRA update).
    dense_weight: Tensor,
    /// Delta path, per block after the first: the references' convolution outputs before the batch norm, and the
    /// kernel with its adapter as a transposed convolution's `(C_in, C_out, k)` in the compute kind (empty: the direct
    /// path for every block).
    conv_out: Vec<LevelCache>,
    delta_kernels: Vec<Tensor>,
    /// Changed-span path (bf16): the references (built on the first call with many point edits per reference) and,
    /// per block, its caches where the block takes the path (see `local_span`).
    references: Vec<u8>,
    span_budget: bool,
    spans: OnceCell<Vec<Option<SpanCache>>>,
    n_refs: usize,
}

impl<'a> LocalEmbedder<'a> {
    /// Caches the activations of `references` (concatenated codes, a whole number of the model's sequences).
    pub fn new(model: &'a ScBasset, references: &[u8]) -> Result<Self> {
        Self::with_delta_budget(model, references, DELTA_CACHE_BYTES)
    }

    /// [`new`](Self::new) with the delta path taken when its caches need at most `budget` bytes (0: never).
    pub fn with_delta_budget(model: &'a ScBasset, references: &[u8], budget: usize) -> Result<Self> {
        let len = model.config().seq_len;
        if references.is_empty() || !references.len().is_multiple_of(len) {
            return Err(RuntimeError::invalid(
                "references",
                format!("{} bases are not a whole number of {len}-bp sequences", references.len()),
            ));
        }
        if let Some(i) = references.iter().position(|&c| c > 3) {
            return Err(RuntimeError::invalid("references", format!("base code {} at {i}", references[i])));
        }
        let n_refs = references.len() / len;
        let kind = model.precision().compute_kind();
        let device = model.device();
        let blocks: Vec<&ConvBlock> = model.conv_blocks().collect();
        // the bottleneck's `(U, C·P)`
        let dense = model.dense_block();
        let w = effective_weight(&dense.weight, dense.lora.as_ref(), kind);
        let (mut geometry, mut weights) = (Vec::new(), Vec::new());
        let mut len_in = len as i64;
        for b in &blocks {
            let (pool, pp) = if b.pool > 1 { (b.pool, b.pool_padding) } else { (1, 0) };
            let len_out = if pool > 1 { (len_in + 2 * pp - pool) / pool + 1 } else { len_in };
            geometry.push(Geometry { halo: b.weight.size()[2] / 2, pool, pool_padding: pp, len_in, len_out });
            weights.push(b.weight.to_kind(kind));
            len_in = len_out;
        }
        let margin = |g: &Geometry| g.halo + g.pool_padding + g.pool;
        let elem = if kind == Kind::Float { 4 } else { 2 };
        let delta_bytes: usize = blocks
            .iter()
            .zip(&geometry)
            .skip(1)
            .map(|(b, g)| (g.len_in + 2 * margin(g)) as usize * b.out_channels() as usize * elem * n_refs)
            .sum();
        // fp32 only: in bf16 the delta path was no faster here, and its rounding (the adapter folded into a bf16
        // kernel, the change added to bf16 caches) strays further from the model's than the direct recomputation.
        let delta = kind == Kind::Float && blocks.len() > 1 && delta_bytes <= budget;
        let span_budget = span::cache_bytes(kind, &blocks, &geometry, n_refs).is_some_and(|b| b <= budget);
        // The references' forward pass, in evaluation-sized chunks: block inputs, gelu(conv1x1 output), dense output,
        // and for the delta path the blocks' convolution outputs.
        let mut level_rows: Vec<Vec<Tensor>> = blocks.iter().map(|_| Vec::new()).collect();
        let mut conv_rows: Vec<Vec<Tensor>> = blocks.iter().map(|_| Vec::new()).collect();
        let (mut g_rows, mut pre) = (Vec::new(), Vec::new());
        let chunk = eval_batch(device, model.precision()) * len;
        tch::no_grad(|| -> Result<()> {
            for part in references.chunks(chunk) {
                let codes = Tensor::from_slice(part).view([-1, len as i64]).to_device(device);
                let mut h = ScBasset::one_hot(&codes).map_err(|e| RuntimeError::Other(e.to_string()))?;
                for (l, b) in blocks.iter().enumerate() {
                    level_rows[l].push(padded_rows(&h, margin(&geometry[l])));
                    let c = b.conv_t(&h, model.precision());
                    if delta && l > 0 {
                        conv_rows[l].push(padded_rows(&c, margin(&geometry[l])));
                    }
                    h = b.norm_pool_t(&c, false);
                }
                let g = gelu(&h.to_kind(kind));
                let flat = g.flatten(1, -1);
                let dense = model.dense_block();
                let mut out = flat.linear::<Tensor>(&dense.weight.to_kind(kind), None);
                if let Some(l) = dense.lora.as_ref().filter(|l| !l.merged) {
                    out += l.apply_linear(&flat, kind);
                }
                pre.push(out.to_kind(Kind::Float));
                g_rows.push(padded_rows(&g, 0));
            }
            Ok(())
        })?;
        let levels = level_rows
            .iter()
            .zip(&geometry)
            .map(|(rows, g)| LevelCache { rows: Tensor::cat(rows, 0), len: g.len_in, margin: margin(g) })
            .collect();
        let (mut conv_out, mut delta_kernels) = (Vec::new(), Vec::new());
        if delta {
            for ((rows, g), b) in conv_rows.iter().zip(&geometry).zip(&blocks).skip(1) {
                conv_out.push(LevelCache { rows: Tensor::cat(rows, 0), len: g.len_in, margin: margin(g) });
                let w = effective_weight(&b.weight, b.lora.as_ref(), kind);
                // the transposed convolution's kernel: (C_in, C_out, k), taps reversed
                delta_kernels.push(w.transpose(0, 1).flip([2]).contiguous().to_kind(kind));
            }
        }
        let last = geometry.last().map_or(len as i64, |g| g.len_out);
        let channels = blocks.last().map_or(4, |b| b.out_channels());
        Ok(LocalEmbedder {
            model,
            kind,
            blocks,
            weights,
            geometry,
            levels,
            g_ref: LevelCache { rows: Tensor::cat(&g_rows, 0), len: last, margin: 0 },
            pre_ref: Tensor::cat(&pre, 0),
            dense_weight: w.view([-1, channels, last]),
            conv_out,
            delta_kernels,
            references: if span_budget { references.to_vec() } else { Vec::new() },
            span_budget,
            spans: OnceCell::new(),
            n_refs,
        })
    }

    /// Whether blocks after the first take the delta path for edits of up to [`DELTA_MAX_EDIT`] bases (fp32, and
    /// their caches fit the budget).
    pub fn uses_delta(&self) -> bool {
        !self.conv_out.is_empty()
    }

    /// Whether the blocks that pool have taken the changed-span path (bf16, their caches fit the budget, and a call
    /// had at least [`SPAN_MIN_EDITS`] point edits per reference).
    pub fn uses_span(&self) -> bool {
        self.spans.get().is_some_and(|s| s.iter().any(Option::is_some))
    }

    /// Number of cached references.
    pub fn n_references(&self) -> usize {
        self.n_refs
    }

    /// `z` `(R, D)` fp32 of the references themselves, from the cached pass (no further computation).
    pub fn reference_embeddings(&self) -> Tensor {
        tch::no_grad(|| gelu(&self.model.dense_block().bn.forward_t(&self.pre_ref, false)))
    }

    /// The windows of a mutant `[start, start + w)`: one step per block. Block `l`'s window reaches right to at
    /// least `widths[l]` positions where the layer allows: edits of one width away from the sequence ends then share
    /// their window shapes and batch together (the extra positions are recomputed to the values they had).
    fn plan(&self, start: i64, width: i64, widths: &[i64]) -> Vec<Step> {
        let (mut a, mut w) = (start, width);
        let mut steps = Vec::with_capacity(self.geometry.len());
        for (l, g) in self.geometry.iter().enumerate() {
            let (lo, hi) = (a - g.halo + g.pool_padding, a + w + g.halo + g.pool_padding);
            let lo = lo.div_euclid(g.pool).max(0);
            let hi = ((hi + g.pool - 1).div_euclid(g.pool)).min(g.len_out);
            let hi = widths.get(l).map_or(hi, |&c| hi.max((lo + c).min(g.len_out)));
            let in_start = lo * g.pool - g.pool_padding - g.halo;
            let in_width = (hi - lo) * g.pool + 2 * g.halo;
            let drop_left = (in_start - a).max(0);
            let drop_right = ((a + w) - (in_start + in_width)).max(0);
            // The convolution outputs the pooled window covers, and the change's outputs outside them or the sequence.
            let (conv_start, conv_end) = (lo * g.pool - g.pool_padding, hi * g.pool - g.pool_padding);
            let delta_left = (conv_start.max(0) - (a - g.halo)).max(0);
            let delta_right = ((a + w + g.halo) - conv_end.min(g.len_in)).max(0);
            steps.push(Step { out_width: hi - lo, drop_left, drop_right, delta_left, delta_right, out_start: lo });
            a = lo;
            w = hi - lo;
        }
        steps
    }

    /// For edits of `width` bases: per block, the widest window that an edit away from the sequence ends needs (the
    /// most over the pools' alignments, with the previous blocks' windows so widened) — [`plan`](Self::plan)'s
    /// `widths`.
    fn common_widths(&self, width: i64) -> Vec<i64> {
        let period = self.geometry.iter().map(|g| g.pool).product::<i64>().clamp(1, 4096);
        let len = self.model.config().seq_len as i64;
        let first = ((len - period) / 2).max(0);
        let starts: Vec<i64> = (first..(first + period).min(len - width + 1)).collect();
        let mut widths = Vec::with_capacity(self.geometry.len());
        for l in 0..self.geometry.len() {
            let w = starts.iter().map(|&s| self.plan(s, width, &widths)[l].out_width).max().unwrap_or(0);
            widths.push(w);
        }
        widths
    }

    /// `z` `(M, D)` fp32 of the edited references, in the order of `mutations`.
    pub fn embed_mutants(&self, mutations: &[Mutation]) -> Result<Tensor> {
        let len = self.model.config().seq_len;
        for m in mutations {
            if m.reference >= self.n_refs
                || m.bases.is_empty()
                || m.start + m.bases.len() > len
                || m.bases.iter().any(|&b| b > 3)
            {
                return Err(RuntimeError::invalid(
                    "mutations",
                    format!(
                        "edit of {} bases at {} of reference {} does not fit {} references of {len} bp with codes 0..4",
                        m.bases.len(),
                        m.start,
                        m.reference,
                        self.n_refs
                    ),
                ));
            }
        }
        let narrow = mutations.iter().filter(|m| m.bases.len() <= DELTA_MAX_EDIT).count();
        if self.span_budget && narrow >= SPAN_MIN_EDITS * self.n_refs && self.spans.get().is_none() {
            let caches = self.span_caches()?;
            let _ = self.spans.set(caches);
        }
        let device = self.model.device();
        let d = self.pre_ref.size()[1];
        let out = Tensor::zeros([mutations.len() as i64, d], (Kind::Float, device));
        // Group by window shapes (widths and clipping; not starts): with the common widths, every edit of a width away
        // from the ends is in one group.
        let mut groups: BTreeMap<GroupKey, Vec<(usize, Vec<Step>)>> = BTreeMap::new();
        let mut common: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for (i, m) in mutations.iter().enumerate() {
            let width = m.bases.len();
            let widths = common.entry(width).or_insert_with(|| self.common_widths(width as i64));
            let steps = self.plan(m.start as i64, width as i64, widths);
            let key =
                steps.iter().map(|s| (s.out_width, s.drop_left, s.drop_right, s.delta_left, s.delta_right)).collect();
            groups.entry((m.bases.len(), key)).or_default().push((i, steps));
        }
        tch::no_grad(|| -> Result<()> {
            for members in groups.values() {
                for chunk in members.chunks(LOCAL_BATCH) {
                    let z = self.embed_group(mutations, chunk)?;
                    let rows: Vec<i64> = chunk.iter().map(|(i, _)| *i as i64).collect();
                    let _ = out.shallow_clone().index_copy_(0, &Tensor::from_slice(&rows).to_device(device), &z);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// One batch of mutants sharing their window shapes.
    fn embed_group(&self, mutations: &[Mutation], chunk: &[(usize, Vec<Step>)]) -> Result<Tensor> {
        let device = self.model.device();
        let n = chunk.len() as i64;
        let refs: Vec<usize> = chunk.iter().map(|(i, _)| mutations[*i].reference).collect();
        let w0 = mutations[chunk[0].0].bases.len() as i64;
        let codes: Vec<u8> = chunk.iter().flat_map(|(i, _)| mutations[*i].bases.iter().copied()).collect();
        let codes = Tensor::from_slice(&codes).view([n, w0]).to_device(device);
        // The mutant's window of the current level: values (N, C, w) at [starts, starts + w).
        let mut values = ScBasset::one_hot(&codes).map_err(|e| RuntimeError::Other(e.to_string()))?;
        let mut starts: Vec<i64> = chunk.iter().map(|(i, _)| mutations[*i].start as i64).collect();
        for (l, (g, block)) in self.geometry.iter().zip(&self.blocks).enumerate() {
            let step = chunk[0].1[l];
            let w = values.size()[2];
            let out_starts: Vec<i64> = chunk.iter().map(|(_, s)| s[l].out_start).collect();
            if l > 0 && !self.conv_out.is_empty() && w0 as usize <= DELTA_MAX_EDIT {
                values = self.delta_block(l, &refs, &starts, &values, &out_starts, step);
                starts = out_starts;
                continue;
            }
            if self.span_cache(l).is_some() && w0 as usize <= DELTA_MAX_EDIT {
                values = self.span_block(l, &refs, &starts, &values, &out_starts, step);
                starts = out_starts;
                continue;
            }
            let in_starts: Vec<i64> = out_starts.iter().map(|&lo| lo * g.pool - g.pool_padding - g.halo).collect();
            let in_width = step.out_width * g.pool + 2 * g.halo;
            let h = if w == in_width && starts == in_starts {
                // The mutant's values are the whole input window (a 1×1 convolution without pooling): the overlay
                // would replace every position of the references' window, so it is not gathered.
                gelu(&values.to_kind(self.kind))
            } else {
                // Reference window (N, W, C), overlaid with the mutant's values where it lies inside.
                let window = self.levels[l].windows(&refs, &in_starts, in_width).to_kind(values.kind());
                let keep = w - step.drop_left - step.drop_right;
                if keep > 0 {
                    let src = values.narrow(2, step.drop_left, keep).permute([0, 2, 1]).reshape([n * keep, -1]);
                    let idx = window_rows(&starts, &in_starts, in_width, step.drop_left, keep, device);
                    let flat = window.view([n * in_width, -1]);
                    let _ = flat.shallow_clone().index_copy_(0, &idx, &src);
                }
                // Positions past the block input's ends read the cache's zero margin: the convolution's zero padding.
                gelu(&window.permute([0, 2, 1]).to_kind(self.kind))
            };
            let conv = self.block_conv(l, &h);
            values = norm_and_pool(block, g, &conv, &out_starts, step.out_width, device);
            starts = out_starts;
        }
        // Bottleneck: pre = pre_ref + W[:, :, window]·(g_mut − g_ref) per start.
        let w = values.size()[2];
        let g_mut = gelu(&values.to_kind(self.kind)).to_kind(Kind::Float);
        let g_ref = self.g_ref.windows(&refs, &starts, w).to_kind(Kind::Float).permute([0, 2, 1]);
        let diff = (g_mut - g_ref).reshape([n, -1]);
        let ref_index = Tensor::from_slice(&refs.iter().map(|&r| r as i64).collect::<Vec<_>>()).to_device(device);
        let pre = self.pre_ref.index_select(0, &ref_index);
        let mut by_start: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (k, &s) in starts.iter().enumerate() {
            by_start.entry(s).or_default().push(k as i64);
        }
        for (s, rows) in by_start {
            let wt = self.dense_weight.narrow(2, s, w).reshape([self.dense_weight.size()[0], -1]);
            let rows = Tensor::from_slice(&rows).to_device(device);
            let contrib = diff.index_select(0, &rows).matmul(&wt.tr());
            let _ = pre.shallow_clone().index_add_(0, &rows, &contrib);
        }
        let dense = self.model.dense_block();
        Ok(gelu(&dense.bn.forward_t(&pre, false)))
    }
}

impl LocalEmbedder<'_> {
    /// Block `l`'s convolution of `h` (its input after GELU, in the compute kind, with the padding it needs) as the
    /// model computes it: the compute kind's kernel plus the unmerged adapter (direct and changed-span paths).
    fn block_conv(&self, l: usize, h: &Tensor) -> Tensor {
        let mut conv = h.conv1d::<Tensor>(&self.weights[l], None, [1], [0], [1], 1);
        if let Some(lora) = self.blocks[l].lora.as_ref().filter(|lo| !lo.merged) {
            conv += lora.apply_conv(h, 0, self.kind);
        }
        conv
    }

    /// Block `l` (after the first) by the delta path: the change of its input on `[a, a + w)` per mutant (`values`
    /// `(N, C_in, w)`) through GELU and the convolution as a difference, added to the references' convolution outputs
    /// over the pooled window, then batch norm and max-pool.
    fn delta_block(
        &self,
        l: usize,
        refs: &[usize],
        starts: &[i64],
        values: &Tensor,
        out_starts: &[i64],
        step: Step,
    ) -> Tensor {
        let (g, block) = (&self.geometry[l], self.blocks[l]);
        let device = self.model.device();
        let (n, w) = (values.size()[0], values.size()[2]);
        let kernel = &self.delta_kernels[l - 1];
        let c_out = kernel.size()[1];
        let reference = self.levels[l].windows(refs, starts, w).permute([0, 2, 1]);
        let gelu_of = |x: &Tensor| gelu(&x.to_kind(self.kind)).to_kind(Kind::Float);
        let dh = (gelu_of(values) - gelu_of(&reference)).to_kind(self.kind).contiguous();
        // The transposed convolution sends each changed position's `k` taps to the `w + 2·halo` outputs from
        // `a − halo` (= the convolution of Δh zero-padded by 2·halo, in w·k instead of (w + 2·halo)·k products).
        let change = dh.conv_transpose1d::<Tensor>(kernel, None, [1], [0], [0], 1, [1]).permute([0, 2, 1]);
        // The references' convolution outputs over the pooled window, plus the change where it falls inside.
        let (width, conv_starts) = conv_window(g, step, out_starts);
        let window = self.conv_out[l - 1].windows(refs, &conv_starts, width).to_kind(change.kind());
        let keep = w + 2 * g.halo - step.delta_left - step.delta_right;
        if keep > 0 {
            let src = change.narrow(1, step.delta_left, keep).reshape([n * keep, c_out]);
            let idx = changed_rows(g, step, starts, &conv_starts, keep, device);
            let flat = window.view([n * width, c_out]);
            let _ = flat.shallow_clone().index_add_(0, &idx, &src);
        }
        norm_and_pool(block, g, &window.permute([0, 2, 1]), out_starts, step.out_width, device)
    }
}

/// The convolution outputs a block's pooled windows read: their width (`out_width · pool`) and, per mutant, the first
/// output position of its window from `out_starts` (shared by the delta and changed-span paths).
fn conv_window(g: &Geometry, step: Step, out_starts: &[i64]) -> (i64, Vec<i64>) {
    (step.out_width * g.pool, out_starts.iter().map(|&lo| lo * g.pool - g.pool_padding).collect())
}

/// Row indices, in the flattened `(N · width, C)` windows from `conv_starts`, of the `keep` changed convolution
/// outputs of each mutant (from `a − halo + delta_left`, `a` its edit's start).
fn changed_rows(g: &Geometry, step: Step, starts: &[i64], conv_starts: &[i64], keep: i64, device: Device) -> Tensor {
    window_rows(starts, conv_starts, step.out_width * g.pool, step.delta_left - g.halo, keep, device)
}

/// Row indices, in `(N · width, C)` windows of `width` positions starting at `window_starts`, of the `keep`
/// positions from `a + offset` of each mutant (`a` in `starts`): where a mutant's values go in its window.
fn window_rows(starts: &[i64], window_starts: &[i64], width: i64, offset: i64, keep: i64, device: Device) -> Tensor {
    let mut idx = Vec::with_capacity(starts.len() * keep as usize);
    for (m, (&a, &s)) in starts.iter().zip(window_starts).enumerate() {
        let first = m as i64 * width + a + offset - s;
        idx.extend(first..first + keep);
    }
    Tensor::from_slice(&idx).to_device(device)
}

/// Batch norm and max-pool of a block's convolution outputs `(N, C, out_width · pool)` over the pooled windows
/// starting at `out_starts`; outputs past the sequence ends are the max-pool's −∞ padding.
fn norm_and_pool(
    block: &ConvBlock,
    g: &Geometry,
    conv: &Tensor,
    out_starts: &[i64],
    out_width: i64,
    device: Device,
) -> Tensor {
    let mut y = block.bn.forward_t(conv, false);
    if g.pool > 1 {
        let conv_starts: Vec<i64> = out_starts.iter().map(|&lo| lo * g.pool - g.pool_padding).collect();
        if let Some(m) = position_mask(&conv_starts, out_width * g.pool, g.len_in, device) {
            y = y.where_self(&m, &Tensor::full([], f64::NEG_INFINITY, (y.kind(), device)));
        }
        y = crate::models::pool::max_pool(&y, g.pool, 0);
    }
    y
}

/// A model seen without its local recomputation: every edited sequence runs through the whole network (benchmarks
/// and tests compare the two paths with it).
pub struct FullRecompute<'a>(pub &'a dyn SequenceEmbedder);

impl SequenceEmbedder for FullRecompute<'_> {
    fn seq_len(&self) -> usize {
        self.0.seq_len()
    }
    fn embedding_dim(&self) -> usize {
        self.0.embedding_dim()
    }
    fn device(&self) -> Device {
        self.0.device()
    }
    fn batch_size(&self) -> usize {
        self.0.batch_size()
    }
    fn embed_batch(&self, codes: &Tensor) -> Result<Tensor> {
        self.0.embed_batch(codes)
    }
}

/// `(N, 1, width)` mask of the positions `[start, start + width)` that lie inside `0..len`, or `None` when all do.
fn position_mask(starts: &[i64], width: i64, len: i64, device: Device) -> Option<Tensor> {
    if starts.iter().all(|&s| s >= 0 && s + width <= len) {
        return None;
    }
    let mut m = Vec::with_capacity(starts.len() * width as usize);
    for &s in starts {
        m.extend((s..s + width).map(|p| p >= 0 && p < len));
    }
    Some(Tensor::from_slice(&m).view([starts.len() as i64, 1, width]).to_device(device))
}

#[path = "local_span.rs"]
mod span;

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
