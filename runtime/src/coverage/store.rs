//! The compact per-cell stores behind every coverage value.
//!
//! - [`Insertions`]: Tn5 insertion sites (ATAC). One `u64` per insertion, `position << 32 | cell`, sorted per
//!   chromosome: 8 bytes each, whatever the number of cells; a window query is two binary searches.
//! - [`Reads`]: single-end read placements (RNA) in SnapATAC2-scooby's `fragment_single` convention: an anchor
//!   position and a signed length `v`; `v > 0` covers `[anchor, anchor + v)`, `v < 0` covers `[anchor + v + 1,
//!   anchor + 1)` (scooby `scdata.py`, `_sparse_to_coverage_rna`). 12 bytes each (packed key + `i32`).
//! - [`ReferenceSequences`]: chromosome names and lengths in file order, with the cumulative offsets that SnapATAC2's
//!   cells × genome matrices use as column numbers (`uns["reference_sequences"]`).
//!
//! Both stores are built with a builder that takes entries in any order and sorts once at the end.

use std::collections::HashMap;

use crate::{Result, RuntimeError};

/// Chromosome names and lengths, in the order of the source (FASTA index, BAM header, fragment file).
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceSequences {
    names: Vec<String>,
    lengths: Vec<u64>,
    offsets: Vec<u64>,
    index: HashMap<String, usize>,
}

impl ReferenceSequences {
    /// Fails on a repeated name or a zero length.
    pub fn new(chroms: impl IntoIterator<Item = (String, u64)>) -> Result<Self> {
        let mut out =
            ReferenceSequences { names: Vec::new(), lengths: Vec::new(), offsets: Vec::new(), index: HashMap::new() };
        let mut offset = 0u64;
        for (name, len) in chroms {
            if len == 0 {
                return Err(RuntimeError::invalid("reference_sequences", format!("chromosome {name} has length 0")));
            }
            if len > u32::MAX as u64 {
                return Err(RuntimeError::invalid(
                    "reference_sequences",
                    format!("chromosome {name} is {len} bp; coverage supports chromosomes up to 4,294,967,295 bp"),
                ));
            }
            if out.index.insert(name.clone(), out.names.len()).is_some() {
                return Err(RuntimeError::invalid("reference_sequences", format!("chromosome {name} appears twice")));
            }
            out.names.push(name);
            out.lengths.push(len);
            out.offsets.push(offset);
            offset += len;
        }
        Ok(out)
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn lengths(&self) -> &[u64] {
        &self.lengths
    }
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }
    pub fn length(&self, i: usize) -> u64 {
        self.lengths[i]
    }
    /// Column of the chromosome's first base in a cells × genome matrix.
    pub fn offset(&self, i: usize) -> u64 {
        self.offsets[i]
    }
    /// Sum of all lengths (the width of a cells × genome matrix).
    pub fn total_length(&self) -> u64 {
        self.offsets.last().map_or(0, |o| o + self.lengths[self.lengths.len() - 1])
    }
    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
    /// The chromosome index, or an error naming the chromosome and what was being read (`what`).
    pub fn require(&self, name: &str, what: &str) -> Result<usize> {
        self.get(name).ok_or_else(|| {
            let shown: Vec<&str> = self.names.iter().take(6).map(String::as_str).collect();
            RuntimeError::invalid(
                what,
                format!(
                    "unknown chromosome {name:?} (known: {}{})",
                    shown.join(", "),
                    if self.names.len() > 6 { ", …" } else { "" }
                ),
            )
        })
    }
    /// The chromosome and position of a cells × genome column.
    pub fn locate(&self, column: u64) -> Option<(usize, u64)> {
        if column >= self.total_length() {
            return None;
        }
        let i = self.offsets.partition_point(|&o| o <= column) - 1;
        Some((i, column - self.offsets[i]))
    }
}

