//! Sequences and genomes in the language: one-hot, reverse complement, GC content, regions, FASTA genomes.

use std::path::PathBuf;
use std::sync::Arc;

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{FnDoc, MimeBundle, Registrar};
use gscript_runtime::seq::{self, Genome, Region};

use crate::bridge::{in_primitive, ScriptResult};
use crate::values::Matrix;

/// A FASTA genome held in a script.
#[derive(Clone)]
pub struct GenomeValue(pub Arc<Genome>);

impl GenomeValue {
    fn summary(&self) -> String {
        let g = &self.0;
        let total: u64 = g.chromosomes().iter().map(|e| e.length).sum();
        format!("Genome {} ({} sequences, {} bp)", g.path().display(), g.chromosomes().len(), total)
    }
}

fn region_map(r: &Region) -> Map {
    let mut m = Map::new();
    m.insert("chrom".into(), r.chrom.clone().into());
    m.insert("start".into(), (r.start as i64).into());
    m.insert("end".into(), (r.end as i64).into());
    m
}

pub fn register(reg: &mut Registrar) {
    reg.docs.add(
        FnDoc::new(
            "one_hot",
            "seq",
            "one_hot(seq: string) -> Matrix",
            "4 × L one-hot matrix of a sequence, rows A, C, G, T.",
        )
        .details("Lower-case bases count as normal bases; N and other characters give an all-zero column.")
        .example("let m = one_hot(\"ACGTN\");\nprint(m.get(3, 3));"),
    );
    reg.engine.register_fn("one_hot", |s: &str| -> Matrix {
        let l = s.len();
        let mut data = vec![0f32; 4 * l];
        for (i, b) in s.bytes().enumerate() {
            if let Some(c) = seq::codes::base_code(b) {
                data[c as usize * l + i] = 1.0;
            }
        }
        Matrix::new(4, l, data).with_row_names(vec!["A".into(), "C".into(), "G".into(), "T".into()])
    });

    reg.docs.add(
        FnDoc::new(
            "reverse_complement",
            "seq",
            "reverse_complement(seq: string) -> string",
            "Reverse complement (case and IUPAC codes kept).",
        )
        .example("reverse_complement(\"AACGTn\")"),
    );
    reg.engine.register_fn("reverse_complement", |s: &str| -> String {
        String::from_utf8_lossy(&seq::reverse_complement(s.as_bytes())).into_owned()
    });

    reg.docs.add(
        FnDoc::new(
            "dinucleotide_shuffle",
            "seq",
            "dinucleotide_shuffle(seq: string, seed: int) -> string",
            "Random shuffle preserving every dinucleotide count and the first and last letters (Altschul–Erickson).",
        )
        .details(
            "Uniform over sequences with the same dinucleotide composition (random Eulerian path), as \
                  fasta-ushuffle -k 2. The same seed gives the same shuffle.",
        )
        .example("let s = dinucleotide_shuffle(\"ACGTTGCAACGT\", 1);\nprint(s);"),
    );
    reg.engine.register_fn("dinucleotide_shuffle", |s: &str, seed: i64| -> String {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed as u64);
        String::from_utf8_lossy(&seq::shuffle::dinucleotide_shuffle(s.as_bytes(), &mut rng)).into_owned()
    });

    reg.docs.add(
        FnDoc::new(
            "gc_content",
            "seq",
            "gc_content(seq: string) -> float",
            "Fraction of G and C among the A/C/G/T bases.",
        )
        .example("gc_content(\"GGCCAATT\")"),
    );
    reg.engine.register_fn("gc_content", |s: &str| -> ScriptResult<f64> {
        seq::gc_content(s.as_bytes())
            .ok_or_else(|| gscript_lang::primitive_error("gc_content", Some("seq"), "has no A, C, G or T bases"))
    });

    reg.docs.add(
        FnDoc::new(
            "parse_region",
            "seq",
            "parse_region(text: string) -> map",
            "Reads `chr:start-end`, `chr-start-end` or `chr_start_end` (BED coordinates).",
        )
        .example("let r = parse_region(\"chr1:1,000-2,000\");\nprint(r.end - r.start);"),
    );
    reg.engine.register_fn("parse_region", |s: &str| -> ScriptResult<Map> {
        let r: Region = s.parse().map_err(in_primitive("parse_region"))?;
        Ok(region_map(&r))
    });

    reg.engine.register_type_with_name::<GenomeValue>("Genome");
    reg.host.register_renderer::<GenomeValue>(|g| MimeBundle::plain(g.summary()));
    reg.docs.add(
        FnDoc::method(
            "Genome",
            "to_string",
            "seq",
            "genome.to_string() -> string",
            "Path, number of sequences and total length.",
        )
        .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nprint(sim.genome.to_string());"),
    );
    reg.engine.register_fn("to_string", |g: &mut GenomeValue| g.summary());

    reg.docs.add(
        FnDoc::new("load_genome", "seq", "load_genome(path: string) -> Genome", "Opens a FASTA genome, building its .fai index when missing.")
            .details("The index is saved next to the FASTA when the directory is writable, else kept in memory (with a warning). \
                      Sequences are read on demand, never the whole genome.").example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet genome = load_genome(sim.files.genome);\nprint(genome.chromosomes());"),
    );
    let host = reg.host.clone();
    reg.engine.register_fn("load_genome", move |path: &str| -> ScriptResult<GenomeValue> {
        let g = Genome::open(&PathBuf::from(path)).map_err(in_primitive("load_genome"))?;
        if let Some(w) = &g.warning {
            host.warn(w);
        }
        Ok(GenomeValue(Arc::new(g)))
    });

    reg.docs.add(FnDoc::new(
        "fetch_sequence",
        "seq",
        "fetch_sequence(genome: Genome, region: string) -> string",
        "Upper-case bases of a region (`chr:start-end`, BED coordinates), N-padded beyond chromosome ends.",
    ).example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet genome = load_genome(sim.files.genome);\nlet s = fetch_sequence(genome, \"chr1:1000-1060\");\nprint(s);"));
    let fetch = |g: &mut GenomeValue, region: &str| -> ScriptResult<String> {
        let r: Region = region.parse().map_err(in_primitive("fetch_sequence"))?;
        let s = g.0.fetch_region(&r).map_err(in_primitive("fetch_sequence"))?;
        Ok(String::from_utf8_lossy(&s).into_owned())
    };
    reg.engine.register_fn("fetch_sequence", fetch);
    reg.docs.add(FnDoc::method("Genome", "fetch", "seq", "genome.fetch(region: string) -> string", "Same as fetch_sequence(genome, region).").example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet p = sim.data.peaks().get(0);\nlet s = sim.genome.fetch(`${p.chrom}:${p.start}-${p.end}`);\nprint(`${s.len()} bp, GC ${fmt(gc_content(s), 2)}`);"));
    reg.engine.register_fn("fetch", fetch);

    reg.docs.add(FnDoc::method("Genome", "chromosomes", "seq", "genome.chromosomes() -> map", "Sequence names and lengths.").example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet sizes = sim.genome.chromosomes();\nfor chrom in sizes.keys() { print(`${chrom}: ${sizes[chrom]} bp`); }"));
    reg.engine.register_fn("chromosomes", |g: &mut GenomeValue| -> Map {
        g.0.chromosomes().iter().map(|e| (e.name.as_str().into(), Dynamic::from(e.length as i64))).collect()
    });
}

/// Sequences from a string or an array of strings, as codes of the model's length.
pub(crate) fn sequence_codes(primitive: &str, seqs: &Dynamic, seq_len: usize) -> ScriptResult<seq::SeqCodes> {
    let list: Vec<String> = if let Some(s) = seqs.clone().try_cast::<String>() {
        vec![s]
    } else if let Some(a) = seqs.clone().try_cast::<gscript_lang::rhai::Array>() {
        a.into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.try_cast::<String>().ok_or_else(|| {
                    gscript_lang::primitive_error(primitive, Some("seqs"), &format!("element {i} is not a string"))
                })
            })
            .collect::<ScriptResult<_>>()?
    } else {
        return Err(gscript_lang::primitive_error(
            primitive,
            Some("seqs"),
            &format!("expected a DNA string or an array of them, got {}", seqs.type_name()),
        ));
    };
    if let Some((i, s)) = list.iter().enumerate().find(|(_, s)| s.len() != seq_len) {
        return Err(gscript_lang::primitive_error(
            primitive,
            Some("seqs"),
            &format!("sequence {i} is {} bp; the model reads {seq_len}-bp sequences (fetch windows of that length with genome.fetch)", s.len()),
        ));
    }
    seq::SeqCodes::from_sequences(&list, 0).map_err(|e| crate::bridge::script_error(primitive, e))
}
