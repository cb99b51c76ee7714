//! Opening text inputs: plain or gzip-compressed (detected from the magic bytes, not the name).
//!
//! Every text reader in the runtime parses from any [`BufRead`] (a file, `&b"..."[..]`, a `std::io::Cursor`) and takes
//! a `source` label that names the input in its errors; the path-taking functions are thin wrappers that open the file
//! with [`open_text`] and pass the path as the label.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::error::{Result, RuntimeError};

/// The two bytes every gzip member (and so every bgzip file) starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Label for inputs that are not files, used in their error messages (`<bytes>:3: ...`).
pub const BYTES_SOURCE: &str = "<bytes>";

/// `reader` as a line reader, transparently gunzipping it (plain gzip, multi-member or bgzip) when it starts with the
/// gzip magic bytes. Decompression errors surface on the reads that meet them.
pub fn maybe_gunzip<'a>(mut reader: impl BufRead + 'a) -> std::io::Result<Box<dyn BufRead + 'a>> {
    let mut head = Vec::with_capacity(GZIP_MAGIC.len());
    reader.by_ref().take(GZIP_MAGIC.len() as u64).read_to_end(&mut head)?;
    let gz = head == GZIP_MAGIC;
    let whole = Cursor::new(head).chain(reader);
    Ok(if gz { Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(whole))) } else { Box::new(whole) })
}

/// A buffered line reader over `path`, transparently gunzipping `.gz` / bgzip files. Errors name the path.
pub fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    maybe_gunzip(BufReader::with_capacity(1 << 16, file)).map_err(|e| RuntimeError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(members: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in members {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(m.as_bytes()).unwrap();
            out.extend(enc.finish().unwrap());
        }
        out
    }

    fn read_all(bytes: &[u8]) -> std::io::Result<String> {
        let mut s = String::new();
        maybe_gunzip(bytes)?.read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn plain_short_and_empty_inputs_pass_through_unchanged() {
        assert_eq!(read_all(b"chr1\t1\t2\nchr2\t3\t4\n").unwrap(), "chr1\t1\t2\nchr2\t3\t4\n");
        assert_eq!(read_all(b"x").unwrap(), "x");
        assert_eq!(read_all(b"\x1f").unwrap(), "\u{1f}");
        assert_eq!(read_all(b"").unwrap(), "");
    }

    #[test]
    fn gzip_and_multi_member_inputs_are_decompressed() {
        assert_eq!(read_all(&gzip(&["a\nb\n"])).unwrap(), "a\nb\n");
        // bgzip writes a series of gzip members: all of them are read
        assert_eq!(read_all(&gzip(&["a\n", "b\n", "c\n"])).unwrap(), "a\nb\nc\n");
        let lines: Vec<String> =
            maybe_gunzip(&gzip(&["x\r\n", "y\n"])[..]).unwrap().lines().map(|l| l.unwrap()).collect();
        assert_eq!(lines, ["x", "y"]);
    }

    #[test]
    fn corrupt_gzip_fails_on_read_and_open_text_names_missing_files() {
        assert!(read_all(&[0x1f, 0x8b, 0, 1, 2, 3]).is_err());
        let mut truncated = gzip(&["a long enough line of text to compress\n"]);
        truncated.truncate(truncated.len() - 6);
        assert!(read_all(&truncated).is_err());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.bed.gz");
        let err = open_text(&missing).err().expect("a missing file is an error").to_string();
        assert!(err.contains("none.bed.gz"), "{err}");
        let p = dir.path().join("t.txt.gz");
        std::fs::write(&p, gzip(&["hello\n"])).unwrap();
        let mut s = String::new();
        open_text(&p).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello\n");
    }
}
