//! State shared between a session and the primitives registered into it: the output sink, the interrupt flag, the
//! output directory, `--set` parameters and rich-display renderers. Primitives hold an `Arc<Host>`.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rhai::Dynamic;

use crate::sink::{MimeBundle, ProgressId, ProgressState, Sink, Stream};

type Renderer = Box<dyn Fn(&Dynamic) -> Option<MimeBundle> + Send + Sync>;

pub struct Host {
    sink: RwLock<Arc<dyn Sink>>,
    interrupt: Arc<AtomicBool>,
    out_dir: RwLock<PathBuf>,
    params: RwLock<BTreeMap<String, String>>,
    renderers: RwLock<Vec<(TypeId, Renderer)>>,
    next_id: AtomicU64,
}

impl Host {
    pub fn new(sink: Arc<dyn Sink>) -> Arc<Self> {
        Arc::new(Host {
            sink: RwLock::new(sink),
            interrupt: Arc::new(AtomicBool::new(false)),
            out_dir: RwLock::new(PathBuf::from(".")),
            params: RwLock::new(BTreeMap::new()),
            renderers: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(1),
        })
    }

    pub fn sink(&self) -> Arc<dyn Sink> {
        self.sink.read().unwrap().clone()
    }
    pub fn set_sink(&self, sink: Arc<dyn Sink>) {
        *self.sink.write().unwrap() = sink;
    }

    /// This process's rank in torchrun's environment (`RANK`; 0 outside a launched group).
    pub fn env_rank() -> usize {
        std::env::var("RANK").ok().and_then(|r| r.trim().parse().ok()).unwrap_or(0)
    }

    /// Whether this process shows output (print, displayed values and figures, progress bars): rank 0 of a launched
    /// group, or every rank under `--set output=all_ranks`. Warnings and errors go to stderr on every rank.
    pub fn shows_output(&self) -> bool {
        Self::env_rank() == 0 || self.param("output").as_deref() == Some("all_ranks")
    }

    pub fn print(&self, text: &str) {
        if self.shows_output() {
            self.sink().text(Stream::Stdout, text);
        }
    }
    pub fn eprint(&self, text: &str) {
        self.sink().text(Stream::Stderr, text);
    }
    /// A warning line on stderr.
    pub fn warn(&self, text: &str) {
        self.eprint(&format!("warning: {text}\n"));
    }

    /// The flag that interrupts the running evaluation; native loops poll it.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::SeqCst);
    }
    pub fn is_interrupted(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed)
    }
    pub(crate) fn clear_interrupt(&self) {
        self.interrupt.store(false, Ordering::SeqCst);
    }

    /// Where files produced outside a notebook go (figures, default outputs).
    pub fn out_dir(&self) -> PathBuf {
        self.out_dir.read().unwrap().clone()
    }
    pub fn set_out_dir(&self, dir: impl Into<PathBuf>) {
        *self.out_dir.write().unwrap() = dir.into();
    }

    /// `--set key=value` parameters.
    pub fn param(&self, key: &str) -> Option<String> {
        self.params.read().unwrap().get(key).cloned()
    }
    pub fn set_param(&self, key: &str, value: &str) {
        self.params.write().unwrap().insert(key.to_string(), value.to_string());
    }
    pub fn params(&self) -> BTreeMap<String, String> {
        self.params.read().unwrap().clone()
    }

    /// Registers how values of type `T` are shown (tables as HTML, figures as PNG + SVG).
    pub fn register_renderer<T: Clone + Send + Sync + 'static>(
        &self,
        render: impl Fn(&T) -> MimeBundle + Send + Sync + 'static,
    ) {
        let f: Renderer = Box::new(move |d: &Dynamic| d.read_lock::<T>().map(|v| render(&v)));
        self.renderers.write().unwrap().push((TypeId::of::<T>(), f));
    }

    /// The rich rendering of a value, or `None` when its type has no renderer.
    pub fn render(&self, value: &Dynamic) -> Option<MimeBundle> {
        let renderers = self.renderers.read().unwrap();
        let id = value.type_id();
        renderers.iter().filter(|(t, _)| *t == id).find_map(|(_, r)| r(value))
    }

    /// Shows a bundle through the sink.
    pub fn display(&self, bundle: &MimeBundle) {
        if self.shows_output() {
            self.sink().display(bundle, None, false);
        }
    }

    /// Shows a bundle that later calls with the same id replace in place (live training curves).
    pub fn display_live(&self, bundle: &MimeBundle, display_id: &str, first: bool) {
        if self.shows_output() {
            self.sink().display(bundle, Some(display_id), !first);
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Starts a progress bar; updates are throttled, and the bar finishes when dropped.
    pub fn progress(self: &Arc<Self>, label: &str, total: Option<u64>) -> ProgressBar {
        let id = self.next_id();
        let state =
            ProgressState { label: label.to_string(), position: 0, total, message: String::new(), elapsed: 0.0 };
        let shown = self.shows_output();
        if shown {
            self.sink().progress_start(id, &state);
        }
        ProgressBar { host: self.clone(), id, state, started: Instant::now(), last_sent: None, finished: !shown, shown }
    }
}

/// A live progress bar owned by a primitive.
pub struct ProgressBar {
    host: Arc<Host>,
    id: ProgressId,
    state: ProgressState,
    started: Instant,
    last_sent: Option<Instant>,
    finished: bool,
    /// False on ranks that show no output: the bar records progress but sends nothing.
    shown: bool,
}

/// Minimum time between two updates sent to the sink.
const UPDATE_INTERVAL: Duration = Duration::from_millis(200);

impl ProgressBar {
    pub fn set_total(&mut self, total: Option<u64>) {
        self.state.total = total;
    }
    /// The last position recorded.
    pub fn position(&self) -> u64 {
        self.state.position
    }
    /// Records progress; sends it when the last update is old enough or the work is complete.
    pub fn update(&mut self, position: u64, message: &str) {
        self.state.position = position;
        if !message.is_empty() || self.state.message.is_empty() {
            self.state.message = message.to_string();
        }
        let now = Instant::now();
        let done = self.state.total.is_some_and(|t| position >= t);
        if self.shown && (done || self.last_sent.is_none_or(|t| now - t >= UPDATE_INTERVAL)) {
            self.state.elapsed = (now - self.started).as_secs_f64();
            self.host.sink().progress_update(self.id, &self.state);
            self.last_sent = Some(now);
        }
    }
    pub fn finish(&mut self, message: &str) {
        if self.finished {
            return;
        }
        self.finished = true;
        if !message.is_empty() {
            self.state.message = message.to_string();
        }
        self.state.elapsed = self.started.elapsed().as_secs_f64();
        self.host.sink().progress_finish(self.id, &self.state);
    }
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        let msg = if self.host.is_interrupted() { "interrupted" } else { "" };
        self.finish(msg);
    }
}
