//! Rendering, validation and helper tests for the plot module.

use super::*;

fn rng(seed: &mut u64) -> f64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("SVG must be well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    doc.descendants().filter(|n| n.has_tag_name("text")).map(|n| n.text().unwrap_or("").trim().to_string()).collect()
}

/// Checks an SVG parses, has the logical size and contains each string as a text run.
fn check_svg(fig: &Figure, want: &[&str]) {
    let svg = fig.render_svg().unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed");
    let root = doc.root_element();
    assert_eq!(root.attribute("width"), Some(fig.width().to_string().as_str()));
    assert_eq!(root.attribute("height"), Some(fig.height().to_string().as_str()));
    let texts = svg_texts(&svg);
    for w in want {
        assert!(texts.iter().any(|t| t == w), "SVG lacks text {w:?}; has {:?}", &texts[..texts.len().min(30)]);
    }
}

fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Checks the PNG decodes to the requested size and the title band (top 40
/// logical px, middle half) has dark (text) pixels.
fn check_png(fig: &Figure) -> (u32, u32, Vec<u8>) {
    let bytes = fig.render_png().unwrap();
    let (w, h, px) = decode(&bytes);
    assert_eq!((w, h), fig.png_size());
    let s = fig.scale();
    let band = (40.0 * s) as u32;
    let dark = (0..band)
        .flat_map(|y| (w / 4..3 * w / 4).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let i = ((y * w + x) * 3) as usize;
            px[i] < 120 && px[i + 1] < 120 && px[i + 2] < 120
        })
        .count();
    assert!(dark > 50, "title region has only {dark} dark pixels");
    (w, h, px)
}

fn has_color(px: &[u8], c: Rgb, tol: i32) -> usize {
    px.chunks(3)
        .filter(|p| {
            (p[0] as i32 - c.0 as i32).abs() <= tol
                && (p[1] as i32 - c.1 as i32).abs() <= tol
                && (p[2] as i32 - c.2 as i32).abs() <= tol
        })
        .count()
}

fn blobs(n: usize) -> (Vec<(f64, f64)>, Vec<String>) {
    let mut s = 42u64;
    let mut xy = Vec::new();
    let mut lab = Vec::new();
    for i in 0..n {
        let k = i % 3;
        xy.push((k as f64 * 5.0 + rng(&mut s), (k as f64).sin() * 4.0 + rng(&mut s)));
        lab.push(format!("type {k}"));
    }
    (xy, lab)
}

#[test]
fn embedding_categorical_svg_png() {
    let (xy, lab) = blobs(3000);
    let o = EmbeddingOptions {
        title: "My UMAP".into(),
        x_label: "UMAP 1".into(),
        y_label: "UMAP 2".into(),
        color_label: "Cell type".into(),
        ..Default::default()
    };
    let f = Figure::embedding(&xy, EmbeddingColor::Categorical(lab), o).unwrap();
    check_svg(&f, &["My UMAP", "UMAP 1", "UMAP 2", "Cell type", "type 0", "type 2"]);
    let (_, _, px) = check_png(&f);
    // Okabe–Ito orange (first category) must be present
    assert!(has_color(&px, palette::OKABE_ITO[0], 40) > 100);
    assert_eq!(f.summary(), "Figure(embedding, 800×600, 3,000 points, 3 categories)");
}

#[test]
fn embedding_continuous_and_nan_skipped() {
    let (mut xy, _) = blobs(500);
    xy[3].0 = f64::NAN;
    let mut v: Vec<f64> = (0..500).map(|i| i as f64).collect();
    v[10] = f64::NAN;
    let o = EmbeddingOptions { title: "Score".into(), color_label: "gene score".into(), ..Default::default() };
    let f = Figure::embedding(&xy, EmbeddingColor::Continuous(v), o).unwrap();
    assert_eq!(f.summary(), "Figure(embedding, 800×600, 498 points, 2 NaN skipped)");
    check_svg(&f, &["Score", "gene score"]);
    check_png(&f);
}

