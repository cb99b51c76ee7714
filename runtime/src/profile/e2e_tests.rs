//! End to end on a simulated multiome: scooby's tiny configuration (random tiny Borzoi trunk — not pre-trained, which
//! would not fit a unit test's time — with LoRA adapters, transform and decoder) fine-tuned per cell, then evaluated
//! on genes whose windows were held out of training (`run(true)` trains the same recipe on shuffled cell embeddings, the control).

use tch::Device;

use crate::finetune::scooby::{fine_tune_profiles, ProfileParams, ScoobyFineTuneConfig};
use crate::genes::gtf::load_genes;
use crate::models::profile::CellProfileModel;
use crate::models::scooby::{Scooby, ScoobyPreset};
use crate::profile::dataset::{ProfileData, ProfileDataOptions};
use crate::profile::evaluate::evaluate_profiles;
use crate::profile::predict::{gene_output_window, PredictOptions};
use crate::profile::test_support::{simulated_with, type_embeddings};
use crate::progress::CancelToken;
use crate::seq::region::Region;

fn run(shuffle: bool) -> (Vec<f64>, f64, f64) {
    let sim = simulated_with(4096, 48, 21, 30);
    let table = load_genes(&sim.files.gtf, &Default::default()).unwrap();
    let mut states = type_embeddings(&sim.cell_type, 3, 3);
    let n = sim.cell_type.len() as i64;
    if shuffle {
        // A fixed derangement-like permutation: embeddings no longer match the cells' types.
        let perm: Vec<i64> = (0..n).map(|i| (i * 7 + 3) % n).collect();
        states = states.index_select(0, &tch::Tensor::from_slice(&perm));
    }
    let model = Scooby::new(&ScoobyPreset::Tiny.config(), Device::Cpu, 5).unwrap();
    assert_eq!(model.state_dim(), 8);
    let states = tch::Tensor::cat(&[&states, &states.zeros_like()], 1).narrow(1, 0, 8);
    // Genes on the second half of chromosome 2 are held out; training windows tile the rest.
    let chroms: Vec<(String, u64)> = sim.genome.chromosomes().iter().map(|e| (e.name.clone(), e.length)).collect();
    let held = |chrom: &str, pos: u64| chrom == chroms[1].0 && pos >= chroms[1].1 / 2;
    let mut train = Vec::new();
    for (c, len) in &chroms {
        let mut s = 0;
        while s + 4096 <= *len {
            if !held(c, s + 4096 + 2048) {
                train.push(Region::new(c.clone(), s, s + 4096).unwrap());
            }
            s += 4096;
        }
    }
    let genes: Vec<_> = table
        .genes
        .iter()
        .filter(|g| {
            let w = gene_output_window(&model, &sim.genome, g).unwrap();
            held(&w.chrom, w.start) && !crate::genes::windows::exon_bins(g, &w, 32, false).unwrap().is_empty()
        })
        .collect();
    assert!(genes.len() >= 4, "{} held-out genes", genes.len());
    let seen: Vec<_> = table
        .genes
        .iter()
        .filter(|g| {
            let w = gene_output_window(&model, &sim.genome, g).unwrap();
            !held(&w.chrom, w.end + 2048) && !crate::genes::windows::exon_bins(g, &w, 32, false).unwrap().is_empty()
        })
        .collect();
    let opts = ProfileDataOptions { cells_per_sequence: 16, ..Default::default() };
    let data = ProfileData::new(&model, &sim.genome, &sim.coverage, train, vec![], opts).unwrap();
    let cfg = ScoobyFineTuneConfig {
        epochs: 3,
        batch_size: 2,
        lr_decoder: 2e-3,
        lr_adapters: 1e-3,
        lr_1d: 1e-3,
        warmup_steps: Some(10),
        seed: 1,
        ..Default::default()
    };
    let params = ProfileParams::from_scooby(&model);
    let out = fine_tune_profiles(&model, &params, &data, &states, &cfg, &mut (), &|| false, vec![]).unwrap();
    let losses: Vec<f64> = out.history.epochs.iter().map(|e| e.train_loss).collect();
    let labels: Vec<Option<usize>> = sim.cell_type.iter().map(|&t| Some(t)).collect();
    let true_states = {
        let s = type_embeddings(&sim.cell_type, 3, 3);
        tch::Tensor::cat(&[&s, &s.zeros_like()], 1).narrow(1, 0, 8)
    };
    let eval = |genes: &[&crate::genes::Gene]| {
        let ev = evaluate_profiles(
            &model,
            &sim.genome,
            &sim.coverage,
            genes,
            &true_states,
            &labels,
            3,
            false,
            &PredictOptions::default(),
            &CancelToken::new(),
        )
        .unwrap();
        ev.mean_across_types().unwrap_or(0.0)
    };
    (losses, eval(&genes), eval(&seen))
}

/// What passes today: the tiny scooby (LoRA on a random, not pre-trained trunk) trains through the whole chain and its
/// loss falls. The margin over a shuffled-embedding control on held-out genes is NOT asserted: with a random trunk and
/// 3 epochs the across-type Pearson is noise for both (measured −0.23…−0.10 true vs −0.21…−0.11 shuffled); it needs
/// the trunk pre-trained on pseudobulk tracks first.
#[test]
#[ignore = "about a minute on CPU: fine-tunes the tiny scooby"]
fn tiny_scooby_fine_tunes_end_to_end_on_a_simulated_multiome() {
    let _lock = crate::testing::torch_rng_lock();
    let t0 = std::time::Instant::now();
    let (losses, r_held, r_seen) = run(false);
    eprintln!(
        "losses {losses:?}; across-type Pearson held-out {r_held:.3}, training genes {r_seen:.3}; {:?}",
        t0.elapsed()
    );
    assert!(losses.last().unwrap() < losses.first().unwrap(), "{losses:?}");
    assert!(r_held.is_finite() && r_seen.is_finite());
}
