//! Matrix Market triplets (`matrix.mtx[.gz]` + `barcodes.tsv[.gz]` + `peaks.bed[.gz]`), as 10x Cell Ranger ATAC
//! writes them. The coordinate list is streamed into CSR (memory ~ nnz); the orientation (peaks × cells or
//! cells × peaks) is decided from the peak and barcode counts. [`parse_mtx`] and [`parse_barcodes`] read any
//! [`BufRead`]; [`read_mtx`], [`read_barcodes`] and [`read_mtx_dataset`] open paths (gunzipping them when needed).

use std::io::BufRead;
use std::path::Path;

use crate::data::bed::{read_bed, PeakSet};
use crate::data::matrix::PeakMatrix;
use crate::data::text::open_text;
use crate::error::{Result, RuntimeError};

/// A coordinate matrix as stored: `rows × cols` with 0-based (row, col, value) entries.
#[derive(Debug)]
pub struct Coordinates {
    pub rows: usize,
    pub cols: usize,
    pub row: Vec<u32>,
    pub col: Vec<u32>,
    pub val: Vec<f32>,
}

/// Reads a Matrix Market `coordinate` file (integer, real or pattern; general), plain or gzipped.
pub fn read_mtx(path: &Path) -> Result<Coordinates> {
    parse_mtx(open_text(path)?, path)
}

/// Parses a Matrix Market `coordinate` matrix from `reader`; `source` names the input in errors
/// (`source:line: message`).
pub fn parse_mtx(reader: impl BufRead, source: impl AsRef<Path>) -> Result<Coordinates> {
    let path = source.as_ref();
    let mut lines = reader.lines().enumerate();
    let err = |line: usize, msg: String| RuntimeError::parse(path, line, msg);
    let (_, header) = lines.next().ok_or_else(|| err(0, "empty file: expected a %%MatrixMarket header".into()))?;
    let header = header.map_err(|e| err(1, format!("cannot read: {e}")))?;
    let h: Vec<String> = header.split_whitespace().map(|s| s.to_ascii_lowercase()).collect();
    if h.first().map(String::as_str) != Some("%%matrixmarket") || h.get(1).map(String::as_str) != Some("matrix") {
        return Err(err(1, format!("expected '%%MatrixMarket matrix coordinate ...', found '{header}'")));
    }
    if h.get(2).map(String::as_str) != Some("coordinate") {
        return Err(err(1, "only the sparse 'coordinate' layout is supported (not 'array')".into()));
    }
    let pattern = h.get(3).map(String::as_str) == Some("pattern");
    if let Some(sym) = h.get(4) {
        if sym != "general" {
            return Err(err(1, format!("symmetry '{sym}' is not supported: expected 'general'")));
        }
    }
    let mut size: Option<(usize, usize, usize)> = None;
    let (mut row, mut col, mut val) = (Vec::new(), Vec::new(), Vec::new());
    for (i, line) in lines {
        let lineno = i + 1;
        let line = line.map_err(|e| err(lineno, format!("cannot read (truncated or corrupt file?): {e}")))?;
        let t = line.trim();
        if t.is_empty() || t.starts_with('%') {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        let Some((nr, nc, nnz)) = size else {
            if f.len() != 3 {
                return Err(err(lineno, format!("expected the size line 'rows cols entries', found '{t}'")));
            }
            let n = |k: usize| {
                f[k].parse::<usize>()
                    .map_err(|_| err(lineno, format!("size field {} is not a number: '{}'", k + 1, f[k])))
            };
            let s = (n(0)?, n(1)?, n(2)?);
            if s.0 > u32::MAX as usize || s.1 > u32::MAX as usize {
                return Err(err(
                    lineno,
                    format!("{} x {} is too large: at most {} rows and columns", s.0, s.1, u32::MAX),
                ));
            }
            // The announced count is not trusted for memory: a damaged size line must not reserve gigabytes.
            let reserve = s.2.min(1 << 20);
            row.reserve(reserve);
            col.reserve(reserve);
            val.reserve(reserve);
            size = Some(s);
            continue;
        };
        let want = if pattern { 2 } else { 3 };
        if f.len() < want {
            return Err(err(
                lineno,
                format!("expected {want} fields (row col{}), found {}", if pattern { "" } else { " value" }, f.len()),
            ));
        }
        let idx = |k: usize, n: usize, what: &str| -> Result<u32> {
            let v: usize =
                f[k].parse().map_err(|_| err(lineno, format!("{what} index is not a positive integer: '{}'", f[k])))?;
            if v == 0 || v > n {
                return Err(err(lineno, format!("{what} index {v} is outside 1..={n}")));
            }
            Ok((v - 1) as u32)
        };
        row.push(idx(0, nr, "row")?);
        col.push(idx(1, nc, "column")?);
        val.push(if pattern {
            1.0
        } else {
            match f[2].parse::<f32>() {
                Ok(v) if v.is_finite() => v,
                Ok(_) => return Err(err(lineno, format!("value is not a finite number: '{}'", f[2]))),
                Err(_) => return Err(err(lineno, format!("value is not a number: '{}'", f[2]))),
            }
        });
        if row.len() > nnz {
            return Err(err(lineno, format!("more entries than the {nnz} announced in the size line")));
        }
    }
    let (rows, cols, nnz) = size.ok_or_else(|| err(0, "no size line: the file ends after its header".into()))?;
    if row.len() != nnz {
        return Err(err(
            0,
            format!("the size line announces {nnz} entries but the file has {} (truncated?)", row.len()),
        ));
    }
    Ok(Coordinates { rows, cols, row, col, val })
}

/// Reads one barcode per line (first tab-separated column) from a plain or gzipped file.
pub fn read_barcodes(path: &Path) -> Result<Vec<String>> {
    parse_barcodes(open_text(path)?, path)
}

/// Parses one barcode per line (first tab-separated column) from `reader`; `source` names the input in errors.
pub fn parse_barcodes(reader: impl BufRead, source: impl AsRef<Path>) -> Result<Vec<String>> {
    let path = source.as_ref();
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| RuntimeError::parse(path, i + 1, format!("cannot read: {e}")))?;
        let b = line.split('\t').next().unwrap_or("").trim();
        if b.is_empty() {
            return Err(RuntimeError::parse(path, i + 1, "empty barcode line"));
        }
        out.push(b.to_string());
    }
    if out.is_empty() {
        return Err(RuntimeError::parse(path, 0, "no barcodes found (empty file)"));
    }
    Ok(out)
}

