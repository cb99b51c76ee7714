//! The example scripts run end to end through the CLI, as the README tells users to run them: the quickstart at its
//! default size (the README's main job), the PBMC tutorial on its synthetic stand-in and the scooby example. Their
//! headline numbers, figure files and the files they write are checked; the quickstart notebook must hold the
//! script's code.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One example at a time: two libtorch processes on 2 cores slow each other down by far more than 2× (OpenMP threads
/// spin while they wait for each other).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `examples/<name>` with its output in `out`; returns stdout after asserting success.
fn run_example(name: &str, out: &Path) -> String {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let o = Command::new(env!("CARGO_BIN_EXE_gscript"))
        .arg("run")
        .arg(Path::new(ROOT).join("examples").join(name))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string());
    assert!(o.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    stdout
}

/// The number after `key` in `text` (e.g. "ARI vs planted types: 0.98").
fn number_after(text: &str, key: &str) -> f64 {
    let at = text.find(key).unwrap_or_else(|| panic!("no `{key}` in:\n{text}")) + key.len();
    let s: String =
        text[at..].trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-').collect();
    s.parse().unwrap_or_else(|_| panic!("no number after `{key}`: {s}"))
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
}

#[test]
fn quickstart_runs_and_recovers_the_planted_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_example("quickstart.gscript", dir.path());
    let headline = &out[out.find("== headline ==").expect("the quickstart prints its headline")..];
    println!("{headline}");
    assert!(
        number_after(headline, "training auROC (mean per cell, augmented training batches, last epoch):") > 0.7,
        "{headline}"
    );
    // held-out peaks: clearly above chance (0.5)
    assert!(
        number_after(headline, "validation auROC (mean per peak, held-out peaks, last epoch):") > 0.6,
        "{headline}"
    );
    assert!(number_after(headline, "ARI vs planted types:") > 0.9, "{headline}");
    assert!(number_after(headline, "label score k=10:") > 0.9, "{headline}");
    // a top motif for each type, and each planted driver ranks near the top of all 1,019 motifs (the others above it
    // are its family: CTCF's three matrices, Mecom's GATA-like motif, SPIB for Spi1, CEBPE/CEBPB for CEBPA)
    for t in ["type0_CTCF", "type1_GATA1", "type2_Spi1", "type3_CEBPA"] {
        assert!(headline.lines().any(|l| l.starts_with(&format!("top motif for {t}: "))), "no top motif for {t}");
    }
    let ranks: Vec<(String, f64)> = out
        .lines()
        .filter(|l| l.contains("(planted ") && l.contains(": rank "))
        .map(|l| (l.to_string(), number_after(l, "rank")))
        .collect();
    assert_eq!(ranks.len(), 4, "{out}");
    for (line, rank) in &ranks {
        assert!(*rank >= 1.0 && *rank <= 10.0, "planted motif not in the top 10 of 1,019: {line}");
    }
    assert!(
        number_after(headline, "LoRA fine-tune: training auROC (mean per cell, training batches, last epoch)") > 0.7,
        "{headline}"
    );
    // every figure listed exists as PNG and SVG
    let figures: Vec<&str> = headline.lines().skip_while(|l| *l != "figures:").skip(1).map(str::trim).collect();
    assert!(figures.len() >= 16, "{headline}");
    for f in &figures {
        let p = Path::new(f);
        if f.ends_with(".png") {
            assert_png(p);
        } else {
            assert!(std::fs::read_to_string(p).unwrap().contains("<svg"), "{f}");
        }
    }
    for stem in
        ["umap_clusters", "umap_cell_types", "denoised_blocks", "tf_activity_top_motifs", "ism_logo", "training"]
    {
        assert!(figures.iter().any(|f| f.ends_with(&format!("{stem}.png"))), "no {stem}.png in {figures:?}");
    }
    // the .h5ad for scanpy: embedding in obsm, clusters in obs, denoised layer
    let h5ad = dir.path().join("quickstart.h5ad");
    if let Some(py) = gscript_runtime::testing::test_python() {
        let code = "import anndata, sys; a = anndata.read_h5ad(sys.argv[1]); \
                    print(a.shape, a.obsm['X_scbasset'].shape, a.layers['denoised'].shape, a.obs['leiden'].nunique(), a.obs['cell_type'].nunique())";
        let o = Command::new(py).args(["-c", code]).arg(&h5ad).output().unwrap();
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(s.starts_with("(600, ") && s.trim_end().ends_with(") 4 4"), "anndata sees {s}");
    } else {
        assert!(h5ad.exists());
    }
}

