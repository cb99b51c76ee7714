//! The terminal implementation of the session sink: text to stdout/stderr, figures saved as files (paths printed),
//! tables printed as text, progress bars on stderr.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use gscript_lang::{MimeBundle, ProgressId, ProgressState, Sink, Stream};
use gscript_runtime::io::write_atomic;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct TerminalSink {
    out_dir: PathBuf,
    /// File stem → how many figures with it were saved (`umap.png`, `umap-2.png`, ...).
    figure_counts: Mutex<HashMap<String, usize>>,
    bars: Mutex<HashMap<ProgressId, ProgressBar>>,
    interactive: bool,
    /// Every file written for a shown figure, in order.
    saved: Mutex<Vec<String>>,
    /// Display id → the files of its figure: updates (live training curves, one per epoch) rewrite them in place, so
    /// the files hold the last state (the whole run, or as far as an interrupted one got).
    live: Mutex<HashMap<String, Vec<PathBuf>>>,
}

impl TerminalSink {
    pub fn new(out_dir: PathBuf) -> Self {
        TerminalSink {
            out_dir,
            figure_counts: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            bars: Mutex::new(HashMap::new()),
            interactive: std::io::stderr().is_terminal(),
            saved: Mutex::new(Vec::new()),
        }
    }

    fn save_figure(&self, bundle: &MimeBundle) -> std::io::Result<Vec<PathBuf>> {
        let dir = &self.out_dir;
        let stem = bundle.file_stem.clone().unwrap_or_else(|| "figure".into());
        let n = {
            let mut counts = self.figure_counts.lock().unwrap();
            let c = counts.entry(stem.clone()).or_insert(0);
            *c += 1;
            *c
        };
        let name = if n == 1 { stem } else { format!("{stem}-{n}") };
        std::fs::create_dir_all(dir)?;
        let mut paths = Vec::new();
        if bundle.binary.contains_key("image/png") {
            paths.push(dir.join(format!("{name}.png")));
        }
        if bundle.text.contains_key("image/svg+xml") {
            paths.push(dir.join(format!("{name}.svg")));
        }
        write_figure(bundle, &paths)?;
        Ok(paths)
    }
}

/// Writes a figure's PNG and SVG to `paths` (as [`TerminalSink::save_figure`] named them), each atomically.
fn write_figure(bundle: &MimeBundle, paths: &[PathBuf]) -> std::io::Result<()> {
    for p in paths {
        let bytes = match p.extension().and_then(|e| e.to_str()) {
            Some("png") => bundle.binary.get("image/png").map(|b| b.as_slice()),
            _ => bundle.text.get("image/svg+xml").map(|t| t.as_bytes()),
        };
        if let Some(bytes) = bytes {
            write_atomic(p, bytes)?;
        }
    }
    Ok(())
}

impl Sink for TerminalSink {
    fn text(&self, stream: Stream, text: &str) {
        let bars = self.bars.lock().unwrap();
        let write = |t: &str| match stream {
            Stream::Stdout => {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(t.as_bytes());
                let _ = o.flush();
            }
            Stream::Stderr => {
                let _ = std::io::stderr().write_all(t.as_bytes());
            }
        };
        // print above any live bar instead of through it
        match bars.values().next() {
            Some(bar) if self.interactive => bar.suspend(|| write(text)),
            _ => write(text),
        }
    }

    fn display(&self, bundle: &MimeBundle, display_id: Option<&str>, update: bool) {
        if bundle.is_figure() {
            // a live figure (training curves) is announced once; its updates rewrite the same files
            if update {
                let paths = display_id.and_then(|id| self.live.lock().unwrap().get(id).cloned());
                if let Some(paths) = paths {
                    if let Err(e) = write_figure(bundle, &paths) {
                        self.text(Stream::Stderr, &format!("error: could not update figure: {e}\n"));
                    }
                }
                return;
            }
            match self.save_figure(bundle) {
                Ok(paths) => {
                    if let Some(id) = display_id {
                        self.live.lock().unwrap().insert(id.to_string(), paths.clone());
                    }
                    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                    self.saved.lock().unwrap().extend(list.iter().cloned());
                    self.text(Stream::Stdout, &format!("figure saved: {}\n", list.join(", ")));
                }
                Err(e) => self.text(Stream::Stderr, &format!("error: could not save figure: {e}\n")),
            }
        } else if !update {
            let mut t = bundle.plain_text().to_string();
            if !t.ends_with('\n') {
                t.push('\n');
            }
            self.text(Stream::Stdout, &t);
        }
    }

