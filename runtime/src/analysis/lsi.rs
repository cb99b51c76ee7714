//! TF-IDF and latent semantic indexing (LSI) of a raw peak × cell matrix: the standard scATAC baseline embedding
//! (Signac `RunTFIDF` method 1 + `RunSVD`; ArchR's iterative LSI starts the same way), to compare with scBasset.
//!
//! - TF-IDF: `log1p(tf · idf · scale)` with `tf = x / (total counts of the cell)` and `idf = n_cells / (cells in which
//!   the peak is open)`; stored entries only, so the matrix stays sparse.
//! - LSI: a randomised truncated SVD of the cells × peaks TF-IDF matrix (not centred), computed with sparse products
//!   in parallel; the cell embedding is `U`, each component then standardised to mean 0 and standard deviation 1
//!   (Signac's `scale.embeddings`). The first component usually tracks sequencing depth and is dropped by default; the
//!   correlation of every component with log total counts is reported so that users can check.

use rayon::prelude::*;
use tch::{Kind, Tensor};

use super::error::{AnalysisError, Result};
use super::reduce::{randomized_svd, LinearOperator};
use super::roc::pearson;
use crate::data::matrix::PeakMatrix;

/// Options of [`lsi`].
#[derive(Clone, Debug)]
pub struct LsiOptions {
    /// Components returned (after dropping the first if `drop_first`).
    pub n_components: usize,
    /// Drop the first component (depth).
    pub drop_first: bool,
    /// TF-IDF scale factor (1e4, as Signac).
    pub scale_factor: f64,
    /// Seed of the randomised SVD.
    pub seed: u64,
    /// Krylov blocks beyond the first in the randomised SVD (each costs two sparse products).
    pub power_iterations: usize,
}

impl Default for LsiOptions {
    fn default() -> Self {
        LsiOptions { n_components: 30, drop_first: true, scale_factor: 1e4, seed: 0, power_iterations: 6 }
    }
}

/// An LSI embedding.
#[derive(Clone, Debug)]
pub struct Lsi {
    /// Number of components in `embedding`.
    pub n_components: usize,
    /// `(n_cells, n_components)` row-major, standardised per component.
    pub embedding: Vec<f32>,
    /// Singular values of the components kept.
    pub singular_values: Vec<f64>,
    /// Pearson correlation of each computed component (the dropped first one included) with log total counts.
    pub depth_correlation: Vec<f64>,
}

/// The TF-IDF matrix, cell-major (CSR over cells): `indptr` (n_cells + 1), peak `indices`, `values`.
pub struct TfIdf {
    /// Number of cells (rows).
    pub n_cells: usize,
    /// Number of peaks (columns).
    pub n_peaks: usize,
    /// Row pointers.
    pub indptr: Vec<usize>,
    /// Peak of each entry.
    pub indices: Vec<u32>,
    /// `log1p(tf · idf · scale)`.
    pub values: Vec<f64>,
}

/// TF-IDF of a peaks × cells matrix (see the module docs). Cells without counts are an error (their term
/// frequency is undefined): filter them first.
pub fn tfidf(m: &PeakMatrix, scale_factor: f64) -> Result<TfIdf> {
    if m.n_cells == 0 || m.n_peaks == 0 {
        return Err(AnalysisError::EmptyInput { what: "peak matrix" });
    }
    if !(scale_factor.is_finite() && scale_factor > 0.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "scale_factor",
            reason: format!("{scale_factor} is not a positive number"),
        });
    }
    if let Some((i, v)) = m.values().and_then(|v| v.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0)) {
        return Err(AnalysisError::InvalidParameter {
            name: "peak matrix",
            reason: format!("entry {i} is {v} (counts must be finite and ≥ 0)"),
        });
    }
    let mut totals = vec![0f64; m.n_cells];
    let mut counts = vec![0usize; m.n_cells + 1];
    let mut open_cells = vec![0usize; m.n_peaks];
    for (p, open) in open_cells.iter_mut().enumerate() {
        for (&c, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
            let c = c as usize;
            totals[c] += v as f64;
            counts[c + 1] += 1;
            if v > 0.0 {
                *open += 1;
            }
        }
    }
    if let Some(c) = totals.iter().position(|&t| t <= 0.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "peak matrix",
            reason: format!("cell {c} has no counts; remove empty cells before TF-IDF"),
        });
    }
    for c in 0..m.n_cells {
        counts[c + 1] += counts[c];
    }
    let indptr = counts.clone();
    let mut next = counts;
    let nnz = m.nnz();
    let (mut indices, mut values) = (vec![0u32; nnz], vec![0f64; nnz]);
    for (p, &open) in open_cells.iter().enumerate() {
        let idf = if open > 0 { m.n_cells as f64 / open as f64 } else { 0.0 };
        for (&c, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
            let c = c as usize;
            let slot = next[c];
            next[c] += 1;
            indices[slot] = p as u32;
            values[slot] = (v as f64 / totals[c] * idf * scale_factor).ln_1p();
        }
    }
    Ok(TfIdf { n_cells: m.n_cells, n_peaks: m.n_peaks, indptr, indices, values })
}

