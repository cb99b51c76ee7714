//! Functions that only the kernel's own tests register (`GSCRIPT_KERNEL_TEST_HOOKS=1`): a primitive that panics,
//! to check that a Rust panic inside a primitive becomes an error output and the kernel keeps serving.

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
