//! Where a session's output goes. The terminal (CLI and REPL) and the Jupyter kernel are two implementations.
//!
//! Three kinds of output: text on stdout/stderr, rich display (a MIME bundle) and progress bars.

use std::collections::BTreeMap;

/// Text stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One value rendered in several formats, keyed by MIME type. `text/plain` is always present.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MimeBundle {
    /// Text formats: `text/plain`, `text/html`, `image/svg+xml`, `text/markdown`.
    pub text: BTreeMap<String, String>,
    /// Binary formats (`image/png`) with their raw bytes.
    pub binary: BTreeMap<String, Vec<u8>>,
    /// Pixel size of `image/png` when present (for notebook metadata).
    pub png_size: Option<(u32, u32)>,
    /// A short name to use when the bundle is saved as files outside a notebook (e.g. "umap").
    pub file_stem: Option<String>,
}

impl MimeBundle {
    pub fn plain(text: impl Into<String>) -> Self {
        let mut b = MimeBundle::default();
        b.text.insert("text/plain".into(), text.into());
        b
    }
    pub fn with_text(mut self, mime: &str, text: impl Into<String>) -> Self {
        self.text.insert(mime.into(), text.into());
        self
    }
    pub fn with_png(mut self, bytes: Vec<u8>, width: u32, height: u32) -> Self {
        self.binary.insert("image/png".into(), bytes);
        self.png_size = Some((width, height));
        self
    }
    pub fn with_file_stem(mut self, stem: impl Into<String>) -> Self {
        self.file_stem = Some(stem.into());
        self
    }
    pub fn plain_text(&self) -> &str {
        self.text.get("text/plain").map(String::as_str).unwrap_or("")
    }
    /// True when the bundle holds an image (a figure).
    pub fn is_figure(&self) -> bool {
        self.binary.contains_key("image/png") || self.text.contains_key("image/svg+xml")
    }
}

/// Identifies one progress bar within a session.
pub type ProgressId = u64;

/// State of a progress bar at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressState {
    pub label: String,
    pub position: u64,
    pub total: Option<u64>,
    pub message: String,
    /// Seconds since the bar started.
    pub elapsed: f64,
}

impl ProgressState {
    /// Estimated seconds left, when the total is known and some progress was made.
    pub fn eta(&self) -> Option<f64> {
        let total = self.total?;
        if self.position == 0 || self.position > total {
            return None;
        }
        Some(self.elapsed / self.position as f64 * (total - self.position) as f64)
    }

    /// One line: `label  37/100 [=====>    ] 37% 00:12<00:20  message`.
    pub fn render_line(&self) -> String {
        let mut s = self.label.clone();
        match self.total {
            Some(total) if total > 0 => {
                let frac = (self.position as f64 / total as f64).clamp(0.0, 1.0);
                let width = 24;
                let filled = (frac * width as f64).round() as usize;
                s.push_str(&format!(
                    "  {}/{} [{}{}] {:>3}%",
                    self.position,
                    total,
                    "=".repeat(filled),
                    " ".repeat(width - filled),
                    (frac * 100.0).round()
                ));
            }
            _ => s.push_str(&format!("  {}", self.position)),
        }
        s.push_str(&format!("  {}", format_duration(self.elapsed)));
        if let Some(eta) = self.eta() {
            s.push_str(&format!("<{}", format_duration(eta)));
        }
        if !self.message.is_empty() {
            s.push_str("  ");
            s.push_str(&self.message);
        }
        s
    }
}

