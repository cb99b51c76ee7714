//! The two Adam optimisers of the trainer, sharing one moment store (and so one checkpoint layout, `m/<name>` and
//! `v/<name>`):
//!
//! - [`KerasAdam`]: Adam in the form of TensorFlow 2.8 / Keras, as scBasset trains (Yuan & Kelley 2022;
//!   calico/scBasset `bin/scbasset_train.py`: `Adam(lr=0.01, beta_1=0.95, beta_2=0.9995)`):
//!
//!   ```text
//!   t ← t + 1;  lr_t = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
//!   m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  θ ← θ − lr_t · m / (√v + ε̂)
//!   ```
//!
//!   (the "ε-hat" form: ε is added to √v, not to the bias-corrected √v̂ as in torch). No weight decay.
//! - [`AdamW`]: torch's AdamW (β 0.9/0.999, ε 1e-8) with a learning rate and a decoupled weight decay per named
//!   parameter group, as scooby fine-tunes (gagneurlab/scooby training scripts: decoder and adapters in separate
//!   groups, 1-D tensors without decay).

use tch::{nn, Tensor};

use super::optim::Optimizer;

/// Named tensors with their first and second moments and the update count.
#[derive(Debug)]
struct Moments {
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
}

impl Moments {
    fn new(params: Vec<(String, Tensor)>) -> Self {
        let m = params.iter().map(|(_, t)| tch::no_grad(|| t.zeros_like())).collect();
        let v = params.iter().map(|(_, t)| tch::no_grad(|| t.zeros_like())).collect();
        Moments { params, m, v, step: 0 }
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len());
        for (((name, _), m), v) in self.params.iter().zip(&self.m).zip(&self.v) {
            out.push((format!("m/{name}"), m.shallow_clone()));
            out.push((format!("v/{name}"), v.shallow_clone()));
        }
        out
    }

    fn load_state(&mut self, steps: u64, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<(), String> {
        for (((name, p), m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
            let (Some(mm), Some(vv)) = (get(&format!("m/{name}")), get(&format!("v/{name}"))) else {
                return Err(format!("no Adam moments for variable `{name}`"));
            };
            if mm.size() != p.size() || vv.size() != p.size() {
                return Err(format!(
                    "Adam moments of `{name}` have shapes {:?}/{:?}, the variable {:?}",
                    mm.size(),
                    vv.size(),
                    p.size()
                ));
            }
            tch::no_grad(|| {
                m.copy_(&mm.to_device(m.device()));
                v.copy_(&vv.to_device(v.device()));
            });
        }
        self.step = steps;
        Ok(())
    }
}

/// Keras' Adam over named tensors, in name order.
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
    state: Moments,
}

impl KerasAdam {
    /// An optimiser over every variable of `vs` that requires a gradient, with zero moments.
    pub fn new(vs: &nn::VarStore, lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        let params = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        Self::over(params, lr, beta1, beta2, eps)
    }

    /// An optimiser over `params` (sorted by name here), with zero moments.
    pub fn over(mut params: Vec<(String, Tensor)>, lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        KerasAdam { lr, beta1, beta2, eps, state: Moments::new(params) }
    }

    /// Names of the optimised variables, in update order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.state.params.iter().map(|(n, _)| n.as_str())
    }

    /// Number of updates applied so far.
    pub fn steps(&self) -> u64 {
        self.state.step
    }

    /// One update at the full learning rate.
    pub fn step(&mut self) {
        Optimizer::step(self, 1.0);
    }

    /// Zeroes the gradients of the optimised variables.
    pub fn zero_grad(&self) {
        Optimizer::zero_grad(self);
    }
}

impl Optimizer for KerasAdam {
    fn params(&self) -> &[(String, Tensor)] {
        &self.state.params
    }

