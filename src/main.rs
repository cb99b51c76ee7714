//! `gscript`: run scripts, the REPL, docs, machine info and benchmarks.
//!
//! Exit codes: 0 success, 1 script error, 2 usage error, 130 interrupted.

mod allocator;
mod interrupt;
mod launch;
mod repl;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use gscript_lang::{ErrorKind, Package, Session};
use gscript_stdlib::StdLib;
use terminal::TerminalSink;

/// The commands before the benchmarks' lines ([`gscript_runtime::bench::USAGE`]) in the usage text.
const COMMANDS: &str = "\
gscript — sequence-based deep learning on single-cell chromatin data

usage:
  gscript run FILE.gscript [--set KEY=VALUE ...] [--out DIR]   run a script
  gscript repl [--set KEY=VALUE ...] [--out DIR]               interactive session
  gscript doc [NAME] [--markdown] [--summary]                  documentation of primitives (--summary: one table per area)
  gscript kernel install [--user|--sys-prefix|--prefix DIR] [--name NAME] [--display-name TEXT] [--interrupt-mode message|signal]
                                                               register the Jupyter kernel (default: --user)
  gscript kernel run --connection-file FILE                    serve a Jupyter kernel (Jupyter starts this)
  gscript info                                                 versions, libtorch, threads, CUDA
";

/// The end of the usage text, after the benchmarks' lines.
const FOOTER: &str = "  gscript --version

Figures produced outside a notebook are saved under --out (default: FILE's directory/<name>_out) and their paths
printed. Exit codes: 0 ok, 1 script error, 2 usage error, 130 interrupted.
";

/// The usage text: the commands, the benchmarks' own lines, the rest.
fn usage() -> String {
    format!("{COMMANDS}{}{}{FOOTER}", launch::USAGE, gscript_runtime::bench::USAGE)
}

fn main() -> ExitCode {
    // large tensors stay in the heap instead of fresh zero-filled mappings each step (src/allocator.rs)
    allocator::tune();
    // libtorch's thread count follows the cores other processes leave free (runtime/src/threads.rs)
    gscript_runtime::threads::enable_adaptation();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(code) => code,
        Err(Usage(msg)) => {
            eprintln!("gscript: {msg}\n\n{}", usage());
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
        "launch" => launch::launch(rest).map_err(Usage),
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
        "bench" => match gscript_runtime::bench::command(rest) {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(gscript_runtime::bench::BenchError::Usage(m)) => Err(Usage(m)),
            Err(gscript_runtime::bench::BenchError::Failed(m)) => {
                eprintln!("gscript bench: {m}");
                Ok(ExitCode::from(1))
            }
        },
        "--version" | "-V" | "version" => {
            println!("gscript {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            print!("{}", usage());
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Usage(format!("unknown command '{other}'"))),
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
            // the kernel serves the same language as `gscript run`: the standard library, plus the test hooks when asked
            let mut packages: Vec<Box<dyn Package + Send>> = vec![Box::new(StdLib)];
            packages.extend(gscript_kernel::test_hooks::from_env());
            let options = gscript_kernel::server::KernelOptions {
                packages,
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
    s.push_str(if !gscript_runtime::threads::adapts() {
        "thread count fixed (GSCRIPT_THREADING=fixed)\n"
    } else {
        "thread count adapts to the cores other processes leave free (GSCRIPT_THREADING=fixed keeps it)\n"
    });
    s.push_str(&format!("mkldnn {}\n", if info.mkldnn { "yes" } else { "no" }));
    s.push_str(&match info.cuda {
        CudaStatus::Available { devices } => format!("cuda {devices} device(s)\n"),
        other => format!("cuda none: {other}\n"),
    });
    s
}
