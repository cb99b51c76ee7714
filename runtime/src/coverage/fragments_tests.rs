use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::coverage::qc::{tss_enrichment, tss_sites, TsseOptions};
use crate::genes::{Gene, GeneTable, Strand};
use crate::progress::NoProgress;

/// Chromosomes in an order that is not sorted by name (SnapATAC2 sorts them), with a mitochondrial one.
const SIZES: [(&str, u64); 4] = [("chr2", 60_000), ("chr10", 40_000), ("chr1", 30_000), ("chrM", 16_000)];

/// Random fragments of 12 cells, by position within each chromosome (as 10x writes them) when `sorted`, else
/// shuffled: some duplicates (count > 1), some identical lines, lengths 20–700 bp, a few lines on a contig outside
/// the genome, `#` header lines.
fn random_fragments(seed: u64, n: usize, sorted: bool) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows: Vec<(usize, u64, u64, usize, u64)> = Vec::new();
    for _ in 0..n {
        let c = rng.random_range(0..SIZES.len() + 1);
        let len = SIZES.get(c).map_or(5_000, |s| s.1);
        let flen = rng.random_range(20..700u64);
        // Insertions pile up near a few TSS-like positions so that TSS enrichment is not all background.
        let start = if rng.random_bool(0.4) {
            let hub = [5_000u64, 12_000, 25_000][rng.random_range(0..3usize)].min(len - 2_000);
            (hub + rng.random_range(0..300u64)).saturating_sub(150)
        } else {
            rng.random_range(0..len - flen)
        };
        let cell = rng.random_range(0..12);
        let count = if rng.random_bool(0.2) { rng.random_range(2..5) } else { 1 };
        rows.push((c, start, start + flen, cell, count));
        if rng.random_bool(0.02) {
            rows.push((c, start, start + flen, cell, 1));
        }
    }
    if sorted {
        rows.sort();
    }
    let mut s = String::from("# id=test\n# reference_path=/nowhere\n");
    for (c, a, b, cell, count) in rows {
        let chrom = SIZES.get(c).map_or("chrUn_KI270", |s| s.0);
        s += &format!("{chrom}\t{a}\t{b}\tAC{cell:02}GT-1\t{count}\n");
    }
    s
}

/// BGZF with a tabix index (BED-like: columns 1–3, 0-based, `#` meta), both written by noodles.
fn bgzip_indexed(path: &Path, text: &str) {
    use noodles::core::Position;
    use noodles::csi::binning_index::index::reference_sequence::bin::Chunk;
    let mut w = noodles::bgzf::io::Writer::new(std::fs::File::create(path).unwrap());
    let mut indexer = noodles::tabix::index::Indexer::default();
    indexer.set_header(noodles::csi::binning_index::index::header::Builder::bed().build());
    for line in text.split_inclusive('\n') {
        let start = w.virtual_position();
        w.write_all(line.as_bytes()).unwrap();
        if line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.trim_end().split('\t').collect();
        let (a, b): (usize, usize) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let chunk = Chunk::new(start, w.virtual_position());
        indexer.add_record(f[0], Position::try_from(a + 1).unwrap(), Position::try_from(b).unwrap(), chunk).unwrap();
    }
    w.finish().unwrap();
    let mut t = std::ffi::OsString::from(path.as_os_str());
    t.push(".tbi");
    noodles::tabix::fs::write(t, &indexer.build()).unwrap();
}

fn opts() -> FragmentOptions {
    FragmentOptions {
        chrom_sizes: Some(SIZES.iter().map(|(c, l)| (c.to_string(), *l)).collect()),
        ..Default::default()
    }
}

fn load(path: &Path, o: &FragmentOptions) -> Result<(Coverage, FragmentStats)> {
    load_fragments(path, o, &mut NoProgress, &CancelToken::new())
}

