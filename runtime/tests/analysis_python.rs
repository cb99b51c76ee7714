//! The analysis toolkit against the Python tools users know: scikit-learn (ARI, AMI, NMI, homogeneity,
//! completeness, V-measure, silhouette, exact kNN, PCA, TruncatedSVD, auROC, average precision), scipy
//! (Pearson, Spearman) and igraph + leidenalg (Leiden modularity on the same graph).
//!
//! The Python side (`tests/py/check_analysis.py`) recomputes everything from the inputs written here and compares;
//! it needs the test venv of `./dev test` (GSCRIPT_TEST_PYTHON). Without it the test is skipped locally with a
//! note, and fails under CI.

use std::path::Path;
use std::process::Command;

use gscript_runtime::analysis::cluster_metrics::*;
use gscript_runtime::analysis::knn::knn_exact;
use gscript_runtime::analysis::roc::{auroc, average_precision, pearson, spearman};
use gscript_runtime::analysis::silhouette::silhouette_score;
use gscript_runtime::analysis::synthetic::gaussian_mixture;
use gscript_runtime::analysis::{
    graph::modularity, leiden, lsi, pca, tfidf, Graph, LeidenOptions, LsiOptions, PcaOptions, SvdSolver,
};
use gscript_runtime::data::simulate::{simulate_atac, SimulateOptions};
use serde_json::json;

use gscript_runtime::testing::test_python as python;
use gscript_runtime::{CancelToken, NoProgress};

#[test]
fn analysis_agrees_with_scikit_learn_scipy_and_leidenalg() {
    let Some(py) = python() else { return };
    let (n, d) = (600, 8);
    let (x, truth) = gaussian_mixture(n, d, 4, 2.5, 3);
    // a noisy prediction: every 7th label moved to the next class
    let pred: Vec<u32> = truth.iter().enumerate().map(|(i, &t)| if i % 7 == 0 { (t + 1) % 4 } else { t }).collect();
    let scores: Vec<f64> = x.iter().step_by(d).map(|&v| v as f64).collect();
    let positives: Vec<bool> = truth.iter().map(|&t| t == 0).collect();
    let knn = knn_exact(&x, n, d, 10, &mut NoProgress, &CancelToken::new()).unwrap();
    let p = pca(&x, n, d, &PcaOptions { n_components: 5, solver: SvdSolver::Exact, ..Default::default() }).unwrap();
    let pr =
        pca(&x, n, d, &PcaOptions { n_components: 3, solver: SvdSolver::Randomized, seed: 2, ..Default::default() })
            .unwrap();
    let graph = Graph::from_knn(&knn).unwrap();
    let part =
        leiden(&graph, &LeidenOptions { seed: 1, ..Default::default() }, &mut NoProgress, &CancelToken::new()).unwrap();
    let edges: Vec<[u32; 2]> = graph.edges().iter().filter(|e| e.0 < e.1).map(|e| [e.0, e.1]).collect();
    let sim =
        simulate_atac(&SimulateOptions { n_cells: 150, n_peaks: 400, n_cell_types: 3, seed: 2, ..Default::default() })
            .unwrap();
    let m = &sim.data.matrix;
    let l = lsi(m, &LsiOptions { n_components: 8, drop_first: false, ..Default::default() }).unwrap();
    let t = tfidf(m, 1e4).unwrap();
    let triplets: Vec<(usize, u32, f32)> = (0..m.n_peaks)
        .flat_map(|p| m.row_indices(p).iter().zip(m.row_values(p)).map(move |(&c, &v)| (p, c, v)))
        .collect();
    let ours = json!({
        "ari": adjusted_rand_index(&truth, &pred).unwrap(),
        "ami": adjusted_mutual_information(&truth, &pred).unwrap(),
        "nmi": normalized_mutual_information(&truth, &pred).unwrap(),
        "homogeneity": homogeneity(&truth, &pred).unwrap(),
        "completeness": completeness(&truth, &pred).unwrap(),
        "v_measure": v_measure(&truth, &pred).unwrap(),
        "silhouette": silhouette_score(&x, n, d, &truth).unwrap(),
        "knn": knn.indices,
        "pca_embedding": p.embedding,
        "pca_ratio": p.explained_variance_ratio,
        "pca_randomized_embedding": pr.embedding,
        "auroc": auroc(&scores, &positives).unwrap(),
        "average_precision": average_precision(&scores, &positives).unwrap(),
        "pearson": pearson(&scores, &x.iter().skip(1).step_by(d).map(|&v| v as f64).collect::<Vec<_>>()).unwrap(),
        "spearman": spearman(&scores, &x.iter().skip(1).step_by(d).map(|&v| v as f64).collect::<Vec<_>>()).unwrap(),
        "leiden_modularity": modularity(&graph, &part.membership, 1.0).unwrap(),
        "lsi_singular_values": l.singular_values,
        "tfidf_first_cell": t.values[t.indptr[0]..t.indptr[1]].to_vec(),
    });
    let inputs = json!({
        "n": n, "d": d, "x": x, "truth": truth, "pred": pred, "scores": scores, "positives": positives, "k": 10,
        "edges": edges, "n_cells": m.n_cells, "n_peaks": m.n_peaks, "triplets": triplets,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analysis.json");
    std::fs::write(&path, json!({"inputs": inputs, "ours": ours}).to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/check_analysis.py");
    let out = Command::new(py).arg(script).arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.trim_end().ends_with("OK"), "{text}");
}
