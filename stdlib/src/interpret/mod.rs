//! Interpretation in the language (scBasset's downstream analyses, calico/scBasset `scbasset/utils.py`): motif sets
//! (`read_motifs`, `jaspar_motifs`), motif scanning (`scan_motifs`), TF activity by motif insertion (`insert_motif`),
//! in-silico mutagenesis (`ism`) and variant effects (`variant_effect`). Computation lives in
//! `gscript_runtime::interpret` and `gscript_runtime::motif`.
//!
//! - [`motifs`]: the `MotifSet` and `Motif` values, reading and the shipped JASPAR set.
//! - [`scanning`]: `scan_motifs`, with PWM–ISM scores when given an ISM result.
//! - [`insertion`](mod@insertion): `insert_motif`.
//! - [`ism`](mod@ism): `ism` and the `IsmResult` value.
//! - [`variants`]: `variant_effect` and the `VariantEffects` value.

pub mod insertion;
pub mod ism;
pub mod motifs;
pub mod scanning;
pub mod variants;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, Options, Registrar};
use gscript_runtime::interpret::{group_matrix, CellReadout};
use gscript_runtime::seq::{self, Genome, Region};
use tch::{Kind, Tensor};

use crate::bridge::{in_argument, ScriptResult};
use crate::seq::GenomeValue;
use crate::values::model::TrainedModel;
use crate::values::peak_data::PeakData;

pub fn register(reg: &mut Registrar) {
    motifs::register(reg);
    scanning::register(reg);
    insertion::register(reg);
    ism::register(reg);
    variants::register(reg);
}

/// Which read-out rows a result has: single cells, or groups of cells (averaged).
#[derive(Clone, Debug)]
pub(crate) enum Rows {
    Cells(Vec<usize>),
    /// Group of each cell (`None`: left out) and the group names.
    Groups(Vec<Option<usize>>),
}

/// Row names and what they stand for.
#[derive(Clone, Debug)]
pub(crate) struct CellSelection {
    pub names: Vec<String>,
    pub rows: Rows,
}

impl CellSelection {
    /// Read-out weights of the rows `(K, D)`: cells' weights, or groups' mean weights.
    pub fn weights(&self, readout: &CellReadout) -> gscript_runtime::Result<Tensor> {
        match &self.rows {
            Rows::Cells(c) => Ok(readout.weights.index_select(0, &index_tensor(c).to_device(readout.weights.device()))),
            Rows::Groups(g) => readout.group_weights(g, &self.names),
        }
    }

    /// The cells that count, in model order for groups (cells outside every group left out).
    pub fn cells(&self) -> Vec<usize> {
        match &self.rows {
            Rows::Cells(c) => c.clone(),
            Rows::Groups(g) => g.iter().enumerate().filter(|(_, x)| x.is_some()).map(|(i, _)| i).collect(),
        }
    }

    /// Per-cell values `(n, n_cells)` reduced to the rows `(n, K)` (selected cells, or group means).
    pub fn reduce(&self, values: &Tensor) -> gscript_runtime::Result<Tensor> {
        let values = values.to_device(tch::Device::Cpu).to_kind(Kind::Float);
        match &self.rows {
            Rows::Cells(c) => Ok(values.index_select(1, &index_tensor(c))),
            Rows::Groups(g) => {
                // NaN rows (variants not scored) stay NaN.
                Ok(values.matmul(&group_matrix(g, &self.names)?.tr()))
            }
        }
    }
}

pub(crate) fn index_tensor(idx: &[usize]) -> Tensor {
    Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>())
}