/// Per cell: (chromosome, position) → insertions.
fn per_cell_insertions(cov: &Coverage) -> BTreeMap<String, BTreeMap<(String, u32), u64>> {
    let ins = cov.atac.as_ref().unwrap();
    let mut out: BTreeMap<String, BTreeMap<(String, u32), u64>> = BTreeMap::new();
    for c in 0..cov.refs.len() {
        for (pos, cell) in ins.range(c, 0, u64::MAX >> 1) {
            let m = out.entry(cov.cells[cell as usize].clone()).or_default();
            *m.entry((cov.refs.name(c).to_string(), pos)).or_default() += 1;
        }
    }
    out
}

#[test]
fn text_gzip_and_bgzf_give_the_same_insertions() {
    let dir = tempfile::tempdir().unwrap();
    let text = random_fragments(1, 3000, false);
    let plain = dir.path().join("f.tsv");
    std::fs::write(&plain, &text).unwrap();
    let gz = dir.path().join("f.tsv.gz");
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
    let bgz = dir.path().join("f.bgz.tsv.gz");
    bgzip_indexed(&bgz, &random_fragments(1, 3000, true));
    let (a, sa) = load(&plain, &opts()).unwrap();
    let (b, sb) = load(&gz, &opts()).unwrap();
    assert_eq!(a.cells, b.cells);
    for c in 0..SIZES.len() {
        assert_eq!(a.atac.as_ref().unwrap().chrom(c), b.atac.as_ref().unwrap().chrom(c));
    }
    assert_eq!(sa, sb);
    // The sorted BGZF file holds the same fragments in another order: same insertions per cell, same numbers.
    let (c, sc) = load(&bgz, &opts()).unwrap();
    assert_eq!(per_cell_insertions(&a), per_cell_insertions(&c));
    assert_eq!(sa.fragments, sc.fragments);
    assert_eq!(sa.sizes, sc.sizes);
    // Two insertions per stored fragment, whatever the count; lines on the unknown contig skipped.
    assert_eq!(a.atac.as_ref().unwrap().len() as u64, 2 * sa.fragments);
    assert!(sa.skipped.chromosome > 0 && sa.skipped.header == 2);
    assert_eq!(sa.lines, sa.fragments + sa.skipped.chromosome + sa.skipped.header);
    assert!(sa.duplicates > 0);
    assert_eq!(sa.sizes.total(), sa.fragments);
    let per = a.atac.as_ref().unwrap().per_cell(a.n_cells());
    for (q, n) in sa.cells.iter().zip(per) {
        assert_eq!(2 * (q.n_fragment + q.n_mito), n);
    }
}

/// A GTF of one transcript per gene (so that SnapATAC2's transcript TSSs are the genes' TSSs), and the gene table.
fn genes_and_gtf(path: &Path) -> GeneTable {
    let spec: [(&str, u64, u64, Strand); 6] = [
        ("chr2", 5_000, 9_000, Strand::Plus),
        ("chr2", 8_000, 12_001, Strand::Minus),
        ("chr10", 25_000, 30_000, Strand::Plus),
        ("chr1", 1_000, 12_001, Strand::Minus),
        ("chr1", 1_500, 3_000, Strand::Plus),
        ("chrM", 100, 5_000, Strand::Plus),
    ];
    let mut gtf = String::from("#!genome-build test\n");
    let mut genes = Vec::new();
    for (i, &(chrom, start, end, strand)) in spec.iter().enumerate() {
        let attrs = format!("gene_id \"G{i}\"; gene_name \"g{i}\";");
        for kind in ["gene", "transcript", "exon"] {
            gtf += &format!(
                "{chrom}\ttest\t{kind}\t{}\t{end}\t.\t{}\t.\t{attrs}{}\n",
                start + 1,
                strand.symbol(),
                if kind == "gene" { String::new() } else { format!(" transcript_id \"T{i}\";") }
            );
        }
        genes.push(Gene {
            id: format!("G{i}"),
            name: format!("g{i}"),
            gene_type: None,
            chrom: chrom.into(),
            start,
            end,
            strand,
            exons: vec![(start, end)],
        });
    }
    std::fs::write(path, gtf).unwrap();
    GeneTable { genes, source: "test".into() }
}

