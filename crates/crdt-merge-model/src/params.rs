//! Strategy parameters: the values a caller gives (CLI `--param K=V`, a mergekit YAML, a state
//! manifest), checked against the strategy's declared parameters and filled with its defaults
//! before any tensor is read, so a typo fails fast and a state records every resolved value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// One parameter value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` / `false`
    Bool(bool),
    /// Any number (integers too).
    Num(f64),
    /// A word (`"magnitude"`, `"zscore"` ...).
    Text(String),
    /// A list of numbers or words (`scaling_coefficients`, `models_to_negate` ...).
    List(Vec<ParamValue>),
}

impl ParamValue {
    /// Parses a CLI value: `true`/`false`, a number, a `[a, b]` / `a,b` list, else text.
    pub fn parse(text: &str) -> ParamValue {
        let t = text.trim();
        if t == "true" {
            return ParamValue::Bool(true);
        }
        if t == "false" {
            return ParamValue::Bool(false);
        }
        if let Ok(v) = t.parse::<f64>() {
            return ParamValue::Num(v);
        }
        let inner = t.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
        if let Some(inner) = inner {
            if inner.trim().is_empty() {
                return ParamValue::List(Vec::new());
            }
            return ParamValue::List(inner.split(',').map(ParamValue::parse).collect());
        }
        if t.contains(',') {
            return ParamValue::List(t.split(',').map(ParamValue::parse).collect());
        }
        ParamValue::Text(t.to_string())
    }

    /// A short rendering for `__metadata__` and error messages (JSON).
    pub fn render(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The kind of value a parameter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A number.
    Num,
    /// `true` / `false`.
    Bool,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A list of numbers.
    NumList,
    /// A list of words (model labels).
    TextList,
}

/// Where a parameter applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One value for the whole merge (per tensor when filtered or a gradient).
    Shared,
    /// One value per model (mergekit's INPUT scope); a top-level value is every model's default.
    PerModel,
}

/// A parameter's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// A word.
    Text(&'static str),
    /// Must be given (an error naming it otherwise).
    Required,
    /// May be absent (the strategy handles absence).
    Absent,
}

/// One declared parameter of a strategy.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Its name as users write it (`density`, `lambda`, `t` ...).
    pub name: &'static str,
    /// Shared or per model.
    pub scope: Scope,
    /// What it takes.
    pub kind: ParamKind,
    /// Its default.
    pub default: Default,
    /// One line for `model strategies` and the docs.
    pub doc: &'static str,
}

impl ParamSpec {
    /// A shared number with a default.
    pub const fn num(name: &'static str, default: f64, doc: &'static str) -> Self {
        ParamSpec {
            name,
            scope: Scope::Shared,
            kind: ParamKind::Num,
            default: Default::Num(default),
            doc,
        }
    }
    /// A per-model number with a default.
    pub const fn per_model(name: &'static str, default: f64, doc: &'static str) -> Self {
        ParamSpec {
            name,
            scope: Scope::PerModel,
            kind: ParamKind::Num,
            default: Default::Num(default),
            doc,
        }
    }
    /// A shared boolean with a default.
    pub const fn flag(name: &'static str, default: bool, doc: &'static str) -> Self {
        ParamSpec {
            name,
            scope: Scope::Shared,
            kind: ParamKind::Bool,
            default: Default::Bool(default),
            doc,
        }
    }
    /// A shared choice with a default.
    pub const fn choice(
        name: &'static str,
        choices: &'static [&'static str],
        default: &'static str,
        doc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            scope: Scope::Shared,
            kind: ParamKind::Choice(choices),
            default: Default::Text(default),
            doc,
        }
    }
    /// A required shared number.
    pub const fn required(name: &'static str, doc: &'static str) -> Self {
        ParamSpec {
            name,
            scope: Scope::Shared,
            kind: ParamKind::Num,
            default: Default::Required,
            doc,
        }
    }
    /// An optional value of `kind` (absent unless given).
    pub const fn optional(name: &'static str, kind: ParamKind, doc: &'static str) -> Self {
        ParamSpec {
            name,
            scope: Scope::Shared,
            kind,
            default: Default::Absent,
            doc,
        }
    }

    /// The default rendered for tables.
    pub fn default_text(&self) -> String {
        match self.default {
            Default::Num(v) => format_num(v),
            Default::Bool(b) => b.to_string(),
            Default::Text(t) => t.to_string(),
            Default::Required => "required".into(),
            Default::Absent => "none".into(),
        }
    }

    /// Checks `value` against the kind (numbers given as text for a number are refused).
    pub fn check(&self, strategy: &str, value: &ParamValue) -> Result<()> {
        let ok = match (self.kind, value) {
            (ParamKind::Num, ParamValue::Num(v)) => v.is_finite(),
            (ParamKind::Bool, ParamValue::Bool(_)) => true,
            (ParamKind::Choice(c), ParamValue::Text(t)) => c.contains(&t.as_str()),
            (ParamKind::NumList, ParamValue::List(l)) => l
                .iter()
                .all(|v| matches!(v, ParamValue::Num(x) if x.is_finite())),
            (ParamKind::NumList, ParamValue::Num(v)) => v.is_finite(),
            (ParamKind::TextList, ParamValue::List(l)) => {
                l.iter().all(|v| matches!(v, ParamValue::Text(_)))
            }
            (ParamKind::TextList, ParamValue::Text(_)) => true,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            let expected = match self.kind {
                ParamKind::Num => "a finite number".to_string(),
                ParamKind::Bool => "true or false".to_string(),
                ParamKind::Choice(c) => format!("one of {}", c.join(", ")),
                ParamKind::NumList => "a list of finite numbers".to_string(),
                ParamKind::TextList => "a list of model names".to_string(),
            };
            Err(ModelError::param(
                strategy,
                self.name,
                format!("expected {expected}, got {}", value.render()),
            ))
        }
    }
}

