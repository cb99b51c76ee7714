//! Reading AnnData `.h5ad` peak matrices. X is streamed straight from its HDF5 datasets into peaks × cells CSR
//! (CSR or CSC, cells × peaks or peaks × cells, dense for small files; the pre-0.7 `h5sparse` layout too); obs/var
//! data frames are decoded here (categorical, string, numeric, boolean, nullable columns) so that nothing else in the
//! file (uns, obsm, layers written by other tools) can stop a load.
//!
//! Which axis holds the peaks: var when its columns name coordinates (chr/start/end and common spellings) or its
//! names read as regions (`chr1:100-200`, `chr1-100-200`, `chr1_100_200`); else obs, by the same rules.

use std::path::Path;

use hdf5::types::TypeDescriptor;
use hdf5::Dataset;

use crate::data::bed::PeakSet;
use crate::data::cells::{CellMeta, MetaColumn};
use crate::data::h5::{int_list_attr, read_range, read_strings, short, string_attr, string_list_attr, H5File};
use crate::data::matrix::PeakMatrix;
use crate::data::sparse_h5::SparseH5;
use crate::error::Result;
use crate::progress::{CancelToken, Progress};
use crate::seq::Region;

/// An obs or var data frame: index (names) and columns.
#[derive(Debug, Default)]
pub struct Frame {
    pub index: Vec<String>,
    pub columns: Vec<(String, MetaColumn)>,
}

/// The parts of an `.h5ad` around X: peaks (from var or obs), the cells' metadata (the other frame), the frame
/// sizes and which frame holds the peaks.
pub(crate) struct H5adFrames {
    pub peaks: PeakSet,
    pub cells: CellMeta,
    pub n_obs: usize,
    pub n_var: usize,
    pub peaks_on_var: bool,
}

/// Reads obs and var and decides which holds the peaks.
pub(crate) fn read_frames(f: &H5File) -> Result<H5adFrames> {
    if !f.has("X") {
        return Err(f.err("X", "missing: the file has no data matrix (is it an .h5ad file?)"));
    }
    let obs = read_frame(f, "obs")?;
    let var = read_frame(f, "var")?;
    let (n_obs, n_var) = (obs.index.len(), var.index.len());
    let (peaks_on_var, peaks) = match peaks_from_frame(&var) {
        Some(p) => (true, p),
        None => match peaks_from_frame(&obs) {
            Some(p) => (false, p),
            None => {
                return Err(f.err(
                    "var",
                    format!(
                        "cannot find peak coordinates: expected var (or obs) columns chr/start/end, or names like 'chr1:100-200' or 'chr1-100-200' (var names start {:?})",
                        var.index.iter().take(3).collect::<Vec<_>>()
                    ),
                ))
            }
        },
    };
    let cells_frame = if peaks_on_var { obs } else { var };
    let mut cells = CellMeta::new(cells_frame.index);
    for (name, col) in cells_frame.columns {
        cells.set_column(&name, col).map_err(|e| f.err(if peaks_on_var { "obs" } else { "var" }, e))?;
    }
    Ok(H5adFrames { peaks, cells, n_obs, n_var, peaks_on_var })
}

/// Reads a peak matrix from an `.h5ad` file: (peaks × cells matrix, peaks, cell metadata).
pub fn read_h5ad(
    path: &Path,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(PeakMatrix, PeakSet, CellMeta)> {
    let f = H5File::open(path)?;
    let H5adFrames { peaks, cells, n_obs, n_var, peaks_on_var } = read_frames(&f)?;
    let x = read_x(&f, n_obs, n_var, peaks_on_var, progress, cancel)?;
    if (x.n_peaks, x.n_cells) != (peaks.len(), cells.len()) {
        return Err(f.err(
            "X",
            format!(
                "is {} peaks × {} cells but the peak table has {} rows and the cell table {}",
                x.n_peaks,
                x.n_cells,
                peaks.len(),
                cells.len()
            ),
        ));
    }
    Ok((x, peaks, cells))
}

/// X's HDF5 object (group or dataset) and its encoding (`encoding-type`, or the pre-0.7 `h5sparse_format`).
fn x_encoding(f: &H5File) -> Result<(hdf5::Location, Option<String>)> {
    let loc = f
        .file
        .group("X")
        .map(|g| (*g).clone())
        .or_else(|_| f.file.dataset("X").map(|d| (**d).clone()))
        .map_err(|e| f.err("X", short(&e)))?;
    let encoding = string_attr(&loc, "encoding-type")
        .or_else(|| string_attr(&loc, "h5sparse_format").map(|s| format!("{s}_matrix")));
    Ok((loc, encoding))
}

/// A sparse X (CSR or CSC) as its datasets, and whether its stored major axis is peaks; `None` for a dense X.
pub(crate) fn sparse_x<'a>(
    f: &'a H5File,
    n_obs: usize,
    n_var: usize,
    peaks_on_var: bool,
) -> Result<Option<(SparseH5<'a>, bool)>> {
    let (loc, encoding) = x_encoding(f)?;
    let enc @ ("csr_matrix" | "csc_matrix") = encoding.as_deref().unwrap_or("") else {
        return Ok(None);
    };
    let shape = int_list_attr(&loc, "shape")
        .or_else(|| int_list_attr(&loc, "h5sparse_shape"))
        .ok_or_else(|| f.err("X", "sparse matrix without a 'shape' attribute"))?;
    if shape.len() != 2 || (shape[0] as usize, shape[1] as usize) != (n_obs, n_var) {
        return Err(f.err("X", format!("has shape {shape:?} but obs has {n_obs} rows and var {n_var}")));
    }
    let csr = enc == "csr_matrix";
    let (n_major, n_minor) = if csr { (n_obs, n_var) } else { (n_var, n_obs) };
    let sparse = SparseH5 {
        file: f,
        group: "X".into(),
        indptr: f.dataset("X/indptr", "the pointer array of a sparse X")?,
        indices: f.dataset("X/indices", "the index array of a sparse X")?,
        data: f.dataset("X/data", "the values of a sparse X")?,
        n_major,
        n_minor,
    };
    // the major axis is var for CSC; peaks are on var or obs
    Ok(Some((sparse, csr != peaks_on_var)))
}

