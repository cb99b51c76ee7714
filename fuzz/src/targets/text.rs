//! Targets of the text formats: motifs (MEME, JASPAR/PFM, HOMER), BED/narrowPeak, FASTA and its .fai, VCF and
//! variant strings, Matrix Market and barcodes, GTF, fold BED, fragments, Borzoi target tables and the Jupyter wire
//! frames.

use std::path::Path;

use bytes::Bytes;
use gscript_runtime::coverage::fragments::{load_fragments, FragmentOptions};
use gscript_runtime::data::mtx::{parse_barcodes, parse_mtx};
use gscript_runtime::data::parse_bed;
use gscript_runtime::genes::{parse_gtf, read_folds, GeneOptions};
use gscript_runtime::interpret::{parse_variant, parse_vcf};
use gscript_runtime::models::borzoi::targets::TargetTable;
use gscript_runtime::motif::{read_homer, read_jaspar, read_meme, MotifFormat};
use gscript_runtime::seq::genome::{build_fai_from, parse_fai};
use gscript_runtime::seq::Genome;
use gscript_runtime::{CancelToken, NoProgress};

use super::{err, split, with_files, Target};
use crate::seeds::{self, files};

const MOTIF_WORDS: &[&str] = &[
    "MEME version 4",
    "MOTIF",
    "letter-probability matrix:",
    "alength=",
    "w=",
    "nsites=",
    "E=",
    "ALPHABET=",
    "strands:",
    "Background letter frequencies",
    "A [",
    "]",
    "[",
    ">",
    "A",
    "C",
    "G",
    "T",
    "URL",
];

fn texts(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn meme(data: &[u8]) -> Result<(), String> {
    let _ = MotifFormat::sniff(&String::from_utf8_lossy(data));
    read_meme(data, "fuzz.meme").map(drop).map_err(err)
}

fn jaspar(data: &[u8]) -> Result<(), String> {
    read_jaspar(data, "fuzz.jaspar", 0.0).map_err(err)?;
    read_jaspar(data, "fuzz.pfm", 0.8).map(drop).map_err(err)
}

fn homer(data: &[u8]) -> Result<(), String> {
    read_homer(data, "fuzz.motif").map(drop).map_err(err)
}

fn bed(data: &[u8]) -> Result<(), String> {
    let peaks = parse_bed(data, "fuzz.bed").map_err(err)?;
    for i in 0..peaks.len().min(8) {
        let r = peaks.region(i);
        let _ = (r.center(), r.len());
    }
    Ok(())
}

/// Fetches a few windows of every sequence (inside, across both ends), as the sequence primitives do.
fn fetch_some(g: &Genome) -> Result<(), String> {
    for e in g.chromosomes().iter().take(4).cloned().collect::<Vec<_>>() {
        let len = e.length.min(1 << 40) as i64;
        g.fetch(&e.name, -3, 5).map_err(err)?;
        g.fetch(&e.name, len - 6, len + 4).map_err(err)?;
        g.fetch(&e.name, 0, len.min(4096)).map_err(err)?;
    }
    Ok(())
}

/// FASTA bytes, optionally followed by `\0FAI\0` and an index for them.
fn fasta(data: &[u8]) -> Result<(), String> {
    let parts = split(data, b"\0FAI\0", 2);
    let _ = build_fai_from(parts[0], "fuzz.fa");
    let mut files: Vec<(&str, &[u8])> = vec![("g.fa", parts[0])];
    if let Some(fai) = parts.get(1) {
        files.push(("g.fa.fai", fai));
    }
    with_files(&files, |dir| {
        let g = Genome::open(&dir.join("g.fa")).map_err(err)?;
        fetch_some(&g)
    })
}

/// A valid FASTA with a mutated `.fai` beside it (written after it, so that it is taken as up to date).
fn fai(data: &[u8]) -> Result<(), String> {
    let _ = parse_fai(data, "fuzz.fa.fai");
    with_files(&[("g.fa", &files().fasta), ("g.fa.fai", data)], |dir| {
        let g = Genome::open(&dir.join("g.fa")).map_err(err)?;
        fetch_some(&g)
    })
}

fn vcf(data: &[u8]) -> Result<(), String> {
    parse_vcf(data, "fuzz.vcf").map(drop).map_err(err)
}

fn variant(data: &[u8]) -> Result<(), String> {
    let mut last = Ok(());
    for line in String::from_utf8_lossy(data).lines().take(64) {
        last = parse_variant(line).map(drop).map_err(err);
    }
    last
}

fn mtx(data: &[u8]) -> Result<(), String> {
    let _ = parse_barcodes(data, "fuzz.tsv");
    let c = parse_mtx(data, "fuzz.mtx").map_err(err)?;
    if c.row.len() != c.val.len() || c.col.len() != c.val.len() {
        return Err("fuzz harness: coordinates of different lengths".into());
    }
    Ok(())
}

fn gtf(data: &[u8]) -> Result<(), String> {
    parse_gtf(data, Path::new("fuzz.gtf"), &GeneOptions::default(), &mut NoProgress, &CancelToken::new())
        .map(drop)
        .map_err(err)
}

fn folds(data: &[u8]) -> Result<(), String> {
    with_files(&[("folds.bed", data)], |dir| read_folds(&dir.join("folds.bed")).map(drop).map_err(err))
}

/// Fragments as plain text, or gzip-compressed (inputs of odd length), with or without chromosome sizes.
fn fragments(data: &[u8]) -> Result<(), String> {
    let bytes = if data.len() % 2 == 1 {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).and_then(|_| gz.finish()).map_err(|e| format!("fuzz harness: {e}"))?
    } else {
        data.to_vec()
    };
    let opts = if data.len().is_multiple_of(3) {
        FragmentOptions { chrom_sizes: Some(vec![("chr1".into(), 50_000)]), ..Default::default() }
    } else {
        FragmentOptions::default()
    };
    with_files(&[("fragments.tsv.gz", &bytes)], |dir| {
        load_fragments(&dir.join("fragments.tsv.gz"), &opts, &mut NoProgress, &CancelToken::new())
            .map(drop)
            .map_err(err)
    })
}

