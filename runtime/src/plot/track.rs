//! Genome-browser style signal tracks over one region, one row per series, optionally grouped (rows of one cell
//! type together, labelled once), coloured per row, with shared y ranges per set of rows, and a gene track under
//! them ([`genes`]).

mod genes;

use super::axes::*;
use super::canvas::{text_width, text_width_bold, Canvas, TextSpec};
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::palette::{categorical, Rgb};
use super::text::{HAlign, VAlign};
use super::theme::{fmt_compact, group_thousands, nice_step, Rect, Scale, Theme};
use crate::genes::Gene;
use plotters_backend::DrawingBackend;

/// One signal: values at genomic positions (1 bp resolution, any order).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSeries {
    /// Row label.
    pub label: String,
    /// Genomic positions.
    pub positions: Vec<u64>,
    /// Value at each position.
    pub values: Vec<f64>,
}

/// Options for [`Figure::track`].
#[derive(Debug, Clone, Default)]
pub struct TrackOptions {
    /// Figure title.
    pub title: String,
    /// X-axis label (defaults to none; tick labels carry the chromosome).
    pub x_label: String,
    /// Use one y range for all rows instead of one per row.
    pub shared_y: bool,
    /// Genes for a gene track under the rows (those overlapping the region are drawn; an empty list draws none).
    pub genes: Vec<Gene>,
    /// Draw the gene track even when no gene overlaps the region (it then says so).
    pub gene_track: bool,
    /// One colour per row (default: the categorical palette, one colour per row).
    pub colors: Option<Vec<Rgb>>,
    /// A group label per row: consecutive rows of one group sit closer together and the group is labelled once at
    /// their left, the row label next to each row.
    pub row_groups: Option<Vec<String>>,
    /// Rows with equal numbers share one y range (e.g. all ATAC rows, all RNA rows); overrides `shared_y`.
    pub y_groups: Option<Vec<usize>>,
}

/// Validated tracks (points sorted, NaN and out-of-region points dropped).
#[derive(Debug, Clone)]
pub(crate) struct TrackPlot {
    chrom: String,
    start: u64,
    end: u64,
    series: Vec<(String, Vec<(u64, f64)>)>,
    skipped: usize,
    /// Genes overlapping the region.
    genes: Vec<Gene>,
    opts: TrackOptions,
}

/// Gap between rows of one group, and between groups (or between all rows without groups).
const GAP_IN_GROUP: f64 = 5.0;
const GAP: f64 = 14.0;
/// Row height of grouped figures and figures with a gene track.
const ROW_H: f64 = 56.0;
/// Room for the group labels left of the row labels.
const GROUP_W: f64 = 150.0;

