use super::*;
use crate::analysis::cluster_metrics::adjusted_rand_index;
use crate::analysis::graph::{communities_are_connected, modularity};
use crate::analysis::knn::knn_exact;
use crate::analysis::louvain::{louvain, LouvainOptions};
use crate::analysis::synthetic::{gaussian_mixture, planted_partition};
use crate::progress::{CancelToken, NoProgress};

fn knn_graph(n: usize, d: usize, centers: usize, sep: f32, k: usize, seed: u64) -> Graph {
    let (data, _) = gaussian_mixture(n, d, centers, sep, seed);
    Graph::from_knn(&knn_exact(&data, n, d, k, &mut NoProgress, &CancelToken::new()).unwrap()).unwrap()
}

#[test]
fn recovers_planted_blocks() {
    let (g, truth) = planted_partition(4, 50, 0.3, 0.01, 11).unwrap();
    for seed in 0..5 {
        let p =
            leiden(&g, &LeidenOptions { seed, ..Default::default() }, &mut NoProgress, &CancelToken::new()).unwrap();
        assert_eq!(p.n_communities, 4, "seed {seed}");
        assert_eq!(adjusted_rand_index(&truth, &p.membership).unwrap(), 1.0);
        assert!((modularity(&g, &p.membership, 1.0).unwrap() - p.modularity).abs() < 1e-12);
        // Canonical numbering: equal sizes, so ordered by first member.
        assert_eq!(p.membership[0], 0);
    }
}

