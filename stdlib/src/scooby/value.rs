//! The `ScoobyModel` script value.
//!
//! For other files of this package (prediction and training register methods on this type): the value is
//! `ScoobyModel(pub Arc<Mutex<ScoobyState>>)`; `model.lock()` gives a `MutexGuard<ScoobyState>` whose `net` is the
//! runtime's [`Scooby`] (a `gscript_runtime::models::CellProfileModel`);
//! `ScoobyModel::new(ScoobyState { net, name, history })` wraps a model (e.g. one a training run produced), and [`ScoobyModel::from_borzoi`] builds scooby around the trunk
//! of a `BorzoiModel` value (variables shared with it, frozen; adapters, transform and decoder new). Methods register
//! on the type name `"ScoobyModel"`.

use std::sync::{Arc, Mutex, MutexGuard};

use gscript_runtime::models::scooby::{Scooby, ScoobyConfig};
use gscript_runtime::models::{ModelError, SequenceModel};
use gscript_runtime::train::History;

use crate::borzoi::BorzoiModel;
use crate::values::matrix::html_escape;
use crate::values::model::device_name;

/// A scooby model, its display name and the per-epoch history of its last training run in this session.
pub struct ScoobyState {
    pub net: Scooby,
    /// `scooby neurips`, `scooby tiny, untrained`, … (what `to_string` starts with).
    pub name: String,
    /// Epochs of the last `train` / `lora_finetune` (empty until then; not saved with the model).
    pub history: History,
}

/// The model as a script value (shared; tensors behind a mutex, as every model value).
#[derive(Clone)]
pub struct ScoobyModel(pub Arc<Mutex<ScoobyState>>);

impl ScoobyModel {
    pub fn new(state: ScoobyState) -> Self {
        ScoobyModel(Arc::new(Mutex::new(state)))
    }

    pub fn lock(&self) -> MutexGuard<'_, ScoobyState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// scooby around `borzoi`'s trunk (see [`Scooby::from_borzoi`]); `config.trunk` is replaced by the Borzoi's.
    pub fn from_borzoi(borzoi: &BorzoiModel, config: &ScoobyConfig, seed: i64) -> Result<ScoobyModel, ModelError> {
        let b = borzoi.lock();
        let net = Scooby::from_borzoi(&b.net, config, seed)?;
        Ok(ScoobyModel::new(ScoobyState { net, name: format!("scooby on {}", b.name), history: History::default() }))
    }

    /// `scooby tiny, untrained (E 8, T 3: RNA +, RNA -, ATAC; 8,192 bp → 128 × 32 bp; 20 adapters; cpu fp32)`.
    pub fn text(&self) -> String {
        let st = self.lock();
        let c = st.net.config();
        let t = st.net.trunk().config();
        format!(
            "{} (E {}, T {}: {}; {} bp → {} × 32 bp; {} adapters; {} {})",
            st.name,
            c.state_dim,
            c.tracks,
            c.track_names().join(", "),
            group(t.seq_len),
            group(t.bins),
            st.net.adapted_layers().len(),
            device_name(st.net.trunk().device()),
            st.net.trunk().precision().name()
        )
    }

    /// Parameter counts: (group, scalars, trainable).
    pub fn counts(&self) -> Vec<(String, usize, bool)> {
        let st = self.lock();
        let mut out = Vec::new();
        for g in st.net.parameter_groups() {
            let name = format!("{:?}", g.kind).to_lowercase();
            let trainable = g.kind != gscript_runtime::models::GroupKind::Trunk;
            out.push((name, g.numel(), trainable));
        }
        out
    }

    pub(crate) fn html(&self) -> String {
        let mut s = format!(
            "<div><b>{}</b><table><thead><tr><th>group</th><th>parameters</th><th>trains</th></tr></thead><tbody>",
            html_escape(&self.text())
        );
        for (g, n, t) in self.counts() {
            s.push_str(&format!(
                "<tr><td>{}</td><td style=\"text-align:right\">{}</td><td>{}</td></tr>",
                html_escape(&g),
                group(n),
                if t { "yes" } else { "frozen" }
            ));
        }
        s.push_str("</tbody></table></div>");
        s
    }
}

pub(crate) fn group(n: usize) -> String {
    gscript_runtime::plot::group_thousands(n as i64)
}
