//! TF motif deletion with scooby (gagneurlab/scooby_reproducibility
//! `scripts/inference_motif_deletions/neurips/parallel_inference.py`, scores as `notebooks/figure3/Figure3.ipynb`).
//!
//! For each gene (window centred on its exon span, counts over the exon span as scooby's `span=True`): the motif's
//! sites in the gene's input window are found on both strands (FIMO-style p-value ≤ `p`, [`crate::motif::Pssm`]),
//! and each replacement `r` (seeded `seed + r`, as scooby's seeds 0–9) overwrites every site, from its start on the
//! forward strand, with uniformly random bases except the last position, which keeps the motif's consensus base
//! (tangermeme's `randomize(start=0, end=len−1)` as scooby's script uses it). The gene's predicted counts are averaged
//! over the replacements; a gene without a site keeps its reference counts.
//!
//! Per cell `c`: size factors `sf_c = Σ_genes ref_c`, `m` = their median; `ref_norm = ref · m / sf_c` and
//! `alt_norm = alt · m / sf_c` (both with the **reference** size factors); the score is the mean over genes of
//! log2(ref_norm + 1) − log2(alt_norm + 1): positive when deleting the motif lowers expression.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::gene_sequence::{counts_of_codes, GeneInput};
use super::predict::{check_states, CellSelection, PredictOptions};
use crate::genes::windows::WindowCenter;
use crate::genes::Gene;
use crate::interpret::sharded::Shard;
use crate::models::profile::CellProfileModel;
use crate::motif::{Motif, Pssm, Strand, ALPHABET, DEFAULT_PSEUDOCOUNT};
use crate::progress::CancelToken;
use crate::seq::codes::base_code;
use crate::seq::genome::Genome;
use crate::{Result, RuntimeError};

/// Settings of [`motif_deletion`].
#[derive(Clone, Debug, PartialEq)]
pub struct MotifDeletionOptions {
    /// Random replacements averaged per motif (scooby: 10).
    pub replacements: usize,
    /// Largest p-value of a site (scooby, tangermeme's FIMO default: 1e-4).
    pub p: f64,
    /// Replacement `r` uses seed `seed + r`.
    pub seed: u64,
    pub predict: PredictOptions,
}

impl Default for MotifDeletionOptions {
    fn default() -> Self {
        MotifDeletionOptions { replacements: 10, p: 1e-4, seed: 0, predict: PredictOptions::default() }
    }
}

/// One site that was overwritten.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletionSite {
    pub motif: usize,
    pub gene: usize,
    /// 0-based genome start and end.
    pub start: i64,
    pub end: i64,
    pub strand: Strand,
    pub p_value: f64,
}

/// The result: counts, scores, the sites and the replacement bases.
#[derive(Clone, Debug, PartialEq)]
pub struct MotifDeletion {
    /// Reference counts, genes × cells (row-major).
    pub reference: Vec<f64>,
    /// Per motif: counts averaged over the replacements, genes × cells.
    pub deleted: Vec<Vec<f64>>,
    /// Per motif: the score of each cell.
    pub scores: Vec<Vec<f64>>,
    pub sites: Vec<DeletionSite>,
    /// Per motif, per replacement: the bases written at every site.
    pub replacements: Vec<Vec<String>>,
}

/// The bases of replacement `seed` for a motif: uniform random bases, the last one the consensus base.
pub fn replacement_bases(motif: &Motif, seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = motif.width();
    let consensus = motif.consensus();
    (0..w)
        .map(
            |i| {
                if i + 1 == w {
                    consensus.as_bytes()[i] as char
                } else {
                    ALPHABET[rng.random_range(0..4usize)] as char
                }
            },
        )
        .collect()
}

