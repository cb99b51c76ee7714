//! Heatmaps with optional hierarchical clustering of rows and columns.

use super::axes::{draw_title, ellipsize, title_height};
use super::canvas::{text_width, Canvas, TextSpec};
use super::cluster::{average_linkage, Dendrogram};
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::legend::{colorbar_title_h, colorbar_width, draw_colorbar};
use super::palette::{ColorMap, Rgb};
use super::text::{HAlign, VAlign};
use super::theme::{group_thousands, Rect, Theme};
use plotters_backend::DrawingBackend;

pub use super::cluster::Metric as HeatmapDistance;

/// Options for [`Figure::heatmap`].
#[derive(Debug, Clone)]
pub struct HeatmapOptions {
    /// Figure title.
    pub title: String,
    /// Colour-bar title (what the values are).
    pub color_label: String,
    /// Reorder rows by average-linkage clustering.
    pub cluster_rows: bool,
    /// Reorder columns by average-linkage clustering.
    pub cluster_cols: bool,
    /// Distance used for clustering.
    pub distance: HeatmapDistance,
    /// Draw dendrograms next to clustered axes.
    pub dendrograms: bool,
    /// Use the blue–white–red map centred on 0 (for signed scores) instead of viridis.
    pub diverging: bool,
}

impl Default for HeatmapOptions {
    fn default() -> Self {
        HeatmapOptions {
            title: String::new(),
            color_label: String::new(),
            cluster_rows: true,
            cluster_cols: true,
            distance: HeatmapDistance::Euclidean,
            dendrograms: true,
            diverging: false,
        }
    }
}

/// Validated heatmap data, already reordered.
#[derive(Debug, Clone)]
pub(crate) struct HeatmapPlot {
    values: Vec<Vec<f64>>,
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    row_tree: Option<Dendrogram>,
    col_tree: Option<Dendrogram>,
    nan: usize,
    opts: HeatmapOptions,
}

const MAX_CLUSTER: usize = 5000;
const NAN_COLOR: Rgb = Rgb(0xD0, 0xD0, 0xD0);

impl Figure {
    /// Heatmap of `values` (rows × columns). `row_labels` / `col_labels` must
    /// match the dimensions or be empty (no labels). NaN cells are drawn grey.
    pub fn heatmap(
        values: &[Vec<f64>],
        row_labels: &[String],
        col_labels: &[String],
        opts: HeatmapOptions,
    ) -> Result<Figure> {
        if values.is_empty() {
            return Err(PlotError::Empty("heatmap values".into()));
        }
        let nc = values[0].len();
        if nc == 0 {
            return Err(PlotError::Empty("heatmap row 0".into()));
        }
        for (i, r) in values.iter().enumerate() {
            if r.len() != nc {
                return Err(PlotError::mismatch(&format!("heatmap row {i}"), r.len(), "row 0", nc));
            }
        }
        if !row_labels.is_empty() && row_labels.len() != values.len() {
            return Err(PlotError::mismatch("row labels", row_labels.len(), "rows", values.len()));
        }
        if !col_labels.is_empty() && col_labels.len() != nc {
            return Err(PlotError::mismatch("column labels", col_labels.len(), "columns", nc));
        }
        let nan = values.iter().flatten().filter(|v| !v.is_finite()).count();
        if nan == values.len() * nc {
            return Err(PlotError::AllNan("heatmap values".into()));
        }
        for (flag, n, what) in [(opts.cluster_rows, values.len(), "rows"), (opts.cluster_cols, nc, "columns")] {
            if flag && n > MAX_CLUSTER {
                return Err(PlotError::Invalid(format!(
                    "cannot cluster {n} {what} (limit {MAX_CLUSTER}); disable clustering for {what}"
                )));
            }
        }
        let row_tree = opts.cluster_rows.then(|| average_linkage(values, opts.distance));
        let col_tree = opts.cluster_cols.then(|| {
            let t: Vec<Vec<f64>> = (0..nc).map(|j| values.iter().map(|r| r[j]).collect()).collect();
            average_linkage(&t, opts.distance)
        });
        let ro: Vec<usize> = row_tree.as_ref().map(|t| t.order.clone()).unwrap_or_else(|| (0..values.len()).collect());
        let co: Vec<usize> = col_tree.as_ref().map(|t| t.order.clone()).unwrap_or_else(|| (0..nc).collect());
        let plot = HeatmapPlot {
            values: ro.iter().map(|&i| co.iter().map(|&j| values[i][j]).collect()).collect(),
            row_labels: if row_labels.is_empty() {
                vec![]
            } else {
                ro.iter().map(|&i| row_labels[i].clone()).collect()
            },
            col_labels: if col_labels.is_empty() {
                vec![]
            } else {
                co.iter().map(|&j| col_labels[j].clone()).collect()
            },
            row_tree,
            col_tree,
            nan,
            opts,
        };
        Ok(Figure::from_plot(PlotKind::Heatmap(plot), 800, 640))
    }
}

/// Label font size and stride so labels in cells of size `cell` stay readable.
fn label_plan(cell: f64, base: f64) -> (f64, usize) {
    let size = (cell * 0.8).min(base);
    if size >= 7.5 {
        (size, 1)
    } else {
        (7.5f64.min(base), ((8.5 / cell).ceil() as usize).max(1))
    }
}

