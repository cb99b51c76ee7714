//! Gene windows and exon bins against a Python implementation of scooby's rules written here: the GTF is read the
//! way scooby's `Transcriptome` reads it (exon lines, keyed by gene_name, IntervalTree union with `merge_overlaps`),
//! windows as `get_gene_span` in scooby_reproducibility's data-preparation notebooks, bins as `Gene.output_slice`.

use std::fmt::Write as _;

use super::gtf::{load_genes, GeneOptions};
use super::windows::{exon_bins, gene_window, sense_bins, GeneWindowOptions, WindowCenter};
use super::{Gene, Strand, SCOOBY_BIN, SCOOBY_CONTEXT_LENGTH, SCOOBY_OUTPUT_LENGTH};
use crate::seq::region::Region;

/// A random annotation: 3 chromosomes, 40 genes, 1–3 transcripts of 1–6 exons each, both strands; the first gene of
/// each chromosome lies within 98 kb of its start (its scooby window would start before 0).
fn random_gtf(seed: u64) -> String {
    let mut state = seed;
    let mut next = move |n: u64| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut out = String::from("##format: gtf\n");
    for (ci, chrom) in ["chr1", "chr2", "chrX"].iter().enumerate() {
        let mut pos = 1000 + next(40_000);
        for gi in 0..14 - ci {
            let strand = if next(2) == 0 { '+' } else { '-' };
            let name = format!("G{ci}_{gi}");
            let mut lines = Vec::new();
            let (mut lo, mut hi) = (u64::MAX, 0);
            for t in 0..1 + next(3) {
                let mut p = pos + next(3000);
                for _ in 0..1 + next(6) {
                    let len = 20 + next(2000);
                    let (s, e) = (p + 1, p + len); // 1-based inclusive
                    lo = lo.min(s);
                    hi = hi.max(e);
                    lines.push(format!(
                        "{chrom}\tT\texon\t{s}\t{e}\t.\t{strand}\t.\tgene_id \"ID{ci}_{gi}\"; transcript_id \"T{ci}_{gi}_{t}\"; gene_name \"{name}\"; gene_type \"protein_coding\";\n"
                    ));
                    p = e + next(8000);
                }
            }
            writeln!(out, "{chrom}\tT\tgene\t{lo}\t{hi}\t.\t{strand}\t.\tgene_id \"ID{ci}_{gi}\"; gene_name \"{name}\"; gene_type \"protein_coding\";").unwrap();
            out.extend(lines);
            pos = hi + next(150_000);
        }
    }
    out
}

const PYTHON: &str = r#"
import json, sys
import numpy as np
from intervaltree import IntervalTree

gtf, queries = sys.argv[1], json.load(open(sys.argv[2]))
genes = {}
for line in open(gtf):
    if line.startswith('#'):
        continue
    a = line.rstrip('\n').split('\t')
    if a[2] != 'exon':
        continue
    kv = {}
    for item in a[8].split(';'):
        item = item.strip()
        if item:
            k, v = item.split(' ', 1)
            kv[k] = v.strip('"')
    g = genes.setdefault(kv['gene_name'], {'chrom': a[0], 'strand': a[6], 'exons': IntervalTree()})
    g['exons'][int(a[3]) - 1:int(a[4])] = True

def exons(g):
    g['exons'].merge_overlaps()
    return sorted(g['exons'])

def span(g):
    return min(x.begin for x in g['exons']), max(x.end for x in g['exons'])

def output_slice(g, seq_start, seq_len, stride, use_span):
    out = []
    ivs = [span(g)] if use_span else [(x.begin, x.end) for x in exons(g)]
    for b, e in ivs:
        s0 = int(np.round(max(0, b - seq_start) / stride))
        s1 = int(np.round(max(0, e - seq_start) / stride))
        m = int(seq_len / stride)
        out.extend(range(min(s0, m), min(s1, m)))
    return out

res = {'windows': {}, 'bins': []}
context = 524288
for name, g in genes.items():
    s, e = span(g)
    center = s + (e - s) // 2
    start = center - context // 2
    out_start = int(start + (context - 6144 * 32) / 2)
    union = IntervalTree(g['exons'])
    union.merge_overlaps(strict=False)  # touching exons joined too, as ours are (same bins either way)
    res['windows'][name] = [g['chrom'], start, start + context, out_start, out_start + 6144 * 32,
                            [[x.begin, x.end] for x in sorted(union)]]
for name, start, length, stride, use_span in queries:
    res['bins'].append(output_slice(genes[name], start, length, stride, use_span))
json.dump(res, sys.stdout)
"#;

