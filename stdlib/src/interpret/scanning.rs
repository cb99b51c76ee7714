//! `scan_motifs(sequences, motifs, options)`: FIMO-style motif scanning (log-odds scores, exact p-values from the
//! score distribution, both strands), with PWM–ISM scores that label ISM peaks with the motifs found there.

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, FnDoc, OptDefault, Registrar};
use gscript_runtime::motif::{pwm_ism_score, Pssm};

/// FIMO's default `--motif-pseudo`: a count added, spread by the background, to every motif position.
const FIMO_PSEUDOCOUNT: f64 = 0.1;
/// The site count MEME-suite tools assume when a motif file does not give `nsites`.
const DEFAULT_NSITES: f64 = 20.0;

use super::ism::IsmResult;
use super::motifs::motif_list;
use super::{genome_option, sequence_input, SequenceInput};
use crate::bridge::{in_argument, register2, ScriptResult};
use crate::values::{Column, Table};

/// Hits table under construction.
#[derive(Default)]
struct Hits {
    seq: Vec<i64>,
    motif: Vec<String>,
    id: Vec<String>,
    start: Vec<i64>,
    end: Vec<i64>,
    strand: Vec<String>,
    score: Vec<f64>,
    p: Vec<f64>,
    matched: Vec<String>,
    chrom: Vec<String>,
    gstart: Vec<i64>,
    pwm_ism: Vec<Vec<f64>>,
}

