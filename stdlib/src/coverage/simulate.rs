//! `simulate_multiome(dir, options?)`: a simulated 10x Multiome run with known truth, written as real files
//! (`gscript_runtime::coverage::simulate` has the model).

use std::path::Path;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::coverage::simulate::{simulate_multiome, MultiomeConfig, MultiomeFiles};

use crate::bridge::{cancel_token, in_primitive, register1, ScriptResult, SessionProgress};
use crate::rank_zero::write_map_from_rank_zero;

const DETAILS: &str =
    "A random genome (chr1…) with genes (exons on both strands, GC-rich promoters with SP1/NFYA/ELK1 \
sites), enhancers near the genes that are active in one or two cell types and carry that type's driver motif (real \
JASPAR 2026 PWMs: GATA1, Spi1, EBF1, HNF4A, …) and constitutive CTCF sites. A gene's log expression in a type is its \
baseline plus the effects of its enhancers active there; promoters open with expression. Cells (16-bp barcodes + \
`-1`, log-normal library sizes) yield ATAC fragments from their type's regions (share `frip`) and the background, \
with a nucleosome ladder (nucleosome-free < 147 bp, mono ~200 bp, …) and PCR duplicates (count column), and 10x 3′ \
GEX reads (`read_length` bp, sense to the gene: reverse-strand for genes on −; near the poly(A) end, internal \
priming and intronic pre-mRNA reads; spliced reads carry CIGAR N; CB/UB/CR/UR/GX/GN/xf/RE tags; PCR copies of a \
molecule share its UMI and all but one are flagged duplicate; a few reads lack CB; MAPQ 255). Files in `dir`: \
genome.fa + .fai, chrom.sizes, genes.gtf (GENCODE-style), atac_fragments.tsv.gz + .tbi (BGZF, tabix), \
gex_possorted_bam.bam + .bai, filtered_feature_bc_matrix.h5 (UMI counts incl. introns, then cut sites per true \
region as Peaks), sequences.bed (folds fold0–fold7 in contiguous runs; windows of `window` bp, default 196,608 or the \
largest 196,608/2^k giving ≥ 16 windows), truth.json and truth_{cells,regions,expression,motif_sites}.tsv. Returns a \
map of those paths (keys genome, genome_index, chrom_sizes, gtf, fragments, fragments_index, bam, bam_index, matrix, \
sequences, truth_json, truth_cells, truth_regions, truth_expression, truth_sites, dir), `summary` (counts, seconds) \
and `truth` (cell_types: barcode → type, types, drivers: type → motif, empty_droplets, links: enhancer → gene with \
effect and active types). The directory is replaced atomically; an existing non-empty one needs `overwrite: true`. \
The same seed gives identical files. Defaults (3 × 2 Mb, 120 genes, 200 cells) take about 2 s and 24 MB.";