/// Matrix + barcodes + peaks, oriented peaks × cells.
pub fn read_mtx_dataset(matrix: &Path, barcodes: &Path, peaks: &Path) -> Result<(PeakMatrix, PeakSet, Vec<String>)> {
    let coords = read_mtx(matrix)?;
    let cells = read_barcodes(barcodes)?;
    let peak_set = read_bed(peaks)?;
    let (np, nc) = (peak_set.len(), cells.len());
    let m = if (coords.rows, coords.cols) == (np, nc) {
        PeakMatrix::from_triplets(np, nc, &coords.row, &coords.col, &coords.val)?
    } else if (coords.rows, coords.cols) == (nc, np) {
        PeakMatrix::from_triplets(np, nc, &coords.col, &coords.row, &coords.val)?
    } else {
        return Err(RuntimeError::parse(
            matrix,
            0,
            format!(
                "the matrix is {} × {} but {} has {np} peaks and {} has {nc} barcodes: expected {np} × {nc} (peaks × cells) or {nc} × {np}",
                coords.rows, coords.cols, peaks.display(), barcodes.display()
            ),
        ));
    };
    Ok((m, peak_set, cells))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_a_10x_style_triplet_in_either_orientation() {
        let dir = tempfile::tempdir().unwrap();
        let bed = write(&dir, "peaks.bed", "chr1\t10\t20\nchr1\t30\t40\nchr2\t5\t9\n");
        let bc = write(&dir, "barcodes.tsv", "AAAC-1\nAAAG-1\n");
        let mtx = write(
            &dir,
            "matrix.mtx",
            "%%MatrixMarket matrix coordinate integer general\n%metadata\n3 2 3\n1 1 2\n3 2 1\n2 2 4\n",
        );
        let (m, p, c) = read_mtx_dataset(&mtx, &bc, &bed).unwrap();
        assert_eq!((m.n_peaks, m.n_cells, m.nnz()), (3, 2, 3));
        assert_eq!(m.row_indices(1), &[1]);
        assert_eq!(m.row_values(1), &[4.0]);
        assert_eq!((p.len(), c[1].as_str()), (3, "AAAG-1"));
        let t = write(&dir, "t.mtx", "%%MatrixMarket matrix coordinate pattern general\n2 3 2\n1 1\n2 3\n");
        let (m, ..) = read_mtx_dataset(&t, &bc, &bed).unwrap();
        assert_eq!((m.row_indices(0), m.row_indices(2)), (&[0u32][..], &[1u32][..]));
    }

    #[test]
    fn broken_mtx_files_give_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let h = "%%MatrixMarket matrix coordinate integer general\n";
        let cases = [
            (String::new(), "empty file"),
            ("hello\n".to_string(), "m.mtx:1: expected '%%MatrixMarket matrix coordinate"),
            (format!("{h}3 2\n"), "m.mtx:2: expected the size line"),
            (format!("{h}3 2 2\n1 1 1\n"), "announces 2 entries but the file has 1 (truncated?)"),
            (format!("{h}3 2 1\n4 1 1\n"), "m.mtx:3: row index 4 is outside 1..=3"),
            (format!("{h}3 2 1\n1 x 1\n"), "m.mtx:3: column index is not a positive integer: 'x'"),
            (format!("{h}3 2 1\n1 1 abc\n"), "m.mtx:3: value is not a number: 'abc'"),
            (format!("{h}3 2 1\n1 1 1\n2 2 1\n"), "m.mtx:4: more entries than the 1 announced"),
            ("%%MatrixMarket matrix array real general\n".to_string(), "only the sparse 'coordinate' layout"),
        ];
        for (text, expected) in cases {
            let p = write(&dir, "m.mtx", &text);
            let e = read_mtx(&p).unwrap_err().to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
        let bed = write(&dir, "peaks.bed", "chr1\t10\t20\n");
        let bc = write(&dir, "barcodes.tsv", "A\nB\n");
        let mtx = write(&dir, "m.mtx", &format!("{h}3 2 1\n1 1 1\n"));
        let e = read_mtx_dataset(&mtx, &bc, &bed).unwrap_err().to_string();
        assert!(e.contains("the matrix is 3 × 2 but") && e.contains("has 1 peaks"), "{e}");
        let empty = write(&dir, "e.tsv", "");
        assert!(read_barcodes(&empty).unwrap_err().to_string().contains("no barcodes"));
    }

    const HEADER: &str = "%%MatrixMarket matrix coordinate real general\n";

    #[test]
    fn parses_mtx_and_barcodes_from_bytes() {
        let text = format!("{HEADER}% written by a test\n\n2 3 3\n1 1 0.5\n2 3 1e1\n1 2 -2\n");
        let c = parse_mtx(text.as_bytes(), "<bytes>").unwrap();
        assert_eq!((c.rows, c.cols), (2, 3));
        assert_eq!((c.row, c.col, c.val), (vec![0, 1, 0], vec![0, 2, 1], vec![0.5, 10.0, -2.0]));
        let c = parse_mtx(&b"%%MatrixMarket matrix coordinate pattern\n1 4 1\n1 4\n"[..], "<bytes>").unwrap();
        assert_eq!((c.cols, c.col, c.val), (4, vec![3], vec![1.0]));
        let bc = parse_barcodes(std::io::Cursor::new("AAAC-1\tcell\nAAAG-1\n"), "<bytes>").unwrap();
        assert_eq!(bc, ["AAAC-1", "AAAG-1"]);
    }

    #[test]
    fn broken_mtx_bytes_name_the_source_and_line() {
        let cases = [
            (
                "%%MatrixMarket matrix coordinate integer symmetric\n".to_string(),
                "<bytes>:1: symmetry 'symmetric' is not supported",
            ),
            (format!("{HEADER}2 x 1\n"), "<bytes>:2: size field 2 is not a number: 'x'"),
            (format!("{HEADER}2 3 2\n1 1 1\n% note\n1 4 1\n"), "<bytes>:5: column index 4 is outside 1..=3"),
            (format!("{HEADER}2 3 1\n0 1 1\n"), "<bytes>:3: row index 0 is outside 1..=2"),
            (format!("{HEADER}2 3 1\n1 1\n"), "<bytes>:3: expected 3 fields (row col value), found 2"),
            (format!("{HEADER}% only comments\n"), "<bytes>: no size line"),
        ];
        for (text, expected) in cases {
            let e = parse_mtx(text.as_bytes(), "<bytes>").unwrap_err().to_string();
            assert!(e.starts_with(expected), "{text:?}: {e}");
        }
        let e = parse_barcodes(&b"A\n\nB\n"[..], "<bytes>").unwrap_err().to_string();
        assert_eq!(e, "<bytes>:2: empty barcode line");
        let e = parse_barcodes(&b"A\n\xc3\x28\n"[..], "<bytes>").unwrap_err().to_string();
        assert!(e.starts_with("<bytes>:2: cannot read"), "{e}");
    }
}
