//! Sequence-logo style plots of per-base scores (in-silico mutagenesis,
//! attributions), one panel per cell group, with motif-hit annotations.

use super::axes::*;
use super::canvas::{text_width, Canvas, TextSpec};
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::glyph::glyph_polygons;
use super::palette::Rgb;
use super::text::{HAlign, VAlign};
use super::theme::{group_thousands, Rect, Scale, Theme};
use plotters_backend::DrawingBackend;

/// Scores for one cell group: `scores[i] = [A, C, G, T]` at position `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct IsmRow {
    /// Panel label (cell group name).
    pub label: String,
    /// Per-position scores in A, C, G, T order.
    pub scores: Vec<[f64; 4]>,
}

/// A motif match on the sequence: 0-based half-open `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct MotifHit {
    /// First position covered (0-based).
    pub start: usize,
    /// One past the last position covered.
    pub end: usize,
    /// Motif name shown in the box.
    pub name: String,
}

/// Options for [`Figure::ism`].
#[derive(Debug, Clone)]
pub struct IsmOptions {
    /// Figure title.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label (shown on each panel's axis).
    pub y_label: String,
    /// Draw only the reference base (needs `sequence`) instead of all four stacked.
    pub reference_only: bool,
    /// Genomic or sequence coordinate of position 0, used for x tick labels.
    pub offset: i64,
}

impl Default for IsmOptions {
    fn default() -> Self {
        IsmOptions {
            title: String::new(),
            x_label: "Position".into(),
            y_label: "Score".into(),
            reference_only: false,
            offset: 0,
        }
    }
}

/// Validated logo data.
#[derive(Debug, Clone)]
pub(crate) struct IsmPlot {
    rows: Vec<IsmRow>,
    seq: Option<Vec<u8>>,
    hits: Vec<MotifHit>,
    nan: usize,
    opts: IsmOptions,
}

const BASES: [char; 4] = ['A', 'C', 'G', 'T'];
/// Standard logo colours: A green, C blue, G orange, T red.
pub(crate) const BASE_COLORS: [Rgb; 4] =
    [Rgb(0x10, 0x96, 0x48), Rgb(0x25, 0x5C, 0x99), Rgb(0xF7, 0xA8, 0x1B), Rgb(0xD6, 0x28, 0x39)];

fn base_index(b: u8) -> Option<usize> {
    match b.to_ascii_uppercase() {
        b'A' => Some(0),
        b'C' => Some(1),
        b'G' => Some(2),
        b'T' | b'U' => Some(3),
        _ => None,
    }
}

impl Figure {
    /// Logo plot: for each row (cell group) and position, the letters A/C/G/T
    /// stacked with heights equal to their scores (positive up, negative down).
    /// `sequence` (same length as the scores, ACGTN) is printed under the x axis
    /// and required when `opts.reference_only` is set. NaN scores count as 0.
    pub fn ism(
        rows: Vec<IsmRow>,
        sequence: Option<&str>,
        motif_hits: Vec<MotifHit>,
        opts: IsmOptions,
    ) -> Result<Figure> {
        if rows.is_empty() {
            return Err(PlotError::Empty("ISM rows".into()));
        }
        let len = rows[0].scores.len();
        if len == 0 {
            return Err(PlotError::Empty(format!("scores of ISM row {:?}", rows[0].label)));
        }
        for r in &rows {
            if r.scores.len() != len {
                return Err(PlotError::mismatch(
                    &format!("ISM row {:?}", r.label),
                    r.scores.len(),
                    &format!("row {:?}", rows[0].label),
                    len,
                ));
            }
        }
        let all = rows.iter().flat_map(|r| r.scores.iter().flatten());
        let nan = all.clone().filter(|v| !v.is_finite()).count();
        if nan == rows.len() * len * 4 {
            return Err(PlotError::AllNan("ISM scores".into()));
        }
        let seq = match sequence {
            Some(s) => {
                if s.len() != len {
                    return Err(PlotError::mismatch("sequence", s.len(), "score positions", len));
                }
                if let Some((i, ch)) = s.char_indices().find(|(_, ch)| !"ACGTUNacgtun".contains(*ch)) {
                    return Err(PlotError::Invalid(format!(
                        "sequence has {ch:?} at position {i}; expected A, C, G, T or N"
                    )));
                }
                Some(s.as_bytes().to_vec())
            }
            None if opts.reference_only => {
                return Err(PlotError::Invalid("reference_only needs a sequence".into()));
            }
            None => None,
        };
        for h in &motif_hits {
            if h.start >= h.end || h.end > len {
                return Err(PlotError::Invalid(format!(
                    "motif hit {:?} spans [{}, {}) which is empty or outside 0..{len}",
                    h.name, h.start, h.end
                )));
            }
        }
        let n = rows.len();
        let height = (150 + 150 * n as u32 + if motif_hits.is_empty() { 0 } else { 30 }).clamp(300, 1600);
        let plot = IsmPlot { rows, seq, hits: motif_hits, nan, opts };
        Ok(Figure::from_plot(PlotKind::Ism(plot), 1000, height))
    }
}