#[test]
fn insertions_qc_and_tsse_match_snapatac2() {
    let Some(python) = crate::testing::test_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fragments.tsv.gz");
    bgzip_indexed(&path, &random_fragments(2, 4000, true));
    let gtf = dir.path().join("genes.gtf");
    let genes = genes_and_gtf(&gtf);
    let (cov, stats) = load(&path, &opts()).unwrap();
    let min = {
        let mut n: Vec<u64> = stats.cells.iter().map(|q| q.n_fragment).collect();
        n.sort_unstable();
        n[n.len() / 2]
    };
    let white = ["AC03GT-1", "AC07GT-1", "AC05GT-1", "AC11GT-1", "NOTHERE-1"];
    let out = dir.path().join("snap.tsv");
    // SnapATAC2: the fragments as stored (`obsm['fragment_paired']`: column = genome offset of the start, value =
    // length), 500-bp tile counts of insertions, QC, TSSe, size distribution; then a second import with a whitelist
    // and min_num_fragments.
    let script = format!(
        r#"
import snapatac2 as snap, numpy as np
sizes = {{{sizes}}}
a = snap.pp.import_fragments({path:?}, chrom_sizes=sizes, sorted_by_barcode=False, min_num_fragments=0)
refs = a.uns["reference_sequences"]
names = list(refs["reference_seq_name"]); offs = np.concatenate([[0], np.cumsum(refs["reference_seq_length"])])
F = a.obsm["fragment_paired"]
snap.metrics.tsse(a, {gtf:?})
snap.metrics.frag_size_distr(a, max_recorded_size=1000)
out = open({out:?}, "w")
out.write("sizes\t" + ",".join(str(int(x)) for x in a.uns["frag_size_distr"]) + "\n")
out.write("library\t%r\t%r\n" % (float(a.uns["library_tsse"]), float(a.uns["frac_overlap_TSS"])))
for i, b in enumerate(a.obs_names):
    lo, hi = F.indptr[i], F.indptr[i + 1]
    ins = []
    for col, size in zip(F.indices[lo:hi], F.data[lo:hi]):
        c = int(np.searchsorted(offs, col, side="right")) - 1
        s = int(col - offs[c])
        ins += [names[c] + ":" + str(s), names[c] + ":" + str(s + int(size) - 1)]
    out.write("\t".join([b, str(a.obs["n_fragment"].iloc[i]), repr(float(a.obs["frac_dup"].iloc[i])),
        repr(float(a.obs["frac_mito"].iloc[i])), repr(float(a.obs["tsse"].iloc[i])), ",".join(ins)]) + "\n")
snap.pp.add_tile_matrix(a, bin_size=500, counting_strategy="insertion", exclude_chroms=None)
X = a.X[:].tocsr()
for i, b in enumerate(a.obs_names):
    row = X[i]
    out.write("tiles\t" + b + "\t" + ",".join(a.var_names[j] + "=" + str(int(v)) for j, v in zip(row.indices, row.data)) + "\n")
w = snap.pp.import_fragments({path:?}, chrom_sizes=sizes, sorted_by_barcode=False, min_num_fragments={min},
                             whitelist={white:?})
out.write("kept\t" + ",".join(sorted(w.obs_names)) + "\n")
"#,
        sizes = SIZES.iter().map(|(c, l)| format!("{c:?}: {l}")).collect::<Vec<_>>().join(", "),
        path = path.to_str().unwrap(),
        gtf = gtf.to_str().unwrap(),
        out = out.to_str().unwrap(),
        white = white.to_vec(),
    );
    let st = std::process::Command::new(&python).arg("-c").arg(&script).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let ours = per_cell_insertions(&cov);
    let tsse = tss_enrichment(&cov, &tss_sites(&genes), &TsseOptions::default(), &CancelToken::new()).unwrap();
    let (mut cells_seen, mut tiles_seen) = (0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "sizes" => {
                let theirs: Vec<u64> = f[1].split(',').map(|x| x.parse().unwrap()).collect();
                assert_eq!(theirs, stats.sizes.counts);
            }
            "library" => {
                let (lib, frac): (f64, f64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
                assert!((lib - tsse.library_tsse).abs() <= 1e-9 * lib.abs().max(1.0), "{lib} vs {}", tsse.library_tsse);
                assert!((frac - tsse.frac_overlap_tss).abs() < 1e-12, "{frac} vs {}", tsse.frac_overlap_tss);
                assert!(lib > 1.5, "the test data should be enriched at TSSs: {lib}");
            }
            "tiles" => {
                let cell = cov.cells.iter().position(|b| b == f[1]).expect("barcode missing here");
                let mut mine: BTreeMap<String, u64> = BTreeMap::new();
                for ((chrom, pos), n) in &ours[&cov.cells[cell]] {
                    let t = *pos as u64 / 500 * 500;
                    let len = SIZES.iter().find(|s| s.0 == chrom).unwrap().1;
                    *mine.entry(format!("{chrom}:{t}-{}", (t + 500).min(len))).or_default() += n;
                }
                let theirs: BTreeMap<String, u64> = f
                    .get(2)
                    .unwrap_or(&"")
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        (k.to_string(), v.parse().unwrap())
                    })
                    .collect();
                assert_eq!(mine, theirs, "tiles of {}", f[1]);
                tiles_seen += 1;
            }
            "kept" => {
                // SnapATAC2 keeps whitelisted barcodes with at least `min` nuclear fragments; so do we.
                let o = FragmentOptions {
                    barcodes: Some(white.iter().map(|s| s.to_string()).collect()),
                    min_fragments: min,
                    ..opts()
                };
                let (w, ws) = load(&path, &o).unwrap();
                let mut mine = w.cells.clone();
                mine.sort();
                assert_eq!(mine.join(","), f[1]);
                assert!(ws.dropped_cells > 0 && !f[1].is_empty(), "the filter should keep some and drop some");
            }
            barcode => {
                let cell = cov.cells.iter().position(|b| b == barcode).expect("barcode missing here");
                let q = &stats.cells[cell];
                assert_eq!(q.n_fragment, f[1].parse::<u64>().unwrap(), "n_fragment of {barcode}");
                for (theirs, mine, what) in [
                    (f[2], q.frac_dup(), "frac_dup"),
                    (f[3], q.frac_mito(), "frac_mito"),
                    (f[4], tsse.tsse[cell], "tsse"),
                ] {
                    let theirs: f64 = theirs.parse().unwrap();
                    assert!(
                        (theirs - mine).abs() <= 1e-9 * theirs.abs().max(1.0),
                        "{what} of {barcode}: {theirs} vs {mine}"
                    );
                }
                let mut theirs: BTreeMap<(String, u32), u64> = BTreeMap::new();
                for x in f[5].split(',').filter(|s| !s.is_empty()) {
                    let (c, p) = x.rsplit_once(':').unwrap();
                    *theirs.entry((c.to_string(), p.parse().unwrap())).or_default() += 1;
                }
                assert_eq!(ours[barcode], theirs, "insertions of {barcode}");
                cells_seen += 1;
            }
        }
    }
    assert_eq!((cells_seen, tiles_seen), (cov.n_cells(), cov.n_cells()));
    assert!(tsse.n_sites == 5);
}