fn doc() -> FnDoc {
    let d = MultiomeConfig::default();
    let int = |v: usize| OptDefault::Int(v as i64);
    FnDoc::new(
        "simulate_multiome",
        "coverage",
        "simulate_multiome(dir: string, options?: map) -> map",
        "A simulated 10x Multiome (ATAC fragments, GEX BAM, matrix, genome, GTF) with known cell types, driver motifs and enhancer–gene links.",
    )
    .details(DETAILS)
    .opt("cells", "int", int(d.cells), "number of cells")
    .opt("cell_types", "int", int(d.cell_types), "number of cell types (one driver motif each)")
    .opt("motifs", "array", OptDefault::None, "driver motif names or JASPAR ids, one per cell type")
    .opt("chromosomes", "int", int(d.chromosomes), "number of chromosomes")
    .opt("chrom_length", "int", OptDefault::Int(d.chrom_length as i64), "length of each chromosome (bp)")
    .opt("gc", "float", OptDefault::Float(d.gc), "GC content of the genome")
    .opt("genes", "int", int(d.genes), "number of genes (spread over the chromosomes)")
    .opt("min_gene_length", "int", OptDefault::Int(d.min_gene_length as i64), "shortest gene (bp)")
    .opt("max_gene_length", "int", OptDefault::Int(d.max_gene_length as i64), "longest gene (bp; lengths log-uniform)")
    .opt("min_exons", "int", int(d.min_exons), "fewest exons per gene")
    .opt("max_exons", "int", int(d.max_exons), "most exons per gene")
    .opt("enhancers_per_gene", "float", OptDefault::Float(d.enhancers_per_gene), "mean enhancers per gene (Poisson)")
    .opt("enhancer_width", "int", OptDefault::Int(d.enhancer_width as i64), "enhancer width (bp)")
    .opt("enhancer_distance", "int", OptDefault::Int(d.enhancer_distance as i64), "enhancers lie within this distance of their gene's TSS")
    .opt("sites_per_enhancer", "int", int(d.sites_per_enhancer), "driver motif sites planted per enhancer and active type")
    .opt("shared_enhancers", "float", OptDefault::Float(d.shared_enhancers), "share of enhancers active in two types")
    .opt("ctcf_per_mb", "float", OptDefault::Float(d.ctcf_per_mb), "constitutive CTCF sites per Mb")
    .opt("inactive_accessibility", "float", OptDefault::Float(d.inactive_accessibility), "accessibility of an inactive enhancer (active: 1)")
    .opt("ctcf_accessibility", "float", OptDefault::Float(d.ctcf_accessibility), "accessibility of CTCF sites")
    .opt("effect_min", "float", OptDefault::Float(d.effect_min), "smallest enhancer effect (log expression)")
    .opt("effect_max", "float", OptDefault::Float(d.effect_max), "largest enhancer effect (log expression)")
    .opt("fragments_per_cell", "float", OptDefault::Float(d.fragments_per_cell), "mean unique ATAC fragments per cell")
    .opt("frip", "float", OptDefault::Float(d.frip), "share of a cell's fragments from accessible regions")
    .opt("atac_duplication", "float", OptDefault::Float(d.atac_duplication), "mean extra read pairs per fragment (Poisson)")
    .opt("umis_per_cell", "float", OptDefault::Float(d.umis_per_cell), "mean RNA molecules per cell")
    .opt("dispersion", "float", OptDefault::Float(d.dispersion), "negative-binomial dispersion of gene counts")
    .opt("reads_per_umi", "float", OptDefault::Float(d.reads_per_umi), "mean reads per molecule (≥ 1)")
    .opt("intronic_fraction", "float", OptDefault::Float(d.intronic_fraction), "share of molecules primed in introns (pre-mRNA)")
    .opt("internal_priming", "float", OptDefault::Float(d.internal_priming), "share of mRNA molecules primed inside the transcript")
    .opt("no_barcode_fraction", "float", OptDefault::Float(d.no_barcode_fraction), "share of reads repeated without a corrected barcode (no CB)")
    .opt("read_length", "int", int(d.read_length), "GEX read length (10x Multiome: 90)")
    .opt("depth_sd", "float", OptDefault::Float(d.depth_sd), "s.d. of log library sizes")
    .opt("empty_droplets", "int", int(d.empty_droplets), "extra barcodes with ambient RNA and background fragments only")
    .opt("mark_duplicates", "bool", OptDefault::Bool(d.mark_duplicates), "flag PCR duplicates 0x400 as Cell Ranger does")
    .opt("window", "int", OptDefault::None, "sequences.bed window length (default 196,608 bp, smaller on small genomes)")
    .opt("seed", "int", OptDefault::Int(0), "random seed")
    .opt("overwrite", "bool", OptDefault::Bool(false), "replace an existing non-empty directory")
    .example(
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 30, chromosomes: 2, chrom_length: 300000, genes: 12});\n\
         print(sim.summary);\nprint(sim.truth.types);\nprint(sim.bam);",
    )
}

fn config(o: &Options) -> ScriptResult<MultiomeConfig> {
    const P: &str = "simulate_multiome";
    let count = |k: &str, min: i64| -> ScriptResult<usize> { Ok(o.int_at_least(k, min)?.unwrap_or(min) as usize) };
    let bp = |k: &str| -> ScriptResult<u64> { Ok(o.int_at_least(k, 1)?.unwrap_or(1) as u64) };
    let f = |k: &str| -> ScriptResult<f64> { Ok(o.float(k)?.unwrap_or(0.0)) };
    let motifs = match o.raw("motifs") {
        None => Vec::new(),
        Some(v) => v
            .clone()
            .try_cast::<Array>()
            .ok_or_else(|| primitive_error(P, Some("motifs"), "expected an array of motif names or JASPAR ids"))?
            .iter()
            .map(|m| m.to_string())
            .collect(),
    };
    Ok(MultiomeConfig {
        cells: count("cells", 1)?,
        cell_types: count("cell_types", 1)?,
        motifs,
        chromosomes: count("chromosomes", 1)?,
        chrom_length: bp("chrom_length")?,
        gc: f("gc")?,
        genes: count("genes", 1)?,
        min_gene_length: bp("min_gene_length")?,
        max_gene_length: bp("max_gene_length")?,
        min_exons: count("min_exons", 1)?,
        max_exons: count("max_exons", 1)?,
        enhancers_per_gene: f("enhancers_per_gene")?,
        enhancer_width: bp("enhancer_width")?,
        enhancer_distance: bp("enhancer_distance")?,
        sites_per_enhancer: count("sites_per_enhancer", 0)?,
        shared_enhancers: f("shared_enhancers")?,
        ctcf_per_mb: f("ctcf_per_mb")?,
        inactive_accessibility: f("inactive_accessibility")?,
        ctcf_accessibility: f("ctcf_accessibility")?,
        effect_min: f("effect_min")?,
        effect_max: f("effect_max")?,
        fragments_per_cell: f("fragments_per_cell")?,
        frip: f("frip")?,
        atac_duplication: f("atac_duplication")?,
        umis_per_cell: f("umis_per_cell")?,
        dispersion: f("dispersion")?,
        reads_per_umi: f("reads_per_umi")?,
        intronic_fraction: f("intronic_fraction")?,
        internal_priming: f("internal_priming")?,
        no_barcode_fraction: f("no_barcode_fraction")?,
        read_length: count("read_length", 1)?,
        depth_sd: f("depth_sd")?,
        empty_droplets: count("empty_droplets", 0)?,
        mark_duplicates: o.bool("mark_duplicates")?.unwrap_or(true),
        window: o.int_at_least("window", 1)?.map(|w| w as u64),
        seed: o.int("seed")?.unwrap_or(0) as u64,
        overwrite: o.bool("overwrite")?.unwrap_or(false),
    })
}

