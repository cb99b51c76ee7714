//! Peak-matrix formats against files written by the real tools (Python anndata; h5py laid out as Cell Ranger
//! writes), gscript's h5ad writer against Python anndata, and broken inputs of every kind.
//!
//! The Python peers come from the test venv that `./dev test` creates (GSCRIPT_TEST_PYTHON). Without it these tests
//! are skipped locally with a note, and fail under CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use gscript_runtime::data::simulate::{simulate_atac, SimulateOptions};
use gscript_runtime::data::{
    cell_store, load_peaks, read_any, write_h5ad, write_h5ad_streamed, CellMeta, ChromosomeFilter, DenseArray,
    FilterSpec, H5adExtras, LoadOptions, MetaColumn, PeakDataset, PeakMatrix, StreamedLayer,
};
use gscript_runtime::{CancelToken, NoProgress};
use serde_json::Value;

use gscript_runtime::testing::test_python as python;

fn py_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py").join(name)
}

fn run_py(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).args(args).output().expect("python runs");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read(path: &Path, opts: &LoadOptions) -> gscript_runtime::Result<PeakDataset> {
    read_any(path, opts, &mut NoProgress, &CancelToken::new())
}

fn dense(m: &PeakMatrix) -> Vec<Vec<f32>> {
    let mut d = vec![vec![0f32; m.n_cells]; m.n_peaks];
    for (p, row) in d.iter_mut().enumerate() {
        for (&c, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
            row[c as usize] = v;
        }
    }
    d
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn check_against_expected(d: &PeakDataset, e: &Value, with_obs: bool, what: &str) {
    let want: Vec<Vec<f32>> = e["dense_peaks_by_cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    assert_eq!(dense(&d.matrix), want, "{what}: matrix");
    assert_eq!(d.peaks.chrom, strings(&e["chroms"]), "{what}: chroms");
    let starts: Vec<u64> = e["starts"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(d.peaks.start, starts, "{what}: starts");
    assert_eq!(d.cells.barcodes, strings(&e["barcodes"]), "{what}: barcodes");
    if with_obs {
        assert_eq!(d.cells.column("cell_type").unwrap().labels(), strings(&e["cell_type"]), "{what}: cell_type");
        assert!(
            matches!(d.cells.column("cell_type").unwrap(), MetaColumn::Categorical { .. }),
            "{what}: categorical kept"
        );
        assert_eq!(d.cells.column("sample").unwrap().labels(), strings(&e["sample"]), "{what}: sample");
        let nf: Vec<i64> = e["n_fragments"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
        assert_eq!(d.cells.column("n_fragments").unwrap(), &MetaColumn::Integer(nf), "{what}: n_fragments");
        let b: Vec<bool> = e["is_doublet"].as_array().unwrap().iter().map(|x| x.as_bool().unwrap()).collect();
        assert_eq!(d.cells.column("is_doublet").unwrap(), &MetaColumn::Bool(b), "{what}: is_doublet");
        match d.cells.column("score").unwrap() {
            MetaColumn::Number(v) => {
                for (a, b) in v.iter().zip(e["score"].as_array().unwrap()) {
                    assert!((a - b.as_f64().unwrap()).abs() < 1e-12);
                }
            }
            other => panic!("{what}: score read as {other:?}"),
        }
    }
}

#[test]
fn reads_files_written_by_anndata_and_cell_ranger_layouts() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_py(&py, &[py_script("make_fixtures.py").to_str().unwrap(), d.to_str().unwrap()]);
    let e: Value = serde_json::from_str(&std::fs::read_to_string(d.join("expected.json")).unwrap()).unwrap();
    let o = LoadOptions::default();
    for f in ["csr_regions.h5ad", "csc_columns.h5ad", "peaks_by_cells.h5ad", "dense.h5ad"] {
        check_against_expected(&read(&d.join(f), &o).unwrap(), &e, true, f);
    }
    // the memory-mapped cell index built beside each sparse layout holds exactly the non-zero cells of each peak
    let want: Vec<Vec<u32>> = e["dense_peaks_by_cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let row = row.as_array().unwrap();
            (0..row.len() as u32).filter(|&c| row[c as usize].as_f64().unwrap() != 0.0).collect()
        })
        .collect();
    for f in ["csr_regions.h5ad", "csc_columns.h5ad", "peaks_by_cells.h5ad"] {
        let (rows, ..) = cell_store::open_or_build(&d.join(f), &mut NoProgress, &CancelToken::new()).unwrap();
        let got: Vec<Vec<u32>> = (0..rows.n_peaks()).map(|p| rows.row(p).to_vec()).collect();
        assert_eq!(got, want, "{f}");
    }
    let err = cell_store::open_or_build(&d.join("dense.h5ad"), &mut NoProgress, &CancelToken::new()).unwrap_err();
    assert!(err.to_string().contains("dense.h5ad") && err.to_string().contains("sparse X"), "{err}");
    for f in ["atac.h5", "arc.h5"] {
        check_against_expected(&read(&d.join(f), &o).unwrap(), &e, false, f);
    }
    let with_bed = LoadOptions { peaks: Some(d.join("peaks.bed")), ..LoadOptions::default() };
    check_against_expected(&read(&d.join("atac_noid.h5"), &with_bed).unwrap(), &e, false, "atac_noid.h5 + peaks.bed");
    let err = read(&d.join("atac_noid.h5"), &o).unwrap_err().to_string();
    assert!(err.contains("no peak coordinates") && err.contains("`peaks` option"), "{err}");
    let err = read(&d.join("no_coords.h5ad"), &o).unwrap_err().to_string();
    assert!(err.contains("cannot find peak coordinates") && err.contains("no_coords.h5ad"), "{err}");

    // filters: the standard chromosome list drops chrM; a fraction rule keeps peaks open in > floor(f·n) cells
    let opts = LoadOptions {
        filter: FilterSpec { min_cell_fraction: Some(0.3), min_cells: None, min_peaks_per_cell: 0 },
        chromosomes: ChromosomeFilter::Standard,
        binarize: true,
        ..LoadOptions::default()
    };
    let (f, report) = load_peaks(&d.join("csr_regions.h5ad"), &opts, &mut NoProgress, &CancelToken::new()).unwrap();
    assert!(!f.peaks.chrom.contains(&"chrM".to_string()));
    assert_eq!(report.peaks_off_chromosomes, 1);
    let full = read(&d.join("csr_regions.h5ad"), &o).unwrap();
    let threshold = (0.3 * 13f64).floor() as u32;
    let expect_kept = (0..full.n_peaks())
        .filter(|&p| full.peaks.chrom[p] != "chrM" && full.matrix.cells_per_peak()[p] > threshold)
        .count();
    assert_eq!(f.n_peaks(), expect_kept);
    assert!(f.matrix.is_binary() && (0..f.n_peaks()).all(|p| f.matrix.row_values(p).iter().all(|&v| v == 1.0)));
}

#[test]
fn written_h5ad_opens_in_python_anndata_without_warnings() {
    let sim =
        simulate_atac(&SimulateOptions { n_cells: 40, n_peaks: 30, n_cell_types: 3, seed: 3, ..Default::default() })
            .unwrap();
    let mut data = sim.data.clone();
    data.cells
        .set_column("n_peaks", MetaColumn::Integer(data.matrix.peaks_per_cell().iter().map(|&n| n as i64).collect()))
        .unwrap();
    data.cells
        .set_column("is_big", MetaColumn::Bool(data.matrix.peaks_per_cell().iter().map(|&n| n > 5).collect()))
        .unwrap();
    data.cells.set_column("note", MetaColumn::Text((0..40).map(|i| format!("n{i}")).collect())).unwrap();
    let emb = DenseArray::new(40, 4, (0..160).map(|i| i as f32 * 0.5).collect()).unwrap();
    let layer = DenseArray::new(40, 30, (0..1200).map(|i| (i % 7) as f32).collect()).unwrap();
    let extras = H5adExtras {
        obsm: vec![("X_scbasset".into(), emb.clone())],
        layers: vec![("denoised".into(), layer.clone())],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.h5ad");
    write_h5ad(&path, &data.matrix, &data.peaks, &data.cells, &extras).unwrap();
    // no temporary file is left behind
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["out.h5ad".to_string()]);

    // our own reader gets everything back
    let back = read(&path, &LoadOptions::default()).unwrap();
    assert_eq!(back.matrix, data.matrix);
    assert_eq!(back.peaks, data.peaks);
    assert_eq!(back.cells, data.cells);

    let Some(py) = python() else { return };
    let m = dense(&data.matrix);
    let cells_by_peaks: Vec<Vec<f32>> = (0..40).map(|c| (0..30).map(|p| m[p][c]).collect()).collect();
    let mut obs = serde_json::Map::new();
    for (name, col) in &data.cells.columns {
        let values: Value = match col {
            MetaColumn::Number(v) => v.clone().into(),
            MetaColumn::Integer(v) => v.clone().into(),
            MetaColumn::Bool(v) => v.clone().into(),
            other => other.labels().into(),
        };
        obs.insert(name.clone(), serde_json::json!({"kind": col.kind(), "values": values}));
    }
    let rows = |a: &DenseArray| -> Vec<Vec<f32>> { a.values.chunks(a.cols).map(|r| r.to_vec()).collect() };
    let expected = serde_json::json!({
        "barcodes": data.cells.barcodes, "peak_names": data.peaks.name, "chroms": data.peaks.chrom,
        "starts": data.peaks.start, "ends": data.peaks.end, "dense_cells_by_peaks": cells_by_peaks, "obs": obs,
        "obsm": {"X_scbasset": rows(&emb)}, "layers": {"denoised": rows(&layer)},
    });
    let ej = dir.path().join("expected.json");
    std::fs::write(&ej, expected.to_string()).unwrap();
    let out =
        run_py(&py, &[py_script("check_h5ad.py").to_str().unwrap(), path.to_str().unwrap(), ej.to_str().unwrap()]);
    assert_eq!(out.trim(), "OK");
}

#[test]
fn streamed_layer_is_written_block_by_block_and_opens_in_anndata() {
    let sim =
        simulate_atac(&SimulateOptions { n_cells: 23, n_peaks: 70, n_cell_types: 2, seed: 5, ..Default::default() })
            .unwrap();
    let d = &sim.data;
    let (nc, np) = (d.n_cells(), d.n_peaks());
    let value = |c: usize, p: usize| (c * 1000 + p) as f32 * 0.25;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("den.h5ad");
    let layer = StreamedLayer {
        name: "denoised".into(),
        block: 16,
        produce: Box::new(|sink| {
            for start in (0..np).step_by(16) {
                let end = (start + 16).min(np);
                let block: Vec<f32> = (0..nc).flat_map(|c| (start..end).map(move |p| value(c, p))).collect();
                sink(start..end, &block)?;
            }
            Ok(())
        }),
    };
    write_h5ad_streamed(&path, &d.matrix, &d.peaks, &d.cells, &H5adExtras::default(), layer).unwrap();
    // a failing producer (e.g. an interrupt) leaves nothing behind, and an incomplete layer is refused
    let bad = dir.path().join("bad.h5ad");
    let failing = StreamedLayer {
        name: "x".into(),
        block: 16,
        produce: Box::new(|_| Err(gscript_runtime::RuntimeError::Interrupted)),
    };
    assert!(matches!(
        write_h5ad_streamed(&bad, &d.matrix, &d.peaks, &d.cells, &H5adExtras::default(), failing),
        Err(gscript_runtime::RuntimeError::Interrupted)
    ));
    let partial =
        StreamedLayer { name: "x".into(), block: 16, produce: Box::new(|sink| sink(0..16, &vec![0.0; nc * 16])) };
    let e = write_h5ad_streamed(&bad, &d.matrix, &d.peaks, &d.cells, &H5adExtras::default(), partial).unwrap_err();
    assert!(e.to_string().contains("peak 16 was never written"), "{e}");
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["den.h5ad".to_string()]);
    let Some(py) = python() else { return };
    let m = dense(&d.matrix);
    let expected = serde_json::json!({
        "barcodes": d.cells.barcodes, "peak_names": d.peaks.name, "chroms": d.peaks.chrom, "starts": d.peaks.start, "ends": d.peaks.end,
        "dense_cells_by_peaks": (0..nc).map(|c| (0..np).map(|p| m[p][c]).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "obs": {}, "obsm": {},
        "layers": {"denoised": (0..nc).map(|c| (0..np).map(|p| value(c, p)).collect::<Vec<_>>()).collect::<Vec<_>>()},
    });
    let ej = dir.path().join("expected.json");
    std::fs::write(&ej, expected.to_string()).unwrap();
    let out =
        run_py(&py, &[py_script("check_h5ad.py").to_str().unwrap(), path.to_str().unwrap(), ej.to_str().unwrap()]);
    assert_eq!(out.trim(), "OK");
}

#[test]
fn broken_hdf5_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = LoadOptions::default();
    let empty = d.join("empty.h5ad");
    std::fs::write(&empty, b"").unwrap();
    assert!(read(&empty, &o).unwrap_err().to_string().contains("empty file"));
    let text = d.join("text.h5");
    std::fs::write(&text, b"chr1\t1\t2\n").unwrap();
    assert!(read(&text, &o).unwrap_err().to_string().contains("cannot open as HDF5"));

    // a valid file, then truncated
    let sim =
        simulate_atac(&SimulateOptions { n_cells: 20, n_peaks: 15, n_cell_types: 2, ..Default::default() }).unwrap();
    let good = d.join("good.h5ad");
    write_h5ad(&good, &sim.data.matrix, &sim.data.peaks, &sim.data.cells, &H5adExtras::default()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = d.join("cut.h5ad");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = read(&cut, &o).unwrap_err().to_string();
    assert!(e.contains("cut.h5ad"), "{e}");

    // wrong shape / out-of-range indices / mismatched peak table, written with the hdf5 crate directly
    let bad = d.join("bad.h5");
    write_10x(&bad, &[2, 3], &[0, 1, 2, 3], &[0, 1, 5], &["chr1:1-10", "chr1:20-30"], 3);
    let e = read(&bad, &o).unwrap_err().to_string();
    assert!(e.contains("matrix/indices") && e.contains("outside 0..2"), "{e}");
    write_10x(&bad, &[2, 3], &[0, 1, 2], &[0, 1], &["chr1:1-10", "chr1:20-30"], 3);
    let e = read(&bad, &o).unwrap_err().to_string();
    assert!(e.contains("matrix/indptr") && e.contains("has 3 entries; the shape needs 4"), "{e}");
    write_10x(&bad, &[2, 3], &[0, 1, 1, 2], &[0, 1], &["chr1:1-10", "chr1:20-30"], 2);
    let e = read(&bad, &o).unwrap_err().to_string();
    assert!(e.contains("matrix/barcodes") && e.contains("has 2 barcodes but the shape says 3"), "{e}");
    write_10x(&bad, &[2, 3], &[0, 1, 1, 2], &[0, 1], &["chr1:1-10", "chr1:20-30"], 3);
    let bed = d.join("three.bed");
    std::fs::write(&bed, "chr1\t1\t10\nchr1\t20\t30\nchr1\t40\t50\n").unwrap();
    let e = read(&bad, &LoadOptions { peaks: Some(bed), ..LoadOptions::default() }).unwrap_err().to_string();
    assert!(e.contains("has 3 peaks but") && e.contains("has 2 peak features"), "{e}");
    assert_eq!(read(&bad, &o).unwrap().matrix.nnz(), 2);

    let e = read(&d.join("nothing.h5ad"), &o).unwrap_err().to_string();
    assert!(e.contains("nothing.h5ad") && e.contains("no such file"), "{e}");
    let bedfile = d.join("peaks.bed");
    std::fs::write(&bedfile, "chr1\t1\t10\n").unwrap();
    assert!(read(&bedfile, &o).unwrap_err().to_string().contains("use load_bed"));
}

/// A minimal 10x-style matrix: `shape` [features, barcodes], CSC over barcodes.
fn write_10x(path: &Path, shape: &[i32], indptr: &[i64], indices: &[i64], ids: &[&str], n_barcodes: usize) {
    use hdf5::types::VarLenUnicode;
    let f = hdf5::File::create(path).unwrap();
    let g = f.create_group("matrix").unwrap();
    g.new_dataset_builder().with_data(shape).create("shape").unwrap();
    g.new_dataset_builder().with_data(indptr).create("indptr").unwrap();
    g.new_dataset_builder().with_data(indices).create("indices").unwrap();
    g.new_dataset_builder().with_data(&vec![1i32; indices.len()]).create("data").unwrap();
    let bc: Vec<VarLenUnicode> = (0..n_barcodes).map(|i| format!("BC{i}").parse().unwrap()).collect();
    g.new_dataset_builder().with_data(&bc).create("barcodes").unwrap();
    let fg = g.create_group("features").unwrap();
    let id: Vec<VarLenUnicode> = ids.iter().map(|s| s.parse().unwrap()).collect();
    fg.new_dataset_builder().with_data(&id).create("id").unwrap();
}

#[test]
fn simulation_plants_its_truth() {
    let sim = simulate_atac(&SimulateOptions { n_cells: 200, n_peaks: 300, seed: 11, ..Default::default() }).unwrap();
    let d = &sim.data;
    assert_eq!((d.n_peaks(), d.n_cells()), (300, 200));
    // driven peaks are open far more often in cells of their type than in other cells
    let types = d.cells.column("cell_type").unwrap().labels();
    let (mut own, mut other) = ((0.0, 0.0), (0.0, 0.0));
    for p in 0..d.n_peaks() {
        let t = sim.truth.peak_driver[p];
        if t < 0 {
            continue;
        }
        let name = &sim.truth.cell_types[t as usize];
        let open: std::collections::HashSet<u32> = d.matrix.row_indices(p).iter().copied().collect();
        for (c, t) in types.iter().enumerate() {
            let slot = if t == name { &mut own } else { &mut other };
            slot.0 += open.contains(&(c as u32)) as u32 as f64;
            slot.1 += 1.0;
        }
    }
    let (own_rate, other_rate) = (own.0 / own.1, other.0 / other.1);
    assert!(own_rate > 3.0 * other_rate, "own {own_rate:.3} vs other {other_rate:.3}");
    // every planted site is a high-likelihood instance of its motif, found at its position in the genome
    for s in sim.truth.sites.iter().take(50) {
        let m = sim.truth.motifs.iter().find(|m| m.name == s.motif).unwrap();
        let chrom = &sim.chromosomes.iter().find(|(n, _)| *n == s.chrom).unwrap().1;
        let site = &chrom[s.start as usize..s.start as usize + m.width()];
        let site = if s.strand == '-' { gscript_runtime::seq::reverse_complement(site) } else { site.to_vec() };
        let consensus_matches = site.iter().zip(m.consensus().bytes()).filter(|(a, b)| a == &b).count();
        assert!(
            consensus_matches * 2 > m.width(),
            "site {:?} vs consensus {}",
            String::from_utf8_lossy(&site),
            m.consensus()
        );
        let centre = (d.peaks.start[s.peak] + d.peaks.end[s.peak]) / 2;
        assert!(s.start + 200 > centre && s.start < centre + 200);
    }
    // the same seed gives the same data; another seed does not
    let again = simulate_atac(&SimulateOptions { n_cells: 200, n_peaks: 300, seed: 11, ..Default::default() }).unwrap();
    assert_eq!(again.data.matrix, d.matrix);
    let other = simulate_atac(&SimulateOptions { n_cells: 200, n_peaks: 300, seed: 12, ..Default::default() }).unwrap();
    assert_ne!(other.data.matrix, d.matrix);
    // bad options are named
    let e = simulate_atac(&SimulateOptions { motifs: vec!["NOPE".into(); 4], ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("no motif 'NOPE'"), "{e}");
    let e = simulate_atac(&SimulateOptions { dropout: 1.5, ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("dropout"), "{e}");
}

#[test]
fn saved_simulation_reloads_with_genome_windows_matching() {
    let sim =
        simulate_atac(&SimulateOptions { n_cells: 30, n_peaks: 20, n_cell_types: 2, ..Default::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = sim.save(dir.path()).unwrap();
    let back = read(&files.h5ad, &LoadOptions::default()).unwrap();
    assert_eq!(back.matrix, sim.data.matrix);
    assert_eq!(back.cells.column("cell_type").unwrap().labels(), sim.data.cells.column("cell_type").unwrap().labels());
    let genome = gscript_runtime::seq::Genome::open(&files.genome).unwrap();
    assert!(back.missing_chromosomes(&genome).is_empty());
    let codes =
        gscript_runtime::seq::peak_codes(&genome, &back.peaks, 1344, 0, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(codes.len(), 20);
    for p in [0, 7, 19] {
        let centre = ((back.peaks.start[p] + back.peaks.end[p]) / 2) as usize;
        let chrom = &sim.chromosomes.iter().find(|(n, _)| *n == back.peaks.chrom[p]).unwrap().1;
        let want = gscript_runtime::seq::encode(&chrom[centre - 672..centre + 672], 0);
        assert_eq!(codes.row(p), &want[..]);
    }
    // peaks on a chromosome the genome lacks: error listing it, or dropped on request
    let mut moved = back.clone();
    moved.peaks.chrom[3] = "chr9".into();
    moved.peaks.chrom[4] = "chrUn".into();
    let e = moved.clone().match_genome(&genome, false).unwrap_err().to_string();
    assert!(e.contains("2 peaks lie on chromosomes missing") && e.contains("chr9, chrUn"), "{e}");
    let (kept, warning) = moved.match_genome(&genome, true).unwrap();
    assert_eq!(kept.n_peaks(), 18);
    assert!(warning.unwrap().contains("dropped 2 peaks"));
}

#[test]
fn cell_metadata_is_checked() {
    let m = PeakMatrix::from_triplets(2, 3, &[0, 1], &[0, 2], &[1.0, 1.0]).unwrap();
    let mut peaks = gscript_runtime::data::PeakSet::default();
    peaks.push("chr1", 0, 10, None);
    let e = PeakDataset::new(peaks, CellMeta::new(vec!["a".into(); 3]), m, "x").unwrap_err().to_string();
    assert!(e.contains("2 peaks × 3 cells but there are 1 peaks"), "{e}");
}
