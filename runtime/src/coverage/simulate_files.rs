//! The files of [`simulate_multiome`](super::simulate_multiome), in the formats of a 10x Multiome run and its
//! reference: FASTA + `.fai`, GENCODE-style GTF, `atac_fragments.tsv.gz` (BGZF) + tabix index, the GEX BAM +
//! BAI, and `filtered_feature_bc_matrix.h5`. The caller writes them into a fresh temporary directory, so each writer
//! creates its file directly.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use hdf5::types::FixedAscii;
use noodles::core::Position;
use noodles::csi::binning_index::index::reference_sequence::bin::Chunk;
use noodles::sam;
use noodles::sam::alignment::io::Write as _;
use noodles::sam::alignment::record::cigar::op::{Kind, Op};
use noodles::sam::alignment::record::data::field::Tag;
use noodles::sam::alignment::record::Flags;
use noodles::sam::alignment::record_buf::data::field::Value;
use noodles::sam::alignment::record_buf::{QualityScores, Sequence};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::{SimGene, World};
use super::reads::{Fragment, SimRead};
use crate::genes::Strand;

/// Writes the genome as FASTA (60 bases per line) and its samtools `.fai` index.
pub fn write_fasta(fasta: &Path, fai: &Path, chroms: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(fasta)?);
    let mut index = String::new();
    let mut offset = 0u64;
    for (name, seq) in chroms {
        let head = format!(">{name}\n");
        w.write_all(head.as_bytes())?;
        offset += head.len() as u64;
        index.push_str(&format!("{name}\t{}\t{offset}\t60\t61\n", seq.len()));
        for line in seq.chunks(60) {
            w.write_all(line)?;
            w.write_all(b"\n")?;
            offset += line.len() as u64 + 1;
        }
    }
    w.flush()?;
    std::fs::write(fai, index)
}

fn gtf_line(
    w: &mut impl Write,
    chrom: &str,
    feature: &str,
    s: u64,
    e: u64,
    strand: char,
    attrs: &str,
) -> io::Result<()> {
    // GTF is 1-based, inclusive
    writeln!(w, "{chrom}\tSIMULATED\t{feature}\t{}\t{e}\t.\t{strand}\t.\t{attrs}", s + 1)
}

/// GENCODE-style GTF: a gene, its transcript and its exons (numbered 5′ → 3′), in genome order.
pub fn write_gtf(path: &Path, world: &World) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(w, "##description: simulated annotation (gscript simulate_multiome)")?;
    writeln!(w, "##provider: gscript")?;
    writeln!(w, "##format: gtf")?;
    for g in &world.genes {
        let chrom = &world.chroms[g.chrom].0;
        let strand = g.strand.symbol();
        let gene_attrs = format!("gene_id \"{}\"; gene_type \"{}\"; gene_name \"{}\";", g.id, g.gene_type, g.name);
        gtf_line(&mut w, chrom, "gene", g.start(), g.end(), strand, &gene_attrs)?;
        let tx_attrs = format!(
            "gene_id \"{}\"; transcript_id \"{}\"; gene_type \"{}\"; gene_name \"{}\"; transcript_type \"{}\"; \
             transcript_name \"{}-201\";",
            g.id, g.transcript_id, g.gene_type, g.name, g.gene_type, g.name
        );
        gtf_line(&mut w, chrom, "transcript", g.start(), g.end(), strand, &tx_attrs)?;
        let n = g.exons.len();
        for (i, &(s, e)) in g.exons.iter().enumerate() {
            let number = match g.strand {
                Strand::Plus => i + 1,
                Strand::Minus => n - i,
            };
            let attrs = format!("{tx_attrs} exon_number {number}; exon_id \"{}.{number}\";", g.transcript_id);
            gtf_line(&mut w, chrom, "exon", s, e, strand, &attrs)?;
        }
    }
    w.flush()
}

/// 10x `atac_fragments.tsv.gz`: a `#` header, then `chrom start end barcode count` sorted by position, BGZF
/// compressed, with a tabix index (BED coordinates) built while writing. `fragments` must be sorted.
pub fn write_fragments(
    path: &Path,
    tbi: &Path,
    chrom_names: &[String],
    barcodes: &[String],
    fragments: &[Fragment],
    seed: u64,
) -> io::Result<()> {
    use noodles::csi::binning_index::index::header::Builder;
    let mut w = noodles::bgzf::io::Writer::new(BufWriter::new(File::create(path)?));
    let mut head = format!(
        "# id=simulated_multiome\n# description=gscript simulate_multiome (seed {seed})\n#\n\
         # pipeline_name=gscript simulate_multiome\n#\n# reference_path=genome.fa\n#\n"
    );
    for c in chrom_names {
        head.push_str(&format!("# primary_contig={c}\n"));
    }
    w.write_all(head.as_bytes())?;
    let mut indexer = noodles::tabix::index::Indexer::default();
    indexer.set_header(Builder::bed().build());
    let mut start = w.virtual_position();
    let mut line = String::with_capacity(64);
    let pos = |x: usize| Position::new(x).ok_or_else(|| io::Error::other("position 0"));
    for f in fragments {
        line.clear();
        let chrom = &chrom_names[f.chrom as usize];
        use std::fmt::Write as _;
        let _ = writeln!(line, "{chrom}\t{}\t{}\t{}\t{}", f.start, f.end, barcodes[f.cell as usize], f.count);
        w.write_all(line.as_bytes())?;
        let end = w.virtual_position();
        indexer.add_record(chrom, pos(f.start as usize + 1)?, pos(f.end as usize)?, Chunk::new(start, end))?;
        start = end;
    }
    w.finish()?.flush()?;
    noodles::tabix::fs::write(tbi, &indexer.build())
}

