//! The Python crdt-merge library's schema vocabulary, read into a [`MergeSpec`].
//!
//! Hosts with a Python face (the Polars plugin) accept what users of the Python library already
//! write, so switching is a one-line change. Two shapes, given as one JSON object:
//!
//! * a strategy map: `{"name": "lww", "score": "max", "tags": "union(,)"}`; each value is read by
//!   [`ColumnRule::parse`], so MergeQL spellings and the Python class names (`"MaxWins"`) work;
//! * `MergeSchema.to_dict()`: `{"score": {"strategy": "MaxWins"}, "tags": {"strategy":
//!   "UnionSet", "separator": ","}, "status": {"strategy": "Priority", "levels": [..]},
//!   "__default__": {"strategy": "LWW"}}`.
//!
//! Parameters follow the Python library's defaults where it has them: `UnionSet` without a
//! separator splits on `","`, `Concat` on `" | "`. What cannot be a lawful merge is an error
//! rather than a silent substitute: `Concat` with `"dedup": false` (not idempotent) and `Custom`
//! (a Python callable). A `__default__` other than LWW becomes a rule on every listed column
//! that has none and is not a key, clock, replica or tombstone column.

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::mergeql::{ColumnRule, MergeSpec};
use crate::strategy::StrategyKind;

const F: &str = "strategies";
/// The key under which `MergeSchema.to_dict()` stores the default strategy.
pub const DEFAULT_ENTRY: &str = "__default__";

fn text_param(
    column: &str,
    entry: &serde_json::Map<String, Json>,
    name: &str,
) -> Result<Option<String>> {
    match entry.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(
            F,
            format!("{column}.{name}"),
            "a string",
            other.to_string(),
        )),
    }
}

/// One entry of a `MergeSchema.to_dict()` (or a plain strategy string) as a rule for `column`;
/// errors are reported against `strategies["column"]`, so the user sees which entry is wrong.
fn rule_from_entry(column: &str, value: &Json) -> Result<ColumnRule> {
    rule_from_entry_inner(column, value).map_err(|e| {
        if e.function == F {
            e
        } else {
            Error::new(format!("{F}[\"{column}\"]"), e.kind)
        }
    })
}

