//! Barnes–Hut t-SNE in two dimensions with scikit-learn's `TSNE` defaults
//! and schedule: perplexity 30 on the `⌊3·perplexity + 1⌋` exact nearest
//! neighbours, early exaggeration 12 for the first 250 iterations with
//! momentum 0.5, then momentum 0.8 up to 1000 iterations, learning rate
//! "auto" = `max(n / early_exaggeration / 4, 50)`, per-coordinate gains
//! (+0.2 / ×0.8, floor 0.01), θ = 0.5, PCA initialisation scaled to a
//! first-coordinate standard deviation of 1e-4.
//!
//! Written here rather than taken from the `bhtsne` crate: `bhtsne` picks
//! its own neighbours (a vantage-point tree) and momentum/gain schedule, and
//! pulls a second `rand` (0.9), `rustfft`/`realfft` and a pinned
//! `barnes-hut-tree`; here the affinities come from our exact [`Knn`] and
//! the optimiser follows scikit-learn step for step.
//!
//! Determinism: the forces of every point are computed independently in
//! parallel and reduced in index order, so equal seeds give bit-identical
//! layouts for any number of threads.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::knn::{knn_exact, Knn};
use crate::analysis::quadtree::QuadTree;
use crate::analysis::reduce::{pca, PcaOptions};
use crate::analysis::synthetic::standard_normal;
use crate::analysis::work;
use crate::progress::{CancelToken, NoProgress, Progress};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Initial layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsneInit {
    /// First two principal components, scaled to a first-coordinate
    /// standard deviation of 1e-4 (scikit-learn's default).
    Pca,
    /// `N(0, 1e-4²)` in every coordinate.
    Random,
}

/// t-SNE parameters; the defaults are scikit-learn's.
#[derive(Debug, Clone, PartialEq)]
pub struct TsneOptions {
    /// Perplexity (30); must be below the number of points.
    pub perplexity: f64,
    /// Factor on P during the first `exploration_iter` iterations (12).
    pub early_exaggeration: f64,
    /// Iterations with exaggeration and momentum 0.5 (250).
    pub exploration_iter: usize,
    /// Total iterations (1000).
    pub max_iter: usize,
    /// Learning rate; `None` is "auto", `max(n / early_exaggeration / 4, 50)`.
    pub learning_rate: Option<f64>,
    /// Stop when the error has not improved for this many iterations
    /// after the exploration phase (300; checked every 50).
    pub n_iter_without_progress: usize,
    /// Stop when the gradient norm falls to this value (1e-7).
    pub min_grad_norm: f64,
    /// Barnes–Hut angle θ (0.5).
    pub theta: f64,
    /// Initialisation (PCA).
    pub init: TsneInit,
    /// Seed for the random initialisation (0).
    pub seed: u64,
}

impl Default for TsneOptions {
    fn default() -> Self {
        TsneOptions {
            perplexity: 30.0,
            early_exaggeration: 12.0,
            exploration_iter: 250,
            max_iter: 1000,
            learning_rate: None,
            n_iter_without_progress: 300,
            min_grad_norm: 1e-7,
            theta: 0.5,
            init: TsneInit::Pca,
            seed: 0,
        }
    }
}

/// A t-SNE layout.
#[derive(Debug, Clone, PartialEq)]
pub struct TsneLayout {
    /// Coordinates, row-major `n × 2`.
    pub embedding: Vec<f32>,
    /// KL divergence of the last evaluation (scikit-learn's
    /// `kl_divergence_`, computed with the Barnes–Hut normalisation).
    pub kl_divergence: f64,
    /// Index of the last iteration run (scikit-learn's `n_iter_`; 999 for a full 1000-iteration run).
    pub n_iter: usize,
    /// Learning rate used.
    pub learning_rate: f64,
}

/// Symmetric joint probabilities `P` in CSR form.
#[derive(Debug, Clone, PartialEq)]
pub struct Affinities {
    /// Row pointers.
    pub indptr: Vec<usize>,
    /// Column ids, increasing within each row.
    pub indices: Vec<u32>,
    /// `p_ij`, summing to 1 over the whole matrix.
    pub values: Vec<f64>,
}

/// Neighbours scikit-learn uses for a perplexity: `min(n − 1, ⌊3p + 1⌋)`.
pub fn neighbors_for_perplexity(n: usize, perplexity: f64) -> usize {
    ((3.0 * perplexity + 1.0).floor() as usize).min(n.saturating_sub(1))
}

