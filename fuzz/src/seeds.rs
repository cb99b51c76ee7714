//! Valid inputs the targets start from: small texts of each motif format (as in the parsers' unit tests), and the
//! files the project's own simulators write (genome, GTF, fragments, BAM, 10x h5, h5ad, checkpoints), made once per
//! process in a temporary directory.

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use gscript_runtime::coverage::simulate::{simulate_multiome, MultiomeConfig};
use gscript_runtime::data::h5ad_write::{write_h5ad, H5adExtras};
use gscript_runtime::data::simulate::{simulate_atac, SimulateOptions};
use gscript_runtime::data::tenx_write::{write_10x_h5, GeneFeatures};
use gscript_runtime::{CancelToken, NoProgress};

pub const MEME: &str = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\n\
A 0.25 C 0.25 G 0.25 T 0.25\n\nMOTIF MA0002.3 Runx1\n\nletter-probability matrix: alength= 4 w= 3 nsites= 20 E= 0\n\
 0.061500  0.536000  0.074500  0.328000\n 0.028500  0.000000  0.003500  0.968000\n 0.000000  0.037500  0.936000  \
0.026500\n\nMOTIF M2\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n1 0 0 0\nURL http://x\n";

pub const JASPAR: &str = ">MA0004.1\tArnt\nA  [     4     19      0 ]\nC  [    16      0     20 ]\n\
G  [     0      1      0 ]\nT  [     0      0      0 ]\n\n>MA0006.1 Ahr::Arnt\nA  3  0  0\nC  8  0 23\nG  2 23  0\n\
T 11  1  1\n";

pub const HOMER: &str = ">ASTTCCTCTT\tPU.1(ETS)/Homer\t6.049537\t-1.233915e+03\t0\tT:17311.0(44.02%)\n\
0.726\t0.002\t0.170\t0.103\n0.002\t0.494\t0.002\t0.502\n0.001\t0.001\t0.001\t0.997\n>GGAA short\n0 0 1 0\n\
0 0 1 0\n1 0 0 0\n";

pub const BED: &str = "track name=peaks\n# comment\nchr1\t100\t600\tpeak1\t0\t.\t5.2\t3.1\t2.0\t250\n\
chr1\t900\t1400\tpeak2\t0\t+\t1\t1\t1\t10\nchr2\t0\t500\n";

pub const VCF: &str = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n\
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t100\trs1\tA\tG\t.\tPASS\t.\n\
chr1\t200\t.\tAC\tA,ACT\t50\t.\tDP=3\nchr2\t5\tx\tN\t<DEL>\t.\t.\t.\n";

pub const MTX: &str = "%%MatrixMarket matrix coordinate integer general\n% peaks x cells\n3 2 4\n1 1 1\n2 1 3\n\
3 2 1\n1 2 2\n";

pub const FOLDS: &str = "chr1\t0\t196608\tfold0\nchr1\t196608\t393216\tfold1\nchr2\t0\t196608\tfold2\n";

pub const TARGETS: &str = "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n\
0\tENCFF1+\t/x.w5\t768\t384\t0.3\tsum_sqrt\t1\tRNA:liver +\n1\tENCFF1-\t/y.w5\t768\t384\t0.3\tsum_sqrt\t0\tRNA:liver -\n";

/// Files written by the simulators, read back as bytes (gzip/BGZF undone: the mutations work on the content).
pub struct Files {
    _dir: tempfile::TempDir,
    pub fasta: Vec<u8>,
    pub fai: Vec<u8>,
    pub gtf: Vec<u8>,
    pub fragments: Vec<u8>,
    pub bam: Vec<u8>,
    pub tenx_h5: Vec<u8>,
    pub h5ad: Vec<u8>,
    pub sequences_bed: Vec<u8>,
    pub dir: PathBuf,
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).expect("the simulator writes valid gzip");
    out
}

/// The simulated files (made on first use).
pub fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let cfg = MultiomeConfig {
            cells: 6,
            cell_types: 2,
            chromosomes: 1,
            chrom_length: 50_000,
            genes: 2,
            max_gene_length: 8_000,
            fragments_per_cell: 20.0,
            umis_per_cell: 12.0,
            empty_droplets: 1,
            window: Some(4_096),
            ..Default::default()
        };
        let m = simulate_multiome(&cfg, &dir.path().join("multiome"), &mut NoProgress, &CancelToken::new())
            .expect("the small multiome simulation runs");
        let read = |p: &std::path::Path| std::fs::read(p).expect("a simulated file");
        let sim = simulate_atac(&SimulateOptions {
            n_cells: 5,
            n_peaks: 6,
            n_cell_types: 2,
            n_chromosomes: 2,
            ..Default::default()
        })
        .expect("the small ATAC simulation runs");
        let h5ad_path = dir.path().join("small.h5ad");
        write_h5ad(&h5ad_path, &sim.data.matrix, &sim.data.peaks, &sim.data.cells, &H5adExtras::default())
            .expect("write_h5ad");
        let tenx_path = dir.path().join("small_10x.h5");
        let genes = GeneFeatures::default();
        write_10x_h5(&tenx_path, &sim.data.matrix, &sim.data.peaks, &sim.data.cells.barcodes, &genes, "sim")
            .expect("write_10x_h5");
        Files {
            fasta: read(&m.genome),
            fai: read(&m.genome_index),
            gtf: read(&m.gtf),
            fragments: gunzip(&read(&m.fragments)),
            bam: gunzip(&read(&m.bam)),
            tenx_h5: read(&tenx_path),
            h5ad: read(&h5ad_path),
            sequences_bed: read(&m.sequences),
            dir: dir.path().to_path_buf(),
            _dir: dir,
        }
    })
}
