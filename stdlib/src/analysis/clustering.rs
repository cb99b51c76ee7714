//! Neighbour graphs and clustering: `neighbors` → `NeighborGraph`, `leiden`, `louvain` (with the paper's protocol of
//! searching the resolution that gives a number of clusters).

use std::sync::Arc;

use gscript_lang::rhai::Array;
use gscript_lang::{primitive_error, FnDoc, Host, MimeBundle, OptDefault, Options, Registrar};
use gscript_runtime::analysis::connectivities::{jaccard_connectivities, umap_connectivities};
use gscript_runtime::analysis::knn::knn_exact;
use gscript_runtime::analysis::knn_hnsw::{knn_hnsw, HnswOptions};
use gscript_runtime::analysis::resolution::resolution_for_k_clusters;
use gscript_runtime::analysis::{leiden, louvain, Graph, Knn, LeidenOptions, LouvainOptions, Partition};

use super::dense;
use crate::bridge::{cancel_token, in_primitive, register1, ScriptResult, SessionProgress};
use crate::values::Matrix;

/// A k-nearest-neighbour graph of the rows of a matrix, with the weighted graph clustering runs on.
#[derive(Clone)]
pub struct NeighborGraph {
    pub knn: Arc<Knn>,
    pub graph: Arc<Graph>,
    /// How `graph` was built from `knn`.
    pub method: String,
    /// The matrix the neighbours were computed from (for layouts).
    pub source: Matrix,
}

impl NeighborGraph {
    fn text(&self) -> String {
        format!(
            "NeighborGraph({} cells, k = {}, {} edges, {})",
            self.knn.n,
            self.knn.k,
            self.graph.n_edges(),
            self.method
        )
    }
}

/// The graph to cluster: a NeighborGraph, or a matrix from which one is built with default settings.
fn graph_of(host: &Arc<Host>, v: &gscript_lang::rhai::Dynamic, primitive: &str) -> ScriptResult<NeighborGraph> {
    if let Some(g) = v.clone().try_cast::<NeighborGraph>() {
        return Ok(g);
    }
    if let Some(m) = v.clone().try_cast::<Matrix>() {
        // named here: the graph is built from the matrix, whose argument is `graph` in this primitive
        if let Some(row) = (0..m.rows).find(|&r| m.row(r).iter().any(|x| !x.is_finite())) {
            return Err(primitive_error(
                primitive,
                Some("graph"),
                &format!("the matrix contains a non-finite value (NaN or infinity) in row {row}"),
            ));
        }
        return build(host, primitive, &m, 15, "umap", "auto");
    }
    Err(primitive_error(
        primitive,
        Some("graph"),
        &format!("expected a NeighborGraph (from neighbors) or a Matrix, got {}", v.type_name()),
    ))
}

/// Cells above which `algorithm: "auto"` switches from the exact search to the HNSW index.
const EXACT_LIMIT: usize = 300_000;

/// `k` counts the cell itself, as scanpy's `n_neighbors`: the search returns `k − 1` other cells. The search reports
/// progress to the session and stops when it is interrupted.
pub(crate) fn build(
    host: &Arc<Host>,
    primitive: &str,
    x: &Matrix,
    k: usize,
    method: &str,
    algorithm: &str,
) -> ScriptResult<NeighborGraph> {
    if k < 2 {
        return Err(primitive_error(primitive, Some("k"), &format!("{k} is below 2 (k counts the cell itself)")));
    }
    let (data, n, d) = dense(x);
    if n < k {
        return Err(primitive_error(
            primitive,
            Some("k"),
            &format!("k = {k} (the cell included) needs at least {k} cells, but the matrix has {n} rows"),
        ));
    }
    let approximate = algorithm == "hnsw" || (algorithm == "auto" && n > EXACT_LIMIT);
    let (progress, cancel) = (&mut SessionProgress::new(host), &cancel_token(host));
    let knn = if approximate {
        knn_hnsw(data, n, d, k - 1, &HnswOptions::default(), progress, cancel)
    } else {
        knn_exact(data, n, d, k - 1, progress, cancel)
    }
    .map_err(in_primitive(primitive))?;
    let (graph, label) = match method {
        "umap" => (umap_connectivities(&knn, k), "UMAP fuzzy-set connectivities"),
        "jaccard" => (jaccard_connectivities(&knn, k - 1), "Jaccard shared neighbours"),
        _ => (Graph::from_knn(&knn), "kNN union, unweighted"),
    };
    let graph = graph.map_err(in_primitive(primitive))?;
    let search = if approximate { "HNSW search" } else { "exact search" };
    Ok(NeighborGraph {
        knn: Arc::new(knn),
        graph: Arc::new(graph),
        method: format!("{label}, {search}"),
        source: x.clone(),
    })
}

fn partition_labels(p: &Partition) -> Array {
    // clusters numbered by decreasing size, as scanpy's categories are by convention
    let mut sizes = vec![0usize; p.n_communities];
    for &c in &p.membership {
        sizes[c as usize] += 1;
    }
    let mut order: Vec<usize> = (0..p.n_communities).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(sizes[c]), c));
    let mut rank = vec![0usize; p.n_communities];
    for (r, &c) in order.iter().enumerate() {
        rank[c] = r;
    }
    p.membership.iter().map(|&c| rank[c as usize].to_string().into()).collect()
}