impl TfIdf {
    fn row(&self, c: usize) -> (&[u32], &[f64]) {
        let r = self.indptr[c]..self.indptr[c + 1];
        (&self.indices[r.clone()], &self.values[r])
    }
}

/// Cells × peaks sparse products for the randomised SVD.
struct SparseOperator<'a>(&'a TfIdf);

impl LinearOperator for SparseOperator<'_> {
    fn rows(&self) -> usize {
        self.0.n_cells
    }
    fn cols(&self) -> usize {
        self.0.n_peaks
    }
    fn apply(&self, x: &Tensor) -> Tensor {
        let l = x.size()[1] as usize;
        let xv: Vec<f64> = Vec::try_from(x.to_kind(Kind::Double).contiguous().view([-1])).unwrap_or_default();
        let mut out = vec![0f64; self.0.n_cells * l];
        out.par_chunks_mut(l).enumerate().for_each(|(c, row)| {
            let (idx, val) = self.0.row(c);
            for (&p, &v) in idx.iter().zip(val) {
                let src = &xv[p as usize * l..(p as usize + 1) * l];
                row.iter_mut().zip(src).for_each(|(o, s)| *o += v * s);
            }
        });
        Tensor::from_slice(&out).view([self.0.n_cells as i64, l as i64])
    }
    fn apply_t(&self, y: &Tensor) -> Tensor {
        // Aᵀ·y accumulated per thread over blocks of cells, then summed in a fixed order (deterministic).
        let l = y.size()[1] as usize;
        let yv: Vec<f64> = Vec::try_from(y.to_kind(Kind::Double).contiguous().view([-1])).unwrap_or_default();
        let n_peaks = self.0.n_peaks;
        let block = self.0.n_cells.div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
        let parts: Vec<Vec<f64>> = (0..self.0.n_cells)
            .step_by(block)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|start| {
                let mut acc = vec![0f64; n_peaks * l];
                for c in start..(start + block).min(self.0.n_cells) {
                    let (idx, val) = self.0.row(c);
                    let src = &yv[c * l..(c + 1) * l];
                    for (&p, &v) in idx.iter().zip(val) {
                        acc[p as usize * l..(p as usize + 1) * l].iter_mut().zip(src).for_each(|(o, s)| *o += v * s);
                    }
                }
                acc
            })
            .collect();
        let mut out = vec![0f64; n_peaks * l];
        for part in parts {
            out.iter_mut().zip(part).for_each(|(o, p)| *o += p);
        }
        Tensor::from_slice(&out).view([n_peaks as i64, l as i64])
    }
}