/// The `cells` and `groups` options: which cells count, and whether they are averaged per group.
/// `groups` is an array with one label per cell of the model, or the name of a cell column of `data`.
pub(crate) fn cell_selection(primitive: &str, m: &TrainedModel, o: &Options) -> ScriptResult<CellSelection> {
    let barcodes = &m.meta.barcodes;
    let n = barcodes.len();
    let cells: Option<Vec<usize>> = match o.raw("cells") {
        None => None,
        Some(v) => {
            let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
                primitive_error(primitive, Some("cells"), "expected an array of barcodes or cell indices")
            })?;
            let index: std::collections::HashMap<&str, usize> =
                barcodes.iter().enumerate().map(|(i, b)| (b.as_str(), i)).collect();
            let mut out = Vec::with_capacity(arr.len());
            for (k, x) in arr.iter().enumerate() {
                let i = if let Ok(i) = x.as_int() {
                    usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| {
                        primitive_error(primitive, Some("cells"), &format!("element {k}: index {i} is outside 0..{n}"))
                    })?
                } else {
                    let s = x.to_string();
                    *index.get(s.as_str()).ok_or_else(|| {
                        primitive_error(primitive, Some("cells"), &format!("element {k}: no cell `{s}` in the model"))
                    })?
                };
                out.push(i);
            }
            if out.is_empty() {
                return Err(primitive_error(primitive, Some("cells"), "is empty"));
            }
            Some(out)
        }
    };
    let labels: Option<Vec<String>> = match o.raw("groups") {
        None => None,
        Some(v) if v.is_string() => {
            let column = v.to_string();
            let data = o.raw("data").and_then(|d| d.clone().try_cast::<PeakData>()).ok_or_else(|| {
                primitive_error(
                    primitive,
                    Some("groups"),
                    &format!(
                        "`{column}` names a cell column: pass the dataset too, #{{groups: \"{column}\", data: data}}"
                    ),
                )
            })?;
            if data.0.cells.barcodes != *barcodes {
                return Err(primitive_error(
                    primitive,
                    Some("data"),
                    "the dataset's cells are not the model's cells (in the same order)",
                ));
            }
            Some(data.0.cells.column(&column).map_err(in_argument(primitive, "groups"))?.labels())
        }
        Some(v) => {
            let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
                primitive_error(
                    primitive,
                    Some("groups"),
                    "expected an array of labels (one per cell) or an obs column name",
                )
            })?;
            if arr.len() != n {
                return Err(primitive_error(
                    primitive,
                    Some("groups"),
                    &format!("has {} labels but the model has {n} cells", arr.len()),
                ));
            }
            Some(arr.iter().map(crate::bridge::label_text).collect())
        }
    };
    Ok(match labels {
        None => {
            let idx = cells.unwrap_or_else(|| (0..n).collect());
            CellSelection { names: idx.iter().map(|&i| barcodes[i].clone()).collect(), rows: Rows::Cells(idx) }
        }
        Some(labels) => {
            let keep: Option<std::collections::HashSet<usize>> = cells.map(|c| c.into_iter().collect());
            let mut names: Vec<String> = Vec::new();
            let mut code = std::collections::HashMap::new();
            let mut groups = vec![None; n];
            for (i, l) in labels.iter().enumerate() {
                if keep.as_ref().is_some_and(|k| !k.contains(&i)) || l == "NA" || l.is_empty() {
                    continue;
                }
                let g = *code.entry(l.clone()).or_insert_with(|| {
                    names.push(l.clone());
                    names.len() - 1
                });
                groups[i] = Some(g);
            }
            // Groups in sorted order, as scanpy lists categories.
            let mut order: Vec<usize> = (0..names.len()).collect();
            order.sort_by_key(|&g| crate::values::matrix::natural_key(&names[g]));
            let mut rank = vec![0; names.len()];
            for (r, &g) in order.iter().enumerate() {
                rank[g] = r;
            }
            let groups = groups.into_iter().map(|g| g.map(|g| rank[g])).collect();
            let names = order.iter().map(|&g| names[g].clone()).collect();
            CellSelection { names, rows: Rows::Groups(groups) }
        }
    })
}