/// `n_clusters` given: the resolution search of the paper's protocol; else a run at `resolution`.
fn cluster(
    host: &Arc<Host>,
    primitive: &str,
    g: &NeighborGraph,
    o: &Options,
    search: bool,
    run: &dyn Fn(f64, u64) -> ScriptResult<Partition>,
) -> ScriptResult<Array> {
    let seed = o.int("seed")?.unwrap() as u64;
    let k = if search { o.int_at_least("n_clusters", 1)? } else { None };
    let part = match k {
        Some(k) => {
            resolution_for_k_clusters(&g.graph, k as usize, seed, &mut SessionProgress::new(host), &cancel_token(host))
                .map_err(in_primitive(primitive))?
                .1
        }
        None => {
            let r = o.float("resolution")?.unwrap();
            if !(r.is_finite() && r > 0.0) {
                return Err(primitive_error(primitive, Some("resolution"), &format!("{r} is not a positive number")));
            }
            run(r, seed)?
        }
    };
    Ok(partition_labels(&part))
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<NeighborGraph>("NeighborGraph");
    reg.host.register_renderer::<NeighborGraph>(|g| MimeBundle::plain(g.text()));
    reg.engine.register_fn("to_string", |g: &mut NeighborGraph| g.text());
    reg.docs.add(FnDoc::method("NeighborGraph", "to_string", "analysis", "graph.to_string() -> string", "Cells, k, edges and how the graph was built.").example("let d = simulate_atac(#{n_cells: 60, n_peaks: 150}).data;\nlet g = neighbors(lsi(d, #{n: 10}), #{k: 10});\nprint(g.to_string());"));

    let doc = FnDoc::new("neighbors", "analysis", "neighbors(x: Matrix, options?: map) -> NeighborGraph", "Exact k-nearest-neighbour graph of the rows (Euclidean), for clustering and layouts.")
        .details(
            "Exact search, parallel over cells, up to 300,000 cells (where it is still faster than building an index here); above that (or with `algorithm: \"hnsw\"`) an HNSW index \
             (approximate, recall ≈ 0.98–1 at k = 15, seeded). `k` counts the cell itself, as scanpy's n_neighbors. Edge weights: \"umap\" (default) are \
             the fuzzy-set connectivities scanpy's pp.neighbors computes (agreeing with it to ~1e-5), \"jaccard\" the shared-neighbour \
             overlap (PhenoGraph), \"knn\" joins two cells with weight 1 when either is among the other's neighbours.",
        )
        .opt("k", "int", OptDefault::Int(15), "neighbourhood size, the cell included")
        .opt("method", "string", OptDefault::Str("umap"), "\"umap\", \"jaccard\" or \"knn\"")
        .opt("algorithm", "string", OptDefault::Str("auto"), "\"auto\", \"exact\" or \"hnsw\"")
        .example("let d = simulate_atac(#{n_cells: 80, n_peaks: 300}).data;\nlet g = neighbors(lsi(d, #{n: 10}), #{k: 10});\nprint(g);");
    let host = reg.host.clone();
    register1(reg, doc, move |x: Matrix, o| {
        let method = o.choice("method", &["umap", "jaccard", "knn"])?.unwrap();
        let algorithm = o.choice("algorithm", &["auto", "exact", "hnsw"])?.unwrap();
        build(&host, "neighbors", &x, o.int_at_least("k", 2)?.unwrap() as usize, &method, &algorithm)
    });

    let doc = FnDoc::new("leiden", "analysis", "leiden(graph: NeighborGraph | Matrix, options?: map) -> array", "Leiden clusters of the cells (labels \"0\", \"1\", … by decreasing size).")
        .details(
            "Modularity (RB configuration) with refinement, seeded. `n_clusters: k` instead searches the resolution that gives exactly \
             k clusters, the protocol the scBasset paper uses to compare embeddings. A Matrix is turned into neighbors(x) (k = 15, UMAP connectivities) first.",
        )
        .opt("resolution", "float", OptDefault::Float(1.0), "higher gives more clusters")
        .opt("n_clusters", "int", OptDefault::None, "search the resolution giving this many clusters")
        .opt("seed", "int", OptDefault::Int(0), "random seed")
        .example("let sim = simulate_atac(#{n_cells: 90, n_peaks: 400, n_cell_types: 3});\nlet cl = leiden(neighbors(lsi(sim.data, #{n: 10})), #{n_clusters: 3});\nprint(ari(cl, sim.data.obs(\"cell_type\")));");
    let host = reg.host.clone();
    register1(reg, doc, move |g: gscript_lang::rhai::Dynamic, o| {
        const P: &str = "leiden";
        let g = graph_of(&host, &g, P)?;
        cluster(&host, P, &g, o, true, &|resolution, seed| {
            leiden(
                &g.graph,
                &LeidenOptions { resolution, seed, ..LeidenOptions::default() },
                &mut SessionProgress::new(&host),
                &cancel_token(&host),
            )
            .map_err(in_primitive(P))
        })
    });

    let doc = FnDoc::new("louvain", "analysis", "louvain(graph: NeighborGraph | Matrix, options?: map) -> array", "Louvain clusters of the cells (labels by decreasing size).")
        .opt("resolution", "float", OptDefault::Float(1.0), "higher gives more clusters")
        .opt("seed", "int", OptDefault::Int(0), "random seed")
        .example("let sim = simulate_atac(#{n_cells: 90, n_peaks: 400, n_cell_types: 3});\nprint(louvain(neighbors(lsi(sim.data, #{n: 10}))));");
    let host = reg.host.clone();
    register1(reg, doc, move |g: gscript_lang::rhai::Dynamic, o| {
        const P: &str = "louvain";
        let g = graph_of(&host, &g, P)?;
        cluster(&host, P, &g, o, false, &|resolution, seed| {
            louvain(
                &g.graph,
                &LouvainOptions { resolution, seed, ..LouvainOptions::default() },
                &mut SessionProgress::new(&host),
                &cancel_token(&host),
            )
            .map_err(in_primitive(P))
        })
    });
}
