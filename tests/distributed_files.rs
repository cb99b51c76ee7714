//! Files and failures under `gscript launch --nproc 2` (two ranks over loopback): file-writing primitives write from
//! rank 0 only (every rank returns once the file exists; `output=all_ranks` makes every rank write), a write that fails
//! on rank 0 is an error naming the path on every rank, and a rank that fails while the others wait for it (in the
//! rendezvous or a collective) makes the launcher stop them at once rather than after the collective timeout.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

mod common;

/// The collective timeout of these runs: far longer than any of them may take, so a run that waited for it fails.
const TIMEOUT_S: &str = "100";

/// `gscript launch --nproc 2 <script> --out <out> [extra]` in `dir`, with its wall time.
fn launch(dir: &Path, script: &str, extra: &[&str]) -> (Output, Duration) {
    launch_with_timeout(dir, script, extra, TIMEOUT_S)
}

/// [`launch`] with the collective timeout `timeout_s`.
fn launch_with_timeout(dir: &Path, script: &str, extra: &[&str], timeout_s: &str) -> (Output, Duration) {
    std::fs::write(dir.join("s.gscript"), script).unwrap();
    let out = dir.join("out");
    let mut args = vec!["launch", "--nproc", "2"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["s.gscript", "--out", out.to_str().unwrap()]);
    let start = Instant::now();
    let output = common::process::gscript_output_env(
        &args,
        Some(dir),
        &[("GSCRIPT_DIST_TIMEOUT", timeout_s)],
        Duration::from_secs(60),
    );
    (output, start.elapsed())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn files_are_written_once_by_rank_zero_and_exist_on_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});
