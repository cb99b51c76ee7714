//! Interpretation through the language on simulated data with planted motifs: TF activity by motif insertion ranks
//! each type's driver motif first, ISM peaks fall on planted sites, motif scanning finds them (and agrees with FIMO),
//! variant effects are signed as the planted truth says; bad motif files and variants give clear errors.

use std::collections::HashMap;

mod common;

use common::{err, eval, floats, session, strings};

/// Rows of a TSV file with a header, as maps.
fn tsv(path: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split('\t').map(String::from).collect();
    lines.map(|l| head.iter().cloned().zip(l.split('\t').map(String::from)).collect()).collect()
}

#[test]
fn planted_motifs_are_recovered_by_insertion_ism_scanning_and_variants() {
    let (mut s, _dir) = session();
    let _ = eval(
        &mut s,
        "let sim = simulate_atac(#{n_cells: 200, n_peaks: 1500, n_cell_types: 3, seed: 2}); let data = sim.data;",
    );
    let _ = eval(&mut s, "let model = train_scbasset(data, #{preset: \"tiny\", epochs: 60, batch_size: 64, seed: 1});");
    let planted = strings(eval(&mut s, "sim.motifs"));
    assert_eq!(planted, ["CTCF", "GATA1", "Spi1"]);
    let types = strings(eval(
        &mut s,
        "let types = data.obs(\"cell_type\"); let groups = types; groups.sort(); groups.dedup(); groups",
    ));

    // TF activity: a panel of the planted motifs and unplanted ones.
    let _ = eval(&mut s, "let panel = jaspar_motifs().select(sim.motifs + [\"FOXA1\", \"HNF4A\", \"SOX2\", \"MYOD1\", \"NFKB1\", \"TP53\"]);");
    let _ = eval(&mut s, "let act = insert_motif(model, panel, #{peaks: data, n_background: 300, seed: 3}); let z = act.mean_by_group(types);");
    let z: Vec<Vec<f64>> = eval(&mut s, "z.to_array()").into_array().unwrap().into_iter().map(floats).collect();
    assert_eq!(strings(eval(&mut s, "act.col_names()")).len(), 200);
    let _ = eval(&mut s, "let diff = insert_motif(model, panel, #{peaks: data, n_background: 300, seed: 3, output: \"difference\"}).mean_by_group(types);");
    let diff: Vec<Vec<f64>> = eval(&mut s, "diff.to_array()").into_array().unwrap().into_iter().map(floats).collect();
    for (t, motif) in planted.iter().enumerate() {
        // The planted motif's activity is highest in the type it drives ...
        let best_type = (0..3).max_by(|&a, &b| z[t][a].total_cmp(&z[t][b])).unwrap();
        assert_eq!(best_type, t, "{motif}: z by type {:?}", z[t]);
        // ... and in that type it is the panel's strongest motif (differences relative to the mean over types).
        let spec = |m: usize| diff[m][t] - diff[m].iter().sum::<f64>() / 3.0;
        let top = (0..diff.len()).max_by(|&a, &b| spec(a).total_cmp(&spec(b))).unwrap();
        assert_eq!(
            top,
            t,
            "type {}: specificity by motif {:?}",
            types[t],
            (0..diff.len()).map(spec).collect::<Vec<_>>()
        );
    }

    // ISM on driven peaks: the top position of the driving type's row lies in a planted site.
    let sites = tsv(&eval(&mut s, "sim.files.sites").to_string());
    let drivers: Vec<_> = tsv(&eval(&mut s, "sim.files.drivers").to_string())
        .into_iter()
        .filter(|d| d["driver_cell_type"] != "none")
        .collect();
    let names = strings(eval(&mut s, "let ps = data.peaks(); let names = []; for i in 0..ps.len() { let p = ps.get(i); names.push(`${p.chrom}:${p.start}-${p.end}`); } names"));
    let (mut hits, mut tried, mut inside, mut outside) = (0, 0, Vec::new(), Vec::new());
    for d in drivers.iter().take(12) {
        let peak = &d["peak"];
        let t = types.iter().position(|x| x == &d["driver_cell_type"]).unwrap();
        let i = names.iter().position(|n| n == peak).unwrap();
        let _ = eval(&mut s, &format!("let r = ism(model, data.peaks().get({i}), #{{data: data, groups: \"cell_type\"}}); let sc = r.scores();"));
        let row = floats(eval(&mut s, &format!("sc.row({t})")));
        let coords: Vec<i64> = strings(eval(&mut s, "sc.col_names()")).iter().map(|c| c.parse().unwrap()).collect();
        let in_site = |x: i64| {
            sites.iter().any(|st| {
                &st["peak"] == peak
                    && (st["start"].parse::<i64>().unwrap()..st["end"].parse::<i64>().unwrap()).contains(&x)
            })
        };
        if !coords.iter().any(|&x| in_site(x)) {
            continue; // every site of this peak lies outside the model window
        }
        tried += 1;
        let best = (0..row.len()).max_by(|&a, &b| row[a].abs().total_cmp(&row[b].abs())).unwrap();
        if in_site(coords[best]) {
            hits += 1;
        }
        for (k, &x) in coords.iter().enumerate() {
            if in_site(x) {
                inside.push(row[k].abs())
            } else {
                outside.push(row[k].abs())
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!(
        "ISM: top position in a planted site for {hits} of {tried} peaks; mean |score| inside {:.4}, outside {:.4}",
        mean(&inside),
        mean(&outside)
    );
    assert!(
        tried >= 8 && hits as f64 >= 0.75 * tried as f64,
        "ISM top position in a planted site for {hits} of {tried} peaks"
    );
    assert!(mean(&inside) > 3.0 * mean(&outside), "inside {} vs outside {}", mean(&inside), mean(&outside));

    // scan_motifs finds the planted sites of each driven peak (exact start and strand) at FIMO's --thresh 1e-3 as in
    // the scBasset motif notebook; at 1e-4 most hits are planted sites.
    let (mut found, mut total, mut strict_hits, mut strict_true) = (0, 0, 0, 0);
    for d in drivers.iter().take(40) {
        let peak = &d["peak"];
        let i = names.iter().position(|n| n == peak).unwrap();
        let _ = eval(&mut s, &format!("let p = data.peaks().get({i}); let h = scan_motifs(p, jaspar_motifs().select([\"{}\"]), #{{genome: sim.genome, p: 1e-3}});", d["driver_motif"]));
        let starts: Vec<i64> = eval(&mut s, "h.col(\"genomic_start\")")
            .into_array()
            .unwrap()
            .iter()
            .map(|x| x.as_int().unwrap())
            .collect();
        let strands = strings(eval(&mut s, "h.col(\"strand\")"));
        let pvals = floats(eval(&mut s, "h.col(\"p_value\")"));
        let planted_here: Vec<(i64, String)> = sites
            .iter()
            .filter(|st| &st["peak"] == peak)
            .map(|st| (st["start"].parse().unwrap(), st["strand"].clone()))
            .collect();
        for (start, strand) in &planted_here {
            total += 1;
            if starts.iter().zip(&strands).any(|(x, sd)| x == start && sd == strand) {
                found += 1;
            }
        }
        for k in (0..starts.len()).filter(|&k| pvals[k] <= 1e-4) {
            strict_hits += 1;
            if planted_here.iter().any(|(x, sd)| *x == starts[k] && *sd == strands[k]) {
                strict_true += 1;
            }
        }
    }
    // Variant effects: the most damaging substitution in a planted CTCF site of a CTCF-driven peak. Centred on the peak
    // and on the logit scale, the per-type effect equals the ISM delta of that base exactly.
    let d = drivers.iter().find(|d| d["driver_motif"] == "CTCF").unwrap();
    let i = names.iter().position(|n| n == &d["peak"]).unwrap();
    let _ = eval(&mut s, &format!("let p = data.peaks().get({i}); let r = ism(model, p, #{{data: data, groups: \"cell_type\"}}); let sc = r.scores();"));
    let row = floats(eval(&mut s, "sc.row(0)"));
    let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
    let deltas: Vec<f64> = floats(eval(&mut s, &format!("r.deltas(0).row({best})")));
    let alt = (0..4).min_by(|&a, &b| deltas[a].total_cmp(&deltas[b])).unwrap();
    let pos = eval(&mut s, &format!("r.start() + {best} + 1")).as_int().unwrap(); // 1-based
    let chrom = eval(&mut s, "p.chrom").to_string();
    let reference = eval(&mut s, &format!("sim.genome.fetch(\"{chrom}:{}-{pos}\")", pos - 1)).to_string();
    let variant = format!("{chrom}:{pos}:{reference}:{}", ["A", "C", "G", "T"][alt]);
    let _ = eval(&mut s, &format!("let ve = variant_effect(model, \"{variant}\", sim.genome, #{{center: \"peak\", peaks: data, scale: \"logit\", groups: \"cell_type\", data: data}});"));
    let by_type = floats(eval(&mut s, "ve.effects().row(0)"));
    let ism_by_type: Vec<f64> =
        (0..3).map(|t| floats(eval(&mut s, &format!("r.deltas({t}).row({best})")))[alt]).collect();
    for t in 0..3 {
        assert!((by_type[t] - ism_by_type[t]).abs() < 1e-4, "variant effect {by_type:?} vs ISM {ism_by_type:?}");
    }
    assert!(
        by_type[0] < 0.0 && by_type[0] < by_type[1] && by_type[0] < by_type[2],
        "CTCF-site loss by type {by_type:?}"
    );
    assert_eq!(strings(eval(&mut s, "ve.table().col(\"status\")")), ["ok"]);
    // Centred on the variant, on the default sigmoid scale: still most negative for the CTCF type.
    let centred = floats(eval(
        &mut s,
        &format!("variant_effect(model, \"{variant}\", sim.genome, #{{groups: types}}).effects().row(0)"),
    ));
    assert!(centred[0] < centred[1] && centred[0] < centred[2], "{centred:?}");
    // PWM–ISM: the CTCF hits of this peak score highest for the CTCF-driven type.
    let _ = eval(&mut s, "let hh = scan_motifs(p, jaspar_motifs().select([\"CTCF\"]), #{genome: sim.genome, ism: r}); let hh = hh.sort_by(\"p_value\", false);");
    let cols = strings(eval(&mut s, "hh.columns()"));
    assert!(
        cols.contains(&"pwm_ism:type0_CTCF".to_string()) && cols.contains(&"pwm_ism:type2_Spi1".to_string()),
        "{cols:?}"
    );
    let own = floats(eval(&mut s, "hh.col(\"pwm_ism:type0_CTCF\")"));
    let other = floats(eval(&mut s, "hh.col(\"pwm_ism:type1_GATA1\")"));
    assert!(own[0] > 0.0 && own[0] > other[0], "best CTCF hit: PWM–ISM {} in its type vs {}", own[0], other[0]);
    let fig = eval(&mut s, "plot_ism(r, #{hits: hh}).to_string()").to_string();
    assert!(fig.contains("ism"), "{fig}");
    // A VCF with the same variant, a wrong REF, a symbolic allele and an unknown chromosome.
    let wrong = if reference == "A" { "C" } else { "A" };
    let vcf = format!(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n{chrom}\t{pos}\trs1\t{reference}\t{}\t.\t.\t.\n{chrom}\t{pos}\trs2\t{wrong}\tG\t.\t.\t.\n{chrom}\t{pos}\trs3\t{reference}\t<DEL>\t.\t.\t.\nchrUn\t5\trs4\tA\tG\t.\t.\t.\n",
        ["A", "C", "G", "T"][alt]
    );
    let vcf_path = _dir.path().join("v.vcf");
    std::fs::write(&vcf_path, vcf).unwrap();
    let e = err(&mut s, &format!("variant_effect(model, \"{}\", sim.genome)", vcf_path.display()));
    assert!(
        e.contains("rs2") && e.contains("same build") && e.contains("and 1 more") && e.contains("mismatch: \"flag\""),
        "{e}"
    );
    let _ = eval(
        &mut s,
        &format!("let ve2 = variant_effect(model, \"{}\", sim.genome, #{{mismatch: \"flag\"}});", vcf_path.display()),
    );
    assert_eq!(strings(eval(&mut s, "ve2.table().col(\"id\")")), ["rs1", "rs2", "rs4"]);
    assert_eq!(strings(eval(&mut s, "ve2.table().col(\"status\")")), ["ok", "ref_mismatch", "unknown_chromosome"]);
    assert!(floats(eval(&mut s, "ve2.effects().row(1)")).iter().all(|x| x.is_nan()));
    assert_eq!(eval(&mut s, "ve2.effects().shape()[1]").as_int().unwrap(), 200);
    assert!(err(&mut s, "variant_effect(model, \"chr1:10:A\", sim.genome)").contains("chrom:pos:ref:alt"));

    // TF activity goes to h5ad obsm (cells × motifs) and CSV.
    let _ = eval(&mut s, "data.write_h5ad(out_path(\"tf.h5ad\"), #{obsm: #{tf_activity: act.transpose()}}); write_csv(act, out_path(\"tf.csv\"));");
    let csv = std::fs::read_to_string(_dir.path().join("tf.csv")).unwrap();
    assert!(
        csv.lines().count() == 10 && csv.lines().nth(1).unwrap().starts_with("CTCF,"),
        "{}",
        &csv[..200.min(csv.len())]
    );

    eprintln!("scan_motifs: {found} of {total} planted sites found at p ≤ 1e-3; {strict_true} of {strict_hits} hits at p ≤ 1e-4 are planted");
    assert!(total >= 40 && found as f64 >= 0.9 * total as f64, "scan_motifs found {found} of {total} planted sites");
    assert!(
        strict_true as f64 >= 0.8 * strict_hits as f64,
        "{strict_true} of {strict_hits} strict hits are planted sites"
    );
}

/// FIMO's p-values (MEME suite through pymemesuite) for the same motifs and sequences agree with ours: the same
/// hits, p-values within 5 % (both discretise the score matrix, FIMO with an integer scale factor).
#[test]
fn motif_scan_p_values_match_fimo() {
    let Some(python) = gscript_runtime::testing::test_python() else { return };
    let (mut s, dir) = session();
    let meme = dir.path().join("m.meme");
    let _ = eval(&mut s, &format!("jaspar_motifs().select([\"CTCF\", \"GATA1\", \"CEBPA\", \"SPI1\", \"FOXA1\", \"REST\"]).write_meme(\"{}\")", meme.display()));
    // Random sequences with a few planted consensus sites.
    let mut state = 12345u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let consensus = strings(eval(
        &mut s,
        "jaspar_motifs().select([\"CTCF\", \"GATA1\", \"CEBPA\"]).names().map(|n| jaspar_motifs().get(n).sample(7))",
    ));
    let mut seqs: Vec<String> = (0..4).map(|_| (0..3000).map(|_| b"ACGT"[next() % 4] as char).collect()).collect();
    for (k, c) in consensus.iter().enumerate() {
        let at = 500 + 700 * k;
        seqs[k].replace_range(at..at + c.len(), c);
    }
    let fasta = dir.path().join("s.fa");
    std::fs::write(&fasta, seqs.iter().enumerate().map(|(i, q)| format!(">s{i}\n{q}\n")).collect::<String>()).unwrap();
    let out = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/fimo_scan.py"))
        .arg(&meme)
        .arg(&fasta)
        .arg("0.1")
        .arg("1e-4")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fimo: Vec<(String, usize, i64, String, f64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                f[1][1..].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].to_string(),
                f[5].parse().unwrap(),
            )
        })
        .collect();
    let list = seqs.iter().map(|q| format!("\"{q}\"")).collect::<Vec<_>>().join(", ");
    let _ = eval(&mut s, &format!("let h = scan_motifs([{list}], read_motifs(\"{}\"), #{{p: 1e-4}});", meme.display()));
    let ids = strings(eval(&mut s, "h.col(\"id\")"));
    let seq: Vec<i64> =
        eval(&mut s, "h.col(\"sequence\")").into_array().unwrap().iter().map(|x| x.as_int().unwrap()).collect();
    let start: Vec<i64> =
        eval(&mut s, "h.col(\"start\")").into_array().unwrap().iter().map(|x| x.as_int().unwrap()).collect();
    let strand = strings(eval(&mut s, "h.col(\"strand\")"));
    let p = floats(eval(&mut s, "h.col(\"p_value\")"));
    assert!(fimo.len() >= 10, "FIMO found only {} hits", fimo.len());
    let ours = |id: &str, sq: usize, st: i64, sd: &str| {
        (0..ids.len())
            .find(|&k| ids[k] == id && seq[k] as usize == sq && start[k] == st && strand[k] == sd)
            .map(|k| p[k])
    };
    let mut compared = 0;
    for (id, sq, st, sd, pf) in &fimo {
        match ours(id, *sq, *st, sd) {
            Some(po) => {
                assert!((po / pf - 1.0).abs() < 0.05, "{id} s{sq}:{st}{sd}: ours {po:e}, FIMO {pf:e}");
                compared += 1;
            }
            // A hit at the threshold may fall on either side of it.
            None => assert!(*pf > 5e-5, "FIMO hit {id} s{sq}:{st}{sd} (p {pf:e}) missing from ours"),
        }
    }
    for k in (0..ids.len()).filter(|&k| p[k] < 5e-5) {
        assert!(
            fimo.iter().any(|f| f.0 == ids[k] && f.1 == seq[k] as usize && f.2 == start[k] && f.3 == strand[k]),
            "our hit {} s{}:{} (p {:e}) missing from FIMO",
            ids[k],
            seq[k],
            start[k],
            p[k]
        );
    }
    assert!(compared as f64 >= 0.9 * fimo.len() as f64, "{compared} of {} FIMO hits compared", fimo.len());
}

