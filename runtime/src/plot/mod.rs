//! Figure rendering: publication-style plots rendered to SVG or PNG.
//!
//! A [`Figure`] is a plain value holding a plot kind, its data and options,
//! the logical size in pixels and a DPI scale for raster output. The same
//! drawing code targets both backends: SVG (vector, text kept as `<text>`)
//! and PNG (rasterised with 2× supersampling, encoded with the `png` crate).
//! Text uses the embedded DejaVu Sans font, so no system fonts are needed.
//!
//! ```no_run
//! use gscript_runtime::plot::{Figure, EmbeddingColor, EmbeddingOptions};
//! let xy = vec![(0.0, 1.0), (1.0, 0.5), (2.0, 2.0)];
//! let color = EmbeddingColor::Categorical(vec!["a".into(), "b".into(), "a".into()]);
//! let fig = Figure::embedding(&xy, color, EmbeddingOptions::default()).unwrap();
//! fig.save("umap.png").unwrap();
//! ```

mod axes;
mod canvas;
mod cluster;
mod distribution;
mod embedding;
mod error;
mod figure;
mod glyph;
mod heatmap;
mod hist;
mod ism;
mod legend;
pub mod palette;
mod text;
pub mod theme;
mod track;
mod training;

#[cfg(test)]
mod tests;

pub use distribution::{BoxOptions, ViolinOptions};
pub use embedding::{EmbeddingColor, EmbeddingOptions};
pub use error::{PlotError, Result};
pub use figure::Figure;
pub use heatmap::{HeatmapDistance, HeatmapOptions};
pub use hist::HistOptions;
pub use ism::{IsmOptions, IsmRow, MotifHit};
pub use palette::Rgb;
pub use theme::group_thousands;
pub use theme::Theme;
pub use track::{TrackOptions, TrackSeries};
pub use training::{TrainingOptions, TrainingSeries};
