//! Cells (barcodes, types, library sizes), the count matrix, and the truth files of
//! [`simulate_multiome`](super::simulate_multiome): `truth.json` and its TSV views.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use rand::RngExt;
use serde_json::{json, Value};

use super::files::TenxMatrix;
use super::model::{normal, RegionKind, World};
use super::reads::{droplet_rng, Droplet, DropletData};
use super::{MultiomeConfig, MultiomeFiles};
use crate::{Result, RuntimeError};

/// Counts of what was simulated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MultiomeSummary {
    pub cells: u64,
    pub empty_droplets: u64,
    pub cell_types: u64,
    pub chromosomes: u64,
    pub genome_length: u64,
    pub genes: u64,
    pub enhancers: u64,
    pub ctcf_sites: u64,
    pub motif_sites: u64,
    /// Unique fragments (lines of the fragments file) and the read pairs behind them.
    pub fragments: u64,
    pub atac_read_pairs: u64,
    /// Molecules (UMIs) of cells, BAM records, and records with a splice (CIGAR `N`).
    pub molecules: u64,
    pub bam_records: u64,
    pub spliced_reads: u64,
    /// `sequences.bed` window length and number of windows.
    pub window: u64,
    pub sequences: u64,
    pub seconds: f64,
}

/// One enhancer → gene link.
#[derive(Clone, Debug, PartialEq)]
pub struct TruthLink {
    pub enhancer: String,
    pub chrom: String,
    pub start: u64,
    pub end: u64,
    pub gene_id: String,
    pub gene_name: String,
    /// Added to the gene's log expression in the types where the enhancer is active.
    pub effect: f64,
    pub active: Vec<String>,
}

/// The truth in brief (all of it is in `truth.json`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MultiomeTruth {
    pub cell_types: Vec<String>,
    /// Driver motif (JASPAR name) of each type.
    pub drivers: Vec<String>,
    /// (barcode, cell type) of every cell, in barcode order.
    pub cells: Vec<(String, String)>,
    pub empty_droplets: Vec<String>,
    pub links: Vec<TruthLink>,
}

/// All barcodes (cells and empty droplets, sorted) with what each holds.
pub struct Droplets {
    pub barcodes: Vec<String>,
    pub droplets: Vec<Droplet>,
}

impl Droplets {
    pub fn n_cells(&self) -> usize {
        self.droplets.iter().filter(|d| d.cell_type.is_some()).count()
    }
}

fn shuffle<T>(rng: &mut impl rand::Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
}

pub fn droplets(cfg: &MultiomeConfig) -> Droplets {
    let mut rng = droplet_rng(cfg.seed, 3, 0);
    let n = cfg.cells + cfg.empty_droplets;
    let mut seen = HashSet::new();
    let mut barcodes = Vec::with_capacity(n);
    while barcodes.len() < n {
        let x: u32 = rng.random();
        let y: u32 = rng.random();
        let b: String = (0..16)
            .map(|i| {
                let v = if i < 8 { x >> (4 * i) } else { y >> (4 * (i - 8)) };
                b"ACGT"[(v & 3) as usize] as char
            })
            .collect();
        if seen.insert(b.clone()) {
            barcodes.push(format!("{b}-1"));
        }
    }
    barcodes.sort();
    let mut is_empty: Vec<bool> = (0..n).map(|i| i < cfg.empty_droplets).collect();
    shuffle(&mut rng, &mut is_empty);
    let mut types: Vec<usize> = (0..cfg.cells).map(|i| i % cfg.cell_types).collect();
    shuffle(&mut rng, &mut types);
    let sd = cfg.depth_sd;
    let mut next_type = types.into_iter();
    let droplets = is_empty
        .iter()
        .map(|&empty| {
            // library sizes: a shared depth factor and one per modality (log scale; mean kept)
            let z = 0.8 * sd * normal(&mut rng);
            let (ea, er) = (0.6 * sd * normal(&mut rng), 0.6 * sd * normal(&mut rng));
            let scale = if empty { 0.02 } else { 1.0 };
            let adj = -sd * sd / 2.0;
            Droplet {
                cell_type: if empty { None } else { next_type.next() },
                atac_depth: scale * cfg.fragments_per_cell * (z + ea + adj).exp(),
                rna_depth: scale * cfg.umis_per_cell * (z + er + adj).exp(),
            }
        })
        .collect();
    Droplets { barcodes, droplets }
}

/// The region holding `pos`, if any (regions are sorted and do not overlap).
fn region_at(world: &World, chrom: usize, pos: u64) -> Option<usize> {
    let i = world.regions.partition_point(|r| (r.chrom, r.start) <= (chrom, pos));
    (i > 0).then(|| i - 1).filter(|&j| world.regions[j].chrom == chrom && pos < world.regions[j].end)
}

