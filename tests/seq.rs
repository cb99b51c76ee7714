//! Sequence primitives through the language.

use std::sync::Arc;

use gscript_lang::{CaptureSink, Session};
use gscript_stdlib::StdLib;

fn eval(s: &mut Session, code: &str) -> gscript_lang::rhai::Dynamic {
    s.eval(code, "<test>").unwrap_or_else(|e| panic!("{}", e.render()))
}

#[test]
fn genome_fetch_one_hot_and_revcomp() {
    let dir = tempfile::tempdir().unwrap();
    let fa = dir.path().join("g.fa");
    std::fs::write(&fa, ">chr1\nACGTACGTAC\nGGGGCCCCAA\nTT\n>chr2\nNNNNacgt\n").unwrap();
    let mut s = Session::new(Arc::new(CaptureSink::default()), &[&StdLib]);
    let _ = eval(&mut s, &format!("let g = load_genome(\"{}\");", fa.display()));
    assert_eq!(eval(&mut s, "g.fetch(\"chr1:8-14\")").into_string().unwrap(), "ACGGGG");
    assert_eq!(eval(&mut s, "fetch_sequence(g, \"chr2:2-8\")").into_string().unwrap(), "NNACGT");
    assert_eq!(eval(&mut s, "fetch_sequence(g, \"chr1:20-24\")").into_string().unwrap(), "TTNN");
    assert_eq!(eval(&mut s, "g.chromosomes().chr1").as_int().unwrap(), 22);
    assert_eq!(eval(&mut s, "reverse_complement(g.fetch(\"chr1:0-4\"))").into_string().unwrap(), "ACGT");
    assert_eq!(eval(&mut s, "one_hot(\"ACGTN\").sum()").as_float().unwrap(), 4.0);
    assert_eq!(eval(&mut s, "one_hot(\"ACGTN\").get(2, 2)").as_float().unwrap(), 1.0);
    let shuffled = eval(&mut s, "dinucleotide_shuffle(\"AACGTTGCAACGTAGGCT\", 3)").into_string().unwrap();
    let dinucs = |x: &str| {
        let mut v: Vec<&str> = (0..x.len() - 1).map(|i| &x[i..i + 2]).collect();
        v.sort();
        v.join(",")
    };
    assert_eq!(dinucs(&shuffled), dinucs("AACGTTGCAACGTAGGCT"));
    assert_eq!(shuffled, eval(&mut s, "dinucleotide_shuffle(\"AACGTTGCAACGTAGGCT\", 3)").into_string().unwrap());
    let err = s.eval("g.fetch(\"chrZ:1-5\")", "<test>").unwrap_err();
    assert!(err.message.contains("fetch_sequence") && err.message.contains("chrZ"), "{}", err.message);
    let err = s.eval("load_genome(\"/no/such.fa\")", "<test>").unwrap_err();
    assert!(err.message.starts_with("load_genome:") && err.message.contains("/no/such.fa"), "{}", err.message);
    let err = s.eval("one_hot(\"AC\").get(4, 0)", "<test>").unwrap_err();
    assert!(err.message.contains("outside 4 × 2"), "{}", err.message);
}
