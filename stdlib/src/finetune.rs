//! Transfer learning in the language: `lora_finetune` (LoRA adapters on a pretrained scBasset plus a new per-cell
//! layer or a scooby-style cell-state decoder), and the fine-tuned model's methods `merge_lora`, `unmerge_lora`,
//! `predict_cells`, `save_lora`, with `load_lora` to put saved adapters back on their base model.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, Registrar};
use gscript_runtime::adapters::{adapter_tensors, attach_lora, freeze_trunk, merge_lora, unmerge_lora, LoraConfig};
use gscript_runtime::finetune::defaults::{LR_ADAPTERS_DOC, LR_HEAD_DOC, WARMUP_DOC, WEIGHT_DECAY_DOC};
use gscript_runtime::finetune::{fine_tune, FineTuneConfig, Head, HeadKind, Param};
use gscript_runtime::heads::{CellStateDecoder, DecoderConfig, DecoderHead};
use gscript_runtime::models::scbasset::{
    Fnv1a, ModelMeta, PeakFingerprint, ScBasset, ScBassetConfig, Versions, MODEL_FORMAT,
};
use gscript_runtime::models::SequenceModel;
use gscript_runtime::seq::peak_codes;
use tch::{nn, Device, Kind, Tensor};

use crate::bridge::register2;
use crate::bridge::{cancel_token, in_primitive, ScriptResult, SessionProgress};
use crate::training::{genome_for, SessionObserver, TrainingInputs};
use crate::values::model::{tensor_matrix, DecoderState, ModelValue, TrainedModel, Tuning};
use crate::values::peak_data::PeakData;
use crate::values::Matrix;

/// FNV-1a 64 over the trunk's fp32 weights.
pub fn trunk_fingerprint(net: &ScBasset) -> String {
    let mut h = Fnv1a::default();
    for t in net.trunk_tensors() {
        let v: Vec<f32> =
            Vec::try_from(t.detach().to_device(Device::Cpu).to_kind(Kind::Float).reshape([-1])).unwrap_or_default();
        for x in v {
            h.update(&x.to_le_bytes());
        }
    }
    h.hex()
}

/// Standardised cell states `(n, E)` on `device`, with the statistics used (given, or computed from `m`).
fn standardise(m: &Matrix, stats: Option<(&[f32], &[f32])>, device: Device) -> (Tensor, Vec<f32>, Vec<f32>) {
    let (n, e) = (m.rows, m.cols);
    let (mean, sd) = match stats {
        Some((a, b)) => (a.to_vec(), b.to_vec()),
        None => {
            let mut mean = vec![0f64; e];
            let mut sq = vec![0f64; e];
            for r in 0..n {
                for c in 0..e {
                    let x = m.get(r, c) as f64;
                    mean[c] += x;
                    sq[c] += x * x;
                }
            }
            let mean: Vec<f64> = mean.iter().map(|s| s / n as f64).collect();
            let sd: Vec<f32> =
                (0..e).map(|c| ((sq[c] / n as f64 - mean[c] * mean[c]).max(0.0).sqrt() as f32).max(1e-6)).collect();
            (mean.iter().map(|&x| x as f32).collect(), sd)
        }
    };
    let data: Vec<f32> =
        (0..n).flat_map(|r| (0..e).map(|c| (m.get(r, c) - mean[c]) / sd[c]).collect::<Vec<_>>()).collect();
    (Tensor::from_slice(&data).view([n as i64, e as i64]).to_device(device), mean, sd)
}

/// A new network for `cfg` (the base's layers, another cell layer) on the base's device, holding a copy of the
/// base's trunk weights and BN statistics; the cell layer is freshly initialised.
fn on_trunk_of(primitive: &str, base: &ScBasset, cfg: &ScBassetConfig) -> ScriptResult<(nn::VarStore, ScBasset)> {
    let vs = nn::VarStore::new(base.device());
    let net = ScBasset::new(&vs.root(), cfg).map_err(|e| primitive_error(primitive, None, &e.to_string()))?;
    tch::no_grad(|| {
        for (mut dst, src) in net.trunk_tensors().into_iter().zip(base.trunk_tensors()) {
            dst.copy_(&src);
        }
    });
    Ok((vs, net))
}

