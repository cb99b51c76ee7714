//! Training and inference benchmark of the full scBasset model on random data (`gscript bench model`).
//!
//! Random peak sequences (byte codes) and a random sparse peaks × cells target of a given density are generated in
//! memory from a seed; the model is then trained with the real trainer ([`train`]: augmentation, BCE over the
//! positives, Keras-form Adam, per-cell metric histograms) for a few capped epochs, and evaluated in eval mode.
//! Reported: training sequences/s, time per epoch (measured and extrapolated to the whole data set), achieved
//! GFLOP/s from an analytic FLOP count ([`ModelFlops`]) and its ratio to the matmul probe
//! ([`matmul_gflops`](super::probe::matmul_gflops)) of the same precision, inference sequences/s and peak RSS.
//!
//! Memory: the targets are kept as positives per peak (O(nnz)); the trainer builds nothing larger than
//! `batch × n_cells` per step, so the peak RSS must not grow like `n_peaks × n_cells` (the report shows what a
//! dense fp32 target would take, for comparison).

use std::time::Instant;

use super::probe::sync;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{nn, Kind, Tensor};

use crate::data::CellRows;
use crate::device::DeviceRequest;
use crate::error::{Result, RuntimeError};
use crate::models::scbasset::{train, Precision, Preset, ScBasset, ScBassetConfig, TrainConfig};
use crate::train::{batch_ranges, TrainData, TrainError, TrainObserver};

/// The `--preset` option of the benchmarks: a name of [`Preset`] (the presets `train_scbasset` takes).
pub fn parse_preset(v: &str) -> Result<Preset> {
    v.parse().map_err(|e: crate::models::ModelError| match e {
        crate::models::ModelError::InvalidConfig { message, .. } => RuntimeError::invalid("--preset", message),
        e => RuntimeError::invalid("--preset", e.to_string()),
    })
}

/// The `--precision` option of the benchmarks: `fp32` (or `f32`), `bf16`, or `both`.
pub fn parse_precisions(v: &str) -> Result<Vec<Precision>> {
    match v {
        "fp32" | "f32" => Ok(vec![Precision::F32]),
        "bf16" => Ok(vec![Precision::Bf16]),
        "both" => Ok(vec![Precision::F32, Precision::Bf16]),
        _ => Err(RuntimeError::invalid("--precision", format!("'{v}': expected fp32, bf16 or both"))),
    }
}

/// Settings of `gscript bench model`; the defaults are the 2,000 cells × 20,000 peaks case.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelBenchConfig {
    /// Number of cells (outputs of the final layer).
    pub n_cells: usize,
    /// Number of peaks (sequences) in the generated data set.
    pub n_peaks: usize,
    /// Fraction of peak × cell entries that are accessible, in (0, 1).
    pub density: f64,
    /// Architecture.
    pub preset: Preset,
    /// Precisions to run, one after the other, each on a freshly initialised model.
    pub precisions: Vec<Precision>,
    /// Minibatch size (128 in scBasset).
    pub batch_size: usize,
    /// Training epochs per precision.
    pub epochs: usize,
    /// Training minibatches per epoch (at least 2; the first of each epoch is not timed); `None`: the whole
    /// training split (90% of the peaks) plus validation on the other 10%.
    pub max_batches: Option<usize>,
    /// libtorch intra-op threads; `None` keeps libtorch's default.
    pub threads: Option<i32>,
    /// Where to run.
    pub device: DeviceRequest,
    /// Seed of the data and of the initialisation.
    pub seed: u64,
    /// Print the report as JSON instead of a table.
    pub json: bool,
}

impl Default for ModelBenchConfig {
    fn default() -> Self {
        ModelBenchConfig {
            n_cells: 2_000,
            n_peaks: 20_000,
            density: 0.05,
            preset: Preset::Keras,
            precisions: vec![Precision::F32, Precision::Bf16],
            batch_size: 128,
            epochs: 1,
            max_batches: Some(8),
            threads: None,
            device: DeviceRequest::Cpu,
            seed: 0,
            json: false,
        }
    }
}

