//! Genes: a gene table from GTF annotation (GENCODE, Ensembl, 10x refdata), transcription start sites, the exon union
//! per gene, gene-centred model windows and the exon bins of a gene inside a window (scooby's rule), and Borzoi-style
//! fold splits.

/// Strand of a gene.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strand {
    Plus,
    Minus,
}

impl Strand {
    pub fn symbol(self) -> char {
        match self {
            Strand::Plus => '+',
            Strand::Minus => '-',
        }
    }
}

/// One gene. Coordinates are 0-based, half-open.
#[derive(Clone, Debug, PartialEq)]
pub struct Gene {
    /// `gene_id` (e.g. ENSG00000141510).
    pub id: String,
    /// `gene_name` (falls back to the id).
    pub name: String,
    /// `gene_type` / `gene_biotype` when the annotation has it.
    pub gene_type: Option<String>,
    pub chrom: String,
    /// Gene span (the `gene` record, or the span of its exons when there is none).
    pub start: u64,
    pub end: u64,
    pub strand: Strand,
    /// Union of the exons of all the gene's transcripts: sorted, non-overlapping, touching intervals merged.
    pub exons: Vec<(u64, u64)>,
}

impl Gene {
    /// Transcription start site: the first base of the gene on its strand (`start` on +, `end - 1` on −).
    pub fn tss(&self) -> u64 {
        match self.strand {
            Strand::Plus => self.start,
            Strand::Minus => self.end - 1,
        }
    }
}

/// Genes in annotation order.
#[derive(Clone, Debug, Default)]
pub struct GeneTable {
    pub genes: Vec<Gene>,
    /// Where the table came from (file name), for display.
    pub source: String,
}

pub mod folds;
pub mod gtf;
pub mod windows;

#[cfg(test)]
mod gtf_tests;
#[cfg(test)]
mod windows_tests;

pub use folds::{make_folds, read_folds, write_folds, FoldRegion, FoldSplit, Split};
pub use gtf::{load_genes, load_genes_with, parse_gtf, GeneOptions};
pub use windows::{
    exon_bins, gene_window, GeneWindowOptions, WindowCenter, SCOOBY_BIN, SCOOBY_CONTEXT_LENGTH, SCOOBY_OUTPUT_LENGTH,
};

use crate::{Result, RuntimeError};

impl Gene {
    /// The span of the exon union (first exon start, last exon end) — what scooby's `Gene.span()` returns; the gene
    /// span when the gene has no exon.
    pub fn exon_span(&self) -> (u64, u64) {
        match (self.exons.first(), self.exons.last()) {
            (Some(a), Some(b)) => (a.0, b.1),
            _ => (self.start, self.end),
        }
    }
    /// Bases in exons (the exon union's total length).
    pub fn exonic_length(&self) -> u64 {
        self.exons.iter().map(|(s, e)| e - s).sum()
    }
}

impl GeneTable {
    pub fn len(&self) -> usize {
        self.genes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.genes.is_empty()
    }
    /// The gene with this `gene_id`, or else the one gene with this `gene_name`. A name shared by several genes
    /// (GENCODE has a few) is an error listing their ids.
    pub fn find(&self, key: &str) -> Result<&Gene> {
        if let Some(g) = self.genes.iter().find(|g| g.id == key) {
            return Ok(g);
        }
        let named: Vec<&Gene> = self.genes.iter().filter(|g| g.name == key).collect();
        match named.as_slice() {
            [g] => Ok(g),
            [] => Err(RuntimeError::invalid("gene", format!("no gene with id or name `{key}` in {}", self.label()))),
            many => Err(RuntimeError::invalid(
                "gene",
                format!(
                    "`{key}` names {} genes ({}); give the gene_id",
                    many.len(),
                    many.iter().map(|g| format!("{} on {}", g.id, g.chrom)).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
    /// Genes overlapping `[start, end)` on `chrom`, in table order.
    pub fn overlapping(&self, chrom: &str, start: u64, end: u64) -> Vec<&Gene> {
        self.genes.iter().filter(|g| g.chrom == chrom && g.start < end && g.end > start).collect()
    }
    /// The genes whose type is one of `types` (when given) on one of `chromosomes` (when given).
    pub fn filter(&self, types: Option<&[String]>, chromosomes: Option<&[String]>) -> GeneTable {
        let genes = self
            .genes
            .iter()
            .filter(|g| types.is_none_or(|t| g.gene_type.as_ref().is_some_and(|x| t.contains(x))))
            .filter(|g| chromosomes.is_none_or(|c| c.contains(&g.chrom)))
            .cloned()
            .collect();
        GeneTable { genes, source: self.source.clone() }
    }
    fn label(&self) -> &str {
        if self.source.is_empty() {
            "the gene table"
        } else {
            &self.source
        }
    }
}
