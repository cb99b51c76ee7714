//! `simulate_multiome`: a simulated 10x Multiome run (ATAC + 3′ GEX of the same cells) with known truth, written as
//! the real files, so that everything downstream (fragment and BAM import, window targets, profile models) is tested
//! without downloads.
//!
//! **Genome and annotation.** `chromosomes` random chromosomes (`chr1`, …) of `chrom_length` bp with GC content `gc`.
//! `genes` genes (log-uniform lengths between `min_gene_length` and `max_gene_length`, either strand, ≥ 3 kb apart)
//! with one transcript each of `min_exons`–`max_exons` exons: a 100–400 bp first exon, 50–250 bp internal exons and
//! a 300–1,500 bp last exon (3′ UTR), introns of at least 100 bp; 10 % are `lncRNA` (lower baseline), the rest
//! `protein_coding`. Promoters (TSS −400/+200) are GC-rich (65 %) and carry one site each of SP1, NFYA and ELK1
//! upstream of the TSS.
//!
//! **Programs.** Each of the `cell_types` types has a driver TF: a real JASPAR 2026 CORE vertebrates motif
//! (`motifs`; default GATA1, Spi1, EBF1, HNF4A, CEBPA, SOX2, Runx1, TCF7, PAX5, MEF2C, FOXA2, IRF4). Each gene gets
//! Poisson(`enhancers_per_gene`) enhancers of `enhancer_width` bp within ±`enhancer_distance` of its TSS (outside
//! exons and promoters, introns allowed), active in one random type, or in two with probability `shared_enhancers`;
//! `sites_per_enhancer` sampled instances of each active type's driver motif (random strand) are planted in it.
//! `ctcf_per_mb` constitutive CTCF sites (300 bp, one CTCF motif) lie anywhere outside exons.
//!
//! **Expression.** Gene g has a baseline log expression b_g ~ N(0, 1) (lncRNA N(−1.5, 0.7)); in type t,
//! μ_gt = b_g + Σ β_e over its enhancers e active in t, with effects β_e ~ U(`effect_min`, `effect_max`). A cell's
//! share of molecules for g is softmax_g(μ_gt); its molecule count is negative binomial: Poisson(U_c · share · G) with
//! G ~ Gamma(1/`dispersion`, `dispersion`). The truth lists every enhancer → gene link with its β.
//!
//! **Accessibility.** Regions are drawn in proportion to a weight per type: active enhancers 1, inactive
//! `inactive_accessibility`, CTCF sites `ctcf_accessibility`, promoters 0.2 + 1.8·x/(1 + x) with
//! x = exp(μ_gt − median b) (open when the gene is expressed, poised otherwise).
//!
//! **Cells.** `cells` cells split evenly over the types (shuffled), with 16-bp random barcodes plus `-1`, in sorted
//! order; library sizes are log-normal with s.d. `depth_sd` (correlated 0.64 between the modalities) around
//! `fragments_per_cell` unique fragments and `umis_per_cell` molecules. `empty_droplets` extra barcodes carry 2 % of
//! that: background fragments and ambient RNA (the types' mean profile); they are in the fragments and the BAM but
//! not in the filtered matrix.
//!
//! **ATAC.** A share `frip` of a cell's fragments comes from its type's regions (fragment midpoint ~ N(centre,
//! width/6)), the rest uniformly from the genome. Lengths follow a nucleosome ladder: nucleosome-free (30 + Exp(45),
//! < 147 bp), mono- (N(200, 25)), di- (N(390, 35)) and tri-nucleosomal (N(580, 45)), nucleosome-free with probability
//! 0.6 in regions and 0.2 in background. Each fragment has 1 + Poisson(`atac_duplication`) read pairs (the count
//! column); coordinates are insertion sites as in 10x files (start, end − 1: no further Tn5 shift; no Tn5 sequence
//! bias is simulated). `atac_fragments.tsv.gz` is sorted by chromosome, start, end and barcode.
//!
//! **RNA (10x 3′ GEX, as Multiome uses).** Reads are `read_length` bp (Multiome read 2: 90), aligned to the strand of
//! their gene (sense: flag 0x10 for genes on −, SnapATAC2-scooby's `stranded` import keeps them without flipping).
//! A molecule's 3′ end is its poly(A) tail, with probability `internal_priming` an internal A-rich stretch anywhere
//! in the mRNA, or — with probability `intronic_fraction` — a site in an intron of the pre-mRNA (unspliced reads,
//! `RE:A:N`). The read starts an insert length (N(350, 150), ≥ the read length) upstream of that end; reads crossing
//! exon junctions are spliced (CIGAR `N`). Each molecule (random 12-bp UMI) has 1 + Poisson(`reads_per_umi` − 1)
//! reads; a copy is the same cDNA fragment or (half the time) another fragment of the molecule. As Cell Ranger,
//! all but the first read of a molecule are flagged duplicate (0x400, with `mark_duplicates`; `xf:i:17`, the counted
//! read `xf:i:25`). A share `no_barcode_fraction` of reads appears once more with an uncorrectable barcode (`CR` with
//! an error, no `CB`, `xf:i:0`). Tags: NH, HI, nM, RE, xf, CR, CB, UR, UB, GX, GN; MAPQ 255; no sequencing errors.
//! The BAM is sorted by coordinate (`@HD SO:coordinate`) and indexed (`.bai`).
//!
//! **Files.** `genome.fa` + `.fai`, `chrom.sizes`, `genes.gtf`, `atac_fragments.tsv.gz` + `.tbi`,
//! `gex_possorted_bam.bam` + `.bai`, `filtered_feature_bc_matrix.h5` (UMI counts per gene, introns included as Cell
//! Ranger ARC counts them, then Tn5 cut sites per true region as `Peaks`), `sequences.bed` (Borzoi-style folds:
//! `window`-bp windows tiled from each chromosome start, fold0…fold7 in contiguous runs; default 196,608 bp when the
//! genome holds at least 16 such windows, else the largest of 196,608/2^k that does, down to 3,072), and the truth:
//! `truth.json` plus `truth_cells.tsv`, `truth_regions.tsv`, `truth_expression.tsv`, `truth_motif_sites.tsv`.
//!
//! The directory is written atomically (a temporary directory beside it, renamed at the end); an existing non-empty
//! directory is an error unless `overwrite`. The same seed gives the same bytes in every file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::motif::Motif;
use crate::progress::{CancelToken, Progress};
use crate::{Result, RuntimeError};

