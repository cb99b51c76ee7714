//! A session: the Rhai engine, the scope (variables survive between cells), functions defined in earlier inputs,
//! history, the interrupt flag and the output sink. The REPL, `gscript run` and the Jupyter kernel each own one.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Dynamic, Engine, Scope, AST};

use crate::docs::DocsRegistry;
use crate::error::ScriptError;
use crate::host::Host;
use crate::sink::{MimeBundle, Sink};

/// A set of primitives registered into a session (the standard library is one). A package declares the help areas
/// its functions are listed under ([`Registrar::area`]) before or while it registers them.
pub trait Package {
    fn register(&self, reg: &mut Registrar);
}

/// What a package registers into: the engine, the docs registry and the shared host.
pub struct Registrar<'a> {
    pub engine: &'a mut Engine,
    pub docs: &'a mut DocsRegistry,
    pub host: Arc<Host>,
}

impl Registrar<'_> {
    /// Declares a help area: `help()`, the manual and the README list areas in the order they were declared (the
    /// core package's `core` first), each under `title`.
    pub fn area(&mut self, name: &str, title: &str) {
        self.docs.add_area(name, title);
    }
}

/// Outcome of checking whether an input is complete (REPL continuation, Jupyter is_complete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    Incomplete,
    Invalid,
}

pub struct Session {
    engine: Engine,
    scope: Scope<'static>,
    /// Functions defined by earlier inputs, kept so later inputs can call them.
    functions: AST,
    docs: Arc<DocsRegistry>,
    host: Arc<Host>,
    /// Text of every evaluated source, for error rendering.
    sources: HashMap<String, String>,
    history: Vec<String>,
}

