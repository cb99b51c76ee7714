//! Genes in the language: `load_genes` (GTF → a `Genes` value with TSS, strand and the exon union per gene), gene
//! windows and exon bins by scooby's rules (`genes.window`, `genes.exon_bins`), and Borzoi-style fold splits
//! (`read_folds`, `make_folds`). Computation lives in `gscript_runtime::genes`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Options, Registrar};
use gscript_runtime::genes::{
    exon_bins, gene_window, load_genes_with, make_folds, read_folds, write_folds, FoldRegion, FoldSplit, Gene,
    GeneOptions, GeneTable, GeneWindowOptions, WindowCenter,
};
use gscript_runtime::seq::region::Region;

use super::tracks::chrom_sizes;
use crate::bridge::{
    cancel_token, in_argument, in_primitive, register1, register2, register_method1, register_method2, ScriptResult,
    SessionProgress,
};
use crate::rank_zero::write_from_rank_zero;
use crate::values::matrix::html_escape;
use crate::values::{Column, Table};

/// A gene table held in a script (shared, immutable).
#[derive(Clone)]
pub struct GenesValue(pub Arc<GeneTable>);

impl GenesValue {
    /// `Genes: 20,000 genes (gencode.gtf.gz)`.
    pub fn summary(&self) -> String {
        let t = &self.0;
        let n = gscript_runtime::plot::group_thousands(t.len() as i64);
        let noun = if t.len() == 1 { "gene" } else { "genes" };
        if t.source.is_empty() {
            format!("Genes: {n} {noun}")
        } else {
            format!("Genes: {n} {noun} ({})", t.source)
        }
    }

    fn html(&self) -> String {
        const ROWS: usize = 10;
        let mut s = format!(
            "<div><b>{}</b><table><thead><tr><th>name</th><th>gene_id</th><th>type</th><th>location</th>\
             <th>strand</th><th>TSS</th><th>exons</th><th>exonic bp</th></tr></thead><tbody>",
            html_escape(&self.summary())
        );
        for g in self.0.genes.iter().take(ROWS) {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}:{}-{}</td><td>{}</td><td style=\"text-align:right\">{}</td>\
                 <td style=\"text-align:right\">{}</td><td style=\"text-align:right\">{}</td></tr>",
                html_escape(&g.name),
                html_escape(&g.id),
                html_escape(g.gene_type.as_deref().unwrap_or("")),
                html_escape(&g.chrom),
                g.start,
                g.end,
                g.strand.symbol(),
                g.tss(),
                g.exons.len(),
                g.exonic_length()
            );
        }
        if self.0.len() > ROWS {
            let _ = write!(s, "<tr><td colspan=\"8\">… {} more</td></tr>", self.0.len() - ROWS);
        }
        s.push_str("</tbody></table></div>");
        s
    }

    fn find(&self, primitive: &str, gene: &str) -> ScriptResult<&Gene> {
        self.0.find(gene).map_err(in_argument(primitive, "gene"))
    }
}

fn gene_map(g: &Gene) -> Map {
    let mut m = Map::new();
    m.insert("id".into(), g.id.clone().into());
    m.insert("name".into(), g.name.clone().into());
    m.insert("type".into(), g.gene_type.clone().map_or(Dynamic::UNIT, Dynamic::from));
    m.insert("chrom".into(), g.chrom.clone().into());
    m.insert("start".into(), (g.start as i64).into());
    m.insert("end".into(), (g.end as i64).into());
    m.insert("strand".into(), g.strand.symbol().to_string().into());
    m.insert("tss".into(), (g.tss() as i64).into());
    let exons: Array =
        g.exons.iter().map(|&(s, e)| Dynamic::from_array(vec![(s as i64).into(), (e as i64).into()])).collect();
    m.insert("exons".into(), exons.into());
    m
}

