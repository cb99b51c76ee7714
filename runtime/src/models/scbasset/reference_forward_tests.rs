//! An independent forward pass written from the original's definition (calico/scBasset `make_model`, `make_model_bc`
//! in `scbasset/utils.py`, `GELU`, `conv_block`, `dense_block` in `scbasset/basenji_utils.py`) in plain f64 loops over
//! Keras' channels-last layout, fed with the model's weights converted to Keras layouts, and compared with the libtorch
//! model. It checks the layer order, the sigmoid GELU before every convolution, "same" padding, the pooling windows of
//! both stems, the position-major flatten of the Keras bottleneck, batch norm in both modes, and both heads.

use tch::{nn, Device, Kind, Tensor};

use super::config::{Arch, ScBassetConfig};
use super::keras::{bottleneck_kernel_to_keras, conv_kernel_to_keras};
use super::network::ScBasset;

/// Batch-norm epsilon of the original: Keras' `BatchNormalization` default (1e-3), which scBasset's `conv_block` and
/// `dense_block` (calico/scBasset `scbasset/basenji_utils.py`) leave unchanged. Written here, not taken from the
/// model, so that the comparison fails when the model's epsilon changes.
const KERAS_BN_EPS: f64 = 1e-3;

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

fn gelu(x: f64) -> f64 {
    x / (1.0 + (-1.702 * x).exp())
}

/// Batch-norm parameters, per channel.
struct Bn {
    gamma: Vec<f64>,
    beta: Vec<f64>,
    mean: Vec<f64>,
    var: Vec<f64>,
}

impl Bn {
    fn of(bn: &nn::BatchNorm) -> Bn {
        Bn {
            gamma: values(bn.ws.as_ref().unwrap()),
            beta: values(bn.bs.as_ref().unwrap()),
            mean: values(&bn.running_mean),
            var: values(&bn.running_var),
        }
    }

    /// `xs[b][l][c]`: normalises each channel with the moving statistics (eval) or the biased statistics of the
    /// batch over all samples and positions (train).
    fn apply(&self, xs: &mut [Vec<Vec<f64>>], train: bool) {
        let channels = self.gamma.len();
        for c in 0..channels {
            let (mean, var) = if train {
                let all: Vec<f64> = xs.iter().flat_map(|x| x.iter().map(move |row| row[c])).collect();
                let m = all.iter().sum::<f64>() / all.len() as f64;
                (m, all.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / all.len() as f64)
            } else {
                (self.mean[c], self.var[c])
            };
            for x in xs.iter_mut() {
                for row in x.iter_mut() {
                    row[c] = (row[c] - mean) / (var + KERAS_BN_EPS).sqrt() * self.gamma[c] + self.beta[c];
                }
            }
        }
    }
}

