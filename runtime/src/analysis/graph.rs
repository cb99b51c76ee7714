//! Undirected weighted graphs in CSR form, modularity with a resolution
//! parameter, and connectivity helpers.
//!
//! Conventions (those of igraph and leidenalg): every undirected edge
//! `{i, j}` with `i != j` is stored twice, as `j` in row `i` and as `i` in row
//! `j`, with the same weight; a self-loop `{i, i}` of weight `w` is stored
//! once, in row `i`, and adds `2w` to the degree of `i` (the adjacency
//! matrix has `A_ii = 2w`). The total edge weight `m` counts every edge
//! once, so `2m = Σ_i k_i`.

use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::knn::Knn;
use crate::analysis::labels::check_same_len;
use std::collections::VecDeque;

/// Symmetric weighted graph in compressed sparse row form.
///
/// Row `i` spans `indptr[i]..indptr[i + 1]` of `indices` and `weights`.
/// Column indices within a row are strictly increasing; weights are finite
/// and positive. Use [`Graph::validate`] to check a graph built by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Row pointers, length `n_nodes + 1`.
    pub indptr: Vec<usize>,
    /// Neighbour node ids.
    pub indices: Vec<u32>,
    /// Edge weights matching `indices`.
    pub weights: Vec<f32>,
}

impl Graph {
    /// Builds a graph on `n_nodes` nodes from undirected edges `(i, j, w)`,
    /// each listed once in either orientation. Repeated edges have their
    /// weights summed; `(i, i, w)` is a self-loop. Weights must be finite and
    /// non-negative; zero-weight edges are dropped.
    pub fn from_edges(n_nodes: usize, edges: &[(u32, u32, f32)]) -> Result<Graph> {
        if n_nodes > u32::MAX as usize {
            return Err(AnalysisError::InvalidGraph(format!("at most {} nodes are supported", u32::MAX)));
        }
        let mut directed: Vec<(u32, u32, f64)> = Vec::with_capacity(edges.len() * 2);
        for (pos, &(i, j, w)) in edges.iter().enumerate() {
            for v in [i, j] {
                if v as usize >= n_nodes {
                    return Err(AnalysisError::IndexOutOfRange {
                        what: "edges",
                        position: pos,
                        index: v as usize,
                        bound: n_nodes,
                    });
                }
            }
            if !w.is_finite() {
                return Err(AnalysisError::NonFinite { what: "edge weights", row: pos });
            }
            if w < 0.0 {
                return Err(AnalysisError::InvalidGraph(format!("edge {pos} ({i}, {j}) has negative weight {w}")));
            }
            if w == 0.0 {
                continue;
            }
            directed.push((i, j, w as f64));
            if i != j {
                directed.push((j, i, w as f64));
            }
        }
        directed.sort_unstable_by_key(|&(i, j, _)| (i, j));
        let mut indptr = vec![0usize; n_nodes + 1];
        let mut indices = Vec::with_capacity(directed.len());
        let mut weights = Vec::with_capacity(directed.len());
        let mut p = 0;
        while p < directed.len() {
            let (i, j, mut w) = directed[p];
            p += 1;
            while p < directed.len() && directed[p].0 == i && directed[p].1 == j {
                w += directed[p].2;
                p += 1;
            }
            indices.push(j);
            weights.push(w as f32);
            indptr[i as usize + 1] += 1;
        }
        for i in 0..n_nodes {
            indptr[i + 1] += indptr[i];
        }
        Ok(Graph { indptr, indices, weights })
    }

    /// Wraps CSR arrays (see [`Graph`]) after checking every invariant with
    /// [`Graph::validate`]: sorted rows, finite positive weights, symmetry.
    pub fn from_csr(indptr: Vec<usize>, indices: Vec<u32>, weights: Vec<f32>) -> Result<Graph> {
        let graph = Graph { indptr, indices, weights };
        graph.validate()?;
        Ok(graph)
    }

