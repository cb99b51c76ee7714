//! One-hot tensors built on the device from byte codes: only the codes cross from host memory.

use tch::{Device, Kind, Tensor};

/// `(B, 4, L)` float one-hot in A,C,G,T channel order from `B × L` codes stored row-major.
pub fn one_hot_batch(codes: &[u8], batch: usize, length: usize, device: Device, kind: Kind) -> Tensor {
    assert_eq!(codes.len(), batch * length, "codes hold {} bases, expected {batch} × {length}", codes.len());
    Tensor::from_slice(codes)
        .to_device(device)
        .to_kind(Kind::Int64)
        .view([batch as i64, length as i64])
        .one_hot(4)
        .permute([0, 2, 1])
        .to_kind(kind)
        .contiguous()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_channels_first_one_hot() {
        let t = one_hot_batch(&[0, 1, 2, 3, 3, 2], 2, 3, Device::Cpu, Kind::Float);
        assert_eq!(t.size(), vec![2, 4, 3]);
        // sequence 0 = A C G: channel c is hot at position c
        let v: Vec<f32> = Vec::try_from(t.get(0).flatten(0, -1)).unwrap();
        assert_eq!(v, vec![1., 0., 0., 0., 1., 0., 0., 0., 1., 0., 0., 0.]);
        // sequence 1 = T T G: T channel (3) hot at 0 and 1, G channel (2) at 2
        let v: Vec<f32> = Vec::try_from(t.get(1).sum_dim_intlist(1, false, Kind::Float)).unwrap();
        assert_eq!(v, vec![0., 0., 1., 2.]);
    }
}
