use super::*;
use crate::genes::folds::{read_folds, FoldSplit};
use crate::profile::dataset::{windows_from_folds, ProfileData, ProfileDataOptions};
use crate::profile::test_support::{simulated, type_embeddings, TinyProfileModel};

fn params_of(model: &TinyProfileModel) -> ProfileParams {
    let (decoder, adapters) = model.groups();
    ProfileParams { decoder, adapters, buffers: Vec::new() }
}

fn snapshot(model: &TinyProfileModel) -> Vec<Vec<f32>> {
    let (d, a) = model.groups();
    d.iter().chain(&a).map(|(_, t)| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()).collect()
}

#[test]
fn training_lowers_the_loss_and_resume_is_exact() {
    let _lock = crate::testing::torch_rng_lock();
    let sim = simulated(6144, 24, 5);
    let folds = read_folds(&sim.sequences).unwrap();
    let (train, val) = windows_from_folds(&folds, &FoldSplit::default()).unwrap();
    let states = type_embeddings(&sim.cell_type, 3, 1);
    let opts = ProfileDataOptions { cells_per_sequence: 8, val_cells: 8, ..Default::default() };
    let make = || {
        tch::manual_seed(3);
        TinyProfileModel::new(8192, 192, 3, 4)
    };
    let cfg = ScoobyFineTuneConfig {
        epochs: 4,
        batch_size: 2,
        lr_decoder: 4e-3,
        lr_adapters: 2e-3,
        lr_1d: 2e-3,
        warmup_steps: Some(4),
        seed: 9,
        ..Default::default()
    };
    // Full run.
    let m1 = make();
    let init = snapshot(&m1);
    let data = ProfileData::new(&m1, &sim.genome, &sim.coverage, train.clone(), val.clone(), opts.clone()).unwrap();
    let out = fine_tune_profiles(&m1, &params_of(&m1), &data, &states, &cfg, &mut (), &|| false, vec![]).unwrap();
    let h = &out.history.epochs;
    assert_eq!(h.len(), 4);
    assert!(h[3].train_loss < h[0].train_loss, "{:?}", h.iter().map(|e| e.train_loss).collect::<Vec<_>>());
    assert!(h.iter().all(|e| e.val_loss.is_some_and(f64::is_finite) && e.train_auroc.is_some()));
    assert!(snapshot(&m1).iter().zip(&init).all(|(a, b)| a != b), "every trainable tensor moved");
    // Two epochs with a checkpoint, then resumed to four: the same weights as the uninterrupted run.
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("run.ckpt");
    let m2 = make();
    assert_eq!(snapshot(&m2), init);
    let data2 = ProfileData::new(&m2, &sim.genome, &sim.coverage, train.clone(), val.clone(), opts.clone()).unwrap();
    let first = ScoobyFineTuneConfig { epochs: 2, checkpoint: Some(ckpt.clone()), ..cfg.clone() };
    // The schedule's horizon must be the full run's for an exact continuation.
    let first = ScoobyFineTuneConfig { decay_steps: Some(4 * batch_ranges(train.len(), 2).len()), ..first };
    fine_tune_profiles(&m2, &params_of(&m2), &data2, &states, &first, &mut (), &|| false, vec![]).unwrap();
    let m3 = make();
    let data3 = ProfileData::new(&m3, &sim.genome, &sim.coverage, train, val, opts).unwrap();
    let resumed = ScoobyFineTuneConfig { resume: Some(ckpt), ..cfg.clone() };
    let out3 = fine_tune_profiles(&m3, &params_of(&m3), &data3, &states, &resumed, &mut (), &|| false, vec![]).unwrap();
    assert_eq!(out3.history.epochs.len(), 4);
    assert_eq!(snapshot(&m3), snapshot(&m1), "resumed run ends with the same weights");
}

