//! The [`Figure`] value: plot data + options + size, rendered to SVG or PNG.

use super::canvas::Canvas;
use super::distribution::DistPlot;
use super::embedding::EmbeddingPlot;
use super::error::{PlotError, Result};
use super::heatmap::HeatmapPlot;
use super::hist::HistPlot;
use super::ism::IsmPlot;
use super::theme::Theme;
use super::track::TrackPlot;
use super::training::TrainingPlot;
use plotters::backend::{BitMapBackend, SVGBackend};
use plotters_backend::DrawingBackend;
use std::path::Path;

/// SVG coordinates are written at this multiple of the logical size (the
/// `viewBox`), keeping sub-pixel precision for small shapes and glyphs.
const SVG_RES: f64 = 4.0;
/// Largest accepted logical width or height.
const MAX_SIDE: u32 = 20_000;
/// Largest accepted PNG size in device pixels.
const MAX_PIXELS: f64 = 64.0e6;
/// Raster output is drawn at this supersampling factor and box-filtered down.
const SUPERSAMPLE: u32 = 2;

/// Behaviour shared by the plot kinds.
pub(crate) trait Plot {
    /// Short kind name used in summaries (`embedding`, `heatmap`, ...).
    fn kind(&self) -> &'static str;
    /// Data description for the summary (`12,000 points`).
    fn describe(&self) -> String;
    /// Draw the whole figure onto `c` (background already painted).
    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()>;
}

#[derive(Debug, Clone)]
pub(crate) enum PlotKind {
    Embedding(EmbeddingPlot),
    Heatmap(HeatmapPlot),
    Ism(IsmPlot),
    Training(TrainingPlot),
    Dist(DistPlot),
    Hist(HistPlot),
    Track(TrackPlot),
}

macro_rules! dispatch {
    ($self:expr, $p:ident => $e:expr) => {
        match $self {
            PlotKind::Embedding($p) => $e,
            PlotKind::Heatmap($p) => $e,
            PlotKind::Ism($p) => $e,
            PlotKind::Training($p) => $e,
            PlotKind::Dist($p) => $e,
            PlotKind::Hist($p) => $e,
            PlotKind::Track($p) => $e,
        }
    };
}

/// A complete figure: what to draw, its logical size in pixels and the DPI
/// scale used for PNG output. Build one with a constructor such as
/// [`Figure::embedding`], adjust with the `with_*` methods, then call
/// [`Figure::render_svg`], [`Figure::render_png`] or [`Figure::save`].
#[derive(Debug, Clone)]
pub struct Figure {
    pub(crate) plot: PlotKind,
    width: u32,
    height: u32,
    scale: f64,
    theme: Theme,
}

fn check_size(width: u32, height: u32, scale: f64) -> Result<()> {
    if width < 50 || height < 50 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PlotError::BadSize(format!(
            "{width}×{height} px; width and height must each be between 50 and {MAX_SIDE}"
        )));
    }
    if !(scale.is_finite() && scale > 0.0 && scale <= 10.0) {
        return Err(PlotError::BadSize(format!("scale {scale}; must be in (0, 10]")));
    }
    let px = width as f64 * scale * height as f64 * scale;
    if px > MAX_PIXELS {
        return Err(PlotError::BadSize(format!(
            "{width}×{height} at scale {scale} is {:.0} megapixels; the limit is {:.0}",
            px / 1e6,
            MAX_PIXELS / 1e6
        )));
    }
    Ok(())
}

impl Figure {
    pub(crate) fn from_plot(plot: PlotKind, width: u32, height: u32) -> Figure {
        Figure { plot, width, height, scale: 1.0, theme: Theme::default() }
    }

    /// Set the logical size in pixels (50..=20000 each).
    pub fn with_size(mut self, width: u32, height: u32) -> Result<Figure> {
        check_size(width, height, self.scale)?;
        self.width = width;
        self.height = height;
        Ok(self)
    }

    /// Set the PNG scale factor (2.0 gives a 2× "retina"/print-resolution image).
    pub fn with_scale(mut self, scale: f64) -> Result<Figure> {
        check_size(self.width, self.height, scale)?;
        self.scale = scale;
        Ok(self)
    }

    /// Replace the theme.
    pub fn with_theme(mut self, theme: Theme) -> Figure {
        self.theme = theme;
        self
    }

    /// Logical width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Logical height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// PNG scale factor.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Size of the PNG produced by [`Figure::render_png`], in pixels.
    pub fn png_size(&self) -> (u32, u32) {
        (
            ((self.width as f64 * self.scale).round() as u32).max(1),
            ((self.height as f64 * self.scale).round() as u32).max(1),
        )
    }

