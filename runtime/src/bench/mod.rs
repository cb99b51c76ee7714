//! `gscript bench …`: benchmarks on generated data, each with its own options (parsed here, not in the CLI).
//!
//! - [`probe`]: matmul throughput, the "machine peak" the other reports divide by (`gscript bench`, `cargo bench`).
//! - [`model`]: scBasset training and inference on random peaks (`gscript bench model`).
//! - [`finetune`]: LoRA fine-tuning step time next to full training (`gscript bench finetune`).
//! - [`interpret`]: motif insertion and ISM throughput (`gscript bench interpret`).
//! - [`analysis`]: kNN, Leiden and UMAP on a generated embedding (`gscript bench analysis`).
//! - [`data`]: `.h5ad` load time and peak memory (`gscript bench data`).
//! - [`atlas`]: scBasset on the atlas shape from a memory-mapped cell index (`gscript bench atlas`).
//! - [`borzoi`]: Borzoi forward seconds and peak memory, with borzoi-pytorch beside it (`gscript bench borzoi`).
//! - [`coverage`]: fragments import beside SnapATAC2 (`gscript bench coverage`).
//! - [`chromvar`](mod@chromvar): chromVAR deviations beside pychromvar (`gscript bench chromvar`).
//! - [`scooby`](mod@scooby): one scooby training step, seconds and peak memory (`gscript bench scooby`).
//! - [`contention`]: training alone and beside a second training, thread count adapted or fixed
//!   (`gscript bench contention`).
//!
//! Presets are the models' own ([`crate::models::scbasset::Preset`]): the benchmarks, `train_scbasset` and the docs
//! read one map.

pub mod analysis;
pub mod atlas;
pub mod borzoi;
pub mod chromvar;
pub mod contention;
pub mod coverage;
pub mod data;
pub mod distributed;
pub mod finetune;
pub mod interpret;
pub mod model;
pub mod probe;
pub mod scooby;

pub use probe::{matmul_gflops, peak_rss_bytes, print_suite, Measurement};

use std::path::Path;

use crate::error::RuntimeError;

/// Why `gscript bench …` stopped.
#[derive(Debug)]
pub enum BenchError {
    /// The command line is wrong (the message names the option); the CLI prints its usage.
    Usage(String),
    /// The benchmark ran and failed.
    Failed(String),
}

impl From<RuntimeError> for BenchError {
    fn from(e: RuntimeError) -> Self {
        BenchError::Failed(e.to_string())
    }
}

/// Usage lines of the benchmarks, for the CLI's help.
pub const USAGE: &str = "  gscript bench [--quick]                                      throughput probes (machine peak)
  gscript bench data [--cells N] [--peaks N] [--density F] [--peer PYTHON]
                                                               .h5ad load time and peak memory (beside anndata.read_h5ad)
  gscript bench atlas [--cells N] [--peaks N] [--batches N] [--dir DIR | --input FILE] ...
                                                               the atlas shape (1.1M × 118k) from a memory-mapped cell
                                                               index: build, map, train; memory per phase (--help)
  gscript bench model [--cells N] [--peaks N] [--precision fp32|bf16|both] [--threads N] [--json] ...
                                                               scBasset training/inference throughput on random data
                                                               (all options: gscript bench model --help)
  gscript bench analysis [--cells N] [--dims D]                kNN + Leiden + UMAP seconds and memory (default 100k × 32)
  gscript bench interpret [--preset P] [--motifs N] [--backgrounds N] [--precision fp32|bf16|both] ...
                                                               motif insertion and ISM throughput (--help)
  gscript bench finetune [--cells N] [--batches N] [--precision fp32|bf16]   LoRA fine-tuning vs full training step time
  gscript bench borzoi [--preset P] [--length BP] [--precision fp32|bf16|both] [--peer PYTHON] ...
                                                               Borzoi forward seconds and peak memory, beside
                                                               borzoi-pytorch (--help)
  gscript bench coverage [--fragments N] [--cells C] [--peer PYTHON] [--json] ...
                                                               fragments import (fragments/s, peak memory) beside
                                                               SnapATAC2 (--help)
  gscript bench chromvar [--cells N] [--peaks N] [--motifs M] [--peer PYTHON]
                                                               chromVAR matching, backgrounds and deviations beside
                                                               pychromvar (--help)
  gscript bench scooby [--preset tiny|neurips|onek1k|all] [--cells N] ...
                                                               scooby training step: seconds and peak memory (--help)
  gscript bench contention [--preset P] [--batches N]           training alone vs beside a second training, thread
                                                               count adapted to free cores or fixed (--help)
  gscript bench distributed [--quick]                          c10d/Gloo all-reduce GB/s; training seq/s world 1 vs 2
";

