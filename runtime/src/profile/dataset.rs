//! Training items of a per-cell profile model, as scooby's `onTheFlyMultiomeDataset` (gagneurlab/scooby
//! `scooby/data/scdata.py`) builds them:
//! - an item is a window (a fold-BED interval, a gene-centred window, any region); its targets cover the central
//!   `bins · bin_size` bases around the window's centre and its sequence context the model's `seq_len` bases around
//!   the same centre (scooby: 196,608 and 524,288). Bases outside the chromosome and non-ACGT bases are all-zero
//!   one-hot columns (Borzoi's and scooby's `str_to_one_hot` give N zeros);
//! - cells are drawn uniformly **with replacement** per sequence (`cells_per_sequence`, scooby 64); validation items
//!   use `val_cells` (32) cells drawn from a fixed seed per item, the same every epoch;
//! - augmentation (training only): a shift drawn from {−3…3} moves the **sequence** window only (targets are not
//!   shifted, as the enformer `GenomeIntervalDataset` shift in scooby); a reverse complement with p = 1/2 flips the
//!   one-hot in both axes and the targets over bins with the RNA strands swapped ([`window_targets`] with
//!   `reverse_complement`);
//! - every draw comes from a generator seeded by (seed, epoch, item index) through [`stream_seed`], so an item is the
//!   same whatever the minibatch order and a resumed run draws the same items.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::coverage::window::{window_targets, Targets, WindowOptions};
use crate::coverage::Coverage;
use crate::genes::folds::{FoldRegion, FoldSplit, Split};
use crate::models::profile::CellProfileModel;
use crate::seq::codes::base_code;
use crate::seq::genome::Genome;
use crate::seq::region::Region;
use crate::train::trainer::{stream_seed, STREAM_AUGMENT, STREAM_CELLS};
use crate::{Result, RuntimeError};

/// Code of a base that is not A/C/G/T or lies off the chromosome: an all-zero one-hot column.
pub const N_CODE: u8 = 4;

/// How items are drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileDataOptions {
    /// Cells per training sequence, drawn with replacement (scooby: 64).
    pub cells_per_sequence: usize,
    /// Cells per validation sequence, drawn once from a fixed seed (scooby: 32).
    pub val_cells: usize,
    /// Largest sequence shift in bases (scooby: 3; 0 disables).
    pub max_shift: i64,
    /// Reverse-complement training items with p = 1/2.
    pub reverse_complement: bool,
    /// Target settings (tracks, transforms); `bin` is set to the model's bin size and `reverse_complement` per item.
    pub window: WindowOptions,
}

impl Default for ProfileDataOptions {
    fn default() -> Self {
        ProfileDataOptions {
            cells_per_sequence: 64,
            val_cells: 32,
            max_shift: 3,
            reverse_complement: true,
            window: WindowOptions::default(),
        }
    }
}

/// One item: base codes of the context (0..3, [`N_CODE`]), the sampled cells and their targets.
#[derive(Clone, Debug)]
pub struct ProfileItem {
    pub codes: Vec<u8>,
    pub cells: Vec<usize>,
    /// bins × (cells × tracks), in the (possibly reverse-complemented) sequence's orientation.
    pub targets: Targets,
    pub shift: i64,
    pub reverse_complement: bool,
}

/// Windows, genome and coverage of a profile model's training run, checked against the model's geometry.
pub struct ProfileData<'a> {
    pub genome: &'a Genome,
    pub coverage: &'a Coverage,
    pub train: Vec<Region>,
    pub val: Vec<Region>,
    pub seq_len: usize,
    pub bins: usize,
    pub bin_size: usize,
    pub options: ProfileDataOptions,
}

/// Training and validation windows of a fold BED (Borzoi's `sequences.bed`): the `split`'s test folds are left out.
pub fn windows_from_folds(regions: &[FoldRegion], split: &FoldSplit) -> Result<(Vec<Region>, Vec<Region>)> {
    let take = |s: Split| -> Result<Vec<Region>> {
        split.select(regions, s).into_iter().map(|r| Region::new(r.chrom.clone(), r.start, r.end)).collect()
    };
    Ok((take(Split::Train)?, take(Split::Valid)?))
}

