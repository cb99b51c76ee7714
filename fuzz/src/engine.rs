//! The engine: picks a corpus entry, mutates it ([`crate::mutate`]), runs the target on its own thread under a time
//! limit and the allocation guard, and sorts the outcome. Not coverage-guided: the only feedback is the error
//! message, so an input whose (digit-normalised) message has not been seen before joins the in-memory corpus and is
//! mutated further; that steers the search past the first check a parser makes, toward deeper ones.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::guard;
use crate::mutate::mutate;
use crate::rng::Rng;
use crate::targets::Target;

/// What one input did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok,
    /// A typed error, with its message.
    Error(String),
    /// A panic (message and location): a bug.
    Panic(String),
    /// Still running after the time limit: a bug (a loop without progress, or work out of proportion to the input).
    Hang,
    /// A single allocation larger than [`guard::SOFT_LIMIT`] (bytes): a size taken from the input on trust.
    Oversize(usize),
}

impl Outcome {
    pub fn is_bug(&self) -> bool {
        matches!(self, Outcome::Panic(_) | Outcome::Hang | Outcome::Oversize(_))
    }
}

/// A bug, with the input that shows it.
#[derive(Clone, Debug)]
pub struct Finding {
    pub target: &'static str,
    pub outcome: Outcome,
    pub input: Vec<u8>,
}

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct Config {
    pub seconds: f64,
    pub max_execs: u64,
    pub seed: u64,
    /// Time limit of one input.
    pub per_input: Duration,
    /// Directories of extra corpus files (committed regressions and bad inputs): replayed first, then mutated.
    pub corpus_dirs: Vec<PathBuf>,
    /// Stop at the first finding.
    pub stop_on_finding: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seconds: 10.0,
            max_execs: u64::MAX,
            seed: 1,
            per_input: Duration::from_secs(5),
            corpus_dirs: Vec::new(),
            stop_on_finding: false,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub execs: u64,
    pub ok: u64,
    pub errors: u64,
    /// Distinct (digit-normalised) error messages seen.
    pub distinct_errors: usize,
    pub corpus: usize,
    pub findings: Vec<Finding>,
    pub elapsed: Duration,
}

static HOOK: Once = Once::new();
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Panics on the engine's threads are recorded (message and location) instead of printed.
fn install_hook() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_fuzz_thread = std::thread::current().name().is_some_and(|n| n.starts_with("fuzz-"));
            if on_fuzz_thread {
                let loc = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                    s.to_string()
                } else if let Some(s) = info.payload().downcast_ref::<String>() {
                    s.clone()
                } else {
                    "(non-string panic)".into()
                };
                *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{msg}{loc}"));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `target` on `input` on a fresh thread: a panic is caught, a run past `limit` is a hang (its thread is
/// abandoned), an allocation over the guard's limit is reported.
pub fn execute(target: &Target, input: &[u8], limit: Duration) -> Outcome {
    install_hook();
    let input = Arc::new(input.to_vec());
    let (tx, rx) = mpsc::channel();
    let run = target.run;
    let data = input.clone();
    guard::begin(&input);
    let spawned =
        std::thread::Builder::new().name(format!("fuzz-{}", target.name)).stack_size(16 << 20).spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| run(&data)));
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Outcome::Panic(format!("cannot start a thread: {e}"));
    }
    let outcome = match rx.recv_timeout(limit) {
        Ok(Ok(Ok(()))) => Outcome::Ok,
        Ok(Ok(Err(msg))) => Outcome::Error(msg),
        Ok(Err(_)) => Outcome::Panic(
            LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_else(|| "panic".into()),
        ),
        Err(mpsc::RecvTimeoutError::Timeout) => return Outcome::Hang,
        Err(mpsc::RecvTimeoutError::Disconnected) => Outcome::Panic("the target thread died".into()),
    };
    let largest = guard::end();
    if largest > guard::soft_limit(target.name) && !outcome.is_bug() {
        return Outcome::Oversize(largest);
    }
    outcome
}

/// The message with digit runs collapsed and quoted input (`…`, '…', "…") dropped, so that the same check at another
/// line or on other content counts once.
fn shape(msg: &str) -> String {
    let mut out = String::new();
    let mut digits = false;
    let mut quote: Option<char> = None;
    for c in msg.chars().take(200) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '`' | '\'' | '"') => quote = Some(c),
            None if c.is_ascii_digit() => {
                if !digits {
                    out.push('#');
                }
                digits = true;
                continue;
            }
            None => out.push(c),
        }
        digits = false;
    }
    out
}

/// Every regular file under `dir` except `.expect` sidecars and Markdown notes, sorted.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    out.retain(|p| p.is_file() && !matches!(p.extension().and_then(|e| e.to_str()), Some("expect" | "md")));
    out.sort();
    out
}

/// Replays the committed corpus, then mutates for `cfg.seconds` or `cfg.max_execs` inputs, whichever ends first.
pub fn fuzz(target: &Target, cfg: &Config) -> Report {
    let start = Instant::now();
    let mut rng = Rng::new(cfg.seed ^ fnv(target.name.as_bytes()));
    let mut report = Report::default();
    let mut corpus: Vec<Vec<u8>> = (target.seeds)();
    for dir in &cfg.corpus_dirs {
        for p in corpus_files(dir) {
            if let Ok(b) = std::fs::read(&p) {
                corpus.push(b);
            }
        }
    }
    let replay = corpus.clone();
    let mut seen: HashSet<String> = HashSet::new();
    let mut record = |input: Vec<u8>, outcome: Outcome, report: &mut Report, corpus: &mut Vec<Vec<u8>>| {
        report.execs += 1;
        match outcome {
            Outcome::Ok => report.ok += 1,
            Outcome::Error(msg) => {
                report.errors += 1;
                if seen.insert(shape(&msg)) && corpus.len() < 512 {
                    corpus.push(input);
                }
            }
            bug => report.findings.push(Finding { target: target.name, outcome: bug, input }),
        }
    };
    for input in replay {
        if report.execs >= cfg.max_execs {
            break;
        }
        let outcome = execute(target, &input, cfg.per_input);
        record(input, outcome, &mut report, &mut corpus);
        if cfg.stop_on_finding && !report.findings.is_empty() {
            break;
        }
    }
    let deadline = start + Duration::from_secs_f64(cfg.seconds);
    while report.execs < cfg.max_execs && Instant::now() < deadline {
        if cfg.stop_on_finding && !report.findings.is_empty() {
            break;
        }
        if report.findings.iter().any(|f| f.outcome == Outcome::Hang) {
            break; // its thread still runs: timings from here on mean nothing
        }
        let mut input = rng.pick(&corpus).clone();
        mutate(&mut rng, &mut input, target.dict, &corpus, target.text, target.max_len);
        let outcome = execute(target, &input, cfg.per_input);
        record(input, outcome, &mut report, &mut corpus);
    }
    report.distinct_errors = seen.len();
    report.corpus = corpus.len();
    report.elapsed = start.elapsed();
    report
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}
