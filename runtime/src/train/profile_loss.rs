//! scooby's Poisson–multinomial profile loss (`poisson_multinomial_torch` in gagneurlab/scooby
//! `scooby/training/losses`, after Borzoi's): predictions and targets `(B, L, C)`, every column `(b, c)` one profile
//! of `L` bins (for scooby, `C = cells × tracks` and each cell-track pair is one profile, ATAC included with equal
//! weight).
//!
//! With `y ← y + eps` on both (as the original, in place), `S = Σ_L y`:
//! - Poisson term on the totals: `(S_pred − S_true · ln S_pred) / L`;
//! - multinomial term on the shape: `−Σ_L y_true · ln(y_pred / S_pred) / L`;
//! - loss = mean over `(B, C)` of `multinomial + total_weight · poisson` (scooby: `total_weight` 0.2, `eps` 1e-6,
//!   `rescale = False`).
//!
//! Computed in fp32 whatever the inputs' precision (scooby runs softplus and the loss in fp32 under bf16 autocast).

use tch::{Kind, Tensor};

use super::error::TrainError;

/// scooby's weight of the Poisson (total-count) term.
pub const TOTAL_WEIGHT: f64 = 0.2;
/// scooby's pseudo-count added to predictions and targets.
pub const EPS: f64 = 1e-6;

