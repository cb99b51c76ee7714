//! The scooby module (gagneurlab/scooby `Scooby`): the Borzoi trunk through `final_joined_convs` (no head) with LoRA
//! adapters, the optional `transform_borzoi_emb` and the cell-state decoder `cell_state_to_conv`.
//!
//! Variables are named as scooby's PyTorch state dict: the trunk's borzoi-pytorch names, `transform_borzoi_emb.{0,2}.*`,
//! `cell_state_to_conv.{0,2,5,8}.*` (the `nn.Sequential` indices), and the adapters `<module>.lora_a` /
//! `<module>.lora_b` (peft's `<module>.lora_A.default.weight` / `lora_B`).
//!
//! Initialisation of the new layers: scooby's `__init__` zeroes the transform's second convolution and the decoder's
//! last bias, but the released models were built through transformers' `from_pretrained`, which re-initialises every
//! module missing from the Borzoi checkpoint with `Scooby._init_weights` afterwards: Xavier-normal weights and zero
//! biases for the transform and every decoder layer. We initialise that way (what training actually started from);
//! the zero transform would make every initial prediction independent of the sequence.
//!
//! Train mode (`train = true` in [`CellProfileModel::embed`] / [`CellProfileModel::cell_readout`]) is scooby's
//! `model.train()`: batch norms use batch statistics and update their moving averages, and every dropout is active.

use tch::{nn, Device, Kind, Tensor};

use super::config::ScoobyConfig;
use crate::adapters::{adapter_tensors, attach_lora, merge_lora, unmerge_lora};
use crate::models::borzoi::layers::{cast, dropout, Conv1d, Init, Linear};
use crate::models::borzoi::{Borzoi, BorzoiConfig, TrunkBackward, TrunkTraining, BIN_SIZE};
use crate::models::{CellProfileModel, GroupKind, ModelError, ModelFamily, ParameterGroup, SequenceModel};

/// `nn.Sequential` indices of the decoder's linear layers for `n` layers (scooby: 0, 2, 5, 8): each GELU follows its
/// linear, and a dropout follows the GELUs of the second and later hidden layers.
fn decoder_indices(n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        out.push(at);
        at += if i == 0 { 2 } else { 3 };
    }
    out
}

/// One of scooby's AdamW parameter groups (`add_weight_decay` in its training scripts).
#[derive(Debug)]
pub struct ScoobyParamGroup {
    /// `decoder` (the decoder's weight matrices), `adapters` (LoRA A/B and the transform's weights) or `vectors` (every
    /// trainable 1-D tensor: biases of the decoder and the transform).
    pub name: &'static str,
    /// scooby's learning rate for the group (4e-4, 1e-4, 1e-4).
    pub lr: f64,
    /// scooby's weight decay for the group (1e-6, 1e-6, 0).
    pub weight_decay: f64,
    /// `(name, tensor)`, sharing storage with the model.
    pub tensors: Vec<(String, Tensor)>,
}

impl ScoobyParamGroup {
    /// Number of scalars.
    pub fn numel(&self) -> usize {
        self.tensors.iter().map(|(_, t)| t.numel()).sum()
    }
}

/// scooby: trunk, adapters, transform, decoder.
#[derive(Debug)]
pub struct Scooby {
    config: ScoobyConfig,
    trunk: Borzoi,
    /// Adapters, transform and decoder.
    vs: nn::VarStore,
    adapted: Vec<String>,
    transform: Option<(Conv1d, Conv1d)>,
    decoder: Vec<Linear>,
}

impl Scooby {
    /// A fresh model of `config` on `device`: a randomly initialised trunk (borzoi-pytorch's `_init_weights`), then
    /// [`from_borzoi`](Scooby::from_borzoi).
    pub fn new(config: &ScoobyConfig, device: Device, seed: i64) -> Result<Scooby, ModelError> {
        config.validate()?;
        tch::manual_seed(seed);
        let trunk = Borzoi::new(&config.trunk, device, Init::Random)?;
        Scooby::build(trunk, config, seed, Init::Random)
    }

