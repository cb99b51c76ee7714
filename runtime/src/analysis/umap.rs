//! UMAP layouts as scanpy's `tl.umap` computes them from the connectivity
//! graph (umap-learn's `simplicial_set_embedding` with the Euclidean output
//! metric): curve-fitted `a`, `b`; edges weaker than `max / n_epochs`
//! pruned; spectral initialisation scaled to `[0, 10]`; stochastic gradient
//! descent with negative sampling and a linearly decaying learning rate.
//!
//! Written here rather than taken from a crate: the one UMAP crate on
//! crates.io (`umap-rs`) optimises Hogwild-style in parallel (results vary
//! between runs), computes its own neighbours and pulls `sprs`, `dashmap`,
//! `indicatif` and a second `rand`.
//!
//! Determinism: the gradient descent runs on one thread, in edge order,
//! with a seeded ChaCha8 generator (umap-learn also turns parallelism off
//! when given a `random_state`, for the same reason: parallel SGD updates
//! race on shared coordinates). Equal seeds give bit-identical layouts.

use crate::analysis::connectivities::umap_connectivities;
use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::graph::Graph;
use crate::analysis::knn::knn_exact;
use crate::analysis::layout_init::{spectral_layout, SpectralInfo};
use crate::analysis::synthetic::standard_normal;
use crate::analysis::work::{self, Poll};
use crate::progress::{CancelToken, Progress};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How the layout is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UmapInit {
    /// Spectral layout of the (pruned) graph, see
    /// [`spectral_layout`](crate::analysis::layout_init::spectral_layout).
    Spectral,
    /// Uniform in `[-10, 10]` in every coordinate.
    Random,
}

/// UMAP parameters; the defaults are scanpy's `tl.umap` defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct UmapOptions {
    /// Output dimensions (2).
    pub n_components: usize,
    /// Neighbours counted with the point itself, as scanpy's
    /// `pp.neighbors(n_neighbors=15)`; used by [`umap`] only.
    pub n_neighbors: usize,
    /// Minimum distance between embedded points (scanpy: 0.5).
    pub min_dist: f64,
    /// Scale of the embedded points (1.0).
    pub spread: f64,
    /// Epochs; `None` is 500 for graphs of at most 10,000 nodes and 200
    /// above, as umap-learn.
    pub n_epochs: Option<usize>,
    /// Initial learning rate α (1.0), decaying linearly to 0.
    pub learning_rate: f64,
    /// Weight γ of the repulsive term (1.0).
    pub repulsion_strength: f64,
    /// Negative samples per positive sample (5).
    pub negative_sample_rate: usize,
    /// Initialisation (spectral).
    pub init: UmapInit,
    /// Seed of the initial noise and the negative sampling (0, as scanpy's
    /// `random_state=0`).
    pub seed: u64,
}

impl Default for UmapOptions {
    fn default() -> Self {
        UmapOptions {
            n_components: 2,
            n_neighbors: 15,
            min_dist: 0.5,
            spread: 1.0,
            n_epochs: None,
            learning_rate: 1.0,
            repulsion_strength: 1.0,
            negative_sample_rate: 5,
            init: UmapInit::Spectral,
            seed: 0,
        }
    }
}

/// The initialisation actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitUsed {
    /// Spectral layout; `info` tells whether the graph was connected and
    /// whether the eigen-solver converged.
    Spectral(SpectralInfo),
    /// Uniform random coordinates (requested with [`UmapInit::Random`]).
    Random,
}

/// A UMAP layout and the parameters it was computed with.
#[derive(Debug, Clone, PartialEq)]
pub struct UmapLayout {
    /// Coordinates, row-major `n × n_components`.
    pub embedding: Vec<f32>,
    /// Output dimensions.
    pub n_components: usize,
    /// Fitted curve parameter `a` of `1 / (1 + a d^{2b})`.
    pub a: f64,
    /// Fitted curve parameter `b`.
    pub b: f64,
    /// Epochs run.
    pub n_epochs: usize,
    /// Initialisation used.
    pub init: InitUsed,
}

