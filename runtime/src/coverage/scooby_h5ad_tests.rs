use std::path::Path;

use super::*;
use crate::coverage::window::{window_targets, WindowOptions};
use crate::coverage::Insertions;
use crate::progress::NoProgress;
use crate::seq::region::Region;

fn read(atac: Option<&Path>, plus: Option<&Path>, minus: Option<&Path>) -> Result<Coverage> {
    read_scooby_coverage(atac, plus, minus, &mut NoProgress, &CancelToken::new())
}

fn write(cov: &Coverage, dir: &Path) -> Result<Vec<PathBuf>> {
    write_scooby_h5ad(cov, dir, &mut NoProgress, &CancelToken::new())
}

/// A SnapATAC2-scooby-style multiome written by Python (anndata + scipy), as the tutorial's `write` leaves it:
/// `rna_plus.h5ad` / `rna_minus.h5ad` (`obsm["fragment_single"]`, int32, rows sorted by (column, value), repeated
/// columns), `atac.h5ad` (`obsm["insertion"]`, uint16 counts, canonical), `uns["reference_sequences"]`, empty X.
/// Also `rna_minus_other.h5ad`: the minus strand of only some cells, in another order.
const PY_WRITE: &str = r#"
import sys, numpy as np, scipy.sparse as sp, anndata as ad, pandas as pd
out = sys.argv[1]
rng = np.random.default_rng(7)
chroms = [("chr1", 20000), ("chr2", 8000)]
offs = {"chr1": 0, "chr2": 20000}
G = 28000
cells = [f"CELL{i:02d}-1" for i in range(6)]
ref = pd.DataFrame({"reference_seq_name": [c for c, _ in chroms],
                    "reference_seq_length": np.array([l for _, l in chroms], dtype=np.uint64)})

def csr(rows, n_rows, dtype):
    # rows: list of lists of (col, val); kept as given (sorted by col, val), duplicates allowed
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for i, r in enumerate(rows): indptr[i + 1] = indptr[i] + len(r)
    idx = np.array([c for r in rows for c, _ in r], dtype=np.int64)
    val = np.array([v for r in rows for _, v in r], dtype=dtype)
    return sp.csr_matrix((val, idx.astype(np.int32), indptr.astype(np.int32)), shape=(n_rows, G))

def rna(sign):
    rows = []
    for i in range(len(cells)):
        r = []
        for _ in range(400):
            c, L = chroms[rng.integers(2)]
            n = int(rng.integers(5, 91))
            if rng.random() < 0.3:   # pile up around a hot spot so bins get large values
                p = int(rng.integers(3300, 3500)) if c == "chr1" else int(rng.integers(7000, 7100))
            else:
                p = int(rng.integers(0, L))
            if sign > 0:
                s = min(p, L - n); r.append((offs[c] + s, n))
            else:
                e = max(p, n); r.append((offs[c] + e - 1, -n))
            if rng.random() < 0.05: r.append(r[-1])                        # the same read twice
        rows.append(sorted(r))
    return rows

def write(name, key, m, obs_names):
    a = ad.AnnData(X=sp.csr_matrix((len(obs_names), 0), dtype=np.float32), obs=pd.DataFrame(index=obs_names))
    a.obsm[key] = m
    a.uns["reference_sequences"] = ref
    a.write_h5ad(f"{out}/{name}")

plus, minus = rna(1), rna(-1)
write("rna_plus.h5ad", "fragment_single", csr(plus, 6, np.int32), cells)
write("rna_minus.h5ad", "fragment_single", csr(minus, 6, np.int32), cells)
other = [5, 2, 0]
write("rna_minus_other.h5ad", "fragment_single", csr([minus[i] for i in other], 3, np.int32), [cells[i] for i in other])
ins = []
for i in range(len(cells)):
    counts = {}
    for _ in range(500):
        c, L = chroms[rng.integers(2)]
        col = offs[c] + int(rng.integers(0, L))
        counts[col] = counts.get(col, 0) + int(rng.integers(1, 4))
    ins.append(sorted(counts.items()))
write("atac.h5ad", "insertion", csr(ins, 6, np.uint16), cells)
"#;

