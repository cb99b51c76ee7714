//! `motif_deletion(model: ScoobyModel, motifs, genome, cell_states, options)`: scooby's TF motif deletion — each
//! motif's sites in the genes' input windows overwritten with seeded random bases, per-cell scores
//! (`gscript_runtime::profile::motif_deletion`).

use std::sync::Arc;

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, Registrar};
use gscript_runtime::models::profile::CellProfileModel;
use gscript_runtime::profile::{motif_deletion, MotifDeletionOptions, PredictOptions};

use super::gene_counts::gene_list;
use super::predict::cell_rows;
use super::train::{genome_arg, states_tensor, EXAMPLE_SETUP};
use super::variant_effect::genes_table;
use super::ScoobyModel;
use crate::bridge::{cancel_token, in_primitive, ScriptResult};
use crate::interpret::motifs::motif_list;
use crate::values::{Column, Matrix, Table};

fn doc() -> FnDoc {
    FnDoc::method(
        "ScoobyModel",
        "motif_deletion",
        "scooby",
        "motif_deletion(model: ScoobyModel, motifs: MotifSet | Motif, genome: Genome | string, cell_states: Matrix, options: map) -> map",
        "TF motif deletion as in scooby's Figure 3: each motif's sites in the genes' input windows overwritten with random bases; per-cell scores of the loss in predicted expression.",
    )
    .details(
        "As scooby_reproducibility scripts/inference_motif_deletions/neurips/parallel_inference.py and \
         notebooks/figure3/Figure3.ipynb. Each gene's window is centred on its exon span; its counts are the \
         sense-strand RNA over the whole exon span (scooby's span=True; minus-strand genes reverse-complemented). The \
         motif's sites in the gene's input window are found on both strands (p-value ≤ p, the FIMO-style scan of \
         scan_motifs); replacement r (seed + r) writes uniformly random bases, the last position the motif's consensus \
         base (tangermeme's randomize(start=0, end=len−1)), over every site from its forward-strand start; counts are \
         averaged over the replacements (a gene without a site keeps its reference counts). Per cell: size factors \
         sf = Σ_genes reference counts, m their median; score = mean over genes of log2(ref·m/sf + 1) − \
         log2(alt·m/sf + 1), both with the reference size factors: positive where deleting the motif lowers \
         expression. Returns #{scores: Matrix cells × motifs (columns: motif ids), sites: Table (motif, gene, chrom, \
         start, end (0-based), strand, p_value), replacements: #{motif id: [bases per replacement]}, reference: Matrix \
         genes × cells of reference counts}. Cost: per gene one prediction plus one per replacement for each motif with \
         a site (two trunk passes each with rc_average). In a process group (gscript launch) the genes are split across \
         the ranks and every rank returns the full result.",
    )
    .opt("genes", "Genes", OptDefault::None, "the genes (load_genes); required")
    .opt("names", "array", OptDefault::None, "names or ids of the genes of `genes` to use (default all)")
    .opt("replacements", "int", OptDefault::Int(10), "random replacements averaged per motif (at least 1)")
    .opt("p", "float", OptDefault::Float(1e-4), "largest p-value of a site, in (0, 1)")
    .opt("seed", "int", OptDefault::Int(0), "replacement r uses seed + r")
    .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
    .opt("cells", "array", OptDefault::None, "rows of cell_states to score (default all)")
    .example(&format!(
        "{EXAMPLE_SETUP}let genes = load_genes(sim.gtf);\nlet motifs = jaspar_motifs().select([\"GATA1\"]);\n\
         let r = motif_deletion(m, motifs, sim.genome, states, #{{genes: genes, replacements: 2, cells: [0, 1, 2]}});\n\
         show(r.scores);\nshow(r.sites);"
    ))
}