/// Filtered matrix: the cells, UMI counts per gene, then Tn5 cut sites per region ("Peaks").
pub fn count_matrix(world: &World, droplets: &Droplets, data: &[DropletData]) -> TenxMatrix {
    let n_genes = world.genes.len();
    let interval = |c: usize, s: u64, e: u64| format!("{}:{s}-{e}", world.chroms[c].0);
    let mut features: Vec<(String, String, &'static str, String)> = world
        .genes
        .iter()
        .map(|g| (g.id.clone(), g.name.clone(), "Gene Expression", interval(g.chrom, g.start(), g.end())))
        .collect();
    for r in &world.regions {
        let id = interval(r.chrom, r.start, r.end);
        features.push((id.clone(), id.clone(), "Peaks", id));
    }
    let cells: Vec<usize> =
        (0..droplets.droplets.len()).filter(|&i| droplets.droplets[i].cell_type.is_some()).collect();
    let columns = cells
        .iter()
        .map(|&i| {
            let mut col: Vec<(u32, i32)> = data[i].umis.iter().map(|&(g, n)| (g, n as i32)).collect();
            let mut peaks = vec![0i32; world.regions.len()];
            for f in &data[i].fragments {
                for p in [f.start as u64, f.end as u64 - 1] {
                    if let Some(r) = region_at(world, f.chrom as usize, p) {
                        peaks[r] += 1;
                    }
                }
            }
            col.extend(peaks.iter().enumerate().filter(|(_, &n)| n > 0).map(|(r, &n)| ((n_genes + r) as u32, n)));
            col
        })
        .collect();
    let barcodes = cells.iter().map(|&i| droplets.barcodes[i].clone()).collect();
    TenxMatrix { barcodes, features, columns }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| RuntimeError::io(path, e))
}

