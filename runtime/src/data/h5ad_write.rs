//! Writing `.h5ad` files (through the `anndata` crate, whose files Python `anndata.read_h5ad` opens): X as cells ×
//! peaks CSR, obs (barcodes + cell columns, categorical kept), var (peak names + chr/start/end), plus any obsm /
//! varm / layers arrays (embeddings, denoised profiles). Written to a temporary file next to the target and renamed,
//! so an interrupted write never leaves a partial `.h5ad`.

use std::path::Path;

use anndata::data::DataFrameIndex;
use anndata::{AnnData, AnnDataOp, AxisArraysOp};
use anndata_hdf5::H5;
use nalgebra_sparse::CsrMatrix;
use ndarray::Array2;
use polars::prelude::{Categories, Column, DataFrame, DataType, NamedFrom, Series};

use crate::data::bed::PeakSet;
use crate::data::cells::{CellMeta, MetaColumn};
use crate::data::matrix::PeakMatrix;
use crate::error::{Result, RuntimeError};

/// A dense row-major float array for obsm / varm / layers.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseArray {
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
}

impl DenseArray {
    pub fn new(rows: usize, cols: usize, values: Vec<f32>) -> Result<DenseArray> {
        if values.len() != rows * cols {
            return Err(RuntimeError::invalid("array", format!("{} values cannot fill {rows} × {cols}", values.len())));
        }
        Ok(DenseArray { rows, cols, values })
    }
    fn to_ndarray(&self) -> Array2<f32> {
        Array2::from_shape_vec((self.rows, self.cols), self.values.clone()).expect("checked shape")
    }
}

/// Extra named arrays: `obsm` (cells × k), `varm` (peaks × k), `layers` (cells × peaks).
#[derive(Clone, Debug, Default)]
pub struct H5adExtras {
    pub obsm: Vec<(String, DenseArray)>,
    pub varm: Vec<(String, DenseArray)>,
    pub layers: Vec<(String, DenseArray)>,
}

/// Writes peaks × cells data as an AnnData file with cells as observations.
pub fn write_h5ad(
    path: &Path,
    matrix: &PeakMatrix,
    peaks: &PeakSet,
    cells: &CellMeta,
    extras: &H5adExtras,
) -> Result<()> {
    check_shapes(matrix, peaks, cells, extras)?;
    crate::io::write_via_temp(path, |tmp| write_to(tmp, matrix, peaks, cells, extras).map_err(std::io::Error::other))
        .map_err(|e| RuntimeError::Other(format!("cannot write {}: {e}", path.display())))
}

/// A layer too large to hold in memory: `produce` is called once with a sink that takes column blocks (a peak range
/// and the `(n_cells, range.len())` row-major values) and writes each straight into the file's `layers/<name>`.
pub struct StreamedLayer<'a> {
    pub name: String,
    /// Peaks per block the producer will emit (the HDF5 chunk width, so that every write fills whole chunks).
    pub block: usize,
    #[allow(clippy::type_complexity)]
    pub produce: Box<dyn FnOnce(&mut dyn FnMut(std::ops::Range<usize>, &[f32]) -> Result<()>) -> Result<()> + 'a>,
}

/// [`write_h5ad`] plus one layer produced block by block, so that memory stays at one block of peaks × all cells.
/// The whole file is still written to a temporary name and renamed only when every block has been written: an
/// error or interruption inside `produce` leaves no `.h5ad` behind.
pub fn write_h5ad_streamed(
    path: &Path,
    matrix: &PeakMatrix,
    peaks: &PeakSet,
    cells: &CellMeta,
    extras: &H5adExtras,
    layer: StreamedLayer,
) -> Result<()> {
    check_shapes(matrix, peaks, cells, extras)?;
    if extras.layers.iter().any(|(n, _)| *n == layer.name) {
        return Err(RuntimeError::invalid(format!("layers.{}", layer.name), "is given twice"));
    }
    let (n_cells, n_peaks) = (matrix.n_cells, matrix.n_peaks);
    let mut inner: Option<RuntimeError> = None;
    let result = crate::io::write_via_temp(path, |tmp| {
        write_to(tmp, matrix, peaks, cells, extras).map_err(std::io::Error::other)?;
        let f = hdf5::File::with_options()
            .with_fapl(|p| p.file_locking(false))
            .open_rw(tmp)
            .map_err(std::io::Error::other)?;
        let ds = create_layer(&f, &layer.name, n_cells, n_peaks, layer.block).map_err(std::io::Error::other)?;
        let mut written = vec![false; n_peaks];
        let mut sink = |range: std::ops::Range<usize>, values: &[f32]| -> Result<()> {
            if range.end > n_peaks || values.len() != n_cells * range.len() {
                return Err(RuntimeError::invalid(
                    format!("layers.{}", layer.name),
                    format!(
                        "block {range:?} with {} values does not fit {n_cells} cells × {n_peaks} peaks",
                        values.len()
                    ),
                ));
            }
            let block = ndarray::ArrayView2::from_shape((n_cells, range.len()), values).expect("checked length");
            ds.write_slice(block, ndarray::s![.., range.clone()])
                .map_err(|e| RuntimeError::Other(format!("writing layers/{} peaks {range:?}: {e}", layer.name)))?;
            written[range].iter_mut().for_each(|w| *w = true);
            Ok(())
        };
        if let Err(e) = (layer.produce)(&mut sink) {
            inner = Some(e);
            return Err(std::io::Error::other("layer producer failed"));
        }
        if let Some(p) = written.iter().position(|w| !w) {
            inner = Some(RuntimeError::Other(format!("layers/{}: peak {p} was never written", layer.name)));
            return Err(std::io::Error::other("incomplete layer"));
        }
        Ok(())
    });
    match (result, inner) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(RuntimeError::Other(format!("cannot write {}: {e}", path.display()))),
        (Ok(()), None) => Ok(()),
    }
}