fn borzoi_targets(data: &[u8]) -> Result<(), String> {
    with_files(&[("targets.txt", data)], |dir| TargetTable::read(&dir.join("targets.txt")).map(drop).map_err(err))
}

const WIRE_KEY: &[u8] = b"fuzz-key";

/// Frames separated by `\x1e`; a signature frame reading `sign` is replaced by the right HMAC of the four frames
/// after it, so that the parser gets past the signature check. Parsed with and without a key.
fn wire(data: &[u8]) -> Result<(), String> {
    let mut frames: Vec<Bytes> = split(data, b"\x1e", 64).into_iter().map(Bytes::copy_from_slice).collect();
    if let Some(d) = frames.iter().position(|f| f.as_ref() == b"<IDS|MSG>") {
        if frames.get(d + 1).is_some_and(|f| f.as_ref() == b"sign") && frames.len() >= d + 6 {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WIRE_KEY);
            let mut ctx = ring::hmac::Context::with_key(&key);
            for f in &frames[d + 2..d + 6] {
                ctx.update(f);
            }
            let hex: String = ctx.sign().as_ref().iter().map(|b| format!("{b:02x}")).collect();
            frames[d + 1] = Bytes::from(hex);
        }
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WIRE_KEY);
    let _ = gscript_kernel::wire::parse(frames.clone(), None);
    gscript_kernel::wire::parse(frames, Some(&key)).map(drop)
}

