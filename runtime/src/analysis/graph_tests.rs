use super::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn two_triangles() -> Graph {
    Graph::from_edges(6, &[(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (3, 4, 1.0), (4, 5, 1.0), (3, 5, 1.0), (2, 3, 1.0)])
        .unwrap()
}

/// Q straight from the matrix definition with a dense adjacency matrix
/// (self-loop of weight w -> A_ii = 2w).
fn dense_modularity(n: usize, edges: &[(u32, u32, f32)], membership: &[u32], gamma: f64) -> f64 {
    let mut a = vec![0f64; n * n];
    for &(i, j, w) in edges {
        let (i, j) = (i as usize, j as usize);
        if i == j {
            a[i * n + i] += 2.0 * w as f64;
        } else {
            a[i * n + j] += w as f64;
            a[j * n + i] += w as f64;
        }
    }
    let k: Vec<f64> = (0..n).map(|i| (0..n).map(|j| a[i * n + j]).sum()).collect();
    let two_m: f64 = k.iter().sum();
    let mut q = 0.0;
    for i in 0..n {
        for j in 0..n {
            if membership[i] == membership[j] {
                q += a[i * n + j] - gamma * k[i] * k[j] / two_m;
            }
        }
    }
    q / two_m
}

#[test]
fn from_edges_builds_symmetric_csr() {
    let g = Graph::from_edges(4, &[(0, 1, 1.0), (1, 0, 0.5), (2, 2, 3.0), (3, 1, 2.0), (0, 3, 0.0)]).unwrap();
    g.validate().unwrap();
    assert_eq!(g.neighbors(1), Some((&[0u32, 3][..], &[1.5f32, 2.0][..])));
    assert_eq!(g.n_nodes(), 4);
    assert_eq!(g.indptr, vec![0, 1, 3, 4, 5]);
    assert_eq!(g.indices, vec![1, 0, 3, 2, 1]);
    assert_eq!(g.weights, vec![1.5, 1.5, 2.0, 3.0, 2.0]);
    assert_eq!(g.n_edges(), 3);
    // Degrees: node 2's loop counts twice.
    assert_eq!(g.degrees(), vec![1.5, 3.5, 6.0, 2.0]);
    assert_eq!(g.total_weight(), 6.5);
    assert_eq!(g.edges(), vec![(0, 1, 1.5), (1, 3, 2.0), (2, 2, 3.0)]);
    // Round trip through the edge list.
    assert_eq!(Graph::from_edges(4, &g.edges()).unwrap(), g);
}

#[test]
fn from_edges_rejects_bad_edges() {
    assert!(matches!(Graph::from_edges(2, &[(0, 2, 1.0)]), Err(AnalysisError::IndexOutOfRange { index: 2, .. })));
    assert!(matches!(Graph::from_edges(2, &[(0, 1, -1.0)]), Err(AnalysisError::InvalidGraph(_))));
    assert!(matches!(
        Graph::from_edges(2, &[(0, 1, 1.0), (0, 1, f32::NAN)]),
        Err(AnalysisError::NonFinite { row: 1, .. })
    ));
}

#[test]
fn validate_catches_broken_graphs() {
    let ok = two_triangles();
    ok.validate().unwrap();
    let mut asym = ok.clone();
    asym.weights[0] = 2.0;
    assert!(matches!(asym.validate(), Err(AnalysisError::InvalidGraph(_))));
    let missing = Graph { indptr: vec![0, 1, 1], indices: vec![1], weights: vec![1.0] };
    assert!(missing.validate().is_err());
    let unsorted = Graph { indptr: vec![0, 2, 3, 4], indices: vec![2, 1, 0, 0], weights: vec![1.0; 4] };
    assert!(unsorted.validate().is_err());
    let out_of_range = Graph { indptr: vec![0, 1], indices: vec![5], weights: vec![1.0] };
    assert!(out_of_range.validate().is_err());
    let zero = Graph { indptr: vec![0, 1], indices: vec![0], weights: vec![0.0] };
    assert!(zero.validate().is_err());
    let short = Graph { indptr: vec![0, 2], indices: vec![0], weights: vec![1.0] };
    assert!(short.validate().is_err());
    let empty = Graph { indptr: vec![], indices: vec![], weights: vec![] };
    assert!(empty.validate().is_err());
    // Accessors never panic, even on malformed graphs.
    let garbage = Graph { indptr: vec![0, 7, 2], indices: vec![1], weights: vec![] };
    assert_eq!(garbage.n_nodes(), 2);
    assert_eq!(garbage.degrees(), vec![0.0, 0.0]);
    assert!(garbage.edges().is_empty());
    assert_eq!(garbage.n_edges(), 0);
    assert!(garbage.neighbors(5).is_none());
    assert!(matches!(modularity(&garbage, &[0, 0], 1.0), Err(AnalysisError::InvalidGraph(_))));
    assert!(connected_components(&garbage).is_err());
    assert!(communities_are_connected(&garbage, &[0, 0]).is_err());
}

#[test]
fn from_knn_is_union_symmetrised() {
    // 0 -> 1, 1 -> 2, 2 -> 1: edges {0,1}, {1,2}.
    let knn = Knn::from_parts(3, 1, vec![1, 2, 1], vec![1.0, 1.0, 1.0]).unwrap();
    let g = Graph::from_knn(&knn).unwrap();
    g.validate().unwrap();
    assert_eq!(g.edges(), vec![(0, 1, 1.0), (1, 2, 1.0)]);
}

#[test]
fn modularity_hand_examples() {
    let g = two_triangles();
    // W = 3 per triangle, K = 7 per triangle, m = 7: Q = 2 (3/7 - 1/4) = 6/7 - 1/2.
    let q = modularity(&g, &[0, 0, 0, 1, 1, 1], 1.0).unwrap();
    assert!((q - (6.0 / 7.0 - 0.5)).abs() < 1e-15);
    assert!((modularity(&g, &[5, 5, 5, 9, 9, 9], 2.0).unwrap() - (6.0 / 7.0 - 1.0)).abs() < 1e-15);
    // One community: Q = 1 - γ.
    assert!(modularity(&g, &[0; 6], 1.0).unwrap().abs() < 1e-15);
    assert!((modularity(&g, &[0; 6], 0.5).unwrap() - 0.5).abs() < 1e-15);
    // Self-loop of weight 2 on node 0 plus edge {0,1}: A = [[4,1],[1,0]],
    // k = (5, 1), 2m = 6: Q({0},{1}) = (4 - 25/6 - 1/6) / 6 = -1/18.
    let g = Graph::from_edges(2, &[(0, 0, 2.0), (0, 1, 1.0)]).unwrap();
    assert!((modularity(&g, &[0, 1], 1.0).unwrap() + 1.0 / 18.0).abs() < 1e-15);
}

#[test]
fn modularity_matches_dense_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 40;
    let mut edges = Vec::new();
    for i in 0..n as u32 {
        for j in i..n as u32 {
            if rng.random::<f64>() < 0.15 {
                edges.push((i, j, rng.random_range(0.1f32..3.0)));
            }
        }
    }
    let g = Graph::from_edges(n, &edges).unwrap();
    g.validate().unwrap();
    for gamma in [0.3, 1.0, 1.7] {
        let membership: Vec<u32> = (0..n).map(|_| rng.random_range(0..4)).collect();
        let fast = modularity(&g, &membership, gamma).unwrap();
        let slow = dense_modularity(n, &edges, &membership, gamma);
        assert!((fast - slow).abs() < 1e-6, "{fast} vs {slow}");
    }
}

