//! scooby gene counts and evaluation through the language: `model.gene_counts` against the sum of `model.predict`
//! over `genes.exon_bins` on the sense strand, `evaluate_profiles` against observed counts summed from
//! `coverage.window` and correlations recomputed here, both sharded over genes by `gscript launch --nproc 2`, and
//! clear errors for bad input.

use std::time::Duration;

mod common;
use common::process::{gscript, labelled_rows};
use common::{err, eval, floats, session, strings};

/// A tiny multiome (6 genes on one chromosome) with one-hot cell-type states and an untrained tiny scooby.
const SETUP: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 24, cell_types: 3, chromosomes: 1, \
    chrom_length: 100000, genes: 6, max_gene_length: 8000, window: 4096, seed: 2});\n\
    let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{genome: sim.genome}));\n\
    let types = sim.truth.types;\n\
    let states = matrix(cov.cells().map(|b| { let t = sim.truth.cell_types[b]; types.map(|x| if x == t { 1.0 } else { 0.0 }) }));\n\
    let m = scooby_model(#{state_dim: 3, seed: 1});\n\
    let genes = load_genes(sim.gtf);\n\
    let groups = cov.cells().map(|b| sim.truth.cell_types[b]);\n";

fn matrix_rows(s: &mut gscript_lang::Session, expr: &str) -> Vec<Vec<f64>> {
    let _ = eval(s, &format!("let __m = {expr};"));
    let rows = eval(s, "__m.shape()[0]").as_int().unwrap();
    (0..rows).map(|r| floats(eval(s, &format!("__m.row({r})")))).collect()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-3)
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    (n >= 2.0 && sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The counts of every gene by the independent route: `m.predict` over the gene's window (the model's 4,096-bp
/// output centred on the gene), summed over `genes.exon_bins` in the column of the gene's strand.
const BY_PREDICT: &str = "fn by_predict(m, sim, genes, states, opts, span) {\n\
    let out = [];\n\
    for name in genes.names() {\n\
        let w = genes.window(name, #{length: 4096, genome: sim.genome});\n\
        let p = m.predict(sim.genome, w, states, opts);\n\
        let bins = genes.exon_bins(name, w, #{span: span});\n\
        let t = if genes.get(name).strand == \"-\" { 1 } else { 0 };\n\
        let row = [];\n\
        for k in 0..(p.shape()[1] / 3) { let s = 0.0; for b in bins { s += p.get(b, k * 3 + t); } row.push(s); }\n\
        out.push(row);\n\
    }\n\
    matrix(out)\n\
}\n";

#[test]
fn gene_counts_are_predictions_summed_over_exon_bins_and_evaluation_recomputes() {
    let t0 = std::time::Instant::now();
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SETUP);
    let strands =
        strings(eval(&mut s, "{ let out = []; for n in genes.names() { out.push(genes.get(n).strand); } out }"));
    assert!(strands.iter().any(|x| x == "+") && strands.iter().any(|x| x == "-"), "both strands: {strands:?}");
    let n_genes = strands.len();

    for (opts, span) in [
        ("#{groups: groups, rc_average: false}", "false"),
        ("#{cells: [0, 5, 11]}", "false"),
        ("#{groups: groups, rc_average: false}", "true"),
    ] {
        let gc_opts = format!("{}, span: {span}}}", opts.trim_end_matches('}'));
        let _ = eval(&mut s, &format!("let gc = m.gene_counts(sim.genome, genes, states, {gc_opts});"));
        let got = matrix_rows(&mut s, "gc");
        let _ = eval(&mut s, &format!("{BY_PREDICT}let want = by_predict(m, sim, genes, states, {opts}, {span});"));
        let want = matrix_rows(&mut s, "want");
        assert_eq!(got.len(), n_genes);
        assert_eq!(strings(eval(&mut s, "gc.row_names()")), strings(eval(&mut s, "genes.names()")));
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.len(), b.len(), "{gc_opts}");
            for (j, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(close(*x, *y, 1e-4), "{gc_opts}: gene {i} profile {j}: gene_counts {x} vs predict {y}");
            }
        }
        assert!(got.iter().flatten().any(|&x| x > 0.0), "{gc_opts}: all-zero counts test nothing");
    }
    // Group labels as columns, in order of first appearance; a subset by name in the order given.
    let _ = eval(&mut s, "let gc = m.gene_counts(sim.genome, genes, states, #{groups: groups, rc_average: false});");
    let labels = strings(eval(&mut s, "gc.col_names()"));
    assert_eq!(
        labels,
        strings(eval(&mut s, "groups.reduce(|acc, t| if acc.contains(t) { acc } else { acc + [t] }, [])"))
    );
    let names = strings(eval(&mut s, "genes.names()"));
    let _ = eval(
        &mut s,
        "let two = m.gene_counts(sim.genome, genes, states, #{groups: groups, rc_average: false, names: [genes.names()[2], genes.ids()[0]]});",
    );
    assert_eq!(strings(eval(&mut s, "two.row_names()")), vec![names[2].clone(), names[0].clone()]);
    let all = matrix_rows(&mut s, "gc");
    assert_eq!(matrix_rows(&mut s, "two"), vec![all[2].clone(), all[0].clone()]);

    // evaluate_profiles: observed = the raw sense-strand coverage (coverage.window, transform: false) summed over
    // the exon bins and the group's cells, per cell of the group; predicted = gene_counts per cell of the group.
    let _ = eval(
        &mut s,
        "let ev = evaluate_profiles(m, cov, sim.genome, genes, states, #{groups: groups, rc_average: false});",
    );
    assert_eq!(strings(eval(&mut s, "ev.groups")), labels);
    let observed = matrix_rows(&mut s, "ev.observed");
    let predicted = matrix_rows(&mut s, "ev.predicted");
    let want_obs = matrix_rows(
        &mut s,
        "{ let out = [];\n\
         for name in genes.names() {\n\
             let w = genes.window(name, #{length: 4096, genome: sim.genome});\n\
             let track = if genes.get(name).strand == \"-\" { \"rna_minus\" } else { \"rna_plus\" };\n\
             let y = cov.window(w, #{transform: false, tracks: [track]});\n\
             let bins = genes.exon_bins(name, w);\n\
             let row = [];\n\
             for g in ev.groups { let s = 0.0; let n = 0; for c in 0..groups.len() { if `${groups[c]}` == g { n += 1; for b in bins { s += y.get(b, c); } } } row.push(s / n); }\n\
             out.push(row);\n\
         }\n\
         matrix(out) }",
    );
    let sizes = floats(eval(&mut s, "{ let out = []; for g in ev.groups { let n = 0.0; for x in groups { if `${x}` == g { n += 1.0; } } out.push(n); } out }"));
    assert!(observed.iter().flatten().any(|&x| x > 0.0), "no observed counts");
    for i in 0..n_genes {
        for g in 0..labels.len() {
            let (o, w) = (observed[i][g], want_obs[i][g]);
            assert!(close(o, w, 1e-4), "gene {i} group {g}: observed {o} vs coverage.window {w}");
            let (p, w) = (predicted[i][g], all[i][g] / sizes[g]);
            assert!(close(p, w, 1e-5), "gene {i} group {g}: predicted {p} vs gene_counts / cells {w}");
        }
    }
    let log =
        |v: &[Vec<f64>]| -> Vec<Vec<f64>> { v.iter().map(|r| r.iter().map(|x| (x + 1.0).log2()).collect()).collect() };
    let (lp, lo) = (log(&predicted), log(&observed));
    let across_genes: Vec<Option<f64>> = (0..labels.len())
        .map(|g| pearson(&lp.iter().map(|r| r[g]).collect::<Vec<_>>(), &lo.iter().map(|r| r[g]).collect::<Vec<_>>()))
        .collect();
    let across_types: Vec<Option<f64>> = (0..n_genes).map(|i| pearson(&lp[i], &lo[i])).collect();
    let script_r = |s: &mut gscript_lang::Session, key: &str| -> Vec<Option<f64>> {
        let n = eval(s, &format!("ev.{key}.len()")).as_int().unwrap();
        (0..n)
            .map(|k| {
                let v = eval(s, &format!("ev.{key}[{k}]"));
                (!v.is_unit()).then(|| v.as_float().unwrap())
            })
            .collect()
    };
    for (key, want) in [("across_genes", &across_genes), ("across_types", &across_types)] {
        let got = script_r(&mut s, key);
        assert_eq!(got.len(), want.len(), "{key}");
        assert!(want.iter().any(Option::is_some), "{key}: no defined correlation tests nothing");
        for (k, (a, b)) in got.iter().zip(want.iter()).enumerate() {
            match (a, b) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-4, "{key}[{k}]: {a} vs {b}"),
                (None, None) => {}
                _ => panic!("{key}[{k}]: {a:?} vs {b:?}"),
            }
        }
        let defined: Vec<f64> = want.iter().flatten().copied().collect();
        let mean = defined.iter().sum::<f64>() / defined.len() as f64;
        let got_mean = eval(&mut s, &format!("ev.mean_{key}")).as_float().unwrap();
        assert!((got_mean - mean).abs() < 1e-4, "mean_{key}: {got_mean} vs {mean}");
    }
    // The figure: one point per gene and cell type, a legend entry per type with its r.
    let fig = eval(&mut s, "ev.figure.to_string()").to_string();
    let points = n_genes * labels.len();
    assert!(
        fig.contains(&format!("{points} points")) && fig.contains(&format!("{} categories", labels.len())),
        "{fig}"
    );
    let svg = eval(&mut s, "let f = out_path(\"ev.svg\"); ev.figure.save(f); f").to_string();
    let svg = std::fs::read_to_string(svg).unwrap();
    let r0 = across_genes[0].map_or("r n/a".to_string(), |r| format!("r {r:.2}"));
    assert!(svg.contains(&format!("{} ({r0})", labels[0])), "legend names the type and its r");
    eprintln!(
        "scooby_gene_counts: {:?}; counts {all:?}; observed {observed:?}; r {across_genes:?} {across_types:?}",
        t0.elapsed()
    );
}

