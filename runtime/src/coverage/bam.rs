//! 10x GEX BAM (`gex_possorted_bam.bam`) → per-cell, per-strand RNA read coverage, as SnapATAC2-scooby stores it.
//!
//! scooby's RNA targets come from SnapATAC2-scooby 1.0.3 (PyPI `snapatac2-scooby`, source lauradmartens/SnapATAC2):
//! `pp.make_fragment_file(bam, out, is_paired=False, stranded=True, barcode_tag="CB", umi_tag="UB", shift_left=0,
//! shift_right=0)` writes one fragment file per strand, and `pp.import_fragments` turns each into a cells × genome
//! matrix `obsm["fragment_single"]` (scooby `docs/notebooks/data_loading_example.ipynb`). The rules, from
//! `snapatac2-core/src/preprocessing/bam.rs` (`make_fragment_file`), `bam/flagstat.rs` (`filter_bam`,
//! `AlignmentInfo`), `bam/mark_duplicates.rs` (`FingerPrint::from_single_read`, `rm_dup_single`,
//! `get_unique_fragments`) and `preprocessing/import.rs` (`count_fragments`), checked against the wheel in the tests:
//!
//! - **Filter.** A record is dropped when any of flags 0x4 (unmapped), 0x8 (mate unmapped), 0x100 (secondary), 0x200
//!   (QC fail), 0x400 (duplicate, as Cell Ranger marks them), 0x800 (supplementary) is set, when MAPQ < `min_mapq`
//!   (Python default 30; MAPQ 255 = "unavailable" passes), when it has no cell tag (`CB`), and, with the optional
//!   Cell Ranger filter (`xf_filter`, recommended in scooby's tutorial), unless its `xf` tag is 25. Reads without
//!   a UMI tag are kept (their UMI is "none").
//! - **Duplicates**, per cell: reads with the same chromosome, 5′ end, strand and UMI are one molecule. The 5′ end is
//!   the *unclipped* start (alignment start minus leading soft/hard clips) for forward reads and the unclipped end
//!   for reverse reads. The molecule keeps the read with the largest sum of base qualities ≥ 15 (ties: the first
//!   in order of unclipped start, unclipped end, then file order — SnapATAC2's sort before `rm_dup_single`). Without
//!   a UMI tag (`umi: ""`) duplicates are reads with the same 5′ end and strand (SnapATAC2 with `umi_tag=None`);
//!   `dedup: false` keeps every read.
//! - **Placement.** The read covers `[alignment start, alignment end)` (0-based; soft clips and insertions cover
//!   nothing, deletions are covered). A spliced read (CIGAR `N`) becomes one entry per exon block. Blocks are built
//!   from the `M` and `N` operations alone (`AlignmentInfo::new`: other operations are filtered out before grouping),
//!   so a deletion or insertion in a spliced read does not move the blocks: the blocks start at the alignment start
//!   and each is as long as its `M` bases (reproduced here; `=`/`X` count as `M` here, which SnapATAC2 would drop or
//!   fail on).
//! - **Strand and value.** Files are split by the read's own strand (flag 0x10), with no flip for 10x chemistry
//!   (10x 3′ GEX reads are sense to the transcript). A forward block `[s, e)` is stored at column `s` with value
//!   `e − s`; a reverse block at column `e − 1` with value `−(e − s)` (its 5′ end; scooby `_sparse_to_coverage_rna`
//!   covers `[col + v + 1, col + 1)`). The value is the block's reference length, not 90; scooby divides coverage by
//!   `custom_read_length = 90` later. Each molecule counts once, whatever its number of reads.
//!
//! Memory: the store (12 bytes per entry) plus the molecules being de-duplicated. In a BAM whose header says
//! `SO:coordinate` (Cell Ranger's `possorted`), molecules whose 5′ end lies 64 kb behind the current read are complete
//! and are stored (a later read's 5′ end is at most its leading clip before its start), so only the reads near the
//! current position are held; an out-of-order record is then an error. An unsorted BAM is de-duplicated at the end.
//!
//! Differences (deliberate): cells come in whitelist order, else sorted by barcode (SnapATAC2's order), and one cell
//! list serves both strands (SnapATAC2 imports each strand file on its own, so a cell without reads on one strand is
//! missing from that file); a read reaching past its chromosome's end is skipped and counted (SnapATAC2 panics); a
//! cell tag that is not a string, character or integer (float, hex, array) is an error (SnapATAC2 drops the read);
//! `chromosomes` skips reads elsewhere but keeps the header's chromosome list (column layout).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use noodles::bam;
use noodles::sam::alignment::record::data::field::Tag;

