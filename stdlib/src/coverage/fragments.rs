//! `load_fragments`: a 10x ATAC fragments file → a `Coverage` with an `atac` track and its per-cell QC table
//! (`coverage.qc()`); `tss_enrichment`: SnapATAC2's per-cell TSS enrichment of the insertions.

use std::path::Path;
use std::sync::Arc;

use gscript_lang::rhai::Dynamic;
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::coverage::fragments::{load_fragments, read_barcodes, FragmentOptions, FragmentStats};
use gscript_runtime::coverage::qc::{tss_enrichment, TssSite, TsseOptions};

use super::CoverageValue;
use crate::bridge::{cancel_token, in_argument, in_primitive, register1, register2, ScriptResult, SessionProgress};
use crate::values::{Column, Table};

/// The `barcodes` option: an array of barcodes, a text file (one per line, gzip allowed) or a 10x matrix `.h5`.
pub fn barcodes_option(primitive: &str, o: &Options) -> ScriptResult<Option<Vec<String>>> {
    let Some(v) = o.raw("barcodes") else { return Ok(None) };
    if let Some(arr) = v.clone().try_cast::<gscript_lang::rhai::Array>() {
        let list: Vec<String> = arr.iter().map(|x| x.to_string()).collect();
        if list.is_empty() {
            return Err(primitive_error(primitive, Some("barcodes"), "is empty"));
        }
        return Ok(Some(list));
    }
    let path = v.clone().into_string().map_err(|_| {
        primitive_error(
            primitive,
            Some("barcodes"),
            "must be an array of barcodes or the path of a barcode list or 10x .h5",
        )
    })?;
    Ok(Some(read_barcodes(Path::new(&path)).map_err(in_argument(primitive, "barcodes"))?))
}

/// The `genome` option: a Genome value, a FASTA path (its .fai gives names and lengths), a Coverage or a map of
/// chromosome sizes.
pub fn genome_sizes(primitive: &str, o: &Options) -> ScriptResult<Option<Vec<(String, u64)>>> {
    o.raw("genome").map(|v| super::tracks::chrom_sizes(primitive, "genome", v)).transpose()
}

/// The per-cell QC table of an import (the column names are SnapATAC2's `obs` names where it has them).
pub fn qc_table(cells: &[String], s: &FragmentStats) -> Table {
    let ints = |f: fn(&gscript_runtime::coverage::fragments::CellFragmentQc) -> u64| {
        Column::Int(s.cells.iter().map(|q| f(q) as i64).collect())
    };
    let floats = |f: fn(&gscript_runtime::coverage::fragments::CellFragmentQc) -> f64| {
        Column::Float(s.cells.iter().map(f).collect())
    };
    Table::new(
        "fragment QC",
        vec![
            ("barcode".into(), Column::Text(cells.to_vec())),
            ("n_fragment".into(), ints(|q| q.n_fragment)),
            ("frac_dup".into(), floats(|q| q.frac_dup())),
            ("frac_mito".into(), floats(|q| q.frac_mito())),
            ("frac_nucleosome_free".into(), floats(|q| q.frac_nucleosome_free())),
            ("frac_mono_nucleosome".into(), floats(|q| q.frac_mono_nucleosome())),
        ],
    )
}

/// TSSs from the `genes` argument: an array of maps `#{chrom, pos, strand}` (0-based first transcribed base;
/// strand "+" or "-").
fn tss_argument(primitive: &str, v: &Dynamic) -> ScriptResult<Vec<TssSite>> {
    let bad = |msg: &str| primitive_error(primitive, Some("tss"), msg);
    if let Some(g) = v.clone().try_cast::<super::genes::GenesValue>() {
        return Ok(g
            .0
            .genes
            .iter()
            .map(|gene| TssSite {
                chrom: gene.chrom.clone(),
                pos: gene.tss(),
                forward: gene.strand == gscript_runtime::genes::Strand::Plus,
            })
            .collect());
    }
    let arr =
        v.clone().into_array().map_err(|_| bad("must be a Genes table or an array of #{chrom, pos, strand} maps"))?;
    let mut out = Vec::with_capacity(arr.len());
    for (i, x) in arr.iter().enumerate() {
        let m =
            x.clone().try_cast::<gscript_lang::rhai::Map>().ok_or_else(|| bad(&format!("entry {i} is not a map")))?;
        let chrom = m.get("chrom").map(|c| c.to_string()).ok_or_else(|| bad(&format!("entry {i} has no chrom")))?;
        let pos = m
            .get("pos")
            .and_then(|p| p.as_int().ok())
            .filter(|&p| p >= 0)
            .ok_or_else(|| bad(&format!("entry {i}: pos must be a non-negative integer")))?;
        let forward = match m.get("strand").map(|s| s.to_string()).as_deref() {
            Some("+") | None => true,
            Some("-") => false,
            Some(other) => return Err(bad(&format!("entry {i}: strand {other:?} is not \"+\" or \"-\""))),
        };
        out.push(TssSite { chrom, pos: pos as u64, forward });
    }
    Ok(out)
}

