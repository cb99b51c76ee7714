//! GTF reading: GENCODE-, Ensembl- and 10x-style snippets written here (multi-transcript genes, minus strand, gzip),
//! the exon union, filters and errors that name file, line and field.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::gtf::{load_genes, merge_intervals, GeneOptions};
use super::{GeneTable, Strand};

/// GENCODE style: `chr` names, gene_type, versioned ids, two transcripts of a + gene with overlapping and touching
/// exons, a − gene, a gene whose records interleave with another's, CDS/UTR records to skip.
const GENCODE: &str = "##description: evidence-based annotation of the human genome (GRCh38), version 44 (Ensembl 110)
##provider: GENCODE
##format: gtf
chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; level 2; tag \"overlaps_pseudogene\";
chr1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000456328.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; transcript_type \"lncRNA\";
chr1\tHAVANA\texon\t11869\t12227\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000456328.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; exon_number 1;
chr1\tHAVANA\texon\t12613\t12721\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000456328.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; exon_number 2;
chr1\tHAVANA\texon\t13221\t14409\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000456328.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; exon_number 3;
chr1\tHAVANA\ttranscript\t12010\t13670\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000450305.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\";
chr1\tHAVANA\texon\t12010\t12057\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000450305.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; exon_number 1;
chr1\tHAVANA\texon\t12179\t12612\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000450305.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; exon_number 2;
chr1\tHAVANA\texon\t13000\t13100\t.\t+\t.\tgene_id \"ENSG00000290825.1\"; transcript_id \"ENST00000450305.2\"; gene_type \"lncRNA\"; gene_name \"DDX11L2\"; exon_number 3;
chr1\tHAVANA\tgene\t65419\t71585\t.\t-\t.\tgene_id \"ENSG00000186092.7\"; gene_type \"protein_coding\"; gene_name \"OR4F5\"; level 2;
chr1\tHAVANA\ttranscript\t65419\t71585\t.\t-\t.\tgene_id \"ENSG00000186092.7\"; transcript_id \"ENST00000641515.2\"; gene_type \"protein_coding\"; gene_name \"OR4F5\";
chr1\tHAVANA\texon\t71000\t71585\t.\t-\t.\tgene_id \"ENSG00000186092.7\"; transcript_id \"ENST00000641515.2\"; gene_type \"protein_coding\"; gene_name \"OR4F5\"; exon_number 1;
chr1\tHAVANA\tCDS\t71000\t71500\t.\t-\t0\tgene_id \"ENSG00000186092.7\"; transcript_id \"ENST00000641515.2\"; gene_type \"protein_coding\"; gene_name \"OR4F5\";
chr1\tHAVANA\texon\t65419\t65433\t.\t-\t.\tgene_id \"ENSG00000186092.7\"; transcript_id \"ENST00000641515.2\"; gene_type \"protein_coding\"; gene_name \"OR4F5\"; exon_number 2;
chr1\tHAVANA\tUTR\t65419\t65433\t.\t-\t.\tgene_id \"ENSG00000186092.7\"; transcript_id \"ENST00000641515.2\"; gene_type \"protein_coding\"; gene_name \"OR4F5\";
chr2\tENSEMBL\tgene\t1000\t5000\t.\t+\t.\tgene_id \"ENSG00000000002.1\"; gene_type \"protein_coding\"; gene_name \"GENE2\";
chr2\tENSEMBL\texon\t1000\t1999\t.\t+\t.\tgene_id \"ENSG00000000002.1\"; transcript_id \"T2\"; gene_type \"protein_coding\"; gene_name \"GENE2\";
chr2\tENSEMBL\texon\t2000\t2500\t.\t+\t.\tgene_id \"ENSG00000000002.1\"; transcript_id \"T3\"; gene_type \"protein_coding\"; gene_name \"GENE2\";
chr2\tENSEMBL\texon\t4000\t5000\t.\t+\t.\tgene_id \"ENSG00000000002.1\"; transcript_id \"T2\"; gene_type \"protein_coding\"; gene_name \"GENE2\";
";

