//! `lora_finetune` and scooby training data-parallel under `gscript launch --nproc 2`: two ranks, each on half of
//! every global minibatch, train as one process on the whole minibatches, up to the fp32 summation order of the
//! gradients (compared with the difference another seed makes).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Runs `gscript <args>` ([`common::process::gscript_output`]), failing the test unless it succeeds.
fn gscript(args: &[&str], limit: Duration) -> Output {
    let out = common::process::gscript_output(args, None, limit);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "gscript {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    out
}

fn tensors(path: &Path) -> Vec<(String, tch::Tensor)> {
    let mut t = tch::Tensor::read_safetensors(path).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// L2 distance over the fp32 tensors of two name-sorted weight lists.
fn dist(a: &[(String, tch::Tensor)], b: &[(String, tch::Tensor)]) -> f64 {
    a.iter()
        .zip(b)
        .filter(|((_, x), _)| x.kind() == tch::Kind::Float)
        .map(|((_, x), (_, y))| (x - y).square().sum(tch::Kind::Double).double_value(&[]))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn lora_finetune_with_two_ranks_equals_one() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.model");
    // The base model is trained once, in one process (scBasset's batch norm makes world-2 base training differ).
    let setup = dir.path().join("base.gscript");
    std::fs::write(
        &setup,
        format!(
            "let sim = simulate_atac(#{{n_cells: 30, n_peaks: 96, n_cell_types: 2, seed: 4}});\n\
             let base = train_scbasset(sim.data, #{{preset: \"tiny\", epochs: 1, batch_size: 32, threads: 1}});\n\
             base.save(\"{}\");\n",
            base.display()
        ),
    )
    .unwrap();
    gscript(&["run", setup.to_str().unwrap()], Duration::from_secs(120));
    let tune = |out: &Path, seed: u64| {
        format!(
            "let sim = simulate_atac(#{{n_cells: 30, n_peaks: 96, n_cell_types: 2, seed: 4}});\n\
             let base = load_model(\"{}\");\n\
             let tuned = lora_finetune(base, sim.data, #{{epochs: 2, batch_size: 32, rank: 2, seed: {seed}}});\n\
             tuned.save_lora(\"{}\");\n",
            base.display(),
            out.display()
        )
    };
    let run = |name: &str, seed: u64, launch: bool| {
        let (out, script) =
            (dir.path().join(format!("{name}.safetensors")), dir.path().join(format!("{name}.gscript")));
        std::fs::write(&script, tune(&out, seed)).unwrap();
        let script = script.to_str().unwrap();
        let args: Vec<&str> = if launch { vec!["launch", "--nproc", "2", script] } else { vec!["run", script] };
        gscript(&args, Duration::from_secs(120));
        tensors(&out)
    };
    let one = run("one", 7, false);
    let two = run("two", 7, true);
    // The scale of a real difference: the same fine-tuning with another minibatch order (seed).
    let other = run("other", 8, false);
    let names = |t: &[(String, tch::Tensor)]| t.iter().map(|t| t.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&one), names(&two));
    assert!(names(&one).iter().any(|n| n.contains("lora")), "adapters saved: {:?}", names(&one));
    // Only the summation order of the gradients differs between 1 and 2 ranks (shard sums, then the all-reduce);
    // Adam's normalised steps carry those fp32 differences forward, so they are compared with what another
    // minibatch sequence changes: an order of magnitude below it.
    let (d_world, d_seed) = (dist(&one, &two), dist(&one, &other));
    eprintln!("|world 2 - world 1| = {d_world:.3e}, |seed 8 - seed 7| = {d_seed:.3e}");
    assert!(
        d_seed > 0.0 && d_world < 0.1 * d_seed,
        "world 2 differs from world 1 by {d_world}, another seed by {d_seed}"
    );
}

