//! Using a Borzoi from scripts: `model.predict_tracks`, `model.embed`, `variant_effect(model, ...)` and `saliency`.
//! Inputs are a DNA string of a valid length, or a region of a genome (the model's input window centred on it);
//! outputs are matrices named by track and by the bins' coordinates.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::interpret::VariantStatus;
use gscript_runtime::models::borzoi::predict::{
    centred_start, embed, onehot_bases, predict_tracks, saliency, variant_effects, window_onehot, TrackOptions,
    VariantStat,
};
use gscript_runtime::models::borzoi::{Species, BIN_SIZE, TOKEN_SIZE};
use gscript_runtime::seq::Region;
use tch::{Kind, Tensor};

use super::{group, BorzoiModel, BorzoiState};
use crate::bridge::{
    in_primitive, register3, register_method1, register_method2, register_method_overload2, ScriptResult,
};
use crate::interpret::variants::{variants_of, VariantData, VariantEffects};
use crate::seq::GenomeValue;
use crate::values::model::tensor_matrix;
use crate::values::Matrix;

/// Tracks of one head chosen by the `tracks` and `species` options.
struct TrackChoice {
    species: Species,
    /// The chosen indices (`None`: the whole head).
    indices: Option<Vec<usize>>,
    /// One name per chosen track: the targets table's identifier, or `track N`.
    names: Vec<String>,
    /// The head's strand pairs (from the targets table), for reverse-complement averaging.
    strand_pairs: Option<Vec<usize>>,
}

impl TrackChoice {
    fn all(&self) -> Vec<usize> {
        self.indices.clone().unwrap_or_else(|| (0..self.names.len()).collect())
    }
    fn options(&self, rc_average: bool) -> TrackOptions {
        TrackOptions {
            species: self.species,
            tracks: self.indices.clone(),
            rc_average,
            strand_pairs: self.strand_pairs.clone(),
        }
    }
}

fn species_option(primitive: &str, st: &BorzoiState, o: &Options) -> ScriptResult<(Species, usize)> {
    let species = match o.choice("species", &["human", "mouse"])?.as_deref() {
        Some("mouse") => Species::Mouse,
        _ => Species::Human,
    };
    let n = st.net.tracks(species).ok_or_else(|| {
        let (name, other) = if species == Species::Mouse { ("mouse", "human") } else { ("human", "mouse") };
        primitive_error(primitive, Some("species"), &format!("this model has no {name} head (use \"{other}\")"))
    })?;
    Ok((species, n))
}

/// The `tracks` option: identifiers, indices (integers or digit strings) or `~description` text with a targets
/// table; indices only without one.
fn track_choice(primitive: &str, st: &BorzoiState, o: &Options) -> ScriptResult<TrackChoice> {
    let (species, n) = species_option(primitive, st, o)?;
    let table = if species == Species::Human { st.targets.as_ref() } else { None };
    let indices = match o.raw("tracks") {
        None => None,
        Some(v) => {
            let items: Array = match v.clone().try_cast::<Array>() {
                Some(a) => a,
                None => vec![v.clone()],
            };
            if items.is_empty() {
                return Err(primitive_error(primitive, Some("tracks"), "is empty"));
            }
            let mut queries = Vec::with_capacity(items.len());
            for (k, x) in items.iter().enumerate() {
                if let Ok(i) = x.as_int() {
                    if i < 0 || i as usize >= n {
                        return Err(primitive_error(
                            primitive,
                            Some("tracks"),
                            &format!("track index {i} is out of range: the head has {n} tracks (0..{n})"),
                        ));
                    }
                    queries.push(i.to_string());
                } else if x.is_string() {
                    queries.push(x.to_string());
                } else {
                    return Err(primitive_error(
                        primitive,
                        Some("tracks"),
                        &format!(
                            "element {k}: expected a track identifier, index or \"~description\" text, got {}",
                            x.type_name()
                        ),
                    ));
                }
            }
            Some(match table {
                Some(t) => t.select(&queries).map_err(in_primitive(primitive))?,
                None => {
                    let mut out: Vec<usize> = Vec::new();
                    for q in &queries {
                        let i = q.trim().parse::<usize>().ok().filter(|&i| i < n).ok_or_else(|| {
                            primitive_error(
                                primitive,
                                Some("tracks"),
                                &format!(
                                    "no track `{q}`: this model has no targets table, so tracks are selected by index \
                                     (0..{n}); load_borzoi(path, #{{targets: \"targets.txt\"}}) names them"
                                ),
                            )
                        })?;
                        if !out.contains(&i) {
                            out.push(i);
                        }
                    }
                    out
                }
            })
        }
    };
    let names = match &indices {
        Some(ix) => ix.iter().map(|&i| track_name(table, i)).collect(),
        None => (0..n).map(|i| track_name(table, i)).collect(),
    };
    Ok(TrackChoice { species, indices, names, strand_pairs: table.map(|t| t.strand_pairs()) })
}