pub fn register(reg: &mut Registrar) {
    let host = reg.host.clone();
    let doc = FnDoc::new(
        "load_fragments",
        "coverage",
        "load_fragments(path: string, options?: map) -> Coverage",
        "A 10x ATAC fragments file (tsv, gzip or BGZF) → per-cell Tn5 insertions (an `atac` track), as SnapATAC2 imports it.",
    )
    .details(
        "Each fragment (line) gives two insertions, at start and end − 1 (SnapATAC2's convention, no extra shift: 10x \
         files are shifted already); its count column (reads of the fragment) only enters the duplicate rate. The file \
         may be in any order and needs no index. With a genome, fragments on other chromosomes are skipped and a \
         fragment past its chromosome's end is an error; without one, chromosomes come from the file, each as long as \
         its last fragment end. Fragments on mitochondrial chromosomes are kept but not counted in n_fragment. Memory: \
         8 bytes per insertion. `coverage.qc()` gives per cell: barcode, n_fragment (unique nuclear fragments), \
         frac_dup (1 − unique / reads), frac_mito, frac_nucleosome_free (< 147 bp) and frac_mono_nucleosome \
         (147–293 bp). Cells come in whitelist order, else in order of first appearance.",
    )
    .opt("genome", "Genome | string", OptDefault::None, "chromosome names and lengths (a Genome or a FASTA path)")
    .opt("barcodes", "array | string", OptDefault::None, "whitelist: barcodes, a file with one per line, or a 10x matrix .h5")
    .opt("min_fragments", "int", OptDefault::Int(0), "drop cells with fewer unique nuclear fragments (SnapATAC2 uses 200)")
    .opt("chromosomes", "array", OptDefault::None, "keep only these chromosomes")
    .opt("mitochondria", "array", OptDefault::None, "mitochondrial chromosome names (default [\"chrM\", \"M\"])")
    .example(
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet atac = load_fragments(sim.fragments, #{genome: sim.genome, min_fragments: 10});\nprint(atac.to_string());\nprint(atac.qc());",
    );
    register1(reg, doc, move |path: String, o: &Options| -> ScriptResult<CoverageValue> {
        const P: &str = "load_fragments";
        let opts = FragmentOptions {
            chrom_sizes: genome_sizes(P, o)?,
            barcodes: barcodes_option(P, o)?,
            min_fragments: o.int_at_least("min_fragments", 0)?.unwrap_or(0) as u64,
            chromosomes: super::names_option(P, o, "chromosomes")?,
            mitochondria: super::names_option(P, o, "mitochondria")?
                .unwrap_or_else(|| FragmentOptions::default().mitochondria),
        };
        let (cov, stats) =
            load_fragments(Path::new(&path), &opts, &mut SessionProgress::new(&host), &cancel_token(&host))
                .map_err(in_argument(P, "path"))?;
        let table = qc_table(&cov.cells, &stats);
        Ok(CoverageValue(Arc::new(cov), Some(table), Some(Arc::new(stats.sizes.counts))))
    });

    let host = reg.host.clone();
    let doc = FnDoc::new(
        "tss_enrichment",
        "coverage",
        "tss_enrichment(coverage: Coverage, tss: Genes | array, options?: map) -> Table",
        "Per-cell TSS enrichment of ATAC insertions, as SnapATAC2's `snap.metrics.tsse` computes it.",
    )
    .details(
        "`tss` is a gene table (load_genes: one site per gene, its first base on its strand; SnapATAC2 takes every \
         transcript's start) or an array of maps #{chrom, pos, strand} (pos: 0-based first transcribed base). \
         Each distinct site gets a ±2,000-bp promoter; insertions add to a 4,001-long profile at their offset from the \
         promoter's 5′ end; tsse = (mean of the 11 entries at the TSS) / ((sum of the first and last 100) / 200 + 0.1). \
         Sites on chrM/M are left out. The table has barcode and tsse per cell; its title gives the library's TSSe and \
         the fraction of insertions in promoters.",
    )
    .opt("window", "int", OptDefault::Int(2000), "promoter half-width (bp)")
    .example(
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet atac = load_fragments(sim.fragments, #{genome: sim.genome});\nprint(tss_enrichment(atac, load_genes(sim.gtf)));\nlet chrom = atac.chromosomes().keys()[0];\nprint(tss_enrichment(atac, [#{chrom: chrom, pos: 5000, strand: \"+\"}]));",
    );
    register2(reg, doc, move |cov: CoverageValue, tss: Dynamic, o: &Options| -> ScriptResult<Table> {
        const P: &str = "tss_enrichment";
        let sites = tss_argument(P, &tss)?;
        let window = o.int_at_least("window", 100)?.unwrap_or(2000) as u64;
        let r = tss_enrichment(&cov.0, &sites, &TsseOptions { window, ..Default::default() }, &cancel_token(&host))
            .map_err(in_primitive(P))?;
        Ok(Table::new(
            format!(
                "TSS enrichment (library {:.2}, {:.1}% of insertions in promoters, {} sites)",
                r.library_tsse,
                100.0 * r.frac_overlap_tss,
                r.n_sites
            ),
            vec![("barcode".into(), Column::Text(cov.0.cells.clone())), ("tsse".into(), Column::Float(r.tsse))],
        ))
    });
}