#[path = "simulate_files.rs"]
mod files;
#[path = "simulate_model.rs"]
mod model;
#[path = "simulate_reads.rs"]
mod reads;
#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
#[path = "simulate_truth.rs"]
mod truth;

pub use model::{poisson, RegionKind};
pub use truth::{MultiomeSummary, MultiomeTruth, TruthLink};

/// Default driver motifs, one per cell type in order (lineage TFs with distinct, informative JASPAR PWMs).
pub const DEFAULT_MULTIOME_DRIVERS: [&str; 12] =
    ["GATA1", "Spi1", "EBF1", "HNF4A", "CEBPA", "SOX2", "Runx1", "TCF7", "PAX5", "MEF2C", "FOXA2", "IRF4"];

/// Settings of [`simulate_multiome`] (module docs give the model).
#[derive(Clone, Debug, PartialEq)]
pub struct MultiomeConfig {
    pub cells: usize,
    pub cell_types: usize,
    /// Driver motif names or JASPAR ids, one per cell type (empty: [`DEFAULT_MULTIOME_DRIVERS`]).
    pub motifs: Vec<String>,
    pub chromosomes: usize,
    pub chrom_length: u64,
    pub gc: f64,
    pub genes: usize,
    pub min_gene_length: u64,
    pub max_gene_length: u64,
    pub min_exons: usize,
    pub max_exons: usize,
    pub enhancers_per_gene: f64,
    pub enhancer_width: u64,
    pub enhancer_distance: u64,
    pub sites_per_enhancer: usize,
    pub shared_enhancers: f64,
    pub ctcf_per_mb: f64,
    pub inactive_accessibility: f64,
    pub ctcf_accessibility: f64,
    pub effect_min: f64,
    pub effect_max: f64,
    pub fragments_per_cell: f64,
    pub frip: f64,
    pub atac_duplication: f64,
    pub umis_per_cell: f64,
    pub dispersion: f64,
    pub reads_per_umi: f64,
    pub intronic_fraction: f64,
    pub internal_priming: f64,
    pub no_barcode_fraction: f64,
    pub read_length: usize,
    pub depth_sd: f64,
    pub empty_droplets: usize,
    pub mark_duplicates: bool,
    /// Window length of `sequences.bed` (None: 196,608 bp, or smaller on a small genome).
    pub window: Option<u64>,
    pub seed: u64,
    pub overwrite: bool,
}

