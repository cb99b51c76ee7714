//! Test helpers for the importers: models with non-trivial random weights, their export to an `.npz` that
//! `fixtures.py` turns into Keras / scvi files, and output comparisons.

use std::path::Path;
use std::process::Command;

use tch::{nn, Device, Kind, Tensor};

use super::{ImportError, ImportedModel};
use crate::models::scbasset::config::ScBassetConfig;
use crate::models::scbasset::ScBasset;

pub use crate::testing::test_python as python;

/// The error of an import that must fail.
pub fn err_of(r: Result<ImportedModel, ImportError>) -> ImportError {
    match r {
        Ok(m) => panic!("expected an error, imported {:?}", m.config),
        Err(e) => e,
    }
}

/// Runs `fixtures.py` with `args`, panicking with its output on failure.
pub fn run_fixture(py: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/models/scbasset/import/fixtures.py");
    let out = Command::new(py).arg(&script).args(args).output().expect("python runs");
    assert!(
        out.status.success(),
        "fixtures.py {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A model for `config` with every variable drawn away from its initial value: kernels as initialised, BN gammas in
/// [0.5, 1.5], betas and moving means N(0, 0.1²)/N(0, 0.2²), moving variances in [0.5, 2], cell and batch biases
/// N(0, 0.5²). Seeded, so reproducible.
pub fn random_model(config: &ScBassetConfig, cell_batch: Option<&[usize]>, seed: i64) -> (nn::VarStore, ScBasset) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = match cell_batch {
        Some(cb) => ScBasset::with_batches(&vs.root(), config, cb).unwrap(),
        None => ScBasset::new(&vs.root(), config).unwrap(),
    };
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let size = var.size();
            let opts = (Kind::Float, Device::Cpu);
            let new = if name.ends_with("bn.weight") {
                Tensor::rand(&size, opts) + 0.5
            } else if name.ends_with("bn.bias") {
                Tensor::randn(&size, opts) * 0.1
            } else if name.ends_with("running_mean") {
                Tensor::randn(&size, opts) * 0.2
            } else if name.ends_with("running_var") {
                Tensor::rand(&size, opts) * 1.5 + 0.5
            } else if name.ends_with("_bias") {
                Tensor::randn(&size, opts) * 0.5
            } else if name == "batch_embedding" {
                // starts at zero (scbasset.rs): values so that the batch path is exercised
                Tensor::randn(&size, opts) * 0.3
            } else {
                continue;
            };
            var.copy_(&new);
        }
    });
    (vs, net)
}

/// Writes every variable of `vs` under its own name, plus `meta.*` entries, to `path` (numpy `.npz`).
pub fn export_npz(vs: &nn::VarStore, config: &ScBassetConfig, cell_batch: Option<&[usize]>, path: &Path) {
    let mut named: Vec<(String, Tensor)> =
        vs.variables().into_iter().map(|(n, t)| (n, t.detach().contiguous())).collect();
    let scalar = |x: usize| Tensor::from_slice(&[x as i64]).reshape([] as [i64; 0]);
    named.push(("meta.seq_len".into(), scalar(config.seq_len)));
    named.push(("meta.stem_pool".into(), scalar(config.stem_pool)));
    named.push(("meta.tower_pool".into(), scalar(config.tower_pool)));
    if let Some(cb) = cell_batch {
        named.push(("meta.cell_batch".into(), Tensor::from_slice(&cb.iter().map(|&b| b as i64).collect::<Vec<_>>())));
    }
    Tensor::write_npz(&named, path).unwrap();
}

/// Random base codes `(n, seq_len)`.
pub fn random_codes(n: i64, seq_len: usize) -> Tensor {
    Tensor::randint(4, [n, seq_len as i64], (Kind::Int64, Device::Cpu))
}

/// `max|a − b| / max|b|`.
pub fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let diff = f64::try_from((a - b).abs().max()).unwrap();
    let scale = f64::try_from(b.abs().max()).unwrap().max(1e-30);
    diff / scale
}

/// Eval-mode logits of `net` on `codes`.
pub fn logits(net: &ScBasset, codes: &Tensor) -> Tensor {
    tch::no_grad(|| net.forward_codes(codes, false))
}

/// Eval-mode cell-path logits `z·W1 + b1`.
pub fn cell_logits(net: &ScBasset, codes: &Tensor) -> Tensor {
    tch::no_grad(|| {
        let x = ScBasset::one_hot(codes).unwrap();
        net.cell_logits(&net.embed(&x, false))
    })
}
