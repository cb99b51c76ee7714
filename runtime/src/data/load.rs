//! `load_peaks`: one entry point for every peak-matrix format, chosen from the path (or named explicitly), followed
//! by the usual filters. Formats: 10x `.h5` (ATAC and ARC multiome), AnnData `.h5ad`, Matrix Market (`matrix.mtx[.gz]`
//! + barcodes + peaks BED, or a 10x `filtered_peak_bc_matrix/` directory holding them).

use std::path::{Path, PathBuf};

use crate::data::bed::read_bed;
use crate::data::cells::CellMeta;
use crate::data::dataset::{ChromosomeFilter, FilterReport, PeakDataset};
use crate::data::h5ad_read::read_h5ad;
use crate::data::matrix::{FilterSpec, PeakMatrix};
use crate::data::mtx::read_mtx_dataset;
use crate::data::tenx_h5::read_10x_h5;
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, Progress};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    TenxH5,
    H5ad,
    Mtx,
}

impl Format {
    pub const NAMES: [&'static str; 3] = ["10x_h5", "h5ad", "mtx"];
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "10x_h5" | "10x" => Some(Format::TenxH5),
            "h5ad" | "anndata" => Some(Format::H5ad),
            "mtx" => Some(Format::Mtx),
            _ => None,
        }
    }
}

/// How to load and filter.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub format: Option<Format>,
    /// Peaks BED for a 10x `.h5` without coordinates, or for a Matrix Market file.
    pub peaks: Option<PathBuf>,
    /// Barcodes file for a Matrix Market file.
    pub barcodes: Option<PathBuf>,
    pub filter: FilterSpec,
    pub chromosomes: ChromosomeFilter,
    pub binarize: bool,
    /// `.h5ad` only: keep the matrix binary as a memory-mapped cell index built once beside the file
    /// ([`crate::data::cell_store`]), for atlases larger than memory.
    pub cell_index: bool,
}

impl Default for LoadOptions {
    /// No filtering, all chromosomes, values kept as stored.
    fn default() -> Self {
        LoadOptions {
            format: None,
            peaks: None,
            barcodes: None,
            filter: FilterSpec { min_cell_fraction: None, min_cells: None, min_peaks_per_cell: 0 },
            chromosomes: ChromosomeFilter::All,
            binarize: false,
            cell_index: false,
        }
    }
}

/// Loads, then filters (and binarises when asked). Returns the dataset and what the filters removed.
pub fn load_peaks(
    path: &Path,
    opts: &LoadOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(PeakDataset, FilterReport)> {
    let data = read_any(path, opts, progress, cancel)?;
    let (mut data, report) = data.filter(&opts.filter, &opts.chromosomes)?;
    if opts.binarize {
        data.matrix.binarize();
    }
    Ok((data, report))
}

/// Reads a dataset without filtering.
pub fn read_any(
    path: &Path,
    opts: &LoadOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<PeakDataset> {
    if !path.exists() {
        return Err(RuntimeError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    let source = path.display().to_string();
    if path.is_dir() {
        let (m, b, p) = mtx_parts(path, opts)?;
        let (matrix, peaks, barcodes) = read_mtx_dataset(&m, &b, &p)?;
        return PeakDataset::new(peaks, CellMeta::new(barcodes), matrix, source);
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect(path)?,
    };
    if opts.cell_index {
        if format != Format::H5ad {
            return Err(RuntimeError::invalid(
                "cell_index",
                format!("a cell index is built from an .h5ad with a sparse X; {} is not one", path.display()),
            ));
        }
        let (rows, peaks, cells, _) = crate::data::cell_store::open_or_build(path, progress, cancel)?;
        return PeakDataset::new(peaks, cells, PeakMatrix::binary(rows), source);
    }
    match format {
        Format::TenxH5 => {
            let (matrix, peaks, barcodes) = read_10x_h5(path, opts.peaks.as_deref(), progress, cancel)?;
            PeakDataset::new(peaks, CellMeta::new(barcodes), matrix, source)
        }
        Format::H5ad => {
            let (matrix, peaks, cells) = read_h5ad(path, progress, cancel)?;
            PeakDataset::new(peaks, cells, matrix, source)
        }
        Format::Mtx => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let (b, p) = barcodes_and_peaks(dir, opts)?;
            let (matrix, peaks, barcodes) = read_mtx_dataset(path, &b, &p)?;
            PeakDataset::new(peaks, CellMeta::new(barcodes), matrix, source)
        }
    }
}

fn detect(path: &Path) -> Result<Format> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if name.ends_with(".h5ad") {
        return Ok(Format::H5ad);
    }
    if name.ends_with(".mtx") || name.ends_with(".mtx.gz") {
        return Ok(Format::Mtx);
    }
    if name.ends_with(".h5") || name.ends_with(".hdf5") {
        return Ok(Format::TenxH5);
    }
    if name.ends_with(".bed") || name.ends_with(".bed.gz") || name.contains("narrowpeak") {
        return Err(RuntimeError::invalid(
            "path",
            format!("{} is a peak set without counts: use load_bed for peaks alone, or pass the matrix (.h5, .h5ad, .mtx) with `peaks` set to this file", path.display()),
        ));
    }
    // sniff an HDF5 signature for unusual extensions
    let mut head = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open(path) {
        use std::io::Read;
        let _ = f.read(&mut head);
    }
    if head == *b"\x89HDF\r\n\x1a\n" {
        return Err(RuntimeError::invalid(
            "format",
            format!("{} is HDF5 with an unknown extension: say format: \"10x_h5\" or \"h5ad\"", path.display()),
        ));
    }
    Err(RuntimeError::invalid(
        "path",
        format!("cannot tell the format of {}: expected .h5 (10x), .h5ad (AnnData), .mtx[.gz] (Matrix Market) or a 10x matrix directory", path.display()),
    ))
}

/// `matrix.mtx[.gz]`, barcodes and peaks inside a 10x matrix directory.
fn mtx_parts(dir: &Path, opts: &LoadOptions) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let m = find(dir, &["matrix.mtx"]).ok_or_else(|| missing_part(dir, "matrix", "matrix.mtx[.gz]"))?;
    let (b, p) = barcodes_and_peaks(dir, opts)?;
    Ok((m, b, p))
}

/// The barcodes and peaks files of a Matrix Market matrix: the options' paths, else the usual names in `dir`.
fn barcodes_and_peaks(dir: &Path, opts: &LoadOptions) -> Result<(PathBuf, PathBuf)> {
    let b = match &opts.barcodes {
        Some(b) => b.clone(),
        None => find(dir, &["barcodes.tsv", "barcodes.txt"])
            .ok_or_else(|| missing_part(dir, "barcodes", "barcodes.tsv[.gz]"))?,
    };
    let p = match &opts.peaks {
        Some(p) => p.clone(),
        None => {
            find(dir, &["peaks.bed", "peaks.narrowPeak"]).ok_or_else(|| missing_part(dir, "peaks", "peaks.bed[.gz]"))?
        }
    };
    Ok((b, p))
}

fn find(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().flat_map(|n| [dir.join(n), dir.join(format!("{n}.gz"))]).find(|p| p.is_file())
}

fn missing_part(dir: &Path, what: &str, expected: &str) -> RuntimeError {
    RuntimeError::invalid(what, format!("no {expected} in {}: pass its path with the `{what}` option", dir.display()))
}

/// Reads a BED / narrowPeak peak set (re-exported here so callers find every loader in one place).
pub fn load_bed(path: &Path) -> Result<crate::data::bed::PeakSet> {
    read_bed(path)
}
