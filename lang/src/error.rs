//! Script errors rendered for people: `file:line:col`, the source line and a caret, and the call chain.

use std::fmt::Write as _;

use rhai::{EvalAltResult, ParseErrorType, Position};

/// An error from a primitive: `name: argument `arg`: message`. Rhai adds the call position.
pub fn primitive_error(primitive: &str, argument: Option<&str>, message: &str) -> Box<EvalAltResult> {
    let text = match argument {
        Some(arg) => format!("{primitive}: argument `{arg}`: {message}"),
        None => format!("{primitive}: {message}"),
    };
    Box::new(EvalAltResult::ErrorRuntime(text.into(), Position::NONE))
}

/// What went wrong, broadly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The code does not parse.
    Syntax,
    /// The code ran and failed.
    Runtime,
    /// The user interrupted the run.
    Interrupted,
    /// A bug: a panic inside a primitive, caught at the session boundary.
    Internal,
}

/// A place in a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File path, or `<cell N>` / `<repl>` for interactive input.
    pub source: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}

/// A failed evaluation, ready to render.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptError {
    pub kind: ErrorKind,
    pub message: String,
    /// Where the innermost failure happened.
    pub location: Option<Location>,
    /// The text of that line, when the source is known.
    pub source_line: Option<String>,
    /// Script functions on the way there, outermost first: (function, call site).
    pub call_stack: Vec<(String, Location)>,
}

impl ScriptError {
    /// Jupyter-style error name.
    pub fn ename(&self) -> &'static str {
        match self.kind {
            ErrorKind::Syntax => "SyntaxError",
            ErrorKind::Runtime => "RuntimeError",
            ErrorKind::Interrupted => "KeyboardInterrupt",
            ErrorKind::Internal => "InternalError",
        }
    }

    /// Multi-line rendering for terminals and tracebacks.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let label = match self.kind {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Runtime => "error",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Internal => "internal error",
        };
        let _ = writeln!(s, "{label}: {}", self.message);
        if let Some(loc) = &self.location {
            let _ = writeln!(s, "  --> {loc}");
            if let Some(line) = &self.source_line {
                let num = loc.line.to_string();
                let pad = " ".repeat(num.len());
                let _ = writeln!(s, "{pad} |");
                let _ = writeln!(s, "{num} | {line}");
                let caret_pad: String = line
                    .chars()
                    .take(loc.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(s, "{pad} | {caret_pad}^");
            }
        }
        for (func, loc) in self.call_stack.iter().rev() {
            let _ = writeln!(s, "  in `{func}` called at {loc}");
        }
        s
    }

    /// Builds a script error from Rhai's, resolving positions against sources through `lookup(source, line)`.
    pub fn from_rhai(err: &EvalAltResult, main_source: &str, lookup: &dyn Fn(&str, usize) -> Option<String>) -> Self {
        let mut current = main_source.to_string();
        let mut stack = Vec::new();
        let mut e = err;
        loop {
            match e {
                EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) => {
                    if let Some(loc) = location(&current, *pos) {
                        stack.push((name.clone(), loc));
                    }
                    if !src.is_empty() {
                        current = resolve_relative(&current, src);
                    }
                    e = inner;
                }
                EvalAltResult::ErrorInModule(path, inner, pos) => {
                    if let Some(loc) = location(&current, *pos) {
                        stack.push((format!("import \"{path}\""), loc));
                    }
                    // positions inside the module refer to the module file
                    current = resolve_relative(&current, path);
                    e = inner;
                }
                _ => break,
            }
        }
        let (kind, message) = match e {
            EvalAltResult::ErrorParsing(p, _) => (ErrorKind::Syntax, parse_message(p)),
            EvalAltResult::ErrorTerminated(..) => (ErrorKind::Interrupted, "the run was interrupted".to_string()),
            EvalAltResult::ErrorRuntime(v, _) => (ErrorKind::Runtime, v.to_string()),
            EvalAltResult::ErrorDataRace(..) => (ErrorKind::Runtime, data_race_message(&e.to_string())),
            other => (ErrorKind::Runtime, strip_position(&other.to_string())),
        };
        let location = location(&current, e.position());
        let source_line = location.as_ref().and_then(|l| lookup(&l.source, l.line));
        ScriptError { kind, message, location, source_line, call_stack: stack }
    }

    /// A parse error at a known position.
    pub fn syntax(err: &rhai::ParseError, source: &str, lookup: &dyn Fn(&str, usize) -> Option<String>) -> Self {
        let location = location(source, err.1);
        let source_line = location.as_ref().and_then(|l| lookup(&l.source, l.line));
        ScriptError {
            kind: ErrorKind::Syntax,
            message: parse_message(&err.0),
            location,
            source_line,
            call_stack: vec![],
        }
    }

    pub fn internal(message: String) -> Self {
        ScriptError { kind: ErrorKind::Internal, message, location: None, source_line: None, call_stack: vec![] }
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for ScriptError {}

/// Imported modules are named by the path written in the `import`, relative to the importing file.
fn resolve_relative(importer: &str, src: &str) -> String {
    let p = std::path::Path::new(src);
    if p.is_absolute() {
        return src.to_string();
    }
    let Some(dir) = std::path::Path::new(importer).parent() else { return src.to_string() };
    let mut candidate = dir.join(p);
    if !candidate.is_file() {
        candidate.set_extension("gscript");
    }
    if candidate.is_file() {
        candidate.to_string_lossy().into_owned()
    } else {
        src.to_string()
    }
}

fn location(source: &str, pos: Position) -> Option<Location> {
    Some(Location { source: source.to_string(), line: pos.line()?, column: pos.position().unwrap_or(1) })
}

fn parse_message(p: &ParseErrorType) -> String {
    match p {
        ParseErrorType::UnexpectedEOF => "the code ends before the statement is complete".into(),
        other => other.to_string(),
    }
}

/// Rhai's "Data race detected on …", with what usually causes it in a script and the fix: a closure passed to a
/// method reads the very variable the method is called on, which Rhai holds locked for the call.
fn data_race_message(rhai: &str) -> String {
    format!(
        "{}: a closure reads a variable that is in use by the call it is passed to (e.g. `labels.map(|x| x == \
         labels[0])`); copy what the closure needs into another variable first (`let first = labels[0]; \
         labels.map(|x| x == first)`)",
        strip_position(rhai)
    )
}

/// Rhai appends " (line L, position P)" to messages; we show positions separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" (line ") {
        Some(i) if msg.ends_with(')') => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let e = ScriptError {
            kind: ErrorKind::Runtime,
            message: "load_peaks: argument `path`: no such file".into(),
            location: Some(Location { source: "a.gscript".into(), line: 12, column: 9 }),
            source_line: Some("let d = load_peaks(\"x\");".into()),
            call_stack: vec![("f".into(), Location { source: "a.gscript".into(), line: 20, column: 1 })],
        };
        let r = e.render();
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines[0], "error: load_peaks: argument `path`: no such file");
        assert_eq!(lines[1], "  --> a.gscript:12:9");
        assert_eq!(lines[3], "12 | let d = load_peaks(\"x\");");
        assert_eq!(lines[4], "   |         ^");
        assert_eq!(lines[5], "  in `f` called at a.gscript:20:1");
    }

    #[test]
    fn strips_rhai_positions() {
        assert_eq!(strip_position("Variable not found: x (line 2, position 5)"), "Variable not found: x");
        assert_eq!(strip_position("plain"), "plain");
    }
}
