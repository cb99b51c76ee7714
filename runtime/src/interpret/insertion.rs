//! TF activity by motif insertion (`motif_score` in calico/scBasset `scbasset/utils.py`): for each motif, sequences
//! sampled from its PWM are written over the centre of dinucleotide-shuffled peak sequences; a cell's score is the mean
//! change in its predicted accessibility against the unmodified backgrounds, z-scored across cells (ddof = 0).
//!
//! The original reads 1,000 pre-shuffled peaks and one FASTA per motif from disk; here both are generated in
//! memory, seeded: background `i` is peak `sample[i]` shuffled with its own generator, and motif `m`'s instance `i`
//! comes from a generator seeded by `(seed, m)`, so results do not depend on batch size or on which other motifs
//! are scored. The background pass runs once; motif sequences stream through the model in batches that span motifs.

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::sharded::Shard;
use super::{embed_all, embed_stream, zscore_rows, CellReadout, Mutation, SequenceEmbedder};
use crate::error::{Result, RuntimeError};
use crate::models::scbasset::DenoiseScale;
use crate::motif::Motif;
use crate::progress::{CancelToken, Progress};
use crate::seq::codes::base_code;
use crate::seq::shuffle::dinucleotide_shuffle;

/// Settings of [`insert_motifs`].
#[derive(Clone, Debug)]
pub struct InsertionOptions {
    /// Seed of the motif instances (backgrounds have their own seed, see [`sample_backgrounds`]).
    pub seed: u64,
    /// Scale on which predictions are compared: `Sigmoid` = σ(z·w_c) (Keras `motif_score`), `Logit` = z·w_c
    /// (scvi-tools `get_tf_activity`), `None` = σ(z·w_c + b_c).
    pub scale: DenoiseScale,
}

impl Default for InsertionOptions {
    fn default() -> Self {
        InsertionOptions { seed: 10, scale: DenoiseScale::Sigmoid }
    }
}

/// Per-cell TF activity of a list of motifs.
#[derive(Clone, Debug)]
pub struct TfActivity {
    /// Motif names (or ids when a motif has no name), one per row.
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub n_cells: usize,
    /// `(n_motifs, n_cells)` row-major: mean over instances of motif − background, on the chosen scale.
    pub difference: Vec<f32>,
    /// The same, z-scored across cells per motif (a constant row gives zeros).
    pub zscore: Vec<f32>,
    /// Number of background sequences used.
    pub n_background: usize,
}

/// A 64-bit mix of a seed and an index (SplitMix64), so that generators for neighbouring indices are unrelated.
pub(crate) fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which peaks serve as backgrounds: `n` indices into `0..n_peaks`, without replacement when `n ≤ n_peaks`;
/// otherwise every peak `⌊n / n_peaks⌋` times plus a random subset (each copy is shuffled differently).
pub fn sample_backgrounds(n_peaks: usize, n: usize, seed: u64) -> Result<Vec<usize>> {
    if n_peaks == 0 {
        return Err(RuntimeError::invalid("peaks", "no peaks to build backgrounds from"));
    }
    if n == 0 {
        return Err(RuntimeError::invalid("n_background", "must be at least 1"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, u64::MAX));
    let mut out: Vec<usize> = Vec::with_capacity(n);
    for _ in 0..n / n_peaks {
        out.extend(0..n_peaks);
    }
    out.extend(sample(&mut rng, n_peaks, n % n_peaks));
    Ok(out)
}

/// Dinucleotide-shuffles each `len`-long sequence of `codes` (one generator per sequence, seeded by `(seed, i)`).
pub fn shuffle_backgrounds(codes: &[u8], len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(codes.len());
    for (i, s) in codes.chunks(len).enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, i as u64));
        out.extend(dinucleotide_shuffle(s, &mut rng));
    }
    out
}