/// Per-cell scores from reference and deleted counts (genes × cells): the mean over genes of
/// log2(ref_norm + 1) − log2(alt_norm + 1), both normalised by the reference size factors (a cell with no reference
/// counts gets factor 0).
pub fn deletion_scores(reference: &[f64], deleted: &[f64], n_genes: usize, n_cells: usize) -> Vec<f64> {
    let sf: Vec<f64> = (0..n_cells).map(|c| (0..n_genes).map(|g| reference[g * n_cells + c]).sum()).collect();
    let mut sorted = sf.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = n_cells / 2;
    let median = if n_cells % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
    (0..n_cells)
        .map(|c| {
            let f = if sf[c] > 0.0 { median / sf[c] } else { 0.0 };
            let total: f64 = (0..n_genes)
                .map(|g| (reference[g * n_cells + c] * f + 1.0).log2() - (deleted[g * n_cells + c] * f + 1.0).log2())
                .sum();
            total / n_genes as f64
        })
        .collect()
}

/// Deletes each motif's sites from each gene's input window and scores the cells (see the module notes). `cells`
/// index the rows of `states`.
///
/// Sharded over the genes when `shard` is given: each rank computes a contiguous share of the genes (each gene's
/// counts are those of one process), the reference and deleted counts and the sites are all-gathered in rank order,
/// and every rank scores the cells from the whole. `progress(k)` is called after this rank's `k`-th gene (0-based).
#[allow(clippy::too_many_arguments)]
pub fn motif_deletion(
    model: &dyn CellProfileModel,
    genome: &Genome,
    motifs: &[Motif],
    genes: &[&Gene],
    states: &Tensor,
    cells: &[usize],
    opts: &MotifDeletionOptions,
    cancel: &CancelToken,
    mut progress: impl FnMut(usize),
    shard: Option<&Shard>,
) -> Result<MotifDeletion> {
    if opts.replacements == 0 {
        return Err(RuntimeError::invalid("replacements", "must be at least 1"));
    }
    if !(opts.p > 0.0 && opts.p < 1.0) {
        return Err(RuntimeError::invalid("p", format!("{} is not a p-value in (0, 1)", opts.p)));
    }
    if genes.is_empty() || motifs.is_empty() {
        return Err(RuntimeError::invalid(if genes.is_empty() { "genes" } else { "motifs" }, "is empty"));
    }
    let selection = CellSelection::Cells(cells.to_vec());
    check_states(model, states, &selection)?;
    let tracks = opts.predict.resolve_tracks(model.n_tracks())?;
    let states = states.f_to_kind(Kind::Float)?.f_to_device(model.device())?;
    let pssms = motifs
        .iter()
        .map(|m| {
            Pssm::new(m, DEFAULT_PSEUDOCOUNT).map_err(|e| RuntimeError::invalid("motifs", format!("{}: {e}", m.id)))
        })
        .collect::<Result<Vec<_>>>()?;
    let replacements: Vec<Vec<String>> = motifs
        .iter()
        .map(|m| (0..opts.replacements).map(|r| replacement_bases(m, opts.seed + r as u64)).collect())
        .collect();
    let (ng, nc) = (genes.len(), cells.len());
    let mine = shard.map_or(0..ng, |s| s.range(ng));
    let mut reference = Vec::with_capacity(mine.len() * nc);
    let mut deleted = vec![Vec::with_capacity(mine.len() * nc); motifs.len()];
    let mut sites = Vec::new();
    let count = |codes: &[u8], gene: &Gene, input: &GeneInput| {
        counts_of_codes(model, gene, codes, &input.bins, &states, &selection, &tracks, &opts.predict, cancel)
    };
    for gi in mine.clone() {
        let gene = genes[gi];
        cancel.check()?;
        let input = GeneInput::new(model, genome, gene, WindowCenter::Gene, true)?;
        let reference_counts = count(&input.codes, gene, &input)?;
        let bases: Vec<u8> = input.codes.iter().map(|&c| if c < 4 { ALPHABET[c as usize] } else { b'N' }).collect();
        for (mi, pssm) in pssms.iter().enumerate() {
            let hits = pssm.scan(&bases, opts.p);
            if hits.is_empty() {
                deleted[mi].extend_from_slice(&reference_counts);
                continue;
            }
            sites.extend(hits.iter().map(|h| DeletionSite {
                motif: mi,
                gene: gi,
                start: input.input_start + h.start as i64,
                end: input.input_start + h.end as i64,
                strand: h.strand,
                p_value: h.p_value,
            }));
            let mut mean = vec![0.0; nc];
            for rep in &replacements[mi] {
                cancel.check()?;
                let mut codes = input.codes.clone();
                let rep_codes: Vec<u8> = rep.bytes().map(|b| base_code(b).unwrap_or(4)).collect();
                for h in &hits {
                    codes[h.start..h.start + rep_codes.len()].copy_from_slice(&rep_codes);
                }
                for (m, x) in mean.iter_mut().zip(count(&codes, gene, &input)?) {
                    *m += x / opts.replacements as f64;
                }
            }
            deleted[mi].extend(mean);
        }
        reference.extend(reference_counts);
        progress(gi - mine.start);
    }
    if let Some(shard) = shard {
        let gather = |v: &[f64]| -> Result<Vec<f64>> {
            let local = Tensor::from_slice(v).f_view([mine.len() as i64, nc as i64])?;
            Ok(Vec::try_from(shard.gather_rows(&local, ng, 1)?.f_reshape([-1])?)?)
        };
        reference = gather(&reference)?;
        for d in deleted.iter_mut() {
            *d = gather(d)?;
        }
        sites = gather_sites(shard, &sites)?;
    }
    let scores = deleted.iter().map(|d| deletion_scores(&reference, d, ng, nc)).collect();
    Ok(MotifDeletion { reference, deleted, scores, sites, replacements })
}