impl IsmPlot {
    /// Signed letter heights at position `i` of row `r`, as `(base, score)`.
    fn letters(&self, r: &IsmRow, i: usize) -> Vec<(usize, f64)> {
        let s = r.scores[i];
        let clean = |v: f64| if v.is_finite() { v } else { 0.0 };
        if self.opts.reference_only {
            if let Some(b) = self.seq.as_ref().and_then(|q| base_index(q[i])) {
                return vec![(b, clean(s[b]))];
            }
            return vec![];
        }
        (0..4).map(|b| (b, clean(s[b]))).collect()
    }

    fn extent(&self) -> (f64, f64) {
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        for r in &self.rows {
            for i in 0..r.scores.len() {
                let l = self.letters(r, i);
                hi = hi.max(l.iter().filter(|x| x.1 > 0.0).map(|x| x.1).sum());
                lo = lo.min(l.iter().filter(|x| x.1 < 0.0).map(|x| x.1).sum());
            }
        }
        if hi - lo <= 0.0 {
            hi = 1.0;
        }
        let pad = (hi - lo) * 0.04;
        (if lo < 0.0 { lo - pad } else { 0.0 }, if hi > 0.0 { hi + pad } else { 0.0 })
    }
}

fn draw_letter<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    base: usize,
    x0: f64,
    x1: f64,
    y_top: f64,
    y_bot: f64,
) -> Result<()> {
    if (y_bot - y_top).abs() < 0.25 {
        return Ok(());
    }
    let Some(polys) = glyph_polygons(BASES[base]) else { return Ok(()) };
    for p in polys {
        let pts: Vec<(f64, f64)> = p.iter().map(|&(u, v)| (x0 + u * (x1 - x0), y_bot - v * (y_bot - y_top))).collect();
        c.polygon(&pts, BASE_COLORS[base], 1.0)?;
    }
    Ok(())
}

/// Greedy lane assignment so overlapping motif boxes do not collide.
fn lanes(hits: &[MotifHit]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_by_key(|&i| (hits[i].start, hits[i].end));
    let mut ends: Vec<usize> = Vec::new();
    let mut lane = vec![0; hits.len()];
    for i in order {
        match ends.iter().position(|&e| e <= hits[i].start) {
            Some(l) => {
                lane[i] = l;
                ends[l] = hits[i].end;
            }
            None => {
                lane[i] = ends.len();
                ends.push(hits[i].end);
            }
        }
    }
    (lane, ends.len())
}

