//! Per-group distributions: violin plots (Gaussian KDE, Silverman bandwidth)
//! and box plots (Tukey whiskers at 1.5 IQR, outliers shown).

use super::axes::*;
use super::canvas::{text_width, Canvas, TextSpec};
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::palette::{categorical, Rgb};
use super::text::{HAlign, VAlign};
use super::theme::{group_thousands, padded_range, Rect, Scale, Theme};
use plotters_backend::DrawingBackend;

/// Options for [`Figure::violin`] and [`Figure::boxplot`].
#[derive(Debug, Clone, Default)]
pub struct ViolinOptions {
    /// Figure title.
    pub title: String,
    /// X-axis label (under the group names).
    pub x_label: String,
    /// Y-axis label (what the values are).
    pub y_label: String,
}

/// Options for [`Figure::boxplot`] (same fields as [`ViolinOptions`]).
pub type BoxOptions = ViolinOptions;

/// Validated per-group values (sorted, NaN removed).
#[derive(Debug, Clone)]
pub(crate) struct DistPlot {
    groups: Vec<(String, Vec<f64>)>,
    violin: bool,
    nan: usize,
    opts: ViolinOptions,
}

/// Quantile with linear interpolation (R type 7) of sorted `v`.
pub(crate) fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let h = (v.len() - 1) as f64 * q;
    let (i, f) = (h.floor() as usize, h - h.floor());
    if i + 1 < v.len() {
        v[i] + f * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}

