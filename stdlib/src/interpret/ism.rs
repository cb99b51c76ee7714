//! `ism(model, sequence_or_region, options)`: in-silico saturation mutagenesis of one sequence, per cell or per
//! group of cells, and the `IsmResult` value (raw and normalised deltas, reference-base scores, logos).

use std::ops::Range;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Registrar};
use gscript_runtime::interpret::sharded::Shard;
use gscript_runtime::interpret::{ism_on, CellReadout};
use tch::Tensor;

use super::{cell_selection, codes_of, genome_option, sequence_input};
use crate::bridge::{cancel_token, in_primitive, register2, ScriptResult, SessionProgress};
use crate::values::model::ModelValue;
use crate::values::Matrix;

/// ISM of one sequence for a set of rows (cells or cell groups).
pub struct IsmData {
    /// Row names: barcodes or group names.
    pub names: Vec<String>,
    /// `(rows, positions, 4)` row-major logit differences `(z_mut − z_ref)·w` (zero at the reference base).
    pub deltas: Vec<f32>,
    /// The whole input sequence (upper-case bases).
    pub bases: Vec<u8>,
    /// The mutated positions within `bases`.
    pub positions: Range<usize>,
    /// Chromosome and 0-based genomic start of `bases[0]`, when the input was a region.
    pub locus: Option<(String, i64)>,
    /// Whether deltas were centred across rows.
    pub centred: bool,
}

#[derive(Clone)]
pub struct IsmResult(pub Arc<IsmData>);

impl IsmData {
    pub fn n_positions(&self) -> usize {
        self.positions.len()
    }
    /// Row `r`'s deltas `(P, 4)`.
    pub fn row(&self, r: usize) -> &[f32] {
        let p = self.n_positions();
        &self.deltas[r * p * 4..(r + 1) * p * 4]
    }
    /// Row `r`'s deltas minus their mean over the 4 bases, per position.
    pub fn normalised(&self, r: usize) -> Vec<[f32; 4]> {
        self.row(r)
            .chunks(4)
            .map(|d| {
                let mean = (d[0] + d[1] + d[2] + d[3]) / 4.0;
                [d[0] - mean, d[1] - mean, d[2] - mean, d[3] - mean]
            })
            .collect()
    }
    /// The reference base's code at each mutated position (None for N).
    pub fn reference_codes(&self) -> Vec<Option<usize>> {
        self.bases[self.positions.clone()]
            .iter()
            .map(|&b| gscript_runtime::seq::codes::base_code(b).map(|c| c as usize))
            .collect()
    }
    /// The normalised delta at the reference base, per position.
    pub fn reference_scores(&self, r: usize) -> Vec<f32> {
        self.normalised(r).iter().zip(self.reference_codes()).map(|(d, c)| c.map_or(0.0, |c| d[c])).collect()
    }
    /// The genomic (or sequence) coordinate of mutated position `i`.
    pub fn coordinate(&self, i: usize) -> i64 {
        self.locus.as_ref().map_or(0, |(_, s)| *s) + (self.positions.start + i) as i64
    }
    pub fn summary(&self) -> String {
        let at = match &self.locus {
            Some((c, s)) => format!("{c}:{}-{}", s + self.positions.start as i64, s + self.positions.end as i64),
            None => format!("positions {}..{}", self.positions.start, self.positions.end),
        };
        format!(
            "IsmResult({} rows × {} positions × 4 bases at {at}{})",
            self.names.len(),
            self.n_positions(),
            if self.centred { ", centred across rows" } else { "" }
        )
    }
    /// Logo rows for plots: per row, the normalised delta at the reference base only (one-hot ⊙ normalised).
    pub fn logo_rows(&self) -> Vec<(String, Vec<[f64; 4]>)> {
        let refs = self.reference_codes();
        (0..self.names.len())
            .map(|r| {
                let norm = self.normalised(r);
                let rows = norm.iter().zip(&refs).map(|(d, c)| {
                    let mut out = [0.0; 4];
                    if let Some(c) = c {
                        out[*c] = d[*c] as f64;
                    }
                    out
                });
                (self.names[r].clone(), rows.collect())
            })
            .collect()
    }
}

