//! Fuzzing of every gscript parser and loader.
//!
//! Engine: an in-process structured mutator ([`mutate`]) with error-message feedback ([`engine`]); NOT
//! coverage-guided (no instrumentation: the stable toolchain here builds no cargo-afl/libFuzzer runtime, and an
//! instrumented libtorch/HDF5 build would not fit the machine). Every input runs on its own thread under a time limit
//! and an allocation guard ([`guard`]). The same [`targets`] are driven by `./dev fuzz` (the `gscript-fuzz` binary)
//! and by the smoke test in `tests/smoke.rs`, which CI runs.

pub mod engine;
pub mod guard;
pub mod mutate;
pub mod rng;
pub mod seeds;
pub mod targets;

#[global_allocator]
static GUARD: guard::Guard = guard::Guard;