fn run(
    host: &Arc<Host>,
    model: &ScoobyModel,
    motifs: Dynamic,
    genome: Dynamic,
    states: Matrix,
    o: &Options,
) -> ScriptResult<Map> {
    const P: &str = "motif_deletion";
    let motifs = motif_list(P, &motifs)?;
    let genome = genome_arg(P, &genome)?;
    let table = genes_table(P, o)?;
    let genes = gene_list(P, &table, o)?;
    let replacements = o.int("replacements")?.unwrap_or(10);
    if replacements < 1 {
        return Err(primitive_error(P, Some("replacements"), &format!("is {replacements}; it must be at least 1")));
    }
    let p = o.float("p")?.unwrap_or(1e-4);
    if !(p > 0.0 && p < 1.0) {
        return Err(primitive_error(P, Some("p"), &format!("is {p}; a p-value threshold must lie in (0, 1)")));
    }
    let seed = o.int("seed")?.unwrap_or(0);
    if seed < 0 {
        return Err(primitive_error(P, Some("seed"), &format!("is {seed}; it must be non-negative")));
    }
    let opts = MotifDeletionOptions {
        replacements: replacements as usize,
        p,
        seed: seed as u64,
        predict: PredictOptions { rc_average: o.bool("rc_average")?.unwrap_or(true), ..Default::default() },
    };
    let st = model.lock();
    let net = &st.net;
    let t = states_tensor(P, &states, net.state_dim(), None)?;
    let (cells, names) = cell_rows(P, o, &states)?;
    let (shard, mut bar) = super::sharded_progress(host, P, "motif deletion", genes.len())?;
    let cancel = cancel_token(host);
    let progress = |i: usize| bar.update(i as u64 + 1, "");
    let r = motif_deletion(net, &genome.0, &motifs, &genes, &t, &cells, &opts, &cancel, progress, shard.as_ref())
        .map_err(in_primitive(P))?;
    bar.finish(&format!("{} motifs × {} genes, {} sites", motifs.len(), genes.len(), r.sites.len()));
    let (nc, nm) = (cells.len(), motifs.len());
    let ids: Vec<String> = motifs.iter().map(|m| m.id.clone()).collect();
    let scores: Vec<f32> = (0..nc).flat_map(|c| r.scores.iter().map(move |s| s[c] as f32)).collect();
    let scores = Matrix::new(nc, nm, scores).with_row_names(names.clone()).with_col_names(ids.clone());
    let reference = Matrix::new(genes.len(), nc, r.reference.iter().map(|&x| x as f32).collect())
        .with_row_names(genes.iter().map(|g| g.name.clone()).collect())
        .with_col_names(names);
    let s = &r.sites;
    let sites = Table::new(
        "motif sites",
        vec![
            ("motif".into(), Column::Text(s.iter().map(|x| ids[x.motif].clone()).collect())),
            ("gene".into(), Column::Text(s.iter().map(|x| genes[x.gene].name.clone()).collect())),
            ("chrom".into(), Column::Text(s.iter().map(|x| genes[x.gene].chrom.clone()).collect())),
            ("start".into(), Column::Int(s.iter().map(|x| x.start).collect())),
            ("end".into(), Column::Int(s.iter().map(|x| x.end).collect())),
            ("strand".into(), Column::Text(s.iter().map(|x| x.strand.as_char().to_string()).collect())),
            ("p_value".into(), Column::Float(s.iter().map(|x| x.p_value).collect())),
        ],
    );
    let mut reps = Map::new();
    for (id, bases) in ids.iter().zip(&r.replacements) {
        reps.insert(id.as_str().into(), Dynamic::from_array(bases.iter().map(|b| Dynamic::from(b.clone())).collect()));
    }
    let mut out = Map::new();
    out.insert("scores".into(), Dynamic::from(scores));
    out.insert("sites".into(), Dynamic::from(sites));
    out.insert("replacements".into(), Dynamic::from_map(reps));
    out.insert("reference".into(), Dynamic::from(reference));
    Ok(out)
}

pub fn register(reg: &mut Registrar) {
    let doc = doc();
    let specs = Arc::new(doc.options.clone());
    reg.docs.add(doc);
    let host = reg.host.clone();
    let s = specs.clone();
    reg.engine.register_fn(
        "motif_deletion",
        move |m: &mut ScoobyModel, motifs: Dynamic, g: Dynamic, x: Matrix, map: Map| -> ScriptResult<Map> {
            run(&host, m, motifs, g, x, &Options::new("motif_deletion", map, &s)?)
        },
    );
    let host = reg.host.clone();
    reg.engine.register_fn(
        "motif_deletion",
        move |m: &mut ScoobyModel, motifs: Dynamic, g: Dynamic, x: Matrix| -> ScriptResult<Map> {
            run(&host, m, motifs, g, x, &Options::empty("motif_deletion", &specs))
        },
    );
}
