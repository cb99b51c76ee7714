//! End to end on a simulated multiome, as the scooby paper's setting in miniature: scooby's tiny configuration is
//! first pre-trained (whole trunk, no adapters) on pseudobulk tracks of the cell types with the same loss, as Borzoi
//! is pre-trained on bulk tracks; then LoRA adapters and a fresh decoder are fine-tuned per cell. Genes whose windows
//! (and context) lie on the second half of chromosome 2 are held out of both stages.
//!
//! What was measured on this setting (issue 19, 2-core machine shared with other jobs):
//! - The check is attainable: on the held-out genes, the across-type Pearson of the simulation's true expression
//!   against the observed counts is 0.99 and that of one half of the cells against the other 0.94
//!   ([`simulated_setting_supports_the_held_out_check`] asserts both exceed the margin).
//! - With scooby's per-cell ATAC scale (0.05) on the pseudobulk tracks (16,384-bp context), ATAC (20× fewer counts
//!   than a 20-cell pseudobulk) weighs little beside RNA in the loss and the trunk does not learn the drivers: after 6
//!   and 12 epochs the predicted ATAC at enhancers is highest in the type where they are active for 32 % and 57 % of
//!   training enhancers (40 % held out; chance is 33 %). With the pseudobulk ATAC unscaled (1.0) it is 100 % after
//!   12 epochs (99–100 % held out), at 8,192 and 16,384 bp of context alike.
//! - The trunk still does not learn how enhancers set their gene's level per type: the pre-trained model's across-type
//!   Pearson stays 0.2–0.4 on training and held-out genes alike after 12, 24 (also with the Poisson weight at 1.0) or
//!   40 epochs (on the training genes' own windows only, learning rate 1e-3 or 3e-3), with 8,192 or 16,384 bp of
//!   context, with 4 transformer blocks instead of 2 (width 64 or 128) and with reads along the whole mRNA
//!   (`internal_priming` 1.0) instead of at 3′ ends a median 4.7 kb from the enhancers. Its RNA tracks follow the
//!   gene bodies, at one level per type whatever the gene, and an active enhancer only raises the RNA of its own type
//!   at the enhancer itself. Batch-norm mode is not the cause (training-mode statistics: 0.32 vs 0.29). The training
//!   targets are the coverage's (per-cell and pseudobulk sums agree with the evaluation's pseudobulk).
//! - Pre-training alone, across-type Pearson on training / held-out genes (1 thread, this setting unless said): 0.27 /
//!   0.34 as is; 0.26 / 0.36 with dropout off in trunk and decoder; 0.33 / 0.37 and 0.29 / 0.32 after 30 and 60
//!   epochs at a constant rate (no decay); 0.25 / 0.33 with 8 sequences per batch at 2e-3; 0.18 / 0.12 with three
//!   times the genes, windows and depth (6 chromosomes, 450 genes, 12 epochs). The loss plateaus near 4.1 in every
//!   run.
//! - The trunk's attention can learn such routing, but only after a plateau: the tiny trunk learns whether a motif
//!   lies in its input's flank, read out over every returned bin (`tiny_trunk_learns_a_dependency_from_its_context_
//!   flank` in models::borzoi), at chance for 600 clean steps of 8 sequences and perfectly from step 700 on. On this
//!   setting the routing from a gene's enhancers to its 3′ end has not appeared within any of the runs above.
//! - Not even context-wide motif content is used (stop 34, same scoring on the held-out genes): a predictor that sums
//!   the effects of *every* active enhancer in the gene-centred 8,192-bp context, whichever gene it belongs to (what
//!   uniform attention could pass on), scores 0.60; the gene's own enhancers 0.85; the pre-trained model 0.34. Its
//!   predicted counts are nearly the same pattern across types for every gene (e.g. 364 / 364 / 519 where 930 / 10 / 27
//!   were observed) and it does not fit the *training* genes either (0.27 above, 0.30–0.35 below), so this is not a
//!   failure to generalise. Planting consensus splice sites and a polyadenylation signal in every simulated transcript
//!   (exons and 3′ ends visible locally; not kept in the simulator) did not change it: with them, 0.36–0.39 on held-out
//!   and 0.30–0.35 on training genes after 12 or 40 epochs with the Poisson weight at 0.2, 2 or 10 or without gradient
//!   clipping, and 0.25 / 0.17 without clipping and weight decay (weight 1), although with weight 2 the loss kept
//!   falling (−5.3 to −6.7 over 40 epochs). On training windows the loss is nearly flat in the RNA predictions' overall
//!   scale (optimum about 2× at weight 0.2): the RNA level is near its optimum, and the trainer's targets and their
//!   alignment are not at fault.

