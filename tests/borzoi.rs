//! Borzoi through the language with the tiny preset (8,192 bp → 128 bins of 32 bp, 16 tracks): a fresh model saves
//! and loads back with identical predictions; predictions, embeddings, variant effects and saliency have the documented
//! shapes, names and coordinates; bad inputs give clear errors.

mod common;

use common::{err, eval, floats, session, strings};

/// A small genome: chr1 of 12,000 bases (deterministic, varied), chr2 of 3,000.
fn write_genome(dir: &std::path::Path) -> std::path::PathBuf {
    let mut state: u64 = 7;
    let mut bases = |n: usize| -> String {
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                b"ACGT"[(state >> 33) as usize % 4] as char
            })
            .collect()
    };
    let wrap =
        |s: String| s.as_bytes().chunks(60).map(|c| String::from_utf8_lossy(c).into_owned() + "\n").collect::<String>();
    let fa = dir.join("genome.fa");
    std::fs::write(&fa, format!(">chr1\n{}>chr2\n{}", wrap(bases(12_000)), wrap(bases(3_000)))).unwrap();
    fa
}

fn matrix(v: gscript_lang::rhai::Dynamic) -> Vec<Vec<f64>> {
    v.into_array().unwrap().into_iter().map(floats).collect()
}

fn shape(s: &mut gscript_lang::Session, expr: &str) -> (i64, i64) {
    let v: Vec<i64> =
        eval(s, &format!("({expr}).shape()")).into_array().unwrap().iter().map(|x| x.as_int().unwrap()).collect();
    (v[0], v[1])
}

