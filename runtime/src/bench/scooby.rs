//! `gscript bench scooby`: one scooby training step — forward of one sequence through the LoRA-adapted Borzoi trunk,
//! the transform and the cell-state decoder for `--cells` cells, scooby's Poisson–multinomial loss, backward, gradient
//! clipping and the AdamW update of the trainable tensors (adapters, transform, decoder) — in seconds, with the peak
//! resident memory, per configuration and precision. The model is in training mode (batch statistics, dropout), as
//! scooby's steps; weights are random (the time of a step does not depend on them).
//!
//! With `--checkpoint on` the trunk's activations are checkpointed ([`crate::models::borzoi::network::checkpoint`]):
//! the forward pass keeps only the stage boundaries and the backward pass recomputes each stage, so a step computes the
//! trunk's forward twice and holds one stage's activations at a time.
//!
//! Peak memory is the high-water mark of resident memory (VmHWM), reset before each row (model construction
//! included). A row whose step fails (e.g. out of memory on a small machine) is reported with its error instead of a
//! time.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::probe::{reset_peak_rss, sync};
use super::{int_at_least, value_of, BenchError};
use crate::device::DeviceRequest;
use crate::error::RuntimeError;
use crate::finetune::scooby::{checkpoint_by_default, scooby_optimizer, ProfileParams, ScoobyFineTuneConfig};
use crate::models::profile::CellProfileModel;
use crate::models::scooby::{Scooby, ScoobyPreset};
use crate::models::Precision;
use crate::train::profile_loss::{poisson_multinomial, EPS, TOTAL_WEIGHT};
use crate::train::{clip_grad_norm, Optimizer};

pub const USAGE: &str =
    "gscript bench scooby [--preset tiny|neurips|onek1k|all] [--cells N] [--precision fp32|bf16|both]
                     [--checkpoint auto|off|on|both] [--device cpu|cuda|auto] [--repeats N] [--warmup N] [--threads N]
                     [--json]
  seconds per training step (one sequence × N cells: forward, Poisson-multinomial loss, backward, clipping, AdamW)
  and peak memory. --checkpoint on: the trunk's activations are checkpointed (only stage boundaries are kept; each
  stage is recomputed in the backward pass); auto: as training does by default (on for the 524,288-bp presets).
  Defaults: tiny, 64 cells, both precisions, checkpointing auto, 3 repeats after 1 warm-up step. The full presets take one 524,288-bp sequence; on a CPU with little memory their step may not
  fit (reported as an error row).";

/// Settings of `gscript bench scooby`.
#[derive(Clone, Debug)]
pub struct ScoobyBenchConfig {
    pub presets: Vec<ScoobyPreset>,
    pub cells: usize,
    pub precisions: Vec<Precision>,
    /// Rows without and/or with activation checkpointing (None: training's default for the preset).
    pub checkpoint: Option<Vec<bool>>,
    pub device: DeviceRequest,
    pub repeats: usize,
    pub warmup: usize,
    pub threads: Option<usize>,
    pub json: bool,
}

impl ScoobyBenchConfig {
    pub fn from_args(args: &[String]) -> crate::error::Result<Self> {
        let mut c = ScoobyBenchConfig {
            presets: vec![ScoobyPreset::Tiny],
            cells: 64,
            precisions: vec![Precision::F32, Precision::Bf16],
            checkpoint: None,
            device: DeviceRequest::Cpu,
            repeats: 3,
            warmup: 1,
            threads: None,
            json: false,
        };
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--json" {
                c.json = true;
                i += 1;
                continue;
            }
            let v = value_of(args, i)?;
            match args[i].as_str() {
                "--preset" if v == "all" => c.presets = ScoobyPreset::ALL.iter().map(|(_, p)| *p).collect(),
                "--preset" => {
                    c.presets =
                        vec![ScoobyPreset::parse(v).map_err(|e| RuntimeError::invalid("--preset", e.to_string()))?]
                }
                "--cells" => c.cells = int_at_least(args, i, 1)?,
                "--precision" => c.precisions = super::model::parse_precisions(v)?,
                "--checkpoint" => {
                    c.checkpoint = match v {
                        "auto" => None,
                        "off" => Some(vec![false]),
                        "on" => Some(vec![true]),
                        "both" => Some(vec![false, true]),
                        _ => {
                            return Err(RuntimeError::invalid(
                                "--checkpoint",
                                format!("`{v}`: expected auto, off, on or both"),
                            ))
                        }
                    }
                }
                "--device" => c.device = v.parse()?,
                "--repeats" => c.repeats = int_at_least(args, i, 1)?,
                "--warmup" => c.warmup = int_at_least(args, i, 0)?,
                "--threads" => c.threads = Some(int_at_least(args, i, 1)?),
                other => return Err(RuntimeError::invalid(other, format!("unknown option; usage: {USAGE}"))),
            }
            i += 2;
        }
        Ok(c)
    }
}