fn track_name(table: Option<&gscript_runtime::models::borzoi::targets::TargetTable>, i: usize) -> String {
    table.map_or_else(|| format!("track {i}"), |t| t.targets[i].identifier.clone())
}

/// An input window: `(4, L)` one-hot and where it lies (chromosome and 0-based start, for genome regions).
struct Window {
    onehot: Tensor,
    locus: Option<(String, i64)>,
    len: usize,
}

impl Window {
    /// Coordinates of the returned bins: `chr:start-end` (BED) for a region, `start-end` within the sequence.
    fn bin_names(&self, st: &BorzoiState) -> Vec<String> {
        let c = st.net.config();
        let (offset, _) = c.output_window(self.len);
        let base = self.locus.as_ref().map_or(0, |(_, s)| *s) + offset as i64;
        (0..c.bins as i64)
            .map(|i| {
                let (a, b) = (base + i * BIN_SIZE as i64, base + (i + 1) * BIN_SIZE as i64);
                match &self.locus {
                    Some((chrom, _)) => format!("{chrom}:{a}-{b}"),
                    None => format!("{a}-{b}"),
                }
            })
            .collect()
    }
}

/// A DNA string of a length the model reads.
fn sequence_window(primitive: &str, st: &BorzoiState, seq: &str) -> ScriptResult<Window> {
    let c = st.net.config();
    if seq.contains(':') {
        return Err(primitive_error(
            primitive,
            Some("sequence"),
            &format!("`{seq}` looks like a region: pass the genome first, model.{primitive}(genome, region)"),
        ));
    }
    if let Some(b) = seq.bytes().find(|b| !b.is_ascii_alphabetic()) {
        return Err(primitive_error(
            primitive,
            Some("sequence"),
            &format!("expected DNA letters (A, C, G, T, N), found `{}`", b as char),
        ));
    }
    if c.check_length(seq.len()).is_err() {
        return Err(primitive_error(
            primitive,
            Some("sequence"),
            &format!(
                "the sequence is {} bp; the model reads a multiple of {TOKEN_SIZE} bp of at least {} bp ({} bins × {BIN_SIZE} bp), \
                 {} bp by default (or pass a genome and a region)",
                group(seq.len()),
                group(c.bins * BIN_SIZE),
                group(c.bins),
                group(c.seq_len)
            ),
        ));
    }
    Ok(Window { onehot: onehot_bases(seq.as_bytes()), locus: None, len: seq.len() })
}

/// A region argument or option; errors name `key`.
fn parse_region(primitive: &str, key: &str, text: &str) -> ScriptResult<Region> {
    text.parse().map_err(|e| match e {
        gscript_runtime::RuntimeError::InvalidArgument { message, .. } => {
            primitive_error(primitive, Some(key), &message)
        }
        other => primitive_error(primitive, Some(key), &other.to_string()),
    })
}

/// The model's input window centred on `region` of `genome` (padding beyond the chromosome ends).
fn region_window(primitive: &str, st: &BorzoiState, genome: &GenomeValue, region: &str) -> ScriptResult<Window> {
    let r = parse_region(primitive, "region", region)?;
    if !genome.0.has_chrom(&r.chrom) {
        return Err(primitive_error(
            primitive,
            Some("region"),
            &format!("chromosome `{}` is not in the genome {}", r.chrom, genome.0.path().display()),
        ));
    }
    let len = st.net.config().seq_len;
    let start = centred_start(r.start, r.end, len);
    let onehot = window_onehot(&genome.0, &r.chrom, start, len).map_err(in_primitive(primitive))?;
    Ok(Window { onehot, locus: Some((r.chrom, start)), len })
}

