//! Per-tensor strategy choice (the Python library's `ModelMergeSchema` order): an exact name wins,
//! then globs (`*`, `?`, `[`), then numeric ranges (`layers.0-11.attn`: prefix, an inclusive range,
//! suffix; the tensor matches if it starts with prefix + a number in range + suffix), then regexes
//! (patterns with `^ $ + | { } ( )`, which must match the whole name), then the default. Within a
//! class, patterns are tried in the order given.

use crate::error::{ModelError, Result};

/// A compiled schema.
#[derive(Debug)]
pub struct Schema {
    exact: Vec<(String, String)>,
    globs: Vec<(globset::GlobMatcher, String)>,
    ranges: Vec<(RangePattern, String)>,
    regexes: Vec<(regex::Regex, String)>,
    default: String,
}

#[derive(Debug)]
struct RangePattern {
    prefix: String,
    lo: u64,
    hi: u64,
    suffix: String,
}

impl RangePattern {
    /// `prefix<lo>-<hi>suffix` where prefix ends with `.` or `_` or is empty.
    fn parse(pattern: &str) -> Option<RangePattern> {
        let re = regex::Regex::new(r"^(.*?)(\d+)-(\d+)(.*)$").ok()?;
        let c = re.captures(pattern)?;
        let prefix = c[1].to_string();
        if !(prefix.is_empty() || prefix.ends_with('.') || prefix.ends_with('_')) {
            return None;
        }
        let lo = c[2].parse().ok()?;
        let hi = c[3].parse().ok()?;
        (lo <= hi).then(|| RangePattern {
            prefix,
            lo,
            hi,
            suffix: c[4].to_string(),
        })
    }

    fn matches(&self, name: &str) -> bool {
        let Some(rest) = name.strip_prefix(&self.prefix) else {
            return false;
        };
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let Ok(n) = digits.parse::<u64>() else {
            return false;
        };
        n >= self.lo && n <= self.hi && rest[digits.len()..].starts_with(&self.suffix)
    }
}

fn is_regex(p: &str) -> bool {
    p.chars().any(|c| "^$+|{}()".contains(c))
}

fn is_glob(p: &str) -> bool {
    p.chars().any(|c| "*?[".contains(c))
}

impl Schema {
    /// Compiles `(pattern, strategy)` rules over `default`; a bad glob or regex is an error naming
    /// the pattern.
    pub fn new(rules: &[(String, String)], default: &str) -> Result<Schema> {
        let mut s = Schema {
            exact: Vec::new(),
            globs: Vec::new(),
            ranges: Vec::new(),
            regexes: Vec::new(),
            default: default.to_string(),
        };
        for (pattern, strategy) in rules {
            if is_regex(pattern) {
                let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    ModelError::invalid(format!(
                        "--layer-strategy `{pattern}`: not a valid regex: {e}"
                    ))
                })?;
                s.regexes.push((re, strategy.clone()));
            } else if is_glob(pattern) {
                let g = globset::GlobBuilder::new(pattern)
                    .literal_separator(false)
                    .build()
                    .map_err(|e| {
                        ModelError::invalid(format!(
                            "--layer-strategy `{pattern}`: not a valid glob: {e}"
                        ))
                    })?;
                s.globs.push((g.compile_matcher(), strategy.clone()));
            } else if let Some(r) = RangePattern::parse(pattern) {
                s.ranges.push((r, strategy.clone()));
            } else {
                s.exact.push((pattern.clone(), strategy.clone()));
            }
        }
        Ok(s)
    }

    /// The strategy for tensor `name`.
    pub fn strategy_for(&self, name: &str) -> &str {
        if let Some((_, s)) = self.exact.iter().find(|(p, _)| p == name) {
            return s;
        }
        if let Some((_, s)) = self.globs.iter().find(|(g, _)| g.is_match(name)) {
            return s;
        }
        if let Some((_, s)) = self.ranges.iter().find(|(r, _)| r.matches(name)) {
            return s;
        }
        if let Some((_, s)) = self.regexes.iter().find(|(r, _)| r.is_match(name)) {
            return s;
        }
        &self.default
    }

    /// Every strategy the schema can choose (the default first).
    pub fn strategies(&self) -> Vec<&str> {
        let mut out = vec![self.default.as_str()];
        let rest = self
            .exact
            .iter()
            .map(|(_, s)| s)
            .chain(self.globs.iter().map(|(_, s)| s));
        let rest = rest
            .chain(self.ranges.iter().map(|(_, s)| s))
            .chain(self.regexes.iter().map(|(_, s)| s));
        for s in rest {
            if !out.contains(&s.as_str()) {
                out.push(s);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(r: &[(&str, &str)]) -> Vec<(String, String)> {
        r.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn lookup_order_exact_glob_range_regex_default() {
        let s = Schema::new(
            &rules(&[
                (r"^layers\.\d+\.mlp.*", "regex"),
                ("layers.0-11.attn", "range"),
                ("*.bias", "glob"),
                ("layers.3.attn.q.bias", "exact"),
            ]),
            "dflt",
        )
        .unwrap();
        assert_eq!(s.strategy_for("layers.3.attn.q.bias"), "exact");
        assert_eq!(s.strategy_for("layers.4.attn.q.bias"), "glob");
        assert_eq!(s.strategy_for("layers.11.attn.q.weight"), "range");
        assert_eq!(s.strategy_for("layers.12.attn.q.weight"), "dflt");
        assert_eq!(s.strategy_for("layers.12.mlp.up.weight"), "regex");
        assert_eq!(s.strategy_for("embed.weight"), "dflt");
        assert_eq!(
            s.strategies(),
            vec!["dflt", "exact", "glob", "range", "regex"]
        );
    }

    #[test]
    fn bad_regex_names_the_pattern() {
        let e = Schema::new(&rules(&[("(", "x")]), "d")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`(`"), "{e}");
    }
}
