//! scvi import: round trips through state dicts written by `fixtures.py` (numpy only, scvi-tools key names), and
//! broken inputs (written from Rust, no Python needed).

use std::path::{Path, PathBuf};

use tch::Tensor;

use super::fixtures::{
    cell_logits, err_of, export_npz, logits, python, random_codes, random_model, rel_err, run_fixture,
};
use super::*;
use crate::models::scbasset::config::{Arch, ScBassetConfig};

fn scvi_file(
    py: &Path,
    dir: &Path,
    config: &ScBassetConfig,
    cell_batch: Option<&[usize]>,
    flags: &[&str],
    seed: i64,
) -> (ScBasset, PathBuf) {
    let (vs, net) = random_model(config, cell_batch, seed);
    let npz = dir.join(format!("weights{seed}.npz"));
    export_npz(&vs, config, cell_batch, &npz);
    let out = dir.join(format!("scvi{seed}{}.safetensors", flags.join("")));
    let mut args = vec!["scvi", npz.to_str().unwrap(), out.to_str().unwrap()];
    args.extend_from_slice(flags);
    run_fixture(py, &args);
    (net, out)
}

fn tiny_scvi(n_cells: usize) -> ScBassetConfig {
    ScBassetConfig { arch: Arch::Scvi, ..ScBassetConfig::tiny(n_cells) }
}

#[test]
fn scvi_round_trips() {
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    for (config, seed) in [(tiny_scvi(5), 21), (ScBassetConfig::scvi(3), 22)] {
        let (net, file) = scvi_file(&py, dir.path(), &config, None, &[], seed);
        let m = import_scvi(&file, &ImportOptions::default()).unwrap();
        assert_eq!(m.source, ImportSource { format: ImportFormat::Scvi, path: file.clone() });
        assert_eq!(m.config.arch, Arch::Scvi);
        assert_eq!(m.config.tower_widths(), config.tower_widths());
        assert_eq!(ScBassetConfig { tower_mult: config.tower_mult, ..m.config.clone() }, config);
        assert_eq!(m.batch, BatchImport::NotBatchCorrected);
        assert!(m.notes.iter().any(|n| n.contains("num_batches_tracked")), "{:?}", m.notes);
        let codes = random_codes(5, config.seq_len);
        let err = rel_err(&logits(&m.net, &codes), &logits(&net, &codes));
        assert!(err < 1e-5, "{config:?}: relative error {err}");
    }
}

#[test]
fn scvi_batch_embedding_round_trips() {
    let Some(py) = python() else { return };
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let cell_batch = [1usize, 0, 0, 1, 1];
    let config = ScBassetConfig { n_batches: Some(2), ..tiny_scvi(5) };
    // the writer folds the per-batch bias into cell_bias, so the full logits agree
    let (net, file) = scvi_file(&py, dir.path(), &config, Some(&cell_batch), &[], 23);
    let m = import_scvi(&file, &ImportOptions::default()).unwrap();
    assert_eq!(m.batch, BatchImport::Full { n_batches: 2, from: "batch_ids".into() });
    let head = m.net.batch_head().unwrap();
    assert_eq!(f64::try_from(head.bias.abs().sum(tch::Kind::Float)).unwrap(), 0.0);
    let codes = random_codes(4, config.seq_len);
    let err = rel_err(&logits(&m.net, &codes), &logits(&net, &codes));
    assert!(err < 1e-5, "relative error {err}");

    let (net, file) = scvi_file(&py, dir.path(), &config, Some(&cell_batch), &["--no-batch-ids"], 24);
    let opts = ImportOptions { cell_batch: Some(cell_batch.to_vec()), ..ImportOptions::default() };
    let m = import_scvi(&file, &opts).unwrap();
    assert_eq!(m.batch, BatchImport::Full { n_batches: 2, from: "options".into() });
    let err = rel_err(&logits(&m.net, &codes), &logits(&net, &codes));
    assert!(err < 1e-5, "relative error {err}");
    let m = import_scvi(&file, &ImportOptions::default()).unwrap();
    assert_eq!(m.batch, BatchImport::CellPathOnly { n_batches: 2 });
    // cell path: z·W1 + (b1 + b2[batch]) in the file, so compare against the original's cell path plus that bias
    let head = net.batch_head().unwrap();
    let folded = head.bias.index_select(0, &head.cell_batch);
    let err = rel_err(&logits(&m.net, &codes), &(cell_logits(&net, &codes) + folded));
    assert!(err < 1e-5, "cell path relative error {err}");
}

