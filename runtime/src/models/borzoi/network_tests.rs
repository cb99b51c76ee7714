//! Shapes, parameter counts, training of the tiny preset, and the import's errors.

use tch::{nn::OptimizerConfig, Device, Kind, Tensor};

use super::*;
use crate::models::{save_state, SequenceModel};

fn random_onehot(batch: i64, len: i64) -> Tensor {
    let codes = Tensor::randint(4, [batch, len], (Kind::Int64, Device::Cpu));
    crate::models::one_hot(&codes).unwrap()
}

/// The published sizes (borzoi-pytorch 0.5.1 prints 185,892,699 for `Borzoi(BorzoiConfig())`; the trunk without the
/// head is 171,271,968 and the transformer 15,758,336 per block).
#[test]
fn published_parameter_counts() {
    let m = Borzoi::new(&Preset::Borzoi.config(), Device::Cpu, Init::Zeros).unwrap();
    let groups = m.parameter_groups();
    let trunk: usize = groups.iter().filter(|g| g.kind == crate::models::GroupKind::Trunk).map(|g| g.numel()).sum();
    assert_eq!(trunk, 171_271_968);
    assert_eq!(m.parameter_count(), 185_892_699);
    let block: usize = m.state().iter().filter(|(n, _)| n.starts_with("transformer.0.")).map(|(_, t)| t.numel()).sum();
    assert_eq!(block, 15_758_336);
    let summary = m.summary();
    assert!(summary.contains("185892699") && summary.contains("transformer"), "{summary}");
}

#[test]
fn tiny_shapes_and_window() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(1);
    let c = Preset::Tiny.config();
    let m = Borzoi::new(&c, Device::Cpu, Init::Random).unwrap();
    let x = random_onehot(2, c.seq_len as i64);
    let _ng = tch::no_grad_guard();
    let e = m.embedding(&x, false).unwrap();
    assert_eq!(e.size(), [2, 96, 128]);
    let y = m.forward(&x, Species::Human, false).unwrap();
    assert_eq!(y.size(), [2, 16, 128]);
    assert!(f64::try_from(y.min()).unwrap() >= 0.0, "softplus output is non-negative");
    // a longer input (any multiple of 128 covering the bins) runs and returns the same number of bins
    let y2 = m.forward(&random_onehot(1, 2 * c.seq_len as i64), Species::Human, false).unwrap();
    assert_eq!(y2.size(), [1, 16, 128]);
    let e = m.forward(&random_onehot(1, 1000), Species::Human, false).unwrap_err().to_string();
    assert!(e.contains("multiple of 128"), "{e}");
    let e = m.forward(&random_onehot(1, 2048), Species::Human, false).unwrap_err().to_string();
    assert!(e.contains("fewer than the 128"), "{e}");
    let e = m.forward(&x, Species::Mouse, false).unwrap_err().to_string();
    assert!(e.contains("no mouse head"), "{e}");
}

/// Outputs depend only on the bins' neighbourhood as the architecture says: the model is deterministic in evaluation
/// and the bf16 path stays close to fp32.
#[test]
fn bf16_tracks_follow_fp32() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(2);
    let c = Preset::Tiny.config();
    let mut m = Borzoi::new(&c, Device::Cpu, Init::Random).unwrap();
    let x = random_onehot(1, c.seq_len as i64);
    let _ng = tch::no_grad_guard();
    let a = m.forward(&x, Species::Human, false).unwrap();
    let a2 = m.forward(&x, Species::Human, false).unwrap();
    assert_eq!(f64::try_from((&a - &a2).abs().max()).unwrap(), 0.0);
    m.store_bf16();
    let b = m.forward(&x, Species::Human, false).unwrap();
    assert_eq!(b.kind(), Kind::Float);
    let corr = Tensor::stack(&[a.flatten(0, -1), b.flatten(0, -1)], 0).corrcoef().double_value(&[0, 1]);
    assert!(corr > 0.99, "fp32 vs bf16 correlation {corr}");
}

