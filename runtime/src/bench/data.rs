//! Data-loading benchmark: a generated cells × peaks `.h5ad` (CSR X, written in streamed chunks so that generating
//! it needs little memory) and the time and peak memory of loading it into peaks × cells CSR.

use std::path::Path;
use std::time::Instant;

use hdf5::types::VarLenUnicode;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::{read_any, LoadOptions};
use crate::error::{Result, RuntimeError};
use crate::progress::{CancelToken, NoProgress};

fn h5err(path: &Path) -> impl Fn(hdf5::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Other(format!("{}: {e}", path.display()))
}

fn set_str_attr(loc: &hdf5::Location, name: &str, value: &str) -> hdf5::Result<()> {
    let v: VarLenUnicode = value.parse().unwrap();
    loc.new_attr::<VarLenUnicode>().shape(()).create(name)?.write_scalar(&v)
}

fn write_frame(file: &hdf5::File, name: &str, index: impl Iterator<Item = String>) -> hdf5::Result<()> {
    let g = file.create_group(name)?;
    set_str_attr(&g, "encoding-type", "dataframe")?;
    set_str_attr(&g, "encoding-version", "0.2.0")?;
    set_str_attr(&g, "_index", "_index")?;
    g.new_attr::<VarLenUnicode>().shape(0).create("column-order")?;
    let names: Vec<VarLenUnicode> = index.map(|s| s.parse().unwrap()).collect();
    let ds = g.new_dataset_builder().with_data(&names).create("_index")?;
    set_str_attr(&ds, "encoding-type", "string-array")?;
    set_str_attr(&ds, "encoding-version", "0.2.0")
}

/// Open peaks of one cell: each peak independently with probability `p`, drawn by geometric skips (O(open peaks)).
fn cell_row(rng: &mut ChaCha8Rng, n_peaks: usize, p: f64, out: &mut Vec<i32>) {
    out.clear();
    let log_q = (1.0 - p).ln();
    let mut next = 0f64;
    loop {
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        next += (u.ln() / log_q).floor();
        if next >= n_peaks as f64 {
            return;
        }
        out.push(next as i32);
        next += 1.0;
    }
}

/// Writes a random cells × peaks `.h5ad` in which each entry is open with probability `density` (binary values,
/// float32), X streamed in chunks. Returns the number of stored entries.
pub fn write_random_h5ad(path: &Path, n_cells: usize, n_peaks: usize, density: f64, seed: u64) -> Result<u64> {
    let spec = RandomH5ad { n_cells, n_peaks, density, seed, depth_sigma: 0.0, u8_values: false };
    write_random_h5ad_with(path, &spec, &mut |_| {})
}

/// What [`write_random_h5ad_with`] writes.
#[derive(Clone, Debug)]
pub struct RandomH5ad {
    pub n_cells: usize,
    pub n_peaks: usize,
    /// Mean fraction of open entries.
    pub density: f64,
    pub seed: u64,
    /// σ of each cell's log-normal depth factor (mean 1): cell `c` opens each peak with probability
    /// `min(density · exp(σ·z_c − σ²/2), 0.5)`, as sequencing depth varies between cells in an atlas. 0: all equal.
    pub depth_sigma: f64,
    /// Values as uint8 (one byte per entry; anndata reads them as uint8) instead of float32.
    pub u8_values: bool,
}

/// A cell's open probability under `spec` (draws the depth factor from `rng`).
fn cell_density(rng: &mut ChaCha8Rng, spec: &RandomH5ad) -> f64 {
    if spec.depth_sigma == 0.0 {
        return spec.density;
    }
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let s = spec.depth_sigma;
    (spec.density * (s * z - s * s / 2.0).exp()).min(0.5)
}