let model = train_scbasset(sim.data, #{preset: "tiny", epochs: 1, batch_size: 32, threads: 1});
sim.data.write_h5ad(out_path("cells.h5ad"), #{obsm: #{X_scbasset: model.cell_embeddings()}});
model.save(out_path("model.safetensors"));
let fig = plot_hist([1, 2, 2, 3, 3, 3], #{bins: 3});
fig.save(out_path("hist.svg"));
sim.data.peaks().write_bed(out_path("peaks.bed"));
// paths of each rank's own: a rank that writes creates its file
write_csv(one_hot("ACGT"), out_path(`from_rank_${rank()}.tsv`));
fig.save(out_path(`hist_${rank()}.svg`));
// every rank reads back what rank 0 wrote: the files exist when the calls return
let back = load_peaks(out_path("cells.h5ad"), #{min_cell_fraction: 0.0});
let again = load_model(out_path("model.safetensors"));
let bed = load_bed(out_path("peaks.bed"));
if back.n_cells() != 30 || bed.len() != 100 { throw `rank ${rank()} read ${back.n_cells()} cells, ${bed.len()} peaks` }
print(`rank ${rank()} reopened ${back.n_cells()} cells and ${again}`);
"#;
    let (out, _) = launch(dir.path(), script, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "launch failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("rank 0 reopened 30 cells"), "{stdout}");
    let files = dir.path().join("out");
    let names = listing(&files);
    // one file per path, no temporary files left, and no file at the path only rank 1 could have written
    for name in [
        "cells.h5ad",
        "model.safetensors",
        "model.safetensors.json",
        "hist.svg",
        "peaks.bed",
        "from_rank_0.tsv",
        "hist_0.svg",
    ] {
        assert!(names.contains(&name.to_string()), "{name} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains("rank_1") || n.contains("_1.svg")), "rank 1 wrote: {names:?}");
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "temporary files left: {names:?}");
    // the files are complete: HDF5 signature, a safetensors header that parses, an SVG document, the CSV's rows
    let h5 = std::fs::read(files.join("cells.h5ad")).unwrap();
    assert_eq!(&h5[..8], b"\x89HDF\r\n\x1a\n");
    let st = std::fs::read(files.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&st[8..8 + n]).unwrap();
    assert!(header.as_object().is_some_and(|h| h.len() > 2), "{header}");
    let svg = std::fs::read_to_string(files.join("hist.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    let tsv = std::fs::read_to_string(files.join("from_rank_0.tsv")).unwrap();
    assert_eq!(tsv.lines().count(), 5, "{tsv}");
}

#[test]
fn with_output_all_ranks_every_rank_writes() {
    let dir = tempfile::tempdir().unwrap();
    let script = "write_csv(one_hot(\"ACGT\"), out_path(`from_rank_${rank()}.tsv`));\n\
                  plot_hist([1, 2, 2, 3], #{bins: 2}).save(out_path(`hist_${rank()}.svg`));\n";
    let (out, _) = launch(dir.path(), script, &["--all-output"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names = listing(&dir.path().join("out"));
    assert_eq!(names, ["from_rank_0.tsv", "from_rank_1.tsv", "hist_0.svg", "hist_1.svg"]);
}

#[test]
fn a_write_failing_on_rank_zero_is_an_error_on_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no_such_dir").join("m.tsv");
    let target = target.to_str().unwrap();
    let script = format!("write_csv(one_hot(\"ACGT\"), \"{target}\");\nprint(\"after the write\");\n");
    let (out, took) = launch(dir.path(), &script, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{stderr}");
    assert!(!stdout.contains("after the write"), "{stdout}");
    for r in 0..2 {
        let prefix = format!("[rank {r}] error:");
        assert!(
            stderr.lines().any(|l| l.starts_with(&prefix) && l.contains("write_csv") && l.contains(target)),
            "rank {r} reported no error naming {target}:\n{stderr}"
        );
    }
    assert!(stderr.contains("rank 0 could not write"), "{stderr}");
    // rank 1 may exit a moment before rank 0, but its error blames rank 0
    assert!(stderr.contains("gscript launch: rank 0 of 2 failed first (exit code 1): error: write_csv"), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?} (collective timeout {TIMEOUT_S} s)\n{stderr}");
}

#[test]
fn a_rank_failing_before_the_rendezvous_stops_the_launch_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // rank 0 joins the group in simulate_atac's write and would wait there for rank 1 until the timeout
    let script = "if rank() == 1 { throw \"boom\" }\nlet sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\n";
    let (out, took) = launch(dir.path(), script, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gscript launch: rank 1 of 2 failed first (exit code 1): error: boom"), "{stderr}");
    assert!(stderr.contains("gscript launch: rank 0 stopped by the launcher"), "{stderr}");
    assert!(took < Duration::from_secs(30), "took {took:?} (collective timeout {TIMEOUT_S} s)\n{stderr}");
}

#[test]
fn a_rank_failing_before_an_all_gather_stops_the_launch_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});
let model = train_scbasset(sim.data, #{preset: "tiny", epochs: 1, batch_size: 32, threads: 1});
if rank() == 1 { throw "boom" }
let den = model.denoise(sim.data);
print("denoised");
"#;
    let (out, took) = launch(dir.path(), script, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stdout.contains("denoised"), "{stdout}");
    assert!(stderr.contains("gscript launch: rank 1 of 2 failed first (exit code 1): error: boom"), "{stderr}");
    assert!(took < Duration::from_secs(45), "took {took:?} (collective timeout {TIMEOUT_S} s)\n{stderr}");
}

#[test]
fn a_write_made_on_rank_zero_only_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    // rank 1 never calls the write, so it never joins the group: rank 0 waits for it until the (short) timeout
    let script = "if rank() == 0 { write_csv(one_hot(\"ACGT\"), out_path(\"m.tsv\")); }\nprint(\"done\");\n";
    let (out, _) = launch_with_timeout(dir.path(), script, &[], "3");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[rank 0] error: write_csv")
            && stderr.contains("every rank must call write_csv")
            && stderr.contains("not inside `if rank() == 0`"),
        "{stderr}"
    );
    assert!(!dir.path().join("out").join("m.tsv").exists());
}

#[test]
fn rank_zero_results_reach_every_rank() {
    // simulate_multiome runs on rank 0 only and write_bigwig's statistics come from rank 0's write: rank 1 gets them
    // through the broadcast and uses them (a missing key, a float for an int or a wrong path throws on rank 1).
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
let sim = simulate_multiome(out_path("mo"), #{cells: 30, chromosomes: 2, chrom_length: 300000, genes: 12});
if sim.summary.cells != 30 || type_of(sim.summary.seconds) != "f64" || sim.truth.types.len() == 0 {
    throw `rank ${rank()}: ${sim.summary}`
}
let cov = load_fragments(sim.fragments, #{genome: sim.genome});
let pb = cov.pseudobulk("chr1:0-65536", #{bin: 128});
let r = write_bigwig(pb, out_path("atac.bw"), #{row: "all:atac", genome: cov});
if type_of(r.items) != "i64" || r.items <= 0 || r.path != out_path("atac.bw") || r.zoom_levels.len() == 0 {
    throw `rank ${rank()}: ${r}`
}
let folds = make_folds(sim.genome, out_path("sequences.bed"), #{length: 8192});
let meme = jaspar_motifs().select(["CTCF"]).write_meme(out_path(`ctcf_${rank()}.meme`));
if read_motifs(out_path("ctcf_0.meme")).names().len() != 1 { throw `rank ${rank()}: no motif` }
print(`items ${r.items}, folds ${folds.len()}`);
"#;
    let (out, _) = launch(dir.path(), script, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("items "), "{stdout}");
    let names = listing(&dir.path().join("out"));
    assert!(names.contains(&"ctcf_0.meme".to_string()) && !names.contains(&"ctcf_1.meme".to_string()), "{names:?}");
    for f in ["atac.bw", "sequences.bed", "mo"] {
        assert!(names.contains(&f.to_string()), "{f} missing from {names:?}");
    }
}

#[test]
fn a_cell_index_is_built_by_rank_zero_and_mapped_by_every_rank() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, seed: 2});
let a = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0, binarize: true});
let b = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0, cell_index: true});
if a.cells_per_peak() != b.cells_per_peak() { throw `rank ${rank()}: the cell index differs from the loaded matrix`; }
print(`NNZ ${b.nnz()}`);
"#;
    // (every rank checks its own mapping against its own load; rank 0 prints)
    let (out, _) = launch(dir.path(), script, &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{}", stdout, text(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("NNZ ")).count(), 1, "{stdout}");
    // one store beside the simulated file, no temporary left by either rank
    let sim = dir.path().join("out/simulated_atac");
    let names = listing(&sim);
    assert!(names.contains(&"atac.h5ad.cells".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
}