use tch::{Device, Kind, Tensor};

use crate::coverage::simulate::MultiomeConfig;
use crate::coverage::window::WindowOptions;
use crate::finetune::scooby::{fine_tune_profiles, ProfileParams, ScoobyFineTuneConfig};
use crate::genes::gtf::load_genes;
use crate::genes::Gene;
use crate::models::profile::CellProfileModel;
use crate::models::scooby::{Scooby, ScoobyConfig, ScoobyPreset};
use crate::profile::dataset::{ProfileData, ProfileDataOptions};
use crate::profile::evaluate::{evaluate_profiles, group_sizes, observed_gene_counts, ProfileEvaluation};
use crate::profile::predict::{gene_output_window, predict_profiles, CellSelection, PredictOptions};
use crate::profile::test_support::{simulated_config, type_embeddings, SimData};
use crate::progress::CancelToken;
use crate::seq::region::Region;

const TYPES: usize = 3;

/// A multiome whose programmes a small trunk can learn in a test: short genes with enhancers close to the TSS
/// (inside the tiny model's 8,192-bp context), several driver sites per enhancer, no shared enhancers; genes packed
/// densely (150 on 2 × 600 kb: 433 training windows) so that few windows hold no gene.
fn multiome() -> SimData {
    simulated_config(MultiomeConfig {
        cells: 60,
        cell_types: TYPES,
        chromosomes: 2,
        chrom_length: 600_000,
        genes: 150,
        min_gene_length: 3_000,
        max_gene_length: 4_000,
        enhancers_per_gene: 3.0,
        enhancer_width: 300,
        enhancer_distance: 2_000,
        sites_per_enhancer: 6,
        shared_enhancers: 0.0,
        effect_min: 1.5,
        effect_max: 2.5,
        fragments_per_cell: 3000.0,
        umis_per_cell: 3000.0,
        window: Some(4096),
        seed: 11,
        ..Default::default()
    })
}

/// `states` (n × k) padded with zero columns to the model's state width.
fn pad(states: &Tensor, width: usize) -> Tensor {
    let n = states.size()[0];
    let k = states.size()[1];
    Tensor::cat(&[states, &Tensor::zeros([n, width as i64 - k], (Kind::Float, Device::Cpu))], 1)
}

struct Split {
    train: Vec<Region>,
    held_genes: Vec<Gene>,
    seen_genes: Vec<Gene>,
}

/// Training windows (4,096 bp, stride 2,048) away from the held-out half of chromosome 2, and the genes there.
fn split(sim: &SimData, model: &Scooby) -> Split {
    let table = load_genes(&sim.files.gtf, &Default::default()).unwrap();
    let chroms: Vec<(String, u64)> = sim.genome.chromosomes().iter().map(|e| (e.name.clone(), e.length)).collect();
    let half = chroms[1].1 / 2;
    let context = model.seq_len() as u64;
    let mut train = Vec::new();
    for (c, len) in &chroms {
        let mut s = 0;
        while s + 4096 <= *len {
            // the window's whole sequence context must end before the held-out half
            if *c != chroms[1].0 || s + 2048 + context / 2 < half {
                train.push(Region::new(c.clone(), s, s + 4096).unwrap());
            }
            s += 2048;
        }
    }
    let held_genes = table
        .genes
        .iter()
        .filter(|g| {
            let w = gene_output_window(model, &sim.genome, g).unwrap();
            let centre = (w.start + w.end) / 2;
            w.chrom == chroms[1].0
                && centre >= half + context / 2
                && !crate::genes::windows::exon_bins(g, &w, 32, false).unwrap().is_empty()
        })
        .cloned()
        .collect();
    let seen_genes = table
        .genes
        .iter()
        .filter(|g| {
            let w = gene_output_window(model, &sim.genome, g).unwrap();
            let centre = (w.start + w.end) / 2;
            (w.chrom != chroms[1].0 || centre + context / 2 < half)
                && !crate::genes::windows::exon_bins(g, &w, 32, false).unwrap().is_empty()
        })
        .cloned()
        .collect();
    Split { train, held_genes, seen_genes }
}

