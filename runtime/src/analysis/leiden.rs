//! Leiden community detection (Traag, Waltman & van Eck 2019) for the
//! RBConfiguration (modularity with resolution) quality function.
//!
//! One iteration of the algorithm repeats, level by level:
//! 1. *fast local moving*: nodes wait in a queue (initially every node, in
//!    seeded random order); a popped node moves to the community (possibly a
//!    new, empty one) with the largest quality gain, and its neighbours outside
//!    that community are queued again;
//! 2. *refinement*: inside every community `S`, starting from singletons,
//!    each well-connected node that is still a singleton joins a
//!    well-connected sub-community `C` of `S` chosen at random with
//!    probability `∝ exp(ΔH / θ)` among the moves with `ΔH >= 0` (staying
//!    alone has `ΔH = 0`); sub-communities are therefore connected;
//! 3. *aggregation* of the refined partition, with the unrefined partition as
//!    the initial assignment of the aggregate nodes;
//!
//! until local moving leaves every community as a single aggregate node.
//! `n_iterations` iterations are run, each starting from the previous
//! result (a negative value runs until an iteration changes nothing).
//! Quality gains are in edge-weight units, `ΔH = w(v, C) − γ k_v K_C / 2m`,
//! as in leidenalg.

use crate::analysis::community::{compact_in_place, finish, prepare, NeighborWeights, Partition, WorkGraph};
use crate::analysis::error::{AnalysisError, Result};
use crate::analysis::graph::{check_membership, Graph};
use crate::analysis::work::{self, Poll};
use crate::progress::{CancelToken, Progress};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// Options of [`leiden`].
#[derive(Debug, Clone, PartialEq)]
pub struct LeidenOptions {
    /// Resolution `γ` (1 = standard modularity).
    pub resolution: f64,
    /// Iterations of the whole algorithm: 2 by default (as scanpy); a
    /// negative value iterates until an iteration leaves the partition
    /// unchanged (or no longer improves the quality).
    pub n_iterations: i32,
    /// Randomness `θ` of the refinement step (0.01 as in the paper).
    pub theta: f64,
    /// Seed of all random choices.
    pub seed: u64,
    /// Optional starting partition (one code per node); singletons if `None`.
    pub initial_membership: Option<Vec<u32>>,
}

impl Default for LeidenOptions {
    fn default() -> Self {
        LeidenOptions { resolution: 1.0, n_iterations: 2, theta: 0.01, seed: 0, initial_membership: None }
    }
}

/// Upper bound on iterations when `n_iterations < 0`.
const MAX_ITERATIONS: usize = 1_000;
/// Relative margin a move must gain over staying put.
const GAIN_EPS: f64 = 1e-12;

/// Fast local moving with a queue. `membership` codes must be `< g.n`.
fn move_nodes_fast(
    g: &WorkGraph,
    membership: &mut [u32],
    gamma: f64,
    rng: &mut ChaCha8Rng,
    poll: &mut Poll,
) -> Result<()> {
    let n = g.n;
    let mut tot = vec![0f64; n];
    let mut count = vec![0usize; n];
    for v in 0..n {
        tot[membership[v] as usize] += g.degree[v];
        count[membership[v] as usize] += 1;
    }
    let mut empty: Vec<u32> = (0..n as u32).filter(|&c| count[c as usize] == 0).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut queue: VecDeque<usize> = order.into_iter().collect();
    let mut in_queue = vec![true; n];
    let mut nw = NeighborWeights::new(n);
    while let Some(v) = queue.pop_front() {
        poll.tick()?;
        in_queue[v] = false;
        let own = membership[v];
        let kv = g.degree[v];
        nw.collect(g, v, membership, |_| true);
        tot[own as usize] -= kv;
        count[own as usize] -= 1;
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
        // A new, empty community has gain 0 (only useful if v's community
        // keeps other members; otherwise staying is the same thing).
        if count[own as usize] > 0 && 0.0 > best_gain {
            if let Some(&e) = empty.last() {
                best = e;
                best_gain = 0.0;
            }
        }
        if best != own && best_gain - stay <= GAIN_EPS * kv.max(1e-300) {
            best = own;
        }
        tot[best as usize] += kv;
        count[best as usize] += 1;
        if best != own {
            if empty.last() == Some(&best) && count[best as usize] == 1 {
                empty.pop();
            }
            if count[own as usize] == 0 {
                empty.push(own);
            }
            membership[v] = best;
            let (idx, _) = g.neighbors(v);
            for &u in idx {
                let u = u as usize;
                if !in_queue[u] && membership[u] != best {
                    in_queue[u] = true;
                    queue.push_back(u);
                }
            }
        }
    }
    Ok(())
}

