//! The trained-model value of the language (`ScBassetModel`): a network, its variables and what it was trained on,
//! plus the LoRA adapters and head `lora_finetune` added. Shared by the model, fine-tuning and interpretation areas.

use std::sync::{Arc, Mutex};

use gscript_runtime::adapters::LoraConfig;
use gscript_runtime::heads::CellStateDecoder;
use gscript_runtime::models::scbasset::{ModelMeta, ScBasset};
use tch::nn;

use crate::values::Matrix;

/// A model and what it was trained on.
pub struct TrainedModel {
    pub vs: nn::VarStore,
    pub net: ScBasset,
    pub meta: ModelMeta,
    /// LoRA adapters and the fine-tuning head, for models made by `lora_finetune`.
    pub tuning: Option<Tuning>,
}

/// The model as a script value (tensors live behind a mutex: values must be shareable).
#[derive(Clone)]
pub struct ModelValue(pub Arc<Mutex<TrainedModel>>);

impl ModelValue {
    pub fn new(model: TrainedModel) -> Self {
        ModelValue(Arc::new(Mutex::new(model)))
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, TrainedModel> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn text(&self) -> String {
        let m = self.lock();
        let c = m.net.config();
        let best = m
            .meta
            .history
            .best()
            .map(|b| format!(", best train auROC {:.3} at epoch {}", b.train_auroc.unwrap_or(f64::NAN), b.epoch))
            .unwrap_or_default();
        let batches = m.meta.batch_names.as_ref().map(|b| format!(", {} batches", b.len())).unwrap_or_default();
        let batches = match &m.tuning {
            Some(t) => format!("{batches}, {}", t.describe()),
            None => batches,
        };
        format!(
            "ScBassetModel({}, {} bp, {} cells{batches}, {} parameters, {}; {} epochs{best})",
            m.meta.preset,
            c.seq_len,
            c.n_cells,
            m.net.trainable_parameter_count(),
            device_name(m.net.device()),
            m.meta.history.len()
        )
    }
}

pub(crate) fn device_name(d: tch::Device) -> String {
    match d {
        tch::Device::Cpu => "cpu".into(),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A CPU fp32 `(rows, cols)` tensor as a Matrix.
pub(crate) fn tensor_matrix(t: &tch::Tensor) -> Matrix {
    let t = t.to_kind(tch::Kind::Float).to_device(tch::Device::Cpu).contiguous();
    let (r, c) = (t.size()[0] as usize, t.size()[1] as usize);
    let v: Vec<f32> = Vec::try_from(t.reshape([-1])).unwrap_or_else(|_| vec![f32::NAN; r * c]);
    Matrix::new(r, c, v)
}

/// A cell-state decoder with the standardisation of its inputs.
pub struct DecoderState {
    pub vs: nn::VarStore,
    pub net: CellStateDecoder,
    /// Column means and standard deviations of the training cells' embeddings (inputs are standardised).
    pub mean: Vec<f32>,
    pub sd: Vec<f32>,
}

/// What `lora_finetune` added to a model.
pub struct Tuning {
    pub adapter_vs: nn::VarStore,
    pub lora: LoraConfig,
    pub adapted: Vec<String>,
    pub merged: bool,
    /// "cells" or "decoder".
    pub head: String,
    pub decoder: Option<DecoderState>,
    pub trainable: usize,
    pub frozen: usize,
    /// FNV-1a of the base model's trunk weights: adapters only fit that model.
    pub base_fingerprint: String,
}

impl Tuning {
    pub fn describe(&self) -> String {
        format!(
            "LoRA r={} α={} on {} layers{}, head {}, {} trainable / {} frozen parameters",
            self.lora.rank,
            self.lora.alpha,
            self.adapted.len(),
            if self.merged { " (merged)" } else { "" },
            self.head,
            gscript_runtime::plot::group_thousands(self.trainable as i64),
            gscript_runtime::plot::group_thousands(self.frozen as i64)
        )
    }
}
