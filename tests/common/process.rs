//! Running the `gscript` binary from a test (`gscript run …`, `gscript launch …`) with a time limit.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `gscript <args>` (in `dir` where given) outside any process group (no inherited `WORLD_SIZE` / `RANK`),
/// with a 20 s collective timeout, killing it and failing the test after `limit`. The exit status is not checked.
pub fn gscript_output(args: &[&str], dir: Option<&Path>, limit: Duration) -> Output {
    gscript_output_env(args, dir, &[], limit)
}

/// [`gscript_output`] with extra environment variables (`("GSCRIPT_DIST_TIMEOUT", "100")` replaces the 20 s).
pub fn gscript_output_env(args: &[&str], dir: Option<&Path>, env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gscript"));
    cmd.args(args)
        .env("GSCRIPT_DIST_TIMEOUT", "20")
        .envs(env.iter().copied())
        .env_remove("WORLD_SIZE")
        .env_remove("RANK")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().unwrap();
    // Both streams are drained while the child runs: a child writing more than a pipe holds (64 KiB) would otherwise
    // block on its write and never exit.
    let drain = |stream: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut s) = stream {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            panic!("gscript {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// [`gscript_output`] in `dir`, failing the test (with both streams) unless the command succeeds.
pub fn gscript(args: &[&str], dir: &Path, limit: Duration) -> Output {
    let out = gscript_output(args, Some(dir), limit);
    assert!(
        out.status.success(),
        "gscript {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The rows a script printed as `label [v, v, …]` (e.g. `print(\`gc${i} ${m.row(i)}\`)`), in order.
pub fn labelled_rows(stdout: &str) -> Vec<(String, Vec<f64>)> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(" ["))
        .map(|(label, v)| {
            (label.to_string(), v.trim_end_matches(']').split(", ").map(|x| x.parse().unwrap()).collect())
        })
        .collect()
}
