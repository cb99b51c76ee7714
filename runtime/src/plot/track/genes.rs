//! The gene track under signal tracks, genome-browser style: each gene a thin line over its span with its exons
//! (the union over transcripts) as boxes, chevrons on the line pointing in the direction of transcription, and the
//! gene name under it; genes are packed into lanes so that bodies and names never overlap.

use super::super::canvas::{text_width, Canvas, TextSpec};
use super::super::error::Result;
use super::super::palette::Rgb;
use super::super::text::{HAlign, VAlign};
use super::super::theme::{Rect, Scale, Theme};
use crate::genes::{Gene, Strand};
use plotters_backend::DrawingBackend;

/// Height of one lane: exon box, gap, name.
pub(crate) const LANE_H: f64 = 30.0;
/// Most lanes drawn; genes that need more are counted as hidden.
pub(crate) const MAX_LANES: usize = 8;
/// Gene colour (dark blue, as UCSC and IGV draw gene models).
const GENE_COLOR: Rgb = Rgb(0x1C, 0x3F, 0x78);
const EXON_H: f64 = 11.0;

/// Horizontal pixel extent of a gene with its name: (body x0, body x1, label centre, extent x0, extent x1).
fn extent(g: &Gene, xs: &Scale, region: (u64, u64), theme: &Theme, x_lo: f64, x_hi: f64) -> (f64, f64, f64, f64, f64) {
    let x0 = xs.map(g.start.max(region.0) as f64);
    let x1 = xs.map(g.end.min(region.1) as f64).max(x0 + 1.0);
    let w = text_width(&g.name, theme.tick_size);
    let lc = ((x0 + x1) / 2.0).clamp(x_lo + w / 2.0, (x_hi - w / 2.0).max(x_lo + w / 2.0));
    (x0, x1, lc, x0.min(lc - w / 2.0) - 8.0, x1.max(lc + w / 2.0) + 8.0)
}

/// The lane of each gene (first lane free at its left edge, genes taken from left to right) and the lane count.
pub(crate) fn pack(
    genes: &[Gene],
    xs: &Scale,
    region: (u64, u64),
    theme: &Theme,
    x_lo: f64,
    x_hi: f64,
) -> (Vec<usize>, usize) {
    let ext: Vec<(f64, f64)> =
        genes.iter().map(|g| extent(g, xs, region, theme, x_lo, x_hi)).map(|e| (e.3, e.4)).collect();
    let mut order: Vec<usize> = (0..genes.len()).collect();
    order.sort_by(|&a, &b| ext[a].0.total_cmp(&ext[b].0));
    let mut ends: Vec<f64> = Vec::new();
    let mut lane = vec![0; genes.len()];
    for i in order {
        match ends.iter().position(|&e| e <= ext[i].0) {
            Some(l) => {
                ends[l] = ext[i].1;
                lane[i] = l;
            }
            None => {
                ends.push(ext[i].1);
                lane[i] = ends.len() - 1;
            }
        }
    }
    (lane, ends.len())
}

