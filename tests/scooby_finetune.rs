//! `lora_finetune` with a Borzoi base and per-cell coverage builds and fine-tunes scooby: the result's frozen trunk is
//! the base's (every trunk weight of the saved files equal; batch-norm running statistics move in training mode), its adapters have the asked rank on scooby's targets, the
//! base is left unchanged, a seeded run repeats exactly and more epochs change the predictions; bad options are
//! errors naming them.

mod common;

use std::collections::HashMap;

use common::{err, eval, floats, session, strings};
use tch::Tensor;

const SETUP: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 24, cell_types: 3, chromosomes: 1, \
    chrom_length: 72000, genes: 4, max_gene_length: 8000, fragments_per_cell: 400, umis_per_cell: 300, \
    window: 4096, seed: 4});\n\
    let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{genome: sim.genome}));\n\
    let types = sim.truth.types;\n\
    let states = matrix(cov.cells().map(|b| { let t = sim.truth.cell_types[b]; \
        types.map(|x| if x == t { 1.0 } else { 0.0 }) }));\n\
    let b = borzoi_model(#{seed: 3});\n\
    let opts = #{genome: sim.genome, regions: [\"chr1:0-4096\", \"chr1:8192-12288\", \"chr1:20480-24576\"], \
        cell_embedding: states, epochs: 1, cells_per_sequence: 4, warmup_steps: 1, decay_steps: 50, rank: 4, seed: 2};\n";

fn tensors(path: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path).unwrap().into_iter().collect()
}

#[test]
fn lora_finetune_builds_scooby_on_the_borzoi_trunk_and_trains_it() {
    // libtorch's generator is global (model initialisation, dropout): one test at a time, so seeds repeat
    let _torch = gscript_runtime::testing::torch_rng_lock();
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SETUP);
    let before = floats(eval(&mut s, "b.predict_tracks(load_genome(sim.genome), \"chr1:30000-30100\").row(0)"));
    let _ = eval(&mut s, "let m1 = lora_finetune(b, cov, opts);");
    assert_eq!(eval(&mut s, "type_of(m1)").to_string(), "ScoobyModel");
    let text = eval(&mut s, "m1.to_string()").to_string();
    assert!(text.contains("E 3, T 3") && text.contains("fine-tuned"), "{text}");
    // The base is unchanged (its heads and trunk): the same prediction as before.
    let after = floats(eval(&mut s, "b.predict_tracks(load_genome(sim.genome), \"chr1:30000-30100\").row(0)"));
    assert_eq!(before, after);

    let base = eval(&mut s, "let f = out_path(\"b.safetensors\"); b.save(f); f").to_string();
    let tuned = eval(&mut s, "let f = out_path(\"m1.safetensors\"); m1.save(f); f").to_string();
    let (base, tuned) = (tensors(&base), tensors(&tuned));
    let mut shared = 0;
    for (name, t) in &tuned {
        // Batch norms' running statistics move: scooby trains with batch statistics (train_mode, its default).
        let running = name.ends_with(".running_mean") || name.ends_with(".running_var");
        if let Some(b) = base.get(name).filter(|_| !running) {
            assert!(t.equal(b), "trunk tensor {name} differs from the base's");
            shared += 1;
        }
    }
    let heads = base.keys().filter(|k| !tuned.contains_key(*k)).count();
    assert!(shared > 50 && heads > 0 && heads < base.len() / 4, "{shared} shared, {heads} base-only tensors");
    // Adapters of rank 4 on scooby's targets: every convolution named conv_layer outside the separable ones, and q/v.
    let a: Vec<&String> = tuned.keys().filter(|k| k.ends_with(".lora_a")).collect();
    assert!(a.iter().any(|k| k.contains("to_q")) && a.iter().any(|k| k.contains("to_v")), "{a:?}");
    assert!(a.iter().all(|k| !k.contains("separable")), "{a:?}");
    for k in &a {
        assert_eq!(tuned[*k].size()[0], 4, "{k}: rank");
    }
    assert!(
        tuned.keys().any(|k| k.starts_with("cell_state_to_conv."))
            && tuned.keys().any(|k| k.starts_with("transform_borzoi_emb."))
    );

    // Seeded: the same call gives the same model; more epochs give another.
    let p1 = floats(eval(&mut s, "m1.predict(sim.genome, \"chr1:30000-30100\", states, #{cells: [0, 5]}).row(10)"));
    let _ = eval(&mut s, "let m2 = lora_finetune(b, cov, opts);");
    let p2 = floats(eval(&mut s, "m2.predict(sim.genome, \"chr1:30000-30100\", states, #{cells: [0, 5]}).row(10)"));
    assert_eq!(p1, p2);
    let _ = eval(&mut s, "let o3 = opts; o3.epochs = 3; let m3 = lora_finetune(b, cov, o3);");
    let p3 = floats(eval(&mut s, "m3.predict(sim.genome, \"chr1:30000-30100\", states, #{cells: [0, 5]}).row(10)"));
    let diff = p1.iter().zip(&p3).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff > 1e-4, "three epochs predict as one: {diff}");
    // The run's history stays on the model: three epochs, finite losses, and the same as model.train returns.
    assert_eq!(strings(eval(&mut s, "m3.history().epoch")), ["1", "2", "3"]);
    let losses = floats(eval(&mut s, "m3.history().train_loss"));
    assert!(losses.len() == 3 && losses.iter().all(|x| x.is_finite()), "{losses:?}");
    assert_eq!(strings(eval(&mut s, "m1.history().epoch")), ["1"]);
    let returned = floats(eval(&mut s, "let h = m1.train(cov, sim.genome, opts.regions, states, #{epochs: 2, cells_per_sequence: 4, warmup_steps: 1}); h.train_loss"));
    assert_eq!(floats(eval(&mut s, "m1.history().train_loss")), returned);
    assert!(eval(&mut s, "scooby_model().history().epoch.len()").as_int().unwrap() == 0);
    // plot_training names the metric panel after the series: Pearson r for scooby's history, not auROC
    let f = eval(&mut s, "let f = out_path(\"h.svg\"); plot_training(m3.history()).save(f); f").to_string();
    let svg = std::fs::read_to_string(f).unwrap();
    assert!(svg.contains("Pearson r") && !svg.contains("auROC"), "metric label");
    let f = eval(&mut s, "let f = out_path(\"h2.svg\"); plot_training(m3.history(), #{metric_label: \"r\", loss_label: \"PM loss\"}).save(f); f");
    let svg = std::fs::read_to_string(f.to_string()).unwrap();
    assert!(svg.contains("PM loss") && !svg.contains("Pearson r"), "explicit labels");
}

