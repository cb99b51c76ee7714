//! Every registered primitive is documented, and every documented example runs.

use std::sync::Arc;

use gscript_lang::{CaptureSink, Session};
use gscript_stdlib::StdLib;

/// A session whose user answers `input()` prompts with "PBMC_3k" (examples run unattended).
fn session() -> Session {
    Session::new(Arc::new(CaptureSink::with_input(["PBMC_3k"; 4])), &[&StdLib])
}

#[test]
fn every_primitive_has_docs() {
    let s = session();
    let missing = s.undocumented_functions();
    assert!(missing.is_empty(), "functions without docs: {missing:?}");
    for doc in s.docs().all() {
        assert!(!doc.summary.is_empty() && doc.signature.contains(&doc.name), "incomplete doc for {}", doc.name);
    }
}

#[test]
fn every_documented_example_runs() {
    let docs = session().docs().clone();
    let mut ran = 0;
    for doc in docs.all() {
        for ex in &doc.examples {
            let mut s = session();
            let dir = tempfile::tempdir().unwrap();
            s.host().set_out_dir(dir.path());
            if let Err(e) = s.eval(ex, &format!("<example of {}>", doc.qualified_name())) {
                panic!("example of {} fails:\n{ex}\n{}", doc.qualified_name(), e.render());
            }
            ran += 1;
        }
    }
    assert!(ran >= 5, "only {ran} examples");
}

#[test]
fn every_primitive_has_an_example() {
    // Entries that cannot have an honest example that runs headlessly, in a fresh session, with no files from outside.
    const NO_EXAMPLE: &[&str] = &[
        // Needs a pretrained Keras .h5 or scvi-tools state dict; no primitive writes either format (model.save writes
        // gscript's own format, which load_model reads).
        "import_scbasset",
    ];
    let docs = session().docs().clone();
    let missing: Vec<String> = docs
        .all()
        .filter(|d| d.examples.is_empty())
        .map(|d| d.qualified_name())
        .filter(|n| !NO_EXAMPLE.contains(&n.as_str()))
        .collect();
    assert!(missing.is_empty(), "{} documented functions without an example: {missing:?}", missing.len());
    for name in NO_EXAMPLE {
        let d = docs.get(name).unwrap_or_else(|| panic!("allow-listed `{name}` is not documented"));
        assert!(d.examples.is_empty(), "`{name}` has an example now: take it off the allow-list");
    }
}
