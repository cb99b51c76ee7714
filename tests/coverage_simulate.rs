//! `simulate_multiome` through the language, and its files checked with independent tools (the test venv): pysam opens
//! the BAM (index, tags, splicing, strand) and queries the tabix-indexed fragments, h5py reads the 10x matrix (its
//! counts equal the molecules in the BAM and the cut sites in the fragments), a plain Python parser reads the GTF,
//! SnapATAC2 imports the fragments with the expected cells — and the planted truth shows in the files: cells are more
//! accessible at their type's enhancers, and linked genes are more expressed where their enhancer is active.

mod common;

use std::path::Path;

use common::{err, eval, session, strings};

const SMALL: &str = "#{cells: 40, chromosomes: 2, chrom_length: 300000, genes: 16, max_gene_length: 20000, \
                     fragments_per_cell: 500, umis_per_cell: 300, empty_droplets: 5, seed: 3}";

/// Simulates with `options` into `<session dir>/<name>` and returns the directory.
fn simulate(s: &mut gscript_lang::Session, dir: &Path, name: &str, options: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    let _ = eval(s, &format!("let sim = simulate_multiome({:?}, {options});", out.to_str().unwrap()));
    out
}

fn run_python(script: &str, dir: &Path) -> Option<String> {
    let py = gscript_runtime::testing::test_python()?;
    let out = std::process::Command::new(py).args(["-c", script]).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn simulate_multiome_returns_paths_summary_and_truth() {
    let (mut s, dir) = session();
    let out = simulate(&mut s, dir.path(), "mo", SMALL);
    let keys = [
        "genome",
        "genome_index",
        "chrom_sizes",
        "gtf",
        "fragments",
        "fragments_index",
        "bam",
        "bam_index",
        "matrix",
        "sequences",
        "truth_json",
        "truth_cells",
        "truth_regions",
        "truth_expression",
        "truth_sites",
    ];
    for k in keys {
        let p = eval(&mut s, &format!("sim.{k}")).into_string().unwrap();
        assert!(Path::new(&p).starts_with(&out) && Path::new(&p).is_file(), "{k}: {p}");
    }
    assert_eq!(eval(&mut s, "sim.summary.cells").as_int().unwrap(), 40);
    assert_eq!(eval(&mut s, "sim.summary.empty_droplets").as_int().unwrap(), 5);
    assert!(eval(&mut s, "sim.summary.spliced_reads").as_int().unwrap() > 0);
    assert_eq!(strings(eval(&mut s, "sim.truth.types")), ["type0_GATA1", "type1_Spi1", "type2_EBF1", "type3_HNF4A"]);
    assert_eq!(eval(&mut s, "sim.truth.drivers[\"type1_Spi1\"]").into_string().unwrap(), "Spi1");
    // cell_types maps each of the 40 barcodes to its type; the matrix lists the same cells
    assert_eq!(eval(&mut s, "sim.truth.cell_types.len()").as_int().unwrap(), 40);
    let types = strings(eval(&mut s, "sim.truth.cell_types.values()"));
    assert!(types.iter().all(|t| t.starts_with("type")), "{types:?}");
    assert_eq!(strings(eval(&mut s, "sim.truth.empty_droplets")).len(), 5);
    let link = eval(&mut s, "sim.truth.links[0]").to_string();
    for k in ["enhancer", "gene_id", "gene_name", "effect", "active_types", "chrom", "start", "end"] {
        assert!(link.contains(k), "{link}");
    }
    // the truth file agrees
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["cells"].as_array().unwrap().len(), 40);
    assert_eq!(
        truth["links"].as_array().unwrap().len() as i64,
        eval(&mut s, "sim.truth.links.len()").as_int().unwrap()
    );

    // errors: unknown options, a non-empty directory, bad settings
    let o = out.to_str().unwrap();
    let e = err(&mut s, &format!("simulate_multiome({o:?}, #{{cels: 3}})"));
    assert!(e.contains("cels") && e.contains("cells") && e.contains("valid options"), "{e}");
    let e = err(&mut s, &format!("simulate_multiome({o:?}, {SMALL})"));
    assert!(e.contains("not empty") && e.contains("overwrite"), "{e}");
    let e = err(
        &mut s,
        &format!("simulate_multiome({:?}, #{{motifs: [\"GATA1\", \"NOPE\"], cell_types: 2}})", dir.path().join("m2")),
    );
    assert!(e.contains("motifs") && e.contains("NOPE"), "{e}");
    let e = err(&mut s, &format!("simulate_multiome({:?}, #{{frip: 2.0}})", dir.path().join("m3")));
    assert!(e.contains("frip"), "{e}");
    // overwrite replaces the directory
    let _ = eval(&mut s, &format!("simulate_multiome({o:?}, #{{cells: 10, chromosomes: 1, chrom_length: 200000, genes: 5, max_gene_length: 20000, overwrite: true}})"));
    let cells = std::fs::read_to_string(out.join("truth_cells.tsv")).unwrap();
    assert_eq!(cells.lines().count(), 11);
}

