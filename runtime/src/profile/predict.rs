//! Predicted per-cell and pseudobulk profiles in counts, and gene counts (scooby's inference: gagneurlab/scooby
//! `scooby/utils/utils.py` — `get_pseudobulk_count_pred`, `get_gene_slice_and_strand`, `undo_squashed_scale`,
//! `fix_rev_comp_multiome`).
//!
//! - The trunk embedding of a window is computed once (twice with reverse-complement averaging) and reused for every
//!   chunk of cells, so decoding many cells costs one trunk pass.
//! - Reverse-complement averaging (`rc_average`): the prediction of the reverse-complemented sequence is flipped over
//!   bins with the RNA strands swapped and averaged with the forward one **in the model's (squashed) space**, as
//!   scooby's notebooks do.
//! - Back to counts per cell: RNA by scooby's own inverse `undo_squashed_scale` with `c` = 5 (the default,
//!   [`Inverse::Scooby`]; it differs from the exact inverse of the soft clip above `c`, see
//!   [`crate::coverage::window`]) or the exact inverse ([`Inverse::Exact`]); ATAC × 20 (1 / 0.05). Units: RNA in reads
//!   (bases covered / read length, the untransformed bin sums of [`crate::coverage::window::pseudobulk`]), ATAC in
//!   insertions.
//! - Pseudobulk: the sum over a group's cells of their per-cell counts.
//! - Gene counts: the sense-strand RNA channel summed over the gene's exon bins (or its whole span) in the
//!   gene-centred window ([`crate::genes::windows`]), per cell or summed per group.

use tch::{Device, Kind, Tensor};

use super::dataset::{context_codes, context_onehot, reverse_complement_codes};
use crate::coverage::window::{undo_squashed_scale, unsquash_rna};
use crate::coverage::TrackKind;
use crate::genes::windows::{exon_bins, gene_window, GeneWindowOptions, WindowCenter};
use crate::genes::{Gene, Strand};
use crate::interpret::sharded::Shard;
use crate::models::profile::CellProfileModel;
use crate::progress::CancelToken;
use crate::seq::genome::Genome;
use crate::seq::region::Region;
use crate::{Result, RuntimeError};

/// Which inverse of the RNA transform gives counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inverse {
    /// scooby's `undo_squashed_scale` (what its evaluation and figures use).
    Scooby,
    /// The exact inverse of the soft clip.
    Exact,
}

/// Cells whose profiles are predicted.
#[derive(Clone, Debug, PartialEq)]
pub enum CellSelection {
    /// These cells (indices into the state embeddings), one profile each.
    Cells(Vec<usize>),
    /// Pseudobulk: `labels[cell]` is the cell's group (`None`: left out); one profile per group, the sum of its cells.
    Groups { labels: Vec<Option<usize>>, n_groups: usize },
}

impl CellSelection {
    /// Number of profiles.
    pub fn n_profiles(&self) -> usize {
        match self {
            CellSelection::Cells(c) => c.len(),
            CellSelection::Groups { n_groups, .. } => *n_groups,
        }
    }
}

/// Settings of [`predict_profiles`] and [`gene_counts`].
#[derive(Clone, Debug, PartialEq)]
pub struct PredictOptions {
    /// Average with the reverse-complement prediction (scooby: yes).
    pub rc_average: bool,
    /// Cells decoded at once.
    pub chunk: usize,
    pub inverse: Inverse,
    /// RNA soft-clip threshold of the transform (scooby: 5).
    pub clip_soft: f32,
    /// ATAC scale of the transform (scooby: 0.05; counts = prediction / scale).
    pub atac_scale: f32,
    /// The model's tracks per cell, in channel order (None: RNA +, RNA −, ATAC for 3 tracks; RNA +, RNA − for 2).
    pub tracks: Option<Vec<TrackKind>>,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            rc_average: true,
            chunk: 256,
            inverse: Inverse::Scooby,
            clip_soft: 5.0,
            atac_scale: 0.05,
            tracks: None,
        }
    }
}

impl PredictOptions {
    pub(crate) fn resolve_tracks(&self, n: usize) -> Result<Vec<TrackKind>> {
        let t = match (&self.tracks, n) {
            (Some(t), _) => t.clone(),
            (None, 3) => vec![TrackKind::RnaPlus, TrackKind::RnaMinus, TrackKind::Atac],
            (None, 2) => vec![TrackKind::RnaPlus, TrackKind::RnaMinus],
            (None, _) => return Err(RuntimeError::invalid("tracks", format!("name the model's {n} tracks"))),
        };
        if t.len() != n {
            return Err(RuntimeError::invalid("tracks", format!("{} tracks named, the model predicts {n}", t.len())));
        }
        Ok(t)
    }
}