#[test]
fn pbmc_tutorial_runs_on_its_stand_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_example("paper_pbmc.gscript", dir.path());
    println!("{out}");
    assert!(out.contains("synthetic stand-in"), "{out}");
    // two libraries with a batch effect: scBasset-BC finds the planted cell types at least as well as plain scBasset
    let line = out.lines().find(|l| l.starts_with("stand-in truth: ARI")).expect("batch correction ran");
    let plain = number_after(line, "ARI");
    let bc = number_after(line, "→");
    assert!(bc >= plain && bc > 0.8, "{line}");
    assert!(number_after(&out, "per-peak auROC") > 0.65, "{out}");
    for f in [
        "pbmc_scbasset.h5ad",
        "pbmc_tf_activity.csv",
        "pbmc_umap_clusters.png",
        "pbmc_umap_batches_corrected.png",
        "pbmc_tf_clusters.png",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    assert_png(&dir.path().join("pbmc_tf_GATA1.png"));
    let csv = std::fs::read_to_string(dir.path().join("pbmc_tf_activity.csv")).unwrap();
    assert_eq!(csv.lines().count(), 401, "a header and one row per cell");
}

/// The scooby example on its simulated multiome: its figures and BigWigs are real files, the saved model loads back
/// (the script re-imports it), and the fine-tuned model predicts held-out accessibility better than an untrained
/// scooby of the same architecture measured in the same run (the example's base Borzoi is untrained, so gene-level
/// RNA is not asserted: it is not learned in the example's few seconds of training).
#[test]
fn scooby_example_runs_and_learns_accessibility() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_example("scooby.gscript", dir.path());
    let headline = &out[out.find("== headline ==").expect("the scooby example prints its headline")..];
    println!("{headline}");
    let line =
        headline.lines().find(|l| l.starts_with("held-out ATAC Pearson")).expect("held-out ATAC in the headline");
    let (tuned, control) = (number_after(line, "fine-tuned"), number_after(line, "untrained control"));
    assert!(tuned > control, "{line}");

    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let named = |prefix: &str, ext: &str| -> Vec<&std::path::PathBuf> {
        files
            .iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(prefix) && name.ends_with(ext)
            })
            .collect()
    };
    for stem in ["training", "gene_counts_predicted_vs_observed", "profiles_"] {
        let (png, svg) = (named(stem, ".png"), named(stem, ".svg"));
        assert!(!png.is_empty() && !svg.is_empty(), "{stem} figure missing in {files:?}");
        png.iter().for_each(|p| assert_png(p));
        for p in svg {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.contains("<svg") && text.trim_end().ends_with("</svg>"), "{}", p.display());
        }
    }
    // one observed track per (type, track) and one predicted track; BigWig's magic 0x888FFC26, little-endian
    let (observed, predicted) = (named("observed_", ".bw"), named("predicted_", ".bw"));
    assert_eq!(observed.len(), 9, "3 types × rna_plus, rna_minus, atac: {files:?}");
    assert_eq!(predicted.len(), 1, "{files:?}");
    for p in observed.into_iter().chain(predicted) {
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(bytes[..4], 0x888F_FC26u32.to_le_bytes(), "{}", p.display());
        assert!(bytes.len() > 64, "{}", p.display());
    }
    assert!(dir.path().join("scooby.safetensors").exists());
    let reimported = out.lines().find(|l| l.starts_with("re-imported:")).expect("the script re-imports the model");
    assert!(reimported.contains("E 8, T 3"), "{reimported}");
}

/// The notebook is generated from the script (scripts/quickstart-notebook.py): their code must be the same.
#[test]
fn quickstart_notebook_holds_the_scripts_code() {
    let code_lines = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
            .map(String::from)
            .collect()
    };
    let script = std::fs::read_to_string(Path::new(ROOT).join("examples/quickstart.gscript")).unwrap();
    let nb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join("examples/quickstart.ipynb")).unwrap())
            .unwrap();
    let mut nb_code = String::new();
    for cell in nb["cells"].as_array().unwrap() {
        if cell["cell_type"] == "code" {
            for line in cell["source"].as_array().unwrap() {
                nb_code.push_str(line.as_str().unwrap());
            }
            nb_code.push('\n');
            assert!(cell["outputs"].as_array().unwrap().is_empty(), "the committed notebook carries no outputs");
        }
    }
    assert_eq!(
        code_lines(&nb_code),
        code_lines(&script),
        "examples/quickstart.ipynb is out of date: run python3 scripts/quickstart-notebook.py"
    );
}
