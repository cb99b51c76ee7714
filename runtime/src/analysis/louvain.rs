//! Louvain community detection (Blondel et al. 2008) maximising modularity
//! with a resolution parameter (the RBConfiguration quality of leidenalg).
//!
//! Each level repeatedly visits the nodes in a seeded random order and moves
//! every node to the neighbouring community with the largest quality gain,
//! until a full pass moves nothing; the communities are then collapsed into
//! the nodes of the next level. The algorithm stops when a level moves no
//! node. Deterministic for a fixed seed.

use crate::analysis::community::{finish, prepare, NeighborWeights, Partition, WorkGraph};
use crate::analysis::error::Result;
use crate::analysis::graph::Graph;
use crate::analysis::work::{self, Poll};
use crate::progress::{CancelToken, Progress};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Options of [`louvain`].
#[derive(Debug, Clone, PartialEq)]
pub struct LouvainOptions {
    /// Resolution `γ` (1 = standard modularity; larger gives more communities).
    pub resolution: f64,
    /// Seed of the node-order shuffles.
    pub seed: u64,
    /// Maximum number of aggregation levels.
    pub max_levels: usize,
}

impl Default for LouvainOptions {
    fn default() -> Self {
        LouvainOptions { resolution: 1.0, seed: 0, max_levels: 100 }
    }
}

/// Largest number of passes over the nodes within one level (a safeguard;
/// convergence normally takes a handful).
const MAX_PASSES: usize = 10_000;

/// Relative margin a move must gain over staying put, which prevents
/// floating-point ties from making nodes oscillate.
const GAIN_EPS: f64 = 1e-12;

/// Local moving phase on one level. `membership` starts as singletons;
/// returns whether any node moved.
fn local_moving(
    g: &WorkGraph,
    membership: &mut [u32],
    gamma: f64,
    rng: &mut ChaCha8Rng,
    poll: &mut Poll,
) -> Result<bool> {
    let mut tot: Vec<f64> = g.degree.clone();
    let mut order: Vec<usize> = (0..g.n).collect();
    order.shuffle(rng);
    let mut nw = NeighborWeights::new(g.n);
    let mut any_move = false;
    for _ in 0..MAX_PASSES {
        let mut moved = false;
        for &v in &order {
            poll.tick()?;
            let own = membership[v];
            let kv = g.degree[v];
            nw.collect(g, v, membership, |_| true);
            tot[own as usize] -= kv;
            let scale = gamma * kv / g.two_m;
            let stay = nw.get(own) - scale * tot[own as usize];
            let mut best = own;
            let mut best_gain = stay;
            for &c in &nw.touched {
                let gain = nw.get(c) - scale * tot[c as usize];
                if gain > best_gain {
                    best = c;
                    best_gain = gain;
                }
            }
            if best != own && best_gain - stay <= GAIN_EPS * kv.max(1e-300) {
                best = own;
            }
            tot[best as usize] += kv;
            if best != own {
                membership[v] = best;
                moved = true;
                any_move = true;
            }
        }
        if !moved {
            break;
        }
    }
    Ok(any_move)
}

