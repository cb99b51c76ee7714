//! Helpers shared by the integration tests that drive the language: a session writing into a temporary directory,
//! and evaluation that panics with the rendered script error.
#![allow(dead_code)] // each test binary uses its own subset

pub mod process;

use std::sync::Arc;

use gscript_lang::{CaptureSink, Session};
use gscript_stdlib::StdLib;

/// A session whose outputs (simulated data files) go to a temporary directory that lives as long as the guard.
pub fn session() -> (Session, tempfile::TempDir) {
    let s = Session::new(Arc::new(CaptureSink::default()), &[&StdLib]);
    let dir = tempfile::tempdir().unwrap();
    s.host().set_out_dir(dir.path());
    (s, dir)
}

pub fn eval(s: &mut Session, code: &str) -> gscript_lang::rhai::Dynamic {
    s.eval(code, "<test>").unwrap_or_else(|e| panic!("{}", e.render()))
}

pub fn err(s: &mut Session, code: &str) -> String {
    s.eval(code, "<test>").err().unwrap_or_else(|| panic!("{code} should fail")).message
}

/// An array of numbers (NaN for non-floats).
pub fn floats(v: gscript_lang::rhai::Dynamic) -> Vec<f64> {
    v.into_array().unwrap().iter().map(|x| x.as_float().unwrap_or(f64::NAN)).collect()
}

pub fn strings(v: gscript_lang::rhai::Dynamic) -> Vec<String> {
    v.into_array().unwrap().iter().map(|x| x.to_string()).collect()
}