#[test]
fn bad_gene_count_input_names_the_argument() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SETUP);
    let e = err(&mut s, "m.gene_counts(sim.genome, genes, states, #{names: [\"NoSuchGene\"]})");
    assert!(e.contains("gene_counts: argument `names`") && e.contains("NoSuchGene"), "{e}");
    let near = format!("{}x", strings(eval(&mut s, "genes.names()"))[0]);
    let e =
        err(&mut s, &format!("m.gene_counts(sim.genome, genes, states, #{{names: [genes.names()[1], \"{near}\"]}})"));
    assert!(e.contains("element 1") && e.contains(&format!("did you mean `{}`", &near[..near.len() - 1])), "{e}");
    let e = err(&mut s, "m.gene_counts(sim.genome, genes, states, #{groups: groups.extract(1)})");
    assert!(e.contains("gene_counts: argument `groups`") && e.contains("23 labels"), "{e}");
    let e = err(&mut s, "m.gene_counts(sim.genome, genes, matrix([[1.0, 0.0]]))");
    assert!(e.contains("gene_counts: argument `cell_states`") && e.contains("3-wide"), "{e}");
    let e = err(&mut s, "m.gene_counts(sim.genome, genes, states, #{spans: true})");
    assert!(e.contains("unknown option `spans`") && e.contains("span"), "{e}");
    let e = err(&mut s, "evaluate_profiles(m, cov, sim.genome, genes, states.select_rows([0, 1]), #{groups: groups})");
    assert!(e.contains("evaluate_profiles: argument `cell_states`") && e.contains("24 cells"), "{e}");
    let e = err(&mut s, "evaluate_profiles(m, cov, sim.genome, genes, states, #{groups: groups.extract(2)})");
    assert!(e.contains("evaluate_profiles: argument `groups`") && e.contains("22 labels"), "{e}");
    let e = err(&mut s, "evaluate_profiles(m, cov, sim.genome, genes, states, #{rc_average: false})");
    assert!(e.contains("evaluate_profiles: argument `groups`") && e.contains("required"), "{e}");
    let e = err(&mut s, "evaluate_profiles(m, cov, sim.genome, genes, states, #{groups: groups, names: [\"nope\"]})");
    assert!(e.contains("argument `names`") && e.contains("nope"), "{e}");
}

