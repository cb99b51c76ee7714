//! Cross-check against PyTorch (`scooby_reference.py`): borzoi-pytorch 0.5.1's Borzoi at a reduced size with random
//! weights, made into scooby as gagneurlab/scooby does (LoRA on the modules matching scooby's target regex, written in
//! peft's form with random non-zero A and B; the transform layer; the cell-state decoder; `forward_sequence_w_convs`),
//! saved with peft's unmerged keys. We import the file (names, E, T, rank and adapted layers from the tensors) and
//! compare the embedding and the per-cell profiles, unmerged and after merging the adapters.
//!
//! Runs with the test venv's Python (`GSCRIPT_TEST_PYTHON`); skipped locally without it.

use std::path::PathBuf;
use std::process::Command;

use tch::{Device, Kind, Tensor};

use super::*;
use crate::models::CellProfileModel;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/models/scooby/scooby_reference.py");

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let scale = f64::try_from(b.abs().max()).unwrap();
    assert!(scale > 0.0);
    f64::try_from((a - b).abs().max()).unwrap() / scale
}

#[test]
fn peft_style_scooby_matches_pytorch() {
    let Some(python) = crate::testing::test_python() else { return };
    let dir = TempDir(std::env::temp_dir().join(format!("scooby-torchref-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let out = Command::new(python).arg(SCRIPT).arg(&dir.0).output().expect("run the test venv's python");
    assert!(
        out.status.success(),
        "scooby_reference.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mut model = import_scooby(&dir.0, &ScoobyImportOptions::default()).unwrap();
    // the adapted layers are the ones scooby's regex selects in PyTorch
    let mut theirs: Vec<String> =
        info["adapted"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    theirs.sort();
    let mut ours = model.adapted_layers().to_vec();
    ours.sort();
    assert_eq!(ours, theirs);
    // and the ones our scooby target globs select on the same trunk
    let fresh =
        Scooby::from_borzoi(model.trunk(), &ScoobyConfig { lora: Some(scooby_lora()), ..model.config().clone() }, 0)
            .unwrap();
    let mut globbed = fresh.adapted_layers().to_vec();
    globbed.sort();
    assert_eq!(globbed, theirs);
    assert_eq!((model.state_dim(), model.n_tracks(), model.bins()), (6, 3, 256));
    let io: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.0.join("io.safetensors")).unwrap().into_iter().collect();
    let x = io["onehot"].to_device(Device::Cpu).to_kind(Kind::Float);
    let cells = &io["cells"];
    let _ng = tch::no_grad_guard();
    let emb = model.embed(&x, false);
    let y = model.forward(&x, cells, false);
    let (e_emb, e_out) = (rel_err(&emb, &io["embedding"]), rel_err(&y, &io["out"]));
    eprintln!("scooby vs PyTorch: relative error embedding {e_emb:.2e}, profiles {e_out:.2e}");
    // fp32 on both sides: only the order of the sums differs (the brief's target: ~1e-5 relative)
    assert!(e_emb <= 1e-5, "embedding relative error {e_emb}");
    assert!(e_out <= 1e-5, "profiles relative error {e_out}");
    assert_eq!(model.merge_adapters(), 20);
    let m = model.forward(&x, cells, false);
    let e_m = rel_err(&m, &io["merged_out"]);
    eprintln!("merged: relative error {e_m:.2e}");
    assert!(e_m <= 1e-5, "merged profiles relative error {e_m}");
}
