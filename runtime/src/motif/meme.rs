//! MEME "minimal" motif format, as exported by JASPAR, HOCOMOCO and the
//! MEME suite motif databases: parser ([`parse_meme`]) and writer
//! ([`write_meme`]).
//!
//! Accepted layout (blank lines anywhere; unknown lines between sections,
//! such as free text, are ignored):
//!
//! ```text
//! MEME version 4
//! ALPHABET= ACGT                      (optional; only ACGT is accepted)
//! strands: + -                        (optional)
//! Background letter frequencies       (optional; uniform when absent)
//! A 0.29 C 0.21 G 0.21 T 0.29         (may wrap over several lines)
//! MOTIF MA0004.1 Arnt                 (id, optional alternate name)
//! letter-probability matrix: alength= 4 w= 6 nsites= 20 E= 0
//!  0.200000 0.800000 0.000000 0.000000
//!  ...                                (w rows of 4 probabilities)
//! URL http://...                      (optional, ignored)
//! ```
//!
//! `alength=`, `w=` and `nsites=` are optional; without `w=` the rows are
//! counted. Rows must sum to 1 within 0.01 and are renormalised. A
//! `log-odds matrix:` section, if present, is skipped. The background
//! applies to every motif that follows it. Duplicate ids are kept.

use std::fmt::Write as _;

use crate::motif::error::{excerpt, parse_error, MotifError, ParseErrorKind, ROW_SUM_TOLERANCE};
use crate::motif::motif::{Motif, MotifSet, ALPHABET, UNIFORM_BACKGROUND};
use crate::motif::text::{is_blank, is_number, non_negative, number, probability_row, read_text, split_lines};

const ROW_NOTE: &str = " (alength= 4)";

fn first_token(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// Lines that end a block of matrix rows.
fn is_keyword(first: &str) -> bool {
    matches!(first, "MOTIF" | "URL" | "letter-probability" | "log-odds" | "Background" | "MEME" | "strands:")
        || first.starts_with("ALPHABET")
}

fn malformed(file: &str, line: usize, expected: impl Into<String>, found: impl Into<String>) -> MotifError {
    parse_error(file, line, ParseErrorKind::Malformed { expected: expected.into(), found: found.into() })
}

/// Parses a MEME minimal-format motif file held in `text`. `source` names
/// the input in error messages and in [`MotifSet::source`]; pass
/// [`STRING_SOURCE`](crate::motif::STRING_SOURCE) for in-memory text.
pub fn parse_meme(text: &str, source: &str) -> Result<MotifSet, MotifError> {
    let lines = split_lines(text);
    if is_blank(&lines) {
        return Err(parse_error(source, 1, ParseErrorKind::Empty { format: "MEME" }));
    }
    let mut have_version = false;
    let mut background = UNIFORM_BACKGROUND;
    let mut set = MotifSet::new(source);
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let t = lines[i].trim();
        let first = first_token(t);
        if t.is_empty() {
            i += 1;
            continue;
        }
        if !have_version {
            if first != "MEME" {
                return Err(parse_error(source, line_no, ParseErrorKind::MissingMemeHeader { found: excerpt(t) }));
            }
            let toks: Vec<&str> = t.split_whitespace().collect();
            let version_ok = toks.get(1) == Some(&"version")
                && toks.get(2).is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()));
            if !version_ok {
                return Err(malformed(source, line_no, "`MEME version <n>`", format!("`{}`", excerpt(t))));
            }
            have_version = true;
            i += 1;
            continue;
        }
        if first.starts_with("ALPHABET") {
            check_alphabet(t, source, line_no)?;
            i += 1;
        } else if first == "strands:" {
            let toks: Vec<&str> = t.split_whitespace().skip(1).collect();
            if toks.is_empty() || toks.len() > 2 || toks.iter().any(|s| *s != "+" && *s != "-") {
                return Err(malformed(source, line_no, "`strands: + -`", format!("`{}`", excerpt(t))));
            }
            i += 1;
        } else if t.starts_with("Background letter frequencies") {
            let (bg, next) = parse_background(&lines, i, source)?;
            background = bg;
            i = next;
        } else if first == "MOTIF" {
            let (motif, next) = parse_motif(&lines, i, background, source)?;
            set.motifs.push(motif);
            i = next;
        } else {
            i += 1;
        }
    }
    if !have_version {
        // Only reachable when every line was blank, handled above.
        return Err(parse_error(source, 1, ParseErrorKind::Empty { format: "MEME" }));
    }
    if set.motifs.is_empty() {
        return Err(parse_error(source, lines.len(), ParseErrorKind::NoMotifs { expected: "`MOTIF` line" }));
    }
    Ok(set)
}

