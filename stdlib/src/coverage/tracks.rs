//! Coverage tracks out of the language: `write_bigwig` (one row of a bins Matrix — a pseudobulk track, a window's
//! targets or predictions — as a BigWig file) and the pieces `plot_track` uses to draw pseudobulk rows grouped by
//! cell type with a gene track under them ([`genes_in`], [`select_rows`], [`style_tracks`]).

use std::collections::HashMap;
use std::path::Path;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, OptDefault, Options, Registrar};
use gscript_runtime::coverage::bigwig::{write_bigwig, Bins};
use gscript_runtime::coverage::TrackKind;
use gscript_runtime::genes::Gene;
use gscript_runtime::plot::{Rgb, TrackOptions, TrackSeries};

use super::genes::GenesValue;
use super::CoverageValue;
use crate::bridge::{in_argument, in_primitive, register2, ScriptResult};
use crate::rank_zero::write_map_from_rank_zero;
use crate::seq::GenomeValue;
use crate::values::Matrix;

/// Chromosome names and lengths from a Genome, a FASTA path (its .fai), a Coverage or a map name → length.
pub fn chrom_sizes(primitive: &str, key: &str, v: &Dynamic) -> ScriptResult<Vec<(String, u64)>> {
    if let Some(g) = v.clone().try_cast::<GenomeValue>() {
        return Ok(g.0.chromosomes().iter().map(|e| (e.name.clone(), e.length)).collect());
    }
    if let Some(c) = v.clone().try_cast::<CoverageValue>() {
        return Ok(c.0.refs.names().iter().cloned().zip(c.0.refs.lengths().iter().copied()).collect());
    }
    if let Some(m) = v.clone().try_cast::<Map>() {
        return m
            .iter()
            .map(|(k, x)| match x.as_int() {
                Ok(n) if n > 0 => Ok((k.to_string(), n as u64)),
                _ => Err(primitive_error(
                    primitive,
                    Some(key),
                    &format!("length of {k} must be a positive integer, not {x}"),
                )),
            })
            .collect();
    }
    if let Ok(path) = v.clone().into_string() {
        let g = gscript_runtime::seq::genome::Genome::open(Path::new(&path)).map_err(in_argument(primitive, key))?;
        return Ok(g.chromosomes().iter().map(|e| (e.name.clone(), e.length)).collect());
    }
    Err(primitive_error(
        primitive,
        Some(key),
        &format!("must be a Genome, a FASTA path, a Coverage or a map chromosome → length, not {}", v.type_name()),
    ))
}

/// A bin column name `chr:start-end` (commas allowed; the start may be negative, as predict_tracks names bins
/// before a chromosome start).
fn bin_name(name: &str) -> Option<(&str, i64, i64)> {
    let (chrom, span) = name.rsplit_once(':')?;
    let b = span.as_bytes();
    let cut = (1..b.len()).find(|&i| b[i] == b'-' && b[i - 1].is_ascii_digit())?;
    let num = |s: &str| s.replace(',', "").parse::<i64>().ok();
    let (s, e) = (num(&span[..cut])?, num(&span[cut + 1..])?);
    (!chrom.is_empty() && e > s).then_some((chrom, s, e))
}

/// The row a primitive works on: the only one, or the `row` option (index or name).
fn pick_row(primitive: &str, m: &Matrix, o: &Options) -> ScriptResult<usize> {
    let names = m.row_names.as_deref();
    match o.raw("row") {
        None if m.rows == 1 => Ok(0),
        None => {
            let shown: Vec<String> = names.map_or_else(Vec::new, |n| n.iter().take(6).cloned().collect());
            Err(primitive_error(
                primitive,
                Some("row"),
                &format!(
                    "the matrix has {} rows: choose one with #{{row: ...}} (an index or a name{}{})",
                    m.rows,
                    if shown.is_empty() { "" } else { ": " },
                    shown.join(", ")
                ),
            ))
        }
        Some(v) => match v.as_int() {
            Ok(i) if i >= 0 && (i as usize) < m.rows => Ok(i as usize),
            Ok(i) => Err(primitive_error(primitive, Some("row"), &format!("{i} is outside 0..{}", m.rows))),
            Err(_) => {
                let key = crate::bridge::label_text(v);
                names
                    .and_then(|n| n.iter().position(|x| *x == key))
                    .ok_or_else(|| primitive_error(primitive, Some("row"), &format!("no row named `{key}`")))
            }
        },
    }
}

/// A run of contiguous, equal-width bins: chromosome, start, width and the matrix columns.
type Run = (String, u64, u64, std::ops::Range<usize>);

