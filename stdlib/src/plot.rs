//! Figures in the language: `plot_embedding`, `plot_heatmap`, `plot_ism`, `plot_training`, `plot_violin`, `plot_box`,
//! `plot_hist`, `plot_track`, and the `Figure` value (shown inline in notebooks as PNG + SVG, saved as files by
//! `gscript run` and the REPL, `fig.save("x.svg" | "x.png")` anywhere).

use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Options, Registrar};
use gscript_runtime::plot::{
    BoxOptions, EmbeddingColor, EmbeddingOptions, Figure, HeatmapDistance, HeatmapOptions, HistOptions, IsmOptions,
    IsmRow, MotifHit, TrackOptions, TrackSeries, TrainingOptions, TrainingSeries, ViolinOptions,
};

use crate::bridge::{in_primitive, numbers, register1, register2, register_overload1, ScriptResult};
use crate::interpret::ism::IsmResult;
use crate::rank_zero::write_from_rank_zero;
use crate::values::{Column, Matrix, Table};

/// A figure held in a script.
#[derive(Clone)]
pub struct FigureValue(pub Arc<Figure>);

/// The figure as a display bundle: text/plain summary, image/png and image/svg+xml.
pub fn figure_bundle(f: &Figure) -> MimeBundle {
    let mut b = MimeBundle::plain(f.summary()).with_file_stem(f.kind_name());
    if let Ok(svg) = f.render_svg() {
        b = b.with_text("image/svg+xml", svg);
    }
    if let Ok(png) = f.render_png() {
        let (w, h) = f.png_size();
        b = b.with_png(png, w, h);
    }
    b
}

fn strings(prim: &str, key: &str, v: &Dynamic) -> ScriptResult<Vec<String>> {
    let arr = v
        .clone()
        .try_cast::<Array>()
        .ok_or_else(|| primitive_error(prim, Some(key), &format!("expected an array, got {}", v.type_name())))?;
    Ok(arr.iter().map(|x| x.to_string()).collect())
}

const COMMON: [(&str, &str, OptDefault, &str); 3] = [
    ("width", "int", OptDefault::None, "width in pixels (default depends on the plot)"),
    ("height", "int", OptDefault::None, "height in pixels"),
    ("scale", "float", OptDefault::Float(1.0), "PNG resolution multiplier (2 for print)"),
];

pub(crate) fn with_common(doc: FnDoc) -> FnDoc {
    COMMON.iter().fold(doc, |d, (n, t, def, text)| d.opt(n, t, def.clone(), text))
}

pub(crate) fn finish(prim: &str, fig: Figure, o: &Options) -> ScriptResult<FigureValue> {
    let mut fig = fig;
    if o.has("width") || o.has("height") {
        let w = o.int_at_least("width", 50)?.map_or(fig.width(), |v| v as u32);
        let h = o.int_at_least("height", 50)?.map_or(fig.height(), |v| v as u32);
        fig = fig.with_size(w, h).map_err(in_primitive(prim))?;
    }
    let scale = o.float("scale")?.unwrap_or(1.0);
    fig = fig.with_scale(scale).map_err(in_primitive(prim))?;
    Ok(FigureValue(Arc::new(fig)))
}

