//! Analysis toolkit for gscript: partition-comparison metrics, silhouette,
//! exact k-nearest neighbours and neighbourhood/integration scores (label
//! score, neighbour score, iLISI, kBET), ranking metrics and correlations,
//! Louvain/Leiden community detection on weighted graphs, neighbour graphs
//! (UMAP fuzzy simplicial set, shared-neighbour Jaccard), 2-D layouts (UMAP,
//! Barnes–Hut t-SNE) and their trustworthiness.
//!
//! Conventions: dense matrices are row-major `&[f32]` with an explicit
//! `(n_rows, n_cols)` shape; labels are `&[u32]` codes (see
//! [`labels::factorize`] for string labels). Every fallible function returns
//! [`AnalysisError`] instead of panicking on bad input. The long-running
//! steps (kNN, UMAP, t-SNE, Leiden, Louvain and the resolution search) take
//! `progress: &mut dyn Progress, cancel: &CancelToken` last, report progress
//! through the first and stop with [`AnalysisError::Interrupted`] soon after
//! the second is set.
//!
//! ```text
//! use gscript_runtime::analysis::cluster_metrics::adjusted_rand_index;
//! use gscript_runtime::analysis::knn::{knn_exact, label_score};
//! use gscript_runtime::analysis::synthetic::gaussian_mixture;
//! use gscript_runtime::analysis::{leiden, Graph, LeidenOptions};
//! use gscript_runtime::{CancelToken, NoProgress};
//!
//! // 600 points in 8 dimensions from 3 well-separated Gaussians.
//! let (data, truth) = gaussian_mixture(600, 8, 3, 10.0, 1);
//! let (p, c) = (&mut NoProgress, &CancelToken::new());
//! let knn = knn_exact(&data, 600, 8, 15, p, c)?;
//! assert!(label_score(&knn, &truth, 15)? > 0.99);
//! let graph = Graph::from_knn(&knn)?;
//! let clusters = leiden(&graph, &LeidenOptions { seed: 7, ..Default::default() }, p, c)?;
//! assert_eq!(clusters.n_communities, 3);
//! assert_eq!(adjusted_rand_index(&truth, &clusters.membership)?, 1.0);
//! # Ok::<(), gscript_runtime::analysis::AnalysisError>(())
//! ```

#![warn(missing_docs)]

pub mod chromvar;
pub mod cluster_metrics;
mod community;
pub mod connectivities;
pub mod error;
pub mod graph;
pub mod kbet;
pub mod knn;
pub mod knn_hnsw;
pub mod labels;
pub mod layout_init;
pub mod layout_metrics;
pub mod leiden;
pub mod lisi;
pub mod louvain;
pub mod lsi;
pub mod matrix;
pub mod neighborhood;
mod quadtree;
pub mod reduce;
pub mod resolution;
pub mod roc;
pub mod silhouette;
pub mod special;
pub mod synthetic;
pub mod tsne;
pub mod umap;
mod work;

pub use community::Partition;
pub use error::{AnalysisError, Result};
pub use graph::Graph;
pub use knn::Knn;
pub use leiden::{leiden, LeidenOptions};
pub use louvain::{louvain, LouvainOptions};
pub use lsi::{lsi, tfidf, Lsi, LsiOptions};
pub use reduce::{pca, standard_scale, Pca, PcaOptions, SvdSolver};
pub use resolution::resolution_for_k_clusters;
pub use tsne::{tsne, TsneOptions};
pub use umap::{umap, umap_layout, UmapOptions};
