//! Tests of the assembled model: parameter counts (the arithmetic of calico/scBasset's `make_model`), shapes,
//! batch-norm moving averages, stem pooling alignment, the batch-correction head and gradient flow.

use tch::{nn, Device, Kind, Tensor};

use super::config::{Arch, ScBassetConfig};
use super::layers::{gelu, Precision, BN_EPS};
use super::network::ScBasset;
use crate::models::error::ModelError;
use crate::train::loss::bce_with_logits_positives;

fn build(config: &ScBassetConfig, seed: i64) -> (nn::VarStore, ScBasset) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = ScBasset::new(&vs.root(), config).unwrap();
    (vs, model)
}

fn random_codes(batch: i64, len: usize, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randint(4, [batch, len as i64], (Kind::Uint8, Device::Cpu))
}

fn max_abs(t: &Tensor) -> f64 {
    f64::try_from(t.abs().max()).unwrap()
}

/// Trainable conv/dense/BN parameters from the widths, independently of the model code.
fn trunk_count(widths: &[usize]) -> usize {
    let mut n = 4 * 17 * 288 + 2 * 288;
    let mut c_in = 288;
    for &w in widths {
        n += c_in * 5 * w + 2 * w;
        c_in = w;
    }
    n + c_in * 256 + 2 * 256 + 1792 * 32 + 2 * 32
}

#[test]
fn parameter_counts_match_the_paper() {
    let _rng = crate::testing::torch_rng_lock();
    assert_eq!(trunk_count(&[288, 323, 363, 407, 456, 512]), 4_513_960);
    assert_eq!(trunk_count(&[288, 323, 362, 406, 456, 512]), 4_506_216);
    for n in [1usize, 100, 2034] {
        let (vs, keras) = build(&ScBassetConfig::keras(n), 0);
        assert_eq!(keras.trainable_parameter_count(), 4_513_960 + 33 * n, "keras, n_cells = {n}");
        let in_store: usize = vs.trainable_variables().iter().map(Tensor::numel).sum();
        assert_eq!(in_store, keras.trainable_parameter_count());
        let (_, scvi) = build(&ScBassetConfig::scvi(n), 0);
        assert_eq!(scvi.trainable_parameter_count(), 4_506_216 + 33 * n, "scvi, n_cells = {n}");
    }
    // plus 33·n_batch for the Keras BC head, Dense(n_batch) with bias
    let config = ScBassetConfig { n_batches: Some(3), ..ScBassetConfig::keras(100) };
    let vs = nn::VarStore::new(Device::Cpu);
    let bc = ScBasset::with_batches(&vs.root(), &config, &[0, 1, 2].repeat(34)[..100]).unwrap();
    assert_eq!(bc.trainable_parameter_count(), 4_513_960 + 33 * 100 + 33 * 3);
}

#[test]
fn forward_shapes_and_embedding_accessors() {
    let _rng = crate::testing::torch_rng_lock();
    let config = ScBassetConfig::tiny(13);
    let (_, model) = build(&config, 1);
    let codes = random_codes(6, config.seq_len, 2);
    let logits = model.forward_codes(&codes, false);
    assert_eq!(logits.size(), vec![6, 13]);
    let z = model.embed(&ScBasset::one_hot(&codes).unwrap(), false);
    assert_eq!(z.size(), vec![6, 8]);
    assert!(logits.equal(&model.logits_from_embedding(&z)));
    // logits = z·W + b with W = cell_embeddings()ᵀ and b = intercept()
    let manual = z.matmul(&model.cell_embeddings().tr()) + model.intercept();
    assert!(max_abs(&(manual - &logits)) < 1e-5);
    assert_eq!(model.cell_embeddings().size(), vec![13, 8]);
    assert_eq!(model.intercept().size(), vec![13]);
    assert!(model.try_forward_codes(&random_codes(2, 335, 3), false).is_err());
    assert!(model.try_forward_codes(&codes.to_kind(Kind::Float), false).is_err());
    assert!(matches!(model.try_forward_codes(&(codes + 4), false), Err(ModelError::Torch(_))));
}

