//! Completion and input completeness, shared by the REPL and the Jupyter kernel.

use rhai::{Engine, LexError, ParseErrorType};

use crate::session::{Completeness, Session};

const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "return", "break", "continue", "import", "as",
    "true", "false", "switch", "throw", "try", "catch",
];

/// Whether `code` parses, needs more lines, or can never parse.
pub fn completeness(engine: &Engine, code: &str) -> Completeness {
    if code.trim().is_empty() {
        return Completeness::Complete;
    }
    match engine.compile(code) {
        Ok(_) => Completeness::Complete,
        Err(err) => {
            // "incomplete" only when the parser ran out of input: its error sits past the last character
            let trimmed = code.trim_end();
            let last_line = trimmed.lines().count();
            let last_len = trimmed.lines().last().map_or(0, |l| l.chars().count());
            let at_end = match (err.1.line(), err.1.position()) {
                (Some(l), Some(c)) => l > last_line || (l == last_line && c > last_len),
                (Some(l), None) => l > last_line,
                _ => true,
            };
            match &*err.0 {
                ParseErrorType::UnexpectedEOF => Completeness::Incomplete,
                ParseErrorType::MissingToken(..) | ParseErrorType::MissingSymbol(..) if at_end => {
                    Completeness::Incomplete
                }
                ParseErrorType::BadInput(LexError::UnterminatedString) => Completeness::Incomplete,
                _ => Completeness::Invalid,
            }
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Completions at byte offset `cursor` of `code`.
pub fn complete(session: &Session, code: &str, cursor: usize) -> (usize, usize, Vec<String>) {
    let cursor = floor_char_boundary(code, cursor.min(code.len()));
    let before = &code[..cursor];
    let start = before.char_indices().rev().take_while(|(_, c)| is_ident(*c)).last().map_or(cursor, |(i, _)| i);
    let end = code[cursor..].char_indices().find(|(_, c)| !is_ident(*c)).map_or(code.len(), |(i, _)| cursor + i);
    let prefix = &code[start..cursor];
    let docs = session.docs();

    // obj.meth|  → methods, filtered by the receiver's type when it is a variable in scope.
    if before[..start].ends_with('.') {
        let recv = before[..start - 1].trim_end();
        let recv_name: String =
            recv.chars().rev().take_while(|c| is_ident(*c)).collect::<Vec<_>>().into_iter().rev().collect();
        let recv_type =
            session.scope().get(&recv_name).map(|v| session.engine().map_type_name(v.type_name()).to_string());
        let mut m = docs.names_with_prefix(prefix, true, recv_type.as_deref());
        if m.is_empty() {
            m = docs.names_with_prefix(prefix, true, None);
        }
        return (start, end, m);
    }

    // f(x, #{ ke|  → option keys of f.
    if let Some(func) = options_map_owner(&before[..start]) {
        if let Some(doc) = docs.get(&func) {
            let m: Vec<String> =
                doc.options.iter().filter(|o| o.name.starts_with(prefix)).map(|o| o.name.to_string()).collect();
            return (start, end, m);
        }
    }

    if prefix.is_empty() {
        return (start, end, vec![]);
    }
    let mut m = docs.names_with_prefix(prefix, false, None);
    m.extend(session.script_functions().into_iter().filter(|n| n.starts_with(prefix)));
    m.extend(session.scope().iter_raw().map(|(n, ..)| n.to_string()).filter(|n| n.starts_with(prefix)));
    m.extend(declared_names(&before[..start]).into_iter().filter(|n| n.starts_with(prefix)));
    m.extend(KEYWORDS.iter().filter(|k| k.starts_with(prefix)).map(|k| k.to_string()));
    m.sort();
    m.dedup();
    (start, end, m)
}

/// Names the text declares (`let x`, `const x`, `fn f`, `for x in`, `for (x, i) in`), so that a cell can complete
/// variables it has not run yet.
fn declared_names(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if is_ident(c) {
            cur.push(c);
        } else {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            if c == '(' || c == ',' {
                tokens.push(c.to_string());
            }
        }
    }
    let mut names = Vec::new();
    let ident = |t: &String| t.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
    for (i, t) in tokens.iter().enumerate() {
        match t.as_str() {
            "let" | "const" | "fn" | "for" => {
                let mut j = i + 1;
                while j < tokens.len() && (tokens[j] == "(" || tokens[j] == ",") {
                    j += 1;
                }
                if let Some(n) = tokens.get(j).filter(|n| ident(n)) {
                    names.push(n.clone());
                    // `for (x, i) in`: the index too
                    if t == "for" && tokens.get(j + 1).is_some_and(|c| c == ",") {
                        if let Some(n2) = tokens.get(j + 2).filter(|n| ident(n)) {
                            names.push(n2.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// When the text ends at a key position inside `name(..., #{ ...`, returns `name`.
fn options_map_owner(text: &str) -> Option<String> {
    let t = text.trim_end();
    if !(t.ends_with("#{") || t.ends_with(',')) {
        return None;
    }
    // walk back to the unmatched `#{`, then to the unmatched `(` and the identifier before it
    let bytes = t.as_bytes();
    let mut depth = 0i32;
    let mut i = bytes.len();
    let mut map_open = None;
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'}' | b')' | b']' => depth += 1,
            b'{' | b'(' | b'[' => {
                if depth == 0 {
                    if bytes[i] == b'{' && i > 0 && bytes[i - 1] == b'#' {
                        map_open = Some(i - 1);
                    }
                    break;
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    let mut i = map_open?;
    depth = 0;
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'}' | b')' | b']' => depth += 1,
            b'{' | b'[' => {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
            }
            b'(' => {
                if depth == 0 {
                    let head = t[..i].trim_end();
                    let name: String =
                        head.chars().rev().take_while(|c| is_ident(*c)).collect::<Vec<_>>().into_iter().rev().collect();
                    return (!name.is_empty()).then_some(name);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_declared_in_the_cell() {
        assert_eq!(declared_names("let zebra = 1; const K = 2; fn go(a) { a }"), vec!["zebra", "K", "go"]);
        assert_eq!(declared_names("for (x, i) in xs { }\nfor y in ys {}"), vec!["x", "i", "y"]);
        assert!(declared_names("print(letter)").is_empty());
    }

    #[test]
    fn completeness_of_cells() {
        let engine = Engine::new();
        for code in ["1 + 1", "let x = [1, 2];", "fn f(a) { a * 2 }", "   "] {
            assert_eq!(completeness(&engine, code), Completeness::Complete, "{code}");
        }
        for code in
            ["let x = [1, 2", "fn f(a) {", "if true {\n  print(1);", "print(1", "let s = \"abc", "let x = [1,\n"]
        {
            assert_eq!(completeness(&engine, code), Completeness::Incomplete, "{code}");
        }
        for code in ["let = 3;", "1 + + * 2", "let x = 1 2", "let x = 1\nlet y = 2", "x = ]"] {
            assert_eq!(completeness(&engine, code), Completeness::Invalid, "{code}");
        }
    }

    #[test]
    fn finds_the_function_owning_an_options_map() {
        assert_eq!(options_map_owner("train(d, #{").as_deref(), Some("train"));
        assert_eq!(options_map_owner("let m = train(d, #{epochs: 3, ").as_deref(), Some("train"));
        assert_eq!(options_map_owner("train(d, #{epochs: f(1, 2), ").as_deref(), Some("train"));
        assert_eq!(options_map_owner("train(d, #{epochs: ").as_deref(), None);
        assert_eq!(options_map_owner("let x = #{").as_deref(), None);
        assert_eq!(options_map_owner("train(d, ").as_deref(), None);
    }
}
