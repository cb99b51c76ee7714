//! Throughput of the full Keras model (n_cells = 2000, batch 128): forward + loss + backward per second.
//!
//! Ignored by default. Run with `cargo test --release speed -- --ignored --nocapture`; settings through
//! `GSCRIPT_SPEED_THREADS` (default 2), `GSCRIPT_SPEED_ITERS` (default 3), `GSCRIPT_SPEED_PRECISION`
//! (`f32`, `bf16` or `both`, default both) and `GSCRIPT_SPEED_DEVICE` (`cpu` default, or `cuda`).

use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use super::config::ScBassetConfig;
use super::layers::Precision;
use super::network::ScBasset;
use crate::train::loss::bce_with_logits_positives;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore]
fn speed_full_keras_forward_backward() {
    let threads: i32 = env_or("GSCRIPT_SPEED_THREADS", 2);
    let iters: usize = env_or("GSCRIPT_SPEED_ITERS", 3);
    let which: String = env_or("GSCRIPT_SPEED_PRECISION", "both".to_string());
    let device =
        if env_or("GSCRIPT_SPEED_DEVICE", "cpu".to_string()) == "cuda" { Device::Cuda(0) } else { Device::Cpu };
    tch::set_num_threads(threads);
    let (n_cells, batch) = (2000usize, 128i64);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let mut model = ScBasset::new(&vs.root(), &ScBassetConfig::keras(n_cells)).unwrap();
    let codes = Tensor::randint(4, [batch, 1344], (Kind::Uint8, device));
    let positives = Tensor::randperm(batch * n_cells as i64, (Kind::Int64, device)).narrow(0, 0, batch * 100);
    let precisions: Vec<Precision> = match which.as_str() {
        "f32" => vec![Precision::F32],
        "bf16" => vec![Precision::Bf16],
        _ => vec![Precision::F32, Precision::Bf16],
    };
    for precision in precisions {
        model.set_precision(precision);
        let step = || {
            let logits = model.forward_codes(&codes, true);
            let loss = bce_with_logits_positives(&logits, &positives).unwrap();
            loss.backward();
            for p in model.trainable_parameters() {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            f64::try_from(loss).unwrap()
        };
        let warm = step();
        assert!(warm.is_finite(), "{precision:?}: loss {warm}");
        let start = Instant::now();
        for _ in 0..iters {
            assert!(step().is_finite());
        }
        let secs = start.elapsed().as_secs_f64();
        // same weights and BN statistics, evaluated in this precision and in fp32
        let probe = codes.narrow(0, 0, 16);
        let eval = tch::no_grad(|| model.forward_codes(&probe, false));
        model.set_precision(Precision::F32);
        let eval_f32 = tch::no_grad(|| model.forward_codes(&probe, false));
        let rel =
            f64::try_from((&eval - &eval_f32).abs().max()).unwrap() / f64::try_from(eval_f32.abs().max()).unwrap();
        println!(
            "{precision:?} on {device:?}, {threads} threads: {:.1} sequences/s forward+backward \
             ({iters} × batch {batch}, {:.2} s/batch); eval logits vs f32: max rel diff {rel:.2e}",
            iters as f64 * batch as f64 / secs,
            secs / iters as f64
        );
        assert!(rel < 0.1, "{precision:?} eval logits drift from f32 by {rel}");
    }
}

#[test]
#[ignore]
fn speed_tiny_forward_backward() {
    tch::set_num_threads(env_or("GSCRIPT_SPEED_THREADS", 2));
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(200)).unwrap();
    let codes = Tensor::randint(4, [64, 336], (Kind::Uint8, Device::Cpu));
    let positives = Tensor::randperm(64 * 200, (Kind::Int64, Device::Cpu)).narrow(0, 0, 64 * 20);
    let step = || bce_with_logits_positives(&model.forward_codes(&codes, true), &positives).unwrap().backward();
    step();
    let start = Instant::now();
    for _ in 0..10 {
        step();
    }
    println!("tiny config, 64 × 200 cells: {:.1} ms per forward+backward", start.elapsed().as_secs_f64() * 100.0);
}
