//! Throughput probes. The matmul probe is the reference "machine peak" that later efficiency ratios divide by.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

/// One measured probe.
#[derive(Clone, Debug)]
pub struct Measurement {
    pub name: String,
    /// Achieved GFLOP/s (or items/s for non-FLOP probes, see `unit`).
    pub value: f64,
    pub unit: &'static str,
    pub seconds: f64,
}

/// GFLOP/s of an `n × n` by `n × n` matrix product in `kind` (Float or BFloat16) on `device`, best of `reps` runs
/// after one warm-up.
pub fn matmul_gflops(n: i64, kind: Kind, device: Device, reps: usize) -> Measurement {
    tch::manual_seed(0);
    let a = Tensor::randn([n, n], (kind, device));
    let b = Tensor::randn([n, n], (kind, device));
    let _ = a.matmul(&b);
    sync(device);
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let c = a.matmul(&b);
        sync(device);
        best = best.min(t.elapsed().as_secs_f64());
        drop(c);
    }
    let flops = 2.0 * (n as f64).powi(3);
    Measurement {
        name: format!("matmul {n}x{n} {kind:?} {device:?}"),
        value: flops / best / 1e9,
        unit: "GFLOP/s",
        seconds: best,
    }
}

/// Waits for the device's queued work (CUDA), so that a timer read after it covers that work.
pub(crate) fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Resets the resident-memory high-water mark of this process (Linux `clear_refs` 5); false where unsupported.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let [hwm] = status_bytes(["VmHWM:"]);
    hwm
}

/// Fields of `/proc/self/status` given in kB (e.g. `"VmHWM:"`), in bytes, read from one snapshot of the file; `None`
/// for a missing file or field.
pub(crate) fn status_bytes<const N: usize>(names: [&str; N]) -> [Option<u64>; N] {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    names.map(|name| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// The standard probe suite, printed as a table: fp32 and bf16 matmul on CPU (and CUDA when usable), peak RSS.
pub fn print_suite(quick: bool) {
    let n = if quick { 512 } else { 2048 };
    let reps = if quick { 2 } else { 5 };
    let info = crate::info::RuntimeInfo::collect();
    println!(
        "gscript bench — libtorch {}, {} intra-op threads",
        info.libtorch_version.as_deref().unwrap_or("?"),
        info.intra_op_threads
    );
    let mut rows =
        vec![matmul_gflops(n, Kind::Float, Device::Cpu, reps), matmul_gflops(n, Kind::BFloat16, Device::Cpu, reps)];
    if let crate::device::CudaStatus::Available { .. } = info.cuda {
        rows.push(matmul_gflops(4 * n, Kind::Float, Device::Cuda(0), reps));
        rows.push(matmul_gflops(4 * n, Kind::BFloat16, Device::Cuda(0), reps));
    }
    for m in &rows {
        println!("{:40} {:>10.1} {}   ({:.4} s)", m.name, m.value, m.unit, m.seconds);
    }
    if let Some(rss) = peak_rss_bytes() {
        println!("{:40} {:>10.1} MiB", "peak RSS", rss as f64 / (1 << 20) as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_probe_measures_positive_throughput() {
        let m = matmul_gflops(64, Kind::Float, Device::Cpu, 2);
        assert!(m.value > 0.0 && m.value.is_finite() && m.seconds > 0.0);
        assert!(peak_rss_bytes().unwrap() > 1 << 20);
    }
}
