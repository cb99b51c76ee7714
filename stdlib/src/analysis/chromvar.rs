//! `chromvar(data, motifs, options)`: chromVAR deviations (Schep et al. 2017), the scBasset paper's baseline for TF
//! activity, and the `ChromVar` value (deviations, z-scores, variability). Computation lives in
//! `gscript_runtime::analysis::chromvar`.

use std::sync::Arc;

use gscript_lang::rhai::Dynamic;
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Registrar};
use gscript_runtime::analysis::chromvar::{chromvar, ChromVar, ChromVarOptions, Formulation, DEFAULT_P_VALUE};

use crate::bridge::{cancel_token, in_primitive, register2, SessionProgress};
use crate::interpret::motifs::motif_list;
use crate::training::genome_for;
use crate::values::peak_data::PeakData;
use crate::values::{Column, Matrix, Table};

/// chromVAR's results with the names of their rows (motifs) and columns (cells).
pub struct ChromVarData {
    pub result: ChromVar,
    pub motifs: Vec<String>,
    pub ids: Vec<String>,
    pub cells: Vec<String>,
    pub iterations: usize,
}

/// The value `chromvar` returns.
#[derive(Clone)]
pub struct ChromVarValue(pub Arc<ChromVarData>);

impl ChromVarData {
    fn summary(&self) -> String {
        format!(
            "ChromVar({} motifs × {} cells, {} background iterations)",
            self.motifs.len(),
            self.cells.len(),
            self.iterations
        )
    }

    fn matrix(&self, values: &[f32]) -> Matrix {
        Matrix::new(self.motifs.len(), self.cells.len(), values.to_vec())
            .with_row_names(self.motifs.clone())
            .with_col_names(self.cells.clone())
    }

    /// One row per motif, by decreasing variability.
    pub fn variability_table(&self) -> Table {
        let v = &self.result.variability;
        let mut order: Vec<usize> = (0..self.motifs.len()).collect();
        order.sort_by(|&a, &b| v.variability[b].total_cmp(&v.variability[a]));
        let pick = |x: &[f64]| Column::Float(order.iter().map(|&i| x[i]).collect());
        let n_matches = &self.result.deviations.n_matches;
        Table::new(
            "chromVAR variability",
            vec![
                ("motif".into(), Column::Text(order.iter().map(|&i| self.motifs[i].clone()).collect())),
                ("id".into(), Column::Text(order.iter().map(|&i| self.ids[i].clone()).collect())),
                ("n_peaks".into(), Column::Int(order.iter().map(|&i| n_matches[i] as i64).collect())),
                ("variability".into(), pick(&v.variability)),
                ("p_value".into(), pick(&v.p_value)),
                ("p_adj".into(), pick(&v.p_adj)),
            ],
        )
    }
}

fn doc() -> FnDoc {
    FnDoc::new("chromvar", "analysis", "chromvar(data: PeakDataset, motifs: MotifSet | Motif, options?: map) -> ChromVar", "chromVAR deviations: per motif and cell, bias-corrected accessibility deviations and z-scores (the scBasset paper's TF-activity baseline).")
        .details(
            "As chromVAR (Schep et al. 2017; GreenleafLab/chromVAR): a peak matches a motif when a window on either strand has an exact \
             p-value ≤ `p_value` (motifmatchr's 5e-5, gscript's FIMO-style scoring). Background peaks are matched on GC content and log10 \
             fragments per peak: both are whitened by their covariance's Cholesky factor and binned on a `bins` × `bins` grid, and every \
             peak draws `background_iterations` peaks with replacement, weighted by a Gaussian kernel (s.d. `w`) over grid distance \
             divided by the grid cell's size (getBackgroundPeaks). A motif's raw deviation in a cell is (observed − expected) / expected \
             fragments in its peaks, expected = the cell's fragments × the peaks' share of all fragments; the background sets give the \
             bias correction: deviation = raw − mean of the backgrounds, z = deviation / their s.d. Cells expecting fewer than \
             `threshold` fragments get NaN (chromVAR's NA). Every peak needs a fragment in some cell. The result's `deviations()` and \
             `zscores()` are motifs × cells matrices (row names = motif names, column names = barcodes), as `insert_motif` returns; \
             `variability()` ranks motifs by the s.d. of their z-scores across cells (computeVariability, with χ² p-values).",
        )
        .opt("genome", "Genome", OptDefault::None, "genome of the peaks (default: the dataset's)")
        .opt("p_value", "float", OptDefault::Float(DEFAULT_P_VALUE), "motif match p-value threshold")
        .opt("background_iterations", "int", OptDefault::Int(50), "background peaks per peak (chromVAR's niterations)")
        .opt("bins", "int", OptDefault::Int(50), "grid points per axis of the background binning (chromVAR's bs)")
        .opt("w", "float", OptDefault::Float(0.1), "s.d. of the background kernel over grid distance")
        .opt("threshold", "float", OptDefault::Float(1.0), "minimum expected fragments of a cell for a motif")
        .opt("seed", "int", OptDefault::Int(1), "seed of the background sampling")
        .opt("formulation", "string", OptDefault::Str("chromvar"), "background deviations as R chromVAR's computeDeviations (\"chromvar\") or pychromvar 0.0.4's compute_deviations (\"pychromvar\": the peaks whose background peak matches, population s.d., no threshold)")
        .example(
            "let sim = simulate_atac(#{n_cells: 150, n_peaks: 300, n_cell_types: 2, motifs: [\"CTCF\", \"REST\"], seed: 1});\n\
             let cv = chromvar(sim.data, jaspar_motifs().select([\"CTCF\", \"REST\", \"Nrf1\"]));\n\
             print(cv);\nshow(cv.variability());\nprint(cv.zscores().shape());",
        )
}