/// Tracks × bins for one window.
fn tracks_matrix(primitive: &str, st: &BorzoiState, w: &Window, o: &Options) -> ScriptResult<Matrix> {
    let choice = track_choice(primitive, st, o)?;
    let rc = o.bool("rc_average")?.unwrap_or(true);
    let y = predict_tracks(&st.net, &w.onehot.unsqueeze(0), &choice.options(rc)).map_err(in_primitive(primitive))?;
    Ok(tensor_matrix(&y.squeeze_dim(0)).with_row_names(choice.names).with_col_names(w.bin_names(st)))
}

/// Bins × embedding for one window.
fn embedding_matrix(primitive: &str, st: &BorzoiState, w: &Window) -> ScriptResult<Matrix> {
    let e = embed(&st.net, &w.onehot.unsqueeze(0)).map_err(in_primitive(primitive))?;
    Ok(tensor_matrix(&e.squeeze_dim(0).tr()).with_row_names(w.bin_names(st)))
}

fn predict_doc() -> FnDoc {
    FnDoc::method("BorzoiModel", "predict_tracks", "borzoi", "model.predict_tracks(sequence: string, options?: map) | model.predict_tracks(genome: Genome, region: string, options?: map) -> Matrix", "Predicted coverage, tracks × 32-bp bins, for a sequence or the model's input window centred on a region.")
        .details(
            "With a genome, the input is the model's input length (524,288 bp for Borzoi) centred on the region's centre, padded \
             beyond the chromosome ends as Borzoi pads (0.25 per base; N is all zeros); a DNA string must be a multiple of 128 bp \
             whose 32-bp bins cover the returned bins. Rows are tracks (identifiers from the targets table, else `track N`); \
             columns are the returned (central) bins, named by their coordinates: `chr:start-end` (BED) for a region — bins \
             beyond a chromosome end keep their (negative or past-the-end) coordinates — or `start-end` within the sequence. \
             With rc_average the prediction is averaged with that of the reverse complement, flipped back and read from each \
             track's strand pair (tracks count as unstranded without a targets table). Values are the model's outputs \
             (softplus, non-negative), not undone for the training transforms.",
        )
        .opt("tracks", "array", OptDefault::None, "tracks to return: identifiers, indices, or \"~text\" for every track whose description contains text (default all)")
        .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
        .opt("species", "string", OptDefault::Str("human"), "\"human\" or \"mouse\" head")
        .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet m = borzoi_model();\nlet p = m.predict_tracks(sim.genome, \"chr1:3000-3100\", #{tracks: [0, 3]});\nprint(p.shape());\nprint(p.col_names()[0]);")
}

fn embed_doc() -> FnDoc {
    FnDoc::method("BorzoiModel", "embed", "borzoi", "model.embed(sequence: string) | model.embed(genome: Genome, region: string) -> Matrix", "The per-bin embedding (the layer before the heads): bins × embedding width.")
        .details("Inputs as for predict_tracks (no reverse-complement averaging). Rows are named by the bins' coordinates; Borzoi's width is 1,920.")
        .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet m = borzoi_model();\nlet e = m.embed(sim.genome, \"chr1:3000-3100\");\nprint(e.shape());")
}

