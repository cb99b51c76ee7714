//! What this process runs on: libtorch version and location, threads, CPU features, CUDA.

use std::path::{Path, PathBuf};

use crate::device::{cuda_status, CudaStatus};

#[derive(Clone, Debug)]
pub struct RuntimeInfo {
    /// Version of the libtorch that is actually loaded (read next to the loaded library).
    pub libtorch_version: Option<String>,
    /// Directory of the loaded `libtorch_cpu.so`.
    pub libtorch_dir: Option<PathBuf>,
    pub intra_op_threads: i32,
    pub cpu_model: Option<String>,
    pub logical_cpus: usize,
    /// CPU flags that matter for speed (avx2, avx512f, avx512_bf16, amx).
    pub cpu_features: Vec<String>,
    pub mkldnn: bool,
    pub cuda: CudaStatus,
}

impl RuntimeInfo {
    pub fn collect() -> Self {
        let libtorch_dir = loaded_library_dir("libtorch_cpu.so");
        let libtorch_version = libtorch_dir.as_deref().and_then(read_torch_version);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string());
        let flags: Vec<&str> = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.split_whitespace().collect())
            .unwrap_or_default();
        let cpu_features = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"]
            .iter()
            .filter(|f| flags.contains(f))
            .map(|f| f.to_string())
            .collect();
        RuntimeInfo {
            libtorch_version,
            libtorch_dir,
            intra_op_threads: tch::get_num_threads(),
            cpu_model,
            logical_cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            cpu_features,
            mkldnn: tch::utils::has_mkldnn(),
            cuda: cuda_status(),
        }
    }
}

/// The version of the libtorch this process loaded (from the wheel's `version.py`), without probing anything else.
pub fn libtorch_version() -> Option<String> {
    loaded_library_dir("libtorch_cpu.so").as_deref().and_then(read_torch_version)
}

/// Finds the directory a shared library was mapped from, via /proc/self/maps.
pub(crate) fn loaded_library_dir(name: &str) -> Option<PathBuf> {
    library_dir_in_maps(&std::fs::read_to_string("/proc/self/maps").ok()?, name)
}

/// The directory of shared library `name` in a `/proc/<pid>/maps` listing.
pub(crate) fn library_dir_in_maps(maps: &str, name: &str) -> Option<PathBuf> {
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| Path::new(p).file_name().is_some_and(|f| f == name))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
}

/// The wheel layout keeps `version.py` one level above `lib/`: `__version__ = '2.13.0+cu130'`.
fn read_torch_version(lib_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(lib_dir.parent()?.join("version.py")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).split('+').next().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_loaded_libtorch() {
        // touch libtorch so the library is certainly mapped
        let _ = tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu));
        let info = RuntimeInfo::collect();
        assert_eq!(info.libtorch_version.as_deref(), Some("2.13.0"));
        assert!(info.libtorch_dir.unwrap().ends_with("torch/lib"));
        assert!(info.intra_op_threads >= 1);
    }
}