#[test]
fn coverage_loaders_read_the_simulation() {
    let (mut s, dir) = session();
    simulate(&mut s, dir.path(), "mo", SMALL);
    // every barcode with fragments (cells and empty droplets) and with RNA reads carrying CB
    let n = eval(&mut s, "load_fragments(sim.fragments, #{genome: sim.genome}).n_cells()").as_int().unwrap();
    assert_eq!(n, 45);
    let n = eval(&mut s, "load_rna_coverage(sim.bam).n_cells()").as_int().unwrap();
    assert_eq!(n, 45);
    // the matrix whitelist keeps the 40 cells
    let n = eval(&mut s, "load_fragments(sim.fragments, #{genome: sim.genome, barcodes: sim.matrix}).n_cells()");
    assert_eq!(n.as_int().unwrap(), 40);
    // the GTF through load_genes: every gene, with the TSS and exons of the truth
    assert_eq!(eval(&mut s, "load_genes(sim.gtf).len()").as_int().unwrap(), 16);
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval(&mut s, "sim.truth_json").into_string().unwrap()).unwrap())
            .unwrap();
    for g in truth["genes"].as_array().unwrap() {
        let name = g["gene_name"].as_str().unwrap();
        let tss = eval(&mut s, &format!("load_genes(sim.gtf).get({name:?}).tss")).as_int().unwrap();
        assert_eq!(tss, g["tss"].as_i64().unwrap(), "{name}");
        let n_exons = eval(&mut s, &format!("load_genes(sim.gtf).get({name:?}).exons.len()")).as_int().unwrap();
        assert_eq!(n_exons as usize, g["exons"].as_array().unwrap().len(), "{name}");
    }
    // the fold split: 8 folds, scooby's test fold among them
    let n = eval(&mut s, "read_folds(sim.sequences).rows().filter(|r| r.split == \"test\").len()").as_int().unwrap();
    assert!(n > 0);
}

/// pysam, h5py and a plain GTF parser on the files; prints counts as JSON.
const PY_FILES: &str = r##"
import sys, os, gzip, json, collections, bisect
import numpy as np, pysam, h5py, scipy.sparse as sp
d = sys.argv[1]
P = lambda n: os.path.join(d, n)
out = {}
genes = {}
for line in open(P("genes.gtf")):
    if line.startswith("#"): continue
    f = line.rstrip("\n").split("\t")
    assert len(f) == 9, line
    attrs = dict((a.strip().split(" ", 1)[0], a.strip().split(" ", 1)[1].strip('"')) for a in f[8].split(";") if a.strip())
    s, e = int(f[3]) - 1, int(f[4])
    g = genes.setdefault(attrs["gene_id"], {"exons": [], "chrom": f[0], "strand": f[6], "name": attrs["gene_name"]})
    assert g["chrom"] == f[0] and g["strand"] == f[6] and f[6] in "+-"
    if f[2] == "gene": g["span"] = (s, e); assert attrs["gene_type"] in ("protein_coding", "lncRNA")
    elif f[2] == "transcript": g["tx"] = attrs["transcript_id"]
    elif f[2] == "exon": g["exons"].append((s, e)); assert attrs["transcript_id"] == g["tx"]