fn check_perplexity(n: usize, perplexity: f64) -> Result<()> {
    if !(perplexity.is_finite() && perplexity > 0.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "perplexity",
            reason: format!("must be finite and > 0, got {perplexity}"),
        });
    }
    if perplexity >= n as f64 {
        return Err(AnalysisError::InvalidParameter {
            name: "perplexity",
            reason: format!("must be less than the number of points ({n}), got {perplexity}"),
        });
    }
    Ok(())
}

/// Joint probabilities from the neighbours stored in `knn` (all `knn.k` of
/// them), as scikit-learn's `_joint_probabilities_nn`: per point, a
/// Gaussian on squared distances whose precision is found by bisection
/// (100 steps, entropy tolerance 1e-5) so that its perplexity matches;
/// then `P = (P_cond + P_condᵀ) / Σ`.
///
/// Reports the points done to `progress`; stops with
/// [`AnalysisError::Interrupted`] once `cancel` is set.
pub fn tsne_affinities(
    knn: &Knn,
    perplexity: f64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Affinities> {
    work::check(cancel)?;
    knn.validate()?;
    check_perplexity(knn.n, perplexity)?;
    let k = knn.k;
    let desired = perplexity.ln();
    let mut cond = vec![0f64; knn.n * k];
    progress.start("t-SNE affinities", Some(knn.n as u64));
    work::in_steps(knn.n, 64, progress, cancel, |points| {
        cond[points.start * k..points.end * k].par_chunks_mut(k).enumerate().for_each(|(r, out)| {
            if cancel.is_cancelled() {
                return;
            }
            let i = points.start + r;
            let d2: Vec<f64> = knn.distances[i * k..(i + 1) * k].iter().map(|&d| (d as f64) * (d as f64)).collect();
            let (mut beta, mut lo, mut hi) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
            let mut p = vec![0f64; k];
            for _ in 0..100 {
                p.iter_mut().zip(&d2).for_each(|(p, d)| *p = (-d * beta).exp());
                let mut sum: f64 = p.iter().sum();
                if sum == 0.0 {
                    sum = 1e-8;
                }
                p.iter_mut().for_each(|x| *x /= sum);
                let mean_d: f64 = p.iter().zip(&d2).map(|(p, d)| p * d).sum();
                let entropy = sum.ln() + beta * mean_d;
                let diff = entropy - desired;
                if diff.abs() <= 1e-5 {
                    break;
                }
                if diff > 0.0 {
                    lo = beta;
                    beta = if hi == f64::INFINITY { beta * 2.0 } else { (beta + hi) / 2.0 };
                } else {
                    hi = beta;
                    beta = if lo == f64::NEG_INFINITY { beta / 2.0 } else { (beta + lo) / 2.0 };
                }
            }
            out.iter_mut().zip(p).for_each(|(o, x)| *o = x as f32 as f64);
        });
    })?;
    let mut entries: Vec<(u32, u32, f64)> = Vec::with_capacity(2 * knn.n * k);
    for i in 0..knn.n {
        for p in 0..k {
            let j = knn.indices[i * k + p];
            entries.push((i as u32, j, cond[i * k + p]));
            entries.push((j, i as u32, cond[i * k + p]));
        }
    }
    entries.par_sort_unstable_by_key(|&(i, j, _)| (i, j));
    let mut indptr = vec![0usize; knn.n + 1];
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    let mut q = 0;
    while q < entries.len() {
        let (i, j, mut v) = entries[q];
        q += 1;
        while q < entries.len() && entries[q].0 == i && entries[q].1 == j {
            v += entries[q].2;
            q += 1;
        }
        indices.push(j);
        values.push(v);
        indptr[i as usize + 1] += 1;
    }
    for i in 0..knn.n {
        indptr[i + 1] += indptr[i];
    }
    let total: f64 = values.iter().sum::<f64>().max(f64::EPSILON);
    values.iter_mut().for_each(|v| *v /= total);
    progress.finish("");
    Ok(Affinities { indptr, indices, values })
}

/// Barnes–Hut gradient `4 (F_attr − F_rep / Z)` of the KL divergence for
/// joint probabilities `p` scaled by `exaggeration`, and the divergence
/// itself when `with_error`. Once `cancel` is set the remaining points are
/// skipped and the result is meaningless; the caller checks the token.
fn gradient(
    p: &Affinities,
    exaggeration: f64,
    y: &[f64],
    theta: f64,
    with_error: bool,
    cancel: &CancelToken,
) -> (Vec<f64>, f64) {
    let n = y.len() / 2;
    let tree = QuadTree::new(y);
    let rep: Vec<([f64; 2], f64)> = (0..n)
        .into_par_iter()
        .map_init(Vec::new, |stack, i| {
            if cancel.is_cancelled() {
                return ([0.0; 2], 0.0);
            }
            tree.repulsion([y[2 * i], y[2 * i + 1]], theta * theta, stack)
        })
        .collect();
    let z = rep.iter().map(|r| r.1).sum::<f64>().max(f64::EPSILON);
    let per_point: Vec<([f64; 2], f64)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (mut f, mut err) = ([0.0; 2], 0.0);
            for q in p.indptr[i]..p.indptr[i + 1] {
                let j = p.indices[q] as usize;
                let pij = p.values[q] * exaggeration;
                let (dx, dy) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
                let qij = 1.0 / (1.0 + dx * dx + dy * dy);
                f[0] += pij * qij * dx;
                f[1] += pij * qij * dy;
                if with_error {
                    let tiny = f32::MIN_POSITIVE as f64;
                    err += pij * (pij.max(tiny) / (qij / z).max(tiny)).ln();
                }
            }
            ([4.0 * (f[0] - rep[i].0[0] / z), 4.0 * (f[1] - rep[i].0[1] / z)], err)
        })
        .collect();
    let grad = per_point.iter().flat_map(|(g, _)| *g).collect();
    (grad, per_point.iter().map(|r| r.1).sum())
}

