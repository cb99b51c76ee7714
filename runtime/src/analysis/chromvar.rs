//! chromVAR (Schep et al. 2017, Nature Methods): per cell × motif accessibility deviations, bias-corrected with GC-
//! and accessibility-matched background peaks — the scBasset paper's baseline for TF activity.
//!
//! The steps follow the R package (GreenleafLab/chromVAR, `addGCBias`, `getBackgroundPeaks`, `computeExpectations`,
//! `computeDeviations`, `computeVariability`):
//!
//! 1. **Motif matches** ([`motif_matches`]): a peak matches a motif when any window on either strand has an exact
//!    p-value ≤ `p_value` (motifmatchr/MOODS default 5e-5), scored with gscript's FIMO-style [`Pssm`].
//! 2. **Bias** ([`gc_content`]): the GC fraction of each peak's sequence (A/C/G/T bases only; 0.5 with none).
//! 3. **Background peaks** ([`background_peaks`]): (log10 fragments per peak, GC) is whitened with the Cholesky factor
//!    of its covariance; the whitened plane is cut into a `bins` × `bins` grid over its range, each peak belongs to its
//!    nearest grid point, and each peak in grid cell i draws `iterations` background peaks with replacement, peak q with
//!    probability ∝ N(dist(i, cell(q)); 0, w) / |cell(q)| (`bg_sample_helper`).
//! 4. **Deviations** ([`compute_deviations`]): with e_p = fragments in peak p / all fragments and N_c = fragments of
//!    cell c, a motif's raw deviation in cell c is (Σ_{p∈S} x_pc − N_c Σ_{p∈S} e_p) / (N_c Σ_{p∈S} e_p); background
//!    iteration k replaces each p ∈ S by its k-th background peak. The bias-corrected deviation is the raw deviation
//!    minus the mean of the background deviations and the z-score divides that by their standard deviation (n − 1).
//!    Cells whose expected count is below `threshold` (1 fragment) get NaN, as chromVAR's NA.
//!    [`Formulation::PyChromVar`] computes pychromvar's variant instead (pychromvar 0.0.4, `compute_deviations.py`):
//!    background iteration k annotates peak p as matched when its k-th background peak is in S (the peaks whose
//!    background lies in S, not the backgrounds of S), with the expectations of those peaks; the standard deviation is
//!    the population one (n); no threshold; an undefined z-score is 0.
//! 5. **Variability** ([`variability`]): per motif, the standard deviation of the z-scores across cells, its p-value
//!    from the χ² distribution with n − 1 degrees of freedom, and Benjamini–Hochberg adjusted p-values.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::analysis::special::chi2_sf;
use crate::data::matrix::PeakMatrix;
use crate::error::{Result, RuntimeError};
use crate::motif::{Motif, Pssm};
use crate::progress::{CancelToken, Progress};

/// motifmatchr's (and pychromvar's) default match p-value.
pub const DEFAULT_P_VALUE: f64 = 5e-5;

/// Settings of the background sampling and deviations (chromVAR's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct ChromVarOptions {
    /// Background peaks per peak (`niterations`, default 50).
    pub iterations: usize,
    /// Grid points per axis of the whitened (accessibility, GC) plane (`bs`, default 50).
    pub bins: usize,
    /// Standard deviation of the Gaussian kernel over grid distances (`w`, default 0.1).
    pub w: f64,
    /// Minimum expected fragments of a cell for a motif; below it the cell's values are NaN (default 1).
    pub threshold: f64,
    /// Seed of the background sampling.
    pub seed: u64,
    /// Whose background deviations: chromVAR's (default) or pychromvar's.
    pub formulation: Formulation,
}

/// How background deviations are formed (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Formulation {
    /// R chromVAR's `computeDeviations`: each matched peak replaced by its background peak.
    #[default]
    ChromVar,
    /// pychromvar's `compute_deviations`: the annotation carried over to the peaks whose background peak matches.
    PyChromVar,
}

