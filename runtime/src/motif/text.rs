//! Small line-oriented helpers shared by the format parsers (crate-private).

use std::io::Read;

use crate::motif::error::{parse_error, MotifError, ParseErrorKind, ROW_SUM_TOLERANCE};

/// All of `reader` as UTF-8 text (the parsers look ahead across lines, and motif files are small). A failed read
/// or bytes that are not UTF-8 give [`MotifError::Io`] naming `source`.
pub(crate) fn read_text(mut reader: impl Read, source: &str) -> Result<String, MotifError> {
    let io = |source_err: std::io::Error| MotifError::Io { file: source.to_string(), source: source_err };
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(io)?;
    String::from_utf8(bytes)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}"))))
}

/// The input split into lines, with a leading byte-order mark removed.
/// Index `i` holds line number `i + 1`.
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    text.strip_prefix('\u{feff}').unwrap_or(text).lines().collect()
}

/// True when no line has any non-whitespace character.
pub(crate) fn is_blank(lines: &[&str]) -> bool {
    lines.iter().all(|l| l.trim().is_empty())
}

/// Parses a finite number (`nan` and `inf` are rejected).
pub(crate) fn number(token: &str, file: &str, line: usize, expected: &'static str) -> Result<f64, MotifError> {
    match token.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(parse_error(file, line, ParseErrorKind::NotANumber { token: token.to_string(), expected })),
    }
}

/// True when `token` parses as a finite number.
pub(crate) fn is_number(token: &str) -> bool {
    token.parse::<f64>().map(|v| v.is_finite()).unwrap_or(false)
}

/// Checks a probability row read from line `line`: exactly four finite,
/// non-negative values summing to 1 within [`ROW_SUM_TOLERANCE`]. Returns
/// the row renormalised to sum to 1.
pub(crate) fn probability_row(
    tokens: &[&str],
    row: &'static str,
    note: &str,
    file: &str,
    line: usize,
) -> Result<[f64; 4], MotifError> {
    if tokens.len() != 4 {
        return Err(parse_error(
            file,
            line,
            ParseErrorKind::RowLength { row, found: tokens.len(), expected: 4, note: note.to_string() },
        ));
    }
    let mut values = [0.0; 4];
    for (v, t) in values.iter_mut().zip(tokens) {
        *v = number(t, file, line, "a probability")?;
    }
    non_negative(&values, "probability", file, line)?;
    let sum: f64 = values.iter().sum();
    if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
        return Err(parse_error(file, line, ParseErrorKind::BadSum { what: "row", sum }));
    }
    Ok(values.map(|v| v / sum))
}

/// Errors on the first negative value.
pub(crate) fn non_negative(values: &[f64], what: &'static str, file: &str, line: usize) -> Result<(), MotifError> {
    match values.iter().find(|v| **v < 0.0) {
        Some(&value) => Err(parse_error(file, line, ParseErrorKind::Negative { value, what })),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_text_names_the_source_on_failure() {
        assert_eq!(read_text(&b"MEME version 4\n"[..], "m").unwrap(), "MEME version 4\n");
        let e = read_text(&b">M\n\xff\n"[..], "<bytes>").unwrap_err();
        assert!(matches!(e, MotifError::Io { .. }));
        assert!(e.to_string().starts_with("<bytes>: not UTF-8 text"), "{e}");
    }

    #[test]
    fn split_lines_strips_bom_and_crlf() {
        let l = split_lines("\u{feff}a\r\nb\n\nc");
        assert_eq!(l, vec!["a", "b", "", "c"]);
        assert!(is_blank(&split_lines(" \n\t\n")));
        assert!(!is_blank(&l));
    }

    #[test]
    fn number_rejects_non_finite() {
        assert_eq!(number("1e-3", "f", 1, "x").unwrap(), 1e-3);
        for bad in ["nan", "inf", "-inf", "0.2x", ""] {
            let e = number(bad, "f", 3, "a count").unwrap_err();
            assert_eq!(e.to_string(), format!("f:3: `{bad}` is not a number, expected a count"));
        }
        assert!(is_number("-0.5"));
        assert!(!is_number("NaN"));
    }

    #[test]
    fn probability_row_checks() {
        let r = probability_row(&["0.5", "0.5", "0.005", "0"], "row", "", "f", 2).unwrap();
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let e = probability_row(&["0.5", "0.5", "0.5"], "letter-probability", " (alength= 4)", "f", 9).unwrap_err();
        assert_eq!(e.to_string(), "f:9: letter-probability row has 3 values, expected 4 (alength= 4)");
        let e = probability_row(&["0.5", "0.6", "-0.1", "0"], "row", "", "f", 4).unwrap_err();
        assert_eq!(e.to_string(), "f:4: negative value -0.1, expected a probability >= 0");
        let e = probability_row(&["0.5", "0.6", "0.1", "0"], "row", "", "f", 5).unwrap_err();
        assert_eq!(e.line(), Some(5));
        assert!(matches!(e.kind(), Some(ParseErrorKind::BadSum { sum, .. }) if (*sum - 1.2).abs() < 1e-12));
    }
}