fn variant_doc() -> FnDoc {
    FnDoc::method("BorzoiModel", "variant_effect", "borzoi", "variant_effect(model: BorzoiModel, variants: string | array, genome: Genome, options?: map) -> VariantEffects", "Change in predicted coverage from REF to ALT, per variant and track, with a Borzoi.")
        .details(
            "`variants` as for the scBasset form: a VCF file or `chr:pos:ref:alt` strings (1-based). Each variant gets its own input \
             window of the model's length centred on its REF allele; the ALT window replaces REF by ALT and keeps the length. The \
             predictions (averaged with the reverse complement by default) are summed over the returned bins, and `stat` compares \
             them: \"sum\" Σ ALT − Σ REF, \"log_fold\" log2((Σ ALT + 1) / (Σ REF + 1)). A REF allele that does not match the \
             genome, or an unknown chromosome, is an error naming the variant. result.effects() is variants × tracks; \
             result.table() lists each variant with its mean and largest absolute effect over the tracks (and one effect:<track> \
             column per track when there are at most 16). Two forward passes per variant (four with rc_average).",
        )
        .opt("tracks", "array", OptDefault::None, "tracks to score: identifiers, indices, or \"~text\" for descriptions containing text (default all)")
        .opt("stat", "string", OptDefault::Str("sum"), "\"sum\" or \"log_fold\"")
        .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
        .opt("species", "string", OptDefault::Str("human"), "\"human\" or \"mouse\" head")
        .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet m = borzoi_model();\nlet base = sim.genome.fetch(\"chr1:2999-3000\");\nlet alt = if base == \"A\" { \"C\" } else { \"A\" };\nlet ve = variant_effect(m, [`chr1:3000:${base}:${alt}`], sim.genome, #{tracks: [0, 1, 2]});\nprint(ve.table());")
}

fn variant_effect_run(
    host: &Arc<gscript_lang::Host>,
    model: &BorzoiModel,
    variants: Dynamic,
    genome: GenomeValue,
    o: &Options,
) -> ScriptResult<VariantEffects> {
    const P: &str = "variant_effect";
    let variants = variants_of(P, &variants)?;
    if let Some(v) = variants.iter().find(|v| !genome.0.has_chrom(&v.chrom)) {
        return Err(primitive_error(
            P,
            Some("variants"),
            &format!("{}: chromosome `{}` is not in the genome {}", v.id, v.chrom, genome.0.path().display()),
        ));
    }
    let st = model.lock();
    let choice = track_choice(P, &st, o)?;
    let stat_name = o.choice("stat", &["sum", "log_fold"])?.unwrap_or_else(|| "sum".into());
    let stat = VariantStat::parse(&stat_name).map_err(in_primitive(P))?;
    let rc = o.bool("rc_average")?.unwrap_or(true);
    let flag = host.interrupt_flag();
    let mut bar = host.progress("variant effects", Some(variants.len() as u64));
    let scores = variant_effects(&st.net, &genome.0, &variants, &choice.options(rc), stat, |i| {
        bar.update(i as u64, "");
        !flag.load(Ordering::Relaxed)
    })
    .map_err(in_primitive(P))?;
    bar.finish(&format!("{} variants", variants.len()));
    let k = choice.names.len();
    let mean = scores.iter().map(|r| r.iter().map(|&x| x as f64).sum::<f64>() / k.max(1) as f64).collect();
    let max_abs = scores.iter().map(|r| r.iter().map(|&x| (x as f64).abs()).fold(0.0, f64::max)).collect();
    Ok(VariantEffects(Arc::new(VariantData {
        status: vec![VariantStatus::Ok; variants.len()],
        peaks: vec![String::new(); variants.len()],
        window_label: "peak",
        variants,
        effects: scores.into_iter().flatten().collect(),
        grouped: k <= 16,
        names: choice.names,
        mean,
        max_abs,
        scale: stat_name,
    })))
}