/// A genome from the `genome` option, else from the `data` option's dataset.
pub(crate) fn genome_option(primitive: &str, o: &Options) -> ScriptResult<Option<GenomeValue>> {
    if let Some(g) = o.raw("genome") {
        return g
            .clone()
            .try_cast::<GenomeValue>()
            .map(Some)
            .ok_or_else(|| primitive_error(primitive, Some("genome"), "expected a Genome from load_genome"));
    }
    Ok(o.raw("data").and_then(|d| d.clone().try_cast::<PeakData>()).and_then(|d| d.1.clone()))
}

/// One input sequence: its bases, and where it lies in the genome when it came from a region.
pub(crate) struct SequenceInput {
    pub bases: Vec<u8>,
    /// Chromosome and 0-based start of the first base.
    pub locus: Option<(String, i64)>,
}

/// A DNA string, a region (`chr:start-end` string or #{chrom, start, end} map, read from the genome), or with
/// `len` given a region resized to `len` around its centre (the model's window rule).
pub(crate) fn sequence_input(
    primitive: &str,
    key: &str,
    v: &Dynamic,
    genome: Option<&Genome>,
    len: Option<usize>,
) -> ScriptResult<SequenceInput> {
    let region: Option<Region> = if let Some(m) = v.clone().try_cast::<Map>() {
        let get = |k: &str| {
            m.get(k).cloned().ok_or_else(|| {
                primitive_error(primitive, Some(key), &format!("a region map needs `{k}` (#{{chrom, start, end}})"))
            })
        };
        let (c, s, e) = (get("chrom")?.to_string(), get("start")?.as_int(), get("end")?.as_int());
        let (Ok(s), Ok(e)) = (s, e) else {
            return Err(primitive_error(primitive, Some(key), "region start and end must be integers"));
        };
        Some(Region::new(c, s.max(0) as u64, e.max(0) as u64).map_err(in_argument(primitive, key))?)
    } else if let Some(s) = v.clone().try_cast::<String>() {
        let looks_dna = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
        if looks_dna {
            None
        } else {
            Some(s.parse::<Region>().map_err(|e| {
                primitive_error(primitive, Some(key), &format!("`{s}` is neither a DNA sequence nor a region: {e}"))
            })?)
        }
    } else {
        return Err(primitive_error(
            primitive,
            Some(key),
            &format!("expected a DNA string or a region, got {}", v.type_name()),
        ));
    };
    match region {
        None => {
            let s = v.clone().into_string().unwrap_or_default().to_ascii_uppercase().into_bytes();
            if let Some(n) = len {
                if s.len() != n {
                    return Err(primitive_error(
                        primitive,
                        Some(key),
                        &format!(
                            "the sequence is {} bp; the model reads {n}-bp sequences (or pass a region with a genome)",
                            s.len()
                        ),
                    ));
                }
            }
            Ok(SequenceInput { bases: s, locus: None })
        }
        Some(r) => {
            let g = genome.ok_or_else(|| {
                primitive_error(
                    primitive,
                    Some("genome"),
                    &format!(
                        "{}:{}-{} is a region: pass #{{genome: load_genome(\"genome.fa\")}} (or data with a genome)",
                        r.chrom, r.start, r.end
                    ),
                )
            })?;
            let err = in_argument(primitive, key);
            match len {
                Some(n) => {
                    let start = r.center() as i64 - (n / 2) as i64;
                    Ok(SequenceInput {
                        bases: g.peak_window(&r, n as u64).map_err(err)?,
                        locus: Some((r.chrom.clone(), start)),
                    })
                }
                None => Ok(SequenceInput {
                    bases: g.fetch_region(&r).map_err(err)?,
                    locus: Some((r.chrom.clone(), r.start as i64)),
                }),
            }
        }
    }
}

/// Bases as model codes; N and other letters become seeded random bases (as for peaks).
pub(crate) fn codes_of(bases: &[u8]) -> Vec<u8> {
    seq::encode(bases, 0)
}
