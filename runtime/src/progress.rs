//! Progress reporting and cooperative cancellation for long-running runtime work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Result, RuntimeError};

/// A flag shared with whoever can interrupt the work (Ctrl-C handler, Jupyter interrupt). Loops poll it
/// between units of work (a minibatch, a block of peaks) through [`CancelToken::check`].
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    /// Wraps an existing flag (the language session owns one).
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        CancelToken(flag)
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// `Err(Interrupted)` once the flag is set.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(RuntimeError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Receives progress of one long-running task. `total` is the number of steps when known.
pub trait Progress {
    fn start(&mut self, label: &str, total: Option<u64>);
    /// `position` steps done; `message` a short status (e.g. "loss 0.412 auROC 0.71").
    fn update(&mut self, position: u64, message: &str);
    fn finish(&mut self, message: &str);
}

/// Discards progress (library use, tests).
#[derive(Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _label: &str, _total: Option<u64>) {}
    fn update(&mut self, _position: u64, _message: &str) {}
    fn finish(&mut self, _message: &str) {}
}