#[test]
fn groups_schedule_and_bad_settings() {
    let model = TinyProfileModel::new(8192, 192, 3, 4);
    let cfg = ScoobyFineTuneConfig::default();
    let s = scooby_schedule(&cfg, 50_000);
    assert_eq!((s.warmup, s.total), (1000, Some(50_000)));
    assert!((s.factor(0) - 1e-7).abs() < 1e-12 && s.factor(1000) == 1.0 && s.factor(50_000) == 0.0);
    assert!((s.factor(25_500) - 0.5).abs() < 1e-9);
    let opt = scooby_optimizer(&params_of(&model), &cfg);
    let names: Vec<&str> = opt.groups().iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["decoder", "adapters", "1d"]);
    let lrs: Vec<(f64, f64)> = opt.groups().iter().map(|g| (g.lr, g.weight_decay)).collect();
    assert_eq!(lrs, [(4e-4, 1e-6), (1e-4, 1e-6), (1e-4, 0.0)]);
    // In group order: 2 decoder weights, 2 trunk weights, then the 4 biases (1-D, from both).
    let order: Vec<String> = crate::train::Optimizer::params(&opt).iter().map(|(n, _)| n.clone()).collect();
    assert!(order[..2].iter().all(|n| n.starts_with("decoder") && n.ends_with("weight")), "{order:?}");
    assert!(order[2..4].iter().all(|n| n.starts_with("trunk") && n.ends_with("weight")), "{order:?}");
    assert!(order[4..].iter().all(|n| n.ends_with("bias")) && order.len() == 8, "{order:?}");
    let sim = simulated(6144, 12, 2);
    let w = vec![crate::seq::region::Region::new(sim.coverage.refs.name(0), 0, 6144).unwrap()];
    let data = ProfileData::new(&model, &sim.genome, &sim.coverage, w, vec![], Default::default()).unwrap();
    let states = type_embeddings(&sim.cell_type, 3, 1);
    let bad = ScoobyFineTuneConfig { epochs: 0, ..cfg.clone() };
    assert!(fine_tune_profiles(&model, &params_of(&model), &data, &states, &bad, &mut (), &|| false, vec![]).is_err());
    let wrong = tch::Tensor::zeros([5, 4], (tch::Kind::Float, tch::Device::Cpu));
    let e = fine_tune_profiles(&model, &params_of(&model), &data, &wrong, &cfg, &mut (), &|| false, vec![]);
    assert!(e.unwrap_err().to_string().contains("embeddings"));
    let stop = fine_tune_profiles(&model, &params_of(&model), &data, &states, &cfg, &mut (), &|| true, vec![]);
    assert!(matches!(stop, Err(TrainError::Interrupted { .. })));
}

/// scooby tiny fine-tuned with the trunk's activations checkpointed trains as with the ordinary backward pass (dropout
/// off, so both draw nothing at random in the trunk): the same per-epoch losses, and the adapters' B (zero at the
/// start; its gradient exists only through the trunk's recomputation) moves.
#[test]
fn checkpointed_activations_train_as_the_ordinary_backward() {
    use crate::models::borzoi::TrunkTraining;
    use crate::models::scooby::{Scooby, ScoobyPreset};
    use tch::{Device, Kind};
    let _lock = crate::testing::torch_rng_lock();
    let sim = simulated(4096, 12, 4);
    let chrom = sim.coverage.refs.name(0);
    let windows: Vec<crate::seq::region::Region> =
        [20_000u64, 60_000].iter().map(|&s| crate::seq::region::Region::new(chrom, s, s + 4096).unwrap()).collect();
    tch::manual_seed(1);
    let states = Tensor::randn([sim.coverage.n_cells() as i64, 8], (Kind::Float, Device::Cpu));
    let opts = ProfileDataOptions { cells_per_sequence: 4, val_cells: 4, ..Default::default() };
    let cfg = ScoobyFineTuneConfig {
        epochs: 2,
        lr_decoder: 1e-3,
        lr_adapters: 1e-3,
        lr_1d: 1e-3,
        warmup_steps: Some(1),
        seed: 3,
        ..Default::default()
    };
    let run = |checkpoint: bool| {
        let mut net = Scooby::new(&ScoobyPreset::Tiny.config(), Device::Cpu, 5).unwrap();
        let training = net.training(TrunkTraining { batch_norm_group: None, dropout: false });
        let data =
            ProfileData::new(&*training, &sim.genome, &sim.coverage, windows.clone(), vec![], opts.clone()).unwrap();
        let params = ProfileParams::from_scooby(&training);
        let cfg = ScoobyFineTuneConfig { checkpoint_activations: checkpoint, ..cfg.clone() };
        let out = fine_tune_profiles(&*training, &params, &data, &states, &cfg, &mut (), &|| false, vec![]).unwrap();
        drop((data, training));
        let losses: Vec<f64> = out.history.epochs.iter().map(|e| e.train_loss).collect();
        let b_norms: Vec<f64> = net
            .adapters()
            .into_iter()
            .filter(|(n, _)| n.ends_with(".lora_b"))
            .map(|(_, t)| t.abs().max().double_value(&[]))
            .collect();
        (losses, b_norms)
    };
    let (plain, plain_b) = run(false);
    let (ckpt, ckpt_b) = run(true);
    assert_eq!(plain.len(), 2);
    for (a, b) in plain.iter().zip(&ckpt) {
        assert!((a - b).abs() <= 1e-5 * a.abs(), "losses {plain:?} vs {ckpt:?}");
    }
    assert!(!ckpt_b.is_empty() && ckpt_b.iter().all(|&m| m > 0.0), "every adapter's B moved: {ckpt_b:?}");
    assert!(plain_b.iter().all(|&m| m > 0.0));
}
