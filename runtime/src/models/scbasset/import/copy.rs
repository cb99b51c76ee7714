//! The part both importers share: a plan mapping every variable of the model onto a tensor read from the file (with
//! its layout), a shape check of every entry against the model the inferred configuration builds, and the copy.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{nn, Kind, Tensor};

use super::error::ImportError;
use crate::models::scbasset::config::{Arch, ScBassetConfig};
use crate::models::scbasset::keras::{bottleneck_kernel_from_keras, conv_kernel_from_keras};
use crate::models::scbasset::ScBasset;

/// How a tensor stored in the file relates to the variable it fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// Same shape and element order.
    Same,
    /// Keras Conv1D kernel `(k, C_in, C_out)` for a torch `(C_out, C_in, k)` weight.
    KerasConv,
    /// Keras bottleneck kernel `(P·C, U)`, rows position-major, for a Linear weight `(U, C·P)`.
    KerasBottleneck {
        /// Positions `P` left after the tower.
        positions: i64,
        /// Channels `C` of the 1×1 convolution.
        channels: i64,
    },
    /// The transpose of a 2-D variable (scvi's `nn.Embedding` rows are our kernel's columns).
    Transposed,
}

impl Layout {
    /// The shape the file must hold for a variable of shape `ours`.
    fn file_shape(self, ours: &[i64]) -> Vec<i64> {
        match (self, ours) {
            (Layout::KerasConv, [o, i, k]) => vec![*k, *i, *o],
            (Layout::KerasBottleneck { .. }, [u, flat]) | (Layout::Transposed, [u, flat]) => vec![*flat, *u],
            _ => ours.to_vec(),
        }
    }

    /// Converts a file tensor of the checked shape into the variable's layout.
    fn convert(self, t: &Tensor) -> Result<Tensor, crate::models::error::ModelError> {
        match self {
            Layout::Same => Ok(t.shallow_clone()),
            Layout::KerasConv => conv_kernel_from_keras(t),
            Layout::KerasBottleneck { positions, channels } => bottleneck_kernel_from_keras(t, positions, channels),
            Layout::Transposed => Ok(t.tr().contiguous()),
        }
    }
}

/// One tensor from the file destined for one variable.
#[derive(Debug)]
pub(super) struct Source {
    /// How the file names it (Keras `layer/weight`, scvi key).
    pub name: String,
    /// The values, fp32 on the CPU, in the file's layout.
    pub tensor: Tensor,
    /// The relation between the file's layout and ours.
    pub layout: Layout,
}

/// Variable name (ours) → where its values come from.
pub(super) type Plan = BTreeMap<String, Source>;

/// Adds the four batch-norm entries of a block: `ours_prefix.bn.{weight,bias,running_mean,running_var}`.
pub(super) fn add_batch_norm(plan: &mut Plan, ours_prefix: &str, [gamma, beta, mean, var]: [(String, Tensor); 4]) {
    for (suffix, (name, tensor)) in
        ["weight", "bias", "running_mean", "running_var"].into_iter().zip([gamma, beta, mean, var])
    {
        plan.insert(format!("{ours_prefix}.bn.{suffix}"), Source { name, tensor, layout: Layout::Same });
    }
}

/// The tower-width multiplier reproducing `widths` under `arch`'s rounding rule from `widths[0]`: 1.122 when it
/// fits, else a ratio of consecutive widths or their geometric mean, rounded to 3 or 4 decimals or not at all.
pub(super) fn infer_tower_mult(widths: &[usize], arch: Arch) -> Option<f64> {
    let reproduces = |mult: f64| {
        let c = ScBassetConfig {
            arch,
            tower_filters_init: widths[0],
            tower_repeat: widths.len(),
            tower_mult: mult,
            ..ScBassetConfig::keras(1)
        };
        c.tower_widths() == widths
    };
    if widths.len() < 2 {
        return Some(1.122);
    }
    let mut candidates = vec![1.122];
    let n = widths.len();
    candidates.push((widths[n - 1] as f64 / widths[0] as f64).powf(1.0 / (n - 1) as f64));
    candidates.extend(widths.windows(2).map(|w| w[1] as f64 / w[0] as f64));
    let rounded: Vec<f64> =
        candidates.iter().flat_map(|&m| [(m * 1e3).round() / 1e3, (m * 1e4).round() / 1e4, m]).collect();
    rounded.into_iter().find(|&m| m.is_finite() && m > 0.0 && reproduces(m))
}

