//! Scatter plots of 2-D embeddings (UMAP, t-SNE, PCA) coloured by a
//! categorical or continuous annotation.

use super::axes::*;
use super::canvas::Canvas;
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::legend::{colorbar_title_h, colorbar_width, draw_colorbar, draw_legend, legend_layout, Marker};
use super::palette::{categorical, ColorMap, Rgb};
use super::theme::{group_thousands, padded_range, Rect, Scale, Theme};
use plotters_backend::DrawingBackend;

/// Point colouring for [`Figure::embedding`].
#[derive(Debug, Clone, Default)]
pub enum EmbeddingColor {
    /// All points in the theme accent colour.
    #[default]
    None,
    /// One label per point; a legend is drawn.
    Categorical(Vec<String>),
    /// One value per point, mapped through viridis; a colour bar is drawn.
    Continuous(Vec<f64>),
}

/// Options for [`Figure::embedding`].
#[derive(Debug, Clone, Default)]
pub struct EmbeddingOptions {
    /// Figure title (empty for none).
    pub title: String,
    /// X-axis label, e.g. `UMAP 1`.
    pub x_label: String,
    /// Y-axis label, e.g. `UMAP 2`.
    pub y_label: String,
    /// Point radius in logical pixels; `None` picks one from the point count.
    pub point_size: Option<f64>,
    /// Point opacity in (0, 1]; `None` picks one from the point count.
    pub alpha: Option<f64>,
    /// Title of the legend or colour bar.
    pub color_label: String,
}

#[derive(Debug, Clone)]
enum Colors {
    None,
    Cat { names: Vec<String>, idx: Vec<usize> },
    Cont(Vec<f64>),
}

/// Validated embedding data (NaN points removed, draw order fixed).
#[derive(Debug, Clone)]
pub(crate) struct EmbeddingPlot {
    pts: Vec<(f64, f64)>,
    colors: Colors,
    skipped: usize,
    opts: EmbeddingOptions,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Compare strings "naturally": digit runs compare as numbers, so
/// `cluster 2` sorts before `cluster 10`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let tx = &dx[dx.iter().take_while(|&&c| c == b'0').count().min(nx - 1)..];
                let ty = &dy[dy.iter().take_while(|&&c| c == b'0').count().min(ny - 1)..];
                let o = tx.len().cmp(&ty.len()).then(tx.cmp(ty));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// Distinct category names in natural order.
pub(crate) fn sorted_categories(labels: &[String]) -> Vec<String> {
    let mut names: Vec<String> = labels.to_vec();
    names.sort();
    names.dedup();
    names.sort_by(|a, b| natural_cmp(a, b));
    names
}

impl Figure {
    /// Scatter plot of an embedding given as `(x, y)` pairs.
    ///
    /// Points with a NaN coordinate (or NaN continuous colour) are skipped and
    /// counted in [`Figure::summary`]. Points are drawn in a fixed pseudo-random
    /// order so no category systematically hides another.
    pub fn embedding(xy: &[(f64, f64)], color: EmbeddingColor, opts: EmbeddingOptions) -> Result<Figure> {
        if xy.is_empty() {
            return Err(PlotError::Empty("embedding coordinates".into()));
        }
        match &color {
            EmbeddingColor::Categorical(v) if v.len() != xy.len() => {
                return Err(PlotError::mismatch("colour labels", v.len(), "points", xy.len()))
            }
            EmbeddingColor::Continuous(v) if v.len() != xy.len() => {
                return Err(PlotError::mismatch("colour values", v.len(), "points", xy.len()))
            }
            _ => {}
        }
        if let Some(r) = opts.point_size {
            if !(r.is_finite() && r > 0.0 && r <= 50.0) {
                return Err(PlotError::Invalid(format!("point_size {r} must be in (0, 50]")));
            }
        }
        if let Some(a) = opts.alpha {
            if !(a.is_finite() && a > 0.0 && a <= 1.0) {
                return Err(PlotError::Invalid(format!("alpha {a} must be in (0, 1]")));
            }
        }
        let keep: Vec<usize> = (0..xy.len())
            .filter(|&i| {
                xy[i].0.is_finite()
                    && xy[i].1.is_finite()
                    && match &color {
                        EmbeddingColor::Continuous(v) => v[i].is_finite(),
                        _ => true,
                    }
            })
            .collect();
        if keep.is_empty() {
            return Err(PlotError::AllNan("embedding coordinates/colours".into()));
        }
        let mut order = keep.clone();
        order.sort_by_key(|&i| splitmix(i as u64));
        let pts = order.iter().map(|&i| xy[i]).collect();
        let colors = match color {
            EmbeddingColor::None => Colors::None,
            EmbeddingColor::Continuous(v) => Colors::Cont(order.iter().map(|&i| v[i]).collect()),
            EmbeddingColor::Categorical(v) => {
                let names = sorted_categories(&v);
                let pos: std::collections::HashMap<&str, usize> =
                    names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
                let idx = order.iter().map(|&i| pos.get(v[i].as_str()).copied().unwrap_or(0)).collect();
                Colors::Cat { names, idx }
            }
        };
        let plot = EmbeddingPlot { pts, colors, skipped: xy.len() - keep.len(), opts };
        Ok(Figure::from_plot(PlotKind::Embedding(plot), 800, 600))
    }

