//! Interpretation against direct computation on a small random model.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Device, Kind, Tensor};

use super::*;
use crate::data::PeakSet;
use crate::models::scbasset::{ScBasset, ScBassetConfig};
use crate::motif::{parse_meme, STRING_SOURCE};
use crate::progress::NoProgress;

fn model(n_cells: usize) -> (nn::VarStore, ScBasset) {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = ScBasset::new(&vs.root(), &ScBassetConfig::tiny(n_cells)).unwrap();
    // Random cell weights so that cells differ (the bias starts at zero).
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.contains("cell") {
                let r = Tensor::randn(t.size(), (Kind::Float, Device::Cpu));
                t.copy_(&r);
            }
        }
    });
    (vs, net)
}

fn random_codes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..4u8)).collect()
}

fn z_of(net: &ScBasset, codes: &[u8]) -> Tensor {
    embed_all(net, codes, "", &mut NoProgress, &CancelToken::default()).unwrap()
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn ism_deltas_equal_direct_forward_passes() {
    let (_vs, net) = model(5);
    let len = net.config().seq_len;
    let seq = random_codes(len, 1);
    let r = ism(&net, &seq, 100..140, &mut NoProgress, &CancelToken::default()).unwrap();
    assert_eq!(r.delta_z.size(), [40, 4, net.config().bottleneck as i64]);
    let readout = CellReadout::of_scbasset(&net);
    let cells = r.project(&readout.weights);
    assert_eq!(cells.size(), [5, 40, 4]);
    let z_ref = z_of(&net, &seq);
    for (pos, base) in [(100usize, 0u8), (117, 2), (139, 3), (125, 1)] {
        let mut m = seq.clone();
        m[pos] = base;
        let direct = (z_of(&net, &m) - &z_ref).matmul(&readout.weights.tr()).squeeze_dim(0);
        let ours = cells.select(1, (pos - 100) as i64).select(1, base as i64);
        assert!(max_abs(&(direct - ours)) < 1e-5);
    }
    // Zero at the reference base; normalised scores are centred over bases.
    for p in 0..40 {
        assert_eq!(max_abs(&cells.select(1, p).select(1, seq[100 + p as usize] as i64)), 0.0);
    }
    let norm = IsmDeltas::normalise(&cells);
    assert!(max_abs(&norm.sum_dim_intlist(Some([2i64].as_slice()), false, Kind::Float)) < 1e-4);
    let refs = r.reference_scores(&cells);
    assert_eq!(refs.size(), [5, 40]);
    let p = 7usize;
    let expect = norm.select(1, p as i64).select(1, seq[100 + p] as i64);
    assert!(max_abs(&(refs.select(1, p as i64) - expect)) < 1e-6);
    // Group projection = mean of the cells' deltas (linear read-out).
    let groups = [Some(0), Some(1), Some(0), None, Some(1)];
    let gw = readout.group_weights(&groups, &["a".into(), "b".into()]).unwrap();
    let g = r.project(&gw);
    let mean_a = (cells.select(0, 0) + cells.select(0, 2)) / 2.0;
    assert!(max_abs(&(g.select(0, 0) - mean_a)) < 1e-5);
    assert!(ism(&net, &seq, 10..10, &mut NoProgress, &CancelToken::default()).is_err());
    assert!(ism(&net, &seq[1..], 0..10, &mut NoProgress, &CancelToken::default()).is_err());
}

#[test]
fn motif_insertion_matches_its_definition() {
    let (_vs, net) = model(4);
    let len = net.config().seq_len;
    let text = "MEME version 4\n\nMOTIF M1 one\nletter-probability matrix: alength= 4 w= 4\n\
                0.7 0.1 0.1 0.1\n0.1 0.7 0.1 0.1\n0.1 0.1 0.7 0.1\n0.1 0.1 0.1 0.7\n\n\
                MOTIF M2 two\nletter-probability matrix: alength= 4 w= 3\n0 0 0 1\n0 0 0 1\n1 0 0 0\n";
    let motifs = parse_meme(text, STRING_SOURCE).unwrap().motifs;
    let n_bg = 300; // not a multiple of the batch size, so batches span motifs
    let bg = shuffle_backgrounds_for_test(n_bg, len);
    let readout = CellReadout::of_scbasset(&net);
    for scale in [DenoiseScale::Sigmoid, DenoiseScale::Logit] {
        let opts = InsertionOptions { seed: 5, scale };
        let act = insert_motifs(&net, &readout, &motifs, &bg, &opts, &mut NoProgress, &CancelToken::default()).unwrap();
        assert_eq!(
            (act.names.clone(), act.n_cells, act.n_background),
            (vec!["one".to_string(), "two".into()], 4, n_bg)
        );
        // Direct: build motif 1's sequences the same way and compare.
        let w = motifs[1].width();
        let s = insertion::insertion_start(len, w);
        let mut with = bg.clone();
        for i in 0..n_bg {
            with[i * len + s..i * len + s + w].copy_from_slice(&[3, 3, 0]);
        }
        let v = |codes: &[u8]| {
            readout.values(&z_of(&net, codes), scale).mean_dim(Some([0i64].as_slice()), false, Kind::Float)
        };
        let direct = v(&with) - v(&bg);
        let ours = Tensor::from_slice(&act.difference[4..8]);
        assert!(max_abs(&(direct - &ours)) < 1e-4, "{scale:?}");
        let z = Tensor::from_slice(&act.zscore[4..8]);
        assert!((z.mean(Kind::Float).double_value(&[])).abs() < 1e-5);
        assert!((z.square().mean(Kind::Float).double_value(&[]) - 1.0).abs() < 1e-4);
        // Same seed, same result; the motif's own seed does not depend on the other motifs.
        let alone =
            insert_motifs(&net, &readout, &motifs[..1], &bg, &opts, &mut NoProgress, &CancelToken::default()).unwrap();
        assert_eq!(&alone.difference[..], &act.difference[..4]);
    }
    let too_wide = format!(
        "MEME version 4\n\nMOTIF W wide\nletter-probability matrix: alength= 4 w= {}\n{}",
        len + 1,
        "0.25 0.25 0.25 0.25\n".repeat(len + 1)
    );
    let wide = parse_meme(&too_wide, STRING_SOURCE).unwrap().motifs;
    let e = insert_motifs(
        &net,
        &readout,
        &wide,
        &bg,
        &InsertionOptions::default(),
        &mut NoProgress,
        &CancelToken::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("fit"), "{e}");
}

fn shuffle_backgrounds_for_test(n: usize, len: usize) -> Vec<u8> {
    insertion::shuffle_backgrounds(&random_codes(n * len, 9), len, 2)
}

fn genome(dir: &std::path::Path, seq: &[u8]) -> crate::seq::Genome {
    let path = dir.join("g.fa");
    let mut text = b">chr1\n".to_vec();
    for line in seq.chunks(60) {
        text.extend_from_slice(line);
        text.push(b'\n');
    }
    text.extend_from_slice(b">chr2\nACGTACGTAC\n");
    std::fs::write(&path, text).unwrap();
    crate::seq::Genome::open(&path).unwrap()
}

#[test]
fn variant_windows_statuses_and_effects() {
    let (_vs, net) = model(3);
    let len = net.config().seq_len;
    let dir = tempfile::tempdir().unwrap();
    let bases: Vec<u8> = random_codes(2000, 4).iter().map(|&c| b"ACGT"[c as usize]).collect();
    let g = genome(dir.path(), &bases);
    let at = |pos1: usize, n: usize| String::from_utf8(bases[pos1 - 1..pos1 - 1 + n].to_vec()).unwrap();
    let other = |b: &str| if b == "A" { "C" } else { "A" }.to_string();
    let snv = Variant::new("chr1", 1000, &at(1000, 1), &other(&at(1000, 1)), None);
    let del = Variant::new("chr1", 1200, &at(1200, 3), &at(1200, 1), None);
    let ins = Variant::new("chr1", 1300, &at(1300, 1), &format!("{}GGG", at(1300, 1)), None);
    let wrong = Variant::new("chr1", 500, &other(&at(500, 1)), "T", None);
    let unknown = Variant::new("chrX", 5, "A", "G", None);
    let past = Variant::new("chr2", 10, "CA", "G", None);
    let vars = vec![snv.clone(), del, ins, wrong, unknown, past];
    let r =
        variant_effects(&net, &g, &vars, VariantCentre::Variant, 1, &mut NoProgress, &CancelToken::default()).unwrap();
    let labels: Vec<&str> = r.status.iter().map(|s| s.label()).collect();
    assert_eq!(labels, ["ok", "ok", "ok", "ref_mismatch", "unknown_chromosome", "outside_chromosome"]);
    assert!(r.status[3].describe(&vars[3], &g).contains("same build"));
    // The SNV's windows: REF = genome window centred on it, ALT differs at L/2 only.
    let ws = 999 - len / 2;
    let ref_codes: Vec<u8> = crate::seq::encode(&bases[ws..ws + len], 0);
    let mut alt_codes = ref_codes.clone();
    alt_codes[len / 2] = crate::seq::codes::base_code(other(&at(1000, 1)).as_bytes()[0]).unwrap();
    let readout = CellReadout::of_scbasset(&net);
    let direct = readout.values(&z_of(&net, &alt_codes), DenoiseScale::Logit)
        - readout.values(&z_of(&net, &ref_codes), DenoiseScale::Logit);
    let eff = r.per_cell(&readout, DenoiseScale::Logit);
    assert_eq!(eff.size(), [6, 3]);
    assert!(max_abs(&(eff.select(0, 0) - direct.squeeze_dim(0))) < 1e-5);
    for i in 3..6 {
        assert!(eff.select(0, i).isnan().all().int64_value(&[]) == 1);
    }
    // Peak-centred windows: the same SNV inside a peak; a variant outside every peak is flagged.
    let peaks = PeakSet { chrom: vec!["chr1".into()], start: vec![900], end: vec![1400], name: vec!["p".into()] };
    let r2 = variant_effects(
        &net,
        &g,
        &[snv.clone(), vars[1].clone(), Variant::new("chr1", 1500, &at(1500, 1), "G", None)],
        VariantCentre::Peak(&peaks),
        1,
        &mut NoProgress,
        &CancelToken::default(),
    )
    .unwrap();
    assert_eq!(r2.status.iter().map(|s| s.label()).collect::<Vec<_>>(), ["ok", "ok", "not_in_peak"]);
    assert_eq!(r2.peak[0], Some(0));
    let ws = 1150 - len / 2;
    let ref2: Vec<u8> = crate::seq::encode(&bases[ws..ws + len], 0);
    let mut alt2 = ref2.clone();
    alt2[999 - ws] = alt_codes[len / 2];
    let direct2 = readout.values(&z_of(&net, &alt2), DenoiseScale::Sigmoid)
        - readout.values(&z_of(&net, &ref2), DenoiseScale::Sigmoid);
    assert!(max_abs(&(r2.per_cell(&readout, DenoiseScale::Sigmoid).select(0, 0) - direct2.squeeze_dim(0))) < 1e-5);
}
