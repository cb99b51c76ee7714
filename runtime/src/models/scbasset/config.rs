//! Configuration of the scBasset network (`make_model` in calico/scBasset `scbasset/utils.py`): layer widths, kernel
//! sizes, pools and the optional batch-correction head, with the two width/pooling conventions of the Keras original
//! and the scvi-tools port.

use serde::{Deserialize, Serialize};

use crate::models::error::{ModelError, Result};

/// Hyper-parameters of an scBasset network. [`ScBassetConfig::keras`] reproduces the published model.
///
/// Missing fields take the Keras defaults when deserialised, except `n_cells`, which must be given (0 is rejected
/// by [`validate`](ScBassetConfig::validate)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScBassetConfig {
    /// Number of cells, i.e. outputs of the final layer.
    pub n_cells: usize,
    /// Input sequence length in bases (1344 in scBasset).
    pub seq_len: usize,
    /// Which convention fixes the tower widths and the stem pool alignment.
    pub arch: Arch,
    /// Filters of the stem convolution (288).
    pub stem_filters: usize,
    /// Kernel size of the stem convolution (17); must be odd.
    pub stem_kernel: usize,
    /// Max-pool size (and stride) after the stem (3).
    pub stem_pool: usize,
    /// Filters of the first tower block (288); later blocks grow by `tower_mult`.
    pub tower_filters_init: usize,
    /// Number of tower blocks (6).
    pub tower_repeat: usize,
    /// Growth factor of the tower widths (1.122).
    pub tower_mult: f64,
    /// Kernel size of the tower convolutions (5); must be odd.
    pub tower_kernel: usize,
    /// Max-pool size (and stride) after every tower block (2).
    pub tower_pool: usize,
    /// Filters of the 1×1 convolution after the tower (256).
    pub conv1x1_filters: usize,
    /// Width of the sequence embedding `z` (32).
    pub bottleneck: usize,
    /// Dropout rate after the bottleneck batch norm (0.2), active in training only.
    pub dropout: f64,
    /// Number of batches for the batch-correction head of scBasset-BC (`make_model_bc` in `scbasset/utils.py`); `None`
    /// for the plain model.
    pub n_batches: Option<usize>,
}

/// Width and pooling convention (calico/scBasset `make_model`, or scvi-tools' `ScBassetModule` in
/// `scvi/external/scbasset/_module.py`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// calico/scBasset: tower widths rounded from an accumulating float (288, 323, 363, 407, 456, 512); stem pool
    /// windows `[3i, 3i+3)`.
    #[default]
    Keras,
    /// scvi-tools `ScBassetModule`: each width rounded from the previous rounded width (288, 323, 362, 406, 456, 512);
    /// stem pool with padding `(pool-1)/2`, windows `[3i-1, 3i+2)`.
    Scvi,
}

/// The named presets: the one map from a preset name to a configuration, used by `train_scbasset`, the
/// benchmarks and the docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The published Keras model ([`ScBassetConfig::keras`]).
    Keras,
    /// The scvi-tools port's widths ([`ScBassetConfig::scvi`]).
    Scvi,
    /// A small network for demos and tests ([`ScBassetConfig::tiny`]).
    Tiny,
}

impl Preset {
    /// Every preset with its name and a one-line description, in documentation order.
    pub const ALL: [(Preset, &'static str, &'static str); 3] = [
        (Preset::Keras, "keras", "the published model (calico/scBasset), 1,344 bp, 4,513,960 + 33·n_cells parameters"),
        (Preset::Scvi, "scvi", "scvi-tools' ScBassetModule widths and stem pooling"),
        (Preset::Tiny, "tiny", "336 bp, a few thousand parameters: demos and tests"),
    ];