/// scooby's own target computation (`scooby/data/scdata.py`: `_sparse_to_coverage_rna`, `_sparse_to_coverage_atac`,
/// `_process_rna`, `_process_atac` with `normalize_atac=True`), in numpy, reading the files as `read_backed` does.
/// argv: dir, windows "chrom:start-end;…", cells "i,j,…", transform 0/1. Prints one line of numbers per window,
/// bins × (cells × tracks), tracks plus, minus, atac.
const PY_TARGETS: &str = r#"
import sys, h5py, numpy as np, anndata as ad
try:
    from anndata.io import sparse_dataset, read_elem
except ImportError:
    from anndata.experimental import sparse_dataset, read_elem

def read_backed(group, key):
    return ad.AnnData(sparse_dataset(group["X"]), obsm={key: sparse_dataset(group["obsm"][key])},
                      **{k: read_elem(group[k]) if k in group else {} for k in ["layers", "obs", "var", "varm", "uns", "obsp", "varp"]})

d, windows, cells, transform = sys.argv[1], sys.argv[2].split(";"), [int(c) for c in sys.argv[3].split(",")], sys.argv[4] == "1"
adatas = {"rna_plus": read_backed(h5py.File(f"{d}/rna_plus.h5ad"), "fragment_single"),
          "rna_minus": read_backed(h5py.File(f"{d}/rna_minus.h5ad"), "fragment_single"),
          "atac": read_backed(h5py.File(f"{d}/atac.h5ad"), "insertion")}
rl = 90
cs = adatas["rna_plus"].uns["reference_sequences"].copy()
cs["offset"] = np.insert(cs["reference_seq_length"].cumsum()[:-1].values, 0, 0)
cs = cs.set_index("reference_seq_name").to_dict("index")

def rna_cov(m, seq_coord, strand):
    _, _, chrom_end, start, end, s2, s3 = seq_coord
    m = m[:, start:end]
    dense = np.zeros(m.shape[1], dtype=np.single)
    for row in range(m.shape[0]):
        ci = m.indices[m.indptr[row]:m.indptr[row + 1]]; vs = m.data[m.indptr[row]:m.indptr[row + 1]]
        for c, v in zip(ci, vs):
            if strand == "plus": dense[c:(c + v)] += 1 / rl
            else: dense[(c + v + 1):(c + 1)] += 1 / rl
    return dense[min([(rl + 10), s2]):max([-(rl + 10), s3 - chrom_end])]

def atac_cov(m, seq_coord):
    _, _, chrom_end, start, end, s2, s3 = seq_coord
    m = m[:, start:end]
    dense = np.asarray(m.sum(0)).astype(np.single)[0]
    return dense[min([(rl + 10), s2]):max([-(rl + 10), s3 - chrom_end])]

def pool(x): return x.reshape(-1, 32).sum(1)

for w in windows:
    chrom, se = w.split(":"); s2, s3 = [int(x) for x in se.split("-")]
    info = cs[chrom]; off, chrom_end = int(info["offset"]), int(info["reference_seq_length"])
    start = max(0, s2 - (rl + 10)) + off; end = min(s3 + (rl + 10), chrom_end) + off
    sc = [info, off, chrom_end, start, end, s2, s3]
    cols = []
    for cell in cells:
        for mod in ("rna_plus", "rna_minus", "atac"):
            m = adatas[mod].obsm["fragment_single" if mod != "atac" else "insertion"][[cell]]
            if mod == "atac":
                y = pool(atac_cov(m, sc))
                if transform: y = y * 0.05
            else:
                y = pool(rna_cov(m, sc, mod.split("_")[1]))
                if transform:
                    y = -1 + (1 + y) ** 0.75
                    mask = y > 5
                    y[mask] = 5 - 1 + np.sqrt(y[mask] - 5 + 1)
                    y = np.clip(y, -768, 768)
            cols.append(y)
    t = np.stack(cols, axis=1)
    print(" ".join(f"{x:.7g}" for x in t.ravel()))
"#;

