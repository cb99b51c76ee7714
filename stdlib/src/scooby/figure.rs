//! `ScoobyModel.plot_profiles`: predicted vs observed pseudobulk tracks per cell type around a gene or a region, with
//! the gene track under them (scooby's Fig. 2-style panel; `gscript_runtime::profile::figure`).

use std::sync::Arc;

use gscript_lang::options::closest;
use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, OptSpec, Options, Registrar};
use gscript_runtime::coverage::TrackKind;
use gscript_runtime::genes::Gene;
use gscript_runtime::models::profile::CellProfileModel;
use gscript_runtime::profile::{profile_tracks, CellSelection, Inverse, Locus, PredictOptions, ProfileTrackOptions};
use gscript_runtime::seq::{Genome, Region};

use super::predict::selection;
use super::train::{genome_arg, states_tensor, EXAMPLE_SETUP};
use super::ScoobyModel;
use crate::bridge::{cancel_token, in_primitive, ScriptResult};
use crate::coverage::genes::GenesValue;
use crate::coverage::CoverageValue;
use crate::plot::{finish, with_common, FigureValue};
use crate::values::Matrix;

const P: &str = "plot_profiles";

fn doc() -> FnDoc {
    with_common(
        FnDoc::method(
            "ScoobyModel",
            "plot_profiles",
            "scooby",
            "model.plot_profiles(genome: Genome | string, coverage: Coverage, gene_or_region: string, cell_states: Matrix, options?: map) -> Figure",
            "Predicted vs observed pseudobulk tracks per cell type around a gene or a region, with the gene track under them (scooby's Fig. 2 panel).",
        )
        .details(
            "gene_or_region is a gene id or name of the `genes` table (load_genes) or a region `chr:start-end`. The model \
             predicts its output window (bins × 32 bp) centred on the gene's exon span, kept inside the chromosome (the \
             window model.gene_counts uses), or centred on the region (as model.predict). Drawn are the whole window for a \
             gene, the region's bins for a region, or `span` bp centred on the gene or region, in whole bins of the \
             window. Per group (`groups`: a label per cell in coverage.cells() order, the rows of cell_states; () leaves a \
             cell out; default one group `all`) and per track: the observed row (grey), the summed coverage of the \
             group's cells (coverage.pseudobulk: RNA in reads, ATAC in insertions), and the predicted row (coloured), the \
             sum of the same cells' predicted counts (model.predict with groups) — the same units on the same bins, \
             every RNA row of every group on one y range and every ATAC row on another. tracks default to the gene's \
             sense-strand RNA and ATAC (for a region: all of the model's), those the coverage holds; name rna_plus, \
             rna_minus, atac to choose. \
             With `genes` the genes overlapping the view are drawn under the rows.",
        )
        .opt("groups", "array", OptDefault::None, "a cell-type label per cell (default: all cells in one group)")
        .opt("genes", "Genes", OptDefault::None, "gene table (load_genes): names the gene and draws the gene track")
        .opt("tracks", "array", OptDefault::None, "tracks to draw: rna_plus, rna_minus, atac (default: sense RNA and ATAC)")
        .opt("span", "int", OptDefault::None, "width in bp of the view centred on the gene or region")
        .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
        .opt("inverse", "string", OptDefault::Str("scooby"), "RNA inverse: \"scooby\" or \"exact\"")
        .opt("title", "string", OptDefault::None, "title (default: the gene or region and the units)"),
    )
    .example(&format!(
        "{EXAMPLE_SETUP}let genes = load_genes(sim.gtf);\nlet groups = cov.cells().map(|b| sim.truth.cell_types[b]);\nlet fig = m.plot_profiles(sim.genome, cov, genes.names()[0], states, #{{groups: groups, genes: genes, rc_average: false}});\nprint(fig.to_string());"
    ))
    .example(&format!(
        "{EXAMPLE_SETUP}let fig = m.plot_profiles(sim.genome, cov, \"chr1:30000-32000\", states, #{{groups: cov.cells().map(|b| sim.truth.cell_types[b]), tracks: [\"atac\"], rc_average: false}});\nprint(fig.to_string());"
    ))
}

