//! The C allocator's settings for this process (glibc only).
//!
//! libtorch allocates its activations with `malloc`. glibc serves blocks above a dynamic threshold (at most 32 MiB)
//! with fresh `mmap`s and returns them to the system on `free`, and trims the heap top above 128 KiB: a training step
//! or an interpretation batch that allocates and frees the same large tensors over and over then spends much of its
//! time in page faults zero-filling new pages (`perf`: `clear_page_erms`, `do_anonymous_page`). Keeping blocks up to
//! 256 MiB in the heap and trimming only above 512 MiB makes `gscript bench model` train 25 % and infer 37–59 % faster
//! on this project's 2-core machine (fp32 and bf16), motif insertion 40 % and whole-sequence ISM 45 % faster,
//! with identical results. The cost: up to ~0.5 GiB of freed memory stays with the process instead of going back to
//! the system at once.
//!
//! Only the `gscript` binary sets this (library users keep their allocator's settings); `GSCRIPT_MALLOC=default`, or
//! any of glibc's own `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` / `MALLOC_TOP_PAD_` variables, leaves the
//! allocator as it is.

/// Applies the settings (see the module docs); returns whether they were applied.
pub fn tune() -> bool {
    let user_choice = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
        || std::env::var("GSCRIPT_MALLOC").is_ok_and(|v| v == "default");
    if user_choice {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    // SAFETY: mallopt only changes allocator parameters; called at start-up before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20) == 1
            && libc::mallopt(libc::M_TOP_PAD, 64 << 20) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings() {
        assert!(super::apply());
    }
}
