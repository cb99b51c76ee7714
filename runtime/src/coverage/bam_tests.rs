use std::collections::BTreeMap;
use std::path::Path;

use noodles::sam;
use noodles::sam::alignment::io::Write as _;
use noodles::sam::alignment::record::cigar::op::{Kind, Op};
use noodles::sam::alignment::record_buf::data::field::Value as BufValue;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::progress::NoProgress;

/// One alignment for a test BAM.
#[derive(Clone, Debug)]
pub(crate) struct TestRead {
    pub name: String,
    /// `(reference index, 1-based position)`; `None`: unplaced.
    pub at: Option<(usize, usize)>,
    pub cigar: String,
    pub flags: u16,
    pub mapq: u8,
    pub tags: Vec<([u8; 2], BufValue)>,
    pub quals: Vec<u8>,
}

fn parse_cigar(s: &str) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut n = 0usize;
    for ch in s.chars() {
        if let Some(d) = ch.to_digit(10) {
            n = n * 10 + d as usize;
            continue;
        }
        let kind = match ch {
            'M' => Kind::Match,
            'I' => Kind::Insertion,
            'D' => Kind::Deletion,
            'N' => Kind::Skip,
            'S' => Kind::SoftClip,
            'H' => Kind::HardClip,
            '=' => Kind::SequenceMatch,
            'X' => Kind::SequenceMismatch,
            _ => panic!("bad cigar {s}"),
        };
        ops.push(Op::new(kind, n));
        n = 0;
    }
    ops
}

/// Bases of the read (query) a CIGAR implies.
pub(crate) fn query_len(cigar: &str) -> usize {
    parse_cigar(cigar)
        .iter()
        .filter(|o| {
            matches!(
                o.kind(),
                Kind::Match | Kind::Insertion | Kind::SoftClip | Kind::SequenceMatch | Kind::SequenceMismatch
            )
        })
        .map(|o| o.len())
        .sum()
}

/// Writes a BAM with noodles: `header` is SAM header text (`@HD`, `@SQ` lines).
pub(crate) fn write_bam(path: &Path, header: &str, reads: &[TestRead]) {
    use noodles::sam::alignment::record::MappingQuality;
    use noodles::sam::alignment::record_buf::{QualityScores, Sequence};
    let header: sam::Header = header.parse().unwrap();
    let mut w = noodles::bam::io::Writer::new(std::fs::File::create(path).unwrap());
    w.write_header(&header).unwrap();
    for r in reads {
        let ops = parse_cigar(&r.cigar);
        let n = query_len(&r.cigar);
        assert_eq!(r.quals.len(), n, "{}", r.name);
        let mut b = sam::alignment::RecordBuf::builder()
            .set_name(r.name.as_str())
            .set_flags(sam::alignment::record::Flags::from_bits_retain(r.flags))
            .set_cigar(ops.into_iter().collect())
            .set_sequence(Sequence::from(vec![b'A'; n]))
            .set_quality_scores(QualityScores::from(r.quals.clone()))
            .set_data(r.tags.iter().map(|(t, v)| (Tag::new(t[0], t[1]), v.clone())).collect());
        if let Some(q) = MappingQuality::new(r.mapq) {
            b = b.set_mapping_quality(q);
        }
        if let Some((c, p)) = r.at {
            b = b.set_reference_sequence_id(c).set_alignment_start(noodles::core::Position::new(p).unwrap());
        }
        w.write_alignment_record(&header, &b.build()).unwrap();
    }
    w.try_finish().unwrap();
}

pub(crate) const HEADER: &str = "@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:20000\n@SQ\tSN:chr2\tLN:8000\n";
pub(crate) const CELLS: [&str; 4] = ["TTTGC-1", "AACGT-1", "GGCAT-1", "CATCA-1"];

