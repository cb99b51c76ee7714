//! BigWig files read back with bigtools' reader and with pyBigWig (test venv): per-base values, intervals, zoom
//! summaries and the header summary against values expanded here from the input bins.

use std::path::Path;

use super::{write_bigwig, BigWigSummary, Bins};

/// Deterministic pseudo-random values in [0, 1).
fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The per-base signal the bins describe (NaN: no data), computed directly from the input.
fn expand(sizes: &[(String, u64)], bins: &[Bins]) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = sizes.iter().map(|(_, l)| vec![f32::NAN; *l as usize]).collect();
    for b in bins {
        let c = sizes.iter().position(|s| s.0 == b.chrom).unwrap();
        for (i, &v) in b.values.iter().enumerate() {
            let s = b.start + i as u64 * b.width;
            for p in s..(s + b.width).min(sizes[c].1) {
                if v != 0.0 && !v.is_nan() {
                    out[c][p as usize] = v;
                }
            }
        }
    }
    out
}

/// Runs of equal non-NaN values: (start, end, value).
fn runs(v: &[f32]) -> Vec<(u32, u32, f32)> {
    let mut out: Vec<(u32, u32, f32)> = Vec::new();
    for (i, &x) in v.iter().enumerate() {
        if x.is_nan() {
            continue;
        }
        match out.last_mut() {
            Some(r) if r.1 == i as u32 && r.2 == x => r.1 += 1,
            _ => out.push((i as u32, i as u32 + 1, x)),
        }
    }
    out
}

fn check_with_bigtools(path: &Path, sizes: &[(String, u64)], want: &[Vec<f32>], zooms: &[u32]) {
    let mut bw = bigtools::BigWigRead::open_file(path).unwrap();
    let mut chroms: Vec<(String, u64)> = bw.chroms().iter().map(|c| (c.name.clone(), c.length as u64)).collect();
    chroms.sort();
    let mut sorted = sizes.to_vec();
    sorted.sort();
    assert_eq!(chroms, sorted);
    let levels: Vec<u32> = bw.info().zoom_headers.iter().map(|z| z.reduction_level).collect();
    assert_eq!(levels, zooms);
    for ((name, len), w) in sizes.iter().zip(want) {
        let got: Vec<(u32, u32, f32)> = bw
            .get_interval(name, 0, *len as u32)
            .unwrap()
            .map(|v| v.unwrap())
            .map(|v| (v.start, v.end, v.value))
            .collect();
        assert_eq!(got, runs(w), "{name}");
        for &res in zooms {
            let recs: Vec<_> = bw.get_zoom_interval(name, 0, *len as u32, res).unwrap().map(|r| r.unwrap()).collect();
            let mut covered_total = 0;
            for r in &recs {
                let part: Vec<f64> =
                    w[r.start as usize..r.end as usize].iter().filter(|x| !x.is_nan()).map(|&x| x as f64).collect();
                assert_eq!(r.summary.bases_covered, part.len() as u64, "{name} zoom {res} at {}", r.start);
                let sum: f64 = part.iter().sum();
                assert!((r.summary.sum - sum).abs() <= 1e-4 * sum.abs().max(1.0), "{} vs {sum}", r.summary.sum);
                let (lo, hi) = part.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
                assert_eq!((r.summary.min_val, r.summary.max_val), (lo, hi));
                covered_total += part.len();
            }
            assert_eq!(covered_total, w.iter().filter(|x| !x.is_nan()).count(), "zoom {res} covers every value");
        }
    }
    let s = bw.get_summary().unwrap();
    let all: Vec<f64> = want.iter().flatten().filter(|x| !x.is_nan()).map(|&x| x as f64).collect();
    assert_eq!(s.bases_covered, all.len() as u64);
    if !all.is_empty() {
        let sum: f64 = all.iter().sum();
        assert!((s.sum - sum).abs() < 1e-6 * sum.abs().max(1.0));
        assert_eq!(s.max_val, all.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
    }
}

const PY: &str = r#"
import json, sys, math
import pyBigWig
bw = pyBigWig.open(sys.argv[1])
out = {'chroms': bw.chroms(), 'header': bw.header(), 'values': {}, 'intervals': {}, 'stats': {}}
for c in json.loads(sys.argv[2]):
    n = bw.chroms()[c]
    out['values'][c] = [None if math.isnan(x) else x for x in bw.values(c, 0, n)]
    out['intervals'][c] = [list(x) for x in (bw.intervals(c) or [])]
    out['stats'][c] = {t: [bw.stats(c, type=t, exact=False)[0], bw.stats(c, type=t, exact=True)[0]]
                       for t in ['mean', 'max', 'min', 'coverage']}
bw.close()
json.dump(out, sys.stdout)
"#;

fn check_with_pybigwig(path: &Path, sizes: &[(String, u64)], want: &[Vec<f32>], chroms: &[&str]) {
    let Some(python) = crate::testing::test_python() else { return };
    let list = serde_json::to_string(chroms).unwrap();
    let r = std::process::Command::new(python).arg("-c").arg(PY).arg(path).arg(&list).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    for (name, len) in sizes {
        assert_eq!(v["chroms"][name].as_u64(), Some(*len), "{name}");
    }
    let all: Vec<f64> = want.iter().flatten().filter(|x| !x.is_nan()).map(|&x| x as f64).collect();
    assert_eq!(v["header"]["nBasesCovered"].as_u64(), Some(all.len() as u64));
    for c in chroms {
        let w = &want[sizes.iter().position(|s| s.0 == *c).unwrap()];
        let values: Vec<Option<f64>> = v["values"][c].as_array().unwrap().iter().map(|x| x.as_f64()).collect();
        let expected: Vec<Option<f64>> = w.iter().map(|&x| if x.is_nan() { None } else { Some(x as f64) }).collect();
        assert_eq!(values, expected, "pyBigWig values on {c}");
        let intervals: Vec<(u32, u32, f32)> = v["intervals"][c]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x[0].as_u64().unwrap() as u32, x[1].as_u64().unwrap() as u32, x[2].as_f64().unwrap() as f32))
            .collect();
        assert_eq!(intervals, runs(w), "pyBigWig intervals on {c}");
        let data: Vec<f64> = w.iter().filter(|x| !x.is_nan()).map(|&x| x as f64).collect();
        if data.is_empty() {
            continue;
        }
        let mean = data.iter().sum::<f64>() / data.len() as f64;
        let st = &v["stats"][c];
        for (t, exact) in [("mean", mean), ("coverage", data.len() as f64 / w.len() as f64)] {
            for k in 0..2 {
                let got = st[t][k].as_f64().unwrap();
                assert!(
                    (got - exact).abs() <= 1e-4 * exact.abs().max(1e-3),
                    "{c} {t} (zoom: {}) {got} vs {exact}",
                    k == 0
                );
            }
        }
        let hi = data.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            (st["max"][0].as_f64().unwrap() - hi).abs() < 1e-6 && (st["max"][1].as_f64().unwrap() - hi).abs() < 1e-6
        );
    }
}

