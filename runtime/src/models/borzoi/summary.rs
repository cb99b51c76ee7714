//! Borzoi's layer table: parameters per stage, in network order.

use super::network::Borzoi;
use crate::models::SequenceModel;

/// Stages in network order, as the state dict's top-level names.
const STAGES: [(&str, &str); 12] = [
    ("conv_dna", "conv stem (k15) + pool"),
    ("res_tower", "conv tower (5 blocks, k5, 4 pools)"),
    ("unet1", "U-net level 1 (pool, k5)"),
    ("transformer", "transformer blocks"),
    ("horizontal_conv1", "skip from level 1 (k1)"),
    ("horizontal_conv0", "skip from level 0 (k1)"),
    ("upsampling_unet1", "upsample to level 1 (k1, ×2)"),
    ("separable1", "separable conv (k3)"),
    ("upsampling_unet0", "upsample to level 0 (k1, ×2)"),
    ("separable0", "separable conv (k3)"),
    ("final_joined_convs", "crop + joined conv (k1) → embedding"),
    ("human_head", "human head (softplus)"),
];

/// `(stage, description, parameters)` rows in network order (the mouse head last, when present).
pub fn rows(model: &Borzoi) -> Vec<(String, String, usize)> {
    let groups = model.parameter_groups();
    let count = |prefix: &str| -> usize {
        groups
            .iter()
            .flat_map(|g| g.tensors.iter())
            .filter(|(n, _)| n.split('.').next() == Some(prefix))
            .map(|(_, t)| t.numel())
            .sum()
    };
    let mut out: Vec<(String, String, usize)> =
        STAGES.iter().map(|(s, d)| (s.to_string(), d.to_string(), count(s))).collect();
    out.push(("mouse_head".into(), "mouse head (softplus)".into(), count("mouse_head")));
    out.retain(|(_, _, n)| *n > 0);
    out
}

/// The layer table as text.
pub fn render(model: &Borzoi) -> String {
    let c = model.config();
    let attention = if c.flashed {
        format!(
            "Flashzoi attention: {} query / {} key-value heads of {}, RoPE on {}",
            c.heads,
            c.kv_heads(),
            c.head_dim(),
            c.rotary_dim
        )
    } else {
        format!("relative-position attention: {} heads, key {}, value {}", c.heads, c.key_dim, c.value_dim)
    };
    let (offset, span) = c.output_window(c.seq_len);
    let mut s = format!(
        "{} · input {} bp → {} bins × 32 bp (bases {}–{} of the input) · dim {}, depth {}, {attention} · {:?}\n",
        if c.flashed { "Flashzoi" } else { "Borzoi" },
        c.seq_len,
        c.bins,
        offset,
        offset + span,
        c.dim,
        c.depth,
        model.precision()
    );
    let rows = rows(model);
    for (stage, desc, n) in &rows {
        s.push_str(&format!("  {stage:<20} {desc:<40} {n:>13}\n"));
    }
    let total: usize = rows.iter().map(|r| r.2).sum();
    s.push_str(&format!("  {:<20} {:<40} {total:>13}\n", "total", "parameters"));
    s
}
