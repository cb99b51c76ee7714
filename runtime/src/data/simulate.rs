//! `simulate_atac`: a small single-cell ATAC dataset with planted truth, for the quickstart, examples and tests.
//!
//! The generative story: a random genome (GC 42 %) with one peak every `spacing` bases. Each cell type k has a driver
//! motif (a real JASPAR PWM); a fraction of peaks is assigned to one cell type and receives `instances` sampled sites of
//! that type's motif (random strand) within ±`site_spread` bp of its centre. Cell c of type t(c), with sequencing depth
//! offset d_c ~ N(0, `depth_sd`) on the logit scale, opens peak i with probability
//! σ(b_i + d_c + `strength`·[driver(i) = t(c)]), b_i ~ N(`background_logit`, 0.5); observed entries are then lost
//! with probability `dropout`. Peaks with no driver carry only background accessibility.
//!
//! With `batches` > 1, cells are spread evenly over batches (independently of type) and batch b adds a per-peak
//! logit shift s_bi ~ N(0, `batch_effect`) — a technical effect that scBasset-BC should remove; barcodes then carry
//! 10x's aggregation suffix (`-1`, `-2`, …) and obs `batch` names each cell's batch.
//!
//! Ground truth: each cell's type (obs `cell_type`) and depth offset (obs `depth_offset`), each peak's driver type,
//! and every planted site (peak, position in the genome, strand, motif).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::bed::PeakSet;
use crate::data::cells::{CellMeta, MetaColumn};
use crate::data::dataset::PeakDataset;
use crate::data::matrix::PeakMatrix;
use crate::error::{Result, RuntimeError};
use crate::motif::{parse_meme, Motif, MotifSet};
use crate::seq::codes::reverse_complement;

/// The JASPAR 2026 CORE vertebrates collection shipped with gscript (CC BY 4.0; see `runtime/data/motifs/README.md`).
pub const JASPAR_VERTEBRATES: &str = include_str!("../../data/motifs/JASPAR2026_CORE_vertebrates.meme");

/// Parses the shipped JASPAR collection.
pub fn jaspar_vertebrates() -> MotifSet {
    parse_meme(JASPAR_VERTEBRATES, "JASPAR2026_CORE_vertebrates.meme").expect("the shipped JASPAR file parses")
}

/// Driver motifs used by default, in order (well-known, information-rich, distinct PWMs).
pub const DEFAULT_DRIVERS: [&str; 10] =
    ["CTCF", "GATA1", "Spi1", "CEBPA", "EBF1", "HNF4A", "REST", "Runx1", "SOX2", "Nrf1"];

#[derive(Clone, Debug, PartialEq)]
pub struct SimulateOptions {
    pub n_cells: usize,
    pub n_peaks: usize,
    pub n_cell_types: usize,
    /// Driver motif names or JASPAR ids, one per cell type (defaults: the first of [`DEFAULT_DRIVERS`]).
    pub motifs: Vec<String>,
    /// Fraction of peaks driven by some cell type's motif.
    pub driven_fraction: f64,
    /// Planted sites per driven peak.
    pub instances: usize,
    /// Added logit for a driven peak in a cell of its type.
    pub strength: f64,
    pub background_logit: f64,
    pub depth_sd: f64,
    pub dropout: f64,
    /// Peak width in the BED file.
    pub peak_width: u64,
    /// Distance between peak centres (≥ the model window, so windows do not overlap).
    pub spacing: u64,
    /// Sites are planted within ± this many bp of the centre.
    pub site_spread: u64,
    pub n_chromosomes: usize,
    /// Number of batches (1: no batch structure).
    pub batches: usize,
    /// s.d. of the per-batch, per-peak logit shift.
    pub batch_effect: f64,
    pub seed: u64,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            n_cells: 600,
            n_peaks: 4000,
            n_cell_types: 4,
            motifs: Vec::new(),
            driven_fraction: 0.6,
            instances: 3,
            strength: 3.5,
            background_logit: -2.5,
            depth_sd: 0.5,
            dropout: 0.1,
            peak_width: 500,
            spacing: 2000,
            site_spread: 150,
            n_chromosomes: 3,
            batches: 1,
            batch_effect: 1.0,
            seed: 0,
        }
    }
}