    /// One update from the current gradients (variables without a gradient are left alone).
    fn step(&mut self, lr_factor: f64) {
        let s = &mut self.state;
        s.step += 1;
        let t = s.step as i32;
        let lr_t = lr_factor * self.lr * (1.0 - self.beta2.powi(t)).sqrt() / (1.0 - self.beta1.powi(t));
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        tch::no_grad(|| {
            for (((_, p), m), v) in s.params.iter().zip(&mut s.m).zip(&mut s.v) {
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

    fn steps(&self) -> u64 {
        self.state.step
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.state.state()
    }

    fn load_state(&mut self, steps: u64, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<(), String> {
        self.state.load_state(steps, get)
    }
}

/// A named parameter group of [`AdamW`]: its learning rate and decoupled weight decay.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamGroup {
    /// Group name (e.g. "head", "adapters"), for messages and summaries.
    pub name: String,
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay, applied to tensors of two or more dimensions only.
    pub weight_decay: f64,
}

/// torch's AdamW with a [`ParamGroup`] per tensor.
#[derive(Debug)]
pub struct AdamW {
    groups: Vec<ParamGroup>,
    /// Index into `groups` per parameter.
    group_of: Vec<usize>,
    state: Moments,
}

const ADAMW_BETA1: f64 = 0.9;
const ADAMW_BETA2: f64 = 0.999;
const ADAMW_EPS: f64 = 1e-8;

impl AdamW {
    /// An optimiser over `(group, tensors)` pairs, in the given order.
    pub fn new(groups: Vec<(ParamGroup, Vec<(String, Tensor)>)>) -> Self {
        let (mut specs, mut group_of, mut params) = (Vec::new(), Vec::new(), Vec::new());
        for (g, (spec, tensors)) in groups.into_iter().enumerate() {
            specs.push(spec);
            for p in tensors {
                group_of.push(g);
                params.push(p);
            }
        }
        AdamW { groups: specs, group_of, state: Moments::new(params) }
    }

    /// The groups.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }
}

impl Optimizer for AdamW {
    fn params(&self) -> &[(String, Tensor)] {
        &self.state.params
    }

    fn step(&mut self, lr_factor: f64) {
        let s = &mut self.state;
        s.step += 1;
        let t = s.step as i32;
        let (c1, c2) = (1.0 - ADAMW_BETA1.powi(t), 1.0 - ADAMW_BETA2.powi(t));
        tch::no_grad(|| {
            for ((((_, p), m), v), &g_idx) in s.params.iter().zip(&mut s.m).zip(&mut s.v).zip(&self.group_of) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let group = &self.groups[g_idx];
                let lr = lr_factor * group.lr;
                let mut w = p.shallow_clone();
                if p.dim() >= 2 && group.weight_decay > 0.0 {
                    let _ = w.g_mul_scalar_(1.0 - lr * group.weight_decay);
                }
                let _ = m.g_mul_scalar_(ADAMW_BETA1).g_add_(&(&g * (1.0 - ADAMW_BETA1)));
                let _ = v.g_mul_scalar_(ADAMW_BETA2).g_add_(&(g.square() * (1.0 - ADAMW_BETA2)));
                let _ = w.g_sub_(&((&*m / c1) * lr / ((&*v / c2).sqrt() + ADAMW_EPS)));
            }
        });
    }

    fn steps(&self) -> u64 {
        self.state.step
    }

    fn lr(&self) -> f64 {
        self.groups.first().map_or(0.0, |g| g.lr)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.state.state()
    }

    fn load_state(&mut self, steps: u64, get: &mut dyn FnMut(&str) -> Option<Tensor>) -> Result<(), String> {
        self.state.load_state(steps, get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn two_steps_match_the_keras_formula() {
        let _rng = crate::testing::torch_rng_lock();
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

    #[test]
    fn adamw_matches_torch_with_groups_and_decoupled_decay() {
        let _rng = crate::testing::torch_rng_lock();
        let w = Tensor::from_slice(&[1.0f32, -2.0, 0.5, 3.0]).view([2, 2]).set_requires_grad(true);
        let b = Tensor::from_slice(&[0.5f32, -1.0]).set_requires_grad(true);
        let head = ParamGroup { name: "head".into(), lr: 0.1, weight_decay: 0.01 };
        let adapters = ParamGroup { name: "adapters".into(), lr: 0.05, weight_decay: 0.01 };
        let mut opt = AdamW::new(vec![
            (head, vec![("w".into(), w.shallow_clone())]),
            (adapters, vec![("b".into(), b.shallow_clone())]),
        ]);
        let (mut tw, mut tb) = ([1.0f64, -2.0, 0.5, 3.0], [0.5f64, -1.0]);
        let (mut mw, mut vw, mut mb, mut vb) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 2], [0.0f64; 2]);
        for t in 1..=3 {
            Optimizer::zero_grad(&opt);
            // loss = Σ w² + Σ b³
            ((&w * &w).sum(Kind::Float) + (&b * &b * &b).sum(Kind::Float)).backward();
            Optimizer::step(&mut opt, 0.5);
            let (c1, c2) = (1.0 - 0.9f64.powi(t), 1.0 - 0.999f64.powi(t));
            for i in 0..4 {
                let g = 2.0 * tw[i];
                let lr = 0.5 * 0.1;
                tw[i] *= 1.0 - lr * 0.01;
                mw[i] = 0.9 * mw[i] + 0.1 * g;
                vw[i] = 0.999 * vw[i] + 0.001 * g * g;
                tw[i] -= lr * (mw[i] / c1) / ((vw[i] / c2).sqrt() + 1e-8);
            }
            for i in 0..2 {
                let g = 3.0 * tb[i] * tb[i];
                let lr = 0.5 * 0.05; // 1-D: no decay
                mb[i] = 0.9 * mb[i] + 0.1 * g;
                vb[i] = 0.999 * vb[i] + 0.001 * g * g;
                tb[i] -= lr * (mb[i] / c1) / ((vb[i] / c2).sqrt() + 1e-8);
            }
        }
        let got_w: Vec<f32> = Vec::try_from(w.reshape([-1])).unwrap();
        let got_b: Vec<f32> = Vec::try_from(&b).unwrap();
        for (g, e) in got_w.iter().zip(&tw).chain(got_b.iter().zip(&tb)) {
            assert!((*g as f64 - e).abs() < 1e-6, "{got_w:?} {got_b:?} vs {tw:?} {tb:?}");
        }
        assert_eq!(Optimizer::steps(&opt), 3);
        assert_eq!(Optimizer::state(&opt).len(), 4);
    }
}
