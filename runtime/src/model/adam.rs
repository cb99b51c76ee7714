//! Adam in the form of TensorFlow 2.8 / Keras (as calico/scBasset `bin/scbasset_train.py` compiles it), written out so
//! that its moments can be checkpointed:
//!
//! ```text
//! t ← t + 1;  lr_t = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
//! m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  θ ← θ − lr_t · m / (√v + ε̂)
//! ```
//!
//! (the "ε-hat" form: ε is added to √v, not to the bias-corrected √v̂ as in torch). No weight decay.

use tch::{nn, Tensor};

/// Adam over the trainable variables of a [`nn::VarStore`], in name order.
#[derive(Debug)]
pub struct KerasAdam {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay (scBasset: 0.95).
    pub beta1: f64,
    /// Second-moment decay (scBasset: 0.9995).
    pub beta2: f64,
    /// ε̂ (Keras: 1e-7).
    pub eps: f64,
    step: u64,
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl KerasAdam {
    /// An optimiser over every variable of `vs` that requires a gradient, with zero moments.
    pub fn new(vs: &nn::VarStore, lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let m = params.iter().map(|(_, t)| tch::no_grad(|| t.zeros_like())).collect();
        let v = params.iter().map(|(_, t)| tch::no_grad(|| t.zeros_like())).collect();
        KerasAdam { lr, beta1, beta2, eps, step: 0, params, m, v }
    }

    /// Number of updates applied so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Names of the optimised variables, in update order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(n, _)| n.as_str())
    }

    /// Number of optimised scalars.
    pub fn parameter_count(&self) -> usize {
        self.params.iter().map(|(_, t)| t.numel()).sum()
    }

    /// Zeroes the gradients of the optimised variables.
    pub fn zero_grad(&self) {
        for (_, p) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// One update from the current gradients (variables without a gradient are left alone).
    pub fn step(&mut self) {
        self.step += 1;
        let t = self.step as i32;
        let lr_t = self.lr * (1.0 - self.beta2.powi(t)).sqrt() / (1.0 - self.beta1.powi(t));
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        tch::no_grad(|| {
            for (((_, p), m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = m.g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2).g_add_(&(g.square() * (1.0 - b2)));
                let mut p = p.shallow_clone();
                let _ = p.g_sub_(&(&*m * lr_t / (v.sqrt() + eps)));
            }
        });
    }

    /// `(name, m, v)` for every optimised variable, sharing storage with the optimiser.
    pub fn moments(&self) -> impl Iterator<Item = (&str, &Tensor, &Tensor)> {
        self.params.iter().zip(&self.m).zip(&self.v).map(|(((n, _), m), v)| (n.as_str(), m, v))
    }

    /// Replaces the step count and the moments; `moment(name)` returns `(m, v)` for a variable name. Errors name the
    /// first variable whose moments are missing or have the wrong shape.
    pub fn load_state(
        &mut self,
        step: u64,
        mut moment: impl FnMut(&str) -> Option<(Tensor, Tensor)>,
    ) -> Result<(), String> {
        for (((name, p), m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
            let (mm, vv) = moment(name).ok_or_else(|| format!("no Adam moments for variable `{name}`"))?;
            if mm.size() != p.size() || vv.size() != p.size() {
                return Err(format!(
                    "Adam moments of `{name}` have shapes {:?}/{:?}, the variable {:?}",
                    mm.size(),
                    vv.size(),
                    p.size()
                ));
            }
            tch::no_grad(|| {
                m.copy_(&mm);
                v.copy_(&vv);
            });
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn two_steps_match_the_keras_formula() {
        let _rng = crate::model::torch_rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().add("w", Tensor::from_slice(&[1.0f32, -2.0, 0.5]), true);
        let _frozen = vs.root().add("frozen", Tensor::from_slice(&[3.0f32]), false);
        let mut opt = KerasAdam::new(&vs, 0.01, 0.95, 0.9995, 1e-7);
        assert_eq!(opt.names().collect::<Vec<_>>(), vec!["w"]);
        let (mut theta, mut m, mut v) = ([1.0f64, -2.0, 0.5], [0.0f64; 3], [0.0f64; 3]);
        for t in 1..=2 {
            opt.zero_grad();
            // loss = Σ w³ → g = 3w²
            (&w * &w * &w).sum(Kind::Float).backward();
            opt.step();
            let lr_t = 0.01 * (1.0 - 0.9995f64.powi(t)).sqrt() / (1.0 - 0.95f64.powi(t));
            for i in 0..3 {
                let g = 3.0 * theta[i] * theta[i];
                m[i] = 0.95 * m[i] + 0.05 * g;
                v[i] = 0.9995 * v[i] + 0.0005 * g * g;
                theta[i] -= lr_t * m[i] / (v[i].sqrt() + 1e-7);
            }
        }
        let got: Vec<f32> = Vec::try_from(&w).unwrap();
        for i in 0..3 {
            assert!((got[i] as f64 - theta[i]).abs() < 1e-6, "{got:?} vs {theta:?}");
        }
        assert_eq!(opt.steps(), 2);
    }
}
