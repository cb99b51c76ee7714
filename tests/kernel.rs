//! The Jupyter kernel end to end, driven from Python as notebooks drive it (the test venv has jupyter_client,
//! jupyter-kernel-test and nbclient): the conformance suite, behaviour under failure (forged signatures, panics,
//! interrupts in both modes, input, shutdown, orphaning) and every notebook in examples/.
//!
//! Each test installs the kernelspec of the binary under test into its own temporary prefix and points the Python
//! side at it with JUPYTER_PATH, so nothing outside the temporary folder is touched.

use std::path::Path;
use std::process::Command;

use gscript_runtime::testing::test_python;

/// Installs kernelspecs `name` (message interrupts) and `name-signal` under `prefix`; returns JUPYTER_PATH.
fn install(prefix: &Path, name: &str) -> String {
    for (n, mode) in [(name.to_string(), "message"), (format!("{name}-signal"), "signal")] {
        let out = Command::new(env!("CARGO_BIN_EXE_gscript"))
            .args(["kernel", "install", "--prefix"])
            .arg(prefix)
            .args(["--name", &n, "--interrupt-mode", mode])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    prefix.join("share/jupyter").display().to_string()
}

/// One kernel at a time: libtorch's OpenMP threads spin while they wait for each other, so two kernels training on
/// 2 cores slow each other down by far more than 2× (measured up to 20×).
static ONE_KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs tests/py/<script> against a fresh kernelspec; returns its stdout after asserting success.
fn run_python(script: &str, extra_env: &[(&str, &Path)]) -> Option<String> {
    let python = test_python()?;
    let _one = ONE_KERNEL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let jupyter_path = install(&dir.path().join("prefix"), "gscript-test");
    let mut cmd = Command::new(python);
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(script))
        .env("JUPYTER_PATH", jupyter_path)
        .env("JUPYTER_DATA_DIR", dir.path().join("data"))
        .env("JUPYTER_RUNTIME_DIR", dir.path().join("runtime"))
        .env("JUPYTER_CONFIG_DIR", dir.path().join("config"))
        .env("JUPYTER_PLATFORM_DIRS", "1")
        .env("GSCRIPT_KERNEL_NAME", "gscript-test")
        .current_dir(dir.path());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    Some(stdout)
}

#[test]
fn jupyter_kernel_test_suite_passes_all_twelve_tests() {
    if let Some(out) = run_python("kernel_conformance.py", &[]) {
        assert!(out.contains("ran 12, failures 0, errors 0, skipped 0"), "{out}");
    }
}

#[test]
fn kernel_survives_forged_messages_panics_and_interrupts() {
    if let Some(out) = run_python("kernel_behaviour.py", &[]) {
        assert!(!out.contains("FAIL"), "{out}");
        // every check ran (a check that never ran would not print)
        assert!(out.lines().filter(|l| l.starts_with("ok ")).count() == 26, "{out}");
    }
}

#[test]
fn every_example_notebook_runs_with_inline_figures() {
    let out_dir = tempfile::tempdir().unwrap();
    if let Some(out) = run_python("run_notebooks.py", &[("GSCRIPT_NOTEBOOK_OUT", out_dir.path())]) {
        assert!(out.contains("quickstart.ipynb:"), "{out}");
        assert!(out.contains("0 errors") && !out.contains("FAIL"), "{out}");
        // the executed quickstart wrote its files next to the notebook
        assert!(out_dir.path().join("quickstart/quickstart.h5ad").exists());
    }
}

/// 1,000 mixed cells (prints, errors, native panics, figures, input requests, interrupted loops and trainings, large
/// values) through one connection: every reply and output arrives, the resident memory stays bounded (the curve is
/// printed), and a client with the wrong key gets nothing (tests/py/kernel_soak.py).
#[test]
fn kernel_soak_of_a_thousand_cells() {
    if let Some(out) = run_python("kernel_soak.py", &[]) {
        assert!(!out.contains("FAIL"), "{out}");
        assert!(out.contains("ok soak: 1000 cells"), "{out}");
        assert_eq!(out.lines().filter(|l| l.starts_with("rss ")).count(), 11, "{out}");
        assert!(
            out.contains("ok wrong-key client gets no reply") && out.contains("ok first client still served"),
            "{out}"
        );
    }
}
