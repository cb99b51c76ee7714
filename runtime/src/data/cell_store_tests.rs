use std::path::Path;

use super::*;
use crate::bench::data::write_random_h5ad;
use crate::data::h5ad_read::read_h5ad;
use crate::progress::NoProgress;

fn rows_of(r: &CellRows) -> Vec<Vec<u32>> {
    (0..r.n_peaks()).map(|p| r.row(p).to_vec()).collect()
}

fn build_store(input: &Path) -> Result<(CellRows, StoreOrigin)> {
    open_or_build(input, &mut NoProgress, &CancelToken::new()).map(|(r, _, _, o)| (r, o))
}

#[test]
fn store_of_a_cells_by_peaks_h5ad_equals_the_loaded_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.h5ad");
    write_random_h5ad(&input, 700, 300, 0.04, 3).unwrap();
    let (m, peaks, cells) = read_h5ad(&input, &mut NoProgress, &CancelToken::new()).unwrap();
    // every stored value is 1: the loaded matrix keeps no values (4 bytes per entry)
    assert!(m.is_binary() && m.values().is_none());
    let (rows, origin) = build_store(&input).unwrap();
    assert_eq!(origin, StoreOrigin::Built);
    assert!(rows.mapped_from().is_some());
    assert_eq!((rows.n_peaks(), rows.n_cells()), (peaks.len(), cells.len()));
    assert_eq!(rows.nnz(), m.nnz());
    let want: Vec<Vec<u32>> = (0..m.n_peaks).map(|p| m.row_indices(p).to_vec()).collect();
    assert_eq!(rows_of(&rows), want);
    // checked in blocks of a few rows too (a whole store is usually one block in these tests)
    rows.check_mapped(50).unwrap();
    // the store's bytes: header + indptr + indices, nothing else
    let len = std::fs::metadata(store_path(&input)).unwrap().len();
    assert_eq!(len as usize, 64 + 8 * (m.n_peaks + 1) + 4 * m.nnz());
    // reused while the input is unchanged; no temporary left beside it
    let (again, origin) = build_store(&input).unwrap();
    assert_eq!(origin, StoreOrigin::Reused);
    assert_eq!(rows_of(&again), want);
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_changed_or_damaged_store_is_rebuilt_and_a_bad_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b.h5ad");
    write_random_h5ad(&input, 200, 150, 0.05, 4).unwrap();
    let (first, _) = build_store(&input).unwrap();
    let want = rows_of(&first);
    drop(first);
    // a new input with another seed: the store notices (length/time stamp) and rebuilds
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_random_h5ad(&input, 200, 150, 0.05, 5).unwrap();
    let (second, origin) = build_store(&input).unwrap();
    assert!(matches!(origin, StoreOrigin::Rebuilt(ref why) if why.contains("changed")), "{origin:?}");
    assert_ne!(rows_of(&second), want);
    drop(second);

    // truncated: open names the file and says what is wrong; open_or_build rebuilds it
    let store = store_path(&input);
    let bytes = std::fs::read(&store).unwrap();
    std::fs::write(&store, &bytes[..bytes.len() - 4]).unwrap();
    let err = CellRows::open(&store).unwrap_err().to_string();
    assert!(err.contains("b.h5ad.cells") && err.contains("truncated"), "{err}");
    // a cell index out of range (last entry set to n_cells)
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 4..].copy_from_slice(&200u32.to_le_bytes());
    std::fs::write(&store, &bad).unwrap();
    let err = CellRows::open(&store).unwrap_err().to_string();
    assert!(err.contains("cell index 200") && err.contains("corrupt"), "{err}");

    std::fs::write(&store, b"not a store at all, but long enough to hold a header of sixty-four bytes ...").unwrap();
    let err = CellRows::open(&store).unwrap_err().to_string();
    assert!(err.contains("not a gscript cell-index file"), "{err}");
    let (rows, origin) = build_store(&input).unwrap();
    assert!(matches!(origin, StoreOrigin::Rebuilt(_)), "{origin:?}");
    assert_eq!(rows.n_peaks(), 150);
}

#[test]
fn rows_are_checked_on_construction() {
    let ok = CellRows::from_rows(5, &[vec![0, 3], vec![], vec![4]]).unwrap();
    assert_eq!((ok.n_peaks(), ok.nnz(), &ok[0]), (3, 3, &[0u32, 3][..]));
    assert_eq!(ok.row_lengths().collect::<Vec<_>>(), vec![2, 0, 1]);
    let err = CellRows::from_rows(5, &[vec![0], vec![2, 2]]).unwrap_err().to_string();
    assert!(err.contains("peak 1") && err.contains("strictly increasing"), "{err}");
    let err = CellRows::from_rows(5, &[vec![5]]).unwrap_err().to_string();
    assert!(err.contains("peak 0") && err.contains("cell index 5"), "{err}");
    let err = CellRows::new(5, vec![0, 2], vec![1]).unwrap_err().to_string();
    assert!(err.contains("end at 2") && err.contains("1 entries"), "{err}");
}

#[test]
fn an_interrupted_build_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.h5ad");
    write_random_h5ad(&input, 300, 100, 0.05, 6).unwrap();
    let cancel = CancelToken::new();
    cancel.cancel();
    assert!(open_or_build(&input, &mut NoProgress, &cancel).is_err());
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["c.h5ad".to_string()]);
}

#[test]
fn ensure_built_builds_only_what_is_missing_or_stale() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("d.h5ad");
    write_random_h5ad(&input, 200, 100, 0.05, 8).unwrap();
    let store = store_path(&input);
    ensure_built(&input, &mut NoProgress, &CancelToken::new()).unwrap();
    let first = std::fs::metadata(&store).unwrap().modified().unwrap();
    // current: left as it is (not rewritten)
    std::thread::sleep(std::time::Duration::from_millis(20));
    ensure_built(&input, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(std::fs::metadata(&store).unwrap().modified().unwrap(), first);
    let (rows, origin) = build_store(&input).unwrap();
    assert_eq!(origin, StoreOrigin::Reused);
    let (m, ..) = read_h5ad(&input, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(rows_of(&rows), (0..m.n_peaks).map(|p| m.row_indices(p).to_vec()).collect::<Vec<_>>());
    drop(rows);
    // a changed input: rebuilt
    write_random_h5ad(&input, 200, 100, 0.05, 9).unwrap();
    ensure_built(&input, &mut NoProgress, &CancelToken::new()).unwrap();
    assert_ne!(std::fs::metadata(&store).unwrap().modified().unwrap(), first);
    assert_eq!(build_store(&input).unwrap().1, StoreOrigin::Reused);
}