/// A scooby training script on 4 windows of a simulated multiome that prints its loss history (`LOSS [..]`); `mode`
/// holds the training-mode options (`train_mode: ...`).
fn scooby_script(dir: &Path, name: &str, seed: u64, batch_size: usize, mode: &str) -> PathBuf {
    let sim = dir.join(format!("{name}-sim"));
    let script = dir.join(format!("{name}.gscript"));
    std::fs::write(
        &script,
        format!(
            "let sim = simulate_multiome(\"{}\", #{{cells: 24, cell_types: 3, chromosomes: 1, chrom_length: 72000, \
             genes: 4, max_gene_length: 8000, window: 4096}});\n\
             let cov = load_rna_coverage(sim.bam).join(load_fragments(sim.fragments, #{{genome: sim.genome}}));\n\
             let types = sim.truth.types;\n\
             let states = matrix(cov.cells().map(|b| {{ let t = sim.truth.cell_types[b]; \
             types.map(|x| if x == t {{ 1.0 }} else {{ 0.0 }}) }}));\n\
             let m = scooby_model(#{{state_dim: 3, seed: 1}});\n\
             let h = m.train(cov, sim.genome, [\"chr1:0-4096\", \"chr1:8192-12288\", \"chr1:20480-24576\", \
             \"chr1:32768-36864\"], states, #{{epochs: 2, batch_size: {batch_size}, cells_per_sequence: 8, \
             warmup_steps: 2, {mode}, seed: {seed}}});\nprint(`LOSS ${{h.train_loss}}`);\n",
            sim.display()
        ),
    )
    .unwrap();
    script
}

/// The training-loss history of [`scooby_script`] (minibatches of 4 windows) run in one process or launched as two.
fn scooby_losses(dir: &Path, name: &str, seed: u64, launch: bool, mode: &str) -> Vec<f64> {
    let script = scooby_script(dir, name, seed, 4, mode);
    let script = script.to_str().unwrap();
    let args: Vec<&str> = if launch { vec!["launch", "--nproc", "2", script] } else { vec!["run", script] };
    let out = gscript(&args, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("LOSS ")).unwrap_or_else(|| panic!("no loss:\n{stdout}"));
    line.trim_matches(['[', ']']).split(',').map(|x| x.trim().parse().unwrap()).collect()
}

#[test]
fn scooby_training_with_two_ranks_equals_one() {
    // Batch statistics and dropout off (`train_mode: false`): they are per rank. Cells, shifts and strands are drawn
    // per window, so both runs see the same global minibatches; the second epoch's loss follows the first epoch's
    // synchronised steps.
    let dir = tempfile::tempdir().unwrap();
    let mode = "train_mode: false";
    let one = scooby_losses(dir.path(), "one", 5, false, mode);
    let two = scooby_losses(dir.path(), "two", 5, true, mode);
    let other = scooby_losses(dir.path(), "other", 6, false, mode);
    assert_eq!(one.len(), 2);
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let (d_world, d_seed) = (diff(&one, &two), diff(&one, &other));
    eprintln!("scooby losses: world 1 {one:?}, world 2 {two:?}, seed 6 {other:?}");
    assert!(d_world <= 1e-5 * one[0].abs(), "world 2 {two:?} vs world 1 {one:?}");
    assert!(d_seed > 10.0 * d_world, "another seed changes the losses: {other:?} vs {one:?}");
}

#[test]
fn scooby_training_with_batch_statistics_needs_sync_batch_norm() {
    // Training mode with batch statistics (`dropout: false`: dropout masks are drawn per rank). With sync_batch_norm
    // the trunk's batch norms see the global minibatch on both ranks, so world 2 trains as world 1; without it each
    // rank normalises its half with its own statistics. (The tiny random trunk moves the loss little, hence the
    // relative scale.)
    let dir = tempfile::tempdir().unwrap();
    let one = scooby_losses(dir.path(), "one", 5, false, "train_mode: true, dropout: false, sync_batch_norm: true");
    let synced = scooby_losses(dir.path(), "sync", 5, true, "train_mode: true, dropout: false, sync_batch_norm: true");
    let per_rank = scooby_losses(dir.path(), "local", 5, true, "train_mode: true, dropout: false");
    assert_eq!(one.len(), 2);
    let rel = |a: &[f64]| a.iter().zip(&one).map(|(x, y)| (x - y).abs() / y.abs()).fold(0.0, f64::max);
    let (d_sync, d_local) = (rel(&synced), rel(&per_rank));
    eprintln!("scooby losses: world 1 {one:?}, world 2 synced {synced:?} ({d_sync:.2e}), per rank {per_rank:?} ({d_local:.2e})");
    assert!(d_sync <= 1e-5, "world 2 with sync_batch_norm {synced:?} vs world 1 {one:?}");
    // The same tolerance rejects per-rank statistics, which differ by an order of magnitude more than the summation
    // order does.
    assert!(
        d_local > 1e-5 && d_local > 10.0 * d_sync,
        "per-rank batch statistics should change the losses: {per_rank:?} vs {one:?}"
    );
}

