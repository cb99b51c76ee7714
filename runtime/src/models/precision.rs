//! Numeric precision of a model's matrix products, shared by every network.

use serde::{Deserialize, Serialize};
use tch::Kind;

/// Numeric precision of the convolution and dense matrix products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32.
    #[default]
    F32,
    /// Mixed precision for CPUs with native bf16 (AVX-512 BF16, AMX) and GPUs: convolutions and dense layers compute
    /// on bfloat16 activations with bfloat16 copies of the fp32 weights, cast inside the forward so that gradients land
    /// on fp32 master weights (a model loaded for inference only may keep bf16 weights). Batch norm keeps fp32
    /// gamma/beta/moving statistics and accumulates in fp32 (libtorch's mixed bf16 kernel). What else stays fp32 is
    /// the network's choice: scBasset's bottleneck batch norm, `z`, cell layer and loss; Borzoi's layer norms, softmax
    /// and track heads.
    Bf16,
}

impl Precision {
    /// `"fp32"`, `"bf16"` or `"auto"` ([`Precision::auto`] for `device`); `None` for anything else.
    pub fn parse(name: &str, device: tch::Device) -> Option<Precision> {
        match name {
            "fp32" => Some(Precision::F32),
            "bf16" => Some(Precision::Bf16),
            "auto" => Some(Precision::auto(device)),
            _ => None,
        }
    }

    /// The default where it is safe and fast: bf16 on CUDA and on CPUs with native bf16 arithmetic (AVX-512 BF16,
    /// which every AMX CPU also has), fp32 elsewhere (bf16 emulated in software would be slower than fp32). The
    /// evidence that bf16 training gives the same analysis results as fp32 is in docs/fidelity.md ("Precision").
    pub fn auto(device: tch::Device) -> Precision {
        if device.is_cuda() || cpu_has_bf16() {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }

    /// The option's name for this precision.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }

    /// The element type matrix products run in.
    pub fn compute_kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}

/// Whether this CPU computes bf16 natively (AVX-512 BF16).
pub fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_auto() {
        use tch::Device;
        assert_eq!(Precision::parse("fp32", Device::Cpu), Some(Precision::F32));
        assert_eq!(Precision::parse("bf16", Device::Cpu), Some(Precision::Bf16));
        assert_eq!(Precision::parse("half", Device::Cpu), None);
        let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        if !cpu.is_empty() && cfg!(target_arch = "x86_64") {
            // the kernel's flag list says the same as the CPUID check
            let want = if cpu.contains("avx512_bf16") { Precision::Bf16 } else { Precision::F32 };
            assert_eq!(Precision::parse("auto", Device::Cpu), Some(want));
        }
        assert_eq!(Precision::auto(Device::Cuda(0)), Precision::Bf16);
        assert_eq!(Precision::Bf16.name(), "bf16");
    }
}