/// Fits `a`, `b` of `1 / (1 + a x^{2b})` by least squares to the target
/// curve `1` for `x < min_dist` and `exp(−(x − min_dist)/spread)` beyond,
/// on 300 points evenly spaced over `[0, 3·spread]` (umap-learn's
/// `find_ab_params`; solved here by Levenberg–Marquardt from `(1, 1)` with
/// an analytic Jacobian, as scipy's `curve_fit` solves it from the same
/// start). For `min_dist = 0.5`, `spread = 1`: `a ≈ 0.5830`, `b ≈ 1.3342`.
pub fn find_ab_params(spread: f64, min_dist: f64) -> Result<(f64, f64)> {
    let valid = spread.is_finite() && spread > 0.0 && min_dist.is_finite() && min_dist >= 0.0;
    if !valid {
        return Err(AnalysisError::InvalidParameter {
            name: "spread/min_dist",
            reason: format!("need spread > 0 and min_dist >= 0, got spread {spread}, min_dist {min_dist}"),
        });
    }
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| if x < min_dist { 1.0 } else { (-(x - min_dist) / spread).exp() }).collect();
    let cost = |a: f64, b: f64| -> f64 {
        xs.iter().zip(&ys).map(|(&x, &y)| (1.0 / (1.0 + a * x.powf(2.0 * b)) - y).powi(2)).sum()
    };
    let (mut a, mut b, mut lambda) = (1.0f64, 1.0f64, 1e-3f64);
    let mut current = cost(a, b);
    for _ in 0..500 {
        // Normal equations J^T J and gradient J^T r.
        let (mut jaa, mut jab, mut jbb, mut ga, mut gb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x == 0.0 {
                continue; // f = 1 and both derivatives vanish at x = 0.
            }
            let xp = x.powf(2.0 * b);
            let den = 1.0 + a * xp;
            let r = 1.0 / den - y;
            let da = -xp / (den * den);
            let db = -a * xp * 2.0 * x.ln() / (den * den);
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        let mut improved = false;
        for _ in 0..30 {
            let (m11, m22) = (jaa * (1.0 + lambda), jbb * (1.0 + lambda));
            let det = m11 * m22 - jab * jab;
            if det == 0.0 || !det.is_finite() {
                lambda *= 10.0;
                continue;
            }
            let da = -(m22 * ga - jab * gb) / det;
            let db = -(m11 * gb - jab * ga) / det;
            let trial = cost(a + da, b + db);
            if trial.is_finite() && trial <= current {
                let small = da.abs() <= 1e-13 * (a.abs() + 1e-13) && db.abs() <= 1e-13 * (b.abs() + 1e-13);
                let converged = small || current - trial <= 1e-16 * current;
                a += da;
                b += db;
                current = trial;
                lambda = (lambda / 10.0).max(1e-12);
                improved = !converged;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    if !(a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "spread/min_dist",
            reason: format!("the curve fit failed for spread {spread}, min_dist {min_dist}"),
        });
    }
    Ok((a, b))
}

fn check_options(o: &UmapOptions) -> Result<()> {
    let bad = |name: &'static str, reason: String| Err(AnalysisError::InvalidParameter { name, reason });
    if o.n_components == 0 {
        return bad("n_components", "must be at least 1".into());
    }
    if !(o.learning_rate.is_finite() && o.learning_rate > 0.0) {
        return bad("learning_rate", format!("must be finite and > 0, got {}", o.learning_rate));
    }
    if !(o.repulsion_strength.is_finite() && o.repulsion_strength >= 0.0) {
        return bad("repulsion_strength", format!("must be finite and >= 0, got {}", o.repulsion_strength));
    }
    if o.n_epochs == Some(0) {
        return bad("n_epochs", "must be at least 1".into());
    }
    Ok(())
}

/// UMAP layout of a weighted graph, normally [`umap_connectivities`]
/// (scanpy's `tl.umap` on `obsp["connectivities"]`).
///
/// Steps, as umap-learn: fit `a`, `b` ([`find_ab_params`]); drop edges with
/// weight below `max_weight / n_epochs`; initialise ([`UmapInit`]), add
/// `N(0, 1e-4²)` noise after scaling the spectral layout to a maximum
/// absolute coordinate of 10, and rescale every dimension to `[0, 10]`;
/// then for each epoch `e` every directed edge `(i, j)` whose turn has come
/// (edges are sampled in proportion to their weight, the strongest every
/// epoch) pulls `i` and `j` together with the gradient
/// `−2ab d^{2(b−1)} / (1 + a d^{2b})`, and `i` is pushed from
/// `negative_sample_rate` random points per sample with
/// `2γb / ((0.001 + d²)(1 + a d^{2b}))`; gradients are clipped to ±4 per
/// coordinate and scaled by `α (1 − e / n_epochs)`.
///
/// Reports the epochs done to `progress` (one task, "UMAP", whose position
/// stays 0 during the spectral initialisation); stops with
/// [`AnalysisError::Interrupted`] within a few thousand edge updates (or one
/// eigen-solver step) once `cancel` is set.
pub fn umap_layout(
    graph: &Graph,
    options: &UmapOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<UmapLayout> {
    work::check(cancel)?;
    check_options(options)?;
    graph.validate()?;
    let n = graph.n_nodes();
    let dim = options.n_components;
    if n <= dim + 1 {
        return Err(AnalysisError::TooFewPoints { n_points: n, k: dim + 1 });
    }
    let max_w = graph.weights.iter().fold(0f32, |a, &w| a.max(w));
    if max_w <= 0.0 {
        return Err(AnalysisError::InvalidGraph("the graph has no edges; UMAP needs a neighbour graph".into()));
    }
    let (a, b) = find_ab_params(options.spread, options.min_dist)?;
    let n_epochs = options.n_epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 });
    // Prune weak edges (umap-learn uses the default epoch count when n_epochs <= 10).
    let prune_epochs = if n_epochs > 10 {
        n_epochs
    } else if n <= 10_000 {
        500
    } else {
        200
    };
    let threshold = max_w / prune_epochs as f32;
    let kept: Vec<(u32, u32, f32)> = graph.edges().into_iter().filter(|&(_, _, w)| w >= threshold).collect();
    let pruned = Graph::from_edges(n, &kept)?;
    progress.start("UMAP", Some(n_epochs as u64));
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let (mut emb, init) = match options.init {
        UmapInit::Random => {
            ((0..n * dim).map(|_| rng.random_range(-10.0f32..10.0)).collect::<Vec<f32>>(), InitUsed::Random)
        }
        UmapInit::Spectral => {
            progress.update(0, "spectral initialisation");
            let (mut coords, info) = spectral_layout(&pruned, dim, options.seed ^ 0x5bd1_e995, cancel)?;
            let max_abs = coords.iter().fold(0f32, |m, x| m.max(x.abs())).max(f32::MIN_POSITIVE);
            for c in coords.iter_mut() {
                *c = *c * (10.0 / max_abs) + (standard_normal(&mut rng) * 1e-4) as f32;
            }
            (coords, InitUsed::Spectral(info))
        }
    };
    for d in 0..dim {
        let (lo, hi) =
            (0..n).map(|i| emb[i * dim + d]).fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)));
        let range = if hi > lo { hi - lo } else { 1.0 };
        (0..n).for_each(|i| emb[i * dim + d] = 10.0 * (emb[i * dim + d] - lo) / range);
    }
    optimize(&mut emb, dim, &pruned, a as f32, b as f32, n_epochs, options, &mut rng, progress, cancel)?;
    progress.finish("");
    Ok(UmapLayout { embedding: emb, n_components: dim, a, b, n_epochs, init })
}

