//! Cell metadata: barcodes plus named per-cell columns (AnnData `obs`), categorical columns included.

use crate::error::{Result, RuntimeError};

/// One per-cell column.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaColumn {
    /// Codes into `categories`; −1 marks a missing value.
    Categorical {
        codes: Vec<i32>,
        categories: Vec<String>,
    },
    /// Floating-point values (NaN for missing; nullable integers are stored here too).
    Number(Vec<f64>),
    Integer(Vec<i64>),
    Bool(Vec<bool>),
    Text(Vec<String>),
}

impl MetaColumn {
    pub fn len(&self) -> usize {
        match self {
            MetaColumn::Categorical { codes, .. } => codes.len(),
            MetaColumn::Number(v) => v.len(),
            MetaColumn::Integer(v) => v.len(),
            MetaColumn::Bool(v) => v.len(),
            MetaColumn::Text(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A short type name for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            MetaColumn::Categorical { .. } => "categorical",
            MetaColumn::Number(_) => "float",
            MetaColumn::Integer(_) => "int",
            MetaColumn::Bool(_) => "bool",
            MetaColumn::Text(_) => "string",
        }
    }
    /// The value of cell `i` as text (`NA` for a missing categorical value).
    pub fn text(&self, i: usize) -> String {
        match self {
            MetaColumn::Categorical { codes, categories } => {
                if codes[i] < 0 {
                    "NA".into()
                } else {
                    categories[codes[i] as usize].clone()
                }
            }
            MetaColumn::Number(v) => format!("{}", v[i]),
            MetaColumn::Integer(v) => v[i].to_string(),
            MetaColumn::Bool(v) => v[i].to_string(),
            MetaColumn::Text(v) => v[i].clone(),
        }
    }
    /// Every value as text, in cell order.
    pub fn labels(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.text(i)).collect()
    }
    /// Builds a categorical column from labels; categories are sorted, as pandas does.
    pub fn categorical_from(labels: &[String]) -> MetaColumn {
        let mut categories: Vec<String> = labels.to_vec();
        categories.sort();
        categories.dedup();
        let codes = labels.iter().map(|l| categories.binary_search(l).unwrap() as i32).collect();
        MetaColumn::Categorical { codes, categories }
    }
    /// Keeps rows `keep` in that order.
    pub fn select(&self, keep: &[usize]) -> MetaColumn {
        match self {
            MetaColumn::Categorical { codes, categories } => MetaColumn::Categorical {
                codes: keep.iter().map(|&i| codes[i]).collect(),
                categories: categories.clone(),
            },
            MetaColumn::Number(v) => MetaColumn::Number(keep.iter().map(|&i| v[i]).collect()),
            MetaColumn::Integer(v) => MetaColumn::Integer(keep.iter().map(|&i| v[i]).collect()),
            MetaColumn::Bool(v) => MetaColumn::Bool(keep.iter().map(|&i| v[i]).collect()),
            MetaColumn::Text(v) => MetaColumn::Text(keep.iter().map(|&i| v[i].clone()).collect()),
        }
    }
}

/// Barcodes and per-cell columns, all of the same length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CellMeta {
    pub barcodes: Vec<String>,
    pub columns: Vec<(String, MetaColumn)>,
}

impl CellMeta {
    pub fn new(barcodes: Vec<String>) -> CellMeta {
        CellMeta { barcodes, columns: Vec::new() }
    }
    pub fn len(&self) -> usize {
        self.barcodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.barcodes.is_empty()
    }
    pub fn column(&self, name: &str) -> Result<&MetaColumn> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c).ok_or_else(|| {
            let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
            RuntimeError::invalid(
                name,
                if names.is_empty() {
                    "no such cell column: the data has no cell metadata".to_string()
                } else {
                    format!("no such cell column; the data has: {}", names.join(", "))
                },
            )
        })
    }
    /// Adds or replaces a column; its length must match the number of cells.
    pub fn set_column(&mut self, name: &str, column: MetaColumn) -> Result<()> {
        if column.len() != self.len() {
            return Err(RuntimeError::invalid(
                name,
                format!("has {} values but there are {} cells", column.len(), self.len()),
            ));
        }
        match self.columns.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = column,
            None => self.columns.push((name.to_string(), column)),
        }
        Ok(())
    }
    pub fn select(&self, keep: &[usize]) -> CellMeta {
        CellMeta {
            barcodes: keep.iter().map(|&i| self.barcodes[i].clone()).collect(),
            columns: self.columns.iter().map(|(n, c)| (n.clone(), c.select(keep))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_select_and_report_missing_names() {
        let mut m = CellMeta::new(vec!["a".into(), "b".into(), "c".into()]);
        m.set_column("type", MetaColumn::categorical_from(&["T".into(), "B".into(), "T".into()])).unwrap();
        m.set_column("depth", MetaColumn::Number(vec![1.0, 2.0, 3.0])).unwrap();
        assert!(m
            .set_column("x", MetaColumn::Bool(vec![true]))
            .unwrap_err()
            .to_string()
            .contains("has 1 values but there are 3 cells"));
        let s = m.select(&[2, 0]);
        assert_eq!(s.barcodes, vec!["c", "a"]);
        assert_eq!(s.column("type").unwrap().labels(), vec!["T", "T"]);
        let e = m.column("celltype").unwrap_err().to_string();
        assert!(e.contains("the data has: type, depth"), "{e}");
        if let MetaColumn::Categorical { categories, .. } = m.column("type").unwrap() {
            assert_eq!(categories, &vec!["B".to_string(), "T".to_string()]);
        } else {
            panic!("not categorical");
        }
    }
}
