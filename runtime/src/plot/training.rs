//! Training-history plots: a loss panel and a metric (e.g. auROC) panel.

use super::axes::*;
use super::canvas::{text_width, Canvas, TextSpec};
use super::error::{PlotError, Result};
use super::figure::{Figure, Plot, PlotKind};
use super::palette::Rgb;
use super::text::{HAlign, VAlign};
use super::theme::{padded_range, Rect, Scale, Theme};
use plotters_backend::DrawingBackend;

/// One named series over epochs (`values[e]` belongs to epoch `e + 1`; NaN = not recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSeries {
    /// Series name, e.g. `train loss`, `val auROC`. Names containing "loss"
    /// go to the loss panel, everything else to the metric panel.
    pub name: String,
    /// One value per epoch.
    pub values: Vec<f64>,
}

impl TrainingSeries {
    /// Convenience constructor.
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        TrainingSeries { name: name.into(), values }
    }
}

/// Options for [`Figure::training`].
#[derive(Debug, Clone)]
pub struct TrainingOptions {
    /// Figure title.
    pub title: String,
    /// Y label of the loss panel.
    pub loss_label: String,
    /// Y label of the metric panel.
    pub metric_label: String,
    /// X label of both panels.
    pub x_label: String,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        TrainingOptions {
            title: String::new(),
            loss_label: "Loss".into(),
            metric_label: "auROC".into(),
            x_label: "Epoch".into(),
        }
    }
}

/// Validated training history.
#[derive(Debug, Clone)]
pub(crate) struct TrainingPlot {
    series: Vec<TrainingSeries>,
    epochs: usize,
    opts: TrainingOptions,
}

const SPLIT_COLORS: [Rgb; 7] = [
    Rgb(0x00, 0x72, 0xB2),
    Rgb(0xD5, 0x5E, 0x00),
    Rgb(0x00, 0x9E, 0x73),
    Rgb(0xCC, 0x79, 0xA7),
    Rgb(0xE6, 0x9F, 0x00),
    Rgb(0x56, 0xB4, 0xE9),
    Rgb(0x00, 0x00, 0x00),
];

fn is_loss(name: &str) -> bool {
    name.to_ascii_lowercase().contains("loss")
}

