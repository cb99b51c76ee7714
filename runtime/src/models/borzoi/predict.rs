//! Using a Borzoi: input windows from a genome, track predictions with reverse-complement averaging, per-bin
//! embeddings, variant effects and input × gradient saliency.
//!
//! Encoding follows borzoi-pytorch / Borzoi: one-hot in ACGT order, `N` (and any other letter) all zeros, positions
//! beyond a chromosome end 0.25 in each channel. Reverse-complement averaging is Borzoi's: the prediction for the
//! reverse complement is flipped along the bins and each stranded track read from its strand pair (the targets
//! table's `strand_pair`), then averaged with the forward prediction.

use std::ops::Range;

use tch::{Device, Kind, Tensor};

use super::config::BIN_SIZE;
use super::network::{Borzoi, Species};
use crate::error::{Result, RuntimeError};
use crate::interpret::variants::Variant;
use crate::models::ModelError;
use crate::seq::genome::Genome;

/// `(4, L)` fp32 one-hot of bases: A, C, G, T (either case) → one channel; any other letter (N) → zeros.
pub fn onehot_bases(seq: &[u8]) -> Tensor {
    let mut data = vec![0f32; 4 * seq.len()];
    let l = seq.len();
    for (i, b) in seq.iter().enumerate() {
        let c = match b.to_ascii_uppercase() {
            b'A' => 0,
            b'C' => 1,
            b'G' => 2,
            b'T' => 3,
            _ => continue,
        };
        data[c * l + i] = 1.0;
    }
    Tensor::from_slice(&data).view([4, l as i64])
}

/// The input window `[start, start + len)` of `chrom` as `(4, len)`: bases one-hot, `N` zeros, positions outside
/// the chromosome 0.25.
pub fn window_onehot(genome: &Genome, chrom: &str, start: i64, len: usize) -> Result<Tensor> {
    let chrom_len = genome.chrom_length(chrom).ok_or_else(|| {
        RuntimeError::invalid("region", format!("chromosome `{chrom}` is not in {}", genome.path().display()))
    })? as i64;
    let end = start + len as i64;
    let (a, b) = (start.max(0), end.min(chrom_len));
    let x = Tensor::full([4, len as i64], 0.25, (Kind::Float, Device::Cpu));
    if a < b {
        let bases = genome.fetch(chrom, a, b)?;
        x.narrow(1, a - start, b - a).copy_(&onehot_bases(&bases));
    }
    Ok(x)
}

/// The start of the `len`-bp input window centred on `[start, end)` (centre `(start + end) / 2`, as Borzoi centres
/// genes and variants).
pub fn centred_start(start: u64, end: u64, len: usize) -> i64 {
    ((start + end) / 2) as i64 - (len / 2) as i64
}

/// Genomic coordinates of the returned bins for an input window starting at `start` of length `len`:
/// `(first bin start, bin size)`.
pub fn bin_coordinates(model: &Borzoi, start: i64, len: usize) -> (i64, usize) {
    let (offset, _) = model.config().output_window(len);
    (start + offset as i64, BIN_SIZE)
}

/// What to predict.
#[derive(Clone, Debug)]
pub struct TrackOptions {
    /// Which head.
    pub species: Species,
    /// Track indices of the head (all when `None`).
    pub tracks: Option<Vec<usize>>,
    /// Average with the reverse complement's prediction.
    pub rc_average: bool,
    /// `strand_pairs[i]`: the opposite-strand twin of track `i` (the whole head), for `rc_average`; `None` treats
    /// every track as unstranded.
    pub strand_pairs: Option<Vec<usize>>,
}

impl Default for TrackOptions {
    fn default() -> Self {
        TrackOptions { species: Species::Human, tracks: None, rc_average: true, strand_pairs: None }
    }
}

