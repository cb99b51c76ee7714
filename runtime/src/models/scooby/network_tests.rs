use tch::{Device, Kind, Tensor};

use super::*;
use crate::models::borzoi::{Borzoi, Init, Preset, TrunkTraining};
use crate::models::{CellProfileModel, GroupKind, ParameterGroup};

fn onehot(b: i64, len: i64) -> Tensor {
    let codes = Tensor::randint(4, [b, len], (Kind::Int64, Device::Cpu));
    crate::models::one_hot(&codes).unwrap()
}

fn tiny() -> Scooby {
    Scooby::new(&ScoobyPreset::Tiny.config(), Device::Cpu, 3).unwrap()
}

#[test]
fn decoder_rows_are_cell_major_with_the_bias_last() {
    let _rng = crate::testing::torch_rng_lock();
    let net = tiny();
    let (t, d) = (3i64, 96i64);
    let states = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
    let out = net.decoder_output(&states, false);
    assert_eq!(out.size(), [4, t * (d + 1)]);
    let (w, b) = net.cell_readout(&states, false);
    assert_eq!(w.size(), [4 * t, d]);
    assert_eq!(b.size(), [4 * t]);
    // scooby: MLP index t·(D + 1) + j; j < D a weight, j = D the bias; channel cell·T + t
    for cell in 0..4 {
        for track in 0..t {
            let row = out.get(cell);
            let expect_w = row.narrow(0, track * (d + 1), d);
            let expect_b = row.double_value(&[track * (d + 1) + d]);
            assert!(w.get(cell * t + track).equal(&expect_w), "weights of cell {cell} track {track}");
            assert_eq!(b.double_value(&[cell * t + track]), expect_b, "bias of cell {cell} track {track}");
        }
    }
}

#[test]
fn tiny_forward_shapes_and_softplus() {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(5);
    let net = tiny();
    let x = onehot(2, 8192);
    let states = Tensor::randn([2, 5, 8], (Kind::Float, Device::Cpu));
    let y = net.forward(&x, &states, false);
    assert_eq!(y.size(), [2, 128, 15]);
    assert_eq!(y.kind(), Kind::Float);
    assert!(y.min().double_value(&[]) >= 0.0);
    // the cells of each sequence are its own: channel 3·c + t of sequence 1 equals decoding cell c alone
    let single = net.forward(&x.narrow(0, 1, 1), &states.narrow(0, 1, 1).narrow(1, 2, 1), false);
    assert!(single.allclose(&y.narrow(0, 1, 1).narrow(2, 6, 3), 1e-5, 1e-5, false));
    // training mode: dropout makes two passes differ
    let a = net.forward(&x, &states, true);
    let b = net.forward(&x, &states, true);
    assert!(!a.allclose(&b, 1e-6, 1e-6, false));
}

#[test]
fn fresh_adapters_keep_the_trunk_and_merging_equals_the_unmerged_forward() {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(11);
    let borzoi = Borzoi::new(&Preset::Tiny.config(), Device::Cpu, Init::Random).unwrap();
    let x = onehot(1, 8192);
    let base = borzoi.embedding(&x, false).unwrap();
    let mut net = Scooby::from_borzoi(&borzoi, &ScoobyPreset::Tiny.config(), 4).unwrap();
    assert_eq!(net.adapted_layers().len(), 12 + 4 * 2, "12 convolutions + q, v, MLP in and out per block");
    assert!(net.adapted_layers().iter().all(|n| !n.starts_with("separable") && !n.ends_with("to_k")));
    assert!(net.trunk().embedding(&x, false).unwrap().equal(&base), "B = 0: the adapted trunk is the base");
    // trunk frozen; adapters, transform and decoder train
    assert!(net.trunk().var_store().variables().values().all(|t| !t.requires_grad()));
    let groups = net.scooby_param_groups();
    assert_eq!(groups.iter().map(|g| g.name).collect::<Vec<_>>(), ["decoder", "adapters", "vectors"]);
    assert!(groups.iter().all(|g| g.tensors.iter().all(|(_, t)| t.requires_grad())));
    assert!(groups[2].tensors.iter().all(|(_, t)| t.dim() == 1) && groups[0].tensors.iter().all(|(_, t)| t.dim() == 2));
    let lora = net.adapters();
    assert_eq!(lora.len(), 40);
    tch::no_grad(|| {
        for (_, mut t) in lora {
            t.copy_(&(Tensor::randn(t.size(), (Kind::Float, Device::Cpu)) * 0.05));
        }
    });
    let unmerged = net.trunk().embedding(&x, false).unwrap();
    assert!(!unmerged.allclose(&base, 1e-4, 1e-4, false), "random B changes the embedding");
    let weight = net.trunk().var_store().variables()["res_tower.2.conv_layer.weight"].copy();
    assert_eq!(net.merge_adapters(), 20);
    let merged = net.trunk().embedding(&x, false).unwrap();
    // fp32 sums in a different order: relative 1e-4 of the embedding's scale
    let scale = unmerged.abs().max().double_value(&[]);
    assert!((merged - &unmerged).abs().max().double_value(&[]) < 1e-4 * scale);
    assert_eq!(net.unmerge_adapters(), 20);
    let restored = &net.trunk().var_store().variables()["res_tower.2.conv_layer.weight"];
    assert!(restored.allclose(&weight, 1e-6, 1e-6, false));
}

