//! The docs registry: one entry per registered function, feeding `help("name")`, `gscript doc`, REPL completion and
//! notebook inspect. Option specs double as the source of truth for option-map validation and defaults.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A default value of an option, as shown in docs and used when the key is absent.
#[derive(Clone, Debug, PartialEq)]
pub enum OptDefault {
    Int(i64),
    Float(f64),
    Str(&'static str),
    Bool(bool),
    /// No default: the option is off or derived (the doc text says how).
    None,
}

impl std::fmt::Display for OptDefault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptDefault::Int(v) => write!(f, "{v}"),
            OptDefault::Float(v) => write!(f, "{v:?}"),
            OptDefault::Str(v) => write!(f, "\"{v}\""),
            OptDefault::Bool(v) => write!(f, "{v}"),
            OptDefault::None => f.write_str("—"),
        }
    }
}

/// One key of a trailing options map.
#[derive(Clone, Debug, PartialEq)]
pub struct OptSpec {
    pub name: &'static str,
    /// Type as shown to users: "int", "float", "string", "bool", "array", "map", or alternatives like "int|string".
    pub ty: &'static str,
    pub default: OptDefault,
    pub doc: &'static str,
}

/// Documentation of one registered function or method.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDoc {
    pub name: String,
    /// Type name for methods (`PeakDataset`), `None` for free functions.
    pub receiver: Option<String>,
    /// Area of the standard library: core, io, seq, model, interpret, finetune, analysis, plot.
    pub area: String,
    /// e.g. `load_peaks(path: string, options?: map) -> PeakDataset`.
    pub signature: String,
    /// One line.
    pub summary: String,
    /// Further paragraphs (may be empty).
    pub details: String,
    pub options: Vec<OptSpec>,
    /// Runnable snippets; the test suite executes them.
    pub examples: Vec<String>,
}

