//! `PeakDataset` and `Peaks` values: what `load_peaks`, `load_bed` and `simulate_atac` return, with their methods
//! (sizes, cell metadata columns, peaks, filtering, writing `.h5ad`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Registrar};
use gscript_runtime::data::{write_h5ad, DenseArray, H5adExtras, MetaColumn, PeakDataset, PeakSet};

use crate::bridge::{in_primitive, register_method1, write_output, ScriptResult};
use crate::rank_zero::write_from_rank_zero;
use crate::values::matrix::html_escape;
use crate::values::Matrix;

/// A peaks × cells dataset held in a script (shared, immutable; methods that change it return a new one), with the
/// genome its peaks were checked against when known (training reads sequences from it).
#[derive(Clone)]
pub struct PeakData(pub Arc<PeakDataset>, pub Option<crate::seq::GenomeValue>);

/// A peak set (BED) held in a script.
#[derive(Clone)]
pub struct Peaks(pub Arc<PeakSet>);

fn thousands(n: usize) -> String {
    gscript_runtime::plot::group_thousands(n as i64)
}

fn column_desc(c: &MetaColumn) -> String {
    match c {
        MetaColumn::Categorical { categories, .. } => format!("categorical, {} levels", categories.len()),
        other => other.kind().to_string(),
    }
}

impl PeakData {
    pub fn summary(&self) -> String {
        let d = &self.0;
        format!(
            "PeakDataset: {} peaks × {} cells, {:.1}% non-zero ({})",
            thousands(d.n_peaks()),
            thousands(d.n_cells()),
            100.0 * d.density(),
            d.source
        )
    }
    fn text(&self) -> String {
        let mut s = self.summary();
        let cols = &self.0.cells.columns;
        if cols.is_empty() {
            s.push_str("\n  cell columns: none");
        } else {
            let list: Vec<String> = cols.iter().map(|(n, c)| format!("{n} ({})", column_desc(c))).collect();
            let _ = write!(s, "\n  cell columns: {}", list.join(", "));
        }
        let p = &self.0.peaks;
        if !p.is_empty() {
            let _ = write!(s, "\n  peaks: {}:{}-{} …", p.chrom[0], p.start[0], p.end[0]);
        }
        s
    }
    fn html(&self) -> String {
        let d = &self.0;
        let mut s = format!("<div><b>{}</b><table><thead><tr><th>barcode</th>", html_escape(&self.summary()));
        for (n, _) in &d.cells.columns {
            let _ = write!(s, "<th>{}</th>", html_escape(n));
        }
        s.push_str("<th>open peaks</th></tr></thead><tbody>");
        let per_cell = d.matrix.peaks_per_cell();
        for (i, open) in per_cell.iter().enumerate().take(8) {
            let _ = write!(s, "<tr><th>{}</th>", html_escape(&d.cells.barcodes[i]));
            for (_, c) in &d.cells.columns {
                let _ = write!(s, "<td>{}</td>", html_escape(&c.text(i)));
            }
            let _ = write!(s, "<td>{open}</td></tr>");
        }
        if d.n_cells() > 8 {
            let _ = write!(
                s,
                "<tr><td colspan=\"{}\">… {} more cells</td></tr>",
                d.cells.columns.len() + 2,
                d.n_cells() - 8
            );
        }
        s.push_str("</tbody></table></div>");
        s
    }
}

impl Peaks {
    pub fn summary(&self) -> String {
        let p = &self.0;
        let mut chroms: Vec<&str> = p.chrom.iter().map(String::as_str).collect();
        chroms.sort_unstable();
        chroms.dedup();
        format!("Peaks: {} peaks on {} chromosomes", thousands(p.len()), chroms.len())
    }
}

/// A script value as a list of per-cell labels or numbers, for `set_obs`.
fn column_from_array(name: &str, values: Array, n: usize) -> ScriptResult<MetaColumn> {
    if values.len() != n {
        return Err(primitive_error(
            "set_obs",
            Some(name),
            &format!("has {} values but there are {n} cells", values.len()),
        ));
    }
    if values.iter().all(|v| v.is_int()) {
        return Ok(MetaColumn::Integer(values.iter().map(|v| v.as_int().unwrap()).collect()));
    }
    if values.iter().all(|v| v.is_float() || v.is_int()) {
        return Ok(MetaColumn::Number(
            values.iter().map(|v| v.as_float().unwrap_or_else(|_| v.as_int().unwrap() as f64)).collect(),
        ));
    }
    if values.iter().all(|v| v.is_bool()) {
        return Ok(MetaColumn::Bool(values.iter().map(|v| v.as_bool().unwrap()).collect()));
    }
    if values.iter().all(|v| v.is_string()) {
        let labels: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        return Ok(MetaColumn::categorical_from(&labels));
    }
    Err(primitive_error("set_obs", Some(name), "values must all be numbers, all booleans or all strings"))
}

