//! Genes, fold splits, BigWig output and multi-track plots through the language: `load_genes` and the `Genes` value
//! (to_string, display, get, filter, window, exon_bins), `read_folds` / `make_folds`, `write_bigwig` of a pseudobulk
//! Matrix (rows `group:track`, columns bins, as `coverage.pseudobulk` gives) read back with pyBigWig, and `plot_track`
//! with grouped rows and a gene track.

mod common;

use common::{err, eval, session, strings};

/// GENCODE-style annotation: GENE_A (+, two transcripts) and GENE_B (−) on chr1, GENE_C (+) near the start of chr2,
/// GENE_D (lncRNA) near the end of chr1.
const GTF: &str = "##provider: GENCODE
chr1\tHAVANA\tgene\t100001\t130000\t.\t+\t.\tgene_id \"ENSG_A.1\"; gene_type \"protein_coding\"; gene_name \"GENE_A\";
chr1\tHAVANA\ttranscript\t100001\t130000\t.\t+\t.\tgene_id \"ENSG_A.1\"; transcript_id \"T1\"; gene_type \"protein_coding\"; gene_name \"GENE_A\";
chr1\tHAVANA\texon\t100001\t100100\t.\t+\t.\tgene_id \"ENSG_A.1\"; transcript_id \"T1\"; gene_type \"protein_coding\"; gene_name \"GENE_A\";
chr1\tHAVANA\texon\t120001\t130000\t.\t+\t.\tgene_id \"ENSG_A.1\"; transcript_id \"T1\"; gene_type \"protein_coding\"; gene_name \"GENE_A\";
chr1\tHAVANA\ttranscript\t100051\t125000\t.\t+\t.\tgene_id \"ENSG_A.1\"; transcript_id \"T2\"; gene_type \"protein_coding\"; gene_name \"GENE_A\";
chr1\tHAVANA\texon\t100051\t100200\t.\t+\t.\tgene_id \"ENSG_A.1\"; transcript_id \"T2\"; gene_type \"protein_coding\"; gene_name \"GENE_A\";
chr1\tHAVANA\texon\t124001\t125000\t.\t+\t.\tgene_id \"ENSG_A.1\"; transcript_id \"T2\"; gene_type \"protein_coding\"; gene_name \"GENE_A\";
chr1\tHAVANA\tgene\t140001\t150000\t.\t-\t.\tgene_id \"ENSG_B.1\"; gene_type \"protein_coding\"; gene_name \"GENE_B\";
chr1\tHAVANA\texon\t149001\t150000\t.\t-\t.\tgene_id \"ENSG_B.1\"; transcript_id \"T3\"; gene_type \"protein_coding\"; gene_name \"GENE_B\";
chr1\tHAVANA\texon\t140001\t141000\t.\t-\t.\tgene_id \"ENSG_B.1\"; transcript_id \"T3\"; gene_type \"protein_coding\"; gene_name \"GENE_B\";
chr2\tHAVANA\tgene\t1001\t3000\t.\t+\t.\tgene_id \"ENSG_C.1\"; gene_type \"protein_coding\"; gene_name \"GENE_C\";
chr2\tHAVANA\texon\t1001\t3000\t.\t+\t.\tgene_id \"ENSG_C.1\"; transcript_id \"T4\"; gene_type \"protein_coding\"; gene_name \"GENE_C\";
chr1\tHAVANA\tgene\t390001\t399000\t.\t+\t.\tgene_id \"ENSG_D.1\"; gene_type \"lncRNA\"; gene_name \"GENE_D\";
chr1\tHAVANA\texon\t390001\t399000\t.\t+\t.\tgene_id \"ENSG_D.1\"; transcript_id \"T5\"; gene_type \"lncRNA\"; gene_name \"GENE_D\";
";