#[test]
fn whitelist_min_fragments_chromosomes_and_inferred_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.tsv");
    std::fs::write(&path, random_fragments(3, 2000, false)).unwrap();
    let list = dir.path().join("barcodes.tsv.gz");
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(&list).unwrap(), flate2::Compression::fast());
    e.write_all(b"AC03GT-1\nAC01GT-1\n\nNOPE-1\n").unwrap();
    e.finish().unwrap();
    let barcodes = read_barcodes(&list).unwrap();
    assert_eq!(barcodes, ["AC03GT-1", "AC01GT-1", "NOPE-1"]);
    let (cov, stats) = load(&path, &FragmentOptions { barcodes: Some(barcodes), ..opts() }).unwrap();
    // The whitelist's order; the barcode without fragments is not a cell.
    assert_eq!(cov.cells, vec!["AC03GT-1", "AC01GT-1"]);
    assert!(stats.skipped.barcode > 0);
    let (all, all_stats) = load(&path, &opts()).unwrap();
    assert_eq!(all.n_cells(), 12);
    let mut n: Vec<u64> = all_stats.cells.iter().map(|q| q.n_fragment).collect();
    n.sort_unstable();
    let (few, few_stats) = load(&path, &FragmentOptions { min_fragments: n[6], ..opts() }).unwrap();
    assert_eq!(few.n_cells(), n.iter().filter(|&&x| x >= n[6]).count());
    assert!(few_stats.cells.iter().all(|q| q.n_fragment >= n[6]));
    assert_eq!(few_stats.dropped_cells, 12 - few.n_cells());
    assert_eq!(few_stats.fragments + few_stats.dropped_fragments, all_stats.fragments);
    // Without chromosome sizes: chromosomes in order of appearance, each as long as its last fragment end.
    let (inferred, _) = load(&path, &FragmentOptions::default()).unwrap();
    assert_eq!(inferred.refs.len(), 5);
    let ins = inferred.atac.as_ref().unwrap();
    for c in 0..inferred.refs.len() {
        let last = ins.chrom(c).last().map(|&k| (k >> 32) + 1).unwrap();
        assert_eq!(inferred.refs.length(c), last);
        let name = inferred.refs.name(c);
        assert!(SIZES.iter().find(|s| s.0 == name).is_none_or(|s| last <= s.1));
    }
    // A chromosome seen only with barcodes outside the whitelist still gets its length.
    let one = FragmentOptions { barcodes: Some(vec!["AC03GT-1".into()]), ..FragmentOptions::default() };
    let (w, _) = load(&path, &one).unwrap();
    assert_eq!(w.refs.lengths(), inferred.refs.lengths());
    let (only, s) = load(&path, &FragmentOptions { chromosomes: Some(vec!["chr10".into()]), ..opts() }).unwrap();
    let ins = only.atac.as_ref().unwrap();
    assert!(s.skipped.chromosome > 0 && ins.len() == ins.chrom(1).len() && !ins.is_empty());
    assert_eq!(only.refs.len(), SIZES.len(), "the genome's chromosomes stay listed");
    let e = load(&path, &FragmentOptions { chromosomes: Some(vec!["chrZ".into()]), ..opts() }).unwrap_err();
    assert!(e.to_string().contains("chrZ"), "{e}");
}

