//! Data in and out: `load_peaks` (10x .h5, .h5ad, Matrix Market), `load_bed`, `simulate_atac`, `write_csv`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::data::simulate::{simulate_atac, SimulateOptions};
use gscript_runtime::data::{cell_store, load_peaks, ChromosomeFilter, FilterSpec, Format, LoadOptions};
use gscript_runtime::seq::Genome;

use crate::bridge::{cancel_token, in_primitive, register0, register1, write_output, ScriptResult, SessionProgress};
use crate::rank_zero::write_from_rank_zero;
use crate::seq::GenomeValue;
use crate::values::peak_data::{PeakData, Peaks};
use crate::values::table::{Column, Table};
use crate::values::Matrix;

fn chromosome_filter(o: &Options) -> ScriptResult<ChromosomeFilter> {
    match o.raw("chromosomes") {
        None => Ok(ChromosomeFilter::Standard),
        Some(v) if v.is_string() => match v.to_string().as_str() {
            "standard" => Ok(ChromosomeFilter::Standard),
            "all" => Ok(ChromosomeFilter::All),
            other => Err(primitive_error(
                "load_peaks",
                Some("chromosomes"),
                &format!("\"{other}\" is not \"standard\", \"all\" or a list of names"),
            )),
        },
        Some(v) => {
            let list = v.clone().try_cast::<Array>().ok_or_else(|| {
                primitive_error("load_peaks", Some("chromosomes"), "expected \"standard\", \"all\" or a list of names")
            })?;
            Ok(ChromosomeFilter::List(list.iter().map(|c| c.to_string()).collect()))
        }
    }
}

