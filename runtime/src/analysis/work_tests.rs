//! Cancellation and progress of the analysis steps: a token set while a step runs on an input that takes many
//! seconds stops it within a fraction of a second, a token set before the call stops it at once, and the steps
//! report their tasks. Results of uncancelled runs are covered by each step's own tests.

use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::analysis::connectivities::umap_connectivities;
use crate::analysis::graph::Graph;
use crate::analysis::knn::knn_exact;
use crate::analysis::knn_hnsw::{knn_hnsw, HnswOptions};
use crate::analysis::leiden::{leiden, LeidenOptions};
use crate::analysis::louvain::{louvain, LouvainOptions};
use crate::analysis::resolution::resolution_for_k_clusters;
use crate::analysis::synthetic::gaussian_mixture;
use crate::analysis::tsne::{tsne, tsne_from_knn, TsneOptions};
use crate::analysis::umap::{umap, umap_layout, UmapInit, UmapOptions};
use crate::progress::NoProgress;

/// How long after the start the token is set.
const CANCEL_AFTER: Duration = Duration::from_millis(80);
/// How soon after the cancel the step must have returned (it polls every few milliseconds; the margin is for a
/// loaded machine).
const MAX_LATENCY: Duration = Duration::from_secs(1);

/// Runs `step` on another thread, sets its token after [`CANCEL_AFTER`], and checks that it returns
/// `Interrupted` (so it had not finished: the input is large enough) within [`MAX_LATENCY`] of the cancel.
fn interrupts<T>(what: &str, step: impl FnOnce(&CancelToken) -> Result<T> + Send) {
    let cancel = CancelToken::new();
    let (result, latency) = std::thread::scope(|s| {
        let running = s.spawn(|| {
            let r = step(&cancel);
            (r.err(), Instant::now())
        });
        std::thread::sleep(CANCEL_AFTER);
        let cancelled_at = Instant::now();
        cancel.cancel();
        let (r, done) = running.join().expect("the step panicked");
        (r, done.saturating_duration_since(cancelled_at))
    });
    match result {
        Some(AnalysisError::Interrupted) => {}
        None => panic!("{what} finished before the cancel: the test input is too small"),
        Some(e) => panic!("{what}: {e}"),
    }
    assert!(latency < MAX_LATENCY, "{what} returned {latency:?} after the cancel");
}

/// A token set before the call gives `Interrupted` at once.
fn stops_at_once<T>(what: &str, step: impl FnOnce(&CancelToken) -> Result<T>) {
    let cancel = CancelToken::new();
    cancel.cancel();
    let t = Instant::now();
    let r = step(&cancel);
    assert!(matches!(r, Err(AnalysisError::Interrupted)), "{what}: {:?}", r.err());
    assert!(t.elapsed() < Duration::from_millis(250), "{what} took {:?} with a cancelled token", t.elapsed());
}

/// A sparse graph of `n` nodes: a ring where each node joins its 4 successors, plus 4 random edges per node.
fn big_graph(n: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut edges = Vec::with_capacity(n * 8);
    for i in 0..n {
        for s in 1..=4 {
            edges.push((i as u32, ((i + s) % n) as u32, 1.0));
        }
        for _ in 0..4 {
            edges.push((i as u32, rng.random_range(0..n as u32), 0.5));
        }
    }
    Graph::from_edges(n, &edges).unwrap()
}

fn small_graph(n: usize) -> (Vec<f32>, Graph) {
    let (data, _) = gaussian_mixture(n, 8, 4, 3.0, 5);
    let knn = knn_exact(&data, n, 8, 14, &mut NoProgress, &CancelToken::new()).unwrap();
    let graph = umap_connectivities(&knn, 15).unwrap();
    (data, graph)
}

#[test]
fn knn_searches_stop_when_cancelled() {
    let (n, d) = (20_000, 32);
    let (data, _) = gaussian_mixture(n, d, 8, 2.0, 1);
    interrupts("knn_exact", |c| knn_exact(&data, n, d, 15, &mut NoProgress, c));
    stops_at_once("knn_exact", |c| knn_exact(&data, n, d, 15, &mut NoProgress, c));
    // cancelled while the single-threaded index is being built
    let (n, d) = (60_000, 32);
    let (data, _) = gaussian_mixture(n, d, 8, 2.0, 2);
    interrupts("knn_hnsw", |c| knn_hnsw(&data, n, d, 15, &HnswOptions::default(), &mut NoProgress, c));
    stops_at_once("knn_hnsw", |c| knn_hnsw(&data, n, d, 15, &HnswOptions::default(), &mut NoProgress, c));
}

