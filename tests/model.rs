//! train_scbasset through the language on simulated data: it learns (auROC rises well above 0.5) and the cell
//! embedding separates the planted cell types; bad inputs give clear errors.

use std::sync::Arc;

use gscript_lang::{CaptureSink, Session, SinkEvent};
use gscript_stdlib::StdLib;

fn eval(s: &mut Session, code: &str) -> gscript_lang::rhai::Dynamic {
    s.eval(code, "<test>").unwrap_or_else(|e| panic!("{}", e.render()))
}

#[test]
fn tiny_model_learns_and_embeds_cell_types() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(CaptureSink::default());
    let mut s = Session::new(sink.clone(), &[&StdLib]);
    s.host().set_out_dir(dir.path());
    let _ = eval(&mut s, "let sim = simulate_atac(#{n_cells: 200, n_peaks: 1500, n_cell_types: 3, seed: 2});");
    let _ = eval(&mut s, "let data = load_peaks(sim.files.h5ad, #{genome: sim.genome, min_cell_fraction: 0.0});");
    let _ = eval(&mut s, "let model = train_scbasset(data, #{preset: \"tiny\", epochs: 40, batch_size: 64, seed: 1});");
    let auroc: Vec<f64> = eval(&mut s, "model.history().train_auroc").into_array().unwrap().iter().map(|v| v.as_float().unwrap()).collect();
    let best = auroc.iter().cloned().fold(f64::MIN, f64::max);
    assert!(best > 0.68 && auroc[0] < 0.6, "train auROC {auroc:?}");
    let val: Vec<f64> = eval(&mut s, "model.history().val_auroc").into_array().unwrap().iter().map(|v| v.as_float().unwrap()).collect();
    assert!(val.last().unwrap() > &0.65, "val auROC {val:?}");

    // nearest-centroid accuracy of the embedding against the planted types (chance: 1/3)
    let emb: Vec<Vec<f64>> = eval(&mut s, "model.cell_embeddings().to_array()")
        .into_array()
        .unwrap()
        .into_iter()
        .map(|r| r.into_array().unwrap().iter().map(|v| v.as_float().unwrap()).collect())
        .collect();
    let types: Vec<String> = eval(&mut s, "data.obs(\"cell_type\")").into_array().unwrap().iter().map(|v| v.to_string()).collect();
    let mut names = types.clone();
    names.sort();
    names.dedup();
    let dim = emb[0].len();
    let centroids: Vec<Vec<f64>> = names
        .iter()
        .map(|n| {
            let rows: Vec<&Vec<f64>> = emb.iter().zip(&types).filter(|(_, t)| *t == n).map(|(e, _)| e).collect();
            (0..dim).map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / rows.len() as f64).collect()
        })
        .collect();
    let correct = emb
        .iter()
        .zip(&types)
        .filter(|(e, t)| {
            let d = |c: &Vec<f64>| c.iter().zip(e.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>();
            let best = (0..names.len()).min_by(|&a, &b| d(&centroids[a]).total_cmp(&d(&centroids[b]))).unwrap();
            &names[best] == *t
        })
        .count();
    let acc = correct as f64 / emb.len() as f64;
    assert!(acc > 0.8, "nearest-centroid accuracy {acc}");

    // a live training figure was displayed and updated in place
    let events = sink.take();
    let live: Vec<_> = events.iter().filter_map(|e| match e { SinkEvent::Display { display_id: Some(id), update, .. } => Some((id.clone(), *update)), _ => None }).collect();
    assert!(live.len() >= 2 && !live[0].1 && live[1..].iter().all(|(id, u)| *u && id == &live[0].0), "{live:?}");
    assert_eq!(eval(&mut s, "model.intercept().len()").as_int().unwrap(), 200);
}

#[test]
fn training_input_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Session::new(Arc::new(CaptureSink::default()), &[&StdLib]);
    s.host().set_out_dir(dir.path());
    let _ = eval(&mut s, "let sim = simulate_atac(#{n_cells: 20, n_peaks: 40, n_cell_types: 2});");
    let _ = eval(&mut s, "let bare = load_peaks(sim.files.h5ad, #{min_cell_fraction: 0.0});");
    let e = s.eval("train_scbasset(bare, #{preset: \"tiny\"})", "<t>").unwrap_err().message;
    assert!(e.contains("no genome attached"), "{e}");
    let e = s.eval("train_scbasset(sim.data, #{preset: \"huge\"})", "<t>").unwrap_err().message;
    assert!(e.contains("\"huge\" is not one of"), "{e}");
    let e = s.eval("train_scbasset(sim.data, #{preset: \"tiny\", epoch: 3})", "<t>").unwrap_err().message;
    assert!(e.contains("did you mean `epochs`"), "{e}");
}