fn check_tracks(model: &Borzoi, o: &TrackOptions) -> Result<Vec<i64>> {
    let n = model.tracks(o.species).ok_or_else(|| {
        ModelError::invalid("head", format!("this model has no {} head", format!("{:?}", o.species).to_lowercase()))
    })?;
    let tracks: Vec<usize> = o.tracks.clone().unwrap_or_else(|| (0..n).collect());
    if let Some(&bad) = tracks.iter().find(|&&t| t >= n) {
        return Err(RuntimeError::invalid("tracks", format!("track {bad} is out of range: the head has {n} tracks")));
    }
    if let Some(p) = &o.strand_pairs {
        if p.len() != n || p.iter().any(|&j| j >= n) {
            return Err(RuntimeError::invalid(
                "targets",
                format!("the targets table has {} tracks, the {:?} head {n}", p.len(), o.species),
            ));
        }
    }
    Ok(tracks.into_iter().map(|t| t as i64).collect())
}

/// The head restricted to `rows`: softplus(W[rows] · e + b[rows]), `(B, rows, bins)` fp32.
fn head_rows(model: &Borzoi, e: &Tensor, species: Species, rows: &[i64]) -> Result<Tensor> {
    let (w, b) = model.head_weights(species)?;
    let idx = Tensor::from_slice(rows).to_device(w.device());
    let w = w.index_select(0, &idx).to_kind(Kind::Float);
    let b = b.index_select(0, &idx).to_kind(Kind::Float);
    Ok(e.to_kind(Kind::Float).conv1d(&w, Some(&b), [1], [0], [1], 1).softplus())
}

/// `(B, 4, L)` one-hot → `(B, tracks, bins)` fp32 in evaluation mode, averaged with the reverse complement when asked.
pub fn predict_tracks(model: &Borzoi, onehot: &Tensor, o: &TrackOptions) -> Result<Tensor> {
    let tracks = check_tracks(model, o)?;
    let _ng = tch::no_grad_guard();
    let x = onehot.to_device(model.var_store().device()).to_kind(Kind::Float);
    let e = model.embedding(&x, false)?;
    let forward = head_rows(model, &e, o.species, &tracks)?;
    drop(e);
    if !o.rc_average {
        return Ok(forward);
    }
    let pairs: Vec<i64> = match &o.strand_pairs {
        Some(p) => tracks.iter().map(|&t| p[t as usize] as i64).collect(),
        None => tracks.clone(),
    };
    let e_rc = model.embedding(&x.flip([1, 2]), false)?;
    let reverse = head_rows(model, &e_rc, o.species, &pairs)?.flip([2]);
    Ok((forward + reverse) / 2.0)
}

/// `(B, 4, L)` → `(B, embedding_dim, bins)` fp32 in evaluation mode (no reverse complement).
pub fn embed(model: &Borzoi, onehot: &Tensor) -> Result<Tensor> {
    let _ng = tch::no_grad_guard();
    Ok(model.embedding(&onehot.to_device(model.var_store().device()).to_kind(Kind::Float), false)?)
}

/// How a variant's effect on a track is summarised over the returned bins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariantStat {
    /// `Σ alt − Σ ref` (Borzoi's SUM).
    Sum,
    /// `log2((Σ alt + 1) / (Σ ref + 1))` (Borzoi's logSUM-style fold change).
    LogFold,
}

impl VariantStat {
    /// `"sum"` or `"log_fold"`.
    pub fn parse(s: &str) -> Result<VariantStat> {
        match s {
            "sum" => Ok(VariantStat::Sum),
            "log_fold" => Ok(VariantStat::LogFold),
            other => Err(RuntimeError::invalid("stat", format!("unknown stat \"{other}\"; valid: sum, log_fold"))),
        }
    }
}