/// Random 10x-like reads: both strands, spliced (with a deletion or insertion sometimes), soft/hard clips, `=`/`X`
/// free CIGARs (as STAR writes), duplicates sharing a 5′ end and UMI (with other qualities and CIGARs), reads
/// without UB, without CB, secondary/supplementary/unmapped/QC-fail/flagged-duplicate, low MAPQ, MAPQ 255, xf tags.
pub(crate) fn random_reads(seed: u64, n: usize) -> Vec<TestRead> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let lens = [20000usize, 8000];
    let mut out: Vec<TestRead> = Vec::new();
    let umis = ["ACGTACGTAC", "TTTTGGGGCC", "GATTACAGAT", "CCCCAAAATT", "AGAGAGAGAG"];
    for i in 0..n {
        let chrom = rng.random_range(0..2usize);
        let cigar = match rng.random_range(0..7) {
            0 | 1 => "40M".to_string(),
            2 => format!("{}S{}M", rng.random_range(1..8), rng.random_range(20..40)),
            3 => format!("{}M{}N{}M", rng.random_range(5..30), rng.random_range(50..900), rng.random_range(5..30)),
            4 => format!(
                "{}S{}M{}D{}M{}N{}M{}S",
                rng.random_range(1..4),
                rng.random_range(5..20),
                rng.random_range(1..4),
                rng.random_range(5..20),
                rng.random_range(50..500),
                rng.random_range(5..20),
                rng.random_range(1..4)
            ),
            5 => format!(
                "{}M{}I{}M{}N{}M",
                rng.random_range(5..20),
                rng.random_range(1..3),
                rng.random_range(5..20),
                rng.random_range(30..300),
                rng.random_range(5..20)
            ),
            _ => format!("{}H{}M{}S", rng.random_range(1..5), rng.random_range(25..40), rng.random_range(1..6)),
        };
        let pos = rng.random_range(1..lens[chrom] - 1500);
        let mut flags: u16 = if rng.random_bool(0.5) { 0x10 } else { 0 };
        let roll = rng.random_range(0..100);
        flags |= match roll {
            0..=2 => 0x100,
            3..=4 => 0x800,
            5 => 0x4,
            6 => 0x200,
            7..=9 => 0x400,
            _ => 0,
        };
        let mapq = match rng.random_range(0..20) {
            0 => 10,
            1 => 30,
            2 => 29,
            3 => 0,
            _ => 255,
        };
        let mut tags = Vec::new();
        if rng.random_range(0..25) != 0 {
            tags.push((*b"CB", BufValue::from(CELLS[rng.random_range(0..CELLS.len())])));
        } else {
            tags.push((*b"CR", BufValue::from("NNNNN")));
        }
        if rng.random_range(0..15) != 0 {
            tags.push((*b"UB", BufValue::from(umis[rng.random_range(0..umis.len())])));
        }
        tags.push((*b"xf", BufValue::from(if rng.random_bool(0.8) { 25i32 } else { 17 })));
        let q = query_len(&cigar);
        let quals = (0..q).map(|_| rng.random_range(2..41u8)).collect();
        let read = TestRead { name: format!("r{i}"), at: Some((chrom, pos)), cigar, flags, mapq, tags, quals };
        // duplicates: same 5' end, cell, strand and UMI, other CIGAR body / qualities
        if rng.random_bool(0.3) {
            let mut d = read.clone();
            d.name = format!("r{i}d");
            let reverse = d.flags & 0x10 != 0;
            if !reverse && !d.cigar.contains('H') && !d.cigar.contains('S') {
                d.cigar = format!("{}M", rng.random_range(10..60));
            }
            let q = query_len(&d.cigar);
            d.quals = (0..q).map(|_| rng.random_range(2..41u8)).collect();
            d.flags &= 0x10;
            d.mapq = 255;
            out.push(d);
        }
        out.push(read);
    }
    // a few unplaced unmapped reads at the end (as Cell Ranger writes them)
    for i in 0..5 {
        out.push(TestRead {
            name: format!("u{i}"),
            at: None,
            cigar: String::new(),
            flags: 0x4,
            mapq: 0,
            tags: vec![(*b"CB", BufValue::from(CELLS[0]))],
            quals: Vec::new(),
        });
    }
    out.sort_by_key(|r| r.at.map_or((usize::MAX, 0), |a| a));
    out
}

