//! `ScoobyModel.predict`: per-cell (or per-group pseudobulk) profiles over the model's output window centred on a
//! region, from the cells' state embeddings (`gscript_runtime::profile::predict::predict_profiles`).

use std::collections::HashMap;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, FnDoc, Host, OptDefault, Options, Registrar};
use gscript_runtime::coverage::window::squash_rna;
use gscript_runtime::coverage::TrackKind;
use gscript_runtime::interpret::sharded::Shard;
use gscript_runtime::models::profile::CellProfileModel;
use gscript_runtime::profile::predict::predict_profiles_on;
use gscript_runtime::profile::{CellSelection, Inverse, PredictOptions};
use gscript_runtime::seq::Region;

use super::train::{genome_arg, states_tensor, EXAMPLE_SETUP};
use super::ScoobyModel;
use crate::bridge::{cancel_token, in_primitive, ScriptResult};
use crate::values::Matrix;

fn doc() -> FnDoc {
    FnDoc::method(
        "ScoobyModel",
        "predict",
        "scooby",
        "model.predict(genome: Genome | string, region: string, cell_states: Matrix, options?: map) -> Matrix",
        "Predicted profiles of cells from their state embeddings: bins × (cells × tracks) over the output window centred on a region.",
    )
    .details(
        "The output window is the model's bins × 32 bp centred on the region (moved right at a chromosome start); its \
         input is the model's input length around the same centre, bases off the chromosome read as N. The trunk runs \
         once per window (twice with rc_average: the reverse complement's prediction is flipped back, its RNA strands \
         swapped and averaged with the forward one in the model's space, as scooby's notebooks do) and every cell is \
         decoded from it. Rows are the bins `chr:start-end`; columns `cell:track` (cell: the row name of cell_states, \
         else its row index; with `groups` the group label), channel cell · T + track. counts: true (default) gives \
         RNA in reads per bin (inverse \"scooby\": scooby's `undo_squashed_scale`, what its evaluation uses; \"exact\": \
         the exact inverse of the target transform) and ATAC in insertions (÷ 0.05); counts: false gives the model's \
         outputs in the targets' transformed space (what model.train fits, comparable to coverage.window; per cell \
         only, `inverse` unused). With `groups` (a label per row of cell_states; () leaves a cell out) each group's profile is the sum of its cells' \
         counts (pseudobulk). In a process group (gscript launch) the cells are split across the ranks (each runs the \
         trunk once) and every rank returns the full result.",
    )
    .opt("counts", "bool", OptDefault::Bool(true), "undo the target transforms (reads, insertions)")
    .opt("inverse", "string", OptDefault::Str("scooby"), "RNA inverse: \"scooby\" or \"exact\"")
    .opt("rc_average", "bool", OptDefault::Bool(true), "average with the reverse complement's prediction")
    .opt("cells", "array", OptDefault::None, "rows of cell_states to predict (default all)")
    .opt("groups", "array", OptDefault::None, "a group label per row of cell_states: one summed profile per group")
    .example(&format!(
        "{EXAMPLE_SETUP}let p = m.predict(sim.genome, \"chr1:10000-10100\", states, #{{cells: [0, 1]}});\nprint(p.shape());\nprint(p.col_names());"
    ))
}

/// The region, checked against the genome's chromosomes.
fn region_arg(primitive: &str, genome: &gscript_runtime::seq::Genome, text: &str) -> ScriptResult<Region> {
    let r: Region = text.parse().map_err(|e: gscript_runtime::RuntimeError| {
        primitive_error(primitive, Some("region"), &format!("`{text}`: {e}"))
    })?;
    let Some(len) = genome.chrom_length(&r.chrom) else {
        return Err(primitive_error(
            primitive,
            Some("region"),
            &format!("chromosome `{}` is not in the genome {}", r.chrom, genome.path().display()),
        ));
    };
    if r.start >= len {
        return Err(primitive_error(
            primitive,
            Some("region"),
            &format!("{r} lies past the end of {} ({len} bp)", r.chrom),
        ));
    }
    Ok(r)
}

/// The selection from the `cells` or `groups` option, with a name per profile.
pub(super) fn selection(primitive: &str, o: &Options, states: &Matrix) -> ScriptResult<(CellSelection, Vec<String>)> {
    let n = states.rows;
    if o.has("cells") && o.has("groups") {
        return Err(primitive_error(primitive, Some("groups"), "give either cells or groups, not both"));
    }
    if let Some(v) = o.raw("groups") {
        let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
            primitive_error(primitive, Some("groups"), "must be an array of labels, one per row of cell_states")
        })?;
        if arr.len() != n {
            return Err(primitive_error(
                primitive,
                Some("groups"),
                &format!("has {} labels for the {n} rows of cell_states", arr.len()),
            ));
        }
        let mut names: Vec<String> = Vec::new();
        let mut ids: HashMap<String, usize> = HashMap::new();
        let labels = arr
            .iter()
            .map(|x| {
                (!x.is_unit()).then(|| {
                    let l = crate::bridge::label_text(x);
                    *ids.entry(l.clone()).or_insert_with(|| {
                        names.push(l);
                        names.len() - 1
                    })
                })
            })
            .collect();
        if names.is_empty() {
            return Err(primitive_error(primitive, Some("groups"), "no cell is in a group"));
        }
        return Ok((CellSelection::Groups { labels, n_groups: names.len() }, names));
    }
    let (cells, names) = cell_rows(primitive, o, states)?;
    Ok((CellSelection::Cells(cells), names))
}

