//! The `gscript` command line: run, --set, exit codes, the REPL on piped input, doc, info, Ctrl-C.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gscript() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gscript"))
}

fn script(dir: &tempfile::TempDir, name: &str, code: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, code).unwrap();
    p
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn run_succeeds_with_set_values_visible_as_constants() {
    let dir = tempfile::tempdir().unwrap();
    let p = script(&dir, "ok.gscript", "print(`${name} ${n + 1} ${param(\"other\", \"dflt\")}`);");
    let o = gscript().args(["run"]).arg(&p).args(["--set", "name=cells", "--set", "n=41"]).output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(out, "cells 42 dflt\n");
}

#[test]
fn script_error_exits_1_with_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let p = script(&dir, "bad.gscript", "let a = 1;\nlet b = a + nope;\n");
    let o = gscript().arg("run").arg(&p).output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("bad.gscript:2:13"), "{err}");
    assert!(err.contains("let b = a + nope;"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["run"],
        vec!["run", "/no/such/file.gscript"],
        vec!["run", "x", "--set", "novalue"],
        vec!["doc", "--bogus"],
    ] {
        let o = gscript().args(&args).output().unwrap();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "args {args:?}: {err}");
        assert!(err.contains("usage:"), "{err}");
    }
}

#[test]
fn repl_reads_multi_line_input_from_a_pipe() {
    let mut child = gscript()
        .arg("repl")
        .env("XDG_DATA_HOME", tempfile::tempdir().unwrap().path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"fn f(x) {\n  let y = x + 1;\n  y\n}\nlet m = #{\n  a: f(41)\n};\nprint(m.a);\nm.a * 2\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("42\n84"), "{out}");
}

#[test]
fn repl_reports_errors_and_keeps_going() {
    let mut child =
        gscript().arg("repl").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"undefined_thing\nprint(\"after\");\n").unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    assert!(err.contains("undefined_thing") && err.contains("<repl 1>:1:1"), "{err}");
    assert_eq!(out, "after\n");
}

#[test]
fn doc_prints_one_function_all_of_them_and_markdown() {
    let o = gscript().args(["doc", "param"]).output().unwrap();
    let (out, _) = text(&o);
    assert!(out.starts_with("param(name: string, default?: any) -> any"), "{out}");
    let o = gscript().args(["doc", "--markdown"]).output().unwrap();
    let (out, _) = text(&o);
    assert!(out.contains("| `runtime_info` |") && out.contains("## Language and session"), "{out}");
    let o = gscript().args(["doc", "no_such_fn"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn info_reports_libtorch_and_cuda_status() {
    let o = gscript().arg("info").output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("libtorch 2.13.0"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("cuda ")), "{out}");
}

/// The thread count adapts to other processes' load unless GSCRIPT_THREADING=fixed (`gscript bench contention`
/// measures the effect; the decision rule is tested in runtime/src/threads.rs).
#[test]
fn info_says_whether_the_thread_count_adapts() {
    let line = |cmd: &mut Command| {
        let o = cmd.arg("info").output().unwrap();
        let (out, _) = text(&o);
        out.lines().find(|l| l.starts_with("thread count ")).map(str::to_string).unwrap_or_default()
    };
    assert!(line(gscript().env_remove("GSCRIPT_THREADING")).contains("adapts"));
    assert!(line(gscript().env("GSCRIPT_THREADING", "fixed")).contains("fixed"));
}

#[test]
fn ctrl_c_interrupts_a_running_script_with_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let p = script(&dir, "spin.gscript", "print(\"started\");\nloop { }\n");
    let child = gscript().arg("run").arg(&p).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // wait until the script runs (its first line is printed), then send SIGINT
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(out, "started\n");
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn examples_run() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "gscript") {
            let o = gscript().arg("run").arg(&p).arg("--out").arg(out.path()).output().unwrap();
            let (_, err) = text(&o);
            assert_eq!(o.status.code(), Some(0), "{} failed:\n{err}", p.display());
        }
    }
}

/// Runs `body` (a script reading the constants `ck`, a checkpoint path, and `resume`, a bool) to the end, then again
/// killed with SIGKILL once `min_saved` epochs are checkpointed, then resumed; the resumed run must print exactly
/// what the uninterrupted run printed. Bit-exact equality needs the same thread count in every run (float reductions
/// split by thread), so the runs keep libtorch's count fixed instead of adapting it to the machine's load.
fn killed_and_resumed(body: &str, epochs: usize, min_saved: usize) {
    let dir = tempfile::tempdir().unwrap();
    let p = script(&dir, "train.gscript", body);
    let run = |ck: &std::path::Path, resume: bool| {
        let mut c = gscript();
        c.env("GSCRIPT_THREADING", "fixed")
            .arg("run")
            .arg(&p)
            .arg("--set")
            .arg(format!("ck={}", ck.display()))
            .arg("--set")
            .arg(format!("resume={resume}"));
        c
    };
    // the reference: an uninterrupted run
    let o = run(&dir.path().join("ref.safetensors"), false).output().unwrap();
    let (reference, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");

    // the same run killed (SIGKILL, no chance to clean up) once `min_saved` epochs are checkpointed
    let ck = dir.path().join("ck.safetensors");
    let sidecar = dir.path().join("ck.safetensors.json");
    let mut child = run(&ck, false).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let epochs_done = || -> usize {
        std::fs::read_to_string(&sidecar)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["epochs_done"].as_u64())
            .unwrap_or(0) as usize
    };
    let start = Instant::now();
    while epochs_done() < min_saved {
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint after 300 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run should have been killed, not finished");
    let saved = epochs_done();
    assert!((min_saved..epochs).contains(&saved), "killed after {saved} epochs");

    // resuming loses at most the unfinished epoch and ends exactly where the uninterrupted run ended
    let o = run(&ck, true).output().unwrap();
    let (resumed, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(resumed, reference, "resumed after {saved} epochs");
    // the session says where it continues from
    let said = format!("resuming from {} after epoch {saved} of {epochs}", ck.display());
    assert!(err.contains(&said), "expected `{said}` in the resumed run's standard error:\n{err}");
}

#[test]
fn training_killed_with_sigkill_resumes_from_its_last_checkpoint() {
    killed_and_resumed(
        "let sim = simulate_atac(#{n_cells: 60, n_peaks: 600, n_cell_types: 2, seed: 4});\n\
         let opts = #{preset: \"tiny\", epochs: 8, batch_size: 32, seed: 3, checkpoint: ck};\n\
         if resume { opts.resume = ck; }\n\
         let model = train_scbasset(sim.data, opts);\n\
         print(model.history().train_loss);\n",
        8,
        2,
    );
}

#[test]
fn fine_tuning_killed_with_sigkill_resumes_exactly() {
    // the same checkpoint format and trainer as training: adapters, the new cell layer and AdamW's moments come back
    killed_and_resumed(
        "let sim = simulate_atac(#{n_cells: 60, n_peaks: 600, n_cell_types: 2, seed: 4});\n\
         let base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 2, batch_size: 32, seed: 3});\n\
         let new_cells = simulate_atac(#{n_cells: 50, n_peaks: 600, n_cell_types: 2, seed: 9});\n\
         let opts = #{epochs: 8, rank: 2, batch_size: 32, seed: 5, checkpoint: ck};\n\
         if resume { opts.resume = ck; }\n\
         let tuned = lora_finetune(base, new_cells.data, opts);\n\
         print(tuned.history().train_loss);\n\
         print(tuned.intercept());\n",
        8,
        2,
    );
}