use super::bam_record::{alignment, emit, parse_tag, tag_text, umi_code, Entries, Key, Rep};
use super::bam_stream::{read_reference_list, Lookahead};

use super::fragments::{open_text, Compression};
use super::{Coverage, ReadsBuilder, ReferenceSequences};
use crate::progress::{CancelToken, Progress};
use crate::{Result, RuntimeError};

/// Settings of [`load_rna_coverage`].
#[derive(Clone, Debug)]
pub struct RnaOptions {
    /// Only these barcodes, in this order; `None`: every barcode, sorted.
    pub barcodes: Option<Vec<String>>,
    /// Cell barcode tag (10x: corrected barcode `CB`).
    pub tag: String,
    /// UMI tag (10x: corrected UMI `UB`); `None`: no UMI, duplicates by position and strand only.
    pub umi: Option<String>,
    /// Remove duplicates at all (SnapATAC2 always does).
    pub dedup: bool,
    /// Minimum MAPQ (SnapATAC2's `min_mapq`, default 30; 0 keeps all).
    pub min_mapq: u8,
    /// Keep only reads on these chromosomes (the coverage still lists every header chromosome).
    pub chromosomes: Option<Vec<String>>,
    /// Keep only reads with Cell Ranger's `xf:i:25` (confidently mapped, counted UMI representative).
    pub xf_filter: bool,
}

impl Default for RnaOptions {
    fn default() -> Self {
        RnaOptions {
            barcodes: None,
            tag: "CB".into(),
            umi: Some("UB".into()),
            dedup: true,
            min_mapq: 30,
            chromosomes: None,
            xf_filter: false,
        }
    }
}

/// Per-cell numbers of an import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CellRnaQc {
    /// Molecules (unique reads) kept, and how many of them are on the forward / reverse strand.
    pub reads: u64,
    pub plus: u64,
    pub minus: u64,
    /// Duplicates of the cell's molecules: reads that passed the filters but were duplicates of a kept read, plus
    /// reads flagged duplicate (0x400, as Cell Ranger flags all but one read of each molecule) that carry the cell's
    /// barcode and MAPQ ≥ `min_mapq`.
    pub duplicates: u64,
}

impl CellRnaQc {
    /// `duplicates / (reads + duplicates)`.
    pub fn frac_dup(&self) -> f64 {
        let all = self.reads + self.duplicates;
        if all == 0 {
            0.0
        } else {
            self.duplicates as f64 / all as f64
        }
    }
}

/// What an import read, by reason (each record counts once, under the first reason that applies, in this order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RnaStats {
    pub records: u64,
    /// Flag 0x4 or 0x8.
    pub unmapped: u64,
    /// Flag 0x100 or 0x800.
    pub secondary: u64,
    /// Flag 0x200.
    pub qc_fail: u64,
    /// Flag 0x400.
    pub flagged_duplicate: u64,
    pub low_mapq: u64,
    /// No cell tag.
    pub no_barcode: u64,
    /// Cell tag not in the whitelist.
    pub other_barcode: u64,
    /// `xf` tag other than 25 (with `xf_filter`).
    pub xf_filtered: u64,
    /// On a chromosome not in `chromosomes`.
    pub other_chromosome: u64,
    /// Alignment covering no reference base, or reaching past the chromosome end.
    pub bad_alignment: u64,
    /// Reads that passed every filter.
    pub passed: u64,
    /// Passed reads removed as duplicates.
    pub duplicates: u64,
    /// Molecules kept (= passed − duplicates), spliced ones among them, and entries stored per strand (one per block).
    pub reads: u64,
    pub spliced: u64,
    pub plus_entries: u64,
    pub minus_entries: u64,
    /// Per cell of the returned coverage, in its order.
    pub cells: Vec<CellRnaQc>,
}

