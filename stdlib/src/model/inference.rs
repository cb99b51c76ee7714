//! What a trained model computes for users: denoised accessibility (`denoise`, `write_denoised` streamed into an
//! h5ad layer), per-cell predictions for any sequence (`predict`), and sequence embeddings of peaks
//! (`peak_embeddings`). Evaluation mode, minibatches, progress and interrupt through the session.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use gscript_lang::rhai::{Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, Registrar};
use gscript_runtime::analysis::roc::{per_column, per_row, RankMetric, RankingSummary};
use gscript_runtime::data::{write_h5ad_streamed, DenseArray, H5adExtras, StreamedLayer};
use gscript_runtime::interpret::sharded::Shard;
use gscript_runtime::models::scbasset::{denoise_blocks, embed_codes, predict_codes, probabilities, DenoiseScale};
use gscript_runtime::seq::peak_codes;
use tch::{Kind, Tensor};

use super::{tensor_matrix, ModelValue, TrainedModel};
use crate::bridge::{cancel_token, in_primitive, ScriptResult, SessionProgress};
use crate::rank_zero::write_from_rank_zero;
use crate::seq::sequence_codes;
use crate::training::genome_for;
use crate::values::peak_data::PeakData;
use crate::values::Matrix;

/// Largest dense result `denoise` returns in memory (cells × peaks entries); beyond it, `write_denoised` streams.
const MAX_DENSE: usize = 400_000_000;
/// Peaks per denoising block (and HDF5 chunk width).
const BLOCK: usize = 256;

/// The model and the data must describe the same cells, in the same order.
fn check_cells(primitive: &str, m: &TrainedModel, data: &PeakData) -> ScriptResult<()> {
    let (mb, db) = (&m.meta.barcodes, &data.0.cells.barcodes);
    if mb.len() != db.len() {
        return Err(primitive_error(
            primitive,
            Some("data"),
            &format!(
                "the model was trained on {} cells but the data has {}: pass the dataset the model was trained on",
                mb.len(),
                db.len()
            ),
        ));
    }
    if let Some(i) = (0..mb.len()).find(|&i| mb[i] != db[i]) {
        return Err(primitive_error(
            primitive,
            Some("data"),
            &format!(
                "cell {i} is `{}` in the model but `{}` in the data: the cells differ or are in another order",
                mb[i], db[i]
            ),
        ));
    }
    Ok(())
}

/// Embeddings `z` of the peaks of `data` that this process computes (sequence windows of the model's length from
/// the genome): all of them in one process; in a process group (`gscript launch`), this rank's contiguous part in
/// whole blocks of [`BLOCK`] peaks. `BLOCK` is a multiple of every evaluation batch (64, 128 or 256), so each
/// rank's embedding batches and denoising blocks are those of one process and its values the same bits.
fn peak_z(
    host: &Arc<Host>,
    primitive: &'static str,
    m: &TrainedModel,
    data: &PeakData,
    o: &Options,
    shard: Option<&Shard>,
) -> ScriptResult<(Tensor, Range<usize>)> {
    let genome = genome_for(primitive, data, o.raw("genome"))?;
    let cancel = cancel_token(host);
    let len = m.net.config().seq_len;
    let codes = peak_codes(&genome.0, &data.0.peaks, len as u64, 0, &mut SessionProgress::new(host), &cancel)
        .map_err(in_primitive(primitive))?;
    let n = data.0.n_peaks();
    let mine = shard.map_or(0..n, |s| s.range_in_units(n, BLOCK));
    let z =
        embed_codes(&m.net, &codes.codes[mine.start * len..mine.end * len], &mut SessionProgress::new(host), &cancel)
            .map_err(in_primitive(primitive))?;
    Ok((z, mine))
}

