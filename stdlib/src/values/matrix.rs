//! `Matrix`: a dense f32 matrix with optional row and column names (one-hot sequences, embeddings, score tables).

use std::fmt::Write as _;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, Registrar};

use crate::bridge::ScriptResult;

#[derive(Clone, Debug)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    /// Row-major values.
    pub data: Arc<Vec<f32>>,
    pub row_names: Option<Arc<Vec<String>>>,
    pub col_names: Option<Arc<Vec<String>>>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols);
        Matrix { rows, cols, data: Arc::new(data), row_names: None, col_names: None }
    }
    pub fn with_row_names(mut self, names: Vec<String>) -> Self {
        self.row_names = Some(Arc::new(names));
        self
    }
    pub fn with_col_names(mut self, names: Vec<String>) -> Self {
        self.col_names = Some(Arc::new(names));
        self
    }
    pub fn get(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.cols + c]
    }
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// Positions × 4 with columns A, C, G, T (PWMs, ISM scores).
    pub fn by_base(rows: impl IntoIterator<Item = [f32; 4]>) -> Self {
        let data: Vec<f32> = rows.into_iter().flatten().collect();
        Matrix::new(data.len() / 4, 4, data).with_col_names(["A", "C", "G", "T"].map(String::from).to_vec())
    }

    /// `Matrix 4 × 1344` (plus names when present).
    pub fn summary(&self) -> String {
        format!("Matrix {} × {}", self.rows, self.cols)
    }

    /// A corner of the matrix as text, at most `max_rows` × `max_cols`.
    pub fn preview_text(&self, max_rows: usize, max_cols: usize) -> String {
        let mut s = self.summary();
        s.push('\n');
        let rn = |r: usize| self.row_names.as_ref().map(|n| n[r].clone()).unwrap_or_else(|| r.to_string());
        for r in 0..self.rows.min(max_rows) {
            let _ = write!(s, "{:>8}", rn(r));
            for c in 0..self.cols.min(max_cols) {
                let _ = write!(s, " {:>9.4}", self.get(r, c));
            }
            if self.cols > max_cols {
                s.push_str(" …");
            }
            s.push('\n');
        }
        if self.rows > max_rows {
            s.push_str("       …\n");
        }
        s
    }

    pub fn preview_html(&self, max_rows: usize, max_cols: usize) -> String {
        let mut s = format!("<div><b>{}</b><table><thead><tr><th></th>", self.summary());
        for c in 0..self.cols.min(max_cols) {
            let name = self.col_names.as_ref().map(|n| html_escape(&n[c])).unwrap_or_else(|| c.to_string());
            let _ = write!(s, "<th>{name}</th>");
        }
        s.push_str("</tr></thead><tbody>");
        for r in 0..self.rows.min(max_rows) {
            let name = self.row_names.as_ref().map(|n| html_escape(&n[r])).unwrap_or_else(|| r.to_string());
            let _ = write!(s, "<tr><th>{name}</th>");
            for c in 0..self.cols.min(max_cols) {
                let _ = write!(s, "<td>{:.4}</td>", self.get(r, c));
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table></div>");
        s
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn index(m: &Matrix, r: i64, c: i64) -> ScriptResult<usize> {
    if r < 0 || c < 0 || r as usize >= m.rows || c as usize >= m.cols {
        return Err(primitive_error(
            "Matrix.get",
            None,
            &format!("index ({r}, {c}) is outside {} × {}", m.rows, m.cols),
        ));
    }
    Ok(r as usize * m.cols + c as usize)
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<Matrix>("Matrix");
    reg.host.register_renderer::<Matrix>(|m| {
        MimeBundle::plain(m.preview_text(10, 8)).with_text("text/html", m.preview_html(20, 12))
    });
    reg.docs.add(
        FnDoc::method(
            "Matrix",
            "to_string",
            "core",
            "m.to_string() -> string",
            "Short description: `Matrix rows × cols`.",
        )
        .example("print(one_hot(\"ACGTACGT\").to_string());"),
    );
    reg.engine.register_fn("to_string", |m: &mut Matrix| m.summary());
    reg.docs.add(
        FnDoc::method("Matrix", "shape", "core", "m.shape() -> [int, int]", "Number of rows and columns.")
            .example("one_hot(\"ACGT\").shape()"),
    );
    reg.engine.register_fn("shape", |m: &mut Matrix| -> Array {
        vec![Dynamic::from(m.rows as i64), Dynamic::from(m.cols as i64)]
    });
    reg.docs.add(
        FnDoc::method("Matrix", "get", "core", "m.get(row: int, col: int) -> float", "One value.")
            .example("one_hot(\"ACGT\").get(0, 0)"),
    );
    reg.engine.register_fn("get", |m: &mut Matrix, r: i64, c: i64| -> ScriptResult<f64> {
        Ok(m.data[index(m, r, c)?] as f64)
    });
    reg.docs.add(
        FnDoc::method("Matrix", "row", "core", "m.row(i: int) -> array", "One row as an array of floats.")
            .example("let m = one_hot(\"ACGT\");\nprint(m.row(2));"),
    );
    reg.engine.register_fn("row", |m: &mut Matrix, r: i64| -> ScriptResult<Array> {
        index(m, r, 0)?;
        Ok(m.row(r as usize).iter().map(|&v| Dynamic::from(v as f64)).collect())
    });
    reg.docs.add(
        FnDoc::method(
            "Matrix",
            "to_array",
            "core",
            "m.to_array() -> array",
            "All rows as an array of arrays of floats.",
        )
        .example("let m = matrix([[1, 2.5], [3, 4]]);\nfor row in m.to_array() { print(row); }"),
    );
    reg.engine.register_fn("to_array", |m: &mut Matrix| -> Array {
        (0..m.rows).map(|r| Dynamic::from_array(m.row(r).iter().map(|&v| Dynamic::from(v as f64)).collect())).collect()
    });
    reg.docs.add(
        FnDoc::method("Matrix", "sum", "core", "m.sum() -> float", "Sum of all values.")
            .example("one_hot(\"ACGN\").sum()"),
    );
    reg.engine.register_fn("sum", |m: &mut Matrix| -> f64 { m.data.iter().map(|&v| v as f64).sum() });
    reg.docs.add(
        FnDoc::method("Matrix", "col", "core", "m.col(j: int) -> array", "One column as an array of floats.")
            .example("one_hot(\"ACGT\").col(2)"),
    );
    reg.engine.register_fn("col", |m: &mut Matrix, c: i64| -> ScriptResult<Array> {
        index(m, 0, c)?;
        Ok((0..m.rows).map(|r| Dynamic::from(m.get(r, c as usize) as f64)).collect())
    });
    reg.docs.add(
        FnDoc::method(
            "Matrix",
            "transpose",
            "core",
            "m.transpose() -> Matrix",
            "Rows and columns swapped (names too).",
        )
        .example("one_hot(\"ACGT\").transpose().shape()"),
    );
    reg.engine.register_fn("transpose", |m: &mut Matrix| -> Matrix {
        let mut d = vec![0f32; m.rows * m.cols];
        for r in 0..m.rows {
            for c in 0..m.cols {
                d[c * m.rows + r] = m.get(r, c);
            }
        }
        Matrix {
            rows: m.cols,
            cols: m.rows,
            data: Arc::new(d),
            row_names: m.col_names.clone(),
            col_names: m.row_names.clone(),
        }
    });
    reg.docs.add(
        FnDoc::method(
            "Matrix",
            "select_rows",
            "core",
            "m.select_rows(rows: array) -> Matrix",
            "The rows at these indices, in the order given (names kept).",
        )
        .example("matrix([[1, 2], [3, 4], [5, 6]]).select_rows([2, 0]).to_array()"),
    );
    reg.engine.register_fn("select_rows", |m: &mut Matrix, rows: Array| -> ScriptResult<Matrix> {
        let mut idx = Vec::with_capacity(rows.len());
        for (k, r) in rows.iter().enumerate() {
            let i = r.as_int().ok().and_then(|i| usize::try_from(i).ok()).filter(|&i| i < m.rows);
            idx.push(i.ok_or_else(|| {
                primitive_error(
                    "Matrix.select_rows",
                    Some("rows"),
                    &format!("element {k} (`{r}`) is not a row index below {}", m.rows),
                )
            })?);
        }
        let data: Vec<f32> = idx.iter().flat_map(|&i| m.row(i).to_vec()).collect();
        let mut out = Matrix::new(idx.len(), m.cols, data);
        out.col_names = m.col_names.clone();
        if let Some(n) = &m.row_names {
            out.row_names = Some(Arc::new(idx.iter().map(|&i| n[i].clone()).collect()));
        }
        Ok(out)
    });
    reg.docs.add(
        FnDoc::method(
            "Matrix",
            "row_names",
            "core",
            "m.row_names() -> array",
            "Row names (empty when the matrix has none).",
        )
        .example("print(one_hot(\"ACGT\").row_names());"),
    );
    reg.engine.register_fn("row_names", |m: &mut Matrix| -> Array {
        m.row_names.iter().flat_map(|n| n.iter().cloned().map(Dynamic::from)).collect()
    });
    reg.docs.add(
        FnDoc::method(
            "Matrix",
            "col_names",
            "core",
            "m.col_names() -> array",
            "Column names (empty when the matrix has none).",
        )
        .example("let ppm = jaspar_motifs().get(\"GATA1\").ppm();\nprint(ppm.col_names());"),
    );
    reg.engine.register_fn("col_names", |m: &mut Matrix| -> Array {
        m.col_names.iter().flat_map(|n| n.iter().cloned().map(Dynamic::from)).collect()
    });
    reg.docs.add(
        FnDoc::method("Matrix", "mean_by_group", "core", "m.mean_by_group(labels: array) -> Matrix", "Averages columns (or rows) that share a label, e.g. TF activity per cell type.")
            .details("`labels` has one label per column (cells of a motifs × cells matrix); if its length matches the rows instead, rows are \
                      averaged (cells × dims embeddings). Groups come out in natural sort order (t2 before t10) and name the new columns (rows).")
            .example("let m = matrix([[1, 2, 3], [4, 5, 6]]);\nprint(m.mean_by_group([\"a\", \"b\", \"a\"]).to_array());"),
    );
    reg.engine.register_fn("mean_by_group", |m: &mut Matrix, labels: Array| -> ScriptResult<Matrix> {
        const P: &str = "Matrix.mean_by_group";
        let by_cols = if labels.len() == m.cols {
            true
        } else if labels.len() == m.rows {
            false
        } else {
            return Err(primitive_error(
                P,
                Some("labels"),
                &format!(
                    "{} labels for a {} × {} matrix: give one per column (or per row)",
                    labels.len(),
                    m.rows,
                    m.cols
                ),
            ));
        };
        let text: Vec<String> = labels.iter().map(crate::bridge::label_text).collect();
        let mut names: Vec<String> = text.clone();
        names.sort_by_key(|a| natural_key(a));
        names.dedup();
        let code: Vec<usize> = text.iter().map(|t| names.iter().position(|n| n == t).unwrap_or(0)).collect();
        let k = names.len();
        let mut counts = vec![0f32; k];
        for &g in &code {
            counts[g] += 1.0;
        }
        let out = if by_cols {
            let mut d = vec![0f32; m.rows * k];
            for r in 0..m.rows {
                for c in 0..m.cols {
                    d[r * k + code[c]] += m.get(r, c) / counts[code[c]];
                }
            }
            Matrix {
                rows: m.rows,
                cols: k,
                data: Arc::new(d),
                row_names: m.row_names.clone(),
                col_names: Some(Arc::new(names)),
            }
        } else {
            let mut d = vec![0f32; k * m.cols];
            for r in 0..m.rows {
                for c in 0..m.cols {
                    d[code[r] * m.cols + c] += m.get(r, c) / counts[code[r]];
                }
            }
            Matrix {
                rows: k,
                cols: m.cols,
                data: Arc::new(d),
                row_names: Some(Arc::new(names)),
                col_names: m.col_names.clone(),
            }
        };
        Ok(out)
    });
    reg.docs.add(
        FnDoc::new(
            "matrix",
            "core",
            "matrix(rows: array) -> Matrix",
            "A matrix from an array of equally long arrays of numbers (one per row).",
        )
        .example("let m = matrix([[1, 2.5], [3, 4]]);\nprint(m.shape());"),
    );
    reg.engine.register_fn("matrix", |rows: Array| -> ScriptResult<Matrix> {
        const P: &str = "matrix";
        let n = rows.len();
        let mut cols = None;
        let mut data = Vec::new();
        for (i, r) in rows.into_iter().enumerate() {
            let r = r
                .try_cast::<Array>()
                .ok_or_else(|| primitive_error(P, Some("rows"), &format!("row {i} is not an array")))?;
            if *cols.get_or_insert(r.len()) != r.len() {
                return Err(primitive_error(
                    P,
                    Some("rows"),
                    &format!("row {i} has {} values, row 0 has {}", r.len(), cols.unwrap_or(0)),
                ));
            }
            for (j, v) in r.into_iter().enumerate() {
                let x = v
                    .as_float()
                    .or_else(|_| v.as_int().map(|i| i as f64))
                    .map_err(|_| primitive_error(P, Some("rows"), &format!("row {i}, column {j} is not a number")))?;
                data.push(x as f32);
            }
        }
        let cols = cols.unwrap_or(0);
        if n == 0 || cols == 0 {
            return Err(primitive_error(P, Some("rows"), "the matrix would be empty"));
        }
        Ok(Matrix::new(n, cols, data))
    });
}

/// Sort key that orders embedded numbers naturally (`t2` before `t10`).
pub(crate) fn natural_key(s: &str) -> (String, u64, String) {
    let prefix: String = s.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let digits: String = s.chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit()).collect();
    (prefix, digits.parse().unwrap_or(0), s.to_string())
}
