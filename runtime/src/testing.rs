//! Support for the tests that cross-check gscript against Python peers (unit tests, the integration tests of every
//! crate). Not part of the library's API.

use std::path::PathBuf;

/// The Python of the test venv that `./dev test` creates and exports as `GSCRIPT_TEST_PYTHON`. Without it the calling
/// test is skipped locally (`None`, with a note on stderr); under CI (`CI` set) its absence is an error.
pub fn test_python() -> Option<PathBuf> {
    match std::env::var_os("GSCRIPT_TEST_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("GSCRIPT_TEST_PYTHON is not set: run the tests with ./dev test")
        }
        None => {
            eprintln!("skipped: GSCRIPT_TEST_PYTHON is not set (./dev test sets it)");
            None
        }
    }
}

/// Serialises the tests that draw from libtorch's global generator, so that `tch::manual_seed` followed by draws is
/// reproducible while other tests run in parallel threads.
pub fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