    /// scooby around an existing (e.g. pretrained) Borzoi: its trunk without heads (variables shared, frozen), LoRA
    /// adapters per `config.lora` (A seeded by `seed`, B zero), the transform and the decoder (Xavier-normal weights,
    /// zero biases; see the module notes). `config.trunk` is replaced by `borzoi`'s configuration.
    pub fn from_borzoi(borzoi: &Borzoi, config: &ScoobyConfig, seed: i64) -> Result<Scooby, ModelError> {
        let trunk = BorzoiConfig { human_tracks: None, mouse_tracks: None, ..borzoi.config().clone() };
        let config = ScoobyConfig { trunk, ..config.clone() };
        config.validate()?;
        let trunk = borzoi.without_heads()?;
        Scooby::build(trunk, &config, seed, Init::Random)
    }

    /// The layers around `trunk`; `init` Zeros for an import that overwrites everything.
    pub fn build(trunk: Borzoi, config: &ScoobyConfig, seed: i64, init: Init) -> Result<Scooby, ModelError> {
        config.validate()?;
        for (_, t) in trunk.var_store().variables() {
            let _ = t.set_requires_grad(false);
        }
        let device = trunk.device();
        // the new layers and the adapters' A are drawn from `seed` (offset from the trunk's in `new`)
        tch::manual_seed(seed.wrapping_add(1));
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let d = config.trunk.embedding_dim;
        let transform = config.transform.then(|| {
            let p = root.sub("transform_borzoi_emb");
            let first = Conv1d::new(&p.sub("0"), d, config.transform_dim, 1, 1, true, init);
            let second = Conv1d::new(&p.sub("2"), config.transform_dim, d, 1, 1, true, init);
            (first, second)
        });
        let mut dims = vec![config.state_dim];
        dims.extend(&config.decoder_hidden);
        dims.push(config.decoder_output());
        let idx = decoder_indices(dims.len() - 1);
        let decoder = dims
            .windows(2)
            .zip(&idx)
            .map(|(w, i)| Linear::new(&root.sub("cell_state_to_conv").sub(*i), w[0], w[1], true, init))
            .collect();
        let mut model = Scooby { config: config.clone(), trunk, vs, adapted: Vec::new(), transform, decoder };
        if let Some(lora) = &config.lora {
            let vs = std::mem::replace(&mut model.vs, nn::VarStore::new(device));
            let adapted = attach_lora(&mut model.trunk, &vs.root(), lora)
                .map_err(|e| ModelError::invalid("lora", e.to_string()))?;
            model.vs = vs;
            model.adapted = adapted;
        }
        Ok(model)
    }

    /// The configuration.
    pub fn config(&self) -> &ScoobyConfig {
        &self.config
    }

    /// The trunk (no heads; adapters attached).
    pub fn trunk(&self) -> &Borzoi {
        &self.trunk
    }

    /// The trunk, mutably (precision, bf16 storage).
    pub fn trunk_mut(&mut self) -> &mut Borzoi {
        &mut self.trunk
    }

    /// The names of the adapted trunk layers.
    pub fn adapted_layers(&self) -> &[String] {
        &self.adapted
    }

    /// Folds the adapters into the trunk weights (scooby's `merge_and_unload` without the unload); returns how many.
    pub fn merge_adapters(&mut self) -> usize {
        merge_lora(&mut self.trunk)
    }

    /// Undoes [`merge_adapters`](Scooby::merge_adapters).
    pub fn unmerge_adapters(&mut self) -> usize {
        unmerge_lora(&mut self.trunk)
    }

    /// The adapter tensors (`<module>.lora_a`, `<module>.lora_b`).
    pub fn adapters(&mut self) -> Vec<(String, Tensor)> {
        adapter_tensors(&mut self.trunk)
    }

    /// `(B, 4, seq_len)` → `(B, D, bins)` fp32, with errors instead of panics.
    pub fn try_embed(&self, onehot: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        Ok(self.transformed(self.trunk.embedding(onehot, train)?))
    }

    /// The transform layer (if any) on the trunk's embedding `(B, D, bins)`, fp32.
    fn transformed(&self, x: Tensor) -> Tensor {
        match &self.transform {
            Some((a, b)) => {
                let kind = self.trunk.precision().compute_kind();
                cast(&b.forward(&a.forward(&x, kind).gelu("none"), kind).gelu("none"), Kind::Float)
            }
            None => x,
        }
    }