/// `layers/<name>`: a chunked, deflate-compressed `(n_cells, n_peaks)` float32 dataset with AnnData's array encoding.
fn create_layer(
    f: &hdf5::File,
    name: &str,
    n_cells: usize,
    n_peaks: usize,
    block: usize,
) -> anyhow_like::Result<hdf5::Dataset> {
    use hdf5::types::VarLenUnicode;
    let layers = if f.link_exists("layers") { f.group("layers")? } else { f.create_group("layers")? };
    let chunk = (n_cells.clamp(1, 4096), block.clamp(1, n_peaks.max(1)));
    let ds = layers.new_dataset::<f32>().shape((n_cells, n_peaks)).chunk(chunk).deflate(4).create(name)?;
    for (k, v) in [("encoding-type", "array"), ("encoding-version", "0.2.0")] {
        let v: VarLenUnicode = v.parse().map_err(|e| anyhow_like::msg(format!("{e}")))?;
        ds.new_attr::<VarLenUnicode>().shape(()).create(k)?.write_scalar(&v)?;
    }
    Ok(ds)
}

fn check_shapes(matrix: &PeakMatrix, peaks: &PeakSet, cells: &CellMeta, extras: &H5adExtras) -> Result<()> {
    let (np, nc) = (matrix.n_peaks, matrix.n_cells);
    if peaks.len() != np || cells.len() != nc {
        return Err(RuntimeError::invalid(
            "data",
            format!("matrix is {np} × {nc} but there are {} peaks and {} cells", peaks.len(), cells.len()),
        ));
    }
    for (kind, list, rows, cols) in
        [("obsm", &extras.obsm, nc, None), ("varm", &extras.varm, np, None), ("layers", &extras.layers, nc, Some(np))]
    {
        for (name, a) in list {
            if a.rows != rows || cols.is_some_and(|c| c != a.cols) {
                let want = cols.map_or(format!("{rows} rows"), |c| format!("{rows} × {c}"));
                return Err(RuntimeError::invalid(
                    format!("{kind}.{name}"),
                    format!("is {} × {} but must have {want}", a.rows, a.cols),
                ));
            }
        }
    }
    Ok(())
}

fn write_to(
    tmp: &Path,
    m: &PeakMatrix,
    peaks: &PeakSet,
    cells: &CellMeta,
    extras: &H5adExtras,
) -> anyhow_like::Result<()> {
    // gzip (deflate) is built into every HDF5, h5py's included; the crate's default (Blosc/Zstd) needs a plugin that
    // Python users rarely have, so their anndata could not read X.
    anndata::backend::set_default_write_config(anndata::backend::WriteConfig {
        compression: Some(anndata::backend::Compression::Gzip(4)),
        block_size: None,
    });
    let ad = AnnData::<H5>::new(tmp)?;
    ad.set_x(cell_major_csr(m)?)?;
    ad.set_obs_names(cells.barcodes.iter().cloned().collect::<DataFrameIndex>())?;
    ad.set_var_names(peaks.name.iter().cloned().collect::<DataFrameIndex>())?;
    let obs: Vec<Column> =
        cells.columns.iter().map(|(n, c)| meta_series(n, c)).collect::<std::result::Result<_, _>>()?;
    if !obs.is_empty() {
        ad.set_obs(DataFrame::new(cells.len(), obs)?)?;
    }
    let var = vec![
        Series::new("chr".into(), peaks.chrom.clone()).cast(&DataType::from_categories(Categories::global()))?.into(),
        Column::new("start".into(), peaks.start.iter().map(|&s| s as i64).collect::<Vec<_>>()),
        Column::new("end".into(), peaks.end.iter().map(|&s| s as i64).collect::<Vec<_>>()),
    ];
    ad.set_var(DataFrame::new(peaks.len(), var)?)?;
    for (name, a) in &extras.obsm {
        ad.obsm().add(name, a.to_ndarray())?;
    }
    for (name, a) in &extras.varm {
        ad.varm().add(name, a.to_ndarray())?;
    }
    for (name, a) in &extras.layers {
        ad.layers().add(name, a.to_ndarray())?;
    }
    ad.close()?;
    keep_category_order(tmp, cells)?;
    Ok(())
}