    /// Same as [`Figure::embedding`] with coordinates as two slices.
    pub fn embedding_xy(x: &[f64], y: &[f64], color: EmbeddingColor, opts: EmbeddingOptions) -> Result<Figure> {
        if x.len() != y.len() {
            return Err(PlotError::mismatch("x", x.len(), "y", y.len()));
        }
        let xy: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
        Figure::embedding(&xy, color, opts)
    }
}

impl Plot for EmbeddingPlot {
    fn kind(&self) -> &'static str {
        "embedding"
    }

    fn describe(&self) -> String {
        let mut s = format!("{} points", group_thousands(self.pts.len() as i64));
        if let Colors::Cat { names, .. } = &self.colors {
            s += &format!(", {} categories", names.len());
        }
        if self.skipped > 0 {
            s += &format!(", {} NaN skipped", group_thousands(self.skipped as i64));
        }
        s
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let m = theme.margin;
        let top = m + title_height(theme, &o.title);
        let xr = padded_range(self.pts.iter().map(|p| p.0), 0.04);
        let yr = padded_range(self.pts.iter().map(|p| p.1), 0.04);
        let plot_h_guess = c.h - top - m - x_axis_height(theme, !o.x_label.is_empty());
        let yt = numeric_ticks(yr.0, yr.1, tick_target(plot_h_guess, 70.0));
        let left = m + y_axis_width(theme, &yt, !o.y_label.is_empty());
        // right-hand key
        let (key_w, cmap, lay) = match &self.colors {
            Colors::None => (0.0, None, None),
            Colors::Cont(v) => {
                let cm = ColorMap::fit(v.iter().copied(), false);
                (colorbar_width(theme, &cm, &o.color_label) + 20.0, Some(cm), None)
            }
            Colors::Cat { names, .. } => {
                let lay = legend_layout(theme, names, &o.color_label, plot_h_guess);
                (lay.w + 20.0, None, Some(lay))
            }
        };
        let area = Rect::new(left, top, c.w - m - key_w, c.h - m - x_axis_height(theme, !o.x_label.is_empty()));
        if area.w() < 20.0 || area.h() < 20.0 {
            return Err(PlotError::BadSize("figure too small for the embedding and its legend".into()));
        }
        let xs = Scale::new(xr.0, xr.1, area.x0, area.x1);
        let ys = Scale::new(yr.0, yr.1, area.y1, area.y0);
        let xt = numeric_ticks(xr.0, xr.1, tick_target(area.w(), 90.0));
        draw_grid(c, theme, area, Some((&xs, &xt)), Some((&ys, &yt)))?;

        let n = self.pts.len() as f64;
        let r = o
            .point_size
            .unwrap_or_else(|| (area.w() * area.h() * 0.25 / (std::f64::consts::PI * n)).sqrt().clamp(0.8, 4.0));
        let alpha = o.alpha.unwrap_or(if n > 20_000.0 {
            0.7
        } else if n > 2_000.0 {
            0.8
        } else {
            0.9
        });
        let pix: Vec<(f64, f64)> = self.pts.iter().map(|&(x, y)| (xs.map(x), ys.map(y))).collect();
        let cols: Vec<Rgb> = match &self.colors {
            Colors::None => vec![theme.accent; pix.len()],
            Colors::Cont(v) => {
                let cm = cmap.as_ref().map(|c| *c).unwrap_or(ColorMap::fit(v.iter().copied(), false));
                v.iter().map(|&x| cm.color(x)).collect()
            }
            Colors::Cat { names, idx } => {
                let pal = categorical(names.len());
                idx.iter().map(|&i| pal[i]).collect()
            }
        };
        c.points(&pix, &cols, r, alpha)?;
        draw_x_axis(c, theme, area, &xs, &xt, &o.x_label)?;
        draw_y_axis(c, theme, area, &ys, &yt, &o.y_label)?;
        draw_title(c, theme, &o.title, area.cx(), m, c.w - 2.0 * m)?;

        let kx = area.x1 + 20.0;
        if let (Some(lay), Colors::Cat { names, .. }) = (&lay, &self.colors) {
            let y = (area.y0 + (area.h() - lay.h) / 2.0).max(area.y0);
            draw_legend(c, theme, lay, kx, y, &o.color_label, &categorical(names.len()), &[Marker::Dot])?;
        }
        if let Some(cm) = &cmap {
            let bh = (area.h() * 0.6).clamp(60.0, 260.0);
            let y = area.y0 + (area.h() - bh - colorbar_title_h(theme, &o.color_label)) / 2.0;
            draw_colorbar(c, theme, cm, kx, y, bh, &o.color_label)?;
        }
        Ok(())
    }
}