fn check_alphabet(t: &str, file: &str, line: usize) -> Result<(), MotifError> {
    let rest = t["ALPHABET".len()..].trim_start();
    let value = match rest.strip_prefix('=') {
        Some(v) => v.trim(),
        None => rest,
    };
    if rest.starts_with('=') && value == "ACGT" {
        Ok(())
    } else {
        Err(parse_error(file, line, ParseErrorKind::UnsupportedAlphabet { found: excerpt(value) }))
    }
}

/// Parses the background starting at the header line `start`; returns it
/// (renormalised) and the index of the first line after it.
fn parse_background(lines: &[&str], start: usize, file: &str) -> Result<([f64; 4], usize), MotifError> {
    let expected = "background frequencies `A p C p G p T p`";
    let mut tokens: Vec<(&str, usize)> = Vec::new();
    let mut j = start + 1;
    while tokens.len() < 8 {
        let Some(line) = lines.get(j) else {
            return Err(malformed(file, start + 1, expected, "end of input"));
        };
        let t = line.trim();
        if !t.is_empty() {
            if is_keyword(first_token(t)) {
                return Err(malformed(file, j + 1, expected, format!("`{}`", excerpt(t))));
            }
            tokens.extend(t.split_whitespace().map(|s| (s, j + 1)));
        }
        j += 1;
    }
    if tokens.len() > 8 {
        let (tok, line) = tokens[8];
        return Err(malformed(file, line, "only 4 background frequencies (A, C, G, T)", format!("extra `{tok}`")));
    }
    let mut bg = [f64::NAN; 4];
    for pair in tokens.chunks(2) {
        let (letter, line) = pair[0];
        let (value, vline) = pair[1];
        let idx = match letter.as_bytes() {
            [b] => ALPHABET.iter().position(|a| a == b),
            _ => None,
        };
        let Some(idx) = idx else {
            return Err(malformed(file, line, "a background letter A, C, G or T", format!("`{letter}`")));
        };
        if !bg[idx].is_nan() {
            return Err(malformed(file, line, "each background letter once", format!("`{letter}` again")));
        }
        let v = number(value, file, vline, "a background frequency")?;
        non_negative(&[v], "probability", file, vline)?;
        if v == 0.0 {
            return Err(malformed(file, vline, "a background frequency > 0", format!("{letter} {value}")));
        }
        bg[idx] = v;
    }
    let sum: f64 = bg.iter().sum();
    if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
        return Err(parse_error(file, start + 2, ParseErrorKind::BadSum { what: "background", sum }));
    }
    Ok((bg.map(|v| v / sum), j))
}

/// Parses one motif whose `MOTIF` line is at index `start`; returns it and
/// the index of the first line after its matrix.
fn parse_motif(lines: &[&str], start: usize, background: [f64; 4], file: &str) -> Result<(Motif, usize), MotifError> {
    let t = lines[start].trim();
    let toks: Vec<&str> = t.split_whitespace().collect();
    let Some(&id) = toks.get(1) else {
        return Err(malformed(file, start + 1, "a motif id after `MOTIF`", "end of line"));
    };
    let name = toks[2..].join(" ");
    let want = format!("a `letter-probability matrix:` line for motif {id}");
    let mut j = start + 1;
    loop {
        let Some(line) = lines.get(j) else {
            return Err(malformed(file, start + 1, want, "end of input"));
        };
        let u = line.trim();
        let f = first_token(u);
        if u.starts_with("letter-probability matrix") {
            break;
        } else if u.starts_with("log-odds matrix") {
            j += 1;
            while j < lines.len() && is_number(first_token(lines[j])) {
                j += 1;
            }
        } else if f == "MOTIF" || is_number(f) {
            return Err(malformed(file, j + 1, want, format!("`{}`", excerpt(u))));
        } else {
            j += 1;
        }
    }
    parse_matrix(lines, j, id, name, background, file)
}

/// Key/value pairs of a `letter-probability matrix:` header line.
fn header_values<'a>(header: &'a str, file: &str, line: usize) -> Result<Vec<(&'a str, &'a str)>, MotifError> {
    let after = header.split_once(':').map(|x| x.1).unwrap_or("");
    let toks: Vec<&str> = after.split_whitespace().collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        let tok = toks[k];
        k += 1;
        if let Some(key) = tok.strip_suffix('=') {
            let Some(&value) = toks.get(k) else {
                return Err(malformed(file, line, format!("a value after `{tok}`"), "end of line"));
            };
            k += 1;
            out.push((key, value));
        } else if let Some((key, value)) = tok.split_once('=') {
            out.push((key, value));
        }
    }
    Ok(out)
}