/// SAM header of the GEX BAM: sorted by coordinate, one `@SQ` per chromosome.
fn bam_header(world: &World) -> io::Result<sam::Header> {
    let mut text = String::from("@HD\tVN:1.6\tSO:coordinate\n");
    for (name, seq) in &world.chroms {
        text.push_str(&format!("@SQ\tSN:{name}\tLN:{}\n", seq.len()));
    }
    text.push_str("@PG\tID:gscript\tPN:gscript\tCL:simulate_multiome\n");
    text.push_str("@CO\tsimulated 10x 3' GEX: reads are sense to the transcript; CB/UB corrected, CR/UR raw\n");
    text.parse().map_err(io::Error::other)
}

fn umi_string(umi: u32) -> String {
    (0..12).map(|i| b"ACGT"[((umi >> (2 * i)) & 3) as usize] as char).collect()
}

/// Options of the BAM writer.
pub struct BamSettings<'a> {
    pub barcodes: &'a [String],
    pub mark_duplicates: bool,
    pub seed: u64,
}

/// Writes the GEX BAM (records sorted here by position) with Cell Ranger's tags, then its BAI index.
pub fn write_bam(path: &Path, bai: &Path, world: &World, reads: &mut [SimRead], s: &BamSettings) -> io::Result<()> {
    reads.sort_unstable_by_key(|r| (r.chrom, r.start(), r.reverse, r.cell, r.mol, r.copy, r.no_cb));
    let header = bam_header(world)?;
    let mut w = noodles::bam::io::Writer::new(BufWriter::new(File::create(path)?));
    w.write_header(&header)?;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x0ba0);
    let tag = |t: &[u8; 2]| Tag::new(t[0], t[1]);
    for r in reads.iter() {
        let gene: &SimGene = &world.genes[r.gene as usize];
        let seq_chrom = &world.chroms[r.chrom as usize].1;
        let mut ops = Vec::with_capacity(2 * r.blocks.len());
        let mut bases = Vec::new();
        for (i, &(a, b)) in r.blocks.iter().enumerate() {
            if i > 0 {
                ops.push(Op::new(Kind::Skip, (a - r.blocks[i - 1].1) as usize));
            }
            ops.push(Op::new(Kind::Match, (b - a) as usize));
            bases.extend_from_slice(&seq_chrom[a as usize..b as usize]);
        }
        // Illumina-binned qualities: mostly 37, some 25, a few 11
        let quals: Vec<u8> = (0..bases.len())
            .map(|_| match rng.random_range(0..100) {
                0..=1 => 11,
                2..=7 => 25,
                _ => 37,
            })
            .collect();
        let barcode = &s.barcodes[r.cell as usize];
        let raw = barcode.trim_end_matches("-1");
        let mut flags = Flags::empty();
        if r.reverse {
            flags |= Flags::REVERSE_COMPLEMENTED;
        }
        let counted = !r.no_cb && !r.duplicate;
        if r.duplicate && s.mark_duplicates {
            flags |= Flags::DUPLICATE;
        }
        let xf: i32 = if r.no_cb {
            0
        } else if counted {
            25
        } else {
            17
        };
        let umi = umi_string(r.umi);
        let mut data: Vec<(Tag, Value)> = vec![
            (tag(b"NH"), Value::from(1u8)),
            (tag(b"HI"), Value::from(1u8)),
            (tag(b"nM"), Value::from(0u8)),
            (tag(b"RE"), Value::Character(if r.intronic { b'N' } else { b'E' })),
            (tag(b"xf"), Value::from(xf)),
        ];
        if r.no_cb {
            // a sequencing error in the barcode that could not be corrected
            let mut cr: Vec<u8> = raw.as_bytes().to_vec();
            let i = (r.mol as usize + r.copy as usize) % cr.len();
            cr[i] = match cr[i] {
                b'A' => b'C',
                b'C' => b'G',
                b'G' => b'T',
                _ => b'A',
            };
            data.push((tag(b"CR"), Value::from(String::from_utf8_lossy(&cr).into_owned())));
        } else {
            data.push((tag(b"CR"), Value::from(raw)));
            data.push((tag(b"CB"), Value::from(barcode.as_str())));
        }
        data.push((tag(b"UR"), Value::from(umi.as_str())));
        data.push((tag(b"UB"), Value::from(umi.as_str())));
        data.push((tag(b"GX"), Value::from(gene.id.as_str())));
        data.push((tag(b"GN"), Value::from(gene.name.as_str())));
        let name = format!("SIM:{}:{}:{}{}", r.cell, r.mol, r.copy, if r.no_cb { ":x" } else { "" });
        // no mapping quality set: BAM stores 255 ("unavailable"), as STAR gives unique alignments in Cell Ranger
        let record = sam::alignment::RecordBuf::builder()
            .set_name(name)
            .set_flags(flags)
            .set_reference_sequence_id(r.chrom as usize)
            .set_alignment_start(Position::new(r.start() as usize + 1).ok_or_else(|| io::Error::other("position 0"))?)
            .set_cigar(ops.into_iter().collect())
            .set_sequence(Sequence::from(bases))
            .set_quality_scores(QualityScores::from(quals))
            .set_data(data.into_iter().collect())
            .build();
        w.write_alignment_record(&header, &record)?;
    }
    w.try_finish()?;
    drop(w);
    match noodles::bam::fs::index(path)? {
        noodles::bam::Index::Bai(index) => noodles::bam::bai::fs::write(bai, &index),
        noodles::bam::Index::Csi(_) => Err(io::Error::other("a chromosome is too long for a BAI index")),
    }
}

