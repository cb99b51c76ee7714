//! scooby's evaluation of gene-level predictions (gagneurlab/scooby `docs/notebooks/Evaluate_Model.ipynb`): predicted
//! and observed pseudobulk gene counts per cell type, compared by the Pearson correlation of log2(x + 1) **across
//! genes** (one value per cell type) and **across cell types** (one value per gene).
//!
//! Observed counts are the coverage's raw pseudobulk bin sums ([`pseudobulk`]: RNA in reads) over the same exon bins
//! of the same gene-centred window, sense strand; predicted ones come from [`gene_counts`]. Both are divided by the
//! group's number of cells before the logarithm (mean per cell), so that across-type correlations measure expression
//! differences rather than group sizes.

use crate::coverage::window::{pseudobulk, WindowOptions};
use crate::coverage::{Coverage, TrackKind};
use crate::genes::windows::exon_bins;
use crate::genes::{Gene, Strand};
use crate::models::profile::CellProfileModel;
use crate::progress::CancelToken;
use crate::seq::genome::Genome;
use crate::{Result, RuntimeError};

use super::predict::{gene_counts, gene_output_window, CellSelection, PredictOptions};

/// Pearson correlation of two equally long samples; `None` when either is constant or shorter than 2.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Result of [`evaluate_profiles`]; matrices are genes × groups, row-major, mean counts per cell.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileEvaluation {
    pub genes: Vec<String>,
    pub n_groups: usize,
    pub observed: Vec<f64>,
    pub predicted: Vec<f64>,
    /// Per group: Pearson of log2(x + 1) over genes.
    pub across_genes: Vec<Option<f64>>,
    /// Per gene: Pearson of log2(x + 1) over groups.
    pub across_types: Vec<Option<f64>>,
}

fn mean_of(v: &[Option<f64>]) -> Option<f64> {
    let x: Vec<f64> = v.iter().flatten().copied().collect();
    (!x.is_empty()).then(|| x.iter().sum::<f64>() / x.len() as f64)
}

impl ProfileEvaluation {
    /// Mean of the defined across-gene correlations.
    pub fn mean_across_genes(&self) -> Option<f64> {
        mean_of(&self.across_genes)
    }
    /// Mean of the defined across-type correlations.
    pub fn mean_across_types(&self) -> Option<f64> {
        mean_of(&self.across_types)
    }
}

/// Observed sense-strand counts of each gene per group (sums over the group's cells), genes × groups.
pub fn observed_gene_counts(
    model: &dyn CellProfileModel,
    genome: &Genome,
    coverage: &Coverage,
    genes: &[&Gene],
    labels: &[Option<usize>],
    n_groups: usize,
    span: bool,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(genes.len() * n_groups);
    for gene in genes {
        let window = gene_output_window(model, genome, gene)?;
        let sense = if gene.strand == Strand::Minus { TrackKind::RnaMinus } else { TrackKind::RnaPlus };
        let opts = WindowOptions { bin: model.bin_size() as u32, tracks: Some(vec![sense]), ..Default::default() };
        let pb = pseudobulk(coverage, &window, labels, n_groups, &opts, false)?;
        let bins = exon_bins(gene, &window, model.bin_size() as u64, span)?;
        for g in 0..n_groups {
            out.push(bins.iter().map(|&b| pb.get(b as usize, g) as f64).sum());
        }
    }
    Ok(out)
}

/// Predicted vs observed gene counts per group (`labels[cell]`, row-aligned with `states` and the coverage's cells),
/// with scooby's correlations.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_profiles(
    model: &dyn CellProfileModel,
    genome: &Genome,
    coverage: &Coverage,
    genes: &[&Gene],
    states: &tch::Tensor,
    labels: &[Option<usize>],
    n_groups: usize,
    span: bool,
    opts: &PredictOptions,
    cancel: &CancelToken,
) -> Result<ProfileEvaluation> {
    if genes.is_empty() {
        return Err(RuntimeError::invalid("genes", "no gene to evaluate"));
    }
    if labels.len() != coverage.n_cells() {
        return Err(RuntimeError::invalid(
            "groups",
            format!("{} labels for the coverage's {} cells", labels.len(), coverage.n_cells()),
        ));
    }
    let sizes = group_sizes(labels, n_groups);
    let selection = CellSelection::Groups { labels: labels.to_vec(), n_groups };
    let predicted = gene_counts(model, genome, genes, states, &selection, span, opts, cancel)?;
    let observed = observed_gene_counts(model, genome, coverage, genes, labels, n_groups, span)?;
    ProfileEvaluation::from_counts(genes.iter().map(|g| g.name.clone()).collect(), &sizes, &predicted, &observed)
}

/// Cells per group of `labels` (`None` and labels ≥ `n_groups` count nowhere).
pub fn group_sizes(labels: &[Option<usize>], n_groups: usize) -> Vec<f64> {
    (0..n_groups).map(|g| labels.iter().filter(|l| **l == Some(g)).count() as f64).collect()
}

impl ProfileEvaluation {
    /// The evaluation of summed gene counts (genes × groups, row-major: [`gene_counts`] and
    /// [`observed_gene_counts`] of the same genes) of groups of `sizes` cells: both divided by the group size, then
    /// scooby's correlations of log2(x + 1). What [`evaluate_profiles`] does after counting; sharded callers gather
    /// the per-gene rows first.
    pub fn from_counts(
        genes: Vec<String>,
        sizes: &[f64],
        predicted: &[f64],
        observed: &[f64],
    ) -> Result<ProfileEvaluation> {
        let n_groups = sizes.len();
        let expected = genes.len() * n_groups;
        if predicted.len() != expected || observed.len() != expected {
            return Err(RuntimeError::invalid(
                "counts",
                format!(
                    "{} predicted and {} observed counts for {} genes × {n_groups} groups",
                    predicted.len(),
                    observed.len(),
                    genes.len()
                ),
            ));
        }
        let per_cell = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .enumerate()
                .map(|(i, x)| if sizes[i % n_groups] > 0.0 { x / sizes[i % n_groups] } else { 0.0 })
                .collect()
        };
        let (predicted, observed) = (per_cell(predicted), per_cell(observed));
        let log = |v: &[f64]| v.iter().map(|x| (x + 1.0).log2()).collect::<Vec<_>>();
        let (lp, lo) = (log(&predicted), log(&observed));
        let used: Vec<usize> = (0..n_groups).filter(|&g| sizes[g] > 0.0).collect();
        let n_genes = genes.len();
        let across_genes = (0..n_groups)
            .map(|g| {
                let col = |v: &[f64]| (0..n_genes).map(|i| v[i * n_groups + g]).collect::<Vec<_>>();
                if sizes[g] > 0.0 {
                    pearson(&col(&lp), &col(&lo))
                } else {
                    None
                }
            })
            .collect();
        let across_types = (0..n_genes)
            .map(|i| {
                let row = |v: &[f64]| used.iter().map(|&g| v[i * n_groups + g]).collect::<Vec<_>>();
                pearson(&row(&lp), &row(&lo))
            })
            .collect();
        Ok(ProfileEvaluation { genes, n_groups, observed, predicted, across_genes, across_types })
    }
}
