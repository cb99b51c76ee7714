//! `ScoobyModel.gene_counts` and `evaluate_profiles`: scooby's gene-level predictions (sense-strand RNA summed over a
//! gene's exon bins in its gene-centred window; `gscript_runtime::profile::predict::gene_counts`) and its evaluation
//! against the observed coverage (Pearson of log2(x + 1) across genes and across cell types;
//! `gscript_runtime::profile::evaluate`), with a predicted-vs-observed scatter per cell type.
//!
//! Sharded (docs/scaling.md): in a process group the genes are split into contiguous shards in rank order, each rank
//! counts its own, and the per-gene rows are all-gathered so every rank returns the full result.

use std::sync::Arc;

use gscript_lang::options::closest;
use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, OptSpec, Options, Registrar};
use gscript_runtime::genes::Gene;
use gscript_runtime::interpret::sharded::Shard;
use gscript_runtime::models::profile::CellProfileModel;
use gscript_runtime::plot::{EmbeddingColor, EmbeddingOptions, Figure};
use gscript_runtime::profile::evaluate::{group_sizes, observed_gene_counts, ProfileEvaluation};
use gscript_runtime::profile::{gene_counts, CellSelection, Inverse, PredictOptions};
use tch::{Kind, Tensor};

use super::predict::selection;
use super::train::{genome_arg, states_tensor, EXAMPLE_SETUP};
use super::ScoobyModel;
use crate::bridge::{cancel_token, in_primitive, ScriptResult};
use crate::coverage::genes::GenesValue;
use crate::coverage::CoverageValue;
use crate::plot::FigureValue;
use crate::values::Matrix;

/// The genes to count: every gene of the table, or those `names` lists (ids or names, in that order).
pub(super) fn gene_list<'a>(primitive: &str, table: &'a GenesValue, o: &Options) -> ScriptResult<Vec<&'a Gene>> {
    let t = &table.0;
    let Some(names) = crate::coverage::names_option(primitive, o, "names")? else {
        if t.genes.is_empty() {
            return Err(primitive_error(primitive, Some("genes"), "has no gene"));
        }
        return Ok(t.genes.iter().collect());
    };
    if names.is_empty() {
        return Err(primitive_error(primitive, Some("names"), "is empty"));
    }
    names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            t.find(n).map_err(|e| {
                let known: Vec<&str> = t.genes.iter().flat_map(|g| [g.name.as_str(), g.id.as_str()]).collect();
                let hint = closest(n, &known).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
                let msg = match e {
                    gscript_runtime::RuntimeError::InvalidArgument { message, .. } => message,
                    other => other.to_string(),
                };
                primitive_error(primitive, Some("names"), &format!("element {k}: {msg}{hint}"))
            })
        })
        .collect()
}

fn predict_options(o: &Options) -> ScriptResult<PredictOptions> {
    let inverse = match o.choice("inverse", &["scooby", "exact"])?.as_deref() {
        Some("exact") => Inverse::Exact,
        _ => Inverse::Scooby,
    };
    Ok(PredictOptions { rc_average: o.bool("rc_average")?.unwrap_or(true), inverse, ..Default::default() })
}

/// `parts` row-major `genes × width` arrays computed by `rows` for a range of genes: the whole range outside a process
/// group; inside one, this rank's contiguous shard, all-gathered in rank order.
fn sharded_rows(
    primitive: &str,
    n_genes: usize,
    width: usize,
    parts: usize,
    rows: impl Fn(std::ops::Range<usize>) -> ScriptResult<Vec<Vec<f64>>>,
) -> ScriptResult<Vec<Vec<f64>>> {
    let Some(shard) = Shard::from_env().map_err(in_primitive(primitive))? else {
        return rows(0..n_genes);
    };
    let mine = shard.range(n_genes);
    let len = mine.len() as i64;
    let local = if len > 0 { rows(mine)? } else { vec![Vec::new(); parts] };
    local
        .iter()
        .map(|part| {
            let t = Tensor::from_slice(part).to_kind(Kind::Double).reshape([len, width as i64]);
            let all = shard.gather_rows(&t, n_genes, 1).map_err(in_primitive(primitive))?;
            Vec::<f64>::try_from(all.reshape([-1])).map_err(in_primitive(primitive))
        })
        .collect()
}