    fn progress_start(&self, id: ProgressId, state: &ProgressState) {
        let bar = match state.total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(if self.interactive { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        let template = if state.total.is_some() {
            "{prefix} {pos}/{len} [{bar:30}] {percent:>3}% {elapsed_precise}<{eta_precise} {msg}"
        } else {
            "{prefix} {spinner} {pos} {elapsed_precise} {msg}"
        };
        bar.set_style(ProgressStyle::with_template(template).unwrap().progress_chars("=> "));
        bar.set_prefix(state.label.clone());
        self.bars.lock().unwrap().insert(id, bar);
    }

    fn progress_update(&self, id: ProgressId, state: &ProgressState) {
        if let Some(bar) = self.bars.lock().unwrap().get(&id) {
            bar.set_position(state.position);
            bar.set_message(state.message.clone());
        }
    }

    fn progress_finish(&self, id: ProgressId, state: &ProgressState) {
        if let Some(bar) = self.bars.lock().unwrap().remove(&id) {
            bar.finish_and_clear();
        }
        // one durable line per finished task, also in logs
        let _ = writeln!(std::io::stderr(), "{}", state.render_line());
    }

    fn saved_figures(&self) -> Vec<String> {
        self.saved.lock().unwrap().clone()
    }

    fn input(&self, prompt: &str, _password: bool) -> Option<String> {
        let mut err = std::io::stderr();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_saved_as_files_with_unique_names() {
        let dir = tempfile::tempdir().unwrap();
        let sink = TerminalSink::new(dir.path().join("out"));
        let fig = MimeBundle::plain("Figure")
            .with_png(vec![0x89, b'P', b'N', b'G'], 1, 1)
            .with_text("image/svg+xml", "<svg/>")
            .with_file_stem("umap");
        assert_eq!(
            sink.save_figure(&fig).unwrap(),
            vec![dir.path().join("out/umap.png"), dir.path().join("out/umap.svg")]
        );
        assert_eq!(sink.save_figure(&fig).unwrap()[0], dir.path().join("out/umap-2.png"));
        assert_eq!(std::fs::read_to_string(dir.path().join("out/umap-2.svg")).unwrap(), "<svg/>");
        // an update of a display never shown writes nothing
        sink.display(&fig, Some("train-0"), true);
        assert!(!dir.path().join("out/umap-3.png").exists());
        // a live figure: shown once (a new file), then every update rewrites that file, so it ends in the last state
        sink.display(&fig, Some("train-1"), false);
        assert_eq!(std::fs::read_to_string(dir.path().join("out/umap-3.svg")).unwrap(), "<svg/>");
        let epoch2 = MimeBundle::plain("Figure")
            .with_png(vec![0x89, b'P', b'N', b'G', 2], 1, 1)
            .with_text("image/svg+xml", "<svg>2</svg>")
            .with_file_stem("umap");
        sink.display(&epoch2, Some("train-1"), true);
        assert_eq!(std::fs::read_to_string(dir.path().join("out/umap-3.svg")).unwrap(), "<svg>2</svg>");
        assert_eq!(std::fs::read(dir.path().join("out/umap-3.png")).unwrap(), vec![0x89, b'P', b'N', b'G', 2]);
        assert!(!dir.path().join("out/umap-4.svg").exists());
        // listed once, when first shown
        assert_eq!(sink.saved_figures().len(), 2, "{:?}", sink.saved_figures());
    }
}