/// The trainable LoRA scalars of scooby's targets at full size, from the layer table of Borzoi (borzoi-pytorch
/// `pytorch_borzoi_model.py`): r·(C_in·k) + C_out·r per convolution, r·(in + out) per linear.
fn lora_count_from_shapes(r: usize) -> usize {
    let convs: [(usize, usize, usize); 12] = [
        (4, 512, 15),    // conv_dna
        (512, 608, 5),   // res_tower.0
        (608, 736, 5),   // res_tower.2
        (736, 896, 5),   // res_tower.4
        (896, 1056, 5),  // res_tower.6
        (1056, 1280, 5), // res_tower.8
        (1280, 1536, 5), // unet1.1
        (1280, 1536, 1), // horizontal_conv0
        (1536, 1536, 1), // horizontal_conv1
        (1536, 1536, 1), // upsampling_unet1.0
        (1536, 1536, 1), // upsampling_unet0.0
        (1536, 1920, 1), // final_joined_convs.0
    ];
    let conv: usize = convs.iter().map(|&(i, o, k)| r * i * k + o * r).sum();
    // per block: to_q 1536 → 512, to_v 1536 → 1536, MLP 1536 → 3072 → 1536
    let linear: usize = [(1536, 512), (1536, 1536), (1536, 3072), (3072, 1536)].iter().map(|&(i, o)| r * (i + o)).sum();
    conv + 8 * linear
}

#[test]
fn full_size_parameter_counts_match_scooby() {
    let _rng = crate::testing::torch_rng_lock();
    let config = ScoobyPreset::Onek1k.config();
    let trunk = Borzoi::new(&config.trunk, Device::Cpu, Init::Zeros).unwrap();
    let net = Scooby::build(trunk, &config, 0, Init::Zeros).unwrap();
    let groups = net.parameter_groups();
    let count = |k: GroupKind| groups.iter().filter(|g| g.kind == k).map(ParameterGroup::numel).sum::<usize>();
    let lora = count(GroupKind::Adapters);
    assert_eq!(lora, lora_count_from_shapes(8));
    assert_eq!(lora, 1_298_400, "scooby's trainable LoRA parameters");
    let trunk = count(GroupKind::Trunk);
    assert_eq!(trunk, 171_271_968);
    let sg = net.scooby_param_groups();
    let decoder: usize = sg
        .iter()
        .flat_map(|g| &g.tensors)
        .filter(|(n, _)| n.starts_with("cell_state_to_conv."))
        .map(|(_, t)| t.numel())
        .sum();
    // E 10 → 128 → 256 → 1024 → 1921·2, with biases
    assert_eq!(decoder, 11 * 128 + 129 * 256 + 257 * 1024 + 1025 * 3842);
    assert_eq!(decoder, 4_235_650);
    let transform = count(GroupKind::Head) - decoder;
    assert_eq!(transform, 1921 * 4096 + 4097 * 1920);
    assert_eq!(transform, 15_734_656);
    assert_eq!(trunk + transform + decoder, 191_242_274, "the onek1k notebook's printed count");
    assert_eq!(sg.iter().map(ScoobyParamGroup::numel).sum::<usize>(), lora + transform + decoder);
}

#[test]
fn save_and_load_round_trip() {
    let _rng = crate::testing::torch_rng_lock();
    let a = tiny();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scooby.safetensors");
    a.save(&path).unwrap();
    let b = Scooby::new(&ScoobyPreset::Tiny.config(), Device::Cpu, 9).unwrap();
    let states = Tensor::randn([3, 8], (Kind::Float, Device::Cpu));
    assert!(!b.cell_readout(&states, false).0.equal(&a.cell_readout(&states, false).0));
    b.load(&path).unwrap();
    assert!(b.cell_readout(&states, false).0.equal(&a.cell_readout(&states, false).0));
    let names: Vec<String> = a.state().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"cell_state_to_conv.8.bias".to_string()));
    assert!(names.contains(&"transform_borzoi_emb.2.weight".to_string()));
    assert!(names.contains(&"transformer.1.0.fn.1.to_q.lora_b".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("human_head")));
}