/// The split part of a series name (`train`, `val`), so the same split gets
/// the same colour in both panels.
fn split_key(name: &str) -> String {
    let mut s = name.to_ascii_lowercase();
    for w in ["loss", "auroc", "auprc", "auc", "accuracy", "acc", "pearson", "spearman", "r2", "f1"] {
        s = s.replace(w, "");
    }
    s.replace(['_', '-', '/', '.', ':'], " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Figure {
    /// Two-panel training history (loss and metric). At least one series with
    /// at least one finite value is required; series may differ in length.
    pub fn training(series: Vec<TrainingSeries>, opts: TrainingOptions) -> Result<Figure> {
        if series.is_empty() {
            return Err(PlotError::Empty("training series list".into()));
        }
        if let Some(s) = series.iter().find(|s| s.values.is_empty()) {
            return Err(PlotError::Empty(format!("training series {:?}", s.name)));
        }
        if series.iter().all(|s| s.values.iter().all(|v| !v.is_finite())) {
            return Err(PlotError::AllNan("training series".into()));
        }
        let epochs = series.iter().map(|s| s.values.len()).max().unwrap_or(1);
        let plot = TrainingPlot { series, epochs, opts };
        Ok(Figure::from_plot(PlotKind::Training(plot), 1000, 420))
    }
}

impl TrainingPlot {
    fn colors(&self) -> Vec<Rgb> {
        let mut keys: Vec<String> = Vec::new();
        self.series
            .iter()
            .map(|s| {
                let k = split_key(&s.name);
                let i = keys.iter().position(|x| *x == k).unwrap_or_else(|| {
                    keys.push(k);
                    keys.len() - 1
                });
                SPLIT_COLORS[i % SPLIT_COLORS.len()]
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn panel<DB: DrawingBackend>(
        &self,
        c: &mut Canvas<DB>,
        theme: &Theme,
        idx: &[usize],
        colors: &[Rgb],
        x0: f64,
        x1: f64,
        top: f64,
        y_label: &str,
        metric: bool,
    ) -> Result<()> {
        let o = &self.opts;
        let m = theme.margin;
        // horizontal legend above the panel, wrapping as needed
        let size = theme.legend_size;
        let item_w: Vec<f64> = idx.iter().map(|&i| 22.0 + text_width(&self.series[i].name, size) + 14.0).collect();
        let mut rows = vec![vec![]];
        let mut w = 0.0;
        let avail = x1 - x0 - 60.0;
        for (k, &iw) in item_w.iter().enumerate() {
            if w + iw > avail && !rows.last().is_some_and(|r: &Vec<usize>| r.is_empty()) {
                rows.push(vec![]);
                w = 0.0;
            }
            if let Some(r) = rows.last_mut() {
                r.push(k);
            }
            w += iw;
        }
        let leg_h = rows.len() as f64 * size * 1.5 + 4.0;
        let vals = idx.iter().flat_map(|&i| self.series[i].values.iter().copied());
        let (mut lo, mut hi) = padded_range(vals.clone(), 0.06);
        if metric && vals.clone().filter(|v| v.is_finite()).all(|v| (0.0..=1.0).contains(&v)) {
            lo = lo.max(0.0);
            hi = hi.min(1.0);
        }
        let bottom = c.h - m - x_axis_height(theme, !o.x_label.is_empty());
        let yt = numeric_ticks(lo, hi, tick_target(bottom - top - leg_h, 55.0));
        let area = Rect::new(x0 + y_axis_width(theme, &yt, !y_label.is_empty()), top + leg_h, x1, bottom);
        if area.w() < 30.0 || area.h() < 30.0 {
            return Err(PlotError::BadSize("figure too small for the training panels".into()));
        }
        let n = self.epochs as f64;
        let pad = ((n - 1.0) * 0.03).max(0.3);
        let xs = Scale::new(1.0 - pad, n + pad, area.x0, area.x1);
        let ys = Scale::new(lo, hi, area.y1, area.y0);
        let xt: Vec<(f64, String)> = numeric_ticks(1.0, n.max(2.0), tick_target(area.w(), 70.0))
            .into_iter()
            .filter(|(v, _)| v.fract() == 0.0 && *v >= 1.0 && *v <= n)
            .collect();
        draw_grid(c, theme, area, Some((&xs, &xt)), Some((&ys, &yt)))?;
        let markers = self.epochs <= 40;
        for &i in idx {
            let s = &self.series[i];
            let col = colors[i];
            let mut seg: Vec<(f64, f64)> = Vec::new();
            for (e, &v) in s.values.iter().enumerate() {
                if v.is_finite() {
                    seg.push((xs.map(e as f64 + 1.0), ys.map(v.clamp(lo, hi))));
                } else {
                    c.polyline(&seg, col, 1.0, theme.line_width)?;
                    seg.clear();
                }
            }
            c.polyline(&seg, col, 1.0, theme.line_width)?;
            if markers {
                for (e, &v) in s.values.iter().enumerate() {
                    if v.is_finite() {
                        c.circle(xs.map(e as f64 + 1.0), ys.map(v.clamp(lo, hi)), 3.0, col, true, 1.0)?;
                    }
                }
            }
        }
        draw_x_axis(c, theme, area, &xs, &xt, &o.x_label)?;
        draw_y_axis(c, theme, area, &ys, &yt, y_label)?;
        for (r, row) in rows.iter().enumerate() {
            let cy = top + (r as f64 + 0.5) * size * 1.5;
            let row_w: f64 = row.iter().map(|&k| item_w[k]).sum::<f64>() - 14.0;
            let mut x = area.x1 - row_w;
            for &k in row {
                let i = idx[k];
                c.line(x, cy, x + 16.0, cy, colors[i], theme.line_width)?;
                if markers {
                    c.circle(x + 8.0, cy, 3.0, colors[i], true, 1.0)?;
                }
                c.text(
                    x + 22.0,
                    cy,
                    &self.series[i].name,
                    TextSpec::new(size, theme.text).align(HAlign::Left, VAlign::Center),
                )?;
                x += item_w[k];
            }
        }
        Ok(())
    }
}

impl Plot for TrainingPlot {
    fn kind(&self) -> &'static str {
        "training"
    }

    fn describe(&self) -> String {
        format!("{} series, {} epochs", self.series.len(), self.epochs)
    }

    fn draw<DB: DrawingBackend>(&self, c: &mut Canvas<DB>, theme: &Theme) -> Result<()> {
        let o = &self.opts;
        let m = theme.margin;
        let top = m + title_height(theme, &o.title);
        let colors = self.colors();
        let loss: Vec<usize> = (0..self.series.len()).filter(|&i| is_loss(&self.series[i].name)).collect();
        let metric: Vec<usize> = (0..self.series.len()).filter(|&i| !is_loss(&self.series[i].name)).collect();
        let gap = 36.0;
        match (loss.is_empty(), metric.is_empty()) {
            (false, false) => {
                let mid = c.w / 2.0;
                self.panel(c, theme, &loss, &colors, m, mid - gap / 2.0, top, &o.loss_label, false)?;
                self.panel(c, theme, &metric, &colors, mid + gap / 2.0, c.w - m, top, &o.metric_label, true)?;
            }
            (false, true) => self.panel(c, theme, &loss, &colors, m, c.w - m, top, &o.loss_label, false)?,
            _ => self.panel(c, theme, &metric, &colors, m, c.w - m, top, &o.metric_label, true)?,
        }
        draw_title(c, theme, &o.title, c.w / 2.0, m, c.w - 2.0 * m)
    }
}