/// Our variables under scvi-tools' key names (a plain map; the Python writer is the independent one).
fn scvi_state_dict(vs: &tch::nn::VarStore) -> Vec<(String, Tensor)> {
    vs.variables()
        .into_iter()
        .map(|(name, t)| {
            let key = name
                .replace("conv1x1.", "pre_bottleneck.")
                .replace(".bn.", ".batch_norm.")
                .replace("bottleneck.linear.", "bottleneck.dense.");
            let key = match key.strip_prefix("tower") {
                Some(rest) => format!("tower.{rest}"),
                None => key,
            };
            (key, t.detach().contiguous())
        })
        .collect()
}

#[test]
fn broken_scvi_files_name_the_problem() {
    let _rng = crate::testing::torch_rng_lock();
    let dir = tempfile::tempdir().unwrap();
    let opts = ImportOptions::default();
    let config = tiny_scvi(3);
    let (vs, net) = random_model(&config, None, 25);
    let good = scvi_state_dict(&vs);
    let write = |name: &str, entries: &[(String, Tensor)]| {
        let p = dir.path().join(name);
        Tensor::write_safetensors(entries, &p).unwrap();
        p
    };
    // the Rust-written dict imports (sanity check of the map above)
    let p = write("good.safetensors", &good);
    let m = import_scvi(&p, &opts).unwrap();
    let codes = random_codes(3, config.seq_len);
    assert!(rel_err(&logits(&m.net, &codes), &logits(&net, &codes)) < 1e-5);

    let without: Vec<_> = good
        .iter()
        .filter(|(k, _)| k != "tower.2.batch_norm.running_var")
        .map(|(k, t)| (k.clone(), t.shallow_clone()))
        .collect();
    let p = write("missing.safetensors", &without);
    let e = err_of(import_scvi(&p, &opts));
    assert!(
        matches!(e, ImportError::NotScBasset { .. }) && e.to_string().contains("tower.2.batch_norm.running_var"),
        "{e}"
    );

    let wrong: Vec<_> = good
        .iter()
        .map(|(k, t)| {
            if k == "tower.1.conv.weight" {
                (k.clone(), t.narrow(1, 0, 15).contiguous())
            } else {
                (k.clone(), t.shallow_clone())
            }
        })
        .collect();
    let p = write("wrong.safetensors", &wrong);
    match err_of(import_scvi(&p, &opts)) {
        ImportError::Shape(s) => {
            let ShapeMismatch { layer, ours, expected, found, .. } = *s;
            assert_eq!((layer.as_str(), ours.as_str()), ("tower.1.conv.weight", "tower1.conv.weight"));
            assert_eq!((expected, found), (vec![20, 16, 5], vec![20, 15, 5]));
        }
        other => panic!("expected a shape error, got {other}"),
    }

    let mut extra: Vec<_> = good.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect();
    extra.push(("decoder.weight".into(), Tensor::zeros([2, 2], tch::kind::FLOAT_CPU)));
    let p = write("extra.safetensors", &extra);
    let e = err_of(import_scvi(&p, &opts)).to_string();
    assert!(e.contains("decoder.weight"), "{e}");

    let other = write("other.safetensors", &[("weight".to_string(), Tensor::zeros([3, 3], tch::kind::FLOAT_CPU))]);
    let e = err_of(import_scvi(&other, &opts));
    assert!(matches!(e, ImportError::NotScBasset { .. }) && e.to_string().contains("stem.conv.weight"), "{e}");

    // a PyTorch pickle, by name and by content
    let pt = dir.path().join("model.pt");
    std::fs::write(&pt, b"PK\x03\x04 pretend zip").unwrap();
    let e = err_of(import_scvi(&pt, &opts));
    assert!(matches!(e, ImportError::TorchPickle { .. }) && e.to_string().contains("safetensors.torch"), "{e}");
    let renamed = dir.path().join("model.bin");
    std::fs::write(&renamed, b"\x80\x02}q\x00").unwrap();
    assert!(matches!(err_of(import_scvi(&renamed, &opts)), ImportError::TorchPickle { .. }));

    let empty = dir.path().join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(err_of(import_scvi(&empty, &opts)), ImportError::Unreadable { .. }));
    let text = dir.path().join("text.safetensors");
    std::fs::write(&text, b"not a safetensors file").unwrap();
    assert!(matches!(err_of(import_scvi(&text, &opts)), ImportError::Unreadable { .. }));
    let bytes = std::fs::read(dir.path().join("good.safetensors")).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = err_of(import_scvi(&cut, &opts));
    assert!(matches!(e, ImportError::Unreadable { .. }) && e.to_string().contains("cut.safetensors"), "{e}");
    assert!(matches!(err_of(import_scvi(dir.path().join("nope.safetensors"), &opts)), ImportError::Unreadable { .. }));
}