/// Writes the random `.h5ad` of `spec` with X streamed in chunks (two passes with the same seed: count, then write),
/// so memory stays at the row pointers plus one chunk however large the file. `on_cells(k)` is called as cells are
/// written. Returns the number of stored entries.
pub fn write_random_h5ad_with(path: &Path, spec: &RandomH5ad, on_cells: &mut dyn FnMut(usize)) -> Result<u64> {
    let RandomH5ad { n_cells, n_peaks, density, seed, .. } = *spec;
    if !(density > 0.0 && density < 1.0) {
        return Err(RuntimeError::invalid("density", format!("must be in (0, 1), got {density}")));
    }
    if spec.depth_sigma.is_nan() || spec.depth_sigma < 0.0 {
        return Err(RuntimeError::invalid("depth_sigma", format!("must be ≥ 0, got {}", spec.depth_sigma)));
    }
    let mut row = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut indptr = Vec::with_capacity(n_cells + 1);
    indptr.push(0i64);
    for _ in 0..n_cells {
        let p = cell_density(&mut rng, spec);
        cell_row(&mut rng, n_peaks, p, &mut row);
        indptr.push(indptr.last().unwrap() + row.len() as i64);
    }
    let nnz = *indptr.last().unwrap() as usize;
    let e = h5err(path);
    let file = hdf5::File::create(path).map_err(&e)?;
    set_str_attr(&file, "encoding-type", "anndata").map_err(&e)?;
    set_str_attr(&file, "encoding-version", "0.1.0").map_err(&e)?;
    let x = file.create_group("X").map_err(&e)?;
    set_str_attr(&x, "encoding-type", "csr_matrix").map_err(&e)?;
    set_str_attr(&x, "encoding-version", "0.1.0").map_err(&e)?;
    x.new_attr::<i64>()
        .shape(2)
        .create("shape")
        .and_then(|a| a.write(&[n_cells as i64, n_peaks as i64]))
        .map_err(&e)?;
    x.new_dataset_builder().with_data(&indptr).create("indptr").map_err(&e)?;
    drop(indptr);
    let chunk = 1usize << 20;
    let indices = x.new_dataset::<i32>().chunk(chunk.min(nnz.max(1))).shape(nnz).create("indices").map_err(&e)?;
    let data = if spec.u8_values {
        x.new_dataset::<u8>().chunk(chunk.min(nnz.max(1))).shape(nnz).create("data")
    } else {
        x.new_dataset::<f32>().chunk(chunk.min(nnz.max(1))).shape(nnz).create("data")
    }
    .map_err(&e)?;
    let ones = vec![1f32; 2 * chunk + n_peaks];
    let ones_u8 = vec![1u8; 2 * chunk + n_peaks];
    let (mut buf, mut written) = (Vec::with_capacity(2 * chunk + n_peaks), 0usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for c in 0..n_cells {
        let p = cell_density(&mut rng, spec);
        cell_row(&mut rng, n_peaks, p, &mut row);
        buf.extend_from_slice(&row);
        if buf.len() >= chunk || c + 1 == n_cells {
            indices.write_slice(buf.as_slice(), written..written + buf.len()).map_err(&e)?;
            if spec.u8_values {
                data.write_slice(&ones_u8[..buf.len()], written..written + buf.len()).map_err(&e)?;
            } else {
                data.write_slice(&ones[..buf.len()], written..written + buf.len()).map_err(&e)?;
            }
            written += buf.len();
            buf.clear();
            on_cells(c + 1);
        }
    }
    write_frame(&file, "obs", (0..n_cells).map(|i| format!("cell{i}"))).map_err(&e)?;
    write_frame(&file, "var", (0..n_peaks).map(|i| format!("chr{}:{}-{}", 1 + i % 22, 1000 * i, 1000 * i + 500)))
        .map_err(&e)?;
    Ok(nnz as u64)
}

/// The size of `gscript bench data`: cells, peaks, density (default 200,000 × 50,000 at 1%).
/// `--cells`, `--peaks`, `--density` (the generated file's size) and `--peer PYTHON` (a Python with anndata, timed
/// reading the same file with `anndata.read_h5ad` in its own process).
/// Usage of `gscript bench data`.
pub const USAGE: &str = "gscript bench data [--cells N] [--peaks N] [--density F] [--peer PYTHON]
  Writes a random sparse cells × peaks .h5ad (default 200,000 × 50,000, density 0.01) and times loading it in a
  child process (seconds, peak memory); --peer PYTHON times anndata.read_h5ad on the same file.";

pub fn from_args(args: &[String]) -> Result<((usize, usize, f64), Option<std::path::PathBuf>)> {
    let mut size = (200_000usize, 50_000usize, 0.01f64);
    let mut peer = None;
    for i in (0..args.len()).step_by(2) {
        let v = super::value_of(args, i)?;
        let bad = || RuntimeError::invalid(&args[i], format!("'{v}' is not a number"));
        match args[i].as_str() {
            "--cells" => size.0 = v.parse().ok().filter(|&x| x > 0).ok_or_else(bad)?,
            "--peaks" => size.1 = v.parse().ok().filter(|&x| x > 0).ok_or_else(bad)?,
            "--density" => size.2 = v.parse().ok().filter(|x| *x > 0.0 && *x < 1.0).ok_or_else(bad)?,
            "--peer" => peer = Some(std::path::PathBuf::from(v)),
            other => {
                return Err(RuntimeError::invalid(
                    other,
                    "unknown option of bench data (--cells, --peaks, --density, --peer)",
                ))
            }
        }
    }
    Ok((size, peer))
}

/// The peer: `anndata.read_h5ad(path)` timed in a fresh Python process, with its peak resident memory (`ru_maxrss`)
/// and the memory before reading (imports), in the same units as [`print_load`].
const PEER_SCRIPT: &str = r#"
import resource, sys, time
import anndata
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
a = anndata.read_h5ad(sys.argv[1])
secs = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"anndata {anndata.__version__} read_h5ad {a.n_obs} cells × {a.n_vars} peaks: {secs:.2f} s, peak RSS {peak:.0f} MiB ({before:.0f} MiB before loading)")
"#;