fn finetune_doc() -> FnDoc {
    FnDoc::new("lora_finetune", "finetune", "lora_finetune(base: ScBassetModel, data: PeakDataset, options?: map) -> ScBassetModel", "Fine-tunes a pretrained scBasset to a new dataset with LoRA adapters and a new cell head.")
        .details(
            "Low-rank adapters (peft's form, as scooby: y = W x + (α/r)·B(A x), A kaiming-uniform, B zero) are added to the layers \
             matching `targets` (stem, tower0 …, conv1x1, bottleneck; `*` wildcards); the trunk is frozen and runs in inference mode. \
             head \"cells\": a per-cell layer for the new data's cells (copied from the base when the cells are the same, so training \
             starts exactly at the base model). head \"decoder\": scooby's cell-state decoder, an MLP from each cell's embedding \
             (`cell_embedding`: cells × E, e.g. lsi(data) or pca; standardised) to its read-out weights and bias, trained on \
             `cells_per_batch` cells sampled per minibatch; afterwards the model's cell layer holds the decoder's read-out for these \
             cells and model.predict_cells(embeddings, seqs) predicts for new cells. AdamW with a learning rate for the head and one for \
             the adapters whose defaults depend on the base model's family (scBasset: head \"cells\" 0.01, scBasset's own rate \
             for a new cell layer, decoder and adapters 1e-3; scooby's 4e-4 and 1e-4 are for a Borzoi trunk), decay 1e-6, \
             linear warm-up, gradient clipping 1.0. Prints trainable and frozen parameter counts. The result works with every \
             model primitive (denoise, insert_motif, ism, variant_effect, …). With a BorzoiModel base and per-cell Coverage it \
             fine-tunes scooby instead (BorzoiModel.lora_finetune).",
        )
        .opt("rank", "int", OptDefault::Int(8), "adapter rank r")
        .opt("alpha", "float", OptDefault::Float(8.0), "adapter scale α (scaling α/r)")
        .opt("targets", "array", OptDefault::None, "layer-name patterns to adapt (default [\"*\"]: every conv block and the bottleneck)")
        .opt("head", "string", OptDefault::Str("cells"), "\"cells\" or \"decoder\"")
        .opt("cell_embedding", "Matrix", OptDefault::None, "cells × E state embeddings (head \"decoder\")")
        .opt("decoder_hidden", "array", OptDefault::None, "hidden widths of the decoder (default [128, 256, 1024])")
        .opt("cells_per_batch", "int", OptDefault::Int(64), "cells sampled per minibatch (head \"decoder\")")
        .opt("epochs", "int", OptDefault::Int(20), "epochs")
        .opt("batch_size", "int", OptDefault::Int(64), "peaks per minibatch")
        .opt("lr", "float", OptDefault::None, LR_HEAD_DOC)
        .opt("lr_adapters", "float", OptDefault::None, LR_ADAPTERS_DOC)
        .opt("weight_decay", "float", OptDefault::None, WEIGHT_DECAY_DOC)
        .opt("warmup", "int", OptDefault::None, WARMUP_DOC)
        .opt("patience", "int", OptDefault::Int(0), "stop after this many epochs without training-auROC gain (0: never)")
        .opt("seed", "int", OptDefault::Int(0), "seed")
        .opt("genome", "Genome", OptDefault::None, "genome for the peaks (default: the data's)")
        .opt("checkpoint", "string", OptDefault::None, "save a resumable checkpoint here after every epoch")
        .opt("resume", "string", OptDefault::None, "continue from this checkpoint (same base, data and options)")
        .example("let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, seed: 1});\nlet base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1});\n\
                  let tuned = lora_finetune(base, sim.data, #{epochs: 1, rank: 2});\nprint(tuned);")
}

