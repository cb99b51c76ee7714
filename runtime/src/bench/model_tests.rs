//! Tests of [`bench::model`](super): the FLOP count by hand, the random data, option parsing and a tiny run.

use super::*;

#[test]
fn flop_count_of_the_tiny_config_by_hand() {
    // tiny: 336 bp, stem 16×4×9 → pool 3 → 112; tower widths 16, 20, 25, 31 (k 5), halving 112 → 7;
    // 1×1 conv 31 → 16 at 7 positions; dense 112 → 8; final 8 → 5 cells
    let f = ModelFlops::of(&ScBassetConfig::tiny(5));
    let stem = 336 * 16 * 4 * 9;
    let tower = 112 * 16 * 16 * 5 + 56 * 20 * 16 * 5 + 28 * 25 * 20 * 5 + 14 * 31 * 25 * 5;
    assert_eq!(f.conv_macs, stem + tower + 7 * 16 * 31);
    assert_eq!(f.dense_macs, 112 * 8);
    assert_eq!(f.final_macs, 40);
    assert_eq!(f.forward(), 2.0 * 555_154.0);
    assert_eq!(f.training(), 3.0 * 1_110_308.0);
}

#[test]
fn flop_count_of_the_published_model() {
    let f = ModelFlops::of(&ScBassetConfig::keras(2000));
    assert_eq!(f.dense_macs, 1792 * 32);
    assert_eq!(f.final_macs, 64_000);
    // stem 1344·288·4·17 = 26.3M MACs; the first tower block 448·288·288·5 = 185.8M dominates
    assert!(f.conv_macs > 26_320_896 + 185_794_560);
    assert!((f.forward() / 1e9 - 0.93).abs() < 0.01, "{}", f.forward() / 1e9);
}

#[test]
fn random_peaks_have_the_requested_density_and_valid_codes() {
    let d = RandomPeaks::generate(50, 336, 400, 0.1, 7);
    assert_eq!(d.codes.len(), 50 * 336);
    assert!(d.codes.iter().all(|&c| c < 4));
    assert!((0..4).all(|b| d.codes.iter().filter(|&&c| c == b).count() > 3000));
    let density = d.nnz() as f64 / (50.0 * 400.0);
    assert!((density - 0.1).abs() < 0.01, "{density}");
    let rows = |d: &RandomPeaks| (0..50).map(|p| d.positives.row(p).to_vec()).collect::<Vec<_>>();
    assert!(rows(&d).iter().all(|r| r.windows(2).all(|w| w[0] < w[1]) && r.iter().all(|&c| c < 400)));
    assert_eq!(rows(&RandomPeaks::generate(50, 336, 400, 0.1, 7)), rows(&d));
}

#[test]
fn parses_options_and_rejects_bad_ones() {
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let c = ModelBenchConfig::from_args(&args("--cells 100_000 --peaks 5000 --precision both --json")).unwrap();
    assert_eq!((c.n_cells, c.n_peaks, c.precisions.len(), c.json), (100_000, 5000, 2, true));
    assert_eq!(ModelBenchConfig::from_args(&[]).unwrap(), ModelBenchConfig::default());
    assert_eq!(ModelBenchConfig::from_args(&args("--max-batches all")).unwrap().max_batches, None);
    for bad in [
        "--cells x",
        "--cells",
        "--density 1.5",
        "--precision fp16",
        "--max-batches 1",
        "--threads 0",
        "--frob 1",
        "--device tpu",
        "--batch-size 1",
    ] {
        assert!(ModelBenchConfig::from_args(&args(bad)).is_err(), "{bad}");
    }
}

#[test]
fn tiny_run_reports_finite_numbers() {
    let _rng = crate::testing::torch_rng_lock();
    let config = ModelBenchConfig {
        n_cells: 30,
        n_peaks: 40,
        preset: Preset::Tiny,
        batch_size: 8,
        max_batches: Some(3),
        ..ModelBenchConfig::default()
    };
    let r = run(&config, false).unwrap();
    assert_eq!(r.results.len(), 2);
    let p = &r.results[1];
    assert_eq!(p.precision, "bf16");
    assert_eq!((p.timed_batches, p.batches_per_epoch), (2, 3));
    assert!(p.train_seq_per_s > 0.0 && p.infer_seq_per_s > 0.0 && p.last_loss.is_finite());
    assert!(p.epoch_seconds_full > 0.0 && p.train_gflops > 0.0 && p.matmul_gflops > 0.0);
    assert!(render_table(&r).contains("fp32"));
    assert!(serde_json::to_string(&r).unwrap().contains("\"train_seq_per_s\""));
}
