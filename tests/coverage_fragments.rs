//! `load_fragments` and `tss_enrichment` through the language: options (genome, whitelist as array / file,
//! min_fragments, chromosomes, mitochondria), the QC table, TSS enrichment, and errors that name the file and line.

mod common;

use common::{err, eval, session, strings};

/// Numbers of an array, integers included.
fn floats(v: gscript_lang::rhai::Dynamic) -> Vec<f64> {
    v.into_array().unwrap().iter().map(|x| x.as_float().or_else(|_| x.as_int().map(|i| i as f64)).unwrap()).collect()
}

/// chr1 (10,000 bp), chr2 (5,000 bp) and chrM (1,000 bp) as FASTA.
fn write_genome(dir: &std::path::Path) -> std::path::PathBuf {
    let fa = dir.join("genome.fa");
    let line = "ACGT".repeat(15) + "\n";
    let seq = |n: usize| format!("{}{}\n", line.repeat(n / 60), "A".repeat(n % 60));
    std::fs::write(&fa, format!(">chr1\n{}>chr2\n{}>chrM\n{}", seq(10_000), seq(5_000), seq(1_000))).unwrap();
    fa
}

/// Cell A: 100–200 (read twice), 300–500, 4,990–5,010 (near the TSS at 5,000), chrM 10–60; cell B: 150–151 and
/// chr2 40–90; cell C: one fragment on chr9 (not in the genome).
const FRAGMENTS: &str = "#header\nchr1\t300\t500\tA-1\t1\nchr1\t100\t200\tA-1\t2\nchr1\t150\t151\tB-1\t1\n\
chr2\t40\t90\tB-1\t1\nchr1\t4990\t5010\tA-1\t1\nchrM\t10\t60\tA-1\t1\nchr9\t5\t50\tC-1\t1\n";

#[test]
fn fragments_load_with_qc_and_options() {
    let (mut s, dir) = session();
    let fa = write_genome(dir.path());
    let frag = dir.path().join("fragments.tsv");
    std::fs::write(&frag, FRAGMENTS).unwrap();
    let (f, g) = (frag.to_str().unwrap(), fa.to_str().unwrap());
    let _ = eval(&mut s, &format!("let cov = load_fragments({f:?}, #{{genome: {g:?}}});"));
    // C's only fragment is off the genome: it is no cell.
    assert_eq!(strings(eval(&mut s, "cov.cells()")), ["A-1", "B-1"]);
    // Sizes of the fragments on the genome (chrM included): 200, 100, 1, 50, 20, 50.
    let _ = eval(&mut s, "let h = cov.fragment_sizes();");
    let counts = floats(eval(&mut s, "h.col(\"count\")"));
    assert_eq!(counts.len(), 1001);
    let mut want = vec![0.0; 1001];
    for l in [200, 100, 1, 50, 20, 50] {
        want[l - 1] += 1.0;
    }
    assert_eq!(counts, want);
    assert_eq!(strings(eval(&mut s, "h.col(\"length\")"))[1000], "longer");
    assert!((floats(eval(&mut s, "h.col(\"fraction\")"))[49] - 2.0 / 6.0).abs() < 1e-12);
    let q = "let q = cov.qc();";
    let _ = eval(&mut s, q);
    assert_eq!(
        strings(eval(&mut s, "q.columns()")),
        ["barcode", "n_fragment", "frac_dup", "frac_mito", "frac_nucleosome_free", "frac_mono_nucleosome"]
    );
    // A: 3 nuclear fragments + 1 on chrM; 5 reads for 4 unique fragments; 3 of 4 shorter than 147 bp, 1 of 147–293.
    assert_eq!(floats(eval(&mut s, "q.col(\"n_fragment\")")), [3.0, 2.0]);
    let dup = floats(eval(&mut s, "q.col(\"frac_dup\")"));
    assert!((dup[0] - 0.2).abs() < 1e-12 && dup[1] == 0.0, "{dup:?}");
    assert_eq!(floats(eval(&mut s, "q.col(\"frac_mito\")")), [0.25, 0.0]);
    assert_eq!(floats(eval(&mut s, "q.col(\"frac_nucleosome_free\")")), [0.75, 1.0]);
    assert_eq!(floats(eval(&mut s, "q.col(\"frac_mono_nucleosome\")")), [0.25, 0.0]);
    // min_fragments counts nuclear fragments only; chromosomes; mitochondria.
    let only = format!("load_fragments({f:?}, #{{genome: {g:?}, min_fragments: 3}}).cells()");
    assert_eq!(strings(eval(&mut s, &only)), ["A-1"]);
    let chr2 = format!("load_fragments({f:?}, #{{genome: {g:?}, chromosomes: [\"chr2\"]}}).cells()");
    assert_eq!(strings(eval(&mut s, &chr2)), ["B-1"]);
    let no_mito = format!("load_fragments({f:?}, #{{genome: {g:?}, mitochondria: []}}).qc().col(\"n_fragment\")");
    assert_eq!(floats(eval(&mut s, &no_mito)), [4.0, 2.0]);
    // A whitelist as an array (its order) and as a file.
    let wl = format!("load_fragments({f:?}, #{{genome: {g:?}, barcodes: [\"B-1\", \"A-1\", \"Z-1\"]}}).cells()");
    assert_eq!(strings(eval(&mut s, &wl)), ["B-1", "A-1"]);
    let list = dir.path().join("barcodes.tsv");
    std::fs::write(&list, "B-1\n").unwrap();
    let wl = format!("load_fragments({f:?}, #{{barcodes: {:?}}}).cells()", list.to_str().unwrap());
    assert_eq!(strings(eval(&mut s, &wl)), ["B-1"]);
    // Without a genome, chromosomes come from the file (chr9 included).
    let chroms = format!("load_fragments({f:?}).chromosomes()");
    assert!(eval(&mut s, &chroms).to_string().contains("chr9"));
}