#[test]
fn one_hot_is_channels_first_acgt() {
    let _rng = crate::testing::torch_rng_lock();
    let codes = Tensor::from_slice(&[0u8, 1, 2, 3, 3, 0]).view([2, 3]);
    let x = ScBasset::one_hot(&codes).unwrap();
    assert_eq!(x.size(), vec![2, 4, 3]);
    assert_eq!(x.kind(), Kind::Float);
    let row0: Vec<f32> = Vec::try_from(x.get(0).reshape([-1])).unwrap();
    assert_eq!(row0, vec![1., 0., 0., 0., 1., 0., 0., 0., 1., 0., 0., 0.]);
    let t_channel: Vec<f32> = Vec::try_from(x.get(1).get(3)).unwrap();
    assert_eq!(t_channel, vec![1., 1., 0.]);
}

#[test]
fn invalid_construction_is_an_error_not_a_panic() {
    let _rng = crate::testing::torch_rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let bad = ScBassetConfig { seq_len: 100, ..ScBassetConfig::tiny(4) };
    assert!(
        matches!(ScBasset::new(&vs.root(), &bad), Err(ModelError::InvalidConfig { field, .. }) if field == "seq_len")
    );
    let bc = ScBassetConfig { n_batches: Some(2), ..ScBassetConfig::tiny(4) };
    assert!(ScBasset::new(&vs.root(), &bc).is_err());
    assert!(ScBasset::with_batches(&vs.root(), &ScBassetConfig::tiny(4), &[0; 4]).is_err());
    assert!(ScBasset::with_batches(&vs.root(), &bc, &[0, 1, 1]).is_err());
    let err = ScBasset::with_batches(&vs.root(), &bc, &[0, 1, 2, 0]).unwrap_err();
    assert!(err.to_string().contains("cell 2"), "{err}");
}

#[test]
fn batch_norm_moving_averages_use_momentum_point_one() {
    let _rng = crate::testing::torch_rng_lock();
    let config = ScBassetConfig::tiny(5);
    let (_, model) = build(&config, 3);
    let x = ScBasset::one_hot(&random_codes(16, config.seq_len, 4)).unwrap();
    let stem = model.conv_blocks().next().unwrap();
    let k = stem.weight.size()[2];
    let pre_bn = gelu(&x).conv1d::<Tensor>(&stem.weight, None, [1], [k / 2], [1], 1).detach();
    let batch_mean = pre_bn.mean_dim(&[0i64, 2][..], false, Kind::Float);
    let batch_var = pre_bn.var_dim(&[0i64, 2][..], true, false); // unbiased, torch convention

    assert!(stem.bn.running_mean.equal(&Tensor::zeros([16], (Kind::Float, Device::Cpu))));
    let _ = tch::no_grad(|| model.forward_onehot(&x, true));
    assert!(max_abs(&(&stem.bn.running_mean - &batch_mean * 0.1)) < 1e-6);
    assert!(max_abs(&(&stem.bn.running_var - (&batch_var * 0.1 + 0.9))) < 1e-5);
    let _ = tch::no_grad(|| model.forward_onehot(&x, true));
    assert!(max_abs(&(&stem.bn.running_mean - &batch_mean * 0.19)) < 1e-6);

    // eval mode leaves the statistics alone, is deterministic, and normalises with them
    let (rm, rv) = (stem.bn.running_mean.copy(), stem.bn.running_var.copy());
    let eval1 = tch::no_grad(|| model.forward_onehot(&x, false));
    let eval2 = tch::no_grad(|| model.forward_onehot(&x, false));
    assert!(eval1.equal(&eval2));
    assert!(stem.bn.running_mean.equal(&rm) && stem.bn.running_var.equal(&rv));
    let expected =
        ((&pre_bn - rm.view([1, -1, 1])) / (rv.view([1, -1, 1]) + BN_EPS).sqrt()).max_pool1d([3], [3], [0], [1], false);
    let got = tch::no_grad(|| stem.forward_t(&x, false, model.precision()));
    assert!(max_abs(&(got - expected)) < 1e-4);

    // train mode uses batch statistics (and dropout), so its output differs from eval mode
    let train = tch::no_grad(|| model.forward_onehot(&x, true));
    assert!(max_abs(&(train - eval1)) > 1e-3);
}

