//! `variant_effect(model: ScoobyModel, variants, genome, cell_states, options)`: scooby's variant effects on predicted
//! gene counts per cell or per group of cells (`gscript_runtime::profile::variant_effect`). The same name as the
//! scBasset and Borzoi forms: Rhai picks this one by the model's type.

use std::sync::Arc;

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, Registrar};
use gscript_runtime::interpret::VariantStatus;
use gscript_runtime::models::profile::CellProfileModel;
use gscript_runtime::profile::{gene_variant_effects, CellSelection, PredictOptions};

use super::gene_counts::gene_list;
use super::predict::selection;
use super::train::{genome_arg, states_tensor, EXAMPLE_SETUP};
use super::ScoobyModel;
use crate::bridge::{cancel_token, in_primitive, ScriptResult};
use crate::coverage::genes::GenesValue;
use crate::interpret::variants::{variants_of, VariantData, VariantEffects};
use crate::values::Matrix;

/// The script lines after [`EXAMPLE_SETUP`] that load the simulation's genes and pick a variant near the first
/// gene's TSS (its REF base read from the genome).
pub(crate) const VARIANT_SETUP: &str = "let genes = load_genes(sim.gtf);\n\
    let fa = load_genome(sim.genome);\n\
    let g = genes.get(genes.names()[0]);\n\
    let pos = g.tss + 20;\n\
    let base = fa.fetch(`${g.chrom}:${pos - 1}-${pos}`).to_upper();\n\
    let alt = if base == \"A\" { \"C\" } else { \"A\" };\n";

fn doc() -> FnDoc {
    FnDoc::method(
        "ScoobyModel",
        "variant_effect",
        "scooby",
        "variant_effect(model: ScoobyModel, variants: string | array, genome: Genome | string, cell_states: Matrix, options: map) -> VariantEffects",
        "Change in scooby's predicted gene counts from REF to ALT, ln(ALT + 1) − ln(REF + 1), per gene near each variant and per cell (or group).",
    )
    .details(
        "As scooby's eQTL scoring (scooby_reproducibility scripts/inference_eqtls/ScoobyVariant.py): every gene of `genes` \
         whose input window (the model's input length centred on its TSS, the output window moved inside the \
         chromosome) holds the variant's REF allele is predicted from the reference and from the sequence with ALT \
         substituted (indels keep the input length; the bases after shift). A minus-strand gene's input is \
         reverse-complemented and read on the plus channel with its bins reversed. Counts are the sense-strand RNA \
         summed over the gene's exon bins (span: true: its exon span), per cell, or per group of cells summed before the \
         logarithm (`groups`, scooby's per-cell-type scores); reverse-complement averaging in the model's space by \
         default. `variants`: a VCF file or `chr:pos:ref:alt` strings (1-based). A REF allele that does not match \
         the genome, or an unknown chromosome, is an error naming the variant. The result has one row per (variant, \
         gene) pair, and one with an empty gene and effect 0 for a variant in no gene's window: result.table() \
         (id, chrom, pos, ref, alt, status, gene, mean_effect, max_abs_effect, effect:<group> columns with groups), \
         result.effects() rows × cells (or groups). Two or four trunk passes per pair (the reference once per gene). In a \
         process group (gscript launch) the variants are split across the ranks and every rank returns the full result.",
    )
    .opt("genes", "Genes", OptDefault::None, "the genes to score (load_genes); required")
    .opt("names", "array", OptDefault::None, "names or ids of the genes of `genes` to score (default all)")
    .opt("span", "bool", OptDefault::Bool(false), "sum over the gene's whole exon span instead of its exons")
    .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
    .opt("cells", "array", OptDefault::None, "rows of cell_states to score (default all)")
    .opt("groups", "array", OptDefault::None, "a group label per row of cell_states: counts summed per group")
    .example(&format!(
        "{EXAMPLE_SETUP}{VARIANT_SETUP}let ve = variant_effect(m, `${{g.chrom}}:${{pos}}:${{base}}:${{alt}}`, sim.genome, states, #{{genes: genes, groups: cov.cells().map(|b| sim.truth.cell_types[b])}});\nshow(ve.table());"
    ))
}

