//! Single-cell coverage: what scooby-style profile models train on, and the pseudobulk tracks people look at.
//!
//! A [`Coverage`] holds, for one set of cells (barcodes) over one genome ([`ReferenceSequences`]), any of: Tn5
//! insertions (ATAC, [`Insertions`]) and single-end RNA reads per strand ([`Reads`]). They come from 10x files
//! ([`fragments`]: `atac_fragments.tsv.gz`; [`bam`]: the GEX BAM), from SnapATAC2-scooby AnnData files
//! ([`scooby_h5ad`]), or from [`simulate`]; [`window`] turns a genomic window into scooby's training targets
//! (32-bp bins, RNA and ATAC transforms, reverse-complement flip), pseudobulk tracks, and [`bigwig`] writes tracks for
//! genome browsers.

pub mod bam;
mod bam_record;
mod bam_stream;
pub mod bigwig;
pub mod fragments;
pub mod qc;
pub mod scooby_h5ad;
pub mod simulate;
pub mod store;
pub mod window;

use std::sync::Arc;

pub use store::{Insertions, InsertionsBuilder, Reads, ReadsBuilder, ReferenceSequences};

use crate::{Result, RuntimeError};

/// One kind of per-cell track, in scooby's channel order (RNA +, RNA −, ATAC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackKind {
    RnaPlus,
    RnaMinus,
    Atac,
}

impl TrackKind {
    pub fn name(self) -> &'static str {
        match self {
            TrackKind::RnaPlus => "rna_plus",
            TrackKind::RnaMinus => "rna_minus",
            TrackKind::Atac => "atac",
        }
    }
    /// The track on the other strand (what a reverse-complemented window's channel becomes).
    pub fn reverse_strand(self) -> TrackKind {
        match self {
            TrackKind::RnaPlus => TrackKind::RnaMinus,
            TrackKind::RnaMinus => TrackKind::RnaPlus,
            TrackKind::Atac => TrackKind::Atac,
        }
    }
    pub fn parse(s: &str) -> Result<TrackKind> {
        match s {
            "rna_plus" | "+" | "plus" => Ok(TrackKind::RnaPlus),
            "rna_minus" | "-" | "minus" => Ok(TrackKind::RnaMinus),
            "atac" => Ok(TrackKind::Atac),
            _ => {
                Err(RuntimeError::invalid("tracks", format!("unknown track {s:?} (valid: rna_plus, rna_minus, atac)")))
            }
        }
    }
}

/// Per-cell coverage of one set of cells over one genome.
#[derive(Clone, Debug)]
pub struct Coverage {
    pub refs: Arc<ReferenceSequences>,
    /// Cell barcodes; a cell's index is its number in the stores.
    pub cells: Vec<String>,
    pub atac: Option<Insertions>,
    pub rna_plus: Option<Reads>,
    pub rna_minus: Option<Reads>,
}

