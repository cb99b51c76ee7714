//! Core language functions every session has: help, show, param, input, clear_output, sleep.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult};

use crate::docs::{DocsRegistry, FnDoc, OptDefault};
use crate::error::primitive_error;
use crate::host::Host;
use crate::register::register0;
use crate::session::{Package, Registrar};
use crate::sink::MimeBundle;

/// Names Rhai registers itself that are documented by Rhai, not by us.
pub const RHAI_STANDARD_NAMES: &[&str] = &["to_string", "to_debug", "print", "debug"];

pub struct CorePackage;

impl Package for CorePackage {
    fn register(&self, reg: &mut Registrar) {
        reg.area("core", "Language and session");
        reg.docs.add(
            FnDoc::new(
                "help",
                "core",
                "help(name?: string)",
                "Shows the documentation of a function, or lists every function.",
            )
            .example("help(\"param\")"),
        );

        reg.docs.add(
            FnDoc::new(
                "param",
                "core",
                "param(name: string, default?: any) -> any",
                "The value given on the command line with `--set name=value`, else `default`.",
            )
            .details(
                "Numbers and true/false given with --set arrive as numbers and booleans; anything else as a string. \
                      Without a default, a missing parameter is an error naming it.",
            )
            .example("let size = param(\"size\", \"tiny\");"),
        );
        let h = reg.host.clone();
        reg.engine.register_fn("param", move |name: &str, default: Dynamic| -> Dynamic {
            h.param(name).map(|v| parse_value(&v)).unwrap_or(default)
        });
        let h = reg.host.clone();
        reg.engine.register_fn("param", move |name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            h.param(name).map(|v| parse_value(&v)).ok_or_else(|| {
                primitive_error("param", Some("name"), &format!("no value for `{name}`: pass --set {name}=VALUE"))
            })
        });

