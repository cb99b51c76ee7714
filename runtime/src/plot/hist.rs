//! Histograms.

use super::axes::*;
use super::canvas::Canvas;
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::theme::{group_thousands, padded_range, Rect, Scale, Theme};
use plotters_backend::DrawingBackend;

/// Options for [`Figure::hist`].
#[derive(Debug, Clone)]
pub struct HistOptions {
    /// Figure title.
    pub title: String,
    /// X-axis label (what the values are).
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Normalise to a probability density instead of counts.
    pub density: bool,
    /// Bin range; `None` uses the data range. Values outside are not counted.
    pub range: Option<(f64, f64)>,
}

impl Default for HistOptions {
    fn default() -> Self {
        HistOptions {
            title: String::new(),
            x_label: String::new(),
            y_label: "Count".into(),
            density: false,
            range: None,
        }
    }
}

/// Binned histogram.
#[derive(Debug, Clone)]
pub(crate) struct HistPlot {
    lo: f64,
    hi: f64,
    heights: Vec<f64>,
    n: usize,
    nan: usize,
    opts: HistOptions,
}

impl Figure {
    /// Histogram of `values` with `bins` equal-width bins (1..=10000). NaN
    /// values are skipped and counted in the summary.
    pub fn hist(values: &[f64], bins: usize, opts: HistOptions) -> Result<Figure> {
        if values.is_empty() {
            return Err(PlotError::Empty("histogram values".into()));
        }
        if bins == 0 || bins > 10_000 {
            return Err(PlotError::Invalid(format!("bins = {bins}; must be between 1 and 10000")));
        }
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Err(PlotError::AllNan("histogram values".into()));
        }
        let (lo, hi) = match opts.range {
            Some((a, b)) if a.is_finite() && b.is_finite() && b > a => (a, b),
            Some((a, b)) => {
                return Err(PlotError::Invalid(format!("histogram range ({a}, {b}) must be finite with low < high")))
            }
            None => {
                let (a, b) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                if b > a {
                    (a, b)
                } else {
                    padded_range(std::iter::once(a), 0.0)
                }
            }
        };
        let mut counts = vec![0.0; bins];
        let mut n = 0;
        for v in &finite {
            if *v < lo || *v > hi {
                continue;
            }
            let k = (((v - lo) / (hi - lo)) * bins as f64).floor() as usize;
            counts[k.min(bins - 1)] += 1.0;
            n += 1;
        }
        if opts.density && n > 0 {
            let w = (hi - lo) / bins as f64;
            for c in counts.iter_mut() {
                *c /= n as f64 * w;
            }
        }
        let plot = HistPlot { lo, hi, heights: counts, n, nan: values.len() - finite.len(), opts };
        Ok(Figure::from_plot(PlotKind::Hist(plot), 720, 480))
    }
}

impl Plot for HistPlot {
    fn kind(&self) -> &'static str {
        "hist"
    }

    fn describe(&self) -> String {
        let mut s = format!("{} values, {} bins", group_thousands(self.n as i64), self.heights.len());
        if self.nan > 0 {
            s += &format!(", {} NaN skipped", group_thousands(self.nan as i64));
        }
        s
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let m = theme.margin;
        let top = m + title_height(theme, &o.title);
        let bottom = c.h - m - x_axis_height(theme, !o.x_label.is_empty());
        let ymax = self.heights.iter().copied().fold(0.0, f64::max);
        let ymax = if ymax > 0.0 { ymax * 1.05 } else { 1.0 };
        let yt = numeric_ticks(0.0, ymax, tick_target(bottom - top, 55.0));
        let area = Rect::new(m + y_axis_width(theme, &yt, !o.y_label.is_empty()), top, c.w - m, bottom);
        if area.w() < 20.0 || area.h() < 20.0 {
            return Err(PlotError::BadSize("figure too small for the histogram".into()));
        }
        let pad = (self.hi - self.lo) * 0.02;
        let xs = Scale::new(self.lo - pad, self.hi + pad, area.x0, area.x1);
        let ys = Scale::new(0.0, ymax, area.y1, area.y0);
        let xt = numeric_ticks(self.lo - pad, self.hi + pad, tick_target(area.w(), 80.0));
        draw_grid(c, theme, area, None, Some((&ys, &yt)))?;
        let bw = (self.hi - self.lo) / self.heights.len() as f64;
        let gap = if xs.map(bw) - xs.map(0.0) > 4.0 { 0.5 } else { 0.0 };
        for (k, &h) in self.heights.iter().enumerate() {
            if h <= 0.0 {
                continue;
            }
            let x0 = xs.map(self.lo + k as f64 * bw) + gap;
            let x1 = xs.map(self.lo + (k + 1) as f64 * bw) - gap;
            c.fill_rect(x0, ys.map(h), x1, area.y1, theme.accent, 0.85)?;
        }
        draw_x_axis(c, theme, area, &xs, &xt, &o.x_label)?;
        draw_y_axis(c, theme, area, &ys, &yt, &o.y_label)?;
        draw_title(c, theme, &o.title, area.cx(), m, c.w - 2.0 * m)
    }
}