/// Options of `gscript bench model`, for the usage text.
pub const USAGE: &str = "\
gscript bench model [--cells N] [--peaks N] [--density F] [--preset keras|scvi|tiny] [--precision fp32|bf16|both]
                    [--batch-size N] [--epochs N] [--max-batches N|all] [--threads N] [--device cpu|cuda|auto]
                    [--seed N] [--json]
  trains the model on random data; defaults: 2000 cells × 20000 peaks, density 0.05, keras, fp32 then bf16,
  batch 128, 1 epoch of 8 minibatches (the first untimed), libtorch's thread count, cpu";

impl ModelBenchConfig {
    /// Parses the command-line options after `bench model`. Errors name the option and the value.
    pub fn from_args(args: &[String]) -> Result<Self> {
        let mut c = ModelBenchConfig::default();
        let mut i = 0;
        while i < args.len() {
            let opt = args[i].as_str();
            if opt == "--json" {
                c.json = true;
                i += 1;
                continue;
            }
            let v = args.get(i + 1).map(String::as_str).ok_or_else(|| RuntimeError::invalid(opt, "needs a value"))?;
            let bad = || RuntimeError::invalid(opt, format!("'{v}' is not a valid value"));
            let int = || v.replace('_', "").parse::<usize>().map_err(|_| bad());
            match opt {
                "--cells" => c.n_cells = int()?,
                "--peaks" => c.n_peaks = int()?,
                "--density" => c.density = v.parse().map_err(|_| bad())?,
                "--batch-size" => c.batch_size = int()?,
                "--epochs" => c.epochs = int()?,
                "--seed" => c.seed = v.parse().map_err(|_| bad())?,
                "--max-batches" => c.max_batches = if v == "all" { None } else { Some(int()?) },
                "--threads" => c.threads = Some(v.parse().ok().filter(|&t: &i32| t > 0).ok_or_else(bad)?),
                "--device" => c.device = v.parse()?,
                "--preset" => c.preset = parse_preset(v)?,
                "--precision" => c.precisions = parse_precisions(v)?,
                _ => return Err(RuntimeError::invalid(opt, "unknown option of bench model")),
            }
            i += 2;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the sizes; the error names the option.
    pub fn validate(&self) -> Result<()> {
        if self.n_cells == 0 {
            return Err(RuntimeError::invalid("--cells", "must be at least 1"));
        }
        if self.n_peaks < 2 {
            return Err(RuntimeError::invalid("--peaks", "must be at least 2"));
        }
        if !(self.density > 0.0 && self.density < 1.0) {
            return Err(RuntimeError::invalid("--density", format!("must be in (0, 1), got {}", self.density)));
        }
        if self.batch_size < 2 {
            return Err(RuntimeError::invalid("--batch-size", "must be at least 2 (batch normalisation)"));
        }
        if self.epochs == 0 {
            return Err(RuntimeError::invalid("--epochs", "must be at least 1"));
        }
        if self.max_batches.is_some_and(|b| b < 2) {
            return Err(RuntimeError::invalid("--max-batches", "must be at least 2 (the first batch is not timed)"));
        }
        if self.precisions.is_empty() {
            return Err(RuntimeError::invalid("--precision", "no precision selected"));
        }
        self.preset.config(self.n_cells).validate().map_err(|e| RuntimeError::invalid("--preset", e.to_string()))
    }
}

/// Multiply-accumulates of one sequence through the network, by layer group (the plain model, no batch head).
/// Element-wise work (GELU, batch norm, pooling, loss) is not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ModelFlops {
    /// Stem, tower and 1×1 convolutions ("same" padding: output length = input length).
    pub conv_macs: u64,
    /// The bottleneck dense layer.
    pub dense_macs: u64,
    /// The final cell layer (`bottleneck × n_cells`).
    pub final_macs: u64,
}

impl ModelFlops {
    /// Counts the MACs of `config`.
    pub fn of(config: &ScBassetConfig) -> Self {
        let mut len = config.seq_len as u64;
        let mut conv = len * config.stem_filters as u64 * 4 * config.stem_kernel as u64;
        len /= config.stem_pool as u64;
        let mut c_in = config.stem_filters as u64;
        for width in config.tower_widths() {
            conv += len * width as u64 * c_in * config.tower_kernel as u64;
            len /= config.tower_pool as u64;
            c_in = width as u64;
        }
        conv += len * config.conv1x1_filters as u64 * c_in;
        ModelFlops {
            conv_macs: conv,
            dense_macs: config.flatten_dim() as u64 * config.bottleneck as u64,
            final_macs: config.bottleneck as u64 * config.n_cells as u64,
        }
    }

