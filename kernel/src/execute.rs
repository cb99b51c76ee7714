//! The interpreter side of the kernel: one thread owns the gscript session (tensors are not Sync) and answers the
//! shell requests that need it (execute, complete, inspect, is_complete, history). Each request comes with the
//! time the shell received it, so that after a failing cell with `stop_on_error` the cells queued behind it are
//! aborted, as ipykernel does.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use gscript_lang::{Completeness, Session};
use jupyter_protocol::JupyterMessage;
use serde_json::{json, Value};

use crate::history::{History, SESSION};
use crate::sink::{bundle_json, child, KernelSink};
use crate::wire::Request;

pub struct Interpreter {
    pub session: Session,
    sink: Arc<KernelSink>,
    count: i64,
    history: History,
    /// Requests received before this instant are aborted (set when a cell fails with stop_on_error).
    abort_before: Option<Instant>,
}

impl Interpreter {
    pub fn new(session: Session, sink: Arc<KernelSink>) -> Self {
        sink.set_interrupt_flag(session.host().interrupt_flag());
        Interpreter { session, sink, count: 0, history: History::default(), abort_before: None }
    }

    /// Answers one request; panics inside are caught and reported as an error of that request.
    pub fn serve(&mut self, req: &Request, received: Instant) -> Option<JupyterMessage> {
        self.sink.begin(&req.message, req.bool("allow_stdin", false));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.dispatch(req, received)));
        let (reply_type, content) = result.unwrap_or_else(|p| {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            let evalue = format!("internal error (please report): {msg}");
            let traceback = vec![format!("InternalError: {evalue}")];
            if req.msg_type() == "execute_request" {
                self.sink.send("error", json!({"ename": "InternalError", "evalue": evalue, "traceback": traceback}));
            }
            Some(json!({"status": "error", "execution_count": self.count, "ename": "InternalError", "evalue": evalue, "traceback": traceback}))
        })
        .map(|content| (req.msg_type().replace("_request", "_reply"), content))?;
        Some(child(&req.message, &reply_type, content))
    }

    /// The reply's content; `None` for requests this side does not answer.
    fn dispatch(&mut self, req: &Request, received: Instant) -> Option<Value> {
        match req.msg_type() {
            "execute_request" => Some(self.execute(req, received)),
            "is_complete_request" => {
                let status = match self.session.completeness(req.str("code")) {
                    Completeness::Complete => json!({"status": "complete"}),
                    Completeness::Incomplete => json!({"status": "incomplete", "indent": ""}),
                    Completeness::Invalid => json!({"status": "invalid"}),
                };
                Some(status)
            }
            "complete_request" => {
                let (code, cursor) = code_and_cursor(req);
                let (start, end, matches) = self.session.complete(code, char_to_byte(code, cursor));
                let to_chars = |b: usize| code[..b.min(code.len())].chars().count();
                Some(
                    json!({"status": "ok", "matches": matches, "cursor_start": to_chars(start), "cursor_end": to_chars(end), "metadata": {}}),
                )
            }
            "inspect_request" => {
                let (code, cursor) = code_and_cursor(req);
                Some(match word_at(code, cursor).and_then(|w| self.session.docs().get(&w).map(|d| d.render_text())) {
                    Some(text) => json!({"status": "ok", "found": true, "data": {"text/plain": text}, "metadata": {}}),
                    None => json!({"status": "ok", "found": false, "data": {}, "metadata": {}}),
                })
            }
            "history_request" => {
                let output = req.bool("output", false);
                let n = req.int("n").map(|n| n.max(0) as usize);
                let history = match req.str("hist_access_type") {
                    "range" => self.history.range(
                        req.int("session").unwrap_or(SESSION),
                        req.int("start").unwrap_or(0),
                        req.int("stop").unwrap_or(0),
                        output,
                    ),
                    "search" => self.history.search(req.str("pattern"), req.bool("unique", false), n, output),
                    _ => self.history.tail(n.unwrap_or(10), output),
                };
                Some(json!({"status": "ok", "history": history}))
            }
            _ => None,
        }
    }

    fn execute(&mut self, req: &Request, received: Instant) -> Value {
        let code = req.str("code").to_string();
        let silent = req.bool("silent", false);
        let store = req.bool("store_history", true) && !silent;
        if self.abort_before.is_some_and(|t| received < t) {
            return json!({"status": "aborted", "execution_count": self.count});
        }
        self.abort_before = None;
        if store {
            self.count += 1;
        }
        let count = self.count;
        if !silent {
            self.sink.send("execute_input", json!({"code": code, "execution_count": count}));
        }
        self.session.host().interrupt_flag().store(false, Ordering::SeqCst);
        let result = self.session.eval(&code, &format!("In[{count}]"));
        let pages = self.sink.take_pages();
        let payload: Vec<Value> = if pages.is_empty() {
            vec![]
        } else {
            vec![json!({"source": "page", "data": {"text/plain": pages.join("\n")}, "start": 0})]
        };
        match result {
            Ok(value) => {
                let mut output = None;
                if !value.is_unit() {
                    let bundle = self.session.render(&value);
                    output = Some(bundle.plain_text().to_string());
                    if !silent {
                        let (data, metadata) = bundle_json(&bundle);
                        self.sink.send(
                            "execute_result",
                            json!({"execution_count": count, "data": data, "metadata": metadata}),
                        );
                    }
                }
                if store {
                    self.history.push(count, &code, output);
                }
                json!({"status": "ok", "execution_count": count, "payload": payload, "user_expressions": {}})
            }
            Err(e) => {
                if store {
                    self.history.push(count, &code, None);
                }
                let traceback: Vec<String> = e.render().lines().map(String::from).collect();
                if !silent {
                    self.sink.send("error", json!({"ename": e.ename(), "evalue": e.message, "traceback": traceback}));
                }
                if req.bool("stop_on_error", true) {
                    self.abort_before = Some(Instant::now());
                }
                json!({"status": "error", "execution_count": count, "ename": e.ename(), "evalue": e.message, "traceback": traceback})
            }
        }
    }
}

