//! scooby's configuration (gagneurlab/scooby `Scooby.__init__` and the training scripts): the Borzoi trunk, the
//! cell-state width E, the tracks per cell T, the transform layer, the LoRA settings and the decoder's shape.

use crate::adapters::LoraConfig;
use crate::models::borzoi::{BorzoiConfig, Preset};
use crate::models::ModelError;

/// Everything that shapes a scooby model.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoobyConfig {
    /// The trunk (its heads are ignored: scooby deletes `human_head`).
    pub trunk: BorzoiConfig,
    /// Width of a cell-state embedding (E; `cell_emb_dim`): 14 for the NeurIPS multiome model, 10 for onek1k.
    pub state_dim: usize,
    /// Tracks per cell (T; `n_tracks`): 3 = RNA +, RNA −, ATAC; 2 = RNA +, RNA −; 1 = one unstranded track.
    pub tracks: usize,
    /// `transform_borzoi_emb`: Conv1d(D → `transform_dim`, 1) GELU Conv1d(→ D, 1) GELU on the embedding, not residual.
    pub transform: bool,
    /// Hidden width of the transform layer (4,096).
    pub transform_dim: usize,
    /// LoRA on the trunk (scooby: r 8, α 8 on [`scooby_lora`]'s targets), or none.
    pub lora: Option<LoraConfig>,
    /// Hidden widths of the cell-state decoder (128, 256, 1,024).
    pub decoder_hidden: Vec<usize>,
    /// Dropout after the decoder's second and later hidden layers (0.2).
    pub decoder_dropout: f64,
}

/// scooby's LoRA (`get_lora`: `peft.LoraConfig(r=8, lora_alpha=8)`, target regex
/// `(?!separable\d+).*conv_layer|.*to_q|.*to_v|transformer\.\d+\.1\.fn\.1|transformer\.\d+\.1\.fn\.4`) as layer globs
/// over [`Borzoi`](crate::models::borzoi::Borzoi)'s adaptable layers: the 12 non-separable convolutions and q, v and
/// both MLP linears of every transformer block.
pub fn scooby_lora() -> LoraConfig {
    LoraConfig {
        rank: 8,
        alpha: 8.0,
        targets: ["*conv_layer", "*.to_q", "*.to_v", "transformer.*.1.fn.1", "transformer.*.1.fn.4"]
            .map(String::from)
            .to_vec(),
    }
}

/// Released and test configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoobyPreset {
    /// `johahi/neurips-scooby`: multiome (RNA +, RNA −, ATAC), E 14 (PoissonMultiVI), transform layer.
    Neurips,
    /// `lauradmartens/onek1k-scooby`: RNA (+, −), E 10, transform layer.
    Onek1k,
    /// The tiny Borzoi trunk (8,192 bp → 128 bins, D 96), E 8, T 3, transform 96 → 128 → 96: tests and examples.
    Tiny,
}

impl ScoobyPreset {
    /// Every preset with its name.
    pub const ALL: [(&'static str, ScoobyPreset); 3] =
        [("neurips", ScoobyPreset::Neurips), ("onek1k", ScoobyPreset::Onek1k), ("tiny", ScoobyPreset::Tiny)];

    /// The preset called `name`, or an error listing the valid names.
    pub fn parse(name: &str) -> Result<ScoobyPreset, ModelError> {
        ScoobyPreset::ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p).ok_or_else(|| {
            let names: Vec<&str> = ScoobyPreset::ALL.iter().map(|(n, _)| *n).collect();
            ModelError::invalid("preset", format!("unknown preset \"{name}\"; valid: {}", names.join(", ")))
        })
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        ScoobyPreset::ALL.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// Its configuration.
    pub fn config(self) -> ScoobyConfig {
        let full = ScoobyConfig::new(Preset::Borzoi.config(), 14, 3);
        match self {
            ScoobyPreset::Neurips => full,
            ScoobyPreset::Onek1k => ScoobyConfig { state_dim: 10, tracks: 2, ..full },
            ScoobyPreset::Tiny => ScoobyConfig { transform_dim: 128, ..ScoobyConfig::new(Preset::Tiny.config(), 8, 3) },
        }
    }
}

impl ScoobyConfig {
    /// scooby's defaults around `trunk` (heads dropped): transform on, LoRA r 8 α 8, decoder 128/256/1,024, dropout 0.2.
    pub fn new(trunk: BorzoiConfig, state_dim: usize, tracks: usize) -> ScoobyConfig {
        ScoobyConfig {
            trunk: BorzoiConfig { human_tracks: None, mouse_tracks: None, ..trunk },
            state_dim,
            tracks,
            transform: true,
            transform_dim: 4096,
            lora: Some(scooby_lora()),
            decoder_hidden: vec![128, 256, 1024],
            decoder_dropout: 0.2,
        }
    }

    /// What each track of a cell is, in channel order.
    pub fn track_names(&self) -> Vec<&'static str> {
        match self.tracks {
            3 => vec!["RNA +", "RNA -", "ATAC"],
            2 => vec!["RNA +", "RNA -"],
            _ => vec!["track"],
        }
    }

    /// Width of the decoder's output: `(D + 1)·T`.
    pub fn decoder_output(&self) -> usize {
        (self.trunk.embedding_dim + 1) * self.tracks
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.trunk.validate()?;
        if self.state_dim == 0 {
            return Err(ModelError::invalid("state_dim", "must be at least 1"));
        }
        if !(1..=3).contains(&self.tracks) {
            return Err(ModelError::invalid(
                "tracks",
                format!("{} tracks; scooby predicts 1, 2 (RNA +, −) or 3 (RNA +, −, ATAC)", self.tracks),
            ));
        }
        if self.transform && self.transform_dim == 0 {
            return Err(ModelError::invalid("transform_dim", "must be at least 1"));
        }
        if self.decoder_hidden.is_empty() || self.decoder_hidden.contains(&0) {
            return Err(ModelError::invalid("decoder_hidden", "needs at least one layer, each at least 1 wide"));
        }
        if !(0.0..1.0).contains(&self.decoder_dropout) {
            return Err(ModelError::invalid("decoder_dropout", "must be in [0, 1)"));
        }
        Ok(())
    }
}
