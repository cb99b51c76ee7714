use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::coverage::{InsertionsBuilder, ReadsBuilder, ReferenceSequences};

/// Random coverage: 2 chromosomes, `n_cells` cells, insertions and reads of both strands (some hanging over the
/// chromosome ends).
fn random_coverage(n_cells: usize, seed: u64) -> Coverage {
    let refs = ReferenceSequences::new([("chr1".to_string(), 5000), ("chr2".to_string(), 3000)]).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ins = InsertionsBuilder::new(2);
    let mut plus = ReadsBuilder::new(2);
    let mut minus = ReadsBuilder::new(2);
    for _ in 0..4000 {
        let c = rng.random_range(0..2usize);
        let len = refs.length(c) as u32;
        let cell = rng.random_range(0..n_cells as u32);
        ins.push(c, rng.random_range(0..len), cell);
        let l = rng.random_range(20..120i32);
        let start = rng.random_range(0..len - l as u32);
        if rng.random_bool(0.5) {
            plus.push(c, start, cell, l);
        } else {
            // Minus-strand convention: anchored at the last base, negative length.
            minus.push(c, start + l as u32 - 1, cell, -l);
        }
    }
    Coverage {
        refs: Arc::new(refs),
        cells: (0..n_cells).map(|i| format!("cell{i}")).collect(),
        atac: Some(ins.finish()),
        rna_plus: Some(plus.finish()),
        rna_minus: Some(minus.finish()),
    }
}

/// scooby's procedure written out literally: per-base float coverage of each requested cell over the window (reads
/// add 1/90 to each covered base, insertions add 1), 32-bp sums, then the transforms; RC by flipping and swapping.
fn naive(cov: &Coverage, region: &Region, cells: &[usize], opts: &WindowOptions) -> Vec<f32> {
    let chrom = cov.refs.get(&region.chrom).unwrap();
    let w = region.len() as usize;
    let tracks = opts.tracks.clone().unwrap_or_else(|| cov.tracks());
    let nt = tracks.len();
    let bins = w / opts.bin as usize;
    let mut out = vec![0f32; bins * cells.len() * nt];
    for (slot, &cell) in cells.iter().enumerate() {
        for (t, &kind) in tracks.iter().enumerate() {
            let kind = if opts.reverse_complement { kind.reverse_strand() } else { kind };
            let mut base = vec![0f32; w];
            match kind {
                TrackKind::Atac => {
                    for &k in cov.atac.as_ref().unwrap().chrom(chrom) {
                        let (p, c) = crate::coverage::store::unpack(k);
                        if c as usize == cell && (p as u64) >= region.start && (p as u64) < region.end {
                            base[(p as u64 - region.start) as usize] += 1.0;
                        }
                    }
                }
                _ => {
                    let r = if kind == TrackKind::RnaPlus { &cov.rna_plus } else { &cov.rna_minus };
                    let (keys, lens) = r.as_ref().unwrap().chrom(chrom);
                    for (&k, &v) in keys.iter().zip(lens) {
                        let (p, c) = crate::coverage::store::unpack(k);
                        if c as usize != cell {
                            continue;
                        }
                        let (a, b) = Reads::span(p, v);
                        for x in a..b {
                            if x >= region.start as i64 && x < region.end as i64 {
                                base[(x - region.start as i64) as usize] += 1.0 / opts.read_length;
                            }
                        }
                    }
                }
            }
            for b in 0..bins {
                let s: f32 = base[b * opts.bin as usize..(b + 1) * opts.bin as usize].iter().sum();
                let v = match kind {
                    TrackKind::Atac => s * opts.atac_scale,
                    _ => {
                        let mut y = (1.0 + s).powf(0.75) - 1.0;
                        if y > opts.clip_soft {
                            y = opts.clip_soft - 1.0 + (y - opts.clip_soft + 1.0).sqrt();
                        }
                        y.clamp(-768.0, 768.0)
                    }
                };
                let ob = if opts.reverse_complement { bins - 1 - b } else { b };
                out[ob * cells.len() * nt + slot * nt + t] = v;
            }
        }
    }
    out
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "element {i}: {x} vs {y}");
    }
}

#[test]
fn targets_equal_the_literal_per_base_procedure() {
    let cov = random_coverage(7, 1);
    // Cells drawn with a repeat, windows at the chromosome start, in the middle, and reaching past its end.
    let cells = [3, 0, 3, 6];
    for region in ["chr1:0-1024", "chr1:1500-2780", "chr2:2048-3072"] {
        let region: Region = region.parse().unwrap();
        for rc in [false, true] {
            for clip in [5.0, 0.05] {
                let opts = WindowOptions { reverse_complement: rc, clip_soft: clip, ..WindowOptions::default() };
                let t = window_targets(&cov, &region, &cells, &opts).unwrap();
                assert_eq!((t.bins, t.channels), (region.len() as usize / 32, 12));
                assert_close(&t.data, &naive(&cov, &region, &cells, &opts));
            }
        }
    }
    // A channel order other than scooby's, and a different bin width.
    let opts =
        WindowOptions { bin: 16, tracks: Some(vec![TrackKind::Atac, TrackKind::RnaMinus]), ..WindowOptions::default() };
    let region: Region = "chr2:100-900".parse().unwrap();
    let t = window_targets(&cov, &region, &[1, 2], &opts).unwrap();
    assert_close(&t.data, &naive(&cov, &region, &[1, 2], &opts));
}

