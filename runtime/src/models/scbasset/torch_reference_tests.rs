//! Cross-check against an independent PyTorch implementation (`torch_reference.py`, written from the original's
//! definition: calico/scBasset `make_model`, `make_model_bc`; scvi-tools' `ScBassetModule` for the scvi stem).
//!
//! Runs with the Python of the test venv (`GSCRIPT_TEST_PYTHON`, set by `./dev test`; `torch` and `safetensors` are in
//! scripts/test-requirements.txt). Without it each test is skipped locally with a note and fails under CI, like the
//! other Python checks; a Python without torch fails the test. The Rust side exports its weights (bottleneck kernel in Keras layout), base codes and an
//! augmentation; Python rebuilds the network, applies the augmentation itself, and returns eval-mode `z` and logits,
//! train-mode logits, and the BN moving statistics after that training step.

use std::path::{Path, PathBuf};
use std::process::Command;

use tch::{nn, Device, Kind, Tensor};

use super::config::{Arch, ScBassetConfig};
use super::keras::bottleneck_kernel_to_keras;
use super::network::ScBasset;
use crate::train::augment::Augmentation;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/models/scbasset/torch_reference.py");

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("scbasset-torchref-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Largest |a − b| relative to max(1, max |b|).
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let scale = f64::try_from(b.abs().max()).unwrap().max(1.0);
    f64::try_from((a - b).abs().max()).unwrap() / scale
}

fn run_case(
    python: &Path,
    tag: &str,
    config: ScBassetConfig,
    cell_batch: Option<Vec<usize>>,
    batch: i64,
    aug: Augmentation,
) {
    let dir = TempDir::new(tag);
    tch::manual_seed(31);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = match &cell_batch {
        None => ScBasset::new(&vs.root(), &config).unwrap(),
        Some(cb) => ScBasset::with_batches(&vs.root(), &config, cb).unwrap(),
    };
    // non-trivial BN affine parameters, biases and moving statistics
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.ends_with("bn.weight") {
                let _ = t.uniform_(0.5, 1.5);
            } else if name.ends_with("bn.bias") || name.ends_with("_bias") || name == "batch_embedding" {
                // (the batch kernel starts at zero: give it values so the BC path is exercised)
                t.copy_(&(t.randn_like() * 0.1));
            }
        }
    });
    for seed in 0..2 {
        tch::manual_seed(100 + seed);
        let warm = Tensor::randint(4, [8, config.seq_len as i64], (Kind::Int64, Device::Cpu));
        let _ = tch::no_grad(|| model.forward_codes(&warm, true));
    }

    let mut export: Vec<(String, Tensor)> =
        vs.variables().into_iter().filter(|(n, _)| n != "bottleneck.linear.weight").collect();
    let keras_kernel = bottleneck_kernel_to_keras(
        &model.dense_block().weight.detach(),
        config.final_positions() as i64,
        config.conv1x1_filters as i64,
    )
    .unwrap();
    export.push(("bottleneck.keras_kernel".into(), keras_kernel));
    Tensor::write_safetensors(&export, dir.0.join("weights.safetensors")).unwrap();
    tch::manual_seed(200);
    let codes = Tensor::randint(4, [batch, config.seq_len as i64], (Kind::Int64, Device::Cpu));
    Tensor::write_safetensors(&[("codes", &codes)], dir.0.join("input.safetensors")).unwrap();
    let spec = serde_json::json!({
        "config": &config,
        "cell_batch": &cell_batch,
        "augment": {"reverse_complement": aug.reverse_complement, "shift": aug.shift},
    });
    std::fs::write(dir.0.join("config.json"), spec.to_string()).unwrap();

    let out = Command::new(python)
        .arg(SCRIPT)
        .arg(&dir.0)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{tag}: torch_reference.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.0.join("out.safetensors")).unwrap().into_iter().collect();

    let x = aug.apply(&ScBasset::one_hot(&codes).unwrap());
    let (z, logits) = tch::no_grad(|| {
        let z = model.embed(&x, false);
        let logits = model.logits_from_embedding(&z);
        (z, logits)
    });
    let train_logits = tch::no_grad(|| model.forward_onehot(&x, true));
    let checks = [("eval_z", &z), ("eval_logits", &logits), ("train_logits", &train_logits)];
    for (name, ours) in checks {
        let err = rel_err(ours, &reference[name]);
        eprintln!("{tag}: {name} relative error {err:.2e}");
        assert!(err < 1e-4, "{tag}: {name} differs from PyTorch by {err:.2e} (relative)");
    }
    assert!(f64::try_from(logits.abs().max()).unwrap() > 1e-2, "{tag}: degenerate logits");
    let vars = vs.variables();
    let mut n_stats = 0;
    for (name, theirs) in &reference {
        if name.contains("running_") {
            let err = rel_err(&vars[name], theirs);
            assert!(err < 1e-4, "{tag}: {name} after a training step differs by {err:.2e}");
            n_stats += 1;
        }
    }
    assert_eq!(n_stats, 2 * (config.tower_repeat + 3), "{tag}: missing BN statistics in the reference output");
}

#[test]
fn tiny_models_match_pytorch() {
    let _rng = crate::testing::torch_rng_lock();
    let Some(py) = crate::testing::test_python() else { return };
    let tiny = ScBassetConfig { dropout: 0.0, ..ScBassetConfig::tiny(10) };
    run_case(&py, "tiny-keras", tiny.clone(), None, 5, Augmentation { reverse_complement: true, shift: 2 });
    let scvi = ScBassetConfig { arch: Arch::Scvi, ..tiny.clone() };
    run_case(&py, "tiny-scvi", scvi, None, 4, Augmentation { reverse_complement: false, shift: -3 });
    let bc = ScBassetConfig { n_cells: 12, n_batches: Some(3), ..tiny };
    let cell_batch = vec![0, 2, 1, 1, 0, 2, 2, 0, 1, 0, 2, 1];
    run_case(&py, "tiny-bc", bc, Some(cell_batch), 6, Augmentation::IDENTITY);
}

#[test]
fn full_models_match_pytorch() {
    let _rng = crate::testing::torch_rng_lock();
    let Some(py) = crate::testing::test_python() else { return };
    let keras = ScBassetConfig { dropout: 0.0, ..ScBassetConfig::keras(30) };
    run_case(&py, "full-keras", keras, None, 3, Augmentation { reverse_complement: true, shift: -1 });
    let scvi = ScBassetConfig { dropout: 0.0, ..ScBassetConfig::scvi(30) };
    run_case(&py, "full-scvi", scvi, None, 3, Augmentation { reverse_complement: false, shift: 3 });
}