/// Draws the genes in `area` (lanes from its top); returns how many genes did not fit.
pub(crate) fn draw_genes<DB: DrawingBackend>(
    c: &mut Canvas<DB>,
    theme: &Theme,
    area: Rect,
    xs: &Scale,
    region: (u64, u64),
    genes: &[Gene],
) -> Result<usize> {
    if genes.is_empty() {
        let ts = TextSpec::new(theme.tick_size, theme.text_muted).align(HAlign::Left, VAlign::Center);
        c.text(area.x0 + 4.0, area.y0 + LANE_H / 2.0, "no genes in this region", ts)?;
        return Ok(0);
    }
    let (lanes, n) = pack(genes, xs, region, theme, area.x0, area.x1);
    let fit = (((area.h() + 4.0) / LANE_H).floor() as usize).clamp(1, MAX_LANES);
    let mut hidden = 0;
    for (g, &lane) in genes.iter().zip(&lanes) {
        if lane >= fit {
            hidden += 1;
            continue;
        }
        let (x0, x1, lc, _, _) = extent(g, xs, region, theme, area.x0, area.x1);
        let y = area.y0 + lane as f64 * LANE_H + EXON_H / 2.0 + 1.0;
        c.line(x0, y, x1, y, GENE_COLOR, 1.2)?;
        let mut boxes: Vec<(f64, f64)> = Vec::new();
        for &(s, e) in &g.exons {
            if e <= region.0 || s >= region.1 {
                continue;
            }
            let bx0 = xs.map(s.max(region.0) as f64);
            let bx1 = xs.map(e.min(region.1) as f64).max(bx0 + 1.0);
            c.fill_rect(bx0, y - EXON_H / 2.0, bx1, y + EXON_H / 2.0, GENE_COLOR, 1.0)?;
            boxes.push((bx0, bx1));
        }
        // chevrons every 22 px along the line where no exon box covers it
        let dir = if g.strand == Strand::Plus { 1.0 } else { -1.0 };
        let mut x = x0 + 9.0;
        while x <= x1 - 9.0 {
            if !boxes.iter().any(|&(a, b)| x >= a - 5.0 && x <= b + 5.0) {
                let pts = [(x - 2.5 * dir, y - 3.2), (x + 1.5 * dir, y), (x - 2.5 * dir, y + 3.2)];
                c.polyline(&pts, GENE_COLOR, 1.0, 1.1)?;
            }
            x += 22.0;
        }
        let ts = TextSpec::new(theme.tick_size, theme.text).align(HAlign::Center, VAlign::Top);
        c.text(lc, y + EXON_H / 2.0 + 2.0, &g.name, ts)?;
    }
    if hidden > 0 || n > fit {
        let ts = TextSpec::new(theme.tick_size, theme.text_muted).align(HAlign::Right, VAlign::Bottom);
        c.text(area.x1, area.y1, &format!("+{hidden} genes not shown"), ts)?;
    }
    Ok(hidden)
}

#[cfg(test)]
mod tests {
    use super::super::super::{Figure, TrackOptions, TrackSeries};
    use super::*;

    fn gene(name: &str, strand: Strand, exons: &[(u64, u64)]) -> Gene {
        Gene {
            id: format!("ID_{name}"),
            name: name.into(),
            gene_type: Some("protein_coding".into()),
            chrom: "chr1".into(),
            start: exons[0].0,
            end: exons[exons.len() - 1].1,
            strand,
            exons: exons.to_vec(),
        }
    }

    fn genes() -> Vec<Gene> {
        vec![
            gene("GATA1", Strand::Plus, &[(20_000, 20_400), (24_000, 24_300), (30_000, 31_500)]),
            gene("HDAC6", Strand::Minus, &[(26_000, 26_200), (40_000, 40_150), (52_000, 53_000)]),
            gene("ERAS", Strand::Plus, &[(58_000, 58_900)]),
            gene("PCSK1N", Strand::Minus, &[(70_000, 70_300), (75_000, 76_000)]),
            gene("OUTSIDE", Strand::Plus, &[(200_000, 201_000)]),
            Gene { chrom: "chr2".into(), ..gene("OTHERCHROM", Strand::Plus, &[(30_000, 31_000)]) },
        ]
    }

