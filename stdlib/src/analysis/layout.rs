//! 2-D layouts: `umap` and `tsne`.

use gscript_lang::rhai::Dynamic;
use gscript_lang::{primitive_error, FnDoc, OptDefault, Registrar};
use gscript_runtime::analysis::layout_init::SpectralInfo;
use gscript_runtime::analysis::tsne::TsneInit;
use gscript_runtime::analysis::umap::InitUsed;
use gscript_runtime::analysis::{tsne, umap_layout, TsneOptions, UmapOptions};

use super::clustering::{build, NeighborGraph};
use super::dense;
use crate::bridge::{cancel_token, in_primitive, register1, SessionProgress};
use crate::values::Matrix;

fn named(m: Matrix, prefix: &str, rows: Option<std::sync::Arc<Vec<String>>>) -> Matrix {
    let mut m = m.with_col_names(vec![format!("{prefix}1"), format!("{prefix}2")]);
    m.row_names = rows;
    m
}

pub fn register(reg: &mut Registrar) {
    let doc = FnDoc::new("umap", "analysis", "umap(x: Matrix | NeighborGraph, options?: map) -> Matrix", "UMAP layout (cells × 2) as scanpy's tl.umap: fuzzy-set graph, spectral initialisation, seeded SGD.")
        .details(
            "From a Matrix, neighbors(x, #{k: n_neighbors}) is built first; from a NeighborGraph its connectivities are used (build it \
             with method \"umap\"). Defaults follow scanpy (min_dist 0.5, spread 1.0, 200 epochs above 10,000 cells, else 500). \
             Deterministic for a seed. Trustworthiness at k = 15 matches umap-learn's on the same data (see docs/fidelity.md).",
        )
        .opt("n_neighbors", "int", OptDefault::Int(15), "neighbourhood size when x is a Matrix (the cell included)")
        .opt("min_dist", "float", OptDefault::Float(0.5), "minimum distance between embedded points")
        .opt("spread", "float", OptDefault::Float(1.0), "scale of the embedded points")
        .opt("n_epochs", "int", OptDefault::None, "optimisation epochs (default 200 or 500 by size)")
        .opt("seed", "int", OptDefault::Int(0), "random seed")
        .example("let sim = simulate_atac(#{n_cells: 80, n_peaks: 300});\nlet xy = umap(lsi(sim.data, #{n: 10}));\nshow(plot_embedding(xy, #{color: sim.data.obs(\"cell_type\")}));");
    let host = reg.host.clone();
    register1(reg, doc, move |x: Dynamic, o| {
        const P: &str = "umap";
        let g = if let Some(g) = x.clone().try_cast::<NeighborGraph>() {
            g
        } else if let Some(m) = x.clone().try_cast::<Matrix>() {
            build(&host, P, &m, o.int_at_least("n_neighbors", 2)?.unwrap() as usize, "umap", "auto")?
        } else {
            return Err(primitive_error(
                P,
                Some("x"),
                &format!("expected a Matrix or a NeighborGraph, got {}", x.type_name()),
            ));
        };
        let opts = UmapOptions {
            min_dist: o.float("min_dist")?.unwrap(),
            spread: o.float("spread")?.unwrap(),
            n_epochs: o.int_at_least("n_epochs", 1)?.map(|e| e as usize),
            seed: o.int("seed")?.unwrap() as u64,
            ..UmapOptions::default()
        };
        let layout = umap_layout(&g.graph, &opts, &mut SessionProgress::new(&host), &cancel_token(&host))
            .map_err(in_primitive(P))?;
        if let InitUsed::Spectral(SpectralInfo { n_components, converged, .. }) = layout.init {
            if n_components > 1 {
                host.warn(&format!("umap: the neighbour graph has {n_components} disconnected components; they are laid out side by side"));
            }
            if !converged {
                host.warn(
                    "umap: the spectral initialisation did not fully converge; the layout starts from its last iterate",
                );
            }
        }
        Ok(named(Matrix::new(g.knn.n, 2, layout.embedding), "UMAP", g.source.row_names.clone()))
    });

    let doc = FnDoc::new("tsne", "analysis", "tsne(x: Matrix, options?: map) -> Matrix", "Barnes-Hut t-SNE layout (cells × 2) as scikit-learn's TSNE.")
        .details("Perplexity 30, early exaggeration 12 for 250 iterations, learning rate \"auto\", PCA initialisation, θ = 0.5; seeded and deterministic.")
        .opt("perplexity", "float", OptDefault::Float(30.0), "effective number of neighbours (below the number of cells)")
        .opt("max_iter", "int", OptDefault::Int(1000), "iterations")
        .opt("init", "string", OptDefault::Str("pca"), "\"pca\" or \"random\"")
        .opt("seed", "int", OptDefault::Int(0), "random seed")
        .example("let sim = simulate_atac(#{n_cells: 80, n_peaks: 300});\nlet xy = tsne(lsi(sim.data, #{n: 10}), #{perplexity: 10.0, max_iter: 300});\nprint(xy);");
    let host = reg.host.clone();
    register1(reg, doc, move |x: Matrix, o| {
        const P: &str = "tsne";
        let opts = TsneOptions {
            perplexity: o.float("perplexity")?.unwrap(),
            max_iter: o.int_at_least("max_iter", 251)?.unwrap() as usize,
            init: if o.choice("init", &["pca", "random"])?.as_deref() == Some("random") {
                TsneInit::Random
            } else {
                TsneInit::Pca
            },
            seed: o.int("seed")?.unwrap() as u64,
            ..TsneOptions::default()
        };
        let (data, n, d) = dense(&x);
        let layout =
            tsne(data, n, d, &opts, &mut SessionProgress::new(&host), &cancel_token(&host)).map_err(in_primitive(P))?;
        Ok(named(Matrix::new(n, 2, layout.embedding), "tSNE", x.row_names.clone()))
    });
}
