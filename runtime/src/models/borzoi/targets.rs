//! Borzoi target tables: the list of output tracks of a Borzoi head, in the tab-separated format of the Borzoi
//! repository (calico/borzoi's `data/targets_*.txt` / `examples/targets_*.txt` files, also shipped by
//! borzoi-pytorch 0.5.1 as `borzoi_pytorch/precomputed/targets.txt`; both Apache-2.0).
//!
//! The header is `\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription`: the first,
//! unnamed column is the track index (pandas' index); each row describes one output track of the model:
//!
//! - `identifier`: the experiment (`CNhs10608+`, `ENCFF344UTH`, `GTEX-W5WG-1026-SM-4LMIF.1`); stranded assays have
//!   one track per strand, with `+` / `-` suffixes;
//! - `file`: where the coverage came from at training time (ignored here);
//! - `clip`, `clip_soft`, `scale`, `sum_stat` (`sum`, `mean`, `sum_sqrt`): how the training coverage was
//!   transformed, needed to undo the transform on predictions;
//! - `strand_pair`: the index of the track's opposite-strand twin (the track itself when unstranded), which maps
//!   predictions for the reverse-complemented sequence back onto the forward strand;
//! - `description`: `ASSAY:sample` (`CAGE:…`, `RNA:…`, `DNASE:…`, `ATAC:…`, `CHIP:mark:…`).
//!
//! Columns are found by their header name, so their order may differ; `file`, `clip`, `clip_soft`, `scale` and
//! `sum_stat` are optional. [`TargetTable::borzoi_human`] is the human head's table (7,611 tracks), shipped
//! gzipped in `runtime/data/borzoi_human_targets.txt.gz` (borzoi-pytorch's `precomputed/targets.txt`, unchanged).

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::OnceLock;

use crate::data::text::open_text;
use crate::error::{Result, RuntimeError};

/// One output track.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Position of the track in the model's output (row number of the table).
    pub index: usize,
    pub identifier: String,
    pub description: String,
    /// Index of the opposite-strand twin; `index` itself for unstranded tracks.
    pub strand_pair: usize,
    pub clip: Option<f64>,
    pub clip_soft: Option<f64>,
    pub scale: Option<f64>,
    pub sum_stat: Option<String>,
}

/// The tracks of a Borzoi head, in output order (`targets[i].index == i`).
#[derive(Clone, Debug, PartialEq)]
pub struct TargetTable {
    pub targets: Vec<Target>,
}

/// The human table, gzipped (borzoi-pytorch 0.5.1 `borzoi_pytorch/precomputed/targets.txt`, from calico/borzoi).
const BORZOI_HUMAN_GZ: &[u8] = include_bytes!("../../../data/borzoi_human_targets.txt.gz");

/// Column positions found in the header.
struct Columns {
    index: usize,
    identifier: usize,
    strand_pair: usize,
    description: usize,
    clip: Option<usize>,
    clip_soft: Option<usize>,
    scale: Option<usize>,
    sum_stat: Option<usize>,
    count: usize,
}

impl Columns {
    fn from_header(header: &str, path: &Path, lineno: usize) -> Result<Columns> {
        let names: Vec<&str> = header.split('\t').map(str::trim).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, name) in names.iter().enumerate() {
            // The unnamed first column (pandas' index) may also be written as `index`.
            let key = if name.is_empty() { "index" } else { name };
            if seen.insert(key, k).is_some() {
                return Err(RuntimeError::parse(path, lineno, format!("header: column `{key}` appears twice")));
            }
        }
        let required = |name: &str| -> Result<usize> {
            seen.get(name).copied().ok_or_else(|| {
                let what = if name == "index" {
                    "for the track index (the unnamed first column, or `index`)".to_string()
                } else {
                    format!("`{name}`")
                };
                RuntimeError::parse(
                    path,
                    lineno,
                    format!(
                        "header: missing required column {what} (a Borzoi targets header is \
                         `\\tidentifier\\tfile\\tclip\\tclip_soft\\tscale\\tsum_stat\\tstrand_pair\\tdescription`)"
                    ),
                )
            })
        };
        Ok(Columns {
            index: required("index")?,
            identifier: required("identifier")?,
            strand_pair: required("strand_pair")?,
            description: required("description")?,
            clip: seen.get("clip").copied(),
            clip_soft: seen.get("clip_soft").copied(),
            scale: seen.get("scale").copied(),
            sum_stat: seen.get("sum_stat").copied(),
            count: names.len(),
        })
    }
}