impl Figure {
    /// Signal tracks over `region = (chrom, start, end)`. Points outside the
    /// region or with NaN values are skipped (and counted in the summary).
    pub fn track(region: (&str, u64, u64), series: Vec<TrackSeries>, opts: TrackOptions) -> Result<Figure> {
        let (chrom, start, end) = region;
        if end <= start {
            return Err(PlotError::Invalid(format!("region {chrom}:{start}-{end} is empty (end must exceed start)")));
        }
        if series.is_empty() {
            return Err(PlotError::Empty("track series list".into()));
        }
        let mut out = Vec::new();
        let mut skipped = 0;
        for s in series {
            if s.positions.len() != s.values.len() {
                return Err(PlotError::mismatch(
                    &format!("positions of track {:?}", s.label),
                    s.positions.len(),
                    "values",
                    s.values.len(),
                ));
            }
            if s.positions.is_empty() {
                return Err(PlotError::Empty(format!("track {:?}", s.label)));
            }
            let mut pts: Vec<(u64, f64)> = s
                .positions
                .iter()
                .copied()
                .zip(s.values.iter().copied())
                .filter(|(p, v)| v.is_finite() && *p >= start && *p <= end)
                .collect();
            skipped += s.positions.len() - pts.len();
            pts.sort_by_key(|p| p.0);
            out.push((s.label, pts));
        }
        if out.iter().all(|s| s.1.is_empty()) {
            return Err(PlotError::AllNan(format!("track values inside {chrom}:{start}-{end}")));
        }
        let n = out.len();
        for (what, len) in [
            ("colors", opts.colors.as_ref().map(Vec::len)),
            ("row groups", opts.row_groups.as_ref().map(Vec::len)),
            ("y groups", opts.y_groups.as_ref().map(Vec::len)),
        ] {
            if let Some(len) = len.filter(|&l| l != n) {
                return Err(PlotError::mismatch(what, len, "tracks", n));
            }
        }
        let genes: Vec<Gene> =
            opts.genes.iter().filter(|g| g.chrom == chrom && g.start < end && g.end > start).cloned().collect();
        let gene_track = !genes.is_empty() || opts.gene_track;
        let height = if !gene_track && opts.row_groups.is_none() {
            (110 + 90 * n as u32).clamp(240, 1600)
        } else {
            // lanes at the default width (the label column is about 200 px)
            let lanes = if genes.is_empty() {
                1
            } else {
                let xs = Scale::new(start as f64, end as f64, 216.0, 984.0);
                genes::pack(&genes, &xs, (start, end), &Theme::default(), 216.0, 984.0).1.clamp(1, genes::MAX_LANES)
            };
            let rows = n as f64 * (ROW_H + GAP);
            let gene_h = if gene_track { lanes as f64 * genes::LANE_H + GAP } else { 0.0 };
            (rows + gene_h + 110.0).clamp(200.0, 2400.0) as u32
        };
        let plot = TrackPlot { chrom: chrom.to_string(), start, end, series: out, skipped, genes, opts };
        Ok(Figure::from_plot(PlotKind::Track(plot), 1000, height))
    }
}

/// Round a range end away from zero to a tidy value (4.251 → 4.5).
fn nice_bound(v: f64) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let step = nice_step(v.abs() / 8.0);
    (v.abs() / step - 1e-9).ceil() * step * v.signum()
}

/// Genomic tick labels that fit in `width` pixels.
fn genomic_ticks(theme: &Theme, chrom: &str, start: u64, end: u64, width: f64) -> Vec<(f64, String)> {
    let mut target = 8usize;
    loop {
        let step = nice_step((end - start) as f64 / target as f64).max(1.0) as u64;
        let first = start.div_ceil(step) * step;
        let t: Vec<(f64, String)> = (0..)
            .map(|k| first + k * step)
            .take_while(|&p| p <= end)
            .map(|p| (p as f64, format!("{chrom}:{}", group_thousands(p as i64))))
            .collect();
        let need: f64 = t.iter().map(|(_, s)| text_width(s, theme.tick_size) + 16.0).sum();
        if need <= width || target <= 2 {
            return t;
        }
        target -= 1;
    }
}

