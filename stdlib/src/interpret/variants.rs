//! `variant_effect(model, variants, genome, options)`: per-cell change in predicted accessibility from REF to ALT,
//! and the `VariantEffects` value (a per-variant table and the variants × cells matrix).

use std::path::Path;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Options, Registrar};
use gscript_runtime::interpret::sharded::Shard;
use gscript_runtime::interpret::{
    parse_variant, read_vcf, variant_effects_on, CellReadout, Variant, VariantCentre, VariantStatus,
};
use gscript_runtime::models::scbasset::DenoiseScale;
use tch::Kind;

use super::cell_selection;
use crate::bridge::{cancel_token, in_argument, in_primitive, register3, ScriptResult, SessionProgress};
use crate::seq::GenomeValue;
use crate::values::model::ModelValue;
use crate::values::peak_data::PeakData;
use crate::values::{Column, Matrix, Table};

/// Effects of a list of variants.
pub struct VariantData {
    pub variants: Vec<Variant>,
    pub status: Vec<VariantStatus>,
    /// Name of the peak (or gene) whose window was used (empty when centred on the variant).
    pub peaks: Vec<String>,
    /// The table's column name for `peaks`: "peak" or "gene".
    pub window_label: &'static str,
    /// Column names of `effects`: barcodes or group names.
    pub names: Vec<String>,
    /// `(n_variants, names.len())` row-major; NaN rows for variants not scored.
    pub effects: Vec<f32>,
    /// Mean and largest absolute effect over all selected cells.
    pub mean: Vec<f64>,
    pub max_abs: Vec<f64>,
    pub scale: String,
    /// Whether the columns are cell groups (the table then has one effect column per group).
    pub grouped: bool,
}

#[derive(Clone)]
pub struct VariantEffects(pub Arc<VariantData>);

impl VariantData {
    fn summary(&self) -> String {
        let ok = self.status.iter().filter(|s| s.is_ok()).count();
        format!(
            "VariantEffects({} variants, {ok} scored, {} {}; scale {})",
            self.variants.len(),
            self.names.len(),
            if self.names.len() == 1 { "column" } else { "columns" },
            self.scale
        )
    }

    pub fn table(&self) -> Table {
        let v = &self.variants;
        let mut cols = vec![
            ("id".to_string(), Column::Text(v.iter().map(|x| x.id.clone()).collect())),
            ("chrom".into(), Column::Text(v.iter().map(|x| x.chrom.clone()).collect())),
            ("pos".into(), Column::Int(v.iter().map(|x| x.pos as i64).collect())),
            ("ref".into(), Column::Text(v.iter().map(|x| x.reference.clone()).collect())),
            ("alt".into(), Column::Text(v.iter().map(|x| x.alt.clone()).collect())),
            ("status".into(), Column::Text(self.status.iter().map(|s| s.label().to_string()).collect())),
        ];
        if self.window_label == "gene" || self.peaks.iter().any(|p| !p.is_empty()) {
            cols.push((self.window_label.into(), Column::Text(self.peaks.clone())));
        }
        cols.push(("mean_effect".into(), Column::Float(self.mean.clone())));
        cols.push(("max_abs_effect".into(), Column::Float(self.max_abs.clone())));
        if self.grouped {
            let k = self.names.len();
            for (j, name) in self.names.iter().enumerate() {
                cols.push((
                    format!("effect:{name}"),
                    Column::Float((0..v.len()).map(|i| self.effects[i * k + j] as f64).collect()),
                ));
            }
        }
        Table::new("variant effects", cols)
    }
}

/// Variants from a VCF path, one `chr:pos:ref:alt` string, or an array of such strings.
pub(crate) fn variants_of(primitive: &str, v: &Dynamic) -> ScriptResult<Vec<Variant>> {
    if let Some(s) = v.clone().try_cast::<String>() {
        let lower = s.to_ascii_lowercase();
        if lower.ends_with(".vcf")
            || lower.ends_with(".vcf.gz")
            || lower.ends_with(".vcf.bgz")
            || Path::new(&s).is_file()
        {
            let r = read_vcf(Path::new(&s)).map_err(in_argument(primitive, "variants"))?;
            if r.variants.is_empty() {
                return Err(primitive_error(
                    primitive,
                    Some("variants"),
                    &format!("{s}: no sequence variants ({} records skipped)", r.skipped.len()),
                ));
            }
            return Ok(r.variants);
        }
        return Ok(vec![parse_variant(&s).map_err(in_argument(primitive, "variants"))?]);
    }
    if let Some(arr) = v.clone().try_cast::<Array>() {
        if arr.is_empty() {
            return Err(primitive_error(primitive, Some("variants"), "is empty"));
        }
        return arr
            .iter()
            .enumerate()
            .map(|(i, x)| {
                parse_variant(&x.to_string())
                    .map_err(|e| primitive_error(primitive, Some("variants"), &format!("element {i}: {e}")))
            })
            .collect();
    }
    Err(primitive_error(
        primitive,
        Some("variants"),
        &format!("expected a VCF path, a `chr:pos:ref:alt` string or an array of them, got {}", v.type_name()),
    ))
}

