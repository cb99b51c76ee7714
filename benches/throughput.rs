//! `cargo bench`: the throughput probes (the same suite as `gscript bench`).
fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    gscript_runtime::bench::print_suite(quick);
}
