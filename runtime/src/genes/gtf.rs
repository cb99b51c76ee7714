//! Genes from GTF annotation: GENCODE, Ensembl and 10x Genomics reference (`refdata-gex-*/genes/genes.gtf[.gz]`)
//! files, plain or gzip/BGZF-compressed, read with noodles-gtf.
//!
//! Records used: `gene`, `transcript` and `exon` (others — CDS, UTR, start/stop codons — are skipped). Attributes:
//! `gene_id` (required), `gene_name` (falls back to the id), `gene_type` (GENCODE) or `gene_biotype` (Ensembl, 10x).
//! GTF coordinates are 1-based and inclusive; a record `start..=end` becomes the 0-based half-open `[start − 1, end)`.
//!
//! Per gene: the span is its `gene` record (or the span of its transcripts and exons when it has none); the exons
//! are the union over all its transcripts, merged into sorted, non-overlapping intervals (overlapping and touching
//! exons joined) — scooby's `Transcriptome` (`scooby/utils/transcriptome.py`) takes the same union with an
//! IntervalTree (`merge_overlaps`, which leaves touching intervals apart; the bins they cover are the same).
//! Genes are keyed by `gene_id` and keep annotation order; scooby keys them by `gene_name`, so two genes sharing a
//! name become one there.
//!
//! Errors name the file, the line and the field: a line without nine tab-separated fields, a start or end that is
//! not a position, `end < start`, a strand other than `+`/`-` on a gene/transcript/exon, unreadable attributes, a
//! missing `gene_id`, records of one gene on two chromosomes or strands, a second `gene` record for an id.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use noodles::gtf;

use super::{Gene, GeneTable, Strand};
use crate::progress::{CancelToken, NoProgress, Progress};
use crate::{Result, RuntimeError};

/// Which genes [`load_genes`] keeps.
#[derive(Clone, Debug, Default)]
pub struct GeneOptions {
    /// Only genes of these types (`gene_type` / `gene_biotype`, e.g. `protein_coding`); genes without a type are
    /// left out when this is set.
    pub gene_types: Option<Vec<String>>,
    /// Only genes on these chromosomes.
    pub chromosomes: Option<Vec<String>>,
}

/// Reads a GTF file (plain, gzip or BGZF) into a gene table. See the module docs for the rules.
pub fn load_genes(path: &Path, opts: &GeneOptions) -> Result<GeneTable> {
    load_genes_with(path, opts, &mut NoProgress, &CancelToken::new())
}

/// [`load_genes`] with progress (lines read) and cancellation.
pub fn load_genes_with(
    path: &Path,
    opts: &GeneOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<GeneTable> {
    let mut file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(|e| RuntimeError::io(path, e))?;
    let file = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let reader: Box<dyn BufRead> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, file))
    };
    progress.start("reading genes", None);
    let mut table = parse_gtf(reader, path, opts, progress, cancel)?;
    table.source = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    progress.finish(&format!("{} genes", table.genes.len()));
    Ok(table)
}

/// One gene while reading.
struct Building {
    id: String,
    name: Option<String>,
    gene_type: Option<String>,
    chrom: String,
    strand: Strand,
    /// The `gene` record's span and line.
    gene_record: Option<((u64, u64), usize)>,
    /// Span of its transcripts and exons.
    parts: Option<(u64, u64)>,
    exons: Vec<(u64, u64)>,
    first_line: usize,
}

const FIELDS: &str = "seqname, source, feature, start, end, score, strand, frame, attributes";

