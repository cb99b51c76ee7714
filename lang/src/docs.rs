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
    /// The help area it is listed under (`core`, or one a package declared with [`crate::Registrar::area`]).
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

/// A help area: the heading that groups functions in `help()`, the manual and the README's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    /// What [`FnDoc::area`] names, e.g. `io`.
    pub name: String,
    /// The heading, e.g. `Reading and writing data`.
    pub title: String,
}

/// All documented functions, keyed by qualified name, and the areas packages declared, in declaration order.
#[derive(Clone, Debug, Default)]
pub struct DocsRegistry {
    entries: BTreeMap<String, FnDoc>,
    areas: Vec<Area>,
}

impl DocsRegistry {
    /// Declares an area; areas are listed in the order they are declared. Declaring a name again changes its title
    /// and keeps its place. Entries of an area nobody declared are reachable by `help("name")` but not listed.
    pub fn add_area(&mut self, name: &str, title: &str) {
        match self.areas.iter_mut().find(|a| a.name == name) {
            Some(a) => a.title = title.to_string(),
            None => self.areas.push(Area { name: name.to_string(), title: title.to_string() }),
        }
    }
    /// The declared areas in display order.
    pub fn areas(&self) -> &[Area] {
        &self.areas
    }
    /// Declared areas with at least one entry, each with its entries in name order.
    fn by_area(&self) -> impl Iterator<Item = (&Area, Vec<&FnDoc>)> {
        self.areas
            .iter()
            .map(|a| (a, self.entries.values().filter(|d| d.area == a.name).collect::<Vec<_>>()))
            .filter(|(_, docs)| !docs.is_empty())
    }
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
        for (area, docs) in self.by_area() {
            let _ = writeln!(s, "{}:", area.title);
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
        for (area, docs) in self.by_area() {
            let _ = writeln!(s, "## {}\n", area.title);
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
        for (area, mut docs) in self.by_area() {
            docs.sort_by_key(|d| (d.receiver.is_some(), d.qualified_name()));
            let _ = writeln!(s, "#### {}\n", area.title);
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
        r.add_area("model", "scBasset models and training");
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

    #[test]
    fn areas_are_listed_in_declaration_order_and_only_when_declared() {
        let mut r = DocsRegistry::default();
        r.add_area("plot", "Figures");
        r.add_area("model", "Models");
        r.add_area("model", "scBasset models");
        r.add(sample());
        r.add(FnDoc::new("plot_hist", "plot", "plot_hist(values: array) -> Figure", "Histogram."));
        r.add(FnDoc::new("secret", "undeclared", "secret()", "Not listed."));
        let names: Vec<&str> = r.areas().iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["plot", "model"]);
        let index = r.render_index();
        let (figures, models) = (index.find("Figures:").unwrap(), index.find("scBasset models:").unwrap());
        assert!(figures < models, "{index}");
        assert!(!index.contains("secret") && !index.contains("Models:"), "{index}");
        assert!(r.get("secret").is_some());
        let md = r.render_markdown_summary();
        assert!(md.starts_with("#### Figures\n") && md.contains("#### scBasset models\n"), "{md}");
    }
}
