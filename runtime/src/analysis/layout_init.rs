//! Initial layouts for UMAP and t-SNE: spectral embeddings of a graph's
//! normalised Laplacian (per connected component) and principal
//! components of a data matrix.
//!
//! Both use small dense eigenproblems solved by cyclic Jacobi rotations and,
//! for large operators, block subspace iteration with Rayleigh–Ritz
//! extraction; starting blocks are drawn from a seeded generator and every
//! parallel step writes disjoint rows, so results are deterministic.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::graph::{connected_components, Graph};
use crate::analysis::synthetic::standard_normal;
use crate::analysis::work;
use crate::progress::CancelToken;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Extra block vectors beyond the requested eigenvectors.
const OVERSAMPLE: usize = 8;
/// Subspace-iteration steps between convergence checks.
const CHECK_EVERY: usize = 10;

/// Eigen-decomposition of a symmetric `p × p` matrix (row-major) by cyclic
/// Jacobi rotations. Returns eigenvalues in decreasing order and the
/// matching eigenvectors as the columns of a row-major `p × p` matrix.
pub(crate) fn symmetric_eigen(mat: &[f64], p: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = mat.to_vec();
    let mut v = vec![0f64; p * p];
    for i in 0..p {
        v[i * p + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..p)
            .flat_map(|i| (0..p).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * p + j].powi(2))
            .sum();
        let scale: f64 = a.iter().map(|x| x * x).sum::<f64>();
        if off <= 1e-30 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for r in 0..p {
            for c in r + 1..p {
                let arc = a[r * p + c];
                if arc == 0.0 {
                    continue;
                }
                let theta = (a[c * p + c] - a[r * p + r]) / (2.0 * arc);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let cs = 1.0 / (t * t + 1.0).sqrt();
                let sn = t * cs;
                for k in 0..p {
                    let (akr, akc) = (a[k * p + r], a[k * p + c]);
                    a[k * p + r] = cs * akr - sn * akc;
                    a[k * p + c] = sn * akr + cs * akc;
                }
                for k in 0..p {
                    let (ark, ack) = (a[r * p + k], a[c * p + k]);
                    a[r * p + k] = cs * ark - sn * ack;
                    a[c * p + k] = sn * ark + cs * ack;
                }
                for k in 0..p {
                    let (vkr, vkc) = (v[k * p + r], v[k * p + c]);
                    v[k * p + r] = cs * vkr - sn * vkc;
                    v[k * p + c] = sn * vkr + cs * vkc;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&x, &y| a[y * p + y].total_cmp(&a[x * p + x]));
    let values = order.iter().map(|&i| a[i * p + i]).collect();
    let mut vectors = vec![0f64; p * p];
    for (new, &old) in order.iter().enumerate() {
        for k in 0..p {
            vectors[k * p + new] = v[k * p + old];
        }
    }
    (values, vectors)
}

/// Orthonormalises the `p` columns of the row-major `m × p` block `v` by
/// modified Gram–Schmidt, first removing the direction `deflate` (unit
/// norm) if given. A column that vanishes is replaced by a seeded random one.
fn orthonormalize(v: &mut [f64], m: usize, p: usize, deflate: Option<&[f64]>, rng: &mut ChaCha8Rng) {
    for c in 0..p {
        for attempt in 0..3 {
            if let Some(u) = deflate {
                let dot: f64 = (0..m).map(|i| v[i * p + c] * u[i]).sum();
                (0..m).for_each(|i| v[i * p + c] -= dot * u[i]);
            }
            for prev in 0..c {
                let dot: f64 = (0..m).map(|i| v[i * p + c] * v[i * p + prev]).sum();
                (0..m).for_each(|i| v[i * p + c] -= dot * v[i * p + prev]);
            }
            let norm = (0..m).map(|i| v[i * p + c].powi(2)).sum::<f64>().sqrt();
            if norm > 1e-10 || attempt == 2 {
                (0..m).for_each(|i| v[i * p + c] /= norm.max(f64::MIN_POSITIVE));
                break;
            }
            (0..m).for_each(|i| v[i * p + c] = standard_normal(rng));
        }
    }
}

/// `Vᵀ W` for row-major `m × p` blocks.
fn gram(v: &[f64], w: &[f64], m: usize, p: usize) -> Vec<f64> {
    let mut h = vec![0f64; p * p];
    for i in 0..m {
        for a in 0..p {
            for b in 0..p {
                h[a * p + b] += v[i * p + a] * w[i * p + b];
            }
        }
    }
    h
}

/// `V Q` for a row-major `m × p` block and a `p × q` matrix.
fn rotate(v: &[f64], q: &[f64], m: usize, p: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0f64; m * cols];
    out.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
        for (c, o) in row.iter_mut().enumerate() {
            *o = (0..p).map(|a| v[i * p + a] * q[a * p + c]).sum();
        }
    });
    out
}