/// `n` instances of `motif` (each `width` codes), from a generator seeded by `(seed, index)`.
fn motif_instances(motif: &Motif, index: usize, n: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, index as u64));
    let mut out = Vec::with_capacity(n * motif.width());
    for _ in 0..n {
        out.extend(motif.sample_sequence(&mut rng).into_iter().map(|b| base_code(b).unwrap_or(0)));
    }
    out
}

/// 0-based start of an inserted motif of width `w` in a sequence of length `len`: `len/2 − ⌊w/2⌋`.
pub fn insertion_start(len: usize, w: usize) -> usize {
    len / 2 - w / 2
}

/// Display names: the motif's name, or its id when it has none or the name is not unique in the list.
pub fn motif_labels(motifs: &[Motif]) -> Vec<String> {
    let mut count = std::collections::HashMap::new();
    for m in motifs {
        *count.entry(m.name.as_str()).or_insert(0usize) += 1;
    }
    motifs
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                m.id.clone()
            } else if count[m.name.as_str()] > 1 {
                format!("{} ({})", m.name, m.id)
            } else {
                m.name.clone()
            }
        })
        .collect()
}

/// TF activity of every motif in `motifs` for every cell of `readout`, against `backgrounds` (concatenated codes of
/// shuffled sequences of the model's length; see [`shuffle_backgrounds`]).
pub fn insert_motifs(
    model: &dyn SequenceEmbedder,
    readout: &CellReadout,
    motifs: &[Motif],
    backgrounds: &[u8],
    opts: &InsertionOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<TfActivity> {
    insert_motifs_on(model, readout, motifs, backgrounds, opts, None, progress, cancel)
}

/// [`insert_motifs`], sharded over the ranks of `shard` when given: this rank inserts its part of the motifs (and
/// embeds its part of the backgrounds), and the rows are gathered so that every rank returns the full result.
/// Every rank of the group must call it with the same arguments.
#[allow(clippy::too_many_arguments)]
pub fn insert_motifs_on(
    model: &dyn SequenceEmbedder,
    readout: &CellReadout,
    motifs: &[Motif],
    backgrounds: &[u8],
    opts: &InsertionOptions,
    shard: Option<&Shard>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<TfActivity> {
    let len = model.seq_len();
    if motifs.is_empty() {
        return Err(RuntimeError::invalid("motifs", "the motif set is empty"));
    }
    if let Some(m) = motifs.iter().find(|m| m.width() == 0 || m.width() > len) {
        return Err(RuntimeError::invalid(
            "motifs",
            format!("motif {} is {} bp wide; it must fit in the model's {len}-bp input", m.id, m.width()),
        ));
    }
    if backgrounds.is_empty() || !backgrounds.len().is_multiple_of(len) {
        return Err(RuntimeError::invalid(
            "backgrounds",
            format!("{} bases are not a whole number of {len}-bp sequences", backgrounds.len()),
        ));
    }
    let n_bg = backgrounds.len() / len;
    let n_cells = readout.n_cells();
    let device = model.device();
    let (scale, linear) = (opts.scale, opts.scale == DenoiseScale::Logit);

    let z_bg = match shard {
        None => embed_all(model, backgrounds, "embedding backgrounds", progress, cancel)?,
        Some(sh) => {
            // Whole batches of the single-process pass, so that every embedding is the same bits.
            let unit = model.batch_size();
            let r = sh.range_in_units(n_bg, unit);
            let mine = &backgrounds[r.start * len..r.end * len];
            sh.gather_rows(&embed_all(model, mine, "embedding backgrounds", progress, cancel)?, n_bg, unit)?
        }
    };
    let bg_mean = tch::no_grad(|| readout.values(&z_bg, scale).mean_dim(Some([0i64].as_slice()), false, Kind::Float));

    // This rank's motifs (all of them in one process): `motifs[j]` is motif `first + j` of the full list, whose
    // instances are seeded by that index.
    let all_motifs = motifs;
    let mine = shard.map_or(0..motifs.len(), |sh| sh.range(motifs.len()));
    let (first, motifs) = (mine.start, &motifs[mine]);
    // Sums per motif: of z (logit scale, projected at the end) or of per-cell values.
    let width = if linear { model.embedding_dim() } else { n_cells } as i64;
    let mut acc = Tensor::zeros([motifs.len() as i64, width], (Kind::Float, device));
    let mut cached: Option<(usize, Vec<u8>)> = None;
    let total = motifs.len() * n_bg;
    let accumulate = |acc: &mut Tensor, ids: &[i64], z: &Tensor| {
        let index = Tensor::from_slice(ids).to_device(device);
        tch::no_grad(|| {
            let v = if linear { z.shallow_clone() } else { readout.values(z, scale) };
            let _ = acc.index_add_(0, &index, &v);
        });
    };
    // A rank without motifs (fewer motifs than ranks) only takes part in the gathers.
    if !motifs.is_empty()
        && !insert_local(model, motifs, first, backgrounds, opts, progress, cancel, |ids, z| {
            accumulate(&mut acc, ids, z)
        })?
    {
        embed_stream(
            model,
            total,
            "inserting motifs",
            progress,
            cancel,
            |range, buf| {
                for k in range {
                    let (m, i) = (k / n_bg, k % n_bg);
                    if cached.as_ref().is_none_or(|(c, _)| *c != m) {
                        cached = Some((m, motif_instances(&motifs[m], first + m, n_bg, opts.seed)));
                    }
                    let inst = &cached.as_ref().unwrap().1;
                    let w = motifs[m].width();
                    let s = insertion_start(len, w);
                    let start = buf.len();
                    buf.extend_from_slice(&backgrounds[i * len..(i + 1) * len]);
                    buf[start + s..start + s + w].copy_from_slice(&inst[i * w..(i + 1) * w]);
                }
                Ok(())
            },
            |range, z| {
                let ids: Vec<i64> = range.map(|k| (k / n_bg) as i64).collect();
                accumulate(&mut acc, &ids, z);
                Ok(())
            },
        )?;
    }
    if let Some(sh) = shard {
        acc = sh.gather_rows(&acc, all_motifs.len(), 1)?;
    }
    let motifs = all_motifs;
    let (difference, zscore) = tch::no_grad(|| {
        let mean = &acc / n_bg as f64;
        let per_cell = if linear { readout.values(&mean, scale) } else { mean };
        let diff = per_cell - bg_mean.unsqueeze(0);
        let z = zscore_rows(&diff);
        (diff, z)
    });
    let flat =
        |t: Tensor| -> Result<Vec<f32>> { Ok(Vec::try_from(t.to_device(tch::Device::Cpu).contiguous().view([-1]))?) };
    Ok(TfActivity {
        names: motif_labels(motifs),
        ids: motifs.iter().map(|m| m.id.clone()).collect(),
        n_cells,
        difference: flat(difference)?,
        zscore: flat(zscore)?,
        n_background: n_bg,
    })
}

/// Backgrounds per [`LocalEmbedder`] cache (about 1 MB of cached activations each for the Keras network).
const LOCAL_BACKGROUNDS: usize = 128;

/// Motif insertion by local recomputation (an equal-length edit of each background at [`insertion_start`]), when the
/// model supports it: `consume(motif indices, z)` receives the embeddings. Returns false, having done nothing, when it
/// does not.
#[allow(clippy::too_many_arguments)]
fn insert_local(
    model: &dyn SequenceEmbedder,
    motifs: &[Motif],
    first: usize,
    backgrounds: &[u8],
    opts: &InsertionOptions,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
    mut consume: impl FnMut(&[i64], &Tensor),
) -> Result<bool> {
    let len = model.seq_len();
    let n_bg = backgrounds.len() / len;
    let total = motifs.len() * n_bg;
    let batch = model.batch_size().max(1) * 4;
    let mut done = 0usize;
    for c0 in (0..n_bg).step_by(LOCAL_BACKGROUNDS) {
        let c1 = (c0 + LOCAL_BACKGROUNDS).min(n_bg);
        let Some(local) = model.local_embedder(&backgrounds[c0 * len..c1 * len]) else {
            return Ok(false);
        };
        let local = local?;
        if c0 == 0 {
            progress.start("inserting motifs", Some(total as u64));
        }
        let mut pending: Vec<(i64, Mutation)> = Vec::with_capacity(batch);
        let mut flush = |pending: &mut Vec<(i64, Mutation)>, done: &mut usize| -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            cancel.check()?;
            crate::threads::adapt();
            let (ids, muts): (Vec<i64>, Vec<Mutation>) = std::mem::take(pending).into_iter().unzip();
            let z = local.embed_mutants(&muts)?;
            consume(&ids, &z);
            *done += ids.len();
            progress.update(*done as u64, "");
            Ok(())
        };
        for (m, motif) in motifs.iter().enumerate() {
            let w = motif.width();
            let start = insertion_start(len, w);
            let inst = motif_instances(motif, first + m, n_bg, opts.seed);
            for i in c0..c1 {
                let bases = inst[i * w..(i + 1) * w].to_vec();
                pending.push((m as i64, Mutation { reference: i - c0, start, bases }));
                if pending.len() >= batch {
                    flush(&mut pending, &mut done)?;
                }
            }
        }
        flush(&mut pending, &mut done)?;
    }
    progress.finish(&format!("{total} sequences embedded"));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motif::{parse_meme, STRING_SOURCE};

    #[test]
    fn backgrounds_cover_peaks_and_repeat_when_few() {
        let s = sample_backgrounds(10, 4, 1).unwrap();
        assert_eq!(s.len(), 4);
        let mut u = s.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 4, "without replacement");
        let s = sample_backgrounds(3, 7, 1).unwrap();
        for p in 0..3 {
            assert!(s.iter().filter(|&&x| x == p).count() >= 2);
        }
        assert!(sample_backgrounds(0, 5, 1).is_err());
        assert_eq!(sample_backgrounds(10, 4, 1).unwrap(), sample_backgrounds(10, 4, 1).unwrap());
    }

    #[test]
    fn shuffles_keep_dinucleotides_and_differ() {
        let a: Vec<u8> = (0..200u32).map(|i| ((i * 7 + i / 3) % 4) as u8).collect();
        let codes: Vec<u8> = a.iter().chain(a.iter()).copied().collect();
        let s = shuffle_backgrounds(&codes, 200, 3);
        let counts = |x: &[u8]| {
            let mut c = [0usize; 16];
            for p in x.windows(2) {
                c[(p[0] * 4 + p[1]) as usize] += 1;
            }
            c
        };
        assert_eq!(counts(&s[..200]), counts(&a));
        assert_eq!(counts(&s[200..]), counts(&a));
        assert_ne!(&s[..200], &s[200..], "each background has its own shuffle");
    }

    #[test]
    fn instances_follow_the_pwm_and_the_seed() {
        let text = "MEME version 4\n\nMOTIF M1 one\nletter-probability matrix: alength= 4 w= 3\n1 0 0 0\n0 0 0 1\n0.5 0.5 0 0\n";
        let set = parse_meme(text, STRING_SOURCE).unwrap();
        let m = &set.motifs[0];
        let x = motif_instances(m, 0, 50, 7);
        for i in 0..50 {
            assert_eq!(x[3 * i], 0);
            assert_eq!(x[3 * i + 1], 3);
            assert!(x[3 * i + 2] <= 1);
        }
        assert_eq!(x, motif_instances(m, 0, 50, 7));
        assert_ne!(x, motif_instances(m, 1, 50, 7));
        assert_eq!(insertion_start(1344, 19), 672 - 9);
    }
}