pub fn register(reg: &mut Registrar) {
    let doc = FnDoc::new("load_peaks", "io", "load_peaks(path: string, options?: map) -> PeakDataset", "Loads a peaks × cells matrix from 10x .h5, AnnData .h5ad or Matrix Market, then filters it.")
        .details(
            "Formats, chosen from the path: a Cell Ranger ATAC `filtered_peak_bc_matrix.h5` or ARC `filtered_feature_bc_matrix.h5` \
             (only `Peaks` features are kept); an `.h5ad` (X as CSR, CSC or dense; cells × peaks or peaks × cells, detected from \
             which axis has coordinates: chr/start/end columns or names like chr1:100-200; obs columns kept, categorical included); \
             `matrix.mtx[.gz]` with barcodes.tsv and peaks.bed beside it, or a 10x matrix directory. The matrix is streamed into \
             sparse form: memory grows with the number of non-zero entries, never with peaks × cells.\n\
             Filters follow the scBasset preprocessing: peaks open in more than floor(min_cell_fraction · n_cells) cells, on \
             autosomes and X/Y. What was removed is reported.",
        )
        .opt("format", "string", OptDefault::None, "\"10x_h5\", \"h5ad\" or \"mtx\" when the extension does not tell")
        .opt("peaks", "string", OptDefault::None, "peaks BED for a Matrix Market file or a 10x .h5 without coordinates")
        .opt("barcodes", "string", OptDefault::None, "barcodes file for a Matrix Market file (default: barcodes.tsv[.gz] beside it)")
        .opt("min_cell_fraction", "float", OptDefault::Float(0.05), "keep peaks open in more than floor(f · n_cells) cells (0 keeps all)")
        .opt("min_cells", "int", OptDefault::None, "instead: keep peaks open in at least this many cells")
        .opt("min_peaks_per_cell", "int", OptDefault::Int(0), "keep cells with at least this many open peaks")
        .opt("chromosomes", "string|array", OptDefault::Str("standard"), "\"standard\" (autosomes + X/Y), \"all\", or a list of names")
        .opt("binarize", "bool", OptDefault::Bool(false), "set every stored value to 1")
        .opt("cell_index", "bool", OptDefault::Bool(false), ".h5ad with sparse X only: binarise and memory-map the matrix from a cell index built once beside the file (<file>.cells, 4 bytes per entry; rebuilt when the file changes), for atlases larger than memory; filters that remove cells or peaks copy the kept part into memory (min_cell_fraction: 0.0 keeps the mapping)")
        .opt("genome", "Genome", OptDefault::None, "check that every peak's chromosome is in this genome")
        .opt("drop_missing_chromosomes", "bool", OptDefault::Bool(false), "with `genome`: drop peaks on chromosomes it lacks (else an error lists them)")
        .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 40});\nlet data = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0});\nprint(data);");
    let host = reg.host.clone();
    register1(reg, doc, move |path: String, o| {
        const P: &str = "load_peaks";
        let format = match o.string("format")? {
            None => None,
            Some(f) => Some(Format::parse(&f).ok_or_else(|| {
                primitive_error(P, Some("format"), &format!("\"{f}\" is not one of {}", Format::NAMES.join(", ")))
            })?),
        };
        let min_cells = o.int_at_least("min_cells", 0)?.map(|v| v as u32);
        let fraction =
            if min_cells.is_some() && !o.has("min_cell_fraction") { None } else { o.float("min_cell_fraction")? };
        if let Some(f) = fraction {
            if !(0.0..1.0).contains(&f) {
                return Err(primitive_error(P, Some("min_cell_fraction"), &format!("must be in [0, 1), got {f}")));
            }
        }
        let opts = LoadOptions {
            format,
            peaks: o.string("peaks")?.map(PathBuf::from),
            barcodes: o.string("barcodes")?.map(PathBuf::from),
            filter: FilterSpec {
                min_cell_fraction: fraction.filter(|&f| f > 0.0),
                min_cells,
                min_peaks_per_cell: o.int_at_least("min_peaks_per_cell", 0)?.unwrap_or(0) as u32,
            },
            chromosomes: chromosome_filter(o)?,
            binarize: o.bool("binarize")?.unwrap_or(false),
            cell_index: o.bool("cell_index")?.unwrap_or(false),
        };
        let genome = match o.raw("genome") {
            None => None,
            Some(g) => Some(
                g.clone()
                    .try_cast::<GenomeValue>()
                    .ok_or_else(|| primitive_error(P, Some("genome"), "expected a Genome from load_genome"))?,
            ),
        };
        let mut progress = SessionProgress::new(&host);
        let cancel = cancel_token(&host);
        if opts.cell_index && gscript_dist::global().ok().flatten().is_some() {
            // in a process group rank 0 builds the cell index if needed; then every rank maps (and checks) the same file
            write_from_rank_zero(&host, P, "path", &path, || {
                cell_store::ensure_built(Path::new(&path), &mut progress, &cancel).map_err(in_primitive(P))
            })?;
        }
        let (data, report) =
            load_peaks(&PathBuf::from(path), &opts, &mut progress, &cancel).map_err(in_primitive(P))?;
        host.eprint(&format!("load_peaks: {report}\n"));
        let data = match &genome {
            None => data,
            Some(g) => {
                let (d, warning) = data
                    .match_genome(&g.0, o.bool("drop_missing_chromosomes")?.unwrap_or(false))
                    .map_err(in_primitive(P))?;
                if let Some(w) = warning {
                    host.warn(&w);
                }
                d
            }
        };
        Ok(PeakData(Arc::new(data), genome))
    });

    reg.docs.add(
        FnDoc::new("load_bed", "io", "load_bed(path: string) -> Peaks", "Reads a BED or narrowPeak file (plain or .gz) as a peak set.")
            .details("Columns 1–3 are chrom, start, end (0-based, half-open); a 4th names the peak. track/browser/# lines are skipped.")
            .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet peaks = load_bed(sim.files.peaks);\nprint(peaks.len());"),
    );
    reg.engine.register_fn("load_bed", |path: &str| -> ScriptResult<Peaks> {
        Ok(Peaks(Arc::new(gscript_runtime::data::read_bed(&PathBuf::from(path)).map_err(in_primitive("load_bed"))?)))
    });

    register_simulate(reg);

    reg.docs.add(
        FnDoc::new(
            "write_csv",
            "io",
            "write_csv(m: Matrix, path: string)",
            "Writes a matrix as CSV (or TSV when the path ends in .tsv), with its row and column names.",
        )
        .example("write_csv(one_hot(\"ACGT\"), out_path(\"onehot.tsv\"));"),
    );
    let host = reg.host.clone();
    reg.engine.register_fn("write_csv", move |m: Matrix, path: &str| -> ScriptResult<()> {
        let sep = if path.ends_with(".tsv") || path.ends_with(".txt") { '\t' } else { ',' };
        let quote = |s: &str| crate::values::table::csv_field(s, sep);
        let mut out = String::new();
        let cols: Vec<String> = match &m.col_names {
            Some(n) => n.iter().map(|s| quote(s)).collect(),
            None => (0..m.cols).map(|c| c.to_string()).collect(),
        };
        out.push_str(if m.row_names.is_some() { "name" } else { "row" });
        for c in &cols {
            out.push(sep);
            out.push_str(c);
        }
        out.push('\n');
        for r in 0..m.rows {
            out.push_str(&m.row_names.as_ref().map_or(r.to_string(), |n| quote(&n[r])));
            for v in m.row(r) {
                out.push(sep);
                out.push_str(&v.to_string());
            }
            out.push('\n');
        }
        write_from_rank_zero(&host, "write_csv", "path", path, || {
            write_output("write_csv", Path::new(path), out.as_bytes())
        })
    });
}