/// Prints a canonical text form of a file's matrix, obs names and reference sequences, read with `anndata.read_h5ad`.
const PY_DUMP: &str = r#"
import sys, anndata as ad, numpy as np
for path in sys.argv[1:]:
    a = ad.read_h5ad(path)
    key = "insertion" if "insertion" in a.obsm else "fragment_single"
    m = a.obsm[key]
    print(path.split("/")[-1], key, m.dtype.kind, m.shape, list(a.obs_names))
    r = a.uns["reference_sequences"]
    print(list(r["reference_seq_name"]), [int(x) for x in r["reference_seq_length"]])
    for i in range(m.shape[0]):
        e = sorted(zip(m.indices[m.indptr[i]:m.indptr[i + 1]].tolist(), m.data[m.indptr[i]:m.indptr[i + 1]].tolist()))
        print(i, e)
"#;

fn py(python: &Path, script: &str, args: &[String]) -> String {
    let out = std::process::Command::new(python).args(["-c", script]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const WINDOWS: [&str; 4] = ["chr1:3200-4224", "chr1:18912-19968", "chr2:128-1152", "chr2:6944-7968"];
const CELLS: [usize; 5] = [0, 3, 3, 5, 1];

fn our_targets(cov: &Coverage, transform: bool) -> Vec<Vec<f32>> {
    let opts = WindowOptions { transform, ..Default::default() };
    WINDOWS.iter().map(|w| window_targets(cov, &w.parse::<Region>().unwrap(), &CELLS, &opts).unwrap().data).collect()
}

fn python_targets(python: &Path, dir: &Path, transform: bool) -> Vec<Vec<f32>> {
    let cells: Vec<String> = CELLS.iter().map(|c| c.to_string()).collect();
    let args =
        [dir.display().to_string(), WINDOWS.join(";"), cells.join(","), if transform { "1" } else { "0" }.into()];
    py(python, PY_TARGETS, &args).lines().map(|l| l.split(' ').map(|x| x.parse().unwrap()).collect()).collect()
}

fn assert_close(a: &[Vec<f32>], b: &[Vec<f32>], what: &str) {
    assert_eq!(a.len(), b.len());
    for (w, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len(), "{what} window {w}");
        for (i, (p, q)) in x.iter().zip(y).enumerate() {
            assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "{what} window {w} entry {i}: {p} vs {q}");
        }
    }
}

#[test]
fn python_written_files_give_scooby_targets_and_round_trip() {
    let Some(python) = crate::testing::test_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    std::fs::create_dir(&a).unwrap();
    py(&python, PY_WRITE, &[a.display().to_string()]);
    let cov =
        read(Some(&a.join("atac.h5ad")), Some(&a.join("rna_plus.h5ad")), Some(&a.join("rna_minus.h5ad"))).unwrap();
    assert_eq!(cov.cells, (0..6).map(|i| format!("CELL{i:02}-1")).collect::<Vec<_>>());
    assert_eq!(cov.refs.names(), ["chr1", "chr2"]);
    assert_eq!(cov.tracks(), [TrackKind::RnaPlus, TrackKind::RnaMinus, TrackKind::Atac]);
    // window targets equal scooby's loader on the same files (transformed and raw bin sums)
    for transform in [true, false] {
        let want = python_targets(&python, &a, transform);
        let got = our_targets(&cov, transform);
        assert!(want.iter().flatten().any(|&x| x > 5.0) || !transform, "the soft clip is exercised");
        assert_close(&got, &want, if transform { "targets" } else { "raw sums" });
    }
    // ours → files → anndata.read_h5ad: the same matrices, cells and genome as the Python-written files
    let b = dir.path().join("b");
    let written = write(&cov, &b).unwrap();
    assert_eq!(written, [b.join(RNA_PLUS_FILE), b.join(RNA_MINUS_FILE), b.join(ATAC_FILE)]);
    let names = |d: &Path| [RNA_PLUS_FILE, RNA_MINUS_FILE, ATAC_FILE].map(|f| d.join(f).display().to_string());
    let dump_a = py(&python, PY_DUMP, &names(&a));
    let dump_b = py(&python, PY_DUMP, &names(&b));
    assert!(dump_a.lines().count() > 20);
    assert_eq!(dump_b, dump_a);
    // scooby's read_backed on our files gives the same targets
    assert_close(&python_targets(&python, &b, true), &python_targets(&python, &a, true), "our files");
    // and they read back here identically
    let again = read(Some(&b.join(ATAC_FILE)), Some(&b.join(RNA_PLUS_FILE)), Some(&b.join(RNA_MINUS_FILE))).unwrap();
    assert_eq!(our_targets(&again, false), our_targets(&cov, false));

    // strand files with different cells: one cell list (plus order, then minus-only cells)
    let sub = read(None, Some(&a.join("rna_plus.h5ad")), Some(&a.join("rna_minus_other.h5ad"))).unwrap();
    assert_eq!(sub.cells, cov.cells);
    let full_minus = cov.rna_minus.as_ref().unwrap().per_cell(6);
    let sub_minus = sub.rna_minus.as_ref().unwrap().per_cell(6);
    for i in 0..6 {
        assert_eq!(sub_minus[i], if [5, 2, 0].contains(&i) { full_minus[i] } else { 0 }, "cell {i}");
    }
    let only_minus = read(None, None, Some(&a.join("rna_minus_other.h5ad"))).unwrap();
    assert_eq!(only_minus.cells, ["CELL05-1", "CELL02-1", "CELL00-1"]);
    assert!(only_minus.rna_plus.is_none());
}