    /// Sets the training-mode settings of the trunk (synchronised batch norm; dropout, the decoder's included) until
    /// the returned guard drops, which restores the defaults (per-process batch statistics, dropout on).
    pub fn training(&mut self, settings: TrunkTraining) -> ScoobyTraining<'_> {
        self.trunk.set_training(settings);
        ScoobyTraining(self)
    }

    /// The decoder: `(m, E)` → `(m, (D + 1)·T)` fp32, output index `t·(D + 1) + d`.
    pub fn decoder_output(&self, states: &Tensor, train: bool) -> Tensor {
        let last = self.decoder.len() - 1;
        let mut x = cast(states, Kind::Float);
        for (i, layer) in self.decoder.iter().enumerate() {
            x = layer.forward(&x, Kind::Float);
            if i < last {
                x = x.gelu("none");
                if i >= 1 {
                    x = dropout(&x, self.config.decoder_dropout, self.trunk.training().dropout_on(train));
                }
            }
        }
        x
    }

    /// Trainable variables of the new layers, sorted by name: `(name, tensor)`.
    fn own(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// scooby's AdamW groups: `decoder` (decoder weights: lr 4e-4, wd 1e-6), `adapters` (LoRA and transform weights:
    /// 1e-4, 1e-6), `vectors` (every 1-D tensor: 1e-4, no decay). The frozen trunk is in none.
    pub fn scooby_param_groups(&self) -> Vec<ScoobyParamGroup> {
        let mut groups = [
            ScoobyParamGroup { name: "decoder", lr: 4e-4, weight_decay: 1e-6, tensors: Vec::new() },
            ScoobyParamGroup { name: "adapters", lr: 1e-4, weight_decay: 1e-6, tensors: Vec::new() },
            ScoobyParamGroup { name: "vectors", lr: 1e-4, weight_decay: 0.0, tensors: Vec::new() },
        ];
        for (n, t) in self.own() {
            let g = if t.dim() <= 1 {
                2
            } else if n.starts_with("cell_state_to_conv.") {
                0
            } else {
                1
            };
            groups[g].tensors.push((n, t));
        }
        groups.into_iter().collect()
    }
}

/// A [`Scooby`] with training-mode settings for one training run ([`Scooby::training`]); resets them on drop.
pub struct ScoobyTraining<'a>(&'a mut Scooby);

impl std::ops::Deref for ScoobyTraining<'_> {
    type Target = Scooby;
    fn deref(&self) -> &Scooby {
        self.0
    }
}

impl Drop for ScoobyTraining<'_> {
    fn drop(&mut self) {
        self.0.trunk.set_training(TrunkTraining::default());
    }
}

impl CellProfileModel for Scooby {
    fn device(&self) -> Device {
        self.trunk.device()
    }

    fn seq_len(&self) -> usize {
        self.config.trunk.seq_len
    }

    fn bins(&self) -> usize {
        self.config.trunk.bins
    }

    fn bin_size(&self) -> usize {
        BIN_SIZE
    }

    fn n_tracks(&self) -> usize {
        self.config.tracks
    }

    fn state_dim(&self) -> usize {
        self.config.state_dim
    }

    fn embedding_dim(&self) -> usize {
        self.config.trunk.embedding_dim
    }

    fn try_embed(&self, onehot: &Tensor, train: bool) -> Result<Tensor, ModelError> {
        Scooby::try_embed(self, onehot, train)
    }

    fn embed(&self, onehot: &Tensor, train: bool) -> Tensor {
        match self.try_embed(onehot, train) {
            Ok(e) => e,
            Err(e) => panic!("Scooby::embed: {e}"),
        }
    }

    /// The trunk through its crop with activation checkpointing ([`Borzoi::trunk_checkpointed`]); `final_joined_convs`,
    /// the transform, the decoder and the read-out with gradients as usual.
    fn try_forward_checkpointed(
        &self,
        onehot: &Tensor,
        states: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Option<TrunkBackward<'_>>), ModelError> {
        let (trunk, tape) = self.trunk.trunk_checkpointed(onehot, train)?;
        let emb = self.transformed(self.trunk.joined(&trunk, train)?);
        let pred = self.forward_embedded(&emb, states, train);
        Ok((pred, tape.map(|tape| TrunkBackward { model: &self.trunk, tape })))
    }

