//! Compute devices: `"cpu"`, `"cuda"`, `"cuda:N"` and `"auto"`.
//!
//! One binary serves CPU and GPU machines. The linker drops `libtorch_cuda` (nothing references it directly), so the
//! CUDA backend is loaded with `dlopen` the first time CUDA is asked for; its static initialisers register the CUDA
//! hooks with libtorch. On a machine without the CUDA libraries the request fails with the loader's own message.

use std::ffi::{CStr, CString};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::error::{Result, RuntimeError};

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    #[default]
    Cpu,
    /// A CUDA device, the first when no index is given.
    Cuda(Option<usize>),
    /// CUDA when it can be used, else CPU.
    Auto,
}

impl FromStr for DeviceRequest {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(DeviceRequest::Cpu),
            "cuda" | "gpu" => Ok(DeviceRequest::Cuda(None)),
            "auto" => Ok(DeviceRequest::Auto),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(DeviceRequest::Cuda(Some(i))),
                _ => Err(RuntimeError::invalid(
                    "device",
                    format!("unknown device '{s}': expected \"cpu\", \"cuda\", \"cuda:N\" or \"auto\""),
                )),
            },
        }
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceRequest::Cpu => f.write_str("cpu"),
            DeviceRequest::Cuda(None) => f.write_str("cuda"),
            DeviceRequest::Cuda(Some(i)) => write!(f, "cuda:{i}"),
            DeviceRequest::Auto => f.write_str("auto"),
        }
    }
}

/// A resolved device that work runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComputeDevice(pub tch::Device);

impl ComputeDevice {
    pub fn cpu() -> Self {
        ComputeDevice(tch::Device::Cpu)
    }
    pub fn is_cuda(&self) -> bool {
        matches!(self.0, tch::Device::Cuda(_))
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            tch::Device::Cpu => f.write_str("cpu"),
            tch::Device::Cuda(i) => write!(f, "cuda:{i}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl DeviceRequest {
    /// Picks the device, loading CUDA support when needed.
    pub fn resolve(self) -> Result<ComputeDevice> {
        match self {
            DeviceRequest::Cpu => Ok(ComputeDevice::cpu()),
            DeviceRequest::Auto => Ok(match cuda_status() {
                CudaStatus::Available { .. } => ComputeDevice(tch::Device::Cuda(0)),
                _ => ComputeDevice::cpu(),
            }),
            DeviceRequest::Cuda(index) => match cuda_status() {
                CudaStatus::Available { devices } => {
                    let i = index.unwrap_or(0);
                    if i >= devices {
                        return Err(RuntimeError::Device(format!(
                            "device cuda:{i} requested but only {devices} CUDA device(s) are visible"
                        )));
                    }
                    Ok(ComputeDevice(tch::Device::Cuda(i)))
                }
                status => Err(RuntimeError::Device(format!("CUDA requested but it cannot be used: {status}"))),
            },
        }
    }
}

/// Whether CUDA can be used, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CudaStatus {
    Available {
        devices: usize,
    },
    /// `libtorch_cuda` could not be loaded (a library is missing).
    LibraryMissing {
        library: PathBuf,
        reason: String,
    },
    /// The libraries loaded but the driver reports no device.
    NoDevice,
}

impl fmt::Display for CudaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CudaStatus::Available { devices } => write!(f, "{devices} CUDA device(s)"),
            CudaStatus::LibraryMissing { library, reason } => write!(
                f,
                "could not load {}: {reason}. Install libtorch's GPU dependencies with \
                 `scripts/setup-libtorch.sh --cuda` (needs an NVIDIA driver), then run again",
                library.display()
            ),
            CudaStatus::NoDevice => f.write_str(
                "libtorch_cuda loaded but no CUDA device is visible (no NVIDIA driver or GPU on this machine, \
                 or CUDA_VISIBLE_DEVICES hides them)",
            ),
        }
    }
}