/// One planted motif site.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantedSite {
    pub peak: usize,
    pub chrom: String,
    /// 0-based genome position of the site's first base.
    pub start: u64,
    pub strand: char,
    pub motif: String,
}

/// What the simulation planted.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulationTruth {
    /// Cell-type names (`type0`… suffixed with the driver motif).
    pub cell_types: Vec<String>,
    /// Driver motifs (programs): one per cell type unless a type combines several (`"A+B"`).
    pub motifs: Vec<Motif>,
    /// The programs (indices into `motifs`) of each cell type.
    pub type_programs: Vec<Vec<usize>>,
    /// Driver program of each peak (= its cell type when every type has one program), −1 for background peaks.
    pub peak_driver: Vec<i32>,
    pub sites: Vec<PlantedSite>,
}

/// The simulated genome (one sequence per chromosome), the dataset and the truth.
#[derive(Debug)]
pub struct Simulation {
    pub chromosomes: Vec<(String, Vec<u8>)>,
    pub data: PeakDataset,
    pub truth: SimulationTruth,
}

impl SimulateOptions {
    fn validate(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(RuntimeError::invalid(f, m));
        if self.n_cells == 0 || self.n_peaks == 0 {
            return bad("n_cells", "n_cells and n_peaks must be at least 1".into());
        }
        if self.batches == 0 || self.batches > self.n_cells {
            return bad("batches", format!("must be between 1 and n_cells ({}), got {}", self.n_cells, self.batches));
        }
        if !(self.batch_effect >= 0.0 && self.batch_effect.is_finite()) {
            return bad("batch_effect", format!("must be a finite number ≥ 0, got {}", self.batch_effect));
        }
        if self.n_cell_types == 0 || self.n_cell_types > self.n_cells {
            return bad(
                "n_cell_types",
                format!("must be between 1 and n_cells ({}), got {}", self.n_cells, self.n_cell_types),
            );
        }
        if !self.motifs.is_empty() && self.motifs.len() != self.n_cell_types {
            return bad(
                "motifs",
                format!("give one motif per cell type: {} motifs for {} types", self.motifs.len(), self.n_cell_types),
            );
        }
        if self.motifs.is_empty() && self.n_cell_types > DEFAULT_DRIVERS.len() {
            return bad(
                "motifs",
                format!("more than {} cell types: name a driver motif for each", DEFAULT_DRIVERS.len()),
            );
        }
        for (f, v) in [("driven_fraction", self.driven_fraction), ("dropout", self.dropout)] {
            if !(0.0..=1.0).contains(&v) {
                return bad(f, format!("must be between 0 and 1, got {v}"));
            }
        }
        if self.spacing < self.peak_width || self.site_spread * 2 + 40 > self.spacing {
            return bad(
                "spacing",
                format!(
                    "must exceed peak_width ({}) and 2·site_spread + 40 ({})",
                    self.peak_width,
                    self.site_spread * 2 + 40
                ),
            );
        }
        if self.n_chromosomes == 0 {
            return bad("n_chromosomes", "must be at least 1".into());
        }
        Ok(())
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    crate::analysis::synthetic::standard_normal(rng)
}

fn random_base(rng: &mut ChaCha8Rng) -> u8 {
    // GC content 42 %
    let u: f64 = rng.random();
    if u < 0.29 {
        b'A'
    } else if u < 0.50 {
        b'C'
    } else if u < 0.71 {
        b'G'
    } else {
        b'T'
    }
}

pub fn simulate_atac(opts: &SimulateOptions) -> Result<Simulation> {
    opts.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let jaspar = jaspar_vertebrates();
    let names: Vec<String> = if opts.motifs.is_empty() {
        DEFAULT_DRIVERS[..opts.n_cell_types].iter().map(|s| s.to_string()).collect()
    } else {
        opts.motifs.clone()
    };
    // Programs: the distinct driver motifs; a type named "A+B" combines programs A and B (its cells open the peaks
    // of both), so a held-out combination type can be predicted from what the others teach.
    let mut program_names: Vec<String> = Vec::new();
    let mut type_programs: Vec<Vec<usize>> = Vec::new();
    for n in &names {
        let mut ps = Vec::new();
        for part in n.split('+').map(str::trim) {
            let i = match program_names.iter().position(|x| x.eq_ignore_ascii_case(part)) {
                Some(i) => i,
                None => {
                    program_names.push(part.to_string());
                    program_names.len() - 1
                }
            };
            ps.push(i);
        }
        type_programs.push(ps);
    }
    let motifs: Vec<Motif> = program_names
        .iter()
        .map(|n| jaspar.get(n).cloned().ok_or_else(|| RuntimeError::invalid("motifs", format!("no motif '{n}' in the shipped JASPAR collection (use a name like 'CTCF' or an id like 'MA0139.2')"))))
        .collect::<Result<_>>()?;
    let cell_types: Vec<String> = type_programs
        .iter()
        .enumerate()
        .map(|(k, ps)| format!("type{k}_{}", ps.iter().map(|&p| motifs[p].name.as_str()).collect::<Vec<_>>().join("+")))
        .collect();

    // peaks: evenly spread over the chromosomes, one every `spacing` bases
    let per_chrom = opts.n_peaks.div_ceil(opts.n_chromosomes);
    let mut chromosomes = Vec::new();
    let mut peaks = PeakSet::default();
    let mut centres = Vec::new();
    for c in 0..opts.n_chromosomes {
        let n_here = per_chrom.min(opts.n_peaks - peaks.len());
        if n_here == 0 {
            break;
        }
        let name = format!("chr{}", c + 1);
        let len = (n_here as u64 + 1) * opts.spacing;
        let seq: Vec<u8> = (0..len).map(|_| random_base(&mut rng)).collect();
        for j in 0..n_here {
            let jitter = rng.random_range(0..opts.spacing / 10 + 1) as i64 - (opts.spacing / 20) as i64;
            let centre = ((j as u64 + 1) * opts.spacing) as i64 + jitter;
            let s = centre as u64 - opts.peak_width / 2;
            peaks.push(&name, s, s + opts.peak_width, None);
            centres.push((chromosomes.len(), centre as u64));
        }
        chromosomes.push((name, seq));
    }

    // drivers (programs) and planted sites
    let k = motifs.len();
    let mut peak_driver = vec![-1i32; opts.n_peaks];
    let mut sites = Vec::new();
    for (p, driver) in peak_driver.iter_mut().enumerate() {
        if rng.random::<f64>() >= opts.driven_fraction {
            continue;
        }
        let t = rng.random_range(0..k);
        *driver = t as i32;
        let (ci, centre) = centres[p];
        let motif = &motifs[t];
        let w = motif.width() as u64;
        let mut used: Vec<(u64, u64)> = Vec::new();
        for _ in 0..opts.instances {
            // non-overlapping sites within ± site_spread of the centre
            for _attempt in 0..20 {
                let start =
                    centre - opts.site_spread + rng.random_range(0..(2 * opts.site_spread).saturating_sub(w) + 1);
                if used.iter().any(|&(a, b)| start < b && a < start + w) {
                    continue;
                }
                used.push((start, start + w));
                let mut site = motif.sample_sequence(&mut rng);
                let strand = if rng.random::<bool>() { '+' } else { '-' };
                if strand == '-' {
                    site = reverse_complement(&site);
                }
                chromosomes[ci].1[start as usize..(start + w) as usize].copy_from_slice(&site);
                sites.push(PlantedSite {
                    peak: p,
                    chrom: chromosomes[ci].0.clone(),
                    start,
                    strand,
                    motif: motif.name.clone(),
                });
                break;
            }
        }
    }

    // cells and accessibility
    let cell_type: Vec<usize> = (0..opts.n_cells).map(|c| c % opts.n_cell_types).collect::<Vec<_>>();
    let mut order: Vec<usize> = (0..opts.n_cells).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let cell_type: Vec<usize> = order.iter().map(|&i| cell_type[i]).collect();
    let depth: Vec<f64> = (0..opts.n_cells).map(|_| normal(&mut rng) * opts.depth_sd).collect();
    let base: Vec<f64> = (0..opts.n_peaks).map(|_| opts.background_logit + 0.5 * normal(&mut rng)).collect();
    // batches draw from their own generator, so a single-batch simulation is the same as before batches existed
    let mut batch_rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0xba7c_4e5d);
    let mut cell_batch: Vec<usize> = (0..opts.n_cells).map(|c| c % opts.batches).collect();
    for i in (1..cell_batch.len()).rev() {
        cell_batch.swap(i, batch_rng.random_range(0..=i));
    }
    let batch_shift: Vec<Vec<f64>> = (0..opts.batches)
        .map(|_| {
            (0..opts.n_peaks)
                .map(|_| if opts.batches > 1 { opts.batch_effect * normal(&mut batch_rng) } else { 0.0 })
                .collect()
        })
        .collect();
    let (mut rows, mut cols) = (Vec::new(), Vec::new());
    for p in 0..opts.n_peaks {
        for c in 0..opts.n_cells {
            let boost = if peak_driver[p] >= 0 && type_programs[cell_type[c]].contains(&(peak_driver[p] as usize)) {
                opts.strength
            } else {
                0.0
            };
            let prob = 1.0 / (1.0 + (-(base[p] + depth[c] + boost + batch_shift[cell_batch[c]][p])).exp());
            if rng.random::<f64>() < prob && rng.random::<f64>() >= opts.dropout {
                rows.push(p as u32);
                cols.push(c as u32);
            }
        }
    }
    let vals = vec![1f32; rows.len()];
    let matrix = PeakMatrix::from_triplets(opts.n_peaks, opts.n_cells, &rows, &cols, &vals)?;
    let barcode =
        |c: usize| if opts.batches > 1 { format!("cell{c:05}-{}", cell_batch[c] + 1) } else { format!("cell{c:05}") };
    let mut cells = CellMeta::new((0..opts.n_cells).map(barcode).collect());
    let labels: Vec<String> = cell_type.iter().map(|&t| cell_types[t].clone()).collect();
    cells.set_column("cell_type", MetaColumn::categorical_from(&labels))?;
    cells.set_column("depth_offset", MetaColumn::Number(depth))?;
    if opts.batches > 1 {
        let batch_labels: Vec<String> = cell_batch.iter().map(|&b| format!("batch{}", b + 1)).collect();
        cells.set_column("batch", MetaColumn::categorical_from(&batch_labels))?;
    }
    let data = PeakDataset::new(peaks, cells, matrix, "simulated")?;
    Ok(Simulation {
        chromosomes,
        data,
        truth: SimulationTruth { cell_types, motifs, type_programs, peak_driver, sites },
    })
}

