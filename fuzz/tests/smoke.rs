//! CI's fuzz run: every target replays its committed corpus (`tests/corpus/<format>/`: regressions of past findings
//! and the bad-input corpus) and then runs a short mutation campaign from a fixed seed, bounded by a number of inputs
//! and by time (at most ~3 s per target). Any panic, hang or oversized allocation fails with the input printed.

use std::time::Duration;

use gscript_fuzz::engine::{fuzz, Config};
use gscript_fuzz::targets::{all, corpus_dir};

/// Inputs per target: a deterministic sequence (fixed seed); the time cap only shortens it on a slow machine.
const EXECS: u64 = 2_000;
const SECONDS: f64 = 3.0;

#[test]
fn every_target_survives_its_corpus_and_a_short_campaign() {
    let mut failures = Vec::new();
    for t in all() {
        let cfg = Config {
            seconds: SECONDS,
            max_execs: EXECS,
            seed: 20,
            per_input: Duration::from_secs(20),
            corpus_dirs: vec![corpus_dir(t.format)],
            stop_on_finding: true,
        };
        let r = fuzz(&t, &cfg);
        eprintln!(
            "{:<16} {:>5} inputs ({} ok, {} errors) in {:.1} s",
            t.name,
            r.execs,
            r.ok,
            r.errors,
            r.elapsed.as_secs_f64()
        );
        assert!(r.execs > 0, "{}: nothing ran", t.name);
        for f in r.findings {
            let shown: String =
                f.input.iter().take(400).flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect();
            failures.push(format!("{}: {:?} on {} bytes: {shown}", f.target, f.outcome, f.input.len()));
        }
    }
    assert!(failures.is_empty(), "fuzz findings:\n{}", failures.join("\n"));
}
