//! Writing 10x Genomics feature-barcode matrices (`filtered_feature_bc_matrix.h5`) in Cell Ranger ARC's layout, so
//! that simulated data can stand in for a real multiome download: group `matrix` with `barcodes`, `data`,
//! `indices`, `indptr`, `shape` = [features, barcodes] (CSC: one `indptr` range per barcode) and
//! `features/{id, name, feature_type, genome, interval}` as fixed-length ASCII like Cell Ranger writes them. Peaks
//! get ids `chr:start-end` and type `Peaks`; optional extra features (a multiome's genes) come first with type
//! `Gene Expression`. Written to a temporary file and renamed.

use std::path::Path;

use hdf5::types::FixedAscii;

use crate::data::bed::PeakSet;
use crate::data::matrix::PeakMatrix;
use crate::error::{Result, RuntimeError};

/// Gene-expression features to write ahead of the peaks: names and, per gene, (cell, count) entries.
#[derive(Clone, Debug, Default)]
pub struct GeneFeatures {
    pub names: Vec<String>,
    pub counts: Vec<Vec<(u32, u32)>>,
}

/// Writes peaks × cells counts (plus `genes`) as a 10x multiome feature-barcode matrix.
pub fn write_10x_h5(
    path: &Path,
    matrix: &PeakMatrix,
    peaks: &PeakSet,
    barcodes: &[String],
    genes: &GeneFeatures,
    genome_name: &str,
) -> Result<()> {
    if peaks.len() != matrix.n_peaks || barcodes.len() != matrix.n_cells || genes.names.len() != genes.counts.len() {
        return Err(RuntimeError::invalid(
            "matrix",
            format!(
                "{} peaks, {} barcodes and {} genes do not fit a {} × {} matrix",
                peaks.len(),
                barcodes.len(),
                genes.names.len(),
                matrix.n_peaks,
                matrix.n_cells
            ),
        ));
    }
    crate::io::write_via_temp(path, |tmp| {
        write_to(tmp, matrix, peaks, barcodes, genes, genome_name).map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|e| RuntimeError::Other(format!("cannot write {}: {e}", path.display())))
}

fn fixed(s: &str) -> std::result::Result<FixedAscii<256>, hdf5::Error> {
    FixedAscii::<256>::from_ascii(s.as_bytes()).map_err(|e| hdf5::Error::from(format!("'{s}' is not short ASCII: {e}")))
}

fn write_strings(g: &hdf5::Group, name: &str, values: &[String]) -> std::result::Result<(), hdf5::Error> {
    let v: Vec<FixedAscii<256>> = values.iter().map(|s| fixed(s)).collect::<std::result::Result<_, _>>()?;
    g.new_dataset_builder().with_data(&v).create(name)?;
    Ok(())
}

fn write_to(
    path: &Path,
    matrix: &PeakMatrix,
    peaks: &PeakSet,
    barcodes: &[String],
    genes: &GeneFeatures,
    genome_name: &str,
) -> std::result::Result<(), hdf5::Error> {
    let n_genes = genes.names.len();
    let n_features = n_genes + matrix.n_peaks;
    // CSC by barcode: every cell's (feature, count) entries in feature order (genes first, then peaks)
    let mut per_cell: Vec<Vec<(u32, i32)>> = vec![Vec::new(); matrix.n_cells];
    for (gi, entries) in genes.counts.iter().enumerate() {
        for &(c, n) in entries {
            if (c as usize) < matrix.n_cells && n > 0 {
                per_cell[c as usize].push((gi as u32, n as i32));
            }
        }
    }
    for p in 0..matrix.n_peaks {
        for (&c, &v) in matrix.row_indices(p).iter().zip(matrix.row_values(p)) {
            per_cell[c as usize].push(((n_genes + p) as u32, v.round().max(1.0) as i32));
        }
    }
    let mut indptr = Vec::with_capacity(matrix.n_cells + 1);
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    indptr.push(0i64);
    for cell in &mut per_cell {
        cell.sort_unstable_by_key(|e| e.0);
        for &(f, v) in cell.iter() {
            indices.push(f as i64);
            data.push(v);
        }
        indptr.push(indices.len() as i64);
    }

    let file = hdf5::File::create(path)?;
    let m = file.create_group("matrix")?;
    write_strings(&m, "barcodes", barcodes)?;
    m.new_dataset_builder().with_data(&data).create("data")?;
    m.new_dataset_builder().with_data(&indices).create("indices")?;
    m.new_dataset_builder().with_data(&indptr).create("indptr")?;
    m.new_dataset_builder().with_data(&[n_features as i32, matrix.n_cells as i32]).create("shape")?;
    let f = m.create_group("features")?;
    let peak_ids: Vec<String> =
        (0..peaks.len()).map(|i| format!("{}:{}-{}", peaks.chrom[i], peaks.start[i], peaks.end[i])).collect();
    let ids: Vec<String> = genes.names.iter().cloned().chain(peak_ids.iter().cloned()).collect();
    write_strings(&f, "id", &ids)?;
    write_strings(&f, "name", &ids)?;
    let types: Vec<String> =
        (0..n_features).map(|i| if i < n_genes { "Gene Expression" } else { "Peaks" }.to_string()).collect();
    write_strings(&f, "feature_type", &types)?;
    write_strings(&f, "genome", &vec![genome_name.to_string(); n_features])?;
    let intervals: Vec<String> = genes.names.iter().map(|_| "NA".to_string()).chain(peak_ids).collect();
    write_strings(&f, "interval", &intervals)?;
    write_strings(&f, "_all_tag_keys", &["genome".to_string(), "interval".to_string()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tenx_h5::read_10x_h5;
    use crate::progress::{CancelToken, NoProgress};

    #[test]
    fn written_multiome_matrix_reads_back_with_only_its_peaks() {
        let dir = tempfile::tempdir().unwrap();
        let m =
            PeakMatrix::from_triplets(3, 4, &[0, 0, 1, 2, 2], &[0, 3, 1, 2, 3], &[1.0, 2.0, 1.0, 1.0, 3.0]).unwrap();
        let mut peaks = PeakSet::default();
        for (i, s) in [100u64, 5000, 9000].iter().enumerate() {
            peaks.push(if i < 2 { "chr1" } else { "chr2" }, *s, s + 500, None);
        }
        let barcodes: Vec<String> = (0..4).map(|c| format!("AAAC{c}-1")).collect();
        let genes = GeneFeatures {
            names: vec!["GENE1".into(), "GENE2".into()],
            counts: vec![vec![(0, 5), (2, 1)], vec![(3, 2)]],
        };
        let path = dir.path().join("filtered_feature_bc_matrix.h5");
        write_10x_h5(&path, &m, &peaks, &barcodes, &genes, "sim").unwrap();
        let (back, p, b) = read_10x_h5(&path, None, &mut NoProgress, &CancelToken::default()).unwrap();
        assert_eq!(b, barcodes);
        assert_eq!(p.chrom, peaks.chrom);
        assert_eq!(p.start, peaks.start);
        assert_eq!(p.end, peaks.end);
        assert_eq!((back.n_peaks, back.n_cells), (3, 4));
        for i in 0..3 {
            assert_eq!(back.row_indices(i), m.row_indices(i), "peak {i}");
            assert_eq!(back.row_values(i), m.row_values(i), "peak {i}");
        }
        assert!(write_10x_h5(&path, &m, &peaks, &barcodes[..3], &genes, "sim").is_err());
    }
}
