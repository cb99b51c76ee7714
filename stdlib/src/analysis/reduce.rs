//! `pca`, `lsi` and `scale`.

use gscript_lang::{FnDoc, OptDefault, Registrar};
use gscript_runtime::analysis::{lsi, pca, standard_scale, LsiOptions, PcaOptions, SvdSolver};

use super::dense;
use crate::bridge::{in_primitive, register1};
use crate::values::peak_data::PeakData;
use crate::values::Matrix;

fn names(prefix: &str, k: usize) -> Vec<String> {
    (1..=k).map(|i| format!("{prefix}{i}")).collect()
}

pub fn register(reg: &mut Registrar) {
    let doc = FnDoc::new("pca", "analysis", "pca(x: Matrix, options?: map) -> Matrix", "Principal components of the rows of a matrix (cells × features → cells × n).")
        .details(
            "Centred (scanpy/scikit-learn convention), exact SVD for small inputs and a seeded randomised SVD for large ones \
             (`solver`). Each component is oriented so that its largest loading is positive, as scikit-learn does. Columns are \
             named PC1, PC2, …",
        )
        .opt("n", "int", OptDefault::Int(50), "number of components (at most min(rows, columns))")
        .opt("center", "bool", OptDefault::Bool(true), "subtract column means first")
        .opt("solver", "string", OptDefault::Str("auto"), "\"auto\", \"exact\" or \"randomized\"")
        .opt("seed", "int", OptDefault::Int(0), "seed of the randomised solver")
        .example("let x = simulate_atac(#{n_cells: 60, n_peaks: 200}).data;\nlet emb = lsi(x, #{n: 10});\nprint(pca(emb, #{n: 5}));");
    register1(reg, doc, |x: Matrix, o| {
        const P: &str = "pca";
        let solver = match o.choice("solver", &["auto", "exact", "randomized"])?.as_deref() {
            Some("exact") => SvdSolver::Exact,
            Some("randomized") => SvdSolver::Randomized,
            _ => SvdSolver::Auto,
        };
        let opts = PcaOptions {
            n_components: o.int_at_least("n", 1)?.unwrap() as usize,
            center: o.bool("center")?.unwrap(),
            solver,
            seed: o.int("seed")?.unwrap() as u64,
        };
        let (data, n, d) = dense(&x);
        let p = pca(data, n, d, &opts).map_err(in_primitive(P))?;
        let mut m = Matrix::new(n, p.n_components, p.embedding).with_col_names(names("PC", p.n_components));
        m.row_names = x.row_names.clone();
        Ok(m)
    });

    let doc = FnDoc::new("lsi", "analysis", "lsi(data: PeakDataset, options?: map) -> Matrix", "TF-IDF + LSI embedding of the raw peak matrix (cells × n): the standard scATAC baseline.")
        .details(
            "TF-IDF as Signac (log1p(tf · idf · 1e4)), a seeded randomised truncated SVD, each component standardised; the first \
             component, which follows sequencing depth, is dropped by default (a warning reports its correlation with log depth). \
             Compare it with scBasset's cell embedding using label_score, silhouette or ari on clusters.",
        )
        .opt("n", "int", OptDefault::Int(30), "components kept")
        .opt("drop_first", "bool", OptDefault::Bool(true), "drop the first (depth) component")
        .opt("seed", "int", OptDefault::Int(0), "seed of the randomised SVD")
        .example("let d = simulate_atac(#{n_cells: 60, n_peaks: 200}).data;\nlet emb = lsi(d, #{n: 10});\nprint(emb);");
    let host = reg.host.clone();
    register1(reg, doc, move |data: PeakData, o| {
        const P: &str = "lsi";
        let opts = LsiOptions {
            n_components: o.int_at_least("n", 1)?.unwrap() as usize,
            drop_first: o.bool("drop_first")?.unwrap(),
            seed: o.int("seed")?.unwrap() as u64,
            ..LsiOptions::default()
        };
        let l = lsi(&data.0.matrix, &opts).map_err(in_primitive(P))?;
        if opts.drop_first {
            host.warn(&format!("lsi: dropped component 1 (correlation with log depth {:.2})", l.depth_correlation[0]));
        }
        Ok(Matrix::new(data.0.n_cells(), l.n_components, l.embedding)
            .with_row_names(data.0.cells.barcodes.clone())
            .with_col_names(names("LSI", l.n_components)))
    });

    let doc = FnDoc::new(
        "scale",
        "analysis",
        "scale(x: Matrix, options?: map) -> Matrix",
        "Each column to mean 0 and variance 1 (scanpy pp.scale), optionally clipped.",
    )
    .opt("max_value", "float", OptDefault::None, "clip scaled values above this")
    .example(
        "let m = scale(lsi(simulate_atac(#{n_cells: 40, n_peaks: 200}).data, #{n: 5}), #{max_value: 10.0});\nprint(m);",
    );
    register1(reg, doc, |x: Matrix, o| {
        let max_value = o.float("max_value")?.map(|v| v as f32);
        let (data, n, d) = dense(&x);
        let v = standard_scale(data, n, d, max_value).map_err(in_primitive("scale"))?;
        let mut m = Matrix::new(n, d, v);
        m.row_names = x.row_names.clone();
        m.col_names = x.col_names.clone();
        Ok(m)
    });
}
