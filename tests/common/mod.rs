//! Helpers shared by the integration tests that drive the language: a session writing into a temporary directory,
//! and evaluation that panics with the rendered script error.
#![allow(dead_code)] // each test binary uses its own subset

pub mod process;

use std::sync::Arc;

use gscript_lang::{CaptureSink, Session};
use gscript_stdlib::StdLib;

/// A session whose outputs (simulated data files) go to a temporary directory that lives as long as the guard.
pub fn session() -> (Session, tempfile::TempDir) {
    let s = Session::new(Arc::new(CaptureSink::default()), &[&StdLib]);
    let dir = tempfile::tempdir().unwrap();
    s.host().set_out_dir(dir.path());
    (s, dir)
}

pub fn eval(s: &mut Session, code: &str) -> gscript_lang::rhai::Dynamic {
    s.eval(code, "<test>").unwrap_or_else(|e| panic!("{}", e.render()))
}

pub fn err(s: &mut Session, code: &str) -> String {
    s.eval(code, "<test>").err().unwrap_or_else(|| panic!("{code} should fail")).message
}

/// An array of numbers (NaN for non-floats).
pub fn floats(v: gscript_lang::rhai::Dynamic) -> Vec<f64> {
    v.into_array().unwrap().iter().map(|x| x.as_float().unwrap_or(f64::NAN)).collect()
}

pub fn strings(v: gscript_lang::rhai::Dynamic) -> Vec<String> {
    v.into_array().unwrap().iter().map(|x| x.to_string()).collect()
}

/// A copy of a FASTA file with bases replaced: `(chrom, 0-based position, new bases)`, applied in order.
pub fn write_edited_fasta(src: &std::path::Path, dst: &std::path::Path, edits: &[(String, usize, String)]) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix('>') {
            records.push((h.split_whitespace().next().unwrap().to_string(), Vec::new()));
        } else {
            records.last_mut().unwrap().1.extend(line.trim().bytes());
        }
    }
    for (chrom, pos, bases) in edits {
        let seq = &mut records.iter_mut().find(|r| &r.0 == chrom).unwrap().1;
        seq[*pos..*pos + bases.len()].copy_from_slice(bases.as_bytes());
    }
    let mut out = String::new();
    for (name, seq) in &records {
        out.push_str(&format!(">{name}\n"));
        for chunk in seq.chunks(60) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
    }
    std::fs::write(dst, out).unwrap();
}

/// A small simulated multiome (`sim`, `cov`, `labels`, one-hot `states`, `genes`) and a tiny scooby `m` trained on it
/// for 15 epochs (a few seconds): an untrained one is nearly sequence-independent.
pub const TRAINED_TINY_SCOOBY: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 12, cell_types: 3, chromosomes: 1, \
    chrom_length: 90000, genes: 4, max_gene_length: 8000, fragments_per_cell: 200, umis_per_cell: 200, \
    window: 4096, seed: 3});\n\
    let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{genome: sim.genome}));\n\
    let types = sim.truth.types;\n\
    let labels = cov.cells().map(|b| sim.truth.cell_types[b]);\n\
    let states = matrix(labels.map(|t| types.map(|x| if x == t { 1.0 } else { 0.0 })));\n\
    let genes = load_genes(sim.gtf);\n\
    let m = scooby_model(#{state_dim: 3, seed: 1});\n\
    m.train(cov, sim.genome, [\"chr1:0-4096\", \"chr1:8192-12288\", \"chr1:20480-24576\", \"chr1:40000-44096\"], states, \
        #{epochs: 15, cells_per_sequence: 8, warmup_steps: 1, decay_steps: 100});\n";