/// The shape of a file tensor.
pub(super) fn dims(t: &Tensor) -> Vec<i64> {
    t.size()
}

/// Builds the model for `config` on `device` (with the batch head when `cell_batch` is given), checks that `plan`
/// covers exactly its variables with the shapes it implies, and copies the values in under `no_grad`.
pub(super) fn build_and_copy(
    path: &Path,
    config: &ScBassetConfig,
    cell_batch: Option<&[usize]>,
    device: tch::Device,
    mut plan: Plan,
    shape_note: &dyn Fn(&str) -> String,
) -> Result<(nn::VarStore, ScBasset), ImportError> {
    config.validate().map_err(|e| ImportError::model(path, e))?;
    let vs = nn::VarStore::new(device);
    let net = match cell_batch {
        Some(cb) => ScBasset::with_batches(&vs.root(), config, cb),
        None => ScBasset::new(&vs.root(), config),
    }
    .map_err(|e| ImportError::model(path, e))?;
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    // every shape first, so that nothing is copied from a file that fails
    for (ours, var) in &vars {
        let Some(src) = plan.get(ours) else {
            return Err(ImportError::not_scbasset(path, format!("nothing in the file fills the model's `{ours}`")));
        };
        let expected = src.layout.file_shape(&var.size());
        if dims(&src.tensor) != expected {
            return Err(ImportError::shape(path, &src.name, ours, expected, dims(&src.tensor), shape_note(ours)));
        }
    }
    for (ours, var) in &vars {
        if let Some(src) = plan.remove(ours) {
            let value =
                src.layout.convert(&src.tensor.to_kind(Kind::Float)).map_err(|e| ImportError::model(path, e))?;
            tch::no_grad(|| var.shallow_clone().f_copy_(&value)).map_err(|e| ImportError::model(path, e))?;
        }
    }
    if let Some((ours, src)) = plan.into_iter().next() {
        return Err(ImportError::not_scbasset(
            path,
            format!(
                "`{}` was meant for `{ours}`, which the model built from the inferred configuration lacks",
                src.name
            ),
        ));
    }
    Ok((vs, net))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tower_mult_is_recovered_for_both_rules() {
        assert_eq!(infer_tower_mult(&[288, 323, 363, 407, 456, 512], Arch::Keras), Some(1.122));
        assert_eq!(infer_tower_mult(&[288, 323, 362, 406, 456, 512], Arch::Scvi), Some(1.122));
        // the scvi widths follow no Keras multiplier near 1.122, and the Keras widths no scvi one
        assert_eq!(infer_tower_mult(&[288, 323, 362, 406, 456, 512], Arch::Keras), None);
        assert_eq!(infer_tower_mult(&[288, 323, 363, 407, 456, 512], Arch::Scvi), None);
        let tiny = ScBassetConfig::tiny(1).tower_widths();
        let m = infer_tower_mult(&tiny, Arch::Keras).unwrap();
        assert_eq!(ScBassetConfig { tower_mult: m, ..ScBassetConfig::tiny(1) }.tower_widths(), tiny);
        assert_eq!(infer_tower_mult(&[16, 40, 17], Arch::Keras), None);
        assert_eq!(infer_tower_mult(&[16], Arch::Keras), Some(1.122));
    }

    #[test]
    fn file_shapes_follow_layouts() {
        assert_eq!(Layout::KerasConv.file_shape(&[288, 4, 17]), vec![17, 4, 288]);
        assert_eq!(Layout::KerasBottleneck { positions: 7, channels: 256 }.file_shape(&[32, 1792]), vec![1792, 32]);
        assert_eq!(Layout::Transposed.file_shape(&[32, 3]), vec![3, 32]);
        assert_eq!(Layout::Same.file_shape(&[5]), vec![5]);
    }
}
