//! Ctrl-C: the first press interrupts the running statement (the session's flag, polled by Rhai and by native
//! loops); a second press while the flag is still set exits at once.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Arc;

static FLAG: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());
static EXIT_ON_SECOND: AtomicBool = AtomicBool::new(true);

extern "C" fn on_sigint(_: libc::c_int) {
    let p = FLAG.load(Ordering::SeqCst);
    if p.is_null() {
        unsafe { libc::_exit(130) };
    }
    // SAFETY: the pointer comes from an Arc that `install` leaks, so it is valid for the whole process.
    let flag = unsafe { &*p };
    if flag.swap(true, Ordering::SeqCst) && EXIT_ON_SECOND.load(Ordering::SeqCst) {
        unsafe { libc::_exit(130) };
    }
}

/// Routes SIGINT to `flag` for the rest of the process; with `exit_on_second`, a second SIGINT while the flag is
/// still set exits (the terminal's escape hatch; the kernel keeps running).
pub fn install(flag: Arc<AtomicBool>, exit_on_second: bool) {
    EXIT_ON_SECOND.store(exit_on_second, Ordering::SeqCst);
    let raw = Arc::into_raw(flag) as *mut AtomicBool;
    let old = FLAG.swap(raw, Ordering::SeqCst);
    if !old.is_null() {
        // SAFETY: `old` came from Arc::into_raw in an earlier call.
        unsafe { drop(Arc::from_raw(old)) };
    }
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}
