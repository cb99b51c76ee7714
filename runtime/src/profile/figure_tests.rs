use super::*;
use crate::coverage::window::window_targets;
use crate::genes::gtf::load_genes;
use crate::profile::test_support::{simulated, type_embeddings, TinyProfileModel};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}

/// Per type, per track of `tracks`, per bin of `view`: the sum over the type's cells of `per_cell(bin, cell, track)`.
fn by_type(
    cell_type: &[usize],
    bins: usize,
    tracks: usize,
    per_cell: impl Fn(usize, usize, usize) -> f64,
) -> Vec<Vec<Vec<f64>>> {
    (0..3)
        .map(|g| {
            (0..tracks)
                .map(|t| {
                    (0..bins)
                        .map(|b| (0..cell_type.len()).filter(|&c| cell_type[c] == g).map(|c| per_cell(b, c, t)).sum())
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[test]
fn drawn_series_are_summed_cell_predictions_and_summed_cell_coverage_on_the_same_bins() {
    let _lock = crate::testing::torch_rng_lock();
    tch::manual_seed(3);
    let sim = simulated(6144, 12, 4);
    let model = TinyProfileModel::new(8192, 192, 3, 4);
    let states = type_embeddings(&sim.cell_type, 3, 2);
    let labels: Vec<Option<usize>> = sim.cell_type.iter().map(|&t| Some(t)).collect();
    let table = load_genes(&sim.files.gtf, &Default::default()).unwrap();
    let cancel = CancelToken::new();
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let predict = PredictOptions { rc_average: false, ..Default::default() };
    let mut strands_seen = Vec::new();
    for gene in [Strand::Minus, Strand::Plus].map(|s| table.genes.iter().find(|g| g.strand == s).expect("a gene")) {
        let window = gene_output_window(&model, &sim.genome, gene).unwrap();
        for span in [None, Some(2000u64)] {
            let opts = ProfileTrackOptions { span, predict: predict.clone(), ..Default::default() };
            let p = profile_tracks(
                &model,
                &sim.genome,
                &sim.coverage,
                &Locus::Gene(gene),
                &states,
                &labels,
                3,
                &opts,
                &cancel,
            )
            .unwrap();
            let sense = if gene.strand == Strand::Minus { TrackKind::RnaMinus } else { TrackKind::RnaPlus };
            assert_eq!(p.tracks, vec![sense, TrackKind::Atac], "the gene's sense strand and ATAC by default");
            assert_eq!(p.window, window);
            match span {
                None => assert_eq!(p.view, window),
                Some(s) => {
                    // whole bins of the window around the gene's centre, at least `span` wide
                    let c = window_center(gene, WindowCenter::Gene);
                    assert!(p.view.start <= c - s / 2 && p.view.end >= c - s / 2 + s, "{} around {c}", p.view);
                    assert!(p.view.len() < s + 64 && (p.view.start - window.start).is_multiple_of(32), "{}", p.view);
                }
            }
            let bins = p.bins();
            let first = ((p.view.start - window.start) / 32) as usize;
            // independent: every cell predicted on its own over the window, summed per type by hand
            let all = CellSelection::Cells((0..12).collect());
            let cells = predict_profiles(&model, &sim.genome, &window, &states, &all, &predict, &cancel).unwrap();
            let ch = |k: TrackKind| cells.tracks.iter().position(|&x| x == k).unwrap();
            let tr = [ch(p.tracks[0]), ch(p.tracks[1])];
            let want_pred = by_type(&sim.cell_type, bins, 2, |b, c, t| cells.get(first + b, c, tr[t]) as f64);
            // independent: each cell's raw coverage over the view, summed per type by hand
            let wo = WindowOptions { transform: false, tracks: Some(p.tracks.clone()), ..Default::default() };
            let raw = window_targets(&sim.coverage, &p.view, &(0..12).collect::<Vec<_>>(), &wo).unwrap();
            let want_obs = by_type(&sim.cell_type, bins, 2, |b, c, t| raw.get(b, c * 2 + t) as f64);
            let ProfileRows { rows, groups, colors, y_groups: y } = p.series(&names).unwrap();
            assert_eq!(rows.len(), 3 * 2 * 2);
            let mut mass = [0.0f64; 2];
            for g in 0..3 {
                for t in 0..2 {
                    let (obs, pred) = (&rows[(g * 2 + t) * 2], &rows[(g * 2 + t) * 2 + 1]);
                    assert!(obs.label.ends_with("observed") && pred.label.ends_with("predicted"));
                    assert_eq!(groups[(g * 2 + t) * 2], names[g]);
                    assert_eq!(colors[(g * 2 + t) * 2], OBSERVED_COLOR);
                    assert_ne!(colors[(g * 2 + t) * 2 + 1], OBSERVED_COLOR);
                    assert_eq!(y[(g * 2 + t) * 2], usize::from(t == 1));
                    assert_eq!(obs.positions[0], p.view.start + 16);
                    for b in 0..bins {
                        assert!(close(obs.values[b], want_obs[g][t][b]), "obs {g} {t} {b}");
                        assert!(close(pred.values[b], want_pred[g][t][b]), "pred {g} {t} {b}");
                        mass[t] += obs.values[b];
                    }
                }
            }
            assert!(mass[0] > 0.0 && mass[1] > 0.0, "observed RNA and ATAC around {}: {mass:?}", gene.name);
            let fig = p.figure(&names, table.genes.clone(), "t").unwrap();
            let summary = fig.summary();
            assert!(summary.contains("12 tracks") && summary.contains("gene"), "{summary}");
            let svg = fig.render_svg().unwrap();
            assert!(svg.contains(&gene.name) && svg.contains("predicted") && svg.contains("observed"));
            let png = fig.render_png().unwrap();
            assert!(png.len() > 5_000 && png.starts_with(&[0x89, b'P', b'N', b'G']));
            strands_seen.push(gene.strand);
        }
    }
    assert_eq!(strands_seen.len(), 4);
}

#[test]
fn a_region_draws_its_own_bins_with_every_track_and_bad_settings_name_the_setting() {
    let _lock = crate::testing::torch_rng_lock();
    tch::manual_seed(4);
    let sim = simulated(6144, 12, 4);
    let model = TinyProfileModel::new(8192, 192, 3, 4);
    let states = type_embeddings(&sim.cell_type, 3, 2);
    let labels: Vec<Option<usize>> = sim.cell_type.iter().map(|&t| Some(t)).collect();
    let cancel = CancelToken::new();
    let chrom = sim.coverage.refs.name(0).to_string();
    let region = Region::new(chrom.clone(), 40_010, 41_000).unwrap();
    let run = |locus: &Locus, labels: &[Option<usize>], opts: &ProfileTrackOptions| {
        profile_tracks(&model, &sim.genome, &sim.coverage, locus, &states, labels, 3, opts, &cancel)
    };
    let opts = ProfileTrackOptions::default();
    let p = run(&Locus::Region(region.clone()), &labels, &opts).unwrap();
    assert_eq!(p.tracks, vec![TrackKind::RnaPlus, TrackKind::RnaMinus, TrackKind::Atac]);
    assert_eq!(p.window.len(), 192 * 32);
    assert_eq!(p.window.center(), region.center());
    // the region snapped outward to the window's bins
    assert!(p.view.start <= 40_010 && p.view.start + 32 > 40_010 && p.view.end >= 41_000 && p.view.end < 41_032);
    assert!((p.view.start - p.window.start).is_multiple_of(32));
    assert_eq!(p.predicted.len(), p.bins() * 3 * 3);
    assert_eq!(p.observed.len(), p.predicted.len());
    let fig = p.figure(&["x".into(), "y".into(), "z".into()], Vec::new(), "").unwrap();
    assert!(fig.summary().contains("18 tracks"), "{}", fig.summary());

    let err = |locus: &Locus, labels: &[Option<usize>], opts: &ProfileTrackOptions| {
        run(locus, labels, opts).unwrap_err().to_string()
    };
    let long = Region::new(chrom.clone(), 10_000, 30_000).unwrap();
    let e = err(&Locus::Region(long), &labels, &opts);
    assert!(e.contains("region") && e.contains("longer than the model's output window (6144 bp)"), "{e}");
    let e = err(&Locus::Region(region.clone()), &labels[1..], &opts);
    assert!(e.contains("groups") && e.contains("11 group labels"), "{e}");
    let wide = ProfileTrackOptions { span: Some(10_000), ..Default::default() };
    let e = err(&Locus::Region(region.clone()), &labels, &wide);
    assert!(e.contains("span") && e.contains("6144 bp"), "{e}");
    // a model of RNA only has no ATAC to draw
    let rna_only = TinyProfileModel::new(8192, 192, 2, 4);
    let atac = ProfileTrackOptions { tracks: Some(vec![TrackKind::Atac]), ..Default::default() };
    let e = profile_tracks(
        &rna_only,
        &sim.genome,
        &sim.coverage,
        &Locus::Region(region.clone()),
        &states,
        &labels,
        3,
        &atac,
        &cancel,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("tracks") && e.contains("the model predicts rna_plus, rna_minus, not atac"), "{e}");
    // by default only tracks the coverage holds: RNA alone without ATAC coverage, nothing without RNA either
    let rna = Coverage { atac: None, ..sim.coverage.clone() };
    let gene = load_genes(&sim.files.gtf, &Default::default()).unwrap().genes.remove(0);
    for (locus, want) in [
        (Locus::Region(region.clone()), vec![TrackKind::RnaPlus, TrackKind::RnaMinus]),
        (Locus::Gene(&gene), vec![if gene.strand == Strand::Minus { TrackKind::RnaMinus } else { TrackKind::RnaPlus }]),
    ] {
        let p = profile_tracks(&model, &sim.genome, &rna, &locus, &states, &labels, 3, &opts, &cancel).unwrap();
        assert_eq!(p.tracks, want);
    }
    let none = Coverage { rna_plus: None, rna_minus: None, ..rna.clone() };
    let e =
        profile_tracks(&model, &sim.genome, &none, &Locus::Region(region.clone()), &states, &labels, 3, &opts, &cancel)
            .unwrap_err()
            .to_string();
    assert!(e.contains("tracks") && e.contains("held by the coverage ()"), "{e}");
    let e = p.series(&["x".into()]).unwrap_err().to_string();
    assert!(e.contains("1 group names for 3 groups"), "{e}");
}
