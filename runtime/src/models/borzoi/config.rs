//! Borzoi's configuration: the published sizes (`BorzoiConfig` of borzoi-pytorch, `borzoi_pytorch/config_borzoi.py`),
//! the fixed widths of the convolution tower, the Flashzoi switch, named presets and `config.json` reading.

use serde_json::Value;

use crate::models::ModelError;

/// Input bases per output bin (stem pool 2 × four tower pools): the resolution of every Borzoi profile.
pub const BIN_SIZE: usize = 32;
/// Input bases per transformer token (two more pools: the U-net's second level and the transformer's input).
pub const TOKEN_SIZE: usize = 128;

/// Everything that fixes Borzoi's shapes and its regularisation.
#[derive(Clone, Debug, PartialEq)]
pub struct BorzoiConfig {
    /// Transformer width (`dim`; 1,536).
    pub dim: usize,
    /// Transformer blocks (`depth`; 8).
    pub depth: usize,
    /// Query heads (`heads`; 8).
    pub heads: usize,
    /// Query/key width per head (`attn_dim_key`; 64). Borzoi attention only.
    pub key_dim: usize,
    /// Value width per head (`attn_dim_value`; 192). Borzoi attention only.
    pub value_dim: usize,
    /// Dropout in the transformer blocks (`dropout_rate`; 0.2; the attention residual uses 0.2 whatever this is).
    pub dropout: f64,
    /// Dropout on the attention weights (`attn_dropout`; 0.05).
    pub attn_dropout: f64,
    /// Dropout on the relative-position features (`pos_dropout`; 0.01). Borzoi attention only.
    pub pos_dropout: f64,
    /// Central bins returned (`bins_to_return`; 6,144 of 16,384 at full length). Must be even.
    pub bins: usize,
    /// Flashzoi attention: grouped-query attention with rotary position embeddings instead of relative positions.
    pub flashed: bool,
    /// Output channels of the human head (7,611), or none.
    pub human_tracks: Option<usize>,
    /// Output channels of the mouse head (2,608), or none.
    pub mouse_tracks: Option<usize>,
    /// Channels of the first convolution (`conv_dna`; 512).
    pub stem_channels: usize,
    /// Output channels of the five tower blocks (608, 736, 896, 1,056, 1,280).
    pub tower: [usize; 5],
    /// Width of the per-bin embedding (`final_joined_convs`; 1,920).
    pub embedding_dim: usize,
    /// Default input length in bases (524,288); any multiple of 128 with length / 32 ≥ `bins` runs.
    pub seq_len: usize,
    /// Token count the central-mask widths of the relative-position features are computed from (4,096, the
    /// published model's transformer length, whatever the input length).
    pub pos_train_tokens: usize,
    /// Relative-position features (32: 16 central-mask basis functions and their signed copies).
    pub pos_features: usize,
    /// Flashzoi: rotary dimensions per head (128 of 192).
    pub rotary_dim: usize,
    /// Flashzoi: rotary base (20,000).
    pub rotary_base: f64,
}

impl Default for BorzoiConfig {
    fn default() -> Self {
        Preset::Borzoi.config()
    }
}

/// Named configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// The published Borzoi (`johahi/borzoi-replicate-{0..3}`): human head only.
    Borzoi,
    /// Flashzoi (`johahi/flashzoi-replicate-{0..3}`): rotary GQA attention, human and mouse heads.
    Flashzoi,
    /// A small network through the same code (8,192 bp → 128 bins of 32 bp, 2 blocks, 16 tracks) for tests and
    /// simulated data.
    Tiny,
}