/// The Genes table of the `genes` option (required); `names` then picks genes from it ([`gene_list`]).
pub(crate) fn genes_table(primitive: &str, o: &Options) -> ScriptResult<GenesValue> {
    crate::coverage::tracks::genes_option(primitive, o)?
        .ok_or_else(|| primitive_error(primitive, Some("genes"), "is required: a Genes table (load_genes)"))
}

fn run(
    host: &Arc<Host>,
    model: &ScoobyModel,
    variants: Dynamic,
    genome: Dynamic,
    states: Matrix,
    o: &Options,
) -> ScriptResult<VariantEffects> {
    const P: &str = "variant_effect";
    let variants = variants_of(P, &variants)?;
    let genome = genome_arg(P, &genome)?;
    let table = genes_table(P, o)?;
    let genes = gene_list(P, &table, o)?;
    let span = o.bool("span")?.unwrap_or(false);
    let opts = PredictOptions { rc_average: o.bool("rc_average")?.unwrap_or(true), ..Default::default() };
    let st = model.lock();
    let net = &st.net;
    let t = states_tensor(P, &states, net.state_dim(), None)?;
    let (sel, names) = selection(P, o, &states)?;
    let (shard, mut bar) = super::sharded_progress(host, P, "variant effects", variants.len())?;
    let cancel = cancel_token(host);
    let progress = |i: usize| bar.update(i as u64 + 1, "");
    let r = gene_variant_effects(
        net,
        &genome.0,
        &variants,
        &genes,
        &t,
        &sel,
        span,
        &opts,
        &cancel,
        progress,
        shard.as_ref(),
    )
    .map_err(in_primitive(P))?;
    bar.finish(&format!("{} variants, {} variant-gene pairs", variants.len(), r.len()));
    let k = names.len();
    let mut effects = Vec::with_capacity(r.len() * k);
    let (mut mean, mut max_abs) = (Vec::new(), Vec::new());
    for e in &r {
        let lf = e.log_fold(k);
        mean.push(lf.iter().sum::<f64>() / k as f64);
        max_abs.push(lf.iter().fold(0.0f64, |m, x| m.max(x.abs())));
        effects.extend(lf.iter().map(|&x| x as f32));
    }
    Ok(VariantEffects(Arc::new(VariantData {
        variants: r.iter().map(|e| variants[e.variant].clone()).collect(),
        status: vec![VariantStatus::Ok; r.len()],
        peaks: r.iter().map(|e| e.gene.map_or_else(String::new, |g| genes[g].name.clone())).collect(),
        window_label: "gene",
        names,
        effects,
        mean,
        max_abs,
        scale: "ln_fold".into(),
        grouped: matches!(sel, CellSelection::Groups { .. }),
    })))
}

pub fn register(reg: &mut Registrar) {
    let doc = doc();
    let specs = Arc::new(doc.options.clone());
    reg.docs.add(doc);
    let host = reg.host.clone();
    let s = specs.clone();
    reg.engine.register_fn(
        "variant_effect",
        move |m: &mut ScoobyModel, v: Dynamic, g: Dynamic, x: Matrix, map: Map| -> ScriptResult<VariantEffects> {
            run(&host, m, v, g, x, &Options::new("variant_effect", map, &s)?)
        },
    );
    reg.engine.register_fn(
        "variant_effect",
        move |_: &mut ScoobyModel, _: Dynamic, _: Dynamic, _: Map| -> ScriptResult<VariantEffects> {
            Err(primitive_error(
                "variant_effect",
                Some("cell_states"),
                "a ScoobyModel needs the cells' state embeddings: variant_effect(model, variants, genome, cell_states, #{genes: genes})",
            ))
        },
    );
    let host = reg.host.clone();
    reg.engine.register_fn(
        "variant_effect",
        move |m: &mut ScoobyModel, v: Dynamic, g: Dynamic, x: Matrix| -> ScriptResult<VariantEffects> {
            run(&host, m, v, g, x, &Options::empty("variant_effect", &specs))
        },
    );
}