/// chr1 of 400 kb and chr2 of 50 kb (N-free, deterministic).
fn write_genome(dir: &std::path::Path) -> std::path::PathBuf {
    let mut state: u64 = 9;
    let mut seq = |n: usize| -> String {
        let mut s = String::with_capacity(n + n / 60 + 1);
        for i in 0..n {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push(b"ACGT"[(state >> 33) as usize % 4] as char);
            if i % 60 == 59 {
                s.push('\n');
            }
        }
        s.push('\n');
        s
    };
    let fa = dir.join("genome.fa");
    std::fs::write(&fa, format!(">chr1\n{}>chr2\n{}", seq(400_000), seq(50_000))).unwrap();
    fa
}

#[test]
fn genes_windows_and_exon_bins() {
    let (mut s, dir) = session();
    let gtf = dir.path().join("genes.gtf");
    std::fs::write(&gtf, GTF).unwrap();
    let fa = write_genome(dir.path());
    let _ = eval(
        &mut s,
        &format!("let genes = load_genes(\"{}\"); let g = load_genome(\"{}\");", gtf.display(), fa.display()),
    );
    assert_eq!(eval(&mut s, "genes.to_string()").to_string(), "Genes: 4 genes (genes.gtf)");
    assert_eq!(eval(&mut s, "genes.len()").as_int().unwrap(), 4);
    assert_eq!(strings(eval(&mut s, "genes.names()")), ["GENE_A", "GENE_B", "GENE_C", "GENE_D"]);
    assert_eq!(strings(eval(&mut s, "genes.ids()"))[1], "ENSG_B.1");
    let v = eval(&mut s, "genes");
    let html = s.render(&v).text.get("text/html").cloned().unwrap_or_default();
    assert!(html.contains("<table>") && html.contains("GENE_B") && html.contains("chr1:140000-150000"), "{html}");

    // get: 0-based half-open, exon union over both transcripts, TSS on the strand
    let a = eval(&mut s, "let a = genes.get(\"GENE_A\"); `${a.id} ${a.chrom}:${a.start}-${a.end} ${a.strand} ${a.tss} ${a.type} ${a.exons}`");
    assert_eq!(
        a.to_string(),
        "ENSG_A.1 chr1:100000-130000 + 100000 protein_coding [[100000, 100200], [120000, 130000]]"
    );
    let b = eval(&mut s, "let b = genes.get(\"ENSG_B.1\"); `${b.strand} ${b.tss}`");
    assert_eq!(b.to_string(), "- 149999");

    // windows: the middle of the exon span, 196,608 or 524,288 bp around it; TSS-centred on request
    let centre = 100_000 + 30_000 / 2;
    assert_eq!(
        eval(&mut s, "genes.window(\"GENE_A\")").to_string(),
        format!("chr1:{}-{}", centre - 98_304, centre + 98_304)
    );
    assert_eq!(
        eval(&mut s, "genes.window(\"GENE_A\", #{length: 524288})").to_string(),
        format!("chr1:{}-{}", 0, 524_288),
        "the input window would start before 0: moved to 0"
    );
    assert_eq!(
        eval(&mut s, "genes.window(\"GENE_B\", #{center: \"tss\", length: 1000})").to_string(),
        "chr1:149499-150499"
    );
    // near the chromosome ends, with the genome's lengths (a Genome or a map)
    assert_eq!(eval(&mut s, "genes.window(\"GENE_C\")").to_string(), "chr2:0-196608");
    assert_eq!(eval(&mut s, "genes.window(\"GENE_D\", #{genome: g})").to_string(), "chr1:203392-400000");
    assert_eq!(eval(&mut s, "genes.window(\"GENE_D\", #{genome: #{chr1: 400000}})").to_string(), "chr1:203392-400000");

    // exon bins: round((exon − start) / bin) half to even, clipped to the window
    let bins = strings(eval(&mut s, "genes.exon_bins(\"GENE_A\", \"chr1:99984-100320\")"));
    // exon [100000, 100200) → [16/32, 216/32) = [round(0.5) = 0, round(6.75) = 7)
    assert_eq!(bins, ["0", "1", "2", "3", "4", "5", "6"]);
    let bins = strings(eval(&mut s, "genes.exon_bins(\"GENE_A\", \"chr1:99952-100320\")"));
    // [48/32, 248/32) = [round(1.5) = 2, round(7.75) = 8)
    assert_eq!(bins, ["2", "3", "4", "5", "6", "7"]);
    let span =
        eval(&mut s, "genes.exon_bins(\"GENE_A\", genes.window(\"GENE_A\"), #{span: true}).len()").as_int().unwrap();
    assert_eq!(span, 938, "[83_304, 113_304) in 32-bp bins: round(2603.25) = 2603 to round(3540.75) = 3541");
    let n = eval(&mut s, "genes.exon_bins(\"GENE_A\", genes.window(\"GENE_A\"), #{bin: 128}).len()").as_int().unwrap();
    assert!(n > 0 && n < 30_000 / 128 + 2, "{n}");

    // filters, overlaps, table
    assert_eq!(eval(&mut s, "genes.filter(#{types: [\"lncRNA\"]}).names()").to_string(), "[\"GENE_D\"]");
    assert_eq!(eval(&mut s, "genes.filter(#{chromosomes: [\"chr2\"]}).len()").as_int().unwrap(), 1);
    assert_eq!(eval(&mut s, "genes.overlapping(\"chr1:129000-141000\").len()").as_int().unwrap(), 2);
    assert_eq!(eval(&mut s, "genes.table().col(\"n_exons\")").to_string(), "[2, 2, 1, 1]");
    let coding = eval(
        &mut s,
        &format!(
            "load_genes(\"{}\", #{{gene_types: [\"protein_coding\"], chromosomes: [\"chr1\"]}}).len()",
            gtf.display()
        ),
    );
    assert_eq!(coding.as_int().unwrap(), 2);

    // errors name the file, line, field or option
    let bad = dir.path().join("bad.gtf");
    std::fs::write(
        &bad,
        GTF.replace("\t-\t.\tgene_id \"ENSG_B.1\"; gene_type", "\t*\t.\tgene_id \"ENSG_B.1\"; gene_type"),
    )
    .unwrap();
    let e = err(&mut s, &format!("load_genes(\"{}\")", bad.display()));
    assert!(e.contains("bad.gtf:9: field 7 (strand): `*` is not + or -"), "{e}");
    let e = err(&mut s, &format!("load_genes(\"{}\", #{{gene_type: [\"x\"]}})", gtf.display()));
    assert!(e.contains("unknown option `gene_type`") && e.contains("did you mean `gene_types`"), "{e}");
    let e = err(&mut s, &format!("load_genes(\"{}\", #{{gene_types: [\"miRNA\"]}})", gtf.display()));
    assert!(e.contains("lncRNA (1), protein_coding (3)"), "{e}");
    let e = err(&mut s, "genes.get(\"TP53\")");
    assert!(e.contains("no gene with id or name `TP53`"), "{e}");
    let e = err(&mut s, "genes.window(\"GENE_C\", #{genome: #{chr1: 400000}})");
    assert!(e.contains("has no chromosome chr2"), "{e}");
    let e = err(&mut s, "genes.window(\"GENE_A\", #{center: \"middle\"})");
    assert!(e.contains("\"middle\" is not \"gene\" or \"tss\""), "{e}");
    let e = err(&mut s, "genes.exon_bins(\"GENE_A\", \"chr2:0-1000\")");
    assert!(e.contains("GENE_A is on chr1 but the window chr2:0-1000 is on chr2"), "{e}");
}