impl Preset {
    /// Every preset with its name.
    pub const ALL: [(&'static str, Preset); 3] =
        [("borzoi", Preset::Borzoi), ("flashzoi", Preset::Flashzoi), ("tiny", Preset::Tiny)];

    /// The preset called `name`, or an error listing the valid names.
    pub fn parse(name: &str) -> Result<Preset, ModelError> {
        Preset::ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).ok_or_else(|| {
            let names: Vec<&str> = Preset::ALL.iter().map(|(n, _)| *n).collect();
            ModelError::invalid("preset", format!("unknown preset \"{name}\"; valid: {}", names.join(", ")))
        })
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        Preset::ALL.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// Its configuration.
    pub fn config(self) -> BorzoiConfig {
        let borzoi = BorzoiConfig {
            dim: 1536,
            depth: 8,
            heads: 8,
            key_dim: 64,
            value_dim: 192,
            dropout: 0.2,
            attn_dropout: 0.05,
            pos_dropout: 0.01,
            bins: 6144,
            flashed: false,
            human_tracks: Some(7611),
            mouse_tracks: None,
            stem_channels: 512,
            tower: [608, 736, 896, 1056, 1280],
            embedding_dim: 1920,
            seq_len: 524_288,
            pos_train_tokens: 4096,
            pos_features: 32,
            rotary_dim: 128,
            rotary_base: 20_000.0,
        };
        match self {
            Preset::Borzoi => borzoi,
            Preset::Flashzoi => BorzoiConfig { flashed: true, mouse_tracks: Some(2608), ..borzoi },
            Preset::Tiny => BorzoiConfig {
                dim: 64,
                depth: 2,
                heads: 2,
                key_dim: 16,
                value_dim: 32,
                bins: 128,
                human_tracks: Some(16),
                stem_channels: 32,
                tower: [40, 48, 56, 64, 72],
                embedding_dim: 96,
                seq_len: 8192,
                rotary_dim: 16,
                ..borzoi
            },
        }
    }
}

impl BorzoiConfig {
    /// Width of a Flashzoi head (`dim / heads`).
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads.max(1)
    }

    /// Flashzoi's key/value heads (half the query heads).
    pub fn kv_heads(&self) -> usize {
        self.heads / 2
    }

    /// Checks that the network can be built.
    pub fn validate(&self) -> Result<(), ModelError> {
        let positive = [
            ("dim", self.dim),
            ("depth", self.depth),
            ("heads", self.heads),
            ("bins", self.bins),
            ("stem_channels", self.stem_channels),
            ("embedding_dim", self.embedding_dim),
            ("pos_train_tokens", self.pos_train_tokens),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(ModelError::invalid(field, "must be at least 1"));
            }
        }
        if self.tower.contains(&0) {
            return Err(ModelError::invalid("tower", "every width must be at least 1"));
        }
        if !self.bins.is_multiple_of(2) {
            return Err(ModelError::invalid(
                "bins",
                format!("{} is odd; the centre crop needs an even count", self.bins),
            ));
        }
        if self.pos_features == 0 || !self.pos_features.is_multiple_of(2) {
            return Err(ModelError::invalid("pos_features", "must be a positive even number"));
        }
        if self.flashed {
            if !self.dim.is_multiple_of(self.heads) {
                return Err(ModelError::invalid(
                    "dim",
                    format!("{} is not divisible by {} heads", self.dim, self.heads),
                ));
            }
            if self.heads < 2 || !self.heads.is_multiple_of(2) {
                return Err(ModelError::invalid(
                    "heads",
                    "Flashzoi needs an even number of query heads (KV heads = half)",
                ));
            }
            if self.rotary_dim == 0 || !self.rotary_dim.is_multiple_of(2) || self.rotary_dim > self.head_dim() {
                return Err(ModelError::invalid(
                    "rotary_dim",
                    format!("{} must be even and at most the head width {}", self.rotary_dim, self.head_dim()),
                ));
            }
        } else if self.key_dim == 0 || self.value_dim == 0 {
            return Err(ModelError::invalid("attn_dim_key", "key and value widths must be at least 1"));
        }
        if self.human_tracks == Some(0) || self.mouse_tracks == Some(0) {
            return Err(ModelError::invalid("tracks", "a head needs at least one track"));
        }
        self.check_length(self.seq_len)
    }

    /// Checks that an input of `len` bases can run: a multiple of 128 whose 32-bp bins cover `bins`.
    pub fn check_length(&self, len: usize) -> Result<(), ModelError> {
        if len == 0 || !len.is_multiple_of(TOKEN_SIZE) {
            return Err(ModelError::invalid("length", format!("{len} bp is not a positive multiple of {TOKEN_SIZE}")));
        }
        if len / BIN_SIZE < self.bins {
            return Err(ModelError::invalid(
                "length",
                format!(
                    "{len} bp gives {} bins of {BIN_SIZE} bp, fewer than the {} the model returns (at least {} bp)",
                    len / BIN_SIZE,
                    self.bins,
                    self.bins * BIN_SIZE
                ),
            ));
        }
        Ok(())
    }

    /// Bases of sequence the returned bins cover at input length `len`, and the offset of the first from the input
    /// start.
    pub fn output_window(&self, len: usize) -> (usize, usize) {
        let offset = (len / BIN_SIZE - self.bins) / 2 * BIN_SIZE;
        (offset, self.bins * BIN_SIZE)
    }