/// Streams the denoised layer of `z` (all peaks' embeddings) with the data into the h5ad at `path`.
#[allow(clippy::too_many_arguments)]
fn write_layer(
    host: &Arc<Host>,
    t: &TrainedModel,
    data: &PeakData,
    z: &Tensor,
    scale: DenoiseScale,
    name: String,
    path: &str,
) -> ScriptResult<()> {
    const P: &str = "write_denoised";
    let emb = tensor_matrix(&t.net.cell_embeddings());
    let extras = H5adExtras {
        obsm: vec![(
            "X_scbasset".into(),
            DenseArray::new(emb.rows, emb.cols, emb.data.to_vec()).map_err(in_primitive(P))?,
        )],
        ..Default::default()
    };
    let cancel = cancel_token(host);
    let mut bar = host.progress(
        &format!("denoising {} peaks × {} cells", data.0.n_peaks(), data.0.n_cells()),
        Some(data.0.n_peaks() as u64),
    );
    let net = &t.net;
    let layer = StreamedLayer {
        name,
        block: BLOCK,
        produce: Box::new(|sink| {
            denoise_blocks(net, z, scale, BLOCK, &cancel, &mut |r, v| {
                bar.update(r.end as u64, "");
                sink(r, v)
            })
        }),
    };
    let d = &data.0;
    write_h5ad_streamed(&PathBuf::from(path), &d.matrix, &d.peaks, &d.cells, &extras, layer)
        .map_err(in_primitive(P))?;
    bar.finish(path);
    Ok(())
}

fn scale_of(primitive: &str, o: &Options) -> ScriptResult<DenoiseScale> {
    let s = o.choice("scale", &["sigmoid", "logit", "none"])?.unwrap_or_else(|| "sigmoid".into());
    s.parse().map_err(|e: gscript_runtime::RuntimeError| primitive_error(primitive, Some("scale"), &e.to_string()))
}