impl Formulation {
    /// The names [`Formulation::parse`] accepts.
    pub const NAMES: [&'static str; 2] = ["chromvar", "pychromvar"];
    /// The formulation of a name (`"chromvar"`, `"pychromvar"`).
    pub fn parse(s: &str) -> Option<Formulation> {
        match s {
            "chromvar" => Some(Formulation::ChromVar),
            "pychromvar" => Some(Formulation::PyChromVar),
            _ => None,
        }
    }
}

impl Default for ChromVarOptions {
    fn default() -> Self {
        ChromVarOptions {
            iterations: 50,
            bins: 50,
            w: 0.1,
            threshold: 1.0,
            seed: 1,
            formulation: Formulation::ChromVar,
        }
    }
}

/// GC fraction of a sequence over its A/C/G/T bases (any case); 0.5 when it has none (pychromvar's choice).
pub fn gc_content(seq: &[u8]) -> f64 {
    let (mut gc, mut acgt) = (0usize, 0usize);
    for &b in seq {
        match b.to_ascii_uppercase() {
            b'G' | b'C' => {
                gc += 1;
                acgt += 1
            }
            b'A' | b'T' => acgt += 1,
            _ => {}
        }
    }
    if acgt == 0 {
        0.5
    } else {
        gc as f64 / acgt as f64
    }
}

/// For each motif, the sorted indices of the sequences it matches (any window, either strand, p ≤ `p_value`).
pub fn motif_matches(
    seqs: &[Vec<u8>],
    motifs: &[Motif],
    p_value: f64,
    pseudocount: f64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Vec<Vec<u32>>> {
    if !(p_value > 0.0 && p_value <= 1.0) {
        return Err(RuntimeError::invalid("p_value", format!("{p_value} is not a p-value threshold in (0, 1]")));
    }
    progress.start("chromVAR: matching motifs", Some(motifs.len() as u64));
    let mut out = Vec::with_capacity(motifs.len());
    for (k, motif) in motifs.iter().enumerate() {
        cancel.check()?;
        let pssm = Pssm::new(motif, pseudocount)?;
        let hits: Vec<u32> = seqs
            .par_iter()
            .enumerate()
            .filter(|(_, s)| !pssm.scan(s, p_value).is_empty())
            .map(|(i, _)| i as u32)
            .collect();
        out.push(hits);
        progress.update(k as u64 + 1, &motif.name);
    }
    progress.finish(&format!("{} motifs matched in {} peaks", motifs.len(), seqs.len()));
    Ok(out)
}

/// Background peaks: `iterations` sampled peaks per peak, peak-major (`index[p * iterations + k]`).
#[derive(Clone, Debug, PartialEq)]
pub struct BackgroundPeaks {
    /// Number of peaks.
    pub n_peaks: usize,
    /// Background peaks per peak.
    pub iterations: usize,
    /// Sampled peak indices, `n_peaks × iterations`, row-major.
    pub index: Vec<u32>,
    /// Grid cell (row-major over the `bins × bins` grid) of each peak.
    pub bin: Vec<u32>,
    /// Each peak's whitened (log10 fragments, GC) coordinates.
    pub whitened: Vec<[f64; 2]>,
}

impl BackgroundPeaks {
    /// The background peaks of peak `p`.
    pub fn of(&self, p: usize) -> &[u32] {
        &self.index[p * self.iterations..(p + 1) * self.iterations]
    }
}

/// Samples GC- and accessibility-matched background peaks as chromVAR's `getBackgroundPeaks` (see the module docs).
/// Every peak needs at least one fragment.
pub fn background_peaks(fragments: &[f64], gc: &[f64], opts: &ChromVarOptions) -> Result<BackgroundPeaks> {
    let n = fragments.len();
    if gc.len() != n {
        return Err(RuntimeError::invalid("gc", format!("{} GC values for {n} peaks", gc.len())));
    }
    if n < 2 {
        return Err(RuntimeError::invalid("data", "chromVAR needs at least 2 peaks"));
    }
    if opts.iterations == 0 || opts.bins < 2 || !(opts.w > 0.0 && opts.w.is_finite()) {
        return Err(RuntimeError::invalid(
            "background",
            format!("need iterations ≥ 1, bins ≥ 2 and w > 0 (got {}, {}, {})", opts.iterations, opts.bins, opts.w),
        ));
    }
    if let Some(p) = fragments.iter().position(|&f| f.is_nan() || f <= 0.0) {
        return Err(RuntimeError::invalid(
            "data",
            format!(
                "peak {p} has no fragments; chromVAR needs every peak accessible in some cell (filter peaks first)"
            ),
        ));
    }
    let x: Vec<[f64; 2]> = fragments.iter().zip(gc).map(|(&f, &g)| [f.log10(), g]).collect();
    // Covariance (n − 1) and its lower Cholesky factor L; whitened = L⁻¹ x (not centred, as chromVAR).
    let mean = [0, 1].map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64);
    let cov = |a: usize, b: usize| x.iter().map(|r| (r[a] - mean[a]) * (r[b] - mean[b])).sum::<f64>() / (n - 1) as f64;
    let (s11, s12, s22) = (cov(0, 0), cov(0, 1), cov(1, 1));
    let l11 = s11.sqrt();
    let l21 = s12 / l11;
    let d = s22 - l21 * l21;
    if l11.is_nan() || l11 <= 0.0 || d.is_nan() || d <= 1e-12 * s22.max(f64::MIN_POSITIVE) {
        return Err(RuntimeError::invalid(
            "data",
            "the peaks' log fragments and GC content are collinear or constant; background peaks cannot be matched",
        ));
    }
    let l22 = d.sqrt();
    let whitened: Vec<[f64; 2]> = x.iter().map(|r| [r[0] / l11, (r[1] - l21 * r[0] / l11) / l22]).collect();
    let bs = opts.bins;
    let range = [0, 1].map(|j| {
        let (lo, hi) =
            whitened.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| (lo.min(r[j]), hi.max(r[j])));
        (lo, (hi - lo) / (bs - 1) as f64)
    });
    let grid = |j: usize, i: usize| range[j].0 + i as f64 * range[j].1;
    let nearest = |j: usize, v: f64| -> usize {
        let (lo, step) = range[j];
        if step > 0.0 {
            (((v - lo) / step).round().max(0.0) as usize).min(bs - 1)
        } else {
            0
        }
    };
    // Grid cell index = i1 * bs + i2, as chromVAR's bin_data (first coordinate outer).
    let bin: Vec<u32> = whitened.iter().map(|r| (nearest(0, r[0]) * bs + nearest(1, r[1])) as u32).collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); bs * bs];
    for (p, &b) in bin.iter().enumerate() {
        members[b as usize].push(p as u32);
    }
    let occupied: Vec<usize> = (0..bs * bs).filter(|&b| !members[b].is_empty()).collect();
    let center = |b: usize| [grid(0, b / bs), grid(1, b % bs)];
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let iters = opts.iterations;
    let mut index = vec![0u32; n * iters];
    let mut cumulative = vec![0.0f64; occupied.len()];
    for &b in &occupied {
        // P(draw a peak of cell q) ∝ dnorm(dist(b, q)) (the per-peak weight divided by |q|, summed over q's peaks);
        // the peak within q is then uniform.
        let cb = center(b);
        let mut acc = 0.0;
        for (slot, &q) in cumulative.iter_mut().zip(&occupied) {
            let cq = center(q);
            let dist2 = (cb[0] - cq[0]).powi(2) + (cb[1] - cq[1]).powi(2);
            acc += (-dist2 / (2.0 * opts.w * opts.w)).exp();
            *slot = acc;
        }
        for &p in &members[b] {
            for k in 0..iters {
                let u = rng.random::<f64>() * acc;
                let j = cumulative.partition_point(|&c| c <= u).min(occupied.len() - 1);
                let cell = &members[occupied[j]];
                index[p as usize * iters + k] = cell[rng.random_range(0..cell.len())];
            }
        }
    }
    Ok(BackgroundPeaks { n_peaks: n, iterations: iters, index, bin, whitened })
}

