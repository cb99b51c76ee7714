//! Motif sets in the language: `read_motifs` (MEME, JASPAR/PFM, HOMER; gzipped or not), `jaspar_motifs` (the
//! shipped JASPAR 2026 CORE vertebrates collection), and the `MotifSet` / `Motif` values.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use gscript_lang::rhai::{Array, Dynamic};
use gscript_lang::{primitive_error, FnDoc, MimeBundle, OptDefault, Registrar};
use gscript_runtime::data::simulate::JASPAR_VERTEBRATES;
use gscript_runtime::motif::{parse_meme, read_motif_file_as, write_meme, Motif, MotifFormat, MotifSet};
use rand::SeedableRng;

use crate::bridge::{in_primitive, register1, write_output, ScriptResult};
use crate::rank_zero::write_from_rank_zero;
use crate::values::matrix::html_escape;
use crate::values::Matrix;

/// A motif collection held in a script.
#[derive(Clone)]
pub struct MotifSetValue(pub Arc<MotifSet>);

/// One motif held in a script.
#[derive(Clone)]
pub struct MotifValue(pub Arc<Motif>);

fn motif_label(m: &Motif) -> String {
    if m.name.is_empty() {
        m.id.clone()
    } else {
        format!("{} {}", m.id, m.name)
    }
}

impl MotifSetValue {
    fn summary(&self) -> String {
        let s = &self.0;
        let source = std::path::Path::new(&s.source)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| s.source.clone());
        format!("MotifSet({} motifs from {source})", s.len())
    }
    fn text(&self) -> String {
        let mut t = self.summary();
        for m in self.0.iter().take(8) {
            let _ = write!(t, "\n  {:<10} {:<12} w={:<3} {}", m.id, m.name, m.width(), m.consensus());
        }
        if self.0.len() > 8 {
            let _ = write!(t, "\n  … {} more", self.0.len() - 8);
        }
        t
    }
    fn html(&self) -> String {
        let mut s = format!("<div><b>{}</b><table><thead><tr><th>id</th><th>name</th><th>width</th><th>consensus</th></tr></thead><tbody>", html_escape(&self.summary()));
        for m in self.0.iter().take(20) {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                html_escape(&m.id),
                html_escape(&m.name),
                m.width(),
                m.consensus()
            );
        }
        s.push_str("</tbody></table></div>");
        s
    }
}

/// The shipped JASPAR 2026 CORE vertebrates set, parsed once.
pub fn jaspar_set() -> Arc<MotifSet> {
    static SET: OnceLock<Arc<MotifSet>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut s =
            parse_meme(JASPAR_VERTEBRATES, "JASPAR2026_CORE_vertebrates.meme").expect("the shipped JASPAR file parses");
        s.source = "JASPAR2026_CORE_vertebrates.meme (shipped)".into();
        Arc::new(s)
    })
    .clone()
}

/// A motif set or a single motif, as a list of motifs.
pub(crate) fn motif_list(primitive: &str, v: &gscript_lang::rhai::Dynamic) -> ScriptResult<Vec<Motif>> {
    if let Some(s) = v.clone().try_cast::<MotifSetValue>() {
        if s.0.is_empty() {
            return Err(primitive_error(primitive, Some("motifs"), "the motif set is empty"));
        }
        return Ok(s.0.motifs.clone());
    }
    if let Some(m) = v.clone().try_cast::<MotifValue>() {
        return Ok(vec![(*m.0).clone()]);
    }
    Err(primitive_error(
        primitive,
        Some("motifs"),
        &format!("expected a MotifSet (read_motifs, jaspar_motifs) or a Motif, got {}", v.type_name()),
    ))
}

fn base_rows(rows: &[[f64; 4]]) -> Matrix {
    Matrix::by_base(rows.iter().map(|r| r.map(|v| v as f32)))
}