/// One measured configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScoobyRow {
    pub preset: String,
    pub precision: String,
    /// Activation checkpointing of the trunk.
    pub checkpoint: bool,
    pub seq_len: usize,
    pub bins: usize,
    pub cells: usize,
    pub trainable: usize,
    /// Median seconds per step; None when the step failed.
    pub seconds_per_step: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// Empty, or why the row has no time.
    pub note: String,
}

/// Times `repeats` steps after `warmup` ones; the median.
fn measure(
    c: &ScoobyBenchConfig,
    preset: ScoobyPreset,
    precision: Precision,
    checkpoint: bool,
    device: Device,
) -> ScoobyRow {
    let reset = reset_peak_rss();
    let config = preset.config();
    let mut row = ScoobyRow {
        preset: preset.name().into(),
        precision: precision.name().into(),
        checkpoint,
        seq_len: config.trunk.seq_len,
        bins: 0,
        cells: c.cells,
        trainable: 0,
        seconds_per_step: None,
        peak_rss_mib: None,
        note: String::new(),
    };
    // tch panics on libtorch errors (e.g. an allocation that fails): caught and reported as the row's note.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<f64, String> {
        let mut model = Scooby::new(&config, device, 0).map_err(|e| e.to_string())?;
        model.trunk_mut().set_precision(precision);
        row.bins = model.bins();
        let params = ProfileParams::from_scooby(&model);
        let trainable: Vec<(String, Tensor)> =
            params.decoder.iter().chain(&params.adapters).map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
        row.trainable = trainable.iter().map(|(_, t)| t.numel()).sum();
        let mut optimizer = scooby_optimizer(&params, &ScoobyFineTuneConfig::default());
        let len = model.seq_len() as i64;
        let codes = Tensor::randint(4, [1, len], (Kind::Int64, Device::Cpu));
        let x = crate::models::one_hot(&codes).map_err(|e| e.to_string())?.to_device(device);
        let states = Tensor::randn([1, c.cells as i64, model.state_dim() as i64], (Kind::Float, device));
        let width = (c.cells * model.n_tracks()) as i64;
        let target = Tensor::rand([1, model.bins() as i64, width], (Kind::Float, device));
        let mut times = Vec::new();
        for i in 0..c.warmup + c.repeats {
            let t0 = Instant::now();
            optimizer.zero_grad();
            let (pred, rest) = if checkpoint {
                model.try_forward_checkpointed(&x, &states, true).map_err(|e| e.to_string())?
            } else {
                (model.forward(&x, &states, true), None)
            };
            let loss = poisson_multinomial(&pred, &target, TOTAL_WEIGHT, EPS).map_err(|e| e.to_string())?;
            drop(pred);
            loss.f_backward().map_err(|e| e.to_string())?;
            if let Some(rest) = rest {
                rest.run().map_err(|e| e.to_string())?;
            }
            clip_grad_norm(&trainable, 1.0);
            optimizer.step(1.0);
            sync(device);
            if i >= c.warmup {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }))
    .unwrap_or_else(|panic| {
        let text =
            panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(text.unwrap_or_else(|| "the step failed".into()))
    });
    std::panic::set_hook(hook);
    match result {
        Ok(t) => row.seconds_per_step = Some(t),
        Err(e) if e.contains("can't allocate memory") => {
            row.note = "out of memory: libtorch could not allocate (the step does not fit this machine)".into()
        }
        Err(e) => row.note = e.chars().take(160).collect(),
    }
    row.peak_rss_mib = if reset { super::peak_rss_bytes().map(|b| b as f64 / 1048576.0) } else { None };
    row
}

