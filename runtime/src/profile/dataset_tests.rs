use super::*;
use crate::coverage::TrackKind;
use crate::genes::folds::read_folds;
use crate::profile::test_support::{simulated, TinyProfileModel};

fn setup() -> (crate::profile::test_support::SimData, TinyProfileModel) {
    (simulated(6144, 24, 11), TinyProfileModel::new(6144 + 2048, 192, 3, 4))
}

#[test]
fn items_hold_the_centred_context_and_the_window_targets() {
    let (sim, model) = setup();
    let folds = read_folds(&sim.sequences).unwrap();
    let (train, val) = windows_from_folds(&folds, &FoldSplit::default()).unwrap();
    assert!(!train.is_empty() && !val.is_empty());
    let data = ProfileData::new(&model, &sim.genome, &sim.coverage, train, val, Default::default()).unwrap();
    assert_eq!(data.n_tracks(), 3);
    // The first window starts at 0: its context runs 1,024 bases off the chromosome (all-zero one-hot there).
    let w = data.train.iter().find(|r| r.start == 0).expect("a window at the chromosome start").clone();
    let cells = vec![3, 3, 0, 7];
    let it = data.item(&w, cells.clone(), 0, false).unwrap();
    assert_eq!(it.codes.len(), 6144 + 2048);
    assert!(it.codes[..1024].iter().all(|&c| c == N_CODE));
    let bases = sim.genome.fetch(&w.chrom, 0, 7168).unwrap();
    for (k, &b) in bases.iter().enumerate() {
        assert_eq!(it.codes[1024 + k], base_code(b).unwrap_or(N_CODE), "base {k}");
    }
    let x = context_onehot(&it.codes, 1, Device::Cpu).unwrap();
    let col_sums: Vec<f32> = Vec::try_from(x.sum_dim_intlist(1, false, Kind::Float).flatten(0, -1)).unwrap();
    assert!(col_sums[..1024].iter().all(|&s| s == 0.0) && col_sums[1024..].iter().all(|&s| s == 1.0));
    let want = window_targets(&sim.coverage, &w, &cells, &data.options.window).unwrap();
    assert_eq!(it.targets, want);
    assert_eq!(it.targets.tracks, [TrackKind::RnaPlus, TrackKind::RnaMinus, TrackKind::Atac]);
    assert!(it.targets.data.iter().any(|&v| v > 0.0), "the simulated window has coverage");
}

#[test]
fn reverse_complement_flips_sequence_and_targets_with_strand_swap_and_shift_moves_only_the_sequence() {
    let (sim, model) = setup();
    let folds = read_folds(&sim.sequences).unwrap();
    let (train, val) = windows_from_folds(&folds, &FoldSplit::default()).unwrap();
    let data = ProfileData::new(&model, &sim.genome, &sim.coverage, train, val, Default::default()).unwrap();
    let w = data.train[data.train.len() / 2].clone();
    let cells = vec![1, 5, 9];
    let fwd = data.item(&w, cells.clone(), 0, false).unwrap();
    let rc = data.item(&w, cells.clone(), 0, true).unwrap();
    let n = fwd.codes.len();
    for k in 0..n {
        let f = fwd.codes[n - 1 - k];
        assert_eq!(rc.codes[k], if f == N_CODE { N_CODE } else { 3 - f });
    }
    let (bins, ch) = (fwd.targets.bins, fwd.targets.channels);
    let swap = [1usize, 0, 2];
    for b in 0..bins {
        for c in 0..ch {
            let (cell, t) = (c / 3, c % 3);
            assert_eq!(rc.targets.get(b, c), fwd.targets.get(bins - 1 - b, cell * 3 + swap[t]), "bin {b} ch {c}");
        }
    }
    for s in [-3i64, 2] {
        let sh = data.item(&w, cells.clone(), s, false).unwrap();
        assert_eq!(sh.targets, fwd.targets, "targets are not shifted");
        for k in 3..n - 3 {
            assert_eq!(sh.codes[k], fwd.codes[(k as i64 + s) as usize]);
        }
    }
}

#[test]
fn draws_are_seeded_per_epoch_and_item_and_validation_cells_are_fixed() {
    let (sim, model) = setup();
    let folds = read_folds(&sim.sequences).unwrap();
    let (train, val) = windows_from_folds(&folds, &FoldSplit::default()).unwrap();
    let data = ProfileData::new(&model, &sim.genome, &sim.coverage, train, val, Default::default()).unwrap();
    let a = data.train_item(2, 7, 0).unwrap();
    let b = data.train_item(2, 7, 0).unwrap();
    assert_eq!(
        (&a.cells, a.shift, a.reverse_complement, &a.codes),
        (&b.cells, b.shift, b.reverse_complement, &b.codes)
    );
    assert_eq!(a.cells.len(), 64);
    assert!(a.cells.iter().all(|&c| c < sim.coverage.n_cells()));
    // 64 draws from 24 cells with replacement repeat some cell.
    let mut u = a.cells.clone();
    u.sort_unstable();
    u.dedup();
    assert!(u.len() < 64);
    let epochs: Vec<_> = (0..6).map(|e| data.train_item(2, 7, e).unwrap()).collect();
    assert!(epochs.iter().any(|x| x.cells != a.cells));
    assert!(epochs.iter().any(|x| x.reverse_complement) && epochs.iter().any(|x| !x.reverse_complement));
    assert!(epochs.iter().all(|x| x.shift.abs() <= 3));
    assert_eq!(data.val_item(0, 7).unwrap().cells, data.val_item(0, 7).unwrap().cells);
    assert_eq!(data.val_item(0, 7).unwrap().cells.len(), 32);
    let v = data.val_item(0, 7).unwrap();
    assert!(!v.reverse_complement && v.shift == 0);
}

#[test]
fn mismatched_tracks_and_unknown_chromosomes_are_errors() {
    let (sim, _) = setup();
    let two = TinyProfileModel::new(8192, 192, 2, 4);
    let w = vec![Region::new(sim.coverage.refs.name(0), 0, 6144).unwrap()];
    let e = ProfileData::new(&two, &sim.genome, &sim.coverage, w.clone(), vec![], Default::default());
    assert!(e.err().unwrap().to_string().contains("tracks"));
    let three = TinyProfileModel::new(8192, 192, 3, 4);
    let bad = vec![Region::new("chrZ", 0, 6144).unwrap()];
    let e = ProfileData::new(&three, &sim.genome, &sim.coverage, bad, vec![], Default::default());
    assert!(e.err().unwrap().to_string().contains("chrZ"));
}