/// Refinement: returns the refined membership (codes `< g.n`, each refined
/// community inside one community of `membership`).
#[allow(clippy::needless_range_loop)]
fn refine(
    g: &WorkGraph,
    membership: &[u32],
    gamma: f64,
    theta: f64,
    rng: &mut ChaCha8Rng,
    poll: &mut Poll,
) -> Result<Vec<u32>> {
    let n = g.n;
    let mut refined: Vec<u32> = (0..n as u32).collect();
    let mut r_tot: Vec<f64> = g.degree.clone();
    let mut r_size = vec![1usize; n];
    // ext[c] = weight between refined community c and the rest of its community S.
    let mut ext = vec![0f64; n];
    for v in 0..n {
        let (idx, w) = g.neighbors(v);
        ext[v] = idx.iter().zip(w).filter(|(&u, _)| membership[u as usize] == membership[v]).map(|(_, &w)| w).sum();
    }
    // Community totals K_S and member lists.
    let mut s_tot = vec![0f64; n];
    let mut start = vec![0usize; n + 1];
    for v in 0..n {
        s_tot[membership[v] as usize] += g.degree[v];
        start[membership[v] as usize + 1] += 1;
    }
    for c in 0..n {
        start[c + 1] += start[c];
    }
    let mut fill = start.clone();
    let mut members = vec![0usize; n];
    for v in 0..n {
        let c = membership[v] as usize;
        members[fill[c]] = v;
        fill[c] += 1;
    }
    let scale = gamma / g.two_m;
    let mut nw = NeighborWeights::new(n);
    let mut cand: Vec<(u32, f64)> = Vec::new();
    for s in 0..n {
        let nodes = &members[start[s]..start[s + 1]];
        if nodes.len() < 2 {
            continue;
        }
        let ks = s_tot[s];
        // Well-connected nodes of S, in random order.
        let mut r: Vec<usize> =
            nodes.iter().copied().filter(|&v| ext[v] >= scale * g.degree[v] * (ks - g.degree[v])).collect();
        r.shuffle(rng);
        for v in r {
            poll.tick()?;
            if r_size[refined[v] as usize] != 1 {
                continue;
            }
            let own = refined[v];
            let kv = g.degree[v];
            let sv = membership[v];
            nw.collect(g, v, &refined, |u| membership[u] == sv);
            cand.clear();
            cand.push((own, 0.0));
            for &c in &nw.touched {
                if c == own {
                    continue;
                }
                let ct = r_tot[c as usize];
                if ext[c as usize] < scale * ct * (ks - ct) {
                    continue; // C is not well connected to S
                }
                let gain = nw.get(c) - scale * kv * ct;
                if gain >= 0.0 {
                    cand.push((c, gain));
                }
            }
            if cand.len() == 1 {
                continue;
            }
            let max_gain = cand.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = cand.iter().map(|&(_, gain)| ((gain - max_gain) / theta).exp()).collect();
            let total: f64 = weights.iter().sum();
            let mut x = rng.random::<f64>() * total;
            let mut chosen = cand[cand.len() - 1].0;
            for (&(c, _), &w) in cand.iter().zip(&weights) {
                if x < w {
                    chosen = c;
                    break;
                }
                x -= w;
            }
            if chosen != own {
                let w_vc = nw.get(chosen);
                let c = chosen as usize;
                ext[c] = ext[c] + ext[v] - 2.0 * w_vc;
                r_tot[c] += kv;
                r_size[c] += 1;
                r_tot[own as usize] = 0.0;
                r_size[own as usize] = 0;
                refined[v] = chosen;
            }
        }
    }
    Ok(refined)
}