/// Runs the benchmark and prints a table (or JSON lines).
pub fn print(c: &ScoobyBenchConfig) -> Result<(), BenchError> {
    if let Some(t) = c.threads {
        crate::threads::set_threads(t as i32);
    }
    let device = c.device.resolve()?.0;
    if !c.json {
        println!(
            "scooby training step: one sequence × {} cells, forward + loss + backward + clip + AdamW, training mode \
             ({device:?}, {} threads, median of {} after {} warm-up)",
            c.cells,
            tch::get_num_threads(),
            c.repeats,
            c.warmup
        );
        println!(
            "{:<8} {:<5} {:<5} {:>9} {:>6} {:>11} {:>10} {:>10}  note",
            "preset", "prec", "ckpt", "length", "bins", "trainable", "s/step", "peak MiB"
        );
    }
    for &preset in &c.presets {
        let auto = [checkpoint_by_default(preset.config().trunk.seq_len)];
        let checkpoints = c.checkpoint.as_deref().unwrap_or(&auto);
        for (&precision, &checkpoint) in c.precisions.iter().flat_map(|p| checkpoints.iter().map(move |k| (p, k))) {
            let r = measure(c, preset, precision, checkpoint, device);
            if c.json {
                println!("{}", serde_json::to_string(&r).map_err(|e| BenchError::Failed(e.to_string()))?);
            } else {
                let t = r.seconds_per_step.map(|v| format!("{v:.3}")).unwrap_or_else(|| "—".into());
                let m = r.peak_rss_mib.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into());
                println!(
                    "{:<8} {:<5} {:<5} {:>9} {:>6} {:>11} {:>10} {:>10}  {}",
                    r.preset,
                    r.precision,
                    if r.checkpoint { "on" } else { "off" },
                    r.seq_len,
                    r.bins,
                    r.trainable,
                    t,
                    m,
                    r.note
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_a_tiny_step_is_timed() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let c = ScoobyBenchConfig::from_args(&args("--preset tiny --cells 4 --precision fp32 --repeats 1 --warmup 0"))
            .unwrap();
        assert_eq!((c.cells, c.repeats, c.warmup, c.precisions.len()), (4, 1, 0, 1));
        assert!(ScoobyBenchConfig::from_args(&args("--preset huge")).unwrap_err().to_string().contains("--preset"));
        assert!(ScoobyBenchConfig::from_args(&args("--colour red")).unwrap_err().to_string().contains("--colour"));
        let _g = crate::testing::torch_rng_lock();
        for checkpoint in [false, true] {
            let r = measure(&c, ScoobyPreset::Tiny, Precision::F32, checkpoint, Device::Cpu);
            assert!(r.note.is_empty(), "{}", r.note);
            assert!(r.seconds_per_step.is_some_and(|t| t > 0.0 && t.is_finite()));
            assert_eq!((r.bins, r.checkpoint), (128, checkpoint));
            assert!(r.trainable > 0);
        }
        let c = ScoobyBenchConfig::from_args(&args("--checkpoint both")).unwrap();
        assert_eq!(c.checkpoint, Some(vec![false, true]));
        assert!(!checkpoint_by_default(ScoobyPreset::Tiny.config().trunk.seq_len));
        assert!(checkpoint_by_default(ScoobyPreset::Neurips.config().trunk.seq_len));
        assert!(ScoobyBenchConfig::from_args(&args("--checkpoint yes"))
            .unwrap_err()
            .to_string()
            .contains("--checkpoint"));
    }
}
