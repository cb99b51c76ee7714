//! Keras import: round trips through files laid out as tf.keras 2.x writes them (by `fixtures.py`, h5py only), and
//! broken inputs.

use std::path::{Path, PathBuf};

use super::fixtures::{
    cell_logits, err_of, export_npz, logits, python, random_codes, random_model, rel_err, run_fixture,
};
use super::*;
use crate::models::scbasset::config::{Arch, ScBassetConfig};

/// Builds a random model, writes it as a Keras file with `fixtures.py keras <flags>`, returns (original, file).
fn keras_file(
    py: &Path,
    dir: &Path,
    config: &ScBassetConfig,
    cell_batch: Option<&[usize]>,
    flags: &[&str],
    seed: i64,
) -> (tch::nn::VarStore, ScBasset, PathBuf) {
    let (vs, net) = random_model(config, cell_batch, seed);
    let npz = dir.join(format!("weights{seed}.npz"));
    export_npz(&vs, config, cell_batch, &npz);
    let h5 = dir.join(format!("model{seed}-{}.h5", flags.join("").replace("--", "_")));
    let mut args = vec!["keras", npz.to_str().unwrap(), h5.to_str().unwrap()];
    args.extend_from_slice(flags);
    run_fixture(py, &args);
    (vs, net, h5)
}

fn assert_same_logits(original: &ScBasset, imported: &ImportedModel, seq_len: usize) {
    let codes = random_codes(6, seq_len);
    let err = rel_err(&logits(&imported.net, &codes), &logits(original, &codes));
    assert!(err < 1e-5, "relative error {err}");
}

#[test]
fn tiny_model_file_round_trip() {
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let config = ScBassetConfig::tiny(5);
    let (_vs, net, h5) = keras_file(&py, dir.path(), &config, None, &[], 1);
    let m = import_keras_h5(&h5, &ImportOptions::default()).unwrap();
    assert_eq!(m.source, ImportSource { format: ImportFormat::KerasModel, path: h5.clone() });
    assert_eq!(m.batch, BatchImport::NotBatchCorrected);
    assert_eq!(m.config.tower_widths(), config.tower_widths());
    assert_eq!(ScBassetConfig { tower_mult: config.tower_mult, ..m.config.clone() }, config);
    assert!(m.notes.is_empty(), "{:?}", m.notes);
    assert_same_logits(&net, &m, config.seq_len);
    // the imported weights are the original ones, in our layout
    let (a, b) = (m.vs.variables(), _vs.variables());
    assert_eq!(a.len(), b.len());
    for (name, t) in &b {
        assert!(a[name].equal(t), "{name}");
    }
}

#[test]
fn tiny_weights_only_file_with_bytes_attributes() {
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let config = ScBassetConfig::tiny(4);
    let (_vs, net, h5) = keras_file(&py, dir.path(), &config, None, &["--weights-only", "--bytes-attrs"], 2);
    let m = import_keras_h5(&h5, &ImportOptions::default()).unwrap();
    assert_eq!(m.source.format, ImportFormat::KerasWeights);
    assert_eq!(m.config.seq_len, 336);
    assert!(m.notes.iter().any(|n| n.contains("no `model_config`")), "{:?}", m.notes);
    assert_same_logits(&net, &m, config.seq_len);
}

#[test]
fn published_architecture_round_trip() {
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let config = ScBassetConfig::keras(3);
    // fixed-length byte attributes: `model_config` is far longer than 1024 bytes
    let (_vs, net, h5) = keras_file(&py, dir.path(), &config, None, &["--bytes-attrs"], 3);
    let m = import_keras_h5(&h5, &ImportOptions::default()).unwrap();
    assert_eq!(m.config, config);
    assert_eq!(m.net.trainable_parameter_count(), 4_513_960 + 33 * 3);
    assert_same_logits(&net, &m, 1344);
}

#[test]
fn batch_corrected_model_round_trips() {
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let cell_batch = [0usize, 1, 1, 0, 2, 1];
    let config = ScBassetConfig { n_batches: Some(3), ..ScBassetConfig::tiny(6) };
    let (_vs, net, h5) = keras_file(&py, dir.path(), &config, Some(&cell_batch), &[], 4);
    // the batch matrix stored in model_config gives each cell's batch
    let m = import_keras_h5(&h5, &ImportOptions::default()).unwrap();
    assert_eq!(m.batch, BatchImport::Full { n_batches: 3, from: "model_config".into() });
    assert_eq!(m.config.n_batches, Some(3));
    assert_same_logits(&net, &m, config.seq_len);

    // weights only: no model_config, so the assignment must come from the options or only the cell path is kept
    let (_vs, net, h5) = keras_file(&py, dir.path(), &config, Some(&cell_batch), &["--weights-only"], 5);
    let opts = ImportOptions { cell_batch: Some(cell_batch.to_vec()), ..ImportOptions::default() };
    let m = import_keras_h5(&h5, &opts).unwrap();
    assert_eq!(m.batch, BatchImport::Full { n_batches: 3, from: "options".into() });
    assert_same_logits(&net, &m, config.seq_len);
    let m = import_keras_h5(&h5, &ImportOptions::default()).unwrap();
    assert_eq!(m.batch, BatchImport::CellPathOnly { n_batches: 3 });
    assert_eq!(m.config.n_batches, None);
    assert!(m.notes.iter().any(|n| n.contains("cell path")), "{:?}", m.notes);
    let codes = random_codes(5, config.seq_len);
    let err = rel_err(&logits(&m.net, &codes), &cell_logits(&net, &codes));
    assert!(err < 1e-5, "cell path relative error {err}");
    // a wrong-length assignment is refused
    let opts = ImportOptions { cell_batch: Some(vec![0, 1]), ..ImportOptions::default() };
    let e = err_of(import_keras_h5(&h5, &opts)).to_string();
    assert!(e.contains("cell_batch") && e.contains(h5.to_str().unwrap()), "{e}");
}