fn strings(v: impl IntoIterator<Item = String>) -> Dynamic {
    Dynamic::from_array(v.into_iter().map(Dynamic::from).collect())
}

/// The result map: paths, summary and truth.
fn result_map(f: &MultiomeFiles) -> Map {
    let mut m = Map::new();
    m.insert("dir".into(), f.dir.display().to_string().into());
    for (k, p) in f.paths() {
        m.insert(k.into(), p.display().to_string().into());
    }
    let s = &f.summary;
    let mut sm = Map::new();
    for (k, v) in [
        ("cells", s.cells),
        ("empty_droplets", s.empty_droplets),
        ("cell_types", s.cell_types),
        ("chromosomes", s.chromosomes),
        ("genome_length", s.genome_length),
        ("genes", s.genes),
        ("enhancers", s.enhancers),
        ("ctcf_sites", s.ctcf_sites),
        ("motif_sites", s.motif_sites),
        ("fragments", s.fragments),
        ("atac_read_pairs", s.atac_read_pairs),
        ("molecules", s.molecules),
        ("bam_records", s.bam_records),
        ("spliced_reads", s.spliced_reads),
        ("window", s.window),
        ("sequences", s.sequences),
    ] {
        sm.insert(k.into(), Dynamic::from(v as i64));
    }
    sm.insert("seconds".into(), Dynamic::from(s.seconds));
    m.insert("summary".into(), sm.into());
    let t = &f.truth;
    let mut tm = Map::new();
    let cells: Map = t.cells.iter().map(|(b, ty)| (b.as_str().into(), Dynamic::from(ty.clone()))).collect();
    tm.insert("cell_types".into(), cells.into());
    tm.insert("types".into(), strings(t.cell_types.iter().cloned()));
    let drivers: Map =
        t.cell_types.iter().zip(&t.drivers).map(|(ty, m)| (ty.as_str().into(), Dynamic::from(m.clone()))).collect();
    tm.insert("drivers".into(), drivers.into());
    tm.insert("empty_droplets".into(), strings(t.empty_droplets.iter().cloned()));
    let links: Array = t
        .links
        .iter()
        .map(|l| {
            let mut x = Map::new();
            x.insert("enhancer".into(), l.enhancer.clone().into());
            x.insert("chrom".into(), l.chrom.clone().into());
            x.insert("start".into(), Dynamic::from(l.start as i64));
            x.insert("end".into(), Dynamic::from(l.end as i64));
            x.insert("gene_id".into(), l.gene_id.clone().into());
            x.insert("gene_name".into(), l.gene_name.clone().into());
            x.insert("effect".into(), Dynamic::from(l.effect));
            x.insert("active_types".into(), strings(l.active.iter().cloned()));
            Dynamic::from(x)
        })
        .collect();
    tm.insert("links".into(), links.into());
    m.insert("truth".into(), tm.into());
    m
}

pub fn register(reg: &mut Registrar) {
    let host = reg.host.clone();
    register1(reg, doc(), move |dir: String, o: &Options| -> ScriptResult<Map> {
        const P: &str = "simulate_multiome";
        if dir.trim().is_empty() {
            return Err(primitive_error(P, Some("dir"), "is empty: give the directory to write"));
        }
        let cfg = config(o)?;
        // rank 0 simulates and writes the directory; the other ranks get its result map
        write_map_from_rank_zero(&host, P, "dir", &dir, || {
            let files =
                simulate_multiome(&cfg, Path::new(&dir), &mut SessionProgress::new(&host), &cancel_token(&host))
                    .map_err(in_primitive(P))?;
            Ok(result_map(&files))
        })
    });
}