impl Default for MultiomeConfig {
    fn default() -> Self {
        MultiomeConfig {
            cells: 200,
            cell_types: 4,
            motifs: Vec::new(),
            chromosomes: 3,
            chrom_length: 2_000_000,
            gc: 0.41,
            genes: 120,
            min_gene_length: 5_000,
            max_gene_length: 60_000,
            min_exons: 2,
            max_exons: 8,
            enhancers_per_gene: 2.0,
            enhancer_width: 500,
            enhancer_distance: 50_000,
            sites_per_enhancer: 3,
            shared_enhancers: 0.2,
            ctcf_per_mb: 5.0,
            inactive_accessibility: 0.05,
            ctcf_accessibility: 0.6,
            effect_min: 0.5,
            effect_max: 1.5,
            fragments_per_cell: 2000.0,
            frip: 0.5,
            atac_duplication: 0.3,
            umis_per_cell: 1000.0,
            dispersion: 0.1,
            reads_per_umi: 1.5,
            intronic_fraction: 0.3,
            internal_priming: 0.15,
            no_barcode_fraction: 0.02,
            read_length: 90,
            depth_sd: 0.4,
            empty_droplets: 0,
            mark_duplicates: true,
            window: None,
            seed: 0,
            overwrite: false,
        }
    }
}