fn gene_table(t: &GeneTable) -> Table {
    let g = &t.genes;
    let text = |f: fn(&Gene) -> String| Column::Text(g.iter().map(f).collect());
    let int = |f: fn(&Gene) -> u64| Column::Int(g.iter().map(|x| f(x) as i64).collect());
    Table::new(
        format!("genes ({})", t.source),
        vec![
            ("name".into(), text(|x| x.name.clone())),
            ("id".into(), text(|x| x.id.clone())),
            ("type".into(), text(|x| x.gene_type.clone().unwrap_or_default())),
            ("chrom".into(), text(|x| x.chrom.clone())),
            ("start".into(), int(|x| x.start)),
            ("end".into(), int(|x| x.end)),
            ("strand".into(), text(|x| x.strand.symbol().to_string())),
            ("tss".into(), int(|x| x.tss())),
            ("n_exons".into(), int(|x| x.exons.len() as u64)),
            ("exonic_length".into(), int(|x| x.exonic_length())),
        ],
    )
}

/// An array-of-strings option (a single string counts as one).
fn string_list(primitive: &str, o: &Options, key: &str) -> ScriptResult<Option<Vec<String>>> {
    let list = super::names_option(primitive, o, key)?;
    if list.as_ref().is_some_and(Vec::is_empty) {
        return Err(primitive_error(primitive, Some(key), "is empty"));
    }
    Ok(list)
}

/// Fold labels from an int (3 → fold3), a string or an array of them.
fn fold_list(primitive: &str, o: &Options, key: &str, default: &[String]) -> ScriptResult<Vec<String>> {
    let Some(v) = o.raw(key) else { return Ok(default.to_vec()) };
    let one = |x: &Dynamic| -> ScriptResult<String> {
        match x.as_int() {
            Ok(i) if i >= 0 => Ok(format!("fold{i}")),
            Ok(i) => Err(primitive_error(primitive, Some(key), &format!("{i} is not a fold number"))),
            Err(_) => Ok(crate::bridge::label_text(x)),
        }
    };
    match v.clone().try_cast::<Array>() {
        Some(arr) => arr.iter().map(one).collect(),
        None => Ok(vec![one(v)?]),
    }
}

fn folds_table(regions: &[FoldRegion], split: &FoldSplit, title: String) -> Table {
    Table::new(
        title,
        vec![
            ("chrom".into(), Column::Text(regions.iter().map(|r| r.chrom.clone()).collect())),
            ("start".into(), Column::Int(regions.iter().map(|r| r.start as i64).collect())),
            ("end".into(), Column::Int(regions.iter().map(|r| r.end as i64).collect())),
            ("fold".into(), Column::Text(regions.iter().map(|r| r.fold.clone()).collect())),
            (
                "split".into(),
                Column::Text(regions.iter().map(|r| split.split_of(&r.fold).name().to_string()).collect()),
            ),
        ],
    )
}