/// Louvain community detection. The graph must pass [`Graph::validate`]
/// and have at least one edge.
///
/// Reports the levels done to `progress` (with the number of communities);
/// stops with [`AnalysisError::Interrupted`](crate::analysis::AnalysisError::Interrupted)
/// within a few thousand node visits once `cancel` is set.
pub fn louvain(
    graph: &Graph,
    options: &LouvainOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Partition> {
    work::check(cancel)?;
    let gamma = options.resolution;
    let mut g = prepare(graph, gamma)?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    progress.start("Louvain levels", None);
    let mut poll = Poll::new(cancel);
    // Node of the current level holding each original node.
    let mut global: Vec<u32> = (0..g.n as u32).collect();
    for level in 0..options.max_levels {
        work::check(cancel)?;
        let mut membership: Vec<u32> = (0..g.n as u32).collect();
        if !local_moving(&g, &mut membership, gamma, &mut rng, &mut poll)? {
            break;
        }
        let n_comms = crate::analysis::community::compact_in_place(&mut membership);
        progress.update(level as u64 + 1, &format!("{n_comms} communities"));
        for x in global.iter_mut() {
            *x = membership[*x as usize];
        }
        if n_comms == g.n {
            break;
        }
        g = g.aggregate(&membership, n_comms);
    }
    progress.finish("");
    finish(graph, &global, gamma)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::cluster_metrics::adjusted_rand_index;
    use crate::analysis::error::AnalysisError;
    use crate::analysis::graph::modularity;
    use crate::analysis::synthetic::planted_partition;
    use crate::progress::{CancelToken, NoProgress};

    #[test]
    fn recovers_planted_blocks() {
        let (g, truth) = planted_partition(4, 50, 0.3, 0.01, 11).unwrap();
        for seed in 0..3 {
            let p = louvain(&g, &LouvainOptions { seed, ..Default::default() }, &mut NoProgress, &CancelToken::new())
                .unwrap();
            assert_eq!(p.n_communities, 4);
            assert_eq!(adjusted_rand_index(&truth, &p.membership).unwrap(), 1.0);
            let q = modularity(&g, &p.membership, 1.0).unwrap();
            assert!((q - p.modularity).abs() < 1e-12);
            assert!(q > 0.6);
        }
    }

    #[test]
    fn two_triangles_split_at_the_bridge() {
        let g = Graph::from_edges(
            6,
            &[(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0), (3, 4, 1.0), (4, 5, 1.0), (3, 5, 1.0), (2, 3, 1.0)],
        )
        .unwrap();
        let p = louvain(&g, &LouvainOptions::default(), &mut NoProgress, &CancelToken::new()).unwrap();
        assert_eq!(p.membership, vec![0, 0, 0, 1, 1, 1]);
        assert!((p.modularity - (6.0 / 7.0 - 0.5)).abs() < 1e-12);
        // Resolution 0: one community is optimal (Q = W/m = 1).
        let p0 = louvain(
            &g,
            &LouvainOptions { resolution: 0.0, ..Default::default() },
            &mut NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
        assert_eq!(p0.n_communities, 1);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (g, _) = planted_partition(6, 30, 0.2, 0.05, 5).unwrap();
        let a = louvain(&g, &LouvainOptions { seed: 42, ..Default::default() }, &mut NoProgress, &CancelToken::new())
            .unwrap();
        let b = louvain(&g, &LouvainOptions { seed: 42, ..Default::default() }, &mut NoProgress, &CancelToken::new())
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn higher_resolution_gives_more_communities() {
        let (g, _) = planted_partition(4, 40, 0.3, 0.02, 8).unwrap();
        let lo = louvain(
            &g,
            &LouvainOptions { resolution: 0.2, ..Default::default() },
            &mut NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
        let hi = louvain(
            &g,
            &LouvainOptions { resolution: 5.0, ..Default::default() },
            &mut NoProgress,
            &CancelToken::new(),
        )
        .unwrap();
        assert!(hi.n_communities > lo.n_communities, "{} vs {}", hi.n_communities, lo.n_communities);
    }

    #[test]
    fn errors() {
        let no_edges = Graph::from_edges(3, &[]).unwrap();
        assert!(matches!(
            louvain(&no_edges, &LouvainOptions::default(), &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::InvalidGraph(_))
        ));
        let g = Graph::from_edges(2, &[(0, 1, 1.0)]).unwrap();
        let bad = LouvainOptions { resolution: -1.0, ..Default::default() };
        assert!(matches!(
            louvain(&g, &bad, &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::InvalidParameter { .. })
        ));
        let broken = Graph { indptr: vec![0, 1, 1], indices: vec![1], weights: vec![1.0] };
        assert!(matches!(
            louvain(&broken, &LouvainOptions::default(), &mut NoProgress, &CancelToken::new()),
            Err(AnalysisError::InvalidGraph(_))
        ));
    }
}
