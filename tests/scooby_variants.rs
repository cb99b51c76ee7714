//! scooby's variant effects on gene counts through the language, checked against an independent computation: the test
//! writes its own genome copy with the ALT base, predicts both genomes with `model.predict` over the gene's
//! TSS-centred window, sums the sense strand over `genes.exon_bins` and takes ln(alt + 1) − ln(ref + 1). A plus- and a
//! minus-strand gene, a variant in no gene's window (effect 0, no gene), pseudobulk groups, and clear errors for a
//! REF mismatch and bad options.

mod common;

use std::path::Path;

use common::{err, eval, floats, session};
use gscript_lang::Session;

/// The trained tiny scooby of tests/common, and the genome for reading reference bases.
fn setup() -> String {
    format!("{}let fa = load_genome(sim.genome);\n", common::TRAINED_TINY_SCOOBY)
}

fn text(s: &mut Session, expr: &str) -> String {
    eval(s, expr).into_string().unwrap()
}

/// The test's own effect of an SNV on `gene`, for `cells`: predicted counts of both genomes summed over the gene's
/// exon bins on its sense strand in its TSS-centred window, ln(alt + 1) − ln(ref + 1).
fn own_effect(s: &mut Session, gene: &str, alt_fasta: &Path, cells: &str) -> Vec<f64> {
    let _ = eval(
        s,
        &format!(
            "let __g = genes.get({gene:?});\n\
             let __w = genes.window({gene:?}, #{{center: \"tss\", length: 4096, genome: sim.genome}});\n\
             let __bins = genes.exon_bins({gene:?}, __w);\n\
             let __r = m.predict(sim.genome, __w, states, #{{cells: {cells}}});\n\
             let __a = m.predict({alt:?}, __w, states, #{{cells: {cells}}});\n\
             let __t = if __g.strand == \"-\" {{ 1 }} else {{ 0 }};\n\
             let __out = [];\n\
             for c in 0..{cells}.len() {{\n\
                 let col = c * 3 + __t;\n\
                 let r = __bins.reduce(|s, b| s + __r.get(b, col), 0.0);\n\
                 let a = __bins.reduce(|s, b| s + __a.get(b, col), 0.0);\n\
                 __out.push(ln(a + 1.0) - ln(r + 1.0));\n\
             }}",
            alt = alt_fasta.display().to_string()
        ),
    );
    floats(eval(s, "__out"))
}

fn effects_row(s: &mut Session, ve: &str, row: usize) -> Vec<f64> {
    floats(eval(s, &format!("{ve}.effects().row({row})")))
}

