//! `gscript-fuzz [TARGET ...] [--seconds N] [--seed S] [--execs N] [--out DIR]`: runs each target (all by default)
//! for N seconds (default 30), printing executions and findings; every finding's input is written to DIR (default
//! `target/fuzz-findings/<target>/`). Exit status 1 when anything was found. `--replay FILE` (repeatable) runs the
//! files once through the named targets instead and prints each outcome; `--trap` aborts on an oversized
//! allocation (run it under gdb to see where).

use std::path::PathBuf;
use std::time::Duration;

use gscript_fuzz::engine::{fuzz, Config, Outcome};
use gscript_fuzz::targets::{all, by_name, corpus_dir};

fn usage() -> ! {
    let names: Vec<&str> = all().iter().map(|t| t.name).collect();
    eprintln!("usage: gscript-fuzz [TARGET ...] [--seconds N] [--seed S] [--execs N] [--out DIR]");
    eprintln!("targets: {}", names.join(", "));
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut names = Vec::new();
    let mut cfg = Config { seconds: 30.0, ..Default::default() };
    let mut replay: Vec<PathBuf> = Vec::new();
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-findings");
    while let Some(a) = args.next() {
        let mut value = |what: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("{a} needs {what}");
                usage()
            })
        };
        match a.as_str() {
            "--seconds" => cfg.seconds = value("a number").parse().unwrap_or_else(|_| usage()),
            "--seed" => cfg.seed = value("a number").parse().unwrap_or_else(|_| usage()),
            "--execs" => cfg.max_execs = value("a number").parse().unwrap_or_else(|_| usage()),
            "--out" => out = PathBuf::from(value("a directory")),
            "--replay" => replay.push(PathBuf::from(value("a file"))),
            "--trap" => gscript_fuzz::guard::TRAP.store(true, std::sync::atomic::Ordering::SeqCst),
            "-h" | "--help" => usage(),
            s if s.starts_with('-') => usage(),
            s => names.push(s.to_string()),
        }
    }
    let targets = if names.is_empty() {
        all()
    } else {
        names
            .iter()
            .map(|n| {
                by_name(n).unwrap_or_else(|| {
                    eprintln!("unknown target `{n}`");
                    usage()
                })
            })
            .collect()
    };
    cfg.per_input = Duration::from_secs(10);
    if !replay.is_empty() {
        // Replay: run each file once through each named target and print the outcome.
        for t in &targets {
            for p in &replay {
                let input = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let start = std::time::Instant::now();
                let o = gscript_fuzz::engine::execute(t, &input, cfg.per_input);
                println!("{} {}: {o:?} ({:.2} s)", t.name, p.display(), start.elapsed().as_secs_f64());
            }
        }
        return;
    }
    let mut found = 0;
    println!(
        "{:<16} {:>9} {:>9} {:>9} {:>8} {:>7} {:>8}",
        "target", "execs", "ok", "errors", "distinct", "execs/s", "findings"
    );
    for t in &targets {
        let cfg = Config { corpus_dirs: vec![corpus_dir(t.format)], ..cfg.clone() };
        let r = fuzz(t, &cfg);
        let rate = r.execs as f64 / r.elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<16} {:>9} {:>9} {:>9} {:>8} {:>7.0} {:>8}",
            t.name,
            r.execs,
            r.ok,
            r.errors,
            r.distinct_errors,
            rate,
            r.findings.len()
        );
        for (i, f) in r.findings.iter().enumerate() {
            found += 1;
            let dir = out.join(t.name);
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("finding-{}-{i}.bin", cfg.seed));
            let _ = std::fs::write(&file, &f.input);
            let what = match &f.outcome {
                Outcome::Panic(m) => format!("panic: {m}"),
                Outcome::Hang => "hang (past the time limit)".into(),
                Outcome::Oversize(n) => format!("allocated {n} bytes at once"),
                o => format!("{o:?}"),
            };
            println!("  {}: {what} ({} input bytes, saved to {})", t.name, f.input.len(), file.display());
        }
        if r.findings.iter().any(|f| f.outcome == Outcome::Hang) {
            println!("  stopping: a hung input's thread is still running");
            break;
        }
    }
    std::process::exit(if found > 0 { 1 } else { 0 });
}
