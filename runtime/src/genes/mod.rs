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