#[test]
fn tiny_borzoi_round_trip_predictions_and_analyses() {
    let (mut s, dir) = session();
    let fa = write_genome(dir.path());
    let _ = eval(&mut s, &format!("let g = load_genome(\"{}\"); let m = borzoi_model(#{{seed: 3}});", fa.display()));
    let text = eval(&mut s, "m.to_string()").to_string();
    assert!(
        text.starts_with("Borzoi tiny, untrained (") && text.contains("8,192 bp → 128 × 32 bp, 16 tracks, cpu fp32"),
        "{text}"
    );
    assert!(eval(&mut s, "m.summary()").to_string().contains("transformer"));

    // save → load: identical predictions (file and directory forms)
    let file = dir.path().join("tiny.safetensors");
    let _ = eval(&mut s, &format!("m.save(\"{}\"); m.save(\"{}/saved/\");", file.display(), dir.path().display()));
    assert!(dir.path().join("saved/model.safetensors").is_file());
    assert!(!dir.path().join("saved/config.json").exists(), "the tiny sizes are not expressible in config.json");
    let _ = eval(
        &mut s,
        &format!(
            "let a = load_borzoi(\"{}\", #{{preset: \"tiny\"}}); let b = load_borzoi(\"{}/saved\", #{{preset: \"tiny\"}});",
            file.display(),
            dir.path().display()
        ),
    );
    let p0 = matrix(eval(&mut s, "m.predict_tracks(g, \"chr1:6000-6100\").to_array()"));
    let p1 = matrix(eval(&mut s, "a.predict_tracks(g, \"chr1:6000-6100\").to_array()"));
    let p2 = matrix(eval(&mut s, "b.predict_tracks(g, \"chr1:6000-6100\").to_array()"));
    assert_eq!(p0, p1);
    assert_eq!(p0, p2);
    assert_eq!((p0.len(), p0[0].len()), (16, 128));

    // names and coordinates: window centred on 6050, returned bins are the central 4,096 bp
    let rows = strings(eval(&mut s, "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [3, \"5\"]}).row_names()"));
    assert_eq!(rows, ["track 3", "track 5"]);
    let cols = strings(eval(&mut s, "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [0]}).col_names()"));
    assert_eq!(cols.len(), 128);
    assert_eq!(cols[0], "chr1:4002-4034");
    assert_eq!(cols[127], "chr1:8066-8098");
    // a region near the chromosome start: the window is padded; coordinates run below 0
    let near = matrix(eval(&mut s, "let p = m.predict_tracks(g, \"chr1:10-20\"); p.to_array()"));
    assert!(near.iter().flatten().all(|x| x.is_finite() && *x >= 0.0));
    let cols = strings(eval(&mut s, "p.col_names()"));
    assert_eq!(cols[0], "chr1:-2033--2001");
    assert_eq!(cols[64], "chr1:15-47");
    // a sequence input of a valid length: offsets within it
    let seq_cols =
        strings(eval(&mut s, "let seq = g.fetch(\"chr1:0-8192\"); m.predict_tracks(seq, #{tracks: [1]}).col_names()"));
    assert_eq!((seq_cols[0].as_str(), seq_cols[127].as_str()), ("2048-2080", "6112-6144"));
    let by_seq = matrix(eval(&mut s, "m.predict_tracks(seq, #{tracks: [1]}).to_array()"));
    let by_region = matrix(eval(&mut s, "m.predict_tracks(g, \"chr1:4000-4192\", #{tracks: [1]}).to_array()"));
    for (x, y) in by_seq[0].iter().zip(&by_region[0]) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }

    // rc_average on vs off: different, both non-negative
    let on = matrix(eval(&mut s, "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [0, 1]}).to_array()"));
    let off = matrix(eval(
        &mut s,
        "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [0, 1], rc_average: false}).to_array()",
    ));
    assert!(on.iter().chain(&off).flatten().all(|x| *x >= 0.0));
    let diff: f64 = on.iter().flatten().zip(off.iter().flatten()).map(|(a, b)| (a - b).abs()).sum();
    assert!(diff > 1e-6, "rc averaging changed nothing");

    // embedding: bins × 96, rows named by coordinates
    assert_eq!(shape(&mut s, "m.embed(g, \"chr1:6000-6100\")"), (128, 96));
    assert_eq!(strings(eval(&mut s, "m.embed(g, \"chr1:6000-6100\").row_names()"))[0], "chr1:4002-4034");
    assert_eq!(shape(&mut s, "m.embed(seq)"), (128, 96));

    // plots
    let _ = eval(&mut s, "let fig = plot_track(m.predict_tracks(g, \"chr1:10-20\", #{tracks: [0, 1]}));");
    assert!(eval(&mut s, "fig.to_string()").to_string().to_lowercase().contains("track"));

    // variant effects: finite scores, variants × tracks
    let base = eval(&mut s, "g.fetch(\"chr1:5999-6000\")").to_string();
    let alt = if base == "A" { "C" } else { "A" };
    let b2 = eval(&mut s, "g.fetch(\"chr2:1499-1500\")").to_string();
    let _ = eval(
        &mut s,
        &format!("let ve = variant_effect(m, [\"chr1:6000:{base}:{alt}\", \"chr2:1500:{b2}:{b2}\"], g, #{{tracks: [0, 2, 4]}});"),
    );
    let eff = matrix(eval(&mut s, "ve.effects().to_array()"));
    assert_eq!((eff.len(), eff[0].len()), (2, 3));
    assert!(eff.iter().flatten().all(|x| x.is_finite()));
    assert!(eff[0].iter().any(|x| *x != 0.0), "an SNV changes the prediction: {eff:?}");
    assert!(eff[1].iter().all(|x| x.abs() < 1e-4), "REF = ALT changes nothing: {eff:?}");
    assert_eq!(strings(eval(&mut s, "ve.effects().col_names()")), ["track 0", "track 2", "track 4"]);
    assert_eq!(strings(eval(&mut s, "ve.effects().row_names()"))[0], format!("chr1:6000:{base}:{alt}"));
    let lf = matrix(eval(
        &mut s,
        &format!("variant_effect(m, \"chr1:6000:{base}:{alt}\", g, #{{stat: \"log_fold\", rc_average: false}}).effects().to_array()"),
    ));
    assert_eq!(lf[0].len(), 16);
    let wrong = if base == "G" { "T" } else { "G" };
    let e = err(&mut s, &format!("variant_effect(m, [\"chr1:6000:{wrong}:{alt}\"], g)"));
    assert!(
        e.contains("variant_effect") && e.contains(&format!("chr1:6000:{wrong}:{alt}")) && e.contains("REF"),
        "{e}"
    );
    let e = err(&mut s, "variant_effect(m, [\"chrZ:10:A:C\"], g)");
    assert!(e.contains("chrZ") && e.contains("variants"), "{e}");

    // saliency: positions × 4, only observed bases non-zero
    let _ =
        eval(&mut s, "let sal = saliency(m, g, \"chr1:6000-6100\", #{tracks: [0, 1], window: \"chr1:6000-6100\"});");
    assert_eq!(shape(&mut s, "sal"), (8192, 4));
    let names = strings(eval(&mut s, "sal.row_names()"));
    assert_eq!((names[0].as_str(), names[8191].as_str()), ("chr1:1954-1955", "chr1:10145-10146"));
    let sal = matrix(eval(&mut s, "sal.to_array()"));
    let bases = eval(&mut s, "g.fetch(\"chr1:1954-10146\")").to_string();
    let mut nonzero = 0;
    for (row, b) in sal.iter().zip(bases.bytes()) {
        let k = b"ACGT".iter().position(|&x| x == b).unwrap();
        for (j, v) in row.iter().enumerate() {
            if j != k {
                assert_eq!(*v, 0.0);
            } else if *v != 0.0 {
                nonzero += 1;
            }
        }
    }
    assert!(nonzero > 1000, "{nonzero} non-zero attributions");
    let _ =
        eval(&mut s, "let rows = []; for i in 4046..4146 { rows.push(i); } let f = plot_ism(sal.select_rows(rows));");
}

