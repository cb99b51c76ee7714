//! Linear reductions: PCA (exact SVD, or randomised for large inputs), standard scaling as scanpy's `pp.scale`,
//! and the randomised truncated SVD they share with [`lsi`](super::lsi).
//!
//! The dense algebra runs on libtorch in f64 (QR, SVD, products). The randomised SVD follows Halko, Martinsson &
//! Tropp (2011): a Gaussian test matrix with `k + oversamples` columns, `power_iterations` subspace iterations with
//! QR re-orthonormalisation, kept together as a block Krylov space (Musco & Musco 2015), then the SVD of the small
//! projected matrix. The test matrix comes from a seeded ChaCha
//! stream, so results do not depend on libtorch's global generator.
//!
//! **Signs.** Singular vectors are defined up to sign; like scikit-learn's `svd_flip(u_based_decision=False)`, each
//! component is oriented so that its largest-magnitude loading is positive.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::error::{AnalysisError, Result};
use super::matrix::validate_matrix;
use super::synthetic::standard_normal;

/// A linear operator `A` (`rows × cols`) given by its products with dense blocks (f64 tensors on the CPU).
pub trait LinearOperator {
    /// Number of rows of `A`.
    fn rows(&self) -> usize;
    /// Number of columns of `A`.
    fn cols(&self) -> usize;
    /// `A · x` for `x` of shape `(cols, l)`.
    fn apply(&self, x: &Tensor) -> Tensor;
    /// `Aᵀ · y` for `y` of shape `(rows, l)`.
    fn apply_t(&self, y: &Tensor) -> Tensor;
}

/// A dense `(rows, cols)` f64 tensor as an operator.
pub struct DenseOperator(pub Tensor);

impl LinearOperator for DenseOperator {
    fn rows(&self) -> usize {
        self.0.size()[0] as usize
    }
    fn cols(&self) -> usize {
        self.0.size()[1] as usize
    }
    fn apply(&self, x: &Tensor) -> Tensor {
        self.0.matmul(x)
    }
    fn apply_t(&self, y: &Tensor) -> Tensor {
        self.0.tr().matmul(y)
    }
}

/// A truncated SVD `A ≈ U·diag(S)·Vᵀ`.
pub struct TruncatedSvd {
    /// `(rows, k)`.
    pub u: Tensor,
    /// `(k)`, descending.
    pub s: Tensor,
    /// `(k, cols)`.
    pub vt: Tensor,
}

fn torch_err(e: tch::TchError) -> AnalysisError {
    // libtorch appends a C++ backtrace; its first line says what failed
    AnalysisError::Compute(e.to_string().lines().next().unwrap_or("").to_string())
}

/// Thin SVD `(U, S, Vᵀ)` (libtorch's `svd` with `some = true`, which returns V).
fn thin_svd(a: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let (u, s, v) = a.f_svd(true, true).map_err(torch_err)?;
    Ok((u, s, v.tr()))
}

/// Orients each component so that the largest-magnitude entry of its row of `vt` is positive.
fn flip_signs(svd: TruncatedSvd) -> TruncatedSvd {
    let idx = svd.vt.abs().argmax(1, true);
    let signs = svd.vt.gather(1, &idx, false).sign().squeeze_dim(1);
    let signs = signs.where_self(&signs.ne(0.0), &signs.ones_like());
    TruncatedSvd { u: &svd.u * signs.unsqueeze(0), s: svd.s, vt: &svd.vt * signs.unsqueeze(1) }
}

/// The exact thin SVD of a dense matrix, truncated to `k` components.
pub fn exact_svd(a: &Tensor, k: usize) -> Result<TruncatedSvd> {
    let (u, s, vt) = thin_svd(a)?;
    let k = k as i64;
    Ok(flip_signs(TruncatedSvd { u: u.narrow(1, 0, k), s: s.narrow(0, 0, k), vt: vt.narrow(0, 0, k) }))
}

/// Randomised truncated SVD of `op` with `k` components, seeded: the block Krylov variant of Musco & Musco (2015).
/// The Krylov space `[AΩ, (AAᵀ)AΩ, …, (AAᵀ)^q AΩ]` (each block re-orthonormalised) is orthonormalised as a whole and
/// `A` is projected onto it; unlike plain subspace iteration its accuracy does not depend on a gap after the k-th
/// singular value, which matters for the flat spectra of sparse count data.
pub fn randomized_svd(
    op: &dyn LinearOperator,
    k: usize,
    oversamples: usize,
    power_iterations: usize,
    seed: u64,
) -> Result<TruncatedSvd> {
    let (rows, cols) = (op.rows(), op.cols());
    let max_k = rows.min(cols);
    if k == 0 || k > max_k {
        return Err(AnalysisError::InvalidParameter {
            name: "n_components",
            reason: format!("{k} is not in 1..={max_k}"),
        });
    }
    let l = (k + oversamples).min(max_k);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let omega: Vec<f64> = (0..cols * l).map(|_| standard_normal(&mut rng)).collect();
    let omega = Tensor::from_slice(&omega).view([cols as i64, l as i64]);
    let orth = |t: &Tensor| -> Result<Tensor> { Ok(Tensor::f_linalg_qr(t, "reduced").map_err(torch_err)?.0) };
    let mut block = orth(&op.apply(&omega))?;
    let mut blocks = vec![block.shallow_clone()];
    // the Krylov space cannot usefully exceed the matrix rank
    let max_blocks = (max_k / l).max(1);
    for _ in 0..power_iterations.min(max_blocks.saturating_sub(1)) {
        let z = orth(&op.apply_t(&block))?;
        block = orth(&op.apply(&z))?;
        blocks.push(block.shallow_clone());
    }
    let q = orth(&Tensor::cat(&blocks, 1))?;
    let b = op.apply_t(&q).tr(); // Qᵀ A
    let (ub, s, vt) = thin_svd(&b)?;
    let u = q.matmul(&ub);
    let k = k as i64;
    Ok(flip_signs(TruncatedSvd { u: u.narrow(1, 0, k), s: s.narrow(0, 0, k), vt: vt.narrow(0, 0, k) }))
}