fn title(o: &Options, key: &str) -> ScriptResult<String> {
    Ok(o.string(key)?.unwrap_or_default())
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<FigureValue>("Figure");
    reg.host.register_renderer::<FigureValue>(|f| figure_bundle(&f.0));
    reg.docs.add(
        FnDoc::method("Figure", "to_string", "plot", "fig.to_string() -> string", "Kind, size and number of elements.")
            .example("let fig = plot_hist([1, 2, 2, 3, 3, 3], #{bins: 3});\nprint(fig.to_string());"),
    );
    reg.engine.register_fn("to_string", |f: &mut FigureValue| f.0.summary());
    reg.docs.add(
        FnDoc::method(
            "Figure",
            "save",
            "plot",
            "fig.save(path: string)",
            "Writes the figure as SVG or PNG, chosen by the extension (atomically).",
        )
        .example("let fig = plot_hist([1, 2, 2, 3, 3, 3], #{bins: 3});\nfig.save(out_path(\"hist.svg\"));"),
    );
    let host = reg.host.clone();
    reg.engine.register_fn("save", move |f: &mut FigureValue, path: &str| -> ScriptResult<()> {
        write_from_rank_zero(&host, "Figure.save", "path", path, || f.0.save(path).map_err(in_primitive("Figure.save")))
    });

    // embedding
    let doc = with_common(
        FnDoc::new("plot_embedding", "plot", "plot_embedding(xy: Matrix, options?: map) -> Figure", "Scatter plot of a 2-D embedding (UMAP, t-SNE, PCA), coloured by labels or values.")
            .details("`color` takes one entry per point: strings give categories with a legend (colour-blind-safe palette), numbers a \
                      viridis colour bar. Points are drawn in a shuffled order so no category hides another; 100k points render in well under a second.")
            .opt("color", "array", OptDefault::None, "labels (strings) or values (numbers), one per point")
            .opt("title", "string", OptDefault::None, "title")
            .opt("x_label", "string", OptDefault::None, "x-axis label (default: the matrix's first column name, e.g. UMAP1, else \"dim 1\")")
            .opt("y_label", "string", OptDefault::None, "y-axis label (default: the second column name, else \"dim 2\")")
            .opt("color_label", "string", OptDefault::None, "legend or colour-bar title")
            .opt("point_size", "float", OptDefault::None, "point radius in pixels (default from the number of points)")
            .opt("alpha", "float", OptDefault::None, "point opacity 0–1 (default from the number of points)"),
    )
    .example("let xy = one_hot(\"ACGTACGT\");\nlet fig = plot_embedding(xy, #{color: [\"a\", \"b\", \"a\", \"b\"], title: \"demo\"});");
    register1(reg, doc, |xy: Matrix, o| {
        const P: &str = "plot_embedding";
        if xy.cols < 2 {
            return Err(primitive_error(P, Some("xy"), &format!("needs at least 2 columns, got {}", xy.cols)));
        }
        let pts: Vec<(f64, f64)> = (0..xy.rows).map(|r| (xy.get(r, 0) as f64, xy.get(r, 1) as f64)).collect();
        let color = match o.raw("color") {
            None => EmbeddingColor::None,
            Some(v) => match numbers(P, "color", v) {
                Ok(n) => EmbeddingColor::Continuous(n),
                Err(_) => EmbeddingColor::Categorical(strings(P, "color", v)?),
            },
        };
        let n_colors = match &color {
            EmbeddingColor::None => xy.rows,
            EmbeddingColor::Continuous(v) => v.len(),
            EmbeddingColor::Categorical(v) => v.len(),
        };
        if n_colors != xy.rows {
            return Err(primitive_error(
                P,
                Some("color"),
                &format!("has {n_colors} entries but xy has {} points (one per row)", xy.rows),
            ));
        }
        let opts = EmbeddingOptions {
            title: title(o, "title")?,
            x_label: o
                .string("x_label")?
                .or_else(|| xy.col_names.as_ref().map(|n| n[0].clone()))
                .unwrap_or_else(|| "dim 1".into()),
            y_label: o
                .string("y_label")?
                .or_else(|| xy.col_names.as_ref().map(|n| n[1].clone()))
                .unwrap_or_else(|| "dim 2".into()),
            point_size: o.float("point_size")?,
            alpha: o.float("alpha")?,
            color_label: title(o, "color_label")?,
        };
        finish(P, Figure::embedding(&pts, color, opts).map_err(in_primitive(P))?, o)
    });

    // heatmap
    let doc = with_common(
        FnDoc::new("plot_heatmap", "plot", "plot_heatmap(m: Matrix, options?: map) -> Figure", "Heatmap of a matrix (e.g. TF activity per cell type), optionally clustered.")
            .details("Rows and columns can be reordered by average-linkage hierarchical clustering (with dendrograms). Labels default to the matrix's row/column names.")
            .opt("row_labels", "array", OptDefault::None, "one label per row")
            .opt("col_labels", "array", OptDefault::None, "one label per column")
            .opt("cluster_rows", "bool", OptDefault::Bool(false), "cluster and reorder rows")
            .opt("cluster_cols", "bool", OptDefault::Bool(false), "cluster and reorder columns")
            .opt("distance", "string", OptDefault::Str("euclidean"), "\"euclidean\" or \"correlation\" for clustering")
            .opt("diverging", "bool", OptDefault::Bool(false), "blue–white–red map centred on 0 (for signed scores)")
            .opt("title", "string", OptDefault::None, "title")
            .opt("color_label", "string", OptDefault::None, "colour-bar title"),
    )
    .example("let fig = plot_heatmap(one_hot(\"ACGTTGCA\"), #{cluster_rows: true});");
    register1(reg, doc, |m: Matrix, o| {
        const P: &str = "plot_heatmap";
        let values: Vec<Vec<f64>> = (0..m.rows).map(|r| m.row(r).iter().map(|&v| v as f64).collect()).collect();
        let rows = match o.raw("row_labels") {
            Some(v) => strings(P, "row_labels", v)?,
            None => m.row_names.as_ref().map(|n| n.to_vec()).unwrap_or_default(),
        };
        let cols = match o.raw("col_labels") {
            Some(v) => strings(P, "col_labels", v)?,
            None => m.col_names.as_ref().map(|n| n.to_vec()).unwrap_or_default(),
        };
        let distance = match o.choice("distance", &["euclidean", "correlation"])?.as_deref() {
            Some("correlation") => HeatmapDistance::Correlation,
            _ => HeatmapDistance::Euclidean,
        };
        let opts = HeatmapOptions {
            title: title(o, "title")?,
            color_label: title(o, "color_label")?,
            cluster_rows: o.bool("cluster_rows")?.unwrap_or(false),
            cluster_cols: o.bool("cluster_cols")?.unwrap_or(false),
            distance,
            diverging: o.bool("diverging")?.unwrap_or(false),
            ..HeatmapOptions::default()
        };
        finish(P, Figure::heatmap(&values, &rows, &cols, opts).map_err(in_primitive(P))?, o)
    });

    register_more(reg);
}