    /// The plot kind (`embedding`, `heatmap`, `ism`, ...), e.g. for file names.
    pub fn kind_name(&self) -> &'static str {
        dispatch!(&self.plot, p => p.kind())
    }

    /// One-line description, e.g. `Figure(embedding, 800×600, 12,000 points)`.
    pub fn summary(&self) -> String {
        let (kind, desc) = dispatch!(&self.plot, p => (p.kind(), p.describe()));
        format!("Figure({kind}, {}×{}, {desc})", self.width, self.height)
    }

    fn draw_on<DB: DrawingBackend>(&self, c: &mut Canvas<DB>) -> Result<()> {
        let bg = self.theme.background;
        c.fill_rect(0.0, 0.0, c.w, c.h, bg, 1.0)?;
        dispatch!(&self.plot, p => p.draw(c, &self.theme))
    }

    /// Render to an SVG document (text stays text; sizes in logical pixels).
    pub fn render_svg(&self) -> Result<String> {
        check_size(self.width, self.height, self.scale)?;
        let (w, h) = (self.width as f64, self.height as f64);
        let dev = ((w * SVG_RES) as u32, (h * SVG_RES) as u32);
        let mut out = String::new();
        {
            let mut c = Canvas::new(SVGBackend::with_string(&mut out, dev), w, h, SVG_RES, false);
            self.draw_on(&mut c)?;
            c.finish()?;
        }
        let from = format!("width=\"{}\" height=\"{}\"", dev.0, dev.1);
        let to = format!("width=\"{}\" height=\"{}\"", self.width, self.height);
        Ok(out.replacen(&from, &to, 1))
    }

    /// Render to packed 8-bit RGB pixels of size [`Figure::png_size`].
    pub fn render_rgb(&self) -> Result<(u32, u32, Vec<u8>)> {
        check_size(self.width, self.height, self.scale)?;
        let (pw, ph) = self.png_size();
        let ss = if (pw as f64) * (ph as f64) <= 16.0e6 { SUPERSAMPLE } else { 1 };
        let (bw, bh) = (pw * ss, ph * ss);
        let mut buf = vec![0u8; bw as usize * bh as usize * 3];
        {
            let k = self.scale * ss as f64;
            let db = BitMapBackend::with_buffer(&mut buf, (bw, bh));
            let mut c = Canvas::new(db, self.width as f64, self.height as f64, k, true);
            self.draw_on(&mut c)?;
            c.finish()?;
        }
        if ss == 1 {
            return Ok((pw, ph, buf));
        }
        Ok((pw, ph, downsample(&buf, bw as usize, pw as usize, ph as usize, ss as usize)))
    }

    /// Render to PNG bytes at `width × scale` by `height × scale` pixels.
    pub fn render_png(&self) -> Result<Vec<u8>> {
        let (w, h, rgb) = self.render_rgb()?;
        encode_png(w, h, &rgb, self.scale)
    }

    /// Write the figure to `path`; the format follows the extension (`.svg`
    /// or `.png`, case-insensitive). The file is written to a temporary file in
    /// the same directory and renamed into place, so readers never see a
    /// partial file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        let bytes = match ext.as_deref() {
            Some("svg") => self.render_svg()?.into_bytes(),
            Some("png") => self.render_png()?,
            Some(other) => return Err(PlotError::UnsupportedExtension(format!(".{other}"))),
            None => return Err(PlotError::UnsupportedExtension(String::new())),
        };
        crate::io::write_atomic(path, &bytes)
            .map_err(|source| PlotError::Io { path: path.display().to_string(), source })
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

fn downsample(src: &[u8], bw: usize, pw: usize, ph: usize, ss: usize) -> Vec<u8> {
    let mut out = vec![0u8; pw * ph * 3];
    let n = (ss * ss) as u32;
    for y in 0..ph {
        for x in 0..pw {
            let mut acc = [0u32; 3];
            for sy in 0..ss {
                let row = (y * ss + sy) * bw;
                for sx in 0..ss {
                    let i = (row + x * ss + sx) * 3;
                    acc[0] += src[i] as u32;
                    acc[1] += src[i + 1] as u32;
                    acc[2] += src[i + 2] as u32;
                }
            }
            let o = (y * pw + x) * 3;
            for ch in 0..3 {
                out[o + ch] = ((acc[ch] + n / 2) / n) as u8;
            }
        }
    }
    out
}

fn encode_png(w: u32, h: u32, rgb: &[u8], scale: f64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        // 96 dpi per logical pixel, expressed in pixels per metre
        let ppm = (96.0 * scale / 0.0254).round() as u32;
        enc.set_pixel_dims(Some(png::PixelDimensions { xppu: ppm, yppu: ppm, unit: png::Unit::Meter }));
        let mut wr = enc.write_header().map_err(|e| PlotError::Png(e.to_string()))?;
        wr.write_image_data(rgb).map_err(|e| PlotError::Png(e.to_string()))?;
        wr.finish().map_err(|e| PlotError::Png(e.to_string()))?;
    }
    Ok(out)
}