/// The feature-barcode matrix in Cell Ranger ARC's layout: CSC by barcode (`matrix/{barcodes, data, indices, indptr,
/// shape}`), `matrix/features/{id, name, feature_type, genome, interval, _all_tag_keys}`; genes first
/// ("Gene Expression", UMI counts), then peaks ("Peaks", Tn5 cut sites in the peak).
pub struct TenxMatrix {
    pub barcodes: Vec<String>,
    /// Per feature: id, name, type, interval.
    pub features: Vec<(String, String, &'static str, String)>,
    /// Per barcode: (feature, count) sorted by feature.
    pub columns: Vec<Vec<(u32, i32)>>,
}

fn fixed(s: &str) -> hdf5::Result<FixedAscii<64>> {
    FixedAscii::<64>::from_ascii(s.as_bytes()).map_err(|e| hdf5::Error::from(format!("'{s}' is not short ASCII: {e}")))
}

fn dataset<T: hdf5::H5Type>(g: &hdf5::Group, name: &str, data: &[T]) -> hdf5::Result<()> {
    // no modification times: the same simulation gives the same bytes
    g.new_dataset_builder().obj_track_times(false).with_data(data).create(name)?;
    Ok(())
}

fn strings(g: &hdf5::Group, name: &str, values: &[&str]) -> hdf5::Result<()> {
    let v: Vec<FixedAscii<64>> = values.iter().map(|s| fixed(s)).collect::<hdf5::Result<_>>()?;
    dataset(g, name, &v)
}

pub fn write_10x_h5(path: &Path, m: &TenxMatrix) -> hdf5::Result<()> {
    let mut indptr = vec![0i64];
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    for col in &m.columns {
        for &(f, v) in col {
            indices.push(f as i64);
            data.push(v);
        }
        indptr.push(indices.len() as i64);
    }
    let file = hdf5::File::with_options().with_fcpl(|p| p.obj_track_times(false)).create(path)?;
    let mx = file.create_group_builder().obj_track_times(false).create("matrix")?;
    let bc: Vec<&str> = m.barcodes.iter().map(String::as_str).collect::<Vec<_>>();
    strings(&mx, "barcodes", &bc)?;
    dataset(&mx, "data", &data)?;
    dataset(&mx, "indices", &indices)?;
    dataset(&mx, "indptr", &indptr)?;
    dataset(&mx, "shape", &[m.features.len() as i32, m.barcodes.len() as i32])?;
    let f = mx.create_group_builder().obj_track_times(false).create("features")?;
    let col = |k: usize| -> Vec<&str> {
        m.features
            .iter()
            .map(|x| match k {
                0 => x.0.as_str(),
                1 => x.1.as_str(),
                2 => x.2,
                _ => x.3.as_str(),
            })
            .collect()
    };
    strings(&f, "id", &col(0))?;
    strings(&f, "name", &col(1))?;
    strings(&f, "feature_type", &col(2))?;
    strings(&f, "genome", &vec!["simulated"; m.features.len()])?;
    strings(&f, "interval", &col(3))?;
    strings(&f, "_all_tag_keys", &["genome", "interval"])?;
    Ok(())
}