/// The anndata crate orders categories by first appearance; rewrite each categorical column's `categories` and
/// `codes` so that the file keeps our order (sorted, or as read from the source file).
fn keep_category_order(path: &Path, cells: &CellMeta) -> anyhow_like::Result<()> {
    use hdf5::types::VarLenUnicode;
    // The anndata crate's handle may still be closing (HDF5's weak close degree); our edit does not overlap its
    // writes, so open without the advisory lock rather than fail.
    let f = hdf5::File::with_options().with_fapl(|p| p.file_locking(false)).open_rw(path)?;
    for (name, col) in &cells.columns {
        let MetaColumn::Categorical { codes, categories } = col else { continue };
        let g = f.group(&format!("obs/{name}"))?;
        for ds in ["categories", "codes"] {
            g.unlink(ds)?;
        }
        let cats: Vec<VarLenUnicode> = categories
            .iter()
            .map(|c| c.parse().map_err(|e| anyhow_like::msg(format!("{e}"))))
            .collect::<Result<_, _>>()?;
        let c = g.new_dataset_builder().with_data(&cats).create("categories")?;
        for (k, v) in [("encoding-type", "string-array"), ("encoding-version", "0.2.0")] {
            let v: VarLenUnicode = v.parse().map_err(|e| anyhow_like::msg(format!("{e}")))?;
            c.new_attr::<VarLenUnicode>().shape(()).create(k)?.write_scalar(&v)?;
        }
        let codes_ds = if categories.len() < 127 {
            g.new_dataset_builder().with_data(&codes.iter().map(|&k| k as i8).collect::<Vec<_>>()).create("codes")?
        } else if categories.len() < 32767 {
            g.new_dataset_builder().with_data(&codes.iter().map(|&k| k as i16).collect::<Vec<_>>()).create("codes")?
        } else {
            g.new_dataset_builder().with_data(codes.as_slice()).create("codes")?
        };
        for (k, v) in [("encoding-type", "array"), ("encoding-version", "0.2.0")] {
            let v: VarLenUnicode = v.parse().map_err(|e| anyhow_like::msg(format!("{e}")))?;
            codes_ds.new_attr::<VarLenUnicode>().shape(()).create(k)?.write_scalar(&v)?;
        }
    }
    Ok(())
}

/// Peaks × cells CSR → cells × peaks CSR (a transpose by counting sort).
fn cell_major_csr(m: &PeakMatrix) -> anyhow_like::Result<CsrMatrix<f32>> {
    let mut offsets = vec![0usize; m.n_cells + 1];
    for &c in m.indices() {
        offsets[c as usize + 1] += 1;
    }
    for c in 0..m.n_cells {
        offsets[c + 1] += offsets[c];
    }
    let mut next = offsets.clone();
    let mut cols = vec![0usize; m.nnz()];
    let mut vals = vec![0f32; m.nnz()];
    for p in 0..m.n_peaks {
        for (&c, &v) in m.row_indices(p).iter().zip(m.row_values(p)) {
            let slot = &mut next[c as usize];
            cols[*slot] = p;
            vals[*slot] = v;
            *slot += 1;
        }
    }
    CsrMatrix::try_from_csr_data(m.n_cells, m.n_peaks, offsets, cols, vals)
        .map_err(|e| anyhow_like::msg(format!("{e}")))
}

fn meta_series(name: &str, c: &MetaColumn) -> anyhow_like::Result<Column> {
    let n = name.into();
    Ok(match c {
        MetaColumn::Categorical { codes, categories } => {
            let labels: Vec<Option<&str>> =
                codes.iter().map(|&k| (k >= 0).then(|| categories[k as usize].as_str())).collect();
            Series::new(n, labels).cast(&DataType::from_categories(Categories::global()))?.into()
        }
        MetaColumn::Number(v) => Column::new(n, v),
        MetaColumn::Integer(v) => Column::new(n, v),
        MetaColumn::Bool(v) => Column::new(n, v),
        MetaColumn::Text(v) => Column::new(n, v),
    })
}

/// The anndata crate reports `anyhow` errors; keep them as text.
mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
    pub fn msg(s: String) -> Box<dyn std::error::Error + Send + Sync> {
        s.into()
    }
}
