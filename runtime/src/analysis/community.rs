//! Shared machinery of the Louvain and Leiden implementations: the working
//! graph (with `f64` weights, self-loops kept apart), graph aggregation, the
//! resulting [`Partition`], and canonical community numbering.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::graph::{modularity, Graph};

/// A partition of the nodes of a graph into communities.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Community of every node, numbered `0..n_communities` by decreasing
    /// community size (ties: the community holding the smaller node first).
    pub membership: Vec<u32>,
    /// Number of communities.
    pub n_communities: usize,
    /// Modularity ([`modularity`]) of the partition at the resolution used.
    pub modularity: f64,
    /// Resolution `γ` the partition was optimised for.
    pub resolution: f64,
}

/// Working copy of a graph for the optimisers.
#[derive(Debug, Clone)]
pub(crate) struct WorkGraph {
    pub n: usize,
    pub indptr: Vec<usize>,
    /// Neighbours, self-loops excluded.
    pub indices: Vec<u32>,
    pub weights: Vec<f64>,
    /// Self-loop weight of every node (a loop adds twice its weight to the degree).
    pub self_loop: Vec<f64>,
    /// Weighted degree, self-loops counted twice.
    pub degree: Vec<f64>,
    /// `2m = Σ degree`.
    pub two_m: f64,
}

impl WorkGraph {
    pub fn from_graph(g: &Graph) -> WorkGraph {
        let n = g.n_nodes();
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0);
        let mut indices = Vec::with_capacity(g.indices.len());
        let mut weights = Vec::with_capacity(g.indices.len());
        let mut self_loop = vec![0f64; n];
        let mut degree = vec![0f64; n];
        for i in 0..n {
            let (idx, w) = g.row(i);
            for (&j, &w) in idx.iter().zip(w) {
                if j as usize == i {
                    self_loop[i] += w as f64;
                    degree[i] += 2.0 * w as f64;
                } else {
                    indices.push(j);
                    weights.push(w as f64);
                    degree[i] += w as f64;
                }
            }
            indptr.push(indices.len());
        }
        let two_m = degree.iter().sum();
        WorkGraph { n, indptr, indices, weights, self_loop, degree, two_m }
    }

    #[inline]
    pub fn neighbors(&self, v: usize) -> (&[u32], &[f64]) {
        let (s, e) = (self.indptr[v], self.indptr[v + 1]);
        (&self.indices[s..e], &self.weights[s..e])
    }

    /// Collapses every community (codes `0..n_comms`) into one node; edges
    /// inside a community become a self-loop, parallel edges are summed.
    pub fn aggregate(&self, membership: &[u32], n_comms: usize) -> WorkGraph {
        // Bucket nodes by community.
        let mut start = vec![0usize; n_comms + 1];
        for &c in membership {
            start[c as usize + 1] += 1;
        }
        for c in 0..n_comms {
            start[c + 1] += start[c];
        }
        let mut fill = start.clone();
        let mut members = vec![0u32; self.n];
        for (v, &c) in membership.iter().enumerate() {
            members[fill[c as usize]] = v as u32;
            fill[c as usize] += 1;
        }
        let mut acc = vec![0f64; n_comms];
        let mut touched: Vec<u32> = Vec::new();
        let mut indptr = Vec::with_capacity(n_comms + 1);
        indptr.push(0);
        let mut indices = Vec::new();
        let mut weights = Vec::new();
        let mut self_loop = vec![0f64; n_comms];
        let mut degree = vec![0f64; n_comms];
        for c in 0..n_comms {
            for &v in &members[start[c]..start[c + 1]] {
                let v = v as usize;
                self_loop[c] += self.self_loop[v];
                degree[c] += self.degree[v];
                let (idx, w) = self.neighbors(v);
                for (&u, &w) in idx.iter().zip(w) {
                    let cu = membership[u as usize] as usize;
                    if cu == c {
                        // Seen from both endpoints: half each time.
                        self_loop[c] += 0.5 * w;
                    } else {
                        if acc[cu] == 0.0 {
                            touched.push(cu as u32);
                        }
                        acc[cu] += w;
                    }
                }
            }
            touched.sort_unstable();
            for &d in &touched {
                indices.push(d);
                weights.push(acc[d as usize]);
                acc[d as usize] = 0.0;
            }
            touched.clear();
            indptr.push(indices.len());
        }
        WorkGraph { n: n_comms, indptr, indices, weights, self_loop, degree, two_m: self.two_m }
    }
}

/// Renumbers arbitrary codes to `0..n` by first appearance; returns the count.
pub(crate) fn compact_in_place(membership: &mut [u32]) -> usize {
    let max = membership.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut map = vec![u32::MAX; max];
    let mut next = 0u32;
    for c in membership.iter_mut() {
        let slot = &mut map[*c as usize];
        if *slot == u32::MAX {
            *slot = next;
            next += 1;
        }
        *c = *slot;
    }
    next as usize
}

/// Canonical numbering: by decreasing size, ties by smallest member.
pub(crate) fn canonical(membership: &[u32]) -> (Vec<u32>, usize) {
    let mut m = membership.to_vec();
    let n_comms = compact_in_place(&mut m); // first appearance = smallest member order
    let mut size = vec![0usize; n_comms];
    for &c in &m {
        size[c as usize] += 1;
    }
    let mut order: Vec<usize> = (0..n_comms).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(size[c]), c));
    let mut rank = vec![0u32; n_comms];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r as u32;
    }
    for c in m.iter_mut() {
        *c = rank[*c as usize];
    }
    (m, n_comms)
}