        reg.docs.add(
            FnDoc::new(
                "show",
                "core",
                "show(value, name?: string)",
                "Displays a value richly: figures inline in notebooks (saved as files elsewhere), tables as HTML.",
            )
            .details("Outside a notebook a figure is written to the output directory as <name>.png and <name>.svg (name \
                      defaults to the kind of plot, numbered when repeated) and the paths are printed; saved_figures() lists them.")
            .example("show(\"hello\");\nshow(plot_hist([1, 2, 2, 3]), \"depth_histogram\");"),
        );
        let h = reg.host.clone();
        let show = move |ctx: &rhai::NativeCallContext, value: Dynamic, name: Option<&str>| {
            let mut bundle = h.render(&value).unwrap_or_else(|| {
                let text =
                    ctx.call_native_fn::<String>("to_string", (value.clone(),)).unwrap_or_else(|_| value.to_string());
                MimeBundle::plain(text)
            });
            if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
                bundle.file_stem = Some(file_safe(n));
            }
            h.display(&bundle);
        };
        let s2 = show.clone();
        reg.engine.register_fn("show", move |ctx: rhai::NativeCallContext, value: Dynamic| show(&ctx, value, None));
        reg.engine.register_fn("show", move |ctx: rhai::NativeCallContext, value: Dynamic, name: &str| {
            s2(&ctx, value, Some(name))
        });

        reg.docs.add(
            FnDoc::new(
                "saved_figures",
                "core",
                "saved_figures() -> array",
                "Paths of the figure files show() has written so far (empty in notebooks, where figures are shown inline).",
            )
            .example("for p in saved_figures() { print(p); }"),
        );
        let h = reg.host.clone();
        reg.engine.register_fn("saved_figures", move || -> rhai::Array {
            h.sink().saved_figures().into_iter().map(Dynamic::from).collect()
        });

        reg.docs.add(
            FnDoc::new("input", "core", "input(prompt?: string) -> string", "Reads one line typed by the user (terminal, or the notebook's input box).")
                .details("Scripts run without a terminal (and notebook cells that do not allow input) get an error naming the front end.")
                .example("let sample = input(\"Sample name? \");\nprint(`analysing ${sample}`);"),
        );
        let h = reg.host.clone();
        let read = move |prompt: &str| -> Result<String, Box<EvalAltResult>> {
            h.sink()
                .input(prompt, false)
                .ok_or_else(|| primitive_error("input", None, "this front end cannot read input"))
        };
        let r2 = read.clone();
        reg.engine.register_fn("input", move |prompt: &str| read(prompt));
        reg.engine.register_fn("input", move || r2(""));

        let h = reg.host.clone();
        register0(
            reg,
            FnDoc::new(
                "clear_output",
                "core",
                "clear_output(options?: map)",
                "Clears the current notebook cell's output, e.g. to redraw a figure in a loop. The terminal keeps its output.",
            )
            .opt("wait", "bool", OptDefault::Bool(false), "clear only when the next output arrives (no flicker)")
            .example("print(\"old\");\nclear_output(#{wait: true});\nprint(\"new\");"),
            move |o| {
                h.sink().clear(o.bool("wait")?.unwrap_or(false));
                Ok(())
            },
        );

        reg.docs.add(
            FnDoc::new("sleep", "core", "sleep(seconds: float)", "Pauses for a while; stops early when interrupted.")
                .example("sleep(0.01)"),
        );
        let h = reg.host.clone();
        let sleep = move |seconds: f64| -> Result<(), Box<EvalAltResult>> {
            let end = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
            while Instant::now() < end {
                if h.is_interrupted() {
                    return Err(Box::new(EvalAltResult::ErrorTerminated(Dynamic::UNIT, rhai::Position::NONE)));
                }
                std::thread::sleep(Duration::from_millis(5).min(end.saturating_duration_since(Instant::now())));
            }
            Ok(())
        };
        let s2 = sleep.clone();
        reg.engine.register_fn("sleep", sleep);
        reg.engine.register_fn("sleep", move |seconds: i64| s2(seconds as f64));

        reg.docs.add(
            FnDoc::new("out_path", "core", "out_path(name: string) -> string", "A path inside the run's output directory (created when needed).")
                .details("`gscript run script.gscript` writes to `<script dir>/<script name>_out/` unless `--out DIR` says otherwise; \
                          in the REPL and notebooks it is the current directory. Use it to keep a run's files together.")
                .example("let p = out_path(\"embedding.csv\");\nprint(p);"),
        );
        let h = reg.host.clone();
        reg.engine.register_fn("out_path", move |name: &str| -> Result<String, Box<EvalAltResult>> {
            let dir = h.out_dir();
            std::fs::create_dir_all(&dir).map_err(|e| {
                crate::error::primitive_error(
                    "out_path",
                    None,
                    &format!("cannot create the output directory {}: {e}", dir.display()),
                )
            })?;
            Ok(dir.join(name).display().to_string())
        });

        reg.docs.add(
            FnDoc::new(
                "fmt",
                "core",
                "fmt(x: float, digits: int) -> string",
                "A number with a fixed number of decimals, for printing.",
            )
            .example("print(`ARI ${fmt(0.98765, 3)}`);"),
        );
        let fmt = |x: f64, digits: i64| -> String { format!("{x:.*}", digits.clamp(0, 17) as usize) };
        reg.engine.register_fn("fmt", fmt);
        reg.engine.register_fn("fmt", move |x: i64, digits: i64| fmt(x as f64, digits));
    }
}

/// Registers `help` once the registry is complete.
pub(crate) fn register_help(engine: &mut Engine, docs: Arc<DocsRegistry>, host: Arc<Host>) {
    let (d, h) = (docs.clone(), host.clone());
    engine.register_fn("help", move || h.sink().page(&d.render_index()));
    engine.register_fn("help", move |name: &str| -> Result<(), Box<EvalAltResult>> {
        match docs.get(name) {
            Some(doc) => {
                host.sink().page(&doc.render_text());
                Ok(())
            }
            None => {
                let close: Vec<String> =
                    docs.all().filter(|d| d.name.contains(name)).map(|d| d.qualified_name()).take(8).collect();
                let hint = if close.is_empty() { String::new() } else { format!("; similar: {}", close.join(", ")) };
                Err(primitive_error("help", Some("name"), &format!("no function named `{name}`{hint}")))
            }
        }
    });
}

/// A figure name usable as a file stem: letters, digits, '-', '_' and '.' kept, anything else '_'.
fn file_safe(name: &str) -> String {
    name.trim().chars().map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

pub(crate) fn parse_value(value: &str) -> Dynamic {
    if let Ok(i) = value.parse::<i64>() {
        Dynamic::from(i)
    } else if let Ok(f) = value.parse::<f64>() {
        Dynamic::from(f)
    } else if let Ok(b) = value.parse::<bool>() {
        Dynamic::from(b)
    } else {
        Dynamic::from(value.to_string())
    }
}
