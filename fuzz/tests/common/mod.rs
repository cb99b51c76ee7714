//! Helpers shared by the fault-injection tests (each is its own binary: the file-size limit is process-wide).
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;

/// The names in `dir`, sorted (to show that no temporary file was left).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Sets the process's file-size limit for the duration of `f` (SIGXFSZ ignored, so an over-long write fails with
/// EFBIG instead of killing the process).
pub fn with_file_size_limit<T>(bytes: u64, f: impl FnOnce() -> T) -> T {
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        let new = libc::rlimit { rlim_cur: bytes, rlim_max: old.rlim_max };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &new), 0);
        let r = f();
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &old), 0);
        r
    }
}