#[test]
fn tss_enrichment_per_cell() {
    let (mut s, dir) = session();
    let fa = write_genome(dir.path());
    let frag = dir.path().join("fragments.tsv");
    std::fs::write(&frag, FRAGMENTS).unwrap();
    let _ = eval(
        &mut s,
        &format!("let cov = load_fragments({:?}, #{{genome: {:?}}});", frag.to_str().unwrap(), fa.to_str().unwrap()),
    );
    let _ = eval(
        &mut s,
        "let t = tss_enrichment(cov, [#{chrom: \"chr1\", pos: 5000, strand: \"+\"}, #{chrom: \"chr1\", pos: 5000}]);",
    );
    assert_eq!(strings(eval(&mut s, "t.col(\"barcode\")")), ["A-1", "B-1"]);
    // A's insertions 4,990 and 5,009 are outside the 11-bp centre (4,995–5,005) but inside the promoter; nothing in
    // the flanks (3,000–3,099 and 6,901–7,000): tsse 0. Moving the TSS to 4,994 puts 4,990 in the centre.
    assert_eq!(floats(eval(&mut s, "t.col(\"tsse\")")), [0.0, 0.0]);
    let t = floats(eval(&mut s, "tss_enrichment(cov, [#{chrom: \"chr1\", pos: 4994, strand: \"+\"}]).col(\"tsse\")"));
    assert!((t[0] - (1.0 / 11.0) / 0.1).abs() < 1e-12 && t[1] == 0.0, "{t:?}");
    // On the − strand the profile runs from the promoter's end: the flanks swap, the centre stays.
    let t = floats(eval(&mut s, "tss_enrichment(cov, [#{chrom: \"chr1\", pos: 4994, strand: \"-\"}]).col(\"tsse\")"));
    assert!((t[0] - (1.0 / 11.0) / 0.1).abs() < 1e-12, "{t:?}");
    assert!(eval(&mut s, "t.to_string()").to_string().contains("TSS enrichment"));
    let e = err(&mut s, "tss_enrichment(cov, [#{chrom: \"chr1\", pos: 10, strand: \"x\"}])");
    assert!(e.contains("tss") && e.contains("\"x\""), "{e}");
    let e = err(&mut s, "tss_enrichment(cov, [#{chrom: \"1\", pos: 10}])");
    assert!(e.contains("chromosome names"), "{e}");
    // A gene table gives one site per gene, its first base on its strand: a + gene starting at 4,995 (GTF, 1-based)
    // has its TSS at 4,994 as above; a − gene ending there (GTF end 4,995) too.
    let gtf = dir.path().join("genes.gtf");
    std::fs::write(
        &gtf,
        "chr1\tt\tgene\t4995\t5500\t.\t+\t.\tgene_id \"P\"; gene_name \"P\";\n\
         chr1\tt\texon\t4995\t5500\t.\t+\t.\tgene_id \"P\"; transcript_id \"P1\";\n",
    )
    .unwrap();
    let t = floats(eval(&mut s, &format!("tss_enrichment(cov, load_genes({gtf:?})).col(\"tsse\")")));
    assert!((t[0] - (1.0 / 11.0) / 0.1).abs() < 1e-12 && t[1] == 0.0, "{t:?}");
    let gtf_minus = dir.path().join("minus.gtf");
    std::fs::write(&gtf_minus, "chr1\tt\tgene\t4000\t4995\t.\t-\t.\tgene_id \"M\";\n").unwrap();
    let t = floats(eval(&mut s, &format!("tss_enrichment(cov, load_genes({gtf_minus:?})).col(\"tsse\")")));
    assert!((t[0] - (1.0 / 11.0) / 0.1).abs() < 1e-12, "{t:?}");
    let e = err(&mut s, "tss_enrichment(cov, 3)");
    assert!(e.contains("tss") && e.contains("Genes"), "{e}");
}

