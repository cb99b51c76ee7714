//! The single-cell analysis toolkit in the language: reductions (`pca`, `lsi`, `scale`), neighbour graphs and
//! clustering (`neighbors`, `leiden`, `louvain`), and the metrics the scBasset paper judges embeddings with (`ari`,
//! `ami`, `silhouette`, `label_score`, `neighbor_score`, `ilisi`, `kbet`, ...). Computation lives in
//! `gscript_runtime::analysis`; this module converts values and reports errors.
//!
//! - [`reduce`]: `pca`, `lsi`, `scale`.
//! - [`clustering`]: the `NeighborGraph` value, `neighbors`, `leiden`, `louvain`.
//! - [`layout`]: `umap`, `tsne`.
//! - [`metrics`]: partition, embedding and ranking metrics.

pub mod chromvar;
pub mod clustering;
pub mod layout;
pub mod metrics;
pub mod reduce;

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, Registrar};
use gscript_runtime::analysis::labels::factorize;

use crate::bridge::ScriptResult;
use crate::values::Matrix;

pub fn register(reg: &mut Registrar) {
    reduce::register(reg);
    chromvar::register(reg);
    clustering::register(reg);
    layout::register(reg);
    metrics::register(reg);
}

/// A label vector (strings, integers or booleans) as codes, checked against the expected length.
pub(crate) fn label_codes(
    primitive: &str,
    key: &str,
    v: &Dynamic,
    expected: Option<(usize, &str)>,
) -> ScriptResult<(Vec<u32>, Vec<String>)> {
    let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
        primitive_error(primitive, Some(key), &format!("expected an array of labels, got {}", v.type_name()))
    })?;
    if let Some((n, what)) = expected {
        if arr.len() != n {
            return Err(primitive_error(primitive, Some(key), &format!("has {} labels but {what} has {n}", arr.len())));
        }
    }
    if arr.is_empty() {
        return Err(primitive_error(primitive, Some(key), "is empty"));
    }
    let labels: Vec<String> = arr.iter().map(crate::bridge::label_text).collect();
    let f = factorize(&labels);
    Ok((f.codes, f.names))
}

pub(crate) use crate::bridge::numbers;

/// The matrix's values and shape.
pub(crate) fn dense(m: &Matrix) -> (&[f32], usize, usize) {
    (m.data.as_slice(), m.rows, m.cols)
}