#[test]
fn modularity_errors() {
    let g = two_triangles();
    assert!(matches!(modularity(&g, &[0; 5], 1.0), Err(AnalysisError::LengthMismatch { len_a: 6, len_b: 5, .. })));
    assert!(matches!(modularity(&g, &[0; 6], f64::NAN), Err(AnalysisError::InvalidParameter { .. })));
    let no_edges = Graph::from_edges(3, &[]).unwrap();
    assert!(matches!(modularity(&no_edges, &[0, 1, 2], 1.0), Err(AnalysisError::InvalidGraph(_))));
    let empty = Graph { indptr: vec![0], indices: vec![], weights: vec![] };
    assert!(matches!(modularity(&empty, &[], 1.0), Err(AnalysisError::EmptyInput { .. })));
}

#[test]
fn connectivity_helpers() {
    // Path 0-1-2, isolated 3, edge 4-5.
    let g = Graph::from_edges(6, &[(0, 1, 1.0), (1, 2, 1.0), (4, 5, 1.0)]).unwrap();
    assert_eq!(connected_components(&g).unwrap(), vec![0, 0, 0, 1, 2, 2]);
    assert!(communities_are_connected(&g, &[0, 0, 0, 1, 2, 2]).unwrap());
    assert!(communities_are_connected(&g, &[0, 0, 1, 2, 3, 3]).unwrap());
    // {0, 2} without 1 is split.
    assert!(!communities_are_connected(&g, &[0, 1, 0, 2, 3, 3]).unwrap());
    // {3, 4, 5}: 3 is not connected to 4-5.
    assert!(!communities_are_connected(&g, &[0, 0, 0, 1, 1, 1]).unwrap());
    assert!(communities_are_connected(&g, &[0, 0]).is_err());
}