#[test]
fn fold_splits() {
    let (mut s, dir) = session();
    let bed = dir.path().join("sequences.bed");
    let t = eval(
        &mut s,
        &format!(
            "let t = make_folds(#{{chr1: 1000, chr2: 450}}, \"{}\", #{{length: 100, folds: 3}}); t",
            bed.display()
        ),
    );
    let t = t.cast::<gscript_stdlib::values::Table>();
    assert_eq!(t.n_rows(), 14);
    let text = std::fs::read_to_string(&bed).unwrap();
    assert_eq!(text.lines().next(), Some("chr1\t0\t100\tfold0"));
    let splits = strings(eval(
        &mut s,
        &format!("read_folds(\"{}\", #{{test: 0, valid: \"fold2\"}}).col(\"split\")", bed.display()),
    ));
    assert_eq!(splits.iter().filter(|x| *x == "test").count(), 5);
    assert_eq!(splits.iter().filter(|x| *x == "valid").count(), 4);
    assert_eq!(splits.iter().filter(|x| *x == "train").count(), 5);
    // scooby's default: test fold3, valid fold4 (none here, so everything trains)
    let d = strings(eval(&mut s, &format!("read_folds(\"{}\").col(\"split\")", bed.display())));
    assert!(d.iter().all(|x| x == "train"));
    let e = err(&mut s, &format!("read_folds(\"{}/none.bed\")", dir.path().display()));
    assert!(e.contains("none.bed"), "{e}");
}