impl FnDoc {
    pub fn new(name: &str, area: &str, signature: &str, summary: &str) -> Self {
        FnDoc {
            name: name.into(),
            receiver: None,
            area: area.into(),
            signature: signature.into(),
            summary: summary.into(),
            details: String::new(),
            options: Vec::new(),
            examples: Vec::new(),
        }
    }
    /// A method on values of type `receiver`.
    pub fn method(receiver: &str, name: &str, area: &str, signature: &str, summary: &str) -> Self {
        FnDoc { receiver: Some(receiver.into()), ..FnDoc::new(name, area, signature, summary) }
    }
    pub fn details(mut self, text: &str) -> Self {
        self.details = text.into();
        self
    }
    pub fn opt(mut self, name: &'static str, ty: &'static str, default: OptDefault, doc: &'static str) -> Self {
        self.options.push(OptSpec { name, ty, default, doc });
        self
    }
    pub fn example(mut self, code: &str) -> Self {
        self.examples.push(code.into());
        self
    }
    /// `Type.name` for methods, `name` for functions.
    pub fn qualified_name(&self) -> String {
        match &self.receiver {
            Some(r) => format!("{r}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Plain-text help as `help("name")` prints it.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.signature);
        let _ = writeln!(s, "    {}", self.summary);
        if !self.details.is_empty() {
            s.push('\n');
            for line in self.details.lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
        if !self.options.is_empty() {
            let _ = writeln!(s, "\n  options:");
            let w = self.options.iter().map(|o| o.name.len()).max().unwrap_or(0);
            for o in &self.options {
                let _ = writeln!(s, "    {:w$}  {} = {}  {}", o.name, o.ty, o.default, o.doc, w = w);
            }
        }
        if !self.examples.is_empty() {
            let _ = writeln!(s, "\n  example:");
            for ex in &self.examples {
                for line in ex.lines() {
                    let _ = writeln!(s, "    {line}");
                }
            }
        }
        s
    }

    /// Markdown section for the manual.
    pub fn render_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### `{}`\n\n`{}`\n\n{}\n", self.qualified_name(), self.signature, self.summary);
        if !self.details.is_empty() {
            let _ = writeln!(s, "{}\n", self.details);
        }
        if !self.options.is_empty() {
            let _ = writeln!(s, "| option | type | default | meaning |\n|---|---|---|---|");
            for o in &self.options {
                let _ = writeln!(s, "| `{}` | {} | `{}` | {} |", o.name, o.ty, o.default, o.doc.replace('|', "\\|"));
            }
            s.push('\n');
        }
        for ex in &self.examples {
            let _ = writeln!(s, "```rust\n{ex}\n```\n");
        }
        s
    }
}

/// All documented functions, keyed by qualified name.
#[derive(Clone, Debug, Default)]
pub struct DocsRegistry {
    entries: BTreeMap<String, FnDoc>,
}

/// Display order of the areas.
pub const AREAS: &[(&str, &str)] = &[
    ("core", "Language and session"),
    ("io", "Reading and writing data"),
    ("seq", "Sequences and genomes"),
    ("model", "scBasset models and training"),
    ("interpret", "Interpretation: motifs, ISM, variants"),
    ("finetune", "Transfer learning"),
    ("analysis", "Single-cell analysis"),
    ("plot", "Figures"),
];

impl DocsRegistry {
    pub fn add(&mut self, doc: FnDoc) {
        self.entries.insert(doc.qualified_name(), doc);
    }
    /// Looks up `name`, `Type.name`, or a method `name` on any type.
    pub fn get(&self, name: &str) -> Option<&FnDoc> {
        self.entries.get(name).or_else(|| self.entries.values().find(|d| d.name == name))
    }
    pub fn all(&self) -> impl Iterator<Item = &FnDoc> {
        self.entries.values()
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// True when a function or method of this bare name is documented.
    pub fn has_name(&self, name: &str) -> bool {
        self.entries.values().any(|d| d.name == name)
    }
    /// Names starting with `prefix` (free functions only, or methods when `methods` is set), sorted, deduplicated.
    pub fn names_with_prefix(&self, prefix: &str, methods: bool, receiver: Option<&str>) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .values()
            .filter(|d| d.receiver.is_some() == methods)
            .filter(|d| receiver.is_none() || d.receiver.as_deref() == receiver)
            .filter(|d| d.name.starts_with(prefix))
            .map(|d| d.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Grouped overview (`help()` with no argument).
    pub fn render_index(&self) -> String {
        let mut s = String::new();
        for (area, title) in AREAS {
            let docs: Vec<&FnDoc> = self.entries.values().filter(|d| d.area == *area).collect();
            if docs.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{title}:");
            for d in docs {
                let _ = writeln!(s, "  {:28} {}", d.qualified_name(), d.summary);
            }
            s.push('\n');
        }
        s.push_str("help(\"name\") shows one function in full.\n");
        s
    }

    /// The manual's reference section: one table per area, then every entry in full.
    pub fn render_markdown(&self) -> String {
        let mut s = String::from("# gscript reference\n\n");
        for (area, title) in AREAS {
            let docs: Vec<&FnDoc> = self.entries.values().filter(|d| d.area == *area).collect();
            if docs.is_empty() {
                continue;
            }
            let _ = writeln!(s, "## {title}\n");
            s.push_str(&table(&docs));
            s.push('\n');
            for d in docs {
                s.push_str(&d.render_markdown());
            }
        }
        s
    }

    /// One table per area (heading level 4), functions then methods, one line each: the README's overview.
    pub fn render_markdown_summary(&self) -> String {
        let mut s = String::new();
        for (area, title) in AREAS {
            let mut docs: Vec<&FnDoc> = self.entries.values().filter(|d| d.area == *area).collect();
            if docs.is_empty() {
                continue;
            }
            docs.sort_by_key(|d| (d.receiver.is_some(), d.qualified_name()));
            let _ = writeln!(s, "#### {title}\n");
            s.push_str(&table(&docs));
            s.push('\n');
        }
        s
    }
}

/// `| function | what it does |` rows for these entries.
fn table(docs: &[&FnDoc]) -> String {
    let mut s = String::from("| function | what it does |\n|---|---|\n");
    for d in docs {
        let _ = writeln!(s, "| `{}` | {} |", d.qualified_name(), d.summary.replace('|', "\\|"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FnDoc {
        FnDoc::new("train", "model", "train(data, options?: map) -> Model", "Trains a model.")
            .opt("epochs", "int", OptDefault::Int(100), "Passes over the peaks.")
            .example("train(d, #{epochs: 2})")
    }

    #[test]
    fn renders_options_and_examples() {
        let text = sample().render_text();
        assert!(text.contains("epochs  int = 100  Passes over the peaks."), "{text}");
        assert!(text.contains("train(d, #{epochs: 2})"));
        let md = sample().render_markdown();
        assert!(md.contains("| `epochs` | int | `100` |"), "{md}");
    }

    #[test]
    fn looks_up_functions_and_methods() {
        let mut r = DocsRegistry::default();
        r.add(sample());
        r.add(FnDoc::method("Model", "summary", "model", "model.summary() -> string", "Layers."));
        assert!(r.get("train").is_some());
        assert_eq!(r.get("summary").unwrap().qualified_name(), "Model.summary");
        assert!(r.get("Model.summary").is_some());
        assert_eq!(r.names_with_prefix("tr", false, None), vec!["train"]);
        assert_eq!(r.names_with_prefix("s", true, Some("Model")), vec!["summary"]);
        assert!(r.names_with_prefix("s", true, Some("Other")).is_empty());
        assert!(r.render_index().contains("scBasset models and training:"));
    }
}
