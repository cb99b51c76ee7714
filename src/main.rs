//! `gscript`: run scripts, the REPL, docs, machine info and benchmarks.
//!
//! Exit codes: 0 success, 1 script error, 2 usage error, 130 interrupted.

mod interrupt;
mod repl;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use gscript_lang::{ErrorKind, Session};
use gscript_stdlib::StdLib;
use terminal::TerminalSink;

const USAGE: &str = "\
gscript — sequence-based deep learning on single-cell chromatin data

usage:
  gscript run FILE.gscript [--set KEY=VALUE ...] [--out DIR]   run a script
  gscript repl [--set KEY=VALUE ...] [--out DIR]               interactive session
  gscript doc [NAME] [--markdown] [--summary]                  documentation of primitives (--summary: one table per area)
  gscript kernel install [--user|--sys-prefix|--prefix DIR] [--name NAME] [--display-name TEXT] [--interrupt-mode message|signal]
                                                               register the Jupyter kernel (default: --user)
  gscript kernel run --connection-file FILE                    serve a Jupyter kernel (Jupyter starts this)
  gscript info                                                 versions, libtorch, threads, CUDA
  gscript bench [--quick]                                      throughput probes (machine peak)
  gscript bench data [--cells N] [--peaks N] [--density F]     .h5ad load time and peak memory
  gscript bench model [--cells N] [--peaks N] [--precision fp32|bf16|both] [--threads N] [--json] ...
                                                               training/inference speed of the full model
                                                               (all options: gscript bench model --help)
  gscript bench analysis [--cells N] [--dims D]                kNN + Leiden + UMAP seconds and memory (default 100k × 32)
  gscript bench interpret [--preset P] [--motifs N] [--backgrounds N] [--precision fp32|bf16|both] ...
                                                               insert_motif motifs/s and ISM positions/s (full-size model)
  gscript bench finetune [--cells N] [--batches N] [--precision fp32|bf16]   LoRA fine-tuning vs full training step time
  gscript --version