impl Plot for TrackPlot {
    fn kind(&self) -> &'static str {
        "track"
    }

    fn describe(&self) -> String {
        let n: usize = self.series.iter().map(|s| s.1.len()).sum();
        let mut s = format!(
            "{} tracks, {} points, {}:{}-{}",
            self.series.len(),
            group_thousands(n as i64),
            self.chrom,
            group_thousands(self.start as i64),
            group_thousands(self.end as i64)
        );
        if self.skipped > 0 {
            s += &format!(", {} skipped", group_thousands(self.skipped as i64));
        }
        if self.gene_track() {
            s += &format!(", {} gene{}", self.genes.len(), if self.genes.len() == 1 { "" } else { "s" });
        }
        s
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let m = theme.margin;
        let top = m + title_height(theme, &o.title);
        let bottom = c.h - m - x_axis_height(theme, !o.x_label.is_empty());
        let n = self.series.len();
        let groups = o.row_groups.as_ref();
        let lab_max = if groups.is_some() { 130.0 } else { 180.0 };
        let mut lab_w = self
            .series
            .iter()
            .map(|s| text_width(&ellipsize(&s.0, theme.label_size, lab_max), theme.label_size))
            .fold(0.0, f64::max);
        if self.gene_track() {
            lab_w = lab_w.max(text_width("Genes", theme.label_size));
        }
        let group_w = groups.map_or(0.0, |g| {
            g.iter()
                .map(|s| text_width_bold(&ellipsize(s, theme.label_size, GROUP_W - 14.0), theme.label_size))
                .fold(0.0, f64::max)
                + 14.0
        });
        let range = |pts: &[(u64, f64)]| {
            let lo = nice_bound(pts.iter().map(|p| p.1).fold(0.0, f64::min));
            let hi = nice_bound(pts.iter().map(|p| p.1).fold(0.0, f64::max));
            if hi > lo {
                (lo, hi)
            } else {
                (0.0, 1.0)
            }
        };
        let own: Vec<(f64, f64)> = self.series.iter().map(|s| range(&s.1)).collect();
        let union = |rows: &mut dyn Iterator<Item = usize>| {
            rows.fold((0.0f64, 0.0f64), |(a, b), i| (a.min(own[i].0), b.max(own[i].1)))
        };
        let ranges: Vec<(f64, f64)> = match &o.y_groups {
            Some(g) => (0..n).map(|i| union(&mut (0..n).filter(|&j| g[j] == g[i]))).collect(),
            None if o.shared_y => vec![union(&mut (0..n)); n],
            None => own,
        };
        let tick_lists: Vec<Vec<(f64, String)>> = ranges
            .iter()
            .map(|&(lo, hi)| {
                let mut t = vec![(hi, fmt_compact(hi))];
                t.push((lo, fmt_compact(lo)));
                if lo < 0.0 && hi > 0.0 {
                    t.push((0.0, "0".into()));
                }
                t
            })
            .collect();
        // browser style (grouped rows or a gene track): each row's range written in its corner instead of an axis
        let browser = groups.is_some() || self.gene_track();
        let yw =
            if browser { 4.0 } else { tick_lists.iter().map(|t| y_axis_width(theme, t, false)).fold(0.0, f64::max) };
        let x0 = m + group_w + lab_w + 10.0 + yw;
        if c.w - m - x0 < 50.0 {
            return Err(PlotError::BadSize("figure too small for the tracks".into()));
        }
        let xs = Scale::new(self.start as f64, self.end as f64, x0, c.w - m);
        let region = (self.start, self.end);
        // vertical layout: gaps between rows, the gene track (at most half the height), rows share the rest
        let gaps: Vec<f64> = (0..n)
            .map(|i| match groups {
                _ if i == 0 => 0.0,
                Some(g) if g[i] == g[i - 1] => GAP_IN_GROUP,
                _ => GAP,
            })
            .collect();
        let avail = bottom - top;
        let gene_h = if self.gene_track() {
            let lanes = genes::pack(&self.genes, &xs, region, theme, x0, c.w - m).1.clamp(1, genes::MAX_LANES);
            (GAP + lanes as f64 * genes::LANE_H).min(avail / 2.0)
        } else {
            0.0
        };
        let row_h = (avail - gaps.iter().sum::<f64>() - gene_h) / n as f64;
        if row_h < 12.0 {
            return Err(PlotError::BadSize("figure too small for the tracks".into()));
        }
        let pal = o.colors.clone().unwrap_or_else(|| categorical(n));
        let xt = genomic_ticks(theme, &self.chrom, self.start, self.end, c.w - m - x0);
        let mut last = Rect::new(x0, top, c.w - m, top);
        let mut y = top;
        let mut areas = Vec::with_capacity(n);
        for (ri, (label, pts)) in self.series.iter().enumerate() {
            y += gaps[ri];
            let area = Rect::new(x0, y, c.w - m, y + row_h);
            y += row_h;
            areas.push(area);
            let (lo, hi) = ranges[ri];
            let ys = Scale::new(lo, hi, area.y1, area.y0 + 2.0);
            draw_grid(c, theme, area, Some((&xs, &xt)), None)?;
            let agg = aggregate(pts, self.start, self.end, (area.w() * 2.0).max(1.0) as usize);
            let base = ys.map(0.0f64.clamp(lo, hi));
            if !agg.is_empty() {
                let clamp = |v: f64| ys.map(v.clamp(lo, hi));
                let mut poly = vec![(xs.map(agg[0].0), base)];
                poly.extend(agg.iter().map(|&(p, v)| (xs.map(p), clamp(v))));
                poly.push((xs.map(agg[agg.len() - 1].0), base));
                c.polygon(&poly, pal[ri], 0.55)?;
                let line: Vec<(f64, f64)> = agg.iter().map(|&(p, v)| (xs.map(p), clamp(v))).collect();
                if line.len() == 1 {
                    c.line(line[0].0, base, line[0].0, line[0].1, pal[ri], 1.2)?;
                }
                c.polyline(&line, pal[ri], 1.0, 1.2)?;
            }
            c.line(area.x0, base, area.x1, base, theme.text_muted, 0.6)?;
            if browser {
                let text = format!("[{} – {}]", fmt_compact(lo), fmt_compact(hi));
                let ts = TextSpec::new(theme.tick_size * 0.9, theme.text_muted).align(HAlign::Left, VAlign::Top);
                c.text(area.x0 + 3.0, area.y0 + 1.0, &text, ts)?;
            } else {
                draw_y_axis(c, theme, area, &ys, &tick_lists[ri], "")?;
            }
            let lab = ellipsize(label, theme.label_size, lab_max);
            c.text(
                m + group_w + lab_w,
                (area.y0 + area.y1) / 2.0,
                &lab,
                TextSpec::new(theme.label_size, theme.text).align(HAlign::Right, VAlign::Center),
            )?;
            last = area;
        }
        if let Some(g) = groups {
            let mut i = 0;
            while i < n {
                let j = (i..n).find(|&j| g[j] != g[i]).unwrap_or(n);
                let (y0, y1) = (areas[i].y0, areas[j - 1].y1);
                let text = ellipsize(&g[i], theme.label_size, GROUP_W - 14.0);
                c.text(
                    m,
                    (y0 + y1) / 2.0,
                    &text,
                    TextSpec::new(theme.label_size, theme.text).bold().align(HAlign::Left, VAlign::Center),
                )?;
                let bx = m + group_w - 6.0;
                c.line(bx, y0 + 2.0, bx, y1 - 2.0, theme.text_muted, 1.0)?;
                i = j;
            }
        }
        if self.gene_track() {
            let area = Rect::new(x0, y + GAP, c.w - m, y + gene_h);
            draw_grid(c, theme, area, Some((&xs, &xt)), None)?;
            let ts = TextSpec::new(theme.label_size, theme.text).align(HAlign::Right, VAlign::Center);
            c.text(m + group_w + lab_w, area.y0 + genes::LANE_H / 2.0 - 4.0, "Genes", ts)?;
            genes::draw_genes(c, theme, area, &xs, region, &self.genes)?;
            last = area;
        }
        draw_x_axis(c, theme, last, &xs, &xt, &o.x_label)?;
        draw_title(c, theme, &o.title, (x0 + c.w - m) / 2.0, m, c.w - 2.0 * m)
    }
}

impl TrackPlot {
    fn gene_track(&self) -> bool {
        !self.genes.is_empty() || self.opts.gene_track
    }
}

/// About `bins` points over the region, each bin keeping its value of largest magnitude (so peaks survive).
fn aggregate(pts: &[(u64, f64)], start: u64, end: u64, bins: usize) -> Vec<(f64, f64)> {
    if pts.len() <= bins {
        return pts.iter().map(|&(p, v)| (p as f64, v)).collect();
    }
    let span = (end - start) as f64;
    let centre = |b: usize| start as f64 + (b as f64 + 0.5) / bins as f64 * span;
    let mut agg: Vec<(f64, f64)> = Vec::new();
    let mut cur: Option<(usize, f64)> = None;
    for &(p, v) in pts {
        let b = (((p - start) as f64 / span) * bins as f64) as usize;
        match cur {
            Some((cb, cv)) if cb == b => cur = Some((cb, if v.abs() > cv.abs() { v } else { cv })),
            Some((cb, cv)) => {
                agg.push((centre(cb), cv));
                cur = Some((b, v));
            }
            None => cur = Some((b, v)),
        }
    }
    if let Some((cb, cv)) = cur {
        agg.push((centre(cb), cv));
    }
    agg
}
