//! Axis, grid and title drawing shared by the plot types.

use super::canvas::{text_width, text_width_bold, Canvas, TextSpec};
use super::error::Result;
use super::text::{HAlign, VAlign};
use super::theme::{fmt_tick, ticks, Rect, Scale, Theme};
use plotters_backend::DrawingBackend;

/// Length of tick marks.
pub(crate) const TICK_LEN: f64 = 4.0;
/// Gap between tick mark and tick label.
pub(crate) const TICK_PAD: f64 = 3.0;

/// Tick positions with formatted labels for a numeric axis.
pub(crate) fn numeric_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    let (t, step) = ticks(lo, hi, target);
    t.into_iter().map(|v| (v, fmt_tick(v, step))).collect()
}

/// Number of ticks that fit along `len` pixels with about `spacing` px each.
pub(crate) fn tick_target(len: f64, spacing: f64) -> usize {
    ((len / spacing).round() as usize).clamp(2, 10)
}

/// Horizontal space needed left of a plot for y tick labels and a rotated label.
pub(crate) fn y_axis_width(theme: &Theme, labels: &[(f64, String)], has_label: bool) -> f64 {
    let w = labels.iter().map(|(_, s)| text_width(s, theme.tick_size)).fold(0.0, f64::max);
    w + TICK_LEN + TICK_PAD + 4.0 + if has_label { theme.label_size * 1.2 + 6.0 } else { 0.0 }
}

/// Vertical space needed below a plot for x tick labels and an axis label.
pub(crate) fn x_axis_height(theme: &Theme, has_label: bool) -> f64 {
    TICK_LEN + TICK_PAD + theme.tick_size * 1.2 + if has_label { theme.label_size * 1.2 + 8.0 } else { 0.0 }
}

/// Height reserved for a title (0 when there is none).
pub(crate) fn title_height(theme: &Theme, title: &str) -> f64 {
    if title.is_empty() {
        0.0
    } else {
        theme.title_size * 1.3 + 8.0
    }
}

/// Draw the figure title centred over `cx`, with its top at `y`; long titles
/// shrink to fit `max_w`.
pub(crate) fn draw_title<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    theme: &Theme,
    title: &str,
    cx: f64,
    y: f64,
    max_w: f64,
) -> Result<()> {
    if title.is_empty() {
        return Ok(());
    }
    let mut size = theme.title_size;
    let w = text_width_bold(title, size);
    if w > max_w && w > 0.0 {
        size = (size * max_w / w).max(8.0);
    }
    let cx = cx.clamp(max_w / 2.0, c.w - max_w / 2.0).max(0.0);
    c.text(cx, y, title, TextSpec::new(size, theme.text).bold().align(HAlign::Center, VAlign::Top))
}

/// Grid lines at the given data positions (horizontal for y, vertical for x).
pub(crate) fn draw_grid<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    theme: &Theme,
    area: Rect,
    xs: Option<(&Scale, &[(f64, String)])>,
    ys: Option<(&Scale, &[(f64, String)])>,
) -> Result<()> {
    if !theme.show_grid {
        return Ok(());
    }
    if let Some((s, t)) = xs {
        for (v, _) in t {
            let x = s.map(*v);
            c.line(x, area.y0, x, area.y1, theme.grid, 1.0)?;
        }
    }
    if let Some((s, t)) = ys {
        for (v, _) in t {
            let y = s.map(*v);
            c.line(area.x0, y, area.x1, y, theme.grid, 1.0)?;
        }
    }
    Ok(())
}

/// Bottom axis: spine, ticks, tick labels and an optional label centred below.
pub(crate) fn draw_x_axis<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    theme: &Theme,
    area: Rect,
    s: &Scale,
    t: &[(f64, String)],
    label: &str,
) -> Result<()> {
    let y = area.y1;
    c.line(area.x0, y, area.x1, y, theme.axis, theme.axis_width)?;
    let ts = TextSpec::new(theme.tick_size, theme.text).align(HAlign::Center, VAlign::Top);
    for (v, txt) in t {
        let x = s.map(*v);
        c.line(x, y, x, y + TICK_LEN, theme.axis, theme.axis_width)?;
        // keep labels at the figure edges fully visible
        let hw = text_width(txt, theme.tick_size) / 2.0;
        let lx = x.clamp(hw + 2.0, (c.w - hw - 2.0).max(hw + 2.0));
        c.text(lx, y + TICK_LEN + TICK_PAD, txt, ts)?;
    }
    if !label.is_empty() {
        let ly = y + TICK_LEN + TICK_PAD + theme.tick_size * 1.2 + 6.0;
        c.text(area.cx(), ly, label, TextSpec::new(theme.label_size, theme.text).align(HAlign::Center, VAlign::Top))?;
    }
    Ok(())
}

/// Left axis: spine, ticks, tick labels and an optional rotated label.
pub(crate) fn draw_y_axis<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    theme: &Theme,
    area: Rect,
    s: &Scale,
    t: &[(f64, String)],
    label: &str,
) -> Result<()> {
    let x = area.x0;
    c.line(x, area.y0, x, area.y1, theme.axis, theme.axis_width)?;
    let ts = TextSpec::new(theme.tick_size, theme.text).align(HAlign::Right, VAlign::Center);
    let mut maxw: f64 = 0.0;
    for (v, txt) in t {
        let y = s.map(*v);
        c.line(x - TICK_LEN, y, x, y, theme.axis, theme.axis_width)?;
        c.text(x - TICK_LEN - TICK_PAD, y, txt, ts)?;
        maxw = maxw.max(text_width(txt, theme.tick_size));
    }
    if !label.is_empty() {
        let lx = x - TICK_LEN - TICK_PAD - maxw - 6.0;
        let cy = (area.y0 + area.y1) / 2.0;
        c.text(
            lx,
            cy,
            label,
            TextSpec::new(theme.label_size, theme.text).rotated().align(HAlign::Center, VAlign::Bottom),
        )?;
    }
    Ok(())
}

/// Shorten `s` with an ellipsis so it fits in `max_w` pixels at `size`.
pub(crate) fn ellipsize(s: &str, size: f64, max_w: f64) -> String {
    if text_width(s, size) <= max_w {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    for n in (1..chars.len()).rev() {
        let t: String = chars[..n].iter().collect::<String>() + "…";
        if text_width(&t, size) <= max_w {
            return t;
        }
    }
    "…".to_string()
}