impl TargetTable {
    /// Parses a targets table from `reader`; `source` names the input in errors (`source:line: message`). Blank
    /// lines are skipped; rows must be numbered 0..n in order and strand pairs must be in range and symmetric.
    pub fn parse(reader: impl BufRead, source: &Path) -> Result<TargetTable> {
        let path = source;
        let mut columns: Option<Columns> = None;
        let mut targets: Vec<Target> = Vec::new();
        let mut linenos: Vec<usize> = Vec::new();
        for (i, line) in reader.lines().enumerate() {
            let lineno = i + 1;
            let line = line.map_err(|e| RuntimeError::parse(path, lineno, format!("cannot read line: {e}")))?;
            let t = line.trim_end_matches(['\r', '\n']);
            if t.trim().is_empty() {
                continue;
            }
            let Some(cols) = &columns else {
                columns = Some(Columns::from_header(t, path, lineno)?);
                continue;
            };
            let fields: Vec<&str> = t.split('\t').collect();
            if fields.len() > cols.count {
                return Err(RuntimeError::parse(
                    path,
                    lineno,
                    format!("{} tab-separated fields, but the header has {} columns", fields.len(), cols.count),
                ));
            }
            // Missing trailing cells read as empty.
            let cell = |k: usize| fields.get(k).map(|s| s.trim()).unwrap_or("");
            let integer = |k: usize, what: &str| -> Result<usize> {
                let v = cell(k);
                v.parse::<usize>()
                    .map_err(|_| RuntimeError::parse(path, lineno, format!("{what} `{v}` is not an integer")))
            };
            let number = |k: Option<usize>, what: &str| -> Result<Option<f64>> {
                let Some(k) = k else { return Ok(None) };
                let v = cell(k);
                if v.is_empty() {
                    return Ok(None);
                }
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(Some(x)),
                    _ => Err(RuntimeError::parse(path, lineno, format!("{what} `{v}` is not a finite number"))),
                }
            };
            let index = integer(cols.index, "index")?;
            if index != targets.len() {
                return Err(RuntimeError::parse(
                    path,
                    lineno,
                    format!(
                        "index {index} out of order: expected {} (rows must be numbered 0, 1, 2, … in order)",
                        targets.len()
                    ),
                ));
            }
            let identifier = cell(cols.identifier);
            if identifier.is_empty() {
                return Err(RuntimeError::parse(path, lineno, "identifier is empty"));
            }
            let strand_pair = integer(cols.strand_pair, "strand_pair")?;
            let sum_stat = cols.sum_stat.map(cell).filter(|s| !s.is_empty()).map(str::to_string);
            targets.push(Target {
                index,
                identifier: identifier.to_string(),
                description: cell(cols.description).to_string(),
                strand_pair,
                clip: number(cols.clip, "clip")?,
                clip_soft: number(cols.clip_soft, "clip_soft")?,
                scale: number(cols.scale, "scale")?,
                sum_stat,
            });
            linenos.push(lineno);
        }
        if columns.is_none() {
            return Err(RuntimeError::parse(path, 0, "empty file: no header and no tracks"));
        }
        if targets.is_empty() {
            return Err(RuntimeError::parse(path, 0, "no tracks: the file has a header but no rows"));
        }
        let n = targets.len();
        for (t, &lineno) in targets.iter().zip(&linenos) {
            if t.strand_pair >= n {
                return Err(RuntimeError::parse(
                    path,
                    lineno,
                    format!(
                        "strand_pair {} of track {} is out of range (the table has {n} tracks)",
                        t.strand_pair, t.index
                    ),
                ));
            }
            let back = targets[t.strand_pair].strand_pair;
            if back != t.index {
                return Err(RuntimeError::parse(
                    path,
                    lineno,
                    format!(
                        "strand_pair is not symmetric: track {} pairs with {}, but track {} pairs with {back}",
                        t.index, t.strand_pair, t.strand_pair
                    ),
                ));
            }
        }
        Ok(TargetTable { targets })
    }

    /// Reads a targets file, plain or gzipped (detected from the magic bytes).
    pub fn read(path: &Path) -> Result<TargetTable> {
        TargetTable::parse(open_text(path)?, path)
    }

    /// The human Borzoi head's 7,611 tracks (borzoi-pytorch 0.5.1 `precomputed/targets.txt`, from calico/borzoi).
    pub fn borzoi_human() -> TargetTable {
        static TABLE: OnceLock<TargetTable> = OnceLock::new();
        TABLE
            .get_or_init(|| {
                let mut text = Vec::new();
                flate2::read::MultiGzDecoder::new(BORZOI_HUMAN_GZ)
                    .read_to_end(&mut text)
                    .expect("the shipped borzoi_human_targets.txt.gz decompresses");
                TargetTable::parse(&text[..], Path::new("borzoi_human_targets.txt.gz"))
                    .expect("the shipped borzoi_human_targets.txt.gz parses")
            })
            .clone()
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Selects tracks by query strings, in query order, each query matching: an exact identifier (e.g.
    /// "CNhs10608+"), or a decimal index ("12"), or — when prefixed by "~" — every track whose description contains
    /// the rest case-insensitively (e.g. "~RNA:liver"); duplicates kept once (first occurrence). An unmatched query
    /// is an error [`RuntimeError::InvalidArgument`] (`tracks`) naming the query and suggesting up to 3
    /// identifiers/descriptions containing it case-insensitively.
    ///
    /// An identifier takes precedence over an index of the same spelling; surrounding whitespace is ignored.
    pub fn select(&self, queries: &[String]) -> Result<Vec<usize>> {
        let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
        for t in &self.targets {
            by_id.entry(t.identifier.as_str()).or_default().push(t.index);
        }
        let mut chosen = Vec::new();
        let mut taken = vec![false; self.len()];
        for query in queries {
            let q = query.trim();
            let matched: Vec<usize> = if let Some(pattern) = q.strip_prefix('~') {
                let needle = pattern.trim().to_lowercase();
                if needle.is_empty() {
                    return Err(RuntimeError::invalid(
                        "tracks",
                        format!("`{query}`: `~` must be followed by text to look for in the track descriptions"),
                    ));
                }
                self.targets
                    .iter()
                    .filter(|t| t.description.to_lowercase().contains(&needle))
                    .map(|t| t.index)
                    .collect()
            } else if let Some(ids) = by_id.get(q) {
                ids.clone()
            } else if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) {
                match q.parse::<usize>() {
                    Ok(i) if i < self.len() => vec![i],
                    _ => {
                        return Err(RuntimeError::invalid(
                            "tracks",
                            format!(
                                "track index {q} is out of range (the table has {} tracks, 0..{})",
                                self.len(),
                                self.len()
                            ),
                        ))
                    }
                }
            } else {
                Vec::new()
            };
            if matched.is_empty() {
                return Err(RuntimeError::invalid("tracks", self.unmatched_message(query)));
            }
            for i in matched {
                if !taken[i] {
                    taken[i] = true;
                    chosen.push(i);
                }
            }
        }
        Ok(chosen)
    }

    /// The error text for a query that matched nothing, with up to 3 suggestions.
    fn unmatched_message(&self, query: &str) -> String {
        let q = query.trim();
        let described = q.starts_with('~');
        let needle = q.trim_start_matches('~').trim().to_lowercase();
        let mut msg = if described {
            format!("no track description contains `{}`", q.trim_start_matches('~').trim())
        } else {
            format!("no track has the identifier `{q}` (select by identifier, index, or `~text` for descriptions containing text)")
        };
        if needle.is_empty() {
            return msg;
        }
        let mut suggestions: Vec<String> = Vec::new();
        for t in &self.targets {
            if suggestions.len() == 3 {
                break;
            }
            let s = if t.identifier.to_lowercase().contains(&needle) {
                format!("`{}`", t.identifier)
            } else if t.description.to_lowercase().contains(&needle) {
                format!("`~{}`", t.description)
            } else {
                continue;
            };
            if !suggestions.contains(&s) {
                suggestions.push(s);
            }
        }
        if !described {
            let n = self.targets.iter().filter(|t| t.description.to_lowercase().contains(&needle)).count();
            if n > 0 {
                msg.push_str(&format!("; `~{q}` selects the {n} tracks whose description contains it"));
            }
        }
        if suggestions.is_empty() {
            msg.push_str("; no identifier or description contains it");
        } else {
            msg.push_str(&format!("; similar: {}", suggestions.join(", ")));
        }
        msg
    }

    /// The strand-pair permutation (`perm[i]` = strand_pair of `i`), used to map reverse-complement predictions
    /// back.
    pub fn strand_pairs(&self) -> Vec<usize> {
        self.targets.iter().map(|t| t.strand_pair).collect()
    }

    /// Assay of a track: the description up to the first `:` (`CAGE`, `RNA`, `DNASE`, `ATAC`, `CHIP`), or `""`.
    pub fn assay(&self, i: usize) -> &str {
        let d = &self.targets[i].description;
        d.split_once(':').map(|(a, _)| a.trim()).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "\tidentifier\tfile\tclip\tclip_soft\tscale\tsum_stat\tstrand_pair\tdescription\n";

    fn parse(text: &str) -> Result<TargetTable> {
        TargetTable::parse(text.as_bytes(), Path::new("<bytes>"))
    }

    fn q(queries: &[&str]) -> Vec<String> {
        queries.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shipped_human_table_has_7611_symmetric_tracks() {
        let t = TargetTable::borzoi_human();
        assert_eq!(t.len(), 7611);
        assert!(!t.is_empty());
        let perm = t.strand_pairs();
        for (i, &p) in perm.iter().enumerate() {
            assert_eq!(perm[p], i, "track {i}");
            assert_eq!(t.targets[i].index, i);
        }
        assert_eq!(t.targets[0].identifier, "CNhs10608+");
        assert_eq!(t.targets[1].identifier, "CNhs10608-");
        assert_eq!((perm[0], perm[1]), (1, 0));
        let first = &t.targets[0];
        assert_eq!(first.description, "CAGE:Clontech Human Universal Reference Total RNA, pool1");
        assert_eq!((first.clip, first.clip_soft, first.scale), (Some(768.0), Some(384.0), Some(1.0)));
        assert_eq!(first.sum_stat.as_deref(), Some("sum"));
        assert_eq!(t.assay(0), "CAGE");
        let last = &t.targets[7610];
        assert_eq!(last.identifier, "GTEX-W5WG-1026-SM-4LMIF.1");
        assert_eq!(last.strand_pair, 7610);
        assert_eq!(t.assay(7610), "RNA");
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for i in 0..t.len() {
            *counts.entry(t.assay(i)).or_default() += 1;
        }
        assert_eq!(counts["CAGE"], 1276);
        assert_eq!(counts["RNA"], 1543);
        assert_eq!(counts["DNASE"], 674);
        assert_eq!(counts["ATAC"], 232);
        assert_eq!(counts["CHIP"], 3886);
    }

    #[test]
    fn select_by_identifier_index_and_description() {
        let t = TargetTable::borzoi_human();
        assert_eq!(t.select(&q(&["CNhs10608-", "12", "CNhs10608+", "1"])).unwrap(), vec![1, 12, 0]);
        let liver = t.select(&q(&["~rna:LIVER"])).unwrap();
        assert!(!liver.is_empty());
        assert!(liver.windows(2).all(|w| w[0] < w[1]));
        for &i in &liver {
            assert_eq!(t.assay(i), "RNA");
            assert!(t.targets[i].description.to_lowercase().contains("liver"));
        }
        // Duplicates are kept once, at their first occurrence.
        let both = t.select(&q(&[&t.targets[liver[1]].identifier, "~RNA:liver"])).unwrap();
        assert_eq!(both.len(), liver.len());
        assert_eq!(both[0], liver[1]);
        assert_eq!(both[1], liver[0]);
        assert!(t.select(&[]).unwrap().is_empty());
    }

    #[test]
    fn unknown_queries_are_errors_with_suggestions() {
        let t = TargetTable::borzoi_human();
        let e = t.select(&q(&["CNhs1060"])).unwrap_err();
        match &e {
            RuntimeError::InvalidArgument { field, message } => {
                assert_eq!(field, "tracks");
                assert!(message.contains("`CNhs1060`"), "{message}");
                assert!(message.contains("`CNhs10608+`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let e = t.select(&q(&["liver"])).unwrap_err().to_string();
        assert!(e.contains("`~liver` selects the"), "{e}");
        let e = t.select(&q(&["~no such tissue"])).unwrap_err().to_string();
        assert!(e.contains("no such tissue") && e.contains("no identifier or description contains it"), "{e}");
        let e = t.select(&q(&["7611"])).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        assert!(t.select(&q(&["~"])).is_err());
        assert!(t.select(&q(&[""])).is_err());
    }

    #[test]
    fn parses_columns_by_name_in_any_order() {
        let text = "identifier\tdescription\tstrand_pair\tindex\n\
                    a+\tCAGE:x\t1\t0\n\
                    a-\tCAGE:x\t0\t1\n\
                    \n\
                    b\tDNASE:y\t2\t2\n";
        let t = parse(text).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.strand_pairs(), vec![1, 0, 2]);
        assert_eq!(t.targets[2].clip, None);
        assert_eq!(t.targets[2].sum_stat, None);
        assert_eq!(t.assay(2), "DNASE");
        let t = parse(&format!("{HEADER}0\tc\tf\t\t\t2.0\tmean\t0\tno assay\n")).unwrap();
        assert_eq!((t.targets[0].clip, t.targets[0].scale), (None, Some(2.0)));
        assert_eq!(t.assay(0), "");
    }

    #[test]
    fn parse_errors_name_the_line_and_field() {
        let row0 = "0\ta\tf\t768\t384\t1.0\tsum\t0\tCAGE:x\n";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("{HEADER}{row0}1\tb\tf\t768\t384\t1.0\tsum\tx\tCAGE:y\n"),
                "<bytes>:3: strand_pair `x` is not an integer",
            ),
            (
                format!("{HEADER}0\ta\tf\tbig\t384\t1.0\tsum\t0\tCAGE:x\n"),
                "<bytes>:2: clip `big` is not a finite number",
            ),
            (
                "\tidentifier\tfile\tdescription\n0\ta\tf\tCAGE:x\n".to_string(),
                "<bytes>:1: header: missing required column `strand_pair`",
            ),
            (
                "identifier\tstrand_pair\tdescription\na\t0\tx\n".to_string(),
                "<bytes>:1: header: missing required column for the track index",
            ),
            (
                format!("{HEADER}{row0}2\tb\tf\t768\t384\t1.0\tsum\t2\tCAGE:y\n"),
                "<bytes>:3: index 2 out of order: expected 1",
            ),
            (
                format!(
                    "{HEADER}{row0}1\tb\tf\t768\t384\t1.0\tsum\t2\tCAGE:y\n2\tc\tf\t768\t384\t1.0\tsum\t2\tCAGE:z\n"
                ),
                "<bytes>:3: strand_pair is not symmetric: track 1 pairs with 2, but track 2 pairs with 2",
            ),
            (
                format!("{HEADER}{row0}1\tb\tf\t768\t384\t1.0\tsum\t5\tCAGE:y\n"),
                "<bytes>:3: strand_pair 5 of track 1 is out of range",
            ),
            (format!("{HEADER}0\t\tf\t768\t384\t1.0\tsum\t0\tCAGE:x\n"), "<bytes>:2: identifier is empty"),
            (format!("{HEADER}0\ta\tf\t768\t384\t1.0\tsum\t0\tCAGE:x\textra\n"), "<bytes>:2: 10 tab-separated fields"),
            (String::new(), "<bytes>: empty file"),
            ("\n\n".to_string(), "<bytes>: empty file"),
            (HEADER.to_string(), "<bytes>: no tracks"),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(matches!(e, RuntimeError::Parse { .. }), "{e:?}");
            let msg = e.to_string();
            assert!(msg.starts_with(want), "{text:?}\n got: {msg}\nwant: {want}");
        }
    }

    #[test]
    fn reads_plain_and_gzipped_files() {
        let table = TargetTable::borzoi_human();
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(BORZOI_HUMAN_GZ).read_to_end(&mut text).unwrap();
        let unique = format!("gscript-targets-{}-{:?}", std::process::id(), std::thread::current().id());
        let dir = std::env::temp_dir();
        let gz = dir.join(format!("{unique}.txt.gz"));
        let plain = dir.join(format!("{unique}.txt"));
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(&text).unwrap();
        enc.finish().unwrap();
        std::fs::write(&plain, &text).unwrap();
        let from_gz = TargetTable::read(&gz);
        let from_plain = TargetTable::read(&plain);
        std::fs::remove_file(&gz).unwrap();
        std::fs::remove_file(&plain).unwrap();
        assert_eq!(from_gz.unwrap(), table);
        assert_eq!(from_plain.unwrap(), table);
        let missing = dir.join(format!("{unique}-missing.txt"));
        assert!(matches!(TargetTable::read(&missing), Err(RuntimeError::Io { .. })));
    }
}
