//! Label handling: factorising string labels to integer codes and
//! compacting arbitrary integer codes to `0..n_distinct`.

use crate::analysis::error::{AnalysisError, Result};
use std::collections::HashMap;

/// String labels factorised to dense integer codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factorized {
    /// One code per input label, in `0..names.len()`.
    pub codes: Vec<u32>,
    /// The distinct labels; `names[c]` is the label with code `c`.
    /// Codes are assigned in order of first appearance.
    pub names: Vec<String>,
}

/// Factorises string labels to codes `0..n_distinct`, numbered in order of
/// first appearance (`["b", "a", "b"]` becomes `[0, 1, 0]` with names
/// `["b", "a"]`).
pub fn factorize<S: AsRef<str>>(labels: &[S]) -> Factorized {
    let mut map: HashMap<&str, u32> = HashMap::new();
    let mut names = Vec::new();
    let mut codes = Vec::with_capacity(labels.len());
    for label in labels {
        let s = label.as_ref();
        let next = names.len() as u32;
        let code = *map.entry(s).or_insert_with(|| {
            names.push(s.to_string());
            next
        });
        codes.push(code);
    }
    Factorized { codes, names }
}

/// Integer labels compacted to `0..n_classes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compact {
    /// One code per input label, in `0..n_classes`.
    pub codes: Vec<u32>,
    /// Number of distinct labels.
    pub n_classes: usize,
    /// Number of elements carrying each code.
    pub counts: Vec<usize>,
}

/// Compacts arbitrary `u32` labels to `0..n_classes`, preserving the order of
/// the original values (the smallest original value gets code 0), so
/// `[7, 3, 7, 9]` becomes `[1, 0, 1, 2]`.
pub fn compact_labels(labels: &[u32]) -> Compact {
    let mut distinct: Vec<u32> = labels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let max = distinct.last().copied().unwrap_or(0) as usize;
    let mut counts = vec![0usize; distinct.len()];
    let codes: Vec<u32> = if max < 4 * labels.len() + 1024 {
        // Dense lookup table when the values are small.
        let mut table = vec![u32::MAX; max + 1];
        for (c, &v) in distinct.iter().enumerate() {
            table[v as usize] = c as u32;
        }
        labels.iter().map(|&v| table[v as usize]).collect()
    } else {
        labels.iter().map(|v| distinct.binary_search(v).map(|p| p as u32).unwrap_or(0)).collect()
    };
    for &c in &codes {
        counts[c as usize] += 1;
    }
    Compact { codes, n_classes: distinct.len(), counts }
}

/// Checks that two label (or value) vectors have the same length.
pub(crate) fn check_same_len(what_a: &'static str, len_a: usize, what_b: &'static str, len_b: usize) -> Result<()> {
    if len_a != len_b {
        return Err(AnalysisError::LengthMismatch { what_a, len_a, what_b, len_b });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factorize_first_appearance_order() {
        let labels = vec!["T cell".to_string(), "B cell".into(), "T cell".into(), "NK".into()];
        let f = factorize(&labels);
        assert_eq!(f.codes, vec![0, 1, 0, 2]);
        assert_eq!(f.names, vec!["T cell", "B cell", "NK"]);
        let empty: Vec<String> = vec![];
        let f = factorize(&empty);
        assert!(f.codes.is_empty() && f.names.is_empty());
        // &str slices work too.
        let f = factorize(&["x", "x", "y"]);
        assert_eq!(f.codes, vec![0, 0, 1]);
    }

    #[test]
    fn compact_preserves_value_order() {
        let c = compact_labels(&[7, 3, 7, 9]);
        assert_eq!(c.codes, vec![1, 0, 1, 2]);
        assert_eq!(c.n_classes, 3);
        assert_eq!(c.counts, vec![1, 2, 1]);
        // Huge values go through the binary-search path.
        let c = compact_labels(&[u32::MAX, 5, u32::MAX - 1, 5]);
        assert_eq!(c.codes, vec![2, 0, 1, 0]);
        assert_eq!(c.counts, vec![2, 1, 1]);
        let c = compact_labels(&[]);
        assert_eq!(c.n_classes, 0);
    }

    #[test]
    fn same_len_check_reports_both_lengths() {
        assert!(check_same_len("a", 2, "b", 2).is_ok());
        let e = check_same_len("a", 2, "b", 3).unwrap_err();
        assert_eq!(e, AnalysisError::LengthMismatch { what_a: "a", len_a: 2, what_b: "b", len_b: 3 });
    }
}
