//! Activation checkpointing equals the ordinary backward pass: loss, every trainable tensor's gradient and the
//! batch-norm moving statistics after one training-mode step, on the tiny trunk with LoRA adapters on every adaptable
//! layer (non-zero B so that A's gradients are not trivially zero) and every trunk variable trainable as well.

use tch::{nn, Device, Kind, Tensor};

use super::draw_seed;
use crate::adapters::{adapter_tensors, attach_lora, LoraConfig};
use crate::models::borzoi::{Borzoi, Init, Preset, Species, TrunkTraining};
use crate::models::Precision;

fn model() -> (Borzoi, nn::VarStore) {
    tch::manual_seed(11);
    let mut m = Borzoi::new(&Preset::Tiny.config(), Device::Cpu, Init::Random).unwrap();
    let adapters = nn::VarStore::new(Device::Cpu);
    let cfg = LoraConfig { rank: 4, alpha: 4.0, targets: vec!["*".into()] };
    attach_lora(&mut m, &adapters.root(), &cfg).unwrap();
    tch::no_grad(|| {
        for (n, mut t) in adapter_tensors(&mut m) {
            if n.ends_with(".lora_b") {
                t.copy_(&(Tensor::randn_like(&t) * 0.1));
            }
        }
    });
    // LayerNorm affine at 1/0 and batch norms at their defaults are fine; the tower's moving statistics start at 0/1
    (m, adapters)
}