impl Simulation {
    /// The genome as FASTA text (60 bases per line).
    pub fn fasta(&self) -> String {
        let mut s = String::new();
        for (name, seq) in &self.chromosomes {
            s.push('>');
            s.push_str(name);
            s.push('\n');
            for line in seq.chunks(60) {
                s.push_str(std::str::from_utf8(line).expect("ASCII bases"));
                s.push('\n');
            }
        }
        s
    }
    /// End (exclusive) of a planted site: its start plus its motif's width.
    pub fn site_end(&self, site: &PlantedSite) -> u64 {
        site.start + self.truth.motifs.iter().find(|m| m.name == site.motif).map_or(0, |m| m.width() as u64)
    }
    /// Planted sites as TSV (peak index, chrom, start, end, strand, motif).
    pub fn sites_tsv(&self) -> String {
        let mut s = String::from("peak\tchrom\tstart\tend\tstrand\tmotif\n");
        for site in &self.truth.sites {
            s.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                self.data.peaks.name[site.peak],
                site.chrom,
                site.start,
                self.site_end(site),
                site.strand,
                site.motif
            ));
        }
        s
    }
    /// Each peak's driving cell type: the type driven by its program alone (with combination types, the program's
    /// motif name), "none" for background peaks.
    pub fn peak_driver_types(&self) -> Vec<String> {
        let t = &self.truth;
        t.peak_driver
            .iter()
            .map(|&d| {
                if d < 0 {
                    return "none".to_string();
                }
                let d = d as usize;
                t.type_programs
                    .iter()
                    .position(|ps| ps == &[d])
                    .map_or_else(|| t.motifs[d].name.clone(), |k| t.cell_types[k].clone())
            })
            .collect()
    }
    /// Peaks with their driver (cell type and motif, or `none`) as TSV.
    pub fn drivers_tsv(&self) -> String {
        let mut s = String::from("peak\tdriver_cell_type\tdriver_motif\n");
        for ((p, &d), t) in self.truth.peak_driver.iter().enumerate().zip(self.peak_driver_types()) {
            let m = if d < 0 { "none" } else { self.truth.motifs[d as usize].name.as_str() };
            s.push_str(&format!("{}\t{t}\t{m}\n", self.data.peaks.name[p]));
        }
        s
    }
}

