//! ATAC quality numbers as SnapATAC2 computes them: per-cell TSS enrichment (`snap.metrics.tsse`) and the fragment
//! size distribution (`snap.pp.frag_size_distr`).
//!
//! TSS enrichment (SnapATAC2 2.9, `snapatac2-core/src/preprocessing/qc.rs`, `TssRegions`, `TSSe::add`,
//! `TSSe::result`; sites from `src/preprocessing.rs`, `tss_enrichment`): every distinct TSS (chromosome, position,
//! strand) gets a promoter `[tss − 2000, tss + 2001)` (the start clipped at 0). Each insertion inside a promoter adds
//! 1 to a 4,001-long profile at its offset from the promoter start (from the end on the − strand); an insertion in
//! two promoters counts in both. With `L` and `R` the sums of the first and last 100 profile entries, and `C` the
//! mean of the 11 entries centred on the TSS, `tsse = C / ((L + R) / 200 + 0.1)`. TSSs on `chrM`/`M` are left out.
//! SnapATAC2 reads TSSs from the GTF's `transcript` records; [`tss_sites`] takes one per gene (the gene's 5′ end), so
//! the numbers agree when each gene's transcripts share its start (as in the tests), and differ slightly otherwise.

use std::collections::HashSet;

use rayon::prelude::*;

use super::Coverage;
use crate::genes::{GeneTable, Strand};
use crate::progress::CancelToken;
use crate::{Result, RuntimeError};

/// Library fragment-size histogram in SnapATAC2's layout: `counts[l]` fragments of length `l` for `1 ≤ l ≤ max`,
/// `counts[0]` those longer than `max`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SizeDistribution {
    pub counts: Vec<u64>,
}

impl SizeDistribution {
    /// SnapATAC2's `max_recorded_size`.
    pub const DEFAULT_MAX: usize = 1000;

    /// Largest length recorded individually.
    pub fn max(&self) -> usize {
        self.counts.len().saturating_sub(1)
    }
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// Share of fragments with `lo ≤ length < hi` (lengths above `max` are not attributed).
    pub fn fraction(&self, lo: usize, hi: usize) -> f64 {
        let t = self.total();
        if t == 0 {
            return 0.0;
        }
        let hi = hi.min(self.counts.len());
        let lo = lo.clamp(1, hi);
        self.counts[lo..hi].iter().sum::<u64>() as f64 / t as f64
    }
}

/// One transcription start site.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TssSite {
    pub chrom: String,
    /// 0-based position of the first transcribed base.
    pub pos: u64,
    pub forward: bool,
}

/// The distinct TSSs of a gene table (one per gene: [`crate::genes::Gene::tss`]), in table order.
pub fn tss_sites(genes: &GeneTable) -> Vec<TssSite> {
    let mut seen = HashSet::new();
    genes
        .genes
        .iter()
        .map(|g| TssSite { chrom: g.chrom.clone(), pos: g.tss(), forward: g.strand == Strand::Plus })
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// Settings of [`tss_enrichment`] (SnapATAC2's fixed values by default).
#[derive(Clone, Debug)]
pub struct TsseOptions {
    /// Promoter half-width: the profile is `2 · window + 1` long.
    pub window: u64,
    /// Entries at each end of the profile that make the background.
    pub flank: usize,
    /// Half-width of the moving average at the TSS.
    pub smooth: usize,
    /// TSSs on these chromosomes are ignored.
    pub exclude_chroms: Vec<String>,
}

impl Default for TsseOptions {
    fn default() -> Self {
        TsseOptions { window: 2000, flank: 100, smooth: 5, exclude_chroms: vec!["chrM".into(), "M".into()] }
    }
}

/// TSS enrichment of every cell and of the library.
#[derive(Clone, Debug, PartialEq)]
pub struct TssEnrichment {
    /// Per cell, in the coverage's order.
    pub tsse: Vec<f64>,
    /// The same score on the summed profile (SnapATAC2's `library_tsse`).
    pub library_tsse: f64,
    /// Insertions inside any promoter / all insertions (SnapATAC2's `frac_overlap_TSS`).
    pub frac_overlap_tss: f64,
    /// Summed profile, `2 · window + 1` long (SnapATAC2's `TSS_profile`).
    pub profile: Vec<u64>,
    /// Distinct TSSs used (on chromosomes of the coverage, not excluded).
    pub n_sites: usize,
}

/// Per-cell sums over the background flanks and the smoothing window at the centre.
#[derive(Clone)]
struct Acc {
    sums: Vec<[u64; 3]>,
    profile: Vec<u64>,
}

impl Acc {
    fn new(cells: usize, len: usize) -> Acc {
        Acc { sums: vec![[0; 3]; cells], profile: vec![0; len] }
    }
    fn merge(mut self, other: Acc) -> Acc {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            for k in 0..3 {
                a[k] += b[k];
            }
        }
        for (a, b) in self.profile.iter_mut().zip(&other.profile) {
            *a += b;
        }
        self
    }
}