fn doc() -> FnDoc {
    FnDoc::new("variant_effect", "interpret", "variant_effect(model: ScBassetModel, variants: string | array, genome: Genome, options?: map) -> VariantEffects", "Per-cell change in predicted accessibility from the REF to the ALT allele.")
        .details(
            "`variants`: a VCF file (plain or gzipped; multi-allelic records split, symbolic alleles skipped) or `chr:pos:ref:alt` strings \
             (1-based). The model window is centred on the variant, or with center: \"peak\" it is the window of the peak of `peaks` that \
             contains it. Indels keep the window length (bases after the allele shift). The REF allele is checked against the genome: by \
             default a mismatch (or unknown chromosome, or a variant in no peak) is an error naming the variant; mismatch: \"flag\" reports it \
             in the `status` column with NaN effects instead. Effects are value(ALT) − value(REF) on `scale` (\"sigmoid\" σ(z·w_c) as denoise, \
             \"logit\" z·w_c, \"none\" σ(z·w_c + b_c)); with `groups`, columns are group means. result.table() summarises each variant \
             (status, mean and largest absolute effect); result.effects() is variants × cells (or groups). \
             For a BorzoiModel (coverage tracks instead of cells) see help(\"BorzoiModel.variant_effect\").",
        )
        .opt("center", "string", OptDefault::Str("variant"), "\"variant\" or \"peak\"")
        .opt("peaks", "PeakDataset", OptDefault::None, "dataset whose peaks give the windows for center: \"peak\"")
        .opt("mismatch", "string", OptDefault::Str("error"), "\"error\" or \"flag\" for variants that cannot be scored")
        .opt("scale", "string", OptDefault::Str("sigmoid"), "\"sigmoid\", \"logit\" or \"none\"")
        .opt("data", "PeakDataset", OptDefault::None, "the model's dataset (obs columns for `groups`)")
        .opt("cells", "array", OptDefault::None, "barcodes or indices of the cells to report (default all)")
        .opt("groups", "array | string", OptDefault::None, "one label per cell, or an obs column of `data`: columns become group means")
        .opt("seed", "int", OptDefault::Int(0), "seed for bases replacing N in the windows")
        .example("let sim = simulate_atac(#{n_cells: 60, n_peaks: 120, seed: 1});\nlet m = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1});\n\
                  let p = sim.data.peaks().get(3);\nlet pos = (p.start + p.end) / 2;\nlet base = sim.genome.fetch(`${p.chrom}:${pos - 1}-${pos}`);\n\
                  let alt = if base == \"A\" { \"C\" } else { \"A\" };\nlet ve = variant_effect(m, `${p.chrom}:${pos}:${base}:${alt}`, sim.genome);\nprint(ve.table());")
}

