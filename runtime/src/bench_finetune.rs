//! `gscript bench finetune`: seconds per minibatch step of full scBasset training versus LoRA fine-tuning (per-cell
//! head, and cell-state decoder head with sampled cells), on the same model size, data shape and batch size.

use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use crate::bench_model::{parse_precisions, Preset, RandomPeaks};
use crate::error::{Result, RuntimeError};
use crate::adapters::{adapter_tensors, attach_lora, freeze_trunk, LoraConfig};
use crate::finetune::{fine_tune, FineTuneConfig, Head, Param};
use crate::heads::{CellStateDecoder, DecoderConfig, DecoderHead};
use crate::models::scbasset::{train, Precision, ScBasset, TrainConfig};
use crate::train::{TrainData, TrainObserver};

pub const USAGE: &str = "gscript bench finetune [--preset keras|scvi|tiny] [--cells N] [--batches N] [--precision fp32|bf16] [--threads N]";

struct Quiet;
impl TrainObserver for Quiet {}

fn err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(e.to_string())
}

/// Runs the benchmark and prints one line per mode.
pub fn print(args: &[String]) -> Result<()> {
    let (mut preset, mut n_cells, mut batches, mut precision) = (Preset::Keras, 2000usize, 6usize, Precision::F32);
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).ok_or_else(|| RuntimeError::invalid(&args[i], "needs a value"))?;
        let int = || v.parse::<usize>().ok().filter(|&x| x > 0).ok_or_else(|| RuntimeError::invalid(&args[i], format!("'{v}' is not a positive integer")));
        match args[i].as_str() {
            "--preset" => preset = v.parse()?,
            "--cells" => n_cells = int()?,
            "--batches" => batches = int()?,
            "--threads" => tch::set_num_threads(int()? as i32),
            "--precision" => match parse_precisions(v)?.as_slice() {
                [p] => precision = *p,
                _ => return Err(RuntimeError::invalid("--precision", format!("one precision at a time; usage: {USAGE}"))),
            },
            other => return Err(RuntimeError::invalid(other, format!("unknown option; usage: {USAGE}"))),
        }
        i += 2;
    }
    let config = preset.config(n_cells);
    let batch = 128usize;
    let n_peaks = batch * (batches + 1);
    let data = RandomPeaks::generate(n_peaks, config.seq_len, n_cells, 0.05, 1);
    let train_ids: Vec<usize> = (0..n_peaks).collect();
    let tdata = TrainData { codes: &data.codes, seq_len: data.seq_len, n_cells, positives: &data.positives, train: &train_ids, val: &[] };
    println!("fine-tuning step time: {preset:?} preset ({} bp, {n_cells} cells), batch {batch}, {:?}, {} threads, mean of {} steps after one warm-up", config.seq_len, precision, tch::get_num_threads(), batches);
    println!("{:<40} {:>10} {:>12} {:>14}", "mode", "s/step", "seq/s", "trainable");
    let per_step = |secs: f64| secs / (batches + 1) as f64;

    // Full training (forward + loss + backward + Adam over every parameter).
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut net = ScBasset::new(&vs.root(), &config).map_err(err)?;
    let trainable = net.trainable_parameter_count();
    let cfg = TrainConfig { epochs: 1, batch_size: batch, precision, restore_best: false, ..TrainConfig::default() };
    let t = Instant::now();
    train(&mut net, &vs, &tdata, &cfg, &mut Quiet, &|| false).map_err(err)?;
    let full = per_step(t.elapsed().as_secs_f64());
    println!("{:<40} {:>10.3} {:>12.1} {:>14}", "full training (all parameters)", full, batch as f64 / full, trainable);

    for decoder in [false, true] {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut net = ScBasset::new(&vs.root(), &config).map_err(err)?;
        net.set_precision(precision);
        let avs = nn::VarStore::new(Device::Cpu);
        attach_lora(&mut net, &avs.root(), &LoraConfig::default())?;
        freeze_trunk(&net);
        let mut params: Vec<Param> = adapter_tensors(&mut net).into_iter().map(|(name, tensor)| Param { name, tensor, head: false }).collect();
        let (w, b) = net.cell_layer();
        let dvs = nn::VarStore::new(Device::Cpu);
        let states = Tensor::randn([n_cells as i64, 16], (Kind::Float, Device::Cpu));
        let dec = CellStateDecoder::new(&dvs.root(), &DecoderConfig::scooby(16, config.bottleneck))?;
        if decoder {
            params.extend(dvs.variables().into_iter().map(|(name, tensor)| Param { name, tensor, head: true }));
        } else {
            params.push(Param { name: "w".into(), tensor: w, head: true });
            params.push(Param { name: "b".into(), tensor: b, head: true });
        }
        let count: usize = params.iter().map(|p| p.tensor.numel()).sum();
        let head = if decoder { Head::Decoder(DecoderHead { decoder: &dec, states: &states }) } else { Head::Cells(net.cell_head()) };
        let fcfg = FineTuneConfig { epochs: 1, batch_size: batch, ..FineTuneConfig::default() };
        let t = Instant::now();
        fine_tune(&net, params, &head, &tdata, &fcfg, &mut Quiet, &|| false, Vec::new()).map_err(err)?;
        let s = per_step(t.elapsed().as_secs_f64());
        let label = if decoder { "LoRA r=8 + decoder (64 cells/step)" } else { "LoRA r=8 + per-cell head" };
        println!("{label:<40} {s:>10.3} {:>12.1} {count:>14}   ({:.2}× full)", batch as f64 / s, full / s);
    }
    if let Some(rss) = crate::bench::peak_rss_bytes() {
        println!("peak RSS {:.0} MiB", rss as f64 / 1048576.0);
    }
    Ok(())
}