    /// FLOPs of one sequence's forward pass: 2 per MAC.
    pub fn forward(&self) -> f64 {
        2.0 * (self.conv_macs + self.dense_macs + self.final_macs) as f64
    }

    /// FLOPs of one sequence's training step, the usual 3× forward (forward, input gradient, weight gradient).
    pub fn training(&self) -> f64 {
        3.0 * self.forward()
    }
}

/// Random training data: `n_peaks × seq_len` base codes and the accessible cells of each peak.
#[derive(Debug)]
pub struct RandomPeaks {
    /// Row-major base codes in 0..4.
    pub codes: Vec<u8>,
    /// Sequence length.
    pub seq_len: usize,
    /// Number of cells.
    pub n_cells: usize,
    /// Strictly increasing cell indices per peak.
    pub positives: CellRows,
}

impl RandomPeaks {
    /// Uniform random bases and independent Bernoulli(`density`) entries, drawn by geometric skips (O(nnz)).
    pub fn generate(n_peaks: usize, seq_len: usize, n_cells: usize, density: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut codes = Vec::with_capacity(n_peaks * seq_len + 32);
        while codes.len() < n_peaks * seq_len {
            let bits: u64 = rng.random();
            codes.extend((0..32).map(|k| ((bits >> (2 * k)) & 3) as u8));
        }
        codes.truncate(n_peaks * seq_len);
        let log_q = (1.0 - density).ln();
        let mut indptr = Vec::with_capacity(n_peaks + 1);
        indptr.push(0u64);
        let mut indices = Vec::with_capacity((density * (n_peaks * n_cells) as f64 * 1.05) as usize + 16);
        for _ in 0..n_peaks {
            let mut next = 0f64;
            loop {
                let u = rng.random::<f64>().max(f64::MIN_POSITIVE);
                next += (u.ln() / log_q).floor();
                if next >= n_cells as f64 {
                    break;
                }
                indices.push(next as u32);
                next += 1.0;
            }
            indptr.push(indices.len() as u64);
        }
        let positives = CellRows::new(n_cells, indptr, indices).expect("geometric skips give increasing rows");
        RandomPeaks { codes, seq_len, n_cells, positives }
    }

