//! scooby inference sharded by `gscript launch --nproc 2` (Gloo over loopback) returns the single-process result:
//! `model.predict` split over the cells (600 cells: chunks of 256, so one rank decodes one chunk and the other two)
//! and over the groups' members, `variant_effect` over the variants (one variant: rank 0 has none; then five), and
//! `motif_deletion` over the genes. The model is trained once by one process and imported by both runs (a
//! data-parallel training is not the single-process one, docs/scaling.md).

use std::time::Duration;

mod common;
use common::process::{gscript, labelled_rows};

const SIM: &str = "let sim = simulate_multiome(\"mo\", #{overwrite: true, cells: 12, cell_types: 3, chromosomes: 1, \
    chrom_length: 90000, genes: 4, max_gene_length: 8000, fragments_per_cell: 200, umis_per_cell: 200, window: 4096, \
    seed: 3});\n\
    let genes = load_genes(sim.gtf);\n\
    let fa = load_genome(sim.genome);\n";

#[test]
fn two_ranks_shard_scooby_prediction_variants_and_motif_deletion_to_the_single_process_result() {
    let dir = tempfile::tempdir().unwrap();
    let train = format!(
        "{SIM}let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{{genome: sim.genome}}));\n\
         let types = sim.truth.types;\n\
         let states = matrix(cov.cells().map(|b| {{ let t = sim.truth.cell_types[b]; types.map(|x| if x == t {{ 1.0 }} else {{ 0.0 }}) }}));\n\
         let m = scooby_model(#{{state_dim: 3, seed: 1}});\n\
         m.train(cov, sim.genome, [\"chr1:0-4096\", \"chr1:8192-12288\", \"chr1:20480-24576\", \"chr1:40000-44096\"], \
         states, #{{epochs: 15, cells_per_sequence: 8, warmup_steps: 1, decay_steps: 100}});\n\
         m.save(\"m.safetensors\");\n"
    );
    std::fs::write(dir.path().join("train.gscript"), train).unwrap();
    gscript(&["run", "train.gscript"], dir.path(), Duration::from_secs(120));
    // 600 cells with varied embeddings, groups of them (every tenth cell in none), 1 and then 3 variants near the
    // TSS of each gene plus one far from every gene, two motifs deleted from the 4 genes.
    let infer = format!(
        "{SIM}set_threads(1);\n\
         let m = import_scooby(\"m.safetensors\");\n\
         let rows = []; let labels = [];\n\
         for i in 0..600 {{ rows.push([(i % 5) * 0.25, (i % 3) * 0.5, (i % 7) * 0.125]); \
           labels.push(if i % 10 == 9 {{ () }} else {{ `g${{i % 4}}` }}); }}\n\
         let big = matrix(rows);\n\
         let p = m.predict(sim.genome, \"chr1:20000-20100\", big);\n\
         print(`shape ${{p.shape()}}`);\n\
         for b in [0, p.shape()[0] / 2, p.shape()[0] - 1] {{ print(`cells${{b}} ${{p.row(b)}}`); }}\n\
         let pg = m.predict(sim.genome, \"chr1:20000-20100\", big, #{{groups: labels, rc_average: false}});\n\
         for b in 0..pg.shape()[0] {{ print(`groups${{b}} ${{pg.row(b)}}`); }}\n\
         let vs = [];\n\
         for name in genes.names() {{ let g = genes.get(name); let pos = g.tss + 25; \
           let base = fa.fetch(`${{g.chrom}}:${{pos - 1}}-${{pos}}`).to_upper(); \
           vs.push(`${{g.chrom}}:${{pos}}:${{base}}:${{if base == \"A\" {{ \"C\" }} else {{ \"A\" }}}}`); }}\n\
         let fb = fa.fetch(\"chr1:89989-89990\").to_upper();\n\
         vs.push(`chr1:89990:${{fb}}:${{if fb == \"G\" {{ \"T\" }} else {{ \"G\" }}}}`);\n\
         let small = big.select_rows([0, 1, 2, 3, 4, 5]);\n\
         let one = variant_effect(m, vs[0], sim.genome, small, #{{genes: genes}});\n\
         print(`one ${{one.effects().row(0)}}`);\n\
         let ve = variant_effect(m, vs, sim.genome, small, #{{genes: genes}});\n\
         for i in 0..ve.effects().shape()[0] {{ print(`ve${{i}} ${{ve.effects().row(i)}}`); }}\n\
         let md = motif_deletion(m, jaspar_motifs().select([\"CTCF\", \"SPI1\"]), sim.genome, small, \
           #{{genes: genes, replacements: 2, p: 0.001}});\n\
         for i in 0..md.scores.shape()[0] {{ print(`score${{i}} ${{md.scores.row(i)}}`); }}\n\
         for i in 0..md.reference.shape()[0] {{ print(`ref${{i}} ${{md.reference.row(i)}}`); }}\n\
         print(`sites ${{md.sites.col(\"start\")}}`);\n\
         print(`sitep ${{md.sites.col(\"p_value\")}}`);\n"
    );
    std::fs::write(dir.path().join("infer.gscript"), infer).unwrap();
    let single = gscript(&["run", "infer.gscript"], dir.path(), Duration::from_secs(120));
    let sharded = gscript(&["launch", "--nproc", "2", "infer.gscript"], dir.path(), Duration::from_secs(180));
    let (one, two) = (String::from_utf8_lossy(&single.stdout), String::from_utf8_lossy(&sharded.stdout));
    let (r1, r2) = (labelled_rows(&one), labelled_rows(&two));
    assert_eq!(
        r1.iter().map(|r| &r.0).collect::<Vec<_>>(),
        r2.iter().map(|r| &r.0).collect::<Vec<_>>(),
        "{one}\n{two}"
    );
    let labels: Vec<&str> = r1.iter().map(|r| r.0.as_str()).collect();
    for want in ["shape", "cells0", "groups0", "one", "ve4", "score5", "ref3", "sites"] {
        assert!(labels.contains(&want), "{want} missing: {one}");
    }
    for ((label, a), (_, b)) in r1.iter().zip(&r2) {
        assert_eq!(a.len(), b.len(), "{label}");
        // Per-cell profiles, effects and sites are the single-process bits; group sums add in another order.
        let tol = if label.starts_with("groups") { 1e-5 } else { 0.0 };
        let scale = a.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * scale, "{label} column {j}: 1 rank {x} vs 2 ranks {y}");
        }
    }
    let sites = &r1.iter().find(|r| r.0 == "sites").unwrap().1;
    assert!(!sites.is_empty(), "no motif site: the deletion tested nothing");
    let effects = r1.iter().filter(|r| r.0.starts_with("ve")).count();
    assert!(effects >= 5, "{effects} variant-gene rows");
}
