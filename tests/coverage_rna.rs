//! RNA coverage through the language: a 10x-like BAM written by pysam → `load_rna_coverage` → `write_scooby` →
//! files that anndata reads with the same per-cell stranded entries that pysam counts under SnapATAC2-scooby's rules;
//! `load_scooby` reads them back to the same window targets; bad inputs give clear errors.

mod common;

use common::{err, eval, session, strings};
use gscript_stdlib::values::Matrix;

/// Writes `reads.bam` (coordinate-sorted, CB/UB tags, both strands, spliced, clipped, duplicates, reads to drop).
const PY_BAM: &str = r#"
import sys, random, pysam
random.seed(5)
hdr = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 30000}, {"SN": "chr2", "LN": 9000}]}
cells = ["AAACG-1", "CCGTA-1", "GTTAC-1"]
umis = ["ACGTACGTAA", "GGGGCCCCTT", "TTTTAAAACC", "CACACACACA"]
reads = []
for i in range(2500):
    ref = random.randrange(2); L = (30000, 9000)[ref]
    cig = random.choice(["60M", "3S57M", "20M400N40M", "10M2D20M300N30M", "55M5S", "2H58M"])
    a = pysam.AlignedSegment()
    a.query_name = f"r{i}"; a.reference_id = ref; a.reference_start = random.randrange(0, L - 1500)
    a.cigarstring = cig
    n = a.infer_query_length()
    a.query_sequence = "A" * n
    a.query_qualities = pysam.qualitystring_to_array("".join(chr(33 + random.randrange(2, 41)) for _ in range(n)))
    a.flag = (16 if random.random() < 0.5 else 0) | random.choice([0] * 20 + [256, 2048, 1024, 512])
    a.mapping_quality = random.choice([255] * 8 + [10, 0])
    tags = []
    if random.random() < 0.95: tags.append(("CB", random.choice(cells)))
    if random.random() < 0.93: tags.append(("UB", random.choice(umis)))
    a.tags = tags
    reads.append(a)
    if random.random() < 0.3:   # a duplicate: same 5' end, strand, cell and UMI; other qualities
        b = pysam.AlignedSegment(); b.query_name = f"d{i}"; b.reference_id = ref
        b.reference_start = a.reference_start; b.cigarstring = cig; b.query_sequence = a.query_sequence
        b.query_qualities = pysam.qualitystring_to_array("".join(chr(33 + random.randrange(2, 41)) for _ in range(n)))
        b.flag = a.flag & 16; b.mapping_quality = 255; b.tags = tags
        reads.append(b)
reads.sort(key=lambda r: (r.reference_id, r.reference_start))
with pysam.AlignmentFile(sys.argv[1], "wb", header=hdr) as f:
    for r in reads: f.write(r)
"#;

/// pysam under the documented rules (min MAPQ 30, UMI tag UB) vs. the entries anndata reads from our files.
const PY_CHECK: &str = r#"
import sys, pysam, anndata as ad
bam, d = sys.argv[1], sys.argv[2]
CLIP = (pysam.CSOFT_CLIP, pysam.CHARD_CLIP)
mols = {}
with pysam.AlignmentFile(bam, "rb") as f:
    for idx, r in enumerate(f.fetch(until_eof=True)):
        if r.flag & 0xF0C or r.mapping_quality < 30 or not r.has_tag("CB"): continue
        cig = r.cigartuples
        lead = next((sum(n for _, n in cig[:k]) for k in range(len(cig)) if cig[k][0] not in CLIP), 0)
        trail = next((sum(n for _, n in cig[len(cig) - k:]) for k in range(len(cig)) if cig[len(cig) - 1 - k][0] not in CLIP), 0)
        us, ue = r.reference_start + 1 - lead, r.reference_end + trail
        if any(op == pysam.CREF_SKIP for op, _ in cig):
            groups = []
            for op, n in cig:
                if op in (pysam.CMATCH, pysam.CREF_SKIP):
                    k = "M" if op == pysam.CMATCH else "N"
                    if groups and groups[-1][0] == k: groups[-1][1] += n
                    else: groups.append([k, n])
            blocks, off = [], r.reference_start
            for j in range(0, len(groups), 2):
                m, s = groups[j][1], (groups[j + 1][1] if j + 1 < len(groups) else 0)
                blocks.append((off, off + m)); off += m + s
        else:
            blocks = [(r.reference_start, r.reference_end)]
        key = (r.get_tag("CB"), r.reference_id, ue if r.is_reverse else us, r.is_reverse, r.get_tag("UB") if r.has_tag("UB") else None)
        cand = (sum(q for q in r.query_qualities if q >= 15), -us, -ue, -idx)
        mols.setdefault(key, []).append((cand, blocks))
offs = (0, 30000)
want = {"+": [], "-": []}
for (cb, ref, _, rev, _), reads in mols.items():
    blocks = max(reads, key=lambda x: x[0])[1]
    for s, e in blocks:
        want["-" if rev else "+"].append((cb, offs[ref] + (e - 1 if rev else s), -(e - s) if rev else e - s))
for strand, name in (("+", "rna_plus"), ("-", "rna_minus")):
    a = ad.read_h5ad(f"{d}/{name}.h5ad")
    m = a.obsm["fragment_single"]
    assert m.shape == (a.n_obs, 39000), m.shape
    assert list(a.uns["reference_sequences"]["reference_seq_name"]) == ["chr1", "chr2"]
    got = sorted((a.obs_names[i], int(m.indices[j]), int(m.data[j])) for i in range(a.n_obs) for j in range(m.indptr[i], m.indptr[i + 1]))
    assert got == sorted(want[strand]), (strand, len(got), len(want[strand]))
    print(strand, len(got))
"#;