Figures produced outside a notebook are saved under --out (default: FILE's directory/<name>_out) and their paths
printed. Exit codes: 0 ok, 1 script error, 2 usage error, 130 interrupted.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(code) => code,
        Err(Usage(msg)) => {
            eprintln!("gscript: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

struct Usage(String);

/// Options shared by `run` and `repl`.
#[derive(Default)]
struct SessionArgs {
    sets: Vec<(String, String)>,
    out: Option<PathBuf>,
    rest: Vec<String>,
}

fn parse_session_args(args: &[String]) -> Result<SessionArgs, Usage> {
    let mut out = SessionArgs::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let value = |i: usize| args.get(i + 1).cloned().ok_or_else(|| Usage(format!("{a} needs a value")));
        match a.as_str() {
            "--set" | "-s" => {
                let kv = value(i)?;
                let (k, v) = kv.split_once('=').ok_or_else(|| Usage(format!("--set expects KEY=VALUE, got '{kv}'")))?;
                let k = k.trim();
                if k.is_empty()
                    || !k.chars().all(|c| c.is_alphanumeric() || c == '_')
                    || k.starts_with(|c: char| c.is_ascii_digit())
                {
                    return Err(Usage(format!("--set key '{k}' is not a valid name (letters, digits, _)")));
                }
                out.sets.push((k.to_string(), v.to_string()));
                i += 2;
            }
            "--out" | "-o" => {
                out.out = Some(PathBuf::from(value(i)?));
                i += 2;
            }
            s if s.starts_with("--set=") => {
                let kv = &s[6..];
                let (k, v) = kv.split_once('=').ok_or_else(|| Usage(format!("--set expects KEY=VALUE, got '{kv}'")))?;
                out.sets.push((k.to_string(), v.to_string()));
                i += 1;
            }
            s if s.starts_with('-') && s.len() > 1 => return Err(Usage(format!("unknown option {s}"))),
            _ => {
                out.rest.push(a.clone());
                i += 1;
            }
        }
    }
    Ok(out)
}

fn new_session(out_dir: PathBuf, sets: &[(String, String)]) -> (Session, Arc<TerminalSink>) {
    let sink = Arc::new(TerminalSink::new(out_dir.clone()));
    let mut session = Session::new(sink.clone(), &[&StdLib]);
    session.host().set_out_dir(out_dir);
    for (k, v) in sets {
        session.set_param(k, v);
    }
    interrupt::install(session.host().interrupt_flag(), true);
    (session, sink)
}

fn run(args: Vec<String>) -> Result<ExitCode, Usage> {
    let Some(cmd) = args.first() else {
        return Err(Usage("no command given".into()));
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "run" => {
            let a = parse_session_args(rest)?;
            let [file] = a.rest.as_slice() else {
                return Err(Usage("run expects exactly one script file".into()));
            };
            let path = Path::new(file);
            if !path.is_file() {
                return Err(Usage(format!("no such script: {file}")));
            }
            let out_dir = a.out.clone().unwrap_or_else(|| default_out_dir(path));
            let (mut session, _sink) = new_session(out_dir, &a.sets);
            match session.run_file(path) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprint!("{}", e.render());
                    Ok(ExitCode::from(if e.kind == ErrorKind::Interrupted { 130 } else { 1 }))
                }
            }
        }
        "kernel" => kernel_command(rest),
        "repl" => {
            let a = parse_session_args(rest)?;
            if !a.rest.is_empty() {
                return Err(Usage(format!("repl takes no arguments, got '{}'", a.rest.join(" "))));
            }
            let out_dir = a.out.clone().unwrap_or_else(|| PathBuf::from("gscript_out"));
            let (session, _sink) = new_session(out_dir, &a.sets);
            Ok(repl::run(session))
        }
        "doc" => {
            let markdown = rest.iter().any(|a| a == "--markdown");
            let summary = rest.iter().any(|a| a == "--summary");
            let names: Vec<&String> = rest.iter().filter(|a| !a.starts_with("--")).collect();
            if let Some(bad) = rest.iter().find(|a| a.starts_with("--") && *a != "--markdown" && *a != "--summary") {
                return Err(Usage(format!("unknown option {bad}")));
            }
            let (session, _) = new_session(PathBuf::from("."), &[]);
            let docs = session.docs();
            let mut text = String::new();
            if names.is_empty() {
                if summary {
                    text = docs.render_markdown_summary();
                } else if markdown {
                    text = docs.render_markdown();
                } else {
                    for d in docs.all() {
                        text.push_str(&d.render_text());
                        text.push('\n');
                    }
                }
            }
            for name in names {
                match docs.get(name) {
                    Some(d) if markdown => text.push_str(&d.render_markdown()),
                    Some(d) => text.push_str(&d.render_text()),
                    None => {
                        eprintln!("gscript: no function named `{name}` (try `gscript doc` for the full list)");
                        return Ok(ExitCode::from(1));
                    }
                }
            }
            // a closed pipe (`gscript doc | head`) is not an error
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        "info" => {
            print!("{}", info_text());
            Ok(ExitCode::SUCCESS)
        }
        "bench" if rest.first().map(String::as_str) == Some("data") => bench_data(&rest[1..]),
        "bench" if rest.first().map(String::as_str) == Some("model") => bench_model(&rest[1..]),
        "bench" if rest.first().map(String::as_str) == Some("analysis") => bench_analysis(&rest[1..]),
        "bench" if rest.first().map(String::as_str) == Some("interpret") => bench_interpret(&rest[1..]),
        "bench" if rest.first().map(String::as_str) == Some("finetune") => {
            match gscript_runtime::bench_finetune::print(&rest[1..]) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("gscript bench finetune: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        "bench" if rest.first().map(String::as_str) == Some("--load-h5ad") => {
            let path = rest.get(1).ok_or_else(|| Usage("--load-h5ad needs a path".into()))?;
            gscript_runtime::bench_data::print_load(Path::new(path)).map_err(|e| Usage(e.to_string()))?;
            Ok(ExitCode::SUCCESS)
        }
        "bench" => {
            let quick = rest.iter().any(|a| a == "--quick");
            gscript_runtime::bench::print_suite(quick);
            Ok(ExitCode::SUCCESS)
        }
        "--version" | "-V" | "version" => {
            println!("gscript {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Usage(format!("unknown command '{other}'"))),
    }
}

/// `gscript bench data`: generates (once, cached by size) a cells × peaks .h5ad, then loads it in a fresh process so
/// the reported peak memory is the load's own.
fn bench_data(args: &[String]) -> Result<ExitCode, Usage> {
    let mut size = (200_000usize, 50_000usize, 0.01f64);
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).ok_or_else(|| Usage(format!("{} needs a value", args[i])))?;
        let bad = |_| Usage(format!("{}: '{v}' is not a number", args[i]));
        match args[i].as_str() {
            "--cells" => size.0 = v.parse().map_err(bad)?,
            "--peaks" => size.1 = v.parse().map_err(bad)?,
            "--density" => size.2 = v.parse().map_err(|_| Usage(format!("--density: '{v}' is not a number")))?,
            other => return Err(Usage(format!("unknown bench data option '{other}'"))),
        }
        i += 2;
    }
    let dir = std::env::temp_dir().join("gscript-bench");
    std::fs::create_dir_all(&dir).map_err(|e| Usage(format!("{}: {e}", dir.display())))?;
    let path = dir.join(format!("random_{}x{}_{}.h5ad", size.0, size.1, size.2));
    if !path.exists() {
        let t = std::time::Instant::now();
        let tmp = path.with_extension("partial");
        let nnz = gscript_runtime::bench_data::write_random_h5ad(&tmp, size.0, size.1, size.2, 1)
            .map_err(|e| Usage(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| Usage(e.to_string()))?;
        println!(
            "generated {} ({:.1}M entries) in {:.1} s",
            path.display(),
            nnz as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
    }
    let exe = std::env::current_exe().map_err(|e| Usage(e.to_string()))?;
    let status = std::process::Command::new(exe)
        .args(["bench", "--load-h5ad"])
        .arg(&path)
        .status()
        .map_err(|e| Usage(e.to_string()))?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `gscript bench analysis`: kNN, connectivities, Leiden and UMAP on a generated embedding.
fn bench_analysis(args: &[String]) -> Result<ExitCode, Usage> {
    let (mut n, mut d) = (100_000usize, 32usize);
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).ok_or_else(|| Usage(format!("{} needs a value", args[i])))?;
        let parsed = v
            .parse::<usize>()
            .ok()
            .filter(|&x| x > 0)
            .ok_or_else(|| Usage(format!("{}: '{v}' is not a positive integer", args[i])))?;
        match args[i].as_str() {
            "--cells" => n = parsed,
            "--dims" => d = parsed,
            other => return Err(Usage(format!("unknown bench analysis option '{other}'"))),
        }
        i += 2;
    }
    match gscript_runtime::bench_analysis::print(n, d, 1) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("gscript bench analysis: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `gscript kernel install [--user|--sys-prefix|--prefix DIR] [--name NAME] [--display-name TEXT]
/// [--interrupt-mode message|signal]` and
/// `gscript kernel run --connection-file FILE`.
fn kernel_command(args: &[String]) -> Result<ExitCode, Usage> {
    use gscript_kernel::kernelspec::{install, InstallLocation, InterruptMode};
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    match args.first().map(String::as_str) {
        Some("install") => {
            let location = if let Some(p) = value("--prefix") {
                InstallLocation::Prefix(PathBuf::from(p))
            } else if args.iter().any(|a| a == "--sys-prefix") {
                InstallLocation::SysPrefix
            } else {
                InstallLocation::User
            };
            let name = value("--name").unwrap_or_else(|| "gscript".into());
            let display = value("--display-name").unwrap_or_else(|| "gscript".into());
            let mode: InterruptMode = value("--interrupt-mode").as_deref().unwrap_or("message").parse().map_err(Usage)?;
            let exe = std::env::current_exe().map_err(|e| Usage(e.to_string()))?;
            match install(&location, &name, &display, &exe, mode) {
                Ok(dir) => {
                    println!("installed kernelspec {name} in {}", dir.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("gscript kernel install: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Some("run") => {
            let file = value("--connection-file").ok_or_else(|| Usage("kernel run needs --connection-file FILE".into()))?;
            let options = gscript_kernel::server::KernelOptions {
                extra_packages: gscript_kernel::test_hooks::from_env(),
                // interrupt_mode "signal" front ends send SIGINT: it interrupts the running cell, never the kernel
                on_interrupt_flag: Some(Box::new(|flag| interrupt::install(flag, false))),
            };
            match gscript_kernel::server::run(Path::new(&file), options) {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!("gscript kernel: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        _ => Err(Usage("usage: gscript kernel install [--user|--sys-prefix|--prefix DIR] [--name NAME] [--display-name TEXT] [--interrupt-mode message|signal] | gscript kernel run --connection-file FILE".into())),
    }
}

/// `gscript bench interpret`: motif insertion and ISM throughput with a full-size (or chosen) model.
fn bench_interpret(args: &[String]) -> Result<ExitCode, Usage> {
    use gscript_runtime::bench_interpret as bi;
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", bi::USAGE);
        return Ok(ExitCode::SUCCESS);
    }
    let config = bi::InterpretBenchConfig::from_args(args).map_err(|e| Usage(format!("bench interpret: {e}")))?;
    match bi::print(&config) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("gscript bench interpret: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `gscript bench model`: trains the model on random data and prints throughput and memory (exit 1 if it fails).
fn bench_model(args: &[String]) -> Result<ExitCode, Usage> {
    use gscript_runtime::bench_model as bm;
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", bm::USAGE);
        return Ok(ExitCode::SUCCESS);
    }
    let config = bm::ModelBenchConfig::from_args(args)
        .map_err(|e| Usage(format!("bench model: {e} (all options: gscript bench model --help)")))?;
    match bm::run(&config, !config.json) {
        Ok(report) if config.json => println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
        Ok(report) => print!("{}", bm::render_table(&report)),
        Err(e) => {
            eprintln!("gscript bench model: {e}");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `<script dir>/<script stem>_out`.
fn default_out_dir(script: &Path) -> PathBuf {
    let stem = script.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "script".into());
    script.parent().unwrap_or(Path::new(".")).join(format!("{stem}_out"))
}

fn info_text() -> String {
    use gscript_runtime::device::CudaStatus;
    let _ = tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu)); // map libtorch before reading /proc
    let info = gscript_runtime::info::RuntimeInfo::collect();
    let mut s = String::new();
    s.push_str(&format!("gscript {}\n", env!("CARGO_PKG_VERSION")));
    s.push_str(&format!("libtorch {}\n", info.libtorch_version.as_deref().unwrap_or("unknown")));
    s.push_str(&format!(
        "libtorch path {}\n",
        info.libtorch_dir.map(|p| p.display().to_string()).unwrap_or_else(|| "unknown".into())
    ));
    s.push_str(&format!(
        "cpu {} ({} logical CPUs; features: {})\n",
        info.cpu_model.as_deref().unwrap_or("unknown"),
        info.logical_cpus,
        if info.cpu_features.is_empty() { "none detected".to_string() } else { info.cpu_features.join(" ") }
    ));
    s.push_str(&format!("threads {} (libtorch intra-op)\n", info.intra_op_threads));
    s.push_str(&format!("mkldnn {}\n", if info.mkldnn { "yes" } else { "no" }));
    s.push_str(&match info.cuda {
        CudaStatus::Available { devices } => format!("cuda {devices} device(s)\n"),
        other => format!("cuda none: {other}\n"),
    });
    s
}