fn ism_rows(prim: &str, v: Dynamic) -> ScriptResult<Vec<IsmRow>> {
    let to_row = |label: String, m: Matrix| -> ScriptResult<IsmRow> {
        let m = if m.cols == 4 {
            m
        } else if m.rows == 4 {
            transpose(&m)
        } else {
            return Err(primitive_error(
                prim,
                Some("scores"),
                &format!("expected L × 4 (or 4 × L) scores, got {} × {}", m.rows, m.cols),
            ));
        };
        Ok(IsmRow {
            label,
            scores: (0..m.rows)
                .map(|r| [m.get(r, 0) as f64, m.get(r, 1) as f64, m.get(r, 2) as f64, m.get(r, 3) as f64])
                .collect(),
        })
    };
    if let Some(m) = v.clone().try_cast::<Matrix>() {
        return Ok(vec![to_row(String::new(), m)?]);
    }
    if let Some(map) = v.clone().try_cast::<Map>() {
        return map
            .into_iter()
            .map(|(k, v)| {
                let m = v
                    .try_cast::<Matrix>()
                    .ok_or_else(|| primitive_error(prim, Some(&format!("scores.{k}")), "expected a Matrix"))?;
                to_row(k.to_string(), m)
            })
            .collect();
    }
    Err(primitive_error(prim, Some("scores"), "expected a Matrix (L × 4) or a map of group name: Matrix"))
}

fn transpose(m: &Matrix) -> Matrix {
    let mut d = vec![0f32; m.rows * m.cols];
    for r in 0..m.rows {
        for c in 0..m.cols {
            d[c * m.rows + r] = m.get(r, c);
        }
    }
    Matrix::new(m.cols, m.rows, d)
}

