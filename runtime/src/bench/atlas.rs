//! `gscript bench atlas`: scBasset on the paper's atlas shape (1.1M cells × 118k peaks, ~3% dense) on one machine.
//! Writes an atlas-shaped cells × peaks `.h5ad` (streamed; uint8 values; log-normal cell depths) unless it exists,
//! builds the memory-mapped cell index beside it ([`crate::data::cell_store`], 4 bytes per entry), maps and checks
//! it, and trains the model on it for a bounded number of minibatches. Reports each phase's seconds and the largest
//! resident memory seen in it, split into anonymous memory (what the process itself holds) and file-backed pages (the
//! mapped index, which the kernel can drop and re-read), plus training seq/s.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::nn;

use super::data::{write_random_h5ad_with, RandomH5ad};
use super::BenchError;
use crate::data::cell_store::{open_or_build, store_path};
use crate::data::CellRows;
use crate::error::{Result, RuntimeError};
use crate::models::scbasset::{train, Precision, Preset, ScBasset, TrainConfig};
use crate::progress::{CancelToken, Progress};
use crate::train::{TrainData, TrainError, TrainObserver};

/// Usage of `gscript bench atlas`.
pub const USAGE: &str = "gscript bench atlas [--cells N] [--peaks N] [--density F] [--batches N] [--batch-size N]
                    [--preset keras|scvi|tiny] [--precision fp32|bf16] [--threads N] [--dir DIR | --input FILE.h5ad]
  The scBasset paper's atlas shape (default 1,100,000 cells × 118,000 peaks, density 0.03): writes an atlas-shaped
  cells × peaks .h5ad into DIR (default: the system's temporary directory; ~20 GB at the default size) unless it is
  there, or uses --input; builds the memory-mapped cell index beside it (<file>.cells, 4 bytes per entry), maps it and
  trains for --batches minibatches (default 20 of 128). Prints seconds, peak anonymous and file-backed resident memory
  per phase, and training seq/s.";

/// Options of `gscript bench atlas`.
#[derive(Clone, Debug)]
pub struct AtlasBenchConfig {
    pub n_cells: usize,
    pub n_peaks: usize,
    pub density: f64,
    pub batches: usize,
    pub batch_size: usize,
    pub preset: Preset,
    pub precision: Precision,
    pub threads: Option<usize>,
    pub dir: PathBuf,
    pub input: Option<PathBuf>,
}

impl AtlasBenchConfig {
    pub fn from_args(args: &[String]) -> Result<AtlasBenchConfig> {
        let mut c = AtlasBenchConfig {
            n_cells: 1_100_000,
            n_peaks: 118_000,
            density: 0.03,
            batches: 20,
            batch_size: 128,
            preset: Preset::Keras,
            precision: Precision::F32,
            threads: None,
            dir: std::env::temp_dir().join("gscript-bench"),
            input: None,
        };
        for i in (0..args.len()).step_by(2) {
            let v = super::value_of(args, i)?;
            match args[i].as_str() {
                "--cells" => c.n_cells = super::int_at_least(args, i, 2)?,
                "--peaks" => c.n_peaks = super::int_at_least(args, i, 2)?,
                "--batches" => c.batches = super::int_at_least(args, i, 1)?,
                "--batch-size" => c.batch_size = super::int_at_least(args, i, 2)?,
                "--threads" => c.threads = Some(super::int_at_least(args, i, 1)?),
                "--density" => {
                    c.density = v.parse().ok().filter(|x: &f64| *x > 0.0 && *x < 0.5).ok_or_else(|| {
                        RuntimeError::invalid("--density", format!("'{v}' is not a number in (0, 0.5)"))
                    })?
                }
                "--preset" => {
                    c.preset = v
                        .parse()
                        .map_err(|e: crate::models::ModelError| RuntimeError::invalid("--preset", e.to_string()))?
                }
                "--precision" => {
                    c.precision = match v {
                        "fp32" => Precision::F32,
                        "bf16" => Precision::Bf16,
                        _ => return Err(RuntimeError::invalid("--precision", format!("'{v}' is not fp32 or bf16"))),
                    }
                }
                "--dir" => c.dir = PathBuf::from(v),
                "--input" => c.input = Some(PathBuf::from(v)),
                other => {
                    return Err(RuntimeError::invalid(other, format!("unknown option of bench atlas; usage:\n{USAGE}")))
                }
            }
        }
        Ok(c)
    }
}

/// Resident memory of this process from `/proc/self/status`: (anonymous, file-backed) bytes.
fn resident() -> (u64, u64) {
    let [anon, file, shmem] = super::probe::status_bytes(["RssAnon:", "RssFile:", "RssShmem:"]).map(|v| v.unwrap_or(0));
    (anon, file + shmem)
}

/// Samples resident memory every 20 ms; [`Sampler::phase`] returns the largest values since the previous call.
struct Sampler {
    anon: Arc<AtomicU64>,
    file: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start() -> Sampler {
        let (anon, file, stop) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (a, f, s) = (anon.clone(), file.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let (x, y) = resident();
                a.fetch_max(x, Ordering::Relaxed);
                f.fetch_max(y, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        Sampler { anon, file, stop, thread: Some(thread) }
    }

    /// Peak (anonymous, file-backed) bytes since the last call, including now.
    fn phase(&self) -> (u64, u64) {
        let (x, y) = resident();
        let a = self.anon.swap(0, Ordering::Relaxed).max(x);
        let f = self.file.swap(0, Ordering::Relaxed).max(y);
        (a, f)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const GIB: f64 = (1u64 << 30) as f64;

fn line(phase: &str, secs: f64, (anon, file): (u64, u64), extra: &str) {
    println!(
        "  {phase:<28} {secs:>8.1} s   peak RSS anon {:>6.2} GiB, file {:>6.2} GiB{extra}",
        anon as f64 / GIB,
        file as f64 / GIB
    );
}

/// Progress of the store build on stderr, every 5%.
struct Stderr(u64, u64);
impl Progress for Stderr {
    fn start(&mut self, message: &str, total: Option<u64>) {
        eprintln!("  {message}");
        self.0 = total.unwrap_or(0);
        self.1 = 0;
    }
    fn update(&mut self, done: u64, _message: &str) {
        if self.0 > 0 && done * 20 / self.0 > self.1 {
            self.1 = done * 20 / self.0;
            eprint!("\r  {:>3}%", self.1 * 5);
        }
    }
    fn finish(&mut self, message: &str) {
        eprintln!("\r  {message}");
    }
}

/// Times the minibatches after the first (from the end of the first to the end of the last).
struct Timer {
    first: Option<Instant>,
    last: Option<Instant>,
    batches: usize,
    n_batches: usize,
}
impl TrainObserver for Timer {
    fn on_batch(&mut self, _e: usize, batch: usize, n: usize, loss: f64) -> std::result::Result<(), TrainError> {
        let now = Instant::now();
        if batch == 1 {
            self.first = Some(now);
        } else {
            self.batches += 1;
            self.last = Some(now);
        }
        self.n_batches = n;
        eprint!("\r  batch {batch}/{n}, loss {loss:.4}   ");
        Ok(())
    }
}

/// Runs the benchmark and prints its report.
pub fn print(config: &AtlasBenchConfig) -> std::result::Result<(), BenchError> {
    if let Some(t) = config.threads {
        crate::threads::set_threads(t as i32);
    }
    let sampler = Sampler::start();
    let cancel = CancelToken::new();
    let input = match &config.input {
        Some(p) => p.clone(),
        None => atlas_file(&config.dir, config.n_cells, config.n_peaks, config.density),
    };
    println!("gscript bench atlas — {}", input.display());
    if config.input.is_none() && !input.exists() {
        std::fs::create_dir_all(&config.dir).map_err(|e| RuntimeError::io(&config.dir, e))?;
        let spec = RandomH5ad {
            n_cells: config.n_cells,
            n_peaks: config.n_peaks,
            density: config.density,
            seed: 1,
            depth_sigma: 0.5,
            u8_values: true,
        };
        let t = Instant::now();
        let tmp = input.with_extension("partial");
        let n = config.n_cells;
        let nnz = write_random_h5ad_with(&tmp, &spec, &mut |k| eprint!("\r  writing cells: {k}/{n}   "))?;
        eprintln!();
        std::fs::rename(&tmp, &input).map_err(|e| RuntimeError::io(&input, e))?;
        let size = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
        line(
            "write atlas-shaped h5ad",
            t.elapsed().as_secs_f64(),
            sampler.phase(),
            &format!("   ({:.1}M entries, {:.2} GB)", nnz as f64 / 1e6, size as f64 / 1e9),
        );
    }
    // a fresh build every run: the build is part of what is measured
    let store = store_path(&input);
    if store.exists() {
        std::fs::remove_file(&store).map_err(|e| RuntimeError::io(&store, e))?;
    }
    let _ = sampler.phase();
    let t = Instant::now();
    let (built, peaks, cells, _) = open_or_build(&input, &mut Stderr(0, 0), &cancel)?;
    let store_bytes = std::fs::metadata(&store).map(|m| m.len()).unwrap_or(0);
    line(
        "build cell index",
        t.elapsed().as_secs_f64(),
        sampler.phase(),
        &format!(
            "   ({} peaks × {} cells, {:.1}M entries, {:.2} GB = {:.2} bytes per entry)",
            peaks.len(),
            cells.len(),
            built.nnz() as f64 / 1e6,
            store_bytes as f64 / 1e9,
            store_bytes as f64 / built.nnz().max(1) as f64
        ),
    );
    drop((built, peaks, cells));
    let t = Instant::now();
    let rows = CellRows::open(&store)?;
    line("map + check cell index", t.elapsed().as_secs_f64(), sampler.phase(), "");
    let rate = train_batches(config, &rows, &sampler)?;
    println!(
        "  training: {:.1} seq/s ({} preset, {}, batch {}, {} threads); peak RSS of the whole run {:.2} GiB (VmHWM)",
        rate,
        config.preset.name(),
        config.precision.name(),
        config.batch_size,
        tch::get_num_threads(),
        super::probe::peak_rss_bytes().unwrap_or(0) as f64 / GIB
    );
    Ok(())
}

fn train_batches(config: &AtlasBenchConfig, rows: &CellRows, sampler: &Sampler) -> Result<f64> {
    let t = Instant::now();
    let model_config = config.preset.config(rows.n_cells());
    let seq_len = model_config.seq_len;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut codes = vec![0u8; rows.n_peaks() * seq_len];
    codes.iter_mut().for_each(|b| *b = rng.random_range(0..4u8));
    let mut ids: Vec<usize> = (0..rows.n_peaks()).collect();
    ids.shuffle(&mut rng);
    ids.truncate((config.batches * config.batch_size).min(rows.n_peaks()));
    let data = TrainData { codes: &codes, seq_len, n_cells: rows.n_cells(), positives: rows, train: &ids, val: &[] };
    tch::manual_seed(7);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let mut model = ScBasset::new(&vs.root(), &model_config).map_err(|e| RuntimeError::Other(e.to_string()))?;
    line("sequences + model", t.elapsed().as_secs_f64(), sampler.phase(), "");
    let train_config = TrainConfig {
        epochs: 1,
        batch_size: config.batch_size,
        seed: 7,
        precision: config.precision,
        restore_best: false,
        ..TrainConfig::default()
    };
    let mut timer = Timer { first: None, last: None, batches: 0, n_batches: 0 };
    let t = Instant::now();
    train(&mut model, &vs, &data, &train_config, &mut timer, &|| false)
        .map_err(|e| RuntimeError::Other(e.to_string()))?;
    eprintln!();
    let secs = match (timer.first, timer.last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let timed = (timer.batches * config.batch_size) as f64;
    line(
        &format!("train {} minibatches", timer.n_batches),
        t.elapsed().as_secs_f64(),
        sampler.phase(),
        &format!("   ({} cells per output row)", rows.n_cells()),
    );
    Ok(if secs > 0.0 { timed / secs } else { 0.0 })
}

/// The generated atlas file of a size in `dir`.
pub fn atlas_file(dir: &Path, n_cells: usize, n_peaks: usize, density: f64) -> PathBuf {
    dir.join(format!("atlas_{n_cells}x{n_peaks}_{density}.h5ad"))
}
