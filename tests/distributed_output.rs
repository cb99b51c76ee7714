//! Output from rank 0 only: a script run as one rank of a launched group (RANK / WORLD_SIZE as torchrun sets them)
//! prints nothing on ranks other than 0 unless `--set output=all_ranks`; errors reach stderr on every rank; `rank()`
//! and `world_size()` report the environment. None of these lines joins the group, so each rank runs on its own.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `gscript run <script>` as rank `rank` of `world` (no group is joined by these scripts), killed after 60 s.
fn run_as_rank(rank: usize, world: usize, extra: &[&str], script: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.gscript");
    std::fs::write(&path, script).unwrap();
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    let path_s = path.to_str().unwrap().to_string();
    let out_dir = dir.path().join("out");
    let out_s = out_dir.to_str().unwrap().to_string();
    args.extend_from_slice(&[path_s.as_str(), "--out", out_s.as_str()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_gscript"))
        .args(&args)
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("GSCRIPT_DIST_TIMEOUT", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("gscript {args:?} as rank {rank} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

const SCRIPT: &str = "print(`line from rank ${rank()} of ${world_size()}`);\nlet x = 40 + 2;\nx";

#[test]
fn only_rank_zero_prints_by_default() {
    let r0 = run_as_rank(0, 2, &[], SCRIPT);
    let r1 = run_as_rank(1, 2, &[], SCRIPT);
    assert!(r0.status.success() && r1.status.success(), "{r0:?}\n{r1:?}");
    let s0 = String::from_utf8_lossy(&r0.stdout);
    assert_eq!(s0.matches("line from rank 0 of 2").count(), 1, "rank 0 stdout: {s0}");
    assert!(r1.stdout.is_empty(), "rank 1 printed: {}", String::from_utf8_lossy(&r1.stdout));
}

#[test]
fn all_ranks_setting_makes_every_rank_print() {
    let r1 = run_as_rank(1, 2, &["--set", "output=all_ranks"], SCRIPT);
    assert!(r1.status.success(), "{r1:?}");
    let s1 = String::from_utf8_lossy(&r1.stdout);
    assert_eq!(s1.matches("line from rank 1 of 2").count(), 1, "rank 1 stdout: {s1}");
}

#[test]
fn errors_reach_stderr_on_every_rank() {
    let r1 = run_as_rank(1, 2, &[], "print(\"before\");\nno_such_function_here(1);");
    assert!(!r1.status.success());
    assert!(r1.stdout.is_empty(), "rank 1 printed: {}", String::from_utf8_lossy(&r1.stdout));
    let e1 = String::from_utf8_lossy(&r1.stderr);
    assert!(e1.contains("no_such_function_here"), "rank 1 stderr: {e1}");
}

#[test]
fn unknown_output_setting_is_named_in_a_warning() {
    let r0 = run_as_rank(0, 1, &["--set", "output=everyone"], "print(world_size());");
    let e0 = String::from_utf8_lossy(&r0.stderr);
    assert!(e0.contains("output=everyone") && e0.contains("all_ranks"), "stderr: {e0}");
    assert_eq!(String::from_utf8_lossy(&r0.stdout).trim(), "1");
}
