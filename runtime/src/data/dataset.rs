//! `PeakDataset`: peaks, cells (with metadata) and the sparse peaks × cells matrix, as loaded from any supported
//! format; filtering by the scBasset rules and checking the peaks against a genome.

use crate::data::bed::PeakSet;
use crate::data::cells::CellMeta;
use crate::data::matrix::{is_standard_chromosome, FilterSpec, PeakMatrix};
use crate::error::{Result, RuntimeError};
use crate::seq::Genome;

/// Which chromosomes to keep.
#[derive(Clone, Debug, PartialEq)]
pub enum ChromosomeFilter {
    /// Autosomes plus X and Y (with or without `chr`), the scBasset notebook's rule.
    Standard,
    All,
    List(Vec<String>),
}

impl ChromosomeFilter {
    pub fn allows(&self, chrom: &str) -> bool {
        match self {
            ChromosomeFilter::Standard => is_standard_chromosome(chrom),
            ChromosomeFilter::All => true,
            ChromosomeFilter::List(l) => l.iter().any(|c| c == chrom),
        }
    }
}

/// Peaks × cells accessibility with its annotations.
#[derive(Clone, Debug)]
pub struct PeakDataset {
    pub peaks: PeakSet,
    pub cells: CellMeta,
    pub matrix: PeakMatrix,
    /// Where it came from (file path or "simulated"), for summaries.
    pub source: String,
}

/// What filtering removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterReport {
    pub peaks_before: usize,
    pub cells_before: usize,
    pub peaks_off_chromosomes: usize,
    pub peaks_rare: usize,
    pub cells_sparse: usize,
}

impl std::fmt::Display for FilterReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "kept {} of {} peaks ({} on other chromosomes, {} in too few cells) and {} of {} cells ({} with too few peaks)",
            self.peaks_before - self.peaks_off_chromosomes - self.peaks_rare,
            self.peaks_before,
            self.peaks_off_chromosomes,
            self.peaks_rare,
            self.cells_before - self.cells_sparse,
            self.cells_before,
            self.cells_sparse
        )
    }
}

impl PeakDataset {
    /// Checks that the parts agree in size.
    pub fn new(peaks: PeakSet, cells: CellMeta, matrix: PeakMatrix, source: impl Into<String>) -> Result<PeakDataset> {
        if matrix.n_peaks != peaks.len() || matrix.n_cells != cells.len() {
            return Err(RuntimeError::invalid(
                "data",
                format!(
                    "the matrix is {} peaks × {} cells but there are {} peaks and {} cells",
                    matrix.n_peaks,
                    matrix.n_cells,
                    peaks.len(),
                    cells.len()
                ),
            ));
        }
        Ok(PeakDataset { peaks, cells, matrix, source: source.into() })
    }
    pub fn n_peaks(&self) -> usize {
        self.peaks.len()
    }
    pub fn n_cells(&self) -> usize {
        self.cells.len()
    }
    /// Fraction of stored (non-zero) entries.
    pub fn density(&self) -> f64 {
        self.matrix.nnz() as f64 / (self.n_peaks() as f64 * self.n_cells() as f64).max(1.0)
    }

    /// Keeps peaks `p` and cells `c` (both in the given order).
    pub fn select(&self, p: &[usize], c: &[usize]) -> PeakDataset {
        PeakDataset {
            peaks: self.peaks.select(p),
            cells: self.cells.select(c),
            matrix: self.matrix.select(p, c),
            source: self.source.clone(),
        }
    }

    /// Applies the chromosome allow-list and the cell/peak filters; cells are filtered first (on all peaks), then
    /// peaks by how many of the kept cells they are open in.
    pub fn filter(&self, spec: &FilterSpec, chromosomes: &ChromosomeFilter) -> Result<(PeakDataset, FilterReport)> {
        let on_chrom: Vec<bool> = self.peaks.chrom.iter().map(|c| chromosomes.allows(c)).collect();
        let (peaks, cells) = spec.apply(&self.matrix, |p| on_chrom[p]);
        let off = on_chrom.iter().filter(|&&k| !k).count();
        let report = FilterReport {
            peaks_before: self.n_peaks(),
            cells_before: self.n_cells(),
            peaks_off_chromosomes: off,
            peaks_rare: self.n_peaks() - off - peaks.len(),
            cells_sparse: self.n_cells() - cells.len(),
        };
        if peaks.is_empty() || cells.is_empty() {
            return Err(RuntimeError::invalid(
                "filters",
                format!("no data left: {report}; relax min_cell_fraction / min_peaks_per_cell / chromosomes"),
            ));
        }
        let out = if peaks.len() == self.n_peaks() && cells.len() == self.n_cells() {
            self.clone()
        } else {
            self.select(&peaks, &cells)
        };
        Ok((out, report))
    }

    /// Chromosomes of the peaks that the genome lacks (sorted, each once).
    pub fn missing_chromosomes(&self, genome: &Genome) -> Vec<String> {
        let mut missing: Vec<String> = self.peaks.chrom.iter().filter(|c| !genome.has_chrom(c)).cloned().collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Errors listing the missing chromosomes, or (with `drop`) removes their peaks and says how many went.
    pub fn match_genome(self, genome: &Genome, drop: bool) -> Result<(PeakDataset, Option<String>)> {
        let missing = self.missing_chromosomes(genome);
        if missing.is_empty() {
            return Ok((self, None));
        }
        let n_missing = self.peaks.chrom.iter().filter(|c| missing.binary_search(c).is_ok()).count();
        let list = if missing.len() > 10 {
            format!("{} … ({} in all)", missing[..10].join(", "), missing.len())
        } else {
            missing.join(", ")
        };
        if !drop {
            return Err(RuntimeError::invalid(
                "genome",
                format!(
                    "{n_missing} peaks lie on chromosomes missing from {}: {list}. Use the matching genome, or drop these peaks with drop_missing_chromosomes: true",
                    genome.path().display()
                ),
            ));
        }
        let keep: Vec<usize> =
            (0..self.n_peaks()).filter(|&p| missing.binary_search(&self.peaks.chrom[p]).is_err()).collect();
        if keep.is_empty() {
            return Err(RuntimeError::invalid(
                "genome",
                format!("every peak lies on a chromosome missing from {}: {list}", genome.path().display()),
            ));
        }
        let all: Vec<usize> = (0..self.n_cells()).collect();
        let warning = format!("dropped {n_missing} peaks on chromosomes missing from the genome: {list}");
        Ok((self.select(&keep, &all), Some(warning)))
    }
}