fn gene_counts_doc() -> FnDoc {
    FnDoc::method(
        "ScoobyModel",
        "gene_counts",
        "scooby",
        "model.gene_counts(genome: Genome | string, genes: Genes, cell_states: Matrix, options?: map) -> Matrix",
        "Predicted gene counts, genes × cells (or × groups): the sense-strand RNA summed over each gene's exon bins in its gene-centred window.",
    )
    .details(
        "scooby's gene-level prediction (`get_gene_slice_and_strand`, notebooks `Evaluate_Model.ipynb`): for each gene \
         the model's output window (bins × 32 bp) centred on the middle of its exon span (genes.window with the output \
         length, kept inside the chromosome); the trunk runs once per gene (twice with rc_average) and every cell is \
         decoded from that embedding in chunks; the RNA track of the gene's strand (rna_minus for − genes) in reads \
         (inverse \"scooby\": scooby's `undo_squashed_scale`), summed over the bins genes.exon_bins gives (span: true, the \
         whole exon span). Rows are the gene names, columns the cells (row names of cell_states, else row indices) or, \
         with `groups`, the group labels (each group's count the sum over its cells). `names` picks genes of the table \
         by id or name. In a process group (gscript launch) the genes are split across the ranks and every rank \
         returns the full matrix.",
    )
    .opt("names", "array", OptDefault::None, "gene ids or names of the table to count, in this order (default all)")
    .opt("span", "bool", OptDefault::Bool(false), "sum over the whole exon span instead of the exon bins")
    .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
    .opt("inverse", "string", OptDefault::Str("scooby"), "RNA inverse: \"scooby\" or \"exact\"")
    .opt("cells", "array", OptDefault::None, "rows of cell_states to predict (default all)")
    .opt("groups", "array", OptDefault::None, "a group label per row of cell_states: one summed count per group")
    .example(&format!(
        "{EXAMPLE_SETUP}let genes = load_genes(sim.gtf);\nlet g = m.gene_counts(sim.genome, genes, states, #{{groups: cov.cells().map(|b| sim.truth.cell_types[b]), rc_average: false}});\nprint(g.shape());\nprint(g.row_names());"
    ))
}

fn run_gene_counts(
    host: &Arc<Host>,
    model: &ScoobyModel,
    genome: Dynamic,
    genes: GenesValue,
    states: Matrix,
    o: &Options,
) -> ScriptResult<Matrix> {
    const P: &str = "gene_counts";
    let genome = genome_arg(P, &genome)?;
    let list = gene_list(P, &genes, o)?;
    let st = model.lock();
    let net = &st.net;
    let t = states_tensor(P, &states, net.state_dim(), None)?;
    let (sel, names) = selection(P, o, &states)?;
    let span = o.bool("span")?.unwrap_or(false);
    let opts = predict_options(o)?;
    let cancel = cancel_token(host);
    let np = sel.n_profiles();
    let rows = sharded_rows(P, list.len(), np, 1, |r| {
        let v = gene_counts(net, &genome.0, &list[r], &t, &sel, span, &opts, &cancel).map_err(in_primitive(P))?;
        Ok(vec![v])
    })?;
    let data = rows[0].iter().map(|&x| x as f32).collect();
    Ok(Matrix::new(list.len(), np, data)
        .with_row_names(list.iter().map(|g| g.name.clone()).collect())
        .with_col_names(names))
}

