//! Weight layout conversions between Keras scBasset kernels and this module's torch layouts (Keras `Conv1D`/`Dense`
//! kernels as calico/scBasset's `make_model` stores them; scvi-tools' `ScBassetModule` uses torch's own layouts).
//!
//! - Conv1D kernel `(k, C_in, C_out)` ↔ `(C_out, C_in, k)`: a permutation, no flip (both cross-correlate).
//! - Bottleneck Dense kernel `(P·C, U)` with rows in Keras' position-major flatten order (`p·C + c`) ↔ the Linear
//!   weight `(U, C·P)` with columns in torch's channel-major order (`c·P + p`): `W[u, c·P + p] = K[p·C + c, u]`.
//! - Dense (cell / batch) kernels `(32, n)` are used as-is; BN gamma/beta/moving stats map one-to-one.

use tch::Tensor;

use crate::models::error::{ModelError, Result};

/// Keras Conv1D kernel `(k, C_in, C_out)` → torch `(C_out, C_in, k)`.
pub fn conv_kernel_from_keras(kernel: &Tensor) -> Result<Tensor> {
    if kernel.dim() != 3 {
        return Err(ModelError::shape("Conv1D kernel", format!("expected (k, C_in, C_out), got {:?}", kernel.size())));
    }
    Ok(kernel.permute([2, 1, 0]).contiguous())
}

/// Torch conv weight `(C_out, C_in, k)` → Keras `(k, C_in, C_out)`.
pub fn conv_kernel_to_keras(weight: &Tensor) -> Result<Tensor> {
    if weight.dim() != 3 {
        return Err(ModelError::shape("conv weight", format!("expected (C_out, C_in, k), got {:?}", weight.size())));
    }
    Ok(weight.permute([2, 1, 0]).contiguous())
}

fn check_bottleneck(what: &str, size: &[i64], rows_first: bool, positions: i64, channels: i64) -> Result<()> {
    let flat = positions * channels;
    let ok = size.len() == 2 && if rows_first { size[0] == flat } else { size[1] == flat };
    if ok {
        Ok(())
    } else {
        let expected = if rows_first { "(positions·channels, units)" } else { "(units, channels·positions)" };
        Err(ModelError::shape(
            what,
            format!("expected {expected} with positions·channels = {positions}·{channels} = {flat}, got {size:?}"),
        ))
    }
}

/// Keras bottleneck kernel `(P·C, U)` (rows `p·C + c`) → Linear weight `(U, C·P)` (columns `c·P + p`).
pub fn bottleneck_kernel_from_keras(kernel: &Tensor, positions: i64, channels: i64) -> Result<Tensor> {
    check_bottleneck("Keras bottleneck kernel", &kernel.size(), true, positions, channels)?;
    let units = kernel.size()[1];
    Ok(kernel.reshape([positions, channels, units]).permute([2, 1, 0]).reshape([units, channels * positions]))
}

/// Linear weight `(U, C·P)` → Keras bottleneck kernel `(P·C, U)`; inverse of [`bottleneck_kernel_from_keras`].
pub fn bottleneck_kernel_to_keras(weight: &Tensor, positions: i64, channels: i64) -> Result<Tensor> {
    check_bottleneck("bottleneck weight", &weight.size(), false, positions, channels)?;
    let units = weight.size()[0];
    Ok(weight.reshape([units, channels, positions]).permute([2, 1, 0]).reshape([positions * channels, units]))
}

/// The same conversion on a row-major slice, written index by index: `out[u·C·P + c·P + p] = kernel[(p·C + c)·U + u]`.
pub fn bottleneck_kernel_from_keras_slice(
    kernel: &[f32],
    positions: usize,
    channels: usize,
    units: usize,
) -> Result<Vec<f32>> {
    if kernel.len() != positions * channels * units {
        return Err(ModelError::shape(
            "Keras bottleneck kernel",
            format!("{} values, expected {positions}·{channels}·{units}", kernel.len()),
        ));
    }
    let mut out = vec![0f32; kernel.len()];
    for p in 0..positions {
        for c in 0..channels {
            for u in 0..units {
                out[u * channels * positions + c * positions + p] = kernel[(p * channels + c) * units + u];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn bottleneck_small_case_by_hand() {
        let _rng = crate::testing::torch_rng_lock();
        // P = 2 positions, C = 3 channels, U = 2 units; Keras row r = p·3 + c, value = 10·r + u
        let (p, c, u) = (2usize, 3usize, 2usize);
        let keras: Vec<f32> = (0..p * c).flat_map(|r| (0..u).map(move |k| (10 * r + k) as f32)).collect();
        let w = bottleneck_kernel_from_keras_slice(&keras, p, c, u).unwrap();
        // unit 0, columns c·2 + p: (c0,p0)=row0, (c0,p1)=row3, (c1,p0)=row1, (c1,p1)=row4, (c2,p0)=row2, (c2,p1)=row5
        assert_eq!(&w[..6], &[0., 30., 10., 40., 20., 50.]);
        assert_eq!(&w[6..], &[1., 31., 11., 41., 21., 51.]);
        let t = bottleneck_kernel_from_keras(&Tensor::from_slice(&keras).view([6, 2]), 2, 3).unwrap();
        assert_eq!(Vec::<f32>::try_from(t.reshape([-1])).unwrap(), w);
    }

    #[test]
    fn bottleneck_matches_flatten_orders() {
        let _rng = crate::testing::torch_rng_lock();
        // Keras: flatten (B, P, C) position-major then x·K. Torch: flatten (B, C, P) channel-major then x·Wᵀ.
        tch::manual_seed(1);
        let (p, c, u) = (7, 5, 3);
        let k = Tensor::randn([p * c, u], (Kind::Float, Device::Cpu));
        let x = Tensor::randn([4, c, p], (Kind::Float, Device::Cpu));
        let keras_out = x.permute([0, 2, 1]).reshape([4, p * c]).matmul(&k);
        let w = bottleneck_kernel_from_keras(&k, p, c).unwrap();
        let torch_out = x.reshape([4, c * p]).matmul(&w.tr());
        assert!(f64::try_from((keras_out - torch_out).abs().max()).unwrap() < 1e-5);
        let slice =
            bottleneck_kernel_from_keras_slice(&Vec::<f32>::try_from(k.reshape([-1])).unwrap(), 7, 5, 3).unwrap();
        assert_eq!(Vec::<f32>::try_from(w.reshape([-1])).unwrap(), slice);
        assert!(bottleneck_kernel_to_keras(&w, p, c).unwrap().equal(&k));
        assert!(bottleneck_kernel_from_keras(&k, 6, 5).is_err());
    }

    #[test]
    fn conv_kernel_permutes_without_flip() {
        let _rng = crate::testing::torch_rng_lock();
        let k = Tensor::arange(3 * 4 * 2, (Kind::Float, Device::Cpu)).view([3, 4, 2]); // (k, C_in, C_out)
        let w = conv_kernel_from_keras(&k).unwrap();
        assert_eq!(w.size(), vec![2, 4, 3]);
        // w[o, i, j] = k[j, i, o]
        assert_eq!(f64::try_from(w.get(1).get(2).get(0)).unwrap(), f64::try_from(k.get(0).get(2).get(1)).unwrap());
        assert_eq!(f64::try_from(w.get(0).get(3).get(2)).unwrap(), f64::try_from(k.get(2).get(3).get(0)).unwrap());
        assert!(conv_kernel_to_keras(&w).unwrap().equal(&k));
    }
}
