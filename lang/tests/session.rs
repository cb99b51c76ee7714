//! Session behaviour: errors with positions, interrupts, imports, params, completion, completeness, display.

use std::sync::Arc;
use std::time::Duration;

use gscript_lang::rhai::Dynamic;
use gscript_lang::{
    register0, register1, register_method1, CaptureSink, Completeness, ErrorKind, FnDoc, OptDefault, Package,
    Registrar, Session,
};

/// A tiny package exercising option maps, like the standard library does.
struct Demo;

fn train_doc() -> FnDoc {
    FnDoc::new("train_demo", "model", "train_demo(x: int, options?: map) -> int", "Demo primitive.")
        .opt("epochs", "int", OptDefault::Int(3), "Passes.")
        .opt("device", "string", OptDefault::Str("cpu"), "Where.")
}

impl Package for Demo {
    fn register(&self, reg: &mut Registrar) {
        reg.area("model", "Models");
        register1(reg, train_doc(), |x: i64, o| Ok(x * o.int("epochs")?.unwrap()));
        register0(
            reg,
            FnDoc::new(
                "seed_demo",
                "model",
                "seed_demo(options?: map) -> int",
                "Demo primitive without positional arguments.",
            )
            .opt("seed", "int", OptDefault::Int(7), "Seed."),
            |o| Ok(o.int("seed")?.unwrap()),
        );
        register_method1(
            reg,
            FnDoc::method(
                "int",
                "shifted_demo",
                "model",
                "x.shifted_demo(by: int, options?: map) -> int",
                "Demo method.",
            )
            .opt("times", "int", OptDefault::Int(1), "Repeats."),
            |x: &mut i64, by: i64, o| Ok(*x + by * o.int_at_least("times", 0)?.unwrap()),
        );
        reg.docs.add(FnDoc::new("boom", "core", "boom()", "Panics (tests the panic boundary)."));
        reg.engine.register_fn("boom", || -> i64 { panic!("kaboom") });
    }
}

fn session() -> (Session, Arc<CaptureSink>) {
    let sink = Arc::new(CaptureSink::default());
    (Session::new(sink.clone(), &[&Demo]), sink)
}

#[test]
fn prints_and_keeps_variables_between_inputs() {
    let (mut s, sink) = session();
    let _ = s.eval("let x = 40;", "<cell 1>").unwrap();
    let _ = s.eval("fn add2(v) { v + 2 }", "<cell 2>").unwrap();
    let v = s.eval("print(`x=${x}`); add2(x)", "<cell 3>").unwrap();
    assert_eq!(v.as_int().unwrap(), 42);
    assert_eq!(sink.stdout(), "x=40\n");
    assert_eq!(s.history().len(), 3);
}

#[test]
fn runtime_error_has_line_column_source_line_and_caret() {
    let (mut s, _) = session();
    let code = "let a = 1;\nlet b = a + undefined_var;\n";
    let err = s.eval(code, "script.gscript").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    let loc = err.location.clone().unwrap();
    assert_eq!((loc.source.as_str(), loc.line, loc.column), ("script.gscript", 2, 13));
    let text = err.render();
    assert!(text.contains("undefined_var"), "{text}");
    assert!(text.contains("--> script.gscript:2:13"), "{text}");
    assert!(text.contains("2 | let b = a + undefined_var;"), "{text}");
    assert!(text.contains("  |             ^"), "{text}");
}

/// A closure reading the variable its method is called on: Rhai's bare "Data race detected" gets its usual cause and
/// the fix, which then runs.
#[test]
fn data_race_error_explains_the_closure_and_the_fix() {
    let (mut s, _) = session();
    let err =
        s.eval("let labels = [\"a\", \"b\", \"a\"];\nlabels.map(|x| x == labels[0])", "race.gscript").unwrap_err();
    let text = err.render();
    assert!(text.contains("Data race detected") && text.contains("let first = labels[0]"), "{text}");
    let fixed = s.eval("let first = labels[0];\nlabels.map(|x| x == first)", "fixed.gscript").unwrap();
    assert_eq!(fixed.into_array().unwrap().iter().filter(|v| v.as_bool().unwrap()).count(), 2);
}

#[test]
fn syntax_error_is_located() {
    let (mut s, _) = session();
    let err = s.eval("let x = 1;\nlet = 2;", "bad.gscript").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax);
    assert_eq!(err.location.unwrap().line, 2);
}

#[test]
fn error_inside_script_function_shows_call_chain() {
    let (mut s, _) = session();
    let code = "fn inner(v) {\n  v + nothing\n}\nfn outer(v) { inner(v) }\nouter(1)";
    let err = s.eval(code, "chain.gscript").unwrap_err();
    assert_eq!(err.location.as_ref().unwrap().line, 2, "{}", err.render());
    let frames: Vec<&str> = err.call_stack.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(frames, vec!["outer", "inner"]);
    assert_eq!(err.call_stack[0].1.line, 5);
}

