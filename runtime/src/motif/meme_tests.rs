//! Unit tests of `meme.rs` (kept in their own file for size).

use super::*;
use crate::motif::error::STRING_SOURCE;

const GOOD: &str = "MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.3 C 0.2
G 0.2 T 0.3

MOTIF MA0001.1 AGL3
letter-probability matrix: alength= 4 w= 2 nsites= 97 E= 0
 0.25 0.25 0.25 0.25
 0.5 0.5 0.0 0.004
URL http://jaspar.genereg.net/matrix/MA0001.1

MOTIF ID2
letter-probability matrix: alength= 4 w= 1
1 0 0 0
";

/// Parses `text` expecting an error; checks line and full message.
fn expect_err(text: &str, line: usize, message: &str) -> ParseErrorKind {
    let e = parse_meme(text, "motifs.meme").unwrap_err();
    assert_eq!(e.line(), Some(line), "wrong line for: {e}");
    assert_eq!(e.to_string(), format!("motifs.meme:{line}: {message}"));
    e.kind().unwrap().clone()
}

const HEAD: &str = "MEME version 4\n\nALPHABET= ACGT\n\n"; // 4 lines

#[test]
fn parses_good_file() {
    let set = parse_meme(GOOD, STRING_SOURCE).unwrap();
    assert_eq!(set.source, "<string>");
    assert_eq!(set.len(), 2);
    let a = &set.motifs[0];
    assert_eq!((a.id.as_str(), a.name.as_str()), ("MA0001.1", "AGL3"));
    assert_eq!(a.n_sites, Some(97.0));
    for (got, want) in a.background.iter().zip([0.3, 0.2, 0.2, 0.3]) {
        assert!((got - want).abs() < 1e-15);
    }
    assert_eq!(a.ppm[0], [0.25; 4]);
    // Second row renormalised from a sum of 1.004.
    assert!((a.ppm[1][0] - 0.5 / 1.004).abs() < 1e-15);
    assert!(a.validate().is_ok());
    let b = &set.motifs[1];
    assert_eq!((b.id.as_str(), b.name.as_str()), ("ID2", ""));
    assert_eq!(b.n_sites, None);
    assert_eq!(b.ppm, vec![[1.0, 0.0, 0.0, 0.0]]);
    assert_eq!(b.background, a.background);
}

#[test]
fn crlf_missing_w_log_odds_and_no_alphabet() {
    let text = "MEME version 5.5.4\r\n\r\nMOTIF X alt name\r\nlog-odds matrix: alength= 4 w= 2\r\n1 2 3 4\r\n1 2 3 4\r\nletter-probability matrix:\r\n0.1 0.2 0.3 0.4\r\n0.4 0.3 0.2 0.1\r\n0.25 0.25 0.25 0.25\r\n\r\nURL x\r\n";
    let set = parse_meme(text, "f").unwrap();
    assert_eq!(set.motifs[0].width(), 3);
    assert_eq!(set.motifs[0].name, "alt name");
    assert_eq!(set.motifs[0].background, UNIFORM_BACKGROUND);
}