/// The request's code and cursor (code points; the end of the code when absent).
fn code_and_cursor(req: &Request) -> (&str, usize) {
    let code = req.str("code");
    (code, req.int("cursor_pos").map_or(code.chars().count(), |c| c.max(0) as usize))
}

/// Byte offset of the `chars`-th code point (Jupyter cursors count code points).
fn char_to_byte(code: &str, chars: usize) -> usize {
    code.char_indices().nth(chars).map_or(code.len(), |(b, _)| b)
}

/// The identifier under or just before the cursor (letters, digits, `_`), for inspection.
pub fn word_at(code: &str, cursor_chars: usize) -> Option<String> {
    let chars: Vec<char> = code.chars().collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut end = cursor_chars.min(chars.len());
    while end < chars.len() && is_word(chars[end]) {
        end += 1;
    }
    let mut start = end;
    while start > 0 && is_word(chars[start - 1]) {
        start -= 1;
    }
    if start == end {
        // cursor just after `(`: inspect the call's name
        let mut e = cursor_chars.min(chars.len());
        while e > 0 && matches!(chars[e - 1], '(' | ' ') {
            e -= 1;
        }
        let mut s = e;
        while s > 0 && is_word(chars[s - 1]) {
            s -= 1;
        }
        return (s < e).then(|| chars[s..e].iter().collect());
    }
    Some(chars[start..end].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_under_the_cursor() {
        assert_eq!(word_at("one_hot", 3).as_deref(), Some("one_hot"));
        assert_eq!(word_at("let x = train_scbasset(", 23).as_deref(), Some("train_scbasset"));
        assert_eq!(word_at("simulate_atac(#{})", 5).as_deref(), Some("simulate_atac"));
        assert_eq!(word_at("é + read_h5ad", 13).as_deref(), Some("read_h5ad"));
        assert_eq!(word_at("   ", 1), None);
        assert_eq!(char_to_byte("é + x", 4), 5);
    }
}
