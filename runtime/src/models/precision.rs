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
    /// The element type matrix products run in.
    pub fn compute_kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}