fn parse_matrix(
    lines: &[&str],
    header_idx: usize,
    id: &str,
    name: String,
    background: [f64; 4],
    file: &str,
) -> Result<(Motif, usize), MotifError> {
    let header_line = header_idx + 1;
    let mut width: Option<usize> = None;
    let mut n_sites: Option<f64> = None;
    for (key, value) in header_values(lines[header_idx].trim(), file, header_line)? {
        match key {
            "alength" if value != "4" => {
                return Err(parse_error(
                    file,
                    header_line,
                    ParseErrorKind::WrongAlphabetLength { found: value.to_string() },
                ));
            }
            "w" => match value.parse::<usize>() {
                Ok(0) => return Err(parse_error(file, header_line, ParseErrorKind::ZeroWidth { id: id.to_string() })),
                Ok(w) => width = Some(w),
                Err(_) => {
                    return Err(parse_error(
                        file,
                        header_line,
                        ParseErrorKind::NotANumber {
                            token: value.to_string(),
                            expected: "a motif width (w= <positive integer>)",
                        },
                    ))
                }
            },
            "nsites" => {
                let n = number(value, file, header_line, "a site count (nsites=)")?;
                non_negative(&[n], "count", file, header_line)?;
                n_sites = Some(n);
            }
            _ => {}
        }
    }

    let mut rows: Vec<[f64; 4]> = Vec::new();
    let mut k = header_idx + 1;
    while k < lines.len() && width != Some(rows.len()) {
        let u = lines[k].trim();
        let f = first_token(u);
        if u.is_empty() {
            if width.is_none() && !rows.is_empty() {
                break;
            }
            k += 1;
            continue;
        }
        let is_row = match width {
            Some(_) => !is_keyword(f),
            None => is_number(f),
        };
        if !is_row {
            break;
        }
        let toks: Vec<&str> = u.split_whitespace().collect();
        rows.push(probability_row(&toks, "letter-probability", ROW_NOTE, file, k + 1)?);
        k += 1;
    }
    if let Some(w) = width {
        let mut found = rows.len();
        if found == w {
            // Extra numeric rows right after the matrix mean `w=` is wrong.
            let mut m = k;
            while m < lines.len() && lines[m].trim().is_empty() {
                m += 1;
            }
            while m < lines.len() && is_number(first_token(lines[m])) {
                found += 1;
                m += 1;
            }
        }
        if found != w {
            return Err(parse_error(
                file,
                header_line,
                ParseErrorKind::RowCount { id: id.to_string(), found, expected: w, why: format!("w= {w}") },
            ));
        }
    }
    if rows.is_empty() {
        return Err(parse_error(file, header_line, ParseErrorKind::ZeroWidth { id: id.to_string() }));
    }
    let motif = Motif { id: id.to_string(), name, ppm: rows, background, n_sites };
    Ok((motif, k))
}

/// Reads a MEME minimal-format motif file from `reader` (UTF-8 text); `source` names the input in error messages
/// and in [`MotifSet::source`]. Unreadable or non-UTF-8 input gives [`MotifError::Io`].
pub fn read_meme(reader: impl std::io::BufRead, source: &str) -> Result<MotifSet, MotifError> {
    parse_meme(&read_text(reader, source)?, source)
}

/// Writes `set` in MEME minimal format (version 4, `ALPHABET= ACGT`,
/// `strands: + -`).
///
/// A MEME file has a single background, so the background written is that
/// of the first motif (uniform for an empty set); motifs with a different
/// background lose it. Probabilities are written with Rust's shortest
/// round-trip formatting, so parsing the output gives back the same numbers.
/// Whitespace inside an id is replaced by `_` (MEME ids are one token);
/// `nsites=` is written only when known.
pub fn write_meme(set: &MotifSet) -> String {
    let bg = set.motifs.first().map_or(UNIFORM_BACKGROUND, |m| m.background);
    let mut out = String::new();
    out.push_str("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n");
    out.push_str("Background letter frequencies\n");
    let _ = writeln!(out, "A {} C {} G {} T {}\n", bg[0], bg[1], bg[2], bg[3]);
    for m in &set.motifs {
        let id: String = m.id.split_whitespace().collect::<Vec<_>>().join("_");
        let name = m.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            let _ = writeln!(out, "MOTIF {id}");
        } else {
            let _ = writeln!(out, "MOTIF {id} {name}");
        }
        let _ = write!(out, "letter-probability matrix: alength= 4 w= {}", m.width());
        if let Some(n) = m.n_sites {
            let _ = write!(out, " nsites= {n}");
        }
        out.push_str(" E= 0\n");
        for r in &m.ppm {
            let _ = writeln!(out, " {} {} {} {}", r[0], r[1], r[2], r[3]);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[path = "meme_tests.rs"]
mod tests;
