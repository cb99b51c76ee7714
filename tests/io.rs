//! Data primitives through the language: simulate_atac, load_peaks (options, filters, errors), cell metadata,
//! write_h5ad / write_csv / write_bed.

use std::sync::Arc;

use gscript_lang::{CaptureSink, Session};
use gscript_stdlib::StdLib;

fn session(dir: &std::path::Path) -> Session {
    let s = Session::new(Arc::new(CaptureSink::default()), &[&StdLib]);
    s.host().set_out_dir(dir);
    s
}

fn eval(s: &mut Session, code: &str) -> gscript_lang::rhai::Dynamic {
    s.eval(code, "<test>").unwrap_or_else(|e| panic!("{}", e.render()))
}

fn run(s: &mut Session, code: &str) {
    let _ = eval(s, code);
}

fn err(s: &mut Session, code: &str) -> String {
    s.eval(code, "<test>").map(|v| panic!("expected an error, got {v}")).unwrap_err().message
}

#[test]
fn simulate_load_filter_and_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path());
    run(&mut s, "let sim = simulate_atac(#{n_cells: 80, n_peaks: 60, n_cell_types: 2, seed: 4});");
    assert_eq!(eval(&mut s, "sim.data.n_cells()").as_int().unwrap(), 80);
    assert!(dir.path().join("simulated_atac/atac.h5ad").is_file());
    assert_eq!(eval(&mut s, "sim.motifs").into_array().unwrap().len(), 2);
    // the h5ad reloads with the same cells and labels; the 5 % rule drops rare peaks only
    run(&mut s, "let all = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0});");
    assert_eq!(eval(&mut s, "all.n_peaks()").as_int().unwrap(), 60);
    assert!(eval(&mut s, "all.obs(\"cell_type\") == sim.data.obs(\"cell_type\")").as_bool().unwrap());
    run(&mut s, "let f = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.2});");
    let kept = eval(&mut s, "f.n_peaks()").as_int().unwrap();
    let counts: Vec<i64> =
        eval(&mut s, "all.cells_per_peak()").into_array().unwrap().iter().map(|v| v.as_int().unwrap()).collect();
    assert!(kept > 0 && kept < 60, "{kept}");
    assert_eq!(kept as usize, counts.iter().filter(|&&c| c > 16).count());
    // genome check: all simulated chromosomes are present
    run(&mut s, "let g = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0, genome: sim.genome});");
    // metadata in and out
    run(&mut s, "let d2 = all.set_obs(\"depth\", all.peaks_per_cell());");
    assert!(eval(&mut s, "d2.obs_names()").into_array().unwrap().iter().any(|n| n.to_string() == "depth"));
    let e = err(&mut s, "all.obs(\"celltype\")");
    assert!(e.contains("obs") && e.contains("cell_type, depth_offset"), "{e}");
    let e = err(&mut s, "all.set_obs(\"x\", [1, 2])");
    assert!(e.contains("has 2 values but there are 80 cells"), "{e}");
    // outputs
    let e = err(&mut s, "d2.write_h5ad(out_path(\"bad.h5ad\"), #{obsm: #{X_onehot: one_hot(\"ACGT\")}})");
    assert!(e.contains("obsm.X_onehot") && e.contains("must have 80 rows"), "{e}");
    assert!(!dir.path().join("bad.h5ad").exists());
    run(&mut s, "d2.write_h5ad(out_path(\"d2.h5ad\"));");
    run(&mut s, "let back = load_peaks(out_path(\"d2.h5ad\"), #{min_cell_fraction: 0.0});");
    assert!(eval(&mut s, "back.obs(\"depth\") == d2.obs(\"depth\")").as_bool().unwrap());
}

