//! Genome-browser style signal tracks over one region, one row per series.

use super::axes::*;
use super::canvas::{text_width, Canvas, TextSpec};
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::palette::categorical;
use super::text::{HAlign, VAlign};
use super::theme::{fmt_compact, group_thousands, nice_step, Rect, Scale, Theme};
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
}

/// Validated tracks (points sorted, NaN and out-of-region points dropped).
#[derive(Debug, Clone)]
pub(crate) struct TrackPlot {
    chrom: String,
    start: u64,
    end: u64,
    series: Vec<(String, Vec<(u64, f64)>)>,
    skipped: usize,
    opts: TrackOptions,
}

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
        let n = out.len() as u32;
        let plot = TrackPlot { chrom: chrom.to_string(), start, end, series: out, skipped, opts };
        Ok(Figure::from_plot(PlotKind::Track(plot), 1000, (110 + 90 * n).clamp(240, 1600)))
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
        s
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let m = theme.margin;
        let top = m + title_height(theme, &o.title);
        let bottom = c.h - m - x_axis_height(theme, !o.x_label.is_empty());
        let lab_w = self
            .series
            .iter()
            .map(|s| text_width(&ellipsize(&s.0, theme.label_size, 180.0), theme.label_size))
            .fold(0.0, f64::max);
        let range = |pts: &[(u64, f64)]| {
            let lo = nice_bound(pts.iter().map(|p| p.1).fold(0.0, f64::min));
            let hi = nice_bound(pts.iter().map(|p| p.1).fold(0.0, f64::max));
            if hi > lo {
                (lo, hi)
            } else {
                (0.0, 1.0)
            }
        };
        let shared = self.series.iter().fold((0.0f64, 0.0f64), |(a, b), s| {
            let (l, h) = range(&s.1);
            (a.min(l), b.max(h))
        });
        let ranges: Vec<(f64, f64)> =
            self.series.iter().map(|s| if o.shared_y { shared } else { range(&s.1) }).collect();
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
        let yw = tick_lists.iter().map(|t| y_axis_width(theme, t, false)).fold(0.0, f64::max);
        let x0 = m + lab_w + 10.0 + yw;
        let n = self.series.len() as f64;
        let gap = 14.0;
        let row_h = (bottom - top - gap * (n - 1.0)) / n;
        if row_h < 12.0 || c.w - m - x0 < 50.0 {
            return Err(PlotError::BadSize("figure too small for the tracks".into()));
        }
        let xs = Scale::new(self.start as f64, self.end as f64, x0, c.w - m);
        let pal = categorical(self.series.len());
        let xt = genomic_ticks(theme, &self.chrom, self.start, self.end, c.w - m - x0);
        let mut last = Rect::new(x0, top, c.w - m, top);
        for (ri, (label, pts)) in self.series.iter().enumerate() {
            let area = Rect::new(x0, top + ri as f64 * (row_h + gap), c.w - m, top + ri as f64 * (row_h + gap) + row_h);
            let (lo, hi) = ranges[ri];
            let ys = Scale::new(lo, hi, area.y1, area.y0 + 2.0);
            draw_grid(c, theme, area, Some((&xs, &xt)), None)?;
            // aggregate to about one point per pixel, keeping the extreme value
            let bins = (area.w() * 2.0).max(1.0) as usize;
            let mut agg: Vec<(f64, f64)> = Vec::new();
            if pts.len() > bins {
                let mut cur: Option<(usize, f64)> = None;
                for &(p, v) in pts {
                    let b = (((p - self.start) as f64 / (self.end - self.start) as f64) * bins as f64) as usize;
                    match cur {
                        Some((cb, cv)) if cb == b => cur = Some((cb, if v.abs() > cv.abs() { v } else { cv })),
                        Some((cb, cv)) => {
                            agg.push((
                                self.start as f64 + (cb as f64 + 0.5) / bins as f64 * (self.end - self.start) as f64,
                                cv,
                            ));
                            cur = Some((b, v));
                        }
                        None => cur = Some((b, v)),
                    }
                }
                if let Some((cb, cv)) = cur {
                    agg.push((
                        self.start as f64 + (cb as f64 + 0.5) / bins as f64 * (self.end - self.start) as f64,
                        cv,
                    ));
                }
            } else {
                agg = pts.iter().map(|&(p, v)| (p as f64, v)).collect();
            }
            let base = ys.map(0.0f64.clamp(lo, hi));
            if !agg.is_empty() {
                let mut poly = vec![(xs.map(agg[0].0), base)];
                poly.extend(agg.iter().map(|&(p, v)| (xs.map(p), ys.map(v))));
                poly.push((xs.map(agg[agg.len() - 1].0), base));
                c.polygon(&poly, pal[ri], 0.55)?;
                let line: Vec<(f64, f64)> = agg.iter().map(|&(p, v)| (xs.map(p), ys.map(v))).collect();
                if line.len() == 1 {
                    c.line(line[0].0, base, line[0].0, line[0].1, pal[ri], 1.2)?;
                }
                c.polyline(&line, pal[ri], 1.0, 1.2)?;
            }
            c.line(area.x0, base, area.x1, base, theme.text_muted, 0.6)?;
            draw_y_axis(c, theme, area, &ys, &tick_lists[ri], "")?;
            let lab = ellipsize(label, theme.label_size, 180.0);
            c.text(
                m + lab_w,
                (area.y0 + area.y1) / 2.0,
                &lab,
                TextSpec::new(theme.label_size, theme.text).align(HAlign::Right, VAlign::Center),
            )?;
            last = area;
        }
        draw_x_axis(c, theme, last, &xs, &xt, &o.x_label)?;
        draw_title(c, theme, &o.title, (x0 + c.w - m) / 2.0, m, c.w - 2.0 * m)
    }
}
