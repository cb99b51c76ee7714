//! The kernel's implementation of the session sink: a cell's output becomes iopub messages (children of the
//! execute_request being served), help text becomes a pager payload, `input()` an input_request on stdin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use gscript_lang::{MimeBundle, ProgressId, ProgressState, Sink, Stream};
use jupyter_protocol::{JupyterMessage, JupyterMessageContent, UnknownMessage};
use serde_json::{json, Value};
use tokio::sync::mpsc as amsync;

/// A message built from its type and JSON content, as a child of `parent` (same identities and session). The
/// content goes out exactly as built here (the typed schemas would turn an empty `transient` into null).
pub fn child(parent: &JupyterMessage, msg_type: &str, content: Value) -> JupyterMessage {
    let content = JupyterMessageContent::UnknownMessage(UnknownMessage { msg_type: msg_type.to_string(), content });
    let mut m = JupyterMessage::new(content, Some(parent));
    m.header.username = "gscript".into();
    m
}

/// The bundle as Jupyter `data` and `metadata` (PNG base64 with its pixel size).
pub fn bundle_json(b: &MimeBundle) -> (Value, Value) {
    let mut data = serde_json::Map::new();
    for (k, v) in &b.text {
        data.insert(k.clone(), Value::String(v.clone()));
    }
    let mut meta = serde_json::Map::new();
    for (k, v) in &b.binary {
        data.insert(k.clone(), Value::String(data_encoding::BASE64.encode(v)));
        if k == "image/png" {
            if let Some((w, h)) = b.png_size {
                meta.insert(k.clone(), json!({"width": w, "height": h}));
            }
        }
    }
    (Value::Object(data), Value::Object(meta))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A progress bar as HTML: label, a `<progress>` element, counts, times and the message.
pub fn progress_html(state: &ProgressState) -> String {
    let line = state.render_line();
    let bar = match state.total {
        Some(t) if t > 0 => format!(
            "<progress value=\"{}\" max=\"{t}\" style=\"width:16em;vertical-align:middle\"></progress> ",
            state.position.min(t)
        ),
        _ => String::new(),
    };
    let rest = line.strip_prefix(&state.label).unwrap_or(&line);
    // drop the text bar `[====   ]`; the <progress> element shows it
    let rest = match (rest.find('['), rest.find(']')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &rest[..a], &rest[b + 1..]),
        _ => rest.to_string(),
    };
    format!(
        "<div style=\"font-family:monospace\"><b>{}</b> {bar}{}</div>",
        html_escape(&state.label),
        html_escape(rest.trim())
    )
}

/// A pending `input()`: the input_request to send, and where its value goes.
pub struct InputRequest {
    pub message: JupyterMessage,
    pub reply: mpsc::Sender<String>,
}

/// Session output → iopub messages, as children of the request being served.
pub struct KernelSink {
    parent: Mutex<Option<JupyterMessage>>,
    iopub: amsync::UnboundedSender<JupyterMessage>,
    stdin: amsync::UnboundedSender<InputRequest>,
    allow_stdin: AtomicBool,
    pages: Mutex<Vec<String>>,
    interrupt: OnceLock<Arc<AtomicBool>>,
}

impl KernelSink {
    pub fn new(iopub: amsync::UnboundedSender<JupyterMessage>, stdin: amsync::UnboundedSender<InputRequest>) -> Self {
        KernelSink {
            parent: Mutex::new(None),
            iopub,
            stdin,
            allow_stdin: AtomicBool::new(false),
            pages: Mutex::new(Vec::new()),
            interrupt: OnceLock::new(),
        }
    }

    pub fn set_interrupt_flag(&self, flag: Arc<AtomicBool>) {
        let _ = self.interrupt.set(flag);
    }

    /// Starts serving `request`: outputs become its children; `allow_stdin` as the request says.
    pub fn begin(&self, request: &JupyterMessage, allow_stdin: bool) {
        *self.parent.lock().unwrap_or_else(|p| p.into_inner()) = Some(request.clone());
        self.allow_stdin.store(allow_stdin, Ordering::SeqCst);
        self.pages.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The pager texts shown since `begin` (help), for the execute_reply payload.
    pub fn take_pages(&self) -> Vec<String> {
        std::mem::take(&mut *self.pages.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn send(&self, msg_type: &str, content: Value) {
        let parent = self.parent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(p) = parent {
            let _ = self.iopub.send(child(&p, msg_type, content));
        }
    }

    fn progress(&self, id: ProgressId, state: &ProgressState, first: bool) {
        let content = json!({
            "data": {"text/plain": state.render_line(), "text/html": progress_html(state)},
            "metadata": {},
            "transient": {"display_id": format!("gscript-progress-{id}")},
        });
        self.send(if first { "display_data" } else { "update_display_data" }, content);
    }

    fn interrupted(&self) -> bool {
        self.interrupt.get().is_some_and(|f| f.load(Ordering::SeqCst))
    }
}

impl Sink for KernelSink {
    fn text(&self, stream: Stream, text: &str) {
        let name = match stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        self.send("stream", json!({"name": name, "text": text}));
    }

    fn display(&self, bundle: &MimeBundle, display_id: Option<&str>, update: bool) {
        let (data, metadata) = bundle_json(bundle);
        let transient = match display_id {
            Some(id) => json!({"display_id": id}),
            None => json!({}),
        };
        let kind = if update && display_id.is_some() { "update_display_data" } else { "display_data" };
        self.send(kind, json!({"data": data, "metadata": metadata, "transient": transient}));
    }

    fn progress_start(&self, id: ProgressId, state: &ProgressState) {
        self.progress(id, state, true);
    }
    fn progress_update(&self, id: ProgressId, state: &ProgressState) {
        self.progress(id, state, false);
    }
    fn progress_finish(&self, id: ProgressId, state: &ProgressState) {
        self.progress(id, state, false);
    }

    fn page(&self, text: &str) {
        self.pages.lock().unwrap_or_else(|p| p.into_inner()).push(text.to_string());
    }

    fn clear(&self, wait: bool) {
        self.send("clear_output", json!({"wait": wait}));
    }

    /// Sends input_request on stdin and waits for the reply; `None` when the request did not allow stdin or the
    /// cell was interrupted while waiting.
    fn input(&self, prompt: &str, password: bool) -> Option<String> {
        if !self.allow_stdin.load(Ordering::SeqCst) {
            return None;
        }
        let parent = self.parent.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        let message = child(&parent, "input_request", json!({"prompt": prompt, "password": password}));
        let (tx, rx) = mpsc::channel();
        self.stdin.send(InputRequest { message, reply: tx }).ok()?;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(v) => return Some(v),
                Err(mpsc::RecvTimeoutError::Timeout) if !self.interrupted() => continue,
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_html_shows_a_bar_and_escapes_text() {
        let s = ProgressState {
            label: "epochs <a>".into(),
            position: 3,
            total: Some(10),
            message: "loss 0.5".into(),
            elapsed: 2.0,
        };
        let h = progress_html(&s);
        assert!(h.contains("<progress value=\"3\" max=\"10\""), "{h}");
        assert!(h.contains("epochs &lt;a&gt;") && h.contains("3/10") && h.contains("loss 0.5"), "{h}");
        assert!(!h.contains("[="), "{h}");
    }
}