fn run(
    host: &Arc<gscript_lang::Host>,
    model: ModelValue,
    variants: Dynamic,
    genome: GenomeValue,
    o: &Options,
) -> ScriptResult<VariantEffects> {
    const P: &str = "variant_effect";
    let variants = variants_of(P, &variants)?;
    let m = model.lock();
    let sel = cell_selection(P, &m, o)?;
    let scale_name = o.choice("scale", &["sigmoid", "logit", "none"])?.unwrap();
    let scale: DenoiseScale = scale_name.parse().map_err(in_primitive(P))?;
    let flag = o.choice("mismatch", &["error", "flag"])?.as_deref() == Some("flag");
    let peak_data = match o.raw("peaks") {
        None => None,
        Some(v) => Some(
            v.clone()
                .try_cast::<PeakData>()
                .ok_or_else(|| primitive_error(P, Some("peaks"), "expected a PeakDataset"))?,
        ),
    };
    let centre = match o.choice("center", &["variant", "peak"])?.as_deref() {
        Some("peak") => VariantCentre::Peak(
            &peak_data
                .as_ref()
                .ok_or_else(|| primitive_error(P, Some("peaks"), "center: \"peak\" needs #{peaks: data}"))?
                .0
                .peaks,
        ),
        _ => VariantCentre::Variant,
    };
    let seed = o.int("seed")?.unwrap() as u64;
    let cancel = cancel_token(host);
    let shard = Shard::from_env().map_err(in_primitive(P))?;
    let mut progress = SessionProgress::new(host);
    let r = variant_effects_on(&m.net, &genome.0, &variants, centre, seed, shard.as_ref(), &mut progress, &cancel)
        .map_err(in_primitive(P))?;
    let bad: Vec<usize> = (0..variants.len()).filter(|&i| !r.status[i].is_ok()).collect();
    if !flag && !bad.is_empty() {
        let first = r.status[bad[0]].describe(&variants[bad[0]], &genome.0);
        let more = if bad.len() > 1 { format!(" (and {} more)", bad.len() - 1) } else { String::new() };
        return Err(primitive_error(
            P,
            Some("variants"),
            &format!("{first}{more}; pass #{{mismatch: \"flag\"}} to report such variants with NaN effects"),
        ));
    }
    if !bad.is_empty() {
        host.warn(&format!(
            "variant_effect: {} of {} variants not scored (see the status column)",
            bad.len(),
            variants.len()
        ));
    }
    let readout = CellReadout::of_scbasset(&m.net);
    let per_cell = r.per_cell(&readout, scale);
    let selected = per_cell.index_select(1, &super::index_tensor(&sel.cells()));
    let mean: Vec<f64> =
        Vec::try_from(selected.mean_dim(Some([1i64].as_slice()), false, Kind::Double)).map_err(in_primitive(P))?;
    let max_abs: Vec<f64> =
        Vec::try_from(selected.abs().amax([1i64].as_slice(), false).to_kind(Kind::Double)).map_err(in_primitive(P))?;
    let reduced = sel.reduce(&per_cell).map_err(in_primitive(P))?;
    let effects: Vec<f32> = Vec::try_from(reduced.contiguous().view([-1])).map_err(in_primitive(P))?;
    let peaks = r.peak.iter().map(|p| match (p, &peak_data) {
        (Some(k), Some(d)) => d.0.peaks.name[*k].clone(),
        _ => String::new(),
    });
    Ok(VariantEffects(Arc::new(VariantData {
        peaks: peaks.collect(),
        window_label: "peak",
        variants,
        status: r.status,
        names: sel.names.clone(),
        effects,
        mean,
        max_abs,
        scale: scale_name,
        grouped: matches!(sel.rows, super::Rows::Groups(_)),
    })))
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<VariantEffects>("VariantEffects");
    reg.host.register_renderer::<VariantEffects>(|v| {
        let t = v.0.table();
        MimeBundle::plain(format!("{}\n{}", v.0.summary(), t.preview_text(20)))
            .with_text("text/html", t.preview_html(50))
    });
    let host = reg.host.clone();
    register3(reg, doc(), move |m: ModelValue, v: Dynamic, g: GenomeValue, o| run(&host, m, v, g, o));

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("VariantEffects", name, "interpret", sig, summary);
    reg.docs.add(m("to_string", "ve.to_string() -> string", "Counts and scale.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet ref_base = sim.genome.fetch(\"chr1:1099-1100\");\nlet snvs = [\"A\", \"C\", \"G\", \"T\"].filter(|b| b != ref_base).map(|b| `chr1:1100:${ref_base}:${b}`);\nlet ve = variant_effect(model, snvs, sim.genome);\nprint(ve.to_string());"));
    reg.engine.register_fn("to_string", |v: &mut VariantEffects| v.0.summary());
    reg.docs.add(m("len", "ve.len() -> int", "Number of variants.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet ref_base = sim.genome.fetch(\"chr1:1099-1100\");\nlet snvs = [\"A\", \"C\", \"G\", \"T\"].filter(|b| b != ref_base).map(|b| `chr1:1100:${ref_base}:${b}`);\nlet ve = variant_effect(model, snvs, sim.genome);\nprint(ve.len());"));
    reg.engine.register_fn("len", |v: &mut VariantEffects| v.0.variants.len() as i64);
    reg.docs.add(m("table", "ve.table() -> Table", "One row per variant: id, chrom, pos, ref, alt, status, [peak], mean_effect, max_abs_effect, and effect:<group> columns with `groups`.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet ref_base = sim.genome.fetch(\"chr1:1099-1100\");\nlet snvs = [\"A\", \"C\", \"G\", \"T\"].filter(|b| b != ref_base).map(|b| `chr1:1100:${ref_base}:${b}`);\nlet ve = variant_effect(model, snvs, sim.genome);\nshow(ve.table());"));
    reg.engine.register_fn("table", |v: &mut VariantEffects| v.0.table());
    reg.docs.add(m("effects", "ve.effects() -> Matrix", "Variants × cells (or × groups) effects; NaN rows for variants not scored. Rows are named by variant id (`id@gene` for a scooby model's variant–gene rows).").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet ref_base = sim.genome.fetch(\"chr1:1099-1100\");\nlet snvs = [\"A\", \"C\", \"G\", \"T\"].filter(|b| b != ref_base).map(|b| `chr1:1100:${ref_base}:${b}`);\nlet ve = variant_effect(model, snvs, sim.genome);\nprint(ve.effects().shape());"));
    reg.engine.register_fn("effects", |v: &mut VariantEffects| -> Matrix {
        let d = &v.0;
        Matrix::new(d.variants.len(), d.names.len(), d.effects.clone())
            .with_row_names(
                d.variants
                    .iter()
                    .zip(&d.peaks)
                    .map(
                        |(x, w)| {
                            if d.window_label == "gene" && !w.is_empty() {
                                format!("{}@{w}", x.id)
                            } else {
                                x.id.clone()
                            }
                        },
                    )
                    .collect(),
            )
            .with_col_names(d.names.clone())
    });
}