impl MultiomeConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(RuntimeError::invalid(f, m));
        if self.cells == 0 {
            return bad("cells", "must be at least 1".into());
        }
        if self.cell_types == 0 || self.cell_types > self.cells {
            return bad("cell_types", format!("must be between 1 and cells ({}), got {}", self.cells, self.cell_types));
        }
        if self.motifs.is_empty() && self.cell_types > DEFAULT_MULTIOME_DRIVERS.len() {
            let n = DEFAULT_MULTIOME_DRIVERS.len();
            return bad("motifs", format!("more than {n} cell types: name a driver motif for each"));
        }
        if !self.motifs.is_empty() && self.motifs.len() != self.cell_types {
            let (m, k) = (self.motifs.len(), self.cell_types);
            return bad("motifs", format!("give one driver motif per cell type: {m} motifs for {k} types"));
        }
        if !(1..=1000).contains(&self.chromosomes) {
            return bad("chromosomes", format!("must be between 1 and 1000, got {}", self.chromosomes));
        }
        if !(50_000..=500_000_000).contains(&self.chrom_length) {
            return bad(
                "chrom_length",
                format!("must be between 50,000 and 500,000,000 bp, got {}", self.chrom_length),
            );
        }
        if self.genes < self.chromosomes {
            return bad(
                "genes",
                format!("must be at least one per chromosome ({}), got {}", self.chromosomes, self.genes),
            );
        }
        if self.min_gene_length < 3_000 || self.max_gene_length < self.min_gene_length {
            return bad(
                "min_gene_length",
                format!(
                    "need 3,000 ≤ min_gene_length ≤ max_gene_length, got {} and {}",
                    self.min_gene_length, self.max_gene_length
                ),
            );
        }
        if self.min_exons == 0 || self.max_exons < self.min_exons || self.max_exons > 50 {
            return bad(
                "min_exons",
                format!("need 1 ≤ min_exons ≤ max_exons ≤ 50, got {} and {}", self.min_exons, self.max_exons),
            );
        }
        if !(20..=300).contains(&self.read_length) {
            return bad("read_length", format!("must be between 20 and 300, got {}", self.read_length));
        }
        if !(100..=10_000).contains(&self.enhancer_width) {
            return bad("enhancer_width", format!("must be between 100 and 10,000 bp, got {}", self.enhancer_width));
        }
        if self.enhancer_distance < 2_000 {
            return bad("enhancer_distance", format!("must be at least 2,000 bp, got {}", self.enhancer_distance));
        }
        if self.effect_min < 0.0 || self.effect_max < self.effect_min || !self.effect_max.is_finite() {
            let (a, b) = (self.effect_min, self.effect_max);
            return bad("effect_min", format!("need 0 ≤ effect_min ≤ effect_max (finite), got {a} and {b}"));
        }
        for (f, v) in [
            ("gc", self.gc),
            ("frip", self.frip),
            ("shared_enhancers", self.shared_enhancers),
            ("inactive_accessibility", self.inactive_accessibility),
            ("ctcf_accessibility", self.ctcf_accessibility),
            ("intronic_fraction", self.intronic_fraction),
            ("internal_priming", self.internal_priming),
            ("no_barcode_fraction", self.no_barcode_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(f, format!("must be between 0 and 1, got {v}"));
            }
        }
        for (f, v, lo, hi) in [
            ("enhancers_per_gene", self.enhancers_per_gene, 0.0, 100.0),
            ("ctcf_per_mb", self.ctcf_per_mb, 0.0, 1000.0),
            ("fragments_per_cell", self.fragments_per_cell, 1.0, 1e6),
            ("umis_per_cell", self.umis_per_cell, 1.0, 1e6),
            ("atac_duplication", self.atac_duplication, 0.0, 100.0),
            ("reads_per_umi", self.reads_per_umi, 1.0, 100.0),
            ("dispersion", self.dispersion, 0.0, 100.0),
            ("depth_sd", self.depth_sd, 0.0, 3.0),
        ] {
            if !(lo..=hi).contains(&v) {
                return bad(f, format!("must be between {lo} and {hi}, got {v}"));
            }
        }
        if let Some(w) = self.window {
            if w < 32 {
                return bad("window", format!("must be at least 32 bp, got {w}"));
            }
        }
        Ok(())
    }

    /// The `sequences.bed` window length (module docs).
    pub fn window_length(&self) -> u64 {
        self.window.unwrap_or_else(|| {
            let mut w = 196_608u64;
            while w > 3_072 && (self.chrom_length / w) * self.chromosomes as u64 <= 16 {
                w /= 2;
            }
            w
        })
    }

    /// The driver motifs and the ubiquitous ones (promoter factors, CTCF) from the shipped JASPAR collection.
    fn resolve_motifs(&self) -> Result<(Vec<Motif>, Vec<Motif>)> {
        let jaspar = crate::data::simulate::jaspar_vertebrates();
        let names: Vec<String> = if self.motifs.is_empty() {
            DEFAULT_MULTIOME_DRIVERS[..self.cell_types].iter().map(|s| s.to_string()).collect()
        } else {
            self.motifs.clone()
        };
        let get = |n: &str| {
            jaspar.get(n).cloned().ok_or_else(|| {
                RuntimeError::invalid(
                    "motifs",
                    format!("no motif '{n}' in the shipped JASPAR 2026 collection (use a name like 'GATA1' or an id like 'MA0035.5')"),
                )
            })
        };
        let drivers = names.iter().map(|n| get(n)).collect::<Result<Vec<_>>>()?;
        for (i, a) in drivers.iter().enumerate() {
            if drivers[..i].iter().any(|b| b.id == a.id) {
                return Err(RuntimeError::invalid("motifs", format!("motif '{}' is named twice", a.name)));
            }
        }
        let extra = model::PROMOTER_MOTIFS.iter().chain([&model::CTCF_MOTIF]).map(|n| get(n)).collect::<Result<_>>()?;
        Ok((drivers, extra))
    }
}

/// Paths of the files written (all inside `dir`), counts, and the truth in brief.
#[derive(Clone, Debug)]
pub struct MultiomeFiles {
    pub dir: PathBuf,
    pub genome: PathBuf,
    pub genome_index: PathBuf,
    pub chrom_sizes: PathBuf,
    pub gtf: PathBuf,
    pub fragments: PathBuf,
    pub fragments_index: PathBuf,
    pub bam: PathBuf,
    pub bam_index: PathBuf,
    pub matrix: PathBuf,
    pub sequences: PathBuf,
    pub truth_json: PathBuf,
    pub truth_cells: PathBuf,
    pub truth_regions: PathBuf,
    pub truth_expression: PathBuf,
    pub truth_sites: PathBuf,
    pub summary: MultiomeSummary,
    pub truth: MultiomeTruth,
}

