//! The analysis toolkit through the language: planted cell types are recovered by clustering an embedding, metrics
//! behave as defined, and bad inputs give clear errors.

mod common;

use common::{err, eval, session};
use gscript_lang::Session;

fn float(s: &mut Session, code: &str) -> f64 {
    eval(s, code).as_float().unwrap_or_else(|t| panic!("{code}: not a float but {t}"))
}

#[test]
fn clustering_an_lsi_embedding_recovers_the_planted_cell_types() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, "let sim = simulate_atac(#{n_cells: 400, n_peaks: 2000, n_cell_types: 4, seed: 11}); let d = sim.data; let types = d.obs(\"cell_type\");");
    let _ = eval(&mut s, "let emb = lsi(d, #{n: 15}); let g = neighbors(emb, #{k: 15});");
    let ari = float(&mut s, "ari(types, leiden(g, #{n_clusters: 4}))");
    assert!(ari > 0.95, "ARI {ari}");
    assert_eq!(eval(&mut s, "leiden(g, #{n_clusters: 4}).len()").as_int().unwrap(), 400);
    let n_clusters = eval(
        &mut s,
        "let c = leiden(g, #{resolution: 0.5}); let seen = #{}; for x in c { seen[x] = true; } seen.len()",
    )
    .as_int()
    .unwrap();
    assert!((2..=12).contains(&n_clusters), "{n_clusters}");
    let approx = float(&mut s, "ari(types, leiden(neighbors(emb, #{k: 15, algorithm: \"hnsw\"}), #{n_clusters: 4}))");
    assert!(approx > 0.95, "ARI on the HNSW graph {approx}");
    let louv = float(&mut s, "ari(types, louvain(g, #{resolution: 0.3}))");
    assert!(louv > 0.5, "louvain ARI {louv}");
    // paper metrics: cell types are far better separated than a random labelling
    let ls = eval(&mut s, "label_score(emb, types, #{k: [10, 50]})").cast::<gscript_lang::rhai::Map>();
    let l10 = ls["10"].as_float().unwrap();
    assert!(l10 > 0.9, "label score {l10}");
    let _ =
        eval(&mut s, "let shuffled = []; for i in 0..types.len() { shuffled.push(types[(i * 7919) % types.len()]); }");
    assert!(float(&mut s, "label_score(emb, shuffled, #{k: 10})[\"10\"]") < 0.5);
    let asw = float(&mut s, "cell_type_asw(emb, types)");
    assert!(asw > 0.55 && asw <= 1.0, "{asw}");
    assert!((float(&mut s, "silhouette(emb, types)") - (2.0 * asw - 1.0)).abs() < 1e-12);
    // identical embeddings share all neighbours; PCA of an embedding keeps the neighbourhoods of its leading axes
    assert!((float(&mut s, "neighbor_score(emb, emb, #{k: 10})[\"10\"]") - 1.0).abs() < 1e-12);
    let pc = float(&mut s, "neighbor_score(emb, pca(emb, #{n: 15}), #{k: 10})[\"10\"]");
    assert!(pc > 0.99, "{pc}");
    // batch mixing: labels independent of the embedding mix well, labels equal to the cell types do not
    let _ = eval(&mut s, "let lanes = types.map(|t, i| if i % 2 == 0 { \"a\" } else { \"b\" });");
    let mixed = float(&mut s, "ilisi(emb, lanes)");
    let _ = eval(&mut s, "let first = types[0]; let two = types.map(|t| if t == first { \"x\" } else { \"y\" });");
    let separated = float(&mut s, "ilisi(emb, two)");
    assert!(mixed > 1.6 && separated < 1.3, "iLISI mixed {mixed}, separated {separated}");
    assert!(float(&mut s, "kbet(emb, lanes)") > 0.7);
    assert!(float(&mut s, "kbet(emb, types)") < 0.2);
}