#[test]
fn duplicate_ids_are_kept() {
    let text = format!(
        "{HEAD}MOTIF A\nletter-probability matrix: w= 1\n1 0 0 0\nMOTIF A\nletter-probability matrix: w= 1\n0 1 0 0\n"
    );
    let set = parse_meme(&text, "f").unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.motifs[1].ppm[0], [0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn error_empty_file() {
    expect_err("", 1, "empty input, expected MEME motifs");
    expect_err("  \n\n", 1, "empty input, expected MEME motifs");
}

#[test]
fn error_missing_header() {
    let k = expect_err(
        "\n\nALPHABET= ACGT\nMOTIF X\n",
        3,
        "missing MEME header: expected `MEME version <n>` before any motif, found `ALPHABET= ACGT`",
    );
    assert!(matches!(k, ParseErrorKind::MissingMemeHeader { .. }));
    expect_err("MEME version\nMOTIF X\n", 1, "expected `MEME version <n>`, found `MEME version`");
}

#[test]
fn error_wrong_alphabet() {
    expect_err(
        "MEME version 4\n\nALPHABET= ACDEFGHIKLMNPQRSTVWY\n",
        3,
        "unsupported alphabet `ACDEFGHIKLMNPQRSTVWY`, expected `ALPHABET= ACGT`",
    );
    expect_err(
        "MEME version 5\nALPHABET \"DNA\" DNA-LIKE\n",
        2,
        "unsupported alphabet `\"DNA\" DNA-LIKE`, expected `ALPHABET= ACGT`",
    );
}

#[test]
fn error_wrong_alength() {
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 20 w= 1\n");
    expect_err(&text, 6, "alength= 20, expected alength= 4 (DNA ACGT)");
}

#[test]
fn error_row_with_three_values() {
    let text =
        format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n0.5 0.25 0.25\n");
    expect_err(&text, 8, "letter-probability row has 3 values, expected 4 (alength= 4)");
}

#[test]
fn error_too_few_rows() {
    let text =
        format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 3\n1 0 0 0\n0 1 0 0\n\nURL u\nMOTIF Y\n");
    expect_err(&text, 6, "motif X: matrix has 2 rows, expected 3 (w= 3)");
    // At end of input.
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 3\n1 0 0 0\n");
    expect_err(&text, 6, "motif X: matrix has 1 rows, expected 3 (w= 3)");
}

#[test]
fn error_too_many_rows() {
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 2\n1 0 0 0\n0 1 0 0\n0 0 1 0\n");
    let k = expect_err(&text, 6, "motif X: matrix has 3 rows, expected 2 (w= 2)");
    assert_eq!(k, ParseErrorKind::RowCount { id: "X".into(), found: 3, expected: 2, why: "w= 2".into() });
}

#[test]
fn error_non_numeric_and_nan() {
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 1\n0.25 abc 0.25 0.25\n");
    expect_err(&text, 7, "`abc` is not a number, expected a probability");
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 1\nnan 0.25 0.25 0.25\n");
    expect_err(&text, 7, "`nan` is not a number, expected a probability");
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= two\n");
    expect_err(&text, 6, "`two` is not a number, expected a motif width (w= <positive integer>)");
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 1 nsites= many\n1 0 0 0\n");
    expect_err(&text, 6, "`many` is not a number, expected a site count (nsites=)");
}

#[test]
fn error_negative_value() {
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 1\n0.6 0.5 -0.1 0.0\n");
    expect_err(&text, 7, "negative value -0.1, expected a probability >= 0");
}

#[test]
fn error_row_not_summing_to_one() {
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 2\n1 0 0 0\n0.5 0.5 0.5 0.5\n");
    expect_err(&text, 8, "row sums to 2, expected 1 (tolerance 0.01)");
    // Within tolerance is fine.
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.005 0.0\n");
    assert!(parse_meme(&text, "f").is_ok());
}

#[test]
fn error_zero_width() {
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 0\n");
    expect_err(&text, 6, "motif X has width 0, expected at least one position");
    let text = format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4\n\nMOTIF Y\n");
    expect_err(&text, 6, "motif X has width 0, expected at least one position");
}

#[test]
fn error_no_motifs_and_bad_motif_lines() {
    expect_err(&format!("{HEAD}strands: + -\n"), 5, "no motifs found, expected at least one `MOTIF` line");
    expect_err(&format!("{HEAD}MOTIF\n"), 5, "expected a motif id after `MOTIF`, found end of line");
    expect_err(
        &format!("{HEAD}MOTIF X\n\nMOTIF Y\n"),
        7,
        "expected a `letter-probability matrix:` line for motif X, found `MOTIF Y`",
    );
    expect_err(
        &format!("{HEAD}MOTIF X\n"),
        5,
        "expected a `letter-probability matrix:` line for motif X, found end of input",
    );
    expect_err(&format!("{HEAD}strands: +-\n"), 5, "expected `strands: + -`, found `strands: +-`");
}

#[test]
fn error_bad_background() {
    let bg = |body: &str| {
        format!("MEME version 4\nBackground letter frequencies\n{body}\nMOTIF X\nletter-probability matrix: w= 1\n1 0 0 0\n")
    };
    expect_err(&bg("A 0.5 C 0.5 G 0.5 T 0.5"), 3, "background sums to 2, expected 1 (tolerance 0.01)");
    expect_err(&bg("A 0.25 C 0.25 G 0.25 U 0.25"), 3, "expected a background letter A, C, G or T, found `U`");
    expect_err(&bg("A 0.25 C 0.25 G 0.25 A 0.25"), 3, "expected each background letter once, found `A` again");
    expect_err(&bg("A 0.25 C x G 0.25 T 0.25"), 3, "`x` is not a number, expected a background frequency");
    expect_err(&bg("A 0.5 C 0.5 G 0 T 0"), 3, "expected a background frequency > 0, found G 0");
    expect_err(&bg("A 0.25 C 0.25"), 4, "expected background frequencies `A p C p G p T p`, found `MOTIF X`");
    expect_err(
        &bg("A 0.25 C 0.25 G 0.25 T 0.25 N 0.1"),
        3,
        "expected only 4 background frequencies (A, C, G, T), found extra `N`",
    );
}

#[test]
fn write_then_parse_round_trips() {
    let set = parse_meme(GOOD, "orig").unwrap();
    let text = write_meme(&set);
    assert!(text.starts_with("MEME version 4\n\nALPHABET= ACGT\n"));
    assert!(text.contains("MOTIF MA0001.1 AGL3\nletter-probability matrix: alength= 4 w= 2 nsites= 97 E= 0\n"));
    assert!(text.contains("MOTIF ID2\nletter-probability matrix: alength= 4 w= 1 E= 0\n"));
    let again = parse_meme(&text, "orig").unwrap();
    assert_eq!(again.len(), set.len());
    for (a, b) in set.iter().zip(again.iter()) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.name, b.name);
        assert_eq!(a.n_sites, b.n_sites);
        for (ra, rb) in a.ppm.iter().zip(&b.ppm) {
            for k in 0..4 {
                assert!((ra[k] - rb[k]).abs() < 1e-15);
            }
        }
        for k in 0..4 {
            assert!((a.background[k] - b.background[k]).abs() < 1e-15);
        }
    }
    // A second cycle gives identical text (numbers are stable).
    assert_eq!(write_meme(&again), text);
}

