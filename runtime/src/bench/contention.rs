//! `gscript bench contention`: training speed alone and with a second training beside it, with the thread count
//! adapted to the other process's load (gscript's default, [`crate::threads`]) and fixed at libtorch's default. Each
//! run is a child `gscript bench model … --json` process, so each has its own libtorch and thread pool, as two
//! notebooks do. With two equal processes on the same cores, each getting half the machine means a slowdown of 2×;
//! more threads than free cores, with OpenMP's spinning workers, make it far worse.

use std::process::{Child, Command, Stdio};

use super::BenchError;

/// Settings of `gscript bench contention`.
#[derive(Clone, Debug, PartialEq)]
pub struct ContentionConfig {
    /// Model preset of each training.
    pub preset: String,
    /// Cells of each training.
    pub n_cells: usize,
    /// Minibatches of each training (the first is not timed).
    pub batches: usize,
    /// Minibatch size.
    pub batch_size: usize,
}

impl Default for ContentionConfig {
    fn default() -> Self {
        ContentionConfig { preset: "tiny".into(), n_cells: 600, batches: 150, batch_size: 64 }
    }
}

pub const USAGE: &str = "gscript bench contention [--preset keras|scvi|tiny] [--cells N] [--batches N] [--batch-size N]
  training seq/s alone and with a second training beside it, with the thread count adapted to the other's load
  (gscript's default) and fixed (GSCRIPT_THREADING=fixed); defaults: tiny, 600 cells, 150 minibatches of 64";

impl ContentionConfig {
    pub fn from_args(args: &[String]) -> crate::error::Result<Self> {
        let mut c = ContentionConfig::default();
        for i in (0..args.len()).step_by(2) {
            let v = super::value_of(args, i)?;
            let int = || super::int_at_least(args, i, 2);
            match args[i].as_str() {
                "--preset" => c.preset = super::model::parse_preset(v)?.name().to_string(),
                "--cells" => c.n_cells = int()?,
                "--batches" => c.batches = int()?,
                "--batch-size" => c.batch_size = int()?,
                other => {
                    return Err(crate::error::RuntimeError::invalid(other, format!("unknown option; usage: {USAGE}")))
                }
            }
        }
        Ok(c)
    }
}

/// How the child chooses its thread count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitPolicy {
    /// Adapted to the cores other processes leave free (gscript's default).
    Adaptive,
    /// libtorch's default count throughout (`GSCRIPT_THREADING=fixed`).
    Fixed,
}

impl WaitPolicy {
    fn label(self) -> &'static str {
        match self {
            WaitPolicy::Adaptive => "adapted to free cores (gscript)",
            WaitPolicy::Fixed => "fixed (libtorch's default)",
        }
    }
}

fn spawn(c: &ContentionConfig, policy: WaitPolicy) -> Result<Child, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::Failed(e.to_string()))?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "model", "--json", "--precision", "fp32", "--epochs", "1", "--preset", &c.preset])
        .args(["--cells", &c.n_cells.to_string(), "--batch-size", &c.batch_size.to_string()])
        .args(["--peaks", &(c.batch_size * c.batches).to_string(), "--max-batches", &c.batches.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match policy {
        WaitPolicy::Adaptive => cmd.env_remove("GSCRIPT_THREADING"),
        WaitPolicy::Fixed => cmd.env("GSCRIPT_THREADING", "fixed"),
    };
    cmd.spawn().map_err(|e| BenchError::Failed(format!("cannot start a bench model process: {e}")))
}

/// Training sequences per second reported by a finished child.
fn seq_per_s(child: Child) -> Result<f64, BenchError> {
    let out = child.wait_with_output().map_err(|e| BenchError::Failed(e.to_string()))?;
    if !out.status.success() {
        return Err(BenchError::Failed(format!(
            "bench model failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| BenchError::Failed(format!("bench model printed no JSON report: {e}")))?;
    report["results"][0]["train_seq_per_s"]
        .as_f64()
        .ok_or_else(|| BenchError::Failed("bench model's report has no train_seq_per_s".into()))
}

/// One policy's measurement: seq/s alone, and of each of two concurrent runs.
#[derive(Clone, Debug)]
pub struct ContentionResult {
    pub policy: WaitPolicy,
    pub alone: f64,
    pub together: [f64; 2],
}

impl ContentionResult {
    /// How many times slower a run is next to another (mean of the two) than alone.
    pub fn slowdown(&self) -> f64 {
        self.alone / ((self.together[0] + self.together[1]) / 2.0)
    }
}

/// Runs both: alone, then two at once.
pub fn run(c: &ContentionConfig) -> Result<Vec<ContentionResult>, BenchError> {
    let mut results = Vec::new();
    for policy in [WaitPolicy::Adaptive, WaitPolicy::Fixed] {
        let alone = seq_per_s(spawn(c, policy)?)?;
        let (a, b) = (spawn(c, policy)?, spawn(c, policy)?);
        let together = [seq_per_s(a)?, seq_per_s(b)?];
        results.push(ContentionResult { policy, alone, together });
    }
    Ok(results)
}

/// Runs and prints the table.
pub fn print(c: &ContentionConfig) -> Result<(), BenchError> {
    println!(
        "gscript bench contention — {} preset, {} cells, {} minibatches of {}, fp32, {} logical CPUs",
        c.preset,
        c.n_cells,
        c.batches,
        c.batch_size,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:<36} {:>12} {:>24} {:>10}", "thread count", "alone seq/s", "two at once, seq/s each", "slowdown");
    for r in run(c)? {
        println!(
            "{:<36} {:>12.1} {:>11.1} {:>11.1} {:>9.1}×",
            r.policy.label(),
            r.alone,
            r.together[0],
            r.together[1],
            r.slowdown()
        );
    }
    println!("(two equal trainings sharing the cores: 2× is each getting half the machine)");
    Ok(())
}
