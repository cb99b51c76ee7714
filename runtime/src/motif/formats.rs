//! Format detection and reading: [`read_motifs`] reads MEME, JASPAR/PFM or
//! HOMER motifs from any [`BufRead`]; [`read_motif_file`] opens a file,
//! gzip-compressed or not, and calls it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::data::text::maybe_gunzip;
use crate::motif::error::{parse_error, MotifError, ParseErrorKind};
use crate::motif::homer::parse_homer;
use crate::motif::jaspar::{parse_jaspar, DEFAULT_COUNT_PSEUDOCOUNT};
use crate::motif::meme::parse_meme;
use crate::motif::motif::MotifSet;
use crate::motif::text::{is_number, read_text};

/// The motif file formats this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotifFormat {
    /// MEME minimal format (`.meme`).
    Meme,
    /// JASPAR bracketed counts (`.jaspar`) or plain counts (`.pfm`).
    Jaspar,
    /// HOMER probability matrices (`.motif`).
    Homer,
}

impl MotifFormat {
    /// Format implied by a file name's extension, ignoring a trailing
    /// `.gz`: `.meme` → MEME; `.jaspar`, `.pfm` → JASPAR; `.motif`,
    /// `.motifs`, `.homer` → HOMER. Other extensions (including `.txt`)
    /// give `None`.
    pub fn from_path(path: &Path) -> Option<MotifFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "meme" => Some(MotifFormat::Meme),
            "jaspar" | "pfm" => Some(MotifFormat::Jaspar),
            "motif" | "motifs" | "homer" => Some(MotifFormat::Homer),
            _ => None,
        }
    }

    /// Format guessed from the content: a line starting `MEME version`
    /// means MEME. Otherwise the first non-blank line must be a `>` header;
    /// if the line after it holds exactly four numbers that sum to 1 within
    /// 0.01 (a probability row) it is HOMER, any other row (brackets,
    /// labels, counts) is JASPAR. `None` when nothing fits.
    pub fn sniff(text: &str) -> Option<MotifFormat> {
        let mut lines = text.lines().map(|l| l.trim_start_matches('\u{feff}').trim()).filter(|l| !l.is_empty());
        if lines.clone().any(|l| l.starts_with("MEME version")) {
            return Some(MotifFormat::Meme);
        }
        let first = lines.next()?;
        if !first.starts_with('>') {
            return None;
        }
        let Some(row) = lines.next() else {
            return Some(MotifFormat::Jaspar);
        };
        let toks: Vec<&str> = row.split_whitespace().collect();
        if toks.len() == 4 && toks.iter().all(|t| is_number(t)) {
            let sum: f64 = toks.iter().map(|t| t.parse::<f64>().unwrap_or(0.0)).sum();
            if (sum - 1.0).abs() <= crate::motif::error::ROW_SUM_TOLERANCE {
                return Some(MotifFormat::Homer);
            }
        }
        Some(MotifFormat::Jaspar)
    }
}

/// Parses `text` in the given format. JASPAR counts are converted with
/// [`DEFAULT_COUNT_PSEUDOCOUNT`]; call [`parse_jaspar`] directly for
/// another pseudocount.
pub fn parse_motifs(text: &str, source: &str, format: MotifFormat) -> Result<MotifSet, MotifError> {
    match format {
        MotifFormat::Meme => parse_meme(text, source),
        MotifFormat::Jaspar => parse_jaspar(text, source, DEFAULT_COUNT_PSEUDOCOUNT),
        MotifFormat::Homer => parse_homer(text, source),
    }
}

/// Reads a motif file, transparently gunzipping it when it starts with the
/// gzip magic bytes (whatever its name). The format comes from the
/// extension ([`MotifFormat::from_path`]) and, failing that, from the
/// content ([`MotifFormat::sniff`]). Errors name the path as given.
pub fn read_motif_file(path: impl AsRef<Path>) -> Result<MotifSet, MotifError> {
    read_motif_file_as(path, None, DEFAULT_COUNT_PSEUDOCOUNT)
}

