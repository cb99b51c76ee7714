//! Tests of the training loop on small synthetic data: learning, determinism, exact resume, early stopping, best
//! weights, interruption, the NaN guard and input checks; plus an ignored throughput measurement.

use std::cell::Cell;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Tensor};

use super::config::ScBassetConfig;
use super::layers::Precision;
use super::network::ScBasset;
use super::training::{train, train_with_hooks, TrainConfig};
use crate::data::CellRows;
use crate::train::checkpoint::{load_checkpoint, sidecar_path};
use crate::train::data::TrainData;
use crate::train::history::{EpochStats, History};
use crate::train::{batch_ranges, GradientHook, GradientNorms, StepContext, TrainError, TrainObserver, TrainOutcome};

/// Owned synthetic data: peaks carrying motif A are open in the first half of the cells, motif B in the second.
struct Synthetic {
    codes: Vec<u8>,
    positives: CellRows,
    train: Vec<usize>,
    val: Vec<usize>,
    seq_len: usize,
    n_cells: usize,
}

impl Synthetic {
    fn new(n_peaks: usize, n_cells: usize, seq_len: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let motifs: [&[u8]; 2] = [&[2, 0, 3, 0, 0, 2, 2, 0, 3, 0], &[1, 1, 2, 2, 0, 0, 1, 1, 2, 2]]; // GATAAGGATA, CCGGAACCGG
        let mut codes = vec![0u8; n_peaks * seq_len];
        let mut positives = Vec::with_capacity(n_peaks);
        for p in 0..n_peaks {
            let row = &mut codes[p * seq_len..(p + 1) * seq_len];
            for b in row.iter_mut() {
                *b = rng.random_range(0..4u8);
            }
            let class = p % 3; // 0: motif A, 1: motif B, 2: background
            if class < 2 {
                for copy in 0..6 {
                    let at = 20 + copy * (seq_len - 60) / 6 + rng.random_range(0..10usize);
                    row[at..at + 10].copy_from_slice(motifs[class]);
                }
            }
            let cells: Vec<u32> = (0..n_cells)
                .filter(|&c| {
                    let group = usize::from(c >= n_cells / 2);
                    rng.random_bool(if class == group { 0.8 } else { 0.05 })
                })
                .map(|c| c as u32)
                .collect();
            positives.push(cells);
        }
        let val: Vec<usize> = (0..n_peaks).filter(|p| p % 10 == 7).collect();
        let train: Vec<usize> = (0..n_peaks).filter(|p| p % 10 != 7).collect();
        let positives = CellRows::from_rows(n_cells, &positives).unwrap();
        Synthetic { codes, positives, train, val, seq_len, n_cells }
    }

    fn data(&self) -> TrainData<'_> {
        TrainData {
            codes: &self.codes,
            seq_len: self.seq_len,
            n_cells: self.n_cells,
            positives: &self.positives,
            train: &self.train,
            val: &self.val,
        }
    }
}

