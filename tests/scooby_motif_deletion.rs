//! scooby's TF motif deletion through the language, checked against the test's own computation: a motif site planted
//! in a genome copy is found; the test overwrites every reported site with the reported replacement bases in a second
//! copy, predicts both genomes with `model.predict` over each gene's window, sums the sense strand over the exon span
//! and computes Figure 3's score itself (reference size factors, median, mean over genes of the log2 difference). A
//! motif without a site scores 0 everywhere; seeds make replacements reproducible; bad options are clear errors.

mod common;

use std::path::Path;

use common::{err, eval, floats, session, strings};
use gscript_lang::Session;

/// The planted site (12 bp) and a 30-bp motif planted nowhere.
const SITE: &str = "TGCATCGGATCC";
const NOHIT: &str = "ACGTTGCAGGCTAACGTTACGGATCCATGA";

/// A MEME file with one near-deterministic motif per consensus.
fn write_meme(path: &Path, motifs: &[(&str, &str)]) {
    let mut s = String::from(
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n",
    );
    for (id, seq) in motifs {
        s.push_str(&format!("MOTIF {id}\nletter-probability matrix: alength= 4 w= {} nsites= 20 E= 0\n", seq.len()));
        for b in seq.bytes() {
            let row: Vec<&str> = b"ACGT".iter().map(|&x| if x == b { "0.97" } else { "0.01" }).collect();
            s.push_str(&format!("{}\n", row.join(" ")));
        }
        s.push('\n');
    }
    std::fs::write(path, s).unwrap();
}

fn col(s: &mut Session, table: &str, name: &str) -> Vec<String> {
    strings(eval(s, &format!("{table}.col({name:?})")))
}

/// Predicted counts of `gene` from a genome, per cell: the sense strand over the exon span of its gene-centred window.
fn own_counts(s: &mut Session, gene: &str, genome: &str, cells: &str) -> Vec<f64> {
    let _ = eval(
        s,
        &format!(
            "let __w = genes.window({gene:?}, #{{length: 4096, genome: sim.genome}});\n\
             let __bins = genes.exon_bins({gene:?}, __w, #{{span: true}});\n\
             let __p = m.predict({genome:?}, __w, states, #{{cells: {cells}}});\n\
             let __t = if genes.get({gene:?}).strand == \"-\" {{ 1 }} else {{ 0 }};\n\
             let __out = [];\n\
             for c in 0..{cells}.len() {{ __out.push(__bins.reduce(|s, b| s + __p.get(b, c * 3 + __t), 0.0)); }}"
        ),
    );
    floats(eval(s, "__out"))
}