/// One run of the multi-level Leiden algorithm from `initial` (membership on
/// the nodes of `g0`, codes `< g0.n`); returns the new membership.
fn leiden_iteration(
    g0: &WorkGraph,
    initial: &[u32],
    gamma: f64,
    theta: f64,
    rng: &mut ChaCha8Rng,
    poll: &mut Poll,
) -> Result<Vec<u32>> {
    let mut level_graph: Option<WorkGraph> = None;
    let mut p: Vec<u32> = initial.to_vec();
    let mut global: Vec<u32> = (0..g0.n as u32).collect();
    loop {
        let g = level_graph.as_ref().unwrap_or(g0);
        move_nodes_fast(g, &mut p, gamma, rng, poll)?;
        let n_comms = compact_in_place(&mut p);
        if n_comms == g.n {
            break;
        }
        let mut refined = refine(g, &p, gamma, theta, rng, poll)?;
        let n_refined = compact_in_place(&mut refined);
        if n_refined == g.n {
            // Refinement merged nothing: aggregation would not shrink the
            // graph, so stop here (as leidenalg does).
            break;
        }
        let mut next_p = vec![0u32; n_refined];
        for v in 0..g.n {
            next_p[refined[v] as usize] = p[v];
        }
        for x in global.iter_mut() {
            *x = refined[*x as usize];
        }
        let agg = g.aggregate(&refined, n_refined);
        level_graph = Some(agg);
        p = next_p;
    }
    Ok(global.iter().map(|&x| p[x as usize]).collect())
}

/// RBConfiguration quality in edge-weight units,
/// `Σ_c [W_c − γ K_c² / 4m]`, on the working graph.
fn quality(g: &WorkGraph, membership: &[u32], gamma: f64) -> f64 {
    let mut internal = vec![0f64; g.n];
    let mut tot = vec![0f64; g.n];
    for v in 0..g.n {
        let c = membership[v] as usize;
        tot[c] += g.degree[v];
        internal[c] += g.self_loop[v];
        let (idx, w) = g.neighbors(v);
        for (&u, &w) in idx.iter().zip(w) {
            if membership[u as usize] as usize == c {
                internal[c] += 0.5 * w;
            }
        }
    }
    internal.iter().zip(&tot).map(|(&i, &k)| i - gamma * k * k / (2.0 * g.two_m)).sum()
}

/// Leiden community detection. The graph must pass [`Graph::validate`] and
/// have at least one edge; `theta` must be positive. Deterministic for a
/// fixed seed.
///
/// Reports the iterations done to `progress` (with the number of clusters);
/// stops with [`AnalysisError::Interrupted`] within a few thousand node
/// visits once `cancel` is set.
pub fn leiden(
    graph: &Graph,
    options: &LeidenOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Partition> {
    work::check(cancel)?;
    let gamma = options.resolution;
    let g = prepare(graph, gamma)?;
    if !(options.theta.is_finite() && options.theta > 0.0) {
        return Err(AnalysisError::InvalidParameter {
            name: "theta",
            reason: format!("must be finite and positive, got {}", options.theta),
        });
    }
    let mut membership: Vec<u32> = match &options.initial_membership {
        Some(init) => {
            check_membership(graph, init)?;
            crate::analysis::labels::compact_labels(init).codes
        }
        None => (0..g.n as u32).collect(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let max_iter = if options.n_iterations < 0 { MAX_ITERATIONS } else { options.n_iterations as usize };
    progress.start("Leiden", (options.n_iterations >= 0).then_some(max_iter as u64));
    let mut poll = Poll::new(cancel);
    let mut q = quality(&g, &membership, gamma);
    for iteration in 0..max_iter {
        work::check(cancel)?;
        let mut next = leiden_iteration(&g, &membership, gamma, options.theta, &mut rng, &mut poll)?;
        let n_clusters = compact_in_place(&mut next);
        progress.update(iteration as u64 + 1, &format!("{n_clusters} clusters"));
        let q_next = quality(&g, &next, gamma);
        let unchanged =
            crate::analysis::community::canonical(&next).0 == crate::analysis::community::canonical(&membership).0;
        let improved = q_next > q + GAIN_EPS * g.two_m;
        membership = next;
        q = q_next;
        if options.n_iterations < 0 && (unchanged || !improved) {
            break;
        }
    }
    progress.finish("");
    finish(graph, &membership, gamma)
}

#[cfg(test)]
#[path = "leiden_tests.rs"]
mod tests;