/// A Keras `conv_block`: GELU → Conv1D (kernel `(k, C_in, C_out)`, "same") → BN → MaxPool (windows
/// `[p·t − pad, p·t − pad + p)`, positions outside ignored).
fn conv_block(
    xs: &[Vec<Vec<f64>>],
    kernel: &Tensor,
    bn: &Bn,
    pool: usize,
    pad: usize,
    train: bool,
) -> Vec<Vec<Vec<f64>>> {
    let size = kernel.size();
    let (k, c_in, c_out) = (size[0] as usize, size[1] as usize, size[2] as usize);
    let w = values(kernel);
    let mut ys: Vec<Vec<Vec<f64>>> = xs
        .iter()
        .map(|x| {
            let len = x.len();
            (0..len)
                .map(|l| {
                    (0..c_out)
                        .map(|o| {
                            let mut s = 0.0;
                            for j in 0..k {
                                let src = l as isize + j as isize - (k / 2) as isize;
                                if src < 0 || src >= len as isize {
                                    continue;
                                }
                                for i in 0..c_in {
                                    s += gelu(x[src as usize][i]) * w[(j * c_in + i) * c_out + o];
                                }
                            }
                            s
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    bn.apply(&mut ys, train);
    if pool == 1 {
        return ys;
    }
    ys.iter()
        .map(|y| {
            let len = y.len();
            let out_len = (len + 2 * pad - pool) / pool + 1;
            (0..out_len)
                .map(|t| {
                    (0..c_out)
                        .map(|c| {
                            let lo = (t * pool) as isize - pad as isize;
                            (lo..lo + pool as isize)
                                .filter(|&p| p >= 0 && p < len as isize)
                                .map(|p| y[p as usize][c])
                                .fold(f64::NEG_INFINITY, f64::max)
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The whole network as the original defines it; returns `(z, logits)` per sample.
fn reference(model: &ScBasset, codes: &[Vec<u8>], train: bool) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let cfg = model.config();
    let mut h: Vec<Vec<Vec<f64>>> = codes
        .iter()
        .map(|s| s.iter().map(|&b| (0..4).map(|c| if c == b as usize { 1.0 } else { 0.0 }).collect()).collect())
        .collect();
    for (i, block) in model.conv_blocks().enumerate() {
        let kernel = conv_kernel_to_keras(&block.weight).unwrap();
        let (pool, pad) = (block.pool as usize, block.pool_padding as usize);
        if i == 0 {
            assert_eq!(pad, if cfg.arch == Arch::Scvi { 1 } else { 0 });
        }
        h = conv_block(&h, &kernel, &Bn::of(&block.bn), pool, pad, train);
    }
    let dense = model.dense_block();
    let positions = h[0].len();
    let channels = h[0][0].len();
    let kd = values(&bottleneck_kernel_to_keras(&dense.weight, positions as i64, channels as i64).unwrap());
    let units = cfg.bottleneck;
    // GELU, then Keras' position-major flatten (index p·C + c), then the kernel
    let mut d: Vec<Vec<Vec<f64>>> = h
        .iter()
        .map(|x| {
            let flat: Vec<f64> = x.iter().flat_map(|row| row.iter().map(|&v| gelu(v))).collect();
            vec![(0..units).map(|u| flat.iter().enumerate().map(|(r, v)| v * kd[r * units + u]).sum()).collect()]
        })
        .collect();
    Bn::of(&dense.bn).apply(&mut d, train);
    let z: Vec<Vec<f64>> = d.iter().map(|x| x[0].iter().map(|&v| gelu(v)).collect()).collect();
    let w1 = values(&model.cell_embeddings()); // (n_cells, units)
    let b1 = values(&model.intercept());
    let head = model
        .batch_head()
        .map(|h| (values(&h.embedding), values(&h.bias), values(&h.cell_batch.to_kind(Kind::Double))));
    let logits = z
        .iter()
        .map(|zv| {
            (0..cfg.n_cells)
                .map(|c| {
                    let mut s = b1[c] + (0..units).map(|u| zv[u] * w1[c * units + u]).sum::<f64>();
                    if let Some((w2, b2, cb)) = &head {
                        let k = b2.len();
                        let b = cb[c] as usize;
                        s += b2[b] + (0..units).map(|u| zv[u] * w2[u * k + b]).sum::<f64>();
                    }
                    s
                })
                .collect()
        })
        .collect();
    (z, logits)
}

fn small_config(arch: Arch, n_batches: Option<usize>) -> ScBassetConfig {
    ScBassetConfig {
        n_cells: 5,
        seq_len: 48,
        arch,
        stem_filters: 6,
        stem_kernel: 7,
        stem_pool: 3,
        tower_filters_init: 6,
        tower_repeat: 2,
        tower_mult: 1.5,
        tower_kernel: 5,
        tower_pool: 2,
        conv1x1_filters: 5,
        bottleneck: 4,
        dropout: 0.0,
        n_batches,
    }
}

/// Moves every BN parameter and statistic and the biases away from their initial values.
fn perturb(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (name, t) in vs.variables() {
            let mut t = t.shallow_clone();
            if name.ends_with("running_var") {
                let _ = t.uniform_(0.5, 2.0);
            } else if name.ends_with("bn.weight") {
                let _ = t.uniform_(0.5, 1.5);
            } else if name.ends_with("running_mean") || name.ends_with("bias") || name == "batch_embedding" {
                // (the batch kernel starts at zero: give it values so the BC path is exercised)
                let _ = t.uniform_(-0.5, 0.5);
            }
        }
    });
}

fn check(config: ScBassetConfig, cell_batch: Option<Vec<usize>>) {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(17);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = match &cell_batch {
        None => ScBasset::new(&vs.root(), &config).unwrap(),
        Some(cb) => ScBasset::with_batches(&vs.root(), &config, cb).unwrap(),
    };
    perturb(&vs);
    let n = 6;
    let codes = Tensor::randint(4, [n, config.seq_len as i64], (Kind::Int64, Device::Cpu));
    let rows: Vec<Vec<u8>> = (0..n).map(|i| values(&codes.get(i)).into_iter().map(|v| v as u8).collect()).collect();
    for train in [false, true] {
        let (z_ref, logits_ref) = reference(&model, &rows, train);
        let (z, logits) = tch::no_grad(|| {
            let x = ScBasset::one_hot(&codes).unwrap();
            let z = model.embed(&x, train);
            let logits = model.logits_from_embedding(&z);
            (values(&z), values(&logits))
        });
        let flat_z: Vec<f64> = z_ref.concat();
        let flat_l: Vec<f64> = logits_ref.concat();
        let err = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let scale = flat_l.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        assert!(err(&z, &flat_z) < 1e-4 * scale, "{:?} train={train}: z differs by {}", config.arch, err(&z, &flat_z));
        assert!(
            err(&logits, &flat_l) < 1e-4 * scale,
            "{:?} train={train}: logits differ by {}",
            config.arch,
            err(&logits, &flat_l)
        );
        // not a vacuous comparison: the outputs vary across samples and cells
        let spread = flat_l.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
            - flat_l.iter().fold(f64::INFINITY, |m, &v| m.min(v));
        assert!(spread > 0.1, "logits barely vary: {spread}");
    }
}

#[test]
fn keras_forward_matches_the_reference() {
    check(small_config(Arch::Keras, None), None);
}

#[test]
fn scvi_stem_pooling_matches_the_reference() {
    check(small_config(Arch::Scvi, None), None);
}

#[test]
fn batch_corrected_head_matches_the_reference() {
    check(small_config(Arch::Keras, Some(2)), Some(vec![0, 1, 1, 0, 1]));
}

#[test]
fn the_reference_sees_the_stem_pool_alignment() {
    // The two stems pool different windows; the reference must tell them apart on the same weights, otherwise the
    // scvi test above would not be checking the alignment.
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let keras = ScBasset::new(&vs.root(), &small_config(Arch::Keras, None)).unwrap();
    let vs2 = nn::VarStore::new(Device::Cpu);
    let scvi = ScBasset::new(&vs2.root(), &small_config(Arch::Scvi, None)).unwrap();
    tch::no_grad(|| {
        for (name, t) in vs2.variables() {
            t.shallow_clone().copy_(&vs.variables()[&name]);
        }
    });
    let codes: Vec<Vec<u8>> = vec![(0..48).map(|i| ((i * 7 + 3) % 4) as u8).collect()];
    let (_, a) = reference(&keras, &codes, false);
    let (_, b) = reference(&scvi, &codes, false);
    let diff = a[0].iter().zip(&b[0]).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(diff > 1e-4, "the stems should differ: {diff}");
}
