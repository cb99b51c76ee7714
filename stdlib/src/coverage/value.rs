//! The `Coverage` value: per-cell ATAC insertions and stranded RNA reads of a set of cells, with its methods —
//! sizes, cells, `select_cells`, `join` (RNA + ATAC of a multiome), `window` (scooby's training targets),
//! `pseudobulk` (tracks per cell group) — and the inverse RNA transforms `unsquash_rna`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Options, Registrar};
use gscript_runtime::coverage::window::{pseudobulk, undo_squashed_scale, unsquash_rna, window_targets, WindowOptions};
use gscript_runtime::coverage::{Coverage, TrackKind};
use gscript_runtime::seq::region::Region;

use crate::bridge::{in_argument, in_primitive, register1, register_method1, ScriptResult};
use crate::values::matrix::html_escape;
use crate::values::Matrix;

/// Coverage held in a script (shared, immutable; methods that change it return a new one), with the per-cell QC
/// table of the import when there is one (`coverage.qc()`) and, for fragments, the library's fragment-size histogram
/// (`coverage.fragment_sizes()`; SnapATAC2's layout: `[l]` fragments of length `l`, `[0]` those longer than the last).
#[derive(Clone)]
pub struct CoverageValue(pub Arc<Coverage>, pub Option<crate::values::Table>, pub Option<Arc<Vec<u64>>>);

fn thousands(n: u64) -> String {
    gscript_runtime::plot::group_thousands(n as i64)
}

impl CoverageValue {
    pub fn new(c: Coverage) -> Self {
        CoverageValue(Arc::new(c), None, None)
    }

    /// `Coverage: 200 cells × rna_plus, rna_minus, atac (1,234,567 insertions, 456,789 reads), 3 chromosomes, 6.0 Mb`.
    pub fn summary(&self) -> String {
        let c = &self.0;
        let names: Vec<&str> = c.tracks().iter().map(|t| t.name()).collect();
        let mut parts = Vec::new();
        if c.atac.is_some() {
            parts.push(format!("{} insertions", thousands(c.entries(TrackKind::Atac) as u64)));
        }
        if c.rna_plus.is_some() || c.rna_minus.is_some() {
            let n = c.entries(TrackKind::RnaPlus) + c.entries(TrackKind::RnaMinus);
            parts.push(format!("{} reads", thousands(n as u64)));
        }
        format!(
            "Coverage: {} cells × {} ({}), {} chromosomes, {:.1} Mb",
            thousands(c.n_cells() as u64),
            if names.is_empty() { "no tracks".to_string() } else { names.join(", ") },
            parts.join(", "),
            c.refs.len(),
            c.refs.total_length() as f64 / 1e6
        )
    }

    fn html(&self) -> String {
        let c = &self.0;
        let mut s = format!(
            "<div><b>{}</b><table><thead><tr><th>track</th><th>entries</th><th>per cell (median)</th>\
             <th>per cell (min–max)</th></tr></thead><tbody>",
            html_escape(&self.summary())
        );
        for t in c.tracks() {
            let mut v = c.per_cell(t);
            v.sort_unstable();
            let (lo, med, hi) = if v.is_empty() { (0, 0, 0) } else { (v[0], v[v.len() / 2], v[v.len() - 1]) };
            let _ = write!(
                s,
                "<tr><td>{}</td><td style=\"text-align:right\">{}</td><td style=\"text-align:right\">{}</td>\
                 <td style=\"text-align:right\">{}–{}</td></tr>",
                t.name(),
                thousands(c.entries(t) as u64),
                thousands(med),
                thousands(lo),
                thousands(hi)
            );
        }
        s.push_str("</tbody></table></div>");
        s
    }
}

/// Cells given as indices or barcodes → indices (repeats kept).
fn cell_indices(primitive: &str, field: &str, c: &Coverage, cells: &Array) -> ScriptResult<Vec<usize>> {
    let n = c.n_cells();
    let index: HashMap<&str, usize> = c.cells.iter().enumerate().map(|(i, b)| (b.as_str(), i)).collect();
    cells
        .iter()
        .enumerate()
        .map(|(k, x)| {
            let i = match x.as_int() {
                Ok(i) => usize::try_from(i).ok().filter(|&i| i < n),
                Err(_) => index.get(x.to_string().as_str()).copied(),
            };
            i.ok_or_else(|| {
                primitive_error(
                    primitive,
                    Some(field),
                    &format!("element {k} (`{x}`) is not a cell index below {n} or a barcode of the coverage"),
                )
            })
        })
        .collect()
}