/// Deviations and z-scores, motifs × cells, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Deviations {
    /// Number of motifs (rows).
    pub n_motifs: usize,
    /// Number of cells (columns).
    pub n_cells: usize,
    /// Bias-corrected deviations (raw minus the background mean).
    pub deviations: Vec<f32>,
    /// Deviations divided by the background standard deviation.
    pub z: Vec<f32>,
    /// Peaks matched by each motif.
    pub n_matches: Vec<usize>,
}

/// Adds row `p` of `m` (scaled by 1) into the per-cell accumulator.
fn add_row(m: &PeakMatrix, p: usize, acc: &mut [f64]) {
    for (&c, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
        acc[c as usize] += v as f64;
    }
}

/// chromVAR's `computeDeviations` on a peaks × cells count matrix (see the module docs).
pub fn compute_deviations(
    m: &PeakMatrix,
    matches: &[Vec<u32>],
    bg: &BackgroundPeaks,
    threshold: f64,
    formulation: Formulation,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Deviations> {
    if bg.n_peaks != m.n_peaks {
        return Err(RuntimeError::invalid(
            "background",
            format!("{} peaks for a {}-peak matrix", bg.n_peaks, m.n_peaks),
        ));
    }
    let (np, nc) = (m.n_peaks, m.n_cells);
    let mut peak_total = vec![0.0f64; np];
    let mut cell_total = vec![0.0f64; nc];
    for (p, t) in peak_total.iter_mut().enumerate() {
        for (&c, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
            *t += v as f64;
            cell_total[c as usize] += v as f64;
        }
    }
    let total: f64 = peak_total.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return Err(RuntimeError::invalid("data", "the count matrix has no fragments"));
    }
    let expectation: Vec<f64> = peak_total.iter().map(|t| t / total).collect();
    let iters = bg.iterations;
    let py = formulation == Formulation::PyChromVar;
    // pychromvar: for each iteration, the peaks whose background peak is q, for every q (CSR over q)
    let preimage: Vec<(Vec<usize>, Vec<u32>)> = if py {
        (0..iters)
            .map(|i| {
                let mut ptr = vec![0usize; np + 1];
                for p in 0..np {
                    ptr[bg.of(p)[i] as usize + 1] += 1;
                }
                for q in 0..np {
                    ptr[q + 1] += ptr[q];
                }
                let mut next = ptr.clone();
                let mut peaks = vec![0u32; np];
                for p in 0..np {
                    let q = bg.of(p)[i] as usize;
                    peaks[next[q]] = p as u32;
                    next[q] += 1;
                }
                (ptr, peaks)
            })
            .collect()
    } else {
        Vec::new()
    };
    progress.start("chromVAR: deviations", Some(matches.len() as u64));
    let mut deviations = vec![f32::NAN; matches.len() * nc];
    let mut z = vec![f32::NAN; matches.len() * nc];
    for (k, set) in matches.iter().enumerate() {
        cancel.check()?;
        if let Some(&bad) = set.iter().find(|&&p| p as usize >= np) {
            return Err(RuntimeError::invalid("matches", format!("peak index {bad} out of range ({np} peaks)")));
        }
        if set.is_empty() {
            progress.update(k as u64 + 1, "");
            continue;
        }
        let deviation_of = |peaks: &mut dyn Iterator<Item = usize>| -> Vec<f64> {
            let mut obs = vec![0.0f64; nc];
            let mut e = 0.0;
            for p in peaks {
                add_row(m, p, &mut obs);
                e += expectation[p];
            }
            obs.iter().zip(&cell_total).map(|(o, n)| (o - n * e) / (n * e)).collect()
        };
        let observed = deviation_of(&mut set.iter().map(|&p| p as usize));
        let sampled: Vec<Vec<f64>> = (0..iters)
            .into_par_iter()
            .map(|i| {
                if py {
                    let (ptr, peaks) = &preimage[i];
                    let mut of_set = set
                        .iter()
                        .flat_map(|&q| peaks[ptr[q as usize]..ptr[q as usize + 1]].iter().map(|&p| p as usize));
                    deviation_of(&mut of_set)
                } else {
                    deviation_of(&mut set.iter().map(|&p| bg.of(p as usize)[i] as usize))
                }
            })
            .collect();
        let e_set: f64 = set.iter().map(|&p| expectation[p as usize]).sum();
        for c in 0..nc {
            if !py && cell_total[c] * e_set < threshold {
                continue;
            }
            let mean = sampled.iter().map(|s| s[c]).sum::<f64>() / iters as f64;
            let ss = sampled.iter().map(|s| (s[c] - mean).powi(2)).sum::<f64>();
            let var = match (py, iters > 1) {
                (true, _) => ss / iters as f64,
                (false, true) => ss / (iters - 1) as f64,
                (false, false) => f64::NAN,
            };
            let dev = observed[c] - mean;
            deviations[k * nc + c] = dev as f32;
            let zc = dev / var.sqrt();
            z[k * nc + c] = if py && !zc.is_finite() { 0.0 } else { zc as f32 };
        }
        progress.update(k as u64 + 1, "");
    }
    progress.finish(&format!("{} motifs × {nc} cells", matches.len()));
    let n_matches = matches.iter().map(Vec::len).collect();
    Ok(Deviations { n_motifs: matches.len(), n_cells: nc, deviations, z, n_matches })
}

