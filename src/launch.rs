//! `gscript launch --nproc N FILE.gscript [run options]`: data-parallel runs on one node. Spawns N `gscript run`
//! processes with torchrun's environment (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`,
//! `MASTER_PORT` on a free loopback port), shows rank 0's standard output (the others' is discarded unless
//! `--all-output`, which also sets `output=all_ranks` in every rank's session), prefixes every rank's standard error with `[rank r]`, forwards SIGINT and SIGTERM, and reports which
//! rank failed and why. When a rank fails the others get the group's timeout to report the lost rank, then SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Usage line of the command.
pub const USAGE: &str = "  gscript launch --nproc N [--all-output] FILE.gscript [--set KEY=VALUE ...] [--out DIR]\n                                                               data-parallel run: N ranks on this node (docs/scaling.md)\n";

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

struct Rank {
    child: Child,
    status: Option<ExitStatus>,
    stderr_tail: Arc<Mutex<Vec<String>>>,
}

fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".into(),
    }
}

/// Runs the command; `Err` is a usage error.
pub fn launch(args: &[String]) -> Result<ExitCode, String> {
    let mut nproc: Option<usize> = None;
    let mut all_output = false;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--nproc" || a == "--nproc-per-node" {
            i += 1;
            let v = args.get(i).ok_or("--nproc expects a number")?;
            nproc = Some(v.parse().map_err(|_| format!("--nproc expects a number, got '{v}'"))?);
        } else if let Some(v) = a.strip_prefix("--nproc=") {
            nproc = Some(v.parse().map_err(|_| format!("--nproc expects a number, got '{v}'"))?);
        } else if a == "--help" || a == "-h" {
            print!("usage:\n{USAGE}");
            return Ok(ExitCode::SUCCESS);
        } else if a == "--all-output" {
            all_output = true;
        } else {
            rest.push(a.clone());
        }
        i += 1;
    }
    let nproc = nproc.ok_or("launch expects --nproc N")?;
    if nproc == 0 {
        return Err("--nproc must be at least 1".into());
    }
    if rest.first().is_none_or(|f| f.starts_with('-')) {
        return Err("launch expects a script file after its options".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the gscript executable: {e}"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?
        .port();
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut ranks = Vec::new();
    for r in 0..nproc {
        let mut cmd = Command::new(&exe);
        cmd.arg("run").args(&rest);
        if all_output {
            // every rank's session shows its output (by default only rank 0's does)
            cmd.args(["--set", "output=all_ranks"]);
        }
        cmd.env("RANK", r.to_string())
            .env("LOCAL_RANK", r.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .env("LOCAL_WORLD_SIZE", nproc.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(if r == 0 || all_output { Stdio::inherit() } else { Stdio::null() })
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("gscript launch: cannot start rank {r}: {e}");
                for rank in &mut ranks {
                    let rank: &mut Rank = rank;
                    rank.child.kill().ok();
                }
                return Ok(ExitCode::from(1));
            }
        };
        let tail = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let t = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[rank {r}] {line}");
                let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
                t.push(line);
                if t.len() > 20 {
                    t.remove(0);
                }
            }
        });
        ranks.push(Rank { child, status: None, stderr_tail: tail });
    }
    // How long the survivors get to report a lost rank (the collectives' timeout) before they are terminated.
    let grace = std::env::var("GSCRIPT_DIST_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(gscript_dist::DEFAULT_TIMEOUT, Duration::from_secs_f64)
        + Duration::from_secs(10);
    let mut first_failure: Option<(usize, Instant)> = None;
    let mut terminated = false;
    loop {
        let sig = SIGNAL.swap(0, Ordering::SeqCst);
        if sig != 0 {
            for rank in ranks.iter().filter(|r| r.status.is_none()) {
                unsafe { libc::kill(rank.child.id() as libc::pid_t, sig) };
            }
        }
        for (r, rank) in ranks.iter_mut().enumerate() {
            if rank.status.is_none() {
                if let Ok(Some(s)) = rank.child.try_wait() {
                    rank.status = Some(s);
                    if !s.success() && first_failure.is_none() {
                        first_failure = Some((r, Instant::now()));
                    }
                }
            }
        }
        if ranks.iter().all(|r| r.status.is_some()) {
            break;
        }
        if let Some((_, at)) = first_failure {
            if !terminated && at.elapsed() > grace {
                terminated = true;
                for rank in ranks.iter().filter(|r| r.status.is_none()) {
                    unsafe { libc::kill(rank.child.id() as libc::pid_t, libc::SIGTERM) };
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100)); // let the stderr readers drain
    let Some((failed, _)) = first_failure else { return Ok(ExitCode::SUCCESS) };
    let status = ranks[failed].status.expect("finished");
    let why = ranks[failed].stderr_tail.lock().map(|t| t.last().cloned().unwrap_or_default()).unwrap_or_default();
    eprintln!(
        "gscript launch: rank {failed} of {nproc} failed first ({}){}",
        describe(&status),
        if why.is_empty() { String::new() } else { format!(": {why}") }
    );
    for (r, rank) in ranks.iter().enumerate().filter(|(r, _)| *r != failed) {
        let s = rank.status.expect("finished");
        if !s.success() {
            eprintln!("gscript launch: rank {r} then stopped ({})", describe(&s));
        }
    }
    let code = status.code().filter(|c| (1..=255).contains(c)).unwrap_or(1);
    Ok(ExitCode::from(code as u8))
}
