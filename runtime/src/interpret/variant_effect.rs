//! Variant effects: the model's per-cell prediction for the sequence carrying the ALT allele minus that for the
//! REF sequence. By default the window is centred on the variant (its first REF base at position `L/2`); with
//! [`VariantCentre::Peak`] it is the Keras window of the peak that contains the variant, so that effects are read
//! in the context the model was trained on. Indels keep the window length: bases after the allele shift, and the
//! window is filled from the genome (deletions) or cut (insertions) at its right end.
//!
//! The REF allele is checked against the genome; a mismatch, an unknown chromosome, a position past the chromosome
//! end or a variant outside every peak is reported per variant ([`VariantStatus`]) so the caller can stop or flag.
//! N bases in a window are replaced by seeded random bases once, shared by the REF and ALT sequences.
//!
//! Models with local recomputation ([`SequenceEmbedder::local_embedder`], scBasset) run each distinct REF window
//! once and recompute, for the ALT, only the span from its first to its last base that differs from the REF (one
//! base for an SNV; from the allele to the window's end for an indel, whose tail shifts) widened through the layers
//! ([`super::local`]); variants sharing a window (peak-centred windows) share its REF pass. Other models embed every
//! REF and ALT sequence whole.
//!
//! Sharded ([`variant_effects_on`] with a [`Shard`]): every rank builds every window (cheap), embeds its contiguous
//! part of the scored variants in whole batches of the local recomputation, and the REF and ALT embeddings are
//! all-gathered in rank order, so every rank returns the full result.

use std::collections::HashMap;

use tch::{Device, Kind, Tensor};

use super::local::Mutation;
use super::sharded::Shard;
use super::{embed_all, CellReadout, SequenceEmbedder, Variant};
use crate::data::PeakSet;
use crate::error::Result;
use crate::models::scbasset::DenoiseScale;
use crate::progress::{CancelToken, Progress};
use crate::seq::codes::{encode_into, NResolver};
use crate::seq::Genome;

/// Where each variant's input window lies.
pub enum VariantCentre<'a> {
    /// Centred on the variant.
    Variant,
    /// The model window of the peak containing the variant.
    Peak(&'a PeakSet),
}

/// What happened to one variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VariantStatus {
    Ok,
    /// The genome has `found` where the REF allele should be.
    RefMismatch {
        found: String,
    },
    UnknownChromosome,
    /// The REF allele runs past the end of the chromosome (its length given).
    OutsideChromosome {
        length: u64,
    },
    /// No peak contains the variant (peak-centred windows only).
    NotInPeak,
}

impl VariantStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, VariantStatus::Ok)
    }
    /// A short label for tables: `ok`, `ref_mismatch`, `unknown_chromosome`, `outside_chromosome`, `not_in_peak`.
    pub fn label(&self) -> &'static str {
        match self {
            VariantStatus::Ok => "ok",
            VariantStatus::RefMismatch { .. } => "ref_mismatch",
            VariantStatus::UnknownChromosome => "unknown_chromosome",
            VariantStatus::OutsideChromosome { .. } => "outside_chromosome",
            VariantStatus::NotInPeak => "not_in_peak",
        }
    }
    /// A sentence for error messages.
    pub fn describe(&self, v: &Variant, genome: &Genome) -> String {
        match self {
            VariantStatus::Ok => format!("{}: ok", v.id),
            VariantStatus::RefMismatch { found } => format!(
                "{}: REF is {} but {} has {found} at {}:{} (is the genome the same build as the variants?)",
                v.id,
                v.reference,
                genome.path().display(),
                v.chrom,
                v.pos
            ),
            VariantStatus::UnknownChromosome => {
                format!("{}: chromosome `{}` is not in {}", v.id, v.chrom, genome.path().display())
            }
            VariantStatus::OutsideChromosome { length } => {
                format!("{}: position {} is past the end of {} ({length} bp)", v.id, v.pos, v.chrom)
            }
            VariantStatus::NotInPeak => format!("{}: no peak contains {}:{}", v.id, v.chrom, v.pos),
        }
    }
}

