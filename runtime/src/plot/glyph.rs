//! Glyph outlines as filled polygons, used to draw sequence-logo letters that
//! stretch to arbitrary heights (text cannot be scaled anisotropically).

use super::text::font;
use ab_glyph::{Font, OutlineCurve, Point};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// A glyph as simple polygons in the unit square (x right, y up), holes
/// already merged into their outer contour with a zero-width bridge so every
/// polygon can be filled on its own with either fill rule.
pub(crate) type GlyphPolys = Vec<Vec<(f64, f64)>>;

fn flatten(curves: &[OutlineCurve]) -> Vec<Vec<Point>> {
    let mut contours: Vec<Vec<Point>> = Vec::new();
    let mut cur: Vec<Point> = Vec::new();
    let close = |a: Point, b: Point| (a.x - b.x).abs() < 1e-3 && (a.y - b.y).abs() < 1e-3;
    for c in curves {
        let (start, pts): (Point, Vec<Point>) = match *c {
            OutlineCurve::Line(a, b) => (a, vec![b]),
            OutlineCurve::Quad(a, b, e) => (
                a,
                (1..=8)
                    .map(|i| {
                        let t = i as f32 / 8.0;
                        let m = 1.0 - t;
                        ab_glyph::point(
                            m * m * a.x + 2.0 * m * t * b.x + t * t * e.x,
                            m * m * a.y + 2.0 * m * t * b.y + t * t * e.y,
                        )
                    })
                    .collect(),
            ),
            OutlineCurve::Cubic(a, b, d, e) => (
                a,
                (1..=10)
                    .map(|i| {
                        let t = i as f32 / 10.0;
                        let m = 1.0 - t;
                        let (k0, k1, k2, k3) = (m * m * m, 3.0 * m * m * t, 3.0 * m * t * t, t * t * t);
                        ab_glyph::point(
                            k0 * a.x + k1 * b.x + k2 * d.x + k3 * e.x,
                            k0 * a.y + k1 * b.y + k2 * d.y + k3 * e.y,
                        )
                    })
                    .collect(),
            ),
        };
        if cur.last().is_none_or(|&l| !close(l, start)) {
            if cur.len() > 2 {
                contours.push(std::mem::take(&mut cur));
            }
            cur.clear();
            cur.push(start);
        }
        cur.extend(pts);
    }
    if cur.len() > 2 {
        contours.push(cur);
    }
    contours
}

fn signed_area(c: &[(f64, f64)]) -> f64 {
    let n = c.len();
    (0..n)
        .map(|i| {
            let (a, b) = (c[i], c[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f64>()
        / 2.0
}

fn bbox(c: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    c.iter().fold((f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY), |(a, b, x, y), p| {
        (a.min(p.0), b.min(p.1), x.max(p.0), y.max(p.1))
    })
}

/// Splice `hole` into `outer` through the closest vertex pair.
fn keyhole(outer: &mut Vec<(f64, f64)>, hole: &[(f64, f64)]) {
    let (mut bi, mut bj, mut bd) = (0, 0, f64::INFINITY);
    for (i, o) in outer.iter().enumerate() {
        for (j, h) in hole.iter().enumerate() {
            let d = (o.0 - h.0).powi(2) + (o.1 - h.1).powi(2);
            if d < bd {
                (bi, bj, bd) = (i, j, d);
            }
        }
    }
    let mut merged = Vec::with_capacity(outer.len() + hole.len() + 2);
    merged.extend_from_slice(&outer[..=bi]);
    merged.extend_from_slice(&hole[bj..]);
    merged.extend_from_slice(&hole[..=bj]);
    merged.extend_from_slice(&outer[bi..]);
    *outer = merged;
}

fn build(c: char) -> Option<GlyphPolys> {
    let f = font(true);
    let outline = f.outline(f.glyph_id(c))?;
    let contours = flatten(&outline.curves);
    if contours.is_empty() {
        return None;
    }
    // Normalise by the bounds of the flattened points (the outline's own
    // bounds use a different vertical convention than its points).
    let all: Vec<(f64, f64)> = contours.iter().flatten().map(|p| (p.x as f64, p.y as f64)).collect();
    let (x0, y0, x1, y1) = bbox(&all);
    let (w, h) = ((x1 - x0).max(1e-6), (y1 - y0).max(1e-6));
    let polys: Vec<Vec<(f64, f64)>> =
        contours.iter().map(|c| c.iter().map(|p| ((p.x as f64 - x0) / w, (p.y as f64 - y0) / h)).collect()).collect();
    let areas: Vec<f64> = polys.iter().map(|p| signed_area(p)).collect();
    let main = areas.iter().cloned().fold(0.0f64, |m, a| if a.abs() > m.abs() { a } else { m }).signum();
    let mut outers: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut holes = Vec::new();
    for (p, a) in polys.into_iter().zip(areas) {
        if a.signum() == main {
            outers.push(p);
        } else {
            holes.push(p);
        }
    }
    for hole in holes {
        let (hx0, hy0, hx1, hy1) = bbox(&hole);
        let target = outers.iter_mut().find(|o| {
            let (a, b, c, d) = bbox(o);
            a <= hx0 && b <= hy0 && c >= hx1 && d >= hy1
        });
        if let Some(o) = target {
            keyhole(o, &hole);
        }
    }
    Some(outers)
}

/// Polygons for the bold glyph of `c`, normalised to its tight bounding box.
pub(crate) fn glyph_polygons(c: char) -> Option<GlyphPolys> {
    static CACHE: OnceLock<Mutex<HashMap<char, Option<GlyphPolys>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(c).or_insert_with(|| build(c)).clone()
}