    /// Unweighted kNN graph, symmetrised by union: nodes `i` and `j` are
    /// joined by an edge of weight 1 when either is among the other's
    /// nearest neighbours (using all `knn.k` stored neighbours). Fails if
    /// the neighbour lists are inconsistent (see [`Knn::validate`]).
    pub fn from_knn(knn: &Knn) -> Result<Graph> {
        knn.validate()?;
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(knn.n * knn.k * 2);
        for i in 0..knn.n {
            for &j in &knn.indices[i * knn.k..(i + 1) * knn.k] {
                if j as usize != i {
                    pairs.push((i as u32, j));
                    pairs.push((j, i as u32));
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut indptr = vec![0usize; knn.n + 1];
        for &(i, _) in &pairs {
            indptr[i as usize + 1] += 1;
        }
        for i in 0..knn.n {
            indptr[i + 1] += indptr[i];
        }
        let indices = pairs.iter().map(|&(_, j)| j).collect::<Vec<_>>();
        let weights = vec![1.0f32; indices.len()];
        Ok(Graph { indptr, indices, weights })
    }

    /// Checks the CSR invariants: `indptr` starts at 0, is non-decreasing and
    /// ends at `indices.len() == weights.len()`; indices are in range and
    /// strictly increasing within each row; weights are finite and positive;
    /// and the graph is symmetric (every `j` in row `i` has `i` in row `j`
    /// with the same weight).
    pub fn validate(&self) -> Result<()> {
        let bad = |s: String| Err(AnalysisError::InvalidGraph(s));
        if self.indptr.is_empty() || self.indptr[0] != 0 {
            return bad("indptr must start with 0 and have n_nodes + 1 entries".into());
        }
        let n = self.n_nodes();
        let nnz = *self.indptr.last().expect("non-empty");
        if nnz != self.indices.len() || nnz != self.weights.len() {
            return bad(format!(
                "indptr ends at {nnz} but there are {} indices and {} weights",
                self.indices.len(),
                self.weights.len()
            ));
        }
        for i in 0..n {
            let (s, e) = (self.indptr[i], self.indptr[i + 1]);
            if e < s || e > nnz {
                return bad(format!("indptr is not non-decreasing at row {i}"));
            }
            for p in s..e {
                let j = self.indices[p] as usize;
                if j >= n {
                    return bad(format!("row {i} lists node {j}, but there are {n} nodes"));
                }
                if p > s && self.indices[p - 1] >= self.indices[p] {
                    return bad(format!("row {i} is not strictly increasing"));
                }
                let w = self.weights[p];
                if !(w.is_finite() && w > 0.0) {
                    return bad(format!("edge ({i}, {j}) has weight {w}; weights must be finite and positive"));
                }
            }
        }
        for i in 0..n {
            for p in self.indptr[i]..self.indptr[i + 1] {
                let j = self.indices[p] as usize;
                let row_j = &self.indices[self.indptr[j]..self.indptr[j + 1]];
                match row_j.binary_search(&(i as u32)) {
                    Ok(q) if self.weights[self.indptr[j] + q] == self.weights[p] => {}
                    Ok(_) => return bad(format!("edge ({i}, {j}) has different weights in the two directions")),
                    Err(_) => return bad(format!("edge ({i}, {j}) has no reverse edge ({j}, {i})")),
                }
            }
        }
        Ok(())
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Number of undirected edges, self-loops included.
    pub fn n_edges(&self) -> usize {
        let (mut entries, mut loops) = (0usize, 0usize);
        for i in 0..self.n_nodes() {
            let row = self.row(i).0;
            entries += row.len();
            loops += row.iter().filter(|&&j| j as usize == i).count();
        }
        (entries - loops) / 2 + loops
    }

    /// Neighbour ids and weights of node `i`, or `None` if `i >= n_nodes()`.
    pub fn neighbors(&self, i: usize) -> Option<(&[u32], &[f32])> {
        (i < self.n_nodes()).then(|| self.row(i))
    }

    /// Row `i` with its range clamped to the stored arrays, so that even a
    /// malformed graph cannot cause an out-of-bounds panic (its results are
    /// then meaningless; the public algorithms validate first).
    pub(crate) fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let nnz = self.indices.len().min(self.weights.len());
        let s = self.indptr.get(i).copied().unwrap_or(nnz).min(nnz);
        let e = self.indptr.get(i + 1).copied().unwrap_or(s).clamp(s, nnz);
        (&self.indices[s..e], &self.weights[s..e])
    }

    /// Weighted degree (strength) of every node; a self-loop counts twice.
    pub fn degrees(&self) -> Vec<f64> {
        (0..self.n_nodes())
            .map(|i| {
                let (idx, w) = self.row(i);
                idx.iter().zip(w).map(|(&j, &w)| if j as usize == i { 2.0 * w as f64 } else { w as f64 }).sum()
            })
            .collect()
    }

    /// Total edge weight `m` (every undirected edge and self-loop once).
    pub fn total_weight(&self) -> f64 {
        self.degrees().iter().sum::<f64>() / 2.0
    }

    /// Every undirected edge once, as `(i, j, w)` with `i <= j`.
    pub fn edges(&self) -> Vec<(u32, u32, f32)> {
        let mut out = Vec::with_capacity(self.indices.len() / 2 + 1);
        for i in 0..self.n_nodes() {
            let (idx, w) = self.row(i);
            for (&j, &w) in idx.iter().zip(w) {
                if j as usize >= i {
                    out.push((i as u32, j, w));
                }
            }
        }
        out
    }
}

/// Checks a membership vector against a graph: one entry per node.
pub(crate) fn check_membership(graph: &Graph, membership: &[u32]) -> Result<()> {
    check_same_len("graph nodes", graph.n_nodes(), "membership", membership.len())
}

/// Modularity of a partition with resolution `γ`, as igraph's
/// `Graph.modularity(membership, weights, resolution)` and leidenalg's
/// RBConfiguration model:
/// `Q = 1/(2m) Σ_ij (A_ij − γ k_i k_j / 2m) δ(c_i, c_j)`
/// `  = Σ_c [W_c / m − γ (K_c / 2m)²]`,
/// where `W_c` is the weight inside community `c` (self-loops once) and
/// `K_c` its total degree. Membership values are arbitrary codes. The graph
/// must pass [`Graph::validate`].
#[allow(clippy::needless_range_loop)]
pub fn modularity(graph: &Graph, membership: &[u32], resolution: f64) -> Result<f64> {
    graph.validate()?;
    check_membership(graph, membership)?;
    if graph.n_nodes() == 0 {
        return Err(AnalysisError::EmptyInput { what: "graph" });
    }
    if !resolution.is_finite() || resolution < 0.0 {
        return Err(AnalysisError::InvalidParameter {
            name: "resolution",
            reason: format!("must be finite and >= 0, got {resolution}"),
        });
    }
    let codes = crate::analysis::labels::compact_labels(membership);
    let deg = graph.degrees();
    let two_m: f64 = deg.iter().sum();
    if two_m <= 0.0 {
        return Err(AnalysisError::InvalidGraph("modularity is undefined for a graph without edges".into()));
    }
    let mut internal = vec![0f64; codes.n_classes];
    let mut total = vec![0f64; codes.n_classes];
    for i in 0..graph.n_nodes() {
        let ci = codes.codes[i];
        total[ci as usize] += deg[i];
        let (idx, w) = graph.row(i);
        for (&j, &w) in idx.iter().zip(w) {
            if codes.codes[j as usize] == ci {
                // Non-loop edges are seen from both ends; a loop (A_ii = 2w) once.
                internal[ci as usize] += if j as usize == i { 2.0 * w as f64 } else { w as f64 };
            }
        }
    }
    let q: f64 = internal.iter().zip(&total).map(|(&a, &k)| a / two_m - resolution * (k / two_m) * (k / two_m)).sum();
    Ok(q)
}

/// Connected-component id of every node (components numbered from 0 in
/// order of their smallest node). The graph must pass [`Graph::validate`].
pub fn connected_components(graph: &Graph) -> Result<Vec<u32>> {
    graph.validate()?;
    let n = graph.n_nodes();
    let mut comp = vec![u32::MAX; n];
    let mut next = 0u32;
    let mut queue = VecDeque::new();
    for s in 0..n {
        if comp[s] != u32::MAX {
            continue;
        }
        comp[s] = next;
        queue.push_back(s);
        while let Some(v) = queue.pop_front() {
            for &u in graph.row(v).0 {
                if comp[u as usize] == u32::MAX {
                    comp[u as usize] = next;
                    queue.push_back(u as usize);
                }
            }
        }
        next += 1;
    }
    Ok(comp)
}

/// Whether every community induces a connected subgraph (checked by BFS
/// restricted to the community's nodes). The graph must pass
/// [`Graph::validate`].
pub fn communities_are_connected(graph: &Graph, membership: &[u32]) -> Result<bool> {
    graph.validate()?;
    check_membership(graph, membership)?;
    let n = graph.n_nodes();
    let mut seen = vec![false; n];
    let mut started: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut queue = VecDeque::new();
    for s in 0..n {
        if seen[s] {
            continue;
        }
        // A second BFS start inside an already visited community means it is split.
        if !started.insert(membership[s]) {
            return Ok(false);
        }
        seen[s] = true;
        queue.push_back(s);
        while let Some(v) = queue.pop_front() {
            for &u in graph.row(v).0 {
                let u = u as usize;
                if !seen[u] && membership[u] == membership[s] {
                    seen[u] = true;
                    queue.push_back(u);
                }
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