#[test]
fn import_reads_saved_files_and_names_bad_tensors() {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(8);
    let mut a = tiny();
    tch::no_grad(|| {
        for (_, mut t) in a.adapters() {
            t.copy_(&(Tensor::randn(t.size(), (Kind::Float, Device::Cpu)) * 0.05));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.safetensors");
    a.save(&path).unwrap();
    let b = import_scooby(&path, &ScoobyImportOptions::default()).unwrap();
    assert_eq!(b.config(), a.config(), "E, T, transform, rank, targets and the tiny trunk from the shapes");
    let x = onehot(1, 8192);
    let states = Tensor::randn([1, 2, 8], (Kind::Float, Device::Cpu));
    assert!(b.forward(&x, &states, false).equal(&a.forward(&x, &states, false)));
    // one tensor mis-shaped, one unexpected, one missing: all named with shapes
    let mut state: Vec<(String, Tensor)> =
        a.state().into_iter().filter(|(n, _)| n != "unet1.1.norm.running_var").collect();
    for (n, t) in state.iter_mut() {
        if n == "transform_borzoi_emb.2.bias" {
            *t = Tensor::zeros([5], (Kind::Float, Device::Cpu));
        }
    }
    state.push(("human_head.weight".into(), Tensor::zeros([3, 96, 1], (Kind::Float, Device::Cpu))));
    let bad = dir.path().join("bad.safetensors");
    Tensor::write_safetensors(&state, &bad).unwrap();
    let e = import_scooby(&bad, &ScoobyImportOptions::default()).unwrap_err().to_string();
    assert!(e.contains("missing 1: `unet1.1.norm.running_var` [72]"), "{e}");
    assert!(e.contains("unexpected 1: `human_head.weight` [3, 96, 1]"), "{e}");
    assert!(e.contains("`transform_borzoi_emb.2.bias` has shape [5], the model expects [96]"), "{e}");
}

#[test]
fn training_without_dropout_keeps_batch_statistics_until_the_guard_drops() {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(6);
    let mut net = tiny();
    let x = onehot(2, 8192);
    let states = Tensor::randn([2, 5, 8], (Kind::Float, Device::Cpu));
    let eval = net.forward(&x, &states, false);
    {
        let training = net.training(TrunkTraining { batch_norm_group: None, dropout: false });
        let a = training.forward(&x, &states, true);
        let b = training.forward(&x, &states, true);
        // no dropout: training-mode passes agree, and they use batch statistics (not the moving ones)
        assert!(a.allclose(&b, 1e-6, 1e-6, false));
        assert!(!a.allclose(&eval, 1e-4, 1e-4, false));
    }
    assert!(net.trunk().training().dropout, "the guard restores dropout");
    let a = net.forward(&x, &states, true);
    let b = net.forward(&x, &states, true);
    assert!(!a.allclose(&b, 1e-6, 1e-6, false));
}

/// scooby's training step with the trunk checkpointed: the same loss and the same gradients of every trainable tensor
/// (adapters with a non-zero B, transform, decoder) as the ordinary backward pass, and the same moving statistics.
#[test]
fn checkpointed_step_gives_the_ordinary_gradients() {
    let _rng = crate::testing::torch_rng_lock();
    tch::manual_seed(8);
    let mut net = tiny();
    tch::no_grad(|| {
        for (n, mut t) in net.adapters() {
            if n.ends_with(".lora_b") {
                t.copy_(&(Tensor::randn_like(&t) * 0.1));
            }
        }
    });
    let x = onehot(1, 8192);
    let states = Tensor::randn([1, 6, 8], (Kind::Float, Device::Cpu));
    let target = Tensor::rand([1, 128, 18], (Kind::Float, Device::Cpu));
    let stats = |net: &Scooby| -> Vec<Tensor> {
        net.state().into_iter().filter(|(n, _)| n.contains(".running_")).map(|(_, t)| t.copy()).collect()
    };
    let stats0 = stats(&net);
    let training = net.training(TrunkTraining { batch_norm_group: None, dropout: false });
    let params: Vec<(String, Tensor)> = training.scooby_param_groups().into_iter().flat_map(|g| g.tensors).collect();
    let run = |checkpoint: bool| {
        tch::no_grad(|| {
            for ((_, mut t), s) in training.state().into_iter().filter(|(n, _)| n.contains(".running_")).zip(&stats0) {
                t.copy_(s);
            }
        });
        for (_, t) in &params {
            let mut g = t.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let (pred, rest) = if checkpoint {
            training.try_forward_checkpointed(&x, &states, true).unwrap()
        } else {
            (training.forward(&x, &states, true), None)
        };
        assert_eq!(rest.is_some(), checkpoint);
        let loss = crate::train::profile_loss::poisson_multinomial(&pred, &target, 0.2, 1e-6).unwrap();
        loss.backward();
        if let Some(rest) = rest {
            rest.run().unwrap();
        }
        let grads: Vec<Tensor> = params.iter().map(|(_, t)| t.grad().copy()).collect();
        (loss.double_value(&[]), grads, stats(&training))
    };
    let (l0, g0, s0) = run(false);
    let (l1, g1, s1) = run(true);
    assert!((l0 - l1).abs() <= 1e-5 * l0.abs(), "loss {l0} vs {l1}");
    let max = |t: &Tensor| t.abs().max().double_value(&[]);
    for ((n, _), (a, b)) in params.iter().zip(g0.iter().zip(&g1)) {
        let scale = max(a);
        assert!(scale > 0.0, "{n} has a gradient");
        assert!(max(&(a - b)) <= 1e-5 * scale, "{n}: {} (largest {scale})", max(&(a - b)));
    }
    for (a, b) in s0.iter().zip(&s1) {
        assert!(max(&(a - b)) <= 1e-6 * max(a).max(1.0), "moving statistics");
    }
}
