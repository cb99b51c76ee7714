//! Predicted vs observed pseudobulk tracks per cell type around a gene or a region (scooby's Fig. 2-style panel:
//! Lal et al. 2024; gagneurlab/scooby_reproducibility `plot_tracks`).
//!
//! - The window is the model's output (`bins · bin_size` bp) centred on the gene's exon span as in
//!   [`super::predict::gene_output_window`] (what gene counts use), or centred on a region as `predict` does.
//! - Drawn bins (the view): the whole window for a gene, the region's bins for a region, or `span` bp centred on
//!   the gene or region; always whole bins of the window, inside the chromosome.
//! - Predicted: each group's pseudobulk in counts ([`predict_profiles`] with groups: the sum of its cells' counts);
//!   observed: the same cells' summed coverage ([`pseudobulk`], untransformed: RNA in reads, ATAC in insertions) over
//!   the same bins. Same units, as scooby compares them.
//! - The figure ([`ProfileTracks::figure`]): per group, per track an observed row (grey) and a predicted row (the
//!   track's colour) sharing one y range — every RNA row of every group on one scale, every ATAC row on another —
//!   with the gene track under them.

use tch::Tensor;

use super::predict::{gene_output_window, output_region, predict_profiles, CellSelection, PredictOptions};
use crate::coverage::window::{pseudobulk, WindowOptions};
use crate::coverage::{Coverage, TrackKind};
use crate::genes::windows::{window_center, WindowCenter};
use crate::genes::{Gene, Strand};
use crate::models::profile::CellProfileModel;
use crate::plot::{Figure, Rgb, TrackOptions, TrackSeries};
use crate::progress::CancelToken;
use crate::seq::genome::Genome;
use crate::seq::region::Region;
use crate::{Result, RuntimeError};

/// What the tracks are drawn around.
#[derive(Clone, Debug)]
pub enum Locus<'a> {
    Gene(&'a Gene),
    Region(Region),
}

/// Settings of [`profile_tracks`].
#[derive(Clone, Debug, Default)]
pub struct ProfileTrackOptions {
    /// Tracks to draw, in this order (None: for a gene its sense-strand RNA and ATAC, for a region every track of the
    /// model; those the model predicts and the coverage holds).
    pub tracks: Option<Vec<TrackKind>>,
    /// Width in bp of the drawn view, centred on the gene or region (None: the whole window for a gene, the region
    /// itself for a region).
    pub span: Option<u64>,
    /// Prediction settings (`tracks` there names the model's tracks; `None` as in [`predict_profiles`]).
    pub predict: PredictOptions,
}

/// Predicted and observed pseudobulk tracks over the view, `bins × groups × tracks` row-major each.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileTracks {
    /// The model's output window the prediction covers.
    pub window: Region,
    /// The drawn bins (a whole number of the window's bins, inside the chromosome).
    pub view: Region,
    pub bin_size: usize,
    pub tracks: Vec<TrackKind>,
    pub n_groups: usize,
    pub predicted: Vec<f32>,
    pub observed: Vec<f32>,
}

/// Grey of the observed rows; predicted rows take their track's colour (Okabe–Ito blue, vermillion, bluish green).
pub const OBSERVED_COLOR: Rgb = Rgb(0x80, 0x80, 0x80);

pub fn track_color(k: TrackKind) -> Rgb {
    match k {
        TrackKind::RnaPlus => Rgb(0x00, 0x72, 0xB2),
        TrackKind::RnaMinus => Rgb(0xD5, 0x5E, 0x00),
        TrackKind::Atac => Rgb(0x00, 0x9E, 0x73),
    }
}

fn track_label(k: TrackKind) -> &'static str {
    match k {
        TrackKind::RnaPlus => "RNA +",
        TrackKind::RnaMinus => "RNA −",
        TrackKind::Atac => "ATAC",
    }
}

/// The rows of the figure with each row's group, colour and y range (0: RNA, 1: ATAC).
#[derive(Clone, Debug)]
pub struct ProfileRows {
    pub rows: Vec<TrackSeries>,
    pub groups: Vec<String>,
    pub colors: Vec<Rgb>,
    pub y_groups: Vec<usize>,
}

