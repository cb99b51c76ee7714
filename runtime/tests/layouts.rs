//! UMAP and t-SNE layouts and the UMAP neighbour graph against scikit-learn: `tests/py/check_layouts.py` computes
//! `sklearn.manifold.trustworthiness` of our layouts, runs sklearn's own `TSNE` on the same data, and rebuilds the
//! fuzzy simplicial set from its definition with sklearn's exact neighbours.
//!
//! The Python peer comes from the test venv that `./dev test` creates (GSCRIPT_TEST_PYTHON). Without it this test is
//! skipped locally with a note, and fails under CI.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use gscript_runtime::analysis::connectivities::umap_connectivities;
use gscript_runtime::analysis::knn::knn_exact;
use gscript_runtime::analysis::layout_metrics::trustworthiness;
use gscript_runtime::analysis::synthetic::gaussian_mixture;
use gscript_runtime::analysis::tsne::{tsne, TsneOptions};
use gscript_runtime::analysis::umap::{umap_layout, UmapOptions};
use serde_json::Value;

use gscript_runtime::testing::test_python as python;
use gscript_runtime::{CancelToken, NoProgress};

fn write_le<T: Copy, const N: usize>(path: &Path, values: &[T], to_bytes: impl Fn(T) -> [u8; N]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for &v in values {
        f.write_all(&to_bytes(v)).expect("write");
    }
}

#[test]
fn layouts_and_connectivities_match_scikit_learn() {
    let Some(py) = python() else { return };
    let (n, d, k, n_neighbors) = (600usize, 16usize, 15usize, 15usize);
    let (data, _) = gaussian_mixture(n, d, 5, 3.0, 21);
    let knn = knn_exact(&data, n, d, n_neighbors - 1, &mut NoProgress, &CancelToken::new()).unwrap();
    let graph = umap_connectivities(&knn, n_neighbors).unwrap();
    let umap = umap_layout(&graph, &UmapOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
    let tsne = tsne(&data, n, d, &TsneOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
    let trust_umap = trustworthiness(&data, n, d, &umap.embedding, 2, k).unwrap();
    let trust_tsne = trustworthiness(&data, n, d, &tsne.embedding, 2, k).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    std::fs::write(p("meta.json"), format!(r#"{{"n": {n}, "d": {d}, "k": {k}, "n_neighbors": {n_neighbors}}}"#))
        .unwrap();
    write_le(&p("data.bin"), &data, f32::to_le_bytes);
    write_le(&p("umap.bin"), &umap.embedding, f32::to_le_bytes);
    write_le(&p("tsne.bin"), &tsne.embedding, f32::to_le_bytes);
    let rows: Vec<u32> =
        (0..n).flat_map(|i| std::iter::repeat_n(i as u32, graph.indptr[i + 1] - graph.indptr[i])).collect();
    write_le(&p("conn_rows.bin"), &rows, u32::to_le_bytes);
    write_le(&p("conn_cols.bin"), &graph.indices, u32::to_le_bytes);
    write_le(&p("conn_vals.bin"), &graph.weights, f32::to_le_bytes);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/check_layouts.py");
    let out = Command::new(&py).arg(&script).arg(dir.path()).output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check_layouts.py failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let res: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"));
    let num = |key: &str| res[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {res}"));
    eprintln!("ours: trust umap {trust_umap:.6}, t-SNE {trust_tsne:.6}, KL {:.4}; sklearn: {res}", tsne.kl_divergence);

    // Our trustworthiness is scikit-learn's.
    assert!((num("trust_umap") - trust_umap).abs() < 1e-6, "umap: ours {trust_umap} vs sklearn {}", num("trust_umap"));
    assert!((num("trust_tsne") - trust_tsne).abs() < 1e-6, "t-SNE: ours {trust_tsne} vs sklearn {}", num("trust_tsne"));
    // Layout quality: on par with sklearn's TSNE on the same data.
    assert!(trust_umap > 0.9 && trust_tsne > 0.9, "umap {trust_umap}, t-SNE {trust_tsne}");
    assert!(
        trust_tsne > num("trust_sklearn_tsne") - 0.03,
        "t-SNE {trust_tsne} vs sklearn {}",
        num("trust_sklearn_tsne")
    );
    assert!(
        (tsne.kl_divergence - num("kl_sklearn_tsne")).abs() < 0.1 * num("kl_sklearn_tsne"),
        "KL {} vs sklearn {}",
        tsne.kl_divergence,
        num("kl_sklearn_tsne")
    );
    // Connectivities: same entries, same weights up to float32 rounding.
    let nnz = res["conn_nnz"].as_array().expect("conn_nnz");
    assert_eq!(nnz[0].as_u64(), Some(graph.indices.len() as u64));
    assert_eq!(nnz[1].as_u64(), Some(graph.indices.len() as u64), "{res}");
    assert!(num("conn_max_abs_diff") < 1e-4, "{res}");
}
