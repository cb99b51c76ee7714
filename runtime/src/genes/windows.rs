//! Gene-centred model windows and the bins of a gene inside a window, by scooby's rules.
//!
//! **Windows.** scooby's gene-level evaluation windows (`docs/notebooks/{train,val,test}_gene_sequences.csv`) come
//! from `get_gene_span` in gagneurlab/scooby_reproducibility `notebooks/data_preparation/*/analyze_*_anndata*.ipynb`:
//! the centre is the middle of the gene's exon span, `centre = s + (e − s) // 2` with `(s, e)` = scooby's
//! `Gene.span()` (first exon start, last exon end, 0-based half-open), the 524,288-bp input starts at
//! `centre − 262,144`, and the 196,608-bp output window (6,144 bins of 32 bp) at `centre − 98,304`. Both are centred
//! on the same base, so [`gene_window`] with `length` 524,288 gives the input and with 196,608 the output window.
//! The TSS-centred windows of scooby's eQTL scripts (`genes_tsscentred.bed`, not in the repositories) are
//! [`WindowCenter::Tss`]: `centre = tss` ([`Gene::tss`]).
//!
//! **Chromosome ends.** scooby keeps the gene centred and reads past the chromosome start (its sequence loader pads,
//! its target loader does not handle negative starts). Here a window that would start before base 0 is moved right to
//! start at 0; with the chromosome length given, one that would end past the chromosome end is moved left to end
//! there (a chromosome shorter than the window gives a window from 0 that runs past its end; coverage bins there are
//! zero). A moved window no longer has the gene at its centre; [`exon_bins`] takes the window actually used, so bins
//! stay right.
//!
//! **Bins** (`Gene.output_slice(seq_start, seq_len, model_stride, span)` in `scooby/utils/transcriptome.py`, called
//! by `get_gene_slice_and_strand` in `scooby/utils/utils.py` with 6,144 × 32 and stride 32): for each merged exon
//! (or the exon span with `span`), `[max(0, s − start), max(0, e − start))` divided by the bin width and rounded
//! half to even (`np.round`), both ends clipped to the number of bins; the bins are the concatenated ranges. An exon
//! outside the window contributes nothing.

use super::{Gene, Strand};
use crate::seq::region::Region;
use crate::{Result, RuntimeError};

/// scooby's output window: 6,144 bins of 32 bp.
pub const SCOOBY_OUTPUT_LENGTH: u64 = 196_608;
/// Borzoi's input sequence length.
pub const SCOOBY_CONTEXT_LENGTH: u64 = 524_288;
/// scooby's bin width (bp).
pub const SCOOBY_BIN: u64 = 32;

/// Where a gene window is centred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowCenter {
    /// The middle of the exon span (scooby's gene-sequence files).
    Gene,
    /// The transcription start site.
    Tss,
}

impl WindowCenter {
    pub fn parse(s: &str) -> Result<WindowCenter> {
        match s {
            "gene" => Ok(WindowCenter::Gene),
            "tss" => Ok(WindowCenter::Tss),
            _ => Err(RuntimeError::invalid("center", format!("{s:?} is not \"gene\" or \"tss\""))),
        }
    }
}

/// Settings of [`gene_window`].
#[derive(Clone, Copy, Debug)]
pub struct GeneWindowOptions {
    pub length: u64,
    pub center: WindowCenter,
}

impl Default for GeneWindowOptions {
    fn default() -> Self {
        GeneWindowOptions { length: SCOOBY_OUTPUT_LENGTH, center: WindowCenter::Gene }
    }
}

/// The centre base of a gene's window.
pub fn window_center(gene: &Gene, center: WindowCenter) -> u64 {
    match center {
        WindowCenter::Gene => {
            let (s, e) = gene.exon_span();
            s + (e - s) / 2
        }
        WindowCenter::Tss => gene.tss(),
    }
}

/// The window of `opts.length` bp centred on the gene (`[centre − length/2, centre − length/2 + length)`), moved to
/// lie inside the chromosome as the module docs describe (`chrom_len`: the chromosome's length, when known).
pub fn gene_window(gene: &Gene, opts: &GeneWindowOptions, chrom_len: Option<u64>) -> Result<Region> {
    if opts.length == 0 {
        return Err(RuntimeError::invalid("length", "must be positive"));
    }
    let c = window_center(gene, opts.center);
    let mut start = c.saturating_sub(opts.length / 2);
    if let Some(len) = chrom_len {
        if gene.end > len {
            return Err(RuntimeError::invalid(
                "genome",
                format!(
                    "gene {} ends at {} but {} is {len} bp long: not the genome of the annotation",
                    gene.name, gene.end, gene.chrom
                ),
            ));
        }
        if start + opts.length > len {
            start = len.saturating_sub(opts.length);
        }
    }
    Region::new(gene.chrom.clone(), start, start + opts.length)
}

/// `np.round(x / bin)` for whole numbers: round half to even.
fn round_div(x: u64, bin: u64) -> u64 {
    let (q, r) = (x / bin, x % bin);
    match (2 * r).cmp(&bin) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// The bins of `window` (width `bin`) that hold the gene's exons (or its exon span with `span`), scooby's
/// `output_slice`: see the module docs. Sorted, without repeats.
pub fn exon_bins(gene: &Gene, window: &Region, bin: u64, span: bool) -> Result<Vec<u32>> {
    if bin == 0 {
        return Err(RuntimeError::invalid("bin", "must be positive"));
    }
    if gene.chrom != window.chrom {
        return Err(RuntimeError::invalid(
            "region",
            format!("gene {} is on {} but the window {window} is on {}", gene.name, gene.chrom, window.chrom),
        ));
    }
    let n_bins = window.len() / bin;
    let spans = if span { vec![gene.exon_span()] } else { gene.exons.clone() };
    let mut out = Vec::new();
    for (s, e) in spans {
        let lo = round_div(s.saturating_sub(window.start), bin).min(n_bins);
        let hi = round_div(e.saturating_sub(window.start), bin).min(n_bins);
        out.extend((lo..hi).map(|b| b as u32));
    }
    out.dedup();
    Ok(out)
}

/// Bins in the model's orientation for the gene's strand: a minus-strand gene's window is reverse-complemented
/// (scooby's eQTL scripts flip the sequence and use bin `n − 1 − b`), so its bins are mirrored and re-sorted.
pub fn sense_bins(gene: &Gene, bins: &[u32], n_bins: u32) -> Vec<u32> {
    match gene.strand {
        Strand::Plus => bins.to_vec(),
        Strand::Minus => {
            let mut v: Vec<u32> = bins.iter().map(|&b| n_bins - 1 - b).collect();
            v.sort_unstable();
            v
        }
    }
}
