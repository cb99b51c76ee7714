//! Categorical legends (wrapping into columns) and continuous colour bars.

use super::axes::{ellipsize, numeric_ticks};
use super::canvas::{text_width, text_width_bold, Canvas, TextSpec};
use super::error::Result;
use super::palette::{ColorMap, Rgb};
use super::text::{HAlign, VAlign};
use super::theme::Theme;
use plotters_backend::DrawingBackend;

/// How a legend entry's key is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Marker {
    Dot,
}

/// Longest label drawn in a legend before it is ellipsised.
const MAX_LABEL_W: f64 = 180.0;
const KEY_W: f64 = 14.0;
const KEY_GAP: f64 = 6.0;
const COL_GAP: f64 = 14.0;

/// Computed size and arrangement of a categorical legend.
#[derive(Debug, Clone)]
pub(crate) struct LegendLayout {
    pub rows: usize,
    pub col_widths: Vec<f64>,
    pub w: f64,
    pub h: f64,
    row_h: f64,
    title_h: f64,
    labels: Vec<String>,
}

/// Arrange `labels` into as few columns as fit within `max_h` pixels.
pub(crate) fn legend_layout(theme: &Theme, labels: &[String], title: &str, max_h: f64) -> LegendLayout {
    let size = theme.legend_size;
    let row_h = size * 1.55;
    let title_h = if title.is_empty() { 0.0 } else { size * 1.6 };
    let labels: Vec<String> = labels.iter().map(|l| ellipsize(l, size, MAX_LABEL_W)).collect();
    let n = labels.len().max(1);
    let rows_fit = (((max_h - title_h) / row_h).floor() as usize).max(1);
    let cols = n.div_ceil(rows_fit);
    let rows = n.div_ceil(cols);
    let col_widths: Vec<f64> = (0..cols)
        .map(|ci| {
            labels[ci * rows..((ci + 1) * rows).min(labels.len())]
                .iter()
                .map(|l| KEY_W + KEY_GAP + text_width(l, size))
                .fold(0.0, f64::max)
        })
        .collect();
    let w = col_widths.iter().sum::<f64>() + COL_GAP * (cols.saturating_sub(1)) as f64;
    let w = w.max(if title.is_empty() { 0.0 } else { text_width_bold(title, size) });
    LegendLayout { rows, col_widths, w, h: title_h + rows as f64 * row_h, row_h, title_h, labels }
}

/// Draw a categorical legend with its top-left corner at `(x, y)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn draw_legend<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    theme: &Theme,
    lay: &LegendLayout,
    x: f64,
    y: f64,
    title: &str,
    colors: &[Rgb],
    markers: &[Marker],
) -> Result<()> {
    let size = theme.legend_size;
    if !title.is_empty() {
        c.text(x, y, title, TextSpec::new(size, theme.text).bold().align(HAlign::Left, VAlign::Top))?;
    }
    let mut cx = x;
    for (ci, cw) in lay.col_widths.iter().enumerate() {
        for ri in 0..lay.rows {
            let i = ci * lay.rows + ri;
            if i >= lay.labels.len() {
                break;
            }
            let cy = y + lay.title_h + (ri as f64 + 0.5) * lay.row_h;
            let col = colors[i % colors.len().max(1)];
            match markers[i % markers.len().max(1)] {
                Marker::Dot => c.circle(cx + KEY_W / 2.0, cy, 4.5, col, true, 1.0)?,
            }
            c.text(
                cx + KEY_W + KEY_GAP,
                cy,
                &lay.labels[i],
                TextSpec::new(size, theme.text).align(HAlign::Left, VAlign::Center),
            )?;
        }
        cx += cw + COL_GAP;
    }
    Ok(())
}

/// Width of the colour bar key.
const BAR_W: f64 = 14.0;

/// Horizontal space a colour bar with tick labels and title needs.
pub(crate) fn colorbar_width(theme: &Theme, cmap: &ColorMap, title: &str) -> f64 {
    let t = numeric_ticks(cmap.lo, cmap.hi, 5);
    let tw = t.iter().map(|(_, s)| text_width(s, theme.tick_size)).fold(0.0, f64::max);
    (BAR_W + 4.0 + 3.0 + tw).max(text_width_bold(title, theme.legend_size).min(MAX_LABEL_W))
}

/// Draw a vertical colour bar with its top-left corner at `(x, y)` and bar height `h`.
pub(crate) fn draw_colorbar<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    theme: &Theme,
    cmap: &ColorMap,
    x: f64,
    y: f64,
    h: f64,
    title: &str,
) -> Result<()> {
    let mut top = y;
    if !title.is_empty() {
        let t = ellipsize(title, theme.legend_size, MAX_LABEL_W);
        c.text(x, y, &t, TextSpec::new(theme.legend_size, theme.text).bold().align(HAlign::Left, VAlign::Top))?;
        top += theme.legend_size * 1.8;
    }
    let steps = 96;
    for i in 0..steps {
        let t0 = i as f64 / steps as f64;
        let t1 = (i + 1) as f64 / steps as f64;
        let v = cmap.hi - (t0 + t1) / 2.0 * (cmap.hi - cmap.lo);
        // overlap by a pixel so no seams show between slices
        c.fill_rect(x, top + t0 * h, x + BAR_W, top + t1 * h + 0.6, cmap.color(v), 1.0)?;
    }
    c.stroke_rect(x, top, x + BAR_W, top + h, theme.axis, 0.6)?;
    let ts = TextSpec::new(theme.tick_size, theme.text).align(HAlign::Left, VAlign::Center);
    for (v, s) in numeric_ticks(cmap.lo, cmap.hi, 5) {
        let yy = top + (cmap.hi - v) / (cmap.hi - cmap.lo) * h;
        c.line(x + BAR_W, yy, x + BAR_W + 3.0, yy, theme.axis, 0.8)?;
        c.text(x + BAR_W + 5.0, yy, &s, ts)?;
    }
    Ok(())
}

/// Vertical space the colour bar title takes.
pub(crate) fn colorbar_title_h(theme: &Theme, title: &str) -> f64 {
    if title.is_empty() {
        0.0
    } else {
        theme.legend_size * 1.8
    }
}
