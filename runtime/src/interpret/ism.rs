//! In-silico saturation mutagenesis (`ism` in calico/scBasset `scbasset/utils.py`): every position × every other base
//! of one sequence, batched through the model in evaluation mode. The result is the change of the sequence embedding,
//! `Δz` `(P, 4, D)` (zero at the reference base); projecting it on a cell's read-out weights gives the original's
//! `(z_mut − z_ref)·w_c` logit differences, and on a group's mean weights the group's mean difference.
//!
//! The published notebooks then use `m − mean over the 4 bases` (the "normalised" ISM) and its value at the
//! reference base as the per-position score.

use std::ops::Range;

use tch::{Device, Kind, Tensor};

use super::{embed_all, embed_stream, Mutation, SequenceEmbedder};
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, NoProgress, Progress};

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
    if let Some(local) = model.local_embedder(codes) {
        // Point edits: recompute only the window each layer's output can change (see `local`).
        let local = local?;
        let total = 3 * p;
        progress.start("in-silico mutagenesis", Some(total as u64));
        let batch = model.batch_size().max(1) * 4;
        for start in (0..total).step_by(batch) {
            cancel.check()?;
            crate::threads::adapt();
            let end = (start + batch).min(total);
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
            progress.update(end as u64, "");
        }
        progress.finish(&format!("{total} sequences embedded"));
        return Ok(IsmDeltas {
            codes: codes.to_vec(),
            positions,
            delta_z: delta.view([p as i64, 4, d]).to_device(Device::Cpu),
            z_ref: z_ref.to_device(Device::Cpu),
        });
    }
    embed_stream(
        model,
        3 * p,
        "in-silico mutagenesis",
        progress,
        cancel,
        |range, buf| {
            for k in range {
                let (pos, b) = alt(k);
                let start = buf.len();
                buf.extend_from_slice(codes);
                buf[start + pos] = b;
            }
            Ok(())
        },
        |range, z| {
            let rows: Vec<i64> = range.map(row).collect();
            let index = Tensor::from_slice(&rows).to_device(z.device());
            tch::no_grad(|| {
                let _ = delta.index_copy_(0, &index, &(z - z_ref.unsqueeze(0)));
            });
            Ok(())
        },
    )?;
    Ok(IsmDeltas {
        codes: codes.to_vec(),
        positions,
        delta_z: delta.view([p as i64, 4, d]).to_device(Device::Cpu),
        z_ref: z_ref.to_device(Device::Cpu),
    })
}
