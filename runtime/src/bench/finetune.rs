//! `gscript bench finetune`: seconds per minibatch step of full scBasset training versus LoRA fine-tuning (per-cell
//! head, and cell-state decoder head with sampled cells), on the same model size, data shape and batch size.

use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};

use super::model::{parse_precisions, parse_preset, RandomPeaks};
use crate::adapters::{adapter_tensors, attach_lora, freeze_trunk, LoraConfig};
use crate::error::{Result, RuntimeError};
use crate::finetune::{fine_tune, FineTuneConfig, Head, Param};
use crate::heads::{CellStateDecoder, DecoderConfig, DecoderHead};
use crate::models::scbasset::Preset;
use crate::models::scbasset::{train, Precision, ScBasset, TrainConfig};
use crate::train::{TrainData, TrainError, TrainObserver};

pub const USAGE: &str =
    "gscript bench finetune [--preset keras|scvi|tiny] [--cells N] [--batches N] [--precision fp32|bf16] [--threads N]";

/// Times the minibatch steps after the first (warm-up) step of one epoch: the clock starts when step 1 ends and
/// stops when the last step ends, so the warm-up step, setup and the end of the epoch are not counted.
#[derive(Default)]
struct StepClock {
    after_warmup: Option<Instant>,
    last: Option<(usize, Instant)>,
}

impl TrainObserver for StepClock {
    fn on_batch(
        &mut self,
        _epoch: usize,
        batch: usize,
        _n_batches: usize,
        _running_loss: f64,
    ) -> std::result::Result<(), TrainError> {
        let now = Instant::now();
        if batch == 1 {
            self.after_warmup = Some(now);
        }
        self.last = Some((batch, now));
        Ok(())
    }
}

impl StepClock {
    /// Mean seconds per step after the warm-up step.
    fn per_step(&self) -> Result<f64> {
        match (self.after_warmup, self.last) {
            (Some(start), Some((batch, end))) if batch > 1 => Ok((end - start).as_secs_f64() / (batch - 1) as f64),
            _ => Err(RuntimeError::Other(
                "the benchmark ran fewer than two steps; nothing to time after the warm-up".into(),
            )),
        }
    }
}

fn err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(e.to_string())
}

/// Runs the benchmark and prints one line per mode.
pub fn print(args: &[String]) -> Result<()> {
    let (mut preset, mut n_cells, mut batches, mut precision) = (Preset::Keras, 2000usize, 6usize, Precision::F32);
    for i in (0..args.len()).step_by(2) {
        let v = super::value_of(args, i)?;
        let int = || super::int_at_least(args, i, 1);
        match args[i].as_str() {
            "--preset" => preset = parse_preset(v)?,
            "--cells" => n_cells = int()?,
            "--batches" => batches = int()?,
            "--threads" => crate::threads::set_threads(int()? as i32),
            "--precision" => match parse_precisions(v)?.as_slice() {
                [p] => precision = *p,
                _ => {
                    return Err(RuntimeError::invalid(
                        "--precision",
                        format!("one precision at a time; usage: {USAGE}"),
                    ))
                }
            },
            other => return Err(RuntimeError::invalid(other, format!("unknown option; usage: {USAGE}"))),
        }
    }
    let config = preset.config(n_cells);
    let batch = 128usize;
    let n_peaks = batch * (batches + 1);
    let data = RandomPeaks::generate(n_peaks, config.seq_len, n_cells, 0.05, 1);
    let train_ids: Vec<usize> = (0..n_peaks).collect();
    let tdata = TrainData {
        codes: &data.codes,
        seq_len: data.seq_len,
        n_cells,
        positives: &data.positives,
        train: &train_ids,
        val: &[],
    };
    println!("fine-tuning step time: {preset} preset ({} bp, {n_cells} cells), batch {batch}, {:?}, {} threads, mean of {} steps after one warm-up", config.seq_len, precision, tch::get_num_threads(), batches);
    println!("{:<40} {:>10} {:>12} {:>14}", "mode", "s/step", "seq/s", "trainable");

    // Full training (forward + loss + backward + Adam over every parameter).
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut net = ScBasset::new(&vs.root(), &config).map_err(err)?;
    let trainable = net.trainable_parameter_count();
    let cfg = TrainConfig { epochs: 1, batch_size: batch, precision, restore_best: false, ..TrainConfig::default() };
    let mut clock = StepClock::default();
    train(&mut net, &vs, &tdata, &cfg, &mut clock, &|| false).map_err(err)?;
    let full = clock.per_step()?;
    println!("{:<40} {:>10.3} {:>12.1} {:>14}", "full training (all parameters)", full, batch as f64 / full, trainable);

    for decoder in [false, true] {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut net = ScBasset::new(&vs.root(), &config).map_err(err)?;
        net.set_precision(precision);
        let avs = nn::VarStore::new(Device::Cpu);
        attach_lora(&mut net, &avs.root(), &LoraConfig::default())?;
        freeze_trunk(&net);
        let mut params: Vec<Param> =
            adapter_tensors(&mut net).into_iter().map(|(name, tensor)| Param { name, tensor, head: false }).collect();
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
        let head = if decoder {
            Head::Decoder(DecoderHead { decoder: &dec, states: &states })
        } else {
            Head::Cells(net.cell_head())
        };
        let fcfg = FineTuneConfig { epochs: 1, batch_size: batch, ..FineTuneConfig::default() };
        let mut clock = StepClock::default();
        fine_tune(&net, params, &head, &tdata, &fcfg, &mut clock, &|| false, Vec::new()).map_err(err)?;
        let s = clock.per_step()?;
        let label = if decoder { "LoRA r=8 + decoder (64 cells/step)" } else { "LoRA r=8 + per-cell head" };
        println!("{label:<40} {s:>10.3} {:>12.1} {count:>14}   ({:.2}× full)", batch as f64 / s, full / s);
    }
    if let Some(rss) = super::probe::peak_rss_bytes() {
        println!("peak RSS {:.0} MiB", rss as f64 / 1048576.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::thread::sleep;
    use std::time::Duration;

    use super::*;

    #[test]
    fn step_clock_times_only_the_steps_after_the_warm_up() {
        let mut clock = StepClock::default();
        assert!(clock.per_step().is_err(), "no steps: nothing to time");
        sleep(Duration::from_millis(600)); // setup and the warm-up step
        clock.on_batch(1, 1, 3, 0.0).unwrap();
        assert!(clock.per_step().is_err(), "only the warm-up step: nothing to time");
        for b in [2, 3] {
            sleep(Duration::from_millis(10));
            clock.on_batch(1, b, 3, 0.0).unwrap();
        }
        // counting the warm-up would give at least (0.6 + 0.02) / 3 s per step
        let s = clock.per_step().unwrap();
        assert!((0.01..0.2).contains(&s), "{s} s per step");
    }
}