/// The rows of cell_states named by the `cells` option (default all), with their names (row names, else indices).
pub(super) fn cell_rows(primitive: &str, o: &Options, states: &Matrix) -> ScriptResult<(Vec<usize>, Vec<String>)> {
    let n = states.rows;
    let cells: Vec<usize> = match o.raw("cells") {
        None => (0..n).collect(),
        Some(v) => {
            let arr = v.clone().try_cast::<Array>().ok_or_else(|| {
                primitive_error(primitive, Some("cells"), "must be an array of row indices of cell_states")
            })?;
            arr.iter()
                .enumerate()
                .map(|(k, x)| {
                    x.as_int().ok().and_then(|i| usize::try_from(i).ok()).filter(|&i| i < n).ok_or_else(|| {
                        primitive_error(
                            primitive,
                            Some("cells"),
                            &format!("element {k} (`{x}`) is not a row index of cell_states (0..{n})"),
                        )
                    })
                })
                .collect::<ScriptResult<_>>()?
        }
    };
    if cells.is_empty() {
        return Err(primitive_error(primitive, Some("cells"), "is empty"));
    }
    let names =
        cells.iter().map(|&i| states.row_names.as_ref().map_or_else(|| i.to_string(), |r| r[i].clone())).collect();
    Ok((cells, names))
}

fn run(
    host: &Arc<Host>,
    model: &ScoobyModel,
    genome: Dynamic,
    region: String,
    states: Matrix,
    o: &Options,
) -> ScriptResult<Matrix> {
    const P: &str = "predict";
    let genome = genome_arg(P, &genome)?;
    let region = region_arg(P, &genome.0, &region)?;
    let st = model.lock();
    let net = &st.net;
    let t = states_tensor(P, &states, net.state_dim(), None)?;
    let (sel, names) = selection(P, o, &states)?;
    let counts = o.bool("counts")?.unwrap_or(true);
    if !counts && matches!(sel, CellSelection::Groups { .. }) {
        return Err(primitive_error(
            P,
            Some("counts"),
            "counts: false gives per-cell outputs in the model's space; group sums (groups) are in counts only",
        ));
    }
    let inverse = match o.choice("inverse", &["scooby", "exact"])?.as_deref() {
        Some("exact") => Inverse::Exact,
        _ if !counts => Inverse::Exact,
        _ => Inverse::Scooby,
    };
    let opts = PredictOptions { rc_average: o.bool("rc_average")?.unwrap_or(true), inverse, ..Default::default() };
    let shard = Shard::from_env().map_err(in_primitive(P))?;
    let p = predict_profiles_on(net, &genome.0, &region, &t, &sel, &opts, &cancel_token(host), shard.as_ref())
        .map_err(in_primitive(P))?;
    let nt = p.tracks.len();
    let mut data = p.data;
    if !counts {
        // Back to the model's space: the exact inverse undone by the target transform itself.
        for (i, x) in data.iter_mut().enumerate() {
            *x = match p.tracks[i % nt] {
                TrackKind::Atac => *x * opts.atac_scale,
                _ => squash_rna(*x, opts.clip_soft, 768.0),
            };
        }
    }
    let rows = (0..p.bins as u64)
        .map(|b| {
            let s = p.region.start + b * p.bin_size as u64;
            format!("{}:{}-{}", p.region.chrom, s, s + p.bin_size as u64)
        })
        .collect();
    let cols = names.iter().flat_map(|n| p.tracks.iter().map(move |k| format!("{n}:{}", k.name()))).collect();
    Ok(Matrix::new(p.bins, p.n_profiles * nt, data).with_row_names(rows).with_col_names(cols))
}

pub fn register(reg: &mut Registrar) {
    let doc = doc();
    let specs = doc.options.clone();
    reg.docs.add(doc);
    let host = reg.host.clone();
    let s = Arc::new(specs.clone());
    reg.engine.register_fn(
        "predict",
        move |m: &mut ScoobyModel,
              g: Dynamic,
              r: String,
              x: Matrix,
              map: gscript_lang::rhai::Map|
              -> ScriptResult<Matrix> { run(&host, m, g, r, x, &Options::new("predict", map, &s)?) },
    );
    let host = reg.host.clone();
    reg.engine.register_fn(
        "predict",
        move |m: &mut ScoobyModel, g: Dynamic, r: String, x: Matrix| -> ScriptResult<Matrix> {
            run(&host, m, g, r, x, &Options::empty("predict", &specs))
        },
    );
}