/// `(strand, barcode, chromosome, column, value)` of a stored entry.
pub(crate) type Entry = (String, String, String, u32, i32);

/// Every stored entry, sorted.
pub(crate) fn entries_of(cov: &Coverage) -> Vec<Entry> {
    let mut out = Vec::new();
    for (strand, reads) in [("+", &cov.rna_plus), ("-", &cov.rna_minus)] {
        let r = reads.as_ref().unwrap();
        for c in 0..r.n_chroms() {
            let (keys, vals) = r.chrom(c);
            for (&k, &v) in keys.iter().zip(vals) {
                let (p, cell) = super::super::store::unpack(k);
                out.push((strand.into(), cov.cells[cell as usize].clone(), cov.refs.name(c).into(), p, v));
            }
        }
    }
    out.sort();
    out
}

/// An independent Python (pysam) implementation of the documented rules: prints `strand barcode chrom col value`
/// lines for every entry, then `cell barcode reads duplicates`.
pub(crate) const PYSAM_REFERENCE: &str = r#"
import sys, pysam
path, min_mapq, umi_tag, xf, wl = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5]
wl = set(wl.split(",")) if wl else None
CLIP = (pysam.CSOFT_CLIP, pysam.CHARD_CLIP)
mols = {}
flagged = {}
with pysam.AlignmentFile(path, "rb", check_sq=False) as bam:
    for idx, r in enumerate(bam.fetch(until_eof=True)):
        if r.flag & (0x4 | 0x8 | 0x100 | 0x200 | 0x800) == 0 and r.flag & 0x400 and r.mapping_quality >= min_mapq \
                and r.has_tag("CB") and (wl is None or str(r.get_tag("CB")) in wl):
            # a flagged duplicate counts as its cell's duplicate (xf not required)
            cb = str(r.get_tag("CB")); flagged[cb] = flagged.get(cb, 0) + 1
        if r.flag & (0x4 | 0x8 | 0x100 | 0x200 | 0x400 | 0x800) or r.mapping_quality < min_mapq:
            continue
        if not r.has_tag("CB"):
            continue
        cb = str(r.get_tag("CB"))
        if wl is not None and cb not in wl:
            continue
        if xf and not (r.has_tag("xf") and str(r.get_tag("xf")) == "25"):
            continue
        umi = str(r.get_tag(umi_tag)) if umi_tag and r.has_tag(umi_tag) else None
        cig = r.cigartuples
        lead = 0
        for op, n in cig:
            if op not in CLIP: break
            lead += n
        trail = 0
        for op, n in reversed(cig):
            if op not in CLIP: break
            trail += n
        start, end = r.reference_start, r.reference_end
        us, ue = start + 1 - lead, end + trail
        if any(op == pysam.CREF_SKIP for op, _ in cig):
            # SnapATAC2: only M (here also =/X) and N operations, merged by kind, paired (match, skip)
            kept = [("M" if op in (pysam.CMATCH, pysam.CEQUAL, pysam.CDIFF) else "N", n)
                    for op, n in cig if op in (pysam.CMATCH, pysam.CEQUAL, pysam.CDIFF, pysam.CREF_SKIP)]
            groups = []
            for k, n in kept:
                if groups and groups[-1][0] == k: groups[-1][1] += n
                else: groups.append([k, n])
            blocks, off = [], start
            for j in range(0, len(groups), 2):
                m = groups[j][1]
                s = groups[j + 1][1] if j + 1 < len(groups) else 0
                blocks.append((off, off + m)); off += m + s
        else:
            blocks = [(start, end)]
        qual = sum(q for q in r.query_qualities if q >= 15)
        rev = r.is_reverse
        key = (cb, r.reference_id, ue if rev else us, rev, umi)
        cand = (qual, -us, -ue, -idx)
        mols.setdefault(key, []).append((cand, r.reference_name, blocks))
