//! Variant effects on predicted gene expression with scooby (gagneurlab/scooby_reproducibility
//! `scripts/inference_eqtls/ScoobyVariant.py`): for each gene whose TSS-centred input window holds the variant, the
//! gene's counts are predicted from the reference and from the sequence with the ALT allele substituted (minus-strand
//! genes reverse-complemented, bins reversed: [`super::gene_sequence`]); the effect per profile (cell, or group of
//! cells summed first) is ln(count_ALT + 1) − ln(count_REF + 1).
//!
//! Indels keep the input length: the bases after the allele shift, and the end is cut or padded with N.
//! A variant in no gene's input window changes no prediction: it is reported with no gene and effect 0.

use std::collections::hash_map::{Entry, HashMap};

use tch::{Kind, Tensor};

use super::dataset::N_CODE;
use super::gene_sequence::{counts_of_codes, GeneInput};
use super::predict::{check_states, CellSelection, PredictOptions};
use crate::genes::windows::WindowCenter;
use crate::genes::Gene;
use crate::interpret::sharded::Shard;
use crate::interpret::Variant;
use crate::models::profile::CellProfileModel;
use crate::progress::CancelToken;
use crate::seq::codes::base_code;
use crate::seq::genome::Genome;
use crate::{Result, RuntimeError};

/// Genes whose input codes and reference counts are kept between variants.
const CACHE_GENES: usize = 64;

/// The effect of one variant on one gene (or on none).
#[derive(Clone, Debug, PartialEq)]
pub struct GeneVariantEffect {
    /// Index into the variants.
    pub variant: usize,
    /// Index into the genes; `None` when the variant is in no gene's input window.
    pub gene: Option<usize>,
    /// Predicted counts per profile, REF and ALT (empty without a gene).
    pub reference: Vec<f64>,
    pub alt: Vec<f64>,
}

impl GeneVariantEffect {
    /// ln(ALT + 1) − ln(REF + 1) per profile (zeros, `n_profiles` of them, without a gene).
    pub fn log_fold(&self, n_profiles: usize) -> Vec<f64> {
        if self.gene.is_none() {
            return vec![0.0; n_profiles];
        }
        self.reference.iter().zip(&self.alt).map(|(r, a)| (a + 1.0).ln() - (r + 1.0).ln()).collect()
    }
}

/// Checks a variant against the genome: its chromosome exists, its REF allele lies inside it and matches.
pub fn check_variant(genome: &Genome, v: &Variant) -> Result<()> {
    let Some(len) = genome.chrom_length(&v.chrom) else {
        return Err(RuntimeError::invalid(
            "variants",
            format!("{}: chromosome `{}` is not in the genome {}", v.id, v.chrom, genome.path().display()),
        ));
    };
    let end = v.start0() + v.reference.len() as u64;
    if end > len {
        return Err(RuntimeError::invalid(
            "variants",
            format!("{}: the REF allele runs past the end of {} ({len} bp)", v.id, v.chrom),
        ));
    }
    let found: String =
        genome.fetch(&v.chrom, v.start0() as i64, end as i64)?.iter().map(|b| b.to_ascii_uppercase() as char).collect();
    if found != v.reference {
        return Err(RuntimeError::invalid(
            "variants",
            crate::interpret::VariantStatus::RefMismatch { found }.describe(v, genome),
        ));
    }
    Ok(())
}

/// The input codes with the variant's ALT allele in place of REF (length kept: cut, or padded with N).
pub fn substitute(input: &GeneInput, v: &Variant) -> Vec<u8> {
    let off = (v.start0() as i64 - input.input_start) as usize;
    let n = input.codes.len();
    let mut out = Vec::with_capacity(n + v.alt.len());
    out.extend_from_slice(&input.codes[..off]);
    out.extend(v.alt.bytes().map(|b| base_code(b).unwrap_or(N_CODE)));
    out.extend_from_slice(&input.codes[(off + v.reference.len()).min(n)..]);
    out.resize(n, N_CODE);
    out
}