#[test]
fn bgzf_file_and_bad_inputs_are_named() {
    let (mut s, dir) = session();
    let fa = write_genome(dir.path());
    let g = fa.to_str().unwrap().to_string();
    // A generated BGZF file (hg38 names and sizes) reads whole.
    let bgz = dir.path().join("fragments.tsv.gz");
    gscript_runtime::bench::coverage::generate_fragments(&bgz, 5_000, 20, 7).unwrap();
    let n = eval(
        &mut s,
        &format!("load_fragments({:?}).qc().col(\"n_fragment\").reduce(|a, b| a + b, 0)", bgz.to_str().unwrap()),
    );
    // 2% of the fragments are on chrM and not counted.
    assert_eq!(n.as_int().unwrap(), 4_900);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let bad = write("bad.tsv", "chr1\t10\t20\tA-1\t1\nchr1\t10\tx\tA-1\t1\n");
    let e = err(&mut s, &format!("load_fragments({bad:?})"));
    assert!(e.contains("bad.tsv:2") && e.contains("end \"x\""), "{e}");
    let past = write("past.tsv", "chr2\t4990\t5010\tA-1\t1\n");
    let e = err(&mut s, &format!("load_fragments({past:?}, #{{genome: {g:?}}})"));
    assert!(e.contains("past.tsv:1") && e.contains("past the chromosome end"), "{e}");
    let bytes = std::fs::read(&bgz).unwrap();
    let cut = dir.path().join("cut.tsv.gz");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let e = err(&mut s, &format!("load_fragments({:?})", cut.to_str().unwrap()));
    assert!(e.contains("cut.tsv.gz") && e.contains("truncated"), "{e}");
    let ok = write("ok.tsv", "chr1\t10\t20\tA-1\t1\n");
    let e = err(&mut s, &format!("load_fragments({ok:?}, #{{barcodes: [\"Q-1\"]}})"));
    assert!(e.contains("A-1") && e.contains("Q-1"), "{e}");
    let e = err(&mut s, &format!("load_fragments({ok:?}, #{{min_fragment: 3}})"));
    assert!(e.contains("min_fragment") && e.contains("min_fragments"), "{e}");
    let e = err(&mut s, &format!("load_fragments({ok:?}, #{{barcodes: 3}})"));
    assert!(e.contains("barcodes"), "{e}");
    let e = err(&mut s, &format!("load_fragments({ok:?}, #{{genome: {g:?}, chromosomes: [\"chrQ\"]}})"));
    assert!(e.contains("chromosomes") && e.contains("chrQ"), "{e}");
}