    /// scooby's `forward_cell_embs_only`: the decoder output `(m, T·(D + 1))` read as `(m, T, D + 1)` — index
    /// `t·(D + 1) + d`, `d < D` a weight, `d = D` the bias — and flattened to rows `cell·T + t`.
    fn cell_readout(&self, states: &Tensor, train: bool) -> (Tensor, Tensor) {
        let d = self.config.trunk.embedding_dim as i64;
        let m = states.size()[0];
        let wb = self.decoder_output(states, train).reshape([m * self.config.tracks as i64, d + 1]);
        (wb.narrow(1, 0, d), wb.select(1, d))
    }
}

/// The model seen as a [`SequenceModel`] (for [`crate::models::save_state`] / [`crate::models::load_state`]) without
/// making `Scooby` one: its method names would clash with [`CellProfileModel`]'s.
pub struct StateView<'a>(pub &'a Scooby);

impl Scooby {
    /// This model as a [`SequenceModel`] (state, parameter groups, summary; save and load through
    /// [`crate::models::save_state`] / [`crate::models::load_state`]).
    pub fn as_sequence_model(&self) -> StateView<'_> {
        StateView(self)
    }

    /// Every tensor by name (trunk, adapters, transform, decoder, batch-norm statistics), sharing storage.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.as_sequence_model().state()
    }

    /// Trunk (frozen), adapters, head (transform and decoder).
    pub fn parameter_groups(&self) -> Vec<ParameterGroup> {
        self.as_sequence_model().parameter_groups()
    }

    /// Writes [`state`](Scooby::state) to a safetensors file (atomically).
    pub fn save(&self, path: &std::path::Path) -> crate::Result<()> {
        crate::models::save_state(&self.as_sequence_model(), path)
    }

    /// Reads a file written by [`save`](Scooby::save) (same configuration) into this model.
    pub fn load(&self, path: &std::path::Path) -> crate::Result<()> {
        crate::models::load_state(&self.as_sequence_model(), path)
    }
}

impl SequenceModel for StateView<'_> {
    fn family(&self) -> ModelFamily {
        ModelFamily::Borzoi
    }

    fn device(&self) -> Device {
        self.0.trunk.device()
    }

    fn seq_len(&self) -> usize {
        self.0.config.trunk.seq_len
    }

    fn embedding_dim(&self) -> usize {
        self.0.config.trunk.embedding_dim
    }

    fn bins(&self) -> Option<usize> {
        Some(self.0.config.trunk.bins)
    }

    fn embed(&self, onehot: &Tensor, train: bool) -> Tensor {
        CellProfileModel::embed(self.0, onehot, train)
    }

    /// Trunk (frozen, listed for completeness), adapters, head (transform and decoder).
    fn parameter_groups(&self) -> Vec<ParameterGroup> {
        let trunk = self.0.trunk.parameter_groups().into_iter().flat_map(|g| g.tensors).collect();
        let (adapters, head): (Vec<_>, Vec<_>) =
            self.0.own().into_iter().partition(|(n, _)| n.ends_with(".lora_a") || n.ends_with(".lora_b"));
        vec![
            ParameterGroup { kind: GroupKind::Trunk, tensors: trunk },
            ParameterGroup { kind: GroupKind::Adapters, tensors: adapters },
            ParameterGroup { kind: GroupKind::Head, tensors: head },
        ]
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = self.0.trunk.state();
        v.extend(self.0.own());
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn summary(&self) -> String {
        let groups = self.parameter_groups();
        let count = |k: GroupKind| groups.iter().filter(|g| g.kind == k).map(ParameterGroup::numel).sum::<usize>();
        let c = &self.0.config;
        format!(
            "scooby: Borzoi trunk {} parameters (frozen), {} LoRA adapters {} parameters, transform {}, decoder \
             {} → {} → {}·{} = {} outputs; {} parameters in transform + decoder\n",
            count(GroupKind::Trunk),
            self.0.adapted.len(),
            count(GroupKind::Adapters),
            if c.transform {
                format!("{} → {} → {}", c.trunk.embedding_dim, c.transform_dim, c.trunk.embedding_dim)
            } else {
                "off".into()
            },
            c.state_dim,
            c.decoder_hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(" → "),
            c.trunk.embedding_dim + 1,
            c.tracks,
            c.decoder_output(),
            count(GroupKind::Head),
        )
    }
}
