//! The gscript Jupyter kernel: kernelspec installation ([`kernelspec`]), the protocol server over pure-Rust ZeroMQ
//! ([`server`], [`wire`]) and the interpreter thread that owns one gscript session ([`execute`], [`sink`]). The
//! protocol side and the language meet only in [`execute::Interpreter`] and [`sink::KernelSink`]. Which packages the
//! session has is the caller's choice ([`server::KernelOptions::packages`]): the `gscript` binary passes the standard
//! library, so the kernel itself depends on the language only.

pub mod execute;
pub mod history;
pub mod kernelspec;
pub mod server;
pub mod sink;
pub mod test_hooks;
pub mod wire;