fn register_simulate(reg: &mut Registrar) {
    let d = SimulateOptions::default();
    let doc = FnDoc::new("simulate_atac", "io", "simulate_atac(options?: map) -> map", "A simulated single-cell ATAC dataset with planted motif truth (no downloads).")
        .details(
            "A random genome with one peak every 2 kb; each cell type has a driver motif (real JASPAR 2026 PWMs: CTCF, GATA1, \
             Spi1, CEBPA, …) planted in a share of the peaks; cells open a peak with probability σ(background + depth + strength · \
             [peak driven by the cell's type] + batch shift), then lose reads with probability `dropout`. Returns #{data: PeakDataset, \
             genome: Genome, cell_types, motifs, sites: Table, peak_drivers, dir, files: #{genome, peaks, h5ad, tenx_h5, sites, drivers}}: \
             `sites` lists every planted motif site (peak, chrom, start, end, strand, motif, cell_type), `peak_drivers` gives each \
             peak's driving cell type (\"none\" for background peaks). The files (FASTA, BED, .h5ad, a 10x multiome \
             filtered_feature_bc_matrix.h5 with simulated gene features, planted sites and peak drivers as TSV) are written to \
             `dir`. The obs column `cell_type` holds the true labels; with `batches` > 1, obs `batch` the batch and barcodes \
             end in 10x's -1, -2, … suffixes.",
        )
        .opt("n_cells", "int", OptDefault::Int(d.n_cells as i64), "number of cells")
        .opt("n_peaks", "int", OptDefault::Int(d.n_peaks as i64), "number of peaks")
        .opt("n_cell_types", "int", OptDefault::Int(d.n_cell_types as i64), "number of cell types (one driver motif each)")
        .opt("motifs", "array", OptDefault::None, "driver motif names or JASPAR ids, one per cell type; \"A+B\" makes a type whose cells open the peaks of both programs (sim.motifs then lists the programs)")
        .opt("driven_fraction", "float", OptDefault::Float(d.driven_fraction), "share of peaks carrying a driver motif")
        .opt("instances", "int", OptDefault::Int(d.instances as i64), "motif sites planted per driven peak")
        .opt("strength", "float", OptDefault::Float(d.strength), "logit added for a driven peak in cells of its type")
        .opt("background_logit", "float", OptDefault::Float(d.background_logit), "mean logit of background accessibility")
        .opt("depth_sd", "float", OptDefault::Float(d.depth_sd), "s.d. of the per-cell depth offset (logit scale)")
        .opt("dropout", "float", OptDefault::Float(d.dropout), "probability that an open entry is lost")
        .opt("batches", "int", OptDefault::Int(1), "number of batches (cells spread evenly, independently of type)")
        .opt("batch_effect", "float", OptDefault::Float(d.batch_effect), "s.d. of each batch's per-peak logit shift")
        .opt("seed", "int", OptDefault::Int(0), "random seed")
        .opt("dir", "string", OptDefault::None, "where to write the files (default: out_path(\"simulated_atac\"))")
        .example("let sim = simulate_atac(#{n_cells: 60, n_peaks: 50, n_cell_types: 3, seed: 1});\nprint(sim.data);\nprint(sim.motifs);");
    let host = reg.host.clone();
    register0(reg, doc, move |o| {
        const P: &str = "simulate_atac";
        let int = |k: &str| -> ScriptResult<usize> { Ok(o.int_at_least(k, 1)?.unwrap() as usize) };
        let motifs = match o.raw("motifs") {
            None => Vec::new(),
            Some(v) => v
                .clone()
                .try_cast::<Array>()
                .ok_or_else(|| primitive_error(P, Some("motifs"), "expected a list of motif names"))?
                .iter()
                .map(|m| m.to_string())
                .collect(),
        };
        let opts = SimulateOptions {
            n_cells: int("n_cells")?,
            n_peaks: int("n_peaks")?,
            n_cell_types: int("n_cell_types")?,
            motifs,
            driven_fraction: o.float("driven_fraction")?.unwrap(),
            instances: o.int_at_least("instances", 0)?.unwrap() as usize,
            strength: o.float("strength")?.unwrap(),
            background_logit: o.float("background_logit")?.unwrap(),
            depth_sd: o.float("depth_sd")?.unwrap(),
            dropout: o.float("dropout")?.unwrap(),
            batches: int("batches")?,
            batch_effect: o.float("batch_effect")?.unwrap(),
            seed: o.int("seed")?.unwrap() as u64,
            ..SimulateOptions::default()
        };
        let dir = o.string("dir")?.map(PathBuf::from).unwrap_or_else(|| host.out_dir().join("simulated_atac"));
        let sim = simulate_atac(&opts).map_err(in_primitive(P))?;
        // rank 0 writes the files (the simulation is the same on every rank); every rank gets their paths
        let dir_text = dir.display().to_string();
        let files: Vec<(String, String)> = write_from_rank_zero(&host, P, "dir", &dir_text, || {
            let files = sim.save(&dir).map_err(in_primitive(P))?;
            Ok([
                ("genome", &files.genome),
                ("peaks", &files.peaks),
                ("h5ad", &files.h5ad),
                ("tenx_h5", &files.tenx_h5),
                ("sites", &files.sites),
                ("drivers", &files.drivers),
            ]
            .into_iter()
            .map(|(k, p)| (k.to_string(), p.display().to_string()))
            .collect())
        })?;
        let genome_path = files.iter().find(|(k, _)| k == "genome").map(|(_, p)| p.clone()).unwrap_or_default();
        let genome = Genome::open(Path::new(&genome_path)).map_err(in_primitive(P))?;
        let mut f = Map::new();
        for (k, p) in files {
            f.insert(k.into(), p.into());
        }
        let mut m = Map::new();
        m.insert(
            "cell_types".into(),
            Dynamic::from_array(sim.truth.cell_types.iter().cloned().map(Dynamic::from).collect()),
        );
        m.insert(
            "motifs".into(),
            Dynamic::from_array(sim.truth.motifs.iter().map(|m| Dynamic::from(m.name.clone())).collect()),
        );
        m.insert("dir".into(), dir.display().to_string().into());
        m.insert("files".into(), f.into());
        m.insert("sites".into(), Dynamic::from(planted_sites_table(&sim)));
        m.insert(
            "peak_drivers".into(),
            Dynamic::from_array(sim.peak_driver_types().into_iter().map(Dynamic::from).collect()),
        );
        let genome = GenomeValue(Arc::new(genome));
        m.insert("genome".into(), Dynamic::from(genome.clone()));
        m.insert("data".into(), Dynamic::from(PeakData(Arc::new(sim.data), Some(genome))));
        Ok(m)
    });
}

/// The planted sites as a Table: peak name, chrom, start, end (0-based, end exclusive), strand, motif, cell_type.
fn planted_sites_table(sim: &gscript_runtime::data::Simulation) -> Table {
    let t = &sim.truth;
    let drivers = sim.peak_driver_types();
    let sites = &t.sites;
    Table::new(
        "planted motif sites",
        vec![
            ("peak".into(), Column::Text(sites.iter().map(|s| sim.data.peaks.name[s.peak].clone()).collect())),
            ("chrom".into(), Column::Text(sites.iter().map(|s| s.chrom.clone()).collect())),
            ("start".into(), Column::Int(sites.iter().map(|s| s.start as i64).collect())),
            ("end".into(), Column::Int(sites.iter().map(|s| sim.site_end(s) as i64).collect())),
            ("strand".into(), Column::Text(sites.iter().map(|s| s.strand.to_string()).collect())),
            ("motif".into(), Column::Text(sites.iter().map(|s| s.motif.clone()).collect())),
            ("cell_type".into(), Column::Text(sites.iter().map(|s| drivers[s.peak].clone()).collect())),
        ],
    )
}