/// Which SVD PCA uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvdSolver {
    /// Exact when `min(n, d) ≤ 1000` or `k ≥ min(n, d) / 5`, randomised otherwise.
    Auto,
    /// LAPACK thin SVD of the whole (centred) matrix.
    Exact,
    /// Randomised SVD (10 oversamples, 7 power iterations when k < 0.1·min(n, d), else 4, as scikit-learn).
    Randomized,
}

/// Options of [`pca`].
#[derive(Clone, Debug)]
pub struct PcaOptions {
    /// Number of components (clipped to `min(n, d)`; an error if 0).
    pub n_components: usize,
    /// Subtract column means first (scanpy and scikit-learn do).
    pub center: bool,
    /// SVD algorithm.
    pub solver: SvdSolver,
    /// Seed of the randomised solver.
    pub seed: u64,
}

impl Default for PcaOptions {
    fn default() -> Self {
        PcaOptions { n_components: 50, center: true, solver: SvdSolver::Auto, seed: 0 }
    }
}

/// The result of [`pca`].
#[derive(Clone, Debug)]
pub struct Pca {
    /// Number of components kept.
    pub n_components: usize,
    /// Row scores `U·S`, `(n_rows, n_components)` row-major.
    pub embedding: Vec<f32>,
    /// Principal axes, `(n_components, n_cols)` row-major.
    pub components: Vec<f32>,
    /// Variance along each component, `s² / (n − 1)`.
    pub explained_variance: Vec<f64>,
    /// Share of the total variance (sum of the column variances, ddof 1).
    pub explained_variance_ratio: Vec<f64>,
    /// Whether the randomised solver was used.
    pub randomized: bool,
}

fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).contiguous().view([-1])).unwrap_or_default()
}

fn to_vec_f64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().view([-1])).unwrap_or_default()
}

/// Principal component analysis of a dense row-major `(n_rows, n_cols)` matrix.
pub fn pca(data: &[f32], n_rows: usize, n_cols: usize, options: &PcaOptions) -> Result<Pca> {
    validate_matrix("data", data, n_rows, n_cols)?;
    if n_rows < 2 {
        return Err(AnalysisError::InvalidParameter {
            name: "data",
            reason: format!("PCA needs at least 2 rows, got {n_rows}"),
        });
    }
    let max_k = n_rows.min(n_cols);
    if options.n_components == 0 {
        return Err(AnalysisError::InvalidParameter { name: "n_components", reason: "must be at least 1".into() });
    }
    let k = options.n_components.min(max_k);
    let x = Tensor::from_slice(data).view([n_rows as i64, n_cols as i64]).to_kind(Kind::Double);
    let x = if options.center { &x - x.mean_dim(0, true, Kind::Double) } else { x };
    let randomized = match options.solver {
        SvdSolver::Exact => false,
        SvdSolver::Randomized => true,
        SvdSolver::Auto => max_k > 1000 && k * 5 < max_k,
    };
    let svd = if randomized {
        let iterations = if (k as f64) < 0.1 * max_k as f64 { 7 } else { 4 };
        randomized_svd(&DenseOperator(x.shallow_clone()), k, 10, iterations, options.seed)?
    } else {
        exact_svd(&x, k)?
    };
    let denom = (n_rows - 1) as f64;
    let variance = to_vec_f64(&svd.s.square()).into_iter().map(|v| v / denom).collect::<Vec<_>>();
    let total: f64 = to_vec_f64(&x.var_dim(0, true, false)).iter().sum();
    let ratio = variance.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect();
    Ok(Pca {
        n_components: k,
        embedding: to_vec_f32(&(&svd.u * svd.s.unsqueeze(0))),
        components: to_vec_f32(&svd.vt),
        explained_variance: variance,
        explained_variance_ratio: ratio,
        randomized,
    })
}