/// Barnes–Hut t-SNE from precomputed neighbours and an initial layout
/// (row-major `knn.n × 2`, used as given). All `knn.k` stored neighbours
/// enter the affinities ([`tsne_affinities`]); scikit-learn uses
/// [`neighbors_for_perplexity`] of them.
///
/// Reports the iterations done to `progress` (one task, "t-SNE", at 0 while
/// the affinities are computed); stops with [`AnalysisError::Interrupted`]
/// within one gradient evaluation once `cancel` is set.
pub fn tsne_from_knn(
    knn: &Knn,
    init: &[f32],
    options: &TsneOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<TsneLayout> {
    work::check(cancel)?;
    let n = knn.n;
    crate::analysis::matrix::validate_matrix("init", init, n, 2)?;
    let o = options;
    let bad = |name: &'static str, reason: String| Err(AnalysisError::InvalidParameter { name, reason });
    if !(o.early_exaggeration.is_finite() && o.early_exaggeration > 0.0) {
        return bad("early_exaggeration", format!("must be finite and > 0, got {}", o.early_exaggeration));
    }
    if !(o.theta.is_finite() && o.theta >= 0.0) {
        return bad("theta", format!("must be finite and >= 0, got {}", o.theta));
    }
    if let Some(lr) = o.learning_rate.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
        return bad("learning_rate", format!("must be finite and > 0, got {lr}"));
    }
    if o.exploration_iter == 0 || o.max_iter < o.exploration_iter {
        return bad(
            "max_iter",
            format!("need 0 < exploration_iter ({}) <= max_iter ({})", o.exploration_iter, o.max_iter),
        );
    }
    knn.validate()?;
    check_perplexity(n, o.perplexity)?;
    progress.start("t-SNE", Some(o.max_iter as u64));
    progress.update(0, "affinities");
    let p = tsne_affinities(knn, o.perplexity, &mut NoProgress, cancel)?;
    let learning_rate = o.learning_rate.unwrap_or((n as f64 / o.early_exaggeration / 4.0).max(50.0));
    let mut y: Vec<f64> = init.iter().map(|&v| v as f64).collect();
    let mut run = Descent { p: &p, lr: learning_rate, o, progress, cancel };
    let stage1 = run.descend(&mut y, o.early_exaggeration, 0, o.exploration_iter, 0.5, o.exploration_iter)?;
    let (mut kl, mut last) = stage1;
    if o.max_iter > o.exploration_iter {
        (kl, last) = run.descend(&mut y, 1.0, last + 1, o.max_iter, 0.8, o.n_iter_without_progress)?;
    }
    progress.finish(&format!("KL {kl:.3}"));
    Ok(TsneLayout { embedding: y.iter().map(|&v| v as f32).collect(), kl_divergence: kl, n_iter: last, learning_rate })
}