impl<'a> ProfileData<'a> {
    /// The data for `model`; every window's chromosome must be in both the genome and the coverage, and the coverage
    /// must hold the tracks the model predicts.
    pub fn new(
        model: &dyn CellProfileModel,
        genome: &'a Genome,
        coverage: &'a Coverage,
        train: Vec<Region>,
        val: Vec<Region>,
        options: ProfileDataOptions,
    ) -> Result<Self> {
        if train.is_empty() {
            return Err(RuntimeError::invalid("windows", "no training window"));
        }
        if options.cells_per_sequence == 0 || (!val.is_empty() && options.val_cells == 0) {
            return Err(RuntimeError::invalid("cells_per_sequence", "must be at least 1"));
        }
        if coverage.n_cells() == 0 {
            return Err(RuntimeError::invalid("coverage", "has no cells"));
        }
        if !(0..=64).contains(&options.max_shift) {
            return Err(RuntimeError::invalid("max_shift", format!("{} is not in 0..=64", options.max_shift)));
        }
        let mut window = options.window.clone();
        window.bin = model.bin_size() as u32;
        let tracks = window.tracks.clone().unwrap_or_else(|| coverage.tracks());
        if tracks.len() != model.n_tracks() {
            return Err(RuntimeError::invalid(
                "tracks",
                format!(
                    "the model predicts {} tracks per cell, the targets have {} ({})",
                    model.n_tracks(),
                    tracks.len(),
                    tracks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        window.tracks = Some(tracks);
        for r in train.iter().chain(&val) {
            if !genome.has_chrom(&r.chrom) || coverage.refs.get(&r.chrom).is_none() {
                return Err(RuntimeError::invalid(
                    "windows",
                    format!("window {r}: chromosome {} is not in both the genome and the coverage", r.chrom),
                ));
            }
        }
        let data = ProfileData {
            genome,
            coverage,
            train,
            val,
            seq_len: model.seq_len(),
            bins: model.bins(),
            bin_size: model.bin_size(),
            options: ProfileDataOptions { window, ..options },
        };
        for r in data.train.iter().chain(&data.val) {
            data.target_region(r)?;
        }
        Ok(data)
    }

    /// The target interval of a window: `bins · bin_size` bases centred on it, moved right where it would start
    /// before the chromosome.
    pub fn target_region(&self, window: &Region) -> Result<Region> {
        let len = (self.bins * self.bin_size) as u64;
        let start = window.center().saturating_sub(len / 2);
        let chrom_len = self.coverage.refs.length(self.coverage.refs.require(&window.chrom, "window")?);
        if start >= chrom_len {
            return Err(RuntimeError::invalid("windows", format!("window {window} starts past its chromosome")));
        }
        Region::new(window.chrom.clone(), start, start + len)
    }

    /// Base codes of the `seq_len` context centred on `target`, its window moved by `shift` bases.
    pub fn context_codes(&self, target: &Region, shift: i64) -> Result<Vec<u8>> {
        context_codes(self.genome, target, self.seq_len, shift)
    }

    /// The item of `window` with the given cells and augmentation.
    pub fn item(
        &self,
        window: &Region,
        cells: Vec<usize>,
        shift: i64,
        reverse_complement: bool,
    ) -> Result<ProfileItem> {
        let target = self.target_region(window)?;
        let mut codes = self.context_codes(&target, shift)?;
        if reverse_complement {
            reverse_complement_codes(&mut codes);
        }
        let opts = WindowOptions { reverse_complement, ..self.options.window.clone() };
        let targets = window_targets(self.coverage, &target, &cells, &opts)?;
        Ok(ProfileItem { codes, cells, targets, shift, reverse_complement })
    }

    /// Training item `index` of epoch `epoch`: cells drawn with replacement, augmentation drawn, all from
    /// `(seed, epoch, index)`.
    pub fn train_item(&self, index: usize, seed: u64, epoch: usize) -> Result<ProfileItem> {
        let window = self.train.get(index).ok_or_else(|| RuntimeError::invalid("item", "index out of range"))?;
        let mut aug = ChaCha8Rng::seed_from_u64(stream_seed(stream_seed(seed, epoch, STREAM_AUGMENT), index, 0));
        let reverse_complement = self.options.reverse_complement && aug.random_bool(0.5);
        let m = self.options.max_shift;
        let shift = if m > 0 { aug.random_range(-m..=m) } else { 0 };
        let cells = self.draw_cells(stream_seed(stream_seed(seed, epoch, STREAM_CELLS), index, 0), false);
        self.item(window, cells, shift, reverse_complement)
    }

    /// Validation item `index`: `val_cells` cells from a seed fixed per item (the same every epoch), no augmentation.
    pub fn val_item(&self, index: usize, seed: u64) -> Result<ProfileItem> {
        let window = self.val.get(index).ok_or_else(|| RuntimeError::invalid("item", "index out of range"))?;
        let cells = self.draw_cells(stream_seed(seed, usize::MAX, STREAM_CELLS ^ index as u64), true);
        self.item(window, cells, 0, false)
    }

    fn draw_cells(&self, seed: u64, validation: bool) -> Vec<usize> {
        let n = self.coverage.n_cells();
        let m = if validation { self.options.val_cells } else { self.options.cells_per_sequence };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..m).map(|_| rng.random_range(0..n)).collect()
    }

    /// Tracks per cell of the targets.
    pub fn n_tracks(&self) -> usize {
        self.options.window.tracks.as_ref().map_or(0, |t| t.len())
    }
}

/// Base codes of the `seq_len` bases centred on `target`, moved by `shift` bases; off-chromosome and non-ACGT bases
/// are [`N_CODE`].
pub fn context_codes(genome: &Genome, target: &Region, seq_len: usize, shift: i64) -> Result<Vec<u8>> {
    let centre = (target.start + target.len() / 2) as i64;
    let start = centre - (seq_len / 2) as i64 + shift;
    let bases = genome.fetch(&target.chrom, start, start + seq_len as i64)?;
    Ok(bases.iter().map(|&b| base_code(b).unwrap_or(N_CODE)).collect())
}

/// Reverse complement of base codes in place ([`N_CODE`] stays).
pub fn reverse_complement_codes(codes: &mut [u8]) {
    codes.reverse();
    for c in codes.iter_mut().filter(|c| **c < N_CODE) {
        *c = 3 - *c;
    }
}

/// `(B, 4, L)` fp32 one-hot (A, C, G, T) of `B` concatenated code rows; [`N_CODE`] gives an all-zero column.
pub fn context_onehot(codes: &[u8], batch: usize, device: Device) -> Result<Tensor> {
    if batch == 0 || !codes.len().is_multiple_of(batch) {
        return Err(RuntimeError::invalid("codes", format!("{} codes do not split into {batch} rows", codes.len())));
    }
    let len = (codes.len() / batch) as i64;
    Ok(Tensor::from_slice(codes)
        .to_device(device)
        .to_kind(Kind::Int64)
        .view([batch as i64, len])
        .clamp_max(N_CODE as i64)
        .one_hot(5)
        .narrow(2, 0, 4)
        .permute([0, 2, 1])
        .to_kind(Kind::Float)
        .contiguous())
}

/// Targets of several items stacked into `(B, bins, channels)`.
pub fn stack_targets(items: &[ProfileItem], device: Device) -> Result<Tensor> {
    let first = items.first().ok_or_else(|| RuntimeError::invalid("items", "empty minibatch"))?;
    let (bins, ch) = (first.targets.bins, first.targets.channels);
    let mut flat = Vec::with_capacity(items.len() * bins * ch);
    for it in items {
        if (it.targets.bins, it.targets.channels) != (bins, ch) {
            return Err(RuntimeError::invalid("items", "items of one minibatch have different target shapes"));
        }
        flat.extend_from_slice(&it.targets.data);
    }
    Ok(Tensor::from_slice(&flat).view([items.len() as i64, bins as i64, ch as i64]).to_device(device))
}

#[cfg(test)]
#[path = "dataset_tests.rs"]
mod tests;