/// The directory of the libtorch this process runs on, where `libtorch_cuda` is looked for: `$GSCRIPT_LIBTORCH_LIB`
/// when set, else the directory of the `libtorch_cpu` the loader actually mapped (so a binary moved to another machine,
/// or run with `LD_LIBRARY_PATH` pointing at a Python's `torch/lib`, finds the CUDA backend beside it), else the
/// directory found at build time.
pub fn libtorch_lib_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GSCRIPT_LIBTORCH_LIB").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // libtorch_cpu is a load-time dependency of this binary: mapped before main
    crate::info::loaded_library_dir("libtorch_cpu.so").unwrap_or_else(|| PathBuf::from(env!("GSCRIPT_LIBTORCH_LIB")))
}

/// Loads the CUDA backend once and reports the outcome (cached for the process).
pub fn cuda_status() -> CudaStatus {
    static STATUS: OnceLock<CudaStatus> = OnceLock::new();
    STATUS
        .get_or_init(|| {
            let library = libtorch_lib_dir().join("libtorch_cuda.so");
            if let Err(reason) = dlopen_global(&library) {
                return CudaStatus::LibraryMissing { library, reason };
            }
            if tch::Cuda::is_available() {
                CudaStatus::Available { devices: tch::Cuda::device_count().max(0) as usize }
            } else {
                CudaStatus::NoDevice
            }
        })
        .clone()
}

fn dlopen_global(path: &std::path::Path) -> std::result::Result<(), String> {
    let c_path = CString::new(path.as_os_str().to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: dlopen/dlerror are called with a valid NUL-terminated path; the handle is intentionally leaked so the
    // library stays loaded for the life of the process.
    unsafe {
        let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        if handle.is_null() {
            let err = libc::dlerror();
            let msg = if err.is_null() {
                "unknown dlopen failure".to_string()
            } else {
                CStr::from_ptr(err).to_string_lossy().into_owned()
            };
            return Err(msg);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The libtorch directory is the one the loader mapped, not a path fixed at build time.
    #[test]
    fn libtorch_directory_is_read_from_the_process_maps() {
        let maps = "7f00-7f10 r-xp 00000000 fd:01 42   /opt/py/site-packages/torch/lib/libtorch_cpu.so\n\
                    7f20-7f30 r--p 00000000 fd:01 43   /usr/lib/libc.so.6\n";
        assert_eq!(
            crate::info::library_dir_in_maps(maps, "libtorch_cpu.so"),
            Some("/opt/py/site-packages/torch/lib".into())
        );
        assert_eq!(
            crate::info::library_dir_in_maps("7f20-7f30 r--p 0 fd:01 43 /usr/lib/libc.so.6\n", "libtorch_cpu.so"),
            None
        );
        // in this process: the directory holding the libtorch_cpu.so that is loaded
        let dir = super::libtorch_lib_dir();
        assert!(dir.join("libtorch_cpu.so").exists(), "{}", dir.display());
    }

    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cpu);
        assert_eq!("CUDA".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cuda(None));
        assert_eq!("cuda:2".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cuda(Some(2)));
        assert_eq!("auto".parse::<DeviceRequest>().unwrap(), DeviceRequest::Auto);
        let err = "tpu".parse::<DeviceRequest>().unwrap_err().to_string();
        assert!(err.contains("tpu") && err.contains("\"cuda:N\""), "{err}");
        assert!("cuda:x".parse::<DeviceRequest>().is_err());
    }

    #[test]
    fn cpu_always_resolves_and_auto_never_fails() {
        assert_eq!(DeviceRequest::Cpu.resolve().unwrap(), ComputeDevice::cpu());
        let auto = DeviceRequest::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), matches!(cuda_status(), CudaStatus::Available { .. }));
    }

    #[test]
    fn cuda_request_matches_status() {
        match cuda_status() {
            CudaStatus::Available { .. } => assert!(DeviceRequest::Cuda(None).resolve().unwrap().is_cuda()),
            status => {
                let err = DeviceRequest::Cuda(None).resolve().unwrap_err().to_string();
                assert!(err.starts_with("CUDA requested but it cannot be used"), "{err}");
                if let CudaStatus::LibraryMissing { .. } = status {
                    // names the library that failed and how to install it
                    assert!(err.contains("libtorch_cuda.so") && err.contains("setup-libtorch.sh --cuda"), "{err}");
                }
            }
        }
    }
}