cells = {}
for (cb, _, _, rev, _), reads in mols.items():
    best = max(reads, key=lambda x: x[0])
    _, chrom, blocks = best
    for s, e in blocks:
        if e > s:
            print("-" if rev else "+", cb, chrom, e - 1 if rev else s, -(e - s) if rev else e - s)
    c = cells.setdefault(cb, [0, 0]); c[0] += 1; c[1] += len(reads) - 1
for cb, (n, d) in sorted(cells.items()):
    print("cell", cb, n, d + flagged.get(cb, 0))
"#;

pub(crate) fn run_reference(
    python: &Path,
    bam: &Path,
    min_mapq: u8,
    umi: &str,
    xf: bool,
    whitelist: &[&str],
) -> (Vec<Entry>, BTreeMap<String, (u64, u64)>) {
    let out = std::process::Command::new(python)
        .args(["-c", PYSAM_REFERENCE])
        .arg(bam)
        .arg(min_mapq.to_string())
        .arg(umi)
        .arg(if xf { "1" } else { "0" })
        .arg(whitelist.join(","))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut entries = Vec::new();
    let mut cells = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f[0] == "cell" {
            cells.insert(f[1].to_string(), (f[2].parse().unwrap(), f[3].parse().unwrap()));
        } else {
            entries.push((f[0].into(), f[1].into(), f[2].into(), f[3].parse().unwrap(), f[4].parse().unwrap()));
        }
    }
    entries.sort();
    (entries, cells)
}

fn load(path: &Path, opts: &RnaOptions) -> Result<(Coverage, RnaStats)> {
    load_rna_coverage(path, opts, &mut NoProgress, &CancelToken::new())
}

fn cell_map(cov: &Coverage, stats: &RnaStats) -> BTreeMap<String, (u64, u64)> {
    cov.cells.iter().zip(&stats.cells).map(|(c, q)| (c.clone(), (q.reads, q.duplicates))).collect()
}

