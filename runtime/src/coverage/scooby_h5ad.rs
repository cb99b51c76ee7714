//! SnapATAC2-scooby AnnData files: what scooby trains on (`scooby/data/scdata.py`, `scripts/train_multiome.py`).
//!
//! Layout (anndata's HDF5 encoding, as SnapATAC2-scooby 1.0.3 + anndata write it; checked in the tests):
//! - `obsm/fragment_single` (RNA, one file per strand) or `obsm/insertion` (ATAC): a `csr_matrix` group (`data`,
//!   `indices`, `indptr`, attribute `shape` = cells × total genome length). Column = chromosome offset (cumulative
//!   length of the chromosomes before it, in `uns/reference_sequences` order) + 0-based position.
//! - RNA value: signed block length (`pp.import_fragments`, `snapatac2-core/src/preprocessing/import.rs`): a plus
//!   read `[s, e)` at column `s` with `e − s`, a minus read at column `e − 1` with `−(e − s)`; int32; entries of a row
//!   sorted by (column, value), repeated columns allowed (not a canonical CSR). scooby's `_sparse_to_coverage_rna`
//!   reads the plus file as `[col, col + v)` and the minus file as `[col + v + 1, col + 1)`, so a value of the other
//!   sign contributes nothing there; such a file is refused here rather than silently half-read.
//! - ATAC value: insertion count per (cell, column), uint16, canonical CSR (`pp.fragments_to_insertions`:
//!   `sort_indices` + `sum_duplicates`).
//! - `uns/reference_sequences`: a dataframe with `reference_seq_name` (strings) and `reference_seq_length` (uint64).
//! - `obs` index = cell barcodes; `X` an empty cells × 0 CSR (scooby's `read_backed` opens `X` with `sparse_dataset`,
//!   so it must exist).
//!
//! [`write_scooby_h5ad`] writes `atac.h5ad`, `rna_plus.h5ad` and `rna_minus.h5ad` (the tracks the coverage has) into a
//! directory, each through a temporary name. The CSR is streamed: `indptr` from per-cell counts, then `indices`/`data`
//! filled for blocks of cells at a time (one scan of the store per block), never a dense matrix. Index dtypes are
//! int32 when the genome length and the entry count fit, else int64 (scipy's choice).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hdf5::types::{TypeDescriptor, VarLenUnicode};

use super::store::unpack;
use super::{Coverage, InsertionsBuilder, ReadsBuilder, ReferenceSequences, TrackKind};
use crate::data::h5::{int_list_attr, read_range, short, string_attr, H5File, CHUNK};
use crate::progress::{CancelToken, Progress};
use crate::{Result, RuntimeError};

/// File names [`write_scooby_h5ad`] uses in its directory.
pub const ATAC_FILE: &str = "atac.h5ad";
pub const RNA_PLUS_FILE: &str = "rna_plus.h5ad";
pub const RNA_MINUS_FILE: &str = "rna_minus.h5ad";

/// Entries placed per scan of the store when writing (≈ 12 bytes each in memory).
const WRITE_BLOCK: usize = 1 << 26;

/// Barcodes → cell numbers, shared by the files of one coverage.
#[derive(Default)]
struct CellIndex {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl CellIndex {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.index.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }
}

/// `uns/reference_sequences` (names: strings or categorical; lengths: any numeric type).
fn read_refs(f: &H5File) -> Result<ReferenceSequences> {
    let g = "uns/reference_sequences";
    if !f.has(g) {
        return Err(f.err(g, "missing: not a SnapATAC2 file (it records the genome there)"));
    }
    let names_path = format!("{g}/reference_seq_name");
    let names = if f.has(&format!("{names_path}/categories")) {
        let cats = f.strings(&format!("{names_path}/categories"), "chromosome names")?;
        let codes = f.numbers::<i64>(&format!("{names_path}/codes"), "category codes")?;
        codes
            .iter()
            .map(|&c| cats.get(c as usize).cloned().ok_or_else(|| f.err(&names_path, format!("bad category code {c}"))))
            .collect::<Result<Vec<_>>>()?
    } else {
        f.strings(&names_path, "chromosome names")?
    };
    let lengths = f.numbers::<u64>(&format!("{g}/reference_seq_length"), "chromosome lengths")?;
    if names.len() != lengths.len() || names.is_empty() {
        return Err(f.err(g, format!("{} names but {} lengths", names.len(), lengths.len())));
    }
    ReferenceSequences::new(names.into_iter().zip(lengths)).map_err(|e| f.err(g, e))
}