    /// Reads a borzoi-pytorch `config.json` (`BorzoiConfig.save_pretrained`): the published sizes with the fields it
    /// sets (`dim`, `depth`, `heads`, `attn_dim_key`, `attn_dim_value`, dropouts, `bins_to_return`,
    /// `return_center_bins_only`, `enable_human_head`, `enable_mouse_head`, `flashed`). Other keys (`architectures`,
    /// `torch_dtype`, `transformers_version`, …) are ignored. `what` names the file in errors.
    pub fn from_json(text: &str, what: &str) -> Result<BorzoiConfig, ModelError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ModelError::invalid(what, format!("not JSON ({e}) at line {}", e.line())))?;
        let obj = v.as_object().ok_or_else(|| ModelError::invalid(what, "expected a JSON object"))?;
        if let Some(t) = obj.get("model_type").and_then(Value::as_str) {
            if t != "borzoi" {
                return Err(ModelError::invalid(
                    format!("{what}: model_type"),
                    format!("\"{t}\" is not a Borzoi configuration (expected \"borzoi\")"),
                ));
            }
        }
        let mut c = Preset::Borzoi.config();
        let int = |key: &str, into: &mut usize| -> Result<(), ModelError> {
            if let Some(x) = obj.get(key) {
                *into = x.as_u64().map(|u| u as usize).ok_or_else(|| {
                    ModelError::invalid(format!("{what}: {key}"), format!("expected a non-negative integer, got {x}"))
                })?;
            }
            Ok(())
        };
        int("dim", &mut c.dim)?;
        int("depth", &mut c.depth)?;
        int("heads", &mut c.heads)?;
        int("attn_dim_key", &mut c.key_dim)?;
        int("attn_dim_value", &mut c.value_dim)?;
        int("bins_to_return", &mut c.bins)?;
        let float = |key: &str, into: &mut f64| -> Result<(), ModelError> {
            if let Some(x) = obj.get(key) {
                *into = x.as_f64().ok_or_else(|| {
                    ModelError::invalid(format!("{what}: {key}"), format!("expected a number, got {x}"))
                })?;
            }
            Ok(())
        };
        float("dropout_rate", &mut c.dropout)?;
        float("attn_dropout", &mut c.attn_dropout)?;
        float("pos_dropout", &mut c.pos_dropout)?;
        let flag = |key: &str, default: bool| -> Result<bool, ModelError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(x) => {
                    Err(ModelError::invalid(format!("{what}: {key}"), format!("expected true or false, got {x}")))
                }
            }
        };
        c.flashed = flag("flashed", false)?;
        c.human_tracks = flag("enable_human_head", true)?.then_some(7611);
        c.mouse_tracks = flag("enable_mouse_head", false)?.then_some(2608);
        if !flag("return_center_bins_only", true)? {
            // TargetLengthCrop(16384 - 32): every bin but 16 at each end of the published 524,288-bp input
            c.bins = 16_384 - 32;
        }
        c.validate().map_err(|e| match e {
            ModelError::InvalidConfig { field, message } => ModelError::invalid(format!("{what}: {field}"), message),
            other => other,
        })?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_parse() {
        for (name, p) in Preset::ALL {
            p.config().validate().unwrap();
            assert_eq!(Preset::parse(name).unwrap(), p);
            assert_eq!(p.name(), name);
        }
        let e = Preset::parse("enformer").unwrap_err().to_string();
        assert!(e.contains("borzoi, flashzoi, tiny"), "{e}");
    }

    #[test]
    fn reads_config_json_and_ignores_unknown_keys() {
        let text = r#"{"dim": 384, "depth": 2, "heads": 4, "attn_dim_key": 32, "attn_dim_value": 96,
            "bins_to_return": 256, "model_type": "borzoi", "architectures": ["Borzoi"], "torch_dtype": "float32",
            "enable_mouse_head": true, "flashed": false, "transformers_version": "4.57.6"}"#;
        let c = BorzoiConfig::from_json(text, "config.json").unwrap();
        assert_eq!((c.dim, c.depth, c.heads, c.key_dim, c.value_dim, c.bins), (384, 2, 4, 32, 96, 256));
        assert_eq!((c.human_tracks, c.mouse_tracks), (Some(7611), Some(2608)));
        assert_eq!(c.tower, [608, 736, 896, 1056, 1280]);
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = BorzoiConfig::from_json(r#"{"dim": "wide"}"#, "m/config.json").unwrap_err().to_string();
        assert!(e.contains("m/config.json: dim") && e.contains("integer"), "{e}");
        let e = BorzoiConfig::from_json(r#"{"model_type": "prime"}"#, "c.json").unwrap_err().to_string();
        assert!(e.contains("prime") && e.contains("not a Borzoi"), "{e}");
        let e = BorzoiConfig::from_json(r#"{"bins_to_return": 255}"#, "c.json").unwrap_err().to_string();
        assert!(e.contains("bins") && e.contains("odd"), "{e}");
        let e = BorzoiConfig::from_json("{", "c.json").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
    }

    #[test]
    fn lengths_are_checked() {
        let c = Preset::Borzoi.config();
        c.check_length(524_288).unwrap();
        assert!(c.check_length(524_289).unwrap_err().to_string().contains("multiple of 128"));
        let e = c.check_length(128 * 1000).unwrap_err().to_string();
        assert!(e.contains("fewer than the 6144"), "{e}");
        assert_eq!(c.output_window(524_288), (5120 * 32, 6144 * 32));
    }
}