/// Paths of a saved simulation.
#[derive(Clone, Debug)]
pub struct SimulationFiles {
    pub genome: std::path::PathBuf,
    pub peaks: std::path::PathBuf,
    pub h5ad: std::path::PathBuf,
    pub sites: std::path::PathBuf,
    pub drivers: std::path::PathBuf,
    /// The same counts as a 10x multiome `filtered_feature_bc_matrix.h5` (with simulated gene features).
    pub tenx_h5: std::path::PathBuf,
}

impl Simulation {
    /// Writes `genome.fa`, `peaks.bed`, `atac.h5ad` (cell types in obs), `planted_sites.tsv` and `peak_drivers.tsv`
    /// into `dir` (created if needed), each atomically.
    pub fn save(&self, dir: &std::path::Path) -> Result<SimulationFiles> {
        let write_atomic =
            |p: &std::path::Path, b: &[u8]| crate::io::write_atomic(p, b).map_err(|e| RuntimeError::io(p, e));
        std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
        let files = SimulationFiles {
            genome: dir.join("genome.fa"),
            peaks: dir.join("peaks.bed"),
            h5ad: dir.join("atac.h5ad"),
            sites: dir.join("planted_sites.tsv"),
            drivers: dir.join("peak_drivers.tsv"),
            tenx_h5: dir.join("filtered_feature_bc_matrix.h5"),
        };
        write_atomic(&files.genome, self.fasta().as_bytes())?;
        // a stale index from an earlier simulation in the same place must not be reused
        let _ = std::fs::remove_file(dir.join("genome.fa.fai"));
        write_atomic(&files.peaks, self.data.peaks.to_bed().as_bytes())?;
        write_atomic(&files.sites, self.sites_tsv().as_bytes())?;
        write_atomic(&files.drivers, self.drivers_tsv().as_bytes())?;
        crate::data::h5ad_write::write_h5ad(
            &files.h5ad,
            &self.data.matrix,
            &self.data.peaks,
            &self.data.cells,
            &Default::default(),
        )?;
        crate::data::tenx_write::write_10x_h5(
            &files.tenx_h5,
            &self.data.matrix,
            &self.data.peaks,
            &self.data.cells.barcodes,
            &self.gene_features(),
            "simulated",
        )?;
        Ok(files)
    }