fn method_doc(name: &str, sig: &str, summary: &str) -> FnDoc {
    FnDoc::method("ChromVar", name, "analysis", sig, summary).example(&format!(
        "let sim = simulate_atac(#{{n_cells: 150, n_peaks: 300, n_cell_types: 2, motifs: [\"CTCF\", \"REST\"], seed: 2}});\n\
         let cv = chromvar(sim.data, jaspar_motifs().select([\"CTCF\", \"REST\"]));\nprint(cv.{name}());"
    ))
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<ChromVarValue>("ChromVar");
    reg.host.register_renderer::<ChromVarValue>(|v| {
        let t = v.0.variability_table();
        MimeBundle::plain(format!("{}\n{}", v.0.summary(), t.preview_text(20))).with_text(
            "text/html",
            format!("<p>{}</p>{}", v.0.summary().replace('&', "&amp;").replace('<', "&lt;"), t.preview_html(50)),
        )
    });
    let host = reg.host.clone();
    register2(reg, doc(), move |data: PeakData, motifs: Dynamic, o| {
        const P: &str = "chromvar";
        let motifs = motif_list(P, &motifs)?;
        let genome = genome_for(P, &data, o.raw("genome"))?;
        let p_value = o.float("p_value")?.unwrap_or(DEFAULT_P_VALUE);
        if !(p_value > 0.0 && p_value <= 1.0) {
            return Err(primitive_error(
                P,
                Some("p_value"),
                &format!("{p_value} is not a p-value threshold in (0, 1]"),
            ));
        }
        let iterations = o.int_at_least("background_iterations", 2)?.unwrap() as usize;
        let bins = o.int_at_least("bins", 2)?.unwrap() as usize;
        let w = o.float("w")?.unwrap_or(0.1);
        if !(w > 0.0 && w.is_finite()) {
            return Err(primitive_error(P, Some("w"), "must be a finite number > 0"));
        }
        let threshold = o.float("threshold")?.unwrap_or(1.0);
        if !(threshold >= 0.0 && threshold.is_finite()) {
            return Err(primitive_error(P, Some("threshold"), "must be a finite number ≥ 0"));
        }
        let seed = o.int("seed")?.unwrap() as u64;
        let formulation = match o.string("formulation")? {
            None => Formulation::ChromVar,
            Some(f) => Formulation::parse(&f).ok_or_else(|| {
                primitive_error(
                    P,
                    Some("formulation"),
                    &format!("\"{f}\" is not one of {}", Formulation::NAMES.join(", ")),
                )
            })?,
        };
        let opts = ChromVarOptions { iterations, bins, w, threshold, seed, formulation };
        let d = &data.0;
        let cancel = cancel_token(&host);
        let seqs = (0..d.n_peaks())
            .map(|i| {
                cancel.check()?;
                genome.0.fetch_region(&d.peaks.region(i))
            })
            .collect::<gscript_runtime::Result<Vec<_>>>()
            .map_err(in_primitive(P))?;
        let result = chromvar(&d.matrix, &seqs, &motifs, p_value, &opts, &mut SessionProgress::new(&host), &cancel)
            .map_err(in_primitive(P))?;
        Ok(ChromVarValue(Arc::new(ChromVarData {
            result,
            motifs: motifs.iter().map(|m| if m.name.is_empty() { m.id.clone() } else { m.name.clone() }).collect(),
            ids: motifs.iter().map(|m| m.id.clone()).collect(),
            cells: d.cells.barcodes.clone(),
            iterations,
        })))
    });

    reg.docs.add(method_doc("to_string", "cv.to_string() -> string", "Motifs, cells and background iterations."));
    reg.engine.register_fn("to_string", |v: &mut ChromVarValue| v.0.summary());
    reg.docs.add(method_doc("deviations", "cv.deviations() -> Matrix", "Bias-corrected deviations, motifs × cells."));
    reg.engine.register_fn("deviations", |v: &mut ChromVarValue| v.0.matrix(&v.0.result.deviations.deviations));
    reg.docs.add(method_doc("zscores", "cv.zscores() -> Matrix", "Deviation z-scores, motifs × cells."));
    reg.engine.register_fn("zscores", |v: &mut ChromVarValue| v.0.matrix(&v.0.result.deviations.z));
    reg.docs.add(method_doc(
        "variability",
        "cv.variability() -> Table",
        "Per motif, by decreasing variability: motif, id, n_peaks (matched), variability (s.d. of z across cells), p_value, p_adj (BH).",
    ));
    reg.engine.register_fn("variability", |v: &mut ChromVarValue| v.0.variability_table());
    reg.docs.add(method_doc("table", "cv.table() -> Table", "The same as variability()."));
    reg.engine.register_fn("table", |v: &mut ChromVarValue| v.0.variability_table());
    reg.docs.add(method_doc(
        "background_peaks",
        "cv.background_peaks() -> Matrix",
        "Sampled background peak indices, peaks × iterations (0-based).",
    ));
    reg.engine.register_fn("background_peaks", |v: &mut ChromVarValue| {
        let bg = &v.0.result.background;
        Matrix::new(bg.n_peaks, bg.iterations, bg.index.iter().map(|&i| i as f32).collect())
    });
    reg.docs.add(method_doc("gc", "cv.gc() -> array", "GC fraction of each peak."));
    reg.engine.register_fn("gc", |v: &mut ChromVarValue| -> gscript_lang::rhai::Array {
        v.0.result.gc.iter().map(|&g| Dynamic::from_float(g)).collect()
    });
}