fn register_more(reg: &mut Registrar) {
    let doc = with_common(
        FnDoc::new("plot_ism", "plot", "plot_ism(scores: IsmResult | Matrix | map, options?: map) -> Figure", "Sequence-logo view of per-nucleotide scores (ISM), one row per cell group.")
            .details("`scores` is an ISM result (each row's normalised score at the reference base, with its sequence and coordinates), an \
                      L × 4 matrix (A, C, G, T) or a map of group name → L × 4 matrix. Letters are scaled by their score (positive up, \
                      negative down); with `sequence` the reference bases are drawn under the axis; `hits` (a scan_motifs table, or an \
                      array of #{start, end, name}) draws motif boxes.")
            .opt("sequence", "string", OptDefault::None, "the reference sequence (L bases)")
            .opt("hits", "Table | array", OptDefault::None, "motif hits: a scan_motifs table, or #{start, end, name} (0-based, end excluded)")
            .opt("reference_only", "bool", OptDefault::Bool(false), "draw only the reference base at each position")
            .opt("offset", "int", OptDefault::Int(0), "genomic coordinate of position 0 (for the x axis; default the ISM result's, or a saliency matrix's first row)")
            .opt("title", "string", OptDefault::None, "title")
            .opt("y_label", "string", OptDefault::Str("score"), "y-axis label"),
    )
    .example("let fig = plot_ism(one_hot(\"ACGTACGTAC\"), #{sequence: \"ACGTACGTAC\", hits: [#{start: 2, end: 6, name: \"M1\"}]});");
    register1(reg, doc, |scores: Dynamic, o| {
        const P: &str = "plot_ism";
        let ism = scores.clone().try_cast::<IsmResult>();
        // An L × 4 matrix whose rows are named by single bases (`chr:p-p+1`, as saliency names them) starts there.
        let named_start = scores
            .clone()
            .try_cast::<Matrix>()
            .filter(|m| m.cols == 4)
            .and_then(|m| m.row_names.as_ref().and_then(|n| n.first().cloned()))
            .and_then(|n| bin_coordinates(&n))
            .filter(|c| c.2 - c.1 == 1)
            .map(|c| c.1);
        let rows = match &ism {
            Some(r) => {
                if r.0.names.len() > 16 {
                    return Err(primitive_error(
                        P,
                        Some("scores"),
                        &format!(
                            "the ISM result has {} rows; a logo per row needs ≤ 16 (run ism with `groups`)",
                            r.0.names.len()
                        ),
                    ));
                }
                r.0.logo_rows().into_iter().map(|(label, scores)| IsmRow { label, scores }).collect()
            }
            None => ism_rows(P, scores)?,
        };
        // Hits: an array of #{start, end, name} in plot coordinates, or a scan_motifs table (mapped onto the ISM window).
        let hits = match o.raw("hits") {
            None => Vec::new(),
            Some(v) if v.is::<Table>() => {
                let t = v.clone().cast::<Table>();
                let ints = |name: &str| -> Option<Vec<i64>> {
                    match t.column(name) {
                        Some(Column::Int(v)) => Some(v.clone()),
                        _ => None,
                    }
                };
                let (Some(start), Some(end), Some(Column::Text(names))) =
                    (ints("start"), ints("end"), t.column("motif"))
                else {
                    return Err(primitive_error(
                        P,
                        Some("hits"),
                        "a hits table needs start, end and motif columns (from scan_motifs)",
                    ));
                };
                let width = rows.first().map_or(0, |r| r.scores.len()) as i64;
                let shift: i64 = match (&ism, ints("genomic_start")) {
                    (Some(r), Some(_)) if r.0.locus.is_some() => 0,
                    (Some(r), _) => -(r.0.positions.start as i64),
                    (None, _) => 0,
                };
                let gstart = ints("genomic_start");
                (0..t.n_rows())
                    .filter_map(|i| {
                        let s = match (&ism, &gstart) {
                            (Some(r), Some(g)) if r.0.locus.is_some() => g[i] - r.0.coordinate(0),
                            _ => start[i] + shift,
                        };
                        let e = s + (end[i] - start[i]);
                        (s >= 0 && e <= width).then(|| MotifHit {
                            start: s as usize,
                            end: e as usize,
                            name: names[i].clone(),
                        })
                    })
                    .collect()
            }
            Some(v) => {
                let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
                    primitive_error(P, Some("hits"), "expected a scan_motifs table or an array of #{start, end, name}")
                })?;
                arr.into_iter()
                    .map(|h| {
                        let m = h
                            .try_cast::<Map>()
                            .ok_or_else(|| primitive_error(P, Some("hits"), "each hit must be #{start, end, name}"))?;
                        let int = |k: &str| {
                            m.get(k).and_then(|v| v.as_int().ok()).ok_or_else(|| {
                                primitive_error(P, Some("hits"), &format!("a hit lacks an integer `{k}`"))
                            })
                        };
                        let name = m.get("name").or_else(|| m.get("motif")).map(|v| v.to_string()).unwrap_or_default();
                        Ok(MotifHit { start: int("start")?.max(0) as usize, end: int("end")?.max(0) as usize, name })
                    })
                    .collect::<ScriptResult<Vec<_>>>()?
            }
        };
        let seq = match (o.string("sequence")?, &ism) {
            (Some(s), _) => Some(s),
            (None, Some(r)) => Some(String::from_utf8_lossy(&r.0.bases[r.0.positions.clone()]).into_owned()),
            (None, None) => None,
        };
        let offset = match (o.int("offset")?, &ism) {
            (Some(x), _) if o.has("offset") => x,
            (_, Some(r)) => r.0.coordinate(0),
            (x, None) => named_start.or(x).unwrap_or(0),
        };
        let opts = IsmOptions {
            title: title(o, "title")?,
            y_label: title(o, "y_label")?,
            reference_only: o.bool("reference_only")?.unwrap_or(false),
            offset,
            ..IsmOptions::default()
        };
        finish(P, Figure::ism(rows, seq.as_deref(), hits, opts).map_err(in_primitive(P))?, o)
    });

    let doc = with_common(
        FnDoc::new("plot_training", "plot", "plot_training(history: map, options?: map) -> Figure", "Training curves: a loss panel and a metric panel (auROC, Pearson r, …), train and validation.")
            .details("`history` maps series names to per-epoch values, e.g. #{train_loss: [...], val_loss: [...], train_auroc: [...], val_auroc: [...]}; \
                      names containing \"loss\" go to the left panel, the others to the right; `epoch` and `seconds` (as in model.history()) are skipped. \
                      The right panel's label names what its series are (auROC, auPR, Pearson r from names containing auroc, aupr, pearson; \
                      e.g. \"auROC / auPR\" for scBasset's history, \"Pearson r\" for scooby's), or `metric_label`.")
            .opt("title", "string", OptDefault::None, "title")
            .opt("loss_label", "string", OptDefault::Str("Loss"), "y label of the loss panel")
            .opt("metric_label", "string", OptDefault::None, "y label of the metric panel (default: from the series names)"),
    )
    .example("let fig = plot_training(#{train_loss: [0.6, 0.5, 0.45], val_loss: [0.62, 0.55, 0.52], train_auroc: [0.6, 0.7, 0.75]});");
    register1(reg, doc, |history: Map, o| {
        const P: &str = "plot_training";
        let series = history
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "epoch" | "seconds"))
            .map(|(k, v)| Ok(TrainingSeries::new(k.to_string(), numbers(P, k, v)?)))
            .collect::<ScriptResult<Vec<_>>>()?;
        let metric_label = match o.string("metric_label")? {
            Some(l) => l,
            None => metric_label(series.iter().map(|s| s.name.as_str())),
        };
        let loss_label = o.string("loss_label")?.unwrap_or_else(|| "Loss".into());
        let opts =
            TrainingOptions { title: title(o, "title")?, loss_label, metric_label, ..TrainingOptions::default() };
        finish(P, Figure::training(series, opts).map_err(in_primitive(P))?, o)
    });

    for (name, summary, is_violin) in [
        (
            "plot_violin",
            "Violin plot of values per group (Gaussian kernel density, median and quartiles marked).",
            true,
        ),
        ("plot_box", "Box plot of values per group (whiskers at 1.5 IQR, outliers drawn).", false),
    ] {
        let doc = with_common(
            FnDoc::new(
                name,
                "plot",
                &format!("{name}(values: array, groups: array, options?: map) -> Figure"),
                summary,
            )
            .opt("title", "string", OptDefault::None, "title")
            .opt("x_label", "string", OptDefault::None, "x-axis label")
            .opt("y_label", "string", OptDefault::None, "y-axis label"),
        )
        .example(&format!(
            "let fig = {name}([1, 2, 3, 2, 5, 6, 7, 6], [\"a\", \"a\", \"a\", \"a\", \"b\", \"b\", \"b\", \"b\"]);"
        ));
        register2(reg, doc, move |values: Array, groups: Array, o| {
            let v = numbers(name, "values", &Dynamic::from_array(values))?;
            let g = strings(name, "groups", &Dynamic::from_array(groups))?;
            let opts = ViolinOptions {
                title: title(o, "title")?,
                x_label: title(o, "x_label")?,
                y_label: title(o, "y_label")?,
            };
            let fig =
                if is_violin { Figure::violin(&v, &g, opts) } else { Figure::boxplot(&v, &g, opts as BoxOptions) };
            finish(name, fig.map_err(in_primitive(name))?, o)
        });
    }

    let doc = with_common(
        FnDoc::new("plot_hist", "plot", "plot_hist(values: array, options?: map) -> Figure", "Histogram.")
            .opt("bins", "int", OptDefault::Int(30), "number of bins")
            .opt("density", "bool", OptDefault::Bool(false), "normalise to a density")
            .opt("title", "string", OptDefault::None, "title")
            .opt("x_label", "string", OptDefault::None, "x-axis label")
            .opt("y_label", "string", OptDefault::None, "y-axis label (default: count or density)"),
    )
    .example("let fig = plot_hist([1.0, 2.5, 2.0, 3.1, 2.2], #{bins: 4, x_label: \"value\"});");
    register1(reg, doc, |values: Array, o| {
        const P: &str = "plot_hist";
        let v = numbers(P, "values", &Dynamic::from_array(values))?;
        let opts = HistOptions {
            title: title(o, "title")?,
            x_label: title(o, "x_label")?,
            y_label: title(o, "y_label")?,
            density: o.bool("density")?.unwrap_or(false),
            ..HistOptions::default()
        };
        finish(
            P,
            Figure::hist(&v, o.int_at_least("bins", 1)?.unwrap_or(30) as usize, opts).map_err(in_primitive(P))?,
            o,
        )
    });

    let doc = with_common(
        FnDoc::new("plot_track", "plot", "plot_track(region: string, series: map, options?: map) | plot_track(tracks: Matrix, options?: map) -> Figure", "Values along a genomic region, one row per series.")
            .details("`series` maps a label to an array of values spread evenly over the region, or to #{positions: [...], values: [...]} \
                      with genomic positions. A Matrix (as BorzoiModel.predict_tracks returns) gives one row per matrix row (at most \
                      32; select tracks first), its columns placed by their names: `chr:start-end` bins (drawn at their centres; \
                      bins beyond the chromosome start are left out) or `start-end` offsets within a sequence. Rows named \
                      `group:track` (coverage.pseudobulk) are grouped by group, labelled and coloured by track (RNA +, RNA −, \
                      ATAC); RNA rows share one y range, ATAC rows another. With `genes`, the genes overlapping the region are \
                      drawn under the rows (exon boxes, strand chevrons, names), genome-browser style.")
            .opt("title", "string", OptDefault::None, "title")
            .opt("shared_y", "bool", OptDefault::Bool(false), "use one y range for every row")
            .opt("genes", "Genes", OptDefault::None, "draw a gene track under the rows (exons, strand, names; from load_genes)")
            .opt("rows", "array", OptDefault::None, "Matrix rows to draw (indices or names), in that order"),
    )
    .example("let fig = plot_track(\"chr1:1000-1100\", #{signal: [0.1, 0.5, 0.9, 0.4, 0.2]});")
    .example("let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet cov = load_fragments(sim.fragments, #{genome: sim.genome}).join(load_rna_coverage(sim.bam));\nlet types = sim.truth.cell_types;\nlet pb = cov.pseudobulk(\"chr1:0-65536\", #{groups: cov.cells().map(|b| types[b]), bin: 128});\nlet fig = plot_track(pb, #{genes: load_genes(sim.gtf), title: \"pseudobulk coverage\"});")
    .example("let sim = simulate_atac(#{n_cells: 20, n_peaks: 30});\nlet p = borzoi_model().predict_tracks(sim.genome, \"chr1:3000-3100\", #{tracks: [0, 1]});\nlet fig = plot_track(p, #{title: \"untrained tiny Borzoi\"});");
    let specs = doc.options.clone();
    register_overload1(reg, "plot_track", specs, |m: Matrix, o| {
        const P: &str = "plot_track";
        let m = crate::coverage::tracks::select_rows(P, m, o)?;
        let (region, mut series) = matrix_tracks(P, &m)?;
        let opts = TrackOptions {
            title: title(o, "title")?,
            shared_y: o.bool("shared_y")?.unwrap_or(false),
            ..TrackOptions::default()
        };
        let (chrom, start, end) = region;
        let opts = crate::coverage::tracks::style_tracks(P, o, (&chrom, start, end), &mut series, opts)?;
        finish(P, Figure::track((&chrom, start, end), series, opts).map_err(in_primitive(P))?, o)
    });
    register2(reg, doc, |region: String, series: Map, o| {
        const P: &str = "plot_track";
        let r: gscript_runtime::seq::Region = region.parse().map_err(in_primitive(P))?;
        let mut out = Vec::new();
        for (label, v) in series {
            let (positions, values) = if let Some(m) = v.clone().try_cast::<Map>() {
                let get = |k: &str| {
                    m.get(k)
                        .cloned()
                        .ok_or_else(|| primitive_error(P, Some(&format!("series.{label}")), &format!("missing `{k}`")))
                };
                (
                    numbers(P, "positions", &get("positions")?)?.into_iter().map(|p| p.max(0.0) as u64).collect(),
                    numbers(P, "values", &get("values")?)?,
                )
            } else {
                let values = numbers(P, &label, &v)?;
                let n = values.len().max(1) as f64;
                let step = (r.end - r.start) as f64 / n;
                ((0..values.len()).map(|i| (r.start as f64 + (i as f64 + 0.5) * step) as u64).collect(), values)
            };
            out.push(TrackSeries { label: label.to_string(), positions, values });
        }
        if o.has("rows") {
            return Err(primitive_error(P, Some("rows"), "selects rows of a Matrix; give the series you want instead"));
        }
        let opts = TrackOptions {
            title: title(o, "title")?,
            shared_y: o.bool("shared_y")?.unwrap_or(false),
            ..TrackOptions::default()
        };
        let opts = crate::coverage::tracks::style_tracks(P, o, (&r.chrom, r.start, r.end), &mut out, opts)?;
        finish(P, Figure::track((&r.chrom, r.start, r.end), out, opts).map_err(in_primitive(P))?, o)
    });
}