#[test]
fn barcodes_from_a_10x_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("filtered_feature_bc_matrix.h5");
    {
        let f = hdf5::File::create(&h5).unwrap();
        let g = f.create_group("matrix").unwrap();
        let v: Vec<hdf5::types::FixedAscii<18>> = ["AC01GT-1", "AC02GT-1"]
            .iter()
            .map(|s| hdf5::types::FixedAscii::from_ascii(s.as_bytes()).unwrap())
            .collect();
        g.new_dataset_builder().with_data(&v).create("barcodes").unwrap();
    }
    assert_eq!(read_barcodes(&h5).unwrap(), ["AC01GT-1", "AC02GT-1"]);
    let empty = dir.path().join("other.h5");
    hdf5::File::create(&empty).unwrap().create_group("x").unwrap();
    let e = read_barcodes(&empty).unwrap_err().to_string();
    assert!(e.contains("other.h5") && e.contains("matrix/barcodes"), "{e}");
}

#[test]
fn bad_files_are_named_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let err = |p: &Path, o: &FragmentOptions| load(p, o).unwrap_err().to_string();
    let e = err(&write("a.tsv", "chr1\t10\t20\tA\t1\nchr1\t10\n"), &opts());
    assert!(e.contains("a.tsv:2") && e.contains("2 tab-separated fields"), "{e}");
    let e = err(&write("b.tsv", "chr1\t10\tx20\tA\t1\n"), &opts());
    assert!(e.contains("b.tsv:1") && e.contains("end \"x20\""), "{e}");
    let e = err(&write("b2.tsv", "# h\nchr1\t10\t20\tA\t-1\n"), &opts());
    assert!(e.contains("b2.tsv:2") && e.contains("count \"-1\""), "{e}");
    let e = err(&write("c.tsv", "chr1\t30\t20\tA\t1\n"), &opts());
    assert!(e.contains("c.tsv:1") && e.contains("not after"), "{e}");
    let e = err(&write("c2.tsv", "chr1\t30\t30\tA\t1\n"), &opts());
    assert!(e.contains("c2.tsv:1") && e.contains("not after"), "{e}");
    let e = err(&write("d.tsv", "chr1\t10\t20\tA\t1\nchr1\t29990\t30010\tA\t1\n"), &opts());
    assert!(e.contains("d.tsv:2") && e.contains("past the chromosome end"), "{e}");
    let wl = FragmentOptions { barcodes: Some(vec!["ZZ-1".into(), "YY-1".into()]), ..opts() };
    let e = err(&write("e.tsv", "chr1\t10\t20\tAA-1\t1\nchr1\t10\t20\tBB-1\t1\n"), &wl);
    assert!(
        e.contains("no barcode of the whitelist") && e.contains("AA-1") && e.contains("BB-1") && e.contains("ZZ-1"),
        "{e}"
    );
    let e = err(&write("f.tsv", "1\t10\t20\tA\t1\n"), &opts());
    assert!(e.contains("chromosome names"), "{e}");
    let e = err(&write("g.tsv", "# only a header\n"), &opts());
    assert!(e.contains("g.tsv") && e.contains("no fragments"), "{e}");
    let e = err(&write("h.tsv", "chr1\t10\t20\tA\t1\n"), &FragmentOptions { min_fragments: 5, ..opts() });
    assert!(e.contains("min_fragments") && e.contains("the most is 1"), "{e}");
    // Truncated BGZF: cut inside a block, and cut at a block boundary (only the end-of-file block is missing).
    let full = dir.path().join("full.tsv.gz");
    bgzip_indexed(&full, &random_fragments(4, 20_000, true));
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.tsv.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = err(&cut, &opts());
    assert!(e.contains("cut.tsv.gz") && e.contains("truncated"), "{e}");
    let no_eof = dir.path().join("noeof.tsv.gz");
    std::fs::write(&no_eof, &bytes[..bytes.len() - 28]).unwrap();
    let e = err(&no_eof, &opts());
    assert!(e.contains("noeof.tsv.gz") && e.contains("truncated"), "{e}");
    // Truncated plain gzip.
    let gz = dir.path().join("cut.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(random_fragments(5, 5_000, false).as_bytes()).unwrap();
    let z = enc.finish().unwrap();
    std::fs::write(&gz, &z[..z.len() * 2 / 3]).unwrap();
    let e = err(&gz, &opts());
    assert!(e.contains("cut.gz:") && e.contains("truncated"), "{e}");
    let e = err(&dir.path().join("missing.tsv"), &opts());
    assert!(e.contains("missing.tsv"), "{e}");
    let dup = FragmentOptions { barcodes: Some(vec!["A".into(), "A".into()]), ..opts() };
    assert!(err(&write("i.tsv", "chr1\t10\t20\tA\t1\n"), &dup).contains("listed twice"));
}

#[test]
fn cancelled_and_progress() {
    struct Rec(Vec<u64>, Option<u64>);
    impl Progress for Rec {
        fn start(&mut self, _: &str, total: Option<u64>) {
            self.1 = total;
        }
        fn update(&mut self, p: u64, _: &str) {
            self.0.push(p);
        }
        fn finish(&mut self, _: &str) {}
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.tsv");
    std::fs::write(&path, random_fragments(6, 500, false)).unwrap();
    let mut rec = Rec(Vec::new(), None);
    load_fragments(&path, &opts(), &mut rec, &CancelToken::new()).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(rec.1, Some(size));
    assert_eq!(rec.0.last(), Some(&size));
    let cancel = CancelToken::new();
    cancel.cancel();
    let e = load_fragments(&path, &opts(), &mut NoProgress, &cancel).unwrap_err();
    assert!(matches!(e, RuntimeError::Interrupted), "{e}");
}
