//! scBasset layer by layer, Keras `model.summary()` style: what `model.summary()` prints in the language.

use std::fmt::Write as _;

use tch::nn;

use super::network::ScBasset;

/// One row of the layer table: name, output shape, trainable and non-trainable parameter counts.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    pub name: String,
    pub output: String,
    pub trainable: usize,
    pub fixed: usize,
}

/// The network's layers with output shapes and parameter counts.
pub fn layer_table(net: &ScBasset) -> Vec<LayerRow> {
    let c = net.config();
    let mut rows = Vec::new();
    let mut len = c.seq_len as i64;
    let bn_fixed = |bn: &nn::BatchNorm| bn.running_mean.numel() + bn.running_var.numel();
    rows.push(LayerRow { name: "input (one-hot)".into(), output: format!("{len} × 4"), trainable: 0, fixed: 0 });
    let n_blocks = net.conv_blocks().count();
    for (i, b) in net.conv_blocks().enumerate() {
        let size = b.weight.size();
        let (c_out, c_in, k) = (size[0], size[1], size[2]);
        if b.pool > 1 {
            len = (len + 2 * b.pool_padding - b.pool) / b.pool + 1;
        }
        let name = match i {
            0 => format!("stem: GELU → conv {k}×{c_in}→{c_out} → BN → max-pool {}", b.pool),
            i if i + 1 == n_blocks => format!("1×1: GELU → conv {k}×{c_in}→{c_out} → BN"),
            i => format!("tower {i}: GELU → conv {k}×{c_in}→{c_out} → BN → max-pool {}", b.pool),
        };
        let trainable: usize = b.trainable().iter().map(|t| t.numel()).sum();
        rows.push(LayerRow { name, output: format!("{len} × {c_out}"), trainable, fixed: bn_fixed(&b.bn) });
    }
    let d = net.dense_block();
    let (units, inputs) = (d.weight.size()[0], d.weight.size()[1]);
    rows.push(LayerRow {
        name: format!(
            "bottleneck: GELU → flatten {inputs} → dense {units} (no bias) → BN → dropout {} → GELU",
            d.dropout
        ),
        output: format!("{units}"),
        trainable: d.trainable().iter().map(|t| t.numel()).sum(),
        fixed: bn_fixed(&d.bn),
    });
    rows.push(LayerRow {
        name: "cells: dense (cell embeddings + intercepts)".into(),
        output: format!("{}", c.n_cells),
        trainable: (c.bottleneck + 1) * c.n_cells,
        fixed: 0,
    });
    if let Some(h) = net.batch_head() {
        let k = h.bias.numel();
        rows.push(LayerRow {
            name: "batches: dense (batch embeddings + biases) → cells".into(),
            output: format!("{}", c.n_cells),
            trainable: (c.bottleneck + 1) * k,
            fixed: 0,
        });
    }
    rows
}

/// The table as aligned text with totals (thousands grouped).
pub fn render_text(rows: &[LayerRow]) -> String {
    let group = |n: usize| crate::plot::group_thousands(n as i64);
    let width = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(s, "{:<width$}  {:>10}  {:>12}", "layer", "output", "parameters");
    for r in rows {
        let _ = writeln!(s, "{:<width$}  {:>10}  {:>12}", r.name, r.output, group(r.trainable));
    }
    let trainable: usize = rows.iter().map(|r| r.trainable).sum();
    let fixed: usize = rows.iter().map(|r| r.fixed).sum();
    let _ =
        write!(s, "trainable parameters: {}; non-trainable (BN moving statistics): {}", group(trainable), group(fixed));
    s
}
