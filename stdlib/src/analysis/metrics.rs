//! The metrics the scBasset paper judges embeddings with, and ranking / correlation metrics for model evaluation.

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::analysis::cluster_metrics::{
    adjusted_mutual_information, adjusted_rand_index, completeness, homogeneity, normalized_mutual_information,
    v_measure,
};
use gscript_runtime::analysis::kbet::kbet;
use gscript_runtime::analysis::knn::knn_exact;
use gscript_runtime::analysis::lisi::ilisi;
use gscript_runtime::analysis::neighborhood::{label_score, neighbor_score};
use gscript_runtime::analysis::roc::{auroc, average_precision, pearson, spearman};
use gscript_runtime::analysis::silhouette::{cell_type_asw, silhouette_score};
use gscript_runtime::analysis::Result as AResult;

use super::{dense, label_codes, numbers};
use crate::bridge::{cancel_token, in_primitive, register2, ScriptResult, SessionProgress};
use crate::values::Matrix;

type PartitionMetric = fn(&[u32], &[u32]) -> AResult<f64>;

/// The `k` option: one integer or an array of them (all ≥ 1).
fn ks(primitive: &str, o: &Options) -> ScriptResult<Vec<usize>> {
    let v = o.raw("k").cloned().unwrap_or_else(|| Dynamic::from_array(vec![10i64.into(), 50i64.into(), 100i64.into()]));
    let list: Vec<f64> = if let Ok(i) = v.as_int() { vec![i as f64] } else { numbers(primitive, "k", &v)? };
    if list.is_empty() {
        return Err(primitive_error(primitive, Some("k"), "is empty"));
    }
    list.into_iter()
        .map(|k| {
            if k >= 1.0 && k.fract() == 0.0 {
                Ok(k as usize)
            } else {
                Err(primitive_error(primitive, Some("k"), &format!("{k} is not a positive integer")))
            }
        })
        .collect()
}

fn per_k(values: Vec<(usize, f64)>) -> Map {
    values.into_iter().map(|(k, v)| (k.to_string().into(), Dynamic::from(v))).collect()
}

fn bools(primitive: &str, key: &str, v: &Dynamic) -> ScriptResult<Vec<bool>> {
    let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
        primitive_error(primitive, Some(key), &format!("expected an array of booleans, got {}", v.type_name()))
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_bool().or_else(|_| x.as_int().map(|i| i != 0)).map_err(|_| {
                primitive_error(primitive, Some(key), &format!("element {i} is not a boolean (or 0/1): {x}"))
            })
        })
        .collect()
}

