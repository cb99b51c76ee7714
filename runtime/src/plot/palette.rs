//! Colour palettes: colour-blind-safe categorical colours, the viridis
//! perceptual map and a blue–white–red diverging map.

/// An opaque sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parse `#rrggbb` (the leading `#` is optional). Returns `None` on malformed input.
    pub fn from_hex(s: &str) -> Option<Rgb> {
        let s = s.strip_prefix('#').unwrap_or(s);
        if s.len() != 6 || !s.is_ascii() {
            return None;
        }
        let p = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).ok();
        Some(Rgb(p(0)?, p(2)?, p(4)?))
    }

    /// Hex string `#rrggbb`.
    pub fn to_hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Linear mix towards `other` by `t` in `[0, 1]`.
    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let t = t.clamp(0.0, 1.0);
        let m = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
        Rgb(m(self.0, other.0), m(self.1, other.1), m(self.2, other.2))
    }

    /// Mix towards white (`t = 1` gives white).
    pub fn lighten(self, t: f64) -> Rgb {
        self.mix(Rgb(255, 255, 255), t)
    }

    /// Mix towards black (`t = 1` gives black).
    pub fn darken(self, t: f64) -> Rgb {
        self.mix(Rgb(0, 0, 0), t)
    }

    /// Relative luminance in `[0, 1]` (sRGB, approximate), used to pick text colour.
    pub fn luminance(self) -> f64 {
        (0.2126 * self.0 as f64 + 0.7152 * self.1 as f64 + 0.0722 * self.2 as f64) / 255.0
    }
}

const fn hex(v: u32) -> Rgb {
    Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
}

/// Okabe–Ito colour-blind-safe palette (black moved last, as it reads as "no group").
pub const OKABE_ITO: [Rgb; 8] = [
    hex(0xE69F00),
    hex(0x56B4E9),
    hex(0x009E73),
    hex(0xF0E442),
    hex(0x0072B2),
    hex(0xD55E00),
    hex(0xCC79A7),
    hex(0x000000),
];

/// Kelly's 22 colours of maximum contrast without white and black (20 colours),
/// used when more than eight categories are needed.
pub const KELLY_20: [Rgb; 20] = [
    hex(0xF3C300),
    hex(0x875692),
    hex(0xF38400),
    hex(0xA1CAF1),
    hex(0xBE0032),
    hex(0xC2B280),
    hex(0x848482),
    hex(0x008856),
    hex(0xE68FAC),
    hex(0x0067A5),
    hex(0xF99379),
    hex(0x604E97),
    hex(0xF6A600),
    hex(0xB3446C),
    hex(0xDCD300),
    hex(0x882D17),
    hex(0x8DB600),
    hex(0x654522),
    hex(0xE25822),
    hex(0x2B3D26),
];

/// `n` distinct categorical colours: Okabe–Ito for `n <= 8`, Kelly's 20 for
/// `n <= 20`, and beyond that Kelly's colours cycled with alternating
/// lightening/darkening so neighbouring cycles stay distinguishable.
pub fn categorical(n: usize) -> Vec<Rgb> {
    if n <= OKABE_ITO.len() {
        return OKABE_ITO[..n].to_vec();
    }
    (0..n)
        .map(|i| {
            let base = KELLY_20[i % KELLY_20.len()];
            match i / KELLY_20.len() {
                0 => base,
                k if k % 2 == 1 => base.lighten(0.25 + 0.1 * (k / 2) as f64),
                k => base.darken(0.25 + 0.1 * (k / 2 - 1) as f64),
            }
        })
        .collect()
}

/// Viridis anchor colours at 10 equally spaced stops (published values).
const VIRIDIS: [Rgb; 10] = [
    hex(0x440154),
    hex(0x482878),
    hex(0x3E4A89),
    hex(0x31688E),
    hex(0x26828E),
    hex(0x1F9E89),
    hex(0x35B779),
    hex(0x6DCD59),
    hex(0xB4DE2C),
    hex(0xFDE725),
];

/// Blue–white–red diverging anchors (ColorBrewer RdBu, reversed so low = blue).
const DIVERGING: [Rgb; 9] = [
    hex(0x2166AC),
    hex(0x4393C3),
    hex(0x92C5DE),
    hex(0xD1E5F0),
    hex(0xF7F7F7),
    hex(0xFDDBC7),
    hex(0xF4A582),
    hex(0xD6604D),
    hex(0xB2182B),
];

fn interpolate(anchors: &[Rgb], t: f64) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (anchors.len() - 1) as f64;
    let i = (pos.floor() as usize).min(anchors.len() - 2);
    anchors[i].mix(anchors[i + 1], pos - i as f64)
}

/// Viridis colour for `t` in `[0, 1]` (clamped; NaN maps to the low end).
pub fn viridis(t: f64) -> Rgb {
    interpolate(&VIRIDIS, t)
}

/// Diverging colour for `t` in `[0, 1]`, with `0.5` white-ish (clamped).
pub fn diverging(t: f64) -> Rgb {
    interpolate(&DIVERGING, t)
}

/// A continuous colour map with a value range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColorMap {
    pub lo: f64,
    pub hi: f64,
    pub diverging: bool,
}

impl ColorMap {
    /// Map over the finite values of `v`; diverging maps are symmetric around 0.
    pub fn fit(v: impl Iterator<Item = f64>, diverging: bool) -> ColorMap {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in v.filter(|x| x.is_finite()) {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        if !lo.is_finite() {
            lo = 0.0;
            hi = 1.0;
        }
        if diverging {
            let m = lo.abs().max(hi.abs());
            let m = if m > 0.0 { m } else { 1.0 };
            return ColorMap { lo: -m, hi: m, diverging };
        }
        if hi <= lo {
            let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
            lo -= d;
            hi += d;
        }
        ColorMap { lo, hi, diverging }
    }

    /// Colour for value `v`.
    pub fn color(&self, v: f64) -> Rgb {
        let t = (v - self.lo) / (self.hi - self.lo);
        if self.diverging {
            diverging(t)
        } else {
            viridis(t)
        }
    }
}