impl Plot for IsmPlot {
    fn kind(&self) -> &'static str {
        "ism"
    }

    fn describe(&self) -> String {
        let mut s =
            format!("{} rows × {} positions", self.rows.len(), group_thousands(self.rows[0].scores.len() as i64));
        if !self.hits.is_empty() {
            s += &format!(", {} motif hits", self.hits.len());
        }
        if self.nan > 0 {
            s += &format!(", {} NaN", self.nan);
        }
        s
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let len = self.rows[0].scores.len();
        let m = theme.margin;
        let (lo, hi) = self.extent();
        let yt = numeric_ticks(lo, hi, 4);
        let left = m + y_axis_width(theme, &yt, !o.y_label.is_empty());
        let right = c.w - m;
        let xs = Scale::new(-0.5, len as f64 - 0.5, left, right);
        let cw = (right - left) / len as f64;
        let show_seq = self.seq.is_some() && cw >= 6.0;
        let (lane, nlanes) = lanes(&self.hits);
        let lane_h = theme.tick_size * 1.7;
        let motif_h = if self.hits.is_empty() { 0.0 } else { nlanes as f64 * lane_h + 6.0 };
        let top = m + title_height(theme, &o.title) + motif_h;
        let seq_h = if show_seq { (cw * 1.1).clamp(10.0, 16.0) + 4.0 } else { 0.0 };
        let bottom = c.h - m - x_axis_height(theme, !o.x_label.is_empty()) - seq_h;
        let label_h = theme.label_size * 1.5;
        let gap = 10.0;
        let n = self.rows.len() as f64;
        let panel_h = (bottom - top - n * label_h - (n - 1.0) * gap) / n;
        if panel_h < 20.0 || cw <= 0.0 {
            return Err(PlotError::BadSize("figure too small for the ISM panels".into()));
        }
        // motif boxes
        for (h, &ln) in self.hits.iter().zip(&lane) {
            let (x0, x1) = (xs.map(h.start as f64 - 0.5), xs.map(h.end as f64 - 0.5));
            let y0 = top - motif_h + ln as f64 * lane_h;
            let y1 = y0 + lane_h - 3.0;
            c.fill_rect(x0, y0, x1, y1, Rgb(0xF0, 0xF0, 0xF0), 1.0)?;
            c.stroke_rect(x0, y0, x1, y1, theme.text_muted, 0.8)?;
            let size = theme.tick_size;
            let name = ellipsize(&h.name, size, (x1 - x0 - 4.0).max(0.0));
            if name != "…" {
                c.text(
                    (x0 + x1) / 2.0,
                    (y0 + y1) / 2.0,
                    &name,
                    TextSpec::new(size, theme.text).align(HAlign::Center, VAlign::Center),
                )?;
            }
        }
        let mut last = Rect::new(left, top, right, top);
        for (ri, row) in self.rows.iter().enumerate() {
            let py0 = top + ri as f64 * (panel_h + label_h + gap) + label_h;
            let area = Rect::new(left, py0, right, py0 + panel_h);
            let ys = Scale::new(lo, hi, area.y1, area.y0);
            for h in &self.hits {
                let (x0, x1) = (xs.map(h.start as f64 - 0.5), xs.map(h.end as f64 - 0.5));
                c.fill_rect(x0, area.y0, x1, area.y1, Rgb(0xF3, 0xF3, 0xF3), 1.0)?;
            }
            draw_grid(c, theme, area, None, Some((&ys, &yt)))?;
            let zero = ys.map(0.0);
            for i in 0..len {
                let (x0, x1) = (xs.map(i as f64 - 0.5) + cw * 0.03, xs.map(i as f64 + 0.5) - cw * 0.03);
                let mut l = self.letters(row, i);
                l.sort_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
                let (mut up, mut down) = (0.0, 0.0);
                for (b, v) in l {
                    if v > 0.0 {
                        draw_letter(c, b, x0, x1, ys.map(up + v), ys.map(up))?;
                        up += v;
                    } else if v < 0.0 {
                        draw_letter(c, b, x0, x1, ys.map(down), ys.map(down + v))?;
                        down += v;
                    }
                }
            }
            c.line(area.x0, zero, area.x1, zero, theme.text_muted, 0.8)?;
            draw_y_axis(c, theme, area, &ys, &yt, &o.y_label)?;
            let lab = ellipsize(&row.label, theme.label_size, area.w());
            c.text(
                area.x0 + 4.0,
                area.y0 - 3.0,
                &lab,
                TextSpec::new(theme.label_size, theme.text).bold().align(HAlign::Left, VAlign::Bottom),
            )?;
            last = area;
        }
        // sequence under the last panel, then position ticks
        let mut axis_area = last;
        if let (true, Some(seq)) = (show_seq, &self.seq) {
            let size = (cw * 1.1).clamp(7.0, 13.0);
            let y = last.y1 + 3.0 + seq_h / 2.0;
            for (i, &b) in seq.iter().enumerate() {
                let col = base_index(b).map(|k| BASE_COLORS[k]).unwrap_or(theme.text_muted);
                let s = (b as char).to_ascii_uppercase().to_string();
                c.text(xs.map(i as f64), y, &s, TextSpec::new(size, col).bold().align(HAlign::Center, VAlign::Center))?;
            }
            axis_area.y1 += seq_h;
        }
        let base = if o.offset == 0 { 1 } else { o.offset };
        let label_w = text_width(&group_thousands(base + len as i64), theme.tick_size) + 24.0;
        let xt: Vec<(f64, String)> =
            numeric_ticks(base as f64, (base + len as i64 - 1) as f64, tick_target(last.w(), label_w.max(60.0)))
                .into_iter()
                .map(|(d, _)| (d - base as f64, group_thousands(d as i64)))
                .collect();
        c.line(last.x0, last.y1, last.x1, last.y1, theme.axis, theme.axis_width)?;
        let axis_scale = xs;
        draw_x_axis(c, theme, Rect::new(last.x0, axis_area.y1, last.x1, axis_area.y1), &axis_scale, &xt, &o.x_label)?;
        draw_title(c, theme, &o.title, (left + right) / 2.0, m, c.w - 2.0 * m)
    }
}
