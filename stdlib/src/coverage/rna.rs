//! `load_rna_coverage`: a 10x GEX BAM → per-cell stranded RNA coverage (tracks `rna_plus`, `rna_minus`) as
//! SnapATAC2-scooby stores it, with a per-cell QC table; `load_scooby` / `write_scooby`: SnapATAC2-scooby AnnData
//! files (`obsm["fragment_single"]` per strand, `obsm["insertion"]`), the files scooby trains on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::coverage::bam::{load_rna_coverage, RnaOptions, RnaStats};
use gscript_runtime::coverage::scooby_h5ad::{
    read_scooby_coverage, write_scooby_h5ad, ATAC_FILE, RNA_MINUS_FILE, RNA_PLUS_FILE,
};

use super::fragments::barcodes_option;
use super::CoverageValue;
use crate::bridge::{
    cancel_token, in_argument, in_primitive, register0, register1, register2, ScriptResult, SessionProgress,
};
use crate::rank_zero::write_map_from_rank_zero;
use crate::values::{Column, Table};

/// The per-cell QC table of a BAM import.
fn qc_table(cells: &[String], s: &RnaStats) -> Table {
    let ints = |f: fn(&gscript_runtime::coverage::bam::CellRnaQc) -> u64| {
        Column::Int(s.cells.iter().map(|q| f(q) as i64).collect())
    };
    Table::new(
        format!("RNA QC ({} molecules from {} reads passing the filters; {} records)", s.reads, s.passed, s.records),
        vec![
            ("barcode".into(), Column::Text(cells.to_vec())),
            ("n_reads".into(), ints(|q| q.reads)),
            ("n_plus".into(), ints(|q| q.plus)),
            ("n_minus".into(), ints(|q| q.minus)),
            ("n_duplicates".into(), ints(|q| q.duplicates)),
            ("frac_dup".into(), Column::Float(s.cells.iter().map(|q| q.frac_dup()).collect())),
        ],
    )
}

/// A two-letter SAM tag option (`""` allowed when `empty_ok`).
fn tag_option(o: &Options, key: &str, default: &str, empty_ok: bool) -> ScriptResult<Option<String>> {
    let t = o.string(key)?.unwrap_or_else(|| default.to_string());
    if t.is_empty() && empty_ok {
        return Ok(None);
    }
    if t.len() != 2 || !t.is_ascii() {
        return Err(primitive_error(
            "load_rna_coverage",
            Some(key),
            &format!("{t:?} is not a two-character SAM tag such as \"{default}\""),
        ));
    }
    Ok(Some(t))
}

fn path_option(o: &Options, key: &str) -> ScriptResult<Option<PathBuf>> {
    Ok(o.string(key)?.map(PathBuf::from))
}

/// The files `write_scooby` wrote, by track name (what `load_scooby` takes).
fn files_map(paths: &[PathBuf]) -> Map {
    let mut m = Map::new();
    for p in paths {
        let key = match p.file_name().and_then(|n| n.to_str()) {
            Some(ATAC_FILE) => "atac",
            Some(RNA_PLUS_FILE) => "rna_plus",
            Some(RNA_MINUS_FILE) => "rna_minus",
            _ => continue,
        };
        m.insert(key.into(), Dynamic::from(p.display().to_string()));
    }
    m
}

