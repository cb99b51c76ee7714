use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::{gamma, poisson, SimGene};
use super::*;
use crate::genes::Strand;
use crate::progress::NoProgress;

/// A small simulation: 2 × 300 kb, 40 cells.
pub(crate) fn small() -> MultiomeConfig {
    MultiomeConfig {
        cells: 40,
        cell_types: 3,
        chromosomes: 2,
        chrom_length: 300_000,
        genes: 16,
        max_gene_length: 20_000,
        fragments_per_cell: 500.0,
        umis_per_cell: 300.0,
        empty_droplets: 5,
        ..Default::default()
    }
}

fn run(cfg: &MultiomeConfig, dir: &Path) -> Result<MultiomeFiles> {
    simulate_multiome(cfg, dir, &mut NoProgress, &CancelToken::new())
}

#[test]
fn default_simulation_writes_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("multiome");
    let f = run(&MultiomeConfig::default(), &dir).unwrap();
    let mut total = 0;
    for (name, p) in f.paths() {
        let n = std::fs::metadata(p).unwrap_or_else(|e| panic!("{name}: {e}")).len();
        assert!(n > 0, "{name} is empty");
        total += n;
        eprintln!("{name:>18}: {:>10} bytes", n);
    }
    let s = &f.summary;
    eprintln!("total {total} bytes; {s:?}");
    assert_eq!((s.cells, s.cell_types, s.genes, s.chromosomes), (200, 4, 120, 3));
    assert_eq!(f.truth.cells.len(), 200);
    assert!(s.enhancers > 0 && s.ctcf_sites > 0 && s.motif_sites > 0 && s.spliced_reads > 0);
    // 3 × 2 Mb holds 30 windows of 196,608 bp
    assert_eq!((s.window, s.sequences), (196_608, 30));
    // only the output directory is left in the parent
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["multiome"]);
}

#[test]
fn same_seed_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run(&small(), &tmp.path().join("a")).unwrap();
    let b = run(&small(), &tmp.path().join("b")).unwrap();
    let c = run(&MultiomeConfig { seed: 7, ..small() }, &tmp.path().join("c")).unwrap();
    for ((name, pa), ((_, pb), (_, pc))) in a.paths().into_iter().zip(b.paths().into_iter().zip(c.paths())) {
        let (x, y) = (std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
        assert!(x == y, "{name} differs between two runs with the same seed");
        if !["chrom_sizes", "genome_index", "sequences"].contains(&name) {
            assert_ne!(x, std::fs::read(pc).unwrap(), "{name} is the same for another seed");
        }
    }
    assert_eq!(a.truth, b.truth);
}

#[test]
fn output_directory_is_replaced_only_with_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "x").unwrap();
    let e = run(&small(), &dir).unwrap_err().to_string();
    assert!(e.contains("not empty") && e.contains("overwrite"), "{e}");
    assert!(dir.join("keep.txt").exists());
    run(&MultiomeConfig { overwrite: true, ..small() }, &dir).unwrap();
    assert!(!dir.join("keep.txt").exists() && dir.join("genome.fa").exists());
    // an empty directory is fine without overwrite
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    run(&small(), &empty).unwrap();
    // a failure leaves nothing behind
    let bad = MultiomeConfig { genes: 400, ..small() };
    let e = run(&bad, &tmp.path().join("bad")).unwrap_err().to_string();
    assert!(e.contains("genes") && e.contains("chrom_length"), "{e}");
    let mut names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["empty", "out"]);
    // a cancelled run too
    let cancel = CancelToken::new();
    cancel.cancel();
    let e = simulate_multiome(&small(), &tmp.path().join("c"), &mut NoProgress, &cancel).unwrap_err();
    assert!(matches!(e, RuntimeError::Interrupted));
    assert!(!tmp.path().join("c").exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
}