/// Pre-trains the whole tiny trunk (no LoRA) with the decoder on the cell types' pseudobulk tracks.
fn pretrain(sim: &SimData, windows: &[Region], epochs: usize) -> Scooby {
    let names: Vec<String> = (0..TYPES).map(|t| format!("type{t}")).collect();
    let groups: Vec<Option<usize>> = sim.cell_type.iter().map(|&t| Some(t)).collect();
    let bulk = sim.coverage.pseudobulk(&groups, &names).unwrap();
    let cfg = ScoobyConfig { lora: None, ..ScoobyPreset::Tiny.config() };
    let model = Scooby::new(&cfg, Device::Cpu, 5).unwrap();
    let mut params = ProfileParams::from_scooby(&model);
    let mut trunk: Vec<(String, Tensor)> = model.trunk().var_store().variables().into_iter().collect();
    trunk.sort_by(|a, b| a.0.cmp(&b.0));
    for (n, t) in trunk {
        if !n.ends_with(".running_mean") && !n.ends_with(".running_var") && !n.ends_with("num_batches_tracked") {
            let t = t.set_requires_grad(true);
            params.adapters.push((format!("trunk.{n}"), t));
        }
    }
    let states = pad(&Tensor::eye(TYPES as i64, (Kind::Float, Device::Cpu)), model.state_dim());
    // Pseudobulk tracks are bulk-like: RNA soft-clipped at Borzoi's bulk threshold (384), not the single-cell 5, and
    // ATAC in insertions (scale 1): scooby's 0.05 is for one cell's ATAC, and on a 20-cell pseudobulk it left ATAC
    // too light in the loss for the trunk to learn the drivers (module docs).
    let window = WindowOptions { clip_soft: 384.0, atac_scale: 1.0, ..Default::default() };
    let opts = ProfileDataOptions { cells_per_sequence: 3 * TYPES, window, ..Default::default() };
    let data = ProfileData::new(&model, &sim.genome, &bulk, windows.to_vec(), vec![], opts).unwrap();
    let cfg = ScoobyFineTuneConfig {
        epochs,
        batch_size: 2,
        lr_decoder: 1e-3,
        lr_adapters: 1e-3,
        lr_1d: 1e-3,
        warmup_steps: Some(20),
        seed: 2,
        ..Default::default()
    };
    let before: Vec<(String, Tensor)> = params.adapters.iter().map(|(n, t)| (n.clone(), t.detach().copy())).collect();
    let out = fine_tune_profiles(&model, &params, &data, &states, &cfg, &mut (), &|| false, vec![]).unwrap();
    let losses: Vec<f64> = out.history.epochs.iter().map(|e| e.train_loss).collect();
    eprintln!("pre-training losses {losses:?}");
    for ((n, b), (_, a)) in before.iter().zip(&params.adapters).step_by(7) {
        let d = (a.detach() - b).abs().max().double_value(&[]);
        eprintln!("  {n}: max change {d:.2e} (|w| {:.2e})", b.abs().mean(Kind::Float).double_value(&[]));
    }
    assert!(losses.last().unwrap() < losses.first().unwrap(), "{losses:?}");
    model
}

/// LoRA + fresh transform and decoder on the pre-trained trunk, fine-tuned per cell with noisy type embeddings.
fn fine_tune(sim: &SimData, pre: &Scooby, windows: &[Region], epochs: usize) -> Scooby {
    let model = Scooby::from_borzoi(pre.trunk(), &ScoobyPreset::Tiny.config(), 7).unwrap();
    let states = pad(&type_embeddings(&sim.cell_type, TYPES, 3), model.state_dim());
    let opts = ProfileDataOptions { cells_per_sequence: 16, ..Default::default() };
    let data = ProfileData::new(&model, &sim.genome, &sim.coverage, windows.to_vec(), vec![], opts).unwrap();
    let cfg = ScoobyFineTuneConfig {
        epochs,
        batch_size: 4,
        lr_decoder: 2e-3,
        lr_adapters: 1e-3,
        lr_1d: 1e-3,
        warmup_steps: Some(20),
        seed: 1,
        ..Default::default()
    };
    let params = ProfileParams::from_scooby(&model);
    let out = fine_tune_profiles(&model, &params, &data, &states, &cfg, &mut (), &|| false, vec![]).unwrap();
    let losses: Vec<f64> = out.history.epochs.iter().map(|e| e.train_loss).collect();
    eprintln!("fine-tuning losses {losses:?}");
    assert!(losses.last().unwrap() < losses.first().unwrap(), "{losses:?}");
    model
}