/// The Poisson–multinomial loss of `pred` against `target`, both `(B, L, C)` and non-negative: a scalar fp32 tensor,
/// differentiable in `pred`.
pub fn poisson_multinomial(pred: &Tensor, target: &Tensor, total_weight: f64, eps: f64) -> Result<Tensor, TrainError> {
    if pred.dim() != 3 || pred.size() != target.size() {
        return Err(TrainError::InvalidData(format!(
            "poisson_multinomial needs predictions and targets of the same (batch, bins, profiles) shape, got {:?} \
             and {:?}",
            pred.size(),
            target.size()
        )));
    }
    let len = pred.size()[1] as f64;
    let p = pred.f_to_kind(Kind::Float)? + eps;
    let t = target.f_to_kind(Kind::Float)?.f_to_device(p.device())? + eps;
    let s_pred = p.f_sum_dim_intlist(1, true, Kind::Float)?;
    let s_true = t.f_sum_dim_intlist(1, true, Kind::Float)?;
    let poisson = (&s_pred - &s_true * s_pred.log()) / len;
    let multinomial = -(&t * (&p / &s_pred).log()).f_sum_dim_intlist(1, true, Kind::Float)? / len;
    Ok((multinomial + poisson * total_weight).f_mean(Kind::Float)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The formula by explicit loops in f64, on row-major `(B, L, C)` data.
    fn by_loops(pred: &[f64], target: &[f64], b: usize, l: usize, c: usize, w: f64, eps: f64) -> f64 {
        let at = |v: &[f64], i: usize, j: usize, k: usize| v[(i * l + j) * c + k] + eps;
        let mut total = 0.0;
        for i in 0..b {
            for k in 0..c {
                let sp: f64 = (0..l).map(|j| at(pred, i, j, k)).sum();
                let st: f64 = (0..l).map(|j| at(target, i, j, k)).sum();
                let poisson = (sp - st * sp.ln()) / l as f64;
                let multi: f64 = -(0..l).map(|j| at(target, i, j, k) * (at(pred, i, j, k) / sp).ln()).sum::<f64>();
                total += multi / l as f64 + w * poisson;
            }
        }
        total / (b * c) as f64
    }

    #[test]
    fn matches_explicit_loops_on_a_hand_made_case() {
        let (b, l, c) = (2usize, 5usize, 3usize);
        // Hand-made values: zeros (eps matters), a flat profile, a peaked one, large totals.
        let pred: Vec<f64> = (0..b * l * c).map(|i| ((i * 7) % 11) as f64 * 0.37).collect();
        let target: Vec<f64> = (0..b * l * c).map(|i| if i % 4 == 0 { 0.0 } else { ((i * 5) % 9) as f64 }).collect();
        let shape = [b as i64, l as i64, c as i64];
        let tp = Tensor::from_slice(&pred).view(shape).to_kind(Kind::Float);
        let tt = Tensor::from_slice(&target).view(shape).to_kind(Kind::Float);
        for w in [0.2, 1.0, 0.0] {
            let got = poisson_multinomial(&tp, &tt, w, 1e-6).unwrap().double_value(&[]);
            let want = by_loops(&pred, &target, b, l, c, w, 1e-6);
            assert!((got - want).abs() < 1e-5 * want.abs().max(1.0), "w {w}: {got} vs {want}");
        }
    }

    #[test]
    fn perfect_shape_leaves_only_the_entropy_and_the_total_term() {
        // pred = target: the multinomial term is the target profile's entropy / L; scaling pred by k changes only
        // the Poisson term, which is minimal at k = 1 (d/dS [S − T ln S] = 0 at S = T).
        let t = Tensor::from_slice(&[1.0f32, 3.0, 0.5, 2.0, 0.0, 4.0]).view([1, 3, 2]);
        let at = |k: f64| poisson_multinomial(&(&t * k), &t, 0.2, 1e-6).unwrap().double_value(&[]);
        assert!(at(1.0) < at(0.8) && at(1.0) < at(1.25));
    }

    #[test]
    fn rejects_mismatched_shapes() {
        let a = Tensor::zeros([1, 4, 2], (Kind::Float, tch::Device::Cpu));
        let b = Tensor::zeros([1, 4, 3], (Kind::Float, tch::Device::Cpu));
        assert!(poisson_multinomial(&a, &b, 0.2, 1e-6).is_err());
        assert!(poisson_multinomial(&a.view([4, 2]), &a.view([4, 2]), 0.2, 1e-6).is_err());
    }

    #[test]
    fn gradients_reach_the_predictions() {
        let p = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([1, 2, 2]).set_requires_grad(true);
        let t = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 1.0]).view([1, 2, 2]);
        poisson_multinomial(&p, &t, 0.2, 1e-6).unwrap().backward();
        let g: Vec<f32> = Vec::try_from(p.grad().flatten(0, -1)).unwrap();
        assert!(g.iter().all(|x| x.is_finite()) && g.iter().any(|x| *x != 0.0), "{g:?}");
    }

    #[test]
    fn matches_a_torch_transcription_of_scoobys_function() {
        let Some(python) = crate::testing::test_python() else { return };
        let dir = tempfile::tempdir().unwrap();
        let (b, l, c) = (2i64, 16i64, 6i64);
        let i = Tensor::arange(b * l * c, (Kind::Float, tch::Device::Cpu)).view([b, l, c]);
        let pred = (&i * 0.37).fmod(3.0);
        let target = (&i * 0.53).fmod(4.0).floor();
        let path = dir.path().join("io.safetensors");
        Tensor::write_safetensors(&[("pred", &pred), ("target", &target)], &path).unwrap();
        // scooby's poisson_multinomial_torch (total_weight 0.2, eps 1e-6, rescale False), transcribed.
        let script = r#"
import sys, torch
from safetensors.torch import load_file
d = load_file(sys.argv[1]); y_pred, y_true = d["pred"].clone(), d["target"].clone()
eps, w = 1e-6, 0.2
y_pred += eps; y_true += eps
L = y_true.shape[1]
s_pred = y_pred.sum(1, keepdim=True); s_true = y_true.sum(1, keepdim=True)
poisson = (s_pred - s_true * torch.log(s_pred)).mean() / L
multinom = (-y_true * torch.log(y_pred / s_pred)).sum(1) / L
print(repr((multinom + w * poisson).mean().item()))
"#;
        let out = std::process::Command::new(python).arg("-c").arg(script).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let want: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let got = poisson_multinomial(&pred, &target, 0.2, 1e-6).unwrap().double_value(&[]);
        assert!((got - want).abs() < 1e-5 * want.abs().max(1.0), "{got} vs torch {want}");
    }
}
