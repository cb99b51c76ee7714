//! One BAM record as the RNA import sees it (SnapATAC2-scooby's rules, see [`super::bam`]): barcode and UMI tag
//! values, the CIGAR's span, clips and exon blocks, the de-duplication fingerprint and the molecule's representative,
//! and the per-strand entries a molecule becomes.

use std::collections::HashMap;

use noodles::bam;
use noodles::sam::alignment::record::cigar::op::Kind;
use noodles::sam::alignment::record::data::field::{Tag, Value};

use super::bam::CellRnaQc;
use crate::{Result, RuntimeError};

/// The text of a tag value used as a barcode or UMI (SnapATAC2's `BarcodeLocation::extract`: strings, characters and
/// integers as decimal text), or the name of its unsupported type.
pub(super) fn tag_text(v: &Value<'_>, out: &mut Vec<u8>) -> std::result::Result<(), &'static str> {
    use std::io::Write as _;
    out.clear();
    let _ = match v {
        Value::String(s) => {
            out.extend_from_slice(s);
            Ok(())
        }
        Value::Character(c) => {
            out.push(*c);
            Ok(())
        }
        Value::Int8(x) => write!(out, "{x}"),
        Value::UInt8(x) => write!(out, "{x}"),
        Value::Int16(x) => write!(out, "{x}"),
        Value::UInt16(x) => write!(out, "{x}"),
        Value::Int32(x) => write!(out, "{x}"),
        Value::UInt32(x) => write!(out, "{x}"),
        Value::Float(_) => return Err("a float (f)"),
        Value::Hex(_) => return Err("a hex string (H)"),
        Value::Array(_) => return Err("an array (B)"),
    };
    Ok(())
}

pub(super) fn parse_tag(field: &str, s: &str) -> Result<Tag> {
    match s.as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphanumeric() => Ok(Tag::new(*a, *b)),
        _ => Err(RuntimeError::invalid(field, format!("{s:?} is not a two-character SAM tag such as \"CB\""))),
    }
}

/// The dedup fingerprint (SnapATAC2's `FingerPrint::SingleRead`; the cell is the grouping barcode).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub(super) cell: u32,
    pub(super) chrom: u32,
    pub(super) reverse: bool,
    pub(super) coord_5p: i64,
    pub(super) umi: u64,
}

/// The representative read of a molecule.
pub(super) struct Rep {
    pub(super) chrom: u32,
    pub(super) qual: u32,
    pub(super) order: (i64, i64),
    pub(super) reads: u32,
    /// Exon blocks `(start, end)`, 0-based half-open (one for an unspliced read).
    pub(super) blocks: Box<[(u32, u32)]>,
}

/// The alignment of one record, as SnapATAC2's `AlignmentInfo` sees it.
pub(super) struct Aln {
    pub(super) unclipped_start: i64,
    pub(super) unclipped_end: i64,
    pub(super) end: u64,
    pub(super) blocks: Vec<(u32, u32)>,
    pub(super) spliced: bool,
}

/// Reads the CIGAR: span, clips, and the `M`/`N` blocks. `None` when nothing of the reference is covered.
pub(super) fn alignment(rec: &bam::Record, start0: u64, buf: &mut Vec<(u32, u32)>) -> std::io::Result<Option<Aln>> {
    buf.clear();
    let (mut span, mut lead_clip, mut trail_clip, mut seen_body, mut spliced) = (0u64, 0u64, 0u64, false, false);
    let (mut cur, mut len) = (start0, 0u64);
    for op in rec.cigar().iter() {
        let op = op?;
        let n = op.len() as u64;
        match op.kind() {
            Kind::SoftClip | Kind::HardClip => {
                if seen_body {
                    trail_clip += n;
                } else {
                    lead_clip += n;
                }
                continue;
            }
            Kind::Match | Kind::SequenceMatch | Kind::SequenceMismatch => {
                span += n;
                len += n;
            }
            Kind::Skip => {
                span += n;
                spliced = true;
                if len > 0 {
                    buf.push((cur as u32, (cur + len) as u32));
                }
                cur += len + n;
                len = 0;
            }
            Kind::Deletion => span += n,
            Kind::Insertion | Kind::Pad => {}
        }
        seen_body = true;
        trail_clip = 0;
    }
    if span == 0 {
        return Ok(None);
    }
    let end = start0 + span;
    if spliced {
        if len > 0 {
            buf.push((cur as u32, (cur + len) as u32));
        }
    } else {
        buf.push((start0 as u32, end as u32));
    }
    let us = start0 as i64 + 1 - lead_clip as i64;
    let ue = end as i64 + trail_clip as i64;
    Ok(Some(Aln { unclipped_start: us, unclipped_end: ue, end, blocks: std::mem::take(buf), spliced }))
}

/// Packs a UMI of ≤ 28 `ACGT` bases into a code with the high bit set; other UMIs are numbered (high bit clear).
pub(super) fn umi_code(umi: &[u8], interned: &mut HashMap<Vec<u8>, u64>) -> u64 {
    if umi.len() <= 28 {
        let mut code = (1u64 << 63) | ((umi.len() as u64) << 56);
        let mut ok = true;
        for (i, &b) in umi.iter().enumerate() {
            let v = match b {
                b'A' => 0,
                b'C' => 1,
                b'G' => 2,
                b'T' => 3,
                _ => {
                    ok = false;
                    break;
                }
            };
            code |= v << (2 * i);
        }
        if ok {
            return code;
        }
    }
    let n = interned.len() as u64;
    *interned.entry(umi.to_vec()).or_insert(n)
}

/// Per-strand entries with provisional cell numbers: `(anchor, cell, signed length)` per chromosome.
pub(super) type Entries = Vec<Vec<(u32, u32, i32)>>;

pub(super) fn emit(rep: &Rep, cell: u32, reverse: bool, plus: &mut Entries, minus: &mut Entries, qc: &mut [CellRnaQc]) {
    let c = rep.chrom as usize;
    for &(s, e) in rep.blocks.iter() {
        let l = (e - s) as i32;
        if reverse {
            minus[c].push((e - 1, cell, -l));
        } else {
            plus[c].push((s, cell, l));
        }
    }
    let q = &mut qc[cell as usize];
    q.reads += 1;
    q.duplicates += rep.reads as u64 - 1;
    if reverse {
        q.minus += 1;
    } else {
        q.plus += 1;
    }
}
