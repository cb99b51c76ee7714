//! Validation of the trailing options map: `train_scbasset(data, #{epochs: 200, seed: 1})`.
//!
//! Keys are checked against the function's documented [`OptSpec`]s, so docs, defaults and validation cannot drift:
//! an unknown key is an error listing the valid ones, a value of the wrong type names the key and both types.

use rhai::{Dynamic, EvalAltResult, ImmutableString, Map};

use crate::docs::{OptDefault, OptSpec};
use crate::error::primitive_error;

/// A validated options map for one call of `primitive`.
#[derive(Debug)]
pub struct Options {
    primitive: String,
    map: Map,
    specs: Vec<OptSpec>,
}

type Res<T> = Result<T, Box<EvalAltResult>>;

impl Options {
    /// Rejects keys that are not in `specs`.
    pub fn new(primitive: &str, map: Map, specs: &[OptSpec]) -> Res<Self> {
        for key in map.keys() {
            if !specs.iter().any(|s| s.name == key.as_str()) {
                let mut valid: Vec<&str> = specs.iter().map(|s| s.name).collect();
                valid.sort_unstable();
                let hint = closest(key.as_str(), &valid).map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
                let list = if valid.is_empty() { "none".to_string() } else { valid.join(", ") };
                return Err(primitive_error(
                    primitive,
                    Some("options"),
                    &format!("unknown option `{key}`{hint}; valid options: {list}"),
                ));
            }
        }
        Ok(Options { primitive: primitive.to_string(), map, specs: specs.to_vec() })
    }

    /// An empty options map (the call had no trailing map).
    pub fn empty(primitive: &str, specs: &[OptSpec]) -> Self {
        Options { primitive: primitive.to_string(), map: Map::new(), specs: specs.to_vec() }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_unit())
    }

    /// The raw value given by the user, if any (`()` counts as absent).
    pub fn raw(&self, key: &str) -> Option<&Dynamic> {
        self.spec(key);
        self.map.get(key).filter(|v| !v.is_unit())
    }

    fn spec(&self, key: &str) -> &OptSpec {
        self.specs
            .iter()
            .find(|s| s.name == key)
            .unwrap_or_else(|| panic!("{}: option `{key}` read but not declared in its docs", self.primitive))
    }

    fn type_error(&self, key: &str, expected: &str, got: &Dynamic) -> Box<EvalAltResult> {
        primitive_error(&self.primitive, Some(key), &format!("expected {expected}, got {} `{got}`", got.type_name()))
    }

    pub fn int(&self, key: &str) -> Res<Option<i64>> {
        match self.raw(key) {
            None => Ok(match self.spec(key).default {
                OptDefault::Int(v) => Some(v),
                _ => None,
            }),
            Some(v) => v.as_int().map(Some).map_err(|_| self.type_error(key, "an integer", v)),
        }
    }

    /// Integer option that must be ≥ `min`.
    pub fn int_at_least(&self, key: &str, min: i64) -> Res<Option<i64>> {
        match self.int(key)? {
            Some(v) if v < min => {
                Err(primitive_error(&self.primitive, Some(key), &format!("must be at least {min}, got {v}")))
            }
            other => Ok(other),
        }
    }

    pub fn float(&self, key: &str) -> Res<Option<f64>> {
        match self.raw(key) {
            None => Ok(match self.spec(key).default {
                OptDefault::Float(v) => Some(v),
                OptDefault::Int(v) => Some(v as f64),
                _ => None,
            }),
            Some(v) => {
                if let Ok(f) = v.as_float() {
                    Ok(Some(f))
                } else if let Ok(i) = v.as_int() {
                    Ok(Some(i as f64))
                } else {
                    Err(self.type_error(key, "a number", v))
                }
            }
        }
    }

    pub fn bool(&self, key: &str) -> Res<Option<bool>> {
        match self.raw(key) {
            None => Ok(match self.spec(key).default {
                OptDefault::Bool(v) => Some(v),
                _ => None,
            }),
            Some(v) => v.as_bool().map(Some).map_err(|_| self.type_error(key, "true or false", v)),
        }
    }

    pub fn string(&self, key: &str) -> Res<Option<String>> {
        match self.raw(key) {
            None => Ok(match self.spec(key).default {
                OptDefault::Str(v) => Some(v.to_string()),
                _ => None,
            }),
            Some(v) => v
                .clone()
                .into_immutable_string()
                .map(|s: ImmutableString| Some(s.to_string()))
                .map_err(|_| self.type_error(key, "a string", v)),
        }
    }

    /// String option restricted to `choices`.
    pub fn choice(&self, key: &str, choices: &[&str]) -> Res<Option<String>> {
        match self.string(key)? {
            Some(v) if !choices.contains(&v.as_str()) => Err(primitive_error(
                &self.primitive,
                Some(key),
                &format!(
                    "\"{v}\" is not one of {}",
                    choices.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
                ),
            )),
            other => Ok(other),
        }
    }
}

/// The valid key (or name) closest to a mistyped one (edit distance ≤ 2), for a did-you-mean hint.
pub fn closest<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid.iter().map(|v| (edit_distance(key, v), *v)).filter(|(d, _)| *d <= 2).min().map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> Vec<OptSpec> {
        vec![
            OptSpec { name: "epochs", ty: "int", default: OptDefault::Int(100), doc: "" },
            OptSpec { name: "lr", ty: "float", default: OptDefault::Float(0.01), doc: "" },
            OptSpec { name: "device", ty: "string", default: OptDefault::Str("cpu"), doc: "" },
            OptSpec { name: "verbose", ty: "bool", default: OptDefault::Bool(true), doc: "" },
        ]
    }

    fn map(pairs: &[(&str, Dynamic)]) -> Map {
        pairs.iter().map(|(k, v)| ((*k).into(), v.clone())).collect()
    }

    #[test]
    fn unknown_key_lists_valid_ones_and_suggests() {
        let err = Options::new("train", map(&[("epoch", Dynamic::from(3_i64))]), &specs()).unwrap_err().to_string();
        assert!(err.contains("unknown option `epoch`"), "{err}");
        assert!(err.contains("did you mean `epochs`"), "{err}");
        assert!(err.contains("valid options: device, epochs, lr, verbose"), "{err}");
        assert!(err.contains("train: argument `options`:"), "{err}");
    }

    #[test]
    fn defaults_come_from_specs_and_types_are_checked() {
        let o = Options::new("train", map(&[("lr", Dynamic::from(1_i64))]), &specs()).unwrap();
        assert_eq!(o.int("epochs").unwrap(), Some(100));
        assert_eq!(o.float("lr").unwrap(), Some(1.0)); // ints are accepted where floats are expected
        assert_eq!(o.string("device").unwrap().as_deref(), Some("cpu"));
        assert_eq!(o.bool("verbose").unwrap(), Some(true));
        let o = Options::new("train", map(&[("epochs", Dynamic::from("many"))]), &specs()).unwrap();
        let err = o.int("epochs").unwrap_err().to_string();
        assert!(err.contains("`epochs`") && err.contains("expected an integer") && err.contains("many"), "{err}");
        let o = Options::new("train", map(&[("device", Dynamic::from("tpu"))]), &specs()).unwrap();
        let err = o.choice("device", &["cpu", "cuda"]).unwrap_err().to_string();
        assert!(err.contains("\"tpu\" is not one of \"cpu\", \"cuda\""), "{err}");
        let o = Options::new("train", map(&[("epochs", Dynamic::from(0_i64))]), &specs()).unwrap();
        assert!(o.int_at_least("epochs", 1).unwrap_err().to_string().contains("at least 1"));
    }
}