#[test]
fn option_maps_are_validated_with_the_valid_keys_listed() {
    let (mut s, _) = session();
    assert_eq!(s.eval("train_demo(2, #{epochs: 5})", "<t>").unwrap().as_int().unwrap(), 10);
    assert_eq!(s.eval("train_demo(2, #{})", "<t>").unwrap().as_int().unwrap(), 6);
    let err = s.eval("train_demo(2, #{epoch: 5})", "<t>").unwrap_err();
    let msg = err.message.clone();
    assert!(msg.contains("train_demo: argument `options`: unknown option `epoch`"), "{msg}");
    assert!(msg.contains("valid options: device, epochs"), "{msg}");
    assert_eq!(err.location.unwrap().column, 1);
    let err = s.eval("train_demo(2, #{epochs: \"x\"})", "<t>").unwrap_err();
    assert!(err.message.contains("argument `epochs`: expected an integer"), "{}", err.message);
}

#[test]
fn primitives_with_options_take_the_map_or_leave_it_out() {
    let (mut s, _) = session();
    assert_eq!(s.eval("train_demo(2)", "<t>").unwrap().as_int().unwrap(), 6, "default from the doc");
    assert_eq!(s.eval("seed_demo()", "<t>").unwrap().as_int().unwrap(), 7);
    assert_eq!(s.eval("seed_demo(#{seed: 3})", "<t>").unwrap().as_int().unwrap(), 3);
    assert_eq!(s.eval("let x = 10; x.shifted_demo(2)", "<t>").unwrap().as_int().unwrap(), 12);
    assert_eq!(s.eval("let x = 10; x.shifted_demo(2, #{times: 3})", "<t>").unwrap().as_int().unwrap(), 16);
    assert_eq!(s.eval("shifted_demo(1, 2, #{times: 2})", "<t>").unwrap().as_int().unwrap(), 5);
    let err = s.eval("seed_demo(#{sed: 1})", "<t>").unwrap_err();
    assert!(
        err.message.contains("seed_demo: argument `options`: unknown option `sed` (did you mean `seed`?)"),
        "{}",
        err.message
    );
    let err = s.eval("let y = 10; y.shifted_demo(1, #{times: -1})", "<t>").unwrap_err();
    assert!(err.message.contains("shifted_demo: argument `times`: must be at least 0"), "{}", err.message);
}

#[test]
fn help_lists_the_areas_packages_declared_in_order() {
    let (mut s, sink) = session();
    let _ = s.eval("help()", "<t>").unwrap();
    let out = sink.stdout();
    let (core, models) = (out.find("Language and session:").unwrap(), out.find("Models:").unwrap());
    assert!(core < models, "{out}");
    assert!(out[models..].contains("train_demo") && out[models..].contains("int.shifted_demo"), "{out}");
    let names: Vec<&str> = s.docs().areas().iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["core", "model"]);
}

#[test]
fn interrupt_stops_an_infinite_loop_and_session_stays_usable() {
    let (mut s, _) = session();
    let host = s.host().clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        host.interrupt();
    });
    let started = std::time::Instant::now();
    let err = s.eval("let n = 0; loop { n += 1; }", "<cell>").unwrap_err();
    t.join().unwrap();
    assert_eq!(err.kind, ErrorKind::Interrupted);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.eval("1 + 1", "<cell>").unwrap().as_int().unwrap(), 2);
}

#[test]
fn interrupt_stops_a_native_primitive() {
    let (mut s, _) = session();
    let host = s.host().clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        host.interrupt();
    });
    let started = std::time::Instant::now();
    let err = s.eval("sleep(30)", "<cell>").unwrap_err();
    t.join().unwrap();
    assert_eq!(err.kind, ErrorKind::Interrupted);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn panics_in_primitives_become_errors() {
    let (mut s, _) = session();
    let err = s.eval("let y = 5;\nboom()", "<cell>").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("kaboom"));
    assert_eq!(s.eval("y", "<cell>").unwrap().as_int().unwrap(), 5);
}

#[test]
fn imports_resolve_relative_to_the_importing_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::write(dir.path().join("lib/helpers.gscript"), "fn triple(x) { x * 3 }\nfn broken() { 1 + missing }\n")
        .unwrap();
    std::fs::write(dir.path().join("main.gscript"), "import \"lib/helpers.gscript\" as h;\nh::triple(14)\n").unwrap();
    let (mut s, _) = session();
    // run from another working directory: resolution must not depend on it
    let v = s.run_file(&dir.path().join("main.gscript")).unwrap();
    assert_eq!(v.as_int().unwrap(), 42);
    std::fs::write(dir.path().join("bad.gscript"), "import \"lib/helpers\" as h;\nh::broken()\n").unwrap();
    let err = s.run_file(&dir.path().join("bad.gscript")).unwrap_err();
    let loc = err.location.clone().unwrap();
    assert!(loc.source.ends_with("helpers.gscript") && loc.line == 2, "{}", err.render());
    assert!(err.render().contains("fn broken() { 1 + missing }"), "{}", err.render());
}