#[test]
fn metrics_follow_their_definitions() {
    let (mut s, _dir) = session();
    assert!((float(&mut s, "ari([\"a\", \"a\", \"b\", \"b\"], [1, 1, 0, 0])") - 1.0).abs() < 1e-12);
    assert!(float(&mut s, "ari([0, 0, 1, 1], [0, 1, 0, 1])") < 0.0);
    assert!((float(&mut s, "homogeneity([0, 0, 1, 1], [0, 1, 2, 3])") - 1.0).abs() < 1e-12);
    assert!(float(&mut s, "completeness([0, 0, 1, 1], [0, 1, 2, 3])") < 0.6);
    assert!((float(&mut s, "auroc([0.1, 0.9, 0.4, 0.8], [false, true, false, true])") - 1.0).abs() < 1e-12);
    assert!((float(&mut s, "auroc([0.5, 0.5], [false, true])") - 0.5).abs() < 1e-12);
    assert!(
        (float(&mut s, "average_precision([0.9, 0.8, 0.1], [true, false, true])") - (1.0 + 2.0 / 3.0) / 2.0).abs()
            < 1e-12
    );
    assert!((float(&mut s, "pearson([1, 2, 3], [2, 4, 6])") - 1.0).abs() < 1e-12);
    assert!((float(&mut s, "spearman([1, 2, 3, 4], [1, 8, 27, 64])") - 1.0).abs() < 1e-12);
    let m = eval(&mut s, "let m = matrix([[1, 0], [0, 1], [2, 2]]); scale(m).to_array()").into_array().unwrap();
    let first: Vec<f64> = m.iter().map(|r| r.clone().into_array().unwrap()[0].as_float().unwrap()).collect();
    // column 0 is 1, 0, 2: mean 1, standard deviation 1 (ddof 1)
    assert_eq!(first, vec![0.0, -1.0, 1.0]);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let (mut s, _dir) = session();
    let e = err(&mut s, "neighbors(matrix([[1, 2], [3, 4], [5, 6]]), #{k: 5})");
    assert!(e.contains("k = 5 (the cell included) needs at least 5 cells, but the matrix has 3 rows"), "{e}");
    let e = err(&mut s, "let nan = 0.0 / 0.0; pca(matrix([[1, 2], [3, 4], [5, nan], [7, 8]]), #{n: 1})");
    assert!(e.contains("non-finite") && e.contains("row 2"), "{e}");
    let e = err(&mut s, "silhouette(matrix([[1, 2], [3, 4]]), [\"a\", \"b\", \"c\"])");
    assert!(e.contains("has 3 labels but the matrix (rows) has 2"), "{e}");
    let e = err(&mut s, "ari([0, 1], [0, 1, 1])");
    assert!(e.contains("has 3 labels but truth has 2"), "{e}");
    let e = err(&mut s, "leiden(neighbors(matrix([[0, 0], [0, 1], [5, 5], [5, 6]]), #{k: 2}), #{resolution: -1.0})");
    assert!(e.contains("resolution"), "{e}");
    let e = err(&mut s, "label_score(matrix([[0, 0], [0, 1], [5, 5]]), [\"a\", \"a\", \"b\"], #{k: 0})");
    assert!(e.contains("not a positive integer"), "{e}");
    let e = err(&mut s, "pca(matrix([[1, 2]]))");
    assert!(e.contains("at least 2 rows"), "{e}");
    let e = err(&mut s, "matrix([[1, 2], [3]])");
    assert!(e.contains("row 1 has 1 values"), "{e}");
    let e = err(&mut s, "leiden(42)");
    assert!(e.contains("expected a NeighborGraph"), "{e}");
}