impl Session {
    /// A session with the core language functions and the given packages.
    pub fn new(sink: Arc<dyn Sink>, packages: &[&dyn Package]) -> Self {
        let host = Host::new(sink);
        let mut engine = Engine::new();
        engine.set_module_resolver(FileModuleResolver::new_with_extension("gscript"));
        engine.set_max_expr_depths(256, 256);
        let h = host.clone();
        engine.on_print(move |s| h.print(&format!("{s}\n")));
        let h = host.clone();
        engine.on_debug(move |s, src, pos| {
            let at = match (src, pos.line()) {
                (Some(src), Some(l)) => format!("[{src}:{l}] "),
                (None, Some(l)) => format!("[line {l}] "),
                _ => String::new(),
            };
            h.eprint(&format!("{at}{s}\n"));
        });
        let flag = host.interrupt_flag();
        engine.on_progress(
            move |_| {
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    Some(Dynamic::UNIT)
                } else {
                    None
                }
            },
        );
        let mut docs = DocsRegistry::default();
        {
            let mut reg = Registrar { engine: &mut engine, docs: &mut docs, host: host.clone() };
            crate::core::CorePackage.register(&mut reg);
            for p in packages {
                p.register(&mut reg);
            }
        }
        let docs = Arc::new(docs);
        crate::core::register_help(&mut engine, docs.clone(), host.clone());
        Session {
            engine,
            scope: Scope::new(),
            functions: AST::empty(),
            docs,
            host,
            sources: HashMap::new(),
            history: Vec::new(),
        }
    }

    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }
    pub fn docs(&self) -> &Arc<DocsRegistry> {
        &self.docs
    }
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
    pub fn scope(&self) -> &Scope<'static> {
        &self.scope
    }
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Makes `value` visible to scripts as a constant (`--set key=value`): integers, floats and booleans are parsed,
    /// anything else stays a string. `param("key", default)` reads it with a fallback.
    /// `output` is a session setting: `rank0` (default: only rank 0 of a launched group prints and shows output) or
    /// `all_ranks`.
    pub fn set_param(&mut self, key: &str, value: &str) {
        if key == "output" && !["rank0", "all_ranks"].contains(&value) {
            self.host.warn(&format!("--set output={value}: expected rank0 or all_ranks; output stays on rank 0"));
        }
        self.host.set_param(key, value);
        let v = crate::core::parse_value(value);
        self.scope.push_constant_dynamic(key.to_string(), v);
    }

    /// Evaluates `code`; `source` names it in errors (a file path, or `<cell 3>`).
    pub fn eval(&mut self, code: &str, source: &str) -> Result<Dynamic, ScriptError> {
        self.host.clear_interrupt();
        self.history.push(code.to_string());
        self.sources.insert(source.to_string(), code.to_string());
        let mut ast = match self.engine.compile_with_scope(&self.scope, code) {
            Ok(ast) => ast,
            Err(e) => return Err(ScriptError::syntax(&e, source, &|s, l| self.source_line(s, l))),
        };
        ast.set_source(source);
        let mut program = self.functions.merge(&ast);
        program.set_source(source);
        let engine = &self.engine;
        let scope = &mut self.scope;
        let outcome = catch_unwind(AssertUnwindSafe(|| engine.eval_ast_with_scope::<Dynamic>(scope, &program)));
        // Functions defined in this input stay callable from later ones, even if the input failed part-way.
        self.functions = self.functions.merge(&ast.clone_functions_only());
        self.drop_shadowed();
        let result = match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ScriptError::from_rhai(&e, source, &|s, l| self.source_line(s, l))),
            Err(panic) => Err(ScriptError::internal(format!(
                "{} (this is a bug in gscript; the session is still usable)",
                panic_message(&panic)
            ))),
        };
        self.host.clear_interrupt();
        result
    }

    /// A top-level `let x` in a later input adds a second `x` to the scope, which hides the first for good: drop the
    /// hidden ones, so that a notebook re-running `let big = ...` keeps one value, not every value it ever made.
    fn drop_shadowed(&mut self) {
        let distinct: std::collections::HashSet<&str> = self.scope.iter_raw().map(|(name, _, _)| name).collect();
        if distinct.len() < self.scope.len() {
            self.scope = self.scope.clone_visible();
        }
    }

    /// Runs a script file; relative imports resolve against its directory.
    pub fn run_file(&mut self, path: &Path) -> Result<Dynamic, ScriptError> {
        let code = std::fs::read_to_string(path)
            .map_err(|e| ScriptError::internal(format!("cannot read {}: {e}", path.display())))?;
        self.eval(&code, &path.to_string_lossy())
    }

    /// Line `line` (1-based) of a known source, or of a file on disk (imported modules).
    fn source_line(&self, source: &str, line: usize) -> Option<String> {
        let text = match self.sources.get(source) {
            Some(t) => t.clone(),
            None => std::fs::read_to_string(source).ok()?,
        };
        text.lines().nth(line.checked_sub(1)?).map(str::to_string)
    }

    /// Rich rendering of a value: the registered renderer for its type, else its text form.
    pub fn render(&self, value: &Dynamic) -> MimeBundle {
        if let Some(b) = self.host.render(value) {
            return b;
        }
        MimeBundle::plain(self.display_string(value))
    }

    /// Text form of a value as `print` would show it (uses a registered `to_string` when there is one).
    pub fn display_string(&self, value: &Dynamic) -> String {
        if value.is_string() {
            return value.clone().into_string().unwrap_or_default();
        }
        // `call_fn` only reaches script functions; evaluating a call also finds native `to_string` overloads.
        let mut scope = Scope::new();
        scope.push_dynamic("__value", value.clone());
        match self.engine.eval_with_scope::<String>(&mut scope, "to_string(__value)") {
            Ok(s) => s,
            Err(_) => value.to_string(),
        }
    }

    /// Whether `code` is a complete input.
    pub fn completeness(&self, code: &str) -> Completeness {
        crate::complete::completeness(&self.engine, code)
    }

    /// Completions at byte offset `cursor`: (start, end, matches) where start..end is the text being replaced.
    pub fn complete(&self, code: &str, cursor: usize) -> (usize, usize, Vec<String>) {
        crate::complete::complete(self, code, cursor)
    }

    /// Names of script functions defined so far in this session.
    pub fn script_functions(&self) -> Vec<String> {
        self.functions.iter_functions().map(|f| f.name.to_string()).collect()
    }

    /// Registered native function names that have no docs entry (the test suite requires none).
    pub fn undocumented_functions(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .engine
            .gen_fn_signatures(false)
            .into_iter()
            .filter_map(|sig| sig.split('(').next().map(|n| n.trim().to_string()))
            .filter(|n| !n.is_empty() && !is_rhai_builtin(n))
            .filter(|n| !self.docs.has_name(n))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Functions Rhai itself provides (operators, property accessors, conversions) are documented by Rhai.
fn is_rhai_builtin(name: &str) -> bool {
    name.starts_with("get$")
        || name.starts_with("set$")
        || name.starts_with("index$")
        || !name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        || crate::core::RHAI_STANDARD_NAMES.contains(&name)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a primitive panicked".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redefined_variables_keep_one_value_and_closures_their_captures() {
        let mut s = Session::new(Arc::new(crate::CaptureSink::default()), &[]);
        s.set_param("k", "3");
        for i in 0..5 {
            let _ = s.eval(&format!("let big = [{i}, 1, 2];\nlet x = {i};"), "<cell>").unwrap();
        }
        // a closure capturing an earlier `x`, then `x` redefined in a later input
        let _ = s.eval("let x = 10;\nlet f = |y| x + y;", "<cell>").unwrap();
        let _ = s.eval("let x = 20;", "<cell>").unwrap();
        let names: Vec<&str> = s.scope().iter_raw().map(|(n, _, _)| n).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        for n in ["k", "big", "x", "f"] {
            assert_eq!(names.iter().filter(|&&m| m == n).count(), 1, "{names:?}");
        }
        assert_eq!(s.eval("big[0]", "<cell>").unwrap().as_int().unwrap(), 4);
        assert_eq!(s.eval("x", "<cell>").unwrap().as_int().unwrap(), 20);
        assert_eq!(s.eval("f.call(1)", "<cell>").unwrap().as_int().unwrap(), 11);
        // the parameter stays a constant
        assert!(s.eval("k = 4;", "<cell>").is_err());
        assert_eq!(s.eval("k", "<cell>").unwrap().as_int().unwrap(), 3);
    }
}
