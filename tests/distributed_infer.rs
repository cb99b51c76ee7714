//! Sharded inference end to end: `insert_motif` and `ism` run by `gscript launch --nproc 2` split their work across
//! the two ranks (Gloo over loopback) and return the single-process result. The model is trained once by a
//! single process and loaded by both runs (data-parallel training of a model with batch norm is not the
//! single-process training, see docs/scaling.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;
use common::process::gscript;

/// Labelled rows of values.
type Rows = Vec<(String, Vec<f64>)>;

/// The script's `label row [values]` lines, and its `label seconds s` timings.
fn parse(stdout: &str) -> (Rows, Vec<(String, f64)>) {
    let (mut rows, mut times) = (Vec::new(), Vec::new());
    for line in stdout.lines() {
        if let Some((label, rest)) = line.split_once(" seconds ") {
            times.push((label.to_string(), rest.trim().parse().unwrap()));
        } else if let Some((label, values)) = line.split_once(" [") {
            let values = values.trim_end_matches(']').split(", ").map(|v| v.trim().parse().unwrap()).collect();
            rows.push((label.to_string(), values));
        }
    }
    (rows, times)
}

/// Trains a tiny scBasset (1 epoch, one thread) on the data of `sim` (a `let sim = …;` line) in one process, saves it
/// in `dir` and returns its path.
fn train_tiny_model(dir: &Path, sim: &str, batch_size: usize) -> PathBuf {
    let model = dir.join("model.safetensors");
    std::fs::write(
        dir.join("train.gscript"),
        format!(
            "{sim}let model = train_scbasset(sim.data, #{{preset: \"tiny\", epochs: 1, batch_size: {batch_size}, \
             threads: 1}});\nmodel.save(\"{}\");\n",
            model.display()
        ),
    )
    .unwrap();
    gscript(&["run", "train.gscript"], dir, Duration::from_secs(60));
    model
}

const N_BACKGROUND: usize = 400;

#[test]
fn two_ranks_shard_insert_motif_and_ism_to_the_single_process_result() {
    let dir = tempfile::tempdir().unwrap();
    let sim = "let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, n_cell_types: 2, seed: 3});\n";
    let model = train_tiny_model(dir.path(), sim, 32);
    // One thread per process (the 2 ranks share the cores). One motif first (fewer motifs than ranks: rank 0 has none;
    // the first call also joins the group), then 5 motifs (2 + 3) over 400 backgrounds, then ISM of a whole 336-bp
    // peak (1,008 mutants: 504 per rank).
    std::fs::write(
        dir.path().join("infer.gscript"),
        format!(
            "{sim}let model = load_model(\"{}\");\nset_threads(1);\n\
             let one = insert_motif(model, jaspar_motifs().select([\"CTCF\"]), #{{peaks: sim.data, n_background: 9, \
             output: \"difference\", scale: \"logit\"}});\n\
             let motifs = jaspar_motifs().select([\"CTCF\", \"REST\", \"Nrf1\", \"EBF1\", \"SPI1\"]);\n\
             let t = timestamp();\n\
             let act = insert_motif(model, motifs, #{{peaks: sim.data, n_background: {N_BACKGROUND}}});\n\
             print(`insert_motif seconds ${{t.elapsed}}`);\n\
             let t = timestamp();\n\
             let r = ism(model, sim.data.peaks().get(0), #{{data: sim.data, groups: \"cell_type\"}});\n\
             print(`ism seconds ${{t.elapsed}}`);\n\
             print(`one 0 ${{one.row(0)}}`);\n\
             for i in 0..act.shape()[0] {{ print(`act ${{i}} ${{act.row(i)}}`); }}\n\
             let s = r.scores();\n\
             for i in 0..s.shape()[0] {{ print(`ism ${{i}} ${{s.row(i)}}`); }}\n",
            model.display()
        ),
    )
    .unwrap();
    let single = gscript(&["run", "infer.gscript"], dir.path(), Duration::from_secs(60));
    let sharded = gscript(&["launch", "--nproc", "2", "infer.gscript"], dir.path(), Duration::from_secs(120));
    let (one, two) = (String::from_utf8_lossy(&single.stdout), String::from_utf8_lossy(&sharded.stdout));
    let (rows1, times1) = parse(&one);
    let (rows2, times2) = parse(&two);
    assert_eq!(rows1.len(), 1 + 5 + 2, "{one}");
    assert_eq!(rows1.iter().map(|r| &r.0).collect::<Vec<_>>(), rows2.iter().map(|r| &r.0).collect::<Vec<_>>(), "{two}");
    for ((label, a), (_, b)) in rows1.iter().zip(&rows2) {
        assert_eq!(a.len(), b.len(), "{label}");
        // fp32 tolerance relative to the row's scale (motif rows are computed in the same batches as in one process;
        // ISM's calls of the local recomputation are split into equal shares).
        let scale = a.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{label}: an all-zero row tests nothing");
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * scale, "{label} column {j}: 1 rank {x} vs 2 ranks {y}");
        }
    }
    // The work was split: no rank embedded all 5 × 400 motif instances or all 1,008 mutants, as one process did.
    let (err1, err2) = (String::from_utf8_lossy(&single.stderr), String::from_utf8_lossy(&sharded.stderr));
    let embedded = |n: usize| format!(" {n} sequences embedded");
    for (n, part) in [(5 * N_BACKGROUND, 2 * N_BACKGROUND), (1008, 504)] {
        assert!(err1.contains(&embedded(n)), "{err1}");
        assert!(!err2.contains(&embedded(n)) && err2.contains(&embedded(part)), "{err2}");
    }
    for ((label, t1), (_, t2)) in times1.iter().zip(&times2) {
        eprintln!("{label}: 1 rank {t1:.3} s, 2 ranks {t2:.3} s (the 2 ranks share this machine's cores)");
    }
}

