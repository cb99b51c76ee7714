//! Glue between the language and the runtime: runtime errors become script errors that name the primitive,
//! session progress bars serve as runtime progress callbacks, the interrupt flag becomes a cancel token, and
//! primitives with a trailing options map are registered with one family of helpers ([`register1`], ...).

use std::path::Path;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, EvalAltResult, Map, Variant};
use gscript_lang::{primitive_error, Host, OptSpec, Options, ProgressBar, Registrar};
use gscript_runtime::analysis::AnalysisError;
use gscript_runtime::{CancelToken, DeviceRequest, Progress, RuntimeError};

/// Registration of primitives whose last argument is an optional options map: `name(a)` and `name(a, #{...})`.
pub use gscript_lang::{register0, register1, register2, register3, register_method1, register_method2};

/// Result type of registered primitives.
pub type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// Registers another form `name(a)` / `name(a, options)` of a primitive whose doc (registered with its main form)
/// describes every form; `specs` validate this form's options map as [`register1`] does.
pub fn register_overload1<A, R, F>(reg: &mut Registrar, name: &'static str, specs: Vec<OptSpec>, f: F)
where
    A: Variant + Clone,
    R: Variant + Clone,
    F: Fn(A, &Options) -> ScriptResult<R> + Send + Sync + 'static,
{
    let (f, specs) = (Arc::new(f), Arc::new(specs));
    let (g, s) = (f.clone(), specs.clone());
    reg.engine.register_fn(name, move |a: A, map: Map| -> ScriptResult<R> { g(a, &Options::new(name, map, &s)?) });
    reg.engine.register_fn(name, move |a: A| -> ScriptResult<R> { f(a, &Options::empty(name, &specs)) });
}

/// Registers another form of a documented method, `x.name(a, b)` / `x.name(a, b, options)` (see
/// [`register_overload1`]).
pub fn register_method_overload2<T, A, B, R, F>(reg: &mut Registrar, name: &'static str, specs: Vec<OptSpec>, f: F)
where
    T: Variant + Clone,
    A: Variant + Clone,
    B: Variant + Clone,
    R: Variant + Clone,
    F: Fn(&mut T, A, B, &Options) -> ScriptResult<R> + Send + Sync + 'static,
{
    let (f, specs) = (Arc::new(f), Arc::new(specs));
    let (g, s) = (f.clone(), specs.clone());
    reg.engine.register_fn(name, move |x: &mut T, a: A, b: B, map: Map| -> ScriptResult<R> {
        g(x, a, b, &Options::new(name, map, &s)?)
    });
    reg.engine.register_fn(name, move |x: &mut T, a: A, b: B| -> ScriptResult<R> {
        f(x, a, b, &Options::empty(name, &specs))
    });
}

/// Converts a runtime error (or an area's error, which converts into one) into a script error naming the primitive,
/// and the field when the error has one; an interrupt stops the script.
pub fn script_error(primitive: &str, err: impl Into<RuntimeError>) -> Box<EvalAltResult> {
    match err.into() {
        RuntimeError::Interrupted => interrupted(),
        RuntimeError::InvalidArgument { field, message } => primitive_error(primitive, Some(&field), &message),
        // The analysis kernels call a primitive's matrix argument `data`; in the language it is `x`.
        RuntimeError::Analysis(AnalysisError::NonFinite { what, row }) => primitive_error(
            primitive,
            Some(if what == "data" { "x" } else { what }),
            &format!("contains a non-finite value (NaN or infinity) in row {row}"),
        ),
        other => primitive_error(primitive, None, &other.to_string()),
    }
}

/// `result.map_err(in_primitive("name"))`.
pub fn in_primitive<E: Into<RuntimeError>>(primitive: &str) -> impl Fn(E) -> Box<EvalAltResult> + '_ {
    move |e| script_error(primitive, e)
}

/// `result.map_err(in_argument("name", "arg"))`: the error is about argument `arg` (`name: argument `arg`: error`).
pub fn in_argument<'a, E: Into<RuntimeError>>(
    primitive: &'a str,
    argument: &'a str,
) -> impl Fn(E) -> Box<EvalAltResult> + 'a {
    move |e| match e.into() {
        RuntimeError::Interrupted => interrupted(),
        other => primitive_error(primitive, Some(argument), &other.to_string()),
    }
}

/// Writes `bytes` to `path` atomically; a failure is an error about the primitive's `path` argument naming the file.
pub fn write_output(primitive: &str, path: &Path, bytes: &[u8]) -> ScriptResult<()> {
    gscript_runtime::io::write_atomic(path, bytes)
        .map_err(|e| RuntimeError::io(path, e))
        .map_err(in_argument(primitive, "path"))
}

fn interrupted() -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorTerminated(().into(), gscript_lang::rhai::Position::NONE))
}

/// The session's interrupt flag as a runtime cancel token.
pub fn cancel_token(host: &Host) -> CancelToken {
    CancelToken::from_flag(host.interrupt_flag())
}

/// Adapts runtime progress callbacks to the session's progress bars.
pub struct SessionProgress {
    host: Arc<Host>,
    bar: Option<ProgressBar>,
}

impl SessionProgress {
    pub fn new(host: &Arc<Host>) -> Self {
        SessionProgress { host: host.clone(), bar: None }
    }
}

impl Progress for SessionProgress {
    fn start(&mut self, label: &str, total: Option<u64>) {
        self.bar = Some(self.host.progress(label, total));
    }
    fn update(&mut self, position: u64, message: &str) {
        if let Some(bar) = &mut self.bar {
            bar.update(position, message);
        }
    }
    fn finish(&mut self, message: &str) {
        if let Some(mut bar) = self.bar.take() {
            bar.finish(message);
        }
    }
}

/// The `device` option ("cpu", "cuda", "cuda:N", "auto"), resolved to a device this process can use.
pub fn device_option(primitive: &'static str, o: &Options) -> ScriptResult<tch::Device> {
    let request = o.string("device")?.unwrap_or_else(|| "cpu".into());
    Ok(request.parse::<DeviceRequest>().and_then(|r| r.resolve()).map_err(in_primitive(primitive))?.0)
}

/// An array of numbers (integers accepted) as `f64`; the error names the primitive, the argument and the element.
pub fn numbers(primitive: &str, key: &str, v: &Dynamic) -> ScriptResult<Vec<f64>> {
    let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
        primitive_error(primitive, Some(key), &format!("expected an array of numbers, got {}", v.type_name()))
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_float()
                .or_else(|_| x.as_int().map(|i| i as f64))
                .map_err(|_| primitive_error(primitive, Some(key), &format!("element {i} is not a number: {x}")))
        })
        .collect()
}

/// A label as text: a string as is (no quotes), anything else as it prints.
pub fn label_text(x: &Dynamic) -> String {
    if x.is_string() {
        x.clone().into_string().unwrap_or_default()
    } else {
        x.to_string()
    }
}
