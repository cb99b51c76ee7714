//! The simulated biology of [`simulate_multiome`](super::simulate_multiome): a random genome, genes with exons on both
//! strands, promoters, enhancers and CTCF sites with planted JASPAR motifs, and per-cell-type expression and
//! accessibility (the generative story is in the parent module's docs). Also the random draws the simulation needs
//! (Poisson, gamma, normal), written out here so that every draw comes from the simulation's seeded generators.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::MultiomeConfig;
use crate::analysis::special::ln_gamma;
use crate::genes::Strand;
use crate::motif::Motif;
use crate::seq::codes::reverse_complement;
use crate::{Result, RuntimeError};

/// Motifs of ubiquitous promoter factors planted in every promoter (GC box, CCAAT box, ETS site).
pub const PROMOTER_MOTIFS: [&str; 3] = ["SP1", "NFYA", "ELK1"];
/// The insulator motif of constitutively accessible CTCF sites.
pub const CTCF_MOTIF: &str = "CTCF";
/// Bases kept free at each chromosome end.
const MARGIN: u64 = 10_000;
/// Least distance between neighbouring genes.
const MIN_GAP: u64 = 3_000;
/// Promoter region around the TSS, upstream and downstream (transcript orientation).
pub const PROMOTER_UP: u64 = 400;
pub const PROMOTER_DOWN: u64 = 200;
/// Width of a CTCF site region.
const CTCF_WIDTH: u64 = 300;
/// GC content of promoters (CpG-island-like).
const PROMOTER_GC: f64 = 0.65;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    Promoter,
    Enhancer,
    Ctcf,
}

impl RegionKind {
    pub fn name(self) -> &'static str {
        match self {
            RegionKind::Promoter => "promoter",
            RegionKind::Enhancer => "enhancer",
            RegionKind::Ctcf => "ctcf",
        }
    }
}

/// One simulated gene with a single transcript.
#[derive(Clone, Debug)]
pub struct SimGene {
    pub id: String,
    pub transcript_id: String,
    pub name: String,
    pub gene_type: &'static str,
    pub chrom: usize,
    pub strand: Strand,
    /// Exons, sorted by genomic position, 0-based half-open.
    pub exons: Vec<(u64, u64)>,
    /// Log expression before enhancer effects.
    pub baseline: f64,
}

impl SimGene {
    pub fn start(&self) -> u64 {
        self.exons[0].0
    }
    pub fn end(&self) -> u64 {
        self.exons[self.exons.len() - 1].1
    }
    pub fn tss(&self) -> u64 {
        match self.strand {
            Strand::Plus => self.start(),
            Strand::Minus => self.end() - 1,
        }
    }
    pub fn tx_len(&self) -> u64 {
        self.exons.iter().map(|(s, e)| e - s).sum()
    }
    /// Genomic blocks of the spliced transcript's bases `[a, a + len)`, counted from its 5′ end.
    pub fn tx_blocks(&self, a: u64, len: u64) -> Vec<(u64, u64)> {
        let t = self.tx_len();
        // offsets from the genomic left end of the spliced transcript
        let (lo, hi) = match self.strand {
            Strand::Plus => (a, a + len),
            Strand::Minus => (t - a - len, t - a),
        };
        let mut out = Vec::new();
        let mut off = 0;
        for &(s, e) in &self.exons {
            let (x, y) = (lo.max(off), hi.min(off + e - s));
            if x < y {
                out.push((s + x - off, s + y - off));
            }
            off += e - s;
        }
        out
    }
}

/// An accessible region: a promoter, an enhancer or a CTCF site.
#[derive(Clone, Debug)]
pub struct SimRegion {
    pub id: String,
    pub kind: RegionKind,
    pub chrom: usize,
    pub start: u64,
    pub end: u64,
    /// Cell types in which an enhancer is active (all types for promoters and CTCF sites).
    pub active: Vec<usize>,
    /// The promoter's gene, or the gene an enhancer regulates.
    pub gene: Option<usize>,
    /// An enhancer's effect on its gene's log expression when active (0 for other regions).
    pub effect: f64,
    /// Relative accessibility per cell type.
    pub weights: Vec<f64>,
}