/// What both optimisation stages share: the affinities, the learning rate,
/// the options, and where progress and cancellation go.
struct Descent<'a> {
    p: &'a Affinities,
    lr: f64,
    o: &'a TsneOptions,
    progress: &'a mut dyn Progress,
    cancel: &'a CancelToken,
}

impl Descent<'_> {
    /// scikit-learn's `_gradient_descent` from iteration `start` to `end`
    /// (exclusive); returns the last error and the last iteration index.
    fn descend(
        &mut self,
        y: &mut [f64],
        exaggeration: f64,
        start: usize,
        end: usize,
        momentum: f64,
        patience: usize,
    ) -> Result<(f64, usize)> {
        let (p, lr, o) = (self.p, self.lr, self.o);
        let mut update = vec![0f64; y.len()];
        let mut gains = vec![1f64; y.len()];
        let (mut error, mut best_error, mut best_iter) = (f64::MAX, f64::MAX, start);
        let mut i = start;
        while i < end {
            work::check(self.cancel)?;
            let check = (i + 1).is_multiple_of(50);
            let (mut grad, err) = gradient(p, exaggeration, y, o.theta, check || i + 1 == end, self.cancel);
            work::check(self.cancel)?;
            if check || i + 1 == end {
                error = err;
                self.progress.update(i as u64 + 1, &format!("KL {error:.3}"));
            } else {
                self.progress.update(i as u64 + 1, "");
            }
            let grad_norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
            for ((g, u), gain) in grad.iter_mut().zip(&update).zip(gains.iter_mut()) {
                *gain = if *u * *g < 0.0 { *gain + 0.2 } else { *gain * 0.8 }.max(0.01);
                *g *= *gain;
            }
            for ((u, g), yv) in update.iter_mut().zip(&grad).zip(y.iter_mut()) {
                *u = momentum * *u - lr * g;
                *yv += *u;
            }
            if check {
                if error < best_error {
                    best_error = error;
                    best_iter = i;
                } else if i - best_iter > patience {
                    break;
                }
                if grad_norm <= o.min_grad_norm {
                    break;
                }
            }
            i += 1;
        }
        Ok((error, i.min(end - 1)))
    }
}

/// Barnes–Hut t-SNE of a dense row-major `n_rows × n_cols` matrix into two
/// dimensions, as `sklearn.manifold.TSNE(perplexity, init="pca",
/// learning_rate="auto")`: exact kNN with [`neighbors_for_perplexity`]
/// neighbours, [`tsne_affinities`], the initial layout, then
/// [`tsne_from_knn`]'s two optimisation stages. Progress and cancellation as
/// [`knn_exact`] and [`tsne_from_knn`].
pub fn tsne(
    data: &[f32],
    n_rows: usize,
    n_cols: usize,
    options: &TsneOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<TsneLayout> {
    work::check(cancel)?;
    crate::analysis::matrix::validate_matrix("data", data, n_rows, n_cols)?;
    check_perplexity(n_rows, options.perplexity)?;
    let k = neighbors_for_perplexity(n_rows, options.perplexity);
    let knn = knn_exact(data, n_rows, n_cols, k, progress, cancel)?;
    let init: Vec<f32> = match options.init {
        TsneInit::Pca => {
            if n_cols < 2 {
                return Err(AnalysisError::InvalidParameter {
                    name: "init",
                    reason: "PCA initialisation needs at least 2 columns".into(),
                });
            }
            let scores = pca(
                data,
                n_rows,
                n_cols,
                &PcaOptions { n_components: 2, seed: options.seed, ..PcaOptions::default() },
            )?
            .embedding;
            let mean = scores.iter().step_by(2).map(|&v| v as f64).sum::<f64>() / n_rows as f64;
            let var = scores.iter().step_by(2).map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n_rows as f64;
            let scale = 1e-4 / var.sqrt().max(f64::MIN_POSITIVE);
            scores.iter().map(|&v| (v as f64 * scale) as f32).collect()
        }
        TsneInit::Random => {
            let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
            (0..n_rows * 2).map(|_| (1e-4 * standard_normal(&mut rng)) as f32).collect()
        }
    };
    tsne_from_knn(&knn, &init, options, progress, cancel)
}

#[cfg(test)]
#[path = "tsne_tests.rs"]
mod tests;