#[test]
fn broken_keras_files_name_the_problem() {
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let config = ScBassetConfig::tiny(3);
    let opts = ImportOptions::default();

    let (_, _, h5) = keras_file(&py, dir.path(), &config, None, &["--mutate", "wrong_kernel"], 6);
    match err_of(import_keras_h5(&h5, &opts)) {
        ImportError::Shape(s) => {
            let ShapeMismatch { layer, ours, expected, found, .. } = *s;
            assert_eq!(layer, "conv1d_11/conv1d_11/kernel:0");
            assert_eq!(ours, "tower1.conv.weight");
            assert_eq!((expected, found), (vec![5, 16, 20], vec![5, 15, 20]));
        }
        other => panic!("expected a shape error, got {other}"),
    }
    let e = err_of(import_keras_h5(&h5, &opts)).to_string();
    assert!(e.contains(h5.to_str().unwrap()) && e.contains("conv1d_11") && e.contains("tower1.conv.weight"), "{e}");

    let (_, _, h5) = keras_file(&py, dir.path(), &config, None, &["--mutate", "drop_bn"], 7);
    let e = err_of(import_keras_h5(&h5, &opts));
    assert!(matches!(e, ImportError::NotScBasset { .. }) && e.to_string().contains("bottleneck"), "{e}");

    let (_, _, h5) = keras_file(&py, dir.path(), &config, None, &["--mutate", "missing_weight"], 8);
    let e = err_of(import_keras_h5(&h5, &opts)).to_string();
    assert!(e.contains("moving_variance") && e.contains("missing"), "{e}");

    let (_, _, h5) = keras_file(&py, dir.path(), &config, None, &["--mutate", "no_final"], 9);
    let e = err_of(import_keras_h5(&h5, &opts)).to_string();
    assert!(e.contains("final Dense"), "{e}");

    let other = dir.path().join("mlp.h5");
    run_fixture(&py, &["other-keras", other.to_str().unwrap()]);
    let e = err_of(import_keras_h5(&other, &opts));
    assert!(matches!(e, ImportError::NotScBasset { .. }) && e.to_string().contains("stem"), "{e}");

    // a good file cut short
    let (_, _, h5) = keras_file(&py, dir.path(), &config, None, &[], 10);
    let bytes = std::fs::read(&h5).unwrap();
    for frac in [0.3, 0.6, 0.95] {
        let cut = dir.path().join(format!("cut{frac}.h5"));
        std::fs::write(&cut, &bytes[..(bytes.len() as f64 * frac) as usize]).unwrap();
        let e = err_of(import_keras_h5(&cut, &opts));
        assert!(e.to_string().contains(cut.to_str().unwrap()), "{e}");
    }
}

#[test]
fn unreadable_files_without_python() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ImportOptions::default();
    let missing = dir.path().join("missing.h5");
    assert!(matches!(err_of(import_keras_h5(&missing, &opts)), ImportError::Unreadable { .. }));
    let empty = dir.path().join("empty.h5");
    std::fs::write(&empty, b"").unwrap();
    let e = err_of(import_keras_h5(&empty, &opts));
    assert!(matches!(e, ImportError::Unreadable { .. }) && e.to_string().contains("empty"), "{e}");
    let text = dir.path().join("text.h5");
    std::fs::write(&text, b"this is not an HDF5 file at all\n".repeat(100)).unwrap();
    let e = err_of(import_keras_h5(&text, &opts));
    assert!(matches!(e, ImportError::Unreadable { .. }) && e.to_string().contains("HDF5"), "{e}");
    // valid HDF5 but not Keras
    let plain = dir.path().join("plain.h5");
    {
        let f = hdf5::File::create(&plain).unwrap();
        f.new_dataset_builder().with_data(&(0..5000).map(|i| i as f32).collect::<Vec<_>>()).create("x").unwrap();
    }
    let e = err_of(import_keras_h5(&plain, &opts));
    assert!(matches!(e, ImportError::NotScBasset { .. }) && e.to_string().contains("layer_names"), "{e}");
    let bytes = std::fs::read(&plain).unwrap();
    let cut = dir.path().join("cut.h5");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = err_of(import_keras_h5(&cut, &opts));
    assert!(e.to_string().contains("cut.h5"), "{e}");
}

#[test]
fn imports_onto_the_requested_device() {
    // CPU always; CUDA when present, through the same code path
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let config = ScBassetConfig { arch: Arch::Keras, ..ScBassetConfig::tiny(2) };
    let (_vs, net, h5) = keras_file(&py, dir.path(), &config, None, &[], 11);
    let device = tch::Device::cuda_if_available();
    let m = import_keras_h5(&h5, &ImportOptions { device, ..ImportOptions::default() }).unwrap();
    assert_eq!(m.net.device(), device);
    let codes = random_codes(3, config.seq_len);
    let got = tch::no_grad(|| m.net.forward_codes(&codes.to_device(device), false)).to_device(tch::Device::Cpu);
    let err = rel_err(&got, &logits(&net, &codes));
    assert!(err < 1e-4, "relative error {err}");
}
