//! Embedded font handling: registration with plotters (for SVG text), text
//! measurement and direct glyph rasterisation for the bitmap backend.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use std::sync::OnceLock;

/// Family name under which the embedded font is registered with plotters. It
/// is written verbatim into SVG `font-family`, so it carries CSS fallbacks.
pub(crate) const FAMILY: &str = "DejaVu Sans, Arial, Helvetica, sans-serif";

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let regular = dejavu::sans::regular();
        let bold = dejavu::sans::bold();
        // Registration only fails on malformed font bytes; the bytes are embedded
        // and parsed just below as well, so a failure would surface there.
        let _ = plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, regular);
        let _ = plotters::style::register_font(FAMILY, plotters::style::FontStyle::Bold, bold);
        Fonts {
            regular: FontRef::try_from_slice(regular).expect("embedded DejaVu Sans is valid"),
            bold: FontRef::try_from_slice(bold).expect("embedded DejaVu Sans Bold is valid"),
        }
    })
}

/// Make sure the embedded font is registered with plotters.
pub(crate) fn ensure_registered() {
    let _ = fonts();
}

pub(crate) fn font(bold: bool) -> &'static FontRef<'static> {
    let f = fonts();
    if bold {
        &f.bold
    } else {
        &f.regular
    }
}

/// ab_glyph pixel scale giving an em size of `em` pixels.
fn px_scale(f: &FontRef<'static>, em: f64) -> PxScale {
    let units = f.units_per_em().unwrap_or(2048.0) as f64;
    PxScale::from((em * f.height_unscaled() as f64 / units) as f32)
}

/// Advance width in pixels of `s` set at em size `em`.
pub(crate) fn text_width(s: &str, em: f64, bold: bool) -> f64 {
    let f = font(bold);
    let sf = f.as_scaled(px_scale(f, em));
    let mut w = 0.0f32;
    let mut prev = None;
    for c in s.chars() {
        let g = sf.glyph_id(c);
        if let Some(p) = prev {
            w += sf.kern(p, g);
        }
        w += sf.h_advance(g);
        prev = Some(g);
    }
    w as f64
}

/// Horizontal anchor of a text run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HAlign {
    Left,
    Center,
    Right,
}

/// Vertical anchor of a text run (same conventions as the plotters SVG backend).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum VAlign {
    Top,
    Center,
    Bottom,
}

/// Baseline offset below the anchor for a vertical alignment, in em. These
/// mirror the `dy` values plotters writes into SVG (`0.76em`, `0.5ex`, `-0.5ex`).
pub(crate) fn baseline_offset(v: VAlign) -> f64 {
    const HALF_EX: f64 = 0.274; // DejaVu x-height is 0.547 em
    match v {
        VAlign::Top => 0.76,
        VAlign::Center => HALF_EX,
        VAlign::Bottom => -HALF_EX,
    }
}

/// Rasterise `s` with anti-aliasing, calling `put(x, y, coverage)` for each
/// device pixel. `(x, y)` is the anchor in device pixels and `em` the device em
/// size; `rotate` turns the text 90° counter-clockwise (reading upwards).
#[allow(clippy::too_many_arguments)]
pub(crate) fn raster_text(
    s: &str,
    x: f64,
    y: f64,
    em: f64,
    bold: bool,
    h: HAlign,
    v: VAlign,
    rotate: bool,
    mut put: impl FnMut(i32, i32, f32),
) {
    let f = font(bold);
    let scale = px_scale(f, em);
    let sf = f.as_scaled(scale);
    let width = text_width(s, em, bold);
    let u0 = match h {
        HAlign::Left => 0.0,
        HAlign::Center => -width / 2.0,
        HAlign::Right => -width,
    };
    let base = baseline_offset(v) * em;
    let mut caret = u0 as f32;
    let mut prev = None;
    for c in s.chars() {
        let gid = sf.glyph_id(c);
        if let Some(p) = prev {
            caret += sf.kern(p, gid);
        }
        prev = Some(gid);
        let glyph = gid.with_scale_and_position(scale, ab_glyph::point(caret, base as f32));
        caret += sf.h_advance(gid);
        if let Some(og) = f.outline_glyph(glyph) {
            let b = og.px_bounds();
            og.draw(|gx, gy, cov| {
                if cov <= 0.0 {
                    return;
                }
                // local text frame: u along the text, w downwards
                let u = b.min.x as f64 + gx as f64;
                let w = b.min.y as f64 + gy as f64;
                let (dx, dy) = if rotate { (w, -u - 1.0) } else { (u, w) };
                put((x + dx).round() as i32, (y + dy).round() as i32, cov.min(1.0));
            });
        }
    }
}
