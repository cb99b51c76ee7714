use super::*;
use crate::analysis::layout_metrics::{layout_label_agreement, trustworthiness};
use crate::analysis::synthetic::gaussian_mixture;

#[test]
fn affinities_have_the_requested_perplexity() {
    let (data, _) = gaussian_mixture(200, 6, 2, 3.0, 3);
    let knn =
        knn_exact(&data, 200, 6, neighbors_for_perplexity(200, 10.0), &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(knn.k, 31);
    let p = tsne_affinities(&knn, 10.0, &mut NoProgress, &CancelToken::new()).unwrap();
    assert!((p.values.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Symmetric.
    for i in 0..200 {
        for q in p.indptr[i]..p.indptr[i + 1] {
            let j = p.indices[q] as usize;
            let back = p.indices[p.indptr[j]..p.indptr[j + 1]].binary_search(&(i as u32)).unwrap();
            assert_eq!(p.values[p.indptr[j] + back], p.values[q]);
        }
    }
    // Conditional distribution of point 0 recovered from its row: perplexity 10.
    let d2: Vec<f64> = knn.neighbor_distances(0).unwrap().iter().map(|&d| (d as f64).powi(2)).collect();
    let (mut lo, mut hi) = (1e-6f64, 1e6f64);
    for _ in 0..200 {
        let beta = (lo * hi).sqrt();
        let w: Vec<f64> = d2.iter().map(|d| (-d * beta).exp()).collect();
        let s: f64 = w.iter().sum();
        let h = -w.iter().map(|x| x / s).filter(|&x| x > 0.0).map(|x| x * x.ln()).sum::<f64>();
        if h > 10f64.ln() {
            lo = beta
        } else {
            hi = beta
        }
    }
    assert!(lo > 1e-6 && hi < 1e6);
}

#[test]
fn separates_gaussian_clusters_and_is_trustworthy() {
    let (n, d) = (500, 16);
    let (data, truth) = gaussian_mixture(n, d, 4, 4.0, 11);
    let layout = tsne(&data, n, d, &TsneOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(layout.learning_rate, 50.0);
    assert_eq!(layout.n_iter, 999);
    let agree = layout_label_agreement(&layout.embedding, n, 2, &truth, 15).unwrap();
    let trust = trustworthiness(&data, n, d, &layout.embedding, 2, 15).unwrap();
    assert!(agree > 0.95, "label agreement {agree}");
    assert!(trust > 0.9, "trustworthiness {trust}");
    assert!(layout.kl_divergence > 0.0 && layout.kl_divergence < 2.0, "{}", layout.kl_divergence);
}

#[test]
fn seeded_runs_reproduce() {
    let (data, _) = gaussian_mixture(200, 5, 3, 3.0, 5);
    let o = TsneOptions { init: TsneInit::Random, max_iter: 400, perplexity: 15.0, seed: 9, ..Default::default() };
    let a = tsne(&data, 200, 5, &o, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(a, tsne(&data, 200, 5, &o, &mut NoProgress, &CancelToken::new()).unwrap());
    assert_ne!(
        a.embedding,
        tsne(&data, 200, 5, &TsneOptions { seed: 10, ..o }, &mut NoProgress, &CancelToken::new()).unwrap().embedding
    );
}

#[test]
fn bad_input_is_an_error() {
    let (mut data, _) = gaussian_mixture(20, 3, 2, 3.0, 1);
    let e = tsne(&data, 20, 3, &TsneOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap_err();
    assert!(
        e.to_string().contains("perplexity") && e.to_string().contains("less than the number of points (20)"),
        "{e}"
    );
    data[3 * 4] = f32::INFINITY;
    let e = tsne(
        &data,
        20,
        3,
        &TsneOptions { perplexity: 5.0, ..Default::default() },
        &mut NoProgress,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert_eq!(e, AnalysisError::NonFinite { what: "data", row: 4 });
    data[3 * 4] = 0.0;
    for bad in [
        TsneOptions { perplexity: 0.0, ..Default::default() },
        TsneOptions { perplexity: 5.0, learning_rate: Some(-1.0), ..Default::default() },
        TsneOptions { perplexity: 5.0, max_iter: 100, ..Default::default() },
        TsneOptions { perplexity: 5.0, theta: f64::NAN, ..Default::default() },
    ] {
        assert!(
            matches!(
                tsne(&data, 20, 3, &bad, &mut NoProgress, &CancelToken::new()),
                Err(AnalysisError::InvalidParameter { .. })
            ),
            "{bad:?}"
        );
    }
    let knn = knn_exact(&data, 20, 3, 5, &mut NoProgress, &CancelToken::new()).unwrap();
    assert!(matches!(
        tsne_from_knn(
            &knn,
            &[0.0; 10],
            &TsneOptions { perplexity: 3.0, ..Default::default() },
            &mut NoProgress,
            &CancelToken::new()
        ),
        Err(AnalysisError::ShapeMismatch { .. })
    ));
}
