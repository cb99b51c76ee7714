//! Variants for effect prediction: `chr:pos:ref:alt` strings and VCF files (plain or gzipped).
//!
//! Positions are 1-based as in VCF. Alleles are A/C/G/T (N allowed in REF); multi-allelic records give one variant
//! per ALT. Records with no usable ALT (`.`, `*`, symbolic `<DEL>`, breakends) are skipped and reported, not errors;
//! anything malformed is an error naming the file and line.

use std::io::BufRead;
use std::path::Path;

use crate::data::text::open_text;
use crate::error::{Result, RuntimeError};

/// One variant (a single ALT allele).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub chrom: String,
    /// 1-based position of the first REF base.
    pub pos: u64,
    /// REF allele, upper-case.
    pub reference: String,
    /// ALT allele, upper-case.
    pub alt: String,
    /// The VCF ID, or `chrom:pos:ref:alt` when there is none.
    pub id: String,
}

impl Variant {
    pub fn new(chrom: &str, pos: u64, reference: &str, alt: &str, id: Option<&str>) -> Variant {
        let (r, a) = (reference.to_ascii_uppercase(), alt.to_ascii_uppercase());
        let id = match id {
            Some(i) if !i.is_empty() && i != "." => i.to_string(),
            _ => format!("{chrom}:{pos}:{r}:{a}"),
        };
        Variant { chrom: chrom.to_string(), pos, reference: r, alt: a, id }
    }

    /// 0-based position of the first REF base.
    pub fn start0(&self) -> u64 {
        self.pos - 1
    }
}

fn check_allele(a: &str, allow_n: bool) -> std::result::Result<(), String> {
    if a.is_empty() {
        return Err("is empty".into());
    }
    match a.bytes().find(|b| {
        !(matches!(b.to_ascii_uppercase(), b'A' | b'C' | b'G' | b'T') || allow_n && b.eq_ignore_ascii_case(&b'N'))
    }) {
        Some(b) => Err(format!(
            "`{a}` contains `{}`; expected only A, C, G, T{}",
            b as char,
            if allow_n { " or N" } else { "" }
        )),
        None => Ok(()),
    }
}

fn parse_pos(s: &str) -> std::result::Result<u64, String> {
    match s.replace(',', "").parse::<u64>() {
        Ok(p) if p >= 1 => Ok(p),
        _ => Err(format!("position `{s}` is not a 1-based integer")),
    }
}

/// Reads `chr:pos:ref:alt` (1-based position, e.g. `chr1:1000:A:G`).
pub fn parse_variant(text: &str) -> Result<Variant> {
    let t = text.trim();
    let fields: Vec<&str> = t.rsplitn(4, ':').collect();
    if fields.len() != 4 {
        return Err(RuntimeError::invalid("variant", format!("`{t}` is not `chrom:pos:ref:alt` (e.g. chr1:1000:A:G)")));
    }
    let (alt, reference, pos, chrom) = (fields[0], fields[1], fields[2], fields[3]);
    let bad = |m: String| RuntimeError::invalid("variant", format!("`{t}`: {m}"));
    if chrom.is_empty() {
        return Err(bad("the chromosome is empty".into()));
    }
    let pos = parse_pos(pos).map_err(bad)?;
    check_allele(reference, true).map_err(|m| bad(format!("REF {m}")))?;
    check_allele(alt, false).map_err(|m| bad(format!("ALT {m}")))?;
    Ok(Variant::new(chrom, pos, reference, alt, None))
}

/// Variants read from a VCF, and the records that were skipped.
#[derive(Clone, Debug, Default)]
pub struct VcfRead {
    pub variants: Vec<Variant>,
    /// 1-based line numbers of the input line each variant came from.
    pub lines: Vec<usize>,
    /// `(line, reason)` of skipped alleles.
    pub skipped: Vec<(usize, String)>,
}

const HEADER: [&str; 5] = ["#CHROM", "POS", "ID", "REF", "ALT"];

