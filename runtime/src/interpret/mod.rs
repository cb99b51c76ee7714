//! Interpreting a trained sequence → cells model (scBasset's downstream analyses, calico/scBasset `scbasset/utils.py`):
//! TF activity by motif insertion, in-silico mutagenesis (ISM) and variant effects.
//!
//! Everything here needs two things from a model: the sequence embedding `z` of a batch of sequences
//! ([`SequenceEmbedder`]) and a linear read-out per cell, `z·w_c + b_c` ([`CellReadout`]). scBasset's final dense
//! layer is such a read-out; so is a cell-state decoder, whose per-cell weights come from the cells' embeddings.
//! Because the read-out is linear in `z`, logit differences for a group of cells are the difference in `z` times
//! the group's mean weight vector: ISM and variant effects compute `Δz` once and project it onto any cells or groups.
//!
//! - [`insertion`]: dinucleotide-shuffled backgrounds and per-cell TF activity (`motif_score` of the original).
//! - [`ism`]: every position × every base, batched; per-cell or per-group logit deltas; normalised scores.
//! - [`variants`]: `chr:pos:ref:alt` and VCF parsing; [`variant_effect`]: ref vs alt per cell.
//! - [`sharded`]: insertion, ISM and variant effects split across the ranks of a process group (`gscript launch`, torchrun).
//! - [`local`]: local recomputation of point edits (ISM, equal-length motif insertion) for models that offer it
//!   ([`SequenceEmbedder::local_embedder`]); everything else recomputes whole sequences.

pub mod insertion;
pub mod ism;
pub mod local;
pub mod sharded;
pub mod variant_effect;
pub mod variants;

use tch::{Device, Kind, Tensor};

use crate::error::{Result, RuntimeError};
use crate::models::scbasset::{eval_batch, DenoiseScale, ScBasset, EVAL_BATCH};
use crate::progress::{CancelToken, Progress};

pub use insertion::{insert_motifs, insert_motifs_on, sample_backgrounds, InsertionOptions, TfActivity};
pub use ism::{ism, ism_on, IsmDeltas};
pub use local::{FullRecompute, LocalEmbedder, Mutation};
pub use variant_effect::{variant_effects, variant_effects_on, VariantCentre, VariantEffects, VariantStatus};
pub use variants::{parse_variant, parse_vcf, read_vcf, Variant, VcfRead};

/// A model that maps sequences to embeddings `z` (evaluation mode).
pub trait SequenceEmbedder {
    /// Input length in bases.
    fn seq_len(&self) -> usize;
    /// Width of `z`.
    fn embedding_dim(&self) -> usize;
    /// Where the model's tensors live.
    fn device(&self) -> Device;
    /// Sequences per forward pass.
    fn batch_size(&self) -> usize {
        EVAL_BATCH
    }
    /// `z` `(B, D)` fp32 on the model's device for `(B, seq_len)` base codes (UInt8, values 0..4) on that device.
    fn embed_batch(&self, codes: &Tensor) -> Result<Tensor>;
    /// A [`LocalEmbedder`] over `references` (concatenated codes) when the model supports local recomputation of
    /// point edits; `None` (the default) makes callers recompute whole sequences.
    fn local_embedder(&self, references: &[u8]) -> Option<Result<LocalEmbedder<'_>>> {
        let _ = references;
        None
    }
}

impl SequenceEmbedder for ScBasset {
    fn seq_len(&self) -> usize {
        self.config().seq_len
    }
    fn embedding_dim(&self) -> usize {
        self.config().bottleneck
    }
    fn device(&self) -> Device {
        ScBasset::device(self)
    }
    fn batch_size(&self) -> usize {
        eval_batch(ScBasset::device(self), self.precision())
    }
    fn embed_batch(&self, codes: &Tensor) -> Result<Tensor> {
        tch::no_grad(|| -> Result<Tensor> {
            let x = ScBasset::one_hot(codes).map_err(|e| RuntimeError::Other(e.to_string()))?;
            Ok(self.embed(&x, false).f_to_kind(Kind::Float)?)
        })
    }
    fn local_embedder(&self, references: &[u8]) -> Option<Result<LocalEmbedder<'_>>> {
        Some(LocalEmbedder::new(self, references))
    }
}

/// Per-cell linear read-out of `z`: logits `z·w_c + b_c`.
#[derive(Debug)]
pub struct CellReadout {
    /// `(n_cells, D)` fp32.
    pub weights: Tensor,
    /// `(n_cells)` fp32.
    pub bias: Tensor,
}

impl CellReadout {
    /// scBasset's cell path (`W1`, `b1` for scBasset-BC, as the original's downstream code), on the model's device.
    pub fn of_scbasset(model: &ScBasset) -> CellReadout {
        CellReadout {
            weights: model.cell_embeddings().to_kind(Kind::Float),
            bias: model.intercept().to_kind(Kind::Float),
        }
    }

    pub fn n_cells(&self) -> usize {
        self.weights.size()[0] as usize
    }

    /// Values `(B, n_cells)` of `z` `(B, D)` on the read-out's scale: `σ(z·w)`, `z·w`, or `σ(z·w + b)`.
    pub fn values(&self, z: &Tensor, scale: DenoiseScale) -> Tensor {
        let logits = z.matmul(&self.weights.tr());
        match scale {
            DenoiseScale::Sigmoid => logits.sigmoid(),
            DenoiseScale::Logit => logits,
            DenoiseScale::None => (logits + &self.bias).sigmoid(),
        }
    }

