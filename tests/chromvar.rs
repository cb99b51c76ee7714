//! chromVAR through the language: `chromvar(data, motifs)` on simulated data gives motifs × cells deviations and
//! z-scores named like `insert_motif`'s, ranks the planted motifs as the most variable, and rejects bad options.

mod common;

use common::{err, eval, session, strings};
use gscript_stdlib::values::Matrix;

const SIM: &str =
    "let sim = simulate_atac(#{n_cells: 120, n_peaks: 600, n_cell_types: 2, motifs: [\"CTCF\", \"REST\"], \
                   seed: 3});";

#[test]
fn deviations_zscores_and_variability_on_simulated_data() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SIM);
    let _ =
        eval(&mut s, "let cv = chromvar(sim.data, jaspar_motifs().select([\"CTCF\", \"REST\", \"Nrf1\", \"EBF1\"]));");
    let summary = eval(&mut s, "cv.to_string()").to_string();
    assert!(summary.contains("4 motifs × 120 cells") && summary.contains("50 background"), "{summary}");
    let z = eval(&mut s, "cv.zscores()").try_cast::<Matrix>().unwrap();
    let d = eval(&mut s, "cv.deviations()").try_cast::<Matrix>().unwrap();
    assert_eq!((z.rows, z.cols, d.rows, d.cols), (4, 120, 4, 120));
    assert_eq!(z.row_names.as_ref().unwrap().as_slice(), ["CTCF", "REST", "Nrf1", "EBF1"]);
    let barcodes = strings(eval(&mut s, "sim.data.barcodes()"));
    assert_eq!(z.col_names.as_ref().unwrap().as_slice(), barcodes.as_slice());
    // z = deviation / background s.d. > 0, so signs agree wherever both are defined.
    for r in 0..4 {
        for c in 0..120 {
            let (zv, dv) = (z.get(r, c), d.get(r, c));
            assert!(zv.is_nan() == dv.is_nan() && (zv.is_nan() || zv.signum() == dv.signum() || dv == 0.0));
        }
    }
    // The planted motifs separate the two cell types: CTCF's z-scores are higher in the CTCF type.
    let types = strings(eval(&mut s, "sim.data.obs(\"cell_type\")"));
    let ctcf_type = strings(eval(&mut s, "sim.cell_types"))[0].clone();
    let mean = |inside: bool| {
        let v: Vec<f64> = (0..120).filter(|&c| (types[c] == ctcf_type) == inside).map(|c| z.get(0, c) as f64).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean(true) > mean(false) + 1.0, "CTCF z: {} in its type vs {}", mean(true), mean(false));
    // Variability table: planted motifs first.
    let top = strings(eval(&mut s, "cv.variability().col(\"motif\")"));
    let mut first_two = top[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["CTCF", "REST"], "{top:?}");
    // The same seed gives the same result; another seed other background peaks.
    let again =
        eval(&mut s, "chromvar(sim.data, jaspar_motifs().select([\"CTCF\", \"REST\", \"Nrf1\", \"EBF1\"])).zscores()");
    assert_eq!(again.try_cast::<Matrix>().unwrap().data, z.data);
    let other = eval(&mut s, "chromvar(sim.data, jaspar_motifs().select([\"CTCF\"]), #{seed: 9}).background_peaks()");
    let bg = eval(&mut s, "cv.background_peaks()").try_cast::<Matrix>().unwrap();
    assert_eq!((bg.rows, bg.cols), (600, 50));
    assert_ne!(other.try_cast::<Matrix>().unwrap().data, bg.data);
}

#[test]
fn bad_options_are_named() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SIM);
    let e = err(&mut s, "chromvar(sim.data, jaspar_motifs().select([\"CTCF\"]), #{p_value: 2.0})");
    assert!(e.contains("p_value"), "{e}");
    let e = err(&mut s, "chromvar(sim.data, jaspar_motifs().select([\"CTCF\"]), #{iterations: 5})");
    assert!(e.contains("background_iterations"), "unknown keys list the valid ones: {e}");
    let e = err(&mut s, "chromvar(sim.data, jaspar_motifs().select([\"CTCF\"]), #{background_iterations: 1})");
    assert!(e.contains("background_iterations"), "{e}");
    let e = err(&mut s, "chromvar(sim.data, jaspar_motifs().select([\"CTCF\"]), #{formulation: \"r\"})");
    assert!(e.contains("formulation") && e.contains("pychromvar"), "{e}");
    // pychromvar's formulation: same backgrounds, other background deviations (the python cross-check is in runtime)
    let _ = eval(
        &mut s,
        "let m = jaspar_motifs().select([\"CTCF\", \"Nrf1\"]);\n\
         let a = chromvar(sim.data, m);\nlet b = chromvar(sim.data, m, #{formulation: \"pychromvar\"});",
    );
    let m = |s: &mut gscript_lang::Session, q: &str| eval(s, q).try_cast::<Matrix>().unwrap().data;
    assert_eq!(m(&mut s, "a.background_peaks()"), m(&mut s, "b.background_peaks()"));
    assert_ne!(m(&mut s, "a.zscores()"), m(&mut s, "b.zscores()"));
}

#[test]
fn documented_examples_run() {
    let (s, _dir) = session();
    let docs = s.docs().clone();
    let mut ran = 0;
    for doc in docs.all().filter(|d| d.name == "chromvar" || d.receiver.as_deref() == Some("ChromVar")) {
        for ex in &doc.examples {
            let (mut s, _dir) = session();
            let _ = eval(&mut s, ex);
            ran += 1;
        }
    }
    assert_eq!(ran, 8, "chromvar and its 7 methods each have an example");
}