    /// Number of stored (positive) entries.
    pub fn nnz(&self) -> usize {
        self.positives.nnz()
    }
}

/// Results for one precision.
#[derive(Clone, Debug, Serialize)]
pub struct PrecisionResult {
    /// `"fp32"` or `"bf16"`.
    pub precision: &'static str,
    /// Timed training minibatches (all but the first of each epoch).
    pub timed_batches: usize,
    /// Training sequences per second (forward + loss + backward + Adam, with augmentation and metrics).
    pub train_seq_per_s: f64,
    /// Seconds per training minibatch.
    pub seconds_per_batch: f64,
    /// Wall time of the last epoch as run (capped to `batches_per_epoch` minibatches).
    pub epoch_seconds_measured: f64,
    /// Minibatches per epoch as run.
    pub batches_per_epoch: usize,
    /// Estimated time of a full epoch: the training split (90%) at the measured training rate plus validation
    /// (10%) at the measured inference rate.
    pub epoch_seconds_full: f64,
    /// Achieved training GFLOP/s (analytic count, 3× forward).
    pub train_gflops: f64,
    /// The matmul probe (2048², same precision and device), GFLOP/s.
    pub matmul_gflops: f64,
    /// `train_gflops / matmul_gflops`.
    pub train_efficiency: f64,
    /// Eval-mode forward sequences per second (one-hot included).
    pub infer_seq_per_s: f64,
    /// Achieved inference GFLOP/s.
    pub infer_gflops: f64,
    /// Mean training loss of the last epoch (a sanity check: finite, near ln 2 early on).
    pub last_loss: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct ModelBenchReport {
    /// Architecture benchmarked.
    pub preset: Preset,
    /// Cells (outputs of the final layer).
    pub n_cells: usize,
    /// Peaks in the generated data set.
    pub n_peaks: usize,
    /// Requested density of the target.
    pub density: f64,
    /// Stored entries of the generated target.
    pub nnz: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Epochs per precision.
    pub epochs: usize,
    /// Device the model ran on (`cpu`, `cuda:0`).
    pub device: String,
    /// libtorch intra-op threads.
    pub threads: i32,
    /// Version of the loaded libtorch.
    pub libtorch: Option<String>,
    /// CPU model name.
    pub cpu: Option<String>,
    /// Trainable scalars of the model.
    pub trainable_parameters: usize,
    /// MACs per sequence by layer group.
    pub macs: ModelFlops,
    /// GFLOP per sequence, forward.
    pub forward_gflop_per_seq: f64,
    /// GFLOP per sequence, training step.
    pub training_gflop_per_seq: f64,
    /// Seconds spent generating the data.
    pub data_seconds: f64,
    /// Peak RSS after generating the data, before any model existed (MiB).
    pub rss_after_data_mib: f64,
    /// Peak RSS of the whole run (MiB).
    pub peak_rss_mib: f64,
    /// What a dense fp32 peaks × cells target alone would occupy (MiB).
    pub dense_target_mib: f64,
    /// One entry per precision, in the order run.
    pub results: Vec<PrecisionResult>,
}

/// Records the time between consecutive minibatches of the same epoch.
struct BatchTimer {
    sizes: Vec<usize>,
    last: Option<(usize, Instant)>,
    seconds: f64,
    batches: usize,
    seqs: usize,
    verbose: bool,
}

impl TrainObserver for BatchTimer {
    fn on_batch(
        &mut self,
        epoch: usize,
        batch: usize,
        n_batches: usize,
        _loss: f64,
    ) -> std::result::Result<(), TrainError> {
        let now = Instant::now();
        if let Some((e, t)) = self.last {
            if e == epoch {
                self.seconds += (now - t).as_secs_f64();
                self.batches += 1;
                self.seqs += self.sizes[batch - 1];
            }
        }
        self.last = Some((epoch, now));
        if self.verbose {
            eprint!("\r  epoch {epoch}, batch {batch}/{n_batches}   ");
        }
        Ok(())
    }
}

const MIB: f64 = (1u64 << 20) as f64;

fn label(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "fp32",
        Precision::Bf16 => "bf16",
    }
}

/// Eval-mode forward over `n_batches` minibatches after one untimed one; sequences per second.
fn infer_rate(model: &ScBasset, data: &RandomPeaks, batch: usize, n_batches: usize) -> Result<f64> {
    let n_peaks = data.positives.n_peaks();
    let mut start = Instant::now();
    let mut seqs = 0usize;
    for b in 0..=n_batches {
        let first = (b * batch) % n_peaks;
        let rows = batch.min(n_peaks - first);
        let codes = &data.codes[first * data.seq_len..(first + rows) * data.seq_len];
        let codes =
            Tensor::from_slice(codes).f_view([rows as i64, data.seq_len as i64])?.f_to_device(model.device())?;
        let logits =
            tch::no_grad(|| model.try_forward_codes(&codes, false)).map_err(|e| RuntimeError::Other(e.to_string()))?;
        sync(model.device());
        drop(logits);
        if b == 0 {
            start = Instant::now();
        } else {
            seqs += rows;
        }
    }
    Ok(seqs as f64 / start.elapsed().as_secs_f64())
}

/// Runs the benchmark. With `verbose`, progress goes to stderr.
pub fn run(config: &ModelBenchConfig, verbose: bool) -> Result<ModelBenchReport> {
    config.validate()?;
    let device = config.device.resolve()?.0;
    if let Some(t) = config.threads {
        crate::threads::set_threads(t);
    }
    let model_config = config.preset.config(config.n_cells);
    let say = |s: String| {
        if verbose {
            eprintln!("{s}");
        }
    };
    say(format!("generating {} peaks × {} cells (density {}) …", config.n_peaks, config.n_cells, config.density));
    let t = Instant::now();
    let data = RandomPeaks::generate(config.n_peaks, model_config.seq_len, config.n_cells, config.density, config.seed);
    let data_seconds = t.elapsed().as_secs_f64();
    let rss_after_data = super::probe::peak_rss_bytes().unwrap_or(0) as f64 / MIB;

    let n_train_full = (config.n_peaks * 9).div_ceil(10).min(config.n_peaks - 1).max(2);
    let n_val_full = config.n_peaks - n_train_full;
    let (train_ids, val_ids): (Vec<usize>, Vec<usize>) = match config.max_batches {
        Some(b) => ((0..(b * config.batch_size).min(config.n_peaks)).collect(), Vec::new()),
        None => ((0..n_train_full).collect(), (n_train_full..config.n_peaks).collect()),
    };
    let ranges = batch_ranges(train_ids.len(), config.batch_size);
    let full_batches = batch_ranges(n_train_full, config.batch_size).len();
    let infer_batches = config.max_batches.unwrap_or_else(|| config.n_peaks.div_ceil(config.batch_size)).max(2);
    let train_data = TrainData {
        codes: &data.codes,
        seq_len: data.seq_len,
        n_cells: data.n_cells,
        positives: &data.positives,
        train: &train_ids,
        val: &val_ids,
    };
    let flops = ModelFlops::of(&model_config);
    let mut results = Vec::new();
    let mut trainable = 0;
    for &precision in &config.precisions {
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let mut model = ScBasset::new(&vs.root(), &model_config).map_err(|e| RuntimeError::Other(e.to_string()))?;
        trainable = model.trainable_parameter_count();
        let train_config = TrainConfig {
            epochs: config.epochs,
            batch_size: config.batch_size,
            seed: config.seed,
            precision,
            restore_best: false,
            ..TrainConfig::default()
        };
        say(format!(
            "{}: training {} epoch(s) of {} minibatches of {} …",
            label(precision),
            config.epochs,
            ranges.len(),
            config.batch_size
        ));
        let sizes = ranges.iter().map(|r| r.len()).collect();
        let mut timer = BatchTimer { sizes, last: None, seconds: 0.0, batches: 0, seqs: 0, verbose };
        let outcome = train(&mut model, &vs, &train_data, &train_config, &mut timer, &|| false)
            .map_err(|e| RuntimeError::Other(e.to_string()))?;
        if verbose {
            eprintln!();
        }
        let last = outcome.history.last().ok_or_else(|| RuntimeError::Other("training ran no epoch".into()))?;
        let train_rate = timer.seqs as f64 / timer.seconds;
        say(format!("{}: inference, {infer_batches} minibatches …", label(precision)));
        let infer = infer_rate(&model, &data, config.batch_size, infer_batches)?;
        drop(model);
        drop(vs);
        let kind = if precision == Precision::Bf16 { Kind::BFloat16 } else { Kind::Float };
        let probe = super::probe::matmul_gflops(2048, kind, device, 3).value;
        let train_gflops = train_rate * flops.training() / 1e9;
        results.push(PrecisionResult {
            precision: label(precision),
            timed_batches: timer.batches,
            train_seq_per_s: train_rate,
            seconds_per_batch: timer.seconds / timer.batches as f64,
            epoch_seconds_measured: last.seconds,
            batches_per_epoch: ranges.len(),
            epoch_seconds_full: full_batches as f64 * config.batch_size as f64 / train_rate + n_val_full as f64 / infer,
            train_gflops,
            matmul_gflops: probe,
            train_efficiency: train_gflops / probe,
            infer_seq_per_s: infer,
            infer_gflops: infer * flops.forward() / 1e9,
            last_loss: last.train_loss,
        });
    }
    let peak_rss_mib = super::probe::peak_rss_bytes().unwrap_or(0) as f64 / MIB;
    let info = crate::info::RuntimeInfo::collect();
    Ok(ModelBenchReport {
        preset: config.preset,
        n_cells: config.n_cells,
        n_peaks: config.n_peaks,
        density: config.density,
        nnz: data.nnz(),
        batch_size: config.batch_size,
        epochs: config.epochs,
        device: crate::device::ComputeDevice(device).to_string(),
        threads: tch::get_num_threads(),
        libtorch: info.libtorch_version,
        cpu: info.cpu_model,
        trainable_parameters: trainable,
        macs: flops,
        forward_gflop_per_seq: flops.forward() / 1e9,
        training_gflop_per_seq: flops.training() / 1e9,
        data_seconds,
        rss_after_data_mib: rss_after_data,
        peak_rss_mib,
        dense_target_mib: config.n_peaks as f64 * config.n_cells as f64 * 4.0 / MIB,
        results,
    })
}

/// The report as a compact human-readable table.
pub fn render_table(r: &ModelBenchReport) -> String {
    let mut s = format!(
        "gscript bench model — {} preset, {} cells × {} peaks, density {} ({:.2}M positives), batch {}, {}, {} threads, libtorch {}\n",
        r.preset,
        r.n_cells,
        r.n_peaks,
        r.density,
        r.nnz as f64 / 1e6,
        r.batch_size,
        r.device,
        r.threads,
        r.libtorch.as_deref().unwrap_or("?"),
    );
    let fwd = r.forward_gflop_per_seq;
    s += &format!(
        "model: {} trainable parameters; {:.3} GFLOP/sequence forward (final layer {:.2}%), {:.3} training\n",
        r.trainable_parameters,
        fwd,
        100.0 * 2.0 * r.macs.final_macs as f64 / 1e9 / fwd,
        r.training_gflop_per_seq
    );
    s += &format!(
        "{:<5} {:>9} {:>8} {:>16} {:>11} {:>8} {:>8} {:>6} {:>9} {:>8} {:>8}\n",
        "prec",
        "train/s",
        "s/batch",
        "epoch as run",
        "full epoch",
        "GFLOP/s",
        "matmul",
        "ratio",
        "infer/s",
        "GFLOP/s",
        "loss"
    );
    for p in &r.results {
        s += &format!(
            "{:<5} {:>9.1} {:>8.3} {:>16} {:>11} {:>8.1} {:>8.1} {:>5.0}% {:>9.1} {:>8.1} {:>8.4}\n",
            p.precision,
            p.train_seq_per_s,
            p.seconds_per_batch,
            format!("{:.1} s ({} b.)", p.epoch_seconds_measured, p.batches_per_epoch),
            human_seconds(p.epoch_seconds_full),
            p.train_gflops,
            p.matmul_gflops,
            100.0 * p.train_efficiency,
            p.infer_seq_per_s,
            p.infer_gflops,
            p.last_loss,
        );
    }
    s += &format!(
        "peak RSS {:.0} MiB (after generating the data: {:.0} MiB; a dense fp32 peaks × cells target would be {:.0} MiB)\n",
        r.peak_rss_mib, r.rss_after_data_mib, r.dense_target_mib
    );
    s
}

fn human_seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
