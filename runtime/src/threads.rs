//! libtorch's CPU thread count, adapted to what other processes use.
//!
//! libtorch's OpenMP workers spin for a while before they sleep. On a machine of its own that is what makes small
//! operations fast (sleeping workers halve the tiny model's training speed on 2 cores). Next to another busy process
//! (two notebooks, a notebook beside a build) more threads than free cores means workers that spin while the thread
//! they wait for is descheduled: two trainings on 2 cores each ran 8–20× slower instead of 2×. So long work calls
//! [`adapt`] between steps: at most every [`INTERVAL`] it measures the CPU time other processes used since the last
//! measurement (`/proc/stat` minus this process's `/proc/self/stat`) and sets libtorch's thread count to the cores they
//! left free (at least 1, at most the count the user chose). `gscript bench contention` measures the effect.
//!
//! The `gscript` binary turns this on ([`enable_adaptation`]); a program using the runtime as a library (and the
//! test binaries, whose seeded runs must repeat bit for bit) keeps libtorch's count unless it does the same.
//! `GSCRIPT_THREADING=fixed`, or choosing a count ([`set_threads`]: the `set_threads` primitive, a `threads` option,
//! `--threads` of the benchmarks), turns the adaptation off. Float reductions are split by thread, so results are
//! bit-identical between runs only at the same thread count: fix it when a rerun must repeat a result exactly. The
//! thread count is per calling thread in OpenMP, so [`adapt`] must run on the thread that computes (the session's),
//! which is where the training and interpretation loops call it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest time between two measurements.
pub const INTERVAL: Duration = Duration::from_millis(250);

struct State {
    /// The most threads to use (libtorch's count at the first call).
    max: i32,
    /// Logical CPUs of this process.
    cpus: usize,
    last: Option<Sample>,
    /// The count the last measurement asked for, and how many measurements in a row asked for it.
    pending: (i32, u32),
}

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    /// Busy ticks of all CPUs (`/proc/stat`).
    busy: u64,
    /// Ticks this process used (`/proc/self/stat` utime + stime).
    own: u64,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

static ADAPTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns the adaptation on for this process unless `GSCRIPT_THREADING=fixed` (the `gscript` binary does, for the CLI
/// and the kernel); a program using the runtime as a library keeps libtorch's count unless it calls this.
pub fn enable_adaptation() {
    let fixed = std::env::var_os("GSCRIPT_THREADING").is_some_and(|v| v == "fixed");
    ADAPTIVE.store(!fixed, std::sync::atomic::Ordering::Relaxed);
}

/// Uses `n` threads from now on, without adaptation (the user's `set_threads`).
pub fn set_threads(n: i32) {
    ADAPTIVE.store(false, std::sync::atomic::Ordering::Relaxed);
    tch::set_num_threads(n.max(1));
}

/// Whether the thread count adapts to other processes' load (not with `GSCRIPT_THREADING=fixed` or a chosen count).
pub fn adapts() -> bool {
    ADAPTIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Between steps of long work: adapts libtorch's thread count to the cores other processes leave free (see the module
/// docs). Cheap when called often: it measures at most every [`INTERVAL`].
pub fn adapt() {
    if !adapts() {
        return;
    }
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let state = guard.get_or_insert_with(|| {
        let max = tch::get_num_threads().max(1);
        State { max, cpus: logical_cpus(), last: None, pending: (max, 0) }
    });
    let now = Instant::now();
    if state.last.is_some_and(|l| now.duration_since(l.at) < INTERVAL) {
        return;
    }
    let Some(sample) = sample(now) else { return };
    let Some(last) = state.last.replace(sample) else { return };
    let seconds = now.duration_since(last.at).as_secs_f64();
    let others = sample.busy.saturating_sub(last.busy).saturating_sub(sample.own.saturating_sub(last.own));
    let others_cores = others as f64 / clock_ticks_per_second() / seconds;
    let want = threads_for(state.max, state.cpus, others_cores);
    // a change needs two measurements in a row, so one burst of another process does not flip the count
    state.pending = if want == state.pending.0 { (want, state.pending.1 + 1) } else { (want, 1) };
    if state.pending.1 >= 2 && want != tch::get_num_threads() {
        tch::set_num_threads(want);
    }
}

/// The threads to use out of `max` when other processes keep `others_cores` of `cpus` cores busy.
pub fn threads_for(max: i32, cpus: usize, others_cores: f64) -> i32 {
    // a core counts as taken when another process used most of it (ticks are coarse; short bursts do not count)
    let free = cpus as f64 - (others_cores - 0.3).max(0.0).ceil();
    (free as i32).clamp(1, max.max(1))
}

fn logical_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn sample(at: Instant) -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(Sample { at, busy: busy_ticks(&stat)?, own: own_ticks(&own)? })
}

/// Busy ticks of all CPUs from `/proc/stat`'s first line (everything but idle and iowait).
fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let total: u64 = v.iter().take(8).sum();
    Some(total - v[3] - v.get(4).copied().unwrap_or(0))
}

/// utime + stime of `/proc/self/stat` (fields 14 and 15; the command name in parentheses may hold spaces).
fn own_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // after the name: state is field 3, so utime (14) and stime (15) are at 11 and 12
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_cores_decide_the_thread_count() {
        assert_eq!(threads_for(2, 2, 0.0), 2, "quiet machine: all threads");
        assert_eq!(threads_for(2, 2, 0.2), 2, "a short burst elsewhere does not count");
        assert_eq!(threads_for(2, 2, 0.9), 1, "another process on one core");
        assert_eq!(threads_for(2, 2, 2.0), 1, "never below one thread");
        assert_eq!(threads_for(8, 16, 3.5), 8, "the user's maximum still applies");
        assert_eq!(threads_for(16, 16, 3.5), 12);
    }

    #[test]
    fn proc_files_parse() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n";
        assert_eq!(busy_ticks(stat), Some(100 + 5 + 50 + 1 + 2 + 3));
        assert_eq!(busy_ticks("intr 1 2 3\n"), None);
        let own = "4242 (my (odd) name) R 1 4242 4242 0 -1 4194304 100 0 0 0 17 4 0 0 20 0 3 0 100 0 0";
        assert_eq!(own_ticks(own), Some(21));
        // this process's own files parse
        assert!(sample(Instant::now()).is_some());
    }
}
