//! The user's manual cannot drift from the code: the README's table of primitives and docs/reference.md are the
//! docs registry's own renderings (`./dev docs` rewrites both), and the README's gscript examples run.

use std::path::Path;
use std::sync::Arc;

use gscript_lang::{CaptureSink, Session};
use gscript_stdlib::StdLib;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn session() -> Session {
    Session::new(Arc::new(CaptureSink::default()), &[&StdLib])
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn readme_table_of_primitives_is_the_registry() {
    let readme = read("README.md");
    let (begin, end) = ("<!-- primitives:begin -->\n", "<!-- primitives:end -->");
    let a = readme.find(begin).expect("README has the primitives:begin marker") + begin.len();
    let b = readme.find(end).expect("README has the primitives:end marker");
    let expected = session().docs().render_markdown_summary();
    assert!(readme[a..b] == expected, "README's table of primitives is out of date: run ./dev docs");
    // every registered function appears in it
    for d in session().docs().all() {
        assert!(expected.contains(&format!("`{}`", d.qualified_name())), "{} missing", d.qualified_name());
    }
}

#[test]
fn reference_manual_is_the_registry() {
    assert!(
        read("docs/reference.md") == session().docs().render_markdown(),
        "docs/reference.md is out of date: run ./dev docs"
    );
}

#[test]
fn readme_gscript_examples_run() {
    let readme = read("README.md");
    let mut blocks = Vec::new();
    let mut rest = readme.as_str();
    while let Some(i) = rest.find("```gscript\n") {
        let body = &rest[i + 11..];
        let j = body.find("```").expect("closed code block");
        blocks.push(body[..j].to_string());
        rest = &body[j..];
    }
    assert!(!blocks.is_empty(), "the README shows gscript code");
    for code in blocks {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session();
        s.host().set_out_dir(dir.path());
        if let Err(e) = s.eval(&code, "<README>") {
            panic!("README example fails:\n{}", e.render());
        }
    }
}
