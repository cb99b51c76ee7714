use std::cell::Cell;

use super::*;
use crate::coverage::window::undo_squashed_scale;
use crate::profile::test_support::{simulated, type_embeddings, TinyProfileModel};

/// Counts trunk passes of the wrapped model.
struct Counting<'a> {
    inner: &'a TinyProfileModel,
    embeds: Cell<usize>,
}

impl CellProfileModel for Counting<'_> {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn seq_len(&self) -> usize {
        self.inner.seq_len
    }
    fn bins(&self) -> usize {
        self.inner.bins
    }
    fn bin_size(&self) -> usize {
        32
    }
    fn n_tracks(&self) -> usize {
        3
    }
    fn state_dim(&self) -> usize {
        self.inner.state_dim
    }
    fn embedding_dim(&self) -> usize {
        self.inner.dim
    }
    fn embed(&self, onehot: &Tensor, train: bool) -> Tensor {
        self.embeds.set(self.embeds.get() + 1);
        self.inner.embed(onehot, train)
    }
    fn cell_readout(&self, states: &Tensor, train: bool) -> (Tensor, Tensor) {
        self.inner.cell_readout(states, train)
    }
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn counts_invert_the_transform_rc_averages_with_strand_swap_and_reuse_one_trunk_pass() {
    let _lock = crate::testing::torch_rng_lock();
    tch::manual_seed(1);
    let sim = simulated(6144, 12, 4);
    let inner = TinyProfileModel::new(8192, 192, 3, 4);
    let model = Counting { inner: &inner, embeds: Cell::new(0) };
    let states = type_embeddings(&sim.cell_type, 3, 2);
    let region = Region::new(sim.coverage.refs.name(1), 20_000, 26_144).unwrap();
    let cells = vec![0usize, 3, 3, 7, 11];
    let cancel = CancelToken::new();
    let opts = PredictOptions { rc_average: false, chunk: 2, ..Default::default() };
    let p =
        predict_profiles(&model, &sim.genome, &region, &states, &CellSelection::Cells(cells.clone()), &opts, &cancel)
            .unwrap();
    assert_eq!(model.embeds.get(), 1, "one trunk pass for three chunks of cells");
    assert_eq!((p.bins, p.n_profiles, p.region.clone()), (192, 5, region.clone()));
    // Reference: the model's own forward pass in its space, inverted by hand.
    let codes = context_codes(&sim.genome, &region, 8192, 0).unwrap();
    let x = context_onehot(&codes, 1, Device::Cpu).unwrap();
    let idx = Tensor::from_slice(&cells.iter().map(|&c| c as i64).collect::<Vec<_>>());
    let raw = tch::no_grad(|| inner.forward(&x, &states.index_select(0, &idx).unsqueeze(0), false)).get(0);
    let raw = to_vec(&raw);
    for b in [0usize, 50, 191] {
        for j in 0..5 {
            for t in 0..3 {
                let y = raw[b * 15 + j * 3 + t];
                let want = if t == 2 { y * 20.0 } else { undo_squashed_scale(y, 5.0) };
                let got = p.get(b, j, t);
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "bin {b} cell {j} track {t}: {got} vs {want}"
                );
            }
        }
    }
    // RC averaging: mean in model space of the forward and the flipped, strand-swapped reverse prediction.
    model.embeds.set(0);
    let rc_opts = PredictOptions { rc_average: true, chunk: 2, ..Default::default() };
    let q = predict_profiles(
        &model,
        &sim.genome,
        &region,
        &states,
        &CellSelection::Cells(cells.clone()),
        &rc_opts,
        &cancel,
    )
    .unwrap();
    assert_eq!(model.embeds.get(), 2);
    let mut rc = codes.clone();
    reverse_complement_codes(&mut rc);
    let xr = context_onehot(&rc, 1, Device::Cpu).unwrap();
    let rraw = to_vec(&tch::no_grad(|| inner.forward(&xr, &states.index_select(0, &idx).unsqueeze(0), false)).get(0));
    let swap = [1usize, 0, 2];
    for b in [0usize, 77, 191] {
        for j in 0..5 {
            for t in 0..3 {
                let y = (raw[b * 15 + j * 3 + t] + rraw[(191 - b) * 15 + j * 3 + swap[t]]) / 2.0;
                let want = if t == 2 { y * 20.0 } else { undo_squashed_scale(y, 5.0) };
                let got = q.get(b, j, t);
                assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "rc bin {b} cell {j} track {t}");
            }
        }
    }
    // Pseudobulk = sum of the group's cells.
    let labels: Vec<Option<usize>> = (0..12).map(|c| if c % 4 == 3 { None } else { Some(c % 2) }).collect();
    let g = predict_profiles(
        &model,
        &sim.genome,
        &region,
        &states,
        &CellSelection::Groups { labels: labels.clone(), n_groups: 2 },
        &rc_opts,
        &cancel,
    )
    .unwrap();
    let all = predict_profiles(
        &model,
        &sim.genome,
        &region,
        &states,
        &CellSelection::Cells((0..12).collect()),
        &rc_opts,
        &cancel,
    )
    .unwrap();
    for b in [3usize, 100] {
        for grp in 0..2 {
            for t in 0..3 {
                let want: f32 = (0..12).filter(|&c| labels[c] == Some(grp)).map(|c| all.get(b, c, t)).sum();
                assert!((g.get(b, grp, t) - want).abs() <= 1e-4 * want.abs().max(1.0));
            }
        }
    }
    // Bad selections are errors.
    let bad = CellSelection::Cells(vec![12]);
    assert!(predict_profiles(&model, &sim.genome, &region, &states, &bad, &rc_opts, &cancel).is_err());
}