#[inline]
fn pack(pos: u32, cell: u32) -> u64 {
    ((pos as u64) << 32) | cell as u64
}
#[inline]
pub fn unpack(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// Tn5 insertions of many cells, sorted by position per chromosome.
#[derive(Clone, Debug, Default)]
pub struct Insertions {
    /// Per chromosome (index of [`ReferenceSequences`]): `pos << 32 | cell`, ascending.
    chroms: Vec<Vec<u64>>,
}

impl Insertions {
    pub fn n_chroms(&self) -> usize {
        self.chroms.len()
    }
    /// Number of insertions stored.
    pub fn len(&self) -> usize {
        self.chroms.iter().map(Vec::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes held by the store.
    pub fn heap_bytes(&self) -> usize {
        self.chroms.iter().map(|c| c.capacity() * 8).sum()
    }
    /// The packed entries of one chromosome (`pos << 32 | cell`, ascending; see [`unpack`]).
    pub fn chrom(&self, chrom: usize) -> &[u64] {
        self.chroms.get(chrom).map_or(&[], Vec::as_slice)
    }
    /// Entries with `start <= pos < end` on a chromosome, as `(pos, cell)`.
    pub fn range(&self, chrom: usize, start: u64, end: u64) -> impl Iterator<Item = (u32, u32)> + '_ {
        let c = self.chrom(chrom);
        let lo = c.partition_point(|&k| (k >> 32) < start);
        let hi = c.partition_point(|&k| (k >> 32) < end);
        c[lo..hi.max(lo)].iter().map(|&k| unpack(k))
    }
    /// Insertions per cell (`n_cells` long).
    pub fn per_cell(&self, n_cells: usize) -> Vec<u64> {
        let mut out = vec![0u64; n_cells];
        for c in &self.chroms {
            for &k in c {
                out[k as u32 as usize] += 1;
            }
        }
        out
    }
    /// Keeps the cells with `keep[cell]`, renumbered in order (`keep.len()` = number of cells).
    pub fn subset_cells(&self, keep: &[bool]) -> Insertions {
        let map = renumber(keep);
        Insertions {
            chroms: self
                .chroms
                .iter()
                .map(|c| {
                    c.iter()
                        .filter_map(|&k| {
                            let (p, cell) = unpack(k);
                            map[cell as usize].map(|n| pack(p, n))
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

fn renumber(keep: &[bool]) -> Vec<Option<u32>> {
    let mut next = 0u32;
    keep.iter()
        .map(|&k| {
            k.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Collects insertions in any order; [`InsertionsBuilder::finish`] sorts.
#[derive(Debug)]
pub struct InsertionsBuilder {
    chroms: Vec<Vec<u64>>,
}

impl InsertionsBuilder {
    pub fn new(n_chroms: usize) -> Self {
        InsertionsBuilder { chroms: vec![Vec::new(); n_chroms] }
    }
    #[inline]
    pub fn push(&mut self, chrom: usize, pos: u32, cell: u32) {
        self.chroms[chrom].push(pack(pos, cell));
    }
    /// Makes room for at least `n` chromosomes (for readers that discover chromosomes as they go).
    pub fn ensure_chroms(&mut self, n: usize) {
        if self.chroms.len() < n {
            self.chroms.resize_with(n, Vec::new);
        }
    }
    /// Number of entries pushed so far.
    pub fn len(&self) -> usize {
        self.chroms.iter().map(Vec::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends another builder's entries (same chromosomes; used to merge per-thread builders).
    pub fn append(&mut self, other: InsertionsBuilder) {
        for (a, b) in self.chroms.iter_mut().zip(other.chroms) {
            if a.is_empty() {
                *a = b;
            } else {
                a.extend_from_slice(&b);
            }
        }
    }
    pub fn finish(mut self) -> Insertions {
        use rayon::prelude::*;
        self.chroms.par_iter_mut().for_each(|c| {
            c.par_sort_unstable();
            c.shrink_to_fit();
        });
        Insertions { chroms: self.chroms }
    }
}

/// Single-end reads of many cells (one strand's file in SnapATAC2-scooby terms), sorted by anchor per chromosome.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    /// Per chromosome: `(anchor << 32 | cell, signed length)`, ascending by key.
    chroms: Vec<(Vec<u64>, Vec<i32>)>,
    /// Largest |length| per chromosome (the margin a window query reads beyond its ends).
    max_len: Vec<u32>,
}

impl Reads {
    pub fn n_chroms(&self) -> usize {
        self.chroms.len()
    }
    pub fn len(&self) -> usize {
        self.chroms.iter().map(|c| c.0.len()).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn heap_bytes(&self) -> usize {
        self.chroms.iter().map(|c| c.0.capacity() * 8 + c.1.capacity() * 4).sum()
    }
    /// The packed keys and signed lengths of one chromosome.
    pub fn chrom(&self, chrom: usize) -> (&[u64], &[i32]) {
        self.chroms.get(chrom).map_or((&[], &[]), |(k, v)| (k.as_slice(), v.as_slice()))
    }
    /// Reads whose covered bases may fall in `[start, end)`: anchors in `[start - max_len, end + max_len)`, as
    /// `(anchor, cell, signed length)`.
    pub fn near(&self, chrom: usize, start: u64, end: u64) -> impl Iterator<Item = (u32, u32, i32)> + '_ {
        let (keys, lens) = self.chrom(chrom);
        let m = self.max_len.get(chrom).copied().unwrap_or(0) as u64;
        let (s, e) = (start.saturating_sub(m), end + m);
        let lo = keys.partition_point(|&k| (k >> 32) < s);
        let hi = keys.partition_point(|&k| (k >> 32) < e).max(lo);
        keys[lo..hi].iter().zip(&lens[lo..hi]).map(|(&k, &v)| {
            let (p, c) = unpack(k);
            (p, c, v)
        })
    }
    /// The covered half-open interval of a read.
    #[inline]
    pub fn span(anchor: u32, v: i32) -> (i64, i64) {
        let a = anchor as i64;
        if v >= 0 {
            (a, a + v as i64)
        } else {
            (a + v as i64 + 1, a + 1)
        }
    }
    pub fn per_cell(&self, n_cells: usize) -> Vec<u64> {
        let mut out = vec![0u64; n_cells];
        for (k, _) in &self.chroms {
            for &key in k {
                out[key as u32 as usize] += 1;
            }
        }
        out
    }
    pub fn subset_cells(&self, keep: &[bool]) -> Reads {
        let map = renumber(keep);
        let chroms = self
            .chroms
            .iter()
            .map(|(k, v)| {
                let mut nk = Vec::new();
                let mut nv = Vec::new();
                for (&key, &len) in k.iter().zip(v) {
                    let (p, cell) = unpack(key);
                    if let Some(n) = map[cell as usize] {
                        nk.push(pack(p, n));
                        nv.push(len);
                    }
                }
                (nk, nv)
            })
            .collect();
        Reads { chroms, max_len: self.max_len.clone() }
    }
}

/// Collects reads in any order; [`ReadsBuilder::finish`] sorts.
#[derive(Debug)]
pub struct ReadsBuilder {
    chroms: Vec<Vec<(u64, i32)>>,
}

impl ReadsBuilder {
    pub fn new(n_chroms: usize) -> Self {
        ReadsBuilder { chroms: vec![Vec::new(); n_chroms] }
    }
    /// A read anchored at `anchor` with signed length `len` (see the module docs; `len != 0`).
    /// Makes room for at least `n` chromosomes.
    pub fn ensure_chroms(&mut self, n: usize) {
        if self.chroms.len() < n {
            self.chroms.resize_with(n, Vec::new);
        }
    }
    #[inline]
    pub fn push(&mut self, chrom: usize, anchor: u32, cell: u32, len: i32) {
        self.chroms[chrom].push((pack(anchor, cell), len));
    }
    pub fn len(&self) -> usize {
        self.chroms.iter().map(Vec::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn append(&mut self, other: ReadsBuilder) {
        for (a, b) in self.chroms.iter_mut().zip(other.chroms) {
            a.extend_from_slice(&b);
        }
    }
    pub fn finish(mut self) -> Reads {
        use rayon::prelude::*;
        self.chroms.par_iter_mut().for_each(|c| c.par_sort_unstable());
        let max_len = self.chroms.iter().map(|c| c.iter().map(|e| e.1.unsigned_abs()).max().unwrap_or(0)).collect();
        let chroms = self.chroms.into_iter().map(|c| c.into_iter().unzip()).collect();
        Reads { chroms, max_len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insertions_sort_query_and_subset() {
        let mut b = InsertionsBuilder::new(2);
        for &(c, p, cell) in &[(0, 50, 1), (0, 10, 0), (1, 7, 2), (0, 10, 2), (0, 99, 0)] {
            b.push(c, p, cell);
        }
        let ins = b.finish();
        assert_eq!(ins.len(), 5);
        assert_eq!(ins.range(0, 10, 51).collect::<Vec<_>>(), vec![(10, 0), (10, 2), (50, 1)]);
        assert_eq!(ins.range(0, 11, 50).count(), 0);
        assert_eq!(ins.per_cell(3), vec![2, 1, 2]);
        let sub = ins.subset_cells(&[false, true, true]);
        assert_eq!(sub.per_cell(2), vec![1, 2]);
        assert_eq!(sub.range(1, 0, 10).collect::<Vec<_>>(), vec![(7, 1)]);
    }

    #[test]
    fn reads_spans_and_margins() {
        assert_eq!(Reads::span(100, 90), (100, 190));
        assert_eq!(Reads::span(189, -90), (100, 190));
        let mut b = ReadsBuilder::new(1);
        b.push(0, 1000, 0, -90);
        b.push(0, 10, 1, 5);
        let r = b.finish();
        // The minus read anchored at 1000 covers 911..1001, so a query over [950, 960) must see it.
        assert_eq!(r.near(0, 950, 960).collect::<Vec<_>>(), vec![(1000, 0, -90)]);
    }

    #[test]
    fn reference_sequences_offsets_and_errors() {
        let r = ReferenceSequences::new([("chr1".to_string(), 100), ("chr2".to_string(), 50)]).unwrap();
        assert_eq!(r.total_length(), 150);
        assert_eq!(r.locate(120), Some((1, 20)));
        assert_eq!(r.locate(150), None);
        assert!(r.require("chrX", "fragments").unwrap_err().to_string().contains("chrX"));
        assert!(ReferenceSequences::new([("a".to_string(), 1), ("a".to_string(), 2)]).is_err());
    }
}