/// Draw a dendrogram. `pos(leaf_rank)` gives the leaf coordinate along the
/// axis; heights are mapped from the root (at `base + depth`) to `base`.
#[allow(clippy::too_many_arguments)]
fn draw_tree<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    tree: &Dendrogram,
    cell0: f64,
    cell: f64,
    base: f64,
    depth: f64,
    vertical: bool,
    color: Rgb,
) -> Result<()> {
    let n = tree.order.len();
    if tree.merges.is_empty() {
        return Ok(());
    }
    let hmax = tree.merges.iter().map(|m| m.2).fold(0.0, f64::max).max(1e-12);
    let mut pos = vec![0.0; n + tree.merges.len()];
    let mut height = vec![0.0; n + tree.merges.len()];
    for (rank, &leaf) in tree.order.iter().enumerate() {
        pos[leaf] = cell0 + (rank as f64 + 0.5) * cell;
    }
    // map height to a coordinate: 0 → base, hmax → base - depth
    let hc = |h: f64| base - h / hmax * depth;
    for (k, &(l, r, h)) in tree.merges.iter().enumerate() {
        let id = n + k;
        pos[id] = (pos[l] + pos[r]) / 2.0;
        height[id] = h;
        let pts = [(pos[l], hc(height[l])), (pos[l], hc(h)), (pos[r], hc(h)), (pos[r], hc(height[r]))];
        let pts: Vec<(f64, f64)> = if vertical { pts.to_vec() } else { pts.iter().map(|&(a, b)| (b, a)).collect() };
        c.polyline(&pts, color, 1.0, 0.8)?;
    }
    Ok(())
}

impl Plot for HeatmapPlot {
    fn kind(&self) -> &'static str {
        "heatmap"
    }

    fn describe(&self) -> String {
        let mut s = format!(
            "{} × {} cells",
            group_thousands(self.values.len() as i64),
            group_thousands(self.values[0].len() as i64)
        );
        if self.row_tree.is_some() || self.col_tree.is_some() {
            s += ", clustered";
        }
        if self.nan > 0 {
            s += &format!(", {} NaN", group_thousands(self.nan as i64));
        }
        s
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let (nr, nc) = (self.values.len(), self.values[0].len());
        let m = theme.margin;
        let cmap = ColorMap::fit(self.values.iter().flatten().copied(), o.diverging);
        let cb_w = colorbar_width(theme, &cmap, &o.color_label);
        let max_lab = 160.0;
        let row_lab_w = self
            .row_labels
            .iter()
            .map(|l| text_width(&ellipsize(l, theme.tick_size, max_lab), theme.tick_size))
            .fold(0.0, f64::max);
        let col_lab_h = self
            .col_labels
            .iter()
            .map(|l| text_width(&ellipsize(l, theme.tick_size, max_lab), theme.tick_size))
            .fold(0.0, f64::max);
        let top = m + title_height(theme, &o.title);
        let dend_col = if o.dendrograms && self.col_tree.is_some() { 50.0 } else { 0.0 };
        let dend_row = if o.dendrograms && self.row_tree.is_some() { 60.0 } else { 0.0 };
        let lab_gap = 5.0;
        let area = Rect::new(
            m + dend_row,
            top + dend_col,
            c.w - m - cb_w - 24.0 - if row_lab_w > 0.0 { row_lab_w + lab_gap } else { 0.0 },
            c.h - m - if col_lab_h > 0.0 { col_lab_h + lab_gap } else { 0.0 },
        );
        if area.w() < 10.0 || area.h() < 10.0 {
            return Err(PlotError::BadSize("figure too small for the heatmap and its labels".into()));
        }
        let (cw, ch) = (area.w() / nc as f64, area.h() / nr as f64);
        for (i, row) in self.values.iter().enumerate() {
            let y0 = area.y0 + i as f64 * ch;
            for (j, &v) in row.iter().enumerate() {
                let x0 = area.x0 + j as f64 * cw;
                let col = if v.is_finite() { cmap.color(v) } else { NAN_COLOR };
                c.fill_rect(x0, y0, x0 + cw, y0 + ch, col, 1.0)?;
            }
        }
        if let (Some(t), true) = (&self.col_tree, dend_col > 0.0) {
            draw_tree(c, t, area.x0, cw, area.y0 - 3.0, dend_col - 6.0, true, theme.text_muted)?;
        }
        if let (Some(t), true) = (&self.row_tree, dend_row > 0.0) {
            draw_tree(c, t, area.y0, ch, area.x0 - 3.0, dend_row - 6.0, false, theme.text_muted)?;
        }
        if !self.row_labels.is_empty() {
            let (size, stride) = label_plan(ch, theme.tick_size);
            let ts = TextSpec::new(size, theme.text).align(HAlign::Left, VAlign::Center);
            for (i, l) in self.row_labels.iter().enumerate().step_by(stride) {
                let y = area.y0 + (i as f64 + 0.5) * ch;
                c.text(area.x1 + lab_gap, y, &ellipsize(l, size, max_lab), ts)?;
            }
        }
        if !self.col_labels.is_empty() {
            let (size, stride) = label_plan(cw, theme.tick_size);
            let ts = TextSpec::new(size, theme.text).rotated().align(HAlign::Right, VAlign::Center);
            for (j, l) in self.col_labels.iter().enumerate().step_by(stride) {
                let x = area.x0 + (j as f64 + 0.5) * cw;
                c.text(x, area.y1 + lab_gap, &ellipsize(l, size, max_lab), ts)?;
            }
        }
        let cb_x = c.w - m - cb_w;
        let bh = (area.h() * 0.5).clamp(60.0, 240.0);
        let cb_y = area.y0 + (area.h() - bh - colorbar_title_h(theme, &o.color_label)) / 2.0;
        draw_colorbar(c, theme, &cmap, cb_x, cb_y.max(area.y0), bh, &o.color_label)?;
        draw_title(c, theme, &o.title, area.cx(), m, c.w - 2.0 * m)
    }
}