/// A symmetric operator applied to a row-major `m × p` block: `(V, W, p)`
/// writes the product into `W`.
type Operator<'a> = dyn Fn(&[f64], &mut [f64], usize) + 'a;

/// Top `dim` eigenvectors (row-major `m × dim`) of a symmetric positive
/// semi-definite operator by block subspace iteration, orthogonal to
/// `deflate` if given. Returns the vectors and whether the residuals fell
/// below `tol` within `max_iter` steps; checks `cancel` before every step.
#[allow(clippy::too_many_arguments)]
fn top_eigenvectors(
    apply: &Operator<'_>,
    m: usize,
    dim: usize,
    deflate: Option<&[f64]>,
    max_iter: usize,
    tol: f64,
    rng: &mut ChaCha8Rng,
    cancel: &CancelToken,
) -> Result<(Vec<f64>, bool)> {
    let free = m - usize::from(deflate.is_some());
    let p = (dim + OVERSAMPLE).min(free);
    let mut v: Vec<f64> = (0..m * p).map(|_| standard_normal(rng)).collect();
    orthonormalize(&mut v, m, p, deflate, rng);
    let mut w = vec![0f64; m * p];
    for it in 0..max_iter {
        work::check(cancel)?;
        apply(&v, &mut w, p);
        if it % CHECK_EVERY == CHECK_EVERY - 1 || it + 1 == max_iter {
            let h = gram(&v, &w, m, p);
            let (theta, q) = symmetric_eigen(&h, p);
            let vq = rotate(&v, &q, m, p, p);
            let wq = rotate(&w, &q, m, p, p);
            let worst = (0..dim)
                .map(|c| (0..m).map(|i| (wq[i * p + c] - theta[c] * vq[i * p + c]).powi(2)).sum::<f64>().sqrt())
                .fold(0f64, f64::max);
            if worst < tol {
                let out = (0..m).flat_map(|i| (0..dim).map(move |c| (i, c))).map(|(i, c)| vq[i * p + c]).collect();
                return Ok((out, true));
            }
            if it + 1 == max_iter {
                let out = (0..m).flat_map(|i| (0..dim).map(move |c| (i, c))).map(|(i, c)| vq[i * p + c]).collect();
                return Ok((out, false));
            }
        }
        std::mem::swap(&mut v, &mut w);
        orthonormalize(&mut v, m, p, deflate, rng);
    }
    Ok((vec![0f64; m * dim], false))
}

/// How a spectral initialisation was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpectralInfo {
    /// Connected components of the graph.
    pub n_components: usize,
    /// Components too small for a spectral layout (at most `dim + 1`
    /// nodes), placed at random inside their grid cell.
    pub n_random_components: usize,
    /// Whether every eigen-solve reached the residual tolerance (1e-4);
    /// otherwise the last subspace iterate was used.
    pub converged: bool,
}

