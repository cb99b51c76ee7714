//! `gscript bench interpret`: throughput of the interpretation primitives with a randomly initialised model of the
//! chosen preset (speed does not depend on the weights): motif insertion (motifs/s at a given number of backgrounds,
//! and the extrapolated time for the whole JASPAR set with 1,000 backgrounds) and ISM (positions/s, seconds per
//! sequence, by local recomputation and, for comparison, by whole-sequence recomputation) and variant effects
//! (variants/s for 48 SNVs and 16 indels in variant-centred windows of a random genome, local vs whole-sequence
//! recomputation), in fp32 and bf16, with peak memory. Each ISM time (local and full) is the median of
//! `ISM_REPEATS` timed runs after a warm-up.

use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

use super::model::{parse_precisions, parse_preset};
use crate::data::simulate::JASPAR_VERTEBRATES;
use crate::error::{Result, RuntimeError};
use crate::interpret::insertion::shuffle_backgrounds;
use crate::interpret::{
    insert_motifs, ism, variant_effects, CellReadout, FullRecompute, InsertionOptions, Variant, VariantCentre,
};
use crate::models::scbasset::Preset;
use crate::models::scbasset::{Precision, ScBasset};
use crate::motif::{parse_meme, STRING_SOURCE};
use crate::progress::{CancelToken, NoProgress};
use crate::DeviceRequest;

/// Positions of the whole-sequence-recomputation ISM the benchmark times (scaled to the whole sequence).
const FULL_ISM_POSITIONS: usize = 128;

/// Timed repeats of each ISM (local and full); the table reports their median, so one slow or fast run (a burst of
/// other work on the machine, a first large allocation) does not decide the ratio.
const ISM_REPEATS: usize = 5;