#[inline]
fn clip(x: f32) -> f32 {
    x.clamp(-4.0, 4.0)
}

/// The SGD epochs (umap-learn's `optimize_layout_euclidean`, one thread);
/// the token is polled every few thousand edges.
#[allow(clippy::too_many_arguments)]
fn optimize(
    emb: &mut [f32],
    dim: usize,
    graph: &Graph,
    a: f32,
    b: f32,
    n_epochs: usize,
    o: &UmapOptions,
    rng: &mut ChaCha8Rng,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let n = graph.n_nodes();
    let mut head = Vec::with_capacity(graph.indices.len());
    for i in 0..n {
        head.extend(std::iter::repeat_n(i as u32, graph.indptr[i + 1] - graph.indptr[i]));
    }
    let tail = &graph.indices;
    let max_w = graph.weights.iter().fold(0f32, |m, &w| m.max(w)) as f64;
    let epochs_per_sample: Vec<f64> =
        graph.weights.iter().map(|&w| n_epochs as f64 / (n_epochs as f64 * (w as f64 / max_w))).collect();
    let nsr = o.negative_sample_rate as f64;
    let epochs_per_negative: Vec<f64> = epochs_per_sample.iter().map(|e| e / nsr).collect();
    let mut next_sample = epochs_per_sample.clone();
    let mut next_negative = epochs_per_negative.clone();
    let gamma = o.repulsion_strength as f32;
    let mut cur = vec![0f32; dim];
    let mut poll = Poll::new(cancel);
    for epoch in 0..n_epochs {
        work::check(cancel)?;
        let alpha = (o.learning_rate * (1.0 - epoch as f64 / n_epochs as f64)) as f32;
        let now = epoch as f64;
        for e in 0..head.len() {
            poll.tick()?;
            if next_sample[e] > now {
                continue;
            }
            let (j, k) = (head[e] as usize, tail[e] as usize);
            let d2 = sq(&emb[j * dim..(j + 1) * dim], &emb[k * dim..(k + 1) * dim]);
            let coeff = if d2 > 0.0 {
                let pb = d2.powf(b);
                -2.0 * a * b * (pb / d2) / (a * pb + 1.0)
            } else {
                0.0
            };
            for d in 0..dim {
                let g = clip(coeff * (emb[j * dim + d] - emb[k * dim + d])) * alpha;
                emb[j * dim + d] += g;
                emb[k * dim + d] -= g;
            }
            next_sample[e] += epochs_per_sample[e];
            let n_neg = ((now - next_negative[e]) / epochs_per_negative[e]) as i64;
            cur.copy_from_slice(&emb[j * dim..(j + 1) * dim]);
            for _ in 0..n_neg.max(0) {
                let k = (rng.random::<u32>() as usize) % n;
                if k == j {
                    continue; // umap-learn skips a sample of the point itself.
                }
                let other = &emb[k * dim..(k + 1) * dim];
                let d2 = sq(&cur, other);
                let coeff = if d2 > 0.0 { 2.0 * gamma * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0)) } else { 0.0 };
                if coeff > 0.0 {
                    for d in 0..dim {
                        cur[d] += clip(coeff * (cur[d] - other[d])) * alpha;
                    }
                }
            }
            emb[j * dim..(j + 1) * dim].copy_from_slice(&cur);
            next_negative[e] += n_neg.max(0) as f64 * epochs_per_negative[e];
        }
        progress.update(epoch as u64 + 1, "");
    }
    Ok(())
}

#[inline]
fn sq(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// UMAP of a dense row-major `n_rows × n_cols` matrix, as scanpy's
/// `pp.neighbors(n_neighbors, method="umap")` followed by `tl.umap`:
/// exact Euclidean kNN ([`knn_exact`] with `n_neighbors − 1` neighbours
/// besides the point itself), [`umap_connectivities`], [`umap_layout`].
/// Progress and cancellation as [`knn_exact`] and [`umap_layout`].
pub fn umap(
    data: &[f32],
    n_rows: usize,
    n_cols: usize,
    options: &UmapOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<UmapLayout> {
    work::check(cancel)?;
    check_options(options)?;
    if options.n_neighbors < 2 {
        return Err(AnalysisError::InvalidParameter {
            name: "n_neighbors",
            reason: format!("counts the point itself and must be at least 2, got {}", options.n_neighbors),
        });
    }
    let knn = knn_exact(data, n_rows, n_cols, options.n_neighbors - 1, progress, cancel)?;
    let graph = umap_connectivities(&knn, options.n_neighbors)?;
    umap_layout(&graph, options, progress, cancel)
}

#[cfg(test)]
#[path = "umap_tests.rs"]
mod tests;