impl ProfileTracks {
    pub fn bins(&self) -> usize {
        (self.view.len() / self.bin_size as u64) as usize
    }

    fn at(&self, bin: usize, group: usize, track: usize) -> usize {
        (bin * self.n_groups + group) * self.tracks.len() + track
    }

    pub fn predicted(&self, bin: usize, group: usize, track: usize) -> f32 {
        self.predicted[self.at(bin, group, track)]
    }

    pub fn observed(&self, bin: usize, group: usize, track: usize) -> f32 {
        self.observed[self.at(bin, group, track)]
    }

    /// The drawn rows: per group, per track, observed then predicted, each value at its bin's centre.
    pub fn series(&self, group_names: &[String]) -> Result<ProfileRows> {
        if group_names.len() != self.n_groups {
            return Err(RuntimeError::invalid(
                "groups",
                format!("{} group names for {} groups", group_names.len(), self.n_groups),
            ));
        }
        let positions: Vec<u64> = (0..self.bins() as u64)
            .map(|b| self.view.start + b * self.bin_size as u64 + self.bin_size as u64 / 2)
            .collect();
        let (mut rows, mut groups, mut colors, mut y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (g, name) in group_names.iter().enumerate() {
            for (t, &kind) in self.tracks.iter().enumerate() {
                for (what, color, f) in [
                    ("observed", OBSERVED_COLOR, Self::observed as fn(&Self, usize, usize, usize) -> f32),
                    ("predicted", track_color(kind), Self::predicted),
                ] {
                    let values = (0..self.bins()).map(|b| f(self, b, g, t) as f64).collect();
                    rows.push(TrackSeries {
                        label: format!("{} {what}", track_label(kind)),
                        positions: positions.clone(),
                        values,
                    });
                    groups.push(name.clone());
                    colors.push(color);
                    y.push(usize::from(kind == TrackKind::Atac));
                }
            }
        }
        Ok(ProfileRows { rows, groups, colors, y_groups: y })
    }

    /// The figure: [`Self::series`] as grouped signal rows over the view, `genes` (those overlapping) under them.
    pub fn figure(&self, group_names: &[String], genes: Vec<Gene>, title: &str) -> Result<Figure> {
        let r = self.series(group_names)?;
        let opts = TrackOptions {
            title: title.to_string(),
            gene_track: !genes.is_empty(),
            genes,
            colors: Some(r.colors),
            row_groups: Some(r.groups),
            y_groups: Some(r.y_groups),
            ..Default::default()
        };
        Ok(Figure::track((&self.view.chrom, self.view.start, self.view.end), r.rows, opts)?)
    }
}

/// The tracks drawn by default: a gene's sense-strand RNA and ATAC, else all the model's; of those, the ones the
/// coverage holds too.
fn default_tracks(locus: &Locus, model_tracks: &[TrackKind], coverage: &Coverage) -> Result<Vec<TrackKind>> {
    let wanted = match locus {
        Locus::Gene(g) => {
            let sense = if g.strand == Strand::Minus { TrackKind::RnaMinus } else { TrackKind::RnaPlus };
            vec![sense, TrackKind::Atac]
        }
        Locus::Region(_) => model_tracks.to_vec(),
    };
    let tracks: Vec<TrackKind> =
        wanted.iter().copied().filter(|k| model_tracks.contains(k) && coverage.has(*k)).collect();
    if tracks.is_empty() {
        let names = |t: &[TrackKind]| t.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
        return Err(RuntimeError::invalid(
            "tracks",
            format!(
                "none of {} is both predicted by the model ({}) and held by the coverage ({})",
                names(&wanted),
                names(model_tracks),
                names(&coverage.tracks())
            ),
        ));
    }
    Ok(tracks)
}

/// The drawn bins of `window` (bins of `bin` bp): `span` bp around `centre`, or `[lo, hi)`, snapped outward to whole
/// bins and kept inside the window and the chromosome (`chrom_len`).
fn view_of(window: &Region, bin: u64, lo: u64, hi: u64, chrom_len: u64) -> Result<Region> {
    let first = lo.max(window.start).saturating_sub(window.start) / bin;
    let last = hi.min(window.end).min(chrom_len).saturating_sub(window.start).div_ceil(bin);
    if last <= first {
        return Err(RuntimeError::invalid(
            "region",
            format!(
                "nothing of {}:{lo}-{hi} lies in the model's output window {window} inside the chromosome",
                window.chrom
            ),
        ));
    }
    Region::new(window.chrom.clone(), window.start + first * bin, window.start + last * bin)
}

/// Predicted and observed pseudobulk tracks of the groups (`labels[cell]`, cells in the coverage's order and the rows
/// of `states`) around a gene or region.
#[allow(clippy::too_many_arguments)]
pub fn profile_tracks(
    model: &dyn CellProfileModel,
    genome: &Genome,
    coverage: &Coverage,
    locus: &Locus,
    states: &Tensor,
    labels: &[Option<usize>],
    n_groups: usize,
    opts: &ProfileTrackOptions,
    cancel: &CancelToken,
) -> Result<ProfileTracks> {
    if labels.len() != coverage.n_cells() {
        return Err(RuntimeError::invalid(
            "groups",
            format!("{} group labels for the coverage's {} cells", labels.len(), coverage.n_cells()),
        ));
    }
    let model_tracks = opts.predict.resolve_tracks(model.n_tracks())?;
    let tracks = match &opts.tracks {
        Some(t) => t.clone(),
        None => default_tracks(locus, &model_tracks, coverage)?,
    };
    if tracks.is_empty() {
        return Err(RuntimeError::invalid("tracks", "no track to draw"));
    }
    let mut cols = Vec::with_capacity(tracks.len());
    for k in &tracks {
        let i = model_tracks.iter().position(|m| m == k).ok_or_else(|| {
            let have: Vec<&str> = model_tracks.iter().map(|t| t.name()).collect();
            RuntimeError::invalid("tracks", format!("the model predicts {}, not {}", have.join(", "), k.name()))
        })?;
        cols.push(i);
    }
    let (window, centre, default_view) = match locus {
        Locus::Gene(g) => {
            let w = gene_output_window(model, genome, g)?;
            (w.clone(), window_center(g, WindowCenter::Gene), w)
        }
        Locus::Region(r) => (output_region(model, r)?, r.center(), r.clone()),
    };
    let chrom_len = genome.chrom_length(&window.chrom).ok_or_else(|| {
        RuntimeError::invalid("region", format!("chromosome `{}` is not in the genome", window.chrom))
    })?;
    let bin = model.bin_size() as u64;
    let (lo, hi) = match opts.span {
        Some(s) if s < bin || s > window.len() => {
            return Err(RuntimeError::invalid(
                "span",
                format!(
                    "is {s} bp; it must lie between one bin ({bin} bp) and the model's output window ({} bp)",
                    window.len()
                ),
            ))
        }
        Some(s) => (centre.saturating_sub(s / 2), centre.saturating_sub(s / 2) + s),
        None => {
            if default_view.len() > window.len() {
                return Err(RuntimeError::invalid(
                    "region",
                    format!(
                        "{default_view} is {} bp, longer than the model's output window ({} bp): give a shorter region or a span",
                        default_view.len(),
                        window.len()
                    ),
                ));
            }
            (default_view.start, default_view.end)
        }
    };
    let view = view_of(&window, bin, lo, hi, chrom_len)?;
    let selection = CellSelection::Groups { labels: labels.to_vec(), n_groups };
    let p = predict_profiles(model, genome, &window, states, &selection, &opts.predict, cancel)?;
    debug_assert_eq!(p.region, window);
    let first = ((view.start - window.start) / bin) as usize;
    let bins = (view.len() / bin) as usize;
    let mut predicted = Vec::with_capacity(bins * n_groups * tracks.len());
    for b in first..first + bins {
        for g in 0..n_groups {
            predicted.extend(cols.iter().map(|&t| p.get(b, g, t)));
        }
    }
    let wopts = WindowOptions { bin: bin as u32, tracks: Some(tracks.clone()), ..Default::default() };
    let observed = pseudobulk(coverage, &view, labels, n_groups, &wopts, false)?.data;
    Ok(ProfileTracks { window, view, bin_size: bin as usize, tracks, n_groups, predicted, observed })
}

#[cfg(test)]
#[path = "figure_tests.rs"]
mod tests;