fn track_list(primitive: &str, o: &Options) -> ScriptResult<Option<Vec<TrackKind>>> {
    let Some(v) = o.raw("tracks") else { return Ok(None) };
    let arr = v
        .clone()
        .into_array()
        .map_err(|_| primitive_error(primitive, Some("tracks"), "must be an array of track names"))?;
    let tracks = arr
        .iter()
        .map(|x| TrackKind::parse(&x.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(in_primitive(primitive))?;
    if tracks.is_empty() {
        return Err(primitive_error(primitive, Some("tracks"), "is empty"));
    }
    Ok(Some(tracks))
}

fn window_options(primitive: &str, o: &Options) -> ScriptResult<WindowOptions> {
    let d = WindowOptions::default();
    let positive = |key: &str, default: f32| -> ScriptResult<f32> {
        match o.float(key)? {
            Some(x) if x > 0.0 && x.is_finite() => Ok(x as f32),
            Some(x) => Err(primitive_error(primitive, Some(key), &format!("must be a positive number, not {x}"))),
            None => Ok(default),
        }
    };
    let common = WindowOptions {
        bin: o.int_at_least("bin", 1)?.map_or(d.bin, |b| b as u32),
        tracks: track_list(primitive, o)?,
        read_length: positive("read_length", d.read_length)?,
        ..d.clone()
    };
    // pseudobulk sums raw values: the transform settings are window's only.
    if primitive == "pseudobulk" {
        return Ok(common);
    }
    Ok(WindowOptions {
        transform: o.bool("transform")?.unwrap_or(d.transform),
        clip_soft: positive("clip_soft", d.clip_soft)?,
        atac_scale: positive("atac_scale", d.atac_scale)?,
        reverse_complement: o.bool("reverse_complement")?.unwrap_or(false),
        ..common
    })
}

fn bin_names(region: &Region, bin: u32, bins: usize) -> Vec<String> {
    (0..bins as u64)
        .map(|i| format!("{}:{}-{}", region.chrom, region.start + i * bin as u64, region.start + (i + 1) * bin as u64))
        .collect()
}

fn parse_region(primitive: &str, region: &str) -> ScriptResult<Region> {
    region.parse::<Region>().map_err(in_argument(primitive, "region"))
}

/// Group labels per cell from an array aligned with the cells or a map barcode → label (missing: left out).
fn groups(primitive: &str, c: &Coverage, o: &Options) -> ScriptResult<(Vec<Option<usize>>, Vec<String>)> {
    let Some(v) = o.raw("groups") else {
        return Ok((vec![Some(0); c.n_cells()], vec!["all".to_string()]));
    };
    let mut names: Vec<String> = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut id = |label: String| -> usize {
        *ids.entry(label.clone()).or_insert_with(|| {
            names.push(label);
            names.len() - 1
        })
    };
    let labels: Vec<Option<usize>> = if let Some(arr) = v.clone().try_cast::<Array>() {
        if arr.len() != c.n_cells() {
            return Err(primitive_error(
                primitive,
                Some("groups"),
                &format!(
                    "has {} labels for {} cells (one per cell, in `coverage.cells()` order)",
                    arr.len(),
                    c.n_cells()
                ),
            ));
        }
        arr.iter().map(|x| if x.is_unit() { None } else { Some(id(x.to_string())) }).collect()
    } else if let Some(map) = v.clone().try_cast::<Map>() {
        let labels: Vec<Option<usize>> =
            c.cells.iter().map(|b| map.get(b.as_str()).filter(|x| !x.is_unit()).map(|x| id(x.to_string()))).collect();
        if labels.iter().all(Option::is_none) {
            return Err(primitive_error(primitive, Some("groups"), "no key of the map is a barcode of the coverage"));
        }
        labels
    } else {
        return Err(primitive_error(
            primitive,
            Some("groups"),
            "must be an array of labels (one per cell) or a map barcode → label",
        ));
    };
    Ok((labels, names))
}

fn unsquash(primitive: &str, x: f32, o: &Options) -> ScriptResult<f32> {
    let c = o.float("clip_soft")?.unwrap_or(5.0) as f32;
    match o.choice("inverse", &["exact", "scooby"])?.as_deref() {
        Some("scooby") => Ok(undo_squashed_scale(x, c)),
        Some("exact") | None => Ok(unsquash_rna(x, c)),
        Some(other) => Err(primitive_error(primitive, Some("inverse"), &format!("unknown inverse {other:?}"))),
    }
}

const EXAMPLE_SETUP: &str = "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\n\
    let cov = load_fragments(sim.fragments, #{genome: sim.genome}).join(load_rna_coverage(sim.bam));\n";

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<CoverageValue>("Coverage");
    reg.host.register_renderer::<CoverageValue>(|c| MimeBundle::plain(c.summary()).with_text("text/html", c.html()));
    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("Coverage", name, "coverage", sig, summary);
    let ex = |body: &str| format!("{EXAMPLE_SETUP}{body}");

    reg.docs.add(
        m("to_string", "coverage.to_string() -> string", "Cells, tracks, entries stored, chromosomes.")
            .example(&ex("print(cov.to_string());")),
    );
    reg.engine.register_fn("to_string", |c: &mut CoverageValue| c.summary());
    reg.docs.add(m("n_cells", "coverage.n_cells() -> int", "Number of cells.").example(&ex("print(cov.n_cells());")));
    reg.engine.register_fn("n_cells", |c: &mut CoverageValue| c.0.n_cells() as i64);
    reg.docs.add(
        m("qc", "coverage.qc() -> Table", "Per-cell quality numbers of the import: fragments, duplicates, nucleosome-free and mono-nucleosome fractions (fragments) or reads per strand (BAM).")
            .example(&ex("let q = load_fragments(sim.fragments).qc();\nprint(q.to_string());")),
    );
    reg.engine.register_fn("qc", |c: &mut CoverageValue| -> ScriptResult<crate::values::Table> {
        c.1.clone().ok_or_else(|| primitive_error("qc", None, "this coverage carries no import statistics (they come with load_fragments and load_rna_coverage; select_cells and join drop them)"))
    });
    reg.docs.add(
        m(
            "fragment_sizes",
            "coverage.fragment_sizes() -> Table",
            "The library's fragment-size histogram of a fragments import (SnapATAC2's `frag_size_distr`): length, count, fraction.",
        )
        .details(
            "One row per length from 1 bp to the largest recorded (1,000, SnapATAC2's `max_recorded_size`), then a row \
             `longer` for fragments above it (length 0 in SnapATAC2's array). Counts cover every fragment of every \
             kept barcode before `min_fragments`. The nucleosome banding (peaks near 50, 200, 400 bp) is the usual \
             quality check.",
        )
        .example(&ex("let h = load_fragments(sim.fragments).fragment_sizes();\nprint(h.to_string());")),
    );
    reg.engine.register_fn("fragment_sizes", |c: &mut CoverageValue| -> ScriptResult<crate::values::Table> {
        let h = c.2.as_ref().ok_or_else(|| {
            primitive_error(
                "fragment_sizes",
                None,
                "this coverage carries no fragment sizes (they come with load_fragments; select_cells and join drop them)",
            )
        })?;
        let total = h.iter().sum::<u64>().max(1) as f64;
        let n = h.len();
        let mut length: Vec<String> = (1..n).map(|l| l.to_string()).collect();
        length.push("longer".into());
        let mut counts: Vec<i64> = h[1..].iter().map(|&x| x as i64).collect();
        counts.push(h.first().copied().unwrap_or(0) as i64);
        let fraction = counts.iter().map(|&x| x as f64 / total).collect();
        Ok(crate::values::Table::new(
            "fragment sizes",
            vec![
                ("length".into(), crate::values::Column::Text(length)),
                ("count".into(), crate::values::Column::Int(counts)),
                ("fraction".into(), crate::values::Column::Float(fraction)),
            ],
        ))
    });
    reg.docs.add(
        m("cells", "coverage.cells() -> array", "Cell barcodes, in the coverage's order.")
            .example(&ex("print(cov.cells()[0]);")),
    );
    reg.engine.register_fn("cells", |c: &mut CoverageValue| -> Array {
        c.0.cells.iter().cloned().map(Dynamic::from).collect()
    });
    reg.docs.add(
        m(
            "tracks",
            "coverage.tracks() -> array",
            "The tracks held, in scooby's channel order: rna_plus, rna_minus, atac.",
        )
        .example(&ex("print(cov.tracks());")),
    );
    reg.engine.register_fn("tracks", |c: &mut CoverageValue| -> Array {
        c.0.tracks().iter().map(|t| Dynamic::from(t.name().to_string())).collect()
    });
    reg.docs.add(
        m("chromosomes", "coverage.chromosomes() -> map", "Chromosome lengths by name (in the genome's order when printed as an array of keys is not guaranteed; use it for lookups).")
            .example(&ex("print(cov.chromosomes());")),
    );
    reg.engine.register_fn("chromosomes", |c: &mut CoverageValue| -> Map {
        c.0.refs
            .names()
            .iter()
            .zip(c.0.refs.lengths())
            .map(|(n, &l)| (n.as_str().into(), Dynamic::from(l as i64)))
            .collect()
    });
    reg.docs.add(
        m(
            "counts",
            "coverage.counts(track: string) -> array",
            "Entries per cell of a track: insertions (atac) or reads (rna_plus, rna_minus).",
        )
        .example(&ex("let n = cov.counts(\"atac\");\nprint(`${n[0]} insertions in the first cell`);")),
    );
    reg.engine.register_fn("counts", |c: &mut CoverageValue, track: &str| -> ScriptResult<Array> {
        let t = TrackKind::parse(track).map_err(in_primitive("counts"))?;
        if !c.0.has(t) {
            return Err(primitive_error("counts", Some("track"), &format!("the coverage has no {track} track")));
        }
        Ok(c.0.per_cell(t).into_iter().map(|n| Dynamic::from(n as i64)).collect())
    });
    reg.docs.add(
        m(
            "select_cells",
            "coverage.select_cells(cells: array) -> Coverage",
            "Only these cells (indices or barcodes), in the coverage's order.",
        )
        .example(&ex("print(cov.select_cells([0, 1, 2]).n_cells());")),
    );
    reg.engine.register_fn("select_cells", |c: &mut CoverageValue, cells: Array| -> ScriptResult<CoverageValue> {
        let idx = cell_indices("select_cells", "cells", &c.0, &cells)?;
        let mut keep = vec![false; c.0.n_cells()];
        for i in idx {
            keep[i] = true;
        }
        Ok(CoverageValue::new(c.0.subset_cells(&keep).map_err(in_primitive("select_cells"))?))
    });
    reg.docs.add(
        m("join", "coverage.join(other: Coverage) -> Coverage", "The tracks of both for the cells both have (a multiome: RNA from the BAM, ATAC from the fragments), in this coverage's cell order; both must use the same chromosomes.")
            .example(&ex("print(cov.tracks());")),
    );
    reg.engine.register_fn("join", |a: &mut CoverageValue, b: CoverageValue| -> ScriptResult<CoverageValue> {
        Ok(CoverageValue::new(a.0.join(&b.0).map_err(in_primitive("join"))?))
    });

    let window_doc = m(
        "window",
        "coverage.window(region: string, options?: map) -> Matrix",
        "scooby's training targets for a window: bins × (cells × tracks), channel = cell · T + track.",
    )
    .details(
        "RNA: each read adds 1/read_length to every base it covers; 32-bp bin sums x become (1 + x)^0.75 − 1, soft-clipped \
         above clip_soft c (c − 1 + √(y − c + 1)) and clipped at ±768 (scooby `_process_rna`). ATAC: insertions per bin × \
         atac_scale. With reverse_complement the bins are flipped and rna_plus/rna_minus swapped (scooby's RC augmentation). \
         Bins past the chromosome end are zero. Rows are named by bin coordinates, columns `barcode:track`. Cells may repeat \
         (scooby samples 64 cells with replacement per window); transform: false gives the raw bin sums.",
    )
    .opt("cells", "array", OptDefault::None, "cells (indices or barcodes; repeats allowed), default all")
    .opt("bin", "int", OptDefault::Int(32), "bin width in bp; the region length must be a multiple")
    .opt("tracks", "array", OptDefault::None, "tracks in channel order, default all the coverage has")
    .opt("transform", "bool", OptDefault::Bool(true), "apply scooby's transforms (false: raw sums)")
    .opt("clip_soft", "float", OptDefault::Float(5.0), "RNA soft-clip threshold c")
    .opt("read_length", "float", OptDefault::Float(90.0), "RNA per-base coverage divisor")
    .opt("atac_scale", "float", OptDefault::Float(0.05), "ATAC scale")
    .opt("reverse_complement", "bool", OptDefault::Bool(false), "flip bins and swap RNA strands")
    .example(&ex("let y = cov.window(\"chr1:0-8192\", #{cells: [0, 1, 1]});\nprint(y.to_string());"));
    register_method1(reg, window_doc, |c: &mut CoverageValue, region: String, o| -> ScriptResult<Matrix> {
        let region = parse_region("window", &region)?;
        let opts = window_options("window", o)?;
        let cells = match o.raw("cells") {
            Some(v) => {
                let arr =
                    v.clone().into_array().map_err(|_| primitive_error("window", Some("cells"), "must be an array"))?;
                cell_indices("window", "cells", &c.0, &arr)?
            }
            None => (0..c.0.n_cells()).collect(),
        };
        let t = window_targets(&c.0, &region, &cells, &opts).map_err(in_primitive("window"))?;
        let barcodes = &c.0.cells;
        let cols: Vec<String> =
            cells.iter().flat_map(|&i| t.tracks.iter().map(move |k| format!("{}:{}", barcodes[i], k.name()))).collect();
        let rows = bin_names(&region, opts.bin, t.bins);
        let rows = if opts.reverse_complement { rows.into_iter().rev().collect() } else { rows };
        Ok(Matrix::new(t.bins, t.channels, t.data).with_row_names(rows).with_col_names(cols))
    });

    let pb_doc = m(
        "pseudobulk",
        "coverage.pseudobulk(region: string, options?: map) -> Matrix",
        "Coverage summed over groups of cells: (group, track) rows × bins, for plot_track and write_bigwig.",
    )
    .details(
        "RNA in reads (bases covered / read_length — scooby's untransformed bin sums), ATAC in insertions; per_million divides \
         each group's track by that group's total reads or insertions genome-wide (× 10⁶). Rows are named `group:track`, \
         columns by bin coordinates. Without groups all cells form one group `all`.",
    )
    .opt("groups", "array | map", OptDefault::None, "a label per cell (unit () leaves a cell out) or a map barcode → label")
    .opt("bin", "int", OptDefault::Int(32), "bin width in bp")
    .opt("tracks", "array", OptDefault::None, "tracks, default all")
    .opt("read_length", "float", OptDefault::Float(90.0), "RNA per-base coverage divisor")
    .opt("per_million", "bool", OptDefault::Bool(false), "normalise by each group's total")
    .example(&ex("let types = sim.truth.cell_types;\nlet pb = cov.pseudobulk(\"chr1:0-65536\", #{groups: cov.cells().map(|b| types[b]), bin: 128});\nprint(pb.to_string());"));
    register_method1(reg, pb_doc, |c: &mut CoverageValue, region: String, o| -> ScriptResult<Matrix> {
        let region = parse_region("pseudobulk", &region)?;
        let opts = window_options("pseudobulk", o)?;
        let (labels, names) = groups("pseudobulk", &c.0, o)?;
        let per_million = o.bool("per_million")?.unwrap_or(false);
        let t =
            pseudobulk(&c.0, &region, &labels, names.len(), &opts, per_million).map_err(in_primitive("pseudobulk"))?;
        // Channels (group · T + t) become rows; bins become columns.
        let mut data = vec![0f32; t.bins * t.channels];
        for b in 0..t.bins {
            for ch in 0..t.channels {
                data[ch * t.bins + b] = t.get(b, ch);
            }
        }
        let rows: Vec<String> =
            names.iter().flat_map(|g| t.tracks.iter().map(move |k| format!("{g}:{}", k.name()))).collect();
        Ok(Matrix::new(t.channels, t.bins, data)
            .with_row_names(rows)
            .with_col_names(bin_names(&region, opts.bin, t.bins)))
    });

    let un_doc = FnDoc::new(
        "unsquash_rna",
        "coverage",
        "unsquash_rna(x: float | Matrix, options?: map) -> float | Matrix",
        "Undoes scooby's RNA target transform: back from squashed values to reads per bin.",
    )
    .details(
        "inverse \"exact\" inverts the soft clip exactly ((y − c + 1)² + c − 1 above c, then (y + 1)^(4/3) − 1); \"scooby\" is \
         scooby's own `undo_squashed_scale` ((y − c)² + c above c), which returns less than the exact inverse above c and is \
         what scooby's published analyses used. Both agree at and below c.",
    )
    .opt("clip_soft", "float", OptDefault::Float(5.0), "the c used by the transform")
    .opt("inverse", "string", OptDefault::Str("exact"), "\"exact\" or \"scooby\"")
    .example("print(unsquash_rna(7.0));\nprint(unsquash_rna(7.0, #{inverse: \"scooby\"}));");
    let specs = un_doc.options.clone();
    register1(reg, un_doc, |x: f64, o| unsquash("unsquash_rna", x as f32, o).map(|v| v as f64));
    crate::bridge::register_overload1(reg, "unsquash_rna", specs, |m: Matrix, o| {
        let data = m.data.iter().map(|&x| unsquash("unsquash_rna", x, o)).collect::<ScriptResult<Vec<f32>>>()?;
        Ok(Matrix { data: Arc::new(data), ..m })
    });
}