#[test]
fn bad_motif_files_and_inputs_name_the_problem() {
    let (mut s, dir) = session();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let no_header = write(
        "a.meme",
        "MOTIF M1\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n0.25 0.25 0.25 0.25\n",
    );
    let bad_sum = write("b.meme", "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF M1\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.25 0.25\n0.5 0.5 0.5 0.5\n");
    let bad_alen = write(
        "c.meme",
        "MEME version 4\n\nMOTIF M1\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.5\n0.25 0.25 0.25 0.25\n",
    );
    let jaspar_rows = write("d.jaspar", ">MA1 X\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\n");
    for (path, line, what) in [
        (&no_header, None, "MEME"),
        (&bad_sum, Some(8), "sum"),
        (&bad_alen, Some(5), "expected 4"),
        (&jaspar_rows, None, "T"),
    ] {
        let e = err(&mut s, &format!("read_motifs(\"{path}\")"));
        assert!(e.contains(path.as_str()) && e.contains(what), "{path}: {e}");
        if let Some(l) = line {
            assert!(e.contains(&format!(":{l}")), "{path}: line {l} not named in {e}");
        }
    }
    assert!(err(&mut s, "read_motifs(\"/no/such.meme\")").contains("no such file"));
    assert!(err(&mut s, "jaspar_motifs().get(\"NOT_A_TF\")").contains("NOT_A_TF"));
    assert!(err(&mut s, "jaspar_motifs().select([\"CTCF\", \"gata\"])").contains("similar: GATA"));
    assert_eq!(eval(&mut s, "jaspar_motifs().len()").as_int().unwrap(), 1019);
    assert_eq!(eval(&mut s, "jaspar_motifs().get(\"MA0139.2\").name()").to_string(), "CTCF");
    // Scanning inputs.
    assert!(err(&mut s, "scan_motifs(\"chr1:1-100\", jaspar_motifs())").contains("genome"));
    assert!(err(&mut s, "scan_motifs(\"ACGT\", 5)").contains("MotifSet"));
    assert!(err(&mut s, "scan_motifs(\"ACGT\", jaspar_motifs(), #{p: 2.0})").contains("p-value"));
    // Round trip through MEME writing, and gzip.
    let out = dir.path().join("j.meme");
    let _ = eval(&mut s, &format!("jaspar_motifs().select([\"CTCF\", \"GATA1\"]).write_meme(\"{}\")", out.display()));
    assert_eq!(strings(eval(&mut s, &format!("read_motifs(\"{}\").names()", out.display()))), ["CTCF", "GATA1"]);
    let m = floats(eval(&mut s, "let m = jaspar_motifs().get(\"GATA1\"); m.ppm().row(0)"));
    assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    assert_eq!(
        eval(&mut s, "m.reverse_complement().reverse_complement().consensus() == m.consensus()").as_bool(),
        Ok(true)
    );
    assert_eq!(eval(&mut s, "m.sample(1).len() == m.width()").as_bool(), Ok(true));
}