/// A BAM without any record carrying the cell tag is reported after this many records.
const TAG_PROBE_RECORDS: u64 = 1_000_000;
const UMI_NONE: u64 = u64::MAX;
/// In a coordinate-sorted BAM, molecules whose 5′ end lies this far behind the current read are complete (a later
/// read's 5′ end is at most its leading clip before its start; 10x reads are ≤ 150 bp).
#[cfg(not(test))]
const SORTED_MARGIN: i64 = 1 << 16;
/// Passed reads between two such flushes.
#[cfg(not(test))]
const FLUSH_EVERY: u64 = 1 << 16;
// Small in the tests, so that their BAMs go through many flushes.
#[cfg(test)]
const SORTED_MARGIN: i64 = 2_000;
#[cfg(test)]
const FLUSH_EVERY: u64 = 64;

/// Reads a 10x GEX BAM into `rna_plus` / `rna_minus` coverage (see the module docs for the rules) with per-cell
/// numbers. BGZF is decoded on several threads; progress counts compressed bytes.
pub fn load_rna_coverage(
    path: &Path,
    opts: &RnaOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<(Coverage, RnaStats)> {
    let cell_tag = parse_tag("tag", &opts.tag)?;
    let umi_tag = match opts.umi.as_deref() {
        None | Some("") => None,
        Some(u) => Some(parse_tag("umi", u)?),
    };
    let xf_tag = Tag::new(b'x', b'f');
    let total_bytes = std::fs::metadata(path).map_err(|e| RuntimeError::io(path, e))?.len();
    let bytes = Arc::new(AtomicU64::new(0));
    let (inner, compression) = open_text(path, bytes.clone())?;
    if compression != Compression::Bgzf {
        return Err(RuntimeError::parse(path, 0, "not a BAM file: it is not BGZF-compressed (a SAM or CRAM file?)"));
    }
    let mut reader = bam::io::Reader::from(Lookahead::new(inner));
    let (refs, sorted) = read_header(&mut reader, path)?;
    let n_chroms = refs.len();
    let keep_chrom: Vec<bool> = match &opts.chromosomes {
        None => vec![true; n_chroms],
        Some(list) => {
            let mut k = vec![false; n_chroms];
            for c in list {
                k[refs.require(c, "chromosomes")?] = true;
            }
            k
        }
    };

    let mut cells: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let whitelist = opts.barcodes.is_some();
    if let Some(b) = &opts.barcodes {
        if b.is_empty() {
            return Err(RuntimeError::invalid("barcodes", "the whitelist is empty"));
        }
        for bc in b {
            if cells.insert(bc.as_bytes().to_vec(), names.len() as u32).is_some() {
                return Err(RuntimeError::invalid("barcodes", format!("barcode {bc} is listed twice")));
            }
            names.push(bc.clone());
        }
    }
    let mut qc = vec![CellRnaQc::default(); names.len()];
    // Flagged duplicates of barcodes not yet seen on a passing read (no whitelist), added at the end.
    let mut flagged_later: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut stats = RnaStats::default();
    let (mut plus, mut minus): (Entries, Entries) = (vec![Vec::new(); n_chroms], vec![Vec::new(); n_chroms]);
    let mut molecules: HashMap<Key, Rep> = HashMap::new();
    let mut umis: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut done_chrom = vec![false; n_chroms];
    let mut current_chrom: Option<usize> = None;
    let mut tagged = 0u64;
    let mut tags_seen: Vec<String> = Vec::new();
    let mut unmatched: Vec<String> = Vec::new();
    let (mut bc, mut umi_buf, mut blocks) = (Vec::new(), Vec::new(), Vec::new());
    let mut rec = bam::Record::default();
    progress.start(&format!("reading {}", path.display()), Some(total_bytes));

    // Emits the molecules whose 5′ end lies below `below` (all with `i64::MAX`).
    let flush = |molecules: &mut HashMap<Key, Rep>,
                 below: i64,
                 plus: &mut Entries,
                 minus: &mut Entries,
                 qc: &mut [CellRnaQc]| {
        molecules.retain(|k, rep| {
            if k.coord_5p < below {
                emit(rep, k.cell, k.reverse, plus, minus, qc);
                false
            } else {
                true
            }
        });
    };
    let mut last_start = 0u64;
    loop {
        let n = reader.get_mut().prefetch_record().and_then(|()| reader.read_record(&mut rec)).map_err(|e| {
            RuntimeError::parse(
                path,
                0,
                format!("cannot decode record {} ({e}): the BAM is truncated or corrupt", stats.records + 1),
            )
        })?;
        if n == 0 {
            break;
        }
        stats.records += 1;
        let recno = stats.records;
        if recno & 0xffff == 0 {
            cancel.check()?;
            progress.update(bytes.load(Ordering::Relaxed), &format!("{recno} records, {} cells", names.len()));
        }
        let bad_record = |msg: String| {
            let name = rec.name().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_else(|| "*".into());
            RuntimeError::parse(path, 0, format!("record {recno} (read {name}): {msg}"))
        };
        if tags_seen.len() < 24 && recno <= 1000 {
            // Stop at the first undecodable field: noodles' iterator yields that error again and again (`flatten`
            // would spin forever on it); the tag itself is decoded below, with an error naming the record.
            for f in rec.data().iter() {
                let Ok(f) = f else { break };
                let t = String::from_utf8_lossy(f.0.as_ref()).into_owned();
                if !tags_seen.contains(&t) {
                    tags_seen.push(t);
                }
            }
        }
        let barcode = match rec.data().get(&cell_tag) {
            None => None,
            Some(v) => {
                let v = v.map_err(|e| bad_record(format!("cannot decode tag {}: {e}", opts.tag)))?;
                tag_text(&v, &mut bc).map_err(|ty| {
                    bad_record(format!("tag {} is {ty}; a cell barcode must be a string (Z)", opts.tag))
                })?;
                tagged += 1;
                Some(())
            }
        };
        if tagged == 0 && recno >= TAG_PROBE_RECORDS {
            return Err(no_tag_error(path, &opts.tag, recno, &tags_seen));
        }
        let flags = rec.flags();
        if flags.is_unmapped() || flags.is_mate_unmapped() {
            stats.unmapped += 1;
            continue;
        }
        if flags.is_secondary() || flags.is_supplementary() {
            stats.secondary += 1;
            continue;
        }
        if flags.is_qc_fail() {
            stats.qc_fail += 1;
            continue;
        }
        if flags.is_duplicate() {
            stats.flagged_duplicate += 1;
            // Still a duplicate of its cell's molecule (Cell Ranger flags all but one read of each): counted in the
            // cell's QC when it would have passed MAPQ and carries a cell barcode.
            if barcode.is_some() && rec.mapping_quality().map_or(255, |q| q.get()) >= opts.min_mapq {
                match cells.get(bc.as_slice()) {
                    Some(&c) => qc[c as usize].duplicates += 1,
                    None if !whitelist => *flagged_later.entry(bc.clone()).or_default() += 1,
                    None => {}
                }
            }
            continue;
        }
        if rec.mapping_quality().map_or(255, |q| q.get()) < opts.min_mapq {
            stats.low_mapq += 1;
            continue;
        }
        if barcode.is_none() {
            stats.no_barcode += 1;
            continue;
        }
        let cell = match cells.get(bc.as_slice()) {
            Some(&c) => c,
            None if whitelist => {
                stats.other_barcode += 1;
                if unmatched.len() < 3 && !unmatched.iter().any(|b| b.as_bytes() == bc.as_slice()) {
                    unmatched.push(String::from_utf8_lossy(&bc).into_owned());
                }
                continue;
            }
            None => {
                let id = names.len() as u32;
                cells.insert(bc.clone(), id);
                names.push(String::from_utf8_lossy(&bc).into_owned());
                qc.push(CellRnaQc::default());
                id
            }
        };
        if opts.xf_filter {
            let ok = match rec.data().get(&xf_tag) {
                Some(Ok(v)) => tag_text(&v, &mut umi_buf).is_ok() && umi_buf.as_slice() == b"25",
                _ => false,
            };
            if !ok {
                stats.xf_filtered += 1;
                continue;
            }
        }
        let (Some(Ok(chrom)), Some(Ok(pos))) = (rec.reference_sequence_id(), rec.alignment_start()) else {
            stats.unmapped += 1;
            continue;
        };
        if chrom >= n_chroms {
            return Err(bad_record(format!("reference sequence {chrom} is not in the header ({n_chroms} sequences)")));
        }
        if !keep_chrom[chrom] {
            stats.other_chromosome += 1;
            continue;
        }
        let start0 = usize::from(pos) as u64 - 1;
        let Some(aln) = alignment(&rec, start0, &mut blocks).map_err(|e| bad_record(format!("bad CIGAR: {e}")))? else {
            stats.bad_alignment += 1;
            continue;
        };
        if aln.end > refs.length(chrom) {
            stats.bad_alignment += 1;
            blocks = aln.blocks;
            continue;
        }
        stats.passed += 1;
        if aln.spliced {
            stats.spliced += 1;
        }
        let reverse = flags.is_reverse_complemented();
        if !opts.dedup {
            let rep = Rep { chrom: chrom as u32, qual: 0, order: (0, 0), reads: 1, blocks: aln.blocks.into() };
            emit(&rep, cell, reverse, &mut plus, &mut minus, &mut qc);
            continue;
        }
        if sorted && current_chrom != Some(chrom) {
            if done_chrom[chrom] {
                return Err(bad_record(format!(
                    "the header says the BAM is sorted by coordinate, but {} comes again after other chromosomes",
                    refs.name(chrom)
                )));
            }
            if let Some(c) = current_chrom {
                done_chrom[c] = true;
            }
            current_chrom = Some(chrom);
            flush(&mut molecules, i64::MAX, &mut plus, &mut minus, &mut qc);
            last_start = 0;
        }
        if sorted {
            if start0 < last_start {
                return Err(bad_record(format!(
                    "the header says the BAM is sorted by coordinate, but this read starts at {}:{} after a read at {}",
                    refs.name(chrom),
                    start0 + 1,
                    last_start + 1
                )));
            }
            last_start = start0;
            // Later reads start at or after `start0`, so their 5′ ends lie above `start0 − clip`: molecules further
            // behind are complete.
            if stats.passed % FLUSH_EVERY == 0 {
                flush(&mut molecules, start0 as i64 - SORTED_MARGIN, &mut plus, &mut minus, &mut qc);
            }
        }
        let umi = match umi_tag.as_ref().and_then(|t| rec.data().get(t)) {
            None => UMI_NONE,
            Some(v) => {
                let v = v.map_err(|e| bad_record(format!("cannot decode the UMI tag: {e}")))?;
                tag_text(&v, &mut umi_buf).map_err(|ty| {
                    bad_record(format!(
                        "UMI tag {} is {ty}; a UMI must be a string (Z)",
                        opts.umi.as_deref().unwrap_or("")
                    ))
                })?;
                umi_code(&umi_buf, &mut umis)
            }
        };
        let qual: u32 = rec.quality_scores().as_bytes().iter().filter(|&&q| q >= 15).map(|&q| q as u32).sum();
        let coord_5p = if reverse { aln.unclipped_end } else { aln.unclipped_start };
        let order = (aln.unclipped_start, aln.unclipped_end);
        let key = Key { cell, chrom: chrom as u32, reverse, coord_5p, umi };
        match molecules.get_mut(&key) {
            None => {
                let rep = Rep { chrom: chrom as u32, qual, order, reads: 1, blocks: aln.blocks.into() };
                molecules.insert(key, rep);
            }
            Some(rep) => {
                rep.reads += 1;
                stats.duplicates += 1;
                if qual > rep.qual || (qual == rep.qual && order < rep.order) {
                    rep.qual = qual;
                    rep.order = order;
                    rep.blocks = aln.blocks.into();
                }
            }
        }
    }
    flush(&mut molecules, i64::MAX, &mut plus, &mut minus, &mut qc);
    for (bc, n) in flagged_later {
        if let Some(&c) = cells.get(&bc) {
            qc[c as usize].duplicates += n;
        }
    }
    stats.reads = stats.passed - stats.duplicates;
    if tagged == 0 {
        return Err(no_tag_error(path, &opts.tag, stats.records, &tags_seen));
    }
    if stats.reads == 0 {
        let why = if whitelist && stats.other_barcode > 0 {
            format!(
                "no barcode of the whitelist occurs in the BAM (BAM barcodes such as {}; whitelist barcodes such as {})",
                unmatched.join(", "),
                names.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            )
        } else {
            format!(
                "no read passed the filters ({} records: {} unmapped, {} secondary/supplementary, {} QC-failed, {} \
                 flagged duplicates, {} with MAPQ < {}, {} without {}, {} failing the xf filter, {} on other \
                 chromosomes)",
                stats.records,
                stats.unmapped,
                stats.secondary,
                stats.qc_fail,
                stats.flagged_duplicate,
                stats.low_mapq,
                opts.min_mapq,
                stats.no_barcode,
                opts.tag,
                stats.xf_filtered,
                stats.other_chromosome
            )
        };
        return Err(RuntimeError::parse(path, 0, why));
    }
    cancel.check()?;
    progress.update(total_bytes, "sorting reads");

    // Final cell numbers: whitelist order or sorted barcodes, cells without a molecule dropped.
    let mut order: Vec<u32> = (0..names.len() as u32).filter(|&c| qc[c as usize].reads > 0).collect();
    if !whitelist {
        order.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
    }
    let mut renumber = vec![u32::MAX; names.len()];
    for (new, &old) in order.iter().enumerate() {
        renumber[old as usize] = new as u32;
    }
    let build = |entries: Entries, count: &mut u64| {
        let mut b = ReadsBuilder::new(n_chroms);
        for (c, list) in entries.into_iter().enumerate() {
            *count += list.len() as u64;
            for (anchor, cell, v) in list {
                b.push(c, anchor, renumber[cell as usize], v);
            }
        }
        b.finish()
    };
    let rna_plus = build(plus, &mut stats.plus_entries);
    let rna_minus = build(minus, &mut stats.minus_entries);
    stats.cells = order.iter().map(|&c| qc[c as usize]).collect();
    let cells_out: Vec<String> = order.iter().map(|&c| std::mem::take(&mut names[c as usize])).collect();
    let cov = Coverage {
        refs: Arc::new(refs),
        cells: cells_out,
        atac: None,
        rna_plus: Some(rna_plus),
        rna_minus: Some(rna_minus),
    };
    progress.finish(&format!(
        "{} cells, {} molecules ({} duplicates removed), {} + / {} − entries",
        cov.n_cells(),
        stats.reads,
        stats.duplicates,
        stats.plus_entries,
        stats.minus_entries
    ));
    Ok((cov, stats))
}

fn no_tag_error(path: &Path, tag: &str, records: u64, seen: &[String]) -> RuntimeError {
    let hint = if seen.is_empty() {
        "the first records carry no tags at all".to_string()
    } else {
        format!("tags on the first records: {}", seen.join(", "))
    };
    let what = if records == 0 { "the BAM has no records".to_string() } else { format!("none of {records} records") };
    RuntimeError::parse(
        path,
        0,
        format!("{what} carries the cell barcode tag {tag} ({hint}); set `tag` to the tag that holds the barcode"),
    )
}

/// Chromosomes (from the binary reference list, which Cell Ranger BAMs keep valid even where their text header is
/// not) and whether the text header declares `SO:coordinate`.
fn read_header<R: Read>(reader: &mut bam::io::Reader<R>, path: &Path) -> Result<(ReferenceSequences, bool)> {
    let bad = |msg: String| RuntimeError::parse(path, 0, msg);
    let mut text = Vec::new();
    {
        let mut hr = reader.header_reader();
        let magic = hr.read_magic_number().map_err(|e| bad(format!("not a BAM file ({e})")))?;
        if &magic != b"BAM\x01" {
            return Err(bad(
                "not a BAM file: the decompressed data does not start with BAM\\1 (a gzipped text file?)".into()
            ));
        }
        let mut raw = hr.raw_sam_header_reader().map_err(|e| bad(format!("cannot read the BAM header: {e}")))?;
        raw.read_to_end(&mut text).map_err(|e| bad(format!("cannot read the BAM header: {e}")))?;
        raw.discard_to_end().map_err(|e| bad(format!("cannot read the BAM header: {e}")))?;
    }
    // Our own bounded parse: noodles allocates each name's `l_name` bytes before reading them.
    let list =
        read_reference_list(reader.get_mut()).map_err(|e| bad(format!("cannot read the BAM reference list: {e}")))?;
    if list.is_empty() {
        return Err(bad("the BAM header lists no reference sequences (an unaligned BAM?)".into()));
    }
    let refs = ReferenceSequences::new(list).map_err(|e| bad(format!("BAM header: {e}")))?;
    let sorted = String::from_utf8_lossy(&text)
        .lines()
        .find(|l| l.starts_with("@HD"))
        .is_some_and(|l| l.split('\t').any(|f| f == "SO:coordinate"));
    Ok((refs, sorted))
}

#[cfg(test)]
#[path = "bam_tests.rs"]
mod tests;