#[test]
fn gene_counts_sum_the_sense_strand_over_exon_bins() {
    let _lock = crate::testing::torch_rng_lock();
    tch::manual_seed(2);
    let sim = simulated(6144, 12, 4);
    let model = TinyProfileModel::new(8192, 192, 3, 4);
    let states = type_embeddings(&sim.cell_type, 3, 2);
    let table = crate::genes::gtf::load_genes(&sim.files.gtf, &Default::default()).unwrap();
    let fits = |g: &&Gene| {
        let w = gene_output_window(&model, &sim.genome, g).unwrap();
        !exon_bins(g, &w, 32, false).unwrap().is_empty()
    };
    let minus = table
        .genes
        .iter()
        .filter(fits)
        .find(|g| g.strand == Strand::Minus)
        .expect("a minus-strand gene with exons in its window");
    let plus = table
        .genes
        .iter()
        .filter(fits)
        .find(|g| g.strand == Strand::Plus)
        .expect("a plus-strand gene with exons in its window");
    let opts = PredictOptions::default();
    let cancel = CancelToken::new();
    let sel = CellSelection::Cells(vec![1, 2]);
    let got = gene_counts(&model, &sim.genome, &[minus, plus], &states, &sel, false, &opts, &cancel).unwrap();
    assert_eq!(got.len(), 4);
    for (k, gene) in [minus, plus].into_iter().enumerate() {
        let w = gene_output_window(&model, &sim.genome, gene).unwrap();
        let p = predict_profiles(&model, &sim.genome, &w, &states, &sel, &opts, &cancel).unwrap();
        let t = if gene.strand == Strand::Minus { 1 } else { 0 };
        let bins = exon_bins(gene, &w, 32, false).unwrap();
        assert!(!bins.is_empty());
        for j in 0..2 {
            let want: f64 = bins.iter().map(|&b| p.get(b as usize, j, t) as f64).sum();
            assert!((got[k * 2 + j] - want).abs() <= 1e-4 * want.max(1.0), "{} cell {j}", gene.name);
        }
    }
}