fn python() -> Option<std::path::PathBuf> {
    gscript_runtime::testing::test_python()
}

fn run(py: &std::path::Path, script: &str, args: &[&std::path::Path]) -> String {
    let out = std::process::Command::new(py).args(["-c", script]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn matrix(s: &mut gscript_lang::Session, code: &str) -> Matrix {
    eval(s, code).try_cast::<Matrix>().unwrap()
}

#[test]
fn bam_to_scooby_files_agrees_with_pysam_and_reads_back() {
    let Some(py) = python() else { return };
    let (mut s, dir) = session();
    let bam = dir.path().join("reads.bam");
    run(&py, PY_BAM, &[&bam]);
    let _ = eval(&mut s, &format!("let rna = load_rna_coverage({:?});", bam.to_str().unwrap()));
    assert_eq!(strings(eval(&mut s, "rna.cells()")), ["AAACG-1", "CCGTA-1", "GTTAC-1"]);
    assert_eq!(strings(eval(&mut s, "rna.tracks()")), ["rna_plus", "rna_minus"]);
    let text = eval(&mut s, "rna.to_string()").to_string();
    assert!(text.contains("3 cells") && text.contains("rna_plus, rna_minus"), "{text}");
    let qc = eval(&mut s, "rna.qc()").try_cast::<gscript_stdlib::values::Table>().unwrap();
    assert_eq!(qc.n_rows(), 3);
    for col in ["barcode", "n_reads", "n_plus", "n_minus", "n_duplicates", "frac_dup"] {
        assert!(qc.column(col).is_some(), "{col}");
    }
    assert!(qc.summary().contains("molecules"), "{}", qc.summary());

    let out = dir.path().join("scooby");
    let files = eval(&mut s, &format!("let files = write_scooby(rna, {:?}); files", out.to_str().unwrap()));
    let files = files.try_cast::<gscript_lang::rhai::Map>().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files["rna_plus"].to_string(), out.join("rna_plus.h5ad").display().to_string());
    let report = run(&py, PY_CHECK, &[&bam, &out]);
    let counts: Vec<usize> = report.lines().map(|l| l.split(' ').nth(1).unwrap().parse().unwrap()).collect();
    assert!(counts.len() == 2 && counts.iter().all(|&n| n > 500), "{report}");

    // back through load_scooby (map form and dir form): the same raw window sums
    let _ = eval(
        &mut s,
        &format!("let back = load_scooby(files); let back2 = load_scooby(#{{dir: {:?}}});", out.to_str().unwrap()),
    );
    let code = |v: &str| format!("{v}.window(\"chr1:4096-8192\", #{{cells: [0, 2, 1, 2], transform: false}})");
    let (a, b, c) = (matrix(&mut s, &code("rna")), matrix(&mut s, &code("back")), matrix(&mut s, &code("back2")));
    assert_eq!((a.rows, a.cols), (128, 8));
    assert_eq!(a.data, b.data);
    assert_eq!(a.data, c.data);
    assert!(a.data.iter().any(|&x| x > 0.0));
}

#[test]
fn bad_rna_inputs_give_clear_errors() {
    let (mut s, dir) = session();
    let d = dir.path();
    std::fs::write(d.join("x.bam"), "not a bam").unwrap();
    let e = err(&mut s, &format!("load_rna_coverage({:?})", d.join("x.bam").to_str().unwrap()));
    assert!(e.contains("load_rna_coverage") && e.contains("not a BAM"), "{e}");
    let e = err(&mut s, &format!("load_rna_coverage({:?}, #{{umis: \"\"}})", d.join("x.bam").to_str().unwrap()));
    assert!(e.contains("umis") && e.contains("umi"), "{e}");
    let e = err(&mut s, &format!("load_rna_coverage({:?}, #{{tag: \"CBX\"}})", d.join("x.bam").to_str().unwrap()));
    assert!(e.contains("two-character"), "{e}");
    let e = err(&mut s, &format!("load_rna_coverage({:?}, #{{min_mapq: 300}})", d.join("x.bam").to_str().unwrap()));
    assert!(e.contains("min_mapq") && e.contains("255"), "{e}");
    let e = err(&mut s, "load_scooby(#{})");
    assert!(e.contains("load_scooby") && e.contains("rna_plus"), "{e}");
    let e = err(&mut s, &format!("load_scooby(#{{dir: {:?}}})", d.to_str().unwrap()));
    assert!(e.contains("holds none of"), "{e}");
    let e = err(&mut s, &format!("load_scooby(#{{dir: {:?}, atac: \"a.h5ad\"}})", d.to_str().unwrap()));
    assert!(e.contains("not both"), "{e}");
    let e = err(&mut s, &format!("load_scooby(#{{rna_plus: {:?}}})", d.join("x.bam").to_str().unwrap()));
    assert!(e.contains("HDF5") && e.contains("x.bam"), "{e}");

    let Some(py) = python() else { return };
    let bam = d.join("reads.bam");
    run(&py, PY_BAM, &[&bam]);
    let e = err(&mut s, &format!("load_rna_coverage({:?}, #{{tag: \"CR\"}})", bam.to_str().unwrap()));
    assert!(e.contains("cell barcode tag CR") && e.contains("CB") && e.contains("UB"), "{e}");
    let e = err(&mut s, &format!("load_rna_coverage({:?}, #{{barcodes: [\"AAACG\"]}})", bam.to_str().unwrap()));
    assert!(e.contains("no barcode of the whitelist") && e.contains("AAACG-1"), "{e}");
    let _ = eval(&mut s, &format!("let rna = load_rna_coverage({:?});", bam.to_str().unwrap()));
    let e = err(&mut s, &format!("write_scooby(rna, {:?})", bam.to_str().unwrap()));
    assert!(e.contains("is a file"), "{e}");
}