#[test]
fn load_peaks_options_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path());
    run(&mut s, "let sim = simulate_atac(#{n_cells: 30, n_peaks: 20, n_cell_types: 2});");
    let e = err(&mut s, "load_peaks(sim.files.h5ad, #{min_cell_fractoin: 0.1})");
    assert!(e.contains("unknown option `min_cell_fractoin`") && e.contains("did you mean `min_cell_fraction`"), "{e}");
    let e = err(&mut s, "load_peaks(sim.files.h5ad, #{format: \"bam\"})");
    assert!(e.contains("\"bam\" is not one of 10x_h5, h5ad, mtx"), "{e}");
    let e = err(&mut s, "load_peaks(sim.files.h5ad, #{chromosomes: \"autosomes\"})");
    assert!(e.contains("chromosomes"), "{e}");
    let e = err(&mut s, "load_peaks(sim.files.h5ad, #{min_cell_fraction: 1.5})");
    assert!(e.contains("must be in [0, 1)"), "{e}");
    let e = err(&mut s, "load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.99})");
    assert!(e.contains("no data left"), "{e}");
    let e = err(&mut s, "load_peaks(sim.files.peaks)");
    assert!(e.contains("use load_bed"), "{e}");
    let e = err(&mut s, "load_peaks(\"/no/such/file.h5ad\")");
    assert!(e.starts_with("load_peaks:") && e.contains("/no/such/file.h5ad"), "{e}");
    // chromosome lists, binarising, Matrix Market directories
    run(
        &mut s,
        "let only1 = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0, chromosomes: [\"chr1\"], binarize: true});",
    );
    let chroms = eval(&mut s, "let p = only1.peaks(); let c = []; for i in 0..p.len() { c.push(p.get(i).chrom); } c");
    assert!(chroms.into_array().unwrap().iter().all(|c| c.to_string() == "chr1"));
    let mtx = dir.path().join("mtx");
    std::fs::create_dir_all(&mtx).unwrap();
    std::fs::write(
        mtx.join("matrix.mtx"),
        "%%MatrixMarket matrix coordinate integer general\n2 3 3\n1 1 2\n2 2 1\n2 3 5\n",
    )
    .unwrap();
    std::fs::write(mtx.join("barcodes.tsv"), "A-1\nB-1\nC-1\n").unwrap();
    std::fs::write(mtx.join("peaks.bed"), "chr1\t10\t20\nchr2\t30\t40\n").unwrap();
    run(&mut s, &format!("let m = load_peaks(\"{}\", #{{min_cell_fraction: 0.0}});", mtx.display()));
    assert_eq!(eval(&mut s, "m.nnz()").as_int().unwrap(), 3);
    assert_eq!(eval(&mut s, "m.barcodes()[2]").to_string(), "C-1");
    std::fs::remove_file(mtx.join("barcodes.tsv")).unwrap();
    let e = err(&mut s, &format!("load_peaks(\"{}\")", mtx.display()));
    assert!(e.contains("no barcodes.tsv[.gz]") && e.contains("`barcodes` option"), "{e}");
}

#[test]
fn tables_and_beds_are_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path());
    run(&mut s, "let m = one_hot(\"ACG\"); write_csv(m, out_path(\"m.csv\")); write_csv(m, out_path(\"m.tsv\"));");
    let csv = std::fs::read_to_string(dir.path().join("m.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), "name,0,1,2");
    assert_eq!(csv.lines().nth(2).unwrap(), "C,0,1,0");
    assert!(std::fs::read_to_string(dir.path().join("m.tsv")).unwrap().starts_with("name\t0\t1\t2\n"));
    run(&mut s, "let sim = simulate_atac(#{n_cells: 10, n_peaks: 5, n_cell_types: 1}); sim.data.peaks().write_bed(out_path(\"p.bed\"));");
    let bed = std::fs::read_to_string(dir.path().join("p.bed")).unwrap();
    assert_eq!(bed.lines().count(), 5);
    run(&mut s, "let back = load_bed(out_path(\"p.bed\"));");
    assert_eq!(eval(&mut s, "back.len()").as_int().unwrap(), 5);
    let e = err(&mut s, "write_csv(one_hot(\"A\"), \"/no/such/dir/x.csv\")");
    assert!(e.contains("write_csv") && e.contains("/no/such/dir/x.csv"), "{e}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn cell_index_maps_the_binary_matrix_and_trains_as_the_loaded_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session(dir.path());
    run(
        &mut s,
        "let sim = simulate_atac(#{n_cells: 60, n_peaks: 80, n_cell_types: 2, seed: 5});\n\
         let a = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0, binarize: true});\n\
         let b = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0, cell_index: true});",
    );
    assert!(dir.path().join("simulated_atac/atac.h5ad.cells").is_file());
    for q in ["n_peaks()", "n_cells()", "nnz()", "cells_per_peak()", "peaks_per_cell()"] {
        assert!(eval(&mut s, &format!("a.{q} == b.{q}")).as_bool().unwrap(), "{q}");
    }
    // the same rows train the same model: equal loss histories (the mapped rows are what the trainer reads)
    let losses = |s: &mut Session, d: &str| -> Vec<f64> {
        eval(
            s,
            &format!(
                "train_scbasset({d}, #{{genome: sim.genome, preset: \"tiny\", epochs: 2, batch_size: 16, seed: 3}}).history().train_loss"
            ),
        )
        .into_array()
        .unwrap()
        .iter()
        .map(|v| v.as_float().unwrap())
        .collect()
    };
    let (la, lb) = (losses(&mut s, "a"), losses(&mut s, "b"));
    assert_eq!(la.len(), 2);
    assert_eq!(la, lb);
    // a filter that removes peaks copies the kept part: still the same counts as the in-memory route
    run(
        &mut s,
        "let fa = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.2, binarize: true});\n\
         let fb = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.2, cell_index: true});",
    );
    assert!(eval(&mut s, "fa.n_peaks() < a.n_peaks() && fa.cells_per_peak() == fb.cells_per_peak()")
        .as_bool()
        .unwrap());
    // only for .h5ad
    let e = err(&mut s, "load_peaks(sim.files.tenx_h5, #{cell_index: true})");
    assert!(e.contains("cell_index") && e.contains(".h5ad"), "{e}");
}