#[test]
fn per_base_and_binned_tracks_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = vec![("chr2".to_string(), 3000), ("chr1".to_string(), 5000), ("chrEmpty".to_string(), 100)];
    let mut r = lcg(3);
    // per-base on chr1: runs of repeats and zeros
    let base: Vec<f32> =
        (0..4000).map(|i| if (i / 50) % 3 == 0 { 0.0 } else { ((r() * 4.0).floor() as f32) * 0.25 }).collect();
    // 32-bp bins on chr2, the last ones past the end (3000 = 93.75 bins)
    let binned: Vec<f32> = (0..100).map(|i| if i % 7 == 0 { 0.0 } else { (r() * 10.0) as f32 }).collect();
    let one = [2.5f32];
    let bins = [
        Bins { chrom: "chr2", start: 0, width: 32, values: &binned },
        Bins { chrom: "chr1", start: 700, width: 1, values: &base },
        Bins { chrom: "chr1", start: 100, width: 500, values: &one },
    ];
    let path = dir.path().join("track.bw");
    let s = write_bigwig(&path, &sizes, &bins).unwrap();
    let want = expand(&sizes, &bins);
    assert_eq!(s.clipped_bins, 7, "bins 93 (cut) and 94..99 (dropped)");
    assert_eq!(s.items, want.iter().map(|w| runs(w).len()).sum::<usize>());
    assert!(!s.zoom_levels.is_empty());
    check_with_bigtools(&path, &sizes, &want, &s.zoom_levels);
    check_with_pybigwig(&path, &sizes, &want, &["chr1", "chr2", "chrEmpty"]);
    // no temporary file is left behind
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn many_chromosomes_and_sections_need_deeper_trees() {
    // 300 chromosomes (> 256: a two-level name tree) of 2,100 bases with a value per base that changes every base
    // (3 sections each: 900 sections, a two-level R-tree).
    let dir = tempfile::tempdir().unwrap();
    let sizes: Vec<(String, u64)> = (0..300).map(|i| (format!("scaffold_{i}"), 2100)).collect();
    let mut r = lcg(5);
    let values: Vec<Vec<f32>> = (0..300).map(|_| (0..2100).map(|_| 1.0 + r() as f32).collect()).collect();
    let bins: Vec<Bins> =
        sizes.iter().zip(&values).map(|((c, _), v)| Bins { chrom: c, start: 0, width: 1, values: v }).collect();
    let path = dir.path().join("many.bw");
    let s = write_bigwig(&path, &sizes, &bins).unwrap();
    assert_eq!(s.items, 300 * 2100);
    let want = expand(&sizes, &bins);
    check_with_bigtools(&path, &sizes, &want, &s.zoom_levels);
    check_with_pybigwig(&path, &sizes, &want, &["scaffold_0", "scaffold_299", "scaffold_150", "scaffold_42"]);
}

