//! scooby training and prediction through the language on a small simulated multiome: a tiny scooby trains on the
//! simulation's fold BED (its loss falls), a checkpointed run resumed in a fresh model ends where the uninterrupted
//! run ends, `predict` returns bins × (cells × tracks) of non-negative values (per cell, per group, in counts or in
//! the model's space), and bad inputs give errors that name the argument.

mod common;

use common::{err, eval, floats, session};
use gscript_lang::Session;

const SETUP: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 24, cell_types: 3, chromosomes: 1, \
    chrom_length: 72000, genes: 4, max_gene_length: 8000, fragments_per_cell: 800, umis_per_cell: 500, \
    window: 4096, seed: 2});\n\
    let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{genome: sim.genome}));\n\
    let types = sim.truth.types;\n\
    let states = matrix(cov.cells().map(|b| { let t = sim.truth.cell_types[b]; \
        types.map(|x| if x == t { 1.0 } else { 0.0 }) }));\n";

/// Options of every training run here: fixed decay horizon, so a resumed run continues exactly.
const OPTS: &str = "batch_size: 2, cells_per_sequence: 8, val_cells: 8, lr: 0.004, lr_adapters: 0.002, \
    lr_1d: 0.002, warmup_steps: 2, decay_steps: 100, seed: 1";

fn matrix_values(s: &mut Session, expr: &str) -> Vec<f64> {
    let _ = eval(s, &format!("let __m = {expr};"));
    let rows = eval(s, "__m.shape()[0]").as_int().unwrap();
    (0..rows).flat_map(|r| floats(eval(s, &format!("__m.row({r})")))).collect()
}