/// The tiny preset learns a toy target (the GC content of each bin) through the trunk and head.
#[test]
fn tiny_trains_on_a_toy_target() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(4);
    let c = BorzoiConfig { seq_len: 4096, bins: 64, ..Preset::Tiny.config() };
    let m = Borzoi::new(&c, Device::Cpu, Init::Random).unwrap();
    let mut opt = tch::nn::Adam::default().build(m.var_store(), 1e-3).unwrap();
    let codes = Tensor::randint(4, [4, 4096], (Kind::Int64, Device::Cpu));
    let x = crate::models::one_hot(&codes).unwrap();
    let (offset, span) = c.output_window(4096);
    // target: G/C count per 32-bp bin of the returned window, the same for every track
    let gc = x.narrow(2, offset as i64, span as i64).narrow(1, 1, 2).sum_dim_intlist(1, false, Kind::Float);
    let target = gc.view([4, 1, 64, 32]).sum_dim_intlist(-1, false, Kind::Float).expand([4, 16, 64], false) / 8.0;
    let mut losses = Vec::new();
    for _ in 0..30 {
        let y = m.forward(&x, Species::Human, true).unwrap();
        let loss = (&y - &target).square().mean(Kind::Float);
        opt.backward_step(&loss);
        losses.push(f64::try_from(&loss).unwrap());
    }
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < 0.5 * first, "loss {first:.3} → {last:.3}: {losses:?}");
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("borzoi-net-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A saved tiny model loads back through the import (same outputs); the import's errors name what is wrong.
#[test]
fn import_round_trip_and_errors() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(5);
    let dir = tempdir("import");
    let c = Preset::Tiny.config();
    let m = Borzoi::new(&c, Device::Cpu, Init::Random).unwrap();
    let file = dir.join("tiny.safetensors");
    save_state(&m, &file).unwrap();
    let opts = LoadOptions { preset: Some(Preset::Tiny), ..LoadOptions::default() };
    let back = load_pretrained(&file, &opts).unwrap();
    let x = random_onehot(1, c.seq_len as i64);
    let _ng = tch::no_grad_guard();
    let (a, b) = (m.forward(&x, Species::Human, false).unwrap(), back.forward(&x, Species::Human, false).unwrap());
    assert_eq!(f64::try_from((&a - &b).abs().max()).unwrap(), 0.0);

    // wrong dimension: a tiny file read as a tiny model with another width
    let e = load_pretrained(&file, &LoadOptions { preset: Some(Preset::Borzoi), ..LoadOptions::default() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv_dna.conv_layer.weight") && e.contains("[32, 4, 15]") && e.contains("[512, 4, 15]"), "{e}");
    assert!(e.contains("tiny.safetensors"), "{e}");

    // a missing key
    let state: Vec<(String, Tensor)> =
        m.state().into_iter().filter(|(n, _)| n != "transformer.1.1.fn.4.bias").collect();
    let missing = dir.join("missing.safetensors");
    Tensor::write_safetensors(&state, &missing).unwrap();
    let e = load_pretrained(&missing, &opts).unwrap_err().to_string();
    assert!(e.contains("missing 1 tensor") && e.contains("transformer.1.1.fn.4.bias"), "{e}");

    // truncated file
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_pretrained(&cut, &opts).unwrap_err().to_string();
    assert!(e.contains("cut.safetensors") && e.contains("not a readable safetensors"), "{e}");

    // an scBasset model
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let sc =
        crate::models::scbasset::ScBasset::new(&vs.root(), &crate::models::scbasset::Preset::Tiny.config(20)).unwrap();
    let scfile = dir.join("scbasset.safetensors");
    save_state(&sc, &scfile).unwrap();
    let e = load_pretrained(&scfile, &opts).unwrap_err().to_string();
    assert!(e.contains("not a Borzoi checkpoint") && e.contains("load_model"), "{e}");

    // a directory without weights; a config.json with a bad field
    let e = load_pretrained(&dir.join("nothing"), &opts).unwrap_err().to_string();
    assert!(e.contains("nothing"), "{e}");
    let d2 = dir.join("hf");
    std::fs::create_dir_all(&d2).unwrap();
    std::fs::copy(&file, d2.join("model.safetensors")).unwrap();
    std::fs::write(d2.join("config.json"), r#"{"dim": -3}"#).unwrap();
    let e = load_pretrained(&d2, &LoadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("config.json: dim"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The chunked inference path computes what the whole-length blocks compute (halo, sequence-end padding, pooling).
#[test]
fn chunked_blocks_equal_whole_length_blocks() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(6);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let block = layers::ConvBlock::new(&vs.root().sub("b"), 8, 6, 5, Init::Random);
    let stem = layers::Conv1d::new(&vs.root().sub("s"), 4, 6, 15, 1, true, Init::Random);
    let _ng = tch::no_grad_guard();
    for (name, mut t) in vs.variables() {
        if name.ends_with("running_mean") || name.ends_with("bias") {
            t.copy_(&(t.randn_like() * 0.3));
        } else if name.ends_with("running_var") {
            let _ = t.uniform_(0.5, 2.0);
        }
    }
    let x = Tensor::randn([2, 8, 1000], (Kind::Float, Device::Cpu));
    for (chunk, pool) in [(64, true), (250, false), (2000, true)] {
        let whole = block.forward(&x, false, Kind::Float);
        let whole = if pool { layers::pool2(&whole) } else { whole };
        let parts = layers::chunked_conv(&x, Some(&block.norm), &block.conv, pool, Kind::Float, chunk);
        let err = f64::try_from((&whole - &parts).abs().max()).unwrap();
        assert!(err < 1e-5, "block chunk {chunk} pool {pool}: {err}");
    }
    let onehot = random_onehot(1, 998);
    let whole = layers::pool2(&stem.forward(&onehot, Kind::Float));
    let parts = layers::chunked_conv(&onehot, None, &stem, true, Kind::Float, 100);
    let err = f64::try_from((&whole - &parts).abs().max()).unwrap();
    assert!(err < 1e-5, "stem: {err}");
}

/// Evaluation computes the upsampling path only around the returned bins: the same numbers as the whole path.
#[test]
fn early_crop_equals_the_whole_upsampling_path() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(7);
    // bins near the edges (crop of 2 bins) and in the middle
    for bins in [256, 126, 64, 2] {
        let c = BorzoiConfig { bins, ..Preset::Tiny.config() };
        let m = Borzoi::new(&c, Device::Cpu, Init::Random).unwrap();
        let _ng = tch::no_grad_guard();
        for (name, mut t) in m.var_store().variables() {
            if name.ends_with("running_mean") {
                t.copy_(&(t.randn_like() * 0.3));
            }
        }
        let x = random_onehot(2, c.seq_len as i64);
        let a = m.trunk_marked(&x, false, true, &mut |_| {}).unwrap();
        let b = m.trunk_marked(&x, false, false, &mut |_| {}).unwrap();
        assert_eq!(a.size(), [2, 64, bins as i64]);
        let err = f64::try_from((&a - &b).abs().max()).unwrap();
        assert!(err < 1e-5, "bins {bins}: {err}");
    }
}

/// The tiny trunk learns a dependency that only attention can carry: whether six copies of a 16-bp motif lie in the
/// input's left flank (200–1,715 bp, before the returned window 2,048–6,144), read out as one constant over all
/// returned bins — most of them kilobases from the nearest copy, far beyond the convolutions' few hundred bp. Random
/// sequences, a fresh batch of 8 per Adam step (lr 1e-3). Measured with a variant of this test (1 thread, 142 s):
/// chance for 600 steps, then 100 % held-out from step 700 on — learned after a plateau (see profile::e2e_tests for
/// the simulated multiome, where pre-training stays on such a plateau). With the copies inside the returned window
/// the switch came at step ~330. Ignored: minutes on CPU. Asserts a held-out accuracy on 64 fresh sequences after
/// 1,500 steps of at least 0.9 (chance 0.5).
#[test]
#[ignore = "minutes on CPU: a long-range dependency through the tiny trunk's attention"]
fn tiny_trunk_learns_a_dependency_from_its_context_flank() {
    let _g = crate::testing::torch_rng_lock();
    tch::manual_seed(4);
    let c = Preset::Tiny.config();
    let m = Borzoi::new(&c, Device::Cpu, Init::Random).unwrap();
    let mut opt = tch::nn::Adam::default().build(m.var_store(), 1e-3).unwrap();
    let motif: Vec<i64> =
        b"GGGATAAGGATAAGCC".iter().map(|b| b"ACGT".iter().position(|x| x == b).unwrap() as i64).collect();
    let motif = Tensor::from_slice(&motif);
    // (one-hot, 0/1 presence) of `b` random sequences, the motif planted in about half
    let batch = |b: i64| {
        let codes = Tensor::randint(4, [b, c.seq_len as i64], (Kind::Int64, Device::Cpu));
        let present = Tensor::randint(2, [b], (Kind::Int64, Device::Cpu));
        for i in 0..b {
            if present.int64_value(&[i]) == 1 {
                let at = 200 + (i * 97) % 1300;
                for k in 0..6 {
                    codes.get(i).narrow(0, at + 40 * k, 16).copy_(&motif);
                }
            }
        }
        (crate::models::one_hot(&codes).unwrap(), present.to_kind(Kind::Float))
    };
    let (offset, _) = c.output_window(c.seq_len);
    assert!(offset > 1715, "the planted copies must lie before the returned window");
    for _ in 0..1500 {
        let (x, p) = batch(8);
        let y = m.forward(&x, Species::Human, true).unwrap();
        let loss = (&y - p.view([8, 1, 1]).expand_as(&y)).square().mean(Kind::Float);
        opt.backward_step(&loss);
    }
    let (x, p) = batch(64);
    let y = tch::no_grad(|| m.forward(&x, Species::Human, false).unwrap());
    let called = y.mean_dim(&[1i64, 2][..], false, Kind::Float).gt(0.5).to_kind(Kind::Float);
    let accuracy = called.eq_tensor(&p).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    assert!(accuracy >= 0.9, "held-out accuracy {accuracy:.3}");
}