pub fn register(reg: &mut Registrar) {
    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("ScBassetModel", name, "model", sig, summary);

    let doc = m("denoise", "model.denoise(data: PeakDataset, options?: map) -> Matrix", "Denoised accessibility, cells × peaks (scBasset imputation).")
        .details(
            "Each peak's sequence embedding times each cell's embedding, without the cell's intercept, so that sequencing depth is \
             normalised away. `scale`: \"sigmoid\" (default, the original's imputation_Y_normalize), \"logit\" (the same before the \
             sigmoid), \"none\" (the prediction with the intercept, not depth-normalised). scBasset-BC models use the cell path only \
             (batch effect removed). Computed in blocks of peaks; for large data use write_denoised, which streams to an h5ad layer.",
        )
        .opt("scale", "string", OptDefault::Str("sigmoid"), "\"sigmoid\", \"logit\" or \"none\"")
        .opt("genome", "Genome", OptDefault::None, "genome for the peak sequences (default: the data's)")
        .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet den = model.denoise(sim.data);\nprint(den);");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let denoise = move |model: &mut ModelValue, data: PeakData, opts: Map| -> ScriptResult<Matrix> {
        const P: &str = "denoise";
        let o = Options::new(P, opts, &specs)?;
        let scale = scale_of(P, &o)?;
        let t = model.lock();
        check_cells(P, &t, &data)?;
        let (nc, np) = (data.0.n_cells(), data.0.n_peaks());
        if nc * np > MAX_DENSE {
            return Err(primitive_error(
                P,
                Some("data"),
                &format!("{nc} cells × {np} peaks is too large to hold in memory; stream it to a file with model.write_denoised(data, \"denoised.h5ad\")"),
            ));
        }
        let shard = Shard::from_env().map_err(in_primitive(P))?;
        let (z, mine) = peak_z(&host, P, &t, &data, &o, shard.as_ref())?;
        // This process's peaks (all of them in one process), cells × local peaks.
        let nl = mine.len();
        let mut local = vec![0f32; nc * nl];
        denoise_blocks(&t.net, &z, scale, BLOCK, &cancel_token(&host), &mut |r, v| {
            for c in 0..nc {
                local[c * nl + r.start..c * nl + r.end].copy_from_slice(&v[c * r.len()..(c + 1) * r.len()]);
            }
            Ok(())
        })
        .map_err(in_primitive(P))?;
        let out = match &shard {
            None => local,
            Some(sh) => {
                // Peaks × cells rows gathered in rank order, back to cells × peaks (copies: the same bits).
                let rows = Tensor::from_slice(&local).view([nc as i64, nl as i64]).tr().contiguous();
                let all = sh.gather_rows(&rows, np, BLOCK).map_err(in_primitive(P))?;
                Vec::<f32>::try_from(all.tr().contiguous().view([-1]).to_kind(Kind::Float))
                    .map_err(|e| primitive_error(P, None, &e.to_string()))?
            }
        };
        Ok(Matrix::new(nc, np, out).with_row_names(t.meta.barcodes.clone()).with_col_names(data.0.peaks.name.clone()))
    };
    let d2 = denoise.clone();
    reg.engine.register_fn("denoise", denoise);
    reg.engine.register_fn("denoise", move |m: &mut ModelValue, d: PeakData| d2(m, d, Map::new()));

    let doc = m(
        "write_denoised",
        "model.write_denoised(data: PeakDataset, path: string, options?: map)",
        "Writes the data as .h5ad with the denoised matrix as a layer and the cell embeddings in obsm, streaming block by block.",
    )
    .details(
        "Memory stays at one block of peaks × all cells, whatever the data size. X, obs and var are the data's; \
         layers[<layer>] holds denoise(data) at the chosen scale and obsm[\"X_scbasset\"] the cell embeddings. Written to a temporary file and renamed: an interrupt leaves no file.",
    )
    .opt("scale", "string", OptDefault::Str("sigmoid"), "\"sigmoid\", \"logit\" or \"none\"")
    .opt("layer", "string", OptDefault::Str("denoised"), "name of the layer")
    .opt("genome", "Genome", OptDefault::None, "genome for the peak sequences (default: the data's)")
    .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nmodel.write_denoised(sim.data, out_path(\"denoised.h5ad\"));");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let write = move |model: &mut ModelValue, data: PeakData, path: &str, opts: Map| -> ScriptResult<()> {
        const P: &str = "write_denoised";
        let o = Options::new(P, opts, &specs)?;
        let scale = scale_of(P, &o)?;
        let name = o.string("layer")?.unwrap_or_else(|| "denoised".into());
        let t = model.lock();
        check_cells(P, &t, &data)?;
        // In a process group each rank embeds its part of the peaks (the trunk pass, the bulk of the work); the
        // embeddings are gathered, and rank 0 computes the blocks and writes the file (crate::rank_zero: a failure on
        // rank 0 is an error on every rank, and the file exists when the call returns).
        let shard = Shard::from_env().map_err(in_primitive(P))?;
        let (z, _) = peak_z(&host, P, &t, &data, &o, shard.as_ref())?;
        let z = match &shard {
            None => z,
            Some(sh) => sh.gather_rows(&z, data.0.n_peaks(), BLOCK).map_err(in_primitive(P))?,
        };
        write_from_rank_zero(&host, P, "path", path, || write_layer(&host, &t, &data, &z, scale, name, path))
    };
    let w2 = write.clone();
    reg.engine.register_fn("write_denoised", write);
    reg.engine.register_fn("write_denoised", move |m: &mut ModelValue, d: PeakData, p: &str| w2(m, d, p, Map::new()));

    reg.docs.add(
        m(
            "predict",
            "model.predict(seqs: string | array) -> Matrix",
            "Predicted accessibility probability of each sequence in every cell (sequences × cells), intercepts included.",
        )
        .details("Sequences must have the model's length (1,344 bp for the published model); non-ACGT bases are replaced by seeded random bases, as in training.")
        .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet s = sim.genome.fetch(\"chr1:1000-1336\");\nprint(model.predict(s));"),
    );
    let host = reg.host.clone();
    reg.engine.register_fn("predict", move |model: &mut ModelValue, seqs: Dynamic| -> ScriptResult<Matrix> {
        let t = model.lock();
        let codes = sequence_codes("predict", &seqs, t.net.config().seq_len)?;
        let p = predict_codes(&t.net, &codes.codes, &mut SessionProgress::new(&host), &cancel_token(&host))
            .map_err(in_primitive("predict"))?;
        Ok(tensor_matrix(&p).with_col_names(t.meta.barcodes.clone()))
    });

    let doc = m("peak_embeddings", "model.peak_embeddings(data: PeakDataset, options?: map) -> Matrix", "Sequence embeddings of the data's peaks (peaks × 32): the bottleneck output.")
        .opt("genome", "Genome", OptDefault::None, "genome for the peak sequences (default: the data's)")
        .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nprint(model.peak_embeddings(sim.data));");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let pe = move |model: &mut ModelValue, data: PeakData, opts: Map| -> ScriptResult<Matrix> {
        let o = Options::new("peak_embeddings", opts, &specs)?;
        let t = model.lock();
        let (z, _) = peak_z(&host, "peak_embeddings", &t, &data, &o, None)?;
        Ok(tensor_matrix(&z).with_row_names(data.0.peaks.name.clone()))
    };
    let p2 = pe.clone();
    reg.engine.register_fn("peak_embeddings", pe);
    reg.engine.register_fn("peak_embeddings", move |m: &mut ModelValue, d: PeakData| p2(m, d, Map::new()));

    let doc = m("evaluate", "model.evaluate(data: PeakDataset, options?: map) -> map", "How well the model predicts the data: auROC and auPR per cell (over peaks) and per peak (over cells).")
        .details(
            "Predictions of the full model (intercepts and batch path included) for every peak of `data` against its observed \
             accessibility. Returns the means (auroc_per_cell, aupr_per_cell, auroc_per_peak, aupr_per_peak; cells or peaks with only one \
             class are skipped and counted in n_cells_skipped / n_peaks_skipped) and the per-cell and per-peak auROC arrays (NaN where \
             skipped). Pass held-out peaks (e.g. data of other chromosomes) for a test-set evaluation.",
        )
        .opt("genome", "Genome", OptDefault::None, "genome for the peak sequences (default: the data's)")
        .example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet e = model.evaluate(sim.data);\nprint(e.auroc_per_cell);");
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let evaluate = move |model: &mut ModelValue, data: PeakData, opts: Map| -> ScriptResult<Map> {
        const P: &str = "evaluate";
        let o = Options::new(P, opts, &specs)?;
        let t = model.lock();
        check_cells(P, &t, &data)?;
        let (nc, np) = (data.0.n_cells(), data.0.n_peaks());
        if nc * np > MAX_DENSE {
            return Err(primitive_error(
                P,
                Some("data"),
                &format!("{nc} cells × {np} peaks is too large to score at once; evaluate a subset of peaks"),
            ));
        }
        let (z, _) = peak_z(&host, P, &t, &data, &o, None)?;
        let probs = probabilities(&t.net, &z);
        let scores: Vec<f32> =
            Vec::try_from(probs.reshape([-1])).map_err(|e: tch::TchError| primitive_error(P, None, &e.to_string()))?;
        let positives: Vec<Vec<u32>> = (0..np).map(|p| data.0.matrix.row_indices(p).to_vec()).collect();
        let run = |f: &dyn Fn(RankMetric) -> gscript_runtime::analysis::Result<RankingSummary>, metric| {
            f(metric).map_err(crate::bridge::in_primitive(P))
        };
        let by_peak = |metric| per_row(&scores, np, nc, &positives, metric);
        let by_cell = |metric| per_column(&scores, np, nc, &positives, metric);
        let (peak_roc, peak_pr) = (run(&by_peak, RankMetric::AuRoc)?, run(&by_peak, RankMetric::AveragePrecision)?);
        let (cell_roc, cell_pr) = (run(&by_cell, RankMetric::AuRoc)?, run(&by_cell, RankMetric::AveragePrecision)?);
        let full = |r: &RankingSummary, n: usize| -> Dynamic {
            let mut v = vec![f64::NAN; n];
            for (&i, &x) in r.evaluated.iter().zip(&r.values) {
                v[i] = x;
            }
            Dynamic::from_array(v.into_iter().map(Dynamic::from).collect())
        };
        let mean = |r: &RankingSummary| Dynamic::from(r.mean.unwrap_or(f64::NAN));
        let mut out = Map::new();
        out.insert("auroc_per_cell".into(), mean(&cell_roc));
        out.insert("aupr_per_cell".into(), mean(&cell_pr));
        out.insert("auroc_per_peak".into(), mean(&peak_roc));
        out.insert("aupr_per_peak".into(), mean(&peak_pr));
        out.insert("cell_auroc".into(), full(&cell_roc, nc));
        out.insert("peak_auroc".into(), full(&peak_roc, np));
        out.insert("n_cells_skipped".into(), Dynamic::from(cell_roc.n_skipped as i64));
        out.insert("n_peaks_skipped".into(), Dynamic::from(peak_roc.n_skipped as i64));
        Ok(out)
    };
    let e2 = evaluate.clone();
    reg.engine.register_fn("evaluate", evaluate);
    reg.engine.register_fn("evaluate", move |m: &mut ModelValue, d: PeakData| e2(m, d, Map::new()));
}
