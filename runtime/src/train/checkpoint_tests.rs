//! Tests of checkpoint rotation and fallback (`<path>.prev`), of corrupted checkpoints naming the tensor, and of a
//! non-finite loss leaving the last good checkpoint in place, on the model-free least-squares objective of
//! trainer_tests.

use std::path::{Path, PathBuf};

use tch::Tensor;

use super::trainer_tests::{fit_w, loop_config, LeastSquares};
use super::*;

/// Records warnings.
#[derive(Default)]
struct Warnings(Vec<String>);

impl TrainObserver for Warnings {
    fn on_warning(&mut self, message: &str) {
        self.0.push(message.to_string());
    }
}

/// Wraps an objective and makes its loss NaN from `(epoch, batch)` on (both from 1).
struct PoisonAt<'a> {
    inner: &'a mut LeastSquares,
    at: (usize, usize),
    epoch: usize,
    batch: usize,
}

impl Objective for PoisonAt<'_> {
    fn n_train(&self) -> usize {
        self.inner.n_train()
    }
    fn n_val(&self) -> usize {
        0
    }
    fn begin_epoch(&mut self, epoch: usize, seed: u64) -> Result<(), TrainError> {
        (self.epoch, self.batch) = (epoch + 1, 0);
        self.inner.begin_epoch(epoch, seed)
    }
    fn train_loss(&mut self, batch: &[usize]) -> Result<Tensor, TrainError> {
        self.batch += 1;
        let loss = self.inner.train_loss(batch)?;
        Ok(if (self.epoch, self.batch) >= self.at { loss * f64::NAN } else { loss })
    }
    fn train_metrics(&mut self) -> Result<TrainMetrics, TrainError> {
        self.inner.train_metrics()
    }
    fn begin_validation(&mut self) -> Result<(), TrainError> {
        Ok(())
    }
    fn validate(&mut self, _batch: &[usize]) -> Result<(), TrainError> {
        Ok(())
    }
    fn val_metrics(&mut self) -> Result<ValMetrics, TrainError> {
        Ok(ValMetrics::default())
    }
}

/// Trains a fresh least-squares objective (weights from zero) with `config`; returns its final weights.
fn run(
    config: TrainerConfig,
    observer: &mut dyn TrainObserver,
    poison: Option<(usize, usize)>,
) -> (Vec<f32>, Result<TrainOutcome, TrainError>) {
    let mut ls = LeastSquares::new();
    let w = ls.w.shallow_clone();
    let out = match poison {
        Some(at) => fit_w(&mut PoisonAt { inner: &mut ls, at, epoch: 0, batch: 0 }, &w, config, vec![], observer),
        None => fit_w(&mut ls, &w, config, vec![], observer),
    };
    (Vec::try_from(ls.w.detach()).unwrap(), out)
}

