//! Cooperative cancellation and progress of the long-running analysis steps (kNN, UMAP, t-SNE, Leiden, Louvain).
//!
//! Every such step takes `progress: &mut dyn Progress, cancel: &CancelToken` as its last two arguments, as the rest
//! of the runtime does. It polls the token between units of work small enough that an interrupt returns within a
//! fraction of a second even on a million cells (a few thousand edges or node moves, one tile of a distance block),
//! and then returns [`AnalysisError::Interrupted`], which the language reports as an interrupt; a token set before
//! the call returns that at once, before any work. Polling never changes a result: an uncancelled run gives the
//! same output as one without a token.

use std::ops::Range;

use crate::analysis::error::{AnalysisError, Result};
use crate::progress::{CancelToken, Progress};

/// `Err(Interrupted)` once `cancel` is set.
pub(crate) fn check(cancel: &CancelToken) -> Result<()> {
    if cancel.is_cancelled() {
        Err(AnalysisError::Interrupted)
    } else {
        Ok(())
    }
}

/// Units of serial work (edges, node moves) between two polls of the token.
const POLL_EVERY: u32 = 4096;

/// Polls the token every [`POLL_EVERY`] calls of [`Poll::tick`] (an atomic load each time would be cheap too, but
/// this keeps it out of the innermost loops).
pub(crate) struct Poll<'a> {
    cancel: &'a CancelToken,
    count: u32,
}

impl<'a> Poll<'a> {
    pub(crate) fn new(cancel: &'a CancelToken) -> Self {
        Poll { cancel, count: 0 }
    }

    /// One unit of work done; `Err(Interrupted)` when this is a polling point and the token is set.
    #[inline]
    pub(crate) fn tick(&mut self) -> Result<()> {
        self.count += 1;
        if self.count == POLL_EVERY {
            self.count = 0;
            check(self.cancel)?;
        }
        Ok(())
    }
}

/// Progress steps [`in_steps`] aims for.
const STEPS: usize = 100;

/// Runs `work` on consecutive ranges covering `0..n`: each a multiple of `align` long (but the last), long enough to
/// give every thread a few `align`-sized chunks, and at most about a hundred of them. After each range its end goes
/// to `progress.update` and the token is checked. `work` runs the range in parallel and skips its chunks once the
/// token is set, so that an interrupt does not wait for the whole range.
pub(crate) fn in_steps(
    n: usize,
    align: usize,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
    mut work: impl FnMut(Range<usize>),
) -> Result<()> {
    let align = align.max(1);
    let per_step = (rayon::current_num_threads() * 4 * align).max(n.div_ceil(STEPS).next_multiple_of(align));
    let mut start = 0;
    while start < n {
        check(cancel)?;
        let end = (start + per_step).min(n);
        work(start..end);
        check(cancel)?;
        progress.update(end as u64, "");
        start = end;
    }
    Ok(())
}

#[cfg(test)]
#[path = "work_tests.rs"]
mod tests;