#[test]
fn stem_pool_windows_follow_the_arch() {
    let _rng = crate::testing::torch_rng_lock();
    for arch in [Arch::Keras, Arch::Scvi] {
        let config = ScBassetConfig { arch, ..ScBassetConfig::tiny(3) };
        let (_, model) = build(&config, 5);
        let x = ScBasset::one_hot(&random_codes(2, config.seq_len, 6)).unwrap();
        let stem = model.conv_blocks().next().unwrap();
        let k = stem.weight.size()[2];
        let h = gelu(&x).conv1d::<Tensor>(&stem.weight, None, [1], [k / 2], [1], 1);
        let h = (&h - stem.bn.running_mean.view([1, -1, 1])) / (stem.bn.running_var.view([1, -1, 1]) + BN_EPS).sqrt();
        let pooled = tch::no_grad(|| stem.forward_t(&x, false, model.precision()));
        assert_eq!(pooled.size()[2], 112);
        let start = |i: i64| if arch == Arch::Keras { 3 * i } else { (3 * i - 1).max(0) };
        let end = |i: i64| if arch == Arch::Keras { 3 * i + 3 } else { 3 * i + 2 };
        for i in [0i64, 1, 50, 111] {
            let window = h.narrow(2, start(i), end(i) - start(i)).amax([2], false);
            assert!(max_abs(&(window - pooled.select(2, i))) < 1e-5, "{arch:?} window {i}");
        }
    }
}

#[test]
fn batch_head_equals_dense_one_hot_product() {
    let _rng = crate::testing::torch_rng_lock();
    let (n, k) = (9usize, 3usize);
    let cell_batch = [2usize, 0, 1, 1, 2, 0, 0, 2, 1];
    let config = ScBassetConfig { n_batches: Some(k), ..ScBassetConfig::tiny(n) };
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = ScBasset::with_batches(&vs.root(), &config, &cell_batch).unwrap();
    let head = model.batch_head().unwrap();
    tch::no_grad(|| {
        head.bias.shallow_clone().copy_(&Tensor::from_slice(&[0.5f32, -1.0, 2.0]));
    });
    let z = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
    let b = Tensor::zeros([k as i64, n as i64], (Kind::Float, Device::Cpu));
    for (c, &batch) in cell_batch.iter().enumerate() {
        let _ = b.get(batch as i64).get(c as i64).fill_(1.0);
    }
    let expected = model.cell_logits(&z) + (z.matmul(&head.embedding) + &head.bias).matmul(&b);
    assert!(max_abs(&(model.logits_from_embedding(&z) - expected)) < 1e-5);
    assert!(max_abs(&(model.logits_from_embedding(&z) - model.cell_logits(&z))) > 0.1);

    let w1 = model.cell_embeddings();
    let penalty = f64::try_from(model.l2_penalty(1e-3, 2e-2)).unwrap();
    let expected = 1e-3 * f64::try_from(w1.square().sum(Kind::Double)).unwrap()
        + 2e-2 * f64::try_from(head.embedding.square().sum(Kind::Double)).unwrap();
    assert!((penalty - expected).abs() < 1e-6 * expected, "{penalty} vs {expected}");
    // glorot_uniform bound for the (8, 9) cell kernel
    assert!(max_abs(&w1) <= (6.0f64 / 17.0).sqrt());
}

