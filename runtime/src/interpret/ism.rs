//! In-silico saturation mutagenesis (`ism` in calico/scBasset `scbasset/utils.py`): every position × every other base
//! of one sequence, batched through the model in evaluation mode. The result is the change of the sequence embedding,
//! `Δz` `(P, 4, D)` (zero at the reference base); projecting it on a cell's read-out weights gives the original's
//! `(z_mut − z_ref)·w_c` logit differences, and on a group's mean weights the group's mean difference.
//!
//! The published notebooks then use `m − mean over the 4 bases` (the "normalised" ISM) and its value at the
//! reference base as the per-position score.

use std::ops::Range;

use tch::{Device, Kind, Tensor};

use super::sharded::Shard;
use super::{embed_all, embed_stream, Mutation, SequenceEmbedder};
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, NoProgress, Progress};

/// Mutants per call of the local recomputation.
const LOCAL_CALL: usize = 1024;

/// ISM of one sequence, before choosing cells.
#[derive(Debug)]
pub struct IsmDeltas {
    /// The reference sequence as codes (A=0, C=1, G=2, T=3), the model's length.
    pub codes: Vec<u8>,
    /// Mutated positions (0-based in the sequence).
    pub positions: Range<usize>,
    /// `(P, 4, D)` fp32 on the CPU: `z(mutant) − z(reference)`, zero at the reference base.
    pub delta_z: Tensor,
    /// `z` of the reference sequence `(D)`.
    pub z_ref: Tensor,
}

impl IsmDeltas {
    /// Logit differences `(K, P, 4)` for read-out weights `(K, D)` (cells, or groups' mean weights).
    pub fn project(&self, weights: &Tensor) -> Tensor {
        let w = weights.to_device(Device::Cpu).to_kind(Kind::Float);
        tch::no_grad(|| self.delta_z.matmul(&w.tr()).permute([2, 0, 1]).contiguous())
    }

    /// `m − mean over the 4 bases` of `(K, P, 4)` deltas.
    pub fn normalise(deltas: &Tensor) -> Tensor {
        deltas - deltas.mean_dim(Some([2i64].as_slice()), true, Kind::Float)
    }

    /// The normalised delta at the reference base of each position: `(K, P)`.
    pub fn reference_scores(&self, deltas: &Tensor) -> Tensor {
        let norm = Self::normalise(deltas);
        let refs: Vec<i64> = self.codes[self.positions.clone()].iter().map(|&c| c as i64).collect();
        let k = deltas.size()[0];
        let index = Tensor::from_slice(&refs).view([1, -1, 1]).expand([k, refs.len() as i64, 1], false);
        norm.gather(2, &index, false).squeeze_dim(2)
    }
}