/// Every rank's sites in rank order (as rows of `[motif, gene, start, end, strand, p]`; the integers are far below
/// 2⁵³, so exact in f64).
fn gather_sites(shard: &Shard, sites: &[DeletionSite]) -> Result<Vec<DeletionSite>> {
    let rows: Vec<f64> = sites
        .iter()
        .flat_map(|x| {
            let strand = if x.strand == Strand::Reverse { 1.0 } else { 0.0 };
            [x.motif as f64, x.gene as f64, x.start as f64, x.end as f64, strand, x.p_value]
        })
        .collect();
    let all = shard.gather_varying(&Tensor::from_slice(&rows).f_view([sites.len() as i64, 6])?)?;
    let v: Vec<f64> = Vec::try_from(all.f_reshape([-1])?)?;
    Ok(v.chunks(6)
        .map(|r| DeletionSite {
            motif: r[0] as usize,
            gene: r[1] as usize,
            start: r[2] as i64,
            end: r[3] as i64,
            strand: if r[4] == 1.0 { Strand::Reverse } else { Strand::Forward },
            p_value: r[5],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_use_the_reference_size_factors() {
        // 2 genes × 3 cells. Reference totals 4, 8, 12 (median 8); cell 1 loses all of gene 0 when deleted.
        let reference = [1.0, 2.0, 3.0, 3.0, 6.0, 9.0];
        let deleted = [1.0, 0.0, 3.0, 3.0, 6.0, 9.0];
        let s = deletion_scores(&reference, &deleted, 2, 3);
        assert_eq!(s[0], 0.0);
        assert_eq!(s[2], 0.0);
        // Cell 1: factor 8 / 8 = 1; gene 0 gives log2(3) − log2(1), gene 1 gives 0.
        assert!((s[1] - 3f64.log2() / 2.0).abs() < 1e-12, "{s:?}");
        // An even number of cells: the median is the mean of the middle two (numpy), 6 here, so cell 1's factor is 0.75.
        let s = deletion_scores(&[1.0, 2.0, 3.0, 6.0], &[1.0, 0.0, 3.0, 6.0], 2, 2);
        let f = 6.0 / 8.0;
        assert!((s[1] - ((2.0 * f + 1.0f64).log2() - 1f64.log2()) / 2.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn replacements_keep_the_last_consensus_base_and_follow_the_seed() {
        let m = Motif::new("M1", "", vec![[0.97, 0.01, 0.01, 0.01]; 6], crate::motif::UNIFORM_BACKGROUND).unwrap();
        let a = replacement_bases(&m, 3);
        assert_eq!(a.len(), 6);
        assert!(a.ends_with('A'));
        assert_eq!(a, replacement_bases(&m, 3));
        let distinct: std::collections::HashSet<String> = (0..8).map(|s| replacement_bases(&m, s)).collect();
        assert!(distinct.len() > 1, "different seeds give different bases: {distinct:?}");
    }
}