pub fn register(reg: &mut Registrar) {
    let partition: [(&str, &str, PartitionMetric); 6] = [
        ("ari", "Adjusted Rand index between two labelings (scikit-learn adjusted_rand_score).", adjusted_rand_index),
        (
            "ami",
            "Adjusted mutual information (scikit-learn adjusted_mutual_info_score, arithmetic normalisation).",
            adjusted_mutual_information,
        ),
        ("nmi", "Normalised mutual information (arithmetic normalisation).", normalized_mutual_information),
        ("homogeneity", "Homogeneity of the clusters `pred` with respect to the classes `truth`.", homogeneity),
        ("completeness", "Completeness of the clusters `pred` with respect to the classes `truth`.", completeness),
        ("v_measure", "Harmonic mean of homogeneity and completeness.", v_measure),
    ];
    for (name, summary, f) in partition {
        let doc = FnDoc::new(name, "analysis", &format!("{name}(truth: array, pred: array) -> float"), summary)
            .example(&format!("let sim = simulate_atac(#{{n_cells: 60, n_peaks: 300, n_cell_types: 2}});\nlet t = sim.data.obs(\"cell_type\");\nprint({name}(t, t));"));
        register2(reg, doc, move |a: Dynamic, b: Dynamic, _o| {
            let (ta, _) = label_codes(name, "truth", &a, None)?;
            let (tb, _) = label_codes(name, "pred", &b, Some((ta.len(), "truth")))?;
            f(&ta, &tb).map_err(in_primitive(name))
        });
    }

    let doc = FnDoc::new("silhouette", "analysis", "silhouette(x: Matrix, labels: array) -> float", "Mean silhouette width of the labels in the embedding (Euclidean; scikit-learn silhouette_score).")
        .example("let sim = simulate_atac(#{n_cells: 60, n_peaks: 300, n_cell_types: 2});\nprint(silhouette(lsi(sim.data, #{n: 5}), sim.data.obs(\"cell_type\")));");
    register2(reg, doc, |x: Matrix, labels: Dynamic, _o| {
        let (codes, _) = label_codes("silhouette", "labels", &labels, Some((x.rows, "the matrix (rows)")))?;
        let (data, n, d) = dense(&x);
        silhouette_score(data, n, d, &codes).map_err(in_primitive("silhouette"))
    });
    let doc = FnDoc::new("cell_type_asw", "analysis", "cell_type_asw(x: Matrix, labels: array) -> float", "The scBasset paper's cell-type ASW: (mean silhouette + 1) / 2, in [0, 1].")
        .example("let sim = simulate_atac(#{n_cells: 60, n_peaks: 300, n_cell_types: 2});\nprint(cell_type_asw(lsi(sim.data, #{n: 5}), sim.data.obs(\"cell_type\")));");
    register2(reg, doc, |x: Matrix, labels: Dynamic, _o| {
        let (codes, _) = label_codes("cell_type_asw", "labels", &labels, Some((x.rows, "the matrix (rows)")))?;
        let (data, n, d) = dense(&x);
        cell_type_asw(data, n, d, &codes).map_err(in_primitive("cell_type_asw"))
    });

    let doc = FnDoc::new("label_score", "analysis", "label_score(x: Matrix, labels: array, options?: map) -> map", "Share of each cell's k nearest neighbours with the same label, averaged (scBasset's label score), per k.")
        .opt("k", "int | array", OptDefault::None, "neighbourhood sizes (default [10, 50, 100])")
        .example("let sim = simulate_atac(#{n_cells: 120, n_peaks: 300, n_cell_types: 2});\nlet s = label_score(lsi(sim.data, #{n: 5}), sim.data.obs(\"cell_type\"), #{k: [10, 50]});\nprint(s[\"10\"]);");
    let host = reg.host.clone();
    register2(reg, doc, move |x: Matrix, labels: Dynamic, o| {
        const P: &str = "label_score";
        let ks = ks(P, o)?;
        let (codes, _) = label_codes(P, "labels", &labels, Some((x.rows, "the matrix (rows)")))?;
        let (data, n, d) = dense(&x);
        let knn =
            knn_exact(data, n, d, *ks.iter().max().unwrap(), &mut SessionProgress::new(&host), &cancel_token(&host))
                .map_err(in_primitive(P))?;
        let v = ks
            .iter()
            .map(|&k| label_score(&knn, &codes, k).map(|s| (k, s)))
            .collect::<AResult<Vec<_>>>()
            .map_err(in_primitive(P))?;
        Ok(per_k(v))
    });

    let doc = FnDoc::new("neighbor_score", "analysis", "neighbor_score(x: Matrix, y: Matrix, options?: map) -> map", "Share of each cell's k nearest neighbours shared between two embeddings of the same cells (scBasset's neighbour score), per k.")
        .opt("k", "int | array", OptDefault::None, "neighbourhood sizes (default [10, 50, 100])")
        .example("let d = simulate_atac(#{n_cells: 120, n_peaks: 300}).data;\nprint(neighbor_score(lsi(d, #{n: 5}), lsi(d, #{n: 8}), #{k: 10}));");
    let host = reg.host.clone();
    register2(reg, doc, move |x: Matrix, y: Matrix, o| {
        const P: &str = "neighbor_score";
        let ks = ks(P, o)?;
        if x.rows != y.rows {
            return Err(primitive_error(
                P,
                Some("y"),
                &format!("has {} rows but x has {}: both must embed the same cells", y.rows, x.rows),
            ));
        }
        let kmax = *ks.iter().max().unwrap();
        let (a, n, d) = dense(&x);
        let (b, _, e) = dense(&y);
        let (progress, cancel) = (&mut SessionProgress::new(&host), &cancel_token(&host));
        let ka = knn_exact(a, n, d, kmax, progress, cancel).map_err(in_primitive(P))?;
        let kb = knn_exact(b, n, e, kmax, progress, cancel).map_err(in_primitive(P))?;
        let v = ks
            .iter()
            .map(|&k| neighbor_score(&ka, &kb, k).map(|s| (k, s)))
            .collect::<AResult<Vec<_>>>()
            .map_err(in_primitive(P))?;
        Ok(per_k(v))
    });

    let doc = FnDoc::new("ilisi", "analysis", "ilisi(x: Matrix, batches: array, options?: map) -> float", "Mean integration LISI (harmony/scib): 1 = no batch mixing, up to the number of batches = perfect mixing.")
        .opt("perplexity", "float", OptDefault::Float(30.0), "kernel perplexity; 3 × perplexity neighbours are used")
        .example("let d = simulate_atac(#{n_cells: 120, n_peaks: 300}).data;\nlet b = d.barcodes().map(|x, i| if i % 2 == 0 { \"a\" } else { \"b\" });\nprint(ilisi(lsi(d, #{n: 5}), b, #{perplexity: 10.0}));");
    let host = reg.host.clone();
    register2(reg, doc, move |x: Matrix, batches: Dynamic, o| {
        const P: &str = "ilisi";
        let perplexity = o.float("perplexity")?.unwrap();
        if !(perplexity.is_finite() && perplexity >= 1.0) {
            return Err(primitive_error(P, Some("perplexity"), &format!("{perplexity} is below 1")));
        }
        let (codes, _) = label_codes(P, "batches", &batches, Some((x.rows, "the matrix (rows)")))?;
        let (data, n, d) = dense(&x);
        let k = ((3.0 * perplexity) as usize).min(n.saturating_sub(1)).max(1);
        let knn = knn_exact(data, n, d, k, &mut SessionProgress::new(&host), &cancel_token(&host))
            .map_err(in_primitive(P))?;
        Ok(ilisi(&knn, &codes, perplexity).map_err(in_primitive(P))?.mean)
    });

    let doc = FnDoc::new("kbet", "analysis", "kbet(x: Matrix, batches: array, options?: map) -> float", "kBET acceptance rate: share of cells whose neighbourhood batch mix passes a χ² test (near 1 − alpha when well mixed).")
        .opt("k", "int", OptDefault::Int(25), "neighbourhood size")
        .opt("alpha", "float", OptDefault::Float(0.05), "test level")
        .example("let d = simulate_atac(#{n_cells: 120, n_peaks: 300}).data;\nlet b = d.barcodes().map(|x, i| if i % 2 == 0 { \"a\" } else { \"b\" });\nprint(kbet(lsi(d, #{n: 5}), b));");
    let host = reg.host.clone();
    register2(reg, doc, move |x: Matrix, batches: Dynamic, o| {
        const P: &str = "kbet";
        let k = o.int_at_least("k", 1)?.unwrap() as usize;
        let alpha = o.float("alpha")?.unwrap();
        let (codes, _) = label_codes(P, "batches", &batches, Some((x.rows, "the matrix (rows)")))?;
        let (data, n, d) = dense(&x);
        let knn = knn_exact(data, n, d, k, &mut SessionProgress::new(&host), &cancel_token(&host))
            .map_err(in_primitive(P))?;
        Ok(kbet(&knn, &codes, k, alpha).map_err(in_primitive(P))?.acceptance_rate)
    });

    let doc = FnDoc::new(
        "auroc",
        "analysis",
        "auroc(scores: array, labels: array) -> float",
        "Area under the ROC curve of scores against boolean labels (ties count half).",
    )
    .example("print(auroc([0.1, 0.9, 0.4, 0.8], [false, true, false, true]));");
    register2(reg, doc, |s: Dynamic, l: Dynamic, _o| {
        let (scores, labels) = (numbers("auroc", "scores", &s)?, bools("auroc", "labels", &l)?);
        auroc(&scores, &labels).map_err(in_primitive("auroc"))
    });
    let doc = FnDoc::new(
        "average_precision",
        "analysis",
        "average_precision(scores: array, labels: array) -> float",
        "Average precision (area under the precision-recall curve, step-wise as scikit-learn).",
    )
    .example("print(average_precision([0.1, 0.9, 0.4, 0.8], [false, true, false, true]));");
    register2(reg, doc, |s: Dynamic, l: Dynamic, _o| {
        let (scores, labels) = (numbers("average_precision", "scores", &s)?, bools("average_precision", "labels", &l)?);
        average_precision(&scores, &labels).map_err(in_primitive("average_precision"))
    });
    for (name, summary, f) in [
        ("pearson", "Pearson correlation of two numeric arrays.", pearson::<f64> as fn(&[f64], &[f64]) -> AResult<f64>),
        ("spearman", "Spearman rank correlation of two numeric arrays (ties get mid-ranks).", spearman::<f64>),
    ] {
        let doc = FnDoc::new(name, "analysis", &format!("{name}(x: array, y: array) -> float"), summary)
            .example(&format!("print({name}([1, 2, 3, 4], [2.0, 4.1, 5.9, 8.2]));"));
        register2(reg, doc, move |a: Dynamic, b: Dynamic, _o| {
            let (x, y) = (numbers(name, "x", &a)?, numbers(name, "y", &b)?);
            f(&x, &y).map_err(in_primitive(name))
        });
    }
}
