//! Glue between the language and the runtime: runtime errors become script errors that name the primitive,
//! session progress bars serve as runtime progress callbacks, the interrupt flag becomes a cancel token.

use std::sync::Arc;

use gscript_lang::rhai::EvalAltResult;
use gscript_lang::{primitive_error, Host, ProgressBar};
use gscript_runtime::{CancelToken, Progress, RuntimeError};

/// Result type of registered primitives.
pub type ScriptResult<T> = Result<T, Box<EvalAltResult>>;

/// Converts a runtime error into a script error naming the primitive (and the field when the error has one).
pub fn script_error(primitive: &str, err: RuntimeError) -> Box<EvalAltResult> {
    match err {
        RuntimeError::Interrupted => Box::new(EvalAltResult::ErrorTerminated(().into(), gscript_lang::rhai::Position::NONE)),
        RuntimeError::InvalidArgument { field, message } => primitive_error(primitive, Some(&field), &message),
        other => primitive_error(primitive, None, &other.to_string()),
    }
}

/// `result.map_err(in_primitive("name"))`.
pub fn in_primitive(primitive: &'static str) -> impl Fn(RuntimeError) -> Box<EvalAltResult> {
    move |e| script_error(primitive, e)
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