/// Cell barcodes: the `obs` dataframe's index.
fn read_obs_names(f: &H5File) -> Result<Vec<String>> {
    let obs = f.group("obs")?;
    let index = string_attr(&obs, "_index").unwrap_or_else(|| "_index".into());
    f.strings(&format!("obs/{index}"), "the cell barcodes (obs index)")
}

/// Values of a CSR `data` chunk as integers (floats must be whole numbers).
fn read_ints(f: &H5File, ds: &hdf5::Dataset, what: &str, a: usize, b: usize) -> Result<Vec<i64>> {
    let float = matches!(ds.dtype().and_then(|t| t.to_descriptor()), Ok(TypeDescriptor::Float(_)));
    if float {
        let v = read_range::<f64>(ds, a, b).map_err(|e| f.err(what, e))?;
        if let Some(k) = v.iter().position(|x| x.fract() != 0.0 || !x.is_finite()) {
            return Err(f.err(what, format!("entry {} is {}: expected whole numbers", a + k, v[k])));
        }
        Ok(v.into_iter().map(|x| x as i64).collect())
    } else {
        read_range::<i64>(ds, a, b).map_err(|e| f.err(what, e))
    }
}

/// Reads `obsm/<key>` of one file into `push(chrom, position, cell, value)`; returns the reference sequences.
fn read_matrix(
    path: &Path,
    key: &str,
    cells: &mut CellIndex,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
    mut push: impl FnMut(usize, u32, u32, i64) -> std::result::Result<(), String>,
) -> Result<ReferenceSequences> {
    let f = H5File::open(path)?;
    let g = format!("obsm/{key}");
    if !f.has(&g) {
        let have = f.group("obsm").ok().and_then(|o| o.member_names().ok()).unwrap_or_default();
        return Err(f.err(
            &g,
            format!(
                "missing (obsm has: {}); scooby reads RNA from obsm['fragment_single'] and ATAC from obsm['insertion']",
                if have.is_empty() { "nothing".to_string() } else { have.join(", ") }
            ),
        ));
    }
    let group = f.group(&g)?;
    let enc = string_attr(&group, "encoding-type").or_else(|| string_attr(&group, "h5sparse_format"));
    if !matches!(enc.as_deref(), Some("csr_matrix") | Some("csr")) {
        return Err(f.err(
            &g,
            format!("is {}, expected a CSR matrix (cells × genome)", enc.unwrap_or("not a sparse matrix".into())),
        ));
    }
    let shape = int_list_attr(&group, "shape").or_else(|| int_list_attr(&group, "h5sparse_shape"));
    let Some([n_rows, n_cols]) = shape.as_deref().and_then(|s| <[i64; 2]>::try_from(s).ok()) else {
        return Err(f.err(&g, "has no 2-D shape attribute"));
    };
    let refs = read_refs(&f)?;
    if n_cols as u64 != refs.total_length() {
        return Err(f.err(
            &g,
            format!(
                "has {n_cols} columns but uns/reference_sequences adds up to {} bp: the matrix is not cells × genome",
                refs.total_length()
            ),
        ));
    }
    let barcodes = read_obs_names(&f)?;
    if barcodes.len() as i64 != n_rows {
        return Err(f.err("obs", format!("lists {} cells but {g} has {n_rows} rows", barcodes.len())));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(b) = barcodes.iter().find(|b| !seen.insert(b.as_str())) {
        return Err(f.err("obs", format!("barcode {b} names two rows")));
    }
    let ids: Vec<u32> = barcodes.iter().map(|b| cells.id(b)).collect();
    let indptr = f.numbers::<i64>(&format!("{g}/indptr"), "CSR row pointers")?;
    let indices = f.dataset(&format!("{g}/indices"), "CSR column indices")?;
    let data = f.dataset(&format!("{g}/data"), "CSR values")?;
    let nnz = indices.size();
    if indptr.len() as i64 != n_rows + 1
        || indptr[0] != 0
        || indptr.windows(2).any(|w| w[1] < w[0])
        || *indptr.last().unwrap() as usize != nnz
        || data.size() != nnz
    {
        return Err(f.err(&g, "indptr, indices and data do not form a CSR matrix of its shape (corrupt or truncated)"));
    }
    progress.start(&format!("reading {} ({key})", path.display()), Some(nnz as u64));
    let mut row = 0usize;
    for a in (0..nnz).step_by(CHUNK) {
        cancel.check()?;
        let b = (a + CHUNK).min(nnz);
        let idx = read_range::<i64>(&indices, a, b).map_err(|e| f.err(&format!("{g}/indices"), e))?;
        let val = read_ints(&f, &data, &format!("{g}/data"), a, b)?;
        for (k, (&col, &v)) in idx.iter().zip(&val).enumerate() {
            while indptr[row + 1] as usize <= a + k {
                row += 1;
            }
            let Some((chrom, pos)) = (col >= 0).then(|| refs.locate(col as u64)).flatten() else {
                return Err(
                    f.err(&format!("{g}/indices"), format!("entry {} is column {col}, outside 0..{n_cols}", a + k))
                );
            };
            push(chrom, pos as u32, ids[row], v)
                .map_err(|m| f.err(&format!("{g}/data"), format!("entry {} (row {row}, column {col}): {m}", a + k)))?;
        }
        progress.update(b as u64, "");
    }
    progress.finish(&format!("{} cells, {nnz} entries", barcodes.len()));
    Ok(refs)
}

fn same_genome(a: &ReferenceSequences, b: &ReferenceSequences, path: &Path) -> Result<()> {
    if a.names() != b.names() || a.lengths() != b.lengths() {
        return Err(RuntimeError::parse(
            path,
            0,
            "uns/reference_sequences differs from the other file's: the files are not of the same genome",
        ));
    }
    Ok(())
}

/// Reads SnapATAC2-scooby files into one coverage: RNA of the plus and minus strand files (`obsm["fragment_single"]`)
/// and ATAC insertions (`obsm["insertion"]`). The two RNA files share one cell list (plus-file order, then cells only
/// in the minus file); with ATAC as well, the cells both modalities have are kept, in RNA order.
pub fn read_scooby_coverage(
    atac: Option<&Path>,
    rna_plus: Option<&Path>,
    rna_minus: Option<&Path>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Coverage> {
    if atac.is_none() && rna_plus.is_none() && rna_minus.is_none() {
        return Err(RuntimeError::invalid("files", "give at least one of atac, rna_plus, rna_minus"));
    }
    let mut rna: Option<Coverage> = None;
    if rna_plus.is_some() || rna_minus.is_some() {
        let mut cells = CellIndex::default();
        let mut refs: Option<(ReferenceSequences, &Path)> = None;
        let mut tracks: [Option<super::Reads>; 2] = [None, None];
        for (slot, path, sign) in [(0, rna_plus, 1i64), (1, rna_minus, -1)] {
            let Some(path) = path else { continue };
            let mut b = ReadsBuilder::new(0);
            let r = read_matrix(path, "fragment_single", &mut cells, progress, cancel, |c, p, cell, v| {
                if v == 0 {
                    return Ok(());
                }
                if v.signum() != sign || v.abs() > i32::MAX as i64 {
                    return Err(format!(
                        "value {v} in the {} strand file (SnapATAC2 stores {} reads with {} lengths); is it the \
                         other strand's file, or unstranded?",
                        if sign > 0 { "plus" } else { "minus" },
                        if sign > 0 { "plus" } else { "minus" },
                        if sign > 0 { "positive" } else { "negative" }
                    ));
                }
                b.ensure_chroms(c + 1);
                b.push(c, p, cell, v as i32);
                Ok(())
            })?;
            match &refs {
                Some((r0, _)) => same_genome(r0, &r, path)?,
                None => refs = Some((r, path)),
            }
            b.ensure_chroms(refs.as_ref().unwrap().0.len());
            tracks[slot] = Some(b.finish());
        }
        let [plus, minus] = tracks;
        rna = Some(Coverage {
            refs: Arc::new(refs.unwrap().0),
            cells: cells.names,
            atac: None,
            rna_plus: plus,
            rna_minus: minus,
        });
    }
    let atac_cov = match atac {
        None => None,
        Some(path) => {
            let mut cells = CellIndex::default();
            let mut b = InsertionsBuilder::new(0);
            let refs = read_matrix(path, "insertion", &mut cells, progress, cancel, |c, p, cell, v| {
                if !(0..=u32::MAX as i64).contains(&v) {
                    return Err(format!("insertion count {v} is not a count"));
                }
                b.ensure_chroms(c + 1);
                for _ in 0..v {
                    b.push(c, p, cell);
                }
                Ok(())
            })?;
            b.ensure_chroms(refs.len());
            if let Some(r) = &rna {
                same_genome(&r.refs, &refs, path)?;
            }
            Some(Coverage {
                refs: Arc::new(refs),
                cells: cells.names,
                atac: Some(b.finish()),
                rna_plus: None,
                rna_minus: None,
            })
        }
    };
    match (rna, atac_cov) {
        (Some(r), Some(a)) => r.join(&a),
        (Some(r), None) => Ok(r),
        (None, Some(a)) => Ok(a),
        (None, None) => unreachable!("checked above"),
    }
}

// ---- writing ----------------------------------------------------------------------------------------------------

type H5Result<T> = std::result::Result<T, hdf5::Error>;

fn str_attr(loc: &hdf5::Location, name: &str, value: &str) -> H5Result<()> {
    let v: VarLenUnicode = value.parse().map_err(|e| hdf5::Error::from(format!("{e}")))?;
    loc.new_attr::<VarLenUnicode>().shape(()).create(name)?.write_scalar(&v)
}

fn strs_attr(loc: &hdf5::Location, name: &str, values: &[&str]) -> H5Result<()> {
    if values.is_empty() {
        // anndata writes an empty column order as an empty float array
        loc.new_attr::<f64>().shape(0).create(name)?;
        return Ok(());
    }
    let v: Vec<VarLenUnicode> = values
        .iter()
        .map(|s| s.parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| hdf5::Error::from(format!("{e}")))?;
    loc.new_attr::<VarLenUnicode>().shape(v.len()).create(name)?.write_raw(&v)
}

fn encoding(loc: &hdf5::Location, kind: &str, version: &str) -> H5Result<()> {
    str_attr(loc, "encoding-type", kind)?;
    str_attr(loc, "encoding-version", version)
}

fn string_array(g: &hdf5::Group, name: &str, values: &[String]) -> H5Result<()> {
    let v: Vec<VarLenUnicode> = values
        .iter()
        .map(|s| s.parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| hdf5::Error::from(format!("{e}")))?;
    let ds = g.new_dataset::<VarLenUnicode>().shape(v.len()).create(name)?;
    if !v.is_empty() {
        ds.write_raw(&v)?;
    }
    encoding(&ds, "string-array", "0.2.0")
}

/// A dataframe group with a string index and no columns.
fn index_frame(parent: &hdf5::Group, name: &str, index: &[String]) -> H5Result<()> {
    let g = parent.create_group(name)?;
    encoding(&g, "dataframe", "0.2.0")?;
    str_attr(&g, "_index", "_index")?;
    strs_attr(&g, "column-order", &[])?;
    string_array(&g, "_index", index)
}

/// A 1-D dataset of `n` elements, chunked and deflated when not empty.
fn dataset<T: hdf5::H5Type>(g: &hdf5::Group, name: &str, n: usize) -> H5Result<hdf5::Dataset> {
    let b = g.new_dataset::<T>().shape(n);
    if n == 0 {
        b.create(name)
    } else {
        b.chunk(n.min(1 << 20)).deflate(4).create(name)
    }
}

/// The stored entries of one track, in cells × genome terms.
trait TrackSource {
    /// Entries per cell (canonical for insertions: one per distinct position).
    fn counts(&self, n_cells: usize) -> Vec<u64>;
    /// Calls `f(cell, column, value)` for every entry, by column then value within a cell.
    fn scan(&self, refs: &ReferenceSequences, f: &mut dyn FnMut(u32, u64, i64));
}

impl TrackSource for super::Reads {
    fn counts(&self, n_cells: usize) -> Vec<u64> {
        self.per_cell(n_cells)
    }
    fn scan(&self, refs: &ReferenceSequences, f: &mut dyn FnMut(u32, u64, i64)) {
        for c in 0..self.n_chroms() {
            let off = refs.offset(c);
            let (keys, vals) = self.chrom(c);
            for (&k, &v) in keys.iter().zip(vals) {
                let (p, cell) = unpack(k);
                f(cell, off + p as u64, v as i64);
            }
        }
    }
}

impl TrackSource for super::Insertions {
    fn counts(&self, n_cells: usize) -> Vec<u64> {
        let mut out = vec![0u64; n_cells];
        for c in 0..self.n_chroms() {
            let keys = self.chrom(c);
            for (i, &k) in keys.iter().enumerate() {
                if i == 0 || keys[i - 1] != k {
                    out[k as u32 as usize] += 1;
                }
            }
        }
        out
    }
    fn scan(&self, refs: &ReferenceSequences, f: &mut dyn FnMut(u32, u64, i64)) {
        for c in 0..self.n_chroms() {
            let off = refs.offset(c);
            let keys = self.chrom(c);
            let mut i = 0;
            while i < keys.len() {
                let mut j = i + 1;
                while j < keys.len() && keys[j] == keys[i] {
                    j += 1;
                }
                let (p, cell) = unpack(keys[i]);
                f(cell, off + p as u64, (j - i) as i64);
                i = j;
            }
        }
    }
}

/// Writes the CSR group `obsm/<key>` from a track, block of cells by block of cells.
#[allow(clippy::too_many_arguments)]
fn write_csr<V: hdf5::H5Type + Copy + Default + TryFrom<i64>, I: hdf5::H5Type + Copy + Default + TryFrom<u64>>(
    obsm: &hdf5::Group,
    key: &str,
    src: &dyn TrackSource,
    refs: &ReferenceSequences,
    n_cells: usize,
    block: usize,
    label: &str,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> std::result::Result<(), String> {
    let h5 = |e: hdf5::Error| short(&e);
    let g = obsm.create_group(key).map_err(h5)?;
    encoding(&g, "csr_matrix", "0.1.0").map_err(h5)?;
    let shape = [n_cells as i64, refs.total_length() as i64];
    g.new_attr::<i64>().shape(2).create("shape").and_then(|a| a.write_raw(&shape)).map_err(h5)?;
    let counts = src.counts(n_cells);
    let mut indptr = Vec::with_capacity(n_cells + 1);
    indptr.push(0u64);
    for c in &counts {
        indptr.push(indptr.last().unwrap() + c);
    }
    let nnz = *indptr.last().unwrap() as usize;
    let conv = |x: u64| I::try_from(x).map_err(|_| format!("{x} does not fit the index type"));
    let ip: Vec<I> = indptr.iter().map(|&x| conv(x)).collect::<std::result::Result<_, _>>()?;
    dataset::<I>(&g, "indptr", ip.len()).and_then(|d| d.write_raw(&ip)).map_err(h5)?;
    let ind_ds = dataset::<I>(&g, "indices", nnz).map_err(h5)?;
    let data_ds = dataset::<V>(&g, "data", nnz).map_err(h5)?;
    progress.start(label, Some(nnz as u64));
    let mut c0 = 0usize;
    while c0 < n_cells {
        cancel.check().map_err(|e| e.to_string())?;
        // the block: as many cells as fit `block` entries (at least one)
        let mut c1 = c0 + 1;
        while c1 < n_cells && indptr[c1 + 1] - indptr[c0] <= block as u64 {
            c1 += 1;
        }
        let base = indptr[c0];
        let len = (indptr[c1] - base) as usize;
        if len > 0 {
            let mut cols = vec![I::default(); len];
            let mut vals = vec![V::default(); len];
            let mut next: Vec<u64> = indptr[c0..c1].iter().map(|&p| p - base).collect();
            let mut bad: Option<String> = None;
            src.scan(refs, &mut |cell, col, v| {
                let cell = cell as usize;
                if cell < c0 || cell >= c1 {
                    return;
                }
                let slot = &mut next[cell - c0];
                match (I::try_from(col), V::try_from(v)) {
                    (Ok(ci), Ok(vi)) => {
                        cols[*slot as usize] = ci;
                        vals[*slot as usize] = vi;
                    }
                    _ => bad = Some(format!("column {col} or value {v} does not fit the stored type")),
                }
                *slot += 1;
            });
            if let Some(b) = bad {
                return Err(b);
            }
            let r = base as usize..base as usize + len;
            ind_ds.write_slice(&cols, r.clone()).map_err(h5)?;
            data_ds.write_slice(&vals, r).map_err(h5)?;
        }
        progress.update(indptr[c1], &format!("{c1} of {n_cells} cells"));
        c0 = c1;
    }
    progress.finish(&format!("{n_cells} cells, {nnz} entries"));
    Ok(())
}

/// One SnapATAC2-scooby file for one track.
fn write_file(
    path: &Path,
    cov: &Coverage,
    kind: TrackKind,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<()> {
    let mut inner: Option<RuntimeError> = None;
    let r = crate::io::write_via_temp(path, |tmp| {
        let fail = |m: String| std::io::Error::other(m);
        let h5 = |e: hdf5::Error| fail(short(&e));
        let f = hdf5::File::with_options().with_fapl(|p| p.file_locking(false)).create(tmp).map_err(h5)?;
        let root = f.as_group().map_err(h5)?;
        encoding(&root, "anndata", "0.1.0").map_err(h5)?;
        let n = cov.n_cells();
        // X: an empty cells × 0 CSR (scooby's read_backed needs it)
        let x = f.create_group("X").map_err(h5)?;
        encoding(&x, "csr_matrix", "0.1.0").map_err(h5)?;
        x.new_attr::<i64>().shape(2).create("shape").and_then(|a| a.write_raw(&[n as i64, 0])).map_err(h5)?;
        dataset::<f32>(&x, "data", 0).map_err(h5)?;
        dataset::<i32>(&x, "indices", 0).map_err(h5)?;
        dataset::<i32>(&x, "indptr", n + 1).and_then(|d| d.write_raw(&vec![0i32; n + 1])).map_err(h5)?;
        index_frame(&f, "obs", &cov.cells).map_err(h5)?;
        index_frame(&f, "var", &[]).map_err(h5)?;
        for name in ["layers", "obsp", "varm", "varp", "obsm", "uns"] {
            let g = f.create_group(name).map_err(h5)?;
            encoding(&g, "dict", "0.1.0").map_err(h5)?;
        }
        let refs = &cov.refs;
        let rs = f.group("uns").and_then(|u| u.create_group("reference_sequences")).map_err(h5)?;
        encoding(&rs, "dataframe", "0.2.0").map_err(h5)?;
        str_attr(&rs, "_index", "_index").map_err(h5)?;
        strs_attr(&rs, "column-order", &["reference_seq_name", "reference_seq_length"]).map_err(h5)?;
        let idx: Vec<i64> = (0..refs.len() as i64).collect();
        let ds = rs.new_dataset::<i64>().shape(idx.len()).create("_index").map_err(h5)?;
        ds.write_raw(&idx).map_err(h5)?;
        encoding(&ds, "array", "0.2.0").map_err(h5)?;
        string_array(&rs, "reference_seq_name", refs.names()).map_err(h5)?;
        let ds = rs.new_dataset::<u64>().shape(refs.len()).create("reference_seq_length").map_err(h5)?;
        ds.write_raw(refs.lengths()).map_err(h5)?;
        encoding(&ds, "array", "0.2.0").map_err(h5)?;

        let obsm = f.group("obsm").map_err(h5)?;
        let label = format!("writing {}", path.display());
        let (src, key): (&dyn TrackSource, &str) = match kind {
            TrackKind::Atac => (cov.atac.as_ref().unwrap(), "insertion"),
            TrackKind::RnaPlus => (cov.rna_plus.as_ref().unwrap(), "fragment_single"),
            TrackKind::RnaMinus => (cov.rna_minus.as_ref().unwrap(), "fragment_single"),
        };
        let nnz: u64 = src.counts(n).iter().sum();
        let wide = refs.total_length() > i32::MAX as u64 || nnz > i32::MAX as u64;
        let max_count = if kind == TrackKind::Atac {
            let mut m = 0i64;
            src.scan(refs, &mut |_, _, v| m = m.max(v));
            m
        } else {
            0
        };
        let written = match (kind, wide) {
            (TrackKind::Atac, false) if max_count <= u16::MAX as i64 => {
                write_csr::<u16, i32>(&obsm, key, src, refs, n, WRITE_BLOCK, &label, progress, cancel)
            }
            (TrackKind::Atac, true) if max_count <= u16::MAX as i64 => {
                write_csr::<u16, i64>(&obsm, key, src, refs, n, WRITE_BLOCK, &label, progress, cancel)
            }
            (TrackKind::Atac, false) => {
                write_csr::<u32, i32>(&obsm, key, src, refs, n, WRITE_BLOCK, &label, progress, cancel)
            }
            (TrackKind::Atac, true) => {
                write_csr::<u32, i64>(&obsm, key, src, refs, n, WRITE_BLOCK, &label, progress, cancel)
            }
            (_, false) => write_csr::<i32, i32>(&obsm, key, src, refs, n, WRITE_BLOCK, &label, progress, cancel),
            (_, true) => write_csr::<i32, i64>(&obsm, key, src, refs, n, WRITE_BLOCK, &label, progress, cancel),
        };
        if let Err(m) = written {
            if m == RuntimeError::Interrupted.to_string() {
                inner = Some(RuntimeError::Interrupted);
            }
            return Err(fail(m));
        }
        f.close().map_err(h5)?;
        Ok(())
    });
    match (r, inner) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(RuntimeError::Other(format!("cannot write {}: {e}", path.display()))),
        (Ok(()), None) => Ok(()),
    }
}

/// Writes one SnapATAC2-scooby file per track of the coverage into directory `dir` (created if missing):
/// [`ATAC_FILE`], [`RNA_PLUS_FILE`], [`RNA_MINUS_FILE`]. Returns the paths written, in scooby's track order.
pub fn write_scooby_h5ad(
    cov: &Coverage,
    dir: &Path,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Vec<PathBuf>> {
    if cov.tracks().is_empty() {
        return Err(RuntimeError::invalid("coverage", "has no tracks to write"));
    }
    if dir.is_file() {
        return Err(RuntimeError::invalid("path", format!("{} is a file; give a directory", dir.display())));
    }
    // scooby reads a plus file as [col, col + v) and a minus file as [col + v + 1, col + 1): other signs would vanish
    for (kind, reads, plus) in [(TrackKind::RnaPlus, &cov.rna_plus, true), (TrackKind::RnaMinus, &cov.rna_minus, false)]
    {
        let Some(r) = reads else { continue };
        let wrong = (0..r.n_chroms()).map(|c| r.chrom(c).1.iter().filter(|&&v| (v > 0) != plus).count()).sum::<usize>();
        if wrong > 0 {
            return Err(RuntimeError::invalid(
                "coverage",
                format!(
                    "the {} track holds {wrong} entries with {} lengths; a SnapATAC2-scooby {} file holds only {} ones",
                    kind.name(),
                    if plus { "negative or zero" } else { "positive or zero" },
                    kind.name(),
                    if plus { "positive" } else { "negative" }
                ),
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
    let mut out = Vec::new();
    for kind in cov.tracks() {
        let name = match kind {
            TrackKind::Atac => ATAC_FILE,
            TrackKind::RnaPlus => RNA_PLUS_FILE,
            TrackKind::RnaMinus => RNA_MINUS_FILE,
        };
        let path = dir.join(name);
        write_file(&path, cov, kind, progress, cancel)?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "scooby_h5ad_tests.rs"]
mod tests;