fn run(host: &Arc<Host>, base: ModelValue, data: PeakData, o: &Options) -> ScriptResult<ModelValue> {
    const P: &str = "lora_finetune";
    let genome = genome_for(P, &data, o.raw("genome"))?;
    let d = &data.0;
    let seed = o.int("seed")?.unwrap() as u64;
    let head_kind = o.choice("head", &["cells", "decoder"])?.unwrap();
    let b = base.lock();
    if b.tuning.as_ref().is_some_and(|t| !t.merged) {
        return Err(primitive_error(
            P,
            Some("base"),
            "the base model has unmerged LoRA adapters: call base.merge_lora() first",
        ));
    }
    let mut cfg = b.net.config().clone();
    cfg.n_cells = d.n_cells();
    cfg.n_batches = None;
    let device = b.net.device();
    tch::manual_seed(seed as i64);
    let (vs, mut net) = on_trunk_of(P, &b.net, &cfg)?;
    if d.cells.barcodes == b.meta.barcodes {
        let (e, bias) = b.net.cell_layer();
        net.set_cell_layer(&e, &bias).map_err(|e| primitive_error(P, None, &e.to_string()))?;
    }
    net.set_precision(b.net.precision());
    let fingerprint = trunk_fingerprint(&b.net);
    let base_preset = b.meta.preset.clone();
    let which = if head_kind == "decoder" { HeadKind::Decoder } else { HeadKind::Cells };
    let defaults = FineTuneConfig::for_family(b.net.family(), which);
    drop(b);

    let targets: Vec<String> = match o.raw("targets") {
        None => vec!["*".into()],
        Some(v) => v
            .clone()
            .try_cast::<Array>()
            .ok_or_else(|| primitive_error(P, Some("targets"), "expected an array of layer-name patterns"))?
            .iter()
            .map(|x| x.to_string())
            .collect(),
    };
    let lcfg =
        LoraConfig { rank: o.int_at_least("rank", 1)?.unwrap() as usize, alpha: o.float("alpha")?.unwrap(), targets };
    let avs = nn::VarStore::new(device);
    let adapted = attach_lora(&mut net, &avs.root(), &lcfg).map_err(in_primitive(P))?;
    freeze_trunk(&net);
    let mut params: Vec<Param> = adapter_tensors(&mut net)
        .into_iter()
        .map(|(name, tensor)| Param { name: format!("lora.{name}"), tensor, head: false })
        .collect();
    let (cell_w, cell_b) = net.cell_layer();
    let decoder = if head_kind == "decoder" {
        let m = o
            .raw("cell_embedding")
            .ok_or_else(|| {
                primitive_error(
                    P,
                    Some("cell_embedding"),
                    "head \"decoder\" needs each cell's state embedding: #{cell_embedding: lsi(data)} (cells × E)",
                )
            })?
            .clone()
            .try_cast::<Matrix>()
            .ok_or_else(|| primitive_error(P, Some("cell_embedding"), "expected a Matrix (cells × E)"))?;
        if m.rows != d.n_cells() {
            return Err(primitive_error(
                P,
                Some("cell_embedding"),
                &format!("has {} rows but the data has {} cells", m.rows, d.n_cells()),
            ));
        }
        let (states, mean, sd) = standardise(&m, None, device);
        let hidden: Vec<usize> = match o.raw("decoder_hidden") {
            None => vec![128, 256, 1024],
            Some(v) => {
                crate::bridge::numbers(P, "decoder_hidden", v)?.into_iter().map(|x| x.max(1.0) as usize).collect()
            }
        };
        let dvs = nn::VarStore::new(device);
        let dec = CellStateDecoder::new(
            &dvs.root(),
            &DecoderConfig { input: m.cols, hidden, output: cfg.bottleneck, dropout: 0.2 },
        )
        .map_err(in_primitive(P))?;
        for t in [&cell_w, &cell_b] {
            let _ = t.set_requires_grad(false);
        }
        let mut vars: Vec<(String, Tensor)> = dvs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        params.extend(vars.into_iter().map(|(name, tensor)| Param {
            name: format!("decoder.{name}"),
            tensor,
            head: true,
        }));
        Some((DecoderState { vs: dvs, net: dec, mean, sd }, states))
    } else {
        params.push(Param { name: "cell_embedding".into(), tensor: cell_w.shallow_clone(), head: true });
        params.push(Param { name: "cell_bias".into(), tensor: cell_b.shallow_clone(), head: true });
        None
    };
    let trainable: usize = params.iter().map(|p| p.tensor.numel()).sum();
    let adapters: usize = params.iter().filter(|p| !p.head).map(|p| p.tensor.numel()).sum();
    let frozen: usize = net.trunk_tensors().iter().map(|t| t.numel()).sum::<usize>()
        + if decoder.is_some() { cell_w.numel() + cell_b.numel() } else { 0 };
    host.print(&format!(
        "lora_finetune: {} trainable parameters (adapters {} on {} layers, {} head {}), {} frozen\n",
        gscript_runtime::plot::group_thousands(trainable as i64),
        gscript_runtime::plot::group_thousands(adapters as i64),
        adapted.len(),
        head_kind,
        gscript_runtime::plot::group_thousands((trainable - adapters) as i64),
        gscript_runtime::plot::group_thousands(frozen as i64)
    ));

    let inputs = TrainingInputs::new(P, host, &genome, d, cfg.seq_len, seed)?;
    let tdata = inputs.data();
    let fcfg = FineTuneConfig {
        epochs: o.int_at_least("epochs", 1)?.unwrap() as usize,
        batch_size: o.int_at_least("batch_size", 1)?.unwrap() as usize,
        lr_head: o.float("lr")?.unwrap_or(defaults.lr_head),
        lr_adapters: o.float("lr_adapters")?.unwrap_or(defaults.lr_adapters),
        weight_decay: o.float("weight_decay")?.unwrap_or(defaults.weight_decay),
        warmup_steps: o.int_at_least("warmup", 0)?.map(|w| w as usize).or(defaults.warmup_steps),
        clip_norm: 1.0,
        cells_per_batch: o.int_at_least("cells_per_batch", 1)?.unwrap() as usize,
        patience: o.int_at_least("patience", 0)?.unwrap() as usize,
        seed,
        checkpoint: o.string("checkpoint")?.map(PathBuf::from),
        resume: o.string("resume")?.map(PathBuf::from),
    };
    let n_batches = tdata.train.len().div_ceil(fcfg.batch_size) as u64;
    let total = n_batches * fcfg.epochs as u64;
    let mut observer = SessionObserver {
        host: host.clone(),
        bar: host.progress(
            &format!("fine-tuning ({head_kind} head, {} peaks × {} cells)", d.n_peaks(), d.n_cells()),
            Some(total),
        ),
        n_batches_total: total,
        display_id: format!("training-{}", host.next_id()),
        shown: false,
    };
    let head = match &decoder {
        None => Head::Cells(net.cell_head()),
        Some((dec, states)) => Head::Decoder(DecoderHead { decoder: &dec.net, states }),
    };
    let h2 = host.clone();
    // Data-parallel when launched in a process group, as `train_scbasset` (docs/scaling.md): batch_size stays the
    // global minibatch, each rank trains on its shard, rank 0 writes the checkpoints.
    let mut dp =
        gscript_runtime::train::distributed::DataParallel::from_env().map_err(|e| crate::bridge::script_error(P, e))?;
    let hooks: Vec<&mut dyn gscript_runtime::train::GradientHook> =
        dp.iter_mut().map(|d| d as &mut dyn gscript_runtime::train::GradientHook).collect();
    let outcome = fine_tune(&net, params, &head, &tdata, &fcfg, &mut observer, &move || h2.is_interrupted(), hooks)
        .map_err(|e| crate::bridge::script_error(P, e))?;
    observer.bar.finish(
        &outcome
            .history
            .last()
            .map(|s| format!("{} epochs, final loss {:.4}", s.epoch, s.train_loss))
            .unwrap_or_default(),
    );
    let decoder = match decoder {
        None => None,
        Some((dec, states)) => {
            let (w, bias) = dec.net.readout(&states);
            net.set_cell_layer(&w, &bias).map_err(|e| primitive_error(P, None, &e.to_string()))?;
            Some(dec)
        }
    };
    let meta = ModelMeta {
        format: MODEL_FORMAT.into(),
        config: cfg,
        preset: format!("{base_preset} + LoRA"),
        barcodes: d.cells.barcodes.clone(),
        cell_batch: None,
        batch_names: None,
        peaks: Some(PeakFingerprint::of(&d.peaks)),
        history: outcome.history,
        precision: net.precision(),
        versions: Versions::current(),
    };
    let tuning = Tuning {
        adapter_vs: avs,
        lora: lcfg,
        adapted,
        merged: false,
        head: head_kind,
        decoder,
        trainable,
        frozen,
        base_fingerprint: fingerprint,
    };
    Ok(ModelValue::new(TrainedModel { vs, net, meta, tuning: Some(tuning) }))
}

