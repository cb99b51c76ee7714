//! A gene's predicted counts from an input sequence of its own (an edited reference: a variant's ALT allele, motif
//! sites overwritten), as scooby's variant and motif-deletion scripts compute them (gagneurlab/scooby_reproducibility
//! `scripts/inference_eqtls/ScoobyVariant.py`, `scripts/inference_motif_deletions/neurips/parallel_inference.py`).
//!
//! - [`GeneInput`]: the gene's output window (centred on its TSS or its exon span, inside the chromosome) and the base
//!   codes of the model's input length around the same centre.
//! - [`counts_of_codes`]: a minus-strand gene's input is reverse-complemented first and read on the plus channel with
//!   its bins reversed (bin `b` of the window is bin `bins − 1 − b` of the prediction), as `ScoobyVariant.py` does; a
//!   plus-strand gene's is read as it is. With reverse-complement averaging the other orientation is averaged in the
//!   model's space, so both orientations give the same counts as [`super::gene_counts`] on the same sequence.

use tch::{Kind, Tensor};

use super::dataset::{context_codes, context_onehot, reverse_complement_codes};
use super::predict::{profiles_of, CellSelection, Embedded, PredictOptions};
use crate::coverage::TrackKind;
use crate::genes::windows::{exon_bins, gene_window, GeneWindowOptions, WindowCenter};
use crate::genes::{Gene, Strand};
use crate::models::profile::CellProfileModel;
use crate::progress::CancelToken;
use crate::seq::genome::Genome;
use crate::seq::region::Region;
use crate::{Result, RuntimeError};

/// A gene's output window and the reference codes of its input window.
#[derive(Clone, Debug)]
pub struct GeneInput {
    /// The output window (`bins · bin_size` bases).
    pub window: Region,
    /// 0-based genome position of `codes[0]` (negative before the chromosome start).
    pub input_start: i64,
    /// Base codes (A, C, G, T = 0..3, N = 4) of the model's input length centred on the window.
    pub codes: Vec<u8>,
    /// The bins summed for the gene (exons, or the exon span), in the window's forward orientation.
    pub bins: Vec<u32>,
}

impl GeneInput {
    /// The reference input of `gene` for `model`: the output window centred on `center`, the exon bins (`span`:
    /// the whole exon span).
    pub fn new(
        model: &dyn CellProfileModel,
        genome: &Genome,
        gene: &Gene,
        center: WindowCenter,
        span: bool,
    ) -> Result<GeneInput> {
        let length = (model.bins() * model.bin_size()) as u64;
        let chrom_len = genome.chrom_length(&gene.chrom).ok_or_else(|| {
            RuntimeError::invalid(
                "genes",
                format!(
                    "gene {}: chromosome `{}` is not in the genome {}",
                    gene.name,
                    gene.chrom,
                    genome.path().display()
                ),
            )
        })?;
        let window = gene_window(gene, &GeneWindowOptions { length, center }, Some(chrom_len))?;
        let codes = context_codes(genome, &window, model.seq_len(), 0)?;
        let centre = (window.start + window.len() / 2) as i64;
        let input_start = centre - (model.seq_len() / 2) as i64;
        let bins = exon_bins(gene, &window, model.bin_size() as u64, span)?;
        Ok(GeneInput { window, input_start, codes, bins })
    }

    /// Whether the 0-based genome interval `[start, end)` lies inside the input window.
    pub fn contains(&self, start: u64, end: u64) -> bool {
        start as i64 >= self.input_start && end as i64 <= self.input_start + self.codes.len() as i64
    }
}

/// Predicted counts of `gene` (sense-strand RNA summed over `bins`) from input `codes`, one per profile of the
/// selection. `states` must already be fp32 on the model's device and checked against the selection.
#[allow(clippy::too_many_arguments)]
pub fn counts_of_codes(
    model: &dyn CellProfileModel,
    gene: &Gene,
    codes: &[u8],
    bins: &[u32],
    states: &Tensor,
    selection: &CellSelection,
    tracks: &[TrackKind],
    opts: &PredictOptions,
    cancel: &CancelToken,
) -> Result<Vec<f64>> {
    let minus = gene.strand == Strand::Minus;
    let n_bins = model.bins();
    // The sense strand is the plus channel in both orientations (a minus-strand gene's input is reverse-complemented).
    let channel = TrackKind::RnaPlus;
    let t = tracks.iter().position(|k| *k == channel).ok_or_else(|| {
        RuntimeError::invalid("tracks", format!("the model has no {} track for gene {}", channel.name(), gene.name))
    })?;
    let idx: Vec<i64> = bins
        .iter()
        .filter(|&&b| (b as usize) < n_bins)
        .map(|&b| if minus { (n_bins - 1 - b as usize) as i64 } else { b as i64 })
        .collect();
    let np = selection.n_profiles() as i64;
    let device = model.device();
    let counts = tch::no_grad(|| -> Result<Tensor> {
        let mut first = codes.to_vec();
        if minus {
            reverse_complement_codes(&mut first);
        }
        let fwd = model.embed(&context_onehot(&first, 1, device)?, false);
        let rev = if opts.rc_average {
            reverse_complement_codes(&mut first);
            Some(model.embed(&context_onehot(&first, 1, device)?, false))
        } else {
            None
        };
        profiles_of(model, &Embedded { fwd, rev }, states, selection, tracks, opts, cancel)
    })?;
    let sel = counts.view([n_bins as i64, np, tracks.len() as i64]).select(2, t as i64);
    let summed = sel.f_index_select(0, &Tensor::from_slice(&idx))?.f_sum_dim_intlist(0, false, Kind::Double)?;
    Ok(Vec::<f64>::try_from(summed)?)
}
