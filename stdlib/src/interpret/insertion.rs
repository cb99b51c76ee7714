//! `insert_motif(model, motifs, options)`: per-cell TF activity by motif insertion into shuffled peak backgrounds.

use gscript_lang::rhai::Dynamic;
use gscript_lang::{primitive_error, FnDoc, OptDefault, Registrar};
use gscript_runtime::data::PeakSet;
use gscript_runtime::interpret::insertion::{sample_backgrounds, shuffle_backgrounds};
use gscript_runtime::interpret::sharded::Shard;
use gscript_runtime::interpret::{insert_motifs_on, CellReadout, InsertionOptions};
use gscript_runtime::models::scbasset::DenoiseScale;
use gscript_runtime::seq::peak_codes;

use super::motifs::motif_list;
use crate::bridge::{cancel_token, in_primitive, register2, SessionProgress};
use crate::training::genome_for;
use crate::values::model::ModelValue;
use crate::values::peak_data::PeakData;
use crate::values::Matrix;

pub fn register(reg: &mut Registrar) {
    let doc = FnDoc::new("insert_motif", "interpret", "insert_motif(model: ScBassetModel, motifs: MotifSet | Motif, options?: map) -> Matrix", "Per-cell TF activity by motif insertion (scBasset's motif_score): motifs × cells z-scores.")
        .details(
            "`n_background` peaks of `peaks` are sampled (seeded) and dinucleotide-shuffled (one shuffle per peak, as fasta-ushuffle -k 2); for \
             each motif, `n_background` sequences drawn from its probability matrix (seeded per motif) are written over the centre of the \
             backgrounds (positions L/2 − ⌊w/2⌋ …). A cell's activity is the mean predicted accessibility with the motif minus without it, \
             z-scored across cells (ddof 0). `scale`: \"sigmoid\" = σ(z·w_c), as Keras' motif_score; \"logit\" = z·w_c, as scvi-tools' \
             get_tf_activity; \"none\" = σ(z·w_c + b_c). The background pass runs once and motif sequences stream through the model in batches, \
             with progress. Returns motifs × cells (row names = TF names, column names = barcodes); `output: \"difference\"` gives the \
             un-z-scored differences. For h5ad obsm, transpose: data.write_h5ad(p, #{obsm: #{tf_activity: act.transpose()}}).",
        )
        .opt("peaks", "PeakDataset", OptDefault::None, "dataset whose peaks provide the backgrounds (required)")
        .opt("genome", "Genome", OptDefault::None, "genome for the peaks (default: the dataset's)")
        .opt("n_background", "int", OptDefault::Int(1000), "number of shuffled background sequences")
        .opt("seed", "int", OptDefault::Int(10), "seed of backgrounds and motif instances")
        .opt("scale", "string", OptDefault::Str("sigmoid"), "\"sigmoid\", \"logit\" or \"none\" (see above)")
        .opt("output", "string", OptDefault::Str("zscore"), "\"zscore\" or \"difference\"")
        .example("let sim = simulate_atac(#{n_cells: 60, n_peaks: 120, seed: 1});\nlet m = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1});\n\
                  let act = insert_motif(m, jaspar_motifs().select(sim.motifs), #{peaks: sim.data, n_background: 50});\nprint(act.shape());");
    let host = reg.host.clone();
    register2(reg, doc, move |model: ModelValue, motifs: Dynamic, o| {
        const P: &str = "insert_motif";
        let motifs = motif_list(P, &motifs)?;
        let data = o
            .raw("peaks")
            .ok_or_else(|| {
                primitive_error(
                    P,
                    Some("peaks"),
                    "backgrounds come from peaks: pass #{peaks: data} (the dataset, with its genome)",
                )
            })?
            .clone()
            .try_cast::<PeakData>()
            .ok_or_else(|| primitive_error(P, Some("peaks"), "expected a PeakDataset"))?;
        let genome = genome_for(P, &data, o.raw("genome"))?;
        let n_bg = o.int_at_least("n_background", 1)?.unwrap() as usize;
        let seed = o.int("seed")?.unwrap() as u64;
        let scale: DenoiseScale =
            o.choice("scale", &["sigmoid", "logit", "none"])?.unwrap().parse().map_err(in_primitive(P))?;
        let zscore = o.choice("output", &["zscore", "difference"])?.as_deref() == Some("zscore");
        let m = model.lock();
        let len = m.net.config().seq_len;
        let cancel = cancel_token(&host);
        let picked = sample_backgrounds(data.0.n_peaks(), n_bg, seed).map_err(in_primitive(P))?;
        let all = &data.0.peaks;
        let subset = PeakSet {
            chrom: picked.iter().map(|&i| all.chrom[i].clone()).collect(),
            start: picked.iter().map(|&i| all.start[i]).collect(),
            end: picked.iter().map(|&i| all.end[i]).collect(),
            name: picked.iter().map(|&i| all.name[i].clone()).collect(),
        };
        let codes = peak_codes(&genome.0, &subset, len as u64, seed, &mut SessionProgress::new(&host), &cancel)
            .map_err(in_primitive(P))?;
        let backgrounds = shuffle_backgrounds(&codes.codes, len, seed);
        let readout = CellReadout::of_scbasset(&m.net);
        let opts = InsertionOptions { seed, scale };
        // In a process group (gscript launch, torchrun) the motifs are split across the ranks.
        let shard = Shard::from_env().map_err(in_primitive(P))?;
        let mut progress = SessionProgress::new(&host);
        let act =
            insert_motifs_on(&m.net, &readout, &motifs, &backgrounds, &opts, shard.as_ref(), &mut progress, &cancel)
                .map_err(in_primitive(P))?;
        let values = if zscore { act.zscore } else { act.difference };
        Ok(Matrix::new(act.names.len(), act.n_cells, values)
            .with_row_names(act.names)
            .with_col_names(m.meta.barcodes.clone()))
    });
}