/// Predicted profiles in counts: bins × (profiles × tracks), channel `profile · T + t`, over `region`.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictedProfiles {
    /// The bases the bins cover (`bins · bin_size`, centred on the requested region).
    pub region: Region,
    pub bin_size: usize,
    pub bins: usize,
    pub tracks: Vec<TrackKind>,
    pub n_profiles: usize,
    pub data: Vec<f32>,
}

impl PredictedProfiles {
    pub fn get(&self, bin: usize, profile: usize, track: usize) -> f32 {
        self.data[bin * self.n_profiles * self.tracks.len() + profile * self.tracks.len() + track]
    }
}

/// The output interval of a model for a region: `bins · bin_size` bases centred on it (moved right at a
/// chromosome start).
pub fn output_region(model: &dyn CellProfileModel, region: &Region) -> Result<Region> {
    let len = (model.bins() * model.bin_size()) as u64;
    let start = region.center().saturating_sub(len / 2);
    Region::new(region.chrom.clone(), start, start + len)
}

/// Channel permutation of a reverse-complemented prediction: channel `cell·T + t` reads `cell·T + swap(t)`.
fn strand_swap(tracks: &[TrackKind], cells: usize) -> Result<Vec<i64>> {
    let t = tracks.len();
    let mut idx = Vec::with_capacity(cells * t);
    for c in 0..cells {
        for k in tracks {
            let other = tracks.iter().position(|x| *x == k.reverse_strand()).ok_or_else(|| {
                RuntimeError::invalid("tracks", format!("{} has no opposite-strand track to swap with", k.name()))
            })?;
            idx.push((c * t + other) as i64);
        }
    }
    Ok(idx)
}

/// Trunk embeddings of a window, forward and (optionally) reverse complement.
pub(crate) struct Embedded {
    pub(crate) fwd: Tensor,
    pub(crate) rev: Option<Tensor>,
}

fn embed_window(model: &dyn CellProfileModel, genome: &Genome, target: &Region, rc: bool) -> Result<Embedded> {
    let mut codes = context_codes(genome, target, model.seq_len(), 0)?;
    let device = model.device();
    let fwd = model.embed(&context_onehot(&codes, 1, device)?, false);
    let rev = if rc {
        reverse_complement_codes(&mut codes);
        Some(model.embed(&context_onehot(&codes, 1, device)?, false))
    } else {
        None
    };
    Ok(Embedded { fwd, rev })
}

/// Per-cell predictions in counts for `cells` of `states`: `(bins, cells.len() · T)` fp32 on the CPU.
fn decode_cells(
    model: &dyn CellProfileModel,
    emb: &Embedded,
    states: &Tensor,
    cells: &[usize],
    tracks: &[TrackKind],
    opts: &PredictOptions,
) -> Result<Tensor> {
    let device = model.device();
    let idx: Vec<i64> = cells.iter().map(|&c| c as i64).collect();
    let s = states.f_index_select(0, &Tensor::from_slice(&idx).f_to_device(device)?)?;
    let (w, b) = model.cell_readout(&s, false);
    let mut pred = model.decode(&emb.fwd, &w, &b).get(0);
    if let Some(rev) = &emb.rev {
        let r = model.decode(rev, &w, &b).get(0).flip([0]);
        let perm = Tensor::from_slice(&strand_swap(tracks, cells.len())?).f_to_device(device)?;
        pred = (pred + r.f_index_select(1, &perm)?) / 2.0;
    }
    let pred = pred.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?.f_contiguous()?;
    let (bins, ch) = (pred.size()[0] as usize, pred.size()[1] as usize);
    let mut v: Vec<f32> = Vec::try_from(pred.f_reshape([-1])?)?;
    let t = tracks.len();
    for (i, x) in v.iter_mut().enumerate() {
        *x = match tracks[i % t] {
            TrackKind::Atac => *x / opts.atac_scale,
            _ => match opts.inverse {
                Inverse::Scooby => undo_squashed_scale(*x, opts.clip_soft),
                Inverse::Exact => unsquash_rna(*x, opts.clip_soft),
            },
        };
    }
    Ok(Tensor::from_slice(&v).view([bins as i64, ch as i64]))
}

