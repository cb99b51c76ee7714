//! A thin drawing surface over a plotters backend, in logical (CSS) pixels.
//!
//! All plot code draws through [`Canvas`]; it scales logical coordinates to
//! device coordinates, maps errors and provides a fast path for large point
//! clouds on raster backends. SVG output is drawn at a fixed internal
//! resolution multiplier so that small shapes keep sub-pixel precision.

use super::error::{PlotError, Result};
use super::palette::Rgb;
use super::text::{self, HAlign, VAlign, FAMILY};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle, FontTransform, RGBAColor, ShapeStyle};
use plotters_backend::{BackendColor, DrawingBackend, DrawingErrorKind};

/// Text styling for one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextSpec {
    pub size: f64,
    pub color: Rgb,
    pub bold: bool,
    pub h: HAlign,
    pub v: VAlign,
    /// Rotate 90° counter-clockwise (text reads bottom to top).
    pub rotate: bool,
}

impl TextSpec {
    pub fn new(size: f64, color: Rgb) -> Self {
        TextSpec { size, color, bold: false, h: HAlign::Left, v: VAlign::Center, rotate: false }
    }
    pub fn align(mut self, h: HAlign, v: VAlign) -> Self {
        self.h = h;
        self.v = v;
        self
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    pub fn rotated(mut self) -> Self {
        self.rotate = true;
        self
    }
}

fn map_err<E: std::error::Error + Send + Sync>(r: std::result::Result<(), DrawingErrorKind<E>>) -> Result<()> {
    r.map_err(|e| PlotError::Render(e.to_string()))
}

/// Drawing surface in logical pixels over backend `DB`.
pub(crate) struct Canvas<DB: DrawingBackend> {
    db: DB,
    /// Device pixels per logical pixel.
    k: f64,
    raster: bool,
    /// Logical width.
    pub w: f64,
    /// Logical height.
    pub h: f64,
}

impl<DB: DrawingBackend> Canvas<DB> {
    /// Wrap a backend. `k` is device pixels per logical pixel.
    pub fn new(db: DB, w: f64, h: f64, k: f64, raster: bool) -> Self {
        text::ensure_registered();
        Canvas { db, k, raster, w, h }
    }

    /// Finish drawing and hand back the backend.
    pub fn finish(mut self) -> Result<DB> {
        map_err(self.db.present())?;
        Ok(self.db)
    }

    fn p(&self, x: f64, y: f64) -> (i32, i32) {
        ((x * self.k).round() as i32, (y * self.k).round() as i32)
    }

    fn style(&self, c: Rgb, alpha: f64, filled: bool, width: f64) -> ShapeStyle {
        ShapeStyle {
            color: RGBAColor(c.0, c.1, c.2, alpha),
            filled,
            stroke_width: ((width * self.k).round() as u32).max(1),
        }
    }

    /// Filled axis-aligned rectangle.
    pub fn fill_rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: Rgb, alpha: f64) -> Result<()> {
        let (a, b) = (self.p(x0.min(x1), y0.min(y1)), self.p(x0.max(x1), y0.max(y1)));
        let s = self.style(c, alpha, true, 1.0);
        map_err(self.db.draw_rect(a, b, &s, true))
    }