for g in genes.values():
    g["exons"].sort()
    assert g["exons"][0][0] == g["span"][0] and g["exons"][-1][1] == g["span"][1]
    assert all(a[1] < b[0] for a, b in zip(g["exons"], g["exons"][1:]))
    g["introns"] = {(a[1], b[0]) for a, b in zip(g["exons"], g["exons"][1:])}
assert {g["strand"] for g in genes.values()} == {"+", "-"}
sizes = dict((l.split()[0], int(l.split()[1])) for l in open(P("genome.fa.fai")))
fa = pysam.FastaFile(P("genome.fa"))
assert dict(zip(fa.references, fa.lengths)) == sizes
assert open(P("chrom.sizes")).read() == "".join(f"{c}\t{n}\n" for c, n in sizes.items())

bam = pysam.AlignmentFile(P("gex_possorted_bam.bam"))
hd = bam.header.to_dict()
assert hd["HD"]["SO"] == "coordinate" and [s["SN"] for s in hd["SQ"]] == list(sizes)
n = nocb = spliced = dup = 0
last = (-1, -1)
mol = collections.defaultdict(set)
for r in bam.fetch(until_eof=True):
    n += 1
    key = (r.reference_id, r.reference_start); assert key >= last; last = key
    assert r.mapping_quality == 255 and len(r.query_sequence) == 90
    g = genes[r.get_tag("GX")]
    assert r.is_reverse == (g["strand"] == "-"), "reads are sense to their gene"
    assert r.get_tag("GN") == g["name"] and r.reference_name == g["chrom"]
    assert r.has_tag("UB") and len(r.get_tag("UB")) == 12
    blocks = r.get_blocks()
    assert "".join(fa.fetch(r.reference_name, a, b) for a, b in blocks) == r.query_sequence
    if "N" in r.cigarstring:
        spliced += 1
        for (a, b), (c, e) in zip(blocks, blocks[1:]): assert (b, c) in g["introns"], (r.cigarstring, b, c)
    if r.get_tag("RE") == "E":
        assert all(any(s <= a and b <= e for s, e in g["exons"]) for a, b in blocks)
    else:
        assert g["span"][0] <= r.reference_start and r.reference_end <= g["span"][1]
    if not r.has_tag("CB"):
        nocb += 1; assert r.get_tag("xf") == 0; continue
    assert r.get_tag("CB").endswith("-1") and r.get_tag("CR") == r.get_tag("CB")[:-2]
    if r.is_duplicate:
        dup += 1; assert r.get_tag("xf") == 17
    else:
        assert r.get_tag("xf") == 25
        mol[(r.get_tag("CB"), r.get_tag("GX"))].add(r.get_tag("UB"))
stats = bam.get_index_statistics()
assert sum(s.mapped for s in stats) == n
first = list(sizes)[0]
assert bam.count(first, 0, sizes[first]) == stats[0].mapped
assert bam.count(first, 0, 20000) == sum(1 for r in bam.fetch(until_eof=True) if r.reference_name == first and r.reference_start < 20000)
out.update(bam_records=n, no_cb=nocb, spliced=spliced, duplicates=dup)

with h5py.File(P("filtered_feature_bc_matrix.h5")) as h:
    m = h["matrix"]
    bc = [x.decode() for x in m["barcodes"][:]]
    X = sp.csc_matrix((m["data"][:], m["indices"][:], m["indptr"][:]), shape=tuple(m["shape"][:]))
    ftype = [x.decode() for x in m["features/feature_type"][:]]
    fid = [x.decode() for x in m["features/id"][:]]
    fname = [x.decode() for x in m["features/name"][:]]
    fint = [x.decode() for x in m["features/interval"][:]]
