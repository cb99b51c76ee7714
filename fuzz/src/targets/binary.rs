//! Targets of the binary formats: h5ad, 10x h5, SnapATAC2-scooby h5ad, 10x GEX BAM, safetensors checkpoints and
//! gscript model files, Keras h5 weights. Files are written as given, except BAM, whose mutations work on the
//! decompressed stream and are BGZF-compressed again (a flipped bit in a deflate block would only test the CRC).

use std::io::Write;
use std::sync::OnceLock;

use gscript_runtime::coverage::bam::{load_rna_coverage, RnaOptions};
use gscript_runtime::coverage::fragments::{load_fragments, FragmentOptions};
use gscript_runtime::coverage::scooby_h5ad::{read_scooby_coverage, write_scooby_h5ad};
use gscript_runtime::data::h5ad_read::read_h5ad;
use gscript_runtime::data::tenx_h5::read_10x_h5;
use gscript_runtime::models::scbasset::import::{import_keras_h5, ImportOptions};
use gscript_runtime::models::scbasset::saved::{load_model, save_model, ModelMeta, Versions, MODEL_FORMAT};
use gscript_runtime::models::scbasset::{ScBasset, ScBassetConfig};
use gscript_runtime::train::checkpoint::{load_checkpoint, CHECKPOINT_FORMAT};
use gscript_runtime::{CancelToken, NoProgress};
use tch::{nn, Device, Tensor};

use super::{err, with_files, Target};
use crate::seeds::files;

const H5_WORDS: &[&str] = &["HDF", "\u{89}HDF\r\n\u{1a}\n", "X", "obs", "var", "indptr", "indices", "data", "shape"];

fn h5ad(data: &[u8]) -> Result<(), String> {
    with_files(&[("x.h5ad", data)], |dir| {
        read_h5ad(&dir.join("x.h5ad"), &mut NoProgress, &CancelToken::new()).map(drop).map_err(err)
    })
}

fn tenx_h5(data: &[u8]) -> Result<(), String> {
    with_files(&[("x.h5", data)], |dir| {
        read_10x_h5(&dir.join("x.h5"), None, &mut NoProgress, &CancelToken::new()).map(drop).map_err(err)
    })
}

/// The input as the ATAC file and as the RNA plus-strand file: Ok when either reads.
fn scooby(data: &[u8]) -> Result<(), String> {
    with_files(&[("s.h5ad", data)], |dir| {
        let p = dir.join("s.h5ad");
        let atac = read_scooby_coverage(Some(&p), None, None, &mut NoProgress, &CancelToken::new());
        let rna = read_scooby_coverage(None, Some(&p), None, &mut NoProgress, &CancelToken::new());
        match (atac, rna) {
            (Ok(_), _) | (_, Ok(_)) => Ok(()),
            (Err(a), Err(r)) => Err(format!("{a}; read as RNA: {r}")),
        }
    })
}

fn bgzf(raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut w = noodles_bgzf::io::Writer::new(Vec::new());
    w.write_all(raw).map_err(|e| format!("fuzz harness: {e}"))?;
    w.finish().map_err(|e| format!("fuzz harness: {e}"))
}

/// A decompressed BAM stream, compressed again and read with and without barcode/UMI tags and filters.
fn bam(data: &[u8]) -> Result<(), String> {
    let bytes = bgzf(data)?;
    with_files(&[("x.bam", &bytes)], |dir| {
        let p = dir.join("x.bam");
        let loose = RnaOptions { min_mapq: 0, umi: None, ..Default::default() };
        let _ = load_rna_coverage(&p, &loose, &mut NoProgress, &CancelToken::new());
        load_rna_coverage(&p, &RnaOptions::default(), &mut NoProgress, &CancelToken::new()).map(drop).map_err(err)
    })
}

/// A safetensors file read as a training checkpoint and as a gscript model: Ok when either reads.
fn safetensors(data: &[u8]) -> Result<(), String> {
    with_files(&[("m.safetensors", data)], |dir| {
        let p = dir.join("m.safetensors");
        let ck = load_checkpoint(&p).map(drop).map_err(err);
        let model = load_model(&p, Device::Cpu).map(drop).map_err(err);
        match (ck, model) {
            (Ok(()), _) | (_, Ok(())) => Ok(()),
            (Err(c), Err(m)) => Err(format!("{c}; read as a model: {m}")),
        }
    })
}