/// scanpy's `pp.scale`: each column to mean 0 and unit variance (ddof 1; constant columns become 0), then values
/// above `max_value` (if any) clipped to it. Returns the scaled copy.
pub fn standard_scale(data: &[f32], n_rows: usize, n_cols: usize, max_value: Option<f32>) -> Result<Vec<f32>> {
    validate_matrix("data", data, n_rows, n_cols)?;
    if let Some(m) = max_value {
        if !(m.is_finite() && m > 0.0) {
            return Err(AnalysisError::InvalidParameter {
                name: "max_value",
                reason: format!("{m} is not a positive number"),
            });
        }
    }
    let mut mean = vec![0f64; n_cols];
    let mut sq = vec![0f64; n_cols];
    for row in data.chunks(n_cols) {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n_rows as f64);
    for row in data.chunks(n_cols) {
        for (j, &v) in row.iter().enumerate() {
            sq[j] += (v as f64 - mean[j]).powi(2);
        }
    }
    let sd: Vec<f64> = sq.iter().map(|s| if n_rows > 1 { (s / (n_rows - 1) as f64).sqrt() } else { 0.0 }).collect();
    Ok(data
        .chunks(n_cols)
        .flat_map(|row| {
            row.iter().enumerate().map(|(j, &v)| {
                let z = if sd[j] > 0.0 { ((v as f64 - mean[j]) / sd[j]) as f32 } else { 0.0 };
                max_value.map_or(z, |m| z.min(m))
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low_rank(n: usize, d: usize, seed: u64) -> Vec<f32> {
        // rank-3 signal with strengths 10, 5, 2 plus a little deterministic noise
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut g = || -> f64 { standard_normal(&mut rng) };
        let f: Vec<f64> = (0..n * 3).map(|_| g()).collect();
        let w: Vec<f64> = (0..3 * d).map(|_| g()).collect();
        let strength = [10.0, 5.0, 2.0];
        let mut x = Vec::with_capacity(n * d);
        for i in 0..n {
            for j in 0..d {
                let signal: f64 = (0..3).map(|r| strength[r] * f[i * 3 + r] * w[r * d + j]).sum();
                x.push(signal as f32 + 0.01 * ((((i * d + j) * 7919) % 101) as f32 / 101.0 - 0.5));
            }
        }
        x
    }

    #[test]
    fn exact_and_randomized_agree_on_a_low_rank_matrix() {
        let (n, d) = (300, 40);
        let x = low_rank(n, d, 1);
        let exact =
            pca(&x, n, d, &PcaOptions { n_components: 3, solver: SvdSolver::Exact, ..Default::default() }).unwrap();
        let rand = pca(&x, n, d, &PcaOptions { n_components: 3, solver: SvdSolver::Randomized, ..Default::default() })
            .unwrap();
        assert!(!exact.randomized && rand.randomized);
        for (a, b) in exact.embedding.iter().zip(&rand.embedding) {
            assert!((a - b).abs() < 1e-3 * (1.0 + a.abs()), "{a} vs {b}");
        }
        // three components hold almost everything
        assert!(exact.explained_variance_ratio.iter().sum::<f64>() > 0.999);
        assert!(exact.explained_variance[0] > exact.explained_variance[1]);
        // the embedding's column variances are the explained variances
        for c in 0..3 {
            let col: Vec<f64> = (0..n).map(|i| exact.embedding[i * 3 + c] as f64).collect();
            let m = col.iter().sum::<f64>() / n as f64;
            let v = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            assert!((v - exact.explained_variance[c]).abs() < 1e-3 * v, "{v} vs {}", exact.explained_variance[c]);
        }
        // sign convention: the largest loading of each component is positive
        for c in 0..3 {
            let row = &exact.components[c * d..(c + 1) * d];
            let big = row.iter().cloned().fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
            assert!(big > 0.0);
        }
    }

    #[test]
    fn seeded_randomized_is_reproducible() {
        let x = low_rank(200, 30, 2);
        let o = PcaOptions { n_components: 5, solver: SvdSolver::Randomized, seed: 4, ..Default::default() };
        assert_eq!(pca(&x, 200, 30, &o).unwrap().embedding, pca(&x, 200, 30, &o).unwrap().embedding);
    }

    #[test]
    fn bad_inputs() {
        let mut x = low_rank(10, 4, 3);
        x[13] = f32::NAN;
        assert!(matches!(pca(&x, 10, 4, &PcaOptions::default()), Err(AnalysisError::NonFinite { row: 3, .. })));
        assert!(pca(&[1.0, 2.0], 1, 2, &PcaOptions::default()).is_err());
        assert!(pca(&low_rank(10, 4, 3), 10, 4, &PcaOptions { n_components: 0, ..Default::default() }).is_err());
        assert!(standard_scale(&[1.0, 2.0], 1, 2, Some(-1.0)).is_err());
    }

    #[test]
    fn scaling_matches_the_definition() {
        let x = [1.0f32, 10.0, 5.0, 2.0, 10.0, 7.0, 3.0, 10.0, 9.0];
        let s = standard_scale(&x, 3, 3, None).unwrap();
        // column 0: 1,2,3 → −1,0,1 (sd 1 with ddof 1); column 1 constant → 0; column 2: 5,7,9 → −1,0,1
        assert_eq!(s, vec![-1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
        let c = standard_scale(&x, 3, 3, Some(0.5)).unwrap();
        assert_eq!(c[6], 0.5);
    }
}