#[test]
fn two_triangles() {
    let g = Graph::from_edges(
        6,
        &[(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (3, 4, 1.0), (4, 5, 1.0), (3, 5, 1.0), (2, 3, 1.0)],
    )
    .unwrap();
    let p = leiden(&g, &LeidenOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(p.membership, vec![0, 0, 0, 1, 1, 1]);
    assert!((p.modularity - (6.0 / 7.0 - 0.5)).abs() < 1e-12);
}

#[test]
fn communities_are_connected_subgraphs() {
    // Noisy kNN graphs and random-ish planted graphs at several resolutions.
    let graphs = vec![
        knn_graph(1500, 10, 6, 3.0, 10, 1),
        knn_graph(800, 4, 3, 1.0, 5, 2),
        planted_partition(8, 40, 0.1, 0.02, 3).unwrap().0,
    ];
    for g in &graphs {
        for (seed, resolution) in [(0u64, 0.3), (1, 1.0), (2, 2.5), (3, 8.0)] {
            let p = leiden(
                g,
                &LeidenOptions { seed, resolution, ..Default::default() },
                &mut NoProgress,
                &CancelToken::new(),
            )
            .unwrap();
            assert!(communities_are_connected(g, &p.membership).unwrap(), "seed {seed} γ {resolution}");
            let p = leiden(
                g,
                &LeidenOptions { seed, resolution, n_iterations: -1, ..Default::default() },
                &mut NoProgress,
                &CancelToken::new(),
            )
            .unwrap();
            assert!(communities_are_connected(g, &p.membership).unwrap(), "seed {seed} γ {resolution} (-1)");
        }
    }
}

#[test]
fn at_least_as_good_as_louvain() {
    for seed in 0..3 {
        let g = knn_graph(2000, 8, 8, 2.5, 15, 10 + seed);
        let l = leiden(
            &g,
            &LeidenOptions { seed, n_iterations: -1, ..Default::default() },
            &mut NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
        let v =
            louvain(&g, &LouvainOptions { seed, ..Default::default() }, &mut NoProgress, &CancelToken::new()).unwrap();
        assert!(l.modularity >= v.modularity - 2e-3, "seed {seed}: leiden {} louvain {}", l.modularity, v.modularity);
        assert!(l.modularity > 0.5);
    }
}

#[test]
fn deterministic_for_a_seed_and_iterations_do_not_lose_quality() {
    let g = knn_graph(1200, 6, 5, 2.0, 12, 4);
    let opts = LeidenOptions { seed: 9, ..Default::default() };
    let a = leiden(&g, &opts, &mut NoProgress, &CancelToken::new()).unwrap();
    let b = leiden(&g, &opts, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(a, b);
    let one = leiden(
        &g,
        &LeidenOptions { seed: 9, n_iterations: 1, ..Default::default() },
        &mut NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    let conv = leiden(
        &g,
        &LeidenOptions { seed: 9, n_iterations: -1, ..Default::default() },
        &mut NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    assert!(a.modularity >= one.modularity - 1e-12);
    assert!(conv.modularity >= one.modularity - 1e-12);
    // Zero iterations returns the starting partition (singletons).
    let zero =
        leiden(&g, &LeidenOptions { n_iterations: 0, ..Default::default() }, &mut NoProgress, &CancelToken::new())
            .unwrap();
    assert_eq!(zero.n_communities, 1200);
}

#[test]
fn starts_from_an_initial_partition() {
    let (g, truth) = planted_partition(3, 30, 0.4, 0.01, 6).unwrap();
    // Starting from the truth with no iterations keeps it.
    let opts = LeidenOptions { initial_membership: Some(truth.clone()), n_iterations: 0, ..Default::default() };
    let p = leiden(&g, &opts, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(adjusted_rand_index(&truth, &p.membership).unwrap(), 1.0);
    // Starting from one big community, Leiden still finds the blocks.
    let opts = LeidenOptions { initial_membership: Some(vec![0; 90]), ..Default::default() };
    let p = leiden(&g, &opts, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(adjusted_rand_index(&truth, &p.membership).unwrap(), 1.0);
}

#[test]
fn isolated_nodes_and_self_loops() {
    // Node 4 isolated, node 5 has only a self-loop.
    let g = Graph::from_edges(6, &[(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (2, 3, 0.1), (5, 5, 1.0)]).unwrap();
    let p = leiden(&g, &LeidenOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
    let m = &p.membership;
    assert!(m[0] == m[1] && m[1] == m[2]);
    assert!(m[4] != m[0] && m[5] != m[0] && m[4] != m[5]);
    assert!(communities_are_connected(&g, m).unwrap());
}

#[test]
fn invalid_options() {
    let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 2, 1.0)]).unwrap();
    let bad_theta = LeidenOptions { theta: 0.0, ..Default::default() };
    assert!(matches!(
        leiden(&g, &bad_theta, &mut NoProgress, &CancelToken::new()),
        Err(AnalysisError::InvalidParameter { name: "theta", .. })
    ));
    let bad_init = LeidenOptions { initial_membership: Some(vec![0, 0]), ..Default::default() };
    assert!(matches!(
        leiden(&g, &bad_init, &mut NoProgress, &CancelToken::new()),
        Err(AnalysisError::LengthMismatch { len_a: 3, len_b: 2, .. })
    ));
    // Arbitrary (even huge) codes are fine as a starting partition.
    let big =
        LeidenOptions { initial_membership: Some(vec![u32::MAX, 7, u32::MAX]), n_iterations: 0, ..Default::default() };
    assert_eq!(leiden(&g, &big, &mut NoProgress, &CancelToken::new()).unwrap().membership, vec![0, 1, 0]);
    let bad_res = LeidenOptions { resolution: f64::INFINITY, ..Default::default() };
    assert!(matches!(
        leiden(&g, &bad_res, &mut NoProgress, &CancelToken::new()),
        Err(AnalysisError::InvalidParameter { name: "resolution", .. })
    ));
    let empty = Graph { indptr: vec![0], indices: vec![], weights: vec![] };
    assert!(matches!(
        leiden(&empty, &LeidenOptions::default(), &mut NoProgress, &CancelToken::new()),
        Err(AnalysisError::EmptyInput { .. })
    ));
}
