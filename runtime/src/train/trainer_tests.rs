//! Tests of the trainer's extension points on a hand-made objective (least squares with an analytic gradient) and on
//! scBasset: gradient hooks that zero or record the gradients, the schedule and clipping as the loop applies them.

use std::cell::RefCell;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

use super::*;
use crate::models::scbasset::{train_with_hooks, ScBasset, ScBassetConfig, TrainConfig};

/// Least squares `mean_i (w·x_i − y_i)²` over the items of a batch: a model-free objective.
struct LeastSquares {
    w: Tensor,
    x: Vec<[f32; 3]>,
    y: Vec<f32>,
}

impl LeastSquares {
    fn new() -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<[f32; 3]> = (0..12).map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0), 1.0]).collect();
        let y = x.iter().map(|v| 2.0 * v[0] - v[1] + 0.5).collect();
        LeastSquares { w: Tensor::zeros([3], (Kind::Float, Device::Cpu)).set_requires_grad(true), x, y }
    }

    /// ∇ = 2/B Σ (w·x − y) x at the current weights, over all items.
    fn analytic_gradient_norm(&self) -> f64 {
        let w: Vec<f32> = Vec::try_from(self.w.detach()).unwrap();
        let mut g = [0f64; 3];
        for (x, y) in self.x.iter().zip(&self.y) {
            let r = (0..3).map(|k| w[k] as f64 * x[k] as f64).sum::<f64>() - *y as f64;
            for k in 0..3 {
                g[k] += 2.0 * r * x[k] as f64 / self.x.len() as f64;
            }
        }
        g.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
}

impl Objective for LeastSquares {
    fn n_train(&self) -> usize {
        self.x.len()
    }
    fn n_val(&self) -> usize {
        0
    }
    fn begin_epoch(&mut self, _epoch: usize, _seed: u64) -> Result<(), TrainError> {
        Ok(())
    }
    fn train_loss(&mut self, batch: &[usize]) -> Result<Tensor, TrainError> {
        let xs: Vec<f32> = batch.iter().flat_map(|&i| self.x[i]).collect();
        let ys: Vec<f32> = batch.iter().map(|&i| self.y[i]).collect();
        let x = Tensor::from_slice(&xs).view([batch.len() as i64, 3]);
        Ok((x.mv(&self.w) - Tensor::from_slice(&ys)).square().mean(Kind::Float))
    }
    fn train_metrics(&mut self) -> Result<TrainMetrics, TrainError> {
        Ok(TrainMetrics::default())
    }
    fn begin_validation(&mut self) -> Result<(), TrainError> {
        Ok(())
    }
    fn validate(&mut self, _batch: &[usize]) -> Result<(), TrainError> {
        Ok(())
    }
    fn val_metrics(&mut self) -> Result<ValMetrics, TrainError> {
        Ok(ValMetrics::default())
    }
}

/// Records the global gradient norm at every step.
#[derive(Default)]
struct NormRecorder {
    norms: Vec<(StepContext, f64)>,
}

impl GradientHook for NormRecorder {
    fn after_backward(&mut self, ctx: &StepContext, params: &[(String, Tensor)]) -> Result<(), TrainError> {
        self.norms.push((*ctx, gradient_norm(params)));
        Ok(())
    }
}

/// Multiplies every gradient by a constant.
struct Scale(f64);

impl GradientHook for Scale {
    fn after_backward(&mut self, _ctx: &StepContext, params: &[(String, Tensor)]) -> Result<(), TrainError> {
        tch::no_grad(|| {
            for (_, p) in params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.g_mul_scalar_(self.0);
                }
            }
        });
        Ok(())
    }
}

fn shallow(params: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    params.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect()
}

fn loop_config(epochs: usize, batch_size: usize) -> TrainerConfig {
    TrainerConfig {
        epochs,
        batch_size,
        seed: 3,
        patience: None,
        min_delta: 0.0,
        restore_best: false,
        clip_norm: None,
        schedule: Schedule::constant(),
        checkpoint: None,
        resume: None,
    }
}