#[test]
fn two_ranks_shard_gene_counts_and_evaluation_to_the_single_process_result() {
    let dir = tempfile::tempdir().unwrap();
    // One gene (fewer than the ranks: rank 0 has none) and all 6 (3 per rank), then the evaluation.
    let script = format!(
        "{}set_threads(1);\n\
         let one = m.gene_counts(sim.genome, genes, states, #{{names: [genes.names()[3]], rc_average: false}});\n\
         print(`one ${{one.row(0)}}`);\n\
         let gc = m.gene_counts(sim.genome, genes, states, #{{groups: groups}});\n\
         for i in 0..gc.shape()[0] {{ print(`gc${{i}} ${{gc.row(i)}}`); }}\n\
         let ev = evaluate_profiles(m, cov, sim.genome, genes, states, #{{groups: groups, rc_average: false}});\n\
         for i in 0..ev.observed.shape()[0] {{ print(`obs${{i}} ${{ev.observed.row(i)}}`); print(`pred${{i}} ${{ev.predicted.row(i)}}`); }}\n\
         print(`r [${{ev.mean_across_genes}}, ${{ev.mean_across_types}}]`);\n\
         print(`types ${{ev.across_types.map(|r| if type_of(r) == \"()\" {{ -9.0 }} else {{ r }})}}`);\n",
        SETUP.replace("out_path(\"mo\"), #{", "\"mo\", #{overwrite: true, ")
    );
    std::fs::write(dir.path().join("gc.gscript"), script).unwrap();
    let single = gscript(&["run", "gc.gscript"], dir.path(), Duration::from_secs(90));
    let sharded = gscript(&["launch", "--nproc", "2", "gc.gscript"], dir.path(), Duration::from_secs(150));
    let (one, two) = (String::from_utf8_lossy(&single.stdout), String::from_utf8_lossy(&sharded.stdout));
    let (r1, r2) = (labelled_rows(&one), labelled_rows(&two));
    assert_eq!(r1.len(), 1 + 6 + 12 + 2, "{one}");
    assert_eq!(r1.iter().map(|r| &r.0).collect::<Vec<_>>(), r2.iter().map(|r| &r.0).collect::<Vec<_>>(), "{two}");
    for ((label, a), (_, b)) in r1.iter().zip(&r2) {
        assert_eq!(a.len(), b.len(), "{label}");
        // (A gene whose exons all lie outside its output window counts zero in both.)
        let scale = a.iter().fold(0f64, |m, v| m.max(v.abs()));
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * scale, "{label} column {j}: 1 rank {x} vs 2 ranks {y}");
        }
    }
    let nonzero = r1.iter().filter(|(_, v)| v.iter().any(|x| *x != 0.0)).count();
    assert!(nonzero >= r1.len() - 3, "mostly zero rows test little: {one}");
}
