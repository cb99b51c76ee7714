//! `gscript bench borzoi`: seconds per Borzoi forward (one sequence, evaluation mode, no gradients, human-head tracks)
//! and peak memory, fp32 and bf16, with borzoi-pytorch's time on the same machine beside it when `--peer PYTHON`
//! names a Python with torch and borzoi-pytorch (bench/borzoi_pytorch.py, the same forward under `torch.no_grad`, bf16
//! as `torch.autocast`).
//!
//! Peak memory is the high-water mark of resident memory (VmHWM), reset before each precision so that each row is its
//! own (model construction included, as in the peer's `ru_maxrss`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use super::probe::{reset_peak_rss, sync};
use super::{int_at_least, value_of, BenchError};
use crate::device::DeviceRequest;
use crate::error::RuntimeError;
use crate::models::borzoi::{load_pretrained, Borzoi, Init, LoadOptions, Preset, Species};
use crate::models::{Precision, SequenceModel};

pub const USAGE: &str =
    "gscript bench borzoi [--preset borzoi|flashzoi|tiny] [--length BP] [--precision fp32|bf16|both]
                     [--device cpu|cuda|auto] [--repeats N] [--warmup N] [--threads N] [--weights DIR]
                     [--peer PYTHON] [--json] [--profile]
  seconds per forward of one sequence (evaluation, no gradients, human tracks) and peak memory; --peer runs
  borzoi-pytorch's twin (bench/borzoi_pytorch.py) with that Python at the same length, precision and threads
  (Borzoi presets only: Flashzoi needs flash-attn). Defaults: borzoi, 524,288 bp, both precisions, 2 repeats after
  1 warm-up forward. --profile adds one forward timed per stage.";

/// Settings of `gscript bench borzoi`.
#[derive(Clone, Debug)]
pub struct BorzoiBenchConfig {
    pub preset: Preset,
    pub length: Option<usize>,
    pub precisions: Vec<Precision>,
    pub device: DeviceRequest,
    pub repeats: usize,
    pub warmup: usize,
    pub threads: Option<usize>,
    pub weights: Option<PathBuf>,
    pub peer: Option<PathBuf>,
    pub json: bool,
    pub profile: bool,
}

impl BorzoiBenchConfig {
    pub fn from_args(args: &[String]) -> crate::error::Result<Self> {
        let mut c = BorzoiBenchConfig {
            preset: Preset::Borzoi,
            length: None,
            precisions: vec![Precision::F32, Precision::Bf16],
            device: DeviceRequest::Cpu,
            repeats: 2,
            warmup: 1,
            threads: None,
            weights: None,
            peer: None,
            json: false,
            profile: false,
        };
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--json" || args[i] == "--profile" {
                c.json |= args[i] == "--json";
                c.profile |= args[i] == "--profile";
                i += 1;
                continue;
            }
            let v = value_of(args, i)?;
            match args[i].as_str() {
                "--preset" => c.preset = Preset::parse(v)?,
                "--length" => c.length = Some(int_at_least(args, i, 128)?),
                "--precision" => c.precisions = super::model::parse_precisions(v)?,
                "--device" => c.device = v.parse()?,
                "--repeats" => c.repeats = int_at_least(args, i, 1)?,
                "--warmup" => c.warmup = int_at_least(args, i, 0)?,
                "--threads" => c.threads = Some(int_at_least(args, i, 1)?),
                "--weights" => c.weights = Some(PathBuf::from(v)),
                "--peer" => c.peer = Some(PathBuf::from(v)),
                other => return Err(RuntimeError::invalid(other, format!("unknown option; usage: {USAGE}"))),
            }
            i += 2;
        }
        Ok(c)
    }
}

/// One measured configuration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BorzoiRow {
    pub who: String,
    pub precision: String,
    pub seconds_per_forward: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub note: String,
}

