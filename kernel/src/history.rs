//! The kernel's input history for `history_request`: every cell run with `store_history`, its execution count and
//! the text/plain of its result. Access types tail, range and search (glob pattern with `*` and `?`, `unique`, `n`),
//! as IPython answers them. The session number is 1 (one session per kernel process).

use serde_json::{json, Value};

pub const SESSION: i64 = 1;

#[derive(Default)]
pub struct History {
    /// (execution count, input, text/plain output if the cell had a result)
    entries: Vec<(i64, String, Option<String>)>,
}

impl History {
    pub fn push(&mut self, count: i64, input: &str, output: Option<String>) {
        self.entries.push((count, input.to_string(), output));
    }

    fn entry(&self, e: &(i64, String, Option<String>), output: bool) -> Value {
        if output {
            json!([SESSION, e.0, [e.1, e.2]])
        } else {
            json!([SESSION, e.0, e.1])
        }
    }

    /// The last `n` entries.
    pub fn tail(&self, n: usize, output: bool) -> Vec<Value> {
        let start = self.entries.len().saturating_sub(n);
        self.entries[start..].iter().map(|e| self.entry(e, output)).collect()
    }

    /// Lines `start..stop` of the session (stop exclusive; 0 or negative stop = to the end). Other sessions have none.
    pub fn range(&self, session: i64, start: i64, stop: i64, output: bool) -> Vec<Value> {
        if session != SESSION && session != 0 {
            return Vec::new();
        }
        self.entries
            .iter()
            .filter(|e| e.0 >= start && (stop <= 0 || e.0 < stop))
            .map(|e| self.entry(e, output))
            .collect()
    }

    /// Entries whose input matches the glob `pattern`; the last `n` of them (all when `n` is None), each input once
    /// when `unique` (its latest occurrence).
    pub fn search(&self, pattern: &str, unique: bool, n: Option<usize>, output: bool) -> Vec<Value> {
        let mut hits: Vec<&(i64, String, Option<String>)> =
            self.entries.iter().filter(|e| glob_match(pattern, &e.1)).collect();
        if unique {
            let mut seen = std::collections::HashSet::new();
            let mut kept: Vec<_> = hits.iter().rev().filter(|e| seen.insert(e.1.as_str())).copied().collect();
            kept.reverse();
            hits = kept;
        }
        if let Some(n) = n {
            hits = hits.split_off(hits.len().saturating_sub(n));
        }
        hits.into_iter().map(|e| self.entry(e, output)).collect()
    }
}

/// Shell-style glob: `*` any run of characters, `?` one character; everything else literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("1 + *", "1 + 2"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*train*(*", "let m = train_scbasset(d)"));
        assert!(!glob_match("x*", "y = x"));
    }

    #[test]
    fn access_types() {
        let mut h = History::default();
        h.push(1, "1 + 1", Some("2".into()));
        h.push(2, "print(3)", None);
        h.push(3, "1 + 1", Some("2".into()));
        h.push(4, "1 + 2", Some("3".into()));
        assert_eq!(h.tail(2, false), vec![json!([1, 3, "1 + 1"]), json!([1, 4, "1 + 2"])]);
        assert_eq!(h.tail(1, true), vec![json!([1, 4, ["1 + 2", "3"]])]);
        assert_eq!(h.range(1, 2, 3, false), vec![json!([1, 2, "print(3)"])]);
        assert_eq!(h.range(1, 3, 0, false).len(), 2);
        assert!(h.range(7, 1, 0, false).is_empty());
        assert_eq!(h.search("1 + *", false, None, false).len(), 3);
        assert_eq!(h.search("1 + *", true, None, false), vec![json!([1, 3, "1 + 1"]), json!([1, 4, "1 + 2"])]);
        assert_eq!(h.search("1 + *", false, Some(1), false), vec![json!([1, 4, "1 + 2"])]);
    }
}
