//! Training targets and pseudobulk tracks over a genomic window.
//!
//! [`window_targets`] follows scooby (`scooby/data/scdata.py`, `_process_rna`, `_sparse_to_coverage_rna`; Lal et al.,
//! "scooby: modeling multimodal genomic profiles from DNA sequence at single-cell resolution", 2024):
//! - RNA (per strand): each read adds `1 / read_length` (90) to every base it covers; the per-base coverage is summed in
//!   32-bp bins, `y = (1 + x)^0.75 − 1`, then soft-clipped above `c` (5): `y = c − 1 + √(y − c + 1)`, then clipped to
//!   ±768.
//! - ATAC: insertions summed in 32-bp bins, × 0.05.
//! - Layout: bins × (cells × tracks), channel = `cell · T + t`, tracks in the requested order (scooby: +, −, ATAC).
//! - Reverse complement: bins flipped and the two RNA strands swapped (scooby `fix_rev_comp_multiome`).
//!
//! The per-bin sums are computed from read overlaps directly (bin sum = bases covered / read length) instead of
//! building per-base float coverage and pooling it, which gives the same numbers up to float rounding.
//!
//! A window must lie on its chromosome's start side (`start < chromosome length`); bins past the chromosome's end are
//! zero (scooby reads the sparse matrix only up to the chromosome end, so they are zero there too).

use super::{Coverage, Insertions, Reads, TrackKind};
use crate::seq::region::Region;
use crate::{Result, RuntimeError};

/// Settings of [`window_targets`] and [`pseudobulk`].
#[derive(Clone, Debug, PartialEq)]
pub struct WindowOptions {
    /// Bin width in bp (scooby: 32). The window length must be a multiple of it.
    pub bin: u32,
    /// Tracks, in channel order (default: every track the coverage has, in scooby's order).
    pub tracks: Option<Vec<TrackKind>>,
    /// Apply scooby's target transforms (`false`: raw bin sums — RNA in reads (bases covered / read length), ATAC in
    /// insertions).
    pub transform: bool,
    /// RNA soft-clip threshold `c` (scooby's `clip_soft`: 5 for single-cell training).
    pub clip_soft: f32,
    /// Hard clip applied after the soft clip (scooby: 768).
    pub clip_hard: f32,
    /// RNA read length the per-base coverage is divided by (scooby: 90).
    pub read_length: f32,
    /// ATAC scale (scooby's `normalize_atac`: 0.05).
    pub atac_scale: f32,
    /// Reverse-complement the targets (flip bins, swap RNA strands).
    pub reverse_complement: bool,
}

impl Default for WindowOptions {
    fn default() -> Self {
        WindowOptions {
            bin: 32,
            tracks: None,
            transform: true,
            clip_soft: 5.0,
            clip_hard: 768.0,
            read_length: 90.0,
            atac_scale: 0.05,
            reverse_complement: false,
        }
    }
}

/// A bins × channels block of numbers, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    pub bins: usize,
    pub channels: usize,
    pub data: Vec<f32>,
    /// The track of each channel position within a cell (`channels = cells × tracks.len()`).
    pub tracks: Vec<TrackKind>,
}

impl Targets {
    pub fn get(&self, bin: usize, channel: usize) -> f32 {
        self.data[bin * self.channels + channel]
    }
    /// One channel over the bins.
    pub fn column(&self, channel: usize) -> Vec<f32> {
        (0..self.bins).map(|b| self.get(b, channel)).collect()
    }
}

/// scooby's RNA transform of a bin sum `x`: `(1 + x)^0.75 − 1`, soft clip above `c`, hard clip at ±`hard`.
pub fn squash_rna(x: f32, c: f32, hard: f32) -> f32 {
    let mut y = (1.0 + x).powf(0.75) - 1.0;
    if y > c {
        y = c - 1.0 + (y - c + 1.0).sqrt();
    }
    y.clamp(-hard, hard)
}

/// The exact inverse of [`squash_rna`] (below the hard clip): `(y − c + 1)² + c − 1` above `c`, then
/// `(y + 1)^(4/3) − 1`.
pub fn unsquash_rna(y: f32, c: f32) -> f32 {
    let y = if y > c { (y - c + 1.0).powi(2) + c - 1.0 } else { y };
    (y + 1.0).powf(4.0 / 3.0) - 1.0
}

/// scooby's own inverse, `undo_squashed_scale` (`scooby/utils/utils.py`): `(y − c)² + c` above `c`, then
/// `(y + 1)^(4/3) − 1`. It is not the exact inverse of the soft clip: above `c` it returns less than the value that was
/// squashed (the two agree at and below `c`).
pub fn undo_squashed_scale(y: f32, c: f32) -> f32 {
    let y = if y > c { (y - c).powi(2) + c } else { y };
    (y + 1.0).powf(4.0 / 3.0) - 1.0
}

