//! HOMER `.motif` files, parsed by [`parse_homer`].
//!
//! ```text
//! >ASTTCCTCTT<TAB>PU.1(ETS)/ThioMac-PU.1-ChIP-Seq(GSE21512)/Homer<TAB>6.049537<TAB>...
//! 0.726  0.002  0.170  0.103
//! ...                                  (one row of 4 probabilities per position)
//! ```
//!
//! The header's fields are tab-separated (whitespace-separated if it has no
//! tab): consensus, motif name, log-odds detection threshold, then
//! statistics. The motif's [`id`](Motif::id) is the full HOMER name
//! (second field) and its [`name`](Motif::name) is that name up to the
//! first `/` (e.g. `PU.1(ETS)`); a header with only a consensus uses it for
//! both. The threshold and statistics are not kept. Rows must hold four
//! probabilities summing to 1 within 0.01; they are renormalised. HOMER
//! files carry no background, so it is uniform.

use crate::motif::error::{excerpt, parse_error, MotifError, ParseErrorKind};
use crate::motif::motif::{Motif, MotifSet, UNIFORM_BACKGROUND};
use crate::motif::text::{is_blank, probability_row, read_text, split_lines};

/// Parses a HOMER `.motif` file (one or more motifs). `source` names the
/// input in errors; pass [`STRING_SOURCE`](crate::motif::STRING_SOURCE) for a
/// string.
pub fn parse_homer(text: &str, source: &str) -> Result<MotifSet, MotifError> {
    let lines = split_lines(text);
    if is_blank(&lines) {
        return Err(parse_error(source, 1, ParseErrorKind::Empty { format: "HOMER" }));
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
            return Err(parse_error(
                source,
                i + 1,
                ParseErrorKind::Malformed {
                    expected: "a `>consensus<TAB>name<TAB>threshold` header line".into(),
                    found: format!("`{}`", excerpt(t)),
                },
            ));
        };
        let header_line = i + 1;
        let fields: Vec<&str> = if header.contains('\t') {
            header.split('\t').map(str::trim).collect()
        } else {
            header.split_whitespace().collect()
        };
        let consensus = fields.first().copied().unwrap_or("");
        let full_name = fields.get(1).copied().filter(|s| !s.is_empty()).unwrap_or(consensus);
        if full_name.is_empty() {
            return Err(parse_error(
                source,
                header_line,
                ParseErrorKind::Malformed {
                    expected: "a consensus or motif name after `>`".into(),
                    found: "end of line".into(),
                },
            ));
        }
        let short = full_name.split('/').next().unwrap_or(full_name);
        i += 1;
        let mut ppm = Vec::new();
        while i < lines.len() {
            let u = lines[i].trim();
            if u.starts_with('>') {
                break;
            }
            if !u.is_empty() {
                let toks: Vec<&str> = u.split_whitespace().collect();
                ppm.push(probability_row(&toks, "probability", "", source, i + 1)?);
            }
            i += 1;
        }
        if ppm.is_empty() {
            return Err(parse_error(source, header_line, ParseErrorKind::ZeroWidth { id: full_name.to_string() }));
        }
        set.motifs.push(Motif {
            id: full_name.to_string(),
            name: short.to_string(),
            ppm,
            background: UNIFORM_BACKGROUND,
            n_sites: None,
        });
    }
    Ok(set)
}

