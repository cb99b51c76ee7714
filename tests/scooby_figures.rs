//! scooby's predicted-vs-observed track figure through the language: `model.plot_profiles` around a gene (by name,
//! from load_genes' table) or a region, its rows (observed and predicted per group and track), the saved SVG, and
//! clear errors for bad input. The drawn values themselves are checked against independently summed per-cell
//! predictions and coverage in `gscript_runtime::profile::figure`'s unit tests.

mod common;
use common::{err, eval, session, strings};

/// A tiny multiome (4 genes on one chromosome) with one-hot cell-type states and an untrained tiny scooby.
const SETUP: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 24, cell_types: 3, chromosomes: 1, \
    chrom_length: 72000, genes: 4, max_gene_length: 8000, window: 4096, seed: 3});\n\
    let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{genome: sim.genome}));\n\
    let types = sim.truth.types;\n\
    let states = matrix(cov.cells().map(|b| { let t = sim.truth.cell_types[b]; types.map(|x| if x == t { 1.0 } else { 0.0 }) }));\n\
    let m = scooby_model(#{state_dim: 3, seed: 1});\n\
    let genes = load_genes(sim.gtf);\n\
    let groups = cov.cells().map(|b| sim.truth.cell_types[b]);\n";

#[test]
fn profiles_figure_draws_observed_and_predicted_rows_per_group_and_track() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SETUP);
    let names = strings(eval(&mut s, "genes.names()"));
    let gene = &names[0];
    let call = |opts: &str| format!("m.plot_profiles(sim.genome, cov, \"{gene}\", states, {opts}).to_string()");
    // default: the gene's sense strand and ATAC, observed + predicted, per cell type, with the gene under them
    let summary = eval(&mut s, &call("#{groups: groups, genes: genes, rc_average: false}")).to_string();
    assert!(summary.contains("12 tracks") && summary.contains("gene"), "{summary}");
    let summary = eval(
        &mut s,
        &call("#{groups: groups, genes: genes, tracks: [\"rna_plus\", \"rna_minus\", \"atac\"], span: 1000}"),
    )
    .to_string();
    assert!(summary.contains("18 tracks"), "{summary}");
    // without groups all cells form one group
    let summary = eval(&mut s, &call("#{genes: genes, rc_average: false}")).to_string();
    assert!(summary.contains("4 tracks"), "{summary}");
    // an RNA-only coverage: the sense strand alone
    let summary = eval(
        &mut s,
        &format!(
            "m.plot_profiles(sim.genome, load_rna_coverage(sim.bam), \"{gene}\", states, \
             #{{groups: groups, genes: genes, rc_average: false}}).to_string()"
        ),
    )
    .to_string();
    assert!(summary.contains("6 tracks"), "{summary}");
    // a region: every track of the model over the region's bins, no gene table needed
    let summary = eval(
        &mut s,
        "m.plot_profiles(sim.genome, cov, \"chr1:30000-32000\", states, #{groups: groups, rc_average: false}).to_string()",
    )
    .to_string();
    assert!(summary.contains("18 tracks") && summary.contains("chr1:29,976-32,024"), "{summary}");
    let svg = eval(
        &mut s,
        &format!(
            "let f = out_path(\"profiles.svg\"); m.plot_profiles(sim.genome, cov, \"{gene}\", states, \
             #{{groups: groups, genes: genes, rc_average: false, title: \"my gene\"}}).save(f); f"
        ),
    )
    .to_string();
    let svg = std::fs::read_to_string(svg).unwrap();
    for text in [gene.as_str(), "my gene", "observed", "predicted", "Genes"] {
        assert!(svg.contains(text), "{text} missing from the SVG");
    }
    for t in strings(eval(&mut s, "types")) {
        assert!(svg.contains(&t), "cell type {t} missing from the SVG");
    }
}

#[test]
fn profiles_figure_errors_name_the_argument() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SETUP);
    let gene = strings(eval(&mut s, "genes.names()"))[0].clone();
    let near = format!("{gene}x");
    let e = err(&mut s, &format!("m.plot_profiles(sim.genome, cov, \"{near}\", states, #{{genes: genes}})"));
    assert!(
        e.contains("plot_profiles: argument `gene_or_region`") && e.contains(&format!("did you mean `{gene}`")),
        "{e}"
    );
    let e = err(&mut s, &format!("m.plot_profiles(sim.genome, cov, \"{gene}\", states)"));
    assert!(e.contains("argument `gene_or_region`") && e.contains("genes: load_genes"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr9:100-200\", states)");
    assert!(e.contains("argument `gene_or_region`") && e.contains("chromosome `chr9` is not in the genome"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:80000-80100\", states)");
    assert!(e.contains("argument `gene_or_region`") && e.contains("past the end of chr1 (72000 bp)"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-9000\", states)");
    assert!(e.contains("argument `region`") && e.contains("longer than the model's output window (4096 bp)"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-2000\", states, #{groups: groups.extract(1)})");
    assert!(e.contains("plot_profiles: argument `groups`") && e.contains("23 labels"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-2000\", states.select_rows([0, 1]))");
    assert!(e.contains("argument `cell_states`") && e.contains("24 cells"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-2000\", states, #{span: 100000})");
    assert!(e.contains("argument `span`") && e.contains("4096 bp"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-2000\", states, #{span: 0})");
    assert!(e.contains("argument `span`") && e.contains("positive"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-2000\", states, #{tracks: [\"rna\"]})");
    assert!(e.contains("argument `tracks`") && e.contains("rna"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-2000\", states, #{spans: 10})");
    assert!(e.contains("unknown option `spans`") && e.contains("span"), "{e}");
    let e = err(&mut s, "m.plot_profiles(sim.genome, cov, \"chr1:1000-2000\", states, #{genes: 3})");
    assert!(e.contains("argument `genes`") && e.contains("load_genes"), "{e}");
}
