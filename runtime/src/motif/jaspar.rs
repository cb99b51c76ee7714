//! JASPAR count matrices: the bracketed `.jaspar` format and plain `.pfm`
//! files, parsed by [`parse_jaspar`].
//!
//! ```text
//! >MA0004.1 Arnt                 >MA0004.1 Arnt
//! A  [ 4 19  0  0  0  0 ]        4 19  0  0  0  0
//! C  [16  0 20  0  0  0 ]        16 0 20  0  0  0
//! G  [ 0  1  0 20  0 20 ]        0  1  0 20  0 20
//! T  [ 0  0  0  0 20  0 ]        0  0  0  0 20  0
//! ```
//!
//! Each record is a `>` header (id, then an optional name: the rest of the
//! line) followed by exactly four rows of non-negative counts, one per
//! base. Rows are either all labelled (`A`, `C`, `G`, `T` in any order,
//! case-insensitive, brackets optional) or all unlabelled (then in the order
//! A, C, G, T). Counts become probabilities with [`Motif::from_counts`]
//! under a uniform background.

use crate::motif::error::{excerpt, parse_error, MotifError, ParseErrorKind};
use crate::motif::motif::{base_index, Motif, MotifSet, UNIFORM_BACKGROUND};
use crate::motif::text::{is_blank, non_negative, number, read_text, split_lines};

/// Pseudocount used by [`read_motif_file`](crate::motif::read_motif_file) and
/// [`parse_motifs`](crate::motif::parse_motifs) when converting counts to
/// probabilities: none. Columns with a total count of zero become the
/// background distribution.
pub const DEFAULT_COUNT_PSEUDOCOUNT: f64 = 0.0;

struct CountRow {
    label: Option<usize>,
    values: Vec<f64>,
    line: usize,
}

fn malformed(file: &str, line: usize, expected: impl Into<String>, found: impl Into<String>) -> MotifError {
    parse_error(file, line, ParseErrorKind::Malformed { expected: expected.into(), found: found.into() })
}

fn parse_row(text: &str, file: &str, line: usize) -> Result<CountRow, MotifError> {
    let cleaned = text.replace(['[', ']'], " ");
    let mut toks: Vec<&str> = cleaned.split_whitespace().collect();
    let mut label = None;
    if let Some(first) = toks.first() {
        if first.starts_with(|c: char| c.is_ascii_alphabetic()) && !crate::motif::text::is_number(first) {
            let idx = match first.as_bytes() {
                [b] => base_index(*b),
                _ => None,
            };
            match idx {
                Some(i) => label = Some(i),
                None => {
                    return Err(malformed(file, line, "a row label A, C, G or T, or a count", format!("`{first}`")))
                }
            }
            toks.remove(0);
        }
    }
    let mut values = Vec::with_capacity(toks.len());
    for t in toks {
        values.push(number(t, file, line, "a count")?);
    }
    non_negative(&values, "count", file, line)?;
    Ok(CountRow { label, values, line })
}

/// Turns the four rows of one record into a motif.
fn build(
    id: &str,
    name: &str,
    rows: Vec<CountRow>,
    header_line: usize,
    pseudocount: f64,
    file: &str,
) -> Result<Motif, MotifError> {
    if rows.len() != 4 {
        return Err(parse_error(
            file,
            header_line,
            ParseErrorKind::RowCount {
                id: id.to_string(),
                found: rows.len(),
                expected: 4,
                why: "one count row per base A, C, G, T".to_string(),
            },
        ));
    }
    let n_labelled = rows.iter().filter(|r| r.label.is_some()).count();
    let mut order = [usize::MAX; 4]; // order[base] = index into rows
    if n_labelled == 0 {
        order = [0, 1, 2, 3];
    } else {
        for (k, r) in rows.iter().enumerate() {
            let Some(b) = r.label else {
                return Err(malformed(
                    file,
                    r.line,
                    "a row label (A, C, G or T) on every row, as on the other rows",
                    "an unlabelled row",
                ));
            };
            if order[b] != usize::MAX {
                let letter = crate::motif::motif::ALPHABET[b] as char;
                return Err(malformed(file, r.line, "each row label A, C, G, T once", format!("`{letter}` again")));
            }
            order[b] = k;
        }
    }
    let width = rows[0].values.len();
    for r in &rows[1..] {
        if r.values.len() != width {
            return Err(parse_error(
                file,
                r.line,
                ParseErrorKind::RowLength {
                    row: "count",
                    found: r.values.len(),
                    expected: width,
                    note: format!(" (as the first row, line {})", rows[0].line),
                },
            ));
        }
    }
    if width == 0 {
        return Err(parse_error(file, header_line, ParseErrorKind::ZeroWidth { id: id.to_string() }));
    }
    let counts: Vec<[f64; 4]> = (0..width).map(|j| order.map(|k| rows[k].values[j])).collect();
    Motif::from_counts(id, name, &counts, pseudocount, UNIFORM_BACKGROUND)
}