/// Chromosome index and the in-chromosome end of a region (the part past the end reads as zero).
fn locate(cov: &Coverage, region: &Region, bin: u32) -> Result<(usize, u64)> {
    if bin == 0 {
        return Err(RuntimeError::invalid("bin", "must be at least 1"));
    }
    let chrom = cov.refs.require(&region.chrom, "region")?;
    let len = cov.refs.length(chrom);
    if region.start >= len {
        return Err(RuntimeError::invalid(
            "region",
            format!("{region} starts past the end of {} ({len} bp)", region.chrom),
        ));
    }
    if !region.len().is_multiple_of(bin as u64) {
        return Err(RuntimeError::invalid(
            "region",
            format!("{region} is {} bp, not a multiple of the bin width {bin}", region.len()),
        ));
    }
    Ok((chrom, region.end.min(len)))
}

/// For each cell of the coverage, the first output slot that wants it; `next` chains slots of a cell drawn twice.
struct Slots {
    first: Vec<u32>,
    next: Vec<u32>,
}

impl Slots {
    fn new(n_cells: usize, cells: &[usize]) -> Result<Slots> {
        let mut first = vec![u32::MAX; n_cells];
        let mut next = vec![u32::MAX; cells.len()];
        for (slot, &c) in cells.iter().enumerate().rev() {
            if c >= n_cells {
                return Err(RuntimeError::invalid("cells", format!("cell {c} is out of range (0..{n_cells})")));
            }
            next[slot] = first[c];
            first[c] = slot as u32;
        }
        Ok(Slots { first, next })
    }
    #[inline]
    fn each(&self, cell: u32, mut f: impl FnMut(usize)) {
        let mut s = self.first[cell as usize];
        while s != u32::MAX {
            f(s as usize);
            s = self.next[s as usize];
        }
    }
}

/// Adds insertion counts of `[start, end)` into `out[bin * stride + slot * nt + t]`.
#[allow(clippy::too_many_arguments)]
fn add_insertions(
    ins: &Insertions,
    chrom: usize,
    start: u64,
    end: u64,
    bin: u64,
    slots: &Slots,
    out: &mut [f32],
    stride: usize,
    nt: usize,
    t: usize,
) {
    for (pos, cell) in ins.range(chrom, start, end) {
        let b = ((pos as u64 - start) / bin) as usize;
        slots.each(cell, |s| out[b * stride + s * nt + t] += 1.0);
    }
}

/// Adds bases covered within `[start, end)` (not yet divided by the read length).
#[allow(clippy::too_many_arguments)]
fn add_reads(
    reads: &Reads,
    chrom: usize,
    start: u64,
    end: u64,
    bin: u64,
    slots: &Slots,
    out: &mut [f32],
    stride: usize,
    nt: usize,
    t: usize,
) {
    let (ws, we) = (start as i64, end as i64);
    let bin = bin as i64;
    for (anchor, cell, v) in reads.near(chrom, start, end) {
        if slots.first[cell as usize] == u32::MAX {
            continue;
        }
        let (a, b) = Reads::span(anchor, v);
        let (a, b) = (a.max(ws), b.min(we));
        if a >= b {
            continue;
        }
        let mut p = a;
        while p < b {
            let bi = (p - ws) / bin;
            let bin_end = (ws + (bi + 1) * bin).min(b);
            let n = (bin_end - p) as f32;
            let bi = bi as usize;
            slots.each(cell, |s| out[bi * stride + s * nt + t] += n);
            p = bin_end;
        }
    }
}