/// Per-motif variability (chromVAR's `computeVariability` without the bootstrap intervals).
#[derive(Clone, Debug, PartialEq)]
pub struct Variability {
    /// Standard deviation (n − 1) of each motif's finite z-scores across cells.
    pub variability: Vec<f64>,
    /// P(χ²_{n−1} > variability² (n − 1)).
    pub p_value: Vec<f64>,
    /// Benjamini–Hochberg adjusted p-values.
    pub p_adj: Vec<f64>,
}

/// Variability of each row of the z-scores (see [`Variability`]).
pub fn variability(dev: &Deviations) -> Variability {
    let nc = dev.n_cells;
    let mut sd = Vec::with_capacity(dev.n_motifs);
    let mut p = Vec::with_capacity(dev.n_motifs);
    for k in 0..dev.n_motifs {
        let row: Vec<f64> = dev.z[k * nc..(k + 1) * nc].iter().filter(|v| v.is_finite()).map(|&v| v as f64).collect();
        let n = row.len();
        if n < 2 {
            sd.push(f64::NAN);
            p.push(f64::NAN);
            continue;
        }
        let mean = row.iter().sum::<f64>() / n as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        sd.push(var.sqrt());
        p.push(chi2_sf(var * (n - 1) as f64, (n - 1) as f64));
    }
    let p_adj = benjamini_hochberg(&p);
    Variability { variability: sd, p_value: p, p_adj }
}