fn column_to_array(c: &MetaColumn) -> Array {
    match c {
        MetaColumn::Number(v) => v.iter().map(|&x| Dynamic::from(x)).collect(),
        MetaColumn::Integer(v) => v.iter().map(|&x| Dynamic::from(x)).collect(),
        MetaColumn::Bool(v) => v.iter().map(|&x| Dynamic::from(x)).collect(),
        other => other.labels().into_iter().map(Dynamic::from).collect(),
    }
}

/// Named matrices from an options value `#{name: Matrix, ...}`.
fn matrices(prim: &str, key: &str, v: Option<&Dynamic>) -> ScriptResult<Vec<(String, DenseArray)>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let map = v
        .clone()
        .try_cast::<Map>()
        .ok_or_else(|| primitive_error(prim, Some(key), "expected a map of name: Matrix"))?;
    map.into_iter()
        .map(|(k, v)| {
            let m = v
                .try_cast::<Matrix>()
                .ok_or_else(|| primitive_error(prim, Some(&format!("{key}.{k}")), "expected a Matrix"))?;
            Ok((k.to_string(), DenseArray::new(m.rows, m.cols, m.data.to_vec()).map_err(in_primitive("write_h5ad"))?))
        })
        .collect()
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<PeakData>("PeakDataset");
    reg.host.register_renderer::<PeakData>(|d| MimeBundle::plain(d.text()).with_text("text/html", d.html()));
    reg.engine.register_type_with_name::<Peaks>("Peaks");
    reg.host.register_renderer::<Peaks>(|p| MimeBundle::plain(p.summary()));

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("PeakDataset", name, "io", sig, summary);
    reg.docs.add(
        m("to_string", "data.to_string() -> string", "Sizes, density and source.")
            .example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nprint(d.to_string());"),
    );
    reg.engine.register_fn("to_string", |d: &mut PeakData| d.summary());
    reg.docs.add(
        m("n_cells", "data.n_cells() -> int", "Number of cells.")
            .example("simulate_atac(#{n_cells: 50, n_peaks: 40}).data.n_cells()"),
    );
    reg.engine.register_fn("n_cells", |d: &mut PeakData| d.0.n_cells() as i64);
    reg.docs.add(
        m("n_peaks", "data.n_peaks() -> int", "Number of peaks.")
            .example("let d = simulate_atac(#{n_cells: 20, n_peaks: 40}).data;\nprint(d.n_peaks());"),
    );
    reg.engine.register_fn("n_peaks", |d: &mut PeakData| d.0.n_peaks() as i64);
    reg.docs.add(m("nnz", "data.nnz() -> int", "Number of stored (non-zero) entries.").example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nprint(`${d.nnz()} open entries in ${d.n_cells()} cells`);"));
    reg.engine.register_fn("nnz", |d: &mut PeakData| d.0.matrix.nnz() as i64);
    reg.docs.add(m("density", "data.density() -> float", "Fraction of peak × cell entries that are non-zero.").example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nprint(`${fmt(100.0 * d.density(), 1)}% of entries open`);"));
    reg.engine.register_fn("density", |d: &mut PeakData| d.0.density());
    reg.docs.add(
        m("barcodes", "data.barcodes() -> array", "Cell barcodes, in matrix order.")
            .example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nprint(d.barcodes()[0]);"),
    );
    reg.engine.register_fn("barcodes", |d: &mut PeakData| -> Array {
        d.0.cells.barcodes.iter().cloned().map(Dynamic::from).collect()
    });
    reg.docs.add(
        m("obs_names", "data.obs_names() -> array", "Names of the cell metadata columns (AnnData obs).")
            .example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nprint(d.obs_names());"),
    );
    reg.engine.register_fn("obs_names", |d: &mut PeakData| -> Array {
        d.0.cells.columns.iter().map(|(n, _)| Dynamic::from(n.clone())).collect()
    });
    reg.docs.add(
        m("obs", "data.obs(column: string) -> array", "One cell metadata column: strings for categorical/text columns, numbers or booleans otherwise.")
            .example("let sim = simulate_atac(#{n_cells: 40, n_peaks: 30});\nlet types = sim.data.obs(\"cell_type\");\nprint(types[0]);"),
    );
    reg.engine.register_fn("obs", |d: &mut PeakData, name: &str| -> ScriptResult<Array> {
        Ok(column_to_array(d.0.cells.column(name).map_err(in_primitive("obs"))?))
    });
    reg.docs.add(
        m("set_obs", "data.set_obs(column: string, values: array) -> PeakDataset", "A copy with a cell column added or replaced (strings become a categorical column).")
            .example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nlet d2 = d.set_obs(\"batch\", d.barcodes().map(|b| \"b1\"));\nprint(d2.obs_names());"),
    );
    reg.engine.register_fn("set_obs", |d: &mut PeakData, name: &str, values: Array| -> ScriptResult<PeakData> {
        let col = column_from_array(name, values, d.0.n_cells())?;
        let mut out = (*d.0).clone();
        out.cells.set_column(name, col).map_err(in_primitive("set_obs"))?;
        Ok(PeakData(Arc::new(out), d.1.clone()))
    });
    reg.docs.add(
        m(
            "select_cells",
            "data.select_cells(cells: array) -> PeakDataset",
            "A dataset with only these cells (indices or barcodes), in the order given; peaks and genome kept.",
        )
        .example(
            "let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nprint(d.select_cells([0, 2, 4]).n_cells());",
        ),
    );
    reg.engine.register_fn("select_cells", |d: &mut PeakData, cells: Array| -> ScriptResult<PeakData> {
        let n = d.0.n_cells();
        let index: std::collections::HashMap<&str, usize> =
            d.0.cells.barcodes.iter().enumerate().map(|(i, b)| (b.as_str(), i)).collect();
        let mut keep = Vec::with_capacity(cells.len());
        for (k, x) in cells.iter().enumerate() {
            let i = match x.as_int() {
                Ok(i) => usize::try_from(i).ok().filter(|&i| i < n),
                Err(_) => index.get(x.to_string().as_str()).copied(),
            };
            keep.push(i.ok_or_else(|| {
                primitive_error(
                    "select_cells",
                    Some("cells"),
                    &format!("element {k} (`{x}`) is not a cell index below {n} or a barcode of the data"),
                )
            })?);
        }
        if keep.is_empty() {
            return Err(primitive_error("select_cells", Some("cells"), "is empty"));
        }
        let all: Vec<usize> = (0..d.0.n_peaks()).collect();
        Ok(PeakData(Arc::new(d.0.select(&all, &keep)), d.1.clone()))
    });
    reg.docs.add(m("peaks", "data.peaks() -> Peaks", "The peak set (chrom, start, end, name).").example(
        "let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nlet peaks = d.peaks();\nprint(peaks.get(0));",
    ));
    reg.engine.register_fn("peaks", |d: &mut PeakData| Peaks(Arc::new(d.0.peaks.clone())));
    reg.docs.add(m("peaks_per_cell", "data.peaks_per_cell() -> array", "Number of open peaks in each cell (a depth proxy).").example("let d = simulate_atac(#{n_cells: 40, n_peaks: 100}).data;\nlet depth = d.peaks_per_cell();\nprint(`mean ${depth.reduce(|s, x| s + x, 0) / depth.len()} open peaks per cell`);"));
    reg.engine.register_fn("peaks_per_cell", |d: &mut PeakData| -> Array {
        d.0.matrix.peaks_per_cell().into_iter().map(|n| Dynamic::from(n as i64)).collect()
    });
    reg.docs.add(m("cells_per_peak", "data.cells_per_peak() -> array", "Number of cells in which each peak is open.").example("let d = simulate_atac(#{n_cells: 40, n_peaks: 100}).data;\nshow(plot_hist(d.cells_per_peak(), #{bins: 10, x_label: \"cells per peak\"}));"));
    reg.engine.register_fn("cells_per_peak", |d: &mut PeakData| -> Array {
        d.0.matrix.cells_per_peak().into_iter().map(|n| Dynamic::from(n as i64)).collect()
    });

    let doc = m("write_h5ad", "data.write_h5ad(path: string, options?: map)", "Writes an AnnData .h5ad (cells × peaks X, obs, var with chr/start/end) that scanpy opens.")
        .details("Embeddings and other per-cell matrices go to obsm, per-peak matrices to varm, cells × peaks matrices to layers. \
                  The file is written to a temporary name and renamed, so an interrupted write leaves nothing behind.")
        .opt("obsm", "map", OptDefault::None, "name: Matrix (n_cells rows), e.g. #{X_scbasset: model.cell_embeddings()}")
        .opt("varm", "map", OptDefault::None, "name: Matrix (n_peaks rows)")
        .opt("layers", "map", OptDefault::None, "name: Matrix (n_cells × n_peaks)")
        .example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nd.write_h5ad(out_path(\"small.h5ad\"));");
    let host = reg.host.clone();
    register_method1(reg, doc, move |d: &mut PeakData, path: String, o| {
        let extras = H5adExtras {
            obsm: matrices("write_h5ad", "obsm", o.raw("obsm"))?,
            varm: matrices("write_h5ad", "varm", o.raw("varm"))?,
            layers: matrices("write_h5ad", "layers", o.raw("layers"))?,
        };
        write_from_rank_zero(&host, "write_h5ad", "path", &path, || {
            write_h5ad(&PathBuf::from(&path), &d.0.matrix, &d.0.peaks, &d.0.cells, &extras)
                .map_err(in_primitive("write_h5ad"))
        })
    });

    let p = |name: &str, sig: &str, summary: &str| FnDoc::method("Peaks", name, "io", sig, summary);
    reg.docs.add(p("to_string", "peaks.to_string() -> string", "Number of peaks and chromosomes.").example(
        "let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nprint(load_bed(sim.files.peaks).to_string());",
    ));
    reg.engine.register_fn("to_string", |p: &mut Peaks| p.summary());
    reg.docs.add(
        p("len", "peaks.len() -> int", "Number of peaks.")
            .example("let peaks = simulate_atac(#{n_cells: 20, n_peaks: 30}).data.peaks();\nprint(peaks.len());"),
    );
    reg.engine.register_fn("len", |p: &mut Peaks| p.0.len() as i64);
    reg.docs.add(p("get", "peaks.get(i: int) -> map", "Peak i as #{chrom, start, end, name}.").example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet p = load_bed(sim.files.peaks).get(0);\nprint(`${p.chrom}:${p.start}-${p.end}`);"));
    reg.engine.register_fn("get", |p: &mut Peaks, i: i64| -> ScriptResult<Map> {
        if i < 0 || i as usize >= p.0.len() {
            return Err(primitive_error("Peaks.get", Some("i"), &format!("{i} is outside 0..{}", p.0.len())));
        }
        let i = i as usize;
        let mut m = Map::new();
        m.insert("chrom".into(), p.0.chrom[i].clone().into());
        m.insert("start".into(), (p.0.start[i] as i64).into());
        m.insert("end".into(), (p.0.end[i] as i64).into());
        m.insert("name".into(), p.0.name[i].clone().into());
        Ok(m)
    });
    reg.docs.add(
        p("names", "peaks.names() -> array", "Peak names (chr:start-end unless the file names them).")
            .example("let peaks = simulate_atac(#{n_cells: 20, n_peaks: 30}).data.peaks();\nprint(peaks.names()[0]);"),
    );
    reg.engine.register_fn("names", |p: &mut Peaks| -> Array { p.0.name.iter().cloned().map(Dynamic::from).collect() });
    reg.docs.add(p("write_bed", "peaks.write_bed(path: string)", "Writes chrom, start, end, name as BED (atomically).").example("let d = simulate_atac(#{n_cells: 20, n_peaks: 30}).data;\nd.peaks().write_bed(out_path(\"peaks.bed\"));\nprint(load_bed(out_path(\"peaks.bed\")).len());"));
    let host = reg.host.clone();
    reg.engine.register_fn("write_bed", move |p: &mut Peaks, path: &str| -> ScriptResult<()> {
        write_from_rank_zero(&host, "write_bed", "path", path, || {
            write_output("write_bed", Path::new(path), p.0.to_bed().as_bytes())
        })
    });
}
