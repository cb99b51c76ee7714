//! Script-level bad-input corpus: each case is a short gscript snippet on tiny simulated data that must fail with an
//! error (never a panic, which the session reports as "a bug in gscript") whose message contains the given substrings:
//! the argument or option at fault and what is wrong with it. Wrong types, unknown options, NaN/Inf in matrices and
//! arrays, empty datasets and zero cells, one peak, mismatched barcodes and lengths, zero/negative sizes.
//!
//! `GSCRIPT_CORPUS_PRINT=1 cargo test --test corpus_primitives -- --nocapture` prints every case's message.

mod common;

use common::session;

/// Evaluated once before the cases: tiny data, an embedding, a 1-epoch tiny model, NaN and Inf.
const PRELUDE: &str = r#"
let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, n_cell_types: 2, seed: 1});
let d = sim.data;
let emb = lsi(d, #{n: 5});
let labels = d.obs("cell_type");
let nan = 0.0 / 0.0;
let inf = 1.0 / 0.0;
let rows = [];
for i in 0..20 { rows.push([i * 0.5, (i % 3) * 1.0]); }
rows[1][0] = nan;
let bad_nan = matrix(rows);
rows[1][0] = inf;
let bad_inf = matrix(rows);
let rev = [];
for i in 0..40 { rev.push(39 - i); }
let model = train_scbasset(d, #{preset: "tiny", epochs: 1, batch_size: 32, seed: 1});
let other = simulate_atac(#{n_cells: 30, n_peaks: 120, n_cell_types: 2, seed: 2}).data;
"#;

/// (snippet, substrings the error message must contain).
const CASES: &[(&str, &[&str])] = &[
    // --- wrong types and unknown options
    (r#"simulate_atac(#{n_cells: "many"})"#, &["n_cells", "int"]),
    (r#"simulate_atac(#{n_cellz: 5})"#, &["n_cellz", "n_cells"]),
    (r#"simulate_atac(#{dropout: "high"})"#, &["dropout"]),
    (r#"lsi(d, #{n: "ten"})"#, &["n", "int"]),
    (r#"neighbors(emb, #{k: 2.5})"#, &["k", "int"]),
    (r#"neighbors(emb, #{method: "cosine"})"#, &["method", "cosine"]),
    (r#"umap(emb, #{min_dist: "small"})"#, &["min_dist"]),
    (r#"train_scbasset(d, #{preset: "tiny", epochs: "2"})"#, &["epochs", "int"]),
    (r#"train_scbasset(d, #{preset: "huge"})"#, &["preset", "huge"]),
    (r#"train_scbasset(d, #{preset: "tiny", epoch: 1})"#, &["epoch", "epochs"]),
    (r#"plot_hist([1.0, 2.0], #{bins: "four"})"#, &["bins"]),
    (r#"matrix([[1.0, "a"], [2.0, 3.0]])"#, &["rows", "row 0, column 1", "not a number"]),
    (r#"matrix([[1.0, 2.0], [3.0]])"#, &["rows", "row 1 has 1 values"]),
    // --- NaN / Inf in matrices and arrays
    (r#"neighbors(bad_nan, #{k: 3})"#, &["argument `x`", "NaN", "row 1"]),
    (r#"neighbors(bad_inf, #{k: 3})"#, &["argument `x`", "infinity", "row 1"]),
    (r#"umap(bad_nan, #{n_neighbors: 3})"#, &["argument `x`", "NaN", "row 1"]),
    (r#"leiden(bad_nan, #{seed: 1})"#, &["graph", "NaN", "row 1"]),
    (r#"pca(bad_nan, #{n: 2})"#, &["argument `x`", "NaN", "row 1"]),
    (r#"tsne(bad_inf, #{perplexity: 2.0})"#, &["argument `x`", "infinity", "row 1"]),
    (r#"scale(bad_nan)"#, &["argument `x`", "NaN", "row 1"]),
    (r#"silhouette(bad_nan, rows.map(|r, i| if i < 10 { "a" } else { "b" }))"#, &["argument `x`", "NaN", "row 1"]),
    (r#"pearson([1.0, nan, 3.0], [1.0, 2.0, 3.0])"#, &["argument `x`", "NaN", "row 1"]),
    (r#"auroc([0.1, nan, 0.3], [true, false, true])"#, &["argument `scores`", "NaN", "row 1"]),
    (r#"plot_hist([nan, inf])"#, &["values", "finite"]),
    // --- empty datasets, zero cells, one peak
    (r#"simulate_atac(#{n_cells: 0})"#, &["n_cells"]),
    (r#"simulate_atac(#{n_peaks: -5})"#, &["n_peaks"]),
    (r#"simulate_atac(#{n_cell_types: 0})"#, &["n_cell_types"]),
    (r#"lsi(d.select_cells([]))"#, &["argument `cells`", "empty"]),
    (r#"d.select_cells([0]).select_cells([])"#, &["argument `cells`", "empty"]),
    (
        r#"train_scbasset(simulate_atac(#{n_cells: 20, n_peaks: 1, seed: 3}).data, #{preset: "tiny", epochs: 1})"#,
        &["peak"],
    ),
    (r#"matrix([])"#, &["rows", "empty"]),
    (r#"ari([], [])"#, &["empty"]),
    (r#"plot_hist([])"#, &["values", "empty"]),
    (r#"pca(emb, #{n: 0})"#, &["n", "0"]),
    (r#"lsi(d, #{n: 0})"#, &["n", "0"]),
    // --- mismatched lengths and barcodes
    (r#"ari(["a", "b", "a"], ["a", "b"])"#, &["3", "2"]),
    (r#"pearson([1.0, 2.0, 3.0], [1.0, 2.0])"#, &["3", "2"]),
    (r#"silhouette(emb, ["a", "b"])"#, &["labels", "2", "40"]),
    (r#"kbet(emb, ["a", "b"])"#, &["batches", "2", "40"]),
    (r#"label_score(emb, ["a"])"#, &["labels", "40"]),
    (
        r#"plot_embedding(umap(emb, #{n_neighbors: 5}), #{color: ["a", "b"]})"#,
        &["argument `color`", "2 entries", "40 points"],
    ),
    (
        r#"plot_embedding(umap(emb, #{n_neighbors: 5}), #{color: [1.0, 2.0, 3.0]})"#,
        &["argument `color`", "3 entries", "40 points"],
    ),
    (r#"d.set_obs("batch", ["b1", "b2"])"#, &["batch", "2", "40"]),
    (r#"d.select_cells(["no-such-barcode"])"#, &["no-such-barcode"]),
    (r#"d.obs("no_such_column")"#, &["no_such_column"]),
    (r#"model.denoise(other)"#, &["argument `data`", "40 cells", "30"]),
    (r#"model.denoise(d.select_cells(rev))"#, &["argument `data`", "`cell00039` in the data", "another order"]),
    (r#"model.write_denoised(other, out_path("x.h5ad"))"#, &["argument `data`", "40 cells", "30"]),
    (
        r#"model.write_denoised(d.select_cells(rev), out_path("y.h5ad"))"#,
        &["argument `data`", "`cell00039` in the data", "another order"],
    ),
    (
        r#"lora_finetune(model, d, #{head: "decoder", cell_embedding: emb.select_rows([0, 1, 2]), epochs: 1, rank: 2})"#,
        &["cell_embedding", "3", "40"],
    ),
    (r#"cell_auroc(matrix([[0.5], [0.5]]), d.select_cells([0]))"#, &["pred", "2", "120"]),
    // --- zero, negative and non-finite sizes and rates
    (r#"train_scbasset(d, #{preset: "tiny", epochs: 0})"#, &["epochs"]),
    (r#"train_scbasset(d, #{preset: "tiny", batch_size: 0})"#, &["batch_size"]),
    (r#"train_scbasset(d, #{preset: "tiny", epochs: 1, lr: nan})"#, &["lr"]),
    (r#"train_scbasset(d, #{preset: "tiny", epochs: 1, lr: -0.1})"#, &["lr"]),
    (r#"train_scbasset(d, #{preset: "tiny", epochs: 1, batch: "no_such_column"})"#, &["batch", "no_such_column"]),
    (r#"neighbors(emb, #{k: 0})"#, &["k"]),
    (r#"neighbors(emb, #{k: 1000})"#, &["k", "40"]),
    (r#"leiden(neighbors(emb), #{resolution: -1.0})"#, &["resolution"]),
    (r#"leiden(neighbors(emb), #{n_clusters: 0})"#, &["n_clusters"]),
    (r#"umap(emb, #{n_epochs: 0})"#, &["n_epochs"]),
    (r#"tsne(emb, #{perplexity: 100.0})"#, &["perplexity"]),
    (r#"plot_hist([1.0, 2.0], #{bins: 0})"#, &["bins"]),
    (r#"plot_hist([1.0, 2.0], #{width: -10})"#, &["width"]),
];

#[test]
fn bad_script_inputs_are_errors_naming_the_argument() {
    let (mut s, _dir) = session();
    let _prelude = s.eval(PRELUDE, "<prelude>").unwrap_or_else(|e| panic!("{}", e.render()));
    let print = std::env::var_os("GSCRIPT_CORPUS_PRINT").is_some();
    let mut failures = Vec::new();
    for (code, needles) in CASES {
        let outcome = s.eval(code, "<case>");
        let message = match &outcome {
            Ok(v) => {
                failures.push(format!("{code}\n    no error (returned {v})"));
                continue;
            }
            Err(e) => e.message.clone(),
        };
        if print {
            println!("{code}\n    -> {message}");
        }
        if message.contains("this is a bug in gscript") {
            failures.push(format!("{code}\n    panicked: {message}"));
            continue;
        }
        let missing: Vec<&str> = needles.iter().copied().filter(|n| !message.contains(n)).collect();
        if !missing.is_empty() {
            failures.push(format!("{code}\n    error lacks {missing:?}: {message}"));
        }
    }
    assert!(CASES.len() >= 40);
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}