fn evaluate_doc() -> FnDoc {
    FnDoc::new(
        "evaluate_profiles",
        "scooby",
        "evaluate_profiles(model: ScoobyModel, coverage: Coverage, genome: Genome | string, genes: Genes, cell_states: Matrix, options: map) -> map",
        "scooby's gene-level evaluation: predicted vs observed pseudobulk gene counts per cell type, Pearson of log2(x + 1) across genes and across cell types, and a scatter figure.",
    )
    .details(
        "As scooby's `Evaluate_Model.ipynb`: per group (`groups`, required: a label per cell in coverage.cells() order, \
         the rows of cell_states; () leaves a cell out) the predicted counts are model.gene_counts with those groups and \
         the observed ones the coverage's pseudobulk (RNA in reads, the raw bin sums of coverage.pseudobulk) of the gene's \
         sense strand over the same exon bins of the same window. Both are divided by the group's number of cells (mean \
         counts per cell) before log2(x + 1). Returns #{groups, genes, observed, predicted (Matrix genes × groups, mean \
         per cell), across_genes (a Pearson r per group, over genes), across_types (an r per gene, over groups), \
         mean_across_genes, mean_across_types, figure}; an undefined r (a constant sample) is (). The figure plots \
         log2(predicted + 1) against log2(observed + 1), one colour per cell type with its r in the legend. In a \
         process group the genes are split across the ranks and every rank returns the full result.",
    )
    .opt("groups", "array", OptDefault::None, "a cell-type label per cell (required)")
    .opt("names", "array", OptDefault::None, "gene ids or names of the table to evaluate, in this order (default all)")
    .opt("span", "bool", OptDefault::Bool(false), "sum over the whole exon span instead of the exon bins")
    .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
    .opt("inverse", "string", OptDefault::Str("scooby"), "RNA inverse: \"scooby\" or \"exact\"")
    .example(&format!(
        "{EXAMPLE_SETUP}let genes = load_genes(sim.gtf);\nlet ev = evaluate_profiles(m, cov, sim.genome, genes, states, #{{groups: cov.cells().map(|b| sim.truth.cell_types[b]), rc_average: false}});\nprint(ev.mean_across_genes);\nprint(ev.observed.shape());\nshow(ev.figure);"
    ))
}

fn r_value(r: Option<f64>) -> Dynamic {
    r.map_or(Dynamic::UNIT, Dynamic::from)
}

/// The predicted-vs-observed scatter: a point per gene and group, coloured by group with its across-gene r.
fn scatter(ev: &ProfileEvaluation, groups: &[String]) -> ScriptResult<Figure> {
    let ng = ev.n_groups;
    let label = |g: usize| match ev.across_genes[g] {
        Some(r) => format!("{} (r {r:.2})", groups[g]),
        None => format!("{} (r n/a)", groups[g]),
    };
    let (mut x, mut y, mut colour) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ev.genes.len() {
        for g in 0..ng {
            x.push((ev.observed[i * ng + g] + 1.0).log2());
            y.push((ev.predicted[i * ng + g] + 1.0).log2());
            colour.push(label(g));
        }
    }
    let mean = ev.mean_across_genes().map_or("n/a".to_string(), |r| format!("{r:.2}"));
    let opts = EmbeddingOptions {
        title: format!("gene counts per cell, {} genes (mean r across genes {mean})", ev.genes.len()),
        x_label: "observed log2(count + 1)".into(),
        y_label: "predicted log2(count + 1)".into(),
        color_label: "cell type".into(),
        ..Default::default()
    };
    Figure::embedding_xy(&x, &y, EmbeddingColor::Categorical(colour), opts).map_err(in_primitive("evaluate_profiles"))
}