fn fit(objective: &mut LeastSquares, config: TrainerConfig, hooks: Vec<&mut dyn GradientHook>) -> TrainOutcome {
    let params = vec![("w".to_string(), objective.w.shallow_clone())];
    let mut adam = KerasAdam::over(shallow(&params), 0.05, 0.9, 0.999, 1e-7);
    let trainer = Trainer {
        config,
        optimizer: &mut adam,
        variables: params,
        run: serde_json::json!({}),
        model: serde_json::json!({ "family": "least-squares" }),
        hooks,
        observer: &mut (),
        interrupt: &|| false,
    };
    trainer.fit(objective).unwrap()
}

#[test]
fn a_recording_hook_sees_every_step_with_the_analytic_gradient() {
    let _rng = crate::testing::torch_rng_lock();
    // one minibatch per epoch (batch = all 12 items): the recorded norm of each step is the analytic norm at the
    // weights before that step
    let mut ls = LeastSquares::new();
    let expected = RefCell::new(Vec::new());
    struct Both<'a> {
        rec: NormRecorder,
        ls_w: Tensor,
        ls: &'a LeastSquares,
        analytic: &'a RefCell<Vec<f64>>,
    }
    impl GradientHook for Both<'_> {
        fn after_backward(&mut self, ctx: &StepContext, params: &[(String, Tensor)]) -> Result<(), TrainError> {
            assert!(self.ls_w.grad().defined());
            self.analytic.borrow_mut().push(self.ls.analytic_gradient_norm());
            self.rec.after_backward(ctx, params)
        }
    }
    let w = ls.w.shallow_clone();
    // the probe has the same items and shares the objective's weights (same storage): the analytic gradient at each step
    let probe = LeastSquares { w: w.shallow_clone(), ..LeastSquares::new() };
    let mut hook = Both { rec: NormRecorder::default(), ls_w: w, ls: &probe, analytic: &expected };
    let out = fit(&mut ls, loop_config(5, 12), vec![&mut hook]);
    assert_eq!(out.history.len(), 5);
    let norms: Vec<f64> = hook.rec.norms.iter().map(|(_, n)| *n).collect();
    assert_eq!(norms.len(), 5, "one record per step");
    let steps: Vec<u64> = hook.rec.norms.iter().map(|(c, _)| c.step).collect();
    assert_eq!(steps, [0, 1, 2, 3, 4]);
    assert!(hook.rec.norms.iter().all(|(c, _)| c.batch == 1 && c.batch_items == 12));
    for (got, want) in norms.iter().zip(expected.borrow().iter()) {
        assert!((got - want).abs() <= 1e-5 * want.max(1.0), "recorded {got} vs analytic {want}");
    }
    assert!(norms[4] < norms[0], "training lowers the gradient: {norms:?}");
}

