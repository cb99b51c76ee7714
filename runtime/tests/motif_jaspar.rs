//! Integration tests on real JASPAR 2026 data (CC BY 4.0), read only from
//! this crate's own `tests/data` copy.

use std::io::Write;
use std::path::PathBuf;

use gscript_runtime::motif::{parse_meme, read_motif_file, write_meme, MotifFormat, Pssm, Strand, DEFAULT_PSEUDOCOUNT};
use gscript_runtime::seq::shuffle::dinucleotide_shuffle;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn data(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // the full collection is the project's shipped default motif set; the excerpt is test data
    if name == FULL {
        root.join("data/motifs").join(name)
    } else {
        root.join("tests/data").join(name)
    }
}

const FULL: &str = "JASPAR2026_CORE_vertebrates.meme";
const EXCERPT: &str = "jaspar2026_excerpt.meme";

/// (id, w) of every motif, read from the raw text with plain string
/// handling, independently of the parser.
fn raw_ids_and_widths(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("MOTIF ") {
            pending = Some(rest.split_whitespace().next().unwrap().to_string());
        } else if line.starts_with("letter-probability matrix:") {
            let w: usize = line.split("w=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
            out.push((pending.take().unwrap(), w));
        }
    }
    out
}

#[test]
fn full_jaspar_file_parses_completely() {
    let path = data(FULL);
    let text = std::fs::read_to_string(&path).unwrap();
    let motif_lines = text.lines().filter(|l| l.starts_with("MOTIF")).count();
    assert!(motif_lines > 100);
    let set = read_motif_file(&path).unwrap();
    assert_eq!(set.len(), motif_lines);
    assert_eq!(set.source, path.display().to_string());
    let raw = raw_ids_and_widths(&text);
    assert_eq!(raw.len(), motif_lines);
    for (m, (id, w)) in set.iter().zip(&raw) {
        assert_eq!(&m.id, id);
        assert_eq!(m.width(), *w, "{id}");
        assert!(!m.name.is_empty(), "{id} has a name in JASPAR");
        assert!(m.n_sites.is_some_and(|n| n > 0.0));
        assert_eq!(m.background, [0.25; 4]);
        m.validate().unwrap();
    }
}

#[test]
fn full_file_round_trips_through_writer() {
    let set = read_motif_file(data(FULL)).unwrap();
    let again = parse_meme(&write_meme(&set), "written").unwrap();
    assert_eq!(again.len(), set.len());
    for (a, b) in set.iter().zip(again.iter()) {
        assert_eq!((&a.id, &a.name, a.n_sites), (&b.id, &b.name, b.n_sites));
        for (ra, rb) in a.ppm.iter().zip(&b.ppm) {
            for k in 0..4 {
                assert!((ra[k] - rb[k]).abs() < 1e-15);
            }
        }
    }
}

#[test]
fn excerpt_lookup_and_known_matrix() {
    let set = read_motif_file(data(EXCERPT)).unwrap();
    assert_eq!(set.len(), 5);
    let ids: Vec<&str> = set.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["MA0002.3", "MA0004.1", "MA0035.5", "MA0079.5", "MA0139.2"]);
    // MA0004.1 Arnt: counts A[4 19 0 0 0 0] C[16 0 20 0 0 0] G[0 1 0 20 0 20]
    // T[0 0 0 0 20 0] -> consensus CACGTG (the E-box).
    let arnt = set.get("arnt").unwrap();
    assert_eq!(arnt.id, "MA0004.1");
    assert_eq!(arnt.consensus(), "CACGTG");
    assert_eq!(arnt.n_sites, Some(20.0));
    assert_eq!(set.get("ma0139.2").unwrap().name, "CTCF");
    assert_eq!(set.get("CTCF").unwrap().width(), 15);
    assert!(set.get("MA9999.1").is_none());
}

#[test]
fn gzipped_copy_reads_the_same() {
    let plain = read_motif_file(data(EXCERPT)).unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let gz_path = dir.join("jaspar2026_excerpt.meme.gz");
    let text = std::fs::read(data(EXCERPT)).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&text).unwrap();
    std::fs::write(&gz_path, enc.finish().unwrap()).unwrap();
    assert_eq!(MotifFormat::from_path(&gz_path), Some(MotifFormat::Meme));
    let gz = read_motif_file(&gz_path).unwrap();
    assert_eq!(gz.motifs, plain.motifs);
}

#[test]
fn planted_jaspar_sites_are_found_in_shuffled_background() {
    let set = read_motif_file(data(EXCERPT)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    // Background: a dinucleotide shuffle of a fixed repetitive sequence.
    let base: Vec<u8> = b"ACGTTGCAAGCTTTAACCGGATCGATCGGCTAAGCTT".iter().cycle().take(800).copied().collect();
    for m in set.iter() {
        let pssm = Pssm::new(m, DEFAULT_PSEUDOCOUNT).unwrap();
        let mut seq = dinucleotide_shuffle(&base, &mut rng);
        let site = m.sample_sequence(&mut rng);
        let consensus = m.consensus().into_bytes();
        seq[100..100 + m.width()].copy_from_slice(&consensus);
        let rc: Vec<u8> = site
            .iter()
            .rev()
            .map(|&b| match b {
                b'A' => b'T',
                b'C' => b'G',
                b'G' => b'C',
                _ => b'A',
            })
            .collect();
        seq[500..500 + m.width()].copy_from_slice(&rc);
        let hits = pssm.scan(&seq, 1e-3);
        let at = |start: usize, strand: Strand| hits.iter().find(|h| h.start == start && h.strand == strand);
        let fwd = at(100, Strand::Forward).unwrap_or_else(|| panic!("{}: consensus not found", m.id));
        assert_eq!(fwd.matched.as_bytes(), consensus.as_slice());
        // The consensus is the best possible window, so nothing scores higher.
        assert!(hits.iter().all(|h| h.score <= fwd.score + 1e-9));
        // A sampled site is usually, not always, significant; when found it
        // is on the minus strand and reads as the sampled site.
        if let Some(h) = at(500, Strand::Reverse) {
            assert_eq!(h.matched.as_bytes(), site.as_slice());
        }
    }
}

#[test]
fn every_jaspar_motif_gets_a_valid_score_distribution() {
    let set = read_motif_file(data(FULL)).unwrap();
    for m in set.iter() {
        let p = Pssm::new(m, DEFAULT_PSEUDOCOUNT).unwrap();
        let total: f64 = p.distribution().iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{}: {total}", m.id);
        let consensus = m.consensus();
        let (_, pv) = p.score(consensus.as_bytes(), Strand::Forward).unwrap();
        // Uniform background: the consensus maximises every row, so it has
        // the top integer score, whose tail holds at least its own mass.
        let top = p.distribution().len() - 1;
        assert_eq!(pv, p.p_value(top), "{}", m.id);
        assert!(pv >= 0.25f64.powi(m.width() as i32) * (1.0 - 1e-12), "{}", m.id);
    }
}