    /// The preset's name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(p, _, _)| *p == self).map(|(_, n, _)| *n).unwrap_or("keras")
    }

    /// The preset names.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, n, _)| *n).collect()
    }

    /// The configuration for `n_cells` cells.
    pub fn config(self, n_cells: usize) -> ScBassetConfig {
        match self {
            Preset::Keras => ScBassetConfig::keras(n_cells),
            Preset::Scvi => ScBassetConfig::scvi(n_cells),
            Preset::Tiny => ScBassetConfig::tiny(n_cells),
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL.iter().find(|(_, n, _)| *n == s).map(|(p, _, _)| *p).ok_or_else(|| {
            ModelError::invalid("preset", format!("unknown preset `{s}`; expected one of {}", Self::names().join(", ")))
        })
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for ScBassetConfig {
    fn default() -> Self {
        Self::keras(0)
    }
}

impl ScBassetConfig {
    /// The published Keras architecture for `n_cells` cells.
    pub fn keras(n_cells: usize) -> Self {
        ScBassetConfig {
            n_cells,
            seq_len: 1344,
            arch: Arch::Keras,
            stem_filters: 288,
            stem_kernel: 17,
            stem_pool: 3,
            tower_filters_init: 288,
            tower_repeat: 6,
            tower_mult: 1.122,
            tower_kernel: 5,
            tower_pool: 2,
            conv1x1_filters: 256,
            bottleneck: 32,
            dropout: 0.2,
            n_batches: None,
        }
    }

    /// The scvi-tools port's architecture for `n_cells` cells.
    pub fn scvi(n_cells: usize) -> Self {
        ScBassetConfig { arch: Arch::Scvi, ..Self::keras(n_cells) }
    }

    /// A small network with the same layer structure, for tests: 336 bp → 112 → 56 → 28 → 14 → 7 positions,
    /// tower widths 16, 20, 25, 31, bottleneck 8.
    pub fn tiny(n_cells: usize) -> Self {
        ScBassetConfig {
            n_cells,
            seq_len: 336,
            arch: Arch::Keras,
            stem_filters: 16,
            stem_kernel: 9,
            stem_pool: 3,
            tower_filters_init: 16,
            tower_repeat: 4,
            tower_mult: 1.25,
            tower_kernel: 5,
            tower_pool: 2,
            conv1x1_filters: 16,
            bottleneck: 8,
            dropout: 0.2,
            n_batches: None,
        }
    }

    /// Output widths of the tower blocks under this config's [`Arch`] rule. Python rounds half to even, and so
    /// does this.
    pub fn tower_widths(&self) -> Vec<usize> {
        let mut widths = Vec::with_capacity(self.tower_repeat);
        match self.arch {
            Arch::Keras => {
                let mut f = self.tower_filters_init as f64;
                for _ in 0..self.tower_repeat {
                    widths.push(f.round_ties_even() as usize);
                    f *= self.tower_mult;
                }
            }
            Arch::Scvi => {
                let mut w = self.tower_filters_init;
                for _ in 0..self.tower_repeat {
                    widths.push(w);
                    w = (w as f64 * self.tower_mult).round_ties_even() as usize;
                }
            }
        }
        widths
    }

    /// Padding of the stem max-pool: 0 for Keras, `(pool-1)/2` for scvi.
    pub fn stem_pool_padding(&self) -> usize {
        match self.arch {
            Arch::Keras => 0,
            Arch::Scvi => (self.stem_pool - 1) / 2,
        }
    }

    /// Sequence positions left after the stem and tower pools (7 for the published model).
    pub fn final_positions(&self) -> usize {
        self.seq_len / self.stem_pool / self.tower_pool.pow(self.tower_repeat as u32)
    }

    /// Input width of the bottleneck dense layer: `final_positions · conv1x1_filters` (1792).
    pub fn flatten_dim(&self) -> usize {
        self.final_positions() * self.conv1x1_filters
    }

    /// Checks that the network can be built: positive sizes, odd kernels, pools that divide the sequence exactly at
    /// every stage, a dropout rate in `[0, 1)`. The error names the offending field.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("n_cells", self.n_cells),
            ("seq_len", self.seq_len),
            ("stem_filters", self.stem_filters),
            ("stem_kernel", self.stem_kernel),
            ("stem_pool", self.stem_pool),
            ("tower_filters_init", self.tower_filters_init),
            ("tower_kernel", self.tower_kernel),
            ("tower_pool", self.tower_pool),
            ("conv1x1_filters", self.conv1x1_filters),
            ("bottleneck", self.bottleneck),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ModelError::invalid(field, "must be at least 1"));
            }
        }
        for (field, k) in [("stem_kernel", self.stem_kernel), ("tower_kernel", self.tower_kernel)] {
            if k % 2 == 0 {
                return Err(ModelError::invalid(
                    field,
                    format!("{k} is even; \"same\" padding needs an odd kernel size"),
                ));
            }
        }
        if !(self.tower_mult.is_finite() && self.tower_mult > 0.0) {
            return Err(ModelError::invalid("tower_mult", format!("{} is not a positive number", self.tower_mult)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::invalid("dropout", format!("{} is outside [0, 1)", self.dropout)));
        }
        if self.n_batches == Some(0) {
            return Err(ModelError::invalid("n_batches", "must be at least 1 when given"));
        }
        if self.tower_repeat > 0 && self.tower_widths().contains(&0) {
            return Err(ModelError::invalid("tower_mult", "a tower block would have 0 filters"));
        }
        if !self.seq_len.is_multiple_of(self.stem_pool) {
            return Err(ModelError::invalid(
                "seq_len",
                format!("{} is not divisible by stem_pool = {}", self.seq_len, self.stem_pool),
            ));
        }
        let mut len = self.seq_len / self.stem_pool;
        for block in 0..self.tower_repeat {
            if !len.is_multiple_of(self.tower_pool) || len < self.tower_pool {
                return Err(ModelError::invalid(
                    "seq_len",
                    format!(
                        "{} bp leaves {len} positions before tower block {} (of {}), which tower_pool = {} does not \
                         divide exactly; seq_len must be a multiple of stem_pool · tower_pool^tower_repeat = {}",
                        self.seq_len,
                        block + 1,
                        self.tower_repeat,
                        self.tower_pool,
                        self.stem_pool * self.tower_pool.pow(self.tower_repeat as u32),
                    ),
                ));
            }
            len /= self.tower_pool;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tower_widths_follow_each_rounding_rule() {
        assert_eq!(ScBassetConfig::keras(1).tower_widths(), vec![288, 323, 363, 407, 456, 512]);
        assert_eq!(ScBassetConfig::scvi(1).tower_widths(), vec![288, 323, 362, 406, 456, 512]);
    }

    #[test]
    fn published_shapes() {
        let c = ScBassetConfig::keras(10);
        c.validate().unwrap();
        assert_eq!(c.final_positions(), 7);
        assert_eq!(c.flatten_dim(), 1792);
        assert_eq!(c.stem_pool_padding(), 0);
        assert_eq!(ScBassetConfig::scvi(10).stem_pool_padding(), 1);
        let t = ScBassetConfig::tiny(5);
        t.validate().unwrap();
        assert_eq!(t.final_positions(), 7);
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let field_of = |c: ScBassetConfig| match c.validate() {
            Err(ModelError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        assert_eq!(field_of(ScBassetConfig::keras(0)), "n_cells");
        assert_eq!(field_of(ScBassetConfig { seq_len: 1343, ..ScBassetConfig::keras(3) }), "seq_len");
        // divisible by 3 but 1347/3 = 449 is odd: fails at the first tower pool
        let err = ScBassetConfig { seq_len: 1347, ..ScBassetConfig::keras(3) }.validate().unwrap_err();
        assert!(err.to_string().contains("tower block 1"), "{err}");
        assert_eq!(field_of(ScBassetConfig { stem_kernel: 16, ..ScBassetConfig::keras(3) }), "stem_kernel");
        assert_eq!(field_of(ScBassetConfig { dropout: 1.0, ..ScBassetConfig::keras(3) }), "dropout");
        assert_eq!(field_of(ScBassetConfig { n_batches: Some(0), ..ScBassetConfig::keras(3) }), "n_batches");
        assert_eq!(field_of(ScBassetConfig { tower_mult: f64::NAN, ..ScBassetConfig::keras(3) }), "tower_mult");
    }

    #[test]
    fn serde_round_trip_and_defaults() {
        let c = ScBassetConfig { n_batches: Some(4), ..ScBassetConfig::scvi(7) };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"arch\":\"scvi\""), "{json}");
        assert_eq!(serde_json::from_str::<ScBassetConfig>(&json).unwrap(), c);
        let partial: ScBassetConfig = serde_json::from_str(r#"{"n_cells": 12}"#).unwrap();
        assert_eq!(partial, ScBassetConfig::keras(12));
        assert!(serde_json::from_str::<ScBassetConfig>(r#"{"n_cels": 12}"#).is_err());
    }
}