pub fn register(reg: &mut Registrar) {
    let host = reg.host.clone();
    let doc = FnDoc::new(
        "load_rna_coverage",
        "coverage",
        "load_rna_coverage(path: string, options?: map) -> Coverage",
        "A 10x GEX BAM → per-cell RNA read coverage per strand (tracks rna_plus, rna_minus), as SnapATAC2-scooby's make_fragment_file + import_fragments store it for scooby.",
    )
    .details(
        "Reads are dropped when unmapped, secondary, supplementary, QC-failed or flagged duplicate, below min_mapq, or \
         without the cell tag. Duplicates per cell are reads with the same chromosome, 5′ end (unclipped), strand and \
         UMI; the one with the highest sum of base qualities ≥ 15 is kept (without a UMI tag: same 5′ end and strand). \
         Each kept read covers its aligned reference bases (soft clips excluded); a spliced read (CIGAR N) gives one \
         entry per exon block, built from its M and N operations as SnapATAC2 does. Reads go to rna_plus or rna_minus \
         by their own strand (10x 3′ reads are sense to the gene). Window targets divide the bases covered by 90 \
         (scooby's read length). BGZF is decoded on several threads. In a coordinate-sorted BAM (Cell Ranger's \
         possorted) molecules are completed as the reading passes them, so de-duplication holds only the reads near \
         the current position; an unsorted BAM is de-duplicated in memory at the end. Cells come in whitelist order, else sorted by \
         barcode; cells without reads are left out. `coverage.qc()` gives per cell: barcode, n_reads (molecules), \
         n_plus, n_minus, n_duplicates (reads merged into a kept molecule, plus reads flagged duplicate as Cell \
         Ranger flags them, with the cell's barcode and MAPQ ≥ min_mapq) and frac_dup.",
    )
    .opt("barcodes", "array | string", OptDefault::None, "whitelist: barcodes, a file with one per line, or a 10x matrix .h5")
    .opt("tag", "string", OptDefault::Str("CB"), "the tag holding the cell barcode")
    .opt("umi", "string", OptDefault::Str("UB"), "the tag holding the UMI; \"\" to de-duplicate by position and strand only")
    .opt("dedup", "bool", OptDefault::Bool(true), "remove duplicates (false keeps every read)")
    .opt("min_mapq", "int", OptDefault::Int(30), "minimum mapping quality (SnapATAC2's default 30; 255 = unavailable passes)")
    .opt("chromosomes", "array", OptDefault::None, "keep only reads on these chromosomes")
    .opt("xf_filter", "bool", OptDefault::Bool(false), "keep only reads with Cell Ranger's xf:i:25 (scooby's tutorial recommends it)")
    .example(
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet rna = load_rna_coverage(sim.bam);\nprint(rna.to_string());\nprint(rna.qc());",
    );
    register1(reg, doc, move |path: String, o: &Options| -> ScriptResult<CoverageValue> {
        const P: &str = "load_rna_coverage";
        let chromosomes = super::names_option(P, o, "chromosomes")?;
        let mapq = o.int_at_least("min_mapq", 0)?.unwrap_or(30);
        if mapq > 255 {
            return Err(primitive_error(P, Some("min_mapq"), &format!("must be at most 255, got {mapq}")));
        }
        let opts = RnaOptions {
            barcodes: barcodes_option(P, o)?,
            tag: tag_option(o, "tag", "CB", false)?.unwrap_or_default(),
            umi: tag_option(o, "umi", "UB", true)?,
            dedup: o.bool("dedup")?.unwrap_or(true),
            min_mapq: mapq as u8,
            chromosomes,
            xf_filter: o.bool("xf_filter")?.unwrap_or(false),
        };
        let (cov, stats) =
            load_rna_coverage(Path::new(&path), &opts, &mut SessionProgress::new(&host), &cancel_token(&host))
                .map_err(in_argument(P, "path"))?;
        let table = qc_table(&cov.cells, &stats);
        Ok(CoverageValue(Arc::new(cov), Some(table), None))
    });

    let host = reg.host.clone();
    let doc = FnDoc::new(
        "load_scooby",
        "coverage",
        "load_scooby(files: map) -> Coverage",
        "SnapATAC2-scooby AnnData files (what scooby trains on) → a Coverage: RNA per strand from obsm['fragment_single'], ATAC insertions from obsm['insertion'].",
    )
    .details(
        "Give any of the three files, or `dir`, a directory written by write_scooby (atac.h5ad, rna_plus.h5ad, \
         rna_minus.h5ad; those present are read). The genome comes from uns['reference_sequences'] and must agree \
         between files; cells are the obs names. The two strand files share one cell list (plus-file order, then \
         cells only in the minus file); with ATAC, the cells both modalities have are kept, in RNA order. A strand \
         file holding values of the other sign (the other strand's, or unstranded reads) is refused: scooby would \
         ignore them.",
    )
    .opt("rna_plus", "string", OptDefault::None, "plus-strand file (obsm['fragment_single'], positive lengths)")
    .opt("rna_minus", "string", OptDefault::None, "minus-strand file (obsm['fragment_single'], negative lengths)")
    .opt("atac", "string", OptDefault::None, "ATAC file (obsm['insertion'], counts)")
    .opt("dir", "string", OptDefault::None, "a directory written by write_scooby")
    .example(
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet files = write_scooby(load_rna_coverage(sim.bam), out_path(\"scooby\"));\nlet cov = load_scooby(files);\nprint(cov.to_string());\nprint(load_scooby(#{dir: out_path(\"scooby\")}).tracks());",
    );
    register0(reg, doc, move |o: &Options| -> ScriptResult<CoverageValue> {
        const P: &str = "load_scooby";
        let (mut atac, mut plus, mut minus) =
            (path_option(o, "atac")?, path_option(o, "rna_plus")?, path_option(o, "rna_minus")?);
        if let Some(dir) = path_option(o, "dir")? {
            if atac.is_some() || plus.is_some() || minus.is_some() {
                return Err(primitive_error(P, Some("dir"), "give either dir or the files, not both"));
            }
            if !dir.is_dir() {
                return Err(primitive_error(P, Some("dir"), &format!("{} is not a directory", dir.display())));
            }
            let pick = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
            (atac, plus, minus) = (pick(ATAC_FILE), pick(RNA_PLUS_FILE), pick(RNA_MINUS_FILE));
            if atac.is_none() && plus.is_none() && minus.is_none() {
                return Err(primitive_error(
                    P,
                    Some("dir"),
                    &format!("{} holds none of {ATAC_FILE}, {RNA_PLUS_FILE}, {RNA_MINUS_FILE}", dir.display()),
                ));
            }
        }
        if atac.is_none() && plus.is_none() && minus.is_none() {
            return Err(primitive_error(P, Some("files"), "give rna_plus, rna_minus and/or atac (or dir)"));
        }
        let cov = read_scooby_coverage(
            atac.as_deref(),
            plus.as_deref(),
            minus.as_deref(),
            &mut SessionProgress::new(&host),
            &cancel_token(&host),
        )
        .map_err(in_primitive(P))?;
        Ok(CoverageValue::new(cov))
    });

    let host = reg.host.clone();
    let doc = FnDoc::new(
        "write_scooby",
        "coverage",
        "write_scooby(coverage: Coverage, dir: string) -> map",
        "Writes a Coverage as SnapATAC2-scooby AnnData files that scooby (read_backed) and anndata.read_h5ad open: one file per track in `dir`.",
    )
    .details(
        "Files: rna_plus.h5ad and rna_minus.h5ad (obsm['fragment_single'], int32 signed lengths: a plus read at its \
         first base with +length, a minus read at its last base with −length), atac.h5ad (obsm['insertion'], uint16 \
         counts per cell and position); each a cells × genome CSR (column = chromosome offset + position), with \
         uns['reference_sequences'], the barcodes as obs names and an empty X. Each file is written to a temporary \
         name and renamed when complete. Returns the paths by track (rna_plus, rna_minus, atac), which load_scooby \
         takes back.",
    )
    .example(
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet files = write_scooby(load_rna_coverage(sim.bam), out_path(\"scooby\"));\nprint(files);",
    );
    register2(reg, doc, move |cov: CoverageValue, dir: String, _o: &Options| -> ScriptResult<Map> {
        const P: &str = "write_scooby";
        write_map_from_rank_zero(&host, P, "dir", &dir, || {
            let paths =
                write_scooby_h5ad(&cov.0, Path::new(&dir), &mut SessionProgress::new(&host), &cancel_token(&host))
                    .map_err(in_primitive(P))?;
            Ok(files_map(&paths))
        })
    });
}
