//! Every registered primitive is documented, and every documented example runs.

use std::sync::Arc;

use gscript_lang::{CaptureSink, Session};
use gscript_stdlib::StdLib;

fn session() -> Session {
    Session::new(Arc::new(CaptureSink::default()), &[&StdLib])
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