#[test]
fn embedding_xy_and_scale() {
    let f = Figure::embedding_xy(
        &[0.0, 1.0, 2.0],
        &[1.0, 0.0, 2.0],
        EmbeddingColor::None,
        EmbeddingOptions { title: "T".into(), ..Default::default() },
    )
    .unwrap()
    .with_size(300, 200)
    .unwrap()
    .with_scale(2.0)
    .unwrap();
    let (w, h, _) = decode(&f.render_png().unwrap());
    assert_eq!((w, h), (600, 400));
}

#[test]
fn heatmap_svg_png_and_clustering_order() {
    // rows 0 and 2 are alike, rows 1 and 3 are alike
    let v = vec![vec![0.0, 0.1, 5.0], vec![9.0, 9.0, 0.0], vec![0.1, 0.0, 5.2], vec![9.1, 8.8, 0.1]];
    let rl: Vec<String> = ["r0", "r1", "r2", "r3"].iter().map(|s| s.to_string()).collect();
    let cl: Vec<String> = ["c0", "c1", "c2"].iter().map(|s| s.to_string()).collect();
    let o = HeatmapOptions { title: "Heat".into(), color_label: "z".into(), diverging: true, ..Default::default() };
    let f = Figure::heatmap(&v, &rl, &cl, o).unwrap();
    check_svg(&f, &["Heat", "z", "r0", "r3", "c1"]);
    check_png(&f);
    let rows = row_label_order(&f);
    let pos = |s: &str| rows.iter().position(|r| r == s).unwrap();
    assert_eq!((pos("r0") as i32 - pos("r2") as i32).abs(), 1, "{rows:?}");
    assert_eq!((pos("r1") as i32 - pos("r3") as i32).abs(), 1, "{rows:?}");
}

fn row_label_order(f: &Figure) -> Vec<String> {
    let svg = f.render_svg().unwrap();
    // row labels are the left-anchored texts at the right of the heatmap, in drawing order
    let doc = roxmltree::Document::parse(&svg).unwrap();
    doc.descendants()
        .filter(|n| {
            n.has_tag_name("text") && n.attribute("text-anchor") == Some("start") && n.attribute("transform").is_none()
        })
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .filter(|t| t.starts_with('r'))
        .collect()
}

#[test]
fn unclustered_heatmap_keeps_input_order() {
    let v = vec![vec![0.0, 0.1, 5.0], vec![9.0, 9.0, 0.0], vec![0.1, 0.0, 5.2], vec![9.1, 8.8, 0.1]];
    let rl: Vec<String> = ["r0", "r1", "r2", "r3"].iter().map(|s| s.to_string()).collect();
    let o = HeatmapOptions { cluster_rows: false, cluster_cols: false, ..Default::default() };
    let f = Figure::heatmap(&v, &rl, &[], o).unwrap();
    assert_eq!(row_label_order(&f), rl);
}

#[test]
fn png_check_detects_missing_title() {
    // the title-region check used above must fail on a figure without a title
    let f = Figure::hist(&[1.0, 2.0, 3.0], 3, HistOptions::default()).unwrap();
    assert!(std::panic::catch_unwind(|| check_png(&f)).is_err());
}

#[test]
fn average_linkage_heights() {
    let d = vec![vec![0.0], vec![1.0], vec![5.0]];
    let t = cluster::average_linkage(&d, cluster::Metric::Euclidean);
    assert_eq!(t.merges.len(), 2);
    assert_eq!((t.merges[0].0, t.merges[0].1), (0, 1));
    assert!((t.merges[0].2 - 1.0).abs() < 1e-12);
    // average of d(0,2)=5 and d(1,2)=4
    assert!((t.merges[1].2 - 4.5).abs() < 1e-12);
    assert_eq!(t.order, vec![0, 1, 2]);
}

fn ism_fixture() -> (Vec<IsmRow>, String) {
    let seq = "ACGTACGTAAGGCCTTACGT".to_string();
    let mut s = 7u64;
    let rows = (0..2)
        .map(|r| IsmRow {
            label: format!("group {r}"),
            scores: (0..seq.len()).map(|_| [rng(&mut s) - 0.3, rng(&mut s) - 0.5, rng(&mut s), -rng(&mut s)]).collect(),
        })
        .collect();
    (rows, seq)
}

