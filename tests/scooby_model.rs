//! scooby models through the language: `scooby_model` with the tiny preset and options, `parameters` by group checked
//! against the layer sizes, save → `import_scooby` restoring the same model, and clear errors for bad options and files.

mod common;

use common::{err, eval, session};

fn int(s: &mut gscript_lang::Session, expr: &str) -> i64 {
    eval(s, expr).as_int().unwrap()
}

#[test]
fn tiny_scooby_counts_save_and_import() {
    let (mut s, dir) = session();
    let _ = eval(&mut s, "let m = scooby_model(#{state_dim: 6, tracks: 2, seed: 4});");
    let text = eval(&mut s, "m.to_string()").to_string();
    assert!(
        text.starts_with("scooby tiny, untrained (E 6, T 2: RNA +, RNA -; 8,192 bp → 128 × 32 bp; 20 adapters"),
        "{text}"
    );
    assert!(eval(&mut s, "m.summary()").to_string().contains("LoRA"));
    // decoder 6 → 128 → 256 → 1024 → (96 + 1)·2 and transform 96 → 128 → 96, with biases (the tiny trunk's D = 96)
    let head = 7 * 128 + 129 * 256 + 257 * 1024 + 1025 * 194 + (97 * 128 + 129 * 96);
    assert_eq!(int(&mut s, "m.parameters().head"), head);
    // LoRA r 8 over the tiny trunk: 12 convolutions (stem 4→32 k15, tower k5 32→40→48→56→64→72, unet1 72→64 k5,
    // horizontal 72→64 and 64→64, upsampling 64→64 twice, final 64→96, k1) and per block q 64→32, v 64→64, MLP 64→128→64
    let convs = [(4, 32, 15), (32, 40, 5), (40, 48, 5), (48, 56, 5), (56, 64, 5), (64, 72, 5), (72, 64, 5)]
        .iter()
        .chain(&[(72, 64, 1), (64, 64, 1), (64, 64, 1), (64, 64, 1), (64, 96, 1)])
        .map(|&(i, o, k)| 8 * (i * k + o))
        .sum::<i64>();
    let linears = [(64, 32), (64, 64), (64, 128), (128, 64)].iter().map(|&(i, o)| 8 * (i + o)).sum::<i64>();
    assert_eq!(int(&mut s, "m.parameters().adapters"), convs + 2 * linears);
    assert!(int(&mut s, "m.parameters().trunk") > 0);

    let file = dir.path().join("tiny.safetensors");
    let _ = eval(&mut s, &format!("m.save(\"{}\"); let b = import_scooby(\"{}\");", file.display(), file.display()));
    let back = eval(&mut s, "b.to_string()").to_string();
    assert!(back.contains("E 6, T 2") && back.contains("20 adapters") && back.contains("128 × 32 bp"), "{back}");
    assert_eq!(int(&mut s, "b.parameters().head"), head);
    assert_eq!(int(&mut s, "b.parameters().adapters"), convs + 2 * linears);

    let no_transform = int(&mut s, "scooby_model(#{transform: false}).parameters().head");
    assert_eq!(no_transform, 9 * 128 + 129 * 256 + 257 * 1024 + 1025 * 291, "E 8, T 3, no transform");
}

#[test]
fn bad_options_and_files_are_clear_errors() {
    let (mut s, dir) = session();
    let e = err(&mut s, "scooby_model(#{tracks: 4})");
    assert!(e.contains("tracks") && e.contains("1, 2 or 3"), "{e}");
    let e = err(&mut s, "scooby_model(#{preset: \"huge\"})");
    assert!(e.contains("neurips") && e.contains("tiny"), "{e}");
    let e = err(&mut s, "scooby_model(#{colour: 1})");
    assert!(e.contains("colour"), "{e}");
    let e = err(&mut s, &format!("import_scooby(\"{}/none.safetensors\")", dir.path().display()));
    assert!(e.contains("no such file"), "{e}");
    // a Borzoi file is not a scooby checkpoint
    let f = dir.path().join("borzoi.safetensors");
    let e = err(&mut s, &format!("borzoi_model().save(\"{}\"); import_scooby(\"{}\")", f.display(), f.display()));
    assert!(e.contains("cell_state_to_conv"), "{e}");
}