/// Embeddings of the REF and ALT sequences of each variant.
pub struct VariantEffects {
    pub status: Vec<VariantStatus>,
    /// The peak whose window was used (peak-centred windows), per variant.
    pub peak: Vec<Option<usize>>,
    /// `(n, D)` fp32 on the CPU; rows of variants whose status is not ok are zeros.
    pub z_ref: Tensor,
    pub z_alt: Tensor,
}

impl VariantEffects {
    /// Per-cell effects `(n_variants, n_cells)`: value(ALT) − value(REF) on `scale`; NaN rows for variants that
    /// were not scored.
    pub fn per_cell(&self, readout: &CellReadout, scale: DenoiseScale) -> Tensor {
        tch::no_grad(|| {
            let dev = readout.weights.device();
            let d =
                readout.values(&self.z_alt.to_device(dev), scale) - readout.values(&self.z_ref.to_device(dev), scale);
            let ok: Vec<bool> = self.status.iter().map(|s| s.is_ok()).collect();
            let mask = Tensor::from_slice(&ok).to_device(dev).unsqueeze(1);
            d.where_self(&mask, &Tensor::full([1], f64::NAN, (Kind::Float, dev))).to_device(Device::Cpu)
        })
    }
}

/// Peaks by chromosome, sorted by start, for "which peak contains this position".
struct PeakIndex<'a> {
    by_chrom: HashMap<&'a str, Vec<usize>>,
    peaks: &'a PeakSet,
}

impl<'a> PeakIndex<'a> {
    fn new(peaks: &'a PeakSet) -> Self {
        let mut by_chrom: HashMap<&str, Vec<usize>> = HashMap::new();
        for i in 0..peaks.len() {
            by_chrom.entry(peaks.chrom[i].as_str()).or_default().push(i);
        }
        for v in by_chrom.values_mut() {
            v.sort_by_key(|&i| (peaks.start[i], peaks.end[i]));
        }
        PeakIndex { by_chrom, peaks }
    }

    /// The peak containing 0-based `pos` whose centre is nearest to it.
    fn containing(&self, chrom: &str, pos: u64) -> Option<usize> {
        let list = self.by_chrom.get(chrom)?;
        let p = self.peaks;
        let upto = list.partition_point(|&i| p.start[i] <= pos);
        list[..upto]
            .iter()
            .rev()
            .take(64)
            .filter(|&&i| p.end[i] > pos)
            .min_by_key(|&&i| ((p.start[i] + p.end[i]) / 2).abs_diff(pos))
            .copied()
    }
}

/// REF and ALT codes of one variant whose first REF base is at `offset` in a window starting at `ws`.
/// A model input window: genomic start `ws` (may be negative: N-padded) and the variant's offset in it.
struct Window {
    ws: i64,
    offset: usize,
}

fn build(
    genome: &Genome,
    v: &Variant,
    win: Window,
    len: usize,
    seed: u64,
    ref_out: &mut Vec<u8>,
    alt_out: &mut Vec<u8>,
) -> Result<VariantStatus> {
    let Window { ws, offset } = win;
    let rlen = v.reference.len();
    let Some(chrom_len) = genome.chrom_length(&v.chrom) else {
        return Ok(VariantStatus::UnknownChromosome);
    };
    if v.start0() + rlen as u64 > chrom_len {
        return Ok(VariantStatus::OutsideChromosome { length: chrom_len });
    }
    let mut raw = genome.fetch(&v.chrom, ws, ws + (len + rlen) as i64)?;
    raw.make_ascii_uppercase();
    let found = &raw[offset..offset + rlen];
    let matches = found.iter().zip(v.reference.bytes()).all(|(&g, r)| r == b'N' || g == r);
    if !matches {
        return Ok(VariantStatus::RefMismatch { found: String::from_utf8_lossy(found).into_owned() });
    }
    let mut codes = Vec::with_capacity(raw.len());
    encode_into(&raw, &mut NResolver::new(seed), &mut codes);
    ref_out.extend_from_slice(&codes[..len]);
    let start = alt_out.len();
    alt_out.extend_from_slice(&codes[..offset]);
    let mut alt_codes = Vec::new();
    encode_into(v.alt.as_bytes(), &mut NResolver::new(seed), &mut alt_codes);
    alt_out.extend_from_slice(&alt_codes);
    alt_out.extend_from_slice(&codes[offset + rlen..]);
    alt_out.truncate(start + len);
    Ok(VariantStatus::Ok)
}