#[test]
fn borzoi_errors_are_clear() {
    let (mut s, dir) = session();
    let fa = write_genome(dir.path());
    let _ = eval(&mut s, &format!("let g = load_genome(\"{}\"); let m = borzoi_model();", fa.display()));
    let e = err(&mut s, "m.predict_tracks(g, \"chr1:100-200\", #{trakcs: [0]})");
    assert!(e.contains("unknown option `trakcs`") && e.contains("rc_average, species, tracks"), "{e}");
    let e = err(&mut s, "m.predict_tracks(g, \"chr1:100-200\", #{tracks: [\"CNhs10608+\"]})");
    assert!(e.contains("argument `tracks`") && e.contains("CNhs10608+") && e.contains("index"), "{e}");
    let e = err(&mut s, "m.predict_tracks(g, \"chr1:100-200\", #{tracks: [16]})");
    assert!(e.contains("out of range") && e.contains("16 tracks"), "{e}");
    let e = err(&mut s, "m.predict_tracks(g, \"chr1:100-200\", #{species: \"mouse\"})");
    assert!(e.contains("no mouse head"), "{e}");
    let e = err(&mut s, "m.predict_tracks(\"ACGT\")");
    assert!(e.contains("argument `sequence`") && e.contains("multiple of 128") && e.contains("4,096"), "{e}");
    let e = err(&mut s, "m.predict_tracks(\"chr1:100-200\")");
    assert!(e.contains("looks like a region"), "{e}");
    let e = err(&mut s, "m.predict_tracks(g, \"chrZ:100-200\")");
    assert!(e.contains("argument `region`") && e.contains("chrZ"), "{e}");
    let e = err(&mut s, "borzoi_model(#{preset: \"enformer\"})");
    assert!(e.contains("borzoi_model") && e.contains("enformer") && e.contains("borzoi, flashzoi, tiny"), "{e}");
    let e = err(&mut s, "load_borzoi(\"/no/such/model.safetensors\")");
    assert!(
        e.contains("load_borzoi") && e.contains("argument `path`") && e.contains("/no/such/model.safetensors"),
        "{e}"
    );
    let e = err(&mut s, "variant_effect(m, [\"chr1:6000:A:C\"], g, #{stat: \"max\"})");
    assert!(e.contains("argument `stat`") && e.contains("log_fold"), "{e}");
    let e = err(&mut s, "saliency(m, g, \"chr1:6000-6100\", #{window: \"chr1:100-200\"})");
    assert!(e.contains("argument `window`") && e.contains("not inside"), "{e}");
    // a tiny checkpoint read with the default (published) sizes names the mismatch
    let file = dir.path().join("t.safetensors");
    let _ = eval(&mut s, &format!("m.save(\"{}\");", file.display()));
    let e = err(&mut s, &format!("load_borzoi(\"{}\")", file.display()));
    assert!(e.contains("load_borzoi") && e.contains("shape"), "{e}");
    // a targets table of the wrong length
    let targets = dir.path().join("targets.txt");
    std::fs::write(
        &targets,
        "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n0\tA+\tf\t1\t1\t1\tsum\t1\tRNA:x\n1\tA-\tf\t1\t1\t1\tsum\t0\tRNA:x\n",
    )
    .unwrap();
    let e = err(
        &mut s,
        &format!("load_borzoi(\"{}\", #{{preset: \"tiny\", targets: \"{}\"}})", file.display(), targets.display()),
    );
    assert!(e.contains("argument `targets`") && e.contains("2 tracks") && e.contains("16"), "{e}");
}

#[test]
fn targets_table_names_and_selects_tracks() {
    let (mut s, dir) = session();
    let fa = write_genome(dir.path());
    let mut table = String::from("\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n");
    for i in 0..16 {
        // tracks 0/1 are a stranded pair; the rest unstranded
        let (id, pair, desc) = match i {
            0 => ("RNA1+".to_string(), 1, "RNA:liver"),
            1 => ("RNA1-".to_string(), 0, "RNA:liver"),
            i => (format!("DNASE{i}"), i, "DNASE:heart"),
        };
        table.push_str(&format!("{i}\t{id}\tf\t1\t1\t1\tsum\t{pair}\t{desc}\n"));
    }
    let targets = dir.path().join("targets.txt");
    std::fs::write(&targets, table).unwrap();
    let file = dir.path().join("t.safetensors");
    let _ = eval(
        &mut s,
        &format!(
            "let g = load_genome(\"{}\"); borzoi_model().save(\"{}\"); let m = load_borzoi(\"{}\", #{{preset: \"tiny\", targets: \"{}\"}});",
            fa.display(),
            file.display(),
            file.display(),
            targets.display()
        ),
    );
    let rows = strings(eval(
        &mut s,
        "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [\"~liver\", \"DNASE7\", 9]}).row_names()",
    ));
    assert_eq!(rows, ["RNA1+", "RNA1-", "DNASE7", "DNASE9"]);
    let e = err(&mut s, "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [\"~brain\"]})");
    assert!(e.contains("argument `tracks`") && e.contains("brain"), "{e}");
    // rc averaging reads the stranded pair: the + track's average uses the − track's reverse prediction
    let on = matrix(eval(&mut s, "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [0, 1]}).to_array()"));
    let fwd = matrix(eval(
        &mut s,
        "m.predict_tracks(g, \"chr1:6000-6100\", #{tracks: [0, 1], rc_average: false}).to_array()",
    ));
    assert!(on.iter().flatten().zip(fwd.iter().flatten()).any(|(a, b)| (a - b).abs() > 1e-6));
}