#[test]
fn motif_deletion_matches_the_tests_own_edit_and_scores() {
    let t0 = std::time::Instant::now();
    let (mut s, dir) = session();
    let _ = eval(&mut s, common::TRAINED_TINY_SCOOBY);
    let genome = eval(&mut s, "sim.genome").into_string().unwrap();
    let names = strings(eval(&mut s, "genes.names()"));
    // Plant the site 100 bp right of the first gene's window centre.
    let _ = eval(&mut s, &format!("let __w0 = genes.window({:?}, #{{length: 4096, genome: sim.genome}});", names[0]));
    let planted =
        eval(&mut s, "__w0.split(\":\")[1].split(\"-\")[0].parse_int()").as_int().unwrap() as usize + 2048 + 100;
    let g1 = dir.path().join("planted.fa");
    common::write_edited_fasta(Path::new(&genome), &g1, &[("chr1".into(), planted, SITE.into())]);
    let meme = dir.path().join("m.meme");
    write_meme(&meme, &[("SITE1", SITE), ("NOHIT", NOHIT)]);
    let g1s = g1.display().to_string();
    let cells = "[0, 4, 9]";
    let _ = eval(
        &mut s,
        &format!(
            "let motifs = read_motifs({:?});\n\
             let r = motif_deletion(m, motifs.select([\"SITE1\"]), {g1s:?}, states, #{{genes: genes, replacements: 1, seed: 7, cells: {cells}}});",
            meme.display().to_string()
        ),
    );
    let starts: Vec<usize> = col(&mut s, "r.sites", "start").iter().map(|x| x.parse().unwrap()).collect();
    let genes_of: Vec<String> = col(&mut s, "r.sites", "gene");
    assert!(
        starts.iter().zip(&genes_of).any(|(&st, g)| st == planted && *g == names[0]),
        "the planted site at {planted} in {} is found: {starts:?} {genes_of:?}",
        names[0]
    );
    let rep = strings(eval(&mut s, "r.replacements.SITE1"));
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].len(), SITE.len());
    assert_eq!(rep[0].as_bytes()[SITE.len() - 1], SITE.as_bytes()[SITE.len() - 1], "the last base keeps the consensus");

    // The test's own edit: every reported site overwritten (in start order) with the replacement.
    let mut sites = starts.clone();
    sites.sort_unstable();
    sites.dedup();
    let g2 = dir.path().join("deleted.fa");
    let edits: Vec<(String, usize, String)> =
        sites.iter().map(|&st| ("chr1".to_string(), st, rep[0].clone())).collect();
    common::write_edited_fasta(&g1, &g2, &edits);
    let g2s = g2.display().to_string();
    let (mut reference, mut deleted) = (Vec::new(), Vec::new());
    for g in &names {
        reference.push(own_counts(&mut s, g, &g1s, cells));
        deleted.push(own_counts(&mut s, g, &g2s, cells));
    }
    // Reference counts as the primitive reports them (genes × cells).
    for (gi, row) in reference.iter().enumerate() {
        let got = floats(eval(&mut s, &format!("r.reference.row({gi})")));
        for (a, b) in got.iter().zip(row) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "reference of {}: {got:?} vs {row:?}", names[gi]);
        }
    }
    // Figure 3's score, computed here.
    let nc = 3;
    let sf: Vec<f64> = (0..nc).map(|c| reference.iter().map(|r| r[c]).sum()).collect();
    let mut sorted = sf.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[1];
    let own: Vec<f64> = (0..nc)
        .map(|c| {
            let f = median / sf[c];
            let d: f64 =
                (0..names.len()).map(|g| (reference[g][c] * f + 1.0).log2() - (deleted[g][c] * f + 1.0).log2()).sum();
            d / names.len() as f64
        })
        .collect();
    let got = floats(eval(&mut s, "r.scores.col(0)"));
    assert!(own.iter().any(|x| x.abs() > 1e-5), "deleting the site changes the prediction: {own:?}");
    for (a, b) in got.iter().zip(&own) {
        assert!((a - b).abs() <= 1e-3 * b.abs() + 1e-7, "scores {got:?} vs own {own:?}");
    }

    // Seeds: the same seed gives the same replacement and scores; another seed other bases.
    let _ = eval(
        &mut s,
        &format!("let r2 = motif_deletion(m, motifs.select([\"SITE1\"]), {g1s:?}, states, #{{genes: genes, replacements: 1, seed: 7, cells: {cells}}});"),
    );
    assert_eq!(strings(eval(&mut s, "r2.replacements.SITE1")), rep);
    assert_eq!(floats(eval(&mut s, "r2.scores.col(0)")), got);
    let _ = eval(
        &mut s,
        &format!("let r3 = motif_deletion(m, motifs.select([\"SITE1\"]), {g1s:?}, states, #{{genes: genes, replacements: 3, seed: 8, cells: {cells}}});"),
    );
    let rep3 = strings(eval(&mut s, "r3.replacements.SITE1"));
    assert_eq!(rep3.len(), 3);
    assert!(rep3.iter().any(|x| *x != rep[0]), "seeds 8..10 differ from seed 7: {rep3:?} vs {rep:?}");

    // No site: every score is 0.
    let _ = eval(
        &mut s,
        &format!("let r0 = motif_deletion(m, motifs.select([\"NOHIT\"]), {g1s:?}, states, #{{genes: genes, p: 1e-9, replacements: 2, cells: {cells}}});"),
    );
    assert_eq!(eval(&mut s, "r0.sites.len()").as_int().unwrap(), 0);
    assert_eq!(floats(eval(&mut s, "r0.scores.col(0)")), vec![0.0; 3]);
    assert!(t0.elapsed().as_secs() < 60, "took {:?}", t0.elapsed());
}

#[test]
fn motif_deletion_bad_options_are_clear_errors() {
    let (mut s, _dir) = session();
    let _ = eval(
        &mut s,
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 12, cell_types: 3, chromosomes: 1, chrom_length: 60000, genes: 2, max_gene_length: 6000, window: 4096, seed: 3});\n\
         let genes = load_genes(sim.gtf);\n\
         let states = matrix([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);\n\
         let m = scooby_model(#{state_dim: 3, seed: 1});\n\
         let mo = jaspar_motifs().select([\"GATA1\"]);",
    );
    let call = |o: &str| format!("motif_deletion(m, mo, sim.genome, states, #{{{o}}})");
    let e = err(&mut s, &call("genes: genes, names: [\"NOT_A_GENE\"]"));
    assert!(e.contains("names") && e.contains("NOT_A_GENE"), "{e}");
    for p in ["0.0", "1.0", "1.5", "-0.1"] {
        let e = err(&mut s, &call(&format!("genes: genes, p: {p}")));
        assert!(e.contains("`p`") || e.contains(" p:") || e.contains("p "), "p = {p}: {e}");
        assert!(e.contains("(0, 1)"), "p = {p}: {e}");
    }
    let e = err(&mut s, &call("genes: genes, replacements: 0"));
    assert!(e.contains("replacements") && e.contains("at least 1"), "{e}");
    let e = err(&mut s, &call("replacements: 2"));
    assert!(e.contains("genes") && e.contains("required"), "{e}");
    let e = err(&mut s, &call("genes: genes, cells: [5]"));
    assert!(e.contains("cells"), "{e}");
    let e = err(&mut s, &call("genes: genes, groups: [1, 2]"));
    assert!(e.contains("groups"), "{e}");
}