cells = [l.rstrip("\n").split("\t") for l in open(P("truth_cells.tsv"))][1:]
assert bc == sorted(c[0] for c in cells if c[1] != "empty")
gi = [i for i, t in enumerate(ftype) if t == "Gene Expression"]
pi = [i for i, t in enumerate(ftype) if t == "Peaks"]
assert [fid[i] for i in gi] == list(genes) and [fname[i] for i in gi] == [g["name"] for g in genes.values()]
col = {b: j for j, b in enumerate(bc)}
G = X[gi].toarray()
for (b, gid), umis in mol.items():
    if b in col: assert G[list(genes).index(gid), col[b]] == len(umis), (b, gid)
assert G.sum() == sum(len(v) for (b, _), v in mol.items() if b in col)

tbx = pysam.TabixFile(P("atac_fragments.tsv.gz"))
assert list(tbx.contigs) == list(sizes)
rows = []
with gzip.open(P("atac_fragments.tsv.gz"), "rt") as fh:
    for line in fh:
        if line.startswith("#"): continue
        c, s, e, b, k = line.rstrip("\n").split("\t")
        rows.append((c, int(s), int(e), b, int(k)))
assert rows == sorted(rows, key=lambda r: (list(sizes).index(r[0]), r[1], r[2], r[3]))
assert all(0 <= r[1] < r[2] <= sizes[r[0]] and r[4] >= 1 for r in rows)
assert len({(r[0], r[1], r[2], r[3]) for r in rows}) == len(rows)
for (s, e) in [(0, 50000), (100000, 100500), (sizes[first] - 20000, sizes[first])]:
    got = sorted(tuple(x.split("\t")) for x in tbx.fetch(first, s, e))
    want = sorted((c, str(a), str(b2), bb, str(k)) for c, a, b2, bb, k in rows if c == first and a < e and b2 > s)
    assert got == want, (s, e, len(got), len(want))
lens = np.array([r[2] - r[1] for r in rows])
out.update(fragments=len(rows), multi_read=sum(r[4] > 1 for r in rows), frac_nfr=float((lens < 147).mean()),
           frac_mono=float(((lens >= 147) & (lens < 294)).mean()))
peaks = [(x.split(":")[0], int(x.split(":")[1].split("-")[0]), int(x.split("-")[1])) for x in (fint[i] for i in pi)]
idx = {c: sorted((s, e, k) for k, (cc, s, e) in enumerate(peaks) if cc == c) for c in sizes}
pk = collections.Counter()
for c, s, e, b, k in rows:
    if b not in col: continue
    for p in (s, e - 1):
        L = idx[c]; i = bisect.bisect_right(L, (p, 1 << 40, 0)) - 1
        if i >= 0 and L[i][0] <= p < L[i][1]: pk[(L[i][2], col[b])] += 1
Q = X[pi].tocoo()
assert {(int(r), int(c)): int(v) for r, c, v in zip(Q.row, Q.col, Q.data)} == dict(pk)
folds = [l.split("\t") for l in open(P("sequences.bed"))]
assert {f[3].strip() for f in folds} == {f"fold{k}" for k in range(8)}
assert all(int(f[2]) - int(f[1]) == int(folds[0][2]) - int(folds[0][1]) <= sizes[f[0]] for f in folds)
print(json.dumps(out))
"##;

#[test]
fn simulated_files_parse_with_pysam_h5py_and_a_gtf_parser() {
    let (mut s, dir) = session();
    let out = simulate(&mut s, dir.path(), "mo", SMALL);
    let Some(text) = run_python(PY_FILES, &out) else { return };
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let n = |k: &str| v[k].as_f64().unwrap();
    assert_eq!(n("bam_records") as i64, eval(&mut s, "sim.summary.bam_records").as_int().unwrap());
    assert_eq!(n("fragments") as i64, eval(&mut s, "sim.summary.fragments").as_int().unwrap());
    // present: spliced reads, reads without CB, PCR duplicates in both modalities
    assert!(n("spliced") > 0.0 && n("no_cb") > 0.0 && n("duplicates") > 0.0 && n("multi_read") > 0.0, "{v}");
    // the nucleosome ladder: nucleosome-free and mono-nucleosomal fragments both common
    assert!(n("frac_nfr") > 0.2 && n("frac_mono") > 0.2, "{v}");
}