    /// Rectangle outline.
    pub fn stroke_rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: Rgb, width: f64) -> Result<()> {
        self.polyline(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)], c, 1.0, width)
    }

    /// Straight line segment.
    pub fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: Rgb, width: f64) -> Result<()> {
        self.polyline(&[(x0, y0), (x1, y1)], c, 1.0, width)
    }

    /// Open polyline.
    pub fn polyline(&mut self, pts: &[(f64, f64)], c: Rgb, alpha: f64, width: f64) -> Result<()> {
        if pts.len() < 2 {
            return Ok(());
        }
        let dev: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| self.p(x, y)).collect();
        let s = self.style(c, alpha, false, width);
        let wpx = s.stroke_width;
        if self.raster && wpx > 1 {
            // Axis-aligned thick segments: exact rectangles look crisper than the
            // generic polygonised path.
            if dev.len() == 2 && (dev[0].0 == dev[1].0 || dev[0].1 == dev[1].1) {
                let h0 = (wpx / 2) as i32;
                let h1 = wpx as i32 - h0;
                let (a, b) = (dev[0], dev[1]);
                let (ul, br) = if a.0 == b.0 {
                    ((a.0 - h0, a.1.min(b.1)), (a.0 + h1 - 1, a.1.max(b.1)))
                } else {
                    ((a.0.min(b.0), a.1 - h0), (a.0.max(b.0), a.1 + h1 - 1))
                };
                let fs = self.style(c, alpha, true, 1.0);
                return map_err(self.db.draw_rect(ul, br, &fs, true));
            }
        }
        map_err(self.db.draw_path(dev, &s))
    }

    /// Filled polygon.
    pub fn polygon(&mut self, pts: &[(f64, f64)], c: Rgb, alpha: f64) -> Result<()> {
        if pts.len() < 3 {
            return Ok(());
        }
        let dev: Vec<(i32, i32)> = pts.iter().map(|&(x, y)| self.p(x, y)).collect();
        let s = self.style(c, alpha, true, 1.0);
        map_err(self.db.fill_polygon(dev, &s))
    }

    /// Circle, filled or outlined.
    pub fn circle(&mut self, x: f64, y: f64, r: f64, c: Rgb, filled: bool, width: f64) -> Result<()> {
        let s = self.style(c, 1.0, filled, width);
        let rr = ((r * self.k).round() as u32).max(1);
        map_err(self.db.draw_circle(self.p(x, y), rr, &s, filled))
    }

    /// Many filled discs of radius `r` with per-point colour and a shared alpha.
    /// On raster backends discs are stamped pixel by pixel, which is far faster
    /// than going through plotters' per-element machinery.
    pub fn points(&mut self, pts: &[(f64, f64)], colors: &[Rgb], r: f64, alpha: f64) -> Result<()> {
        if !self.raster {
            for (&(x, y), &c) in pts.iter().zip(colors) {
                let s = self.style(c, alpha, true, 1.0);
                let rr = ((r * self.k).round() as u32).max(1);
                map_err(self.db.draw_circle(self.p(x, y), rr, &s, true))?;
            }
            return Ok(());
        }
        // Disc stamp with analytic edge coverage so dots stay round when small.
        let rd = (r * self.k).max(0.5);
        let ri = rd.ceil() as i32 + 1;
        let mut stamp: Vec<(i32, i32, f64)> = Vec::new();
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                let d = ((dx * dx + dy * dy) as f64).sqrt();
                let cov = (rd + 0.5 - d).clamp(0.0, 1.0);
                if cov > 0.02 {
                    stamp.push((dx, dy, cov));
                }
            }
        }
        for (&(x, y), &c) in pts.iter().zip(colors) {
            let (cx, cy) = ((x * self.k).round() as i32, (y * self.k).round() as i32);
            for &(dx, dy, cov) in &stamp {
                let col = BackendColor { alpha: alpha * cov, rgb: (c.0, c.1, c.2) };
                map_err(self.db.draw_pixel((cx + dx, cy + dy), col))?;
            }
        }
        Ok(())
    }

    /// Draw a text run anchored at `(x, y)`.
    pub fn text(&mut self, x: f64, y: f64, s: &str, t: TextSpec) -> Result<()> {
        if s.is_empty() {
            return Ok(());
        }
        if self.raster {
            let (dx, dy) = (x * self.k, y * self.k);
            let col = t.color;
            let db = &mut self.db;
            let mut err = None;
            text::raster_text(s, dx, dy, t.size * self.k, t.bold, t.h, t.v, t.rotate, |px, py, cov| {
                if err.is_none() {
                    let c = BackendColor { alpha: cov as f64, rgb: (col.0, col.1, col.2) };
                    if let Err(e) = db.draw_pixel((px, py), c) {
                        err = Some(PlotError::Render(e.to_string()));
                    }
                }
            });
            return err.map_or(Ok(()), Err);
        }
        let style = if t.bold { FontStyle::Bold } else { FontStyle::Normal };
        let font = FontDesc::new(FontFamily::Name(FAMILY), t.size * self.k * 1.24, style);
        let h = match t.h {
            HAlign::Left => HPos::Left,
            HAlign::Center => HPos::Center,
            HAlign::Right => HPos::Right,
        };
        let v = match t.v {
            VAlign::Top => VPos::Top,
            VAlign::Center => VPos::Center,
            VAlign::Bottom => VPos::Bottom,
        };
        let mut ts = font.color(&plotters::style::RGBColor(t.color.0, t.color.1, t.color.2)).pos(Pos::new(h, v));
        if t.rotate {
            ts = ts.transform(FontTransform::Rotate270);
        }
        map_err(self.db.draw_text(s, &ts, self.p(x, y)))
    }
}

/// Width in logical pixels of `s` at font size `size`.
pub(crate) fn text_width(s: &str, size: f64) -> f64 {
    text::text_width(s, size, false)
}

/// Width of bold text.
pub(crate) fn text_width_bold(s: &str, size: f64) -> f64 {
    text::text_width(s, size, true)
}
