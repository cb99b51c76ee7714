// Compiles src/shim.cpp against libtorch's c10d headers with the flags torch-sys uses for its own wrapper
// (C++17, the CXX11 ABI unless LIBTORCH_CXX11_ABI=0) and links libtorch_cpu, which exports the stores, the Gloo
// process group and its collectives. The gloo headers ProcessGroupGloo.hpp includes are not in the libtorch wheel:
// vendor/gloo holds the 17 it needs, from github.com/pytorch/gloo (BSD licence, vendor/gloo/LICENSE).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rerun-if-changed=vendor");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let libtorch = std::env::var("LIBTORCH").map(PathBuf::from).unwrap_or_else(|_| {
        panic!("LIBTORCH is not set: run scripts/setup-libtorch.sh and export LIBTORCH (as for torch-sys)")
    });
    let root = std::fs::canonicalize(&libtorch).unwrap_or(libtorch);
    let include = root.join("include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("src/shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include("vendor")
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag("-DUSE_C10D_GLOO")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-bitfield-width")
        .warnings(false)
        .compile("gscript_dist_shim");
    let lib = root.join("lib");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    // This crate's own tests run without LD_LIBRARY_PATH (the executables of the other packages embed it themselves).
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