/// Writes `truth.json` and the TSV views; returns the summary counts known here and the truth in brief.
pub fn write_truth(
    files: &MultiomeFiles,
    cfg: &MultiomeConfig,
    world: &World,
    droplets: &Droplets,
    data: &[DropletData],
) -> Result<(MultiomeSummary, MultiomeTruth)> {
    let k = world.type_names.len();
    let chrom = |c: usize| world.chroms[c].0.as_str();
    let type_list = |ts: &[usize]| ts.iter().map(|&t| world.type_names[t].clone()).collect::<Vec<_>>();
    let drivers: Vec<String> = world.type_motifs.iter().map(|m| world.motifs[m[0]].name.clone()).collect();

    // cells
    let mut cells_tsv = String::from("barcode\tcell_type\tn_fragments\tn_molecules\n");
    let mut cells_json = Vec::new();
    let mut truth =
        MultiomeTruth { cell_types: world.type_names.clone(), drivers: drivers.clone(), ..Default::default() };
    let mut molecules = 0u64;
    for (i, d) in droplets.droplets.iter().enumerate() {
        let bc = &droplets.barcodes[i];
        let nf = data[i].fragments.len();
        let nm: u64 = data[i].umis.iter().map(|&(_, n)| n as u64).sum();
        let ty = d.cell_type.map_or("empty".to_string(), |t| world.type_names[t].clone());
        let _ = writeln!(cells_tsv, "{bc}\t{ty}\t{nf}\t{nm}");
        match d.cell_type {
            Some(_) => {
                molecules += nm;
                truth.cells.push((bc.clone(), ty.clone()));
                cells_json.push(json!({"barcode": bc, "cell_type": ty, "n_fragments": nf, "n_molecules": nm}));
            }
            None => truth.empty_droplets.push(bc.clone()),
        }
    }
    write(&files.truth_cells, &cells_tsv)?;

    // genes: expected molecules per cell of mean depth
    let mut expr_tsv = String::from("gene_id\tgene_name\tgene_type\tchrom\tstrand\ttss\tbaseline");
    for t in &world.type_names {
        let _ = write!(expr_tsv, "\tmean_{t}");
    }
    expr_tsv.push('\n');
    let mut genes_json = Vec::new();
    for (g, gene) in world.genes.iter().enumerate() {
        let means: Vec<f64> = (0..k).map(|t| cfg.umis_per_cell * world.frac[t][g]).collect();
        let _ = write!(
            expr_tsv,
            "{}\t{}\t{}\t{}\t{}\t{}\t{:.6}",
            gene.id,
            gene.name,
            gene.gene_type,
            chrom(gene.chrom),
            gene.strand.symbol(),
            gene.tss(),
            gene.baseline
        );
        for m in &means {
            let _ = write!(expr_tsv, "\t{m:.6}");
        }
        expr_tsv.push('\n');
        genes_json.push(json!({
            "gene_id": gene.id, "gene_name": gene.name, "gene_type": gene.gene_type, "chrom": chrom(gene.chrom),
            "strand": gene.strand.symbol().to_string(), "start": gene.start(), "end": gene.end(), "tss": gene.tss(),
            "exons": gene.exons, "baseline": gene.baseline,
            "log_expression": (0..k).map(|t| world.log_mu[t][g]).collect::<Vec<_>>(), "mean_molecules": means,
        }));
    }
    write(&files.truth_expression, &expr_tsv)?;

    // regions and links
    let mut reg_tsv = String::from("id\tkind\tchrom\tstart\tend\tactive_types\tgene_id\tgene_name\teffect\n");
    let (mut regions_json, mut links_json) = (Vec::new(), Vec::new());
    for r in &world.regions {
        let active = type_list(&r.active);
        let gene = r.gene.map(|g| &world.genes[g]);
        let _ = writeln!(
            reg_tsv,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6}",
            r.id,
            r.kind.name(),
            chrom(r.chrom),
            r.start,
            r.end,
            active.join(","),
            gene.map_or("", |g| g.id.as_str()),
            gene.map_or("", |g| g.name.as_str()),
            r.effect
        );
        regions_json.push(json!({
            "id": r.id, "kind": r.kind.name(), "chrom": chrom(r.chrom), "start": r.start, "end": r.end,
            "active_types": active, "gene_id": gene.map(|g| g.id.clone()), "effect": r.effect,
            "accessibility": r.weights,
        }));
        if let (RegionKind::Enhancer, Some(g)) = (r.kind, gene) {
            let distance = ((r.start + r.end) / 2) as i64 - g.tss() as i64;
            links_json.push(json!({
                "enhancer": r.id, "gene_id": g.id, "gene_name": g.name, "effect": r.effect,
                "distance_to_tss": distance, "active_types": active,
            }));
            truth.links.push(TruthLink {
                enhancer: r.id.clone(),
                chrom: chrom(r.chrom).to_string(),
                start: r.start,
                end: r.end,
                gene_id: g.id.clone(),
                gene_name: g.name.clone(),
                effect: r.effect,
                active,
            });
        }
    }
    write(&files.truth_regions, &reg_tsv)?;

    // motif sites
    let mut sites_tsv = String::from("region\tchrom\tstart\tend\tstrand\tmotif\tmotif_id\n");
    let mut sites_json = Vec::new();
    for s in &world.sites {
        let m = &world.motifs[s.motif];
        let end = s.start + m.width() as u64;
        let region = &world.regions[s.region].id;
        let _ =
            writeln!(sites_tsv, "{region}\t{}\t{}\t{end}\t{}\t{}\t{}", chrom(s.chrom), s.start, s.strand, m.name, m.id);
        sites_json.push(json!({
            "region": region, "chrom": chrom(s.chrom), "start": s.start, "end": end,
            "strand": s.strand.to_string(), "motif": m.name, "motif_id": m.id,
        }));
    }
    write(&files.truth_sites, &sites_tsv)?;

    let types_json: Vec<Value> = (0..k)
        .map(|t| {
            let m = &world.motifs[world.type_motifs[t][0]];
            let n = droplets.droplets.iter().filter(|d| d.cell_type == Some(t)).count();
            json!({"name": world.type_names[t], "driver_motif": m.name, "driver_motif_id": m.id, "cells": n})
        })
        .collect();
    let doc = json!({
        "generator": "gscript simulate_multiome",
        "seed": cfg.seed,
        "read_length": cfg.read_length,
        "chromosomes": world.chroms.iter().map(|(n, s)| json!({"name": n, "length": s.len()})).collect::<Vec<_>>(),
        "cell_types": types_json,
        "cells": cells_json,
        "empty_droplets": truth.empty_droplets,
        "genes": genes_json,
        "regions": regions_json,
        "links": links_json,
        "motif_sites": sites_json,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| RuntimeError::Other(e.to_string()))?;
    write(&files.truth_json, &text)?;

    let count = |kind: RegionKind| world.regions.iter().filter(|r| r.kind == kind).count() as u64;
    let summary = MultiomeSummary {
        cells: truth.cells.len() as u64,
        empty_droplets: truth.empty_droplets.len() as u64,
        cell_types: k as u64,
        chromosomes: world.chroms.len() as u64,
        genome_length: world.chroms.iter().map(|(_, s)| s.len() as u64).sum(),
        genes: world.genes.len() as u64,
        enhancers: count(RegionKind::Enhancer),
        ctcf_sites: count(RegionKind::Ctcf),
        motif_sites: world.sites.len() as u64,
        molecules,
        ..Default::default()
    };
    Ok((summary, truth))
}