#[test]
fn scooby_variant_effects_match_an_independent_computation() {
    let t0 = std::time::Instant::now();
    let (mut s, dir) = session();
    let _ = eval(&mut s, &setup());
    let genome = text(&mut s, "sim.genome");
    let names: Vec<String> = common::strings(eval(&mut s, "genes.names()"));
    let strand = |s: &mut Session, g: &str| text(s, &format!("genes.get({g:?}).strand"));
    let plus = names.iter().find(|g| strand(&mut s, g) == "+").expect("a plus-strand gene").clone();
    let minus = names.iter().find(|g| strand(&mut s, g) == "-").expect("a minus-strand gene").clone();

    let cells = "[0, 4, 9]";
    for (k, gene) in [&plus, &minus].into_iter().enumerate() {
        // An SNV 37 bp downstream of the TSS (in the first exon's neighbourhood), ALT a different base.
        let _ = eval(
            &mut s,
            &format!(
                "let __g = genes.get({gene:?}); let pos = if __g.strand == \"+\" {{ __g.tss + 37 }} else {{ __g.tss - 37 }};\n\
                 let base = fa.fetch(`${{__g.chrom}}:${{pos - 1}}-${{pos}}`).to_upper();\n\
                 let alt = if base == \"A\" {{ \"C\" }} else {{ \"A\" }};\n\
                 let v = `${{__g.chrom}}:${{pos}}:${{base}}:${{alt}}`;"
            ),
        );
        let chrom = text(&mut s, "__g.chrom");
        let pos = eval(&mut s, "pos").as_int().unwrap() as usize;
        let alt = text(&mut s, "alt");
        let alt_fa = dir.path().join(format!("alt{k}.fa"));
        common::write_edited_fasta(Path::new(&genome), &alt_fa, &[(chrom, pos - 1, alt)]);

        let _ = eval(
            &mut s,
            &format!("let ve = variant_effect(m, [v], sim.genome, states, #{{genes: genes, names: [{gene:?}], cells: {cells}}});"),
        );
        assert_eq!(eval(&mut s, "ve.len()").as_int().unwrap(), 1, "one (variant, gene) pair");
        assert_eq!(text(&mut s, "ve.table().col(\"gene\")[0]"), *gene);
        assert_eq!(text(&mut s, "ve.effects().row_names()[0]"), format!("{}@{gene}", text(&mut s, "v")));
        let got = effects_row(&mut s, "ve", 0);
        let want = own_effect(&mut s, gene, &alt_fa, cells);
        assert_eq!(got.len(), 3);
        assert!(want.iter().any(|x| x.abs() > 1e-6), "the SNV changes the prediction of {gene}: {want:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-4 * w.abs().max(1e-2),
                "{gene} ({}): {got:?} vs own {want:?}",
                strand(&mut s, gene)
            );
        }

        // Groups: counts summed over a group's cells before the logarithm.
        let _ = eval(
            &mut s,
            &format!("let l0 = labels[0]; let vg = variant_effect(m, v, sim.genome, states, #{{genes: genes, names: [{gene:?}], groups: labels.map(|x| if x == l0 {{ \"a\" }} else {{ () }})}});"),
        );
        let n_a = eval(&mut s, "labels.filter(|x| x == l0).len()").as_int().unwrap();
        let _ = eval(
            &mut s,
            "let __cells = []; for i in 0..labels.len() { if labels[i] == labels[0] { __cells.push(i); } }",
        );
        assert_eq!(eval(&mut s, "__cells.len()").as_int().unwrap(), n_a);
        let _ = eval(
            &mut s,
            &format!(
                "let __w = genes.window({gene:?}, #{{center: \"tss\", length: 4096, genome: sim.genome}});\n\
                 let __bins = genes.exon_bins({gene:?}, __w);\n\
                 let __r = m.predict(sim.genome, __w, states, #{{cells: __cells}});\n\
                 let __a = m.predict({alt:?}, __w, states, #{{cells: __cells}});\n\
                 let __t = if genes.get({gene:?}).strand == \"-\" {{ 1 }} else {{ 0 }};\n\
                 let __sr = 0.0; let __sa = 0.0;\n\
                 for c in 0..__cells.len() {{ for b in __bins {{ __sr += __r.get(b, c * 3 + __t); __sa += __a.get(b, c * 3 + __t); }} }}\n\
                 let __own = ln(__sa + 1.0) - ln(__sr + 1.0);",
                alt = alt_fa.display().to_string()
            ),
        );
        let own = eval(&mut s, "__own").as_float().unwrap();
        let grouped = effects_row(&mut s, "vg", 0);
        assert_eq!(grouped.len(), 1);
        assert!((grouped[0] - own).abs() <= 1e-4 * own.abs().max(1e-2), "{gene} group: {grouped:?} vs own {own}");
        assert!(eval(&mut s, "vg.table().columns()").to_string().contains("effect:a"), "a column per group");
    }

    // A variant farther than the input window (8,192 bp, ±4,096 around each window centre) from every TSS: no gene,
    // effect 0. The position is chosen here from the genes' TSSs.
    let tss: Vec<i64> =
        names.iter().map(|g| eval(&mut s, &format!("genes.get({g:?}).tss")).as_int().unwrap()).collect();
    let len = 90_000i64;
    let far = (1000..len - 1000)
        .step_by(500)
        .find(|p| tss.iter().all(|t| (p - t).abs() > 12_000))
        .expect("a position far from every gene");
    let _ = eval(
        &mut s,
        &format!(
            "let fb = fa.fetch(\"chr1:{}-{far}\").to_upper(); let fa = if fb == \"A\" {{ \"G\" }} else {{ \"A\" }};\n\
             let vf = variant_effect(m, `chr1:{far}:${{fb}}:${{fa}}`, sim.genome, states, #{{genes: genes, cells: {cells}}});",
            far - 1
        ),
    );
    assert_eq!(eval(&mut s, "vf.len()").as_int().unwrap(), 1);
    assert_eq!(text(&mut s, "vf.table().col(\"gene\")[0]"), "");
    assert_eq!(effects_row(&mut s, "vf", 0), vec![0.0; 3]);
    assert!(!text(&mut s, "vf.effects().row_names()[0]").contains('@'), "no gene, no @gene");

    // REF mismatch: an error naming the variant.
    let _ = eval(
        &mut s,
        "let wrong = if base[0] == 'A' { \"C\" } else { \"A\" }; let bad = `${__g.chrom}:${pos}:${wrong}:G`;",
    );
    let bad = text(&mut s, "bad");
    let e = err(&mut s, "variant_effect(m, bad, sim.genome, states, #{genes: genes})");
    assert!(e.contains(&bad) && e.contains("REF"), "{e}");
    assert!(t0.elapsed().as_secs() < 60, "took {:?}", t0.elapsed());
}

#[test]
fn scooby_variant_effect_bad_options_are_clear_errors() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, &setup());
    let _ = eval(&mut s, "let g = genes.get(genes.names()[0]); let base = fa.fetch(`${g.chrom}:${g.tss}-${g.tss + 1}`).to_upper(); let v = `${g.chrom}:${g.tss + 1}:${base}:${if base == \"A\" { \"C\" } else { \"A\" }}`;");
    let e = err(&mut s, "variant_effect(m, v, sim.genome, states, #{names: [\"x\"]})");
    assert!(e.contains("genes") && e.contains("required"), "{e}");
    let e = err(&mut s, "variant_effect(m, v, sim.genome, states, #{genes: genes, names: [\"no_such_gene\"]})");
    assert!(e.contains("names") && e.contains("no_such_gene"), "{e}");
    let e = err(&mut s, "variant_effect(m, v, sim.genome, states, #{genes: genes, spam: 1})");
    assert!(e.contains("spam") && e.contains("genes"), "{e}");
    let e = err(&mut s, "variant_effect(m, v, sim.genome, #{genes: genes})");
    assert!(e.contains("cell_states"), "{e}");
    let e = err(&mut s, "variant_effect(m, v, sim.genome, matrix([[1.0, 0.0]]), #{genes: genes})");
    assert!(e.contains("cell_states"), "{e}");
    let e = err(&mut s, "variant_effect(m, \"chrZ:10:A:C\", sim.genome, states, #{genes: genes})");
    assert!(e.contains("chrZ"), "{e}");
}