/// Silverman's rule-of-thumb bandwidth for sorted `v` (0 when degenerate).
pub(crate) fn silverman(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    if v.len() < 2 {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let iqr = quantile(v, 0.75) - quantile(v, 0.25);
    let s = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    0.9 * s * n.powf(-0.2)
}

/// Gaussian KDE of sorted `v` at `grid` points with bandwidth `h`.
pub(crate) fn kde(v: &[f64], h: f64, grid: &[f64]) -> Vec<f64> {
    let norm = 1.0 / (v.len() as f64 * h * (2.0 * std::f64::consts::PI).sqrt());
    grid.iter()
        .map(|&g| {
            // only points within 5 bandwidths contribute noticeably
            let lo = v.partition_point(|&x| x < g - 5.0 * h);
            let hi = v.partition_point(|&x| x <= g + 5.0 * h);
            v[lo..hi].iter().map(|&x| (-0.5 * ((g - x) / h).powi(2)).exp()).sum::<f64>() * norm
        })
        .collect()
}

fn build(values: &[f64], groups: &[String], opts: ViolinOptions, violin: bool) -> Result<Figure> {
    if values.is_empty() {
        return Err(PlotError::Empty("values".into()));
    }
    if values.len() != groups.len() {
        return Err(PlotError::mismatch("group labels", groups.len(), "values", values.len()));
    }
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    let mut nan = 0;
    for (v, g) in values.iter().zip(groups) {
        let k = match out.iter().position(|(n, _)| n == g) {
            Some(k) => k,
            None => {
                out.push((g.clone(), Vec::new()));
                out.len() - 1
            }
        };
        if v.is_finite() {
            out[k].1.push(*v);
        } else {
            nan += 1;
        }
    }
    if nan == values.len() {
        return Err(PlotError::AllNan("values".into()));
    }
    for (_, v) in out.iter_mut() {
        v.sort_by(f64::total_cmp);
    }
    let w = (160 + 90 * out.len() as u32).clamp(480, 1600);
    let plot = DistPlot { groups: out, violin, nan, opts };
    Ok(Figure::from_plot(PlotKind::Dist(plot), w, 480))
}

impl Figure {
    /// Violin plot of `values` split by `groups` (one label per value; groups
    /// appear in first-seen order). NaN values are skipped.
    pub fn violin(values: &[f64], groups: &[String], opts: ViolinOptions) -> Result<Figure> {
        build(values, groups, opts, true)
    }

    /// Box plot of `values` split by `groups` (one label per value; groups
    /// appear in first-seen order). NaN values are skipped.
    pub fn boxplot(values: &[f64], groups: &[String], opts: BoxOptions) -> Result<Figure> {
        build(values, groups, opts, false)
    }
}

struct Stats {
    q1: f64,
    med: f64,
    q3: f64,
    wlo: f64,
    whi: f64,
}

fn stats(v: &[f64]) -> Stats {
    let (q1, med, q3) = (quantile(v, 0.25), quantile(v, 0.5), quantile(v, 0.75));
    let iqr = q3 - q1;
    let (flo, fhi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    let wlo = v.iter().copied().find(|&x| x >= flo).unwrap_or(q1);
    let whi = v.iter().rev().copied().find(|&x| x <= fhi).unwrap_or(q3);
    Stats { q1, med, q3, wlo, whi }
}

impl Plot for DistPlot {
    fn kind(&self) -> &'static str {
        if self.violin {
            "violin"
        } else {
            "box"
        }
    }

    fn describe(&self) -> String {
        let n: usize = self.groups.iter().map(|g| g.1.len()).sum();
        let mut s = format!("{} groups, {} values", self.groups.len(), group_thousands(n as i64));
        if self.nan > 0 {
            s += &format!(", {} NaN skipped", group_thousands(self.nan as i64));
        }
        s
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let m = theme.margin;
        let top = m + title_height(theme, &o.title);
        let (lo, hi) = padded_range(self.groups.iter().flat_map(|g| g.1.iter().copied()), 0.05);
        let ng = self.groups.len();
        // category labels: horizontal when they fit their slot, else vertical
        let slot_guess = (c.w - 2.0 * m - 60.0) / ng as f64;
        let names: Vec<String> = self.groups.iter().map(|g| ellipsize(&g.0, theme.tick_size, 150.0)).collect();
        let max_w = names.iter().map(|n| text_width(n, theme.tick_size)).fold(0.0, f64::max);
        let vertical = max_w > slot_guess - 6.0;
        let lab_h = if vertical { max_w } else { theme.tick_size * 1.2 };
        let xlab_h = if o.x_label.is_empty() { 0.0 } else { theme.label_size * 1.2 + 8.0 };
        let bottom = c.h - m - TICK_LEN - TICK_PAD - lab_h - xlab_h;
        let yt = numeric_ticks(lo, hi, tick_target(bottom - top, 55.0));
        let area = Rect::new(m + y_axis_width(theme, &yt, !o.y_label.is_empty()), top, c.w - m, bottom);
        if area.w() < 20.0 || area.h() < 20.0 {
            return Err(PlotError::BadSize("figure too small for the distribution plot".into()));
        }
        let ys = Scale::new(lo, hi, area.y1, area.y0);
        let slot = area.w() / ng as f64;
        draw_grid(c, theme, area, None, Some((&ys, &yt)))?;
        let pal = categorical(ng);
        let half = slot * 0.4;
        // violin densities, scaled together so widths are comparable
        let dens: Vec<Option<(Vec<f64>, Vec<f64>)>> = self
            .groups
            .iter()
            .map(|(_, v)| {
                let h = silverman(v);
                if !self.violin || h <= 0.0 {
                    return None;
                }
                let (a, b) = (v[0], v[v.len() - 1]);
                let grid: Vec<f64> = (0..=120).map(|i| a + (b - a) * i as f64 / 120.0).collect();
                let d = kde(v, h, &grid);
                Some((grid, d))
            })
            .collect();
        let dmax = dens.iter().flatten().flat_map(|(_, d)| d.iter().copied()).fold(0.0, f64::max);
        for (gi, (_, v)) in self.groups.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let cx = area.x0 + (gi as f64 + 0.5) * slot;
            let col = pal[gi];
            let st = stats(v);
            let edge = col.darken(0.35);
            let y = |x: f64| ys.map(x);
            if self.violin {
                match &dens[gi] {
                    Some((grid, d)) if dmax > 0.0 => {
                        let mut poly: Vec<(f64, f64)> =
                            grid.iter().zip(d).map(|(&g, &dd)| (cx - dd / dmax * half, y(g))).collect();
                        poly.extend(grid.iter().zip(d).rev().map(|(&g, &dd)| (cx + dd / dmax * half, y(g))));
                        c.polygon(&poly, col.lighten(0.2), 1.0)?;
                        let mut outline = poly.clone();
                        outline.push(poly[0]);
                        c.polyline(&outline, edge, 1.0, 1.0)?;
                    }
                    _ => c.line(cx - half, y(v[0]), cx + half, y(v[0]), edge, 1.5)?,
                }
                let ink = Rgb(0x26, 0x26, 0x26);
                c.line(cx, y(st.wlo), cx, y(st.whi), ink, 1.2)?;
                let bw = (slot * 0.05).clamp(3.0, 7.0);
                c.fill_rect(cx - bw / 2.0, y(st.q3), cx + bw / 2.0, y(st.q1), ink, 1.0)?;
                c.circle(cx, y(st.med), (bw * 0.55).max(2.5), Rgb(255, 255, 255), true, 1.0)?;
            } else {
                let bw = half * 0.8;
                c.fill_rect(cx - bw, y(st.q3), cx + bw, y(st.q1), col.lighten(0.35), 1.0)?;
                c.stroke_rect(cx - bw, y(st.q3), cx + bw, y(st.q1), edge, 1.2)?;
                c.line(cx, y(st.q3), cx, y(st.whi), edge, 1.2)?;
                c.line(cx, y(st.q1), cx, y(st.wlo), edge, 1.2)?;
                c.line(cx - bw * 0.45, y(st.whi), cx + bw * 0.45, y(st.whi), edge, 1.2)?;
                c.line(cx - bw * 0.45, y(st.wlo), cx + bw * 0.45, y(st.wlo), edge, 1.2)?;
                c.line(cx - bw, y(st.med), cx + bw, y(st.med), edge.darken(0.3), 2.2)?;
                for &x in v.iter().filter(|&&x| x < st.wlo || x > st.whi) {
                    c.circle(cx, y(x), 2.5, edge, false, 1.0)?;
                }
            }
        }
        // axes: y numeric, x categorical
        c.line(area.x0, area.y1, area.x1, area.y1, theme.axis, theme.axis_width)?;
        for (gi, name) in names.iter().enumerate() {
            let cx = area.x0 + (gi as f64 + 0.5) * slot;
            c.line(cx, area.y1, cx, area.y1 + TICK_LEN, theme.axis, theme.axis_width)?;
            let ty = area.y1 + TICK_LEN + TICK_PAD;
            let ts = TextSpec::new(theme.tick_size, theme.text);
            if vertical {
                c.text(cx, ty, name, ts.rotated().align(HAlign::Right, VAlign::Center))?;
            } else {
                c.text(cx, ty, name, ts.align(HAlign::Center, VAlign::Top))?;
            }
        }
        if !o.x_label.is_empty() {
            let ly = area.y1 + TICK_LEN + TICK_PAD + lab_h + 6.0;
            c.text(
                area.cx(),
                ly,
                &o.x_label,
                TextSpec::new(theme.label_size, theme.text).align(HAlign::Center, VAlign::Top),
            )?;
        }
        draw_y_axis(c, theme, area, &ys, &yt, &o.y_label)?;
        draw_title(c, theme, &o.title, area.cx(), m, c.w - 2.0 * m)
    }
}