/// A small coverage of every track, built in Rust.
fn small_coverage() -> Coverage {
    let refs = ReferenceSequences::new([("chrA".to_string(), 1000u64), ("chrB".to_string(), 500)]).unwrap();
    let mut plus = ReadsBuilder::new(2);
    let mut minus = ReadsBuilder::new(2);
    let mut ins = InsertionsBuilder::new(2);
    for (i, cell) in [0u32, 1, 2, 1, 0, 2, 2].iter().enumerate() {
        let p = 37 * i as u32 + 3;
        plus.push(i % 2, p, *cell, 20 + i as i32);
        minus.push(i % 2, p + 60, *cell, -(10 + i as i32));
        ins.push(i % 2, p, *cell);
        ins.push(i % 2, p, *cell);
        ins.push(1, 499, *cell);
    }
    Coverage {
        refs: Arc::new(refs),
        cells: vec!["x-1".into(), "y-1".into(), "z-1".into()],
        atac: Some(ins.finish()),
        rna_plus: Some(plus.finish()),
        rna_minus: Some(minus.finish()),
    }
}

fn same(a: &Coverage, b: &Coverage) {
    assert_eq!(a.cells, b.cells);
    assert_eq!(a.refs.names(), b.refs.names());
    assert_eq!(a.refs.lengths(), b.refs.lengths());
    for c in 0..a.refs.len() {
        let (ra, rb) = (a.rna_plus.as_ref().unwrap(), b.rna_plus.as_ref().unwrap());
        assert_eq!(ra.chrom(c), rb.chrom(c));
        let (ra, rb) = (a.rna_minus.as_ref().unwrap(), b.rna_minus.as_ref().unwrap());
        assert_eq!(ra.chrom(c), rb.chrom(c));
        assert_eq!(a.atac.as_ref().map(|x| x.chrom(c)), b.atac.as_ref().map(|x| x.chrom(c)));
    }
}

