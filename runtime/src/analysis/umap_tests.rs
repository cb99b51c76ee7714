use super::*;
use crate::analysis::layout_metrics::{layout_label_agreement, trustworthiness};
use crate::analysis::synthetic::gaussian_mixture;
use crate::progress::{CancelToken, NoProgress};

#[test]
fn ab_params_match_umap_learn() {
    // umap-learn / scanpy values for (spread 1, min_dist 0.5) and (1, 0.1).
    let (a, b) = find_ab_params(1.0, 0.5).unwrap();
    assert!((a - 0.583_030_02).abs() < 1e-4 && (b - 1.334_166_99).abs() < 1e-4, "{a} {b}");
    let (a, b) = find_ab_params(1.0, 0.1).unwrap();
    assert!((a - 1.576_943_46).abs() < 1e-3 && (b - 0.895_060_86).abs() < 1e-3, "{a} {b}");
    assert!(find_ab_params(0.0, 0.5).is_err());
}

#[test]
fn separates_gaussian_clusters_and_is_trustworthy() {
    let (n, d) = (600, 16);
    let (data, truth) = gaussian_mixture(n, d, 4, 4.0, 11);
    let layout = umap(&data, n, d, &UmapOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(layout.n_epochs, 500);
    assert!(matches!(layout.init, InitUsed::Spectral(_)));
    let agree = layout_label_agreement(&layout.embedding, n, 2, &truth, 15).unwrap();
    let trust = trustworthiness(&data, n, d, &layout.embedding, 2, 15).unwrap();
    assert!(agree > 0.95, "label agreement {agree}");
    assert!(trust > 0.9, "trustworthiness {trust}");
}

#[test]
fn seeded_runs_reproduce() {
    let (data, _) = gaussian_mixture(300, 8, 3, 3.0, 2);
    let o = UmapOptions { n_epochs: Some(100), ..Default::default() };
    let a = umap(&data, 300, 8, &o, &mut NoProgress, &CancelToken::new()).unwrap();
    let b = umap(&data, 300, 8, &o, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(a, b);
    let c = umap(&data, 300, 8, &UmapOptions { seed: 1, ..o.clone() }, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_ne!(a.embedding, c.embedding);
    let r = umap(&data, 300, 8, &UmapOptions { init: UmapInit::Random, ..o }, &mut NoProgress, &CancelToken::new())
        .unwrap();
    assert_eq!(r.init, InitUsed::Random);
    assert!(r.embedding.iter().all(|v| v.is_finite()));
}

#[test]
fn disconnected_graph_is_laid_out_per_component() {
    // Far-apart clusters give one graph component per cluster.
    let (data, truth) = gaussian_mixture(300, 8, 3, 50.0, 4);
    let layout = umap(
        &data,
        300,
        8,
        &UmapOptions { n_epochs: Some(200), ..Default::default() },
        &mut NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    match layout.init {
        InitUsed::Spectral(info) => assert_eq!(info.n_components, 3, "{info:?}"),
        other => panic!("{other:?}"),
    }
    assert!(layout_label_agreement(&layout.embedding, 300, 2, &truth, 10).unwrap() > 0.99);
}

#[test]
fn bad_input_is_an_error() {
    let (mut data, _) = gaussian_mixture(50, 4, 2, 3.0, 1);
    let e = umap(&data[..40], 10, 4, &UmapOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap_err();
    assert!(matches!(e, AnalysisError::TooFewPoints { n_points: 10, k: 14 }), "{e}");
    assert!(e.to_string().contains("not enough points"));
    data[4 * 7 + 2] = f32::NAN;
    let e = umap(&data, 50, 4, &UmapOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap_err();
    assert_eq!(e, AnalysisError::NonFinite { what: "data", row: 7 });
    data[4 * 7 + 2] = 0.0;
    for bad in [
        UmapOptions { n_neighbors: 1, ..Default::default() },
        UmapOptions { n_components: 0, ..Default::default() },
        UmapOptions { min_dist: -1.0, ..Default::default() },
        UmapOptions { learning_rate: f64::NAN, ..Default::default() },
        UmapOptions { n_epochs: Some(0), ..Default::default() },
    ] {
        assert!(
            matches!(
                umap(&data, 50, 4, &bad, &mut NoProgress, &CancelToken::new()),
                Err(AnalysisError::InvalidParameter { .. })
            ),
            "{bad:?}"
        );
    }
    let empty = Graph::from_edges(5, &[]).unwrap();
    assert!(matches!(
        umap_layout(&empty, &UmapOptions::default(), &mut NoProgress, &CancelToken::new()),
        Err(AnalysisError::InvalidGraph(_))
    ));
}