/// SnapATAC2 imports the fragments: the expected barcodes with the expected fragment counts.
const PY_SNAP: &str = r##"
import sys, os
import snapatac2 as snap
d = sys.argv[1]
P = lambda n: os.path.join(d, n)
sizes = dict((l.split()[0], int(l.split()[1])) for l in open(P("chrom.sizes")))
cells = [l.rstrip("\n").split("\t") for l in open(P("truth_cells.tsv"))][1:]
ad = snap.pp.import_fragments(P("atac_fragments.tsv.gz"), chrom_sizes=sizes, sorted_by_barcode=False, min_num_fragments=0, file=None)
assert sorted(ad.obs_names) == sorted(c[0] for c in cells), (ad.n_obs, len(cells))
nf = dict(zip(ad.obs_names, ad.obs["n_fragment"]))
assert all(nf[c[0]] == int(c[2]) for c in cells)
snap.pp.add_tile_matrix(ad, bin_size=500, counting_strategy="insertion", exclude_chroms=None)
X = ad.X.tocsr()
with open(P("snap_tiles.tsv"), "w") as out:
    for i, b in enumerate(ad.obs_names):
        row = X[i]
        out.write(b + "\t" + ",".join(ad.var_names[j] + "=" + str(int(v)) for j, v in zip(row.indices, row.data)) + "\n")
print(ad.n_obs)
"##;

#[test]
fn snapatac2_imports_the_simulated_fragments() {
    let (mut s, dir) = session();
    let out = simulate(&mut s, dir.path(), "mo", SMALL);
    let Some(text) = run_python(PY_SNAP, &out) else { return };
    assert_eq!(text.trim(), "45");
    // Per-cell insertion counts in SnapATAC2's 500-bp tiles equal our raw 500-bp window sums, cell by cell.
    let frag = out.join("atac_fragments.tsv.gz");
    let _ = eval(&mut s, &format!("let cov = load_fragments({:?}, #{{genome: {:?}}});", frag, out.join("genome.fa")));
    let cells = strings(eval(&mut s, "cov.cells()"));
    let mut ours: std::collections::HashMap<(String, String), i64> = Default::default();
    for chrom in ["chr1", "chr2"] {
        let w = eval(&mut s, &format!("cov.window(\"{chrom}:0-300000\", #{{bin: 500, transform: false}})"))
            .try_cast::<gscript_stdlib::values::Matrix>()
            .unwrap();
        assert_eq!((w.rows, w.cols), (600, cells.len()));
        for r in 0..w.rows {
            for (c, cell) in cells.iter().enumerate() {
                let v = w.get(r, c);
                if v != 0.0 {
                    let tile = format!("{chrom}:{}-{}", r * 500, (r + 1) * 500);
                    ours.insert((cell.clone(), tile), v as i64);
                }
            }
        }
    }
    let mut theirs: std::collections::HashMap<(String, String), i64> = Default::default();
    for line in std::fs::read_to_string(out.join("snap_tiles.tsv")).unwrap().lines() {
        let (cell, tiles) = line.split_once('\t').unwrap();
        for t in tiles.split(',').filter(|t| !t.is_empty()) {
            let (name, n) = t.rsplit_once('=').unwrap();
            theirs.insert((cell.to_string(), name.to_string()), n.parse().unwrap());
        }
    }
    assert!(theirs.len() > 1000, "{} non-zero tiles", theirs.len());
    assert_eq!(ours, theirs);
}