/// Parses JASPAR `.jaspar` (bracketed) or plain `.pfm` count matrices.
///
/// `pseudocount` is the total number of pseudo-sites added per position,
/// spread uniformly over A, C, G, T (see [`Motif::from_counts`]); use
/// [`DEFAULT_COUNT_PSEUDOCOUNT`] for none. `source` names the input in
/// errors; pass [`STRING_SOURCE`](crate::motif::STRING_SOURCE) for a string.
/// An invalid pseudocount gives [`MotifError::Invalid`].
pub fn parse_jaspar(text: &str, source: &str, pseudocount: f64) -> Result<MotifSet, MotifError> {
    if !pseudocount.is_finite() || pseudocount < 0.0 {
        return Err(MotifError::Invalid {
            id: String::new(),
            reason: format!("pseudocount {pseudocount} must be finite and >= 0"),
        });
    }
    let lines = split_lines(text);
    if is_blank(&lines) {
        return Err(parse_error(source, 1, ParseErrorKind::Empty { format: "JASPAR" }));
    }
    let mut set = MotifSet::new(source);
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t.is_empty() {
            i += 1;
            continue;
        }
        let Some(header) = t.strip_prefix('>') else {
            return Err(malformed(source, i + 1, "a `>id name` header line", format!("`{}`", excerpt(t))));
        };
        let header_line = i + 1;
        let header = header.trim();
        let (id, name) = match header.split_once(char::is_whitespace) {
            Some((id, name)) => (id, name.trim()),
            None => (header, ""),
        };
        if id.is_empty() {
            return Err(malformed(source, header_line, "a motif id after `>`", "end of line"));
        }
        i += 1;
        let mut rows = Vec::new();
        while i < lines.len() {
            let u = lines[i].trim();
            if u.starts_with('>') {
                break;
            }
            if !u.is_empty() {
                rows.push(parse_row(u, source, i + 1)?);
            }
            i += 1;
        }
        set.motifs.push(build(id, name, rows, header_line, pseudocount, source)?);
    }
    Ok(set)
}

