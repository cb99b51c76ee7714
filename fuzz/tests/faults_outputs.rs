//! Fault injection for figure saving (`Figure::save`, PNG and SVG) and the streamed h5ad writer behind
//! `model.write_denoised`: a write that fails part-way (a real file-size limit through RLIMIT_FSIZE, a producer that
//! fails after some blocks) and a rename that fails (the target is a non-empty directory) leave the previous file
//! byte-identical and no temporary file behind. Its own test binary: the file-size limit is process-wide.

mod common;

use std::path::Path;

use common::{listing, with_file_size_limit};

use gscript_runtime::data::simulate::{simulate_atac, SimulateOptions};
use gscript_runtime::data::{write_h5ad_streamed, H5adExtras, StreamedLayer};
use gscript_runtime::plot::{Figure, HistOptions};

/// A layer of `n_cells × n_peaks` values in blocks of 16 peaks; with `fail_after`, the producer fails (as a full disk
/// or an interrupt would) after that many blocks.
fn layer(n_cells: usize, n_peaks: usize, fail_after: Option<usize>) -> StreamedLayer<'static> {
    StreamedLayer {
        name: "denoised".into(),
        block: 16,
        produce: Box::new(move |sink| {
            for (i, start) in (0..n_peaks).step_by(16).enumerate() {
                if fail_after == Some(i) {
                    return Err(gscript_runtime::RuntimeError::io(
                        Path::new("den.h5ad"),
                        std::io::Error::from_raw_os_error(libc::ENOSPC),
                    ));
                }
                let end = (start + 16).min(n_peaks);
                let block: Vec<f32> = (0..n_cells).flat_map(|c| (start..end).map(move |p| (c + p) as f32)).collect();
                sink(start..end, &block)?;
            }
            Ok(())
        }),
    }
}

#[test]
fn failed_figure_and_denoised_writes_keep_the_previous_file_and_leave_no_temporaries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let values: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64).collect();
    let old = Figure::hist(&values[..10], 5, HistOptions::default()).unwrap();
    let new = Figure::hist(&values, 50, HistOptions::default()).unwrap();

    // 1. Figures, PNG and SVG, under a file-size limit below the new file's size.
    for name in ["fig.png", "fig.svg"] {
        let path = dir.join(name);
        old.save(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let probe = dir.join(format!("probe-{name}"));
        new.save(&probe).unwrap();
        let full = std::fs::metadata(&probe).unwrap().len();
        std::fs::remove_file(&probe).unwrap();
        assert!(full > 2048, "{name}: {full} bytes");
        let e = with_file_size_limit(full / 2, || new.save(&path)).unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name} changed");
    }
    assert_eq!(listing(dir), vec!["fig.png", "fig.svg"]);

    // 2. A figure whose rename fails (the target is a non-empty directory).
    let blocked = dir.join("blocked.png");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    new.save(&blocked).unwrap_err();
    assert_eq!(listing(dir), vec!["blocked.png", "fig.png", "fig.svg"]);
    assert_eq!(listing(&blocked), vec!["keep"]);

    // 3. The streamed denoised layer: written once, then a producer failing after two blocks leaves it as it was.
    //    (Not under the file-size limit: libhdf5 1.14 dies with SIGSEGV when a chunk flush fails with EFBIG while a
    //    dataset closes; see faults.rs.)
    let sim = simulate_atac(&SimulateOptions { n_cells: 20, n_peaks: 60, ..Default::default() }).unwrap();
    let d = &sim.data;
    let (nc, np) = (d.n_cells(), d.n_peaks());
    let den = dir.join("den.h5ad");
    write_h5ad_streamed(&den, &d.matrix, &d.peaks, &d.cells, &H5adExtras::default(), layer(nc, np, None)).unwrap();
    let before = std::fs::read(&den).unwrap();
    let e = write_h5ad_streamed(&den, &d.matrix, &d.peaks, &d.cells, &H5adExtras::default(), layer(nc, np, Some(2)))
        .unwrap_err();
    assert!(e.to_string().contains("den.h5ad"), "{e}");
    assert_eq!(std::fs::read(&den).unwrap(), before);
    assert_eq!(listing(dir), vec!["blocked.png", "den.h5ad", "fig.png", "fig.svg"]);

    // 4. ... and one whose rename fails.
    let blocked = dir.join("blocked.h5ad");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    write_h5ad_streamed(&blocked, &d.matrix, &d.peaks, &d.cells, &H5adExtras::default(), layer(nc, np, None))
        .unwrap_err();
    assert_eq!(listing(dir), vec!["blocked.h5ad", "blocked.png", "den.h5ad", "fig.png", "fig.svg"]);
    assert_eq!(listing(&blocked), vec!["keep"]);
    assert_eq!(std::fs::read(&den).unwrap(), before);
}