#[test]
fn windows_and_bins_match_a_python_implementation_of_scoobys_rules() {
    let Some(python) = crate::testing::test_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let gtf = dir.path().join("genes.gtf");
    std::fs::write(&gtf, random_gtf(11)).unwrap();
    let table = load_genes(&gtf, &GeneOptions::default()).unwrap();
    assert_eq!(table.len(), 14 + 13 + 12);

    // Queries: each gene's own output window, windows moved by amounts that put exon ends on half bins (ties), a
    // smaller window with wider bins, and both bin rules.
    let out = GeneWindowOptions::default();
    let mut queries = Vec::new();
    for g in &table.genes {
        let w = gene_window(g, &out, None).unwrap();
        for (shift, len, stride) in [
            (0i64, SCOOBY_OUTPUT_LENGTH, SCOOBY_BIN),
            (16, 196_608, 32),
            (-48, 196_608, 32),
            (7, 8192, 128),
            (-1000, 65_536, 32),
        ] {
            let start = (w.start as i64 + shift).max(0) as u64;
            for span in [false, true] {
                queries.push((g.name.clone(), start, len, stride, span));
            }
        }
        // a window holding only the gene's far end
        queries.push((g.name.clone(), g.end - 100, 1024, 32, false));
    }
    let qpath = dir.path().join("q.json");
    let q: Vec<String> = queries
        .iter()
        .map(|(n, s, l, b, sp)| format!("[\"{n}\", {s}, {l}, {b}, {}]", if *sp { "true" } else { "false" }))
        .collect();
    std::fs::write(&qpath, format!("[{}]", q.join(","))).unwrap();
    let res = std::process::Command::new(&python).arg("-c").arg(PYTHON).arg(&gtf).arg(&qpath).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let v: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();

    let (mut shifted, mut ties) = (0, 0);
    for g in &table.genes {
        let w = &v["windows"][&g.name];
        let exons: Vec<(u64, u64)> =
            w[5].as_array().unwrap().iter().map(|x| (x[0].as_u64().unwrap(), x[1].as_u64().unwrap())).collect();
        assert_eq!(g.exons, exons, "exon union of {}", g.name);
        let (in_start, out_start) = (w[1].as_i64().unwrap(), w[3].as_i64().unwrap());
        let input = gene_window(g, &GeneWindowOptions { length: SCOOBY_CONTEXT_LENGTH, ..out }, None).unwrap();
        let output = gene_window(g, &out, None).unwrap();
        assert_eq!(output.chrom, w[0].as_str().unwrap());
        if in_start >= 0 {
            assert_eq!((input.start as i64, input.end as i64), (in_start, w[2].as_i64().unwrap()), "{}", g.name);
        } else {
            assert_eq!(
                (input.start, input.len()),
                (0, SCOOBY_CONTEXT_LENGTH),
                "{}: moved to the chromosome start",
                g.name
            );
        }
        if out_start >= 0 {
            assert_eq!((output.start as i64, output.end as i64), (out_start, w[4].as_i64().unwrap()), "{}", g.name);
        } else {
            assert_eq!((output.start, output.len()), (0, SCOOBY_OUTPUT_LENGTH));
        }
        shifted += usize::from(in_start < 0);
    }
    assert!(shifted >= 3, "the first gene of each chromosome starts near it ({shifted})");

    for ((name, start, len, stride, span), theirs) in queries.iter().zip(v["bins"].as_array().unwrap()) {
        let g = table.find(name).unwrap();
        let window = Region::new(g.chrom.clone(), *start, start + len).unwrap();
        let ours = exon_bins(g, &window, *stride, *span).unwrap();
        let theirs: Vec<u32> = theirs.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(ours, theirs, "{name} in {window} / {stride} (span {span})");
        let ivs = if *span { vec![g.exon_span()] } else { g.exons.clone() };
        ties += ivs
            .iter()
            .flat_map(|&(s, e)| [s, e])
            .filter(|&x| x > *start && x < start + len && (x - start) % stride == stride / 2)
            .count();
    }
    assert!(ties > 0, "no exon boundary fell on a half bin: the rounding rule went untested");
}

fn gene(strand: Strand, exons: &[(u64, u64)]) -> Gene {
    Gene {
        id: "G".into(),
        name: "G".into(),
        gene_type: None,
        chrom: "chr1".into(),
        start: exons[0].0,
        end: exons[exons.len() - 1].1,
        strand,
        exons: exons.to_vec(),
    }
}

#[test]
fn windows_at_chromosome_ends_and_tss_centred() {
    let g = gene(Strand::Minus, &[(300_000, 300_100), (310_000, 310_500)]);
    let tss = gene_window(&g, &GeneWindowOptions { length: 1000, center: WindowCenter::Tss }, None).unwrap();
    assert_eq!((tss.start, tss.end), (310_499 - 500, 310_499 + 500));
    let mid = gene_window(&g, &GeneWindowOptions { length: 1000, center: WindowCenter::Gene }, None).unwrap();
    assert_eq!(mid.start, 300_000 + 10_500 / 2 - 500);
    // moved left to end at the chromosome end
    let end = gene_window(&g, &GeneWindowOptions::default(), Some(320_000)).unwrap();
    assert_eq!((end.start, end.end), (320_000 - SCOOBY_OUTPUT_LENGTH, 320_000));
    // a chromosome shorter than the window: from 0, past its end
    let short = gene_window(&g, &GeneWindowOptions { length: 400_000, ..Default::default() }, Some(320_000)).unwrap();
    assert_eq!((short.start, short.end), (0, 400_000));
    assert!(gene_window(&g, &GeneWindowOptions::default(), Some(310_000))
        .unwrap_err()
        .to_string()
        .contains("not the genome"));
    // bins in the model orientation of a minus-strand gene mirror
    let w = Region::new("chr1", 300_000, 300_000 + 32 * 8).unwrap();
    let b = exon_bins(&g, &w, 32, false).unwrap();
    assert_eq!(b, [0, 1, 2]); // [0, 100) → bins 0..round(3.125) = 0..3
    assert_eq!(sense_bins(&g, &b, 8), [5, 6, 7]);
    let other = Region::new("chr2", 0, 1000).unwrap();
    assert!(exon_bins(&g, &other, 32, false)
        .unwrap_err()
        .to_string()
        .contains("is on chr1 but the window chr2:0-1000"));
}