#[test]
fn lora_finetune_of_a_borzoi_names_bad_options() {
    // libtorch's generator is global (model initialisation, dropout): one test at a time, so seeds repeat
    let _torch = gscript_runtime::testing::torch_rng_lock();
    let (mut s, _dir) = session();
    let _ = eval(&mut s, SETUP);
    for (key, want) in [("genome", "required"), ("regions", "required"), ("cell_embedding", "required")] {
        let e = err(&mut s, &format!("let o = opts; o.remove({key:?}); lora_finetune(b, cov, o)"));
        assert!(e.contains(&format!("lora_finetune: argument `{key}`")) && e.contains(want), "{e}");
    }
    let e = err(&mut s, "let o = opts; o.cell_embedding = states.select_rows([0, 1]); lora_finetune(b, cov, o)");
    assert!(e.contains("argument `cell_embedding`") && e.contains("2 rows") && e.contains("24 cells"), "{e}");
    let e = err(&mut s, "let o = opts; o.rank = 0; lora_finetune(b, cov, o)");
    assert!(e.contains("`rank`"), "{e}");
    let e = err(&mut s, "let o = opts; o.epoch = 2; lora_finetune(b, cov, o)");
    assert!(e.contains("unknown option `epoch`") && e.contains("epochs"), "{e}");
    let e = err(&mut s, "let o = opts; o.regions = [\"chrX:0-4096\"]; lora_finetune(b, cov, o)");
    assert!(e.contains("lora_finetune") && e.contains("chrX"), "{e}");
}