/// Runs `gscript bench <args>`; results go to stdout.
pub fn command(args: &[String]) -> Result<(), BenchError> {
    let (sub, rest) = match args.split_first() {
        Some((s, rest)) if !s.starts_with('-') || s == "--load-h5ad" => (s.as_str(), rest),
        _ => ("", args),
    };
    let help = rest.iter().any(|a| a == "--help" || a == "-h");
    let usage = |sub: &str, e: RuntimeError, all: &str| BenchError::Usage(format!("bench {sub}: {e}{all}"));
    let own_usage = match sub {
        "model" => Some(model::USAGE),
        "interpret" => Some(interpret::USAGE),
        "finetune" => Some(finetune::USAGE),
        "distributed" => Some(distributed::USAGE),
        "contention" => Some(contention::USAGE),
        "borzoi" => Some(borzoi::USAGE),
        "coverage" => Some(coverage::USAGE),
        "chromvar" => Some(chromvar::USAGE),
        "scooby" => Some(scooby::USAGE),
        "data" => Some(data::USAGE),
        "atlas" => Some(atlas::USAGE),
        "analysis" => Some(analysis::USAGE),
        "" => Some(USAGE),
        _ => None,
    };
    if let (true, Some(text)) = (help, own_usage) {
        println!("{text}");
        return Ok(());
    }
    match sub {
        "" => {
            print_suite(rest.iter().any(|a| a == "--quick"));
            Ok(())
        }
        "model" => {
            let config = model::ModelBenchConfig::from_args(rest)
                .map_err(|e| usage("model", e, " (all options: gscript bench model --help)"))?;
            let report = model::run(&config, !config.json)?;
            if config.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", model::render_table(&report));
            }
            Ok(())
        }
        "interpret" => {
            let config = interpret::InterpretBenchConfig::from_args(rest).map_err(|e| usage("interpret", e, ""))?;
            Ok(interpret::print(&config)?)
        }
        "finetune" => Ok(finetune::print(rest)?),
        "distributed" => distributed::print(rest),
        "contention" => {
            let config = contention::ContentionConfig::from_args(rest).map_err(|e| usage("contention", e, ""))?;
            contention::print(&config)
        }
        "borzoi" => {
            let config = borzoi::BorzoiBenchConfig::from_args(rest).map_err(|e| usage("borzoi", e, ""))?;
            borzoi::print(&config)
        }
        "coverage" => {
            let config = coverage::CoverageBenchConfig::from_args(rest).map_err(|e| usage("coverage", e, ""))?;
            coverage::print(&config)
        }
        "chromvar" => {
            let config = chromvar::ChromVarBenchConfig::from_args(rest).map_err(|e| usage("chromvar", e, ""))?;
            chromvar::print(&config)
        }
        "scooby" => {
            let config = scooby::ScoobyBenchConfig::from_args(rest).map_err(|e| usage("scooby", e, ""))?;
            scooby::print(&config)
        }
        "analysis" => {
            let (n, d) = analysis::from_args(rest).map_err(|e| usage("analysis", e, ""))?;
            analysis::print(n, d, 1).map_err(|e| BenchError::Failed(e.to_string()))
        }
        "atlas" => {
            let config = atlas::AtlasBenchConfig::from_args(rest).map_err(|e| usage("atlas", e, ""))?;
            atlas::print(&config)
        }
        "data" => {
            let (size, peer) = data::from_args(rest).map_err(|e| usage("data", e, ""))?;
            data::generate_and_load(size, peer.as_deref())
        }
        // the child process of `bench data`, so that the peak memory reported is the load's own
        "--load-h5ad" => {
            let path = rest.first().ok_or_else(|| BenchError::Usage("--load-h5ad needs a path".into()))?;
            Ok(data::print_load(Path::new(path))?)
        }
        other => Err(BenchError::Usage(format!(
            "unknown benchmark '{other}': expected model, finetune, interpret, analysis, data, atlas, contention, borzoi, coverage, chromvar or scooby"
        ))),
    }
}

/// The value after option `args[i]`, or an error naming the option.
pub(crate) fn value_of(args: &[String], i: usize) -> Result<&str, RuntimeError> {
    args.get(i + 1).map(String::as_str).ok_or_else(|| RuntimeError::invalid(&args[i], "needs a value"))
}

/// The value after option `args[i]` as an integer of at least `min`, or an error naming the option and the value.
pub(crate) fn int_at_least(args: &[String], i: usize, min: usize) -> Result<usize, RuntimeError> {
    let v = value_of(args, i)?;
    v.parse::<usize>().ok().filter(|&x| x >= min).ok_or_else(|| {
        let what = if min == 1 { "a positive integer".to_string() } else { format!("an integer of at least {min}") };
        RuntimeError::invalid(&args[i], format!("'{v}' is not {what}"))
    })
}

#[cfg(test)]
mod help_tests {
    use super::*;

    /// `--help` / `-h` print a section's usage instead of being parsed as an option (or its value) or running it.
    #[test]
    fn every_section_answers_help() {
        for sub in ["", "model", "interpret", "finetune", "distributed", "contention", "borzoi", "coverage", "chromvar"]
            .into_iter()
            .chain(["scooby", "analysis", "data", "atlas"])
        {
            for flag in ["--help", "-h"] {
                let mut args: Vec<String> = if sub.is_empty() { vec![] } else { vec![sub.into()] };
                args.push(flag.into());
                assert!(command(&args).is_ok(), "gscript bench {sub} {flag} did not print usage");
                // after an option that takes a value, too
                let mut args: Vec<String> = if sub.is_empty() { vec![] } else { vec![sub.into()] };
                args.extend(["--cells".to_string(), flag.into()]);
                assert!(command(&args).is_ok(), "gscript bench {sub} --cells {flag} did not print usage");
            }
        }
    }
}