/// Parses VCF text from `reader` (uncompressed: wrap gzipped bytes in
/// [`maybe_gunzip`](crate::data::text::maybe_gunzip)); `source` names it in errors (`source:line: message`), e.g. a
/// path or [`BYTES_SOURCE`](crate::data::text::BYTES_SOURCE).
pub fn parse_vcf(reader: impl BufRead, source: impl AsRef<Path>) -> Result<VcfRead> {
    let source = source.as_ref();
    let mut out = VcfRead::default();
    let mut seen_header = false;
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| RuntimeError::parse(source, n, format!("cannot read: {e}")))?;
        let line = line.trim_end_matches('\r');
        if line.starts_with("##") || line.trim().is_empty() {
            continue;
        }
        if line.starts_with('#') {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 5 || cols[..5] != HEADER {
                return Err(RuntimeError::parse(
                    source,
                    n,
                    format!(
                        "header line must start with {} (tab-separated), found `{}`",
                        HEADER.join("\t"),
                        line.chars().take(60).collect::<String>()
                    ),
                ));
            }
            seen_header = true;
            continue;
        }
        if !seen_header && out.variants.is_empty() && out.skipped.is_empty() && i == 0 && !line.contains('\t') {
            return Err(RuntimeError::parse(
                source,
                n,
                "not a VCF: expected `##fileformat=VCF…` or tab-separated CHROM POS ID REF ALT columns",
            ));
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 5 {
            return Err(RuntimeError::parse(
                source,
                n,
                format!("{} tab-separated fields; a VCF record needs at least 5 (CHROM POS ID REF ALT)", cols.len()),
            ));
        }
        let err = |m: String| RuntimeError::parse(source, n, m);
        if cols[0].is_empty() {
            return Err(err("CHROM is empty".into()));
        }
        let pos = parse_pos(cols[1]).map_err(|m| err(format!("POS: {m}")))?;
        check_allele(cols[3], true).map_err(|m| err(format!("REF {m}")))?;
        if cols[4] == "." {
            out.skipped.push((n, "no ALT allele".into()));
            continue;
        }
        let ids: Vec<&str> = cols[2].split(';').collect();
        for (k, alt) in cols[4].split(',').enumerate() {
            if alt == "*" || alt.starts_with('<') || alt.contains('[') || alt.contains(']') || alt == "." {
                out.skipped.push((n, format!("ALT `{alt}` is not a sequence allele")));
                continue;
            }
            check_allele(alt, false).map_err(|m| err(format!("ALT {m}")))?;
            let id = ids.first().filter(|s| **s != ".").map(|s| {
                if cols[4].contains(',') {
                    format!("{s}_{}", k + 1)
                } else {
                    s.to_string()
                }
            });
            out.variants.push(Variant::new(cols[0], pos, cols[3], alt, id.as_deref()));
            out.lines.push(n);
        }
    }
    Ok(out)
}

/// Reads a VCF file (gzipped or not): opens it and calls [`parse_vcf`] with the path as the source.
pub fn read_vcf(path: &Path) -> Result<VcfRead> {
    parse_vcf(open_text(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vcf(text: &str) -> Result<VcfRead> {
        parse_vcf(text.as_bytes(), Path::new("v.vcf"))
    }

    #[test]
    fn variant_strings() {
        let v = parse_variant("chr1:1,000:a:G").unwrap();
        assert_eq!((v.chrom.as_str(), v.pos, v.reference.as_str(), v.alt.as_str()), ("chr1", 1000, "A", "G"));
        assert_eq!(v.id, "chr1:1000:A:G");
        assert_eq!(v.start0(), 999);
        assert_eq!(parse_variant("HLA-A*01:01:10:AC:A").unwrap().chrom, "HLA-A*01:01");
        for bad in ["chr1:1000:A", "chr1:0:A:G", "chr1:x:A:G", "chr1:5:A:N", "chr1:5::G", ":5:A:G", "chr1:5:AZ:G"] {
            let e = parse_variant(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn vcf_records() {
        let text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\n\
                    chr1\t10\trs1\tA\tG\t.\n\
                    chr1\t20\t.\tAC\tA,T\t.\n\
                    chr2\t5\t.\tN\t<DEL>\t.\n\
                    chr2\t6\trs9\tG\t.\t.\n";
        let r = vcf(text).unwrap();
        assert_eq!(r.variants.len(), 3);
        assert_eq!(r.variants[0].id, "rs1");
        assert_eq!(r.variants[1].alt, "A");
        assert_eq!(r.variants[2].id, "chr1:20:AC:T");
        assert_eq!(r.lines, vec![3, 4, 4]);
        assert_eq!(r.skipped.len(), 2);
        assert_eq!(r.skipped[0].0, 5);
    }

    #[test]
    fn broken_vcfs_name_the_line() {
        let cases = [
            ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\n", 2, "header"),
            ("#CHROM\tPOS\tID\tREF\tALT\nchr1\t10\t.\tA\n", 2, "at least 5"),
            ("#CHROM\tPOS\tID\tREF\tALT\nchr1\tten\t.\tA\tG\n", 2, "POS"),
            ("#CHROM\tPOS\tID\tREF\tALT\nchr1\t10\t.\tA\tG\nchr1\t0\t.\tA\tG\n", 3, "POS"),
            ("#CHROM\tPOS\tID\tREF\tALT\nchr1\t10\t.\tA\tGX\n", 2, "ALT"),
            ("#CHROM\tPOS\tID\tREF\tALT\nchr1\t10\t.\tQ\tG\n", 2, "REF"),
            ("hello world\n", 1, "not a VCF"),
        ];
        for (text, line, what) in cases {
            let e = vcf(text).unwrap_err().to_string();
            assert!(e.contains(&format!("v.vcf:{line}:")) && e.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn gzipped_vcf_bytes_with_a_byte_label() {
        use std::io::Write;
        let text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\nchr3\t7\trs7\tT\tC,G\n";
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let r = parse_vcf(crate::data::text::maybe_gunzip(&gz[..]).unwrap(), "<bytes>").unwrap();
        assert_eq!(r.variants.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(), ["rs7_1", "rs7_2"]);
        assert_eq!(r.lines, [3, 3]);
        let e = parse_vcf(&b"#CHROM\tPOS\tID\tREF\tALT\n\tchr1\t10\t.\tA\n"[..], "<bytes>").unwrap_err().to_string();
        assert_eq!(e, "<bytes>:2: CHROM is empty");
        let e =
            parse_vcf(&b"#CHROM\tPOS\tID\tREF\tALT\nchr1\t10\t.\t\xff\tG\n"[..], "<bytes>").unwrap_err().to_string();
        assert!(e.starts_with("<bytes>:2: cannot read"), "{e}");
    }
}