const N_VARIANTS: usize = 600;

#[test]
fn two_ranks_shard_variant_effect_to_the_single_process_result() {
    let dir = tempfile::tempdir().unwrap();
    let sim = "let sim = simulate_atac(#{n_cells: 40, n_peaks: 120, n_cell_types: 2, seed: 5});\n";
    let model = train_tiny_model(dir.path(), sim, 32);
    // 600 SNVs around the centres of the first peaks, read in their peaks' windows (few distinct REF windows); the
    // ranks take whole steps of the local recomputation.
    std::fs::write(
        dir.path().join("infer.gscript"),
        format!(
            "{sim}let model = load_model(\"{}\");\nset_threads(1);\n\
             let snvs = [];\n\
             let k = 0;\n\
             while snvs.len() < {N_VARIANTS} {{\n\
                 let p = sim.data.peaks().get(k);\n\
                 let centre = (p.start + p.end) / 2;\n\
                 for pos in (centre - 99)..(centre + 101) {{\n\
                     if snvs.len() < {N_VARIANTS} {{\n\
                         let b = sim.genome.fetch(`${{p.chrom}}:${{pos - 1}}-${{pos}}`);\n\
                         let alt = if b == \"A\" {{ \"C\" }} else {{ \"A\" }};\n\
                         snvs.push(`${{p.chrom}}:${{pos}}:${{b}}:${{alt}}`);\n\
                     }}\n\
                 }}\n\
                 k += 1;\n\
             }}\n\
             let ve = variant_effect(model, snvs, sim.genome, #{{center: \"peak\", peaks: sim.data}});\n\
             let e = ve.effects();\n\
             for i in 0..e.shape()[0] {{ print(`ve ${{i}} ${{e.row(i)}}`); }}\n",
            model.display()
        ),
    )
    .unwrap();
    let single = gscript(&["run", "infer.gscript"], dir.path(), Duration::from_secs(150));
    // every rank's progress (on stderr, prefixed by launch) shows how the variants were split
    let sharded = gscript(
        &["launch", "--nproc", "2", "infer.gscript", "--set", "output=all_ranks"],
        dir.path(),
        Duration::from_secs(150),
    );
    let (one, two) = (String::from_utf8_lossy(&single.stdout), String::from_utf8_lossy(&sharded.stdout));
    let (rows1, _) = parse(&one);
    let (rows2, _) = parse(&two);
    assert!(!rows1.is_empty(), "{one}");
    assert_eq!(rows1.iter().map(|r| &r.0).collect::<Vec<_>>(), rows2.iter().map(|r| &r.0).collect::<Vec<_>>(), "{two}");
    let scale = rows1.iter().flat_map(|r| r.1.iter()).fold(0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "all-zero effects test nothing");
    for ((label, a), (_, b)) in rows1.iter().zip(&rows2) {
        assert_eq!(a.len(), b.len(), "{label}");
        // Each rank recomputes its variants' REF windows in other batches than one process: fp32 tolerance.
        for (j, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-4 * scale, "{label} column {j}: 1 rank {x} vs 2 ranks {y}");
        }
    }
    // The work was split: each rank embedded a part (whole local-recomputation steps), the parts add up to all.
    let (err1, err2) = (String::from_utf8_lossy(&single.stderr), String::from_utf8_lossy(&sharded.stderr));
    let embedded = |text: &str| -> Vec<usize> {
        text.lines()
            .filter_map(|l| l.strip_suffix(" variants embedded"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect()
    };
    assert_eq!(embedded(&err1), vec![N_VARIANTS], "{err1}");
    let parts = embedded(&err2);
    assert_eq!(parts.len(), 2, "{err2}");
    assert!(parts.iter().all(|&n| n > 0 && n < N_VARIANTS), "{err2}");
    assert_eq!(parts.iter().sum::<usize>(), N_VARIANTS, "{err2}");
}

const N_PEAKS_DENOISE: usize = 600;

#[test]
fn two_ranks_shard_denoise_and_write_denoised_to_the_single_process_result() {
    let dir = tempfile::tempdir().unwrap();
    let sim =
        format!("let sim = simulate_atac(#{{n_cells: 20, n_peaks: {N_PEAKS_DENOISE}, n_cell_types: 2, seed: 7}});\n");
    let model = train_tiny_model(dir.path(), &sim, 64);
    // 600 peaks: 3 blocks of 256, rank 0 takes 256 peaks and rank 1 344.
    let script = |out: &str| {
        format!(
            "{sim}let model = load_model(\"{}\");\nset_threads(1);\n\
             let den = model.denoise(sim.data, #{{scale: \"logit\"}});\n\
             model.write_denoised(sim.data, \"{out}\", #{{scale: \"logit\"}});\n\
             print(\"file written\");\n\
             for i in 0..den.shape()[0] {{ print(`den ${{i}} ${{den.row(i)}}`); }}\n",
            model.display()
        )
    };
    // The same script name and output name in two directories (the file may record its provenance).
    let (d1, d2) = (dir.path().join("one"), dir.path().join("two"));
    for d in [&d1, &d2] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("infer.gscript"), script("denoised.h5ad")).unwrap();
    }
    let single = gscript(&["run", "infer.gscript"], &d1, Duration::from_secs(60));
    let sharded = gscript(&["launch", "--nproc", "2", "infer.gscript"], &d2, Duration::from_secs(60));
    let (one, two) = (String::from_utf8_lossy(&single.stdout), String::from_utf8_lossy(&sharded.stdout));
    let (rows1, _) = parse(&one);
    let (rows2, _) = parse(&two);
    assert_eq!(rows1.len(), 20, "{one}");
    // Whichever ranks print (rank 0, or every rank), each printed row must equal one process's.
    assert!(!rows2.is_empty() && rows2.len().is_multiple_of(rows1.len()), "{two}");
    let scale = rows1.iter().flat_map(|r| r.1.iter()).fold(0f64, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "all-zero values test nothing");
    for (label, b) in &rows2 {
        let a = &rows1.iter().find(|r| &r.0 == label).unwrap().1;
        assert_eq!(a.len(), N_PEAKS_DENOISE, "{label}");
        // Every peak is embedded and denoised in the batches and blocks of one process: the same bits.
        assert_eq!(a, b, "{label}: 1 rank vs 2 ranks");
    }
    assert!(two.contains("file written"), "{two}");
    // Both runs wrote the file (its bytes are not compared: they differ between runs in more than the values; the
    // layer's blocks come from the gathered embeddings, whose denoised values are compared above).
    for d in [&d1, &d2] {
        assert!(std::fs::metadata(d.join("denoised.h5ad")).unwrap().len() > 0);
    }
    // The work was split: one process embedded all peaks (twice: denoise and write_denoised), rank 0 its first block
    // (rank 1's 344 peaks are the rest; only rank 0's progress reaches the launcher's stderr by default).
    let (err1, err2) = (String::from_utf8_lossy(&single.stderr), String::from_utf8_lossy(&sharded.stderr));
    let embedded = |n: usize| format!(" {n} sequences embedded");
    assert_eq!(err1.matches(&embedded(N_PEAKS_DENOISE)).count(), 2, "{err1}");
    assert!(!err2.contains(&embedded(N_PEAKS_DENOISE)), "{err2}");
    assert_eq!(err2.matches(&embedded(256)).count(), 2, "{err2}");
}