/// Runs of contiguous, equal-width bins from the matrix's column names: (chrom, start, width, column range).
/// Bins before a chromosome start are cut at 0 (or dropped); returns the runs and the bins cut or dropped.
fn column_runs(primitive: &str, m: &Matrix) -> ScriptResult<(Vec<Run>, usize)> {
    let names = m.col_names.as_deref().ok_or_else(|| {
        primitive_error(
            primitive,
            Some("track"),
            "the matrix has no column names: columns must be bins named `chr:start-end`",
        )
    })?;
    let mut runs: Vec<Run> = Vec::new();
    let mut cut = 0;
    for (j, n) in names.iter().enumerate() {
        let (chrom, s, e) = bin_name(n).ok_or_else(|| {
            primitive_error(primitive, Some("track"), &format!("column `{n}` is not a bin `chr:start-end`"))
        })?;
        if e <= 0 {
            cut += 1;
            continue;
        }
        if s < 0 {
            cut += 1;
        }
        let (s, e) = (s.max(0) as u64, e as u64);
        match runs.last_mut() {
            Some((c, start, w, r)) if c == chrom && r.end == j && *w == e - s && *start + *w * r.len() as u64 == s => {
                r.end = j + 1;
            }
            _ => runs.push((chrom.to_string(), s, e - s, j..j + 1)),
        }
    }
    Ok((runs, cut))
}

pub fn register(reg: &mut Registrar) {
    let doc = FnDoc::new(
        "write_bigwig",
        "coverage",
        "write_bigwig(track: Matrix, path: string, options?: map) -> map",
        "Writes one row of a bins Matrix (columns named `chr:start-end`, as pseudobulk and predict_tracks give) as a BigWig file.",
    )
    .details(
        "The row is a track: each column's value over its bin. Zero bins are not written (no data there: browsers draw \
         nothing, pyBigWig reads NaN); equal neighbouring bins become one item; bins past a chromosome end are cut or \
         dropped, bins before its start likewise. Chromosome lengths come from `genome` (a Genome, FASTA path, \
         Coverage or map); without it each chromosome is as long as its last bin, which browsers accept but which is \
         not the real length. The file has zoom levels for fast browsing and is written atomically. Returns \
         #{path, items, bases_covered, clipped_bins, zoom_levels}.",
    )
    .opt("row", "int | string", OptDefault::None, "the row to write (index or name); needed when the matrix has several")
    .opt("genome", "Genome | string | Coverage | map", OptDefault::None, "chromosome lengths")
    .example(
        "let sim = simulate_multiome(out_path(\"mo\"), #{cells: 40});\nlet cov = load_fragments(sim.fragments, #{genome: sim.genome});\nlet pb = cov.pseudobulk(\"chr1:0-65536\", #{bin: 128});\nlet r = write_bigwig(pb, out_path(\"atac.bw\"), #{row: \"all:atac\", genome: cov});\nprint(`${r.items} items over ${r.bases_covered} bp`);",
    );
    let host = reg.host.clone();
    register2(reg, doc, move |m: Matrix, path: String, o: &Options| -> ScriptResult<Map> {
        const P: &str = "write_bigwig";
        if m.rows == 0 || m.cols == 0 {
            return Err(primitive_error(P, Some("track"), "the matrix is empty"));
        }
        let row = pick_row(P, &m, o)?;
        let (runs, cut) = column_runs(P, &m)?;
        let sizes = match o.raw("genome") {
            Some(v) => chrom_sizes(P, "genome", v)?,
            None => {
                let mut sizes: Vec<(String, u64)> = Vec::new();
                let mut at: HashMap<String, usize> = HashMap::new();
                for (c, s, w, r) in &runs {
                    let end = s + w * r.len() as u64;
                    match at.get(c) {
                        Some(&i) => sizes[i].1 = sizes[i].1.max(end),
                        None => {
                            at.insert(c.clone(), sizes.len());
                            sizes.push((c.clone(), end));
                        }
                    }
                }
                sizes
            }
        };
        let values = m.row(row);
        let bins: Vec<Bins> = runs
            .iter()
            .map(|(c, s, w, r)| Bins { chrom: c, start: *s, width: *w, values: &values[r.clone()] })
            .collect();
        // rank 0 writes the file; every rank returns its statistics
        write_map_from_rank_zero(&host, P, "path", &path, || {
            let s = write_bigwig(Path::new(&path), &sizes, &bins).map_err(|e| match e {
                e @ gscript_runtime::RuntimeError::Io { .. } => in_argument(P, "path")(e),
                e => in_primitive(P)(e),
            })?;
            let mut out = Map::new();
            out.insert("path".into(), path.clone().into());
            out.insert("items".into(), (s.items as i64).into());
            out.insert("bases_covered".into(), (s.bases_covered as i64).into());
            out.insert("clipped_bins".into(), ((s.clipped_bins + cut) as i64).into());
            let levels: Array = s.zoom_levels.iter().map(|&z| Dynamic::from(z as i64)).collect();
            out.insert("zoom_levels".into(), levels.into());
            Ok(out)
        })
    });
}