/// Embeds the REF and ALT sequences of `variants`.
pub fn variant_effects(
    model: &dyn SequenceEmbedder,
    genome: &Genome,
    variants: &[Variant],
    centre: VariantCentre,
    seed: u64,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<VariantEffects> {
    variant_effects_on(model, genome, variants, centre, seed, None, progress, cancel)
}

/// [`variant_effects`], sharded over the ranks of `shard` when given (see the module docs): this rank embeds its
/// part of the scored variants, in whole batches, and every rank returns the full result. Every rank of the group
/// must call it with the same arguments.
#[allow(clippy::too_many_arguments)]
pub fn variant_effects_on(
    model: &dyn SequenceEmbedder,
    genome: &Genome,
    variants: &[Variant],
    centre: VariantCentre,
    seed: u64,
    shard: Option<&Shard>,
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<VariantEffects> {
    let len = model.seq_len();
    let index = match &centre {
        VariantCentre::Peak(p) => Some(PeakIndex::new(p)),
        VariantCentre::Variant => None,
    };
    let (mut refs, mut alts) = (Vec::new(), Vec::new());
    let mut status = Vec::with_capacity(variants.len());
    let mut peak = Vec::with_capacity(variants.len());
    let mut scored = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        cancel.check()?;
        crate::threads::adapt();
        let (ws, offset, p) = match &index {
            None => (v.start0() as i64 - (len / 2) as i64, len / 2, None),
            Some(ix) => match ix.containing(&v.chrom, v.start0()) {
                None => {
                    status.push(VariantStatus::NotInPeak);
                    peak.push(None);
                    continue;
                }
                Some(k) => {
                    let centre = (ix.peaks.start[k] + ix.peaks.end[k]) / 2;
                    let ws = centre as i64 - (len / 2) as i64;
                    let offset = v.start0() as i64 - ws;
                    if offset < 0 || offset as usize + v.reference.len() > len {
                        status.push(VariantStatus::NotInPeak);
                        peak.push(None);
                        continue;
                    }
                    (ws, offset as usize, Some(k))
                }
            },
        };
        let s = build(
            genome,
            v,
            Window { ws, offset },
            len,
            super::insertion::mix_seed(seed, i as u64),
            &mut refs,
            &mut alts,
        )?;
        if s.is_ok() {
            scored.push(i as i64);
        }
        status.push(s);
        peak.push(p);
    }
    let d = model.embedding_dim() as i64;
    let n = variants.len() as i64;
    let (mut z_ref, mut z_alt) =
        (Tensor::zeros([n, d], (Kind::Float, Device::Cpu)), Tensor::zeros([n, d], (Kind::Float, Device::Cpu)));
    if !scored.is_empty() {
        let k = scored.len();
        let unit = model.batch_size().max(1) * LOCAL_BATCHES;
        let mine = shard.map_or(0..k, |sh| sh.range_in_units(k, unit));
        let (refs, alts) = (&refs[mine.start * len..mine.end * len], &alts[mine.start * len..mine.end * len]);
        let m = mine.len() as i64;
        let (zr, za) = if m == 0 {
            let empty = || Tensor::zeros([0, d], (Kind::Float, Device::Cpu));
            (empty(), empty())
        } else {
            match embed_local(model, refs, alts, progress, cancel)? {
                Some(z) => z,
                None => {
                    let both: Vec<u8> = refs.iter().chain(alts.iter()).copied().collect();
                    let z = embed_all(model, &both, "variant effects", progress, cancel)?.to_device(Device::Cpu);
                    (z.narrow(0, 0, m), z.narrow(0, m, m))
                }
            }
        };
        let (zr, za) = match shard {
            Some(sh) => (sh.gather_rows(&zr, k, unit)?, sh.gather_rows(&za, k, unit)?),
            None => (zr, za),
        };
        let idx = Tensor::from_slice(&scored);
        tch::no_grad(|| {
            let _ = z_ref.index_copy_(0, &idx, &zr);
            let _ = z_alt.index_copy_(0, &idx, &za);
        });
    }
    Ok(VariantEffects { status, peak, z_ref, z_alt })
}

/// Distinct REF windows cached per local embedder (their activations at every layer are held).
const LOCAL_REFERENCES: usize = 64;

/// Mutants embedded per step of the local recomputation, in model batches.
const LOCAL_BATCHES: usize = 4;

/// `(z_ref, z_alt)` `(n, D)` fp32 on the CPU by local recomputation (see the module docs), or `None` when the model
/// has none. `refs` and `alts` are `n` windows each, concatenated.
fn embed_local(
    model: &dyn SequenceEmbedder,
    refs: &[u8],
    alts: &[u8],
    progress: &mut dyn Progress,
    cancel: &CancelToken,
) -> Result<Option<(Tensor, Tensor)>> {
    let len = model.seq_len();
    let n = refs.len() / len;
    // Distinct REF windows in order of first use, and each variant's.
    let mut distinct: HashMap<&[u8], usize> = HashMap::new();
    let mut unique: Vec<usize> = Vec::new();
    let which: Vec<usize> = refs
        .chunks(len)
        .enumerate()
        .map(|(i, w)| {
            *distinct.entry(w).or_insert_with(|| {
                unique.push(i);
                unique.len() - 1
            })
        })
        .collect();
    let d = model.embedding_dim() as i64;
    let (z_ref, z_alt) = (
        Tensor::zeros([n as i64, d], (Kind::Float, Device::Cpu)),
        Tensor::zeros([n as i64, d], (Kind::Float, Device::Cpu)),
    );
    let batch = model.batch_size().max(1) * LOCAL_BATCHES;
    let mut done = 0usize;
    for u0 in (0..unique.len()).step_by(LOCAL_REFERENCES) {
        let u1 = (u0 + LOCAL_REFERENCES).min(unique.len());
        let codes: Vec<u8> =
            unique[u0..u1].iter().flat_map(|&i| refs[i * len..(i + 1) * len].iter().copied()).collect();
        let Some(local) = model.local_embedder(&codes) else { return Ok(None) };
        let local = local?;
        if u0 == 0 {
            progress.start("variant effects", Some(n as u64));
        }
        let zr = local.reference_embeddings().to_device(Device::Cpu);
        let members: Vec<usize> = (0..n).filter(|&i| (u0..u1).contains(&which[i])).collect();
        for part in members.chunks(batch) {
            cancel.check()?;
            crate::threads::adapt();
            let (mut rows, mut muts, mut same) = (Vec::new(), Vec::new(), Vec::new());
            for &i in part {
                let (r, a) = (&refs[i * len..(i + 1) * len], &alts[i * len..(i + 1) * len]);
                let u = which[i] - u0;
                tch::no_grad(|| {
                    z_ref.get(i as i64).copy_(&zr.get(u as i64));
                });
                match (r.iter().zip(a).position(|(x, y)| x != y), r.iter().zip(a).rposition(|(x, y)| x != y)) {
                    (Some(first), Some(last)) => {
                        rows.push(i as i64);
                        muts.push(Mutation { reference: u, start: first, bases: a[first..=last].to_vec() });
                    }
                    // the ALT window equals the REF window (e.g. an allele that repeats its neighbours)
                    _ => same.push(i),
                }
            }
            for i in same {
                tch::no_grad(|| {
                    z_alt.get(i as i64).copy_(&z_ref.get(i as i64));
                });
            }
            if !muts.is_empty() {
                let z = local.embed_mutants(&muts)?.to_device(Device::Cpu);
                tch::no_grad(|| {
                    let _ = z_alt.shallow_clone().index_copy_(0, &Tensor::from_slice(&rows), &z);
                });
            }
            done += part.len();
            progress.update(done as u64, "");
        }
    }
    progress.finish(&format!("{n} variants embedded"));
    Ok(Some((z_ref, z_alt)))
}