pub fn register(reg: &mut Registrar) {
    reg.engine.register_type_with_name::<MotifSetValue>("MotifSet");
    reg.host.register_renderer::<MotifSetValue>(|s| MimeBundle::plain(s.text()).with_text("text/html", s.html()));
    reg.engine.register_type_with_name::<MotifValue>("Motif");
    reg.host.register_renderer::<MotifValue>(|m| {
        MimeBundle::plain(format!("Motif {} (w={}, {})", motif_label(&m.0), m.0.width(), m.0.consensus()))
    });

    let doc = FnDoc::new("read_motifs", "interpret", "read_motifs(path: string, options?: map) -> MotifSet", "Reads a motif file: MEME (CIS-BP, HOMOCOCO, JASPAR exports), JASPAR .jaspar/.pfm counts, or HOMER .motif; gzipped or not.")
        .details("The format comes from the extension (.meme, .jaspar/.pfm, .motif) or, failing that, from the content. Count matrices become \
                  probabilities with `pseudocount` added to every count. Errors name the file and line (missing header, a row not summing \
                  to 1, a wrong alphabet length, …).")
        .opt("format", "string", OptDefault::Str("auto"), "\"auto\", \"meme\", \"jaspar\" or \"homer\"")
        .opt("pseudocount", "float", OptDefault::Float(0.0), "added to each count of JASPAR/PFM count matrices")
        .example("let m = read_motifs(jaspar_motifs().write_meme(out_path(\"jaspar.meme\")));\nprint(m.len());");
    register1(reg, doc, |path: String, o| {
        const P: &str = "read_motifs";
        let p = PathBuf::from(&path);
        let format = match o.choice("format", &["auto", "meme", "jaspar", "homer"])?.as_deref() {
            Some("meme") => Some(MotifFormat::Meme),
            Some("jaspar") => Some(MotifFormat::Jaspar),
            Some("homer") => Some(MotifFormat::Homer),
            _ => None,
        };
        let pseudocount = o.float("pseudocount")?.unwrap_or(0.0);
        if !(pseudocount.is_finite() && pseudocount >= 0.0) {
            return Err(primitive_error(P, Some("pseudocount"), "must be a finite number ≥ 0"));
        }
        if !p.exists() {
            return Err(primitive_error(P, Some("path"), &format!("{path}: no such file")));
        }
        let set = read_motif_file_as(&p, format, pseudocount).map_err(in_primitive(P))?;
        if set.is_empty() {
            return Err(primitive_error(P, Some("path"), &format!("{path}: no motifs in the file")));
        }
        Ok(MotifSetValue(Arc::new(set)))
    });

    reg.docs.add(
        FnDoc::new("jaspar_motifs", "interpret", "jaspar_motifs() -> MotifSet", "The JASPAR 2026 CORE vertebrates collection shipped with gscript (1,019 motifs; CC BY 4.0).")
            .details("Non-redundant vertebrate profiles from JASPAR 2026 (Rauluseviciute et al.), in MEME format; the default motif set for insert_motif and scan_motifs.")
            .example("let j = jaspar_motifs();\nprint(j.get(\"CTCF\").consensus());"),
    );
    reg.engine.register_fn("jaspar_motifs", || MotifSetValue(jaspar_set()));

    let s = |name: &str, sig: &str, summary: &str| FnDoc::method("MotifSet", name, "interpret", sig, summary);
    reg.docs.add(
        s("to_string", "motifs.to_string() -> string", "Number of motifs and source.")
            .example("print(jaspar_motifs().to_string());"),
    );
    reg.engine.register_fn("to_string", |s: &mut MotifSetValue| s.summary());
    reg.docs.add(s("len", "motifs.len() -> int", "Number of motifs.").example("print(jaspar_motifs().len());"));
    reg.engine.register_fn("len", |s: &mut MotifSetValue| s.0.len() as i64);
    reg.docs.add(
        s("names", "motifs.names() -> array", "Motif names (TF names), in file order.")
            .example("let names = jaspar_motifs().names();\nprint(\"GATA1\" in names);"),
    );
    reg.engine.register_fn("names", |s: &mut MotifSetValue| -> Array {
        s.0.iter().map(|m| Dynamic::from(m.name.clone())).collect()
    });
    reg.docs.add(
        s("ids", "motifs.ids() -> array", "Motif ids (e.g. MA0139.2), in file order.")
            .example("let panel = jaspar_motifs().select([\"CTCF\", \"GATA1\", \"SPI1\"]);\nprint(panel.ids());"),
    );
    reg.engine.register_fn("ids", |s: &mut MotifSetValue| -> Array {
        s.0.iter().map(|m| Dynamic::from(m.id.clone())).collect()
    });
    let get = |s: &MotifSetValue, key: &str| -> ScriptResult<MotifValue> {
        s.0.get(key).map(|m| MotifValue(Arc::new(m.clone()))).ok_or_else(|| {
            let lower = key.to_ascii_lowercase();
            let similar: Vec<&str> =
                s.0.iter()
                    .filter(|m| m.name.to_ascii_lowercase().contains(&lower))
                    .map(|m| m.name.as_str())
                    .take(5)
                    .collect();
            primitive_error(
                "MotifSet.get",
                Some("key"),
                &format!(
                    "no motif with id or name `{key}`{}",
                    if similar.is_empty() { String::new() } else { format!("; similar: {}", similar.join(", ")) }
                ),
            )
        })
    };
    reg.docs.add(
        s("get", "motifs.get(key: string | int) -> Motif", "A motif by id or name (case-insensitive), or by index.")
            .example("jaspar_motifs().get(\"MA0139.2\")"),
    );
    reg.engine.register_fn("get", move |s: &mut MotifSetValue, key: &str| get(s, key));
    reg.engine.register_fn("get", |s: &mut MotifSetValue, i: i64| -> ScriptResult<MotifValue> {
        s.0.motifs
            .get(usize::try_from(i).unwrap_or(usize::MAX))
            .map(|m| MotifValue(Arc::new(m.clone())))
            .ok_or_else(|| primitive_error("MotifSet.get", Some("i"), &format!("{i} is outside 0..{}", s.0.len())))
    });
    reg.docs.add(
        s(
            "select",
            "motifs.select(keys: array) -> MotifSet",
            "The motifs with these ids or names, in the order given.",
        )
        .example("let panel = jaspar_motifs().select([\"CTCF\", \"GATA1\", \"SPI1\"]);\nprint(panel.len());"),
    );
    reg.engine.register_fn("select", move |s: &mut MotifSetValue, keys: Array| -> ScriptResult<MotifSetValue> {
        let mut out = MotifSet::new(s.0.source.clone());
        for k in keys {
            out.motifs.push((*get(s, &k.to_string())?.0).clone());
        }
        Ok(MotifSetValue(Arc::new(out)))
    });
    reg.docs.add(s("write_meme", "motifs.write_meme(path: string) -> string", "Writes the set in MEME minimal format (atomically); returns the path.").example("let path = jaspar_motifs().select([\"CTCF\", \"GATA1\"]).write_meme(out_path(\"panel.meme\"));\nprint(read_motifs(path).names());"));
    let host = reg.host.clone();
    reg.engine.register_fn("write_meme", move |s: &mut MotifSetValue, path: &str| -> ScriptResult<String> {
        write_from_rank_zero(&host, "write_meme", "path", path, || {
            write_output("write_meme", Path::new(path), write_meme(&s.0).as_bytes())
        })?;
        Ok(path.to_string())
    });

    let m = |name: &str, sig: &str, summary: &str| FnDoc::method("Motif", name, "interpret", sig, summary);
    reg.docs.add(
        m("to_string", "motif.to_string() -> string", "Id, name, width and consensus.")
            .example("print(jaspar_motifs().get(\"CTCF\").to_string());"),
    );
    reg.engine.register_fn("to_string", |m: &mut MotifValue| {
        format!("Motif {} (w={}, {})", motif_label(&m.0), m.0.width(), m.0.consensus())
    });
    reg.docs.add(
        m("id", "motif.id() -> string", "Motif id.")
            .example("let ctcf = jaspar_motifs().get(\"CTCF\");\nprint(ctcf.id());"),
    );
    reg.engine.register_fn("id", |m: &mut MotifValue| m.0.id.clone());
    reg.docs.add(
        m("name", "motif.name() -> string", "Motif (TF) name; empty when the file has none.")
            .example("let m = jaspar_motifs().get(\"MA0139.2\");\nprint(m.name());"),
    );
    reg.engine.register_fn("name", |m: &mut MotifValue| m.0.name.clone());
    reg.docs.add(
        m("width", "motif.width() -> int", "Number of positions.")
            .example("print(jaspar_motifs().get(\"CTCF\").width());"),
    );
    reg.engine.register_fn("width", |m: &mut MotifValue| m.0.width() as i64);
    reg.docs.add(
        m("consensus", "motif.consensus() -> string", "Consensus sequence (IUPAC codes for mixed positions).")
            .example("jaspar_motifs().get(\"GATA1\").consensus()"),
    );
    reg.engine.register_fn("consensus", |m: &mut MotifValue| m.0.consensus());
    reg.docs.add(m("reverse_complement", "motif.reverse_complement() -> Motif", "The motif on the other strand.").example("let gata = jaspar_motifs().get(\"GATA1\");\nprint(gata.consensus());\nprint(gata.reverse_complement().consensus());"));
    reg.engine.register_fn("reverse_complement", |m: &mut MotifValue| MotifValue(Arc::new(m.0.reverse_complement())));
    reg.docs.add(
        m("ppm", "motif.ppm() -> Matrix", "Position probability matrix, width × 4 (A, C, G, T).")
            .example("let ppm = jaspar_motifs().get(\"GATA1\").ppm();\nprint(ppm.row(0));"),
    );
    reg.engine.register_fn("ppm", |m: &mut MotifValue| base_rows(&m.0.ppm));
    reg.docs.add(
        m("pwm", "motif.pwm(pseudocount?: float) -> Matrix", "Log-odds weights log2((p + c·bg)/(1 + c)/bg) against the motif's background, width × 4.")
            .details("The pseudocount c is a fraction of probability mass (default 0.01, FIMO's); zero probabilities give −inf without one.").example("let pwm = jaspar_motifs().get(\"CTCF\").pwm(0.1);\nshow(plot_heatmap(pwm));"),
    );
    let pwm = |m: &MotifValue, c: f64| -> ScriptResult<Matrix> {
        if !(c.is_finite() && c >= 0.0) {
            return Err(primitive_error("Motif.pwm", Some("pseudocount"), "must be a finite number ≥ 0"));
        }
        Ok(base_rows(&m.0.log_odds(c)))
    };
    reg.engine.register_fn("pwm", move |m: &mut MotifValue| pwm(m, 0.01));
    reg.engine.register_fn("pwm", move |m: &mut MotifValue, c: f64| pwm(m, c));
    reg.docs.add(
        m(
            "sample",
            "motif.sample(seed: int) -> string",
            "One sequence drawn position by position from the motif's probabilities.",
        )
        .example("let site = jaspar_motifs().get(\"CTCF\").sample(7);\nprint(site);"),
    );
    reg.engine.register_fn("sample", |m: &mut MotifValue, seed: i64| -> String {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed as u64);
        String::from_utf8_lossy(&m.0.sample_sequence(&mut rng)).into_owned()
    });
}