impl MultiomeFiles {
    fn in_dir(dir: &Path, summary: MultiomeSummary, truth: MultiomeTruth) -> MultiomeFiles {
        let p = |n: &str| dir.join(n);
        MultiomeFiles {
            dir: dir.to_path_buf(),
            genome: p("genome.fa"),
            genome_index: p("genome.fa.fai"),
            chrom_sizes: p("chrom.sizes"),
            gtf: p("genes.gtf"),
            fragments: p("atac_fragments.tsv.gz"),
            fragments_index: p("atac_fragments.tsv.gz.tbi"),
            bam: p("gex_possorted_bam.bam"),
            bam_index: p("gex_possorted_bam.bam.bai"),
            matrix: p("filtered_feature_bc_matrix.h5"),
            sequences: p("sequences.bed"),
            truth_json: p("truth.json"),
            truth_cells: p("truth_cells.tsv"),
            truth_regions: p("truth_regions.tsv"),
            truth_expression: p("truth_expression.tsv"),
            truth_sites: p("truth_motif_sites.tsv"),
            summary,
            truth,
        }
    }
    /// Every file as (short name, path), in a fixed order.
    pub fn paths(&self) -> Vec<(&'static str, &Path)> {
        vec![
            ("genome", &self.genome),
            ("genome_index", &self.genome_index),
            ("chrom_sizes", &self.chrom_sizes),
            ("gtf", &self.gtf),
            ("fragments", &self.fragments),
            ("fragments_index", &self.fragments_index),
            ("bam", &self.bam),
            ("bam_index", &self.bam_index),
            ("matrix", &self.matrix),
            ("sequences", &self.sequences),
            ("truth_json", &self.truth_json),
            ("truth_cells", &self.truth_cells),
            ("truth_regions", &self.truth_regions),
            ("truth_expression", &self.truth_expression),
            ("truth_sites", &self.truth_sites),
        ]
    }
}

/// Simulates a multiome and writes its files into `out_dir` (module docs).
pub fn simulate_multiome(
    cfg: &MultiomeConfig,
    out_dir: &Path,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<MultiomeFiles> {
    cfg.validate()?;
    let (drivers, extra) = cfg.resolve_motifs()?;
    let name = out_dir
        .file_name()
        .ok_or_else(|| RuntimeError::invalid("dir", format!("{} names no directory", out_dir.display())))?
        .to_string_lossy()
        .into_owned();
    if out_dir.exists() {
        if !out_dir.is_dir() {
            return Err(RuntimeError::invalid("dir", format!("{} exists and is not a directory", out_dir.display())));
        }
        let non_empty = std::fs::read_dir(out_dir).map_err(|e| RuntimeError::io(out_dir, e))?.next().is_some();
        if non_empty && !cfg.overwrite {
            return Err(RuntimeError::invalid(
                "dir",
                format!("{} exists and is not empty (pass overwrite: true to replace it)", out_dir.display()),
            ));
        }
    }
    let parent = out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| RuntimeError::io(parent, e))?;
    let stamp = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    let tmp = parent.join(format!(".{name}.tmp-{stamp}"));
    std::fs::create_dir(&tmp).map_err(|e| RuntimeError::io(&tmp, e))?;
    let started = Instant::now();
    let built = build(cfg, drivers, extra, &tmp, progress, cancel);
    let (mut summary, truth) = match built {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    summary.seconds = started.elapsed().as_secs_f64();
    // swap the finished directory into place
    if out_dir.exists() {
        let old = parent.join(format!(".{name}.old-{stamp}"));
        std::fs::rename(out_dir, &old).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            RuntimeError::io(out_dir, e)
        })?;
        if let Err(e) = std::fs::rename(&tmp, out_dir) {
            let _ = std::fs::rename(&old, out_dir);
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(RuntimeError::io(out_dir, e));
        }
        let _ = std::fs::remove_dir_all(&old);
    } else if let Err(e) = std::fs::rename(&tmp, out_dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(RuntimeError::io(out_dir, e));
    }
    let files = MultiomeFiles::in_dir(out_dir, summary, truth);
    Ok(files)
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::io(path, e)
}