/// The gene of the table, or a region on the genome; errors name `gene_or_region` (with the closest gene name).
fn locus<'a>(text: &str, genes: Option<&'a GenesValue>, genome: &Genome) -> ScriptResult<Locus<'a>> {
    let arg = Some("gene_or_region");
    let mut gene_error = None;
    if let Some(table) = genes {
        match table.0.find(text) {
            Ok(g) => return Ok(Locus::Gene(g)),
            Err(e) => gene_error = Some(e),
        }
    }
    if let Ok(r) = text.parse::<Region>() {
        let Some(len) = genome.chrom_length(&r.chrom) else {
            return Err(primitive_error(
                P,
                arg,
                &format!("chromosome `{}` is not in the genome {}", r.chrom, genome.path().display()),
            ));
        };
        if r.start >= len {
            return Err(primitive_error(P, arg, &format!("{r} lies past the end of {} ({len} bp)", r.chrom)));
        }
        return Ok(Locus::Region(r));
    }
    match (genes, gene_error) {
        (Some(table), Some(e)) => {
            let known: Vec<&str> = table.0.genes.iter().flat_map(|g| [g.name.as_str(), g.id.as_str()]).collect();
            let hint = closest(text, &known).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
            let msg = match e {
                gscript_runtime::RuntimeError::InvalidArgument { message, .. } => message,
                other => other.to_string(),
            };
            Err(primitive_error(P, arg, &format!("{msg}, and it is not a region chr:start-end either{hint}")))
        }
        _ => Err(primitive_error(
            P,
            arg,
            &format!("`{text}` is not a region chr:start-end; to name a gene give its table: genes: load_genes(...)"),
        )),
    }
}

fn track_option(o: &Options) -> ScriptResult<Option<Vec<TrackKind>>> {
    let Some(names) = crate::coverage::names_option(P, o, "tracks")? else { return Ok(None) };
    if names.is_empty() {
        return Err(primitive_error(P, Some("tracks"), "is empty"));
    }
    names.iter().map(|n| TrackKind::parse(n).map_err(in_primitive(P))).collect::<ScriptResult<Vec<_>>>().map(Some)
}

#[allow(clippy::too_many_arguments)]
fn run(
    host: &Arc<Host>,
    model: &ScoobyModel,
    genome: Dynamic,
    coverage: CoverageValue,
    what: String,
    states: Matrix,
    o: &Options,
) -> ScriptResult<FigureValue> {
    let genome = genome_arg(P, &genome)?;
    let genes = crate::coverage::tracks::genes_option(P, o)?;
    let locus = locus(&what, genes.as_ref(), &genome.0)?;
    let cov = &coverage.0;
    let st = model.lock();
    let net = &st.net;
    let t = states_tensor(P, &states, net.state_dim(), Some(cov.n_cells()))?;
    let (labels, names) = if o.has("groups") {
        match selection(P, o, &states)? {
            (CellSelection::Groups { labels, .. }, names) => (labels, names),
            _ => return Err(primitive_error(P, Some("groups"), "must be an array of labels, one per cell")),
        }
    } else {
        (vec![Some(0); states.rows], vec!["all".to_string()])
    };
    let span = match o.int("span")? {
        None => None,
        Some(s) if s > 0 => Some(s as u64),
        Some(s) => return Err(primitive_error(P, Some("span"), &format!("must be a positive number of bp, not {s}"))),
    };
    let inverse = match o.choice("inverse", &["scooby", "exact"])?.as_deref() {
        Some("exact") => Inverse::Exact,
        _ => Inverse::Scooby,
    };
    let opts = ProfileTrackOptions {
        tracks: track_option(o)?,
        span,
        predict: PredictOptions { rc_average: o.bool("rc_average")?.unwrap_or(true), inverse, ..Default::default() },
    };
    let p = profile_tracks(net, &genome.0, cov, &locus, &t, &labels, names.len(), &opts, &cancel_token(host))
        .map_err(in_primitive(P))?;
    let drawn: Vec<Gene> = genes.as_ref().map_or_else(Vec::new, |g| {
        g.0.overlapping(&p.view.chrom, p.view.start, p.view.end).into_iter().cloned().collect()
    });
    let title = match o.string("title")? {
        Some(t) => t,
        None => {
            let what = match &locus {
                Locus::Gene(g) => g.name.clone(),
                Locus::Region(r) => r.to_string(),
            };
            format!("{what}: observed (grey) vs predicted pseudobulk, counts per {}-bp bin", p.bin_size)
        }
    };
    let fig = p.figure(&names, drawn, &title).map_err(in_primitive(P))?;
    finish(P, fig, o)
}

pub fn register(reg: &mut Registrar) {
    let doc = doc();
    let specs: Arc<Vec<OptSpec>> = Arc::new(doc.options.clone());
    reg.docs.add(doc);
    let (host, s) = (reg.host.clone(), specs.clone());
    reg.engine.register_fn(
        P,
        move |m: &mut ScoobyModel,
              g: Dynamic,
              c: CoverageValue,
              what: String,
              x: Matrix,
              map: Map|
              -> ScriptResult<FigureValue> { run(&host, m, g, c, what, x, &Options::new(P, map, &s)?) },
    );
    let host = reg.host.clone();
    reg.engine.register_fn(
        P,
        move |m: &mut ScoobyModel,
              g: Dynamic,
              c: CoverageValue,
              what: String,
              x: Matrix|
              -> ScriptResult<FigureValue> { run(&host, m, g, c, what, x, &Options::empty(P, &specs)) },
    );
}
