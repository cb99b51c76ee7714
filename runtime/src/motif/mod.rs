//! Transcription-factor motifs for gscript: reading motif databases,
//! FIMO-style scanning with exact p-values, motif-weighted ISM scores and
//! dinucleotide-preserving shuffles.
//!
//! * [`Motif`] / [`MotifSet`]: position probability matrices over A, C, G, T.
//! * Parsers of text: [`parse_meme`], [`parse_jaspar`], [`parse_homer`];
//!   of any `BufRead`: [`read_meme`], [`read_jaspar`], [`read_homer`], or
//!   [`read_motifs`] to detect the format; [`read_motif_file`] opens a file
//!   (gunzipping as needed) and calls [`read_motifs`]; [`write_meme`]
//!   writes MEME minimal format.
//! * Scanning: [`Pssm`] (prepare once, scan many sequences), [`scan`],
//!   [`pwm_ism_score`].
//! * [`dinucleotide_shuffle`](crate::seq::shuffle::dinucleotide_shuffle) for matched background sequences.
//!
//! Errors are [`MotifError`]; parse errors carry the file name (or
//! [`STRING_SOURCE`]) and a 1-based line number. Nothing here keeps global
//! state; randomness always comes from a caller-supplied RNG.
//!
//! ```text
//! use motif::{parse_meme, Pssm, STRING_SOURCE};
//! let text = "MEME version 4\n\nMOTIF M1 demo\nletter-probability matrix: alength= 4 w= 3\n\
//!             0.9 0.05 0.025 0.025\n0.05 0.9 0.025 0.025\n0.025 0.025 0.9 0.05\n";
//! let set = parse_meme(text, STRING_SOURCE).unwrap();
//! let pssm = Pssm::new(set.get("demo").unwrap(), 0.01).unwrap();
//! let hits = pssm.scan(b"TTTACGTTT", 0.02);
//! assert_eq!(hits[0].start, 3);
//! assert_eq!(hits[0].matched, "ACG");
//! ```

mod error;
mod formats;
mod homer;
mod jaspar;
mod meme;
#[allow(clippy::module_inception)] // the Motif type's own file
mod motif;
mod scan;
mod text;

pub use error::{MotifError, ParseErrorKind, ROW_SUM_TOLERANCE, STRING_SOURCE};
pub use formats::{parse_motifs, read_motif_file, read_motif_file_as, read_motifs, MotifFormat};
pub use homer::{parse_homer, read_homer};
pub use jaspar::{parse_jaspar, read_jaspar, DEFAULT_COUNT_PSEUDOCOUNT};
pub use meme::{parse_meme, read_meme, write_meme};
pub use motif::{base_index, Motif, MotifSet, ALPHABET, UNIFORM_BACKGROUND};
pub use scan::{pwm_ism_score, scan, Hit, Pssm, Strand, DEFAULT_PSEUDOCOUNT, SCORE_RANGE};