fn score(left: u64, right: u64, centre: u64, o: &TsseOptions) -> f64 {
    let background = (left + right) as f64 / (2 * o.flank) as f64 + 0.1;
    let c = centre as f64 / (2 * o.smooth + 1) as f64;
    c / background
}

/// TSS enrichment of the ATAC insertions of `cov` at `sites` (see the module docs).
pub fn tss_enrichment(
    cov: &Coverage,
    sites: &[TssSite],
    o: &TsseOptions,
    cancel: &CancelToken,
) -> Result<TssEnrichment> {
    let ins = cov
        .atac
        .as_ref()
        .ok_or_else(|| RuntimeError::invalid("coverage", "has no ATAC insertions (load_fragments gives them)"))?;
    let len = 2 * o.window as usize + 1;
    if o.flank == 0 || 2 * o.flank > len || o.smooth > o.window as usize {
        return Err(RuntimeError::invalid("window", "the flanks and the centre must fit in the promoter"));
    }
    // Promoters per chromosome: (start, end, forward), sorted by start.
    let mut per_chrom: Vec<Vec<(u64, u64, bool)>> = vec![Vec::new(); cov.refs.len()];
    let mut n_sites = 0;
    let mut seen = HashSet::new();
    for s in sites {
        if o.exclude_chroms.iter().any(|c| c == &s.chrom) || !seen.insert(s) {
            continue;
        }
        if let Some(c) = cov.refs.get(&s.chrom) {
            per_chrom[c].push((s.pos.saturating_sub(o.window), s.pos + o.window + 1, s.forward));
            n_sites += 1;
        }
    }
    if n_sites == 0 {
        return Err(RuntimeError::invalid(
            "genes",
            "no TSS lies on a chromosome of the coverage (check the chromosome names, e.g. chr1 vs 1)",
        ));
    }
    let n_cells = cov.n_cells();
    let (lo_centre, hi_centre) = (o.window as usize - o.smooth, o.window as usize + o.smooth);
    let acc = per_chrom
        .par_iter_mut()
        .enumerate()
        // One accumulator per rayon split (not per chromosome): memory stays a few × cells × 24 bytes.
        .try_fold(
            || (Acc::new(n_cells, len), 0u64),
            |(mut acc, mut overlapping), (c, proms)| -> Result<(Acc, u64)> {
                cancel.check()?;
                proms.sort_unstable();
                for &(start, end, forward) in proms.iter() {
                    for (pos, cell) in ins.range(c, start, end) {
                        let k = if forward { pos as u64 - start } else { end - 1 - pos as u64 } as usize;
                        acc.profile[k] += 1;
                        let s = &mut acc.sums[cell as usize];
                        if k < o.flank {
                            s[0] += 1;
                        }
                        if k >= len - o.flank {
                            s[1] += 1;
                        }
                        if (lo_centre..=hi_centre).contains(&k) {
                            s[2] += 1;
                        }
                    }
                }
                // Insertions inside at least one promoter: over the union of the promoter intervals.
                let mut cur: Option<(u64, u64)> = None;
                for &(s, e, _) in proms.iter().chain(std::iter::once(&(u64::MAX, u64::MAX, true))) {
                    match cur {
                        Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
                        _ => {
                            if let Some((cs, ce)) = cur {
                                overlapping += ins.range(c, cs, ce).count() as u64;
                            }
                            cur = Some((s, e));
                        }
                    }
                }
                Ok((acc, overlapping))
            },
        )
        .try_reduce(|| (Acc::new(n_cells, len), 0), |a, b| Ok((a.0.merge(b.0), a.1 + b.1)))?;
    let (acc, overlapping) = acc;
    let tsse = acc.sums.iter().map(|s| score(s[0], s[1], s[2], o)).collect();
    let p = &acc.profile;
    let library_tsse =
        score(p[..o.flank].iter().sum(), p[len - o.flank..].iter().sum(), p[lo_centre..=hi_centre].iter().sum(), o);
    let total = ins.len() as u64;
    Ok(TssEnrichment {
        tsse,
        library_tsse,
        frac_overlap_tss: if total == 0 { 0.0 } else { overlapping as f64 / total as f64 },
        profile: acc.profile,
        n_sites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::{InsertionsBuilder, ReferenceSequences};
    use std::sync::Arc;

    fn coverage(ins: &[(usize, u32, u32)], cells: usize) -> Coverage {
        let mut b = InsertionsBuilder::new(2);
        for &(c, p, cell) in ins {
            b.push(c, p, cell);
        }
        Coverage {
            refs: Arc::new(
                ReferenceSequences::new([("chr1".to_string(), 20_000), ("chrM".to_string(), 10_000)]).unwrap(),
            ),
            cells: (0..cells).map(|i| format!("c{i}")).collect(),
            atac: Some(b.finish()),
            rna_plus: None,
            rna_minus: None,
        }
    }

    #[test]
    fn tsse_follows_the_formula_on_both_strands() {
        let site = |pos, forward| TssSite { chrom: "chr1".into(), pos, forward };
        // Cell 0: 11 insertions at the + TSS (5,000) and 2 in its left flank. Cell 1: on the − TSS (12,000, promoter
        // 10,000–14,001, offsets counted from its end), one insertion 3 bp upstream and one at the promoter's first
        // base (offset 4,000: the right flank); one more on chrM, whose TSS is excluded.
        let mut ins: Vec<(usize, u32, u32)> = (0..11).map(|_| (0, 5_000, 0)).collect();
        ins.extend([(0, 3_000, 0), (0, 3_050, 0)]);
        ins.extend([(0, 12_003, 1), (0, 10_000, 1), (1, 5_000, 1)]);
        let cov = coverage(&ins, 3);
        let sites = [
            site(5_000, true),
            site(12_000, false),
            site(5_000, true),
            TssSite { chrom: "chrM".into(), pos: 5_000, forward: true },
        ];
        let r = tss_enrichment(&cov, &sites, &TsseOptions::default(), &CancelToken::new()).unwrap();
        assert_eq!(r.n_sites, 2);
        // Cell 0: centre mean 11/11 = 1, background (2 + 0)/200 + 0.1 = 0.11.
        assert!((r.tsse[0] - 1.0 / 0.11).abs() < 1e-12, "{}", r.tsse[0]);
        // Cell 1: 12,003 is offset (14,000 − 12,003) = 1,997 → in the centre window; 10,000 is offset 4,000 → right flank.
        assert!((r.tsse[1] - (1.0 / 11.0) / (1.0 / 200.0 + 0.1)).abs() < 1e-12, "{}", r.tsse[1]);
        assert_eq!(r.tsse[2], 0.0);
        assert_eq!(r.profile[2000], 11);
        assert_eq!(r.profile[1997], 1);
        assert_eq!(r.profile[4000], 1);
        // 15 of 16 insertions lie in a promoter (the chrM one does not: its TSS is excluded).
        assert!((r.frac_overlap_tss - 15.0 / 16.0).abs() < 1e-12);
        assert!(tss_enrichment(
            &cov,
            &[TssSite { chrom: "1".into(), pos: 5, forward: true }],
            &TsseOptions::default(),
            &CancelToken::new()
        )
        .is_err());
    }

    #[test]
    fn size_distribution_fractions() {
        let mut counts = vec![0u64; 1001];
        counts[0] = 1;
        counts[100] = 2;
        counts[200] = 1;
        let d = SizeDistribution { counts };
        assert_eq!(d.max(), 1000);
        assert_eq!(d.total(), 4);
        assert!((d.fraction(1, 147) - 0.5).abs() < 1e-12);
        assert!((d.fraction(147, 294) - 0.25).abs() < 1e-12);
    }
}