/// One planted motif instance.
#[derive(Clone, Debug)]
pub struct Site {
    pub region: usize,
    pub chrom: usize,
    pub start: u64,
    pub strand: char,
    pub motif: usize,
}

/// The simulated genome, annotation and per-type programs.
pub struct World {
    pub chroms: Vec<(String, Vec<u8>)>,
    pub genes: Vec<SimGene>,
    /// Sorted by chromosome and start, non-overlapping.
    pub regions: Vec<SimRegion>,
    pub motifs: Vec<Motif>,
    pub type_names: Vec<String>,
    /// Driver motifs (indices into `motifs`) of each cell type.
    pub type_motifs: Vec<Vec<usize>>,
    pub sites: Vec<Site>,
    /// Log expression per type and gene.
    pub log_mu: Vec<Vec<f64>>,
    /// Expected share of a cell's molecules per type and gene (a softmax of `log_mu`).
    pub frac: Vec<Vec<f64>>,
    /// Cumulative region weights per type, for drawing a region in proportion to its accessibility.
    pub region_cum: Vec<Vec<f64>>,
}

pub fn normal(rng: &mut impl Rng) -> f64 {
    crate::analysis::synthetic::standard_normal(rng)
}

/// Gamma(shape, scale 1) (Marsaglia and Tsang 2000; shape < 1 by the boost u^(1/shape)).
pub fn gamma(rng: &mut impl Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Poisson(λ): multiplication of uniforms below λ = 30, Hörmann's PTRS (1993) above.
pub fn poisson(rng: &mut impl Rng, lam: f64) -> u64 {
    if lam <= 0.0 || !lam.is_finite() {
        return 0;
    }
    if lam < 30.0 {
        let l = (-lam).exp();
        let (mut k, mut p) = (0u64, 1.0f64);
        loop {
            p *= rng.random::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    let (slam, loglam) = (lam.sqrt(), lam.ln());
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.random::<f64>() - 0.5;
        let v: f64 = rng.random();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lam + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if (v * inv_alpha / (a / (us * us) + b)).ln() <= -lam + k * loglam - ln_gamma(k + 1.0) {
            return k as u64;
        }
    }
}

/// `n` random bases with GC content `gc` (A = T, C = G).
pub fn random_bases(rng: &mut impl Rng, n: usize, gc: f64) -> Vec<u8> {
    let t_a = ((1.0 - gc) / 2.0 * 65536.0) as u32;
    let t_c = t_a + (gc / 2.0 * 65536.0) as u32;
    let t_g = t_c + (gc / 2.0 * 65536.0) as u32;
    let mut out = Vec::with_capacity(n + 4);
    while out.len() < n {
        let r: u64 = rng.random();
        for k in 0..4 {
            let x = ((r >> (16 * k)) & 0xffff) as u32;
            out.push(if x < t_a {
                b'A'
            } else if x < t_c {
                b'C'
            } else if x < t_g {
                b'G'
            } else {
                b'T'
            });
        }
    }
    out.truncate(n);
    out
}

fn log_uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// Splits `total` into `n` parts of at least `min`, in proportion to exponential draws.
fn split(rng: &mut impl Rng, total: u64, n: usize, min: u64) -> Vec<u64> {
    let free = total - min * n as u64;
    let w: Vec<f64> = (0..n).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
    let sum: f64 = w.iter().sum();
    let mut parts: Vec<u64> = w.iter().map(|x| min + (free as f64 * x / sum) as u64).collect();
    let used: u64 = parts.iter().sum();
    parts[n - 1] += total - used;
    parts
}

fn overlaps(occupied: &[(u64, u64)], s: u64, e: u64) -> bool {
    occupied.iter().any(|&(a, b)| s < b && a < e)
}

/// Plants `n` non-overlapping instances of `motif` in `[lo, hi)` (as many as fit in 50 tries each).
#[allow(clippy::too_many_arguments)]
fn plant(
    rng: &mut ChaCha8Rng,
    seq: &mut [u8],
    lo: u64,
    hi: u64,
    motif: &Motif,
    motif_index: usize,
    n: usize,
    used: &mut Vec<(u64, u64)>,
    region: usize,
    chrom: usize,
    sites: &mut Vec<Site>,
) {
    let w = motif.width() as u64;
    if hi < lo + w {
        return;
    }
    for _ in 0..n {
        for _ in 0..50 {
            let s = rng.random_range(lo..=hi - w);
            if overlaps(used, s, s + w) {
                continue;
            }
            used.push((s, s + w));
            let mut bases = motif.sample_sequence(rng);
            let strand = if rng.random::<bool>() { '+' } else { '-' };
            if strand == '-' {
                bases = reverse_complement(&bases);
            }
            seq[s as usize..(s + w) as usize].copy_from_slice(&bases);
            sites.push(Site { region, chrom, start: s, strand, motif: motif_index });
            break;
        }
    }
}

/// Exon lengths and intron lengths of a gene of `len` bp, in transcript order.
fn exon_structure(rng: &mut ChaCha8Rng, cfg: &MultiomeConfig, len: u64) -> (Vec<u64>, Vec<u64>) {
    let mut n = rng.random_range(cfg.min_exons..=cfg.max_exons);
    let first = rng.random_range(100..=400u64);
    let last = rng.random_range(300..=1500u64).min(len / 3).max(cfg.read_length as u64 + 50);
    let internal: Vec<u64> = (0..cfg.max_exons).map(|_| rng.random_range(50..=250u64)).collect();
    loop {
        let mut exons = vec![first];
        if n >= 2 {
            exons.extend_from_slice(&internal[..n - 2]);
            exons.push(last);
        } else {
            exons[0] = first + last;
        }
        let exonic: u64 = exons.iter().sum();
        if n == 1 || exonic + 100 * (n as u64 - 1) <= len * 6 / 10 {
            let introns = if n >= 2 { split(rng, len - exonic, n - 1, 100) } else { Vec::new() };
            let total = exonic + introns.iter().sum::<u64>();
            // a single exon takes the whole gene
            if n == 1 {
                exons[0] = len;
            } else {
                debug_assert_eq!(total, len);
            }
            return (exons, introns);
        }
        n -= 1;
    }
}

fn cumulative(w: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    w.iter()
        .map(|x| {
            acc += x;
            acc
        })
        .collect()
}

/// Builds the genome, the annotation, the regions with their planted motifs and the per-type programs.
pub fn build_world(cfg: &MultiomeConfig, drivers: Vec<Motif>, extra: Vec<Motif>) -> Result<World> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let k = cfg.cell_types;
    let type_names: Vec<String> = (0..k).map(|t| format!("type{t}_{}", drivers[t].name)).collect();
    let type_motifs: Vec<Vec<usize>> = (0..k).map(|t| vec![t]).collect();
    let mut motifs = drivers;
    let n_drivers = motifs.len();
    motifs.extend(extra);
    let promoter_motifs: Vec<usize> = (n_drivers..n_drivers + PROMOTER_MOTIFS.len()).collect();
    let ctcf = n_drivers + PROMOTER_MOTIFS.len();

    let mut chroms = Vec::new();
    let mut genes: Vec<SimGene> = Vec::new();
    let mut regions: Vec<SimRegion> = Vec::new();
    let mut sites: Vec<Site> = Vec::new();
    let per_chrom = cfg.genes / cfg.chromosomes;
    let mut n_enh = 0usize;
    let mut n_ctcf = 0usize;
    for c in 0..cfg.chromosomes {
        let name = format!("chr{}", c + 1);
        let len = cfg.chrom_length;
        let mut seq = random_bases(&mut rng, len as usize, cfg.gc);
        let n = per_chrom + usize::from(c < cfg.genes % cfg.chromosomes);
        let lens: Vec<u64> = (0..n)
            .map(|_| log_uniform(&mut rng, cfg.min_gene_length as f64, cfg.max_gene_length as f64).round() as u64)
            .collect();
        let need = lens.iter().sum::<u64>() + (n as u64 + 1) * MIN_GAP + 2 * MARGIN;
        if need > len {
            return Err(RuntimeError::invalid(
                "genes",
                format!(
                    "{n} genes need {need} bp on {name} but it has {len} bp: use fewer genes, shorter genes \
                     (max_gene_length) or a longer chrom_length"
                ),
            ));
        }
        let gaps = split(&mut rng, len - 2 * MARGIN - lens.iter().sum::<u64>(), n + 1, MIN_GAP);
        let mut occupied: Vec<(u64, u64)> = Vec::new();
        let first_gene = genes.len();
        let mut pos = MARGIN;
        for i in 0..n {
            pos += gaps[i];
            let (s, e) = (pos, pos + lens[i]);
            pos = e;
            let strand = if rng.random::<bool>() { Strand::Plus } else { Strand::Minus };
            let (ex, introns) = exon_structure(&mut rng, cfg, e - s);
            // lay out in transcript order from the 5′ end
            let mut tx: Vec<(u64, u64)> = Vec::new();
            let mut off = 0u64;
            for (j, &l) in ex.iter().enumerate() {
                tx.push((off, off + l));
                off += l + introns.get(j).copied().unwrap_or(0);
            }
            let mut exons: Vec<(u64, u64)> = tx
                .iter()
                .map(|&(a, b)| match strand {
                    Strand::Plus => (s + a, s + b),
                    Strand::Minus => (e - b, e - a),
                })
                .collect();
            exons.sort_unstable();
            let lnc = rng.random::<f64>() < 0.1;
            let baseline = if lnc { -1.5 + 0.7 * normal(&mut rng) } else { normal(&mut rng) };
            let g = genes.len();
            genes.push(SimGene {
                id: format!("SIMG{:06}", g + 1),
                transcript_id: format!("SIMT{:06}", g + 1),
                name: format!("GENE{:04}", g + 1),
                gene_type: if lnc { "lncRNA" } else { "protein_coding" },
                chrom: c,
                strand,
                exons: exons.clone(),
                baseline,
            });
            occupied.extend(exons);
            // promoter: GC-rich, with ubiquitous promoter motifs upstream of the TSS
            let tss = genes[g].tss();
            let (ps, pe) = match strand {
                Strand::Plus => (tss.saturating_sub(PROMOTER_UP), tss + PROMOTER_DOWN),
                Strand::Minus => ((tss + 1).saturating_sub(PROMOTER_DOWN), (tss + 1 + PROMOTER_UP).min(len)),
            };
            let gc_rich = random_bases(&mut rng, (pe - ps) as usize, PROMOTER_GC);
            seq[ps as usize..pe as usize].copy_from_slice(&gc_rich);
            let r = regions.len();
            let mut used = Vec::new();
            let (us, ue) = match strand {
                Strand::Plus => (ps, tss),
                Strand::Minus => (tss + 1, pe),
            };
            for &m in &promoter_motifs {
                plant(&mut rng, &mut seq, us, ue, &motifs[m], m, 1, &mut used, r, c, &mut sites);
            }
            regions.push(SimRegion {
                id: format!("prom_{}", genes[g].name),
                kind: RegionKind::Promoter,
                chrom: c,
                start: ps,
                end: pe,
                active: (0..k).collect(),
                gene: Some(g),
                effect: 0.0,
                weights: Vec::new(),
            });
            occupied.push((ps.saturating_sub(100), pe + 100));
        }
        // enhancers near each gene's TSS, active in one or two cell types
        let w = cfg.enhancer_width;
        for (g, gene) in genes.iter().enumerate().skip(first_gene) {
            let count = poisson(&mut rng, cfg.enhancers_per_gene);
            let tss = gene.tss() as i64;
            for _ in 0..count {
                let d = cfg.enhancer_distance as i64;
                let placed = (0..100).find_map(|_| {
                    let off = rng.random_range(-d..=d);
                    if off.abs() < 1000 {
                        return None;
                    }
                    let s = tss + off - (w / 2) as i64;
                    if s < 1000 || s as u64 + w + 1000 > len {
                        return None;
                    }
                    let s = s as u64;
                    (!overlaps(&occupied, s.saturating_sub(200), s + w + 200)).then_some(s)
                });
                let Some(s) = placed else { continue };
                occupied.push((s, s + w));
                let mut active = vec![rng.random_range(0..k)];
                if k >= 2 && rng.random::<f64>() < cfg.shared_enhancers {
                    let other = (active[0] + rng.random_range(1..k)) % k;
                    active.push(other);
                    active.sort_unstable();
                }
                let r = regions.len();
                let mut used = Vec::new();
                for &t in &active {
                    for &m in &type_motifs[t] {
                        let motif = &motifs[m];
                        plant(
                            &mut rng,
                            &mut seq,
                            s + 20,
                            s + w - 20,
                            motif,
                            m,
                            cfg.sites_per_enhancer,
                            &mut used,
                            r,
                            c,
                            &mut sites,
                        );
                    }
                }
                n_enh += 1;
                let effect = cfg.effect_min + rng.random::<f64>() * (cfg.effect_max - cfg.effect_min);
                regions.push(SimRegion {
                    id: format!("enh{n_enh:04}"),
                    kind: RegionKind::Enhancer,
                    chrom: c,
                    start: s,
                    end: s + w,
                    active,
                    gene: Some(g),
                    effect,
                    weights: Vec::new(),
                });
            }
        }
        // constitutive CTCF sites anywhere outside exons, promoters and enhancers
        let n_sites = (cfg.ctcf_per_mb * len as f64 / 1e6).round() as usize;
        for _ in 0..n_sites {
            let placed = (0..100).find_map(|_| {
                let s = rng.random_range(MARGIN..len - MARGIN - CTCF_WIDTH);
                (!overlaps(&occupied, s.saturating_sub(200), s + CTCF_WIDTH + 200)).then_some(s)
            });
            let Some(s) = placed else { continue };
            occupied.push((s, s + CTCF_WIDTH));
            let r = regions.len();
            let mut used = Vec::new();
            plant(&mut rng, &mut seq, s + 100, s + 200, &motifs[ctcf], ctcf, 1, &mut used, r, c, &mut sites);
            n_ctcf += 1;
            regions.push(SimRegion {
                id: format!("ctcf{n_ctcf:04}"),
                kind: RegionKind::Ctcf,
                chrom: c,
                start: s,
                end: s + CTCF_WIDTH,
                active: (0..k).collect(),
                gene: None,
                effect: 0.0,
                weights: Vec::new(),
            });
        }
        chroms.push((name, seq));
    }

    // expression: baseline plus the effects of the enhancers active in each type
    let mut log_mu: Vec<Vec<f64>> = (0..k).map(|_| genes.iter().map(|g| g.baseline).collect()).collect();
    for r in regions.iter().filter(|r| r.kind == RegionKind::Enhancer) {
        for &t in &r.active {
            log_mu[t][r.gene.expect("enhancers have a gene")] += r.effect;
        }
    }
    let frac: Vec<Vec<f64>> = log_mu
        .iter()
        .map(|mu| {
            let m = mu.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = mu.iter().map(|x| (x - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|x| x / s).collect()
        })
        .collect();
    // accessibility: promoters follow their gene's expression (saturating), enhancers are open where active
    let mut base: Vec<f64> = genes.iter().map(|g| g.baseline).collect();
    base.sort_by(|a, b| a.total_cmp(b));
    let mid = base[base.len() / 2];
    for r in &mut regions {
        r.weights = (0..k)
            .map(|t| match r.kind {
                RegionKind::Promoter => {
                    let x = (log_mu[t][r.gene.expect("promoters have a gene")] - mid).exp();
                    0.2 + 1.8 * x / (1.0 + x)
                }
                RegionKind::Enhancer if r.active.contains(&t) => 1.0,
                RegionKind::Enhancer => cfg.inactive_accessibility,
                RegionKind::Ctcf => cfg.ctcf_accessibility,
            })
            .collect();
    }
    // sort regions by position (sites follow their region)
    let mut order: Vec<usize> = (0..regions.len()).collect();
    order.sort_by_key(|&i| (regions[i].chrom, regions[i].start));
    let mut new_index = vec![0; regions.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let regions: Vec<SimRegion> = order.iter().map(|&i| regions[i].clone()).collect();
    for s in &mut sites {
        s.region = new_index[s.region];
    }
    sites.sort_by_key(|s| (s.chrom, s.start));
    let region_cum = (0..k).map(|t| cumulative(&regions.iter().map(|r| r.weights[t]).collect::<Vec<_>>())).collect();
    Ok(World { chroms, genes, regions, motifs, type_names, type_motifs, sites, log_mu, frac, region_cum })
}