/// The requested tracks (default: all the coverage has), each present in the coverage.
fn resolve_tracks(cov: &Coverage, opts: &WindowOptions) -> Result<Vec<TrackKind>> {
    let tracks = match &opts.tracks {
        Some(t) => t.clone(),
        None => cov.tracks(),
    };
    if tracks.is_empty() {
        return Err(RuntimeError::invalid("tracks", "the coverage has no tracks"));
    }
    for t in &tracks {
        if !cov.has(*t) {
            return Err(RuntimeError::invalid(
                "tracks",
                format!(
                    "the coverage has no {} track (it has: {})",
                    t.name(),
                    cov.tracks().iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    if opts.read_length <= 0.0 {
        return Err(RuntimeError::invalid("read_length", "must be positive"));
    }
    Ok(tracks)
}

/// Adds the raw sums of track `source` over `[start, end)` into channel position `t` (insertions, or bases covered
/// not yet divided by the read length).
#[allow(clippy::too_many_arguments)]
fn accumulate(
    cov: &Coverage,
    source: TrackKind,
    chrom: usize,
    start: u64,
    end: u64,
    bin: u64,
    slots: &Slots,
    out: &mut [f32],
    stride: usize,
    nt: usize,
    t: usize,
) -> Result<()> {
    let missing = || RuntimeError::invalid("tracks", format!("the coverage has no {} track", source.name()));
    match source {
        TrackKind::Atac => {
            let ins = cov.atac.as_ref().ok_or_else(missing)?;
            add_insertions(ins, chrom, start, end, bin, slots, out, stride, nt, t)
        }
        TrackKind::RnaPlus | TrackKind::RnaMinus => {
            let reads = if source == TrackKind::RnaPlus { &cov.rna_plus } else { &cov.rna_minus };
            add_reads(reads.as_ref().ok_or_else(missing)?, chrom, start, end, bin, slots, out, stride, nt, t)
        }
    }
    Ok(())
}

/// Targets of one window for the given cells (indices into `cov.cells`; repeats allowed, as scooby samples cells with
/// replacement): bins × (cells × tracks).
pub fn window_targets(cov: &Coverage, region: &Region, cells: &[usize], opts: &WindowOptions) -> Result<Targets> {
    let (chrom, end_in) = locate(cov, region, opts.bin)?;
    let tracks = resolve_tracks(cov, opts)?;
    let slots = Slots::new(cov.n_cells(), cells)?;
    let nt = tracks.len();
    let bins = (region.len() / opts.bin as u64) as usize;
    let stride = cells.len() * nt;
    let mut out = vec![0f32; bins * stride];
    let bin = opts.bin as u64;
    for (t, kind) in tracks.iter().enumerate() {
        // On the reverse strand, channel `t` shows the other RNA strand.
        let source = if opts.reverse_complement { kind.reverse_strand() } else { *kind };
        accumulate(cov, source, chrom, region.start, end_in, bin, &slots, &mut out, stride, nt, t)?;
    }
    for (i, x) in out.iter_mut().enumerate() {
        let kind = tracks[i % nt];
        *x = match kind {
            TrackKind::Atac if opts.transform => *x * opts.atac_scale,
            TrackKind::Atac => *x,
            _ => {
                let reads = *x / opts.read_length;
                if opts.transform {
                    squash_rna(reads, opts.clip_soft, opts.clip_hard)
                } else {
                    reads
                }
            }
        };
    }
    if opts.reverse_complement {
        for b in 0..bins / 2 {
            let (lo, hi) = out.split_at_mut((bins - 1 - b) * stride);
            lo[b * stride..(b + 1) * stride].swap_with_slice(&mut hi[..stride]);
        }
    }
    Ok(Targets { bins, channels: stride, data: out, tracks })
}

/// Raw sums of groups of cells over a window: bins × (groups × tracks), channel = `group · T + t`. `groups[cell]` is
/// the cell's group (`None`: left out). RNA in reads (bases covered / read length, i.e. scooby's untransformed bin
/// sums), ATAC in insertions; with `per_million`, each group's track is divided by that group's total reads or
/// insertions genome-wide (per million), for comparing groups of different sizes.
pub fn pseudobulk(
    cov: &Coverage,
    region: &Region,
    groups: &[Option<usize>],
    n_groups: usize,
    opts: &WindowOptions,
    per_million: bool,
) -> Result<Targets> {
    if groups.len() != cov.n_cells() {
        return Err(RuntimeError::invalid(
            "groups",
            format!("{} group labels for {} cells", groups.len(), cov.n_cells()),
        ));
    }
    if n_groups == 0 || groups.iter().flatten().all(|&g| g >= n_groups) {
        return Err(RuntimeError::invalid("groups", "no cell is in a group"));
    }
    // One slot per group: sum cells through a per-cell → group map by treating each group as one "cell".
    let raw = WindowOptions { transform: false, reverse_complement: false, ..opts.clone() };
    let (chrom, end_in) = locate(cov, region, raw.bin)?;
    let tracks = resolve_tracks(cov, &raw)?;
    let nt = tracks.len();
    let bins = (region.len() / raw.bin as u64) as usize;
    let stride = n_groups * nt;
    let mut out = vec![0f32; bins * stride];
    let slots = Slots {
        first: groups.iter().map(|g| g.filter(|&g| g < n_groups).map_or(u32::MAX, |g| g as u32)).collect(),
        next: vec![u32::MAX; n_groups],
    };
    let mut totals = vec![0f64; stride];
    for (t, &kind) in tracks.iter().enumerate() {
        accumulate(cov, kind, chrom, region.start, end_in, raw.bin as u64, &slots, &mut out, stride, nt, t)?;
        if kind != TrackKind::Atac {
            for x in out.iter_mut().skip(t).step_by(nt) {
                *x /= raw.read_length;
            }
        }
        if per_million {
            for (cell, n) in cov.per_cell(kind).into_iter().enumerate() {
                slots.each(cell as u32, |g| totals[g * nt + t] += n as f64);
            }
        }
    }
    if per_million {
        for (i, x) in out.iter_mut().enumerate() {
            let total = totals[i % stride];
            *x = if total > 0.0 { (*x as f64 * 1e6 / total) as f32 } else { 0.0 };
        }
    }
    Ok(Targets { bins, channels: stride, data: out, tracks })
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