fn tiny_model(n_cells: usize, init_seed: i64) -> (nn::VarStore, ScBasset) {
    tch::manual_seed(init_seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
    (vs, model)
}

fn small_config(epochs: usize) -> TrainConfig {
    TrainConfig { epochs, batch_size: 16, seed: 7, ..TrainConfig::default() }
}

fn never() -> bool {
    false
}

fn run(syn: &Synthetic, config: &TrainConfig, init_seed: i64) -> (nn::VarStore, Result<TrainOutcome, TrainError>) {
    let (vs, mut model) = tiny_model(syn.n_cells, init_seed);
    let out = train(&mut model, &vs, &syn.data(), config, &mut (), &never);
    (vs, out)
}

fn weights(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn same_weights(a: &nn::VarStore, b: &nn::VarStore) -> bool {
    weights(a).iter().zip(weights(b)).all(|((na, ta), (nb, tb))| *na == nb && ta.equal(&tb))
}

/// Everything except the wall-clock time.
fn numbers(h: &History) -> Vec<EpochStats> {
    h.epochs.iter().map(|e| EpochStats { seconds: 0.0, ..e.clone() }).collect()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gscript-train-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn batches_fold_a_single_trailing_peak() {
    assert_eq!(batch_ranges(10, 4), vec![0..4, 4..8, 8..10]);
    assert_eq!(batch_ranges(9, 4), vec![0..4, 4..9]);
    assert_eq!(batch_ranges(3, 1), vec![0..1, 1..2, 2..3]);
    assert_eq!(batch_ranges(3, 4), vec![0..3]);
}

#[test]
fn learns_sequence_dependent_accessibility() {
    let _rng = crate::testing::torch_rng_lock();
    let syn = Synthetic::new(200, 40, 336, 1);
    let start = Instant::now();
    let config = TrainConfig { epochs: 14, batch_size: 32, seed: 3, ..TrainConfig::default() };
    let (_, out) = run(&syn, &config, 1);
    let h = out.unwrap().history;
    for e in &h.epochs {
        println!(
            "epoch {}: loss {:.4} auROC {:.3} auPR {:.3} | val loss {:.4} auROC {:.3} peak auROC {:?} ({:.2} s)",
            e.epoch,
            e.train_loss,
            e.train_auroc.unwrap(),
            e.train_aupr.unwrap(),
            e.val_loss.unwrap(),
            e.val_auroc.unwrap(),
            e.val_peak_auroc,
            e.seconds
        );
    }
    println!("learning test: {:.1} s", start.elapsed().as_secs_f64());
    let (first, last) = (&h.epochs[0], h.last().unwrap());
    assert!(last.train_loss < 0.8 * first.train_loss, "loss {} → {}", first.train_loss, last.train_loss);
    let best = h.best().unwrap().train_auroc.unwrap();
    assert!(best > 0.8, "best training auROC {best}");
    assert!(last.val_auroc.unwrap() > 0.75, "validation auROC {:?}", last.val_auroc);
    assert!(last.val_peak_auroc.unwrap() > 0.6, "per-peak auROC {:?}", last.val_peak_auroc);
}

#[test]
fn same_seed_gives_identical_runs() {
    let _rng = crate::testing::torch_rng_lock();
    let syn = Synthetic::new(48, 12, 336, 2);
    let config = small_config(2);
    let (vs_a, a) = run(&syn, &config, 5);
    let (vs_b, b) = run(&syn, &config, 5);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(numbers(&a.history), numbers(&b.history));
    assert!(same_weights(&vs_a, &vs_b));
    let (_, c) = run(&syn, &TrainConfig { seed: 8, ..config }, 5);
    assert_ne!(numbers(&a.history), numbers(&c.unwrap().history), "the seed must change the run");
}

#[test]
fn resume_continues_exactly() {
    let _rng = crate::testing::torch_rng_lock();
    let syn = Synthetic::new(48, 12, 336, 4);
    let dir = temp_dir("resume");
    let (vs_straight, straight) = run(&syn, &small_config(4), 11);
    let straight = straight.unwrap();

    let ck = dir.join("ck.safetensors");
    let first = TrainConfig { checkpoint: Some(ck.clone()), ..small_config(2) };
    let (_, half) = run(&syn, &first, 11);
    assert_eq!(half.unwrap().history.len(), 2);
    let meta = load_checkpoint(&ck).unwrap().meta;
    assert_eq!(meta.epochs_done, 2);
    let sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(sidecar_path(&ck)).unwrap()).unwrap();
    assert_eq!(sidecar["epochs_done"], 2);
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp")));

    // a different initialisation: everything must come from the checkpoint
    let second = TrainConfig { resume: Some(ck.clone()), ..small_config(4) };
    let (vs_resumed, resumed) = run(&syn, &second, 99);
    let resumed = resumed.unwrap();
    // the two resumed epochs are bit-identical; the two read back from the JSON metadata may differ in the last
    // bit (serde_json parses floats exactly only with its `float_roundtrip` feature)
    let (r, s) = (numbers(&resumed.history), numbers(&straight.history));
    assert_eq!(r.len(), 4);
    assert_eq!(r[2..], s[2..]);
    for (a, b) in r[..2].iter().zip(&s[..2]) {
        assert!(
            (a.train_loss - b.train_loss).abs() <= 1e-15
                && (a.train_auroc.unwrap() - b.train_auroc.unwrap()).abs() <= 1e-15
        );
    }
    assert_eq!(resumed.restored_epoch, straight.restored_epoch);
    assert!(same_weights(&vs_straight, &vs_resumed));

    // a model of another size is refused, naming both cell counts
    let (vs, mut model) = tiny_model(13, 0);
    let other = Synthetic::new(20, 13, 336, 4);
    let err = train(&mut model, &vs, &other.data(), &second, &mut (), &never).unwrap_err();
    assert!(matches!(err, TrainError::Checkpoint { .. }) && err.to_string().contains("12 vs 13"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restores_the_best_epoch_and_stops_early() {
    let _rng = crate::testing::torch_rng_lock();
    let syn = Synthetic::new(48, 12, 336, 6);
    // min_delta = 1: only the first epoch improves, patience 2 stops after epoch 3
    let config = TrainConfig { min_delta: 1.0, patience: 2, ..small_config(10) };
    let (vs, out) = run(&syn, &config, 2);
    let out = out.unwrap();
    assert!(out.stopped_early);
    assert_eq!(out.history.len(), 3);
    let best = out.history.best_epoch().unwrap();
    assert_eq!(out.restored_epoch, Some(best));
    // the same run cut at the best epoch, without restore, ends on the same weights
    let (vs_cut, cut) = run(&syn, &TrainConfig { epochs: best, restore_best: false, ..config }, 2);
    assert_eq!(cut.unwrap().restored_epoch, None);
    assert!(same_weights(&vs, &vs_cut));
}

#[derive(Default)]
struct Recorder {
    batches: Vec<(usize, usize, usize)>,
    epochs: usize,
}

impl TrainObserver for Recorder {
    fn on_batch(&mut self, epoch: usize, batch: usize, n: usize, loss: f64) -> Result<(), TrainError> {
        assert!(loss.is_finite() && loss > 0.0);
        self.batches.push((epoch, batch, n));
        Ok(())
    }
    fn on_epoch(&mut self, stats: &EpochStats, history: &History) -> Result<(), TrainError> {
        self.epochs += 1;
        assert_eq!(history.last(), Some(stats));
        Ok(())
    }
}

#[test]
fn observers_interrupts_and_nan_guard() {
    let _rng = crate::testing::torch_rng_lock();
    let syn = Synthetic::new(40, 10, 336, 8); // 36 training peaks in batches of 16, 16, 4
    let (vs, mut model) = tiny_model(10, 0);
    let mut rec = Recorder::default();
    train(&mut model, &vs, &syn.data(), &small_config(2), &mut rec, &never).unwrap();
    assert_eq!(rec.batches, vec![(1, 1, 3), (1, 2, 3), (1, 3, 3), (2, 1, 3), (2, 2, 3), (2, 3, 3)]);
    assert_eq!(rec.epochs, 2);

    let dir = temp_dir("interrupt");
    let ck = dir.join("ck.safetensors");
    let polls = Cell::new(0);
    let stop = || {
        polls.set(polls.get() + 1);
        polls.get() > 2
    };
    let config = TrainConfig { checkpoint: Some(ck.clone()), ..small_config(3) };
    let err = train(&mut model, &vs, &syn.data(), &config, &mut (), &stop).unwrap_err();
    assert!(matches!(err, TrainError::Interrupted { epoch: 1, batch: 3 }), "{err}");
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing may be written");

    let config = TrainConfig { lr: 1e30, ..small_config(2) };
    let err = train(&mut model, &vs, &syn.data(), &config, &mut (), &never).unwrap_err();
    let TrainError::NonFiniteLoss { epoch: 1, batch, .. } = err else { panic!("expected NonFiniteLoss, got {err}") };
    assert!(batch >= 2, "the first batch runs on finite initial weights");
    assert!(err.to_string().contains("lower learning rate"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let _rng = crate::testing::torch_rng_lock();
    let syn = Synthetic::new(20, 10, 336, 9);
    let (vs, mut model) = tiny_model(10, 0);
    let mut check = |data: TrainData, config: &TrainConfig, needles: &[&str]| {
        let err = train(&mut model, &vs, &data, config, &mut (), &never).unwrap_err().to_string();
        for n in needles {
            assert!(err.contains(n), "`{err}` should mention `{n}`");
        }
    };
    let ok = small_config(1);
    check(TrainData { train: &[], ..syn.data() }, &ok, &["training set is empty"]);
    check(TrainData { train: &[3], ..syn.data() }, &ok, &["single peak"]);
    check(TrainData { seq_len: 168, ..syn.data() }, &ok, &["seq_len = 168", "seq_len = 336"]);
    check(TrainData { n_cells: 11, ..syn.data() }, &ok, &["n_cells = 11", "n_cells = 10"]);
    check(TrainData { codes: &syn.codes[..100], ..syn.data() }, &ok, &["100 bases"]);
    check(TrainData { val: &[20], ..syn.data() }, &ok, &["val peak index 20"]);
    let mut codes = syn.codes.clone();
    codes[336 * 2 + 5] = 4;
    check(TrainData { codes: &codes, ..syn.data() }, &ok, &["peak 2", "base code 4"]);
    let mut rows: Vec<Vec<u32>> = (0..syn.positives.len()).map(|p| syn.positives.row(p).to_vec()).collect();
    rows[1] = vec![3, 2];
    let err = CellRows::from_rows(syn.n_cells, &rows).unwrap_err().to_string();
    assert!(err.contains("peak 1") && err.contains("strictly increasing"), "{err}");
    rows[1] = vec![10];
    let err = CellRows::from_rows(syn.n_cells, &rows).unwrap_err().to_string();
    assert!(err.contains("peak 1") && err.contains("cell index 10"), "{err}");
    let wider = CellRows::from_rows(syn.n_cells + 1, &rows).unwrap();
    check(TrainData { positives: &wider, ..syn.data() }, &ok, &["positives index 11 cells", "n_cells = 10"]);
    check(syn.data(), &TrainConfig { batch_size: 1, ..ok.clone() }, &["batch_size"]);
    check(syn.data(), &TrainConfig { lr: f64::NAN, ..ok.clone() }, &["lr"]);
    check(syn.data(), &TrainConfig { beta2: 1.0, ..ok.clone() }, &["beta2"]);
    let missing = std::env::temp_dir().join("gscript-no-such-checkpoint.safetensors");
    check(syn.data(), &TrainConfig { resume: Some(missing), ..ok }, &["no such file"]);
}

#[test]
fn config_serde_defaults() {
    let c: TrainConfig = serde_json::from_str(r#"{"epochs": 5, "precision": "bf16"}"#).unwrap();
    assert_eq!(c, TrainConfig { epochs: 5, precision: Precision::Bf16, ..TrainConfig::default() });
    let d = TrainConfig::default();
    assert_eq!((d.epochs, d.batch_size, d.patience, d.seed), (1000, 128, 50, 0));
    assert_eq!((d.lr, d.beta1, d.beta2, d.eps, d.min_delta), (0.01, 0.95, 0.9995, 1e-7, 1e-6));
    assert!(d.augment && d.restore_best && d.checkpoint.is_none());
    assert!(serde_json::from_str::<TrainConfig>(r#"{"epoch": 5}"#).is_err());
}

/// Multiplies every gradient by a constant.
struct Scale(f64);

impl GradientHook for Scale {
    fn after_backward(&mut self, _ctx: &StepContext, params: &[(String, Tensor)]) -> Result<(), TrainError> {
        tch::no_grad(|| {
            for (_, p) in params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.g_mul_scalar_(self.0);
                }
            }
        });
        Ok(())
    }
}

#[test]
fn a_zero_scaling_hook_keeps_scbasset_weights_in_place() {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(4);
    let n_cells = 10;
    let vs = nn::VarStore::new(Device::Cpu);
    let mut net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let n_peaks = 40;
    let codes: Vec<u8> = (0..n_peaks * 336).map(|_| rng.random_range(0..4u8)).collect();
    let positives: Vec<Vec<u32>> =
        (0..n_peaks).map(|p| (0..n_cells as u32).filter(|c| (p + *c as usize).is_multiple_of(3)).collect()).collect();
    let positives = CellRows::from_rows(n_cells, &positives).unwrap();
    let train: Vec<usize> = (0..32).collect();
    let val: Vec<usize> = (32..40).collect();
    let data = TrainData { codes: &codes, seq_len: 336, n_cells, positives: &positives, train: &train, val: &val };
    let trainable = |vs: &nn::VarStore| -> Vec<(String, Tensor)> {
        crate::train::sorted_variables(vs)
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(n, t)| (n, t.detach().copy()))
            .collect()
    };
    let before = trainable(&vs);
    let config = TrainConfig { epochs: 2, batch_size: 16, seed: 1, restore_best: false, ..TrainConfig::default() };
    let (mut zero, mut rec) = (Scale(0.0), GradientNorms::default());
    // the recorder runs after the zeroing hook: it must see zero gradients
    let out = train_with_hooks(&mut net, &vs, &data, &config, &mut (), &|| false, vec![&mut zero, &mut rec]).unwrap();
    assert_eq!(out.history.len(), 2);
    assert_eq!(rec.norms.len(), 4, "2 epochs × 2 minibatches");
    assert!(rec.norms.iter().all(|(_, n)| *n == 0.0), "{:?}", rec.norms);
    for ((name, a), (_, b)) in before.iter().zip(trainable(&vs)) {
        assert!(a.equal(&b), "`{name}` moved although its gradients were scaled by 0");
    }
    // without the hook the same run moves the weights
    tch::manual_seed(4);
    let vs2 = nn::VarStore::new(Device::Cpu);
    let mut net2 = ScBasset::new(&vs2.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
    let mut rec2 = GradientNorms::default();
    train_with_hooks(&mut net2, &vs2, &data, &config, &mut (), &|| false, vec![&mut rec2]).unwrap();
    assert!(rec2.norms.iter().all(|(_, n)| n.is_finite() && *n > 0.0), "{:?}", rec2.norms);
    let moved = before.iter().zip(trainable(&vs2)).filter(|((_, a), (_, b))| !a.equal(b)).count();
    assert_eq!(moved, before.len(), "every trainable tensor moves without the hook");
}

/// One epoch of the full Keras model: 2,000 cells, 512 training peaks, fp32 and bf16, on the CPU with
/// `GSCRIPT_SPEED_THREADS` threads (default 2). `cargo test --release train_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn train_speed_full_keras_epoch() {
    let _rng = crate::testing::torch_rng_lock();
    let threads = std::env::var("GSCRIPT_SPEED_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    let syn = Synthetic::new(512, 2000, 1344, 12);
    let data = TrainData { train: &(0..512).collect::<Vec<_>>(), val: &[], ..syn.data() };
    for precision in [Precision::F32, Precision::Bf16] {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut model = ScBasset::new(&vs.root(), &ScBassetConfig::keras(2000)).unwrap();
        let config = TrainConfig { epochs: 1, precision, ..TrainConfig::default() };
        let out = train(&mut model, &vs, &data, &config, &mut (), &never).unwrap();
        let e = &out.history.epochs[0];
        println!(
            "{precision:?}, {threads} threads: epoch of 512 peaks × 2000 cells in {:.1} s = {:.1} sequences/s \
             (loss {:.4}, auROC {:?})",
            e.seconds,
            512.0 / e.seconds,
            e.train_loss,
            e.train_auroc
        );
    }
}
