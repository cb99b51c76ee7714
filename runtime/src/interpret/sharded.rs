//! Sharded inference: when the process runs in a process group (`gscript launch`, torchrun, SLURM; see
//! docs/scaling.md), motif insertion, ISM and variant effects split their independent work items across the ranks
//! and assemble the full result on every rank. Rank `r` of `w` takes a contiguous part ([`shard_range`]) of the
//! items: motifs and background batches for [`insert_motifs_on`](super::insertion::insert_motifs_on), batches of
//! mutants for [`ism_on`](super::ism::ism_on), steps of scored variants for
//! [`variant_effects_on`](super::variant_effect::variant_effects_on). Each item is computed as in one process (same
//! seeds, same backgrounds, the same batches where the split is in whole batches); motif rows, background and
//! variant embeddings are all-gathered in rank order (padded to the largest shard, then trimmed), ISM deltas are
//! summed over the ranks (each rank's rows are zero on the others). The result is the single-process result up to
//! the batch composition of the motif insertions and of the variants' REF windows (fp32 tolerance).
//!
//! The group is the process-wide one of [`gscript_dist::global`]: the same group data-parallel training uses, joined
//! from torchrun's environment on first use. Every rank must call a sharded primitive, in the same order (as with
//! any collective); outside a group (no `WORLD_SIZE`, or `WORLD_SIZE=1`) nothing changes.

use std::ops::Range;
use std::sync::Arc;

use gscript_dist::{ProcessGroup, ReduceOp};
use tch::{Device, Tensor};

use crate::error::{Result, RuntimeError};
use crate::train::distributed::shard_range;

/// This rank's share of a sharded computation.
#[derive(Clone, Debug)]
pub struct Shard {
    group: Arc<ProcessGroup>,
}

/// Rank `rank`'s part of `0..n` in whole units of `unit` items, contiguous, in rank order.
fn part(n: usize, unit: usize, rank: usize, world: usize) -> Range<usize> {
    let unit = unit.max(1);
    let units = shard_range(0..n.div_ceil(unit), rank, world);
    (units.start * unit).min(n)..(units.end * unit).min(n)
}

fn dist_error(e: gscript_dist::DistError) -> RuntimeError {
    RuntimeError::Other(format!("sharded inference: {e}"))
}

impl Shard {
    /// Sharding over `group`.
    pub fn new(group: Arc<ProcessGroup>) -> Shard {
        Shard { group }
    }

    /// The process-wide group of torchrun's environment (shared with data-parallel training); `None` outside a
    /// group or in a world of one.
    pub fn from_env() -> Result<Option<Shard>> {
        Ok(gscript_dist::global().map_err(dist_error)?.map(Shard::new))
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.group.rank()
    }

    /// Number of ranks.
    pub fn world(&self) -> usize {
        self.group.world()
    }

    /// This rank's contiguous part of `0..n` (sizes differ by at most one; empty when `n` < world for some ranks).
    pub fn range(&self, n: usize) -> Range<usize> {
        self.range_in_units(n, 1)
    }

    /// This rank's contiguous part of `0..n` in whole units of `unit` items (the last unit may be partial): with
    /// `unit` the batch size of a computation that batches `0..n` in order, every rank's batches are batches of the
    /// single-process run, so its per-item results are the same bits. Ranks past the last unit get empty ranges.
    pub fn range_in_units(&self, n: usize, unit: usize) -> Range<usize> {
        part(n, unit, self.rank(), self.world())
    }

    /// Every rank's rows of `local` (this rank's [`range_in_units`](Self::range_in_units)`(n, unit)` of `n` rows)
    /// concatenated in rank order: the `(n, …)` tensor, on `local`'s device.
    pub fn gather_rows(&self, local: &Tensor, n: usize, unit: usize) -> Result<Tensor> {
        let mine = self.range_in_units(n, unit);
        if local.size().first().copied() != Some(mine.len() as i64) {
            return Err(RuntimeError::Other(format!(
                "internal: rank {} holds {:?} rows, its shard of {n} has {}",
                self.rank(),
                local.size().first(),
                mine.len()
            )));
        }
        self.gather_varying(local)
    }

    /// Every rank's rows of `local` concatenated in rank order, whatever number of rows each rank holds (the other
    /// dimensions and the kind must agree): the counts are all-gathered first, then the rows, padded to the largest
    /// shard and trimmed. On `local`'s device.
    pub fn gather_varying(&self, local: &Tensor) -> Result<Tensor> {
        let size = local.size();
        if size.is_empty() {
            return Err(RuntimeError::Other("internal: gather_varying of a scalar".into()));
        }
        let count = Tensor::from_slice(&[size[0]]);
        let counts: Vec<i64> =
            self.group.all_gather(&count).map_err(dist_error)?.iter().map(|c| c.int64_value(&[0])).collect();
        let max = counts.iter().copied().max().unwrap_or(0);
        let device = local.device();
        let cpu = local.f_to_device(Device::Cpu)?.f_contiguous()?;
        let mut padded_size = size.clone();
        padded_size[0] = max;
        let padded = Tensor::f_zeros(padded_size.as_slice(), (cpu.kind(), Device::Cpu))?;
        if size[0] > 0 {
            padded.f_narrow(0, 0, size[0])?.f_copy_(&cpu)?;
        }
        let parts = self.group.all_gather(&padded).map_err(dist_error)?;
        let rows: Vec<Tensor> =
            parts.iter().zip(&counts).map(|(p, &c)| p.f_narrow(0, 0, c)).collect::<std::result::Result<_, _>>()?;
        Ok(Tensor::f_cat(&rows, 0)?.f_to_device(device)?)
    }

    /// Element-wise sum over the ranks of `t` (in place, any device), e.g. of partial sums.
    pub fn sum(&self, t: &mut Tensor) -> Result<()> {
        let cpu = t.f_to_device(Device::Cpu)?.f_contiguous()?;
        self.group.all_reduce(&cpu, ReduceOp::Sum).map_err(dist_error)?;
        t.f_copy_(&cpu)?;
        Ok(())
    }

    /// Element-wise sum over the ranks of `t` (in place, any device): with each rank's values in rows the others
    /// leave at zero, every rank ends with the exact assembled tensor (`x + 0 = x`).
    pub fn sum_disjoint(&self, t: &mut Tensor) -> Result<()> {
        self.sum(t)
    }
}

#[cfg(test)]
mod tests {
    use super::part;

    #[test]
    fn parts_cover_the_items_in_whole_units() {
        for (n, unit, world) in [(41, 1, 2), (41, 64, 2), (1008, 256, 2), (1000, 64, 3), (5, 1, 8), (0, 4, 2)] {
            let mut items = Vec::new();
            for r in 0..world {
                let p = part(n, unit, r, world);
                assert!(p.start == n || p.start.is_multiple_of(unit), "n {n} unit {unit} world {world}: {p:?}");
                items.extend(p);
            }
            assert_eq!(items, (0..n).collect::<Vec<_>>(), "n {n} unit {unit} world {world}");
        }
        assert_eq!(part(1008, 256, 0, 2), 0..512);
        assert_eq!(part(1008, 256, 1, 2), 512..1008);
        // One unit for two ranks: the last rank takes it (as `shard_range` gives the remainder to later ranks).
        assert_eq!((part(41, 64, 0, 2), part(41, 64, 1, 2)), (0..0, 0..41));
    }
}