#[test]
fn tiny_scooby_trains_resumes_and_predicts() {
    let t0 = std::time::Instant::now();
    let (mut s, dir) = session();
    let _ = eval(&mut s, SETUP);
    let n_cells = eval(&mut s, "cov.n_cells()").as_int().unwrap();
    assert!(n_cells >= 20, "{n_cells} cells");
    assert_eq!(eval(&mut s, "states.shape()[1]").as_int().unwrap(), 3);

    // Full run: 3 epochs on the fold BED (fold3 left out, fold4 validates).
    let _ = eval(&mut s, &format!("let m = scooby_model(#{{state_dim: 3, seed: 5}}); let h = m.train(cov, sim.genome, sim.sequences, states, #{{epochs: 3, {OPTS}}});"));
    let loss = floats(eval(&mut s, "h.train_loss"));
    assert_eq!(loss.len(), 3);
    assert!(loss.iter().all(|x| x.is_finite()) && loss[2] < loss[0], "training loss {loss:?}");
    let val = floats(eval(&mut s, "h.val_loss"));
    assert!(val.iter().all(|x| x.is_finite()), "validation loss {val:?}");
    assert!(floats(eval(&mut s, "h.train_pearson")).iter().all(|x| x.is_finite()));
    assert!(eval(&mut s, "m.to_string()").to_string().starts_with("scooby tiny, fine-tuned"));

    // Two epochs with a checkpoint, then a fresh model resumed to three: the same model as the full run.
    let ckpt = dir.path().join("run.ckpt");
    let ckpt = ckpt.to_str().unwrap();
    let _ = eval(&mut s, &format!("let a = scooby_model(#{{state_dim: 3, seed: 5}}); let ha = a.train(cov, sim.genome, sim.sequences, states, #{{epochs: 2, checkpoint: {ckpt:?}, {OPTS}}});"));
    assert!(std::path::Path::new(ckpt).is_file());
    let _ = eval(&mut s, &format!("let b = scooby_model(#{{state_dim: 3, seed: 5}}); let hb = b.train(cov, sim.genome, sim.sequences, states, #{{epochs: 3, resume: {ckpt:?}, {OPTS}}});"));
    let resumed = floats(eval(&mut s, "hb.train_loss"));
    assert_eq!(resumed.len(), 3);
    assert_eq!(&resumed[..2], &floats(eval(&mut s, "ha.train_loss"))[..], "the checkpoint's history comes back");
    assert!((resumed[2] - loss[2]).abs() <= 1e-6 * loss[2].abs().max(1.0), "resumed {resumed:?} vs full {loss:?}");

    // Predictions: bins × (cells × tracks), non-negative; the resumed model predicts what the full run's does.
    let region = "\"chr1:20000-20100\"";
    let _ = eval(&mut s, &format!("let p = m.predict(sim.genome, {region}, states);"));
    assert_eq!(eval(&mut s, "p.shape()[0]").as_int().unwrap(), 128);
    assert_eq!(eval(&mut s, "p.shape()[1]").as_int().unwrap(), n_cells * 3);
    assert_eq!(eval(&mut s, "p.col_names()[2]").to_string(), "0:atac");
    assert_eq!(eval(&mut s, "p.row_names()[0]").to_string(), "chr1:18002-18034");
    let full = matrix_values(&mut s, "p");
    assert!(full.iter().all(|&x| x.is_finite() && x >= 0.0));
    let other = matrix_values(&mut s, &format!("b.predict(sim.genome, {region}, states)"));
    let diff = full.iter().zip(&other).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0.0, f64::max);
    assert!(diff < 1e-4, "resumed and full runs predict differently ({diff})");
    let raw =
        matrix_values(&mut s, &format!("m.predict(sim.genome, {region}, states, #{{counts: false, cells: [0, 1]}})"));
    assert_eq!(raw.len(), 128 * 2 * 3);
    assert!(raw.iter().all(|&x| x.is_finite() && x >= 0.0));
    let _ = eval(&mut s, &format!("let g = m.predict(sim.genome, {region}, states, #{{groups: cov.cells().map(|b| sim.truth.cell_types[b]), rc_average: false}});"));
    let n_types = eval(&mut s, "cov.cells().map(|b| sim.truth.cell_types[b]).reduce(|acc, t| if acc.contains(t) { acc } else { acc + [t] }, []).len()").as_int().unwrap();
    assert_eq!(eval(&mut s, "g.shape()[1]").as_int().unwrap(), n_types * 3);
    assert!(matrix_values(&mut s, "g").iter().all(|&x| x.is_finite() && x >= 0.0));

    // Gene-centred windows (a Genes value) with explicit validation windows.
    let v = floats(eval(
        &mut s,
        "m.train(cov, sim.genome, load_genes(sim.gtf), states, #{epochs: 1, cells_per_sequence: 4, val_cells: 4, \
         validation: [\"chr1:0-4096\"], warmup_steps: 1}).val_loss",
    ));
    assert!(v.len() == 1 && v[0].is_finite(), "{v:?}");

    // Activation checkpointing trains the same model (dropout off: no masks to compare) from the same start.
    let run = |s: &mut Session, ckpt: bool| {
        floats(eval(
            s,
            &format!(
                "scooby_model(#{{state_dim: 3, seed: 5}}).train(cov, sim.genome, [\"chr1:0-4096\", \"chr1:8192-12288\"], \
                 states, #{{epochs: 2, dropout: false, checkpoint_activations: {ckpt}, {OPTS}}}).train_loss"
            ),
        ))
    };
    let (plain, ckpt) = (run(&mut s, false), run(&mut s, true));
    assert_eq!(plain.len(), 2);
    assert!(plain.iter().zip(&ckpt).all(|(a, b)| (a - b).abs() <= 1e-5 * a.abs()), "{plain:?} vs {ckpt:?}");

    // Errors name the argument.
    let wide = "matrix(cov.cells().map(|b| [1.0, 0.0]))";
    let e = err(&mut s, &format!("m.train(cov, sim.genome, sim.sequences, {wide}, #{{epochs: 1}})"));
    assert!(e.contains("train: argument `cell_states`") && e.contains("3-wide"), "{e}");
    let e = err(&mut s, &format!("m.predict(sim.genome, {region}, {wide})"));
    assert!(e.contains("predict: argument `cell_states`"), "{e}");
    let e = err(&mut s, "m.train(cov, sim.genome, sim.sequences, states.select_rows([0, 1]), #{epochs: 1})");
    assert!(e.contains("argument `cell_states`") && e.contains("cells"), "{e}");
    let e = err(&mut s, "m.train(cov, sim.genome, sim.sequences, states, #{epoch: 1})");
    assert!(e.contains("unknown option `epoch`") && e.contains("cells_per_sequence"), "{e}");
    let e = err(&mut s, "m.train(cov, sim.genome, sim.sequences, states, #{epochs: 1, checkpoint_activations: 1})");
    assert!(e.contains("checkpoint_activations"), "{e}");
    let e = err(&mut s, &format!("m.predict(sim.genome, {region}, states, #{{count: false}})"));
    assert!(e.contains("unknown option `count`") && e.contains("inverse"), "{e}");
    let e = err(&mut s, "m.predict(sim.genome, \"chr1:100-200\", states, #{counts: false, groups: cov.cells()})");
    assert!(e.contains("argument `counts`"), "{e}");
    let e = err(&mut s, "m.predict(sim.genome, \"chr1:150000-150100\", states)");
    assert!(e.contains("predict: argument `region`") && e.contains("past the end"), "{e}");
    let e = err(&mut s, "m.predict(sim.genome, \"chr9:100-200\", states)");
    assert!(e.contains("argument `region`") && e.contains("chr9"), "{e}");
    let e = err(&mut s, "m.train(cov, sim.genome, [\"chr1:150000-154096\"], states, #{epochs: 1})");
    assert!(e.contains("argument `regions`"), "{e}");
    let e = err(&mut s, "m.train(cov, sim.genome, [\"chr1:5-x\"], states, #{epochs: 1})");
    assert!(e.contains("argument `regions`") && e.contains("element 0"), "{e}");
    let e = err(&mut s, "m.train(cov, sim.genome, sim.sequences, states, #{epochs: 1, resume: \"/nonexistent.ckpt\"})");
    assert!(e.contains("argument `resume`"), "{e}");
    let e = err(
        &mut s,
        "scooby_model(#{state_dim: 3, tracks: 2}).train(cov, sim.genome, sim.sequences, states, #{epochs: 1})",
    );
    assert!(e.contains("argument `coverage`") && e.contains("tracks"), "{e}");
    eprintln!("scooby_train: {:?}", t0.elapsed());
}