/// Benjamini–Hochberg adjustment of the finite p-values (NaN stays NaN), as R's `p.adjust(method = "BH")`.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_finite()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let m = order.len() as f64;
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 1.0f64;
    for (r, &i) in order.iter().enumerate() {
        let rank = m - r as f64;
        running = running.min(p[i] * m / rank);
        out[i] = running.min(1.0);
    }
    out
}

/// Everything chromVAR computes for one dataset and motif list.
#[derive(Clone, Debug)]
pub struct ChromVar {
    /// GC fraction of each peak.
    pub gc: Vec<f64>,
    /// Matched peaks of each motif.
    pub matches: Vec<Vec<u32>>,
    /// The sampled background peaks.
    pub background: BackgroundPeaks,
    /// Deviations and z-scores.
    pub deviations: Deviations,
    /// Per-motif variability.
    pub variability: Variability,
}

/// The whole pipeline: GC of `seqs` (one per peak), motif matches, background peaks, deviations, variability.
pub fn chromvar(
    m: &PeakMatrix,
    seqs: &[Vec<u8>],
    motifs: &[Motif],
    p_value: f64,
    opts: &ChromVarOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<ChromVar> {
    if seqs.len() != m.n_peaks {
        return Err(RuntimeError::invalid("sequences", format!("{} sequences for {} peaks", seqs.len(), m.n_peaks)));
    }
    if motifs.is_empty() {
        return Err(RuntimeError::invalid("motifs", "no motifs given"));
    }
    let gc: Vec<f64> = seqs.iter().map(|s| gc_content(s)).collect();
    let matches = motif_matches(seqs, motifs, p_value, crate::motif::DEFAULT_PSEUDOCOUNT, progress, cancel)?;
    let mut fragments = vec![0.0f64; m.n_peaks];
    for (p, f) in fragments.iter_mut().enumerate() {
        *f = m.row_values(p).iter().map(|&v| v as f64).sum();
    }
    let background = background_peaks(&fragments, &gc, opts)?;
    let deviations = compute_deviations(m, &matches, &background, opts.threshold, opts.formulation, progress, cancel)?;
    let variability = variability(&deviations);
    Ok(ChromVar { gc, matches, background, deviations, variability })
}

#[cfg(test)]
#[path = "chromvar_tests.rs"]
mod tests;
