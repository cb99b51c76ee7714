//! Test-only pieces: a small real profile model and a simulated multiome loaded as coverage.

use std::path::PathBuf;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::coverage::bam::{load_rna_coverage, RnaOptions};
use crate::coverage::fragments::{load_fragments, FragmentOptions};
use crate::coverage::simulate::{simulate_multiome, MultiomeConfig, MultiomeFiles};
use crate::coverage::Coverage;
use crate::models::profile::CellProfileModel;
use crate::progress::{CancelToken, NoProgress};
use crate::seq::genome::Genome;

/// A small convolutional trunk (two convolutions, cropped to the central bins, average-pooled per bin) and a
/// two-layer cell-state decoder giving each cell's per-track 1×1 read-out, as scooby's decoder does.
pub struct TinyProfileModel {
    pub vs: nn::VarStore,
    conv1: nn::Conv1D,
    conv2: nn::Conv1D,
    dec1: nn::Linear,
    dec2: nn::Linear,
    pub seq_len: usize,
    pub bins: usize,
    pub tracks: usize,
    pub state_dim: usize,
    pub dim: usize,
}

impl TinyProfileModel {
    pub fn new(seq_len: usize, bins: usize, tracks: usize, state_dim: usize) -> Self {
        let vs = nn::VarStore::new(Device::Cpu);
        let dim = 16;
        let p = vs.root();
        let c = |pad| nn::ConvConfig { padding: pad, ..Default::default() };
        let conv1 = nn::conv1d(&p / "trunk" / "conv1", 4, dim as i64, 15, c(7));
        let conv2 = nn::conv1d(&p / "trunk" / "conv2", dim as i64, dim as i64, 9, c(4));
        let dec1 = nn::linear(&p / "decoder" / "l1", state_dim as i64, 32, Default::default());
        let dec2 = nn::linear(&p / "decoder" / "l2", 32, (tracks * (dim + 1)) as i64, Default::default());
        TinyProfileModel { vs, conv1, conv2, dec1, dec2, seq_len, bins, tracks, state_dim, dim }
    }

    /// (decoder, trunk) trainable tensors by name.
    #[allow(clippy::type_complexity)]
    pub fn groups(&self) -> (Vec<(String, Tensor)>, Vec<(String, Tensor)>) {
        let mut v = self.vs.variables().into_iter().collect::<Vec<_>>();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().partition(|(n, _)| n.starts_with("decoder"))
    }
}

impl CellProfileModel for TinyProfileModel {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn seq_len(&self) -> usize {
        self.seq_len
    }
    fn bins(&self) -> usize {
        self.bins
    }
    fn bin_size(&self) -> usize {
        32
    }
    fn n_tracks(&self) -> usize {
        self.tracks
    }
    fn state_dim(&self) -> usize {
        self.state_dim
    }
    fn embedding_dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, onehot: &Tensor, _train: bool) -> Tensor {
        let h = self.conv2.forward(&self.conv1.forward(onehot).relu()).relu();
        let out = (self.bins * 32) as i64;
        let crop = (self.seq_len as i64 - out) / 2;
        h.narrow(2, crop, out).avg_pool1d([32], [32], [0], false, true)
    }
    fn cell_readout(&self, states: &Tensor, _train: bool) -> (Tensor, Tensor) {
        let h = self.dec2.forward(&self.dec1.forward(states).gelu("none"));
        let h = h.view([-1, (self.dim + 1) as i64]);
        (h.narrow(1, 0, self.dim as i64), h.select(1, self.dim as i64))
    }
}

/// A simulated multiome (2 × 300 kb, 40 cells, 3 types, windows of `window` bp) with its genome and joined coverage
/// (RNA +, RNA −, ATAC) in truth-cell order, and each cell's type index.
pub struct SimData {
    pub _dir: tempfile::TempDir,
    pub files: MultiomeFiles,
    pub genome: Genome,
    pub coverage: Coverage,
    pub cell_type: Vec<usize>,
    pub sequences: PathBuf,
}

pub fn simulated(window: u64, cells: usize, seed: u64) -> SimData {
    simulated_with(window, cells, seed, 16)
}

pub fn simulated_with(window: u64, cells: usize, seed: u64, genes: usize) -> SimData {
    simulated_config(MultiomeConfig {
        cells,
        cell_types: 3,
        chromosomes: 2,
        chrom_length: 300_000,
        genes,
        max_gene_length: 20_000,
        fragments_per_cell: 1500.0,
        umis_per_cell: 800.0,
        window: Some(window),
        seed,
        ..Default::default()
    })
}

/// The simulated multiome of `cfg`, loaded (see [`SimData`]).
pub fn simulated_config(cfg: MultiomeConfig) -> SimData {
    let dir = tempfile::tempdir().unwrap();
    let files = simulate_multiome(&cfg, &dir.path().join("sim"), &mut NoProgress, &CancelToken::new()).unwrap();
    let barcodes: Vec<String> = files.truth.cells.iter().map(|(b, _)| b.clone()).collect();
    let genome = Genome::open(&files.genome).unwrap();
    let sizes: Vec<(String, u64)> = genome.chromosomes().iter().map(|e| (e.name.clone(), e.length)).collect();
    let fo = FragmentOptions { chrom_sizes: Some(sizes), barcodes: Some(barcodes.clone()), ..Default::default() };
    let (atac, _) = load_fragments(&files.fragments, &fo, &mut NoProgress, &CancelToken::new()).unwrap();
    let ro = RnaOptions { barcodes: Some(barcodes.clone()), ..Default::default() };
    let (rna, _) = load_rna_coverage(&files.bam, &ro, &mut NoProgress, &CancelToken::new()).unwrap();
    let coverage = rna.join(&atac).unwrap();
    let types = &files.truth.cell_types;
    let by_barcode: std::collections::HashMap<&str, &str> =
        files.truth.cells.iter().map(|(b, t)| (b.as_str(), t.as_str())).collect();
    let cell_type =
        coverage.cells.iter().map(|c| types.iter().position(|t| t == by_barcode[c.as_str()]).unwrap()).collect();
    let sequences = files.sequences.clone();
    SimData { _dir: dir, files, genome, coverage, cell_type, sequences }
}

/// One-hot cell-type embeddings plus a little noise (seeded), `n_cells × (types + 1)`.
pub fn type_embeddings(cell_type: &[usize], n_types: usize, seed: u64) -> Tensor {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let e = n_types + 1;
    let mut v = vec![0f32; cell_type.len() * e];
    for (i, &t) in cell_type.iter().enumerate() {
        v[i * e + t] = 1.0;
        for x in &mut v[i * e..(i + 1) * e] {
            *x += rng.random_range(-0.1f32..0.1);
        }
    }
    Tensor::from_slice(&v).view([cell_type.len() as i64, e as i64]).to_kind(Kind::Float)
}