/// The `genes` option: a Genes value (load_genes), if given.
pub fn genes_option(primitive: &str, o: &Options) -> ScriptResult<Option<GenesValue>> {
    let Some(v) = o.raw("genes") else { return Ok(None) };
    let g = v.clone().try_cast::<GenesValue>().ok_or_else(|| {
        primitive_error(primitive, Some("genes"), &format!("must be a Genes value (load_genes), not {}", v.type_name()))
    })?;
    Ok(Some(g))
}

/// The genes of the `genes` option (a Genes value) that overlap the region.
pub fn genes_in(primitive: &str, o: &Options, region: (&str, u64, u64)) -> ScriptResult<Vec<Gene>> {
    let Some(g) = genes_option(primitive, o)? else { return Ok(Vec::new()) };
    Ok(g.0.overlapping(region.0, region.1, region.2).into_iter().cloned().collect())
}

/// The `rows` option of plot_track: the matrix rows to draw (indices or names), in that order.
pub fn select_rows(primitive: &str, m: Matrix, o: &Options) -> ScriptResult<Matrix> {
    let Some(v) = o.raw("rows") else { return Ok(m) };
    let arr = v
        .clone()
        .try_cast::<Array>()
        .ok_or_else(|| primitive_error(primitive, Some("rows"), "must be an array of row indices or names"))?;
    if arr.is_empty() {
        return Err(primitive_error(primitive, Some("rows"), "is empty"));
    }
    let names = m.row_names.as_deref();
    let mut keep = Vec::with_capacity(arr.len());
    for x in &arr {
        let i = match x.as_int() {
            Ok(i) => usize::try_from(i).ok().filter(|&i| i < m.rows),
            Err(_) => {
                let key = crate::bridge::label_text(x);
                names.and_then(|n| n.iter().position(|r| *r == key))
            }
        };
        keep.push(i.ok_or_else(|| {
            primitive_error(
                primitive,
                Some("rows"),
                &format!("`{x}` is not a row index below {} or a row name", m.rows),
            )
        })?);
    }
    let data: Vec<f32> = keep.iter().flat_map(|&r| m.row(r).iter().copied()).collect();
    let mut out = Matrix::new(keep.len(), m.cols, data);
    out.col_names = m.col_names.clone();
    if let Some(n) = names {
        out = out.with_row_names(keep.iter().map(|&r| n[r].clone()).collect());
    }
    Ok(out)
}

/// Colour of each track kind (Okabe–Ito blue, vermillion, bluish green).
fn kind_color(k: TrackKind) -> Rgb {
    match k {
        TrackKind::RnaPlus => Rgb(0x00, 0x72, 0xB2),
        TrackKind::RnaMinus => Rgb(0xD5, 0x5E, 0x00),
        TrackKind::Atac => Rgb(0x00, 0x9E, 0x73),
    }
}

fn kind_label(k: TrackKind) -> &'static str {
    match k {
        TrackKind::RnaPlus => "RNA +",
        TrackKind::RnaMinus => "RNA −",
        TrackKind::Atac => "ATAC",
    }
}

/// plot_track's genome-browser styling: the gene track from `genes`, and for rows named `group:track` (pseudobulk
/// rows, track one of rna_plus, rna_minus, atac) rows grouped by group, labelled by track, coloured by track kind, the
/// RNA rows (both strands) of all groups sharing one y range and the ATAC rows another (unless `shared_y` asks for one
/// range for all).
pub fn style_tracks(
    primitive: &str,
    o: &Options,
    region: (&str, u64, u64),
    series: &mut [TrackSeries],
    mut opts: TrackOptions,
) -> ScriptResult<TrackOptions> {
    opts.genes = genes_in(primitive, o, region)?;
    opts.gene_track = o.has("genes");
    let parsed: Option<Vec<(String, TrackKind)>> = series
        .iter()
        .map(|s| {
            let (g, t) = s.label.rsplit_once(':')?;
            let k = match t {
                "rna_plus" => TrackKind::RnaPlus,
                "rna_minus" => TrackKind::RnaMinus,
                "atac" => TrackKind::Atac,
                _ => return None,
            };
            Some((g.to_string(), k))
        })
        .collect();
    if let Some(p) = parsed {
        opts.colors = Some(p.iter().map(|x| kind_color(x.1)).collect());
        if !opts.shared_y {
            // reads (both strands) on one scale, insertions on another
            opts.y_groups = Some(p.iter().map(|x| usize::from(x.1 == TrackKind::Atac)).collect());
        }
        let distinct = p.iter().map(|x| &x.0).collect::<std::collections::HashSet<_>>().len();
        if distinct > 1 || p.len() > 1 {
            opts.row_groups = Some(p.iter().map(|x| x.0.clone()).collect());
            for (s, (_, k)) in series.iter_mut().zip(&p) {
                s.label = kind_label(*k).to_string();
            }
        }
    }
    Ok(opts)
}