#[test]
fn layouts_keep_cell_types_together() {
    let (mut s, _dir) = session();
    let _ = eval(&mut s, "let sim = simulate_atac(#{n_cells: 240, n_peaks: 1500, n_cell_types: 3, seed: 5}); let types = sim.data.obs(\"cell_type\"); let emb = lsi(sim.data, #{n: 10});");
    let _ =
        eval(&mut s, "let u = umap(emb, #{seed: 1}); let t = tsne(emb, #{perplexity: 20.0, max_iter: 400, seed: 1});");
    assert_eq!(
        eval(&mut s, "u.shape()").into_array().unwrap().iter().map(|v| v.as_int().unwrap()).collect::<Vec<_>>(),
        vec![240, 2]
    );
    for layout in ["u", "t"] {
        let agree = float(&mut s, &format!("label_score({layout}, types, #{{k: 10}})[\"10\"]"));
        assert!(agree > 0.9, "{layout}: 2-D label agreement {agree}");
    }
    // seeded: the same call gives the same layout; a graph built explicitly gives the same UMAP as the matrix
    assert!(eval(&mut s, "umap(emb, #{seed: 1}).to_array() == u.to_array()").as_bool().unwrap());
    assert!(eval(&mut s, "umap(neighbors(emb, #{k: 15}), #{seed: 1}).to_array() == u.to_array()").as_bool().unwrap());
    let e = err(&mut s, "tsne(emb, #{perplexity: 500.0})");
    assert!(e.contains("perplexity"), "{e}");
    let e = err(&mut s, "umap(\"cells\")");
    assert!(e.contains("expected a Matrix or a NeighborGraph"), "{e}");
    let e = err(&mut s, "neighbors(emb, #{method: \"cosine\"})");
    assert!(e.contains("\"cosine\" is not one of"), "{e}");
}

#[test]
fn an_interrupt_stops_layouts_and_clustering_as_it_stops_training() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use gscript_lang::{CaptureSink, ErrorKind, SinkEvent};

    let sink = std::sync::Arc::new(CaptureSink::default());
    let mut s = Session::new(sink.clone(), &[&gscript_stdlib::StdLib]);
    let out = tempfile::tempdir().unwrap();
    s.host().set_out_dir(out.path());
    let _ = eval(&mut s, "let sim = simulate_atac(#{n_cells: 200, n_peaks: 800, n_cell_types: 3, seed: 2}); let emb = lsi(sim.data, #{n: 10}); let big = lsi(simulate_atac(#{n_cells: 1500, n_peaks: 400, n_cell_types: 3, seed: 2}).data, #{n: 10});");
    // each of these runs for minutes unless interrupted (t-SNE on 1,500 cells: on 200 it can converge — 300
    // iterations without progress — before the interrupt arrives)
    for (code, label) in
        [("umap(emb, #{n_epochs: 10000000})", "UMAP"), ("tsne(big, #{perplexity: 10.0, max_iter: 10000000})", "t-SNE")]
    {
        sink.take();
        let flag = s.host().interrupt_flag();
        let done = std::sync::Arc::new(AtomicBool::new(false));
        let finished = done.clone();
        // interrupts once the evaluation is under way (and again, should the evaluation have cleared the flag on start)
        let interrupter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            let first = Instant::now();
            while !finished.load(Ordering::SeqCst) {
                flag.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
            first
        });
        let e = s.eval(code, "<test>").expect_err(code);
        let returned = Instant::now();
        done.store(true, Ordering::SeqCst);
        let interrupted_at = interrupter.join().unwrap();
        assert_eq!(e.kind, ErrorKind::Interrupted, "{code}: {}", e.render());
        let latency = returned.saturating_duration_since(interrupted_at);
        assert!(latency < Duration::from_secs(2), "{code} returned {latency:?} after the interrupt");
        // its progress bar was started and ended as interrupted
        let events = sink.take();
        let id = events
            .iter()
            .find_map(|ev| match ev {
                SinkEvent::ProgressStart(id, st) if st.label == label => Some(*id),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{code}: no {label} progress in {events:?}"));
        assert!(
            events
                .iter()
                .any(|ev| matches!(ev, SinkEvent::ProgressFinish(i, st) if *i == id && st.message == "interrupted")),
            "{code}: {events:?}"
        );
    }
    // the session goes on
    assert_eq!(eval(&mut s, "emb.shape()[0]").as_int().unwrap(), 200);
}