/// Ensembl / 10x style: bare chromosome names, gene_biotype, a gene without a `gene` record, a gene without a name,
/// unquoted numbers, no trailing semicolon.
const ENSEMBL: &str = "#!genome-build GRCh38.p14
1\tensembl_havana\tgene\t100\t900\t.\t-\t.\tgene_id \"ENSG01\"; gene_version \"3\"; gene_name \"MINUS1\"; gene_source \"ensembl_havana\"; gene_biotype \"protein_coding\";
1\tensembl_havana\ttranscript\t100\t900\t.\t-\t.\tgene_id \"ENSG01\"; transcript_id \"ENST01\"; gene_name \"MINUS1\"; gene_biotype \"protein_coding\";
1\tensembl_havana\texon\t800\t900\t.\t-\t.\tgene_id \"ENSG01\"; transcript_id \"ENST01\"; exon_number \"1\"; gene_name \"MINUS1\"; gene_biotype \"protein_coding\";
1\tensembl_havana\texon\t100\t300\t.\t-\t.\tgene_id \"ENSG01\"; transcript_id \"ENST01\"; exon_number \"2\"; gene_name \"MINUS1\"; gene_biotype \"protein_coding\";
1\thavana\ttranscript\t2000\t2600\t.\t+\t.\tgene_id \"ENSG02\"; transcript_id \"ENST02\"; gene_biotype \"lncRNA\"
1\thavana\texon\t2000\t2100\t.\t+\t.\tgene_id \"ENSG02\"; transcript_id \"ENST02\"; exon_number 1; gene_biotype \"lncRNA\"
1\thavana\texon\t2500\t2600\t.\t+\t.\tgene_id \"ENSG02\"; transcript_id \"ENST02\"; exon_number 2; gene_biotype \"lncRNA\"
MT\tinsdc\tgene\t3307\t4262\t.\t+\t.\tgene_id \"ENSG00000198888\"; gene_name \"MT-ND1\"; gene_biotype \"protein_coding\";
MT\tinsdc\texon\t3307\t4262\t.\t+\t.\tgene_id \"ENSG00000198888\"; transcript_id \"ENST00000361390\"; gene_name \"MT-ND1\"; gene_biotype \"protein_coding\";
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load(p: &Path) -> GeneTable {
    load_genes(p, &GeneOptions::default()).unwrap()
}

#[test]
fn gencode_genes_spans_and_exon_union() {
    let dir = tempfile::tempdir().unwrap();
    let t = load(&write(dir.path(), "gencode.gtf", GENCODE));
    assert_eq!(t.source, "gencode.gtf");
    let ids: Vec<&str> = t.genes.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["ENSG00000290825.1", "ENSG00000186092.7", "ENSG00000000002.1"]);
    let g = &t.genes[0];
    assert_eq!((g.name.as_str(), g.gene_type.as_deref(), g.chrom.as_str()), ("DDX11L2", Some("lncRNA"), "chr1"));
    // gene record 11869..=14409 → [11868, 14409)
    assert_eq!((g.start, g.end, g.strand, g.tss()), (11_868, 14_409, Strand::Plus, 11_868));
    // exons of both transcripts, 0-based half-open: [11868,12227) [12612,12721) [13220,14409) [12009,12057)
    // [12178,12612) [12999,13100): [11868,12227)+[12009,12057)+[12178,12612)+[12612,12721) join (overlap, touch);
    // [12999,13100) overlaps [13220,14409)? no: it is separate.
    assert_eq!(g.exons, [(11_868, 12_721), (12_999, 13_100), (13_220, 14_409)]);
    let m = &t.genes[1];
    assert_eq!((m.strand, m.start, m.end, m.tss()), (Strand::Minus, 65_418, 71_585, 71_584));
    assert_eq!(m.exons, [(65_418, 65_433), (70_999, 71_585)]);
    // touching exons of two transcripts ([999,1999) and [1999,2500)) merge
    assert_eq!(t.genes[2].exons, [(999, 2500), (3999, 5000)]);
    assert_eq!(t.find("OR4F5").unwrap().id, "ENSG00000186092.7");
    assert_eq!(t.find("ENSG00000000002.1").unwrap().name, "GENE2");
    assert!(t.find("TP53").unwrap_err().to_string().contains("no gene with id or name `TP53` in gencode.gtf"));
    assert_eq!(t.overlapping("chr1", 14_000, 66_000).len(), 2);
    assert_eq!(t.overlapping("chr1", 14_409, 65_418).len(), 0);
}

#[test]
fn ensembl_10x_style_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("genes.gtf.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(ENSEMBL.as_bytes()).unwrap();
    std::fs::write(&p, e.finish().unwrap()).unwrap();
    let t = load(&p);
    assert_eq!(t.len(), 3);
    let a = &t.genes[0];
    assert_eq!((a.name.as_str(), a.gene_type.as_deref(), a.strand), ("MINUS1", Some("protein_coding"), Strand::Minus));
    assert_eq!((a.start, a.end, a.tss()), (99, 900, 899));
    assert_eq!(a.exons, [(99, 300), (799, 900)]);
    // no gene record: the span of its transcript and exons; no gene_name: the id
    let b = &t.genes[1];
    assert_eq!((b.name.as_str(), b.start, b.end, b.gene_type.as_deref()), ("ENSG02", 1999, 2600, Some("lncRNA")));
    assert_eq!(b.exons, [(1999, 2100), (2499, 2600)]);
    assert_eq!(t.genes[2].chrom, "MT");

    let coding =
        load_genes(&p, &GeneOptions { gene_types: Some(vec!["protein_coding".into()]), chromosomes: None }).unwrap();
    assert_eq!(coding.genes.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["MINUS1", "MT-ND1"]);
    let one = load_genes(&p, &GeneOptions { gene_types: None, chromosomes: Some(vec!["1".into()]) }).unwrap();
    assert_eq!(one.len(), 2);
    let e = load_genes(&p, &GeneOptions { gene_types: Some(vec!["miRNA".into()]), chromosomes: None }).unwrap_err();
    let e = e.to_string();
    assert!(e.contains("gene_types") && e.contains("lncRNA (1), protein_coding (2)"), "{e}");
    let e = load_genes(&p, &GeneOptions { gene_types: None, chromosomes: Some(vec!["chr1".into()]) }).unwrap_err();
    assert!(e.to_string().contains("the file's chromosomes are 1, MT"), "{e}");
    // the table's filter agrees with the load-time filter
    assert_eq!(t.filter(Some(&["protein_coding".to_string()]), None).genes, coding.genes);
}