#[test]
fn layouts_stop_when_cancelled() {
    let n = 2_000;
    let (data, graph) = small_graph(n);
    let long_umap = UmapOptions { n_epochs: Some(1_000_000), init: UmapInit::Random, ..Default::default() };
    interrupts("umap_layout", |c| umap_layout(&graph, &long_umap, &mut NoProgress, c));
    stops_at_once("umap_layout", |c| umap_layout(&graph, &UmapOptions::default(), &mut NoProgress, c));
    stops_at_once("umap", |c| umap(&data, n, 8, &UmapOptions::default(), &mut NoProgress, c));

    let knn = knn_exact(&data, n, 8, 40, &mut NoProgress, &CancelToken::new()).unwrap();
    let init: Vec<f32> = (0..2 * n).map(|i| (i as f32 * 0.618).sin() * 1e-4).collect();
    let long_tsne = TsneOptions {
        perplexity: 12.0,
        max_iter: 1_000_000,
        n_iter_without_progress: usize::MAX / 2,
        ..Default::default()
    };
    interrupts("tsne_from_knn", |c| tsne_from_knn(&knn, &init, &long_tsne, &mut NoProgress, c));
    stops_at_once("tsne", |c| tsne(&data, n, 8, &TsneOptions::default(), &mut NoProgress, c));
}

#[test]
fn community_detection_stops_when_cancelled() {
    let graph = big_graph(200_000, 3);
    let many = LeidenOptions { n_iterations: 1_000, ..Default::default() };
    interrupts("leiden", |c| leiden(&graph, &many, &mut NoProgress, c));
    stops_at_once("leiden", |c| leiden(&graph, &many, &mut NoProgress, c));
    interrupts("louvain", |c| louvain(&graph, &LouvainOptions::default(), &mut NoProgress, c));
    stops_at_once("louvain", |c| louvain(&graph, &LouvainOptions::default(), &mut NoProgress, c));
    stops_at_once("resolution search", |c| resolution_for_k_clusters(&graph, 10, 0, &mut NoProgress, c));
}

/// Records what a step reports.
#[derive(Default)]
struct Recorder {
    tasks: Vec<(String, Option<u64>)>,
    positions: Vec<u64>,
    finished: usize,
}

impl Progress for Recorder {
    fn start(&mut self, label: &str, total: Option<u64>) {
        self.tasks.push((label.to_string(), total));
        self.positions.clear();
    }
    fn update(&mut self, position: u64, _message: &str) {
        self.positions.push(position);
    }
    fn finish(&mut self, _message: &str) {
        self.finished += 1;
    }
}

impl Recorder {
    /// Positions of the last task never go back and end at `end`.
    fn ends_at(&self, end: u64) {
        assert!(self.positions.windows(2).all(|w| w[0] <= w[1]), "{:?}", self.positions);
        assert_eq!(self.positions.last(), Some(&end), "{:?}", self.tasks);
        assert_eq!(self.finished, self.tasks.len());
    }
}

#[test]
fn steps_report_their_progress() {
    let n = 300;
    let (data, graph) = small_graph(n);
    let mut p = Recorder::default();
    let layout =
        umap(&data, n, 8, &UmapOptions { n_epochs: Some(50), ..Default::default() }, &mut p, &CancelToken::new())
            .unwrap();
    assert_eq!(
        p.tasks,
        vec![("nearest neighbours (exact)".to_string(), Some(n as u64)), ("UMAP".to_string(), Some(50))]
    );
    p.ends_at(layout.n_epochs as u64);

    let mut p = Recorder::default();
    let t = tsne(
        &data,
        n,
        8,
        &TsneOptions { perplexity: 10.0, max_iter: 300, ..Default::default() },
        &mut p,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(p.tasks.last(), Some(&("t-SNE".to_string(), Some(300))));
    p.ends_at(t.n_iter as u64 + 1);

    let mut p = Recorder::default();
    let clusters = leiden(&graph, &LeidenOptions::default(), &mut p, &CancelToken::new()).unwrap();
    assert_eq!(p.tasks, vec![("Leiden".to_string(), Some(2))]);
    p.ends_at(2);
    assert!(clusters.n_communities > 1);

    let mut p = Recorder::default();
    knn_hnsw(&data, n, 8, 10, &HnswOptions::default(), &mut p, &CancelToken::new()).unwrap();
    p.ends_at(n as u64);
}

#[test]
fn steps_cover_the_range_in_aligned_pieces_and_stop_when_cancelled() {
    let mut seen = Vec::new();
    let mut p = Recorder::default();
    in_steps(100_003, 64, &mut p, &CancelToken::new(), |r| seen.push(r)).unwrap();
    assert_eq!(seen.first().unwrap().start, 0);
    assert_eq!(seen.last().unwrap().end, 100_003);
    assert!(seen.windows(2).all(|w| w[0].end == w[1].start && w[0].len() % 64 == 0));
    assert!(seen.len() <= STEPS + 1, "{}", seen.len());
    assert_eq!(p.positions, seen.iter().map(|r| r.end as u64).collect::<Vec<_>>());

    let cancel = CancelToken::new();
    let mut calls = 0;
    let e = in_steps(100_000, 1, &mut NoProgress, &cancel, |_| {
        calls += 1;
        cancel.cancel();
    });
    assert_eq!(e, Err(AnalysisError::Interrupted));
    assert_eq!(calls, 1);
}

#[test]
fn poll_checks_every_few_thousand_ticks() {
    let cancel = CancelToken::new();
    cancel.cancel();
    let mut poll = Poll::new(&cancel);
    let ok = (1..POLL_EVERY).map(|_| poll.tick()).filter(Result::is_ok).count();
    assert_eq!(ok as u32, POLL_EVERY - 1);
    assert_eq!(poll.tick(), Err(AnalysisError::Interrupted));
}