#[test]
fn the_transform_is_what_scooby_writes_and_the_inverses_differ_only_above_c() {
    // Values from the formula: (1+x)^0.75 - 1 below c; the soft clip above.
    assert!((squash_rna(3.0, 5.0, 768.0) - (4f32.powf(0.75) - 1.0)).abs() < 1e-6);
    let y = (101f32).powf(0.75) - 1.0;
    assert!((squash_rna(100.0, 5.0, 768.0) - (4.0 + (y - 4.0).sqrt())).abs() < 1e-5);
    for x in [0.0f32, 0.5, 3.0, 10.0, 100.0, 1e4] {
        let y = squash_rna(x, 5.0, 768.0);
        assert!((unsquash_rna(y, 5.0) - x).abs() <= 1e-3 * (1.0 + x), "{x}");
        if y <= 5.0 {
            assert!((undo_squashed_scale(y, 5.0) - x).abs() <= 1e-4 * (1.0 + x));
        } else {
            assert!(undo_squashed_scale(y, 5.0) < x, "scooby's inverse is below the exact one above c");
        }
    }
}

#[test]
fn reverse_complement_flips_bins_and_swaps_strands() {
    let cov = random_coverage(3, 2);
    let region: Region = "chr1:320-1600".parse().unwrap();
    let fwd = window_targets(&cov, &region, &[0, 1, 2], &WindowOptions::default()).unwrap();
    let rev =
        window_targets(&cov, &region, &[0, 1, 2], &WindowOptions { reverse_complement: true, ..Default::default() })
            .unwrap();
    for b in 0..fwd.bins {
        for cell in 0..3 {
            let f = |t: usize| fwd.get(b, cell * 3 + t);
            let r = |t: usize| rev.get(fwd.bins - 1 - b, cell * 3 + t);
            assert_eq!((f(0), f(1), f(2)), (r(1), r(0), r(2)));
        }
    }
}

#[test]
fn pseudobulk_sums_the_cells_of_each_group() {
    let cov = random_coverage(6, 3);
    let region: Region = "chr1:0-2048".parse().unwrap();
    let groups = [Some(0), Some(1), None, Some(0), Some(1), Some(1)];
    let raw = WindowOptions { transform: false, ..Default::default() };
    let pb = pseudobulk(&cov, &region, &groups, 2, &raw, false).unwrap();
    let each = window_targets(&cov, &region, &[0, 1, 2, 3, 4, 5], &raw).unwrap();
    for b in 0..pb.bins {
        for t in 0..3 {
            let sum = |cells: &[usize]| cells.iter().map(|&c| each.get(b, c * 3 + t)).sum::<f32>();
            assert!((pb.get(b, t) - sum(&[0, 3])).abs() < 1e-4);
            assert!((pb.get(b, 3 + t) - sum(&[1, 4, 5])).abs() < 1e-4);
        }
    }
    let cpm = pseudobulk(&cov, &region, &groups, 2, &raw, true).unwrap();
    let atac_total_g0: u64 = [0, 3].iter().map(|&c| cov.atac.as_ref().unwrap().per_cell(6)[c]).sum();
    assert!((cpm.get(5, 2) - pb.get(5, 2) * 1e6 / atac_total_g0 as f32).abs() < 1e-2);
}

#[test]
fn pooled_coverage_gives_the_window_pseudobulk() {
    let cov = random_coverage(6, 5);
    let groups = [Some(1), Some(0), None, Some(1), Some(0), Some(0)];
    let names = vec!["a".to_string(), "b".to_string()];
    let pooled = cov.pseudobulk(&groups, &names).unwrap();
    assert_eq!(pooled.cells, names);
    let raw = WindowOptions { transform: false, ..Default::default() };
    for r in ["chr1:0-2048", "chr2:1024-3008"] {
        let region: Region = r.parse().unwrap();
        let pb = pseudobulk(&cov, &region, &groups, 2, &raw, false).unwrap();
        let each = window_targets(&pooled, &region, &[0, 1], &raw).unwrap();
        for b in 0..pb.bins {
            for k in 0..6 {
                assert!((pb.get(b, k) - each.get(b, k)).abs() < 1e-4, "{r} bin {b} column {k}");
            }
        }
    }
    let dropped: u64 = cov.atac.as_ref().unwrap().per_cell(6)[2];
    assert_eq!(pooled.entries(TrackKind::Atac) as u64 + dropped, cov.entries(TrackKind::Atac) as u64);
    assert!(cov.pseudobulk(&groups[..5], &names).unwrap_err().to_string().contains("groups"));
    assert!(cov.pseudobulk(&groups, &names[..1]).unwrap_err().to_string().contains("group 1"));
}

#[test]
fn bad_windows_and_cells_are_named() {
    let cov = random_coverage(2, 4);
    let o = WindowOptions::default();
    let err = |r: &str, cells: &[usize]| window_targets(&cov, &r.parse().unwrap(), cells, &o).unwrap_err().to_string();
    assert!(err("chr9:0-64", &[0]).contains("chr9"));
    assert!(err("chr2:3008-3072", &[0]).contains("past the end"));
    assert!(err("chr1:0-100", &[0]).contains("multiple"));
    assert!(err("chr1:0-64", &[5]).contains("out of range"));
    let atac_only = Coverage { rna_plus: None, rna_minus: None, ..cov.clone() };
    let e = window_targets(
        &atac_only,
        &"chr1:0-64".parse().unwrap(),
        &[0],
        &WindowOptions { tracks: Some(vec![TrackKind::RnaPlus]), ..o.clone() },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rna_plus") && e.contains("atac"), "{e}");
}