/// A column name `chr:start-end` or `start-end` (coordinates may be negative) as (chrom, start, end).
fn bin_coordinates(name: &str) -> Option<(String, i64, i64)> {
    let (chrom, span) = match name.rsplit_once(':') {
        Some((c, s)) => (c.to_string(), s),
        None => (String::new(), name),
    };
    // the end follows the last '-' that is not a sign
    let bytes = span.as_bytes();
    let cut = (1..bytes.len()).rev().find(|&i| bytes[i] == b'-' && bytes[i - 1].is_ascii_digit())?;
    let a = span[..cut].replace(',', "").parse::<i64>().ok()?;
    let b = span[cut + 1..].replace(',', "").parse::<i64>().ok()?;
    (b > a).then_some((chrom, a, b))
}

/// Tracks of a matrix whose columns are named by coordinates: the region they span and one series per row.
fn matrix_tracks(prim: &str, m: &Matrix) -> ScriptResult<((String, u64, u64), Vec<TrackSeries>)> {
    const MAX_ROWS: usize = 32;
    if m.rows == 0 || m.cols == 0 {
        return Err(primitive_error(prim, Some("tracks"), "the matrix is empty"));
    }
    if m.rows > MAX_ROWS {
        return Err(primitive_error(
            prim,
            Some("tracks"),
            &format!(
                "{} rows is too many to draw (at most {MAX_ROWS}): choose tracks with predict_tracks(..., #{{tracks: [...]}}) \
                 or m.select_rows([...])",
                m.rows
            ),
        ));
    }
    let names = m.col_names.as_ref().ok_or_else(|| {
        primitive_error(
            prim,
            Some("tracks"),
            "the matrix has no column names: columns must be named `chr:start-end` (as predict_tracks names its bins)",
        )
    })?;
    let mut coords = Vec::with_capacity(m.cols);
    for n in names.iter() {
        coords.push(bin_coordinates(n).ok_or_else(|| {
            primitive_error(
                prim,
                Some("tracks"),
                &format!("column `{n}` is not a coordinate `chr:start-end` or `start-end`"),
            )
        })?);
    }
    let chrom = coords[0].0.clone();
    if let Some(c) = coords.iter().find(|c| c.0 != chrom) {
        return Err(primitive_error(
            prim,
            Some("tracks"),
            &format!("the columns span two sequences, `{chrom}` and `{}`", c.0),
        ));
    }
    let start = coords.iter().map(|c| c.1).min().unwrap_or(0).max(0) as u64;
    let end = coords.iter().map(|c| c.2).max().unwrap_or(0).max(1) as u64;
    let keep: Vec<usize> = (0..m.cols).filter(|&j| coords[j].1 + coords[j].2 >= 0).collect();
    let positions: Vec<u64> = keep.iter().map(|&j| ((coords[j].1 + coords[j].2) / 2) as u64).collect();
    let series = (0..m.rows)
        .map(|r| TrackSeries {
            label: m.row_names.as_ref().map_or_else(|| format!("row {r}"), |n| n[r].clone()),
            positions: positions.clone(),
            values: keep.iter().map(|&j| m.get(r, j) as f64).collect(),
        })
        .collect();
    let chrom = if chrom.is_empty() { "sequence".to_string() } else { chrom };
    Ok(((chrom, start, end.max(start + 1)), series))
}