/// `mm:ss` or `h:mm:ss`.
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// The output side of a session. Implementations must be cheap to call and must not block for long.
pub trait Sink: Send + Sync {
    fn text(&self, stream: Stream, text: &str);
    /// Shows a rich value. `display_id` names a display that later calls may replace (`update = true`).
    fn display(&self, bundle: &MimeBundle, display_id: Option<&str>, update: bool);
    fn progress_start(&self, id: ProgressId, state: &ProgressState);
    fn progress_update(&self, id: ProgressId, state: &ProgressState);
    fn progress_finish(&self, id: ProgressId, state: &ProgressState);
    /// Long help text (`help("name")`): a pager in notebooks, plain stdout elsewhere.
    fn page(&self, text: &str) {
        self.text(Stream::Stdout, text);
    }
    /// Reads one line from the user (`input("prompt")`); `None` when this front end has no input.
    fn input(&self, _prompt: &str, _password: bool) -> Option<String> {
        None
    }
    /// Clears what the current cell has shown so far (`clear_output()`); with `wait`, only when new output arrives.
    /// Front ends without a cell (terminal, scripts) keep their output.
    fn clear(&self, _wait: bool) {}
    /// Files written so far for figures that were shown (front ends that save figures instead of showing them).
    fn saved_figures(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A sink that records everything, for tests and for capturing a cell's output; `input()` answers come from a
/// queue filled with [`CaptureSink::with_input`] (none: no input, as a non-interactive front end).
#[derive(Default)]
pub struct CaptureSink {
    pub events: std::sync::Mutex<Vec<SinkEvent>>,
    inputs: std::sync::Mutex<std::collections::VecDeque<String>>,
}

/// One recorded output.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkEvent {
    Text(Stream, String),
    Display { bundle: MimeBundle, display_id: Option<String>, update: bool },
    ProgressStart(ProgressId, ProgressState),
    ProgressUpdate(ProgressId, ProgressState),
    ProgressFinish(ProgressId, ProgressState),
}

impl CaptureSink {
    /// A sink whose `input()` calls return these lines in turn (the prompt is recorded on stdout, as a terminal shows it).
    pub fn with_input<S: Into<String>>(lines: impl IntoIterator<Item = S>) -> Self {
        CaptureSink { inputs: std::sync::Mutex::new(lines.into_iter().map(Into::into).collect()), ..Default::default() }
    }
    /// All stdout text concatenated.
    pub fn stdout(&self) -> String {
        self.stream(Stream::Stdout)
    }
    pub fn stderr(&self) -> String {
        self.stream(Stream::Stderr)
    }
    fn stream(&self, which: Stream) -> String {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                SinkEvent::Text(s, t) if *s == which => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
    pub fn take(&self) -> Vec<SinkEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl Sink for CaptureSink {
    fn text(&self, stream: Stream, text: &str) {
        self.events.lock().unwrap().push(SinkEvent::Text(stream, text.to_string()));
    }
    fn display(&self, bundle: &MimeBundle, display_id: Option<&str>, update: bool) {
        self.events.lock().unwrap().push(SinkEvent::Display {
            bundle: bundle.clone(),
            display_id: display_id.map(str::to_string),
            update,
        });
    }
    fn progress_start(&self, id: ProgressId, state: &ProgressState) {
        self.events.lock().unwrap().push(SinkEvent::ProgressStart(id, state.clone()));
    }
    fn progress_update(&self, id: ProgressId, state: &ProgressState) {
        self.events.lock().unwrap().push(SinkEvent::ProgressUpdate(id, state.clone()));
    }
    fn progress_finish(&self, id: ProgressId, state: &ProgressState) {
        self.events.lock().unwrap().push(SinkEvent::ProgressFinish(id, state.clone()));
    }
    fn input(&self, prompt: &str, _password: bool) -> Option<String> {
        let line = self.inputs.lock().unwrap().pop_front()?;
        self.text(Stream::Stdout, &format!("{prompt}{line}\n"));
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_shows_fraction_and_eta() {
        let st = ProgressState {
            label: "train".into(),
            position: 25,
            total: Some(100),
            message: "loss 0.5".into(),
            elapsed: 10.0,
        };
        let line = st.render_line();
        assert!(
            line.contains("25/100")
                && line.contains(" 25%")
                && line.contains("00:10<00:30")
                && line.ends_with("loss 0.5"),
            "{line}"
        );
        assert_eq!(format_duration(3725.0), "1:02:05");
        let unknown = ProgressState { total: None, ..st };
        assert_eq!(unknown.eta(), None);
    }
}