/// Formats a number the way tables and metadata show it (`0.3`, `1`, `1e-8`).
pub fn format_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() < 1e-3 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Resolved parameters: every declared parameter that has a value (given or default), by name.
///
/// Strategies read them with the typed getters, which name the parameter on a wrong type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// For error messages.
    #[serde(skip)]
    pub strategy: String,
    /// The values.
    pub values: BTreeMap<String, ParamValue>,
}

impl Params {
    /// Empty parameters for `strategy`.
    pub fn new(strategy: &str) -> Self {
        Params {
            strategy: strategy.to_string(),
            values: BTreeMap::new(),
        }
    }

    /// Sets one value.
    pub fn set(&mut self, name: &str, value: ParamValue) {
        self.values.insert(name.to_string(), value);
    }

    /// The raw value, if any.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.values.get(name)
    }

    fn missing(&self, name: &str) -> ModelError {
        ModelError::param(&self.strategy, name, "is required")
    }

    /// A number (an error naming the parameter if absent or not a number).
    pub fn num(&self, name: &str) -> Result<f64> {
        match self.values.get(name) {
            Some(ParamValue::Num(v)) => Ok(*v),
            Some(other) => Err(ModelError::param(
                &self.strategy,
                name,
                format!("expected a number, got {}", other.render()),
            )),
            None => Err(self.missing(name)),
        }
    }

    /// A number if present.
    pub fn opt_num(&self, name: &str) -> Result<Option<f64>> {
        match self.values.get(name) {
            None => Ok(None),
            Some(_) => self.num(name).map(Some),
        }
    }

    /// A boolean.
    pub fn flag(&self, name: &str) -> Result<bool> {
        match self.values.get(name) {
            Some(ParamValue::Bool(b)) => Ok(*b),
            Some(other) => Err(ModelError::param(
                &self.strategy,
                name,
                format!("expected true or false, got {}", other.render()),
            )),
            None => Err(self.missing(name)),
        }
    }

    /// A word.
    pub fn text(&self, name: &str) -> Result<&str> {
        match self.values.get(name) {
            Some(ParamValue::Text(t)) => Ok(t),
            Some(other) => Err(ModelError::param(
                &self.strategy,
                name,
                format!("expected a word, got {}", other.render()),
            )),
            None => Err(self.missing(name)),
        }
    }

    /// A list of numbers if present (a single number is a one-element list).
    pub fn opt_num_list(&self, name: &str) -> Result<Option<Vec<f64>>> {
        match self.values.get(name) {
            None => Ok(None),
            Some(ParamValue::Num(v)) => Ok(Some(vec![*v])),
            Some(ParamValue::List(l)) => l
                .iter()
                .map(|v| match v {
                    ParamValue::Num(x) => Ok(*x),
                    other => Err(ModelError::param(
                        &self.strategy,
                        name,
                        format!("expected numbers, got {}", other.render()),
                    )),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(ModelError::param(
                &self.strategy,
                name,
                format!("expected a list of numbers, got {}", other.render()),
            )),
        }
    }

    /// A list of words if present (a single word is a one-element list).
    pub fn opt_text_list(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.values.get(name) {
            None => Ok(None),
            Some(ParamValue::Text(t)) => Ok(Some(vec![t.clone()])),
            Some(ParamValue::List(l)) => l
                .iter()
                .map(|v| match v {
                    ParamValue::Text(x) => Ok(x.clone()),
                    other => Err(ModelError::param(
                        &self.strategy,
                        name,
                        format!("expected names, got {}", other.render()),
                    )),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(other) => Err(ModelError::param(
                &self.strategy,
                name,
                format!("expected a list of names, got {}", other.render()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cli_values() {
        assert_eq!(ParamValue::parse("0.3"), ParamValue::Num(0.3));
        assert_eq!(ParamValue::parse("true"), ParamValue::Bool(true));
        assert_eq!(
            ParamValue::parse("magnitude"),
            ParamValue::Text("magnitude".into())
        );
        assert_eq!(
            ParamValue::parse("[1, 0.5]"),
            ParamValue::List(vec![ParamValue::Num(1.0), ParamValue::Num(0.5)])
        );
    }

    #[test]
    fn getters_name_the_parameter() {
        let mut p = Params::new("ties");
        p.set("density", ParamValue::Text("x".into()));
        let e = p.num("density").unwrap_err().to_string();
        assert!(e.contains("ties") && e.contains("density"), "{e}");
        assert!(p.num("lambda").unwrap_err().to_string().contains("lambda"));
    }
}
