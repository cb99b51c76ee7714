//! gscript language core: the Rhai engine setup, the [`Session`] (scope, history, interrupt flag, output sink),
//! error rendering with `file:line:col`, and the docs registry behind `help`, `gscript doc` and completion.
//!
//! The language knows nothing about genomics: the standard library arrives as [`Package`]s.

mod complete;
mod core;
pub mod docs;
pub mod error;
pub mod host;
pub mod options;
pub mod register;
pub mod session;
pub mod sink;

pub use docs::{DocsRegistry, FnDoc, OptDefault, OptSpec};
pub use error::{primitive_error, ErrorKind, Location, ScriptError};
pub use host::{Host, ProgressBar};
pub use options::Options;
pub use register::{register0, register1, register2, register3, register_method1, register_method2};
pub use rhai;
pub use session::{Completeness, Package, Registrar, Session};
pub use sink::{CaptureSink, MimeBundle, ProgressId, ProgressState, Sink, SinkEvent, Stream};