#[test]
fn ism_svg_png() {
    let (rows, seq) = ism_fixture();
    let hits = vec![MotifHit { start: 2, end: 8, name: "CTCF".into() }];
    let o = IsmOptions { title: "ISM".into(), y_label: "effect".into(), ..Default::default() };
    let f = Figure::ism(rows, Some(&seq), hits, o).unwrap();
    check_svg(&f, &["ISM", "effect", "group 0", "group 1", "CTCF", "Position"]);
    let (_, _, px) = check_png(&f);
    for c in ism::BASE_COLORS {
        assert!(has_color(&px, c, 12) > 30, "logo colour {c:?} missing");
    }
    assert!(f.summary().contains("2 rows × 20 positions"));
}

#[test]
fn ism_errors() {
    let (rows, _) = ism_fixture();
    let e = Figure::ism(rows.clone(), Some("ACGT"), vec![], IsmOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "length mismatch: sequence has 4 entries but score positions has 20");
    let e =
        Figure::ism(rows.clone(), None, vec![MotifHit { start: 5, end: 30, name: "X".into() }], IsmOptions::default())
            .unwrap_err();
    assert!(e.to_string().contains("outside 0..20"), "{e}");
    let nan = vec![IsmRow { label: "a".into(), scores: vec![[f64::NAN; 4]; 3] }];
    assert!(matches!(Figure::ism(nan, None, vec![], IsmOptions::default()), Err(PlotError::AllNan(_))));
}

#[test]
fn glyph_outlines_have_counters() {
    // 'A' has a counter: merged into one polygon, which must contain the
    // hole's vertices (more vertices than the 'T', which has none).
    let a = glyph::glyph_polygons('A').unwrap();
    let t = glyph::glyph_polygons('T').unwrap();
    assert_eq!(a.len(), 1);
    assert!(a[0].len() > t[0].len());
    for p in a.iter().chain(&t).flatten() {
        assert!((0.0..=1.0).contains(&p.0) && (0.0..=1.0).contains(&p.1), "{p:?}");
    }
}

#[test]
fn training_svg_png() {
    let s = vec![
        TrainingSeries::new("train loss", vec![1.0, 0.7, 0.5, 0.4]),
        TrainingSeries::new("val loss", vec![1.1, 0.8, f64::NAN, 0.6]),
        TrainingSeries::new("train auROC", vec![0.6, 0.7, 0.8, 0.85]),
        TrainingSeries::new("val auROC", vec![0.55, 0.65, 0.7, 0.72]),
    ];
    let f = Figure::training(s, TrainingOptions { title: "Training".into(), ..Default::default() }).unwrap();
    check_svg(&f, &["Training", "Loss", "auROC", "Epoch", "train loss", "val auROC"]);
    check_png(&f);
    assert_eq!(f.summary(), "Figure(training, 1000×420, 4 series, 4 epochs)");
}

#[test]
fn violin_and_box_svg_png() {
    let mut s = 3u64;
    let v: Vec<f64> = (0..600).map(|i| (i % 3) as f64 + rng(&mut s)).collect();
    let g: Vec<String> = (0..600).map(|i| ["alpha", "beta", "gamma"][i % 3].to_string()).collect();
    let o = ViolinOptions { title: "Dist".into(), x_label: "Group".into(), y_label: "Value".into() };
    let f = Figure::violin(&v, &g, o.clone()).unwrap();
    check_svg(&f, &["Dist", "Group", "Value", "alpha", "gamma"]);
    check_png(&f);
    let b = Figure::boxplot(&v, &g, o).unwrap();
    check_svg(&b, &["Dist", "beta"]);
    check_png(&b);
    assert!(b.summary().starts_with("Figure(box,"));
}

#[test]
fn hist_svg_png() {
    let v: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin()).chain([f64::NAN]).collect();
    let f = Figure::hist(
        &v,
        30,
        HistOptions { title: "Histogram".into(), x_label: "x value".into(), ..Default::default() },
    )
    .unwrap();
    check_svg(&f, &["Histogram", "x value", "Count"]);
    check_png(&f);
    assert_eq!(f.summary(), "Figure(hist, 720×480, 1,000 values, 30 bins, 1 NaN skipped)");
    assert!(Figure::hist(&v, 0, HistOptions::default()).unwrap_err().to_string().contains("bins = 0"));
}