/// Everything but the final rename: writes into `dir`.
fn build(
    cfg: &MultiomeConfig,
    drivers: Vec<Motif>,
    extra: Vec<Motif>,
    dir: &Path,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(MultiomeSummary, MultiomeTruth)> {
    const STEPS: u64 = 5;
    progress.start("simulating a multiome", Some(STEPS));
    let world = model::build_world(cfg, drivers, extra)?;
    let files = MultiomeFiles::in_dir(dir, MultiomeSummary::default(), MultiomeTruth::default());
    files::write_fasta(&files.genome, &files.genome_index, &world.chroms).map_err(io_err(&files.genome))?;
    let sizes: String = world.chroms.iter().map(|(n, s)| format!("{n}\t{}\n", s.len())).collect();
    std::fs::write(&files.chrom_sizes, sizes).map_err(io_err(&files.chrom_sizes))?;
    files::write_gtf(&files.gtf, &world).map_err(io_err(&files.gtf))?;
    cancel.check()?;

    // the fold windows first: a bad `window` fails before the long part
    let window = cfg.window_length();
    let sizes: Vec<(String, u64)> = world.chroms.iter().map(|(n, s)| (n.clone(), s.len() as u64)).collect();
    let folds = crate::genes::folds::make_folds(&sizes, window, 8).map_err(|e| match e {
        RuntimeError::InvalidArgument { message, .. } => RuntimeError::invalid("window", message),
        other => other,
    })?;
    crate::genes::folds::write_folds(&files.sequences, &folds)?;
    progress.update(1, "genome, genes and folds");

    let droplets = truth::droplets(cfg);
    let mut data: Vec<reads::DropletData> = droplets
        .droplets
        .par_iter()
        .enumerate()
        .map(|(i, d)| {
            cancel.check()?;
            Ok(reads::sequence_droplet(cfg, &world, d, i as u32))
        })
        .collect::<Result<_>>()?;
    progress.update(2, "cells sequenced");

    // matrix and truth while the per-cell data is at hand, then the reads move out of it
    let matrix = truth::count_matrix(&world, &droplets, &data);
    files::write_10x_h5(&files.matrix, &matrix)
        .map_err(|e| RuntimeError::Other(format!("cannot write {}: {e}", files.matrix.display())))?;
    drop(matrix);
    let (mut summary, truth) = truth::write_truth(&files, cfg, &world, &droplets, &data)?;
    progress.update(3, "matrix and truth");
    cancel.check()?;

    let mut fragments: Vec<reads::Fragment> = Vec::with_capacity(data.iter().map(|d| d.fragments.len()).sum());
    for d in &mut data {
        fragments.append(&mut d.fragments);
    }
    fragments.par_sort_unstable();
    let names: Vec<String> = world.chroms.iter().map(|(n, _)| n.clone()).collect();
    files::write_fragments(&files.fragments, &files.fragments_index, &names, &droplets.barcodes, &fragments, cfg.seed)
        .map_err(io_err(&files.fragments))?;
    summary.fragments = fragments.len() as u64;
    summary.atac_read_pairs = fragments.iter().map(|f| f.count as u64).sum();
    drop(fragments);
    progress.update(4, "fragments");
    cancel.check()?;

    let mut all_reads: Vec<reads::SimRead> = Vec::with_capacity(data.iter().map(|d| d.reads.len()).sum());
    for d in &mut data {
        all_reads.append(&mut d.reads);
    }
    drop(data);
    let settings =
        files::BamSettings { barcodes: &droplets.barcodes, mark_duplicates: cfg.mark_duplicates, seed: cfg.seed };
    files::write_bam(&files.bam, &files.bam_index, &world, &mut all_reads, &settings).map_err(io_err(&files.bam))?;
    summary.bam_records = all_reads.len() as u64;
    summary.spliced_reads = all_reads.iter().filter(|r| r.blocks.len() > 1).count() as u64;
    summary.window = window;
    summary.sequences = folds.len() as u64;
    progress.update(5, "BAM");
    progress.finish(&format!(
        "{} cells, {} fragments, {} reads",
        droplets.n_cells(),
        summary.fragments,
        summary.bam_records
    ));
    Ok((summary, truth))
}