/// pysam reads the simulated BAM by SnapATAC2-scooby's rules (flags, MAPQ, cell tag, one molecule per cell, strand,
/// 5′ end and UMI; an entry per aligned block): entries and covered bases per cell and strand.
const PY_RNA: &str = r##"
import sys, os, json, collections
import pysam
d = sys.argv[1]
bam = pysam.AlignmentFile(os.path.join(d, "gex_possorted_bam.bam"))
mol = {}
for r in bam.fetch(until_eof=True):
    if r.flag & (0x4 | 0x8 | 0x100 | 0x200 | 0x400 | 0x800): continue
    if r.mapping_quality < 30 and r.mapping_quality != 255: continue
    if not r.has_tag("CB"): continue
    five = r.reference_end if r.is_reverse else r.reference_start
    key = (r.get_tag("CB"), r.reference_name, r.is_reverse, five, r.get_tag("UB") if r.has_tag("UB") else None)
    mol.setdefault(key, r.get_blocks())
out = collections.defaultdict(lambda: [0, 0, 0, 0])
for (cb, _, rev, _, _), blocks in mol.items():
    o = out[cb]
    o[1 if rev else 0] += len(blocks)
    o[3 if rev else 2] += sum(b - a for a, b in blocks)
print(json.dumps(out))
"##;

#[test]
fn pysam_agrees_with_the_stranded_rna_coverage() {
    let (mut s, dir) = session();
    let out = simulate(&mut s, dir.path(), "mo", SMALL);
    let Some(text) = run_python(PY_RNA, &out) else { return };
    let theirs: std::collections::HashMap<String, [u64; 4]> = serde_json::from_str(text.trim()).unwrap();
    let _ = eval(&mut s, &format!("let rna = load_rna_coverage({:?});", out.join("gex_possorted_bam.bam")));
    let cells = strings(eval(&mut s, "rna.cells()"));
    assert_eq!(cells.len(), theirs.len());
    let mut ints = |e: &str| -> Vec<u64> {
        eval(&mut s, e).into_array().unwrap().iter().map(|x| x.as_int().unwrap() as u64).collect()
    };
    let (plus, minus) = (ints("rna.counts(\"rna_plus\")"), ints("rna.counts(\"rna_minus\")"));
    // covered bases per cell and strand: the raw window sums × read length over each whole chromosome
    let mut bases = vec![[0f64; 2]; cells.len()];
    for chrom in ["chr1", "chr2"] {
        let w = eval(&mut s, &format!("rna.window(\"{chrom}:0-300000\", #{{bin: 300000, transform: false}})"))
            .try_cast::<gscript_stdlib::values::Matrix>()
            .unwrap();
        assert_eq!(w.cols, 2 * cells.len());
        for (c, b) in bases.iter_mut().enumerate() {
            b[0] += w.get(0, 2 * c) as f64 * 90.0;
            b[1] += w.get(0, 2 * c + 1) as f64 * 90.0;
        }
    }
    for (c, cell) in cells.iter().enumerate() {
        let t = theirs[cell];
        assert_eq!([plus[c], minus[c]], [t[0], t[1]], "entries of {cell}");
        assert!((bases[c][0] - t[2] as f64).abs() < 1e-3 * t[2].max(1) as f64, "{cell}: {:?} vs {t:?}", bases[c]);
        assert!((bases[c][1] - t[3] as f64).abs() < 1e-3 * t[3].max(1) as f64, "{cell}: {:?} vs {t:?}", bases[c]);
    }
    assert!(plus.iter().sum::<u64>() > 100 && minus.iter().sum::<u64>() > 100);
}

