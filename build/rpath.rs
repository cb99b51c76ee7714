// Shared by the build scripts of every package that links libtorch into an executable (the CLI, tests, benches):
// embeds libtorch's lib directory as an rpath so binaries run without LD_LIBRARY_PATH, and passes the directory to the
// code (GSCRIPT_LIBTORCH_LIB) so CUDA support can be loaded from it at run time.
fn emit_libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(libtorch) = std::env::var("LIBTORCH") else {
        println!("cargo:warning=LIBTORCH is not set: run scripts/setup-libtorch.sh first");
        return;
    };
    // Follow the .deps symlink into the versioned cache so installed binaries do not depend on the checkout.
    let root = std::fs::canonicalize(&libtorch).unwrap_or_else(|_| libtorch.clone().into());
    let lib = root.join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-env=GSCRIPT_LIBTORCH_LIB={}", lib.display());
}