#[test]
fn params_are_constants_and_param_reads_them_with_defaults() {
    let (mut s, _) = session();
    s.set_param("size", "full");
    s.set_param("epochs", "7");
    assert_eq!(s.eval("size", "<t>").unwrap().into_string().unwrap(), "full");
    assert_eq!(s.eval("epochs + 1", "<t>").unwrap().as_int().unwrap(), 8);
    assert_eq!(s.eval("param(\"epochs\", 2)", "<t>").unwrap().as_int().unwrap(), 7);
    assert_eq!(s.eval("param(\"missing\", 2)", "<t>").unwrap().as_int().unwrap(), 2);
    let err = s.eval("param(\"missing\")", "<t>").unwrap_err();
    assert!(err.message.contains("--set missing=VALUE"), "{}", err.message);
    assert!(s.eval("size = \"x\"", "<t>").is_err(), "--set values are constants");
}

#[test]
fn completeness_detects_open_blocks() {
    let (s, _) = session();
    assert_eq!(s.completeness("let x = 1;"), Completeness::Complete);
    assert_eq!(s.completeness("fn f(x) {"), Completeness::Incomplete);
    assert_eq!(s.completeness("let m = #{a: 1,"), Completeness::Incomplete);
    assert_eq!(s.completeness("train_demo(1,\n  #{epochs: 2}"), Completeness::Incomplete);
    assert_eq!(s.completeness("let s = \"abc"), Completeness::Incomplete);
    assert_eq!(s.completeness("let = ;"), Completeness::Invalid);
    assert_eq!(s.completeness(""), Completeness::Complete);
}

#[test]
fn completes_functions_variables_and_option_keys() {
    let (mut s, _) = session();
    let _ = s.eval("let training_set = 1;", "<t>").unwrap();
    let (start, end, m) = s.complete("x = train", 9);
    assert_eq!((start, end), (4, 9));
    assert!(m.contains(&"train_demo".to_string()) && m.contains(&"training_set".to_string()), "{m:?}");
    let code = "train_demo(1, #{ep";
    let (start, _, m) = s.complete(code, code.len());
    assert_eq!(m, vec!["epochs"]);
    assert_eq!(start, code.len() - 2);
    let code = "train_demo(1, #{epochs: 2, ";
    let (_, _, m) = s.complete(code, code.len());
    assert_eq!(m, vec!["epochs", "device"], "keys in documented order");
    let (_, _, m) = s.complete("hel", 3);
    assert_eq!(m, vec!["help"]);
}

#[test]
fn help_pages_docs_and_unknown_names_suggest() {
    let (mut s, sink) = session();
    let _ = s.eval("help(\"train_demo\")", "<t>").unwrap();
    let out = sink.stdout();
    assert!(out.contains("train_demo(x: int, options?: map) -> int") && out.contains("epochs"), "{out}");
    let err = s.eval("help(\"train\")", "<t>").unwrap_err();
    assert!(err.message.contains("similar: train_demo"), "{}", err.message);
    assert!(s.undocumented_functions().is_empty(), "{:?}", s.undocumented_functions());
}

#[test]
fn undocumented_primitives_are_detected() {
    struct Sloppy;
    impl Package for Sloppy {
        fn register(&self, reg: &mut Registrar) {
            reg.engine.register_fn("no_docs_here", || 1_i64);
        }
    }
    let s = Session::new(Arc::new(CaptureSink::default()), &[&Sloppy]);
    assert_eq!(s.undocumented_functions(), vec!["no_docs_here"]);
}

#[test]
fn show_sends_rich_display() {
    let (mut s, sink) = session();
    let _ = s.eval("show(42)", "<t>").unwrap();
    let events = sink.take();
    assert!(matches!(&events[0], gscript_lang::SinkEvent::Display { bundle, .. } if bundle.plain_text() == "42"));
    let _ = Dynamic::UNIT;
}

#[test]
fn display_string_uses_registered_to_string() {
    #[derive(Clone)]
    struct Thing;
    struct P;
    impl Package for P {
        fn register(&self, reg: &mut Registrar) {
            reg.engine.register_type_with_name::<Thing>("Thing");
            reg.engine.register_fn("to_string", |_: &mut Thing| "Thing(42)".to_string());
            reg.engine.register_fn("thing", || Thing);
        }
    }
    let mut s = Session::new(Arc::new(CaptureSink::default()), &[&P]);
    let v = s.eval("thing()", "<t>").unwrap();
    assert_eq!(s.display_string(&v), "Thing(42)");
    assert_eq!(s.render(&v).plain_text(), "Thing(42)");
    assert_eq!(s.display_string(&Dynamic::from(3_i64)), "3");
    let sink = Arc::new(CaptureSink::default());
    s.host().set_sink(sink.clone());
    let _ = s.eval("show(thing())", "<t>").unwrap();
    assert!(
        matches!(&sink.take()[0], gscript_lang::SinkEvent::Display { bundle, .. } if bundle.plain_text() == "Thing(42)")
    );
}
