//! The fuzz targets: one per parser or loader, each calling the public entry point the language uses and mapping
//! its result to `Ok(())` or `Err(message)` (a typed error). Anything else (a panic, a hang, a huge allocation) is
//! what the engine looks for. Shared by the `gscript-fuzz` binary (`./dev fuzz`) and the smoke test.

mod binary;
mod text;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// One parser under test.
pub struct Target {
    /// Name on the command line.
    pub name: &'static str,
    /// Folder of its committed inputs: `tests/corpus/<format>/`.
    pub format: &'static str,
    /// Runs the entry point on one input.
    pub run: fn(&[u8]) -> Result<(), String>,
    /// Valid inputs to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Keywords of the format, inserted by the mutator.
    pub dict: &'static [&'static str],
    /// Text format: line, field and number mutations; else byte mutations.
    pub text: bool,
    /// Longest input tried.
    pub max_len: usize,
}

/// Every target, in a fixed order.
pub fn all() -> Vec<Target> {
    let mut v = text::targets();
    v.extend(binary::targets());
    v
}

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}

/// The repository's `tests/corpus/<format>/` folder.
pub fn corpus_dir(format: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("tests").join("corpus").join(format)
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

/// A fresh directory for one input (removed afterwards by [`with_files`]).
fn fresh_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = scratch().join(format!("in{}", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&d).expect("scratch directory");
    d
}

/// Writes `files` (name, bytes) into a fresh directory, runs `f` on it and removes it.
fn with_files(files: &[(&str, &[u8])], f: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), String> {
    let dir = fresh_dir();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("fuzz harness: {e}"))?;
    }
    let r = f(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn err<E: std::fmt::Display>(e: E) -> String {
    let s = e.to_string();
    if s.is_empty() {
        "(an error with an empty message)".into()
    } else {
        s
    }
}

/// Splits `data` at `sep` into at most `n` parts.
fn split<'a>(data: &'a [u8], sep: &[u8], n: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + sep.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}