impl Coverage {
    pub fn n_cells(&self) -> usize {
        self.cells.len()
    }
    /// The tracks present, in scooby's order (RNA +, RNA −, ATAC).
    pub fn tracks(&self) -> Vec<TrackKind> {
        let mut t = Vec::new();
        if self.rna_plus.is_some() {
            t.push(TrackKind::RnaPlus);
        }
        if self.rna_minus.is_some() {
            t.push(TrackKind::RnaMinus);
        }
        if self.atac.is_some() {
            t.push(TrackKind::Atac);
        }
        t
    }
    pub fn has(&self, kind: TrackKind) -> bool {
        match kind {
            TrackKind::RnaPlus => self.rna_plus.is_some(),
            TrackKind::RnaMinus => self.rna_minus.is_some(),
            TrackKind::Atac => self.atac.is_some(),
        }
    }
    /// Entries stored for a track (insertions or reads; 0 when absent).
    pub fn entries(&self, kind: TrackKind) -> usize {
        match kind {
            TrackKind::Atac => self.atac.as_ref().map_or(0, Insertions::len),
            TrackKind::RnaPlus => self.rna_plus.as_ref().map_or(0, Reads::len),
            TrackKind::RnaMinus => self.rna_minus.as_ref().map_or(0, Reads::len),
        }
    }
    /// Entries per cell of a track (zeros when absent).
    pub fn per_cell(&self, kind: TrackKind) -> Vec<u64> {
        let n = self.n_cells();
        match kind {
            TrackKind::Atac => self.atac.as_ref().map_or(vec![0; n], |a| a.per_cell(n)),
            TrackKind::RnaPlus => self.rna_plus.as_ref().map_or(vec![0; n], |a| a.per_cell(n)),
            TrackKind::RnaMinus => self.rna_minus.as_ref().map_or(vec![0; n], |a| a.per_cell(n)),
        }
    }
    /// Bytes held by the stores.
    pub fn heap_bytes(&self) -> usize {
        self.atac.as_ref().map_or(0, Insertions::heap_bytes)
            + self.rna_plus.as_ref().map_or(0, Reads::heap_bytes)
            + self.rna_minus.as_ref().map_or(0, Reads::heap_bytes)
    }
    /// Keeps the cells with `keep[cell]`, in order.
    pub fn subset_cells(&self, keep: &[bool]) -> Result<Coverage> {
        if keep.len() != self.cells.len() {
            return Err(RuntimeError::invalid("cells", format!("{} flags for {} cells", keep.len(), self.cells.len())));
        }
        Ok(Coverage {
            refs: self.refs.clone(),
            cells: self.cells.iter().zip(keep).filter(|(_, &k)| k).map(|(c, _)| c.clone()).collect(),
            atac: self.atac.as_ref().map(|a| a.subset_cells(keep)),
            rna_plus: self.rna_plus.as_ref().map(|a| a.subset_cells(keep)),
            rna_minus: self.rna_minus.as_ref().map(|a| a.subset_cells(keep)),
        })
    }
    /// Joins RNA coverage and ATAC coverage of the same cells (a multiome): the cells both have, in this value's
    /// order; the chromosomes must agree by name and length where both have them.
    pub fn join(&self, other: &Coverage) -> Result<Coverage> {
        for (i, name) in other.refs.names().iter().enumerate() {
            if let Some(j) = self.refs.get(name) {
                if self.refs.length(j) != other.refs.length(i) {
                    return Err(RuntimeError::invalid(
                        "coverage",
                        format!(
                            "chromosome {name} is {} bp in one coverage and {} bp in the other: not the same genome",
                            self.refs.length(j),
                            other.refs.length(i)
                        ),
                    ));
                }
            }
        }
        if self.refs.names() != other.refs.names() {
            return Err(RuntimeError::invalid(
                "coverage",
                "the two coverages list different chromosomes (or in another order); load both with the same genome",
            ));
        }
        let pos: std::collections::HashMap<&str, usize> =
            other.cells.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let keep_self: Vec<bool> = self.cells.iter().map(|c| pos.contains_key(c.as_str())).collect();
        let shared: Vec<&String> = self.cells.iter().filter(|c| pos.contains_key(c.as_str())).collect();
        if shared.is_empty() {
            return Err(RuntimeError::invalid("coverage", "the two coverages have no cell barcode in common"));
        }
        let a = self.subset_cells(&keep_self)?;
        // Reorder the other's cells to this order: subset, then renumber by position.
        let mut order = vec![u32::MAX; other.cells.len()];
        for (new, c) in shared.iter().enumerate() {
            order[pos[c.as_str()]] = new as u32;
        }
        let b = other.renumber_cells(&order, shared.len());
        let pick = |x: Option<Insertions>, y: Option<Insertions>| x.or(y);
        Ok(Coverage {
            refs: a.refs.clone(),
            cells: a.cells.clone(),
            atac: pick(a.atac, b.atac),
            rna_plus: a.rna_plus.or(b.rna_plus),
            rna_minus: a.rna_minus.or(b.rna_minus),
        })
    }
    /// Pseudobulk coverage: every cell's entries pooled into its group (`groups[cell]`, an index into `names`; `None`
    /// drops the cell). The result has one "cell" per group, named by `names`.
    pub fn pseudobulk(&self, groups: &[Option<usize>], names: &[String]) -> Result<Coverage> {
        if groups.len() != self.cells.len() {
            return Err(RuntimeError::invalid(
                "groups",
                format!("{} group labels for {} cells", groups.len(), self.cells.len()),
            ));
        }
        if let Some(g) = groups.iter().flatten().find(|&&g| g >= names.len()) {
            return Err(RuntimeError::invalid("groups", format!("group {g} but only {} group names", names.len())));
        }
        let order: Vec<u32> = groups.iter().map(|g| g.map_or(u32::MAX, |g| g as u32)).collect();
        let mut pooled = self.renumber_cells(&order, names.len());
        pooled.cells = names.to_vec();
        Ok(pooled)
    }
    /// Cell `i` becomes `order[i]` (`u32::MAX`: dropped).
    fn renumber_cells(&self, order: &[u32], n: usize) -> Coverage {
        let ins = |x: &Insertions| {
            let mut b = InsertionsBuilder::new(x.n_chroms());
            for c in 0..x.n_chroms() {
                for &k in x.chrom(c) {
                    let (p, cell) = store::unpack(k);
                    if order[cell as usize] != u32::MAX {
                        b.push(c, p, order[cell as usize]);
                    }
                }
            }
            b.finish()
        };
        let reads = |x: &Reads| {
            let mut b = ReadsBuilder::new(x.n_chroms());
            for c in 0..x.n_chroms() {
                let (keys, lens) = x.chrom(c);
                for (&k, &v) in keys.iter().zip(lens) {
                    let (p, cell) = store::unpack(k);
                    if order[cell as usize] != u32::MAX {
                        b.push(c, p, order[cell as usize], v);
                    }
                }
            }
            b.finish()
        };
        let mut cells = vec![String::new(); n];
        for (i, c) in self.cells.iter().enumerate() {
            if order[i] != u32::MAX {
                cells[order[i] as usize] = c.clone();
            }
        }
        Coverage {
            refs: self.refs.clone(),
            cells,
            atac: self.atac.as_ref().map(ins),
            rna_plus: self.rna_plus.as_ref().map(reads),
            rna_minus: self.rna_minus.as_ref().map(reads),
        }
    }
}