/// Mean across-type Pearson (scooby's evaluation) of `genes` with `states` as the cells' embeddings.
fn across_types(model: &Scooby, sim: &SimData, genes: &[Gene], states: &Tensor) -> f64 {
    let labels: Vec<Option<usize>> = sim.cell_type.iter().map(|&t| Some(t)).collect();
    let refs: Vec<&Gene> = genes.iter().collect();
    let ev = evaluate_profiles(
        model,
        &sim.genome,
        &sim.coverage,
        &refs,
        states,
        &labels,
        TYPES,
        false,
        &PredictOptions::default(),
        &CancelToken::new(),
    )
    .unwrap();
    eprintln!("across types per gene: {:?}", ev.across_types);
    ev.mean_across_types().unwrap()
}

/// The held-out-gene check. Not yet met, so ignored (module docs: the pre-trained trunk learns the drivers'
/// accessibility but not their effect on their genes' RNA). Last run: held-out across-type Pearson 0.35 against 0.15
/// for the shuffled control (0.24 on the training genes; before the pseudobulk ATAC scale 0.17–0.19 against
/// 0.06–0.08), the pre-trained trunk's held-out enhancer ATAC highest in the active type for 100 %. The pre-trained
/// trunk must place it so for more than 2/3 of the held-out enhancers (twice chance; chosen as that bound, not from
/// the measured value). Time: 137 s with `OMP_NUM_THREADS=1` on 2 cores beside other jobs; with libtorch's default 2
/// threads beside other jobs the spinning workers made pre-training alone last over 16 min.
#[test]
#[ignore = "minutes on CPU, and below the asserted margin yet: pre-trains and fine-tunes the tiny scooby"]
fn tiny_scooby_predicts_held_out_genes_across_cell_types() {
    let _lock = crate::testing::torch_rng_lock();
    let t0 = std::time::Instant::now();
    let sim = multiome();
    let probe = Scooby::new(&ScoobyPreset::Tiny.config(), Device::Cpu, 1).unwrap();
    let split = split(&sim, &probe);
    eprintln!("{} training windows, {} held-out genes", split.train.len(), split.held_genes.len());
    assert!(split.held_genes.len() >= 6, "{} held-out genes", split.held_genes.len());
    let pre = pretrain(&sim, &split.train, 12);
    eprintln!("pre-trained after {:?}", t0.elapsed());
    let types = Tensor::from_slice(&sim.cell_type.iter().map(|&t| t as i64).collect::<Vec<_>>());
    let one_hot = pad(&Tensor::eye(TYPES as i64, (Kind::Float, Device::Cpu)), pre.state_dim()).index_select(0, &types);
    let atac_held = atac_at_enhancers(&pre, &sim, &split.held_genes, &one_hot);
    eprintln!("pre-trained ATAC at held-out enhancers highest in their active type: {atac_held:.3}");
    assert!(atac_held > 2.0 / 3.0, "the pre-trained trunk did not learn the drivers: {atac_held:.3}");
    let model = fine_tune(&sim, &pre, &split.train, 4);
    eprintln!("fine-tuned after {:?}", t0.elapsed());
    let truth = pad(&type_embeddings(&sim.cell_type, TYPES, 3), model.state_dim());
    // Control: the same model with every cell given another cell's embedding (a fixed derangement across types).
    let n = sim.cell_type.len() as i64;
    let perm: Vec<i64> = (0..n).map(|i| (i * 7 + 3) % n).collect();
    let shuffled = truth.index_select(0, &Tensor::from_slice(&perm));
    let r_seen = across_types(&model, &sim, &split.seen_genes, &truth);
    let r_pre = across_types(&pre, &sim, &split.held_genes, &one_hot);
    let r_pre_seen = across_types(&pre, &sim, &split.seen_genes, &one_hot);
    eprintln!("pre-trained model on training genes {r_pre_seen:.3}");
    eprintln!("training genes {r_seen:.3}; pre-trained model on held-out genes {r_pre:.3}");
    let r_true = across_types(&model, &sim, &split.held_genes, &truth);
    let r_shuffled = across_types(&model, &sim, &split.held_genes, &shuffled);
    eprintln!("held-out across-type Pearson {r_true:.3} vs shuffled {r_shuffled:.3}; {:?}", t0.elapsed());
    assert!(r_true > r_shuffled + 0.3, "{r_true:.3} vs shuffled {r_shuffled:.3}");
}