#[test]
fn bad_settings_name_the_field() {
    let cases: Vec<(MultiomeConfig, &str)> = vec![
        (MultiomeConfig { cells: 0, ..small() }, "cells"),
        (MultiomeConfig { cell_types: 41, ..small() }, "cell_types"),
        (MultiomeConfig { cell_types: 13, cells: 100, ..small() }, "motifs"),
        (MultiomeConfig { motifs: vec!["GATA1".into()], ..small() }, "motifs"),
        (MultiomeConfig { motifs: vec!["GATA1".into(), "NOPE".into(), "EBF1".into()], ..small() }, "motifs"),
        (MultiomeConfig { motifs: vec!["GATA1".into(), "MA0035.5".into(), "EBF1".into()], ..small() }, "motifs"),
        (MultiomeConfig { chrom_length: 1000, ..small() }, "chrom_length"),
        (MultiomeConfig { frip: 1.5, ..small() }, "frip"),
        (MultiomeConfig { read_length: 5, ..small() }, "read_length"),
        (MultiomeConfig { min_gene_length: 10_000, max_gene_length: 5_000, ..small() }, "min_gene_length"),
        (MultiomeConfig { reads_per_umi: 0.5, ..small() }, "reads_per_umi"),
        (MultiomeConfig { window: Some(200_000), ..small() }, "window"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (i, (cfg, field)) in cases.into_iter().enumerate() {
        match run(&cfg, &tmp.path().join(format!("x{i}"))) {
            Err(RuntimeError::InvalidArgument { field: f, message }) => assert_eq!(f, field, "{message}"),
            other => panic!("case {i} ({field}): {other:?}"),
        }
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn window_length_shrinks_on_small_genomes() {
    assert_eq!(MultiomeConfig::default().window_length(), 196_608);
    // 2 × 300 kb: 196,608 gives 2 windows, 24,576 gives 24
    assert_eq!(small().window_length(), 24_576);
    assert_eq!(MultiomeConfig { window: Some(1000), ..small() }.window_length(), 1000);
}

#[test]
fn poisson_and_gamma_have_their_moments() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 200_000;
    for lam in [0.3, 4.0, 29.0, 31.0, 250.0] {
        let x: Vec<f64> = (0..n).map(|_| poisson(&mut rng, lam) as f64).collect();
        let mean = x.iter().sum::<f64>() / n as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        // 5 standard errors of the mean; the variance's standard error is about λ·sqrt(2/n)
        assert!((mean - lam).abs() < 5.0 * (lam / n as f64).sqrt(), "λ {lam}: mean {mean}");
        assert!((var - lam).abs() < 5.0 * (lam * lam * 2.0 / n as f64 + lam / n as f64).sqrt(), "λ {lam}: var {var}");
    }
    for shape in [0.4, 1.0, 10.0] {
        let x: Vec<f64> = (0..n).map(|_| gamma(&mut rng, shape)).collect();
        let mean = x.iter().sum::<f64>() / n as f64;
        assert!((mean - shape).abs() < 5.0 * (shape / n as f64).sqrt(), "shape {shape}: mean {mean}");
        assert!(x.iter().all(|&v| v > 0.0));
    }
}

#[test]
fn transcript_blocks_follow_the_strand() {
    let gene = |strand| SimGene {
        id: "g".into(),
        transcript_id: "t".into(),
        name: "G".into(),
        gene_type: "protein_coding",
        chrom: 0,
        strand,
        exons: vec![(100, 200), (300, 350), (500, 700)],
        baseline: 0.0,
    };
    let plus = gene(Strand::Plus);
    assert_eq!(plus.tx_len(), 350);
    assert_eq!(plus.tss(), 100);
    // transcript bases 90..170: 10 of exon 1, all of exon 2, 20 of exon 3
    assert_eq!(plus.tx_blocks(90, 80), [(190, 200), (300, 350), (500, 520)]);
    assert_eq!(plus.tx_blocks(260, 90), [(610, 700)]);
    let minus = gene(Strand::Minus);
    assert_eq!(minus.tss(), 699);
    // on −, transcript base 0 is genome base 699: bases 0..90 are 610..700
    assert_eq!(minus.tx_blocks(0, 90), [(610, 700)]);
    // the 3′-most 90 bases: exon 1 (100..200) holds the last 100
    assert_eq!(minus.tx_blocks(260, 90), [(100, 190)]);
    assert_eq!(minus.tx_blocks(180, 80), [(190, 200), (300, 350), (500, 520)]);
}
