//! Typed runtime errors. Each variant carries the context a user needs to fix the input (file, line, field).
//!
//! The areas with their own error enums convert into [`RuntimeError`] with `From`, so `?` and one conversion at the
//! language boundary serve them all: a motif file's `file:line` problem becomes [`RuntimeError::Parse`], a file that
//! cannot be read [`RuntimeError::Io`]; the rest keep the area's error (and its message) in their own variant.

use std::path::PathBuf;

use crate::analysis::AnalysisError;
use crate::motif::MotifError;
use crate::plot::PlotError;

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A malformed input file: `path:line: message` (line 0 when the problem is not tied to a line).
    #[error("{}{}: {message}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Parse { path: PathBuf, line: usize, message: String },

    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A bad value for a named setting or argument.
    #[error("`{field}`: {message}")]
    InvalidArgument { field: String, message: String },

    /// A requested device cannot be used.
    #[error("{0}")]
    Device(String),

    /// The user interrupted a long-running operation; nothing partial was written.
    #[error("interrupted")]
    Interrupted,

    /// An error reported by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// An analysis routine rejected its input (the message names the input and the problem) or failed.
    #[error(transparent)]
    Analysis(AnalysisError),

    /// A motif built in memory is invalid (problems in motif files become [`RuntimeError::Parse`] and
    /// [`RuntimeError::Io`]).
    #[error(transparent)]
    Motif(MotifError),

    /// A figure could not be built, rendered or written.
    #[error(transparent)]
    Plot(#[from] PlotError),

    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io { path: path.into(), source }
    }
    pub fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        RuntimeError::Parse { path: path.into(), line, message: message.into() }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RuntimeError::InvalidArgument { field: field.into(), message: message.into() }
    }
}

impl From<AnalysisError> for RuntimeError {
    /// An interrupted analysis step is [`RuntimeError::Interrupted`], like an interrupted training.
    fn from(e: AnalysisError) -> Self {
        match e {
            AnalysisError::Interrupted => RuntimeError::Interrupted,
            e => RuntimeError::Analysis(e),
        }
    }
}

impl From<MotifError> for RuntimeError {
    fn from(e: MotifError) -> Self {
        match e {
            MotifError::Parse { file, line, kind } => {
                RuntimeError::Parse { path: file.into(), line, message: kind.to_string() }
            }
            MotifError::Io { file, source } => RuntimeError::Io { path: file.into(), source },
            invalid @ MotifError::Invalid { .. } => RuntimeError::Motif(invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motif::parse_meme;

    #[test]
    fn area_errors_convert_keeping_structure_and_message() {
        let parse = parse_meme(
            "MEME version 4\n\nMOTIF m1\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.0\n",
            "m.meme",
        )
        .unwrap_err();
        let text = parse.to_string();
        let e = RuntimeError::from(parse);
        assert!(
            matches!(&e, RuntimeError::Parse { path, line, .. } if path == &PathBuf::from("m.meme") && *line > 0),
            "{e:?}"
        );
        assert_eq!(e.to_string(), text);

        let io = MotifError::Io {
            file: "a/b.meme".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        let e = RuntimeError::from(io);
        assert!(matches!(&e, RuntimeError::Io { path, .. } if path == &PathBuf::from("a/b.meme")), "{e:?}");
        assert_eq!(e.to_string(), "a/b.meme: gone");

        let invalid = MotifError::Invalid { id: "M1".into(), reason: "pseudocount must be positive".into() };
        assert_eq!(RuntimeError::from(invalid).to_string(), "motif `M1`: pseudocount must be positive");

        let a = AnalysisError::TooFewPoints { n_points: 4, k: 10 };
        let text = a.to_string();
        let e = RuntimeError::from(a.clone());
        assert!(matches!(&e, RuntimeError::Analysis(inner) if *inner == a));
        assert_eq!(e.to_string(), text);

        let p = PlotError::Empty("values".into());
        let e = RuntimeError::from(p);
        assert_eq!(e.to_string(), "empty data: values is empty");
        assert!(matches!(e, RuntimeError::Plot(PlotError::Empty(_))));
    }
}