/// Share of the enhancers of `genes` whose predicted pseudobulk ATAC (summed over the enhancer's bins) is highest in
/// a type where the enhancer is active.
fn atac_at_enhancers(model: &Scooby, sim: &SimData, genes: &[Gene], states: &Tensor) -> f64 {
    let labels: Vec<Option<usize>> = sim.cell_type.iter().map(|&t| Some(t)).collect();
    let selection = CellSelection::Groups { labels, n_groups: TYPES };
    let links: Vec<_> = sim.files.truth.links.iter().filter(|l| genes.iter().any(|g| g.name == l.gene_name)).collect();
    assert!(!links.is_empty(), "no enhancer of these genes");
    let mut hits = 0;
    for l in &links {
        let r = Region::new(l.chrom.clone(), l.start, l.end).unwrap();
        let opts = PredictOptions::default();
        let p = predict_profiles(model, &sim.genome, &r, states, &selection, &opts, &CancelToken::new()).unwrap();
        let (b0, b1) = (((l.start - p.region.start) / 32) as usize, ((l.end - p.region.start) / 32) as usize);
        let atac: Vec<f32> = (0..TYPES).map(|t| (b0..b1).map(|b| p.get(b, t, 2)).sum()).collect();
        let best = (0..TYPES).max_by(|a, b| atac[*a].total_cmp(&atac[*b])).unwrap();
        hits += usize::from(l.active.contains(&sim.files.truth.cell_types[best]));
    }
    hits as f64 / links.len() as f64
}

/// Mean across-type Pearson of `observed` against `reference` (both genes × types sums), per cell of each side.
fn across_types_of(genes: &[Gene], sizes: (&[f64], &[f64]), reference: &[f64], observed: &[f64]) -> f64 {
    // rescale the reference's sums to the observed side's group sizes, then scooby's correlation
    let scaled: Vec<f64> =
        reference.iter().enumerate().map(|(i, x)| x / sizes.0[i % TYPES].max(1.0) * sizes.1[i % TYPES]).collect();
    let names = genes.iter().map(|g| g.name.clone()).collect();
    ProfileEvaluation::from_counts(names, sizes.1, &scaled, observed).unwrap().mean_across_types().unwrap()
}

/// The ceiling of the held-out check on this simulation: on the held-out genes, the across-type Pearson (scooby's
/// evaluation) of the simulation's true expression against the observed counts, and of the counts of one half of
/// the cells against the other half, must both exceed the margin the model check asserts over its control (0.3):
/// otherwise no model could pass it.
#[test]
fn simulated_setting_supports_the_held_out_check() {
    let _lock = crate::testing::torch_rng_lock();
    let sim = multiome();
    let probe = Scooby::new(&ScoobyPreset::Tiny.config(), Device::Cpu, 1).unwrap();
    let genes = split(&sim, &probe).held_genes;
    assert!(genes.len() >= 6, "{} held-out genes", genes.len());
    let refs: Vec<&Gene> = genes.iter().collect();
    let counts = |labels: &[Option<usize>]| {
        observed_gene_counts(&probe, &sim.genome, &sim.coverage, &refs, labels, TYPES, false).unwrap()
    };
    let label = |keep: &dyn Fn(usize) -> bool| -> Vec<Option<usize>> {
        sim.cell_type.iter().enumerate().map(|(i, &t)| keep(i).then_some(t)).collect()
    };
    let (all, even, odd) = (label(&|_| true), label(&|i| i % 2 == 0), label(&|i| i % 2 == 1));
    // truth: expected molecules per cell of mean depth, per type (truth_expression.tsv)
    let tsv = std::fs::read_to_string(&sim.files.truth_expression).unwrap();
    let mut lines = tsv.lines();
    let first = lines.next().unwrap().split('\t').position(|h| h.starts_with("mean_")).unwrap();
    let rows: std::collections::HashMap<&str, Vec<f64>> = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1], f[first..first + TYPES].iter().map(|x| x.parse().unwrap()).collect())
        })
        .collect();
    let truth: Vec<f64> = genes.iter().flat_map(|g| rows[g.name.as_str()].clone()).collect();
    let ones = vec![1.0; TYPES];
    let (s_all, s_even, s_odd) = (group_sizes(&all, TYPES), group_sizes(&even, TYPES), group_sizes(&odd, TYPES));
    let r_truth = across_types_of(&genes, (&ones, &s_all), &truth, &counts(&all));
    let r_halves = across_types_of(&genes, (&s_even, &s_odd), &counts(&even), &counts(&odd));
    eprintln!("{} held-out genes: truth vs observed {r_truth:.3}, half vs half {r_halves:.3}", genes.len());
    assert!(r_truth > 0.3 && r_halves > 0.3, "truth {r_truth:.3}, halves {r_halves:.3}");
}