fn saliency_doc() -> FnDoc {
    FnDoc::new("saliency", "borzoi", "saliency(model: BorzoiModel, genome: Genome, region: string, options?: map) -> Matrix", "Input × gradient of the summed predicted coverage, per base of the model's input window centred on a region.")
        .details(
            "The objective is the sum of the chosen `tracks` over the bins that overlap `window` (default all returned bins), \
             without reverse-complement averaging; its gradient with respect to the one-hot input, times the input, gives positions \
             × 4 (A, C, G, T): only the observed base is non-zero (N is all zeros; padding beyond a chromosome end is 0.25 × the \
             gradient in every column). Rows are named by their positions (`chr:start-end`, one base each); plot a stretch with \
             plot_ism(s.select_rows(...)), whose x axis then starts at that stretch's first base.",
        )
        .opt("tracks", "array", OptDefault::None, "tracks to sum: identifiers, indices, or \"~text\" (default all)")
        .opt("window", "string", OptDefault::None, "a region inside the returned bins: only the bins overlapping it count (default all)")
        .opt("species", "string", OptDefault::Str("human"), "\"human\" or \"mouse\" head")
        .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet m = borzoi_model();\nlet s = saliency(m, sim.genome, \"chr1:3000-3100\", #{tracks: [0], window: \"chr1:3000-3100\"});\nprint(s.shape());\nlet rows = [];\nfor i in 4046..4146 { rows.push(i); }\nshow(plot_ism(s.select_rows(rows)));")
}

fn saliency_run(model: BorzoiModel, genome: GenomeValue, region: String, o: &Options) -> ScriptResult<Matrix> {
    const P: &str = "saliency";
    let st = model.lock();
    let w = region_window(P, &st, &genome, &region)?;
    let choice = track_choice(P, &st, o)?;
    let c = st.net.config();
    let (offset, span) = c.output_window(w.len);
    let (chrom, start) = w.locus.clone().unwrap_or_default();
    let first = start + offset as i64;
    let bins = match o.string("window")? {
        None => 0..c.bins,
        Some(text) => {
            let r = parse_region(P, "window", &text)?;
            let (a, b) = (r.start as i64 - first, r.end as i64 - first);
            if r.chrom != chrom || a < 0 || b > span as i64 {
                return Err(primitive_error(
                    P,
                    Some("window"),
                    &format!("{text} is not inside the returned bins, {chrom}:{first}-{}", first + span as i64),
                ));
            }
            (a as usize / BIN_SIZE)..(b as usize).div_ceil(BIN_SIZE)
        }
    };
    let (_, grad) = saliency(&st.net, &w.onehot, choice.species, &choice.all(), bins).map_err(in_primitive(P))?;
    let x = (grad * &w.onehot).to_kind(Kind::Float).tr();
    let names: Vec<String> = (0..w.len as i64).map(|i| format!("{chrom}:{}-{}", start + i, start + i + 1)).collect();
    Ok(tensor_matrix(&x).with_row_names(names).with_col_names(["A", "C", "G", "T"].map(String::from).to_vec()))
}

pub fn register(reg: &mut Registrar) {
    // predict_tracks: (sequence) and (genome, region)
    let doc = predict_doc();
    let specs = doc.options.clone();
    register_method1(reg, doc, |m: &mut BorzoiModel, seq: String, o| {
        const P: &str = "predict_tracks";
        let st = m.lock();
        let w = sequence_window(P, &st, &seq)?;
        tracks_matrix(P, &st, &w, o)
    });
    register_method_overload2(
        reg,
        "predict_tracks",
        specs,
        |m: &mut BorzoiModel, g: GenomeValue, region: String, o| {
            const P: &str = "predict_tracks";
            let st = m.lock();
            let w = region_window(P, &st, &g, &region)?;
            tracks_matrix(P, &st, &w, o)
        },
    );

    // embed: (sequence) and (genome, region)
    reg.docs.add(embed_doc());
    reg.engine.register_fn("embed", |m: &mut BorzoiModel, seq: String| -> ScriptResult<Matrix> {
        const P: &str = "embed";
        let st = m.lock();
        let w = sequence_window(P, &st, &seq)?;
        embedding_matrix(P, &st, &w)
    });
    reg.engine.register_fn("embed", |m: &mut BorzoiModel, g: GenomeValue, region: String| -> ScriptResult<Matrix> {
        const P: &str = "embed";
        let st = m.lock();
        let w = region_window(P, &st, &g, &region)?;
        embedding_matrix(P, &st, &w)
    });

    let host = reg.host.clone();
    register_method2(reg, variant_doc(), move |m: &mut BorzoiModel, v: Dynamic, g: GenomeValue, o| {
        variant_effect_run(&host, m, v, g, o)
    });
    register3(reg, saliency_doc(), saliency_run);
}
