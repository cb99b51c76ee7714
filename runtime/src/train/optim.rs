//! What the trainer needs from an optimiser, the learning-rate schedule and global gradient-norm clipping.
//!
//! Two optimisers implement [`Optimizer`]: [`KerasAdam`](super::KerasAdam) (TensorFlow's Adam, scBasset's recipe) and
//! [`AdamW`](super::AdamW) (torch's AdamW with named parameter groups and decoupled decay, scooby's recipe).

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// An optimiser over named tensors. The trainer zeroes gradients, runs backward and the gradient hooks, clips, then
/// calls [`step`](Optimizer::step) with the schedule's learning-rate factor.
pub trait Optimizer {
    /// The optimised tensors by name, in update order (they share storage with the model).
    fn params(&self) -> &[(String, Tensor)];
    /// Applies one update from the current gradients; every learning rate is multiplied by `lr_factor`.
    fn step(&mut self, lr_factor: f64);
    /// Updates applied so far.
    fn steps(&self) -> u64;
    /// The base learning rate reported in the history (the head's for several groups).
    fn lr(&self) -> f64;
    /// The optimiser state to checkpoint: `(key, tensor)` with keys unique within the optimiser (e.g. `m/<name>`).
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores the step count and the state written by [`state`](Optimizer::state); `get(key)` returns a stored
    /// tensor. Errors name the first missing or mis-shaped entry.
    fn load_state(&mut self, steps: u64, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<(), String>;

    /// Zeroes the gradients of the optimised tensors.
    fn zero_grad(&self) {
        for (_, p) in self.params() {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Number of optimised scalars.
    fn parameter_count(&self) -> usize {
        self.params().iter().map(|(_, t)| t.numel()).sum()
    }
}

/// Scales the gradients of `params` so that their global L2 norm is at most `max` (torch's `clip_grad_norm_`, with
/// its 1e-6 in the denominator); returns the norm before clipping.
pub fn clip_grad_norm(params: &[(String, Tensor)], max: f64) -> f64 {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
        let total = grads.iter().map(|g| g.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        if total > max {
            for mut g in grads {
                let _ = g.g_mul_scalar_(max / (total + 1e-6));
            }
        }
        total
    })
}

/// The learning-rate factor per step: linear warm-up from `start` to 1 over `warmup` steps, then constant, or linear
/// decay to 0 at `total` steps when given (transformers' `get_linear_schedule_with_warmup`, as scooby uses it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Steps of linear warm-up (0: none).
    pub warmup: usize,
    /// Factor at step 0 of the warm-up.
    pub start: f64,
    /// Step at which a linear decay after the warm-up reaches 0 (`None`: no decay).
    pub total: Option<usize>,
}

impl Schedule {
    /// A constant learning rate (scBasset's Keras recipe).
    pub fn constant() -> Self {
        Schedule { warmup: 0, start: 1.0, total: None }
    }

    /// Linear warm-up from 1e-7 × lr over `warmup` steps, constant afterwards.
    pub fn warmup(warmup: usize) -> Self {
        Schedule { warmup, start: 1e-7, total: None }
    }

    /// The factor for the update that follows `step` finished updates.
    pub fn factor(&self, step: u64) -> f64 {
        let step = step as f64;
        if step < self.warmup as f64 {
            return self.start + (1.0 - self.start) * step / self.warmup as f64;
        }
        match self.total {
            Some(total) if total > self.warmup => {
                ((total as f64 - step) / (total - self.warmup) as f64).clamp(0.0, 1.0)
            }
            _ => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(Schedule::constant().factor(0), 1.0);
        let w = Schedule::warmup(4);
        assert!((w.factor(0) - 1e-7).abs() < 1e-12);
        assert!((w.factor(2) - (1e-7 + (1.0 - 1e-7) * 0.5)).abs() < 1e-12);
        assert_eq!((w.factor(4), w.factor(100)), (1.0, 1.0));
        let d = Schedule { warmup: 2, start: 0.0, total: Some(6) };
        let f: Vec<f64> = (0..8).map(|s| d.factor(s)).collect();
        assert_eq!(f, [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]);
    }

    #[test]
    fn clipping_scales_to_the_limit() {
        let w = Tensor::from_slice(&[1.0f32, 1.0]).set_requires_grad(true);
        let loss = (&w * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float);
        loss.backward();
        let params = vec![("w".to_string(), w.shallow_clone())];
        assert!((clip_grad_norm(&params, 1.0) - 5.0).abs() < 1e-6);
        let g: Vec<f32> = Vec::try_from(w.grad()).unwrap();
        assert!((g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5, "{g:?}");
        assert!((clip_grad_norm(&params, 10.0) - 1.0).abs() < 1e-5, "below the limit: untouched");
    }
}