#[test]
fn hand_written_reads_follow_snapatac2_scooby() {
    let dir = tempfile::tempdir().unwrap();
    let bam = dir.path().join("t.bam");
    let tags = |cb: &str, ub: Option<&str>| {
        let mut t = vec![(*b"CB", BufValue::from(cb))];
        if let Some(u) = ub {
            t.push((*b"UB", BufValue::from(u)));
        }
        t
    };
    let rd = |name: &str, pos: usize, cigar: &str, flags: u16, q: u8, t: Vec<([u8; 2], BufValue)>| TestRead {
        name: name.into(),
        at: Some((0, pos)),
        cigar: cigar.into(),
        flags,
        mapq: 255,
        tags: t,
        quals: vec![q; query_len(cigar)],
    };
    let reads = vec![
        rd("fwd", 101, "10M", 0, 30, tags("A-1", Some("U1"))),
        rd("dup_better", 101, "12M", 0, 40, tags("A-1", Some("U1"))), // same 5' and UMI: replaces "fwd"
        rd("other_umi", 101, "10M", 0, 30, tags("A-1", Some("U2"))),
        rd("rev", 201, "10M", 0x10, 30, tags("A-1", Some("U1"))),
        rd("clip", 299, "3S10M2S", 0, 30, tags("A-1", Some("U3"))),
        rd("splice", 401, "5M100N5M", 0x10, 30, tags("A-1", Some("U4"))),
        rd("del_splice", 1001, "10M2D5M50N5M", 0, 30, tags("A-1", Some("U5"))),
        // flagged duplicates (Cell Ranger): dropped, but counted as their cell's duplicates when the read would have
        // passed MAPQ; B-1's comes before its first kept read, C-1 never becomes a cell
        rd("flagged_a", 1201, "10M", 0x400, 30, tags("A-1", Some("U6"))),
        TestRead { mapq: 10, ..rd("flagged_low_mapq", 1301, "10M", 0x400, 30, tags("A-1", Some("U7"))) },
        rd("flagged_c", 1401, "10M", 0x400, 30, tags("C-1", Some("U8"))),
        rd("flagged_b", 1501, "10M", 0x400, 30, tags("B-1", Some("U9"))),
        rd("no_umi_f", 2001, "10M", 0, 30, tags("B-1", None)),
        rd("no_umi_r", 2001, "10M", 0x10, 30, tags("B-1", None)),
        rd("no_umi_dup", 2001, "8M", 0, 20, tags("B-1", None)),
        rd("secondary", 3001, "10M", 0x100, 30, tags("B-1", Some("U1"))),
        rd("no_cb", 3001, "10M", 0, 30, vec![(*b"UB", BufValue::from("U1"))]),
    ];
    write_bam(&bam, HEADER, &reads);
    let (cov, stats) = load(&bam, &RnaOptions::default()).unwrap();
    assert_eq!(cov.cells, ["A-1", "B-1"]);
    let got: Vec<Entry> = entries_of(&cov);
    let want = |s: &str, cb: &str, col: u32, v: i32| (s.to_string(), cb.to_string(), "chr1".to_string(), col, v);
    let mut expected = vec![
        want("+", "A-1", 100, 12),
        want("+", "A-1", 100, 10),
        want("-", "A-1", 209, -10),
        want("+", "A-1", 298, 10),
        want("-", "A-1", 404, -5),
        want("-", "A-1", 509, -5),
        want("+", "A-1", 1000, 15),
        want("+", "A-1", 1065, 5),
        want("+", "B-1", 2000, 10),
        want("-", "B-1", 2009, -10),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!((stats.records, stats.secondary, stats.no_barcode, stats.passed), (16, 1, 1, 10));
    assert_eq!((stats.duplicates, stats.reads, stats.spliced, stats.flagged_duplicate), (2, 8, 2, 4));
    // A-1: "fwd" replaced by "dup_better", and "flagged_a"; B-1: "no_umi_dup" and "flagged_b"
    assert_eq!(stats.cells[0], CellRnaQc { reads: 6, plus: 4, minus: 2, duplicates: 2 });
    assert_eq!(stats.cells[1], CellRnaQc { reads: 2, plus: 1, minus: 1, duplicates: 2 });
    // with a whitelist the cells exist from the start: the same counts
    let wl = RnaOptions { barcodes: Some(vec!["B-1".into(), "A-1".into()]), ..Default::default() };
    let (_, sw) = load(&bam, &wl).unwrap();
    assert_eq!((sw.cells[0].duplicates, sw.cells[1].duplicates), (2, 2));
    // without UMIs, "other_umi" joins the molecule at 101 as well
    let (_, s2) = load(&bam, &RnaOptions { umi: None, ..Default::default() }).unwrap();
    assert_eq!(s2.duplicates, 3);
    let (c3, s3) = load(&bam, &RnaOptions { dedup: false, ..Default::default() }).unwrap();
    assert_eq!((s3.duplicates, c3.rna_plus.as_ref().unwrap().len()), (0, 8));
    // only chr2: nothing passes (every read is on chr1), and the message says why
    let m = load(&bam, &RnaOptions { chromosomes: Some(vec!["chr2".into()]), ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(m.contains("no read passed the filters") && m.contains("10 on other chromosomes"), "{m}");
    // whitelist order
    let (c4, _) =
        load(&bam, &RnaOptions { barcodes: Some(vec!["B-1".into(), "A-1".into()]), ..Default::default() }).unwrap();
    assert_eq!(c4.cells, ["B-1", "A-1"]);
}

#[test]
fn random_bam_matches_pysam_reference() {
    let Some(python) = crate::testing::test_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bam = dir.path().join("r.bam");
    write_bam(&bam, HEADER, &random_reads(11, 3000));
    for (mapq, umi, xf, wl) in [(30u8, "UB", false, vec![]), (0, "", true, vec![CELLS[2], CELLS[0], "ZZZZ-1"])] {
        let opts = RnaOptions {
            min_mapq: mapq,
            umi: Some(umi.to_string()),
            xf_filter: xf,
            barcodes: (!wl.is_empty()).then(|| wl.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let (cov, stats) = load(&bam, &opts).unwrap();
        let (want, cells) = run_reference(&python, &bam, mapq, umi, xf, &wl);
        let got = entries_of(&cov);
        assert!(want.len() > 500, "{}", want.len());
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
        assert_eq!(cell_map(&cov, &stats), cells);
        assert!(stats.duplicates > 50 && stats.spliced > 100, "{stats:?}");
        if !wl.is_empty() {
            assert_eq!(cov.cells, [CELLS[2], CELLS[0]]);
        } else {
            let mut sorted = cov.cells.clone();
            sorted.sort();
            assert_eq!(cov.cells, sorted);
        }
    }
}

/// snapatac2-scooby itself, when a Python with it is named by `GSCRIPT_SCOOBY_PYTHON` (it needs anndata < 0.11, so it
/// is not in the test venv): `make_fragment_file(stranded=True)` + `import_fragments` give the same entries.
#[test]
fn random_bam_matches_snapatac2_scooby_when_available() {
    let Some(python) = std::env::var_os("GSCRIPT_SCOOBY_PYTHON") else {
        eprintln!("skipped: GSCRIPT_SCOOBY_PYTHON is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bam = dir.path().join("r.bam");
    write_bam(&bam, HEADER, &random_reads(23, 3000));
    let script = r#"
import sys, gzip, snapatac2_scooby as sp
bam, out = sys.argv[1], sys.argv[2]
sp.pp.make_fragment_file(bam, out + "/f.bed.gz", is_paired=False, stranded=True, barcode_tag="CB", umi_tag="UB",
                         shift_left=0, shift_right=0, min_mapq=30)
for strand, sign in (("plus", "+"), ("minus", "-")):
    a = sp.pp.import_fragments(out + f"/f.bed.{strand}.gz", chrom_sizes={"chr1": 20000, "chr2": 8000},
                               min_num_fragments=0, sorted_by_barcode=True)
    m = a.obsm["fragment_single"]
    for i, cb in enumerate(a.obs_names):
        for j in range(m.indptr[i], m.indptr[i + 1]):
            col = int(m.indices[j]); chrom = "chr1" if col < 20000 else "chr2"
            print(sign, cb, chrom, col - (0 if col < 20000 else 20000), int(m.data[j]))
"#;
    let out = std::process::Command::new(python).args(["-c", script]).arg(&bam).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut want: Vec<Entry> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].parse().unwrap(), f[4].parse().unwrap())
        })
        .collect();
    want.sort();
    let (cov, _) = load(&bam, &RnaOptions::default()).unwrap();
    assert_eq!(entries_of(&cov), want);
}

#[test]
fn bad_bams_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let msg = |p: &Path, o: &RnaOptions| load(p, o).unwrap_err().to_string();
    // not a BAM
    std::fs::write(d.join("x.sam"), "@HD\tVN:1.6\n").unwrap();
    assert!(msg(&d.join("x.sam"), &RnaOptions::default()).contains("not a BAM"));
    // a BGZF file of text
    let mut w = noodles::bgzf::io::Writer::new(std::fs::File::create(d.join("t.gz")).unwrap());
    std::io::Write::write_all(&mut w, b"chr1\t1\t2\n").unwrap();
    w.try_finish().unwrap();
    assert!(msg(&d.join("t.gz"), &RnaOptions::default()).contains("does not start with BAM"));
    // truncated: cut inside the data, so the end-of-file block is missing
    let good = d.join("g.bam");
    write_bam(&good, HEADER, &random_reads(5, 200));
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(d.join("cut.bam"), &bytes[..bytes.len() / 2]).unwrap();
    let m = msg(&d.join("cut.bam"), &RnaOptions::default());
    assert!(m.contains("cut.bam") && m.contains("truncated"), "{m}");
    // no CB: names the tag and the tags present
    let reads: Vec<TestRead> = random_reads(5, 50)
        .into_iter()
        .map(|mut r| {
            r.tags.retain(|t| &t.0 != b"CB");
            r
        })
        .collect();
    write_bam(&d.join("nocb.bam"), HEADER, &reads);
    let m = msg(&d.join("nocb.bam"), &RnaOptions::default());
    assert!(m.contains("cell barcode tag CB") && m.contains("UB") && m.contains("xf"), "{m}");
    // barcodes matching nothing
    let m = msg(&good, &RnaOptions { barcodes: Some(vec!["AAAA".into()]), ..Default::default() });
    assert!(m.contains("no barcode of the whitelist") && m.contains("-1") && m.contains("AAAA"), "{m}");
    // a cell tag of the wrong type
    let mut reads = random_reads(5, 20);
    reads[3].tags = vec![(*b"CB", BufValue::from(vec![1i32, 2]))];
    write_bam(&d.join("arr.bam"), HEADER, &reads);
    let m = msg(&d.join("arr.bam"), &RnaOptions::default());
    assert!(m.contains("record 4") && m.contains("array") && m.contains("CB"), "{m}");
    // header says sorted, records are not
    let mut reads = random_reads(5, 200);
    let first_chr2 = reads.iter().position(|r| r.at.is_some_and(|a| a.0 == 1)).unwrap();
    reads.swap(0, first_chr2);
    write_bam(&d.join("unsorted.bam"), HEADER, &reads);
    assert!(msg(&d.join("unsorted.bam"), &RnaOptions::default()).contains("sorted by coordinate"));
    // ... while without SO:coordinate the same records load
    let unsorted_header = HEADER.replace("\tSO:coordinate", "");
    write_bam(&d.join("unsorted2.bam"), &unsorted_header, &reads);
    assert!(load(&d.join("unsorted2.bam"), &RnaOptions::default()).is_ok());
    // options
    assert!(msg(&good, &RnaOptions { tag: "C".into(), ..Default::default() }).contains("two-character"));
    let m = msg(&good, &RnaOptions { chromosomes: Some(vec!["chr9".into()]), ..Default::default() });
    assert!(m.contains("chr9"), "{m}");
    // interrupted
    let cancel = CancelToken::new();
    cancel.cancel();
    assert!(matches!(
        load_rna_coverage(&good, &RnaOptions::default(), &mut NoProgress, &cancel),
        Err(RuntimeError::Interrupted)
    ));
}

#[test]
fn unsorted_bam_gives_the_same_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let reads = random_reads(9, 1500);
    write_bam(&dir.path().join("s.bam"), HEADER, &reads);
    let mut shuffled = reads.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.random_range(0..=i));
    }
    write_bam(&dir.path().join("u.bam"), &HEADER.replace("\tSO:coordinate", ""), &shuffled);
    let (a, _) = load(&dir.path().join("s.bam"), &RnaOptions::default()).unwrap();
    let (b, _) = load(&dir.path().join("u.bam"), &RnaOptions::default()).unwrap();
    // exact ties (quality sum, unclipped start and end) are decided by file order, but such reads have the same
    // blocks here, so the entries agree
    assert_eq!(a.cells, b.cells);
    let (ea, eb) = (entries_of(&a), entries_of(&b));
    let only_a: Vec<_> = ea.iter().filter(|e| !eb.contains(e)).collect();
    let only_b: Vec<_> = eb.iter().filter(|e| !ea.contains(e)).collect();
    assert!(only_a.is_empty() && only_b.is_empty(), "sorted only: {only_a:?}\nunsorted only: {only_b:?}");
}