fn ours(c: &BorzoiBenchConfig, precision: Precision, device: Device) -> Result<(BorzoiRow, usize, usize), BenchError> {
    let reset = reset_peak_rss();
    let model = match &c.weights {
        Some(w) => load_pretrained(w, &LoadOptions { preset: Some(c.preset), device, precision })?,
        None => {
            let _g = tch::no_grad_guard();
            tch::manual_seed(0);
            let mut m = Borzoi::new(&c.preset.config(), device, Init::Random).map_err(RuntimeError::from)?;
            if precision == Precision::Bf16 {
                m.store_bf16();
            }
            m
        }
    };
    if c.profile {
        let mib = super::peak_rss_bytes().map(|b| b as f64 / 1048576.0).unwrap_or(f64::NAN);
        eprintln!("  peak RSS after building the model: {mib:.0} MiB");
    }
    let len = c.length.unwrap_or(model.config().seq_len);
    model.config().check_length(len).map_err(|e| BenchError::Usage(format!("--length: {e}")))?;
    let codes = Tensor::randint(4, [1, len as i64], (Kind::Int64, Device::Cpu));
    let x = crate::models::one_hot(&codes).map_err(RuntimeError::from)?.to_device(device);
    let species = if model.tracks(Species::Human).is_some() { Species::Human } else { Species::Mouse };
    let mut times = Vec::new();
    for i in 0..c.warmup + c.repeats {
        let t0 = Instant::now();
        let y = tch::no_grad(|| model.forward(&x, species, false)).map_err(RuntimeError::from)?;
        sync(device);
        let dt = t0.elapsed().as_secs_f64();
        drop(y);
        if i >= c.warmup {
            times.push(dt);
        }
    }
    if c.profile {
        let _ng = tch::no_grad_guard();
        let mut last = Instant::now();
        let mut stages: Vec<(&'static str, f64, f64)> = Vec::new();
        let mib = || super::peak_rss_bytes().map(|b| b as f64 / 1048576.0).unwrap_or(f64::NAN);
        reset_peak_rss();
        let before = mib();
        let trunk = model
            .trunk_marked(&x, false, true, &mut |stage| {
                sync(device);
                stages.push((stage, last.elapsed().as_secs_f64(), mib()));
                last = Instant::now();
            })
            .map_err(RuntimeError::from)?;
        let y = model
            .head(&model.joined(&trunk, false).map_err(RuntimeError::from)?, species)
            .map_err(RuntimeError::from)?;
        sync(device);
        stages.push(("joined + head", last.elapsed().as_secs_f64(), mib()));
        drop(y);
        let total: f64 = stages.iter().map(|s| s.1).sum();
        eprintln!("  per stage ({}, {total:.2} s; resident before the forward {before:.0} MiB):", precision.name());
        for (stage, t, peak) in stages {
            eprintln!("    {stage:<20} {t:>7.2} s  {:>5.1}%   peak RSS so far {peak:>6.0} MiB", 100.0 * t / total);
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let peak = if reset { super::peak_rss_bytes().map(|b| b as f64 / 1048576.0) } else { None };
    let note = if reset { String::new() } else { "peak not reset between rows".into() };
    let row = BorzoiRow {
        who: "gscript".into(),
        precision: precision.name().into(),
        seconds_per_forward: Some(median),
        peak_rss_mib: peak,
        note,
    };
    Ok((row, model.parameter_count(), len))
}

fn peer_script() -> PathBuf {
    let here = PathBuf::from("bench/borzoi_pytorch.py");
    if here.is_file() {
        return here;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/borzoi_pytorch.py"))
}

fn peer(c: &BorzoiBenchConfig, python: &PathBuf, precision: Precision, len: usize, device: Device) -> BorzoiRow {
    let who = "borzoi-pytorch 0.5.1".to_string();
    let fail = |note: String| BorzoiRow {
        who: who.clone(),
        precision: precision.name().into(),
        seconds_per_forward: None,
        peak_rss_mib: None,
        note,
    };
    let config = match c.preset {
        Preset::Borzoi => "full",
        _ => return fail(format!("no twin for preset {} (Borzoi only)", c.preset.name())),
    };
    let threads = c.threads.unwrap_or_else(|| tch::get_num_threads().max(1) as usize);
    let mut cmd = Command::new(python);
    cmd.arg(peer_script())
        .args(["--config", config, "--length", &len.to_string(), "--precision", precision.name()])
        .args(["--repeats", &c.repeats.to_string(), "--warmup", &c.warmup.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--device", if device.is_cuda() { "cuda" } else { "cpu" }]);
    if let Some(w) = &c.weights {
        cmd.arg("--weights").arg(w);
    }
    match cmd.output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().last().unwrap_or_default();
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) => BorzoiRow {
                    who,
                    precision: precision.name().into(),
                    seconds_per_forward: v["seconds_per_forward"].as_f64(),
                    peak_rss_mib: v["peak_rss_mib"].as_f64(),
                    note: String::new(),
                },
                Err(e) => fail(format!("unreadable output ({e}): {line}")),
            }
        }
        Ok(out) => {
            fail(format!("failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no message")))
        }
        Err(e) => fail(format!("could not run {}: {e}", python.display())),
    }
}

/// Runs the benchmark and prints the table (or JSON).
pub fn print(c: &BorzoiBenchConfig) -> Result<(), BenchError> {
    if let Some(t) = c.threads {
        crate::threads::set_threads(t as i32);
    }
    let device = c.device.resolve()?.0;
    let mut rows = Vec::new();
    let (mut params, mut len) = (0, 0);
    for &p in &c.precisions {
        let (row, n, l) = ours(c, p, device)?;
        (params, len) = (n, l);
        if !c.json {
            eprintln!("  gscript {}: {:.2} s per forward", row.precision, row.seconds_per_forward.unwrap_or(f64::NAN));
        }
        rows.push(row);
        if let Some(py) = &c.peer {
            let r = peer(c, py, p, l, device);
            if !c.json {
                eprintln!("  borzoi-pytorch {}: {:?} s per forward {}", r.precision, r.seconds_per_forward, r.note);
            }
            rows.push(r);
        }
    }
    if c.json {
        let v = serde_json::json!({
            "preset": c.preset.name(), "length": len, "parameters": params, "device": format!("{device:?}"),
            "threads": tch::get_num_threads(), "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    println!(
        "Borzoi forward ({} preset, {} parameters), one {len}-bp sequence, {:?}, {} threads, median of {}:",
        c.preset.name(),
        params,
        device,
        tch::get_num_threads(),
        c.repeats
    );
    println!("  {:<22} {:<9} {:>12} {:>14}  note", "implementation", "precision", "s/forward", "peak RSS MiB");
    for r in &rows {
        let s = r.seconds_per_forward.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into());
        let m = r.peak_rss_mib.map(|v| format!("{v:.0}")).unwrap_or_else(|| "—".into());
        println!("  {:<22} {:<9} {s:>12} {m:>14}  {}", r.who, r.precision, r.note);
    }
    Ok(())
}
