//! `gscript launch --nproc N FILE.gscript [run options]`: data-parallel runs on one node. Spawns N `gscript run`
//! processes with torchrun's environment (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`,
//! `MASTER_PORT` on a free loopback port), shows rank 0's standard output (the others' is discarded unless
//! `--all-output`, which also sets `output=all_ranks` in every rank's session), prefixes every rank's standard error with `[rank r]`, forwards SIGINT and SIGTERM, and reports which
//! rank failed first and why. When a rank fails, the others get a few seconds to stop on their own (a rank waiting for
//! the failed one in a collective usually reports it at once), then SIGTERM, then SIGKILL — as torchrun's agent
//! stops the group when a worker fails — instead of waiting in their next collective until its timeout.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Usage line of the command.
pub const USAGE: &str = "  gscript launch --nproc N [--all-output] FILE.gscript [--set KEY=VALUE ...] [--out DIR]\n                                                               data-parallel run: N ranks on this node (docs/scaling.md)\n";

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// How long the other ranks get, after the first rank failed, to stop on their own (a rank waiting on the failed one
/// in a collective usually learns of it at once and reports its own error) before they are sent SIGTERM.
const SURVIVOR_GRACE: Duration = Duration::from_secs(3);
/// How long a rank sent SIGTERM gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

struct Rank {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
    /// Set when the launcher stopped this rank (after another rank failed).
    stopped: bool,
    stderr_tail: Arc<Mutex<Vec<String>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".into(),
    }
}

/// Why a rank failed, from the tail of its standard error: its last `error: …` line with the location line that
/// follows it (`--> file:line:col`), else its last non-empty line.
fn reason(tail: &[String]) -> String {
    match tail.iter().rposition(|l| l.trim_start().to_ascii_lowercase().starts_with("error")) {
        Some(i) => {
            let at = tail.get(i + 1).and_then(|l| l.trim_start().strip_prefix("--> ")).map(str::trim);
            match at {
                Some(at) => format!("{} (at {at})", tail[i].trim()),
                None => tail[i].trim().to_string(),
            }
        }
        None => tail.iter().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string()).unwrap_or_default(),
    }
}

