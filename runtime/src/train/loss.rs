//! Binary cross-entropy with logits without a dense target (scBasset's loss, Keras `BinaryCrossentropy` in
//! calico/scBasset `bin/scbasset_train.py`, here from logits): softplus summed over all entries minus the positives'
//! logits, divided by the number of entries. With a 0/1 target `y`,
//!
//! ```text
//! mean over B·n of [softplus(x) − y·x] = (Σ softplus(x) − Σ_{y=1} x) / (B·n)
//! ```
//!
//! which equals `BCEWithLogitsLoss` (mean reduction) without materialising a dense target.

use tch::{Kind, Tensor};

use crate::models::error::{ModelError, Result};

/// Mean BCE-with-logits of `logits` `(B, n)` against a 0/1 target whose ones sit at `positives`: flat indices
/// `row·n + col` (Int64, any order, **without duplicates**), on the logits' device. Differentiable in `logits`.
pub fn bce_with_logits_positives(logits: &Tensor, positives: &Tensor) -> Result<Tensor> {
    if logits.dim() != 2 {
        return Err(ModelError::shape("logits", format!("expected (batch, n_cells), got {:?}", logits.size())));
    }
    if positives.dim() != 1 || positives.kind() != Kind::Int64 {
        return Err(ModelError::shape(
            "positives",
            format!("expected a 1-D Int64 tensor of flat indices, got {:?} {:?}", positives.kind(), positives.size()),
        ));
    }
    let total = logits.numel() as f64;
    let softplus = logits.softplus().sum(Kind::Float);
    let hits = logits.reshape([-1]).f_index_select(0, positives)?.sum(Kind::Float);
    Ok((softplus - hits) / total)
}

/// Flat indices `row·n_cells + col` of the ones of a minibatch whose row `r` has its ones at columns `rows[r]`
/// (e.g. the CSR `indices` of each peak in the batch, in batch order).
pub fn positive_flat_indices<R: AsRef<[u32]>>(rows: &[R], n_cells: usize) -> Result<Vec<i64>> {
    let mut flat = Vec::with_capacity(rows.iter().map(|r| r.as_ref().len()).sum());
    for (r, cols) in rows.iter().enumerate() {
        for &c in cols.as_ref() {
            if c as usize >= n_cells {
                return Err(ModelError::shape("positives", format!("row {r} has column {c} ≥ n_cells = {n_cells}")));
            }
            flat.push((r * n_cells + c as usize) as i64);
        }
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Reduction};

    fn dense_and_sparse(b: usize, n: usize, seed: i64) -> (Tensor, Tensor, Tensor) {
        tch::manual_seed(seed);
        // logits over a wide range, including saturated values
        let logits = (Tensor::randn([b as i64, n as i64], (Kind::Float, Device::Cpu)) * 6.0).set_requires_grad(true);
        let target = Tensor::rand([b as i64, n as i64], (Kind::Float, Device::Cpu)).lt(0.3).to_kind(Kind::Float);
        let t: Vec<f32> = Vec::try_from(target.reshape([-1])).unwrap();
        let rows: Vec<Vec<u32>> =
            (0..b).map(|r| (0..n).filter(|&c| t[r * n + c] == 1.0).map(|c| c as u32).collect()).collect();
        let positives = Tensor::from_slice(&positive_flat_indices(&rows, n).unwrap());
        (logits, target, positives)
    }

    #[test]
    fn equals_dense_bce_with_logits_and_its_gradient() {
        let _rng = crate::testing::torch_rng_lock();
        for (b, n, seed) in [(5, 7, 1), (64, 200, 2), (3, 1, 3)] {
            let (logits, target, positives) = dense_and_sparse(b, n, seed);
            let dense = logits.binary_cross_entropy_with_logits::<Tensor>(&target, None, None, Reduction::Mean);
            let sparse = bce_with_logits_positives(&logits, &positives).unwrap();
            let (d, s) = (f64::try_from(&dense).unwrap(), f64::try_from(&sparse).unwrap());
            assert!((d - s).abs() <= 1e-6 * d.abs().max(1.0), "dense {d} vs sparse {s}");

            let g_dense = Tensor::run_backward(&[&dense], &[&logits], false, false).pop().unwrap();
            let g_sparse = Tensor::run_backward(&[&sparse], &[&logits], false, false).pop().unwrap();
            let diff = f64::try_from((&g_dense - &g_sparse).abs().max()).unwrap();
            assert!(diff <= 1e-6 / (b * n) as f64 + 1e-9, "gradient differs by {diff}");
            assert!(f64::try_from(g_dense.abs().max()).unwrap() > 0.0);
        }
    }

    #[test]
    fn gradient_at_zero_logit_is_half_minus_target() {
        let _rng = crate::testing::torch_rng_lock();
        let logits = Tensor::zeros([1, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let loss = bce_with_logits_positives(&logits, &Tensor::from_slice(&[1i64])).unwrap();
        let g: Vec<f32> =
            Vec::try_from(Tensor::run_backward(&[&loss], &[&logits], false, false)[0].reshape([-1])).unwrap();
        assert!((g[0] - 0.25).abs() < 1e-7 && (g[1] + 0.25).abs() < 1e-7, "{g:?}");
        assert!((f64::try_from(&loss).unwrap() - 2f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_inputs() {
        let _rng = crate::testing::torch_rng_lock();
        let logits = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        assert!(bce_with_logits_positives(&logits, &Tensor::from_slice(&[1i32])).is_err());
        assert!(bce_with_logits_positives(&logits.reshape([-1]), &Tensor::from_slice(&[1i64])).is_err());
        assert!(bce_with_logits_positives(&logits, &Tensor::from_slice(&[6i64])).is_err());
        assert!(positive_flat_indices(&[vec![0u32, 3]], 3).is_err());
        assert_eq!(positive_flat_indices(&[vec![2u32], vec![], vec![0, 1]], 3).unwrap(), vec![2, 6, 7]);
    }
}