/// Reference and alternative input windows of a variant: `len` bases centred on the REF allele; the ALT window
/// replaces REF by ALT and keeps `len` bases (an insertion pushes bases out at the right end, a deletion pulls more
/// in). Errors when REF does not match the genome.
pub fn variant_windows(genome: &Genome, v: &Variant, len: usize) -> Result<(Tensor, Tensor)> {
    let p0 = v.start0() as i64;
    let start = centred_start(v.start0(), v.start0() + v.reference.len() as u64, len);
    let reference = window_onehot(genome, &v.chrom, start, len)?;
    let extra = v.reference.len().saturating_sub(v.alt.len());
    let bases = genome.fetch(&v.chrom, start.max(0), start + (len + extra) as i64)?;
    let pad = (-start).max(0) as usize;
    let at = (p0 - start) as usize;
    let found = &bases[at - pad..at - pad + v.reference.len()];
    if !found.eq_ignore_ascii_case(v.reference.as_bytes()) {
        return Err(RuntimeError::invalid(
            "variants",
            format!("{}: REF {} does not match the genome ({})", v.id, v.reference, String::from_utf8_lossy(found)),
        ));
    }
    let mut alt_seq: Vec<u8> = Vec::with_capacity(len + extra);
    alt_seq.extend_from_slice(&bases[..at - pad]);
    alt_seq.extend_from_slice(v.alt.as_bytes());
    alt_seq.extend_from_slice(&bases[at - pad + v.reference.len()..]);
    let alt = reference.copy();
    let in_chrom = genome.chrom_length(&v.chrom).unwrap_or(0) as i64 - start.max(0);
    let n = (len - pad).min(alt_seq.len()).min(in_chrom.max(0) as usize);
    alt.narrow(1, pad as i64, n as i64).copy_(&onehot_bases(&alt_seq[..n]));
    Ok((reference, alt))
}

/// Variant effects: `variants × tracks` scores of `stat` over the returned bins, each variant centred in its own
/// window of the model's input length.
pub fn variant_effects(
    model: &Borzoi,
    genome: &Genome,
    variants: &[Variant],
    o: &TrackOptions,
    stat: VariantStat,
    mut progress: impl FnMut(usize) -> bool,
) -> Result<Vec<Vec<f32>>> {
    let len = model.config().seq_len;
    let mut out = Vec::with_capacity(variants.len());
    for (i, v) in variants.iter().enumerate() {
        let (r, a) = variant_windows(genome, v, len)?;
        let both = Tensor::stack(&[r, a], 0);
        let y = predict_tracks(model, &both, o)?.sum_dim_intlist(-1, false, Kind::Float).to_kind(Kind::Double);
        let (sr, sa) = (y.get(0), y.get(1));
        let score = match stat {
            VariantStat::Sum => sa - sr,
            VariantStat::LogFold => ((sa + 1.0) / (sr + 1.0)).log2(),
        };
        out.push(Vec::<f32>::try_from(score.to_kind(Kind::Float)).map_err(ModelError::from)?);
        if !progress(i + 1) {
            return Err(RuntimeError::Interrupted);
        }
    }
    Ok(out)
}

/// Input × gradient of `Σ tracks over bins` (fp32, evaluation mode): `(L)` per-base attributions (the gradient at
/// the observed base), and the `(4, L)` gradient itself.
pub fn saliency(
    model: &Borzoi,
    onehot: &Tensor,
    species: Species,
    tracks: &[usize],
    bins: Range<usize>,
) -> Result<(Tensor, Tensor)> {
    let o = TrackOptions { species, tracks: Some(tracks.to_vec()), rc_average: false, strand_pairs: None };
    let rows = check_tracks(model, &o)?;
    if bins.start >= bins.end || bins.end > model.config().bins {
        return Err(RuntimeError::invalid(
            "window",
            format!("bins {}..{} are not inside the {} returned bins", bins.start, bins.end, model.config().bins),
        ));
    }
    let x = onehot.to_device(model.var_store().device()).to_kind(Kind::Float).unsqueeze(0).set_requires_grad(true);
    let vars = model.var_store().trainable_variables();
    let grads_before: Vec<bool> = vars.iter().map(Tensor::requires_grad).collect();
    for v in &vars {
        let _ = v.shallow_clone().set_requires_grad(false);
    }
    let result = (|| -> Result<Tensor> {
        let e = model.embedding(&x, false)?;
        let y = head_rows(model, &e, species, &rows)?;
        let s = y.narrow(2, bins.start as i64, (bins.end - bins.start) as i64).sum(Kind::Float);
        Ok(Tensor::run_backward(&[s], &[&x], false, false).remove(0))
    })();
    for (v, g) in vars.iter().zip(grads_before) {
        let _ = v.shallow_clone().set_requires_grad(g);
    }
    let grad = result?.squeeze_dim(0).to_device(Device::Cpu);
    let attribution =
        (&grad * onehot.to_device(Device::Cpu).to_kind(Kind::Float)).sum_dim_intlist(0, false, Kind::Float);
    Ok((attribution, grad))
}