/// [`read_motif_file`] with the format given (`None`: from the extension, then the content) and the pseudocount
/// added to each count of JASPAR count matrices. Opens the file and calls [`read_motifs`] with the path as the source.
pub fn read_motif_file_as(
    path: impl AsRef<Path>,
    format: Option<MotifFormat>,
    count_pseudocount: f64,
) -> Result<MotifSet, MotifError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let io = |source: std::io::Error| MotifError::Io { file: file.clone(), source };
    let reader = maybe_gunzip(BufReader::new(File::open(path).map_err(io)?)).map_err(io)?;
    read_motifs(reader, &file, format.or_else(|| MotifFormat::from_path(path)), count_pseudocount)
}

/// Reads MEME, JASPAR/PFM or HOMER motifs from `reader` (UTF-8 text; wrap gzipped bytes in
/// [`maybe_gunzip`]). `format` `None` detects it from the content ([`MotifFormat::sniff`]); `count_pseudocount` is
/// added to each count of JASPAR count matrices. `source` names the input in errors (`source:line: message`): a path,
/// or [`STRING_SOURCE`](crate::motif::STRING_SOURCE).
pub fn read_motifs(
    reader: impl BufRead,
    source: &str,
    format: Option<MotifFormat>,
    count_pseudocount: f64,
) -> Result<MotifSet, MotifError> {
    let text = read_text(reader, source)?;
    let format = match format.or_else(|| MotifFormat::sniff(&text)) {
        Some(f) => f,
        None if text.trim().is_empty() => {
            return Err(parse_error(source, 1, ParseErrorKind::Empty { format: "MEME, JASPAR or HOMER" }))
        }
        None => return Err(parse_error(source, 1, ParseErrorKind::UnknownFormat)),
    };
    match format {
        MotifFormat::Jaspar => parse_jaspar(&text, source, count_pseudocount),
        f => parse_motifs(&text, source, f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    use std::path::PathBuf;

    /// A fresh scratch directory under the system temp dir.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("motif-formats-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const MEME: &str = "MEME version 4\nALPHABET= ACGT\nMOTIF A1 a\nletter-probability matrix: w= 1\n0 0 1 0\n";
    const JASPAR: &str = ">MA1 x\nA [1]\nC [3]\nG [0]\nT [0]\n";
    const HOMER: &str = ">CG\tcg/y\t3.0\n0.1 0.7 0.1 0.1\n0.1 0.1 0.7 0.1\n";

    #[test]
    fn from_path_uses_extension() {
        let f = |s: &str| MotifFormat::from_path(Path::new(s));
        assert_eq!(f("a/b.meme"), Some(MotifFormat::Meme));
        assert_eq!(f("b.MEME.gz"), Some(MotifFormat::Meme));
        assert_eq!(f("b.jaspar"), Some(MotifFormat::Jaspar));
        assert_eq!(f("b.pfm.gz"), Some(MotifFormat::Jaspar));
        assert_eq!(f("known.motifs"), Some(MotifFormat::Homer));
        assert_eq!(f("x.motif"), Some(MotifFormat::Homer));
        assert_eq!(f("x.txt"), None);
        assert_eq!(f("noext"), None);
    }

    #[test]
    fn sniff_detects_content() {
        assert_eq!(MotifFormat::sniff(MEME), Some(MotifFormat::Meme));
        assert_eq!(MotifFormat::sniff(JASPAR), Some(MotifFormat::Jaspar));
        assert_eq!(MotifFormat::sniff(">M\n1 2 3 4\n1 2 3 4\n"), Some(MotifFormat::Jaspar));
        assert_eq!(MotifFormat::sniff(HOMER), Some(MotifFormat::Homer));
        assert_eq!(MotifFormat::sniff("hello\n"), None);
        assert_eq!(MotifFormat::sniff(""), None);
    }

    #[test]
    fn reads_plain_and_gzipped_files() {
        let dir = scratch("read");
        for (name, text, id) in
            [("m.meme", MEME, "A1"), ("m.jaspar", JASPAR, "MA1"), ("m.motif", HOMER, "cg/y"), ("m.txt", HOMER, "cg/y")]
        {
            let plain = dir.join(name);
            std::fs::write(&plain, text).unwrap();
            let set = read_motif_file(&plain).unwrap();
            assert_eq!(set.motifs[0].id, id);
            assert_eq!(set.source, plain.display().to_string());
            // Same content gzipped, with and without the .gz suffix.
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(text.as_bytes()).unwrap();
            let gz = enc.finish().unwrap();
            for gz_name in [format!("{name}.gz"), format!("z_{name}")] {
                let p = dir.join(gz_name);
                std::fs::write(&p, &gz).unwrap();
                assert_eq!(read_motif_file(&p).unwrap().motifs, set.motifs);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_errors_name_the_path() {
        let dir = scratch("err");
        let p = dir.join("bad.meme");
        std::fs::write(&p, "MEME version 4\nMOTIF X\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5\n").unwrap();
        let e = read_motif_file(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:4: letter-probability row has 2 values, expected 4 (alength= 4)", p.display())
        );
        let missing = dir.join("missing.meme");
        let e = read_motif_file(&missing).unwrap_err();
        assert!(matches!(e, MotifError::Io { .. }));
        assert!(e.to_string().starts_with(&missing.display().to_string()));
        let unknown = dir.join("u.txt");
        std::fs::write(&unknown, "hello\n").unwrap();
        let e = read_motif_file(&unknown).unwrap_err();
        assert_eq!(e.kind(), Some(&ParseErrorKind::UnknownFormat));
        assert_eq!(e.line(), Some(1));
        let empty = dir.join("e.txt");
        std::fs::write(&empty, "\n").unwrap();
        let e = read_motif_file(&empty).unwrap_err();
        assert!(matches!(e.kind(), Some(ParseErrorKind::Empty { .. })));
        let corrupt = dir.join("c.meme.gz");
        std::fs::write(&corrupt, [0x1f, 0x8b, 0, 1, 2, 3]).unwrap();
        assert!(matches!(read_motif_file(&corrupt).unwrap_err(), MotifError::Io { .. }));
        let binary = dir.join("b.meme");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_motif_file(&binary).unwrap_err().to_string().contains("not UTF-8"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reads_every_format_from_bytes() {
        for (text, id) in [(MEME, "A1"), (JASPAR, "MA1"), (HOMER, "cg/y")] {
            let set = read_motifs(text.as_bytes(), "<bytes>", None, DEFAULT_COUNT_PSEUDOCOUNT).unwrap();
            assert_eq!((set.motifs[0].id.as_str(), set.source.as_str()), (id, "<bytes>"));
            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            enc.write_all(text.as_bytes()).unwrap();
            let gz = enc.finish().unwrap();
            let again = read_motifs(maybe_gunzip(&gz[..]).unwrap(), "<bytes>", None, 0.0).unwrap();
            assert_eq!(again.motifs, set.motifs);
        }
        // with the format given, the JASPAR pseudocount is applied to the counts: (1 + 4/4) / (4 + 4)
        let with = read_motifs(std::io::Cursor::new(JASPAR), "<bytes>", Some(MotifFormat::Jaspar), 4.0).unwrap();
        assert!((with.motifs[0].ppm[0][0] - 2.0 / 8.0).abs() < 1e-12, "{:?}", with.motifs[0].ppm);
    }

    #[test]
    fn broken_bytes_name_the_source_and_line() {
        let cases: [(&[u8], Option<MotifFormat>, &str); 4] = [
            (b"\n# a note\n", None, "<bytes>:1: cannot detect motif format"),
            (b" \n\t\n", None, "<bytes>:1: empty input, expected MEME, JASPAR or HOMER motifs"),
            (b">MA1 x\nA [1 2]\nC [3 4]\nG [0 0]\nT [0]\n", None, "<bytes>:5: count row has 1 values, expected 2"),
            (HOMER.as_bytes(), Some(MotifFormat::Meme), "<bytes>:1: missing MEME header"),
        ];
        for (bytes, format, expected) in cases {
            let e = read_motifs(bytes, "<bytes>", format, 0.0).unwrap_err().to_string();
            assert!(e.starts_with(expected), "{:?}: {e}", String::from_utf8_lossy(bytes));
        }
        let e = read_motifs(&b"MEME version 4\n\x80\n"[..], "<bytes>", None, 0.0).unwrap_err();
        assert!(matches!(e, MotifError::Io { .. }) && e.to_string().starts_with("<bytes>: not UTF-8"), "{e}");
    }
}