fn rule_from_entry_inner(column: &str, value: &Json) -> Result<ColumnRule> {
    let entry = match value {
        Json::String(s) => return ColumnRule::parse(column, s),
        Json::Object(m) => m,
        other => {
            return Err(Error::invalid(
                F,
                column,
                "a strategy name or a {\"strategy\": ...} object",
                other.to_string(),
            ))
        }
    };
    let name = text_param(column, entry, "strategy")?.ok_or_else(|| {
        Error::invalid(
            F,
            column,
            "an object with a \"strategy\" entry",
            Json::Object(entry.clone()).to_string(),
        )
    })?;
    if name.trim().eq_ignore_ascii_case("custom") {
        return Err(Error::invalid(
            F,
            column,
            "a built-in strategy (a Custom Python callable cannot run in the kernel)",
            "Custom",
        ));
    }
    let kind = StrategyKind::parse(&name)?;
    let sep = text_param(column, entry, "separator")?;
    Ok(match kind {
        StrategyKind::Priority => {
            let levels = match entry.get("levels") {
                Some(Json::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Json::String(s) => Ok(s.clone()),
                        Json::Number(n) => Ok(n.to_string()),
                        other => Err(Error::invalid(
                            F,
                            format!("{column}.levels"),
                            "strings or numbers",
                            other.to_string(),
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?,
                None => Vec::new(),
                Some(other) => {
                    return Err(Error::invalid(
                        F,
                        format!("{column}.levels"),
                        "a list",
                        other.to_string(),
                    ))
                }
            };
            ColumnRule::priority(column, levels)
        }
        StrategyKind::Union => {
            ColumnRule::new(column, kind).with_sep(sep.unwrap_or_else(|| ",".into()))
        }
        StrategyKind::Concat => {
            if entry.get("dedup") == Some(&Json::Bool(false)) {
                return Err(Error::invalid(
                    F,
                    format!("{column}.dedup"),
                    "true (a concatenation that keeps duplicates is not idempotent, so it is not a merge)",
                    "false",
                ));
            }
            ColumnRule::new(column, kind).with_sep(sep.unwrap_or_else(|| " | ".into()))
        }
        _ => ColumnRule::new(column, kind),
    })
}

/// Adds the rules of `json` (a strategy map or a `MergeSchema.to_dict()`, see the module docs)
/// to `spec`, then validates it. `columns` are the merged relation's columns, used only to
/// spread a non-LWW `__default__` over the columns without a rule.
///
/// # Errors
/// Malformed JSON, an unknown strategy, `Custom`, `Concat` without dedup, a rule on a key, clock,
/// replica or tombstone column, or anything else [`MergeSpec::validate`] rejects; each error names
/// the column.
pub fn apply_schema_json(mut spec: MergeSpec, json: &str, columns: &[String]) -> Result<MergeSpec> {
    let parsed: Json = serde_json::from_str(json)
        .map_err(|e| Error::invalid(F, "strategies", "a JSON object", e.to_string()))?;
    let Json::Object(map) = parsed else {
        return Err(Error::invalid(
            F,
            "strategies",
            "an object mapping columns to strategies",
            parsed.to_string(),
        ));
    };
    let mut default = None;
    for (column, value) in &map {
        if column == DEFAULT_ENTRY {
            default = Some(rule_from_entry(column, value)?);
            continue;
        }
        spec.rules.push(rule_from_entry(column, value)?);
    }
    if let Some(d) = default.filter(|d| d.strategy != StrategyKind::Lww) {
        let reserved = |c: &str| {
            spec.key.iter().any(|k| k == c)
                || spec.clock == c
                || spec.replica.as_deref() == Some(c)
                || spec.tombstone.as_deref() == Some(c)
                || spec.rules.iter().any(|r| r.column == c)
        };
        let extra: Vec<ColumnRule> = columns
            .iter()
            .filter(|c| !reserved(c))
            .map(|c| ColumnRule {
                column: c.clone(),
                ..d.clone()
            })
            .collect();
        spec.rules.extend(extra);
    }
    spec.validate()?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mergeql::Source;

    fn spec() -> MergeSpec {
        MergeSpec::new([Source::table("a"), Source::table("b")], ["id"])
    }

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn strategy_map_strings() {
        let s = apply_schema_json(
            spec(),
            r#"{"name": "lww", "score": "MaxWins", "tags": "union(;)"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(s.rule("name").unwrap().strategy, StrategyKind::Lww);
        assert_eq!(s.rule("score").unwrap().strategy, StrategyKind::Max);
        assert_eq!(s.rule("tags").unwrap().sep.as_deref(), Some(";"));
    }

    #[test]
    fn merge_schema_dict_with_python_defaults() {
        let json = r#"{"score": {"strategy": "MaxWins"},
                       "tags": {"strategy": "UnionSet", "separator": ","},
                       "t2": {"strategy": "UnionSet"},
                       "notes": {"strategy": "Concat", "separator": " | ", "dedup": true},
                       "status": {"strategy": "Priority", "levels": ["draft", "published"]},
                       "bio": {"strategy": "LongestWins"},
                       "__default__": {"strategy": "LWW"}}"#;
        let s = apply_schema_json(spec(), json, &cols(&["id", "score", "x"])).unwrap();
        assert_eq!(s.rules.len(), 6, "an LWW default adds no rules");
        assert_eq!(s.rule("t2").unwrap().sep.as_deref(), Some(","));
        assert_eq!(s.rule("notes").unwrap().sep.as_deref(), Some(" | "));
        assert_eq!(s.rule("status").unwrap().levels, ["draft", "published"]);
        assert_eq!(s.rule("bio").unwrap().strategy, StrategyKind::Longest);
    }

    #[test]
    fn non_lww_default_covers_unlisted_data_columns() {
        let json = r#"{"name": {"strategy": "LWW"}, "__default__": {"strategy": "MaxWins"}}"#;
        let s =
            apply_schema_json(spec(), json, &cols(&["id", "name", "score", "_ts", "n"])).unwrap();
        assert_eq!(s.rule("name").unwrap().strategy, StrategyKind::Lww);
        assert_eq!(s.rule("score").unwrap().strategy, StrategyKind::Max);
        assert_eq!(s.rule("n").unwrap().strategy, StrategyKind::Max);
        assert!(s.rule("id").is_none() && s.rule("_ts").is_none());
    }

    #[test]
    fn unlawful_or_unknown_entries_are_errors_naming_the_column() {
        for (json, needle) in [
            (
                r#"{"notes": {"strategy": "Concat", "dedup": false}}"#,
                "notes.dedup",
            ),
            (r#"{"f": {"strategy": "Custom"}}"#, "Custom"),
            (
                r#"{"f": {"strategy": "Newest"}}"#,
                "strategies[\"f\"]: unknown strategy `Newest`; valid strategies are",
            ),
            (r#"{"f": "newest"}"#, "strategies[\"f\"]: unknown strategy"),
            (r#"{"f": 3}"#, "`f`"),
            (r#"{"id": "max"}"#, "id"),
            (r#"["name"]"#, "object"),
            (r#"{"name": "lww""#, "JSON"),
        ] {
            let e = apply_schema_json(spec(), json, &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }
}
