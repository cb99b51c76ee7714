//! How libtorch's OpenMP threads wait, chosen before libtorch starts.
//!
//! libgomp (the OpenMP runtime the PyPI libtorch ships) lets an idle worker spin for a while before it sleeps. On a
//! machine of its own that saves a wake-up per parallel region; next to another busy process (two notebooks, a
//! notebook beside a build) the spinning workers take the cores the other's workers need to reach their barriers, and
//! both slow down 20–100× instead of about 2×. gscript therefore runs with `OMP_WAIT_POLICY=PASSIVE` (workers sleep at
//! once) unless the user set `OMP_WAIT_POLICY` or `GSCRIPT_THREADING=default` (libgomp's own default).
//! `gscript bench contention` measures both policies, alone and with a second training next to it.
//!
//! libgomp reads the variable when it is loaded, before `main`, so setting it means starting this program again with
//! the variable set (`exec`: same process id, arguments, standard streams); that costs a few milliseconds.

use std::ffi::OsString;

/// Starts the program again with `OMP_WAIT_POLICY=PASSIVE` unless the environment already chose a policy. Returns only
/// when no restart was needed or the restart failed (then the program runs on with libgomp's default).
pub fn ensure_passive_omp_wait() {
    let chosen = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if chosen("OMP_WAIT_POLICY") || std::env::var_os("GSCRIPT_THREADING").is_some_and(|v| v == "default") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(exe).args(args).env("OMP_WAIT_POLICY", "PASSIVE").exec();
    // exec returns only on failure: run on as we are
    eprintln!("gscript: could not restart with OMP_WAIT_POLICY=PASSIVE ({err}); running with libgomp's default");
}