/// Fragments of three cells on chr1 (plain text, 10x layout).
fn write_fragments(dir: &std::path::Path) -> std::path::PathBuf {
    let mut lines = String::new();
    let mut state: u64 = 17;
    for i in 0..600u64 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        // cells appear in this order first (the coverage keeps order of first appearance)
        let cell = ["AAA-1", "CCC-1", "GGG-1"][if i < 3 { i as usize } else { (state >> 40) as usize % 3 }];
        // ATAC around two "peaks", one per cell type
        let centre = if cell == "GGG-1" { 121_000 } else { 100_300 };
        let start = centre - 1500 + (state >> 20) % 3000;
        let len = 60 + (state >> 50) % 300;
        lines.push_str(&format!("chr1\t{start}\t{}\t{cell}\t{}\n", start + len, 1 + i % 2));
    }
    let p = dir.join("fragments.tsv");
    std::fs::write(&p, lines).unwrap();
    p
}

#[test]
fn pseudobulk_bigwig_and_plot_with_gene_track() {
    let (mut s, dir) = session();
    let fa = write_genome(dir.path());
    let frag = write_fragments(dir.path());
    let gtf = dir.path().join("genes.gtf");
    std::fs::write(&gtf, GTF).unwrap();
    let _ = eval(
        &mut s,
        &format!(
            "let cov = load_fragments(\"{}\", #{{genome: \"{}\"}});\nlet genes = load_genes(\"{}\");\n\
             let pb = cov.window(\"chr1:96000-128768\", #{{transform: false}}).transpose();",
            frag.display(),
            fa.display(),
            gtf.display()
        ),
    );
    // a bins Matrix with rows `group:track`, as coverage.pseudobulk returns (here one group per cell)
    assert_eq!(strings(eval(&mut s, "pb.row_names()")), ["AAA-1:atac", "CCC-1:atac", "GGG-1:atac"]);

    let bw = dir.path().join("b.bw");
    let r = eval(
        &mut s,
        &format!("let r = write_bigwig(pb, \"{}\", #{{row: \"AAA-1:atac\", genome: cov}}); r", bw.display()),
    );
    let r = r.cast::<gscript_lang::rhai::Map>();
    assert!(r["items"].as_int().unwrap() > 10 && r["clipped_bins"].as_int().unwrap() == 0, "{r:?}");
    let ours: Vec<f64> = common::floats(eval(&mut s, "pb.row(0)"));
    assert!(ours.iter().sum::<f64>() > 0.0);
    if let Some(py) = gscript_runtime::testing::test_python() {
        let code = "import sys, json, math, pyBigWig\nbw = pyBigWig.open(sys.argv[1])\n\
                    v = bw.values('chr1', 96000, 128768)\n\
                    print(json.dumps({'chroms': bw.chroms(), 'bins': [None if math.isnan(x) else x for x in v[::32]], \
                    'flat': all((math.isnan(v[i]) and math.isnan(v[i - i % 32])) or v[i] == v[i - i % 32] for i in range(len(v)))}))";
        let out = std::process::Command::new(py).arg("-c").arg(code).arg(&bw).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["chroms"]["chr1"].as_u64(), Some(400_000));
        assert_eq!(v["chroms"]["chr2"].as_u64(), Some(50_000));
        assert_eq!(v["flat"], serde_json::Value::Bool(true), "each 32-bp bin holds one value");
        let theirs: Vec<f64> = v["bins"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(0.0)).collect();
        assert_eq!(theirs.len(), ours.len());
        for (i, (a, b)) in theirs.iter().zip(&ours).enumerate() {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "bin {i}: pyBigWig {a}, matrix {b}");
        }
    }
    let e = err(&mut s, &format!("write_bigwig(pb, \"{}/x.bw\")", dir.path().display()));
    assert!(e.contains("the matrix has 3 rows") && e.contains("AAA-1:atac, CCC-1:atac, GGG-1:atac"), "{e}");
    let e = err(&mut s, &format!("write_bigwig(matrix([[1, 2]]), \"{}/x.bw\")", dir.path().display()));
    assert!(e.contains("no column names"), "{e}");
    let e = err(
        &mut s,
        &format!("write_bigwig(pb, \"{}/x.bw\", #{{row: 0, genome: #{{chr2: 10}}}})", dir.path().display()),
    );
    assert!(e.contains("chromosome `chr1` is not in the genome"), "{e}");
    assert!(!dir.path().join("x.bw").exists());

    // the figure: grouped rows and the gene track, as PNG and SVG
    let (png, svg) = (dir.path().join("tracks.png"), dir.path().join("tracks.svg"));
    let summary = eval(
        &mut s,
        &format!(
            "let fig = plot_track(pb, #{{genes: genes, title: \"ATAC pseudobulk\"}}); fig.save(\"{}\"); fig.save(\"{}\"); fig.to_string()",
            png.display(),
            svg.display()
        ),
    );
    assert!(summary.to_string().contains("3 tracks") && summary.to_string().contains("1 gene"), "{summary}");
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() > 5_000 && bytes.starts_with(b"\x89PNG"));
    let text = std::fs::read_to_string(&svg).unwrap();
    for want in ["GENE_A", "AAA-1", "GGG-1", "ATAC", "Genes", "ATAC pseudobulk"] {
        assert!(text.contains(want), "{want} missing from the SVG");
    }
    if let Some(py) = gscript_runtime::testing::test_python() {
        let out = std::process::Command::new(py)
            .args(["-c", "import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])"])
            .arg(&svg)
            .output()
            .unwrap();
        assert!(out.status.success(), "the SVG does not parse: {}", String::from_utf8_lossy(&out.stderr));
    }
    if let Some(keep) = std::env::var_os("GSCRIPT_KEEP_FIGURES") {
        std::fs::copy(&png, std::path::Path::new(&keep).join("pseudobulk_tracks.png")).unwrap();
    }
    let one = eval(&mut s, "plot_track(pb, #{rows: [\"GGG-1:atac\"], genes: genes}).to_string()");
    assert!(one.to_string().contains("1 tracks"), "{one}");
    let e = err(&mut s, "plot_track(pb, #{rows: [\"NK:atac\"]})");
    assert!(e.contains("`NK:atac` is not a row index below 3 or a row name"), "{e}");
    let e = err(&mut s, "plot_track(pb, #{genes: 3})");
    assert!(e.contains("must be a Genes value"), "{e}");
}