pub fn register(reg: &mut Registrar) {
    let doc = FnDoc::new("scan_motifs", "interpret", "scan_motifs(sequences: string | array | map, motifs: MotifSet | Motif, options?: map) -> Table", "Finds motif occurrences on both strands with exact p-values (FIMO's method).")
        .details(
            "Scores are log2-odds against the motif's background after adding `pseudocount` counts spread by the background to each \
             position (FIMO's --motif-pseudo, default 0.1, over the motif's nsites, 20 when the file does not say). p-values are exact: the score matrix is discretised to 1,000 steps and the score \
             distribution computed by dynamic programming, as FIMO does. `sequences` is a DNA string, a region (with a genome), or an array of \
             either. Columns: [sequence], motif, id, start, end (0-based, end excluded, forward strand), strand, score, p_value, matched, \
             [chrom, genomic_start for regions], and with `ism` the PWM–ISM score per ISM row: the dot product of the motif's probability \
             matrix with the normalised ISM over the hit (reverse-complemented for − hits), as the scBasset motif notebook computes it.",
        )
        .opt("p", "float", OptDefault::Float(1e-4), "report hits with p-value ≤ p")
        .opt("pseudocount", "float", OptDefault::Float(FIMO_PSEUDOCOUNT), "pseudo-counts added to each position (FIMO's --motif-pseudo)")
        .opt("genome", "Genome", OptDefault::None, "genome for regions")
        .opt("data", "PeakDataset", OptDefault::None, "a dataset whose genome serves regions")
        .opt("ism", "IsmResult", OptDefault::None, "add PWM–ISM scores from an ISM result of the same sequence")
        .example("let hits = scan_motifs(\"TTTGATAAGGCTTTTCCACGCGGTGGCGGAAGTTT\", jaspar_motifs().select([\"GATA1\", \"CTCF\"]), #{p: 1e-3});\nprint(hits);");
    register2(reg, doc, |seqs: Dynamic, motifs: Dynamic, o| {
        const P: &str = "scan_motifs";
        let motifs = motif_list(P, &motifs)?;
        let p = o.float("p")?.unwrap_or(1e-4);
        if !(p > 0.0 && p <= 1.0) {
            return Err(primitive_error(P, Some("p"), &format!("{p} is not a p-value threshold in (0, 1]")));
        }
        let pc = o.float("pseudocount")?.unwrap_or(FIMO_PSEUDOCOUNT);
        if !(pc.is_finite() && pc >= 0.0) {
            return Err(primitive_error(P, Some("pseudocount"), "must be a finite number ≥ 0"));
        }
        let genome = genome_option(P, o)?;
        let g = genome.as_ref().map(|g| g.0.as_ref());
        let (inputs, many): (Vec<SequenceInput>, bool) = match seqs.clone().try_cast::<Array>() {
            Some(arr) => {
                (arr.iter().map(|v| sequence_input(P, "sequences", v, g, None)).collect::<ScriptResult<_>>()?, true)
            }
            None => (vec![sequence_input(P, "sequences", &seqs, g, None)?], false),
        };
        let ism = match o.raw("ism") {
            None => None,
            Some(v) => Some(
                v.clone()
                    .try_cast::<IsmResult>()
                    .ok_or_else(|| primitive_error(P, Some("ism"), "expected an IsmResult from ism()"))?,
            ),
        };
        // Offset from scanned-sequence coordinates to ISM window coordinates.
        let ism_offset = match &ism {
            None => None,
            Some(r) => {
                if many {
                    return Err(primitive_error(
                        P,
                        Some("ism"),
                        "PWM–ISM scores need a single sequence, the one ISM was run on",
                    ));
                }
                let input = &inputs[0];
                let d = &r.0;
                let offset = match (&input.locus, &d.locus) {
                    (Some((c1, s1)), Some((c2, s2))) if c1 == c2 => s1 - (s2 + d.positions.start as i64),
                    _ if input.bases.eq_ignore_ascii_case(&d.bases) => -(d.positions.start as i64),
                    _ => {
                        return Err(primitive_error(
                            P,
                            Some("ism"),
                            "the ISM result is for another sequence (give the same region or DNA string)",
                        ))
                    }
                };
                Some(offset)
            }
        };
        let pssms: Vec<Pssm> = motifs
            .iter()
            .map(|m| {
                Pssm::new(m, pc / m.n_sites.filter(|n| *n > 0.0).unwrap_or(DEFAULT_NSITES))
                    .map_err(in_argument(P, "motifs"))
            })
            .collect::<ScriptResult<_>>()?;
        let labels = gscript_runtime::interpret::insertion::motif_labels(&motifs);
        let norm: Vec<Vec<[f32; 4]>> =
            ism.as_ref().map(|r| (0..r.0.names.len()).map(|i| r.0.normalised(i)).collect()).unwrap_or_default();
        let mut h = Hits { pwm_ism: vec![Vec::new(); norm.len()], ..Hits::default() };
        for (si, input) in inputs.iter().enumerate() {
            for (mi, pssm) in pssms.iter().enumerate() {
                for hit in pssm.scan(&input.bases, p) {
                    h.seq.push(si as i64);
                    h.motif.push(labels[mi].clone());
                    h.id.push(motifs[mi].id.clone());
                    h.start.push(hit.start as i64);
                    h.end.push(hit.end as i64);
                    h.strand.push(hit.strand.to_string());
                    h.score.push(hit.score);
                    h.p.push(hit.p_value);
                    h.matched.push(hit.matched.clone());
                    if let Some((c, s)) = &input.locus {
                        h.chrom.push(c.clone());
                        h.gstart.push(s + hit.start as i64);
                    }
                    if let Some(off) = ism_offset {
                        let at = hit.start as i64 + off;
                        for (r, rows) in norm.iter().enumerate() {
                            let v = usize::try_from(at)
                                .ok()
                                .and_then(|a| pwm_ism_score(&motifs[mi].ppm, rows, a, hit.strand))
                                .unwrap_or(f64::NAN);
                            h.pwm_ism[r].push(v);
                        }
                    }
                }
            }
        }
        let mut cols: Vec<(String, Column)> = Vec::new();
        if many {
            cols.push(("sequence".into(), Column::Int(h.seq)));
        }
        cols.push(("motif".into(), Column::Text(h.motif)));
        cols.push(("id".into(), Column::Text(h.id)));
        cols.push(("start".into(), Column::Int(h.start)));
        cols.push(("end".into(), Column::Int(h.end)));
        cols.push(("strand".into(), Column::Text(h.strand)));
        cols.push(("score".into(), Column::Float(h.score)));
        cols.push(("p_value".into(), Column::Float(h.p)));
        cols.push(("matched".into(), Column::Text(h.matched)));
        if inputs.iter().all(|i| i.locus.is_some()) {
            cols.push(("chrom".into(), Column::Text(h.chrom)));
            cols.push(("genomic_start".into(), Column::Int(h.gstart)));
        }
        if let Some(r) = &ism {
            let single = r.0.names.len() == 1;
            for (i, v) in h.pwm_ism.into_iter().enumerate() {
                let name = if single { "pwm_ism".to_string() } else { format!("pwm_ism:{}", r.0.names[i]) };
                cols.push((name, Column::Float(v)));
            }
        }
        Ok(Table::new("motif hits", cols))
    });
}
