//! `gscript launch` end to end: two ranks over loopback (Gloo) train scBasset data-parallel from an unchanged script,
//! only rank 0's output is shown, rank 0 alone writes the checkpoint, and a failing script is reported with the rank
//! that failed. Collective values, world-2 ≡ world-1 training, resuming in another world size and a lost rank are
//! tested in dist/tests/collectives.rs and runtime/src/train/distributed.rs.

use std::process::Output;
use std::time::Duration;

mod common;

/// Runs `gscript launch …`, killing it after `limit`.
fn launch(args: &[&str], limit: Duration) -> Output {
    common::process::gscript_output(&[&["launch"], args].concat(), None, limit)
}

#[test]
fn two_ranks_train_from_an_unchanged_script() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("run.ckpt");
    let script = dir.path().join("train.gscript");
    std::fs::write(
        &script,
        format!(
            "let sim = simulate_atac(#{{n_cells: 30, n_peaks: 96, n_cell_types: 2}});\n\
             let model = train_scbasset(sim.data, #{{preset: \"tiny\", epochs: 1, batch_size: 32, threads: 1, \
             checkpoint: \"{}\"}});\nprint(\"trained\");\n",
            ckpt.display()
        ),
    )
    .unwrap();
    let out = launch(&["--nproc", "2", script.to_str().unwrap()], Duration::from_secs(120));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stdout.matches("trained").count(), 1, "only rank 0 prints:\n{stdout}");
    assert!(ckpt.is_file(), "rank 0 writes the checkpoint");
}

#[test]
fn a_failing_script_names_the_failed_rank() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fail.gscript");
    std::fs::write(&script, "let x = no_such_function(1);\n").unwrap();
    let out = launch(&["--nproc", "2", script.to_str().unwrap()], Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("gscript launch: rank ") && stderr.contains("of 2 failed first (exit code 1)"), "{stderr}");
    assert!(stderr.contains("[rank 0]") && stderr.contains("[rank 1]"), "{stderr}");
}

#[test]
fn launch_usage_errors() {
    let out = launch(&["x.gscript"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nproc"));
    let help = launch(&["--help"], Duration::from_secs(20));
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--nproc N"), "{help:?}");
}

#[test]
fn launch_all_output_shows_every_ranks_session_output() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ranks.gscript");
    std::fs::write(&script, "print(`hello from rank ${rank()} of ${world_size()}`);\n").unwrap();
    let script = script.to_str().unwrap();
    let only0 = launch(&["--nproc", "2", script], Duration::from_secs(60));
    let all = launch(&["--nproc", "2", "--all-output", script], Duration::from_secs(60));
    let (only0, all) = (String::from_utf8_lossy(&only0.stdout), String::from_utf8_lossy(&all.stdout));
    assert!(only0.contains("hello from rank 0 of 2") && !only0.contains("rank 1"), "{only0}");
    assert!(all.contains("hello from rank 0 of 2") && all.contains("hello from rank 1 of 2"), "{all}");
}
