//! The interactive REPL: rustyline with a history file, multi-line input decided by the parser, tab completion of
//! functions, methods, variables and option keys, and Ctrl-C that cancels the running statement.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use gscript_lang::{Completeness, Session};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

/// Completion and validation backed by the live session.
pub struct ReplHelper {
    session: Rc<RefCell<Session>>,
}

impl ReplHelper {
    /// (start, candidates) for the word at `pos` of `line`.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let (start, _end, m) = self.session.borrow().complete(line, pos);
        (start, m)
    }
    pub fn is_incomplete(&self, input: &str) -> bool {
        self.session.borrow().completeness(input) == Completeness::Incomplete
    }
}

impl Completer for ReplHelper {
    type Candidate = String;
    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if self.is_incomplete(ctx.input()) { ValidationResult::Incomplete } else { ValidationResult::Valid(None) })
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Helper for ReplHelper {}

fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("gscript").join("history"))
}

pub fn run(session: Session) -> ExitCode {
    let session = Rc::new(RefCell::new(session));
    let mut editor: Editor<ReplHelper, rustyline::history::DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gscript: cannot start the line editor: {e}");
            return ExitCode::from(1);
        }
    };
    editor.set_helper(Some(ReplHelper { session: session.clone() }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        eprintln!(
            "gscript {} — help() lists functions, help(\"name\") explains one; Ctrl-D quits.",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    let mut cell = 0usize;
    let mut last_failed = false;
    loop {
        let prompt = if buffer.is_empty() { "gs> " } else { "... " };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                // Piped input bypasses the editor's validator: keep reading while the parser wants more.
                if session.borrow().completeness(&buffer) == Completeness::Incomplete {
                    continue;
                }
                let code = std::mem::take(&mut buffer);
                if code.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(code.trim_end());
                cell += 1;
                let mut s = session.borrow_mut();
                match s.eval(&code, &format!("<repl {cell}>")) {
                    Ok(v) => {
                        last_failed = false;
                        if !v.is_unit() {
                            let bundle = s.render(&v);
                            s.host().sink().display(&bundle, None, false);
                        }
                    }
                    Err(e) => {
                        last_failed = true;
                        eprint!("{}", e.render());
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("gscript: {e}");
                break;
            }
        }
    }
    if !buffer.trim().is_empty() {
        eprintln!("gscript: input ended inside an unfinished statement");
        last_failed = true;
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(h);
    }
    // Piped sessions report failure like scripts do; interactive ones always end cleanly.
    if !interactive && last_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gscript_lang::CaptureSink;
    use std::sync::Arc;

    fn helper() -> ReplHelper {
        let s = Session::new(Arc::new(CaptureSink::default()), &[&gscript_stdlib::StdLib]);
        ReplHelper { session: Rc::new(RefCell::new(s)) }
    }

    #[test]
    fn completes_primitives_and_session_variables() {
        let h = helper();
        let (start, m) = h.candidates("let x = runtime_i", 17);
        assert_eq!(start, 8);
        assert_eq!(m, vec!["runtime_info"]);
        let _ = h.session.borrow_mut().eval("let threads_wanted = 2;", "<t>").unwrap();
        let (_, m) = h.candidates("set_threads(threads_w", 21);
        assert_eq!(m, vec!["threads_wanted"]);
    }

    #[test]
    fn multi_line_input_is_decided_by_the_parser() {
        let h = helper();
        assert!(h.is_incomplete("fn f(x) {\n"));
        assert!(h.is_incomplete("let m = #{\n  a: 1,\n"));
        assert!(!h.is_incomplete("fn f(x) {\n x + 1\n}\n"));
        assert!(!h.is_incomplete("let = ;"), "invalid input is submitted so the error shows");
    }
}