#[test]
fn keras_initialisation_statistics() {
    let _rng = crate::testing::torch_rng_lock();
    let (_, model) = build(&ScBassetConfig::keras(500), 8);
    let w = model.cell_embeddings();
    let target = (2.0f64 / 32.0).sqrt(); // he_normal, fan_in = bottleneck: std 0.25
    let std = f64::try_from(w.std(true)).unwrap();
    assert!((std - target).abs() < 0.03 * target, "cell kernel std {std}");
    assert!(max_abs(&w) <= 2.0 * target / 0.879_625_661_034_239_8 + 1e-6);
    assert_eq!(max_abs(&model.intercept()), 0.0);
    let tower0 = model.conv_blocks().nth(1).unwrap();
    let std0 = f64::try_from(tower0.weight.std(true)).unwrap();
    let target0 = (2.0f64 / (5.0 * 288.0)).sqrt();
    assert!((std0 - target0).abs() < 0.01 * target0, "tower0 std {std0} vs {target0}");
    let g = tower0.bn.ws.as_ref().unwrap();
    assert!(g.equal(&g.ones_like()));
}

#[test]
fn gradients_reach_every_parameter() {
    let _rng = crate::testing::torch_rng_lock();
    let config = ScBassetConfig::tiny(20);
    let (_, model) = build(&config, 9);
    let logits = model.forward_codes(&random_codes(8, config.seq_len, 10), true);
    let positives = Tensor::from_slice(&[0i64, 5, 21, 40, 99, 159]);
    let loss = bce_with_logits_positives(&logits, &positives).unwrap();
    loss.backward();
    for (i, p) in model.trainable_parameters().iter().enumerate() {
        let g = p.grad();
        assert!(g.defined() && max_abs(&g) > 0.0, "parameter {i} {:?} has no gradient", p.size());
    }
}

#[test]
fn same_seed_same_model() {
    let _rng = crate::testing::torch_rng_lock();
    let config = ScBassetConfig::tiny(4);
    let codes = random_codes(3, config.seq_len, 1);
    let (_, a) = build(&config, 21);
    let (_, b) = build(&config, 21);
    let (_, c) = build(&config, 22);
    let (la, lb, lc) = (a.forward_codes(&codes, false), b.forward_codes(&codes, false), c.forward_codes(&codes, false));
    assert!(la.equal(&lb));
    assert!(!la.equal(&lc));
}

#[test]
fn bf16_precision_keeps_fp32_weights_and_tracks_fp32() {
    let _rng = crate::testing::torch_rng_lock();
    let config = ScBassetConfig { dropout: 0.0, ..ScBassetConfig::tiny(20) };
    let (_, mut model) = build(&config, 12);
    let codes = random_codes(16, config.seq_len, 13);
    let positives = Tensor::from_slice(&[0i64, 7, 33, 60, 61, 120, 200, 311]);
    let mut run = |precision| {
        model.set_precision(precision);
        let logits = model.forward_codes(&codes, false);
        let loss = bce_with_logits_positives(&logits, &positives).unwrap();
        let params = model.trainable_parameters();
        let grads = Tensor::run_backward(&[&loss], &params, false, false);
        assert!(params.iter().all(|p| p.kind() == Kind::Float));
        assert!(grads.iter().all(|g| g.kind() == Kind::Float));
        let flat = Tensor::cat(&grads.iter().map(|g| g.reshape([-1])).collect::<Vec<_>>(), 0);
        (logits.detach(), flat)
    };
    let (l32, g32) = run(Precision::F32);
    let (l16, g16) = run(Precision::Bf16);
    assert_eq!(l16.kind(), Kind::Float);
    let rel = max_abs(&(&l16 - &l32)) / max_abs(&l32);
    assert!(rel > 0.0 && rel < 0.05, "bf16 logits differ from fp32 by {rel} (relative)");
    let cosine = f64::try_from(g16.dot(&g32) / (g16.norm() * g32.norm())).unwrap();
    assert!(cosine > 0.99, "gradient cosine similarity {cosine}");
}