    /// Gene-expression counts for a multiome stand-in (gscript reads only the peaks): 24 genes, one marker per cell
    /// type repeating, with counts higher in cells of the gene's type; a generator of their own.
    pub fn gene_features(&self) -> crate::data::tenx_write::GeneFeatures {
        let mut rng = ChaCha8Rng::seed_from_u64(0x9e7e);
        let n_types = self.truth.cell_types.len().max(1);
        let types: Vec<usize> = match self.data.cells.column("cell_type") {
            Ok(MetaColumn::Categorical { codes, .. }) => codes.iter().map(|&c| c as usize).collect(),
            _ => vec![0; self.data.n_cells()],
        };
        let mut g = crate::data::tenx_write::GeneFeatures::default();
        for k in 0..24 {
            g.names.push(format!("GENE{:02}", k + 1));
            let mut entries = Vec::new();
            for (c, &t) in types.iter().enumerate() {
                let mean = if t % n_types == k % n_types { 3.0 } else { 0.3 };
                // Poisson draw by inversion
                let (mut n, mut p, u) = (0u32, f64::exp(-mean), rng.random::<f64>());
                let mut cdf = p;
                while u > cdf && n < 50 {
                    n += 1;
                    p *= mean / n as f64;
                    cdf += p;
                }
                if n > 0 {
                    entries.push((c as u32, n));
                }
            }
            g.counts.push(entries);
        }
        g
    }
}