/// Spectral layout of a graph in `dim` dimensions (row-major `n × dim`):
/// for each connected component, the eigenvectors of the normalised
/// Laplacian `I − D^{-1/2} A D^{-1/2}` with the 2nd to `(dim+1)`-th smallest
/// eigenvalues (umap-learn's `spectral_layout`), found as the top
/// eigenvectors of `(I + D^{-1/2} A D^{-1/2}) / 2` with the trivial one
/// (`∝ √deg`) deflated.
///
/// A connected graph gives unit-norm eigenvectors. With several components
/// every component's layout is scaled to a maximum absolute coordinate of 1
/// and the components are centred on a square grid with spacing 3 in the
/// first two dimensions (umap-learn instead places them by a spectral layout
/// of their centroids in data space, which a graph alone does not provide).
///
/// Stops with [`AnalysisError::Interrupted`] within one solver step once
/// `cancel` is set.
pub fn spectral_layout(graph: &Graph, dim: usize, seed: u64, cancel: &CancelToken) -> Result<(Vec<f32>, SpectralInfo)> {
    if dim == 0 {
        return Err(AnalysisError::InvalidParameter { name: "n_components", reason: "must be at least 1".into() });
    }
    let comp = connected_components(graph)?;
    let n = graph.n_nodes();
    if n == 0 {
        return Err(AnalysisError::EmptyInput { what: "graph" });
    }
    let n_comp = comp.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_comp];
    for (i, &c) in comp.iter().enumerate() {
        members[c as usize].push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0f32; n * dim];
    let mut info = SpectralInfo { n_components: n_comp, n_random_components: 0, converged: true };
    let side = (n_comp as f64).sqrt().ceil() as usize;
    let mut local = vec![usize::MAX; n];
    for (c, nodes) in members.iter().enumerate() {
        let m = nodes.len();
        let coords: Vec<f64> = if m <= dim + 1 {
            info.n_random_components += 1;
            (0..m * dim).map(|_| rng.random_range(-1.0..1.0)).collect()
        } else {
            for (l, &g) in nodes.iter().enumerate() {
                local[g] = l;
            }
            let inv_sqrt: Vec<f64> =
                nodes.iter().map(|&g| 1.0 / graph.row(g).1.iter().map(|&w| w as f64).sum::<f64>().sqrt()).collect();
            let norm = inv_sqrt.iter().map(|x| 1.0 / (x * x)).sum::<f64>().sqrt();
            let trivial: Vec<f64> = inv_sqrt.iter().map(|x| 1.0 / x / norm).collect();
            let apply = |v: &[f64], w: &mut [f64], p: usize| {
                w.par_chunks_mut(p).enumerate().for_each(|(l, out_row)| {
                    let (idx, wts) = graph.row(nodes[l]);
                    for (o, x) in out_row.iter_mut().zip(&v[l * p..(l + 1) * p]) {
                        *o = 0.5 * x;
                    }
                    for (&j, &wt) in idx.iter().zip(wts) {
                        let lj = local[j as usize];
                        let s = 0.5 * wt as f64 * inv_sqrt[l] * inv_sqrt[lj];
                        for (o, x) in out_row.iter_mut().zip(&v[lj * p..(lj + 1) * p]) {
                            *o += s * x;
                        }
                    }
                });
            };
            let max_iter = 500;
            let (vecs, ok) = top_eigenvectors(&apply, m, dim, Some(&trivial), max_iter, 1e-4, &mut rng, cancel)?;
            info.converged &= ok;
            vecs
        };
        let scale = if n_comp == 1 { 1.0 } else { 1.0 / coords.iter().fold(0f64, |a, x| a.max(x.abs())).max(1e-12) };
        let offset = [3.0 * (c % side) as f64, 3.0 * (c / side) as f64];
        for (l, &g) in nodes.iter().enumerate() {
            for d in 0..dim {
                let shift = if n_comp > 1 && d < 2 { offset[d] } else { 0.0 };
                out[g * dim + d] = (coords[l * dim + d] * scale + shift) as f32;
            }
        }
    }
    Ok((out, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_matches_known_spectrum() {
        let m = [2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0];
        let (vals, vecs) = symmetric_eigen(&m, 3);
        for (v, e) in vals.iter().zip([5.0, 3.0, 1.0]) {
            assert!((v - e).abs() < 1e-12);
        }
        // Second eigenvector ∝ (1, 1, 0).
        assert!((vecs[1].abs() - 0.5f64.sqrt()).abs() < 1e-12 && vecs[7].abs() < 1e-12);
    }

    #[test]
    fn spectral_path_graph_is_monotone() {
        // Path 0-1-...-9: the Fiedler vector is monotone along the path once the
        // degree weighting is removed.
        let edges: Vec<(u32, u32, f32)> = (0..9).map(|i| (i, i + 1, 1.0)).collect();
        let g = Graph::from_edges(10, &edges).unwrap();
        let (coords, info) = spectral_layout(&g, 1, 3, &CancelToken::new()).unwrap();
        assert!(info.converged && info.n_components == 1);
        // Eigenvectors of the symmetric normalised Laplacian are D^{1/2} f with f
        // the (monotone) random-walk Fiedler vector.
        let coords: Vec<f32> =
            coords.iter().enumerate().map(|(i, c)| c / if i == 0 || i == 9 { 1.0 } else { 2f32.sqrt() }).collect();
        let inc = coords.windows(2).all(|w| w[1] > w[0]);
        let dec = coords.windows(2).all(|w| w[1] < w[0]);
        assert!(inc || dec, "{coords:?}");
    }
}