#[test]
fn a_zero_scaling_hook_keeps_scbasset_weights_in_place() {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(4);
    let n_cells = 10;
    let vs = nn::VarStore::new(Device::Cpu);
    let mut net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let n_peaks = 40;
    let codes: Vec<u8> = (0..n_peaks * 336).map(|_| rng.random_range(0..4u8)).collect();
    let positives: Vec<Vec<u32>> = (0..n_peaks).map(|p| (0..n_cells as u32).filter(|c| (p + *c as usize) % 3 == 0).collect()).collect();
    let train: Vec<usize> = (0..32).collect();
    let val: Vec<usize> = (32..40).collect();
    let data = TrainData { codes: &codes, seq_len: 336, n_cells, positives: &positives, train: &train, val: &val };
    let trainable = |vs: &nn::VarStore| -> Vec<(String, Tensor)> {
        sorted_variables(vs).into_iter().filter(|(_, t)| t.requires_grad()).map(|(n, t)| (n, t.detach().copy())).collect()
    };
    let before = trainable(&vs);
    let config = TrainConfig { epochs: 2, batch_size: 16, seed: 1, restore_best: false, ..TrainConfig::default() };
    let (mut zero, mut rec) = (Scale(0.0), NormRecorder::default());
    // the recorder runs after the zeroing hook: it must see zero gradients
    let out = train_with_hooks(&mut net, &vs, &data, &config, &mut (), &|| false, vec![&mut zero, &mut rec]).unwrap();
    assert_eq!(out.history.len(), 2);
    assert_eq!(rec.norms.len(), 4, "2 epochs × 2 minibatches");
    assert!(rec.norms.iter().all(|(_, n)| *n == 0.0), "{:?}", rec.norms);
    for ((name, a), (_, b)) in before.iter().zip(trainable(&vs)) {
        assert!(a.equal(&b), "`{name}` moved although its gradients were scaled by 0");
    }
    // without the hook the same run moves the weights
    tch::manual_seed(4);
    let vs2 = nn::VarStore::new(Device::Cpu);
    let mut net2 = ScBasset::new(&vs2.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
    let mut rec2 = NormRecorder::default();
    train_with_hooks(&mut net2, &vs2, &data, &config, &mut (), &|| false, vec![&mut rec2]).unwrap();
    assert!(rec2.norms.iter().all(|(_, n)| n.is_finite() && *n > 0.0), "{:?}", rec2.norms);
    let moved = before.iter().zip(trainable(&vs2)).filter(|((_, a), (_, b))| !a.equal(b)).count();
    assert_eq!(moved, before.len(), "every trainable tensor moves without the hook");
}

#[test]
fn hook_errors_stop_training() {
    let _rng = crate::testing::torch_rng_lock();
    struct Fail;
    impl GradientHook for Fail {
        fn after_backward(&mut self, ctx: &StepContext, _p: &[(String, Tensor)]) -> Result<(), TrainError> {
            Err(TrainError::Callback(format!("rank 1 lost at step {}", ctx.step)))
        }
    }
    let mut ls = LeastSquares::new();
    let params = vec![("w".to_string(), ls.w.shallow_clone())];
    let mut adam = KerasAdam::over(shallow(&params), 0.05, 0.9, 0.999, 1e-7);
    let mut fail = Fail;
    let trainer = Trainer {
        config: loop_config(2, 4),
        optimizer: &mut adam,
        variables: params,
        run: serde_json::json!({}),
        model: serde_json::json!({}),
        hooks: vec![&mut fail],
        observer: &mut (),
        interrupt: &|| false,
    };
    let err = trainer.fit(&mut ls).unwrap_err();
    assert!(err.to_string().contains("rank 1 lost at step 0"), "{err}");
    assert_eq!(Optimizer::steps(&adam), 0, "no update after a failing hook");
}

#[test]
fn clipping_and_warmup_are_applied_by_the_loop() {
    let _rng = crate::testing::torch_rng_lock();
    // With ε̂ = 1000 ≫ √v, Keras Adam's first update is ≈ lr·factor·√(1−β₂)·g/ε̂: proportional to the gradient, so a
    // clipped run moves by clip/‖g‖ of an unclipped one, and a warm-up run by the warm-up factor.
    let first_move = |clip: Option<f64>, schedule: Schedule| -> Tensor {
        let mut ls = LeastSquares::new();
        let params = vec![("w".to_string(), ls.w.shallow_clone())];
        let mut adam = KerasAdam::over(shallow(&params), 0.1, 0.9, 0.999, 1000.0);
        let config = TrainerConfig { clip_norm: clip, schedule, ..loop_config(1, 12) };
        let trainer = Trainer {
            config,
            optimizer: &mut adam,
            variables: params,
            run: serde_json::json!({}),
            model: serde_json::json!({}),
            hooks: Vec::new(),
            observer: &mut (),
            interrupt: &|| false,
        };
        trainer.fit(&mut ls).unwrap();
        ls.w.detach().copy()
    };
    let g0 = LeastSquares::new().analytic_gradient_norm();
    let plain = first_move(None, Schedule::constant());
    let clipped = first_move(Some(1e-3), Schedule::constant());
    let ratio = f64::try_from((&clipped / &plain).mean(Kind::Double)).unwrap();
    assert!((ratio - 1e-3 / g0).abs() < 1e-3 * (1e-3 / g0), "clipped/plain {ratio} vs {}", 1e-3 / g0);
    let warm = first_move(None, Schedule { warmup: 4, start: 0.25, total: None });
    let ratio = f64::try_from((&warm / &plain).mean(Kind::Double)).unwrap();
    assert!((ratio - 0.25).abs() < 1e-4, "warm-up factor {ratio}");
}