#[test]
fn track_svg_png_and_genomic_ticks() {
    let pos: Vec<u64> = (1_000_000..1_020_000).step_by(100).collect();
    let vals: Vec<f64> = pos.iter().map(|&p| ((p as f64) / 3000.0).sin().abs()).collect();
    let s = vec![
        TrackSeries { label: "ATAC".into(), positions: pos.clone(), values: vals.clone() },
        TrackSeries { label: "ISM".into(), positions: pos, values: vals },
    ];
    let f =
        Figure::track(("chr1", 1_000_000, 1_020_000), s, TrackOptions { title: "Tracks".into(), ..Default::default() })
            .unwrap();
    check_svg(&f, &["Tracks", "ATAC", "ISM", "chr1:1,000,000", "chr1:1,010,000"]);
    check_png(&f);
}

#[test]
fn error_messages() {
    let e = Figure::embedding(&[], EmbeddingColor::None, EmbeddingOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "empty data: embedding coordinates is empty");
    let e = Figure::embedding(
        &[(0.0, 0.0), (1.0, 1.0)],
        EmbeddingColor::Categorical(vec!["a".into()]),
        EmbeddingOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "length mismatch: colour labels has 1 entries but points has 2");
    let e = Figure::embedding(&[(f64::NAN, 0.0)], EmbeddingColor::None, EmbeddingOptions::default()).unwrap_err();
    assert!(matches!(e, PlotError::AllNan(_)), "{e}");
    let e = Figure::violin(&[1.0, 2.0, 3.0], &["a".into()], ViolinOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "length mismatch: group labels has 1 entries but values has 3");
    let e = Figure::hist(&[f64::NAN, f64::NAN], 10, HistOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "all values in histogram values are NaN or infinite; nothing to plot");
    let e = Figure::heatmap(&[vec![1.0, 2.0], vec![1.0]], &[], &[], HeatmapOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "length mismatch: heatmap row 1 has 1 entries but row 0 has 2");
    let e = Figure::heatmap(&[vec![1.0, 2.0]], &["a".into(), "b".into()], &[], HeatmapOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "length mismatch: row labels has 2 entries but rows has 1");
    let e = Figure::track(("chr1", 10, 5), vec![], TrackOptions::default()).unwrap_err();
    assert!(e.to_string().contains("chr1:10-5 is empty"), "{e}");
    let e = Figure::track(
        ("chr1", 0, 100),
        vec![TrackSeries { label: "t".into(), positions: vec![1, 2], values: vec![1.0] }],
        TrackOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "length mismatch: positions of track \"t\" has 2 entries but values has 1");
    let e = Figure::training(vec![], TrainingOptions::default()).unwrap_err();
    assert!(matches!(e, PlotError::Empty(_)));
    let f = Figure::hist(&[1.0, 2.0], 2, HistOptions::default()).unwrap();
    let e = f.clone().with_size(0, 100).unwrap_err();
    assert!(e.to_string().starts_with("bad figure size: 0×100 px"), "{e}");
    assert!(f.clone().with_scale(f64::NAN).is_err());
    assert!(f.clone().with_size(20000, 20000).is_err(), "400 megapixels must be refused");
}