    /// Pseudobulk-like rows: 3 cell types × (RNA +, RNA −, ATAC) over 96 kb in 32-bp bins.
    fn rows() -> Vec<TrackSeries> {
        let pos: Vec<u64> = (0..3000u64).map(|b| 10_000 + b * 32 + 16).collect();
        let mut out = Vec::new();
        for (k, ct) in ["B cell", "CD14 monocyte", "erythroblast"].iter().enumerate() {
            for (t, kind) in ["RNA +", "RNA −", "ATAC"].iter().enumerate() {
                let values = pos
                    .iter()
                    .map(|&p| {
                        let x = p as f64;
                        let exon = [(20_000.0, 31_500.0), (58_000.0, 58_900.0)].iter().any(|&(a, b)| x >= a && x < b);
                        let peak = (-((x - 19_800.0 - 15_000.0 * k as f64) / 300.0).powi(2)).exp();
                        match t {
                            0 if exon => 4.0 + k as f64 * 3.0 + (x / 700.0).sin(),
                            1 if (40_000.0..53_000.0).contains(&x) => 1.0 + (x / 900.0).cos().abs(),
                            2 => 10.0 * peak + 0.2 * ((x / 133.0).sin() + 1.0),
                            _ => 0.0,
                        }
                    })
                    .collect();
                out.push(TrackSeries { label: format!("{ct}:{kind}"), positions: pos.clone(), values });
            }
        }
        out
    }

    #[test]
    fn gene_track_under_grouped_rows_renders() {
        let rows = rows();
        let opts = TrackOptions {
            title: "Pseudobulk coverage".into(),
            genes: genes(),
            colors: Some(
                (0..9).map(|i| [Rgb(0x1F, 0x77, 0xB4), Rgb(0xD6, 0x27, 0x28), Rgb(0x2C, 0xA0, 0x2C)][i % 3]).collect(),
            ),
            row_groups: Some(rows.iter().map(|r| r.label.split(':').next().unwrap().to_string()).collect()),
            y_groups: Some((0..9).map(|i| usize::from(i % 3 == 2)).collect()),
            ..Default::default()
        };
        let rows: Vec<TrackSeries> = rows
            .into_iter()
            .map(|r| TrackSeries { label: r.label.split(':').nth(1).unwrap().to_string(), ..r })
            .collect();
        let f = Figure::track(("chr1", 10_000, 106_000), rows, opts).unwrap();
        assert!(f.summary().contains("9 tracks") && f.summary().contains("4 genes"), "{}", f.summary());
        let svg = f.render_svg().unwrap();
        roxmltree::Document::parse(&svg).unwrap();
        for text in ["GATA1", "HDAC6", "ERAS", "PCSK1N", "Genes", "erythroblast", "CD14 monocyte", "chr1:"] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        assert!(!svg.contains("OUTSIDE") && !svg.contains("OTHERCHROM"));
        let png = f.render_png().unwrap();
        assert!(png.len() > 10_000 && png.starts_with(&[0x89, b'P', b'N', b'G']));
        if let Some(dir) = std::env::var_os("GSCRIPT_KEEP_FIGURES") {
            f.save(std::path::Path::new(&dir).join("gene_track.png")).unwrap();
            f.save(std::path::Path::new(&dir).join("gene_track.svg")).unwrap();
        }
        // mismatched per-row settings are errors
        let e = Figure::track(
            ("chr1", 0, 100),
            vec![TrackSeries { label: "a".into(), positions: vec![1], values: vec![1.0] }],
            TrackOptions { colors: Some(vec![]), ..Default::default() },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "length mismatch: colors has 0 entries but tracks has 1");
    }

    #[test]
    fn genes_pack_into_lanes_without_overlap() {
        let theme = Theme::default();
        let xs = Scale::new(0.0, 100_000.0, 200.0, 1000.0);
        let g = genes();
        let (lanes, n) = pack(&g[..4], &xs, (0, 100_000), &theme, 200.0, 1000.0);
        assert!(n >= 2, "GATA1 and HDAC6 overlap");
        assert_ne!(lanes[0], lanes[1]);
        for i in 0..4 {
            for j in i + 1..4 {
                if lanes[i] == lanes[j] {
                    let (a, b) = (
                        extent(&g[i], &xs, (0, 100_000), &theme, 200.0, 1000.0),
                        extent(&g[j], &xs, (0, 100_000), &theme, 200.0, 1000.0),
                    );
                    assert!(a.4 <= b.3 || b.4 <= a.3, "{} and {} overlap in lane {}", g[i].name, g[j].name, lanes[i]);
                }
            }
        }
    }
}