fn read_x(
    f: &H5File,
    n_obs: usize,
    n_var: usize,
    peaks_on_var: bool,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<PeakMatrix> {
    let (_, encoding) = x_encoding(f)?;
    let shape_err = |s: &[i64]| f.err("X", format!("has shape {s:?} but obs has {n_obs} rows and var {n_var}"));
    if let Some((sparse, major_is_peaks)) = sparse_x(f, n_obs, n_var, peaks_on_var)? {
        return sparse.to_peak_matrix(major_is_peaks, None, progress, cancel);
    }
    match encoding.as_deref() {
        Some("array") | None if f.file.dataset("X").is_ok() => {
            let ds = f.file.dataset("X").map_err(|e| f.err("X", short(&e)))?;
            let shape: Vec<i64> = ds.shape().iter().map(|&s| s as i64).collect();
            if shape.len() != 2 || (shape[0] as usize, shape[1] as usize) != (n_obs, n_var) {
                return Err(shape_err(&shape));
            }
            dense_to_peaks(f, &ds, n_obs, n_var, peaks_on_var, cancel)
        }
        other => {
            Err(f.err("X", format!("unsupported encoding {other:?}: expected csr_matrix, csc_matrix or a dense array")))
        }
    }
}

/// A dense X, read a block of rows at a time, keeping the non-zero entries.
fn dense_to_peaks(
    f: &H5File,
    ds: &Dataset,
    n_obs: usize,
    n_var: usize,
    peaks_on_var: bool,
    cancel: &CancelToken,
) -> Result<PeakMatrix> {
    let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    let block = (1 << 22) / n_var.max(1) + 1;
    for a in (0..n_obs).step_by(block) {
        cancel.check()?;
        let b = (a + block).min(n_obs);
        let arr = ds
            .read_slice_2d::<f32, _>((a..b, ..))
            .map_err(|e| f.err("X", format!("cannot read rows {a}..{b}: {}", short(&e))))?;
        for ((i, j), &v) in arr.indexed_iter() {
            if v != 0.0 {
                let (o, va) = ((a + i) as u32, j as u32);
                let (p, c) = if peaks_on_var { (va, o) } else { (o, va) };
                rows.push(p);
                cols.push(c);
                vals.push(v);
            }
        }
    }
    let (np, nc) = if peaks_on_var { (n_var, n_obs) } else { (n_obs, n_var) };
    PeakMatrix::from_triplets(np, nc, &rows, &cols, &vals)
}

/// Decodes an AnnData data frame group (`_index` attribute + one element per column).
pub fn read_frame(f: &H5File, name: &str) -> Result<Frame> {
    let g = f.group(name)?;
    let index_name = string_attr(&g, "_index").unwrap_or_else(|| "_index".to_string());
    let mut frame = Frame::default();
    let path = format!("{name}/{index_name}");
    if f.has(&path) {
        frame.index = f.strings(&path, "the row names")?;
    } else if f.has(&format!("{name}/index")) {
        frame.index = f.strings(&format!("{name}/index"), "the row names")?;
    } else {
        return Err(f.err(
            name,
            format!("has no row names (expected the dataset named by its _index attribute, '{index_name}')"),
        ));
    }
    let mut order = string_list_attr(&g, "column-order");
    if order.is_empty() {
        order = g
            .member_names()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| *m != index_name && !m.starts_with("__"))
            .collect();
    }
    for col in order {
        let p = format!("{name}/{col}");
        if !f.has(&p) {
            return Err(f.err(&p, "listed in column-order but missing"));
        }
        let c = read_column(f, name, &col).map_err(|msg| f.err(&p, msg))?;
        if c.len() != frame.index.len() {
            return Err(f.err(&p, format!("has {} values but the frame has {} rows", c.len(), frame.index.len())));
        }
        frame.columns.push((col, c));
    }
    Ok(frame)
}