#[test]
fn sync_batch_norm_refuses_a_minibatch_without_a_window_per_rank() {
    // 4 windows in minibatches of 3: the last one has 1 window, so one rank would sit out its collectives.
    let dir = tempfile::tempdir().unwrap();
    let script = scooby_script(dir.path(), "short", 5, 3, "train_mode: true, sync_batch_norm: true");
    let out = common::process::gscript_output(
        &["launch", "--nproc", "2", script.to_str().unwrap()],
        None,
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("batch_size") && stderr.contains("leave 1"), "{stderr}");
}

#[test]
fn lora_finetune_checkpoint_of_two_ranks_resumes_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.model");
    let ckpt = dir.path().join("run.ckpt");
    let script = |name: &str, body: String| {
        let path = dir.path().join(format!("{name}.gscript"));
        std::fs::write(
            &path,
            format!("let sim = simulate_atac(#{{n_cells: 30, n_peaks: 96, n_cell_types: 2, seed: 4}});\n{body}"),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let tune = |name: &str, epochs: usize, extra: String| {
        let out = dir.path().join(format!("{name}.safetensors"));
        let body = format!(
            "let base = load_model(\"{}\");\nlet tuned = lora_finetune(base, sim.data, #{{epochs: {epochs}, \
             batch_size: 32, rank: 2, seed: 7{extra}}});\ntuned.save_lora(\"{}\");\n",
            base.display(),
            out.display()
        );
        (script(name, body), out)
    };
    let setup = script(
        "base",
        format!(
            "let base = train_scbasset(sim.data, #{{preset: \"tiny\", epochs: 1, batch_size: 32, threads: 1}});\n\
             base.save(\"{}\");\n",
            base.display()
        ),
    );
    gscript(&["run", &setup], Duration::from_secs(120));
    // Epoch 1 with 2 ranks, checkpointed; epoch 2 resumed with 1 rank; 2 epochs straight with 1 rank.
    let (first, after_one) = tune("first", 1, format!(", checkpoint: \"{}\"", ckpt.display()));
    gscript(&["launch", "--nproc", "2", &first], Duration::from_secs(120));
    assert!(ckpt.is_file(), "rank 0 writes the checkpoint");
    let (resumed, resumed_out) = tune("resumed", 2, format!(", resume: \"{}\"", ckpt.display()));
    gscript(&["run", &resumed], Duration::from_secs(120));
    let (straight, straight_out) = tune("straight", 2, String::new());
    gscript(&["run", &straight], Duration::from_secs(120));
    let (r, s, one) = (tensors(&resumed_out), tensors(&straight_out), tensors(&after_one));
    let (d_resume, d_epoch) = (dist(&r, &s), dist(&one, &s));
    eprintln!("|resumed - straight| = {d_resume:.3e}, |epoch 1 - epoch 2| = {d_epoch:.3e}");
    // The resumed run continues the 2-rank epoch 1: the 1-rank run up to the summation order, and not bit for bit
    // the fresh 1-rank run (which it would be if the checkpoint were ignored).
    assert!(d_resume < 0.1 * d_epoch, "resumed run differs by {d_resume}, an epoch changes {d_epoch}");
    assert!(d_resume > 0.0, "the resumed run is the fresh run: the checkpoint was not used");
}