#[allow(clippy::too_many_arguments)]
fn run_evaluate(
    host: &Arc<Host>,
    model: ScoobyModel,
    coverage: CoverageValue,
    genome: Dynamic,
    genes: GenesValue,
    states: Matrix,
    o: &Options,
) -> ScriptResult<Map> {
    const P: &str = "evaluate_profiles";
    if !o.has("groups") {
        return Err(primitive_error(P, Some("groups"), "is required: a cell-type label per cell of the coverage"));
    }
    let genome = genome_arg(P, &genome)?;
    let list = gene_list(P, &genes, o)?;
    let cov = &coverage.0;
    let st = model.lock();
    let net = &st.net;
    let t = states_tensor(P, &states, net.state_dim(), Some(cov.n_cells()))?;
    let (sel, names) = selection(P, o, &states)?;
    let CellSelection::Groups { labels, n_groups } = &sel else {
        return Err(primitive_error(P, Some("groups"), "is required"));
    };
    let span = o.bool("span")?.unwrap_or(false);
    let opts = predict_options(o)?;
    let cancel = cancel_token(host);
    let rows = sharded_rows(P, list.len(), *n_groups, 2, |r| {
        let genes = &list[r];
        let p = gene_counts(net, &genome.0, genes, &t, &sel, span, &opts, &cancel).map_err(in_primitive(P))?;
        let o = observed_gene_counts(net, &genome.0, cov, genes, labels, *n_groups, span).map_err(in_primitive(P))?;
        Ok(vec![p, o])
    })?;
    let gene_names: Vec<String> = list.iter().map(|g| g.name.clone()).collect();
    let sizes = group_sizes(labels, *n_groups);
    let ev = ProfileEvaluation::from_counts(gene_names.clone(), &sizes, &rows[0], &rows[1]).map_err(in_primitive(P))?;
    let fig = scatter(&ev, &names)?;
    let matrix = |v: &[f64]| {
        Matrix::new(list.len(), *n_groups, v.iter().map(|&x| x as f32).collect())
            .with_row_names(gene_names.clone())
            .with_col_names(names.clone())
    };
    let text = |v: &[String]| -> Array { v.iter().map(|s| Dynamic::from(s.clone())).collect() };
    let mut m = Map::new();
    m.insert("groups".into(), text(&names).into());
    m.insert("genes".into(), text(&gene_names).into());
    m.insert("observed".into(), Dynamic::from(matrix(&ev.observed)));
    m.insert("predicted".into(), Dynamic::from(matrix(&ev.predicted)));
    m.insert("across_genes".into(), ev.across_genes.iter().map(|&r| r_value(r)).collect::<Array>().into());
    m.insert("across_types".into(), ev.across_types.iter().map(|&r| r_value(r)).collect::<Array>().into());
    m.insert("mean_across_genes".into(), r_value(ev.mean_across_genes()));
    m.insert("mean_across_types".into(), r_value(ev.mean_across_types()));
    m.insert("figure".into(), Dynamic::from(FigureValue(Arc::new(fig))));
    Ok(m)
}

pub fn register(reg: &mut Registrar) {
    let doc = gene_counts_doc();
    let specs: Arc<Vec<OptSpec>> = Arc::new(doc.options.clone());
    reg.docs.add(doc);
    let (host, s) = (reg.host.clone(), specs.clone());
    reg.engine.register_fn(
        "gene_counts",
        move |m: &mut ScoobyModel, g: Dynamic, genes: GenesValue, x: Matrix, map: Map| -> ScriptResult<Matrix> {
            run_gene_counts(&host, m, g, genes, x, &Options::new("gene_counts", map, &s)?)
        },
    );
    let host = reg.host.clone();
    reg.engine.register_fn(
        "gene_counts",
        move |m: &mut ScoobyModel, g: Dynamic, genes: GenesValue, x: Matrix| -> ScriptResult<Matrix> {
            run_gene_counts(&host, m, g, genes, x, &Options::empty("gene_counts", &specs))
        },
    );

    let doc = evaluate_doc();
    let specs: Arc<Vec<OptSpec>> = Arc::new(doc.options.clone());
    reg.docs.add(doc);
    let host = reg.host.clone();
    reg.engine.register_fn(
        "evaluate_profiles",
        move |m: ScoobyModel,
              c: CoverageValue,
              g: Dynamic,
              genes: GenesValue,
              x: Matrix,
              map: Map|
              -> ScriptResult<Map> {
            run_evaluate(&host, m, c, g, genes, x, &Options::new("evaluate_profiles", map, &specs)?)
        },
    );
}