fn read_column(f: &H5File, frame: &str, col: &str) -> std::result::Result<MetaColumn, String> {
    let p = format!("{frame}/{col}");
    if let Ok(g) = f.file.group(&p) {
        let enc = string_attr(&g, "encoding-type").unwrap_or_default();
        let ds = |n: &str| g.dataset(n).map_err(|e| format!("'{n}': {}", short(&e)));
        return match enc.as_str() {
            "categorical" => {
                let categories =
                    read_strings(&ds("categories")?).or_else(|_| numeric(&ds("categories")?).map(|c| c.labels()))?;
                let codes = read_range::<i32>(&ds("codes")?, 0, ds("codes")?.size())?;
                check_codes(&codes, categories.len())?;
                Ok(MetaColumn::Categorical { codes, categories })
            }
            "nullable-integer" | "nullable-boolean" | "nullable-string-array" => {
                let mask = read_range::<u8>(&ds("mask")?, 0, ds("mask")?.size())?;
                let values = ds("values")?;
                if enc == "nullable-string-array" {
                    let v = read_strings(&values)?;
                    let labels: Vec<String> =
                        v.into_iter().zip(&mask).map(|(s, &m)| if m != 0 { "NA".to_string() } else { s }).collect();
                    return Ok(MetaColumn::Text(labels));
                }
                let v = read_range::<f64>(&values, 0, values.size())?;
                Ok(MetaColumn::Number(
                    v.into_iter().zip(&mask).map(|(x, &m)| if m != 0 { f64::NAN } else { x }).collect(),
                ))
            }
            other => Err(format!("unsupported column encoding '{other}'")),
        };
    }
    let d = f.file.dataset(&p).map_err(|e| short(&e))?;
    // pre-0.7 files: categorical codes with the categories in `__categories/<col>`
    let legacy = format!("{frame}/__categories/{col}");
    if f.has(&legacy) {
        let categories = f.strings(&legacy, "categories").map_err(|e| e.to_string())?;
        let codes = read_range::<i32>(&d, 0, d.size())?;
        check_codes(&codes, categories.len())?;
        return Ok(MetaColumn::Categorical { codes, categories });
    }
    match d.dtype().and_then(|t| t.to_descriptor()).map_err(|e| short(&e))? {
        TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_) => Ok(MetaColumn::Text(read_strings(&d)?)),
        _ => numeric(&d),
    }
}

fn check_codes(codes: &[i32], n: usize) -> std::result::Result<(), String> {
    match codes.iter().find(|&&c| c < -1 || c >= n as i32) {
        Some(c) => Err(format!("categorical code {c} is outside the {n} categories")),
        None => Ok(()),
    }
}

fn numeric(d: &Dataset) -> std::result::Result<MetaColumn, String> {
    let n = d.size();
    match d.dtype().and_then(|t| t.to_descriptor()).map_err(|e| short(&e))? {
        TypeDescriptor::Boolean => Ok(MetaColumn::Bool(read_range::<bool>(d, 0, n)?)),
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
            Ok(MetaColumn::Integer(read_range::<i64>(d, 0, n)?))
        }
        TypeDescriptor::Float(_) => Ok(MetaColumn::Number(read_range::<f64>(d, 0, n)?)),
        other => Err(format!("unsupported column type {other}")),
    }
}

const CHROM: [&str; 5] = ["chr", "chrom", "chromosome", "seqnames", "seqname"];
const START: [&str; 4] = ["start", "chromstart", "chrom_start", "begin"];
const END: [&str; 3] = ["end", "chromend", "chrom_end"];

/// Peaks described by a frame: coordinate columns, else region-like row names. `None` when neither fits.
pub fn peaks_from_frame(frame: &Frame) -> Option<PeakSet> {
    if frame.index.is_empty() {
        return None;
    }
    let find = |names: &[&str]| {
        frame.columns.iter().find(|(n, _)| names.contains(&n.to_ascii_lowercase().as_str())).map(|(_, c)| c)
    };
    if let (Some(c), Some(s), Some(e)) = (find(&CHROM), find(&START), find(&END)) {
        let num = |col: &MetaColumn, i: usize| -> Option<u64> {
            match col {
                MetaColumn::Integer(v) => u64::try_from(v[i]).ok(),
                MetaColumn::Number(v) => (v[i] >= 0.0 && v[i].fract() == 0.0).then_some(v[i] as u64),
                other => other.text(i).parse().ok(),
            }
        };
        let mut peaks = PeakSet::default();
        for i in 0..frame.index.len() {
            let (Some(a), Some(b)) = (num(s, i), num(e, i)) else { return None };
            if b <= a {
                return None;
            }
            peaks.push(&c.text(i), a, b, Some(&frame.index[i]));
        }
        return Some(peaks);
    }
    let mut peaks = PeakSet::default();
    for name in &frame.index {
        let r: Region = name.parse().ok()?;
        peaks.push(&r.chrom, r.start, r.end, Some(name));
    }
    Some(peaks)
}
