//! Per-cell sequencing of [`simulate_multiome`](super::simulate_multiome): ATAC fragments with a nucleosome ladder
//! and PCR duplicates, and 10x 3′ GEX reads (sense strand, 3′-biased, spliced across exon junctions, intronic reads
//! from pre-mRNA, PCR duplicates sharing the UMI). Each barcode draws from its own generator, so the output does not
//! depend on the number of threads.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::{gamma, normal, poisson, World};
use super::MultiomeConfig;

/// One unique ATAC fragment of one barcode; `count` is the number of read pairs (PCR duplicates) behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fragment {
    pub chrom: u32,
    pub start: u32,
    pub end: u32,
    pub cell: u32,
    pub count: u32,
}

/// One aligned GEX read.
#[derive(Clone, Debug)]
pub struct SimRead {
    pub chrom: u32,
    /// Aligned blocks on the genome, sorted, 0-based half-open (several when the read is spliced).
    pub blocks: Vec<(u32, u32)>,
    /// Aligned to the reverse strand (the gene is on −: 10x 3′ reads are sense to the transcript).
    pub reverse: bool,
    pub cell: u32,
    pub umi: u32,
    pub gene: u32,
    pub intronic: bool,
    /// A PCR duplicate of an earlier read of the same molecule (flag 0x400 when duplicates are marked).
    pub duplicate: bool,
    /// The barcode could not be corrected: no CB (and the raw barcode has an error).
    pub no_cb: bool,
    /// Molecule number within the cell, and read number within the molecule.
    pub mol: u32,
    pub copy: u32,
}

impl SimRead {
    pub fn start(&self) -> u32 {
        self.blocks[0].0
    }
}

/// A barcode to sequence: a cell of some type, or an empty droplet (`None`: ambient material only).
pub struct Droplet {
    pub cell_type: Option<usize>,
    /// Expected unique ATAC fragments and RNA molecules.
    pub atac_depth: f64,
    pub rna_depth: f64,
}

/// What one barcode yields.
pub struct DropletData {
    pub fragments: Vec<Fragment>,
    pub reads: Vec<SimRead>,
    /// (gene, molecules with a cell barcode) for the count matrix.
    pub umis: Vec<(u32, u32)>,
}

/// The generator of barcode `index`: the seed and the index mixed (SplitMix64), so barcodes draw independently.
pub fn droplet_rng(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// Fragment length: nucleosome-free (< 147 bp) with probability `p_nfr`, else mono-, di- or tri-nucleosomal.
fn fragment_length(rng: &mut impl Rng, p_nfr: f64) -> u64 {
    let u: f64 = rng.random();
    let rest = 1.0 - p_nfr;
    let len = if u < p_nfr {
        loop {
            let x = 30.0 + 45.0 * -(1.0 - rng.random::<f64>()).ln();
            if x < 147.0 {
                break x;
            }
        }
    } else if u < p_nfr + rest * 0.7 {
        (200.0 + 25.0 * normal(rng)).clamp(147.0, 293.0)
    } else if u < p_nfr + rest * 0.92 {
        (390.0 + 35.0 * normal(rng)).clamp(294.0, 500.0)
    } else {
        (580.0 + 45.0 * normal(rng)).clamp(501.0, 800.0)
    };
    len.round() as u64
}

/// Distance from a molecule's 3′ end (its poly(A) or internal priming site) to the start of the read: the length of
/// the cDNA insert after fragmentation.
fn insert_length(rng: &mut impl Rng, read_len: u64, max: u64) -> u64 {
    let x = (350.0 + 150.0 * normal(rng)).round().max(read_len as f64) as u64;
    x.min(max)
}

pub fn sequence_droplet(cfg: &MultiomeConfig, world: &World, d: &Droplet, index: u32) -> DropletData {
    let mut rng = droplet_rng(cfg.seed, 1, index as u64);
    let fragments = atac(cfg, world, d, index, &mut rng);
    let mut rng = droplet_rng(cfg.seed, 2, index as u64);
    let (reads, umis) = rna(cfg, world, d, index, &mut rng);
    DropletData { fragments, reads, umis }
}

fn atac(cfg: &MultiomeConfig, world: &World, d: &Droplet, cell: u32, rng: &mut ChaCha8Rng) -> Vec<Fragment> {
    let n = poisson(rng, d.atac_depth);
    let chrom_len = cfg.chrom_length;
    let genome_len = chrom_len * world.chroms.len() as u64;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (chrom, mid, len) = match d.cell_type {
            Some(t) if rng.random::<f64>() < cfg.frip => {
                let cum = &world.region_cum[t];
                let x = rng.random::<f64>() * cum[cum.len() - 1];
                let r = &world.regions[cum.partition_point(|&c| c <= x).min(cum.len() - 1)];
                let centre = (r.start + r.end) as f64 / 2.0;
                let mid = centre + (r.end - r.start) as f64 / 6.0 * normal(rng);
                (r.chrom, mid, fragment_length(rng, 0.6))
            }
            _ => {
                let p = rng.random_range(0..genome_len);
                ((p / chrom_len) as usize, (p % chrom_len) as f64, fragment_length(rng, 0.2))
            }
        };
        let start = (mid - len as f64 / 2.0).round().clamp(0.0, (chrom_len - len) as f64) as u64;
        let count = 1 + poisson(rng, cfg.atac_duplication) as u32;
        out.push(Fragment { chrom: chrom as u32, start: start as u32, end: (start + len) as u32, cell, count });
    }
    // the same fragment twice is one fragment read more often
    out.sort_unstable();
    let mut merged: Vec<Fragment> = Vec::with_capacity(out.len());
    for f in out {
        match merged.last_mut() {
            Some(m) if (m.chrom, m.start, m.end) == (f.chrom, f.start, f.end) => m.count += f.count,
            _ => merged.push(f),
        }
    }
    merged
}