#[test]
fn an_all_zero_track_is_an_empty_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = vec![("chr1".to_string(), 1000)];
    let zeros = vec![0.0f32; 10];
    let path = dir.path().join("zero.bw");
    let s = write_bigwig(&path, &sizes, &[Bins { chrom: "chr1", start: 0, width: 100, values: &zeros }]).unwrap();
    assert_eq!(s, BigWigSummary::default());
    let want = expand(&sizes, &[]);
    check_with_bigtools(&path, &sizes, &want, &[]);
    check_with_pybigwig(&path, &sizes, &want, &["chr1"]);
}

#[test]
fn bad_tracks_are_errors_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.bw");
    let sizes = vec![("chr1".to_string(), 1000), ("chr2".to_string(), 500)];
    let v = [1.0f32, 2.0];
    type Case<'a> = (Vec<(String, u64)>, Vec<Bins<'a>>, &'a str);
    let cases: Vec<Case> = vec![
        (
            sizes.clone(),
            vec![Bins { chrom: "chrZ", start: 0, width: 10, values: &v }],
            "chromosome `chrZ` is not in the genome (chr1, chr2)",
        ),
        (sizes.clone(), vec![Bins { chrom: "chr1", start: 0, width: 0, values: &v }], "width 0"),
        (
            sizes.clone(),
            vec![
                Bins { chrom: "chr1", start: 0, width: 10, values: &v },
                Bins { chrom: "chr1", start: 15, width: 10, values: &v },
            ],
            "bins overlap: chr1:10-20 and chr1:15-25",
        ),
        (vec![("chr1".into(), 10), ("chr1".into(), 20)], vec![], "chromosome `chr1` is listed twice"),
        (vec![("chr1".into(), 0)], vec![], "chromosome `chr1` of length 0"),
        (
            sizes.clone(),
            vec![Bins { chrom: "chr1", start: 0, width: 10, values: &[f32::INFINITY] }],
            "chr1:0-10 is inf",
        ),
    ];
    for (sizes, bins, want) in cases {
        let e = write_bigwig(&path, &sizes, &bins).unwrap_err().to_string();
        assert!(e.contains(want), "{e} (wanted {want})");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file after: {want}");
    }
    let e = write_bigwig(&dir.path().join("no/such/dir/x.bw"), &sizes, &[]).unwrap_err().to_string();
    assert!(e.contains("no/such/dir/x.bw"), "{e}");
}

#[test]
fn sparse_tracks_still_get_zoom_levels() {
    // 42 isolated 32-bp bins over 400 kb: the first resolutions do not reduce the records, coarser ones do
    let dir = tempfile::tempdir().unwrap();
    let sizes = vec![("chr1".to_string(), 400_000)];
    let values: Vec<f32> = (0..12_500).map(|i| if i % 300 == 7 { 1.0 + (i % 7) as f32 } else { 0.0 }).collect();
    let bins = [Bins { chrom: "chr1", start: 0, width: 32, values: &values }];
    let path = dir.path().join("sparse.bw");
    let s = write_bigwig(&path, &sizes, &bins).unwrap();
    assert!(s.zoom_levels.len() >= 2, "{:?}", s.zoom_levels);
    assert!(s.zoom_levels.windows(2).all(|w| w[1] > w[0]));
    let want = expand(&sizes, &bins);
    check_with_bigtools(&path, &sizes, &want, &s.zoom_levels);
    check_with_pybigwig(&path, &sizes, &want, &["chr1"]);
}