fn peer_load(python: &Path, path: &Path) -> Result<(), super::BenchError> {
    let out = std::process::Command::new(python)
        .args(["-c", PEER_SCRIPT])
        .arg(path)
        .output()
        .map_err(|e| super::BenchError::Failed(format!("{}: {e}", python.display())))?;
    if out.status.success() {
        print!("{}", String::from_utf8_lossy(&out.stdout));
        Ok(())
    } else {
        Err(super::BenchError::Failed(format!(
            "peer {} failed: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )))
    }
}

/// Generates (once, cached by size in the temporary directory) a cells × peaks .h5ad, then loads it in a fresh
/// process (`gscript bench --load-h5ad`) so that the reported peak memory is the load's own.
pub fn generate_and_load(size: (usize, usize, f64), peer: Option<&Path>) -> Result<(), super::BenchError> {
    let dir = std::env::temp_dir().join("gscript-bench");
    std::fs::create_dir_all(&dir).map_err(|source| RuntimeError::Io { path: dir.clone(), source })?;
    let path = dir.join(format!("random_{}x{}_{}.h5ad", size.0, size.1, size.2));
    if !path.exists() {
        let t = Instant::now();
        let tmp = path.with_extension("partial");
        let nnz = write_random_h5ad(&tmp, size.0, size.1, size.2, 1)?;
        std::fs::rename(&tmp, &path).map_err(|source| RuntimeError::Io { path: path.clone(), source })?;
        println!(
            "generated {} ({:.1}M entries) in {:.1} s",
            path.display(),
            nnz as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
    }
    let exe = std::env::current_exe().map_err(|e| super::BenchError::Failed(e.to_string()))?;
    let status = std::process::Command::new(exe)
        .args(["bench", "--load-h5ad"])
        .arg(&path)
        .status()
        .map_err(|e| super::BenchError::Failed(e.to_string()))?;
    if !status.success() {
        return Err(super::BenchError::Failed(format!("loading {} failed ({status})", path.display())));
    }
    match peer {
        Some(python) => peer_load(python, &path),
        None => Ok(()),
    }
}

/// Loads `path` and prints load time, throughput and peak memory (run in a fresh process so the peak is the load's).
pub fn print_load(path: &Path) -> Result<()> {
    let rss0 = super::probe::peak_rss_bytes().unwrap_or(0);
    let t = Instant::now();
    let d = read_any(path, &LoadOptions::default(), &mut NoProgress, &CancelToken::new())?;
    let secs = t.elapsed().as_secs_f64();
    let rss = super::probe::peak_rss_bytes().unwrap_or(0);
    let nnz = d.matrix.nnz() as f64;
    println!(
        "load_peaks h5ad {} cells × {} peaks, {:.1}M entries ({:.2}% dense): {:.2} s, {:.1}M entries/s, peak RSS {:.0} MiB ({:.0} MiB before loading; {:.1} bytes per entry)",
        d.n_cells(),
        d.n_peaks(),
        nnz / 1e6,
        100.0 * d.density(),
        secs,
        nnz / secs / 1e6,
        rss as f64 / (1 << 20) as f64,
        rss0 as f64 / (1 << 20) as f64,
        (rss.saturating_sub(rss0)) as f64 / nnz
    );
    Ok(())
}