/// Parses GTF text from `reader`; `path` names the file in errors. The table's `source` is left empty.
pub fn parse_gtf(
    reader: impl BufRead,
    path: &Path,
    opts: &GeneOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<GeneTable> {
    let err = |line: usize, msg: String| RuntimeError::parse(path, line, msg);
    let mut reader = gtf::io::Reader::new(reader);
    let mut line = gtf::Line::default();
    let mut genes: Vec<Building> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Records per chromosome (before the chromosome filter), for the error when the filter keeps nothing.
    let mut seen_chroms: BTreeMap<String, usize> = BTreeMap::new();
    let mut no = 0usize;
    loop {
        let n = reader.read_line(&mut line).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                err(no + 1, format!("cannot read the file (truncated or not GTF?): {e}"))
            }
            _ => RuntimeError::io(path, e),
        })?;
        if n == 0 {
            break;
        }
        no += 1;
        if no.is_multiple_of(65_536) {
            cancel.check()?;
            progress.update(no as u64, "lines");
        }
        let bytes = line.as_ref();
        let raw: &[u8] = bytes;
        if raw.iter().all(|b| b.is_ascii_whitespace()) || line.kind() == gtf::line::Kind::Comment {
            continue;
        }
        let fields: Vec<&[u8]> = raw.splitn(9, |&b| b == b'\t').collect();
        if fields.len() < 9 {
            return Err(err(
                no,
                format!("expected 9 tab-separated fields ({FIELDS}), found {}: `{}`", fields.len(), shorten(raw)),
            ));
        }
        let text = |i: usize| String::from_utf8_lossy(fields[i]).into_owned();
        let feature = fields[2];
        if !matches!(feature, b"gene" | b"transcript" | b"exon") {
            continue;
        }
        let record = match line.as_record() {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Err(err(no, format!("not a GTF record ({e}): `{}`", shorten(raw)))),
            None => continue,
        };
        let chrom = text(0);
        *seen_chroms.entry(chrom.clone()).or_default() += 1;
        if opts.chromosomes.as_ref().is_some_and(|c| !c.contains(&chrom)) {
            continue;
        }
        let start = record
            .start()
            .map_err(|_| err(no, format!("field 4 (start): `{}` is not a position (a whole number ≥ 1)", text(3))))?;
        let end = record
            .end()
            .map_err(|_| err(no, format!("field 5 (end): `{}` is not a position (a whole number ≥ 1)", text(4))))?;
        let (start, end) = (usize::from(start) as u64 - 1, usize::from(end) as u64);
        if end <= start {
            return Err(err(
                no,
                format!("field 5 (end): end {end} is before start {} (GTF is 1-based, inclusive)", start + 1),
            ));
        }
        let strand = match fields[6] {
            b"+" => Strand::Plus,
            b"-" => Strand::Minus,
            _ => return Err(err(no, format!("field 7 (strand): `{}` is not + or -", text(6)))),
        };
        let gff_hint = if fields[8].contains(&b'=') && !fields[8].windows(8).any(|w| w == b"gene_id ") {
            " (this looks like GFF3; load_genes reads GTF)"
        } else {
            ""
        };
        let attrs = record.attributes().map_err(|e| {
            err(no, format!("field 9 (attributes): cannot read `{}`: {e}{gff_hint}", shorten(fields[8])))
        })?;
        let get = |key: &[u8]| -> Option<String> {
            match attrs.get(key)? {
                Ok(v) => v.iter().next().map(|s| String::from_utf8_lossy(s).into_owned()),
                Err(_) => None,
            }
        };
        let Some(id) = get(b"gene_id").filter(|s| !s.is_empty()) else {
            return Err(err(no, format!("field 9 (attributes): no gene_id{gff_hint}")));
        };
        let i = *index.entry(id.clone()).or_insert_with(|| {
            genes.push(Building {
                id: id.clone(),
                name: None,
                gene_type: None,
                chrom: chrom.clone(),
                strand,
                gene_record: None,
                parts: None,
                exons: Vec::new(),
                first_line: no,
            });
            genes.len() - 1
        });
        let g = &mut genes[i];
        if g.chrom != chrom || g.strand != strand {
            return Err(err(
                no,
                format!(
                    "gene_id {id}: this {} is on {chrom} ({}) but the gene's record at line {} is on {} ({})",
                    String::from_utf8_lossy(feature),
                    strand.symbol(),
                    g.first_line,
                    g.chrom,
                    g.strand.symbol()
                ),
            ));
        }
        if g.name.is_none() {
            g.name = get(b"gene_name");
        }
        if g.gene_type.is_none() {
            g.gene_type = get(b"gene_type").or_else(|| get(b"gene_biotype"));
        }
        match feature {
            b"gene" => {
                if let Some((_, first)) = g.gene_record {
                    return Err(err(
                        no,
                        format!("a second `gene` record for gene_id {id} (the first is at line {first})"),
                    ));
                }
                g.gene_record = Some(((start, end), no));
            }
            _ => {
                g.parts = Some(g.parts.map_or((start, end), |(s, e)| (s.min(start), e.max(end))));
                if feature == b"exon" {
                    g.exons.push((start, end));
                }
            }
        }
    }
    if genes.is_empty() {
        return Err(if seen_chroms.is_empty() {
            err(0, "no gene, transcript or exon records: is this a GTF file?".into())
        } else {
            RuntimeError::invalid(
                "chromosomes",
                format!(
                    "no record is on {}; the file's chromosomes are {}",
                    opts.chromosomes.as_deref().unwrap_or_default().join(", "),
                    list_some(seen_chroms.keys())
                ),
            )
        });
    }
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(genes.len());
    for b in genes {
        let t = b.gene_type.clone().unwrap_or_else(|| "(none)".into());
        *types.entry(t).or_default() += 1;
        if let Some(keep) = &opts.gene_types {
            if !b.gene_type.as_ref().is_some_and(|t| keep.contains(t)) {
                continue;
            }
        }
        let (start, end) = match (b.gene_record, b.parts) {
            (Some((span, _)), _) => span,
            (None, Some(span)) => span,
            (None, None) => unreachable!("a gene comes from at least one record"),
        };
        out.push(Gene {
            name: b.name.filter(|n| !n.is_empty()).unwrap_or_else(|| b.id.clone()),
            id: b.id,
            gene_type: b.gene_type,
            chrom: b.chrom,
            start,
            end,
            strand: b.strand,
            exons: merge_intervals(b.exons),
        });
    }
    if out.is_empty() {
        let counts: Vec<String> = types.iter().map(|(t, n)| format!("{t} ({n})")).collect();
        return Err(RuntimeError::invalid(
            "gene_types",
            format!(
                "no gene has one of the types {}; the file has {}",
                opts.gene_types.as_deref().unwrap_or_default().join(", "),
                list_some(counts.iter())
            ),
        ));
    }
    Ok(GeneTable { genes: out, source: String::new() })
}

/// Sorted, non-overlapping intervals; overlapping and touching ones are joined.
pub fn merge_intervals(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// At most 20 items, comma-separated.
fn list_some<T: std::fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    let n = items.len();
    let mut s: Vec<String> = items.take(20).map(|x| x.to_string()).collect();
    if n > 20 {
        s.push(format!("… ({n} in all)"));
    }
    s.join(", ")
}

/// A line for an error message (at most 120 characters).
fn shorten(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw).replace('\t', "⇥");
    if s.chars().count() > 120 {
        s.chars().take(117).collect::<String>() + "…"
    } else {
        s
    }
}
