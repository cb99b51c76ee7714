//! 10x Genomics feature-barcode matrices in HDF5: Cell Ranger ATAC `filtered_peak_bc_matrix.h5` and Cell Ranger ARC
//! `filtered_feature_bc_matrix.h5` (only the features of type `Peaks` are kept). Layout: group `matrix` with
//! `barcodes`, `data`, `indices`, `indptr`, `shape` = [features, barcodes] (CSC: one `indptr` range per barcode) and
//! `features/{id, name, feature_type, interval}`. Peak coordinates come from `features/id` (`chr1:100-200`), else
//! `features/interval`, else the `peaks.bed` the user passes.

use std::path::Path;

use crate::data::bed::{read_bed, PeakSet};
use crate::data::h5::H5File;
use crate::data::matrix::PeakMatrix;
use crate::data::sparse_h5::SparseH5;
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, Progress};
use crate::seq::Region;

/// Reads a 10x peak matrix: (peaks × cells matrix, peaks, barcodes).
pub fn read_10x_h5(
    path: &Path,
    peaks_bed: Option<&Path>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(PeakMatrix, PeakSet, Vec<String>)> {
    let f = H5File::open(path)?;
    let g = if f.has("matrix") {
        "matrix".to_string()
    } else {
        // Cell Ranger ATAC 1.x wrote one group named after the genome
        let names = f.file.member_names().unwrap_or_default();
        names.into_iter().find(|n| f.has(&format!("{n}/indptr"))).ok_or_else(|| {
            f.err("matrix", "missing: expected a 10x feature-barcode matrix (group 'matrix' with barcodes, data, indices, indptr, shape)")
        })?
    };
    let shape = f.numbers::<i64>(&format!("{g}/shape"), "the matrix shape [features, barcodes]")?;
    if shape.len() != 2 || shape.iter().any(|&s| s < 0) {
        return Err(f.err(
            &format!("{g}/shape"),
            format!("expected two non-negative numbers [features, barcodes], found {shape:?}"),
        ));
    }
    let (n_features, n_barcodes) = (shape[0] as usize, shape[1] as usize);
    let barcodes = f.strings(&format!("{g}/barcodes"), "the cell barcodes")?;
    if barcodes.len() != n_barcodes {
        return Err(f.err(
            &format!("{g}/barcodes"),
            format!("has {} barcodes but the shape says {n_barcodes}", barcodes.len()),
        ));
    }

    // which features are peaks, and their coordinates
    let feature_types = if f.has(&format!("{g}/features/feature_type")) {
        Some(f.strings(&format!("{g}/features/feature_type"), "feature types")?)
    } else {
        None
    };
    let is_peak: Vec<bool> = match &feature_types {
        Some(t) => {
            if t.len() != n_features {
                return Err(f.err(
                    &format!("{g}/features/feature_type"),
                    format!("has {} entries but the shape says {n_features} features", t.len()),
                ));
            }
            t.iter().map(|s| s == "Peaks").collect()
        }
        None => vec![true; n_features],
    };
    let n_peaks = is_peak.iter().filter(|&&p| p).count();
    if n_peaks == 0 {
        return Err(f.err(
            &format!("{g}/features/feature_type"),
            "no feature has type 'Peaks': this is not an ATAC or multiome matrix",
        ));
    }
    let mut keep = vec![u32::MAX; n_features];
    let mut peak_rows = Vec::with_capacity(n_peaks);
    for (i, _) in is_peak.iter().enumerate().filter(|(_, &p)| p) {
        keep[i] = peak_rows.len() as u32;
        peak_rows.push(i);
    }
    let peaks = match peaks_bed {
        Some(bed) => {
            let p = read_bed(bed)?;
            if p.len() != n_peaks {
                return Err(RuntimeError::parse(
                    bed,
                    0,
                    format!("has {} peaks but {} has {n_peaks} peak features", p.len(), path.display()),
                ));
            }
            p
        }
        None => peaks_from_features(&f, &g, &peak_rows)?,
    };

    let sparse = SparseH5 {
        file: &f,
        group: g.clone(),
        indptr: f.dataset(&format!("{g}/indptr"), "the CSC column pointers")?,
        indices: f.dataset(&format!("{g}/indices"), "the feature index of each entry")?,
        data: f.dataset(&format!("{g}/data"), "the counts")?,
        n_major: n_barcodes,
        n_minor: n_features,
    };
    let keep_map = if n_peaks == n_features { None } else { Some(keep.as_slice()) };
    let m = sparse.to_peak_matrix(false, keep_map, progress, cancel)?;
    Ok((m, peaks, barcodes))
}

fn peaks_from_features(f: &H5File, g: &str, rows: &[usize]) -> Result<PeakSet> {
    let mut tried = Vec::new();
    for field in ["features/id", "features/interval", "features/name", "genes"] {
        let name = format!("{g}/{field}");
        if !f.has(&name) {
            continue;
        }
        let all = f.strings(&name, "feature names")?;
        let mut peaks = PeakSet::default();
        let mut ok = true;
        for &r in rows {
            match all.get(r).and_then(|s| s.parse::<Region>().ok()) {
                Some(reg) => peaks.push(&reg.chrom, reg.start, reg.end, Some(&all[r])),
                None => {
                    tried.push(format!("'{name}' (e.g. '{}')", all.get(r).map(String::as_str).unwrap_or("")));
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return Ok(peaks);
        }
    }
    Err(f.err(
        &format!("{g}/features"),
        format!(
            "no peak coordinates: expected feature ids like 'chr1:100-200'{}; pass the matching peaks.bed with the `peaks` option",
            if tried.is_empty() { String::new() } else { format!(" (tried {})", tried.join(", ")) }
        ),
    ))
}