/// The truth measured from the files: per type, the share of insertions in the type's active enhancers (own cells vs
/// others); per enhancer, whether it is more open in cells of its active types; per link, whether the gene's share of
/// UMIs is higher in the types where the enhancer is active; with one-sided sign tests.
const PY_TRUTH: &str = r##"
import sys, os, gzip, json, math, bisect
import numpy as np, h5py, scipy.sparse as sp
d = sys.argv[1]
P = lambda n: os.path.join(d, n)
ctype = {c[0]: c[1] for c in ([l.rstrip("\n").split("\t") for l in open(P("truth_cells.tsv"))][1:]) if c[1] != "empty"}
enh = [r for r in ([l.rstrip("\n").split("\t") for l in open(P("truth_regions.tsv"))][1:]) if r[1] == "enhancer"]
bcs = sorted(ctype); col = {b: i for i, b in enumerate(bcs)}
E = {}
for i, r in enumerate(enh): E.setdefault(r[2], []).append((int(r[3]), int(r[4]), i))
for L in E.values(): L.sort()
M = np.zeros((len(enh), len(bcs))); tot = np.zeros(len(bcs))
with gzip.open(P("atac_fragments.tsv.gz"), "rt") as fh:
    for line in fh:
        if line[0] == "#": continue
        c, s, e, b, _ = line.split("\t")
        if b not in col: continue
        j = col[b]
        for p in (int(s), int(e) - 1):
            tot[j] += 1
            L = E.get(c, [])
            i = bisect.bisect_right(L, (p, 1 << 40, 0)) - 1
            if i >= 0 and L[i][0] <= p < L[i][1]: M[L[i][2], j] += 1
R = M / tot
tv = np.array([ctype[b] for b in bcs])
def sign_p(k, n): return sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n
out = {"types": {}}
for t in sorted(set(tv)):
    x = R[np.array([t in r[5].split(",") for r in enh])].sum(0)
    out["types"][t] = [x[tv == t].mean(), x[tv != t].mean()]
pos = sum(R[i, np.isin(tv, r[5].split(","))].mean() > R[i, ~np.isin(tv, r[5].split(","))].mean() for i, r in enumerate(enh))
out["atac"] = [int(pos), len(enh), sign_p(int(pos), len(enh))]
with h5py.File(P("filtered_feature_bc_matrix.h5")) as h:
    m = h["matrix"]
    bc = [x.decode() for x in m["barcodes"][:]]
    X = sp.csc_matrix((m["data"][:], m["indices"][:], m["indptr"][:]), shape=tuple(m["shape"][:]))
    fid = [x.decode() for x in m["features/id"][:]]; ft = [x.decode() for x in m["features/feature_type"][:]]
gi = [i for i, t in enumerate(ft) if t == "Gene Expression"]
G = X[gi].toarray().astype(float); G /= G.sum(0, keepdims=True)
row = {fid[i]: k for k, i in enumerate(gi)}
tv2 = np.array([ctype[b] for b in bc])
pos = 0
for r in enh:
    a = np.isin(tv2, r[5].split(","))
    pos += G[row[r[6]], a].mean() > G[row[r[6]], ~a].mean()
out["rna"] = [int(pos), len(enh), sign_p(int(pos), len(enh))]
print(json.dumps(out))
"##;

#[test]
fn the_planted_truth_shows_in_the_files() {
    let (mut s, dir) = session();
    let opts = "#{cells: 80, chromosomes: 2, chrom_length: 600000, genes: 30, max_gene_length: 30000, \
                fragments_per_cell: 800, umis_per_cell: 500, seed: 11}";
    let out = simulate(&mut s, dir.path(), "mo", opts);
    let Some(text) = run_python(PY_TRUTH, &out) else { return };
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    eprintln!("{v}");
    // every type's cells put a larger share of their insertions into that type's active enhancers than other cells
    for (t, x) in v["types"].as_object().unwrap() {
        let (own, other) = (x[0].as_f64().unwrap(), x[1].as_f64().unwrap());
        assert!(own > other, "{t}: {own} vs {other}");
    }
    // one-sided sign tests at α = 0.001 over enhancers (accessibility) and links (expression)
    for k in ["atac", "rna"] {
        let p = v[k][2].as_f64().unwrap();
        assert!(p < 1e-3, "{k}: {} of {} in the planted direction, p = {p}", v[k][0], v[k][1]);
    }
}