/// Reads JASPAR `.jaspar` or plain `.pfm` count matrices from `reader` (UTF-8 text), as [`parse_jaspar`] parses
/// them; `source` names the input in errors. Unreadable or non-UTF-8 input gives [`MotifError::Io`].
pub fn read_jaspar(reader: impl std::io::BufRead, source: &str, pseudocount: f64) -> Result<MotifSet, MotifError> {
    parse_jaspar(&read_text(reader, source)?, source, pseudocount)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JASPAR: &str = ">MA0004.1\tArnt
A  [     4     19      0      0      0      0 ]
C  [    16      0     20      0      0      0 ]
G  [     0      1      0     20      0     20 ]
T  [     0      0      0      0     20      0 ]

>MA0006.1 Ahr::Arnt
A  [ 3  0  0  0  0  0 ]
C  [ 8  0 23  0  0  0 ]
G  [ 2 23  0 23  0 24 ]
T  [11  1  1  1 24  0 ]
";

    fn expect_err(text: &str, line: usize, message: &str) {
        let e = parse_jaspar(text, "m.jaspar", 0.0).unwrap_err();
        assert_eq!(e.line(), Some(line), "{e}");
        assert_eq!(e.to_string(), format!("m.jaspar:{line}: {message}"));
    }

    #[test]
    fn parses_bracketed_jaspar() {
        let set = parse_jaspar(JASPAR, "m.jaspar", DEFAULT_COUNT_PSEUDOCOUNT).unwrap();
        assert_eq!(set.len(), 2);
        let a = &set.motifs[0];
        assert_eq!((a.id.as_str(), a.name.as_str()), ("MA0004.1", "Arnt"));
        assert_eq!(a.width(), 6);
        assert_eq!(a.ppm[0], [0.2, 0.8, 0.0, 0.0]);
        assert_eq!(a.ppm[1], [0.95, 0.0, 0.05, 0.0]);
        assert_eq!(a.consensus(), "CACGTG");
        assert_eq!(a.n_sites, Some(20.0));
        let b = &set.motifs[1];
        assert_eq!(b.name, "Ahr::Arnt");
        let want = [3.0 / 24.0, 8.0 / 24.0, 2.0 / 24.0, 11.0 / 24.0];
        for (got, want) in b.ppm[0].iter().zip(want) {
            assert!((got - want).abs() < 1e-15);
        }
        assert_eq!(b.consensus(), "TGCGTG");
    }

    #[test]
    fn parses_plain_pfm_and_labels_in_any_order() {
        let pfm = ">X1 plain\n4 19\n16 0\n0 1\n0 0\n";
        let m = &parse_jaspar(pfm, "p.pfm", 0.0).unwrap().motifs[0];
        assert_eq!(m.ppm, vec![[0.2, 0.8, 0.0, 0.0], [0.95, 0.0, 0.05, 0.0]]);
        let shuffled = ">X1\nt 0 0\ng [0 1]\nA[4 19]\nc 16 0\n";
        let m2 = &parse_jaspar(shuffled, "p.pfm", 0.0).unwrap().motifs[0];
        assert_eq!(m2.ppm, m.ppm);
        assert_eq!(m2.name, "");
    }

    #[test]
    fn pseudocount_and_empty_columns() {
        let pfm = ">Z\nA 2 0\nC 0 0\nG 0 0\nT 2 0\n";
        let m = &parse_jaspar(pfm, "p", 0.0).unwrap().motifs[0];
        assert_eq!(m.ppm[0], [0.5, 0.0, 0.0, 0.5]);
        assert_eq!(m.ppm[1], UNIFORM_BACKGROUND);
        let m = &parse_jaspar(pfm, "p", 4.0).unwrap().motifs[0];
        // (2 + 1) / 8 and (0 + 1) / 8.
        assert_eq!(m.ppm[0], [0.375, 0.125, 0.125, 0.375]);
        assert!(matches!(parse_jaspar(pfm, "p", -1.0), Err(MotifError::Invalid { .. })));
    }

    #[test]
    fn error_empty_and_missing_header() {
        expect_err("\n \n", 1, "empty input, expected JASPAR motifs");
        expect_err("\nA [1 2]\n", 2, "expected a `>id name` header line, found `A [1 2]`");
        expect_err(">\nA 1\nC 1\nG 1\nT 1\n", 1, "expected a motif id after `>`, found end of line");
    }

    #[test]
    fn error_wrong_row_count() {
        expect_err(
            ">M1 x\nA 1 2\nC 1 2\nG 1 2\n>M2\n",
            1,
            "motif M1: matrix has 3 rows, expected 4 (one count row per base A, C, G, T)",
        );
        expect_err(
            ">M1 x\n1 2\n1 2\n1 2\n1 2\n1 2\n",
            1,
            "motif M1: matrix has 5 rows, expected 4 (one count row per base A, C, G, T)",
        );
    }

    #[test]
    fn error_unequal_rows() {
        expect_err(
            ">M1\nA [1 2 3]\nC [1 2]\nG [1 2 3]\nT [1 2 3]\n",
            3,
            "count row has 2 values, expected 3 (as the first row, line 2)",
        );
    }

    #[test]
    fn error_bad_values() {
        expect_err(">M1\nA [1 2]\nC [1 x]\nG [1 2]\nT [1 2]\n", 3, "`x` is not a number, expected a count");
        expect_err(">M1\nA [1 2]\nC [1 -2]\nG [1 2]\nT [1 2]\n", 3, "negative value -2, expected a count >= 0");
        expect_err(
            ">M1\nA [1 2]\nC [1 2]\nN [1 2]\nT [1 2]\n",
            4,
            "expected a row label A, C, G or T, or a count, found `N`",
        );
    }

    #[test]
    fn error_bad_labels() {
        expect_err(">M1\nA 1\nC 1\nC 1\nT 1\n", 4, "expected each row label A, C, G, T once, found `C` again");
        expect_err(
            ">M1\nA 1\nC 1\n1\nT 1\n",
            4,
            "expected a row label (A, C, G or T) on every row, as on the other rows, found an unlabelled row",
        );
    }

    #[test]
    fn error_zero_width() {
        expect_err(">M1\nA [ ]\nC [ ]\nG [ ]\nT [ ]\n", 1, "motif M1 has width 0, expected at least one position");
    }

    #[test]
    fn reads_jaspar_from_any_bufread() {
        let set = read_jaspar(JASPAR.as_bytes(), "<bytes>", 0.0).unwrap();
        assert_eq!(set.source, "<bytes>");
        assert_eq!(set.motifs, parse_jaspar(JASPAR, "m.jaspar", 0.0).unwrap().motifs);
        let pfm =
            read_jaspar(std::io::Cursor::new(">X1 plain\r\n4 19\r\n16 0\r\n0 1\r\n0 0\r\n"), "<bytes>", 0.0).unwrap();
        assert_eq!(pfm.motifs[0].ppm, vec![[0.2, 0.8, 0.0, 0.0], [0.95, 0.0, 0.05, 0.0]]);
    }

    #[test]
    fn broken_jaspar_bytes_name_the_source_and_line() {
        let cases: [(&[u8], &str); 3] = [
            (
                b">M1\nA [1 2]\nC [1 2]\nG [1 2 3]\nT [1 2]\n",
                "<bytes>:4: count row has 3 values, expected 2 (as the first row, line 2)",
            ),
            (b">M1\nA [1 2]\nC [1 2]\nG [1 2]\nT [1 inf]\n", "<bytes>:5: `inf` is not a number, expected a count"),
            (
                b">M1\nA 1\nC 1\nG 1\n\n>M2\nA 1\n",
                "<bytes>:1: motif M1: matrix has 3 rows, expected 4 (one count row per base A, C, G, T)",
            ),
        ];
        for (bytes, expected) in cases {
            let e = read_jaspar(bytes, "<bytes>", 0.0).unwrap_err().to_string();
            assert_eq!(e, expected, "{:?}", String::from_utf8_lossy(bytes));
        }
        let e = read_jaspar(&b">M1\nA [\xe9]\n"[..], "<bytes>", 0.0).unwrap_err();
        assert!(matches!(e, MotifError::Io { .. }) && e.to_string().starts_with("<bytes>: not UTF-8"), "{e}");
    }
}