/// LSI of a peaks × cells matrix (see the module docs).
pub fn lsi(m: &PeakMatrix, options: &LsiOptions) -> Result<Lsi> {
    let t = tfidf(m, options.scale_factor)?;
    let computed = options.n_components + usize::from(options.drop_first);
    if options.n_components == 0 || computed > m.n_cells.min(m.n_peaks) {
        return Err(AnalysisError::InvalidParameter {
            name: "n_components",
            reason: format!(
                "{} (+{} dropped) components need at least that many cells and peaks; the matrix is {} cells × {} peaks",
                options.n_components,
                usize::from(options.drop_first),
                m.n_cells,
                m.n_peaks
            ),
        });
    }
    let svd = randomized_svd(&SparseOperator(&t), computed, 10, options.power_iterations, options.seed)?;
    let u: Vec<f64> = Vec::try_from(svd.u.contiguous().view([-1])).unwrap_or_default();
    let s: Vec<f64> = Vec::try_from(svd.s.contiguous()).unwrap_or_default();
    let mut log_depth = vec![0f64; m.n_cells];
    for p in 0..m.n_peaks {
        for (&c, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
            log_depth[c as usize] += v as f64;
        }
    }
    log_depth.iter_mut().for_each(|d| *d = d.ln());
    let column = |j: usize| -> Vec<f64> { (0..m.n_cells).map(|c| u[c * computed + j]).collect() };
    // a constant component (or depth) has no defined correlation: reported as 0
    let depth_correlation = (0..computed).map(|j| pearson(&column(j), &log_depth).unwrap_or(0.0)).collect();
    let first = usize::from(options.drop_first);
    let k = options.n_components;
    let mut embedding = vec![0f32; m.n_cells * k];
    for j in 0..k {
        let col = column(first + j);
        let n = col.len() as f64;
        let mean = col.iter().sum::<f64>() / n;
        let sd = (col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        for (c, v) in col.iter().enumerate() {
            embedding[c * k + j] = if sd > 0.0 { ((v - mean) / sd) as f32 } else { 0.0 };
        }
    }
    Ok(Lsi { n_components: k, embedding, singular_values: s[first..].to_vec(), depth_correlation })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::cluster_metrics::adjusted_rand_index;
    use crate::analysis::knn::knn_exact;
    use crate::analysis::{leiden, resolution_for_k_clusters, Graph, LeidenOptions};
    use crate::data::simulate::{simulate_atac, SimulateOptions};
    use crate::progress::{CancelToken, NoProgress};

    fn tiny() -> PeakMatrix {
        // 3 peaks × 4 cells: (peak, cell, value)
        PeakMatrix::from_triplets(3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 3, 0], &[1.0, 2.0, 1.0, 1.0, 3.0, 1.0])
            .unwrap()
    }

    #[test]
    fn tfidf_by_hand() {
        let t = tfidf(&tiny(), 1e4).unwrap();
        // cell 0: counts 1 (peak 0) + 1 (peak 2) = 2; peak 0 open in 2 of 4 cells → idf 2
        let (idx, val) = t.row(0);
        assert_eq!(idx, &[0, 2]);
        assert!((val[0] - (1.0f64 / 2.0 * 2.0 * 1e4).ln_1p()).abs() < 1e-12);
        // cell 1: counts 3; peak 0 value 2 → tf 2/3, idf 2
        let (idx, val) = t.row(1);
        assert_eq!(idx, &[0, 1]);
        assert!((val[0] - (2.0f64 / 3.0 * 2.0 * 1e4).ln_1p()).abs() < 1e-12);
    }

    #[test]
    fn sparse_products_match_dense() {
        let t = tfidf(&tiny(), 10.0).unwrap();
        let mut dense = vec![0f64; 4 * 3];
        for c in 0..4 {
            let (idx, val) = t.row(c);
            for (&p, &v) in idx.iter().zip(val) {
                dense[c * 3 + p as usize] = v;
            }
        }
        let a = Tensor::from_slice(&dense).view([4, 3]);
        let x = Tensor::from_slice(&[1.0f64, 2.0, -1.0, 0.5, 3.0, 1.0]).view([3, 2]);
        let y = Tensor::from_slice(&[1.0f64, 0.0, 2.0, -1.0, 0.5, 0.5, 1.0, 1.0]).view([4, 2]);
        let op = SparseOperator(&t);
        assert!(f64::try_from((op.apply(&x) - a.matmul(&x)).abs().max()).unwrap() < 1e-12);
        assert!(f64::try_from((op.apply_t(&y) - a.tr().matmul(&y)).abs().max()).unwrap() < 1e-12);
    }

    #[test]
    fn lsi_recovers_simulated_cell_types() {
        let sim = simulate_atac(&SimulateOptions {
            n_cells: 300,
            n_peaks: 1500,
            n_cell_types: 3,
            seed: 8,
            ..Default::default()
        })
        .unwrap();
        let l = lsi(&sim.data.matrix, &LsiOptions { n_components: 10, ..Default::default() }).unwrap();
        assert_eq!(l.embedding.len(), 300 * 10);
        // the first component follows depth more than the kept ones
        assert!(
            l.depth_correlation[0].abs() > l.depth_correlation[1..].iter().fold(0f64, |m, c| m.max(c.abs())),
            "{:?}",
            l.depth_correlation
        );
        let knn = knn_exact(&l.embedding, 300, 10, 15, &mut NoProgress, &CancelToken::new()).unwrap();
        let g = Graph::from_knn(&knn).unwrap();
        let (_, part) = resolution_for_k_clusters(&g, 3, 1, &mut NoProgress, &CancelToken::new()).unwrap();
        let truth: Vec<u32> = match sim.data.cells.column("cell_type").unwrap() {
            crate::data::cells::MetaColumn::Categorical { codes, .. } => codes.iter().map(|&c| c as u32).collect(),
            other => panic!("cell_type is {other:?}"),
        };
        let ari = adjusted_rand_index(&truth, &part.membership).unwrap();
        assert!(ari > 0.9, "ARI {ari}");
        let _ = leiden(&g, &LeidenOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
    }

    #[test]
    fn bad_inputs() {
        let empty_cell = PeakMatrix::from_triplets(2, 3, &[0, 1], &[0, 1], &[1.0, 1.0]).unwrap();
        let e = tfidf(&empty_cell, 1e4).err().unwrap();
        assert!(e.to_string().contains("cell 2 has no counts"), "{e}");
        let e = lsi(&tiny(), &LsiOptions { n_components: 3, ..Default::default() }).err().unwrap();
        assert!(e.to_string().contains("3 cells") || e.to_string().contains("4 cells"), "{e}");
    }
}