#[test]
fn rust_round_trip_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let cov = small_coverage();
    let d = dir.path().join("out");
    let files = write(&cov, &d).unwrap();
    assert_eq!(files.len(), 3);
    let back = read(Some(&files[2]), Some(&files[0]), Some(&files[1])).unwrap();
    same(&cov, &back);
    assert_eq!(back.atac.as_ref().map(Insertions::len), Some(21));
    // no temporary files left behind
    let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 3, "{left:?}");

    let msg = |a: Option<&Path>, p: Option<&Path>, m: Option<&Path>| read(a, p, m).unwrap_err().to_string();
    // the files swapped: the strand check refuses them
    let m = msg(None, Some(&files[1]), None);
    assert!(m.contains("rna_minus.h5ad") && m.contains("plus strand file"), "{m}");
    // ATAC file given as RNA
    let m = msg(None, Some(&files[2]), None);
    assert!(m.contains("obsm/fragment_single") && m.contains("insertion"), "{m}");
    assert!(msg(None, None, None).contains("at least one"));
    // not HDF5
    std::fs::write(dir.path().join("x.h5ad"), "hello").unwrap();
    assert!(msg(None, Some(&dir.path().join("x.h5ad")), None).contains("HDF5"));
    // a genome that does not add up to the matrix width; another genome in the minus file
    let other = Coverage {
        refs: Arc::new(ReferenceSequences::new([("chrA".to_string(), 1000u64), ("chrB".to_string(), 600)]).unwrap()),
        ..small_coverage()
    };
    let d2 = dir.path().join("other");
    let files2 = write(&other, &d2).unwrap();
    let m = msg(None, Some(&files[0]), Some(&files2[1]));
    assert!(m.contains("not of the same genome"), "{m}");
    {
        let f = hdf5::File::open_rw(&files2[0]).unwrap();
        f.group("uns").unwrap().unlink("reference_sequences").unwrap();
        let f2 = hdf5::File::open_rw(&files2[1]).unwrap();
        let g = f2.group("obsm/fragment_single").unwrap();
        g.delete_attr("shape").unwrap();
        g.new_attr::<i64>().shape(2).create("shape").unwrap().write_raw(&[3i64, 1500]).unwrap();
    }
    let m = msg(None, Some(&files2[0]), None);
    assert!(m.contains("reference_sequences") && m.contains("missing"), "{m}");
    let m = msg(None, None, Some(&files2[1]));
    assert!(m.contains("1500 columns") && m.contains("1600"), "{m}");
    // a plus track with a reverse-strand entry cannot be written as a plus file
    let mut bad = small_coverage();
    let mut b = ReadsBuilder::new(2);
    b.push(0, 10, 0, -5);
    bad.rna_plus = Some(b.finish());
    let e = write(&bad, &dir.path().join("bad")).unwrap_err().to_string();
    assert!(e.contains("rna_plus") && e.contains("1 entries"), "{e}");
    assert!(!dir.path().join("bad").exists());
    // a file where the directory should be
    assert!(write(&cov, &files[0]).unwrap_err().to_string().contains("is a file"));
    // interrupted: nothing written
    let cancel = CancelToken::new();
    cancel.cancel();
    let d3 = dir.path().join("cancelled");
    let e = write_scooby_h5ad(&cov, &d3, &mut NoProgress, &cancel).unwrap_err();
    assert!(matches!(e, RuntimeError::Interrupted), "{e}");
    assert_eq!(std::fs::read_dir(&d3).unwrap().count(), 0);
}

/// Blocks of cells when writing: a block limit smaller than the data gives the same file.
#[test]
fn csr_blocks_cover_every_cell() {
    let cov = small_coverage();
    let dir = tempfile::tempdir().unwrap();
    let f = hdf5::File::create(dir.path().join("t.h5")).unwrap();
    let src: &dyn TrackSource = cov.rna_plus.as_ref().unwrap();
    write_csr::<i32, i64>(&f, "m", src, &cov.refs, 3, 2, "t", &mut NoProgress, &CancelToken::new()).unwrap();
    let indptr: Vec<i64> = f.dataset("m/indptr").unwrap().read_raw().unwrap();
    let idx: Vec<i64> = f.dataset("m/indices").unwrap().read_raw().unwrap();
    let val: Vec<i32> = f.dataset("m/data").unwrap().read_raw().unwrap();
    assert_eq!(indptr, [0, 2, 4, 7]);
    // cell 0 ("x-1"): reads 0 (chrA 3, len 20) and 4 (chrA 151, len 24)
    assert_eq!((&idx[0..2], &val[0..2]), (&[3i64, 151][..], &[20, 24][..]));
    // cell 2: reads 2 (chrA 77), 5 (chrB 188 → column 1188), 6 (chrA 225)
    assert_eq!((&idx[4..7], &val[4..7]), (&[77i64, 225, 1188][..], &[22, 26, 25][..]));
}
