//! Visual theme shared by all plot types, plus scales, tick selection and
//! number formatting.

use super::palette::Rgb;

/// Colours, font sizes and spacing used by every plot type.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Figure background.
    pub background: Rgb,
    /// Titles, labels and tick labels.
    pub text: Rgb,
    /// Secondary text (annotations, thinned labels).
    pub text_muted: Rgb,
    /// Axis lines and tick marks.
    pub axis: Rgb,
    /// Grid lines.
    pub grid: Rgb,
    /// Draw light grid lines at the major ticks.
    pub show_grid: bool,
    /// Colour for single-series plots (histograms, tracks without a palette).
    pub accent: Rgb,
    /// Title font size (logical px).
    pub title_size: f64,
    /// Axis-label font size.
    pub label_size: f64,
    /// Tick-label font size.
    pub tick_size: f64,
    /// Legend font size.
    pub legend_size: f64,
    /// Outer margin around the figure content.
    pub margin: f64,
    /// Line width for data lines.
    pub line_width: f64,
    /// Line width for axes.
    pub axis_width: f64,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            background: Rgb(255, 255, 255),
            text: Rgb(0x22, 0x22, 0x22),
            text_muted: Rgb(0x59, 0x59, 0x59),
            axis: Rgb(0x33, 0x33, 0x33),
            grid: Rgb(0xE6, 0xE6, 0xE6),
            show_grid: true,
            accent: Rgb(0x00, 0x72, 0xB2),
            title_size: 16.0,
            label_size: 13.0,
            tick_size: 11.0,
            legend_size: 11.5,
            margin: 16.0,
            line_width: 1.8,
            axis_width: 1.0,
        }
    }
}

/// Axis-aligned rectangle in logical pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Rect {
        Rect { x0, y0, x1, y1 }
    }
    pub fn w(&self) -> f64 {
        self.x1 - self.x0
    }
    pub fn h(&self) -> f64 {
        self.y1 - self.y0
    }
    pub fn cx(&self) -> f64 {
        (self.x0 + self.x1) / 2.0
    }
}

/// Linear map from a data interval to a pixel interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        let (d0, d1) = if d1 > d0 { (d0, d1) } else { (d0 - 0.5, d0 + 0.5) };
        Scale { d0, d1, r0, r1 }
    }
    pub fn map(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// Round `raw` to a 1-2-2.5-5 × 10^k step.
pub(crate) fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// Ticks inside `[lo, hi]` with roughly `target` intervals; returns ticks and step.
pub(crate) fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    if lo.is_nan() || hi.is_nan() || hi <= lo {
        return (vec![lo], 1.0);
    }
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let start = (lo / step - 1e-9).ceil() as i64;
    let end = (hi / step + 1e-9).floor() as i64;
    let v = (start..=end).map(|i| i as f64 * step).map(|v| if v.abs() < step * 1e-9 { 0.0 } else { v }).collect();
    (v, step)
}

/// Data range of the finite values, padded by `pad` (fraction) on both sides.
pub(crate) fn padded_range(v: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in v.filter(|x| x.is_finite()) {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi <= lo {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// Insert thousands separators into an integer string (1234567 → "1,234,567"; negatives with a minus sign).
pub fn group_thousands(v: i64) -> String {
    let s = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0 {
        format!("\u{2212}{out}")
    } else {
        out
    }
}

/// Format a tick value given the tick step (decimals follow the step).
pub(crate) fn fmt_tick(v: f64, step: f64) -> String {
    let a = v.abs();
    if a != 0.0 && (a >= 1e7 || (step < 1e-3 && a < 1e-3)) {
        let s = format!("{v:.1e}").replace(".0e", "e");
        return s.replace('-', "\u{2212}");
    }
    let dec = (0..=6usize).find(|&d| {
        let x = step * 10f64.powi(d as i32);
        (x - x.round()).abs() < 1e-6 * x.max(1.0)
    });
    let dec = dec.unwrap_or(6);
    if dec == 0 {
        return group_thousands(v.round() as i64);
    }
    let s = format!("{v:.dec$}");
    s.replace('-', "\u{2212}")
}

/// Compact number for legends and summaries (`0.53`, `1,234`, `1.2e-5`).
pub(crate) fn fmt_compact(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e7).contains(&a) {
        format!("{v:.1e}").replace('-', "\u{2212}")
    } else if a >= 100.0 {
        group_thousands(v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.replace('-', "\u{2212}")
    }
}
