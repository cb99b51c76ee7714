//! `Table`: named columns of equal length (motif hits, variant effects), with text and HTML previews, column and
//! row access, and CSV/TSV output.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use gscript_lang::rhai::{Array, Dynamic, Map};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, Registrar};

use super::matrix::html_escape;
use crate::bridge::{write_output, ScriptResult};
use crate::rank_zero::write_from_rank_zero;

/// One column.
#[derive(Clone, Debug)]
pub enum Column {
    Text(Vec<String>),
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Int(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn value(&self, i: usize) -> Dynamic {
        match self {
            Column::Text(v) => v[i].clone().into(),
            Column::Float(v) => v[i].into(),
            Column::Int(v) => v[i].into(),
            Column::Bool(v) => v[i].into(),
        }
    }
    fn text(&self, i: usize) -> String {
        match self {
            Column::Text(v) => v[i].clone(),
            Column::Float(v) => format_float(v[i]),
            Column::Int(v) => v[i].to_string(),
            Column::Bool(v) => v[i].to_string(),
        }
    }
    fn select(&self, keep: &[usize]) -> Column {
        match self {
            Column::Text(v) => Column::Text(keep.iter().map(|&i| v[i].clone()).collect()),
            Column::Float(v) => Column::Float(keep.iter().map(|&i| v[i]).collect()),
            Column::Int(v) => Column::Int(keep.iter().map(|&i| v[i]).collect()),
            Column::Bool(v) => Column::Bool(keep.iter().map(|&i| v[i]).collect()),
        }
    }
}

fn format_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        format!("{x:.3e}")
    } else {
        format!("{:.4}", x).trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Table {
    pub columns: Arc<Vec<(String, Column)>>,
    pub title: String,
}

impl Table {
    /// A table from columns of equal length.
    pub fn new(title: impl Into<String>, columns: Vec<(String, Column)>) -> Table {
        if let Some((_, first)) = columns.first() {
            assert!(columns.iter().all(|(_, c)| c.len() == first.len()), "table columns must have equal length");
        }
        Table { columns: Arc::new(columns), title: title.into() }
    }
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
    pub fn summary(&self) -> String {
        format!(
            "{} ({} rows × {} columns)",
            if self.title.is_empty() { "Table" } else { &self.title },
            self.n_rows(),
            self.columns.len()
        )
    }
    fn row_map(&self, i: usize) -> Map {
        self.columns.iter().map(|(n, c)| (n.as_str().into(), c.value(i))).collect()
    }
    /// Rows `keep`, in that order.
    pub fn select(&self, keep: &[usize]) -> Table {
        Table::new(self.title.clone(), self.columns.iter().map(|(n, c)| (n.clone(), c.select(keep))).collect())
    }

    pub fn preview_text(&self, max_rows: usize) -> String {
        let n = self.n_rows().min(max_rows);
        let cells: Vec<Vec<String>> = self
            .columns
            .iter()
            .map(|(name, c)| std::iter::once(name.clone()).chain((0..n).map(|i| c.text(i))).collect())
            .collect();
        let widths: Vec<usize> =
            cells.iter().map(|c| c.iter().map(|s| s.chars().count()).max().unwrap_or(0).min(40)).collect();
        let mut s = self.summary();
        s.push('\n');
        for r in 0..=n {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, &w)| format!("{:<w$}", c[r].chars().take(40).collect::<String>()))
                .collect();
            s.push_str(line.join("  ").trim_end());
            s.push('\n');
        }
        if self.n_rows() > n {
            let _ = writeln!(s, "… {} more rows", self.n_rows() - n);
        }
        s
    }

    pub fn preview_html(&self, max_rows: usize) -> String {
        let mut s = format!("<div><b>{}</b><table><thead><tr>", html_escape(&self.summary()));
        for (name, _) in self.columns.iter() {
            let _ = write!(s, "<th>{}</th>", html_escape(name));
        }
        s.push_str("</tr></thead><tbody>");
        for i in 0..self.n_rows().min(max_rows) {
            s.push_str("<tr>");
            for (_, c) in self.columns.iter() {
                let _ = write!(s, "<td>{}</td>", html_escape(&c.text(i)));
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table></div>");
        s
    }

    /// CSV (or TSV) text with a header line; floats in full precision.
    pub fn to_delimited(&self, sep: char) -> String {
        let quote = |s: &str| csv_field(s, sep);
        let mut out: String = self.columns.iter().map(|(n, _)| quote(n)).collect::<Vec<_>>().join(&sep.to_string());
        out.push('\n');
        for i in 0..self.n_rows() {
            let row: Vec<String> = self
                .columns
                .iter()
                .map(|(_, c)| match c {
                    Column::Float(v) => v[i].to_string(),
                    other => quote(&other.text(i)),
                })
                .collect();
            out.push_str(&row.join(&sep.to_string()));
            out.push('\n');
        }
        out
    }
}

/// A CSV/TSV field: quoted (with doubled quotes) when it holds the separator, a quote or a line break.
pub(crate) fn csv_field(s: &str, sep: char) -> String {
    if s.contains(sep) || s.contains('"') || s.contains('\n') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn row_index(t: &Table, i: i64) -> ScriptResult<usize> {
    if i < 0 || i as usize >= t.n_rows() {
        return Err(primitive_error("Table.row", Some("i"), &format!("{i} is outside 0..{}", t.n_rows())));
    }
    Ok(i as usize)
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<Table>("Table");
    reg.host.register_renderer::<Table>(|t| {
        MimeBundle::plain(t.preview_text(20)).with_text("text/html", t.preview_html(50))
    });
    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("Table", name, "core", sig, summary);
    reg.docs.add(
        m("to_string", "t.to_string() -> string", "Title and size.")
            .example("let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nprint(sites.to_string());"),
    );
    reg.engine.register_fn("to_string", |t: &mut Table| t.summary());
    reg.docs.add(m("len", "t.len() -> int", "Number of rows.").example(
        "let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nprint(`${sites.len()} planted motif sites`);",
    ));
    reg.engine.register_fn("len", |t: &mut Table| t.n_rows() as i64);
    reg.docs.add(
        m("columns", "t.columns() -> array", "Column names.")
            .example("let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nprint(sites.columns());"),
    );
    reg.engine.register_fn("columns", |t: &mut Table| -> Array {
        t.columns.iter().map(|(n, _)| Dynamic::from(n.clone())).collect()
    });
    reg.docs.add(m("col", "t.col(name: string) -> array", "One column as an array.").example("let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nlet motifs = sites.col(\"motif\");\nprint(`${motifs.filter(|m| m == \"CTCF\").len()} of ${motifs.len()} sites are CTCF`);"));
    reg.engine.register_fn("col", |t: &mut Table, name: &str| -> ScriptResult<Array> {
        let c = t.column(name).ok_or_else(|| {
            let names: Vec<&str> = t.columns.iter().map(|(n, _)| n.as_str()).collect();
            primitive_error(
                "Table.col",
                Some("name"),
                &format!("no column `{name}`; the columns are {}", names.join(", ")),
            )
        })?;
        Ok((0..c.len()).map(|i| c.value(i)).collect())
    });
    reg.docs.add(m("row", "t.row(i: int) -> map", "Row i as a map from column name to value.").example("let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nlet s = sites.row(0);\nprint(`${s.motif} at ${s.chrom}:${s.start}-${s.end} (${s.strand})`);"));
    reg.engine.register_fn("row", |t: &mut Table, i: i64| -> ScriptResult<Map> { Ok(t.row_map(row_index(t, i)?)) });
    reg.docs.add(m("rows", "t.rows() -> array", "Every row as a map (for loops and filters).").example("let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nlet minus = sites.rows().filter(|s| s.strand == \"-\");\nprint(`${minus.len()} sites on the minus strand`);"));
    reg.engine.register_fn("rows", |t: &mut Table| -> Array {
        (0..t.n_rows()).map(|i| Dynamic::from_map(t.row_map(i))).collect()
    });
    reg.docs.add(
        m("head", "t.head(n: int) -> Table", "The first n rows.")
            .example("let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nshow(sites.head(5));"),
    );
    reg.engine.register_fn("head", |t: &mut Table, n: i64| -> Table {
        t.select(&(0..(n.max(0) as usize).min(t.n_rows())).collect::<Vec<_>>())
    });
    reg.docs.add(m("sort_by", "t.sort_by(column: string, descending: bool) -> Table", "Rows sorted by a column (NaN last).").example("let hits = scan_motifs(\"TTTGATAAGGCTTTTCCACGCGGTGGCGGAAGTTT\", jaspar_motifs().select([\"GATA1\", \"CTCF\"]), #{p: 1e-3});\nshow(hits.sort_by(\"score\", true).head(3));"));
    reg.engine.register_fn("sort_by", |t: &mut Table, name: &str, descending: bool| -> ScriptResult<Table> {
        let c = t
            .column(name)
            .ok_or_else(|| primitive_error("Table.sort_by", Some("column"), &format!("no column `{name}`")))?;
        let mut order: Vec<usize> = (0..t.n_rows()).collect();
        match c {
            Column::Float(v) => order.sort_by(|&a, &b| {
                let (x, y) = (v[a], v[b]);
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if descending => y.total_cmp(&x),
                    _ => x.total_cmp(&y),
                }
            }),
            Column::Int(v) => order.sort_by(|&a, &b| if descending { v[b].cmp(&v[a]) } else { v[a].cmp(&v[b]) }),
            Column::Bool(v) => order.sort_by(|&a, &b| if descending { v[b].cmp(&v[a]) } else { v[a].cmp(&v[b]) }),
            Column::Text(v) => order.sort_by(|&a, &b| if descending { v[b].cmp(&v[a]) } else { v[a].cmp(&v[b]) }),
        }
        Ok(t.select(&order))
    });
    reg.docs.add(
        m(
            "write_csv",
            "t.write_csv(path: string)",
            "Writes the table as CSV (TSV when the path ends in .tsv or .txt), atomically.",
        )
        .example(
            "let sites = simulate_atac(#{n_cells: 20, n_peaks: 100}).sites;\nsites.write_csv(out_path(\"sites.tsv\"));",
        ),
    );
    let host = reg.host.clone();
    reg.engine.register_fn("write_csv", move |t: &mut Table, path: &str| -> ScriptResult<()> {
        let sep = if path.ends_with(".tsv") || path.ends_with(".txt") { '\t' } else { ',' };
        write_from_rank_zero(&host, "write_csv", "path", path, || {
            write_output("write_csv", Path::new(path), t.to_delimited(sep).as_bytes())
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_and_delimited_text() {
        let t = Table::new(
            "hits",
            vec![
                ("motif".into(), Column::Text(vec!["CTCF".into(), "a,b".into()])),
                ("p".into(), Column::Float(vec![1.5e-5, 0.25])),
                ("n".into(), Column::Int(vec![3, 4])),
            ],
        );
        assert_eq!(t.summary(), "hits (2 rows × 3 columns)");
        let text = t.preview_text(10);
        assert!(text.contains("CTCF") && text.contains("1.500e-5"), "{text}");
        assert_eq!(t.to_delimited(','), "motif,p,n\nCTCF,0.000015,3\n\"a,b\",0.25,4\n");
        assert!(t.preview_html(1).contains("<td>CTCF</td>") && !t.preview_html(1).contains("a,b"));
        assert_eq!(t.select(&[1]).n_rows(), 1);
    }
}
