//! Error type shared by the motif parsers, the motif constructors and the
//! scanner.
//!
//! Every parse error carries the name of the input (a file path, or
//! [`STRING_SOURCE`] when parsing an in-memory string), the 1-based line
//! number, and a [`ParseErrorKind`] saying what was found and what was
//! expected. Its `Display` reads like a compiler diagnostic:
//!
//! ```text
//! motifs.meme:12: letter-probability row has 3 values, expected 4 (alength= 4)
//! ```

use thiserror::Error;

/// Name used in error messages when the input is a string, not a file.
pub const STRING_SOURCE: &str = "<string>";

/// Tolerance on the sum of a probability row (or a background) read from a
/// file: rows summing to within this distance of 1 are renormalised, rows
/// further away are an error.
pub const ROW_SUM_TOLERANCE: f64 = 0.01;

/// Everything that can go wrong while reading, building or scanning motifs.
#[derive(Debug, Error)]
pub enum MotifError {
    /// A motif file (or string) is malformed.
    #[error("{file}:{line}: {kind}")]
    Parse {
        /// The file path as given, or [`STRING_SOURCE`].
        file: String,
        /// 1-based line number of the offending line.
        line: usize,
        /// What was wrong.
        kind: ParseErrorKind,
    },
    /// The file could not be read or decompressed.
    #[error("{file}: {source}")]
    Io {
        /// The file path as given.
        file: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A motif built in memory (not parsed from a file) is invalid, or an
    /// argument such as a pseudocount is out of range.
    #[error("motif `{id}`: {reason}")]
    Invalid {
        /// Id of the motif concerned (may be empty if the id itself is bad).
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl MotifError {
    /// The 1-based line number of a parse error, `None` for other errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            MotifError::Parse { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The file name of a parse or I/O error, `None` for in-memory errors.
    pub fn file(&self) -> Option<&str> {
        match self {
            MotifError::Parse { file, .. } | MotifError::Io { file, .. } => Some(file),
            MotifError::Invalid { .. } => None,
        }
    }

    /// The kind of a parse error, `None` for other errors.
    pub fn kind(&self) -> Option<&ParseErrorKind> {
        match self {
            MotifError::Parse { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// What went wrong on a given line of a motif file.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ParseErrorKind {
    /// The input has no non-blank lines.
    #[error("empty input, expected {format} motifs")]
    Empty {
        /// Name of the format being parsed ("MEME", "JASPAR", "HOMER").
        format: &'static str,
    },
    /// The input has content but not a single motif.
    #[error("no motifs found, expected at least one {expected}")]
    NoMotifs {
        /// The line that starts a motif in this format.
        expected: &'static str,
    },
    /// A MEME file does not start with `MEME version <n>`.
    #[error("missing MEME header: expected `MEME version <n>` before any motif, found `{found}`")]
    MissingMemeHeader {
        /// The (trimmed, possibly shortened) line found instead.
        found: String,
    },
    /// The MEME alphabet is not DNA `ACGT`.
    #[error("unsupported alphabet `{found}`, expected `ALPHABET= ACGT`")]
    UnsupportedAlphabet {
        /// The alphabet text found.
        found: String,
    },
    /// A matrix declares an alphabet length other than 4.
    #[error("alength= {found}, expected alength= 4 (DNA ACGT)")]
    WrongAlphabetLength {
        /// The declared alphabet length.
        found: String,
    },
    /// A matrix row has the wrong number of values.
    #[error("{row} row has {found} values, expected {expected}{note}")]
    RowLength {
        /// What kind of row ("letter-probability", "count", "probability").
        row: &'static str,
        /// Number of values found.
        found: usize,
        /// Number of values expected.
        expected: usize,
        /// Extra context such as " (alength= 4)", may be empty.
        note: String,
    },
    /// A matrix has the wrong number of rows.
    #[error("motif {id}: matrix has {found} rows, expected {expected} ({why})")]
    RowCount {
        /// Motif id.
        id: String,
        /// Rows found.
        found: usize,
        /// Rows expected.
        expected: usize,
        /// Where the expectation comes from, e.g. "w= 9".
        why: String,
    },
    /// A token that should be a finite number is not.
    #[error("`{token}` is not a number, expected {expected}")]
    NotANumber {
        /// The offending token.
        token: String,
        /// What the number should have been.
        expected: &'static str,
    },
    /// A probability or count is negative.
    #[error("negative value {value}, expected a {what} >= 0")]
    Negative {
        /// The value found.
        value: f64,
        /// "probability" or "count".
        what: &'static str,
    },
    /// A probability row (or background) does not sum to 1.
    #[error("{what} sums to {sum}, expected 1 (tolerance 0.01)")]
    BadSum {
        /// "row" or "background".
        what: &'static str,
        /// The sum found.
        sum: f64,
    },
    /// A motif has no positions.
    #[error("motif {id} has width 0, expected at least one position")]
    ZeroWidth {
        /// Motif id.
        id: String,
    },
    /// Any other structural problem: `expected` describes what should have
    /// been there and `found` what was.
    #[error("expected {expected}, found {found}")]
    Malformed {
        /// What the parser expected.
        expected: String,
        /// What it found.
        found: String,
    },
    /// The format of the input could not be determined.
    #[error("cannot detect motif format, expected a MEME (`MEME version`), JASPAR/PFM or HOMER (`>` header) file")]
    UnknownFormat,
}

/// Shorthand used by the parsers.
pub(crate) fn parse_error(file: &str, line: usize, kind: ParseErrorKind) -> MotifError {
    MotifError::Parse { file: file.to_string(), line, kind }
}

/// Shortens a line for inclusion in an error message.
pub(crate) fn excerpt(line: &str) -> String {
    const MAX: usize = 60;
    let t = line.trim();
    if t.chars().count() <= MAX {
        t.to_string()
    } else {
        let cut: String = t.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_and_line() {
        let e = parse_error(
            "motifs.meme",
            12,
            ParseErrorKind::RowLength {
                row: "letter-probability",
                found: 3,
                expected: 4,
                note: " (alength= 4)".into(),
            },
        );
        assert_eq!(e.to_string(), "motifs.meme:12: letter-probability row has 3 values, expected 4 (alength= 4)");
        assert_eq!(e.line(), Some(12));
        assert_eq!(e.file(), Some("motifs.meme"));
    }

    #[test]
    fn excerpt_shortens_long_lines() {
        let long = "x".repeat(100);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), 63);
        assert!(e.ends_with("..."));
        assert_eq!(excerpt("  short  "), "short");
    }

    #[test]
    fn io_error_names_file() {
        let e = MotifError::Io {
            file: "a/b.meme".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(e.to_string(), "a/b.meme: gone");
        assert_eq!(e.line(), None);
    }
}