/// Every trainable tensor by name: the trunk's variables (statistics excluded) and the adapters.
fn trainables(m: &mut Borzoi) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = m
        .var_store()
        .variables()
        .into_iter()
        .filter(|(n, t)| t.requires_grad() && !n.ends_with(".running_mean") && !n.ends_with(".running_var"))
        .collect();
    v.extend(adapter_tensors(m));
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn statistics(m: &Borzoi) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = m
        .var_store()
        .variables()
        .into_iter()
        .filter(|(n, _)| n.ends_with(".running_mean") || n.ends_with(".running_var"))
        .map(|(n, t)| (n, t.copy()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn restore(m: &Borzoi, saved: &[(String, Tensor)]) {
    let vars = m.var_store().variables();
    tch::no_grad(|| {
        for (n, s) in saved {
            vars[n].shallow_clone().copy_(s);
        }
    });
}

/// What one step leaves: loss, gradients (in `trainables` order) and the moving statistics.
struct Step {
    loss: f64,
    grads: Vec<(String, Tensor)>,
    stats: Vec<(String, Tensor)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `Borzoi::trunk` and one backward pass.
    Plain,
    /// The stages with the checkpointing's per-stage reseeding, all recorded: one backward pass over the whole graph.
    StagedGraph,
    /// `trunk_checkpointed` and the tape's backward walk.
    Checkpointed,
}

/// One training-mode step from `stats0` with the torch generator at `seed`: head on the joined embedding, a weighted
/// sum of the predictions as the loss.
fn step(m: &mut Borzoi, x: &Tensor, w: &Tensor, stats0: &[(String, Tensor)], seed: i64, mode: Mode) -> Step {
    restore(m, stats0);
    let params = trainables(m);
    for (_, t) in &params {
        let mut g = t.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    tch::manual_seed(seed);
    let (trunk, tape) = match mode {
        Mode::Plain => (m.trunk(x, true).unwrap(), None),
        Mode::StagedGraph => {
            let dropout = m.training().dropout_on(true);
            let mut b = vec![x.shallow_clone()];
            for (stage, inputs) in m.stage_plan() {
                if dropout {
                    tch::manual_seed(draw_seed());
                }
                let xs: Vec<&Tensor> = inputs.iter().map(|&i| &b[i]).collect();
                let y = m.run_stage(stage, &xs, true).unwrap();
                b.push(y);
            }
            (b.pop().unwrap(), None)
        }
        Mode::Checkpointed => m.trunk_checkpointed(x, true).unwrap(),
    };
    assert_eq!(tape.is_some(), mode == Mode::Checkpointed);
    let pred = m.head(&m.joined(&trunk, true).unwrap(), Species::Human).unwrap();
    let loss = (pred * w).sum(Kind::Float);
    loss.backward();
    if let Some(tape) = tape {
        tape.backward(m).unwrap();
    }
    let grads = params.iter().map(|(n, t)| (n.clone(), t.grad().copy())).collect();
    Step { loss: loss.double_value(&[]), grads, stats: statistics(m) }
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().to_kind(Kind::Double).double_value(&[])
}

/// `got` equals `want` within `tol` relative to each tensor's largest magnitude; every gradient is non-zero.
fn assert_same(got: &Step, want: &Step, tol: f64, what: &str) {
    assert!(
        (got.loss - want.loss).abs() <= tol * want.loss.abs().max(1.0),
        "{what}: loss {} vs {}",
        got.loss,
        want.loss
    );
    assert_eq!(got.grads.len(), want.grads.len());
    for ((n, g), (_, r)) in got.grads.iter().zip(&want.grads) {
        let scale = max_abs(r);
        assert!(scale > 0.0, "{what}: {n} has no gradient");
        let err = max_abs(&(g.to_kind(Kind::Float) - r.to_kind(Kind::Float)));
        assert!(err <= tol * scale, "{what}: {n} differs by {err} (largest {scale})");
    }
    for ((n, s), (_, r)) in got.stats.iter().zip(&want.stats) {
        let err = max_abs(&(s - r));
        assert!(err <= tol * max_abs(r).max(1.0), "{what}: moving statistic {n} differs by {err}");
    }
}

#[test]
fn checkpointed_step_equals_the_ordinary_backward() {
    let _g = crate::testing::torch_rng_lock();
    let (mut m, _adapters) = model();
    let n_trainable = trainables(&mut m).len();
    assert!(n_trainable > 100, "trunk variables and adapters: {n_trainable}");
    tch::manual_seed(5);
    let codes = Tensor::randint(4, [2, m.config().seq_len as i64], (Kind::Int64, Device::Cpu));
    let x = crate::models::one_hot(&codes).unwrap();
    let w = Tensor::randn([2, 16, m.config().bins as i64], (Kind::Float, Device::Cpu));
    let stats0 = statistics(&m);

    // dropout off: the ordinary trunk is the reference
    m.set_training(TrunkTraining { dropout: false, ..Default::default() });
    let plain = step(&mut m, &x, &w, &stats0, 1, Mode::Plain);
    let ckpt = step(&mut m, &x, &w, &stats0, 1, Mode::Checkpointed);
    assert_same(&ckpt, &plain, 1e-5, "fp32, no dropout");
    // one update of the moving statistics happened (momentum 0.1), not two: a second update would move every
    // statistic again by 0.1 × (batch − moving) and fail the comparison above
    let moved = plain.stats.iter().zip(&stats0).filter(|((_, a), (_, b))| max_abs(&(a - b)) > 1e-4).count();
    assert_eq!(moved, plain.stats.len(), "every moving statistic is updated by the step");

    // dropout on: masks follow the per-stage seeds; the full graph over the same stages is the reference
    m.set_training(TrunkTraining::default());
    let graph = step(&mut m, &x, &w, &stats0, 2, Mode::StagedGraph);
    let ckpt = step(&mut m, &x, &w, &stats0, 2, Mode::Checkpointed);
    assert_same(&ckpt, &graph, 1e-5, "fp32, dropout");
    assert!((graph.loss - plain.loss).abs() > 1e-6 * plain.loss.abs(), "dropout changes the loss");
    let other = step(&mut m, &x, &w, &stats0, 3, Mode::Checkpointed);
    assert!((other.loss - ckpt.loss).abs() > 1e-6 * ckpt.loss.abs(), "another seed draws other masks");

    // bf16 products: the recomputation is the first pass again, so the loss is identical; gradients agree to bf16
    // resolution (2⁻⁸ relative rounding; a few roundings differ in the order of accumulation)
    m.set_training(TrunkTraining { dropout: false, ..Default::default() });
    m.set_precision(Precision::Bf16);
    let plain = step(&mut m, &x, &w, &stats0, 1, Mode::Plain);
    let ckpt = step(&mut m, &x, &w, &stats0, 1, Mode::Checkpointed);
    assert_eq!(ckpt.loss, plain.loss, "bf16 loss");
    assert_same(&ckpt, &plain, 4.0 * 2f64.powi(-8), "bf16");
}

#[test]
fn nothing_to_recompute_without_gradients_or_trainable_tensors() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(2);
    let m = Borzoi::new(&Preset::Tiny.config(), Device::Cpu, Init::Random).unwrap();
    let x = crate::models::one_hot(&Tensor::randint(4, [1, 8192], (Kind::Int64, Device::Cpu))).unwrap();
    let (_, tape) = tch::no_grad(|| m.trunk_checkpointed(&x, true)).unwrap();
    assert!(tape.is_none(), "no gradient recording");
    for (_, t) in m.var_store().variables() {
        let _ = t.set_requires_grad(false);
    }
    assert!(!m.has_trainable());
    let (_, tape) = m.trunk_checkpointed(&x, true).unwrap();
    assert!(tape.is_none(), "a frozen trunk without adapters");
    let bad = Tensor::zeros([1, 4, 100], (Kind::Float, Device::Cpu));
    for (_, t) in m.var_store().variables() {
        let _ = t.set_requires_grad(true);
    }
    let err = m.trunk_checkpointed(&bad, true).unwrap_err().to_string();
    assert!(err.contains("8192") || err.contains("length"), "{err}");
}