fn rna(
    cfg: &MultiomeConfig,
    world: &World,
    d: &Droplet,
    cell: u32,
    rng: &mut ChaCha8Rng,
) -> (Vec<SimRead>, Vec<(u32, u32)>) {
    let k = world.type_names.len();
    let n_genes = world.genes.len();
    // empty droplets hold ambient RNA: the average of the types' profiles
    let frac: Vec<f64> = match d.cell_type {
        Some(t) => world.frac[t].clone(),
        None => (0..n_genes).map(|g| world.frac.iter().map(|f| f[g]).sum::<f64>() / k as f64).collect(),
    };
    let read_len = cfg.read_length as u64;
    let mut reads = Vec::new();
    let mut umis = Vec::new();
    let mut mol = 0u32;
    for (g, gene) in world.genes.iter().enumerate() {
        // negative binomial: Poisson with a gamma-distributed mean (variance μ + dispersion·μ²)
        let mut lam = d.rna_depth * frac[g];
        if cfg.dispersion > 0.0 {
            lam *= gamma(rng, 1.0 / cfg.dispersion) * cfg.dispersion;
        }
        let n = poisson(rng, lam) as u32;
        if n == 0 {
            continue;
        }
        umis.push((g as u32, n));
        let t_len = gene.tx_len();
        let span = gene.end() - gene.start();
        let introns: Vec<(u64, u64)> =
            gene.exons.windows(2).map(|w| (w[0].1, w[1].0)).filter(|(a, b)| b - a >= read_len).collect();
        for _ in 0..n {
            let umi = rng.random::<u32>() & 0xff_ffff;
            let intronic = !introns.is_empty() && rng.random::<f64>() < cfg.intronic_fraction;
            // the molecule's 3′ end: the poly(A) tail, an internal A-rich stretch of the mRNA, or (pre-mRNA) of an
            // intron, in transcript or pre-mRNA coordinates from the 5′ end
            let anchor = if intronic {
                let total: u64 = introns.iter().map(|(a, b)| b - a).sum();
                let mut x = rng.random_range(0..total);
                let mut g_pos = introns[0].0;
                for &(a, b) in &introns {
                    if x < b - a {
                        g_pos = a + x;
                        break;
                    }
                    x -= b - a;
                }
                let from_5p = match gene.strand {
                    crate::genes::Strand::Plus => g_pos - gene.start(),
                    crate::genes::Strand::Minus => gene.end() - 1 - g_pos,
                };
                from_5p.max(read_len)
            } else if rng.random::<f64>() < cfg.internal_priming {
                rng.random_range(read_len..=t_len)
            } else {
                t_len
            };
            let copies = 1 + poisson(rng, cfg.reads_per_umi - 1.0) as u32;
            let mut ins = insert_length(rng, read_len, anchor);
            for copy in 0..copies {
                // a PCR copy is the same cDNA fragment half the time, a fragment of another amplified copy otherwise
                if copy > 0 && rng.random::<bool>() {
                    ins = insert_length(rng, read_len, anchor);
                }
                let a = anchor - ins;
                let blocks: Vec<(u32, u32)> = if intronic {
                    let (s, e) = match gene.strand {
                        crate::genes::Strand::Plus => (gene.start() + a, gene.start() + a + read_len),
                        crate::genes::Strand::Minus => (gene.end() - a - read_len, gene.end() - a),
                    };
                    debug_assert!(e - s <= span);
                    vec![(s as u32, e as u32)]
                } else {
                    gene.tx_blocks(a, read_len).into_iter().map(|(s, e)| (s as u32, e as u32)).collect()
                };
                let read = SimRead {
                    chrom: gene.chrom as u32,
                    blocks,
                    reverse: gene.strand == crate::genes::Strand::Minus,
                    cell,
                    umi,
                    gene: g as u32,
                    intronic,
                    duplicate: copy > 0,
                    no_cb: false,
                    mol,
                    copy,
                };
                if rng.random::<f64>() < cfg.no_barcode_fraction {
                    reads.push(SimRead { no_cb: true, duplicate: false, ..read.clone() });
                }
                reads.push(read);
            }
            mol += 1;
        }
    }
    (reads, umis)
}