/// Runs ISM on `codes` (one sequence of the model's length) at `positions`.
pub fn ism(
    model: &dyn SequenceEmbedder,
    codes: &[u8],
    positions: Range<usize>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<IsmDeltas> {
    ism_on(model, codes, positions, None, progress, cancel)
}

/// [`ism`], sharded over the ranks of `shard` when given: this rank embeds its part of the mutants, and the deltas
/// are summed over the ranks (each rank's rows are zero on the others, so the sum is exact) so that every rank
/// returns the full result. Every rank of the group must call it with the same arguments.
pub fn ism_on(
    model: &dyn SequenceEmbedder,
    codes: &[u8],
    positions: Range<usize>,
    shard: Option<&Shard>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<IsmDeltas> {
    let len = model.seq_len();
    if codes.len() != len {
        return Err(RuntimeError::invalid(
            "sequence",
            format!("is {} bp; the model reads {len}-bp sequences", codes.len()),
        ));
    }
    if positions.start >= positions.end || positions.end > len {
        return Err(RuntimeError::invalid(
            "window",
            format!("positions {}..{} are not a non-empty range inside 0..{len}", positions.start, positions.end),
        ));
    }
    if let Some(i) = codes.iter().position(|&c| c > 3) {
        return Err(RuntimeError::invalid(
            "sequence",
            format!("base code {} at position {i}; expected A, C, G or T", codes[i]),
        ));
    }
    let z_ref = embed_all(model, codes, "reference", &mut NoProgress, cancel)?.squeeze_dim(0);
    let p = positions.len();
    let d = model.embedding_dim() as i64;
    // Mutant k is position start + k / 3, base = the (k % 3)-th base other than the reference.
    let alt = |k: usize| -> (usize, u8) {
        let pos = positions.start + k / 3;
        let r = codes[pos];
        let j = (k % 3) as u8;
        (pos, if j >= r { j + 1 } else { j })
    };
    let mut delta = Tensor::zeros([p as i64 * 4, d], (Kind::Float, model.device()));
    let row = |k: usize| -> i64 {
        let (pos, b) = alt(k);
        ((pos - positions.start) * 4 + b as usize) as i64
    };
    // This rank's mutants (all 3P of them in one process), in whole batches of the single-process run so that every
    // mutant is embedded in the same batch, hence to the same bits.
    let mine = |unit: usize| shard.map_or(0..3 * p, |sh| sh.range_in_units(3 * p, unit));
    if let Some(local) = model.local_embedder(codes) {
        // Point edits: recompute only the window each layer's output can change (see `local`).
        let local = local?;
        // Large calls: the local path batches mutants whose windows have the same shapes (all but those near the
        // ends), so a call of many mutants runs few large batches. In a process group each rank takes an equal share
        // in calls of at most that size (batches then differ from one process's: fp32 tolerance).
        let batch = shard.map_or(LOCAL_CALL, |sh| LOCAL_CALL.min((3 * p).div_ceil(sh.world()).max(1)));
        let mine = mine(batch);
        let total = mine.len();
        progress.start("in-silico mutagenesis", Some(total as u64));
        for start in mine.clone().step_by(batch) {
            cancel.check()?;
            crate::threads::adapt();
            let end = (start + batch).min(mine.end);
            let mutations: Vec<Mutation> = (start..end)
                .map(|k| {
                    let (pos, b) = alt(k);
                    Mutation { reference: 0, start: pos, bases: vec![b] }
                })
                .collect();
            let z = local.embed_mutants(&mutations)?;
            let rows: Vec<i64> = (start..end).map(row).collect();
            let index = Tensor::from_slice(&rows).to_device(z.device());
            tch::no_grad(|| {
                let _ = delta.index_copy_(0, &index, &(z - z_ref.unsqueeze(0)));
            });
            progress.update((end - mine.start) as u64, "");
        }
        progress.finish(&format!("{total} sequences embedded"));
        if let Some(sh) = shard {
            sh.sum_disjoint(&mut delta)?;
        }
        return Ok(IsmDeltas {
            codes: codes.to_vec(),
            positions,
            delta_z: delta.view([p as i64, 4, d]).to_device(Device::Cpu),
            z_ref: z_ref.to_device(Device::Cpu),
        });
    }
    let mine = mine(model.batch_size());
    embed_stream(
        model,
        mine.len(),
        "in-silico mutagenesis",
        progress,
        cancel,
        |range, buf| {
            for k in range {
                let (pos, b) = alt(mine.start + k);
                let start = buf.len();
                buf.extend_from_slice(codes);
                buf[start + pos] = b;
            }
            Ok(())
        },
        |range, z| {
            let rows: Vec<i64> = range.map(|k| row(mine.start + k)).collect();
            let index = Tensor::from_slice(&rows).to_device(z.device());
            tch::no_grad(|| {
                let _ = delta.index_copy_(0, &index, &(z - z_ref.unsqueeze(0)));
            });
            Ok(())
        },
    )?;
    if let Some(sh) = shard {
        sh.sum_disjoint(&mut delta)?;
    }
    Ok(IsmDeltas {
        codes: codes.to_vec(),
        positions,
        delta_z: delta.view([p as i64, 4, d]).to_device(Device::Cpu),
        z_ref: z_ref.to_device(Device::Cpu),
    })
}