#[test]
fn bad_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = "chr1\tS\tgene\t10\t20\t.\t+\t.\tgene_id \"G1\";\n";
    let cases: &[(&str, &str)] = &[
        ("chr1\tS\texon\t10\t20\t.\t+\n", "bad.gtf:2: expected 9 tab-separated fields"),
        ("chr1\tS\texon\tten\t20\t.\t+\t.\tgene_id \"G1\";\n", "bad.gtf:2: field 4 (start): `ten` is not a position"),
        ("chr1\tS\texon\t0\t20\t.\t+\t.\tgene_id \"G1\";\n", "bad.gtf:2: field 4 (start): `0` is not a position"),
        ("chr1\tS\texon\t30\t20\t.\t+\t.\tgene_id \"G1\";\n", "bad.gtf:2: field 5 (end): end 20 is before start 30"),
        ("chr1\tS\texon\t10\t20\t.\t.\t.\tgene_id \"G1\";\n", "bad.gtf:2: field 7 (strand): `.` is not + or -"),
        ("chr1\tS\texon\t10\t20\t.\t+\t.\ttranscript_id \"T1\";\n", "bad.gtf:2: field 9 (attributes): no gene_id"),
        ("chr1\tS\texon\t10\t20\t.\t+\t.\tID=exon1;Parent=T1\n", "this looks like GFF3"),
        ("chr1\tS\texon\t10\t20\t.\t+\t.\tgene_id \"G1;\n", "bad.gtf:2: field 9 (attributes): cannot read"),
        (
            "chr2\tS\texon\t10\t20\t.\t+\t.\tgene_id \"G1\";\n",
            "bad.gtf:2: gene_id G1: this exon is on chr2 (+) but the gene's record at line 1 is on chr1 (+)",
        ),
        ("chr1\tS\texon\t10\t20\t.\t-\t.\tgene_id \"G1\";\n", "is on chr1 (-) but"),
        (
            "chr1\tS\tgene\t10\t20\t.\t+\t.\tgene_id \"G1\";\n",
            "bad.gtf:2: a second `gene` record for gene_id G1 (the first is at line 1)",
        ),
    ];
    for (line, want) in cases {
        let p = write(dir.path(), "bad.gtf", &format!("{good}{line}"));
        let e = load_genes(&p, &GeneOptions::default()).unwrap_err().to_string();
        assert!(e.contains(want), "{e}\n  (wanted: {want})");
    }
    // records of other types are not checked beyond the field count
    let p = write(dir.path(), "ok.gtf", &format!("{good}chr1\tS\tCDS\t10\t20\t.\t.\t0\tnothing\n"));
    assert_eq!(load(&p).len(), 1);
    let p = write(dir.path(), "empty.gtf", "# nothing\n\n");
    assert!(load_genes(&p, &GeneOptions::default())
        .unwrap_err()
        .to_string()
        .contains("no gene, transcript or exon records"));
    let e = load_genes(&dir.path().join("missing.gtf"), &GeneOptions::default()).unwrap_err().to_string();
    assert!(e.contains("missing.gtf"), "{e}");
    // a truncated gzip stream is an error, not a short table
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(GENCODE.repeat(20).as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let p = dir.path().join("cut.gtf.gz");
    std::fs::write(&p, &gz[..gz.len() / 2]).unwrap();
    let e = load_genes(&p, &GeneOptions::default()).unwrap_err().to_string();
    assert!(e.contains("cut.gtf.gz"), "{e}");
}

#[test]
fn merge_joins_overlapping_and_touching_intervals() {
    assert_eq!(merge_intervals(vec![(5, 8), (1, 3), (3, 4), (7, 10), (12, 13)]), [(1, 4), (5, 10), (12, 13)]);
    assert_eq!(merge_intervals(vec![]), Vec::<(u64, u64)>::new());
    assert_eq!(merge_intervals(vec![(1, 10), (2, 3)]), [(1, 10)]);
}