/// The metric panel's y label from the names of the series not about loss: the kinds they name (auROC, auPR,
/// Pearson r), in that order, joined by " / "; "Value" when they name none.
fn metric_label<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(str::to_lowercase).filter(|n| !n.contains("loss")).collect();
    let kinds: Vec<&str> = [("auroc", "auROC"), ("aupr", "auPR"), ("pearson", "Pearson r")]
        .iter()
        .filter(|(key, _)| names.iter().any(|n| n.contains(key)))
        .map(|(_, label)| *label)
        .collect();
    if kinds.is_empty() {
        "Value".into()
    } else {
        kinds.join(" / ")
    }
}

#[cfg(test)]
mod metric_label_tests {
    use super::metric_label;

    #[test]
    fn names_what_the_series_are() {
        let scbasset =
            ["train_loss", "train_auroc", "train_aupr", "val_loss", "val_auroc", "val_aupr", "val_peak_auroc"];
        assert_eq!(metric_label(scbasset.into_iter()), "auROC / auPR");
        assert_eq!(metric_label(["train_loss", "train_pearson", "val_pearson"].into_iter()), "Pearson r");
        assert_eq!(metric_label(["val_auroc"].into_iter()), "auROC");
        assert_eq!(metric_label(["train_loss", "accuracy"].into_iter()), "Value");
    }
}