/// Effects of `variants` on the predicted counts of `genes`: one entry per (variant, gene) pair whose TSS-centred
/// input window holds the whole REF allele, in variant order then gene order, and one without a gene for a variant
/// in no window. Counts are summed over the gene's exon bins (`span`: its exon span).
///
/// Sharded over the variants when `shard` is given: each rank scores a contiguous share of the variants (REF counts
/// as one process computes them), and the entries are all-gathered in rank order, so every rank returns the
/// single-process result. `progress(k)` is called after this rank's `k`-th variant (0-based).
#[allow(clippy::too_many_arguments)]
pub fn gene_variant_effects(
    model: &dyn CellProfileModel,
    genome: &Genome,
    variants: &[Variant],
    genes: &[&Gene],
    states: &Tensor,
    selection: &CellSelection,
    span: bool,
    opts: &PredictOptions,
    cancel: &CancelToken,
    mut progress: impl FnMut(usize),
    shard: Option<&Shard>,
) -> Result<Vec<GeneVariantEffect>> {
    check_states(model, states, selection)?;
    for v in variants {
        check_variant(genome, v)?;
    }
    let tracks = opts.resolve_tracks(model.n_tracks())?;
    let states = states.f_to_kind(Kind::Float)?.f_to_device(model.device())?;
    let reach = model.seq_len() as u64;
    let mut inputs: HashMap<usize, GeneInput> = HashMap::new();
    let mut refs: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut out = Vec::new();
    let mine = shard.map_or(0..variants.len(), |s| s.range(variants.len()));
    for vi in mine.clone() {
        let v = &variants[vi];
        let (start, end) = (v.start0(), v.start0() + v.reference.len() as u64);
        let mut any = false;
        for (gi, gene) in genes.iter().enumerate() {
            // A cheap bound first: the window's centre is within the window length of the TSS.
            if gene.chrom != v.chrom || gene.tss().abs_diff(start) > 2 * reach {
                continue;
            }
            // Bounded caches (a genome-wide VCF touches every gene): dropped whole when full.
            if inputs.len() >= CACHE_GENES && !inputs.contains_key(&gi) {
                inputs.clear();
                refs.clear();
            }
            let input = match inputs.entry(gi) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(GeneInput::new(model, genome, gene, WindowCenter::Tss, span)?),
            };
            if !input.contains(start, end) {
                continue;
            }
            cancel.check()?;
            let reference = match refs.entry(gi) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(counts_of_codes(
                    model,
                    gene,
                    &input.codes,
                    &input.bins,
                    &states,
                    selection,
                    &tracks,
                    opts,
                    cancel,
                )?),
            };
            let alt_codes = substitute(input, v);
            let alt = counts_of_codes(model, gene, &alt_codes, &input.bins, &states, selection, &tracks, opts, cancel)?;
            out.push(GeneVariantEffect { variant: vi, gene: Some(gi), reference: reference.clone(), alt });
            any = true;
        }
        if !any {
            out.push(GeneVariantEffect { variant: vi, gene: None, reference: Vec::new(), alt: Vec::new() });
        }
        progress(vi - mine.start);
    }
    match shard {
        Some(shard) => gather_effects(shard, &out, selection.n_profiles()),
        None => Ok(out),
    }
}

/// Every rank's entries in rank order, as rows `[variant, gene (−1: none), REF counts…, ALT counts…]` in f64.
fn gather_effects(shard: &Shard, local: &[GeneVariantEffect], np: usize) -> Result<Vec<GeneVariantEffect>> {
    let width = 2 + 2 * np;
    let mut rows = Vec::with_capacity(local.len() * width);
    for e in local {
        rows.push(e.variant as f64);
        rows.push(e.gene.map_or(-1.0, |g| g as f64));
        match e.gene {
            Some(_) => rows.extend(e.reference.iter().chain(&e.alt)),
            None => rows.extend(std::iter::repeat_n(0.0, 2 * np)),
        }
    }
    let all = shard.gather_varying(&Tensor::from_slice(&rows).f_view([local.len() as i64, width as i64])?)?;
    let v: Vec<f64> = Vec::try_from(all.f_reshape([-1])?)?;
    Ok(v.chunks(width)
        .map(|r| {
            let gene = (r[1] >= 0.0).then_some(r[1] as usize);
            let (reference, alt) = match gene {
                Some(_) => (r[2..2 + np].to_vec(), r[2 + np..].to_vec()),
                None => (Vec::new(), Vec::new()),
            };
            GeneVariantEffect { variant: r[0] as usize, gene, reference, alt }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::region::Region;

    fn input(codes: &[u8]) -> GeneInput {
        GeneInput {
            window: Region::new("chr1", 102, 106).unwrap(),
            input_start: 100,
            codes: codes.to_vec(),
            bins: vec![0],
        }
    }

    #[test]
    fn alleles_are_substituted_in_place_keeping_the_length() {
        // Input covers 0-based 100..108: A C G T A C G T.
        let x = input(&[0, 1, 2, 3, 0, 1, 2, 3]);
        // SNV at 1-based 103 (0-based 102, a G) → T.
        assert_eq!(substitute(&x, &Variant::new("chr1", 103, "G", "T", None)), vec![0, 1, 3, 3, 0, 1, 2, 3]);
        // Deletion GT → G: the bases after shift left, the end padded with N.
        assert_eq!(substitute(&x, &Variant::new("chr1", 103, "GT", "G", None)), vec![0, 1, 2, 0, 1, 2, 3, N_CODE]);
        // Insertion G → GAA: the end is cut.
        assert_eq!(substitute(&x, &Variant::new("chr1", 103, "G", "GAA", None)), vec![0, 1, 2, 0, 0, 3, 0, 1]);
        assert!(x.contains(107, 108) && !x.contains(107, 109) && !x.contains(99, 100));
    }

    #[test]
    fn log_fold_is_zero_without_a_gene() {
        let none = GeneVariantEffect { variant: 0, gene: None, reference: vec![], alt: vec![] };
        assert_eq!(none.log_fold(3), vec![0.0; 3]);
        let e = GeneVariantEffect { variant: 0, gene: Some(1), reference: vec![1.0, 3.0], alt: vec![3.0, 3.0] };
        let lf = e.log_fold(2);
        assert!((lf[0] - 2f64.ln()).abs() < 1e-12 && lf[1] == 0.0, "{lf:?}");
    }
}
