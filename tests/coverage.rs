//! Coverage through the language: a fragments file → `load_fragments` → window targets, pseudobulk tracks, QC and the
//! inverse transform, with the shapes, names and values the docs promise; bad inputs give clear errors.

mod common;

use common::{err, eval, floats, session, strings};

/// Three cells on chr1 (10,000 bp) and chr2 (5,000 bp). Cell A has fragments 100–200 (×2 duplicates) and 300–500;
/// cell B 150–151 and one on chr2; cell C a single fragment (dropped by min_fragments: 2).
fn write_fragments(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let frag = dir.join("fragments.tsv");
    std::fs::write(
        &frag,
        "# test\nchr1\t300\t500\tA-1\t1\nchr1\t100\t200\tA-1\t2\nchr1\t150\t151\tB-1\t1\nchr2\t40\t90\tB-1\t1\n\
         chr1\t5000\t5100\tC-1\t1\n",
    )
    .unwrap();
    let fa = dir.join("genome.fa");
    let line = "ACGT".repeat(15) + "\n";
    std::fs::write(&fa, format!(">chr1\n{}>chr2\n{}", line.repeat(10_000 / 60 + 1), line.repeat(5_000 / 60 + 1)))
        .unwrap();
    (frag, fa)
}

fn ints(v: gscript_lang::rhai::Dynamic) -> Vec<f64> {
    v.into_array().unwrap().iter().map(|x| x.as_int().unwrap() as f64).collect()
}

