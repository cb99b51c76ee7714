//! Functions that only the kernel's own tests register (`GSCRIPT_KERNEL_TEST_HOOKS=1`): a primitive that panics,
//! to check that a Rust panic inside a primitive becomes an error output and the kernel keeps serving, and one that
//! hands the allocator's free memory back to the system, so that a soak test's resident-size samples measure memory
//! still in use rather than the allocator's high-water mark (the binary keeps freed memory in its heap by design,
//! src/allocator.rs).

use gscript_lang::{FnDoc, Package, Registrar};

pub struct TestHooks;

impl Package for TestHooks {
    fn register(&self, reg: &mut Registrar) {
        reg.docs.add(FnDoc::new(
            "kernel_test_panic",
            "testing",
            "kernel_test_panic(message: string)",
            "Panics inside native code (kernel tests only; registered when GSCRIPT_KERNEL_TEST_HOOKS=1).",
        ));
        reg.engine.register_fn("kernel_test_panic", |message: &str| -> i64 { panic!("{message}") });
        reg.docs.add(FnDoc::new(
            "kernel_test_trim",
            "testing",
            "kernel_test_trim()",
            "Returns the allocator's free memory to the system (glibc malloc_trim; kernel tests only).",
        ));
        reg.engine.register_fn("kernel_test_trim", || -> bool { trim() });
    }
}

/// The hooks when the environment asks for them.
pub fn from_env() -> Vec<Box<dyn Package + Send>> {
    if std::env::var("GSCRIPT_KERNEL_TEST_HOOKS").is_ok_and(|v| v == "1") {
        vec![Box::new(TestHooks)]
    } else {
        Vec::new()
    }
}

/// glibc's `malloc_trim(0)`: free memory at the top of the heap is released and free pages inside it are given back
/// (madvise); true when something was released.
fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only inspects and releases the allocator's free memory.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