/// Builds the public [`Partition`] from raw membership codes.
pub(crate) fn finish(graph: &Graph, membership: &[u32], resolution: f64) -> Result<Partition> {
    let (membership, n_communities) = canonical(membership);
    let modularity = modularity(graph, &membership, resolution)?;
    Ok(Partition { membership, n_communities, modularity, resolution })
}

/// Validates the graph and resolution shared by the optimisers; returns the
/// working graph.
pub(crate) fn prepare(graph: &Graph, resolution: f64) -> Result<WorkGraph> {
    graph.validate()?;
    if graph.n_nodes() == 0 {
        return Err(AnalysisError::EmptyInput { what: "graph" });
    }
    if !(resolution.is_finite() && resolution >= 0.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "resolution",
            reason: format!("must be finite and >= 0, got {resolution}"),
        });
    }
    let wg = WorkGraph::from_graph(graph);
    if wg.two_m <= 0.0 {
        return Err(AnalysisError::InvalidGraph("community detection needs at least one edge".into()));
    }
    Ok(wg)
}

/// Per-node scratch space that accumulates edge weight from one node to each
/// neighbouring community.
pub(crate) struct NeighborWeights {
    weight: Vec<f64>,
    seen: Vec<bool>,
    pub touched: Vec<u32>,
}

impl NeighborWeights {
    pub fn new(n: usize) -> Self {
        NeighborWeights { weight: vec![0.0; n], seen: vec![false; n], touched: Vec::new() }
    }

    /// Collects the weight from `v` to every community (by `membership`) of
    /// its neighbours, restricted to neighbours accepted by `keep`.
    pub fn collect(&mut self, g: &WorkGraph, v: usize, membership: &[u32], keep: impl Fn(usize) -> bool) {
        self.clear();
        let (idx, w) = g.neighbors(v);
        for (&u, &w) in idx.iter().zip(w) {
            if !keep(u as usize) {
                continue;
            }
            let c = membership[u as usize];
            if !self.seen[c as usize] {
                self.seen[c as usize] = true;
                self.touched.push(c);
            }
            self.weight[c as usize] += w;
        }
    }

    #[inline]
    pub fn get(&self, c: u32) -> f64 {
        self.weight[c as usize]
    }

    pub fn clear(&mut self) {
        for &c in &self.touched {
            self.weight[c as usize] = 0.0;
            self.seen[c as usize] = false;
        }
        self.touched.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_preserves_weights_and_degrees() {
        // Square 0-1-2-3-0 plus a loop on 1 (weight 2) and a diagonal 0-2 (weight 3).
        let g = Graph::from_edges(4, &[(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 0, 1.0), (1, 1, 2.0), (0, 2, 3.0)])
            .unwrap();
        let wg = WorkGraph::from_graph(&g);
        assert_eq!(wg.self_loop, vec![0.0, 2.0, 0.0, 0.0]);
        assert_eq!(wg.degree, vec![5.0, 6.0, 5.0, 2.0]);
        assert_eq!(wg.two_m, 18.0);
        // Communities {0, 1} and {2, 3}.
        let agg = wg.aggregate(&[0, 0, 1, 1], 2);
        // Inside {0,1}: edge 0-1 (1) + loop (2) = 3; inside {2,3}: edge 2-3 = 1.
        assert_eq!(agg.self_loop, vec![3.0, 1.0]);
        // Between: 1-2 (1) + 3-0 (1) + 0-2 (3) = 5.
        assert_eq!(agg.neighbors(0), (&[1u32][..], &[5.0][..]));
        assert_eq!(agg.neighbors(1), (&[0u32][..], &[5.0][..]));
        assert_eq!(agg.degree, vec![11.0, 7.0]);
        assert_eq!(agg.degree[0], 2.0 * agg.self_loop[0] + 5.0);
        assert_eq!(agg.two_m, 18.0);
    }

    #[test]
    fn canonical_numbering_by_size_then_first_member() {
        let (m, n) = canonical(&[7, 3, 3, 9, 7, 3, 9]);
        // Sizes: 3 -> 3 members, 7 -> 2 (first at 0), 9 -> 2 (first at 3).
        assert_eq!(n, 3);
        assert_eq!(m, vec![1, 0, 0, 2, 1, 0, 2]);
        let mut raw = vec![5, 5, 2, 8];
        assert_eq!(compact_in_place(&mut raw), 3);
        assert_eq!(raw, vec![0, 0, 1, 2]);
    }

    #[test]
    fn neighbor_weights_accumulate_and_reset() {
        let g = Graph::from_edges(4, &[(0, 1, 1.0), (0, 2, 2.0), (0, 3, 4.0)]).unwrap();
        let wg = WorkGraph::from_graph(&g);
        let mut nw = NeighborWeights::new(4);
        nw.collect(&wg, 0, &[0, 1, 1, 2], |_| true);
        assert_eq!(nw.touched, vec![1, 2]);
        assert_eq!((nw.get(1), nw.get(2), nw.get(0)), (3.0, 4.0, 0.0));
        nw.collect(&wg, 0, &[0, 1, 1, 2], |u| u != 3);
        assert_eq!(nw.touched, vec![1]);
        assert_eq!(nw.get(2), 0.0);
    }
}