pub(crate) fn check_states(model: &dyn CellProfileModel, states: &Tensor, selection: &CellSelection) -> Result<()> {
    if states.dim() != 2 || states.size()[1] != model.state_dim() as i64 {
        return Err(RuntimeError::invalid(
            "cell_embedding",
            format!("shape {:?}; the model takes {}-wide embeddings", states.size(), model.state_dim()),
        ));
    }
    let n = states.size()[0] as usize;
    match selection {
        CellSelection::Cells(c) if c.iter().any(|&i| i >= n) => {
            Err(RuntimeError::invalid("cells", format!("a cell index is not below the {n} embedded cells")))
        }
        CellSelection::Cells(c) if c.is_empty() => Err(RuntimeError::invalid("cells", "no cell selected")),
        CellSelection::Groups { labels, .. } if labels.len() != n => {
            Err(RuntimeError::invalid("groups", format!("{} group labels for {n} embedded cells", labels.len())))
        }
        CellSelection::Groups { labels, n_groups } if !labels.iter().flatten().any(|&g| g < *n_groups) => {
            Err(RuntimeError::invalid("groups", "no cell is in a group"))
        }
        _ => Ok(()),
    }
}

/// Counts `(bins, profiles · T)` of an embedded window for the selection, decoding cells in chunks.
pub(crate) fn profiles_of(
    model: &dyn CellProfileModel,
    emb: &Embedded,
    states: &Tensor,
    selection: &CellSelection,
    tracks: &[TrackKind],
    opts: &PredictOptions,
    cancel: &CancelToken,
) -> Result<Tensor> {
    let chunk = opts.chunk.max(1);
    let t = tracks.len() as i64;
    match selection {
        CellSelection::Cells(cells) => {
            let mut parts = Vec::new();
            for c in cells.chunks(chunk) {
                cancel.check()?;
                parts.push(decode_cells(model, emb, states, c, tracks, opts)?);
            }
            Ok(Tensor::cat(&parts, 1))
        }
        CellSelection::Groups { labels, n_groups } => {
            let members = group_members(labels, *n_groups);
            let bins = model.bins() as i64;
            let mut out = Tensor::zeros([bins, *n_groups as i64, t], (Kind::Float, Device::Cpu));
            for part in members.chunks(chunk) {
                cancel.check()?;
                let cells: Vec<usize> = part.iter().map(|p| p.0).collect();
                let groups: Vec<i64> = part.iter().map(|p| p.1 as i64).collect();
                let pred = decode_cells(model, emb, states, &cells, tracks, opts)?.view([bins, -1, t]);
                let _ = out.f_index_add_(1, &Tensor::from_slice(&groups), &pred)?;
            }
            Ok(out.view([bins, -1]))
        }
    }
}

/// Predicted profiles in counts over the output window centred on `region`, per cell or per group (sum of its cells).
pub fn predict_profiles(
    model: &dyn CellProfileModel,
    genome: &Genome,
    region: &Region,
    states: &Tensor,
    selection: &CellSelection,
    opts: &PredictOptions,
    cancel: &CancelToken,
) -> Result<PredictedProfiles> {
    predict_profiles_on(model, genome, region, states, selection, opts, cancel, None)
}

/// The cells in a group, in cell order, with their group: `(cell, group)`.
fn group_members(labels: &[Option<usize>], n_groups: usize) -> Vec<(usize, usize)> {
    labels.iter().enumerate().filter_map(|(c, g)| g.filter(|&g| g < n_groups).map(|g| (c, g))).collect()
}

/// This rank's part of a selection: its share of the cells (or of the groups' members, in label order) in whole
/// chunks of `chunk`, so that each of its chunks is a chunk of the single-process run.
fn local_selection(selection: &CellSelection, shard: &Shard, chunk: usize) -> CellSelection {
    match selection {
        CellSelection::Cells(cells) => CellSelection::Cells(cells[shard.range_in_units(cells.len(), chunk)].to_vec()),
        CellSelection::Groups { labels, n_groups } => {
            let members = group_members(labels, *n_groups);
            let mut mine = vec![None; labels.len()];
            for &(c, g) in &members[shard.range_in_units(members.len(), chunk)] {
                mine[c] = Some(g);
            }
            CellSelection::Groups { labels: mine, n_groups: *n_groups }
        }
    }
}