fn wire_seeds() -> Vec<Vec<u8>> {
    let msg = |header: &str, content: &str| {
        format!("client\x1e<IDS|MSG>\x1esign\x1e{header}\x1e{{}}\x1e{{}}\x1e{content}").into_bytes()
    };
    vec![
        msg(
            r#"{"msg_id":"1","session":"s","username":"u","date":"2026-01-01T00:00:00Z","msg_type":"execute_request","version":"5.3"}"#,
            r#"{"code":"print(1)","silent":false,"store_history":true,"user_expressions":{},"allow_stdin":true}"#,
        ),
        msg(r#"{"msg_type":"kernel_info_request"}"#, "{}"),
        msg(r#"{"msg_type":"history_request","msg_id":"h"}"#, r#"{"hist_access_type":"search","pattern":"a*","n":5}"#),
        msg(r#"{"msg_type":"complete_request"}"#, r#"{"code":"pri","cursor_pos":3}"#),
        msg(r#"{"msg_type":"input_reply"}"#, r#"{"value":"x"}"#),
    ]
}

pub(super) fn targets() -> Vec<Target> {
    const T: usize = 16 << 10;
    vec![
        Target {
            name: "meme",
            format: "meme",
            run: meme,
            seeds: || texts(&[seeds::MEME]),
            dict: MOTIF_WORDS,
            text: true,
            max_len: T,
        },
        Target {
            name: "jaspar",
            format: "jaspar",
            run: jaspar,
            seeds: || texts(&[seeds::JASPAR]),
            dict: MOTIF_WORDS,
            text: true,
            max_len: T,
        },
        Target {
            name: "homer",
            format: "homer",
            run: homer,
            seeds: || texts(&[seeds::HOMER]),
            dict: MOTIF_WORDS,
            text: true,
            max_len: T,
        },
        Target {
            name: "bed",
            format: "bed",
            run: bed,
            seeds: || vec![seeds::BED.as_bytes().to_vec(), files().sequences_bed.clone()],
            dict: &["track", "browser", "chr1", "\t.\t", "+", "-"],
            text: true,
            max_len: T,
        },
        Target {
            name: "fasta",
            format: "fasta",
            run: fasta,
            seeds: || {
                let f = files();
                let head: Vec<u8> = f.fasta.iter().take(3000).copied().collect();
                let mut with_fai = f.fasta.clone();
                with_fai.extend_from_slice(b"\0FAI\0");
                with_fai.extend_from_slice(&f.fai);
                vec![b">a desc\nACGTN\nacg\n>b\n\nAC\r\nGT\n".to_vec(), head, with_fai]
            },
            dict: &[">", ">chr1", "\r\n", "N", "acgt", "\0FAI\0"],
            text: true,
            max_len: 64 << 10,
        },
        Target {
            name: "fai",
            format: "fai",
            run: fai,
            seeds: || vec![files().fai.clone()],
            dict: &["chr1", "\t"],
            text: true,
            max_len: T,
        },
        Target {
            name: "vcf",
            format: "vcf",
            run: vcf,
            seeds: || texts(&[seeds::VCF]),
            dict: &["#CHROM", "POS", "ID", "REF", "ALT", "##", "<DEL>", "*", ".", ","],
            text: true,
            max_len: T,
        },
        Target {
            name: "variant",
            format: "variant",
            run: variant,
            seeds: || texts(&["chr1:1000:A:G\nchr2:1,000:AC:A\nchrUn_x:5:N:T\n"]),
            dict: &[":", "chr1", "A", "ACGT", ","],
            text: true,
            max_len: 4 << 10,
        },
        Target {
            name: "mtx",
            format: "mtx",
            run: mtx,
            seeds: || texts(&[seeds::MTX]),
            dict: &[
                "%%MatrixMarket",
                "matrix",
                "coordinate",
                "array",
                "integer",
                "real",
                "pattern",
                "general",
                "symmetric",
                "%",
            ],
            text: true,
            max_len: T,
        },
        Target {
            name: "gtf",
            format: "gtf",
            run: gtf,
            seeds: || vec![files().gtf.clone()],
            dict: &[
                "gene_id",
                "gene_name",
                "transcript_id",
                "gene_type",
                "exon",
                "gene",
                "transcript",
                "\"",
                ";",
                "+",
                "-",
            ],
            text: true,
            max_len: 32 << 10,
        },
        Target {
            name: "folds",
            format: "folds",
            run: folds,
            seeds: || texts(&[seeds::FOLDS]),
            dict: &["fold", "chr1"],
            text: true,
            max_len: T,
        },
        Target {
            name: "fragments",
            format: "fragments",
            run: fragments,
            seeds: || {
                let f = &files().fragments;
                vec![f.iter().take(6000).copied().collect(), f.clone()]
            },
            dict: &["chr1", "chrM", "#", "-1"],
            text: true,
            max_len: 64 << 10,
        },
        Target {
            name: "borzoi_targets",
            format: "borzoi_targets",
            run: borzoi_targets,
            seeds: || texts(&[seeds::TARGETS]),
            dict: &["identifier", "sum_stat", "strand_pair", "sum", "mean", "sum_sqrt"],
            text: true,
            max_len: T,
        },
        Target {
            name: "wire",
            format: "wire",
            run: wire,
            seeds: wire_seeds,
            dict: &["<IDS|MSG>", "\x1e", "sign", "msg_type", "{}", "null", "[]", "\"", "{\"msg_type\":1}"],
            text: true,
            max_len: 8 << 10,
        },
    ]
}