#[test]
fn save_by_extension_atomically() {
    let dir = std::env::temp_dir().join(format!("gscript-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f =
        Figure::hist(&[1.0, 2.0, 2.5, 3.0], 3, HistOptions { title: "Saved".into(), ..Default::default() }).unwrap();
    f.save(dir.join("a.svg")).unwrap();
    f.save(dir.join("b.PNG")).unwrap();
    let svg = std::fs::read_to_string(dir.join("a.svg")).unwrap();
    assert!(svg_texts(&svg).iter().any(|t| t == "Saved"));
    let (w, h, _) = decode(&std::fs::read(dir.join("b.PNG")).unwrap());
    assert_eq!((w, h), (720, 480));
    let e = f.save(dir.join("c.jpg")).unwrap_err();
    assert_eq!(e.to_string(), "unsupported file extension \".jpg\": use .svg or .png");
    assert!(f.save(dir.join("noext")).is_err());
    let e = f.save(dir.join("missing-dir").join("x.png")).unwrap_err();
    assert!(e.to_string().contains("missing-dir"), "{e}");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp-")), "temp files left: {names:?}");
    assert!(!names.iter().any(|n| n == "c.jpg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn palettes() {
    assert_eq!(palette::viridis(0.0), Rgb(0x44, 0x01, 0x54));
    assert_eq!(palette::viridis(1.0), Rgb(0xFD, 0xE7, 0x25));
    assert_eq!(palette::diverging(0.5), Rgb(0xF7, 0xF7, 0xF7));
    assert!(palette::diverging(0.0).2 > palette::diverging(0.0).0, "low end is blue");
    assert!(palette::diverging(1.0).0 > palette::diverging(1.0).2, "high end is red");
    assert_eq!(palette::categorical(5), palette::OKABE_ITO[..5].to_vec());
    let many = palette::categorical(40);
    let distinct: std::collections::HashSet<_> = many.iter().collect();
    assert_eq!(distinct.len(), 40);
    // viridis luminance increases monotonically
    let l: Vec<f64> = (0..=20).map(|i| palette::viridis(i as f64 / 20.0).luminance()).collect();
    assert!(l.windows(2).all(|w| w[1] > w[0]), "{l:?}");
}

#[test]
fn ticks_and_formatting() {
    assert_eq!(theme::fmt_tick(2.5, 2.5), "2.5");
    assert_eq!(theme::fmt_tick(5.0, 2.5), "5.0");
    assert_eq!(theme::fmt_tick(-0.2, 0.1), "\u{2212}0.2");
    assert_eq!(theme::fmt_tick(1_000_000.0, 500_000.0), "1,000,000");
    assert_eq!(theme::group_thousands(1234567), "1,234,567");
    let (t, step) = theme::ticks(0.0, 1.0, 5);
    assert_eq!(step, 0.2);
    assert_eq!(t.len(), 6);
}

#[test]
fn stats_helpers() {
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(distribution::quantile(&v, 0.5), 2.5);
    assert_eq!(distribution::quantile(&v, 0.25), 1.75);
    // KDE of a sample integrates to ~1
    let mut s = 11u64;
    let mut x: Vec<f64> = (0..500).map(|_| rng(&mut s) + rng(&mut s)).collect();
    x.sort_by(f64::total_cmp);
    let h = distribution::silverman(&x);
    assert!(h > 0.05 && h < 0.2, "{h}");
    let grid: Vec<f64> = (0..=400).map(|i| -1.0 + 4.0 * i as f64 / 400.0).collect();
    let d = distribution::kde(&x, h, &grid);
    let area: f64 = d.iter().sum::<f64>() * 0.01;
    assert!((area - 1.0).abs() < 0.01, "{area}");
}

#[test]
fn natural_category_order() {
    let l: Vec<String> = ["c10", "c2", "c1", "b", "c2"].iter().map(|s| s.to_string()).collect();
    assert_eq!(embedding::sorted_categories(&l), vec!["b", "c1", "c2", "c10"]);
}

#[test]
fn many_category_legend_wraps_into_columns() {
    let th = Theme::default();
    let labels: Vec<String> = (0..40).map(|i| format!("cluster {i}")).collect();
    let lay = legend::legend_layout(&th, &labels, "", 300.0);
    assert!(lay.col_widths.len() >= 2);
    assert!(lay.h <= 300.0);
}

#[test]
#[ignore = "benchmark; run with --ignored --nocapture in release"]
fn bench_scatter_100k_png() {
    let (xy, lab) = blobs(100_000);
    let f = Figure::embedding(
        &xy,
        EmbeddingColor::Categorical(lab),
        EmbeddingOptions { title: "bench".into(), ..Default::default() },
    )
    .unwrap();
    let t = std::time::Instant::now();
    let png = f.render_png().unwrap();
    eprintln!("100k-point scatter to PNG: {:?} ({} bytes)", t.elapsed(), png.len());
}