#[test]
fn fragments_windows_pseudobulk_and_qc() {
    let (mut s, dir) = session();
    let (frag, fa) = write_fragments(dir.path());
    let _ = eval(
        &mut s,
        &format!(
            "let cov = load_fragments({:?}, #{{genome: {:?}, min_fragments: 2}});",
            frag.to_str().unwrap(),
            fa.to_str().unwrap()
        ),
    );
    assert_eq!(strings(eval(&mut s, "cov.cells()")), vec!["A-1", "B-1"]);
    assert_eq!(strings(eval(&mut s, "cov.tracks()")), vec!["atac"]);
    assert!(eval(&mut s, "cov.to_string()").to_string().contains("2 cells"));
    // Insertions at start and end − 1: A has 4 (99 is not one of them), B has 4 (two at 150).
    assert_eq!(ints(eval(&mut s, "cov.counts(\"atac\")")), vec![4.0, 4.0]);
    // Raw 32-bp sums on chr1:64-256 for A, B, A: bin 1 (96–128) holds A's 100, bin 4 (192–224) A's 199, bin 2
    // (128–160) B's two insertions at 150.
    let w = eval(&mut s, "cov.window(\"chr1:64-256\", #{cells: [\"A-1\", 1, 0], transform: false})");
    let w = w.try_cast::<gscript_stdlib::values::Matrix>().unwrap();
    assert_eq!((w.rows, w.cols), (6, 3));
    assert_eq!(w.row_names.as_ref().unwrap()[1], "chr1:96-128");
    assert_eq!(w.col_names.as_ref().unwrap()[1], "B-1:atac");
    let col = |c: usize| (0..6).map(|r| w.get(r, c)).collect::<Vec<_>>();
    assert_eq!(col(0), vec![0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(col(1), vec![0.0, 0.0, 2.0, 0.0, 0.0, 0.0]);
    assert_eq!(col(2), col(0));
    // scooby's ATAC scale by default.
    let scaled =
        eval(&mut s, "cov.window(\"chr1:64-256\", #{cells: [1]})").try_cast::<gscript_stdlib::values::Matrix>();
    assert_eq!(scaled.unwrap().get(2, 0), 2.0 * 0.05);
    // Reverse complement: bins flipped (row names too).
    let rc = eval(&mut s, "cov.window(\"chr1:64-256\", #{cells: [1], reverse_complement: true, transform: false})")
        .try_cast::<gscript_stdlib::values::Matrix>()
        .unwrap();
    assert_eq!(rc.get(3, 0), 2.0);
    assert_eq!(rc.row_names.as_ref().unwrap()[0], "chr1:224-256");
    // Pseudobulk by a grouping: one row per group and track, bins as columns.
    let pb = eval(&mut s, "cov.pseudobulk(\"chr1:0-512\", #{groups: [\"x\", \"y\"], bin: 128})")
        .try_cast::<gscript_stdlib::values::Matrix>()
        .unwrap();
    assert_eq!(pb.row_names.as_ref().unwrap().as_slice(), ["x:atac", "y:atac"]);
    assert_eq!(pb.row(0), [1.0, 1.0, 1.0, 1.0]);
    assert_eq!(pb.row(1), [0.0, 2.0, 0.0, 0.0]);
    // QC from the import: A has one duplicate read among 3 reads.
    let _ = eval(&mut s, "let q = cov.qc();");
    assert_eq!(ints(eval(&mut s, "q.col(\"n_fragment\")")), vec![2.0, 2.0]);
    let frac = floats(eval(&mut s, "q.col(\"frac_dup\")"));
    assert!((frac[0] - 1.0 / 3.0).abs() < 1e-12 && frac[1] == 0.0);
    // Cell subsets keep the order of the coverage.
    assert_eq!(strings(eval(&mut s, "cov.select_cells([\"B-1\"]).cells()")), vec!["B-1"]);
    // The inverse transforms agree below c and differ above.
    let below = eval(&mut s, "[unsquash_rna(2.0), unsquash_rna(2.0, #{inverse: \"scooby\"})]");
    let below = floats(below);
    assert!((below[0] - below[1]).abs() < 1e-6 && (below[0] - (3f64.powf(4.0 / 3.0) - 1.0)).abs() < 1e-4);
    let above = floats(eval(&mut s, "[unsquash_rna(7.0), unsquash_rna(7.0, #{inverse: \"scooby\"})]"));
    assert!(above[0] > above[1]);
}

#[test]
fn coverage_errors_name_the_problem() {
    let (mut s, dir) = session();
    let (frag, fa) = write_fragments(dir.path());
    let load =
        format!("let cov = load_fragments({:?}, #{{genome: {:?}}});", frag.to_str().unwrap(), fa.to_str().unwrap());
    let _ = eval(&mut s, &load);
    let e = err(&mut s, "cov.window(\"chr1:0-100\")");
    assert!(e.contains("multiple of the bin width"), "{e}");
    let e = err(&mut s, "cov.window(\"chrZ:0-64\")");
    assert!(e.contains("chrZ"), "{e}");
    let e = err(&mut s, "cov.window(\"chr1:0-64\", #{cells: [\"nope\"]})");
    assert!(e.contains("cells") && e.contains("nope"), "{e}");
    let e = err(&mut s, "cov.window(\"chr1:0-64\", #{bins: 32})");
    assert!(e.contains("bins") && e.contains("bin"), "{e}");
    let e = err(&mut s, "cov.window(\"chr1:0-64\", #{tracks: [\"rna_plus\"]})");
    assert!(e.contains("no rna_plus track"), "{e}");
    let e = err(&mut s, "cov.pseudobulk(\"chr1:0-64\", #{groups: [\"x\"]})");
    assert!(e.contains("1 labels for 3 cells"), "{e}");
    let e = err(&mut s, "load_fragments(\"/nonexistent/fragments.tsv.gz\")");
    assert!(e.contains("/nonexistent/fragments.tsv.gz"), "{e}");
    let e = err(&mut s, &format!("load_fragments({:?}, #{{barcodes: [\"ZZZ\"]}})", frag.to_str().unwrap()));
    assert!(e.contains("no barcode of the whitelist"), "{e}");
    let e = err(&mut s, "cov.select_cells([0]).qc()");
    assert!(e.contains("no import statistics"), "{e}");
}