/// Median wall time of `repeats` runs of `f` (seconds).
fn median_secs(repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

/// Settings of the benchmark.
#[derive(Clone, Debug)]
pub struct InterpretBenchConfig {
    pub preset: Preset,
    pub n_cells: usize,
    /// Motifs inserted (the first ones of the shipped JASPAR set).
    pub motifs: usize,
    /// Background sequences per motif.
    pub backgrounds: usize,
    /// Width of the ISM window (positions mutated; default the whole sequence).
    pub ism_window: Option<usize>,
    pub precisions: Vec<Precision>,
    pub threads: Option<usize>,
    pub device: DeviceRequest,
}

impl Default for InterpretBenchConfig {
    fn default() -> Self {
        InterpretBenchConfig {
            preset: Preset::Keras,
            n_cells: 2000,
            motifs: 4,
            backgrounds: 256,
            ism_window: None,
            precisions: vec![Precision::F32, Precision::Bf16],
            threads: None,
            device: DeviceRequest::Cpu,
        }
    }
}

pub const USAGE: &str =
    "gscript bench interpret [--preset keras|scvi|tiny] [--cells N] [--motifs N] [--backgrounds N] \
[--ism-window N] [--precision fp32|bf16|both] [--threads N] [--device cpu|cuda|auto]";

impl InterpretBenchConfig {
    pub fn from_args(args: &[String]) -> Result<Self> {
        let mut c = InterpretBenchConfig::default();
        for i in (0..args.len()).step_by(2) {
            let v = super::value_of(args, i)?;
            let int = || super::int_at_least(args, i, 1);
            match args[i].as_str() {
                "--preset" => c.preset = parse_preset(v)?,
                "--cells" => c.n_cells = int()?,
                "--motifs" => c.motifs = int()?,
                "--backgrounds" => c.backgrounds = int()?,
                "--ism-window" => c.ism_window = Some(int()?),
                "--threads" => c.threads = Some(int()?),
                "--precision" => c.precisions = parse_precisions(v)?,
                "--device" => c.device = v.parse()?,
                other => return Err(RuntimeError::invalid(other, format!("unknown option; usage: {USAGE}"))),
            }
        }
        Ok(c)
    }
}

/// Runs the benchmark and prints a table.
pub fn print(c: &InterpretBenchConfig) -> Result<()> {
    let device = c.device.resolve()?.0;
    if let Some(t) = c.threads {
        crate::threads::set_threads(t as i32);
    }
    let config = c.preset.config(c.n_cells);
    let len = config.seq_len;
    let all = parse_meme(JASPAR_VERTEBRATES, STRING_SOURCE)?;
    let motifs: Vec<_> = all.motifs.iter().filter(|m| m.width() <= len).take(c.motifs).cloned().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let random: Vec<u8> = (0..c.backgrounds * len).map(|_| rng.random_range(0..4u8)).collect();
    let backgrounds = shuffle_backgrounds(&random, len, 1);
    let seq: Vec<u8> = (0..len).map(|_| rng.random_range(0..4u8)).collect();
    let window = c.ism_window.unwrap_or(len).min(len);
    let start = (len - window) / 2;
    // Variants: a random genome of 24 windows, 48 SNVs and 16 indels (8 deletions of 1–8 bp, 8 insertions).
    let dir = std::env::temp_dir().join(format!("gscript-bench-variants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io(&dir, e))?;
    let genome_len = 24 * len;
    let bases: Vec<u8> = (0..genome_len).map(|_| b"ACGT"[rng.random_range(0..4usize)]).collect();
    let mut fasta = b">chr1\n".to_vec();
    for line in bases.chunks(60) {
        fasta.extend_from_slice(line);
        fasta.push(b'\n');
    }
    let fa = dir.join("g.fa");
    std::fs::write(&fa, fasta).map_err(|e| RuntimeError::io(&fa, e))?;
    let genome = crate::seq::Genome::open(&fa)?;
    let mut variants = Vec::new();
    for k in 0..64 {
        let pos = rng.random_range(len..genome_len - len);
        let r = |n: usize| String::from_utf8_lossy(&bases[pos - 1..pos - 1 + n]).into_owned();
        let other = if bases[pos - 1] == b'A' { "C" } else { "A" };
        variants.push(match k % 8 {
            6 => Variant::new("chr1", pos as u64, &r(1 + k % 8), &r(1), None),
            7 => Variant::new("chr1", pos as u64, &r(1), &format!("{}{}", r(1), "GT".repeat(1 + k % 4)), None),
            _ => Variant::new("chr1", pos as u64, &r(1), other, None),
        });
    }
    println!(
        "interpretation throughput: {} preset ({len} bp, {} cells), device {device:?}, {} threads",
        c.preset,
        c.n_cells,
        tch::get_num_threads()
    );
    println!(
        "{:<10} {:>14} {:>12} {:>22} {:>14} {:>14} {:>16} {:>8} {:>12} {:>14} {:>8}",
        "precision",
        "insert seq/s",
        "motifs/s",
        "JASPAR×1000 bg (est.)",
        "ISM pos/s",
        "ISM s/seq",
        "full ISM s/seq",
        "local ×",
        "variants/s",
        "full variants/s",
        "local ×"
    );
    let cancel = CancelToken::default();
    for &precision in &c.precisions {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(device);
        let mut model = ScBasset::new(&vs.root(), &config).map_err(|e| RuntimeError::Other(e.to_string()))?;
        model.set_precision(precision);
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if name.contains("cell") {
                    t.copy_(&(Tensor::randn(t.size(), (Kind::Float, device)) * 0.3));
                }
            }
        });
        let readout = CellReadout::of_scbasset(&model);
        // Warm-up (first-call allocations, kernel selection).
        let _ = ism(&model, &seq, 0..2, &mut NoProgress, &cancel)?;
        let t = Instant::now();
        let _ = insert_motifs(
            &model,
            &readout,
            &motifs,
            &backgrounds,
            &InsertionOptions::default(),
            &mut NoProgress,
            &cancel,
        )?;
        let insert_s = t.elapsed().as_secs_f64();
        let n_seq = (motifs.len() + 1) * c.backgrounds;
        let seq_per_s = n_seq as f64 / insert_s;
        let jaspar_s = (all.len() + 1) as f64 * 1000.0 / seq_per_s;
        let ism_s =
            median_secs(ISM_REPEATS, || ism(&model, &seq, start..start + window, &mut NoProgress, &cancel).map(drop))?;
        // The same ISM recomputing whole sequences (over at most FULL_ISM_POSITIONS positions, scaled), after its own
        // warm-up.
        let full_window = window.min(FULL_ISM_POSITIONS);
        let full_start = (len - full_window) / 2;
        let full = FullRecompute(&model);
        let _ = ism(&full, &seq, full_start..full_start + 2, &mut NoProgress, &cancel)?;
        let full_s = median_secs(ISM_REPEATS, || {
            ism(&full, &seq, full_start..full_start + full_window, &mut NoProgress, &cancel).map(drop)
        })? * len as f64
            / full_window as f64;
        let local_s = ism_s * len as f64 / window as f64;
        let t = Instant::now();
        let _ = variant_effects(&model, &genome, &variants, VariantCentre::Variant, 1, &mut NoProgress, &cancel)?;
        let var_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let _ = variant_effects(
            &FullRecompute(&model),
            &genome,
            &variants,
            VariantCentre::Variant,
            1,
            &mut NoProgress,
            &cancel,
        )?;
        let var_full_s = t.elapsed().as_secs_f64();
        let label = match precision {
            Precision::F32 => "fp32",
            Precision::Bf16 => "bf16",
        };
        println!(
            "{label:<10} {seq_per_s:>14.1} {:>12.3} {:>22} {:>14.1} {:>14.2} {:>16.2} {:>8.1} {:>12.1} {:>14.1} {:>8.1}",
            motifs.len() as f64 / (insert_s * motifs.len() as f64 / (motifs.len() + 1) as f64),
            human(jaspar_s),
            window as f64 / ism_s,
            local_s,
            full_s,
            full_s / local_s,
            variants.len() as f64 / var_s,
            variants.len() as f64 / var_full_s,
            var_full_s / var_s
        );
        if device != Device::Cpu {
            tch::Cuda::synchronize(0);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(rss) = super::probe::peak_rss_bytes() {
        println!("peak RSS {:.0} MiB; {} motifs × {} backgrounds inserted; ISM over {window} of {len} positions (s/seq scaled to the whole sequence; full ISM over {} positions; each the median of {ISM_REPEATS} timed runs after a warm-up)", rss as f64 / 1048576.0, motifs.len(), c.backgrounds, window.min(FULL_ISM_POSITIONS));
    }
    Ok(())
}

fn human(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}