/// [`predict_profiles`], sharded over the cells when `shard` is given: each rank runs the trunk and decodes its
/// share of the cells (or of the groups' members) in whole chunks; per-cell profiles are all-gathered in rank order
/// (the single-process bits), group sums are summed over the ranks (fp32 summation order). A rank without cells
/// skips the trunk. Every rank returns the whole result.
#[allow(clippy::too_many_arguments)]
pub fn predict_profiles_on(
    model: &dyn CellProfileModel,
    genome: &Genome,
    region: &Region,
    states: &Tensor,
    selection: &CellSelection,
    opts: &PredictOptions,
    cancel: &CancelToken,
    shard: Option<&Shard>,
) -> Result<PredictedProfiles> {
    check_states(model, states, selection)?;
    let tracks = opts.resolve_tracks(model.n_tracks())?;
    let target = output_region(model, region)?;
    let states = states.f_to_kind(Kind::Float)?.f_to_device(model.device())?;
    let local = shard.map(|s| local_selection(selection, s, opts.chunk.max(1)));
    let mine = local.as_ref().unwrap_or(selection);
    let (bins, t) = (model.bins() as i64, tracks.len() as i64);
    let idle = match mine {
        CellSelection::Cells(c) => c.is_empty(),
        CellSelection::Groups { labels, .. } => labels.iter().all(Option::is_none),
    };
    let mut out = if idle {
        Tensor::f_zeros([bins, mine.n_profiles() as i64 * t], (Kind::Float, Device::Cpu))?
    } else {
        tch::no_grad(|| -> Result<Tensor> {
            let emb = embed_window(model, genome, &target, opts.rc_average)?;
            profiles_of(model, &emb, &states, mine, &tracks, opts, cancel)
        })?
    };
    if let Some(shard) = shard {
        match selection {
            CellSelection::Cells(cells) => {
                // (bins, mine · T) → (mine, bins, T): gathered by rows, then back.
                let rows = out.f_view([bins, -1, t])?.f_permute([1, 0, 2])?.f_contiguous()?;
                let all = shard.gather_rows(&rows, cells.len(), opts.chunk.max(1))?;
                out = all.f_permute([1, 0, 2])?.f_contiguous()?.f_view([bins, -1])?;
            }
            CellSelection::Groups { .. } => shard.sum(&mut out)?,
        }
    }
    let data: Vec<f32> = Vec::try_from(out.f_reshape([-1])?)?;
    Ok(PredictedProfiles {
        region: target,
        bin_size: model.bin_size(),
        bins: model.bins(),
        n_profiles: selection.n_profiles(),
        tracks,
        data,
    })
}

/// The gene-centred window of a gene for `model` (the output length, centred on the gene's exon span, inside the
/// chromosome), as scooby's gene evaluation windows.
pub fn gene_output_window(model: &dyn CellProfileModel, genome: &Genome, gene: &Gene) -> Result<Region> {
    let opts = GeneWindowOptions { length: (model.bins() * model.bin_size()) as u64, center: WindowCenter::Gene };
    gene_window(gene, &opts, genome.chrom_length(&gene.chrom))
}

/// Predicted gene counts, genes × profiles (row-major): the sense-strand RNA channel summed over the gene's exon bins
/// (`span`: its whole exon span) in its gene-centred window; per cell or summed per group.
#[allow(clippy::too_many_arguments)]
pub fn gene_counts(
    model: &dyn CellProfileModel,
    genome: &Genome,
    genes: &[&Gene],
    states: &Tensor,
    selection: &CellSelection,
    span: bool,
    opts: &PredictOptions,
    cancel: &CancelToken,
) -> Result<Vec<f64>> {
    check_states(model, states, selection)?;
    let tracks = opts.resolve_tracks(model.n_tracks())?;
    let states = states.f_to_kind(Kind::Float)?.f_to_device(model.device())?;
    let np = selection.n_profiles();
    let mut out = Vec::with_capacity(genes.len() * np);
    for gene in genes {
        cancel.check()?;
        let window = gene_output_window(model, genome, gene)?;
        let sense = match gene.strand {
            Strand::Minus => TrackKind::RnaMinus,
            _ => TrackKind::RnaPlus,
        };
        let t = tracks.iter().position(|k| *k == sense).ok_or_else(|| {
            RuntimeError::invalid("tracks", format!("the model has no {} track for gene {}", sense.name(), gene.name))
        })?;
        let bins = exon_bins(gene, &window, model.bin_size() as u64, span)?;
        let counts = tch::no_grad(|| -> Result<Tensor> {
            let emb = embed_window(model, genome, &window, opts.rc_average)?;
            profiles_of(model, &emb, &states, selection, &tracks, opts, cancel)
        })?;
        let nt = tracks.len() as i64;
        let sel = counts.view([model.bins() as i64, np as i64, nt]).select(2, t as i64);
        let idx: Vec<i64> = bins.iter().map(|&b| b as i64).collect();
        let summed = sel.f_index_select(0, &Tensor::from_slice(&idx))?.f_sum_dim_intlist(0, false, Kind::Double)?;
        out.extend(Vec::<f64>::try_from(summed)?);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
