//! The bad-input corpus: every `tests/corpus/<format>/<name>` with a `<name>.expect` beside it goes through its
//! format's public entry point (the fuzz target's, the same call the language primitive makes) and must fail with
//! a message containing each line of the `.expect` file (the file, line or field at fault). Files without an
//! `.expect` (minimised fuzz findings) must not panic, hang or over-allocate. `fuzz/scripts/make_corpus.py` writes
//! the text cases.

use std::time::Duration;

use gscript_fuzz::engine::{corpus_files, execute, Outcome};
use gscript_fuzz::targets::{all, corpus_dir};

/// Formats whose corpus must hold at least 10 broken inputs.
const AT_LEAST_TEN: &[&str] = &[
    "meme",
    "jaspar",
    "homer",
    "bed",
    "fasta",
    "fai",
    "vcf",
    "variant",
    "mtx",
    "gtf",
    "folds",
    "fragments",
    "wire",
    "h5ad",
    "tenx_h5",
    "scooby_h5ad",
    "safetensors",
    "keras",
];

#[test]
fn every_bad_input_fails_with_its_message() {
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for t in all() {
        let mut n = 0;
        for p in corpus_files(&corpus_dir(t.format)) {
            let input = std::fs::read(&p).unwrap();
            let outcome = execute(&t, &input, Duration::from_secs(20));
            let expect_path = p.with_file_name(format!("{}.expect", p.file_name().unwrap().to_string_lossy()));
            let expect = std::fs::read_to_string(&expect_path).ok();
            match (&outcome, expect) {
                (o, _) if o.is_bug() => failures.push(format!("{}: {o:?}", p.display())),
                (Outcome::Error(msg), Some(e)) => {
                    n += 1;
                    for want in e.lines().filter(|l| !l.is_empty()) {
                        if !msg.contains(want) {
                            failures.push(format!("{}: message lacks `{want}`: {msg}", p.display()));
                        }
                    }
                }
                (Outcome::Ok, Some(_)) => failures.push(format!("{}: accepted, expected an error", p.display())),
                _ => {}
            }
        }
        counts.push((t.format, n));
    }
    eprintln!("bad inputs per format: {counts:?}");
    for (format, n) in &counts {
        if AT_LEAST_TEN.contains(format) && *n < 10 {
            failures.push(format!("{format}: only {n} bad inputs with an .expect"));
        }
    }
    assert!(failures.is_empty(), "{} corpus failures:\n{}", failures.len(), failures.join("\n"));
}