fn stored_weights(path: &Path) -> (usize, Vec<f32>) {
    let c = load_checkpoint(path).unwrap();
    (c.meta.epochs_done, Vec::try_from(&c.tensors["model/w"]).unwrap())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gscript-ck-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn truncate_to_half(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn the_previous_checkpoint_is_kept_and_used_when_the_newest_is_truncated() {
    let _rng = crate::testing::torch_rng_lock();
    let dir = temp_dir("prev");
    let ck = dir.join("ck.safetensors");
    let (w2, out) = run(TrainerConfig { checkpoint: Some(ck.clone()), ..loop_config(2, 4) }, &mut (), None);
    out.unwrap();
    let (done, stored2) = stored_weights(&ck);
    assert_eq!((done, &stored2), (2, &w2));
    let (done_prev, stored1) = stored_weights(&previous_path(&ck));
    assert_eq!(done_prev, 1);
    let (w1, _) = run(loop_config(1, 4), &mut (), None);
    assert_eq!(stored1, w1, "`.prev` holds the epoch-1 weights");
    assert_ne!(stored1, stored2);
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");

    // the newest truncated (a kill while copying it, say): resume falls back to epoch 1 with a warning and continues
    // exactly as the uninterrupted run
    truncate_to_half(&ck);
    let mut warnings = Warnings::default();
    let resume = TrainerConfig { resume: Some(ck.clone()), ..loop_config(3, 4) };
    let (w_resumed, out) = run(resume.clone(), &mut warnings, None);
    assert_eq!(out.unwrap().history.len(), 3);
    let (w_straight, _) = run(loop_config(3, 4), &mut (), None);
    assert_eq!(w_resumed, w_straight);
    assert_eq!(warnings.0.len(), 1, "{:?}", warnings.0);
    let w = &warnings.0[0];
    assert!(w.contains("ck.safetensors.prev") && w.contains("epoch 1") && w.contains("not a readable"), "{w}");

    // a resume for no further epoch puts back exactly the previous checkpoint's weights
    let (w_back, _) = run(TrainerConfig { epochs: 1, ..resume.clone() }, &mut Warnings::default(), None);
    assert_eq!(w_back, stored1);

    // a missing newest file falls back too; both unusable: an error naming both files
    std::fs::remove_file(&ck).unwrap();
    let (w_back, _) = run(TrainerConfig { epochs: 1, ..resume.clone() }, &mut Warnings::default(), None);
    assert_eq!(w_back, stored1);
    std::fs::write(&ck, b"not a checkpoint").unwrap();
    truncate_to_half(&previous_path(&ck));
    let err = run(resume, &mut (), None).1.unwrap_err().to_string();
    assert!(err.contains("ck.safetensors:") && err.contains("ck.safetensors.prev:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The header JSON of a safetensors file and the offset where it ends.
fn header(bytes: &[u8]) -> (String, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (String::from_utf8(bytes[8..8 + n].to_vec()).unwrap(), 8 + n)
}

/// Rewrites the header of the safetensors file at `path` with `edit` applied, padded to the same length.
fn edit_header(path: &Path, edit: impl Fn(&str) -> String) {
    let bytes = std::fs::read(path).unwrap();
    let (h, end) = header(&bytes);
    let mut new = edit(&h);
    assert_ne!(new, h, "the edit must change the header");
    assert!(new.len() <= h.len());
    while new.len() < h.len() {
        new.push(' ');
    }
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_corrupted_checkpoint_names_the_tensor() {
    let _rng = crate::testing::torch_rng_lock();
    let dir = temp_dir("corrupt");
    let ck = dir.join("ck.safetensors");
    run(TrainerConfig { checkpoint: Some(ck.clone()), ..loop_config(1, 4) }, &mut (), None).1.unwrap();
    let pristine = std::fs::read(&ck).unwrap();
    let resume = TrainerConfig { resume: Some(ck.clone()), ..loop_config(2, 4) };

    // the dtype of the weights changed (same byte size): the kind mismatch names the tensor
    edit_header(&ck, |h| h.replacen("\"model/w\":{\"dtype\":\"F32\"", "\"model/w\":{\"dtype\":\"I32\"", 1));
    let err = run(resume.clone(), &mut (), None).1.unwrap_err().to_string();
    assert!(err.contains("model/w") && err.contains("ck.safetensors"), "{err}");

    // a shape that does not match the stored bytes: the tensor is named
    std::fs::write(&ck, &pristine).unwrap();
    edit_header(&ck, |h| {
        h.replacen("\"model/w\":{\"dtype\":\"F32\",\"shape\":[3]", "\"model/w\":{\"dtype\":\"F32\",\"shape\":[2]", 1)
    });
    let err = run(resume, &mut (), None).1.unwrap_err().to_string();
    assert!(err.contains("model/w") && err.contains("ck.safetensors"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_non_finite_loss_keeps_the_last_good_checkpoint() {
    let _rng = crate::testing::torch_rng_lock();
    let dir = temp_dir("nan");
    let ck = dir.join("ck.safetensors");
    // 12 items in batches of 4: the loss turns NaN at epoch 2, batch 2
    let config = TrainerConfig { checkpoint: Some(ck.clone()), ..loop_config(3, 4) };
    let err = run(config, &mut (), Some((2, 2))).1.unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteLoss { epoch: 2, batch: 2, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("epoch 2") && text.contains("batch 2"), "{text}");
    let (done, stored) = stored_weights(&ck);
    assert_eq!(done, 1);
    assert!(stored.iter().all(|v| v.is_finite()));
    let (w1, _) = run(loop_config(1, 4), &mut (), None);
    assert_eq!(stored, w1, "the checkpoint on disk is epoch 1's");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