/// Whether an error line names a rank other than `rank` ("lost rank 1", "rank 0 could not write …").
fn blames_another_rank(line: &str, rank: usize, nproc: usize) -> bool {
    let mut rest = line;
    while let Some(i) = rest.find("rank ") {
        rest = &rest[i + 5..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.parse::<usize>().is_ok_and(|k| k != rank && k < nproc) {
            return true;
        }
    }
    false
}

fn signal_ranks(ranks: &mut [Rank], sig: libc::c_int, mark_stopped: bool) {
    for rank in ranks.iter_mut().filter(|r| r.status.is_none()) {
        // Not reported as exited: its pid is its own (but for the moment between its waiter's reaping and report).
        unsafe { libc::kill(rank.pid, sig) };
        rank.stopped |= mark_stopped;
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
    let mut ranks: Vec<Rank> = Vec::new();
    let exits = std::sync::mpsc::channel::<(usize, std::io::Result<ExitStatus>)>();
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
                signal_ranks(&mut ranks, libc::SIGKILL, true);
                return Ok(ExitCode::from(1));
            }
        };
        let tail = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let t = tail.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[rank {r}] {line}");
                let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
                t.push(line);
                if t.len() > 20 {
                    t.remove(0);
                }
            }
        });
        let pid = child.id() as libc::pid_t;
        // One waiter per rank: exits are seen in the order they happen (the first failure is the cause, the ranks
        // that lost it in a collective fail just after).
        let tx = exits.0.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send((r, status));
        });
        ranks.push(Rank { pid, status: None, stopped: false, stderr_tail: tail, stderr_reader: Some(reader) });
    }
    let (_, exited) = exits;
    let mut first_failure: Option<Instant> = None;
    let mut failures: Vec<usize> = Vec::new(); // failed ranks in the order they exited
    let mut term_sent: Option<Instant> = None;
    let mut kill_sent = false;
    while ranks.iter().any(|r| r.status.is_none()) {
        let sig = SIGNAL.swap(0, Ordering::SeqCst);
        if sig != 0 {
            signal_ranks(&mut ranks, sig, false);
        }
        match exited.recv_timeout(Duration::from_millis(50)) {
            Ok((r, status)) => {
                let status = status.unwrap_or_else(|e| {
                    eprintln!("gscript launch: cannot wait for rank {r}: {e}");
                    std::os::unix::process::ExitStatusExt::from_raw(1 << 8)
                });
                ranks[r].status = Some(status);
                if !status.success() {
                    failures.push(r);
                    first_failure.get_or_insert_with(Instant::now);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // As torchrun's agent does: once a rank failed, the others are stopped (they would otherwise wait for it in
        // their next collective until the timeout).
        if let Some(at) = first_failure {
            if term_sent.is_none() && at.elapsed() > SURVIVOR_GRACE {
                signal_ranks(&mut ranks, libc::SIGTERM, true);
                term_sent = Some(Instant::now());
            }
        }
        if let Some(at) = term_sent {
            if !kill_sent && at.elapsed() > KILL_GRACE {
                signal_ranks(&mut ranks, libc::SIGKILL, true);
                kill_sent = true;
            }
        }
    }
    // Every rank has exited: its standard error reaches end of file once its last lines are read (bounded, in case a
    // process the rank started still holds the pipe).
    let drained = Instant::now();
    while ranks.iter().any(|r| r.stderr_reader.as_ref().is_some_and(|h| !h.is_finished()))
        && drained.elapsed() < Duration::from_secs(2)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let reasons: Vec<String> =
        ranks.iter().map(|r| r.stderr_tail.lock().map(|t| reason(&t)).unwrap_or_default()).collect();
    // The rank that failed first on its own: ranks that stopped because of another one (a lost peer in a collective,
    // rank 0's failed write) name that rank in their error and may exit a moment before it.
    let failed = failures.iter().copied().find(|&r| !blames_another_rank(&reasons[r], r, nproc)).unwrap_or(failures[0]);
    let status = ranks[failed].status.expect("finished");
    let why = &reasons[failed];
    eprintln!(
        "gscript launch: rank {failed} of {nproc} failed first ({}){}",
        describe(&status),
        if why.is_empty() { String::new() } else { format!(": {why}") }
    );
    for (r, rank) in ranks.iter().enumerate().filter(|(r, _)| *r != failed) {
        let s = rank.status.expect("finished");
        if rank.stopped && !s.success() {
            eprintln!("gscript launch: rank {r} stopped by the launcher ({})", describe(&s));
        } else if !s.success() {
            eprintln!("gscript launch: rank {r} then failed ({})", describe(&s));
        }
    }
    let code = status.code().filter(|c| (1..=255).contains(c)).unwrap_or(1);
    Ok(ExitCode::from(code as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_the_error_line_with_its_location() {
        let tail: Vec<String> =
            ["progress 3/3", "error: boom", "  --> s.gscript:2:13", "  |", "2 | throw \"boom\"", "  |   ^"]
                .map(String::from)
                .into();
        assert_eq!(reason(&tail), "error: boom (at s.gscript:2:13)");
        assert_eq!(reason(&["a".into(), "last words".into(), " ".into()]), "last words");
    }

    #[test]
    fn errors_caused_by_another_rank_name_it() {
        assert!(blames_another_rank("error: denoise: rank 0: all_gather failed: lost rank 1: closed", 0, 2));
        assert!(blames_another_rank("error: write_csv: rank 0 could not write x.tsv: denied", 1, 2));
        assert!(!blames_another_rank("error: rank 1 says boom", 1, 2));
        // "rank 10" is not rank 1, and ranks outside the group are not blamed
        assert!(!blames_another_rank("error: rank 10 of my list", 1, 4));
        assert!(!blames_another_rank("error: no rank here", 0, 2));
    }
}