#[test]
fn writer_sanitises_ids() {
    let m = Motif::new("has space", "a  b", vec![[0.25; 4]], UNIFORM_BACKGROUND).unwrap();
    let set = MotifSet { motifs: vec![m], source: "x".into() };
    let text = write_meme(&set);
    assert!(text.contains("MOTIF has_space a b\n"));
    let back = parse_meme(&text, "x").unwrap();
    assert_eq!(back.motifs[0].id, "has_space");
    assert_eq!(back.motifs[0].name, "a b");
    let empty = write_meme(&MotifSet::new("e"));
    assert!(empty.contains("A 0.25 C 0.25 G 0.25 T 0.25"));
}

#[test]
fn reads_meme_from_any_bufread() {
    let from_bytes = read_meme(GOOD.as_bytes(), "<bytes>").unwrap();
    assert_eq!(from_bytes.source, "<bytes>");
    assert_eq!(from_bytes.motifs, parse_meme(GOOD, STRING_SOURCE).unwrap().motifs);
    let from_cursor = read_meme(std::io::Cursor::new(write_meme(&from_bytes)), "<bytes>").unwrap();
    assert_eq!(from_cursor.motifs, from_bytes.motifs);
}

#[test]
fn broken_meme_bytes_name_the_source_and_line() {
    let cases = [
        (
            format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5\n"),
            "<bytes>:7: letter-probability row has 2 values, expected 4 (alength= 4)",
        ),
        (
            "MEME version 4\n\nALPHABET= ACGU\n".to_string(),
            "<bytes>:3: unsupported alphabet `ACGU`, expected `ALPHABET= ACGT`",
        ),
        (
            format!("{HEAD}MOTIF X\nletter-probability matrix: alength= 4 w= 1\nnan 0 0 1\n"),
            "<bytes>:7: `nan` is not a number, expected a probability",
        ),
    ];
    for (text, expected) in cases {
        let e = read_meme(text.as_bytes(), "<bytes>").unwrap_err();
        assert_eq!(e.to_string(), expected, "{text:?}");
    }
    let e = read_meme(&b"MEME version 4\n\xc0\n"[..], "<bytes>").unwrap_err();
    assert!(matches!(e, MotifError::Io { .. }) && e.to_string().starts_with("<bytes>: not UTF-8"), "{e}");
}