/// Reads a HOMER `.motif` file from `reader` (UTF-8 text); `source` names the input in errors. Unreadable or
/// non-UTF-8 input gives [`MotifError::Io`].
pub fn read_homer(reader: impl std::io::BufRead, source: &str) -> Result<MotifSet, MotifError> {
    parse_homer(&read_text(reader, source)?, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOMER: &str =
        ">ASTTCCTCTT\tPU.1(ETS)/ThioMac-PU.1-ChIP-Seq(GSE21512)/Homer\t6.049537\t-1.233915e+03\t0\tT:17311.0(44.02%)
0.726\t0.002\t0.170\t0.103
0.002\t0.494\t0.002\t0.502
0.001\t0.001\t0.001\t0.997
>GGAA short
0 0 1 0
0 0 1 0
1 0 0 0
1 0 0 0
";

    fn expect_err(text: &str, line: usize, message: &str) {
        let e = parse_homer(text, "k.motif").unwrap_err();
        assert_eq!(e.line(), Some(line), "{e}");
        assert_eq!(e.to_string(), format!("k.motif:{line}: {message}"));
    }

    #[test]
    fn parses_homer_motifs() {
        let set = parse_homer(HOMER, "k.motif").unwrap();
        assert_eq!(set.len(), 2);
        let a = &set.motifs[0];
        assert_eq!(a.id, "PU.1(ETS)/ThioMac-PU.1-ChIP-Seq(GSE21512)/Homer");
        assert_eq!(a.name, "PU.1(ETS)");
        assert_eq!(a.width(), 3);
        // First row sums to 1.001 and is renormalised.
        assert!((a.ppm[0][0] - 0.726 / 1.001).abs() < 1e-15);
        assert!((a.ppm[0].iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert_eq!(a.consensus(), "ATT");
        assert!(a.validate().is_ok());
        let b = &set.motifs[1];
        assert_eq!((b.id.as_str(), b.name.as_str()), ("short", "short"));
        assert_eq!(b.consensus(), "GGAA");
        assert_eq!(set.get("pu.1(ets)").unwrap().width(), 3);
    }

    #[test]
    fn header_with_only_consensus() {
        let set = parse_homer(">ACGT\n1 0 0 0\n", "k").unwrap();
        assert_eq!(set.motifs[0].id, "ACGT");
        assert_eq!(set.motifs[0].name, "ACGT");
    }

    #[test]
    fn errors() {
        expect_err("", 1, "empty input, expected HOMER motifs");
        expect_err(
            "0.25 0.25 0.25 0.25\n",
            1,
            "expected a `>consensus<TAB>name<TAB>threshold` header line, found `0.25 0.25 0.25 0.25`",
        );
        expect_err(">\n1 0 0 0\n", 1, "expected a consensus or motif name after `>`, found end of line");
        expect_err(">A\tn\t5\n1 0 0\n", 2, "probability row has 3 values, expected 4");
        expect_err(">A\tn\t5\n1 0 0 0\n0.5 0.5 0.5 x\n", 3, "`x` is not a number, expected a probability");
        expect_err(">A\tn\t5\n1.5 -0.5 0 0\n", 2, "negative value -0.5, expected a probability >= 0");
        expect_err(">A\tn\t5\n0.5 0.3 0 0\n", 2, "row sums to 0.8, expected 1 (tolerance 0.01)");
        expect_err(">A\tn\t5\n\n>B\tm\t5\n1 0 0 0\n", 1, "motif n has width 0, expected at least one position");
    }

    #[test]
    fn reads_homer_from_any_bufread() {
        let set = read_homer(HOMER.as_bytes(), "<bytes>").unwrap();
        assert_eq!(set.source, "<bytes>");
        assert_eq!(set.motifs, parse_homer(HOMER, "k.motif").unwrap().motifs);
        let one = read_homer(
            std::io::Cursor::new("\u{feff}>ACG\tacg/x\t4.0\r\n1 0 0 0\r\n0 1 0 0\r\n0 0 1 0\r\n"),
            "<bytes>",
        )
        .unwrap();
        assert_eq!((one.motifs[0].id.as_str(), one.motifs[0].consensus().as_str()), ("acg/x", "ACG"));
    }

    #[test]
    fn broken_homer_bytes_name_the_source_and_line() {
        let cases: [(&[u8], &str); 3] = [
            (b">A\tn\t5\n1 0 0 0\n0.25 0.25 0.25\n", "<bytes>:3: probability row has 3 values, expected 4"),
            (b">A\tn\t5\n1 0 0 0\n>B\tm\t5\n0.9 0.3 0 0\n", "<bytes>:4: row sums to 1.2, expected 1 (tolerance 0.01)"),
            (
                b"\n\nA 1 0 0 0\n",
                "<bytes>:3: expected a `>consensus<TAB>name<TAB>threshold` header line, found `A 1 0 0 0`",
            ),
        ];
        for (bytes, expected) in cases {
            let e = read_homer(bytes, "<bytes>").unwrap_err().to_string();
            assert_eq!(e, expected, "{:?}", String::from_utf8_lossy(bytes));
        }
        let e = read_homer(&b">A\tn\n\xff 0 0 0\n"[..], "<bytes>").unwrap_err();
        assert!(matches!(e, MotifError::Io { .. }) && e.to_string().starts_with("<bytes>: not UTF-8"), "{e}");
    }
}