const SETUP: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet genes = load_genes(sim.gtf);\n";

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<GenesValue>("Genes");
    reg.host.register_renderer::<GenesValue>(|g| MimeBundle::plain(g.summary()).with_text("text/html", g.html()));
    let ex = |body: &str| format!("{SETUP}{body}");

    let host = reg.host.clone();
    let doc = FnDoc::new(
        "load_genes",
        "coverage",
        "load_genes(path: string, options?: map) -> Genes",
        "Genes from a GTF file (GENCODE, Ensembl, 10x refdata; plain or gzip): span, strand, TSS and the exon union per gene.",
    )
    .details(
        "Reads `gene`, `transcript` and `exon` records; attributes gene_id (required), gene_name (else the id) and \
         gene_type or gene_biotype. GTF's 1-based inclusive coordinates become 0-based half-open. A gene's span is its \
         `gene` record (or the span of its transcripts and exons); its exons are the union over all its transcripts, \
         overlapping and touching exons merged (scooby's Transcriptome). Genes are keyed by gene_id, in file order. \
         Errors name the file, line and field (a line without 9 fields, a bad start or end, end before start, a strand \
         other than + or −, no gene_id, one gene on two chromosomes).",
    )
    .opt("gene_types", "array", OptDefault::None, "keep only these gene types (e.g. [\"protein_coding\"])")
    .opt("chromosomes", "array", OptDefault::None, "keep only genes on these chromosomes")
    .example("let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet genes = load_genes(sim.gtf);\nprint(genes.to_string());\nshow(genes);");
    register1(reg, doc, move |path: String, o: &Options| -> ScriptResult<GenesValue> {
        const P: &str = "load_genes";
        let opts = GeneOptions {
            gene_types: string_list(P, o, "gene_types")?,
            chromosomes: string_list(P, o, "chromosomes")?,
        };
        let t = load_genes_with(Path::new(&path), &opts, &mut SessionProgress::new(&host), &cancel_token(&host))
            .map_err(|e| match e {
                e @ gscript_runtime::RuntimeError::InvalidArgument { .. } => in_primitive(P)(e),
                e => in_argument(P, "path")(e),
            })?;
        Ok(GenesValue(Arc::new(t)))
    });

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("Genes", name, "coverage", sig, summary);
    reg.docs.add(
        m("to_string", "genes.to_string() -> string", "Number of genes and the file they came from.")
            .example(&ex("print(genes.to_string());")),
    );
    reg.engine.register_fn("to_string", |g: &mut GenesValue| g.summary());
    reg.docs.add(m("len", "genes.len() -> int", "Number of genes.").example(&ex("print(genes.len());")));
    reg.engine.register_fn("len", |g: &mut GenesValue| g.0.len() as i64);
    reg.docs.add(
        m("names", "genes.names() -> array", "Gene names (gene_name, else gene_id), in file order.")
            .example(&ex("print(genes.names()[0]);")),
    );
    reg.engine.register_fn("names", |g: &mut GenesValue| -> Array {
        g.0.genes.iter().map(|x| x.name.clone().into()).collect()
    });
    reg.docs.add(
        m("ids", "genes.ids() -> array", "Gene ids (gene_id), in file order.").example(&ex("print(genes.ids()[0]);")),
    );
    reg.engine
        .register_fn("ids", |g: &mut GenesValue| -> Array { g.0.genes.iter().map(|x| x.id.clone().into()).collect() });
    reg.docs.add(
        m("get", "genes.get(gene: string) -> map", "One gene by gene_id or name: #{id, name, type, chrom, start, end, strand, tss, exons}.")
            .details("Coordinates are 0-based half-open; tss is the first transcribed base (start on +, end − 1 on −); exons is the exon union as [[start, end], ...]. A name shared by several genes is an error listing their ids.")
            .example(&ex("let g = genes.get(genes.names()[0]);\nprint(`${g.name}: ${g.chrom}:${g.start}-${g.end} (${g.strand}), TSS ${g.tss}, ${g.exons.len()} exons`);")),
    );
    reg.engine.register_fn("get", |g: &mut GenesValue, gene: &str| -> ScriptResult<Map> {
        Ok(gene_map(g.find("get", gene)?))
    });
    reg.docs.add(
        m(
            "table",
            "genes.table() -> Table",
            "Every gene as a table row: name, id, type, chrom, start, end, strand, tss, n_exons, exonic_length.",
        )
        .example(&ex("show(genes.table().head(5));")),
    );
    reg.engine.register_fn("table", |g: &mut GenesValue| gene_table(&g.0));

    let filter_doc =
        m("filter", "genes.filter(options: map) -> Genes", "The genes of some types and/or on some chromosomes.")
            .opt("types", "array", OptDefault::None, "gene types to keep")
            .opt("chromosomes", "array", OptDefault::None, "chromosomes to keep")
            .example(&ex("let coding = genes.filter(#{types: [\"protein_coding\"]});\nprint(coding.to_string());"));
    let specs = filter_doc.options.clone();
    reg.docs.add(filter_doc);
    reg.engine.register_fn("filter", move |g: &mut GenesValue, map: Map| -> ScriptResult<GenesValue> {
        let o = Options::new("Genes.filter", map, &specs)?;
        let types = string_list("filter", &o, "types")?;
        let chroms = string_list("filter", &o, "chromosomes")?;
        Ok(GenesValue(Arc::new(g.0.filter(types.as_deref(), chroms.as_deref()))))
    });
    reg.docs.add(
        m(
            "overlapping",
            "genes.overlapping(region: string) -> Genes",
            "The genes overlapping a region (`chr:start-end`).",
        )
        .example(&ex("let g = genes.get(genes.names()[0]);\nprint(genes.overlapping(genes.window(g.id)).len());")),
    );
    reg.engine.register_fn("overlapping", |g: &mut GenesValue, region: &str| -> ScriptResult<GenesValue> {
        let r: Region = region.parse().map_err(in_argument("overlapping", "region"))?;
        let genes = g.0.overlapping(&r.chrom, r.start, r.end).into_iter().cloned().collect();
        Ok(GenesValue(Arc::new(GeneTable { genes, source: g.0.source.clone() })))
    });

    let window_doc = m(
        "window",
        "genes.window(gene: string, options?: map) -> string",
        "The model window centred on a gene, as a region `chr:start-end` (scooby's rule by default: 196,608 bp around the middle of the exon span).",
    )
    .details(
        "center \"gene\" puts the middle of the exon span, s + (e − s) / 2 (integer division), at the centre, as scooby's \
         gene-sequence files do (notebooks `get_gene_span`); \"tss\" centres on the TSS. The window starts at centre − \
         length / 2, so length 524,288 gives Borzoi's input window and 196,608 its output window around the same base. \
         A window that would start before the chromosome start is moved to start at 0; with `genome`, one that would \
         end past the chromosome end is moved to end there (scooby keeps the gene centred and pads). exon_bins takes \
         the window actually returned.",
    )
    .opt("length", "int", OptDefault::Int(196_608), "window length in bp (524,288 for the model input)")
    .opt("center", "string", OptDefault::Str("gene"), "\"gene\" (middle of the exon span) or \"tss\"")
    .opt("genome", "Genome | string | Coverage | map", OptDefault::None, "chromosome lengths, to keep the window inside the chromosome")
    .example(&ex("let name = genes.names()[0];\nprint(genes.window(name));\nprint(genes.window(name, #{length: 524288, genome: sim.genome}));"));
    register_method1(reg, window_doc, |g: &mut GenesValue, gene: String, o: &Options| -> ScriptResult<String> {
        const P: &str = "window";
        let gene = g.find(P, &gene)?;
        let center =
            WindowCenter::parse(&o.string("center")?.unwrap_or_else(|| "gene".into())).map_err(in_primitive(P))?;
        let length = o.int_at_least("length", 1)?.unwrap_or(196_608) as u64;
        let chrom_len = match o.raw("genome") {
            Some(v) => {
                let sizes = chrom_sizes(P, "genome", v)?;
                Some(sizes.iter().find(|(c, _)| c == &gene.chrom).map(|x| x.1).ok_or_else(|| {
                    primitive_error(P, Some("genome"), &format!("has no chromosome {} (the gene's)", gene.chrom))
                })?)
            }
            None => None,
        };
        let w = gene_window(gene, &GeneWindowOptions { length, center }, chrom_len).map_err(in_primitive(P))?;
        Ok(w.to_string())
    });

    let bins_doc = m(
        "exon_bins",
        "genes.exon_bins(gene: string, region: string, options?: map) -> array",
        "The bins of a window that hold a gene's exons (or its whole span), scooby's `Gene.output_slice`.",
    )
    .details(
        "For each exon of the union (or the exon span with span: true): [max(0, s − start), max(0, e − start)) divided \
         by the bin width and rounded half to even (np.round), both ends clipped to the number of bins; the bins are \
         the concatenated ranges, sorted. Sum a window's predictions or targets over them for a gene count (scooby's \
         `get_gene_slice_and_strand` with 6,144 bins of 32 bp). An exon outside the window contributes nothing.",
    )
    .opt("bin", "int", OptDefault::Int(32), "bin width in bp")
    .opt("span", "bool", OptDefault::Bool(false), "the whole exon span instead of the exons")
    .example(&ex("let name = genes.names()[0];\nlet w = genes.window(name);\nlet bins = genes.exon_bins(name, w);\nprint(`${bins.len()} of 6144 bins hold exons of ${name}`);"));
    register_method2(
        reg,
        bins_doc,
        |g: &mut GenesValue, gene: String, region: String, o: &Options| -> ScriptResult<Array> {
            const P: &str = "exon_bins";
            let gene = g.find(P, &gene)?;
            let window: Region = region.parse().map_err(in_argument(P, "region"))?;
            let bin = o.int_at_least("bin", 1)?.unwrap_or(32) as u64;
            let span = o.bool("span")?.unwrap_or(false);
            let bins = exon_bins(gene, &window, bin, span).map_err(in_primitive(P))?;
            Ok(bins.into_iter().map(|b| Dynamic::from(b as i64)).collect())
        },
    );

    let doc = FnDoc::new(
        "read_folds",
        "coverage",
        "read_folds(path: string, options?: map) -> Table",
        "A Borzoi-style fold BED (`sequences.bed`: chrom, start, end, fold) as a table with each region's split.",
    )
    .details(
        "Columns chrom, start, end, fold and split (\"train\", \"valid\" or \"test\"): scooby tests on fold3 and \
         validates on fold4, training on the rest. Plain or gzip; `#`, track and browser lines are skipped; columns \
         after the fourth are ignored.",
    )
    .opt("test", "int | string | array", OptDefault::Int(3), "test fold(s): 3, \"fold3\" or a list")
    .opt("valid", "int | string | array", OptDefault::Int(4), "validation fold(s)")
    .example("let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nmake_folds(sim.genome, out_path(\"sequences.bed\"), #{length: 8192});\nlet folds = read_folds(out_path(\"sequences.bed\"));\nprint(folds.rows().filter(|r| r.split == \"test\").len());");
    register1(reg, doc, |path: String, o: &Options| -> ScriptResult<Table> {
        const P: &str = "read_folds";
        let d = FoldSplit::default();
        let split = FoldSplit { test: fold_list(P, o, "test", &d.test)?, valid: fold_list(P, o, "valid", &d.valid)? };
        let regions = read_folds(Path::new(&path)).map_err(in_argument(P, "path"))?;
        let name = Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(folds_table(&regions, &split, format!("folds ({name})")))
    });

    let doc = FnDoc::new(
        "make_folds",
        "coverage",
        "make_folds(genome: Genome | string | map, path: string, options?: map) -> Table",
        "Writes a fold BED for a genome that has none (a simulated one): chromosomes tiled with windows, folds in contiguous runs.",
    )
    .details(
        "Each chromosome is tiled from its start with non-overlapping windows of `length` bp (a shorter remainder is \
         left out); the genome's windows, in chromosome order, are cut into `folds` contiguous runs of near-equal size \
         labelled fold0, fold1, …, so neighbouring windows share a fold as in Borzoi's split. Returns the table \
         read_folds would (split: test fold3, valid fold4).",
    )
    .opt("length", "int", OptDefault::Int(196_608), "window length in bp")
    .opt("folds", "int", OptDefault::Int(8), "number of folds")
    .example("let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet folds = make_folds(sim.genome, out_path(\"sequences.bed\"), #{length: 8192});\nshow(folds.head(3));");
    let host = reg.host.clone();
    register2(reg, doc, move |genome: Dynamic, path: String, o: &Options| -> ScriptResult<Table> {
        const P: &str = "make_folds";
        let sizes = chrom_sizes(P, "genome", &genome)?;
        let length = o.int_at_least("length", 1)?.unwrap_or(196_608) as u64;
        let n = o.int_at_least("folds", 1)?.unwrap_or(8) as usize;
        let regions = make_folds(&sizes, length, n).map_err(in_primitive(P))?;
        write_from_rank_zero(&host, P, "path", &path, || {
            write_folds(Path::new(&path), &regions).map_err(in_argument(P, "path"))
        })?;
        Ok(folds_table(
            &regions,
            &FoldSplit::default(),
            format!("folds ({n} over {} windows of {length} bp)", regions.len()),
        ))
    });
}