fn row_index(r: &IsmData, key: &Dynamic) -> ScriptResult<usize> {
    if let Ok(i) = key.as_int() {
        return usize::try_from(i)
            .ok()
            .filter(|&i| i < r.names.len())
            .ok_or_else(|| primitive_error("IsmResult", Some("row"), &format!("{i} is outside 0..{}", r.names.len())));
    }
    let k = key.to_string();
    r.names.iter().position(|n| *n == k).ok_or_else(|| {
        let shown: Vec<&str> = r.names.iter().take(8).map(|s| s.as_str()).collect();
        primitive_error(
            "IsmResult",
            Some("row"),
            &format!("no row `{k}`; rows are {}{}", shown.join(", "), if r.names.len() > 8 { ", …" } else { "" }),
        )
    })
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<IsmResult>("IsmResult");
    reg.host.register_renderer::<IsmResult>(|r| MimeBundle::plain(r.0.summary()));

    let doc = FnDoc::new("ism", "interpret", "ism(model: ScBassetModel, sequence: string | map, options?: map) -> IsmResult", "In-silico saturation mutagenesis: every position × every other base, per cell or per cell group.")
        .details(
            "As the scBasset original: for each position and base the sequence embedding of the mutant minus that of the reference, times \
             each cell's weights, (z_mut − z_ref)·w_c — logit differences without the intercept, which cancels. With `groups` the rows are \
             group means (exact: the read-out is linear). `sequence` is a DNA string of the model's length or a region (`chr:start-end` or \
             #{chrom, start, end}, resized to the model window around its centre; needs a genome). Three forward passes per position, batched; \
             a 1,344-bp sequence is 4,032 passes. result.scores() gives the normalised score at the reference base (delta minus the mean over \
             the 4 bases), the per-position importance the scBasset notebooks plot.",
        )
        .opt("genome", "Genome", OptDefault::None, "genome for a region (default: the genome of `data`)")
        .opt("data", "PeakDataset", OptDefault::None, "the model's dataset: its genome, and obs columns for `groups`")
        .opt("cells", "array", OptDefault::None, "barcodes or indices of the cells to report (default all)")
        .opt("groups", "array | string", OptDefault::None, "one label per cell, or an obs column of `data`: rows become group means")
        .opt("around", "int", OptDefault::None, "centre of the mutated window (a genomic coordinate for regions, else a 0-based position)")
        .opt("window", "int", OptDefault::None, "width of the mutated window (default: the whole sequence)")
        .opt("center_cells", "bool", OptDefault::Bool(false), "subtract the mean over rows at each position and base (as the scBasset ISM notebook)")
        .example("let sim = simulate_atac(#{n_cells: 60, n_peaks: 120, seed: 1});\nlet m = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1});\n\
                  let r = ism(m, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 40});\nprint(r.scores().shape());");
    let host = reg.host.clone();
    register2(reg, doc, move |model: ModelValue, seq: Dynamic, o| {
        const P: &str = "ism";
        let m = model.lock();
        let len = m.net.config().seq_len;
        let genome = genome_option(P, o)?;
        let input = sequence_input(P, "sequence", &seq, genome.as_ref().map(|g| g.0.as_ref()), Some(len))?;
        let window = match o.int("window")? {
            None => len,
            Some(w) if w >= 1 => (w as usize).min(len),
            Some(w) => return Err(primitive_error(P, Some("window"), &format!("{w} must be ≥ 1"))),
        };
        let centre = match o.int("around")? {
            None => len / 2,
            Some(a) => {
                let p = a - input.locus.as_ref().map_or(0, |(_, s)| *s);
                usize::try_from(p).ok().filter(|&p| p < len).ok_or_else(|| {
                    primitive_error(P, Some("around"), &format!("{a} is outside the {len}-bp sequence"))
                })?
            }
        };
        let start = centre.saturating_sub(window / 2).min(len - window);
        let positions = start..start + window;
        let sel = cell_selection(P, &m, o)?;
        let codes = codes_of(&input.bases);
        let cancel = cancel_token(&host);
        // In a process group (gscript launch, torchrun) the mutants are split across the ranks.
        let shard = Shard::from_env().map_err(in_primitive(P))?;
        let d = ism_on(&m.net, &codes, positions.clone(), shard.as_ref(), &mut SessionProgress::new(&host), &cancel)
            .map_err(in_primitive(P))?;
        let readout = CellReadout::of_scbasset(&m.net);
        let w = sel.weights(&readout).map_err(in_primitive(P))?;
        let mut deltas: Tensor = d.project(&w);
        let centred = o.bool("center_cells")?.unwrap_or(false);
        if centred {
            deltas = &deltas - deltas.mean_dim(Some([0i64].as_slice()), true, tch::Kind::Float);
        }
        let deltas: Vec<f32> = Vec::try_from(deltas.contiguous().view([-1])).map_err(in_primitive(P))?;
        Ok(IsmResult(Arc::new(IsmData {
            names: sel.names,
            deltas,
            bases: input.bases,
            positions,
            locus: input.locus,
            centred,
        })))
    });

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("IsmResult", name, "interpret", sig, summary);
    reg.docs.add(m("to_string", "r.to_string() -> string", "Rows, positions and where.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet r = ism(model, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 20});\nprint(r.to_string());"));
    reg.engine.register_fn("to_string", |r: &mut IsmResult| r.0.summary());
    reg.docs.add(m("rows", "r.rows() -> array", "Row names: barcodes, or group names with `groups`.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet r = ism(model, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 20});\nprint(r.rows());"));
    reg.engine
        .register_fn("rows", |r: &mut IsmResult| -> Array { r.0.names.iter().cloned().map(Dynamic::from).collect() });
    reg.docs.add(m("sequence", "r.sequence() -> string", "The mutated window's reference bases.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet r = ism(model, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 20});\nprint(r.sequence());"));
    reg.engine.register_fn("sequence", |r: &mut IsmResult| {
        String::from_utf8_lossy(&r.0.bases[r.0.positions.clone()]).into_owned()
    });
    reg.docs.add(m("start", "r.start() -> int", "Coordinate of the window's first base: genomic (0-based) for a region, else its position in the sequence.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet r = ism(model, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 20});\nprint(`window starts at ${r.start()}`);"));
    reg.engine.register_fn("start", |r: &mut IsmResult| r.0.coordinate(0));
    reg.docs.add(
        m("scores", "r.scores() -> Matrix", "Rows × positions: the normalised delta (minus the mean over the 4 bases) at the reference base.")
            .details("Column names are coordinates (genomic for regions). Large positive values mark bases whose loss lowers accessibility.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet r = ism(model, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 20});\nshow(plot_heatmap(r.scores()));"),
    );
    reg.engine.register_fn("scores", |r: &mut IsmResult| -> Matrix {
        let d = &r.0;
        let data: Vec<f32> = (0..d.names.len()).flat_map(|i| d.reference_scores(i)).collect();
        Matrix::new(d.names.len(), d.n_positions(), data)
            .with_row_names(d.names.clone())
            .with_col_names((0..d.n_positions()).map(|i| d.coordinate(i).to_string()).collect())
    });
    reg.docs.add(m("deltas", "r.deltas(row: string | int) -> Matrix", "One row's logit differences, positions × 4 (A, C, G, T); zero at the reference base.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet r = ism(model, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 20});\nlet d = r.deltas(r.rows()[0]);\nprint(d.shape());"));
    reg.engine.register_fn("deltas", |r: &mut IsmResult, row: Dynamic| -> ScriptResult<Matrix> {
        let i = row_index(&r.0, &row)?;
        Ok(Matrix::by_base(r.0.row(i).chunks(4).map(|c| [c[0], c[1], c[2], c[3]])))
    });
    reg.docs.add(m("normalized", "r.normalized(row: string | int) -> Matrix", "One row's deltas minus their mean over the 4 bases (positions × 4), as used for PWM–ISM scores.").example("let sim = simulate_atac(#{n_cells: 30, n_peaks: 100, seed: 1});\nlet model = train_scbasset(sim.data, #{preset: \"tiny\", epochs: 1, batch_size: 32});\nlet r = ism(model, sim.data.peaks().get(0), #{data: sim.data, groups: \"cell_type\", window: 20});\nshow(plot_ism(r.normalized(0), #{sequence: r.sequence()}));"));
    reg.engine.register_fn("normalized", |r: &mut IsmResult, row: Dynamic| -> ScriptResult<Matrix> {
        Ok(Matrix::by_base(r.0.normalised(row_index(&r.0, &row)?)))
    });
}