    /// The mean weight vector of each group of cells `(n_groups, D)` (see [`group_matrix`]).
    pub fn group_weights(&self, groups: &[Option<usize>], names: &[String]) -> Result<Tensor> {
        if groups.len() != self.n_cells() {
            return Err(RuntimeError::invalid(
                "groups",
                format!("{} labels for {} cells", groups.len(), self.n_cells()),
            ));
        }
        Ok(group_matrix(groups, names)?.to_device(self.weights.device()).matmul(&self.weights))
    }
}

/// Averaging matrix `(n_groups, n_cells)` on the CPU: row `g` holds `1/|g|` for the cells of group `g`.
/// `groups[c]` is the group of cell `c`, or `None` to leave the cell out; a group without cells is an error.
pub fn group_matrix(groups: &[Option<usize>], names: &[String]) -> Result<Tensor> {
    let n = groups.len();
    let k = names.len();
    let mut counts = vec![0usize; k];
    for g in groups.iter().flatten() {
        if *g >= k {
            return Err(RuntimeError::invalid("groups", format!("group index {g} but only {k} names")));
        }
        counts[*g] += 1;
    }
    if let Some(g) = counts.iter().position(|&c| c == 0) {
        return Err(RuntimeError::invalid("groups", format!("group `{}` has no cells", names[g])));
    }
    let mut assign = vec![0f32; k * n];
    for (c, g) in groups.iter().enumerate() {
        if let Some(g) = *g {
            assign[g * n + c] = 1.0 / counts[g] as f32;
        }
    }
    Ok(Tensor::from_slice(&assign).view([k as i64, n as i64]))
}

/// Embeds `n` sequences produced on demand, in batches of [`SequenceEmbedder::batch_size`]: `fill(range, buf)` appends the codes of
/// sequences `range` to `buf` (each `seq_len` long); `consume(range, z)` receives their embeddings `(len, D)` on the
/// model's device. Progress counts sequences; the cancel token is checked before every batch.
pub fn embed_stream(
    model: &dyn SequenceEmbedder,
    n: usize,
    label: &str,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
    mut fill: impl FnMut(std::ops::Range<usize>, &mut Vec<u8>) -> Result<()>,
    mut consume: impl FnMut(std::ops::Range<usize>, &Tensor) -> Result<()>,
) -> Result<()> {
    let len = model.seq_len();
    let batch = model.batch_size();
    let mut buf = Vec::with_capacity(batch * len);
    progress.start(label, Some(n as u64));
    for start in (0..n).step_by(batch) {
        cancel.check()?;
        crate::threads::adapt();
        let end = (start + batch).min(n);
        buf.clear();
        fill(start..end, &mut buf)?;
        if buf.len() != (end - start) * len {
            return Err(RuntimeError::Other(format!(
                "internal: {} bases produced for {} sequences of {len} bp",
                buf.len(),
                end - start
            )));
        }
        if let Some(i) = buf.iter().position(|&c| c > 3) {
            return Err(RuntimeError::invalid(
                "sequences",
                format!("base code {} in sequence {}; expected A, C, G or T", buf[i], start + i / len),
            ));
        }
        let codes = Tensor::from_slice(&buf).f_view([(end - start) as i64, len as i64])?.f_to_device(model.device())?;
        let z = model.embed_batch(&codes)?;
        consume(start..end, &z)?;
        progress.update(end as u64, "");
    }
    progress.finish(&format!("{n} sequences embedded"));
    Ok(())
}

/// Embeddings of whole sequences given as concatenated codes, on the model's device.
pub fn embed_all(
    model: &dyn SequenceEmbedder,
    codes: &[u8],
    label: &str,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Tensor> {
    let len = model.seq_len();
    if !codes.len().is_multiple_of(len) {
        return Err(RuntimeError::invalid(
            "sequences",
            format!("{} bases are not a whole number of {len}-bp sequences", codes.len()),
        ));
    }
    let n = codes.len() / len;
    let mut parts = Vec::new();
    embed_stream(
        model,
        n,
        label,
        progress,
        cancel,
        |r, buf| {
            buf.extend_from_slice(&codes[r.start * len..r.end * len]);
            Ok(())
        },
        |_, z| {
            parts.push(z.shallow_clone());
            Ok(())
        },
    )?;
    if parts.is_empty() {
        return Ok(Tensor::zeros([0, model.embedding_dim() as i64], (Kind::Float, model.device())));
    }
    Ok(Tensor::f_cat(&parts, 0)?)
}

/// z-scores of each row across its columns (numpy `std` with ddof = 0); a constant row becomes zeros.
pub fn zscore_rows(x: &Tensor) -> Tensor {
    let mean = x.mean_dim(Some([1i64].as_slice()), true, Kind::Float);
    let centred = x - &mean;
    let sd = centred.square().mean_dim(Some([1i64].as_slice()), true, Kind::Float).sqrt();
    let safe = sd.where_scalarother(&sd.gt(0.0), 1.0);
    centred / safe
}

#[cfg(test)]
#[path = "interpret_tests.rs"]
mod tests;