fn keras(data: &[u8]) -> Result<(), String> {
    with_files(&[("k.h5", data)], |dir| {
        import_keras_h5(dir.join("k.h5"), &ImportOptions::default()).map(drop).map_err(err)
    })
}

/// SnapATAC2-scooby files of the simulated fragments and BAM.
fn scooby_seeds() -> Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS
        .get_or_init(|| {
            let f = files();
            let dir = f.dir.join("scooby");
            let (cov, _) = load_fragments(
                &f.dir.join("multiome").join("atac_fragments.tsv.gz"),
                &FragmentOptions::default(),
                &mut NoProgress,
                &CancelToken::new(),
            )
            .expect("simulated fragments load");
            let paths = write_scooby_h5ad(&cov, &dir, &mut NoProgress, &CancelToken::new()).expect("write_scooby_h5ad");
            paths.iter().map(|p| std::fs::read(p).expect("a written file")).collect()
        })
        .clone()
}

/// A real checkpoint-format file and a real model file (tiny scBasset) as safetensors seeds.
fn safetensors_seeds() -> Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS
        .get_or_init(|| {
            let dir = files().dir.join("safetensors");
            std::fs::create_dir_all(&dir).expect("a directory");
            let meta = serde_json::json!({
                "format": CHECKPOINT_FORMAT, "epochs_done": 0, "optimizer_steps": 0, "best_epoch": null,
                "run": {"seed": 1}, "model": {"family": "scbasset"}, "history": {"epochs": []}
            })
            .to_string();
            let ck = dir.join("ck.safetensors");
            let named = vec![
                ("model/w".to_string(), Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2])),
                ("meta/json".to_string(), Tensor::from_slice(meta.as_bytes())),
            ];
            Tensor::write_safetensors(&named, &ck).expect("write a checkpoint seed");
            let vs = nn::VarStore::new(Device::Cpu);
            let config = ScBassetConfig::tiny(3);
            ScBasset::new(&vs.root(), &config).expect("tiny scBasset");
            let meta = ModelMeta {
                format: MODEL_FORMAT.into(),
                config,
                preset: "tiny".into(),
                barcodes: vec!["a".into(), "b".into(), "c".into()],
                cell_batch: None,
                batch_names: None,
                peaks: None,
                history: Default::default(),
                precision: Default::default(),
                versions: Versions::current(),
            };
            let model = dir.join("model.safetensors");
            save_model(&model, &vs, &meta).expect("save a model seed");
            vec![std::fs::read(ck).expect("seed"), std::fs::read(model).expect("seed")]
        })
        .clone()
}

pub(super) fn targets() -> Vec<Target> {
    const B: usize = 1 << 20;
    vec![
        Target {
            name: "h5ad",
            format: "h5ad",
            run: h5ad,
            seeds: || vec![files().h5ad.clone()],
            dict: H5_WORDS,
            text: false,
            max_len: B,
        },
        Target {
            name: "tenx_h5",
            format: "tenx_h5",
            run: tenx_h5,
            seeds: || vec![files().tenx_h5.clone()],
            dict: H5_WORDS,
            text: false,
            max_len: B,
        },
        Target {
            name: "scooby_h5ad",
            format: "scooby_h5ad",
            run: scooby,
            seeds: scooby_seeds,
            dict: H5_WORDS,
            text: false,
            max_len: B,
        },
        Target {
            name: "bam",
            format: "bam",
            run: bam,
            seeds: || vec![files().bam.clone()],
            dict: &["BAM\u{1}", "CB", "UB", "xf", "Z", "@SQ\tSN:chr1\tLN:"],
            text: false,
            max_len: B,
        },
        Target {
            name: "safetensors",
            format: "safetensors",
            run: safetensors,
            seeds: safetensors_seeds,
            dict: &["{\"dtype\":\"F32\",\"shape\":[", "\"data_offsets\":[", "meta/json", "model/", "\"U8\"", "\"F64\""],
            text: false,
            max_len: B,
        },
        Target {
            name: "keras",
            format: "keras",
            run: keras,
            seeds: || vec![files().h5ad.clone()],
            dict: H5_WORDS,
            text: false,
            max_len: B,
        },
    ]
}