pub fn register(reg: &mut Registrar) {
    let host = reg.host.clone();
    register2(reg, finetune_doc(), move |base: ModelValue, data: PeakData, o| run(&host, base, data, o));

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("ScBassetModel", name, "finetune", sig, summary);
    type Toggle = fn(&mut dyn gscript_runtime::adapters::Adaptable) -> usize;
    let toggles: [(&str, &str, &str, Toggle, bool, &str); 2] = [
        ("merge_lora", "model.merge_lora() -> int", "Folds the LoRA adapters into the weights (W += (α/r)·ΔW); outputs stay the same. Returns the number merged.", merge_lora, true, "let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet tuned = lora_finetune(base, sim.data, #{epochs: 1, rank: 2});\nprint(tuned.merge_lora());\ntuned.save(out_path(\"tuned.safetensors\"));"),
        ("unmerge_lora", "model.unmerge_lora() -> int", "Takes merged adapters back out of the weights.", unmerge_lora, false, "let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet tuned = lora_finetune(base, sim.data, #{epochs: 1, rank: 2});\ntuned.merge_lora();\nprint(tuned.unmerge_lora());\ntuned.save_lora(out_path(\"adapters.safetensors\"));"),
    ];
    for (name, sig, summary, apply, merged, example) in toggles {
        reg.docs.add(m(name, sig, summary).example(example));
        reg.engine.register_fn(name, move |model: &mut ModelValue| -> ScriptResult<i64> {
            let mut g = model.lock();
            let t = &mut *g;
            let tuning = t.tuning.as_mut().ok_or_else(|| {
                primitive_error(name, None, "the model has no LoRA adapters (make one with lora_finetune)")
            })?;
            let n = apply(&mut t.net);
            tuning.merged = merged;
            Ok(n as i64)
        });
    }
    reg.docs.add(m("parameter_counts", "model.parameter_counts() -> map", "#{trainable, frozen, adapters_layers} of a fine-tuned model (trainable = all for a trained one).").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet tuned = lora_finetune(base, sim.data, #{epochs: 1, rank: 2});\nlet n = tuned.parameter_counts();\nprint(`${n.trainable} trainable, ${n.frozen} frozen`);"));
    reg.engine.register_fn("parameter_counts", |model: &mut ModelValue| -> Map {
        let t = model.lock();
        let mut m = Map::new();
        match &t.tuning {
            Some(x) => {
                m.insert("trainable".into(), (x.trainable as i64).into());
                m.insert("frozen".into(), (x.frozen as i64).into());
                m.insert(
                    "adapted_layers".into(),
                    Dynamic::from_array(x.adapted.iter().cloned().map(Dynamic::from).collect()),
                );
            }
            None => {
                m.insert("trainable".into(), (t.net.trainable_parameter_count() as i64).into());
                m.insert("frozen".into(), 0i64.into());
                m.insert("adapted_layers".into(), Dynamic::from_array(vec![]));
            }
        }
        m
    });
    reg.docs.add(
        m("predict_cells", "model.predict_cells(cell_embedding: Matrix, seqs: string | array | PeakDataset) -> Matrix", "Accessibility probabilities of new cells given only their state embeddings (decoder models): sequences × cells.")
            .details("`cell_embedding` has the columns the decoder was trained on (same embedding, e.g. LSI projected the same way); it is standardised \
                      with the training cells' statistics. Values are σ(z·w_c + b_c). `seqs`: DNA strings of the model's length, or a dataset (all its peaks).").example("let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, seed: 1});\nlet emb = lsi(sim.data, #{n: 5});\nlet base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1});\nlet dec = lora_finetune(base, sim.data, #{head: \"decoder\", cell_embedding: emb, decoder_hidden: [32], epochs: 1, rank: 2});\nlet pred = dec.predict_cells(emb.select_rows([0, 1, 2]), sim.data);\nprint(cell_auroc(pred, sim.data.select_cells([0, 1, 2])));"),
    );
    let host = reg.host.clone();
    reg.engine.register_fn(
        "predict_cells",
        move |model: &mut ModelValue, emb: Matrix, seqs: Dynamic| -> ScriptResult<Matrix> {
            const P: &str = "predict_cells";
            let t = model.lock();
            let dec = t.tuning.as_ref().and_then(|x| x.decoder.as_ref()).ok_or_else(|| {
                primitive_error(P, None, "the model has no cell-state decoder (lora_finetune with head: \"decoder\")")
            })?;
            if emb.cols != dec.net.config.input {
                return Err(primitive_error(
                    P,
                    Some("cell_embedding"),
                    &format!("has {} columns; the decoder reads {}", emb.cols, dec.net.config.input),
                ));
            }
            let (states, _, _) = standardise(&emb, Some((&dec.mean, &dec.sd)), t.net.device());
            let len = t.net.config().seq_len;
            let cancel = cancel_token(&host);
            let codes = if let Some(d) = seqs.clone().try_cast::<PeakData>() {
                let g = genome_for(P, &d, None)?;
                peak_codes(&g.0, &d.0.peaks, len as u64, 0, &mut SessionProgress::new(&host), &cancel)
                    .map_err(in_primitive(P))?
                    .codes
            } else {
                crate::seq::sequence_codes(P, &seqs, len)?.codes
            };
            let z = gscript_runtime::models::scbasset::embed_codes(
                &t.net,
                &codes,
                &mut SessionProgress::new(&host),
                &cancel,
            )
            .map_err(in_primitive(P))?;
            let (w, b) = dec.net.readout(&states);
            let probs = tch::no_grad(|| (z.to_device(w.device()).matmul(&w) + b.unsqueeze(0)).sigmoid());
            Ok(tensor_matrix(&probs))
        },
    );

    reg.docs.add(
        FnDoc::new("cell_auroc", "finetune", "cell_auroc(pred: Matrix, data: PeakDataset) -> array", "auROC of each cell's predicted accessibility (peaks × cells, the data's order) against the data's open peaks.")
            .details("One value per cell (NaN for a cell with no open or no closed peak); e.g. for model.predict_cells on held-out cells.")
            .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 60});\nlet a = cell_auroc(matrix(sim.data.cells_per_peak().map(|x| [x] )), sim.data.select_cells([0]));\nprint(a);"),
    );
    reg.engine.register_fn("cell_auroc", |pred: Matrix, data: PeakData| -> ScriptResult<Array> {
        let d = &data.0;
        if pred.rows != d.n_peaks() || pred.cols != d.n_cells() {
            return Err(primitive_error(
                "cell_auroc",
                Some("pred"),
                &format!(
                    "is {} × {}; expected peaks × cells = {} × {}",
                    pred.rows,
                    pred.cols,
                    d.n_peaks(),
                    d.n_cells()
                ),
            ));
        }
        let mut labels = vec![vec![false; d.n_peaks()]; d.n_cells()];
        for p in 0..d.n_peaks() {
            for &c in d.matrix.row_indices(p) {
                if let Some(row) = labels.get_mut(c as usize) {
                    row[p] = true;
                }
            }
        }
        Ok((0..d.n_cells())
            .map(|c| {
                let scores: Vec<f32> = (0..d.n_peaks()).map(|p| pred.get(p, c)).collect();
                Dynamic::from(gscript_runtime::train::exact_auroc(&scores, &labels[c]).unwrap_or(f64::NAN))
            })
            .collect())
    });
    reg.docs.add(m("save_lora", "model.save_lora(path: string)", "Saves only the adapters and the head (per-cell layer or decoder) with the base model's fingerprint, as safetensors (atomically).").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet tuned = lora_finetune(base, sim.data, #{epochs: 1, rank: 2});\ntuned.save_lora(out_path(\"adapters.safetensors\"));"));
    let host = reg.host.clone();
    reg.engine.register_fn("save_lora", move |model: &mut ModelValue, path: &str| -> ScriptResult<()> {
        const P: &str = "save_lora";
        let mut g = model.lock();
        let t = &mut *g;
        let tuning = t.tuning.as_ref().ok_or_else(|| primitive_error(P, None, "the model has no LoRA adapters"))?;
        if tuning.merged {
            return Err(primitive_error(
                P,
                None,
                "the adapters are merged into the weights: call model.unmerge_lora() first",
            ));
        }
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (n, x) in adapter_tensors(&mut t.net) {
            named.push((format!("lora.{n}"), x.detach().to_device(Device::Cpu)));
        }
        let (w, b) = t.net.cell_layer();
        named.push(("cell_embedding".into(), w.detach().to_device(Device::Cpu)));
        named.push(("cell_bias".into(), b.detach().to_device(Device::Cpu)));
        let meta = serde_json::json!({
            "format": "gscript-lora-1",
            "base_fingerprint": tuning.base_fingerprint,
            "lora": tuning.lora,
            "head": tuning.head,
            "config": t.meta.config,
            "barcodes": t.meta.barcodes,
            "history": t.meta.history,
        });
        named.push(("meta/json".into(), Tensor::from_slice(meta.to_string().as_bytes())));
        let p = PathBuf::from(path);
        crate::rank_zero::write_from_rank_zero(&host, P, "path", path, || {
            gscript_runtime::io::write_via_temp(&p, |tmp| {
                Tensor::write_safetensors(&named, tmp).map_err(std::io::Error::other)
            })
            .map_err(|e| primitive_error(P, Some("path"), &format!("{path}: {e}")))
        })
    });

    reg.docs.add(
        FnDoc::new("load_lora", "finetune", "load_lora(base: ScBassetModel, path: string) -> ScBassetModel", "Puts adapters saved with save_lora back on their base model.")
            .details("The base must be the model the adapters were trained on (its trunk fingerprint is checked). The decoder itself is not saved: \
                      the per-cell layer it produced is.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet base = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet tuned = lora_finetune(base, sim.data, #{epochs: 1, rank: 2});\ntuned.save_lora(out_path(\"adapters.safetensors\"));\nlet again = load_lora(base, out_path(\"adapters.safetensors\"));\nprint(again.parameter_counts());"),
    );
    reg.engine.register_fn("load_lora", |base: ModelValue, path: &str| -> ScriptResult<ModelValue> {
        const P: &str = "load_lora";
        let mut t: HashMap<String, Tensor> = Tensor::read_safetensors(path)
            .map_err(|e| primitive_error(P, Some("path"), &format!("{path}: not a readable safetensors file: {e}")))?
            .into_iter()
            .collect();
        let meta = t.remove("meta/json").ok_or_else(|| {
            primitive_error(P, Some("path"), &format!("{path}: no meta/json entry: not a save_lora file"))
        })?;
        let bytes: Vec<u8> = Vec::try_from(&meta).unwrap_or_default();
        let meta: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| primitive_error(P, Some("path"), &format!("{path}: unreadable metadata: {e}")))?;
        if meta["format"] != "gscript-lora-1" {
            return Err(primitive_error(
                P,
                Some("path"),
                &format!("{path}: not a save_lora file (format {})", meta["format"]),
            ));
        }
        let b = base.lock();
        let fp = trunk_fingerprint(&b.net);
        if meta["base_fingerprint"] != fp.as_str() {
            return Err(primitive_error(
                P,
                Some("base"),
                &format!(
                    "the adapters were trained on another base model (fingerprint {} vs this model's {fp})",
                    meta["base_fingerprint"]
                ),
            ));
        }
        let lcfg: LoraConfig = serde_json::from_value(meta["lora"].clone())
            .map_err(|e| primitive_error(P, Some("path"), &e.to_string()))?;
        let cfg: ScBassetConfig = serde_json::from_value(meta["config"].clone())
            .map_err(|e| primitive_error(P, Some("path"), &e.to_string()))?;
        let barcodes: Vec<String> = serde_json::from_value(meta["barcodes"].clone()).unwrap_or_default();
        let device = b.net.device();
        let (vs, mut net) = on_trunk_of(P, &b.net, &cfg)?;
        let get = |k: &str| t.get(k).ok_or_else(|| primitive_error(P, Some("path"), &format!("{path}: no `{k}`")));
        net.set_cell_layer(get("cell_embedding")?, get("cell_bias")?)
            .map_err(|e| primitive_error(P, Some("path"), &e.to_string()))?;
        let avs = nn::VarStore::new(device);
        let adapted = attach_lora(&mut net, &avs.root(), &lcfg).map_err(in_primitive(P))?;
        freeze_trunk(&net);
        tch::no_grad(|| -> ScriptResult<()> {
            for (n, mut x) in adapter_tensors(&mut net) {
                let src = get(&format!("lora.{n}"))?;
                if src.size() != x.size() {
                    return Err(primitive_error(
                        P,
                        Some("path"),
                        &format!("{path}: `lora.{n}` has shape {:?}, expected {:?}", src.size(), x.size()),
                    ));
                }
                x.copy_(&src.to_device(device));
            }
            Ok(())
        })?;
        net.set_precision(b.net.precision());
        let history = serde_json::from_value(meta["history"].clone()).unwrap_or_default();
        let m = ModelMeta {
            format: MODEL_FORMAT.into(),
            config: cfg,
            preset: format!("{} + LoRA", b.meta.preset),
            barcodes,
            cell_batch: None,
            batch_names: None,
            peaks: None,
            history,
            precision: net.precision(),
            versions: Versions::current(),
        };
        let trainable = adapter_tensors(&mut net).iter().map(|(_, x)| x.numel()).sum::<usize>()
            + net.cell_layer().0.numel()
            + net.cell_layer().1.numel();
        let frozen = net.trunk_tensors().iter().map(|x| x.numel()).sum();
        let tuning = Tuning {
            adapter_vs: avs,
            lora: lcfg,
            adapted,
            merged: false,
            head: meta["head"].as_str().unwrap_or("cells").to_string(),
            decoder: None,
            trainable,
            frozen,
            base_fingerprint: fp,
        };
        Ok(ModelValue::new(TrainedModel { vs, net, meta: m, tuning: Some(tuning) }))
    });
}
