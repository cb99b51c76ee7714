//! What `train_scbasset` and `lora_finetune` share in the language: the training inputs read from a dataset (peak
//! sequences, open cells, the seeded peak split), the genome and batch options, and the session observer that shows
//! a progress bar, a log line and a live training-curve figure.

use std::sync::Arc;

use gscript_lang::{primitive_error, Host, ProgressBar};
use gscript_runtime::data::{CellRows, PeakDataset, Split};
use gscript_runtime::plot::{Figure, TrainingOptions, TrainingSeries};
use gscript_runtime::seq::{peak_codes, SeqCodes};
use gscript_runtime::train::{EpochStats, History, TrainData, TrainError, TrainObserver};

use crate::bridge::{cancel_token, in_primitive, ScriptResult, SessionProgress};
use crate::plot::figure_bundle;
use crate::seq::GenomeValue;
use crate::values::peak_data::PeakData;

fn training_figure(h: &History) -> Option<Figure> {
    let series = |name: &str, f: &dyn Fn(&EpochStats) -> Option<f64>| {
        TrainingSeries::new(name, h.epochs.iter().map(|e| f(e).unwrap_or(f64::NAN)).collect())
    };
    let mut s = vec![series("train loss", &|e| Some(e.train_loss)), series("train auROC", &|e| e.train_auroc)];
    if h.epochs.iter().any(|e| e.val_loss.is_some()) {
        s.push(series("val loss", &|e| e.val_loss));
        s.push(series("val auROC", &|e| e.val_auroc));
    }
    Figure::training(s, TrainingOptions { title: "scBasset training".into(), ..TrainingOptions::default() }).ok()
}

/// Progress bar per batch, a log line and a live figure per epoch.
pub(crate) struct SessionObserver {
    pub(crate) host: Arc<Host>,
    pub(crate) bar: ProgressBar,
    pub(crate) n_batches_total: u64,
    pub(crate) display_id: String,
    pub(crate) shown: bool,
}

impl TrainObserver for SessionObserver {
    fn on_warning(&mut self, message: &str) {
        self.host.warn(message);
    }
    fn on_resume(&mut self, path: &std::path::Path, epochs_done: usize, epochs: usize) {
        self.host.eprint(&format!("resuming from {} after epoch {epochs_done} of {epochs}\n", path.display()));
    }
    fn on_batch(&mut self, epoch: usize, batch: usize, n_batches: usize, running_loss: f64) -> Result<(), TrainError> {
        let pos = ((epoch - 1) * n_batches + batch) as u64;
        self.bar.update(pos.min(self.n_batches_total), &format!("epoch {epoch} loss {running_loss:.4}"));
        Ok(())
    }
    fn on_epoch(&mut self, s: &EpochStats, h: &History) -> Result<(), TrainError> {
        let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
        self.bar.update(
            self.bar_position(),
            &format!(
                "epoch {} loss {:.4} auROC {} val auROC {}",
                s.epoch,
                s.train_loss,
                f(s.train_auroc),
                f(s.val_auroc)
            ),
        );
        if let Some(fig) = training_figure(h) {
            self.host.display_live(&figure_bundle(&fig), &self.display_id, !self.shown);
            self.shown = true;
        }
        Ok(())
    }
}

impl SessionObserver {
    fn bar_position(&self) -> u64 {
        self.bar.position()
    }
}

/// The genome to read the data's peak sequences from: the `genome` option, else the one attached to the data. It
/// must hold every chromosome the peaks lie on.
/// What training reads from a dataset: its peaks' sequence codes (extracted with progress), each peak's open cells
/// and the seeded 90/5/5 peak split — built the same way for train_scbasset and lora_finetune.
pub(crate) struct TrainingInputs {
    codes: SeqCodes,
    positives: CellRows,
    split: Split,
    n_cells: usize,
}

impl TrainingInputs {
    pub(crate) fn new(
        primitive: &'static str,
        host: &Arc<Host>,
        genome: &GenomeValue,
        d: &PeakDataset,
        seq_len: usize,
        seed: u64,
    ) -> ScriptResult<Self> {
        let cancel = cancel_token(host);
        let codes = peak_codes(&genome.0, &d.peaks, seq_len as u64, seed, &mut SessionProgress::new(host), &cancel)
            .map_err(in_primitive(primitive))?;
        let positives = CellRows::from_matrix(&d.matrix);
        let split = Split::new(d.n_peaks(), 0.9, seed).map_err(in_primitive(primitive))?;
        Ok(TrainingInputs { codes, positives, split, n_cells: d.n_cells() })
    }

    pub(crate) fn data(&self) -> TrainData<'_> {
        TrainData {
            codes: &self.codes.codes,
            seq_len: self.codes.length,
            n_cells: self.n_cells,
            positives: &self.positives,
            train: &self.split.train,
            val: &self.split.val,
        }
    }
}

pub(crate) fn genome_for(
    primitive: &str,
    data: &PeakData,
    option: Option<&gscript_lang::rhai::Dynamic>,
) -> ScriptResult<GenomeValue> {
    let genome = match option {
        Some(g) => g.clone().try_cast::<GenomeValue>().ok_or_else(|| primitive_error(primitive, Some("genome"), "expected a Genome from load_genome"))?,
        None => data.1.clone().ok_or_else(|| {
            primitive_error(
                primitive,
                Some("genome"),
                "the data has no genome attached: pass #{genome: load_genome(\"genome.fa\")} (or load the data with load_peaks(path, #{genome: g}))",
            )
        })?,
    };
    let missing = data.0.missing_chromosomes(&genome.0);
    if !missing.is_empty() {
        return Err(primitive_error(
            primitive,
            Some("genome"),
            &format!("peaks lie on chromosomes the genome lacks: {}", missing.join(", ")),
        ));
    }
    Ok(genome)
}

/// Cells' batch indices and batch names from an obs column (categories in their stored order).
pub(crate) fn batches_of(primitive: &str, data: &PeakData, column: &str) -> ScriptResult<(Vec<usize>, Vec<String>)> {
    let p = primitive;
    let col = data.0.cells.column(column).map_err(|e| primitive_error(p, Some("batch"), &e.to_string()))?;
    let labels = col.labels();
    let mut names: Vec<String> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut cell_batch = Vec::with_capacity(labels.len());
    for (c, l) in labels.iter().enumerate() {
        if l.is_empty() || l == "NA" || l == "nan" {
            return Err(primitive_error(
                p,
                Some("batch"),
                &format!("cell {} ({}) has no value in column `{column}`", c, data.0.cells.barcodes[c]),
            ));
        }
        let k = *index.entry(l.clone()).or_insert_with(|| {
            names.push(l.clone());
            names.len() - 1
        });
        cell_batch.push(k);
    }
    if names.len() < 2 {
        return Err(primitive_error(
            p,
            Some("batch"),
            &format!(
                "column `{column}` has a single value ({}): batch correction needs at least two batches",
                names.join("")
            ),
        ));
    }
    Ok((cell_batch, names))
}
