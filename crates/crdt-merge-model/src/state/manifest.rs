//! The state manifest: canonical JSON (sorted keys, two-space indentation, one trailing newline)
//! whose bytes are a function of the state, so `state_hash` can hash them.
//!
//! No float is written as a JSON number: weights and numeric parameters are strings of Rust's
//! shortest round-trip `{}` formatting, parsed back with `str::parse::<f64>`, so every value
//! survives exactly whatever JSON library reads or rewrites the file. Parameters are decoded by
//! the kind the strategy declares for them (a number, a word, a list ...), then checked and filled
//! with defaults exactly as at `init`.
//!
//! ```json
//! {
//!   "base": null,
//!   "entries": [
//!     {
//!       "content": "<64 hex>",
//!       "label": "team-a",
//!       "tag": "<64 hex>",
//!       "version": 1,
//!       "weight": "0.5"
//!     }
//!   ],
//!   "format": "crdt-merge-model state",
//!   "format_version": 1,
//!   "params": {},
//!   "seed": 0,
//!   "strategy": "linear",
//!   "tombstones": []
//! }
//! ```
//! An entry may also have `fisher` and `gram` (blob content ids).

use std::path::Path;

use serde_json::{Map, Value};

use crate::contribution::{hex, parse_hex, ContributionId};
use crate::error::{ModelError, Result};
use crate::params::{ParamKind, ParamValue};
use crate::state::orset::{Entry, OrSet, Tag};
use crate::state::MergeState;
use crate::strategy;

/// The `format` field.
pub const FORMAT: &str = "crdt-merge-model state";
/// The `format_version` this code writes and reads.
pub const FORMAT_VERSION: u64 = 1;

const TOP_KEYS: &[&str] = &[
    "base",
    "entries",
    "format",
    "format_version",
    "params",
    "seed",
    "strategy",
    "tombstones",
];
const ENTRY_KEYS: &[&str] = &[
    "content", "fisher", "gram", "label", "tag", "version", "weight",
];

/// Encoding and parsing of state manifests.
pub struct Manifest;

impl Manifest {
    /// The canonical manifest bytes of `state`.
    pub fn encode(state: &MergeState) -> Vec<u8> {
        let mut top = Map::new();
        top.insert(
            "base".into(),
            state.base().map_or(Value::Null, |b| Value::String(hex(b))),
        );
        let entries = state
            .set()
            .entries()
            .iter()
            .map(|(tag, e)| {
                let mut m = Map::new();
                m.insert("content".into(), Value::String(hex(&e.content)));
                if let Some(f) = &e.fisher {
                    m.insert("fisher".into(), Value::String(hex(f)));
                }
                if let Some(g) = &e.gram {
                    m.insert("gram".into(), Value::String(hex(g)));
                }
                m.insert("label".into(), Value::String(e.label.clone()));
                m.insert("tag".into(), Value::String(hex(tag)));
                m.insert("version".into(), Value::from(e.version));
                m.insert("weight".into(), Value::String(format!("{}", e.weight)));
                Value::Object(m)
            })
            .collect();
        top.insert("entries".into(), Value::Array(entries));
        top.insert("format".into(), Value::String(FORMAT.into()));
        top.insert("format_version".into(), Value::from(FORMAT_VERSION));
        let params = state
            .params()
            .values
            .iter()
            .map(|(k, v)| (k.clone(), encode_param(v)))
            .collect();
        top.insert("params".into(), Value::Object(params));
        top.insert("seed".into(), Value::from(state.seed()));
        top.insert("strategy".into(), Value::String(state.strategy().into()));
        let tombstones = state
            .set()
            .tombstones()
            .iter()
            .map(|t| Value::String(hex(t)))
            .collect();
        top.insert("tombstones".into(), Value::Array(tombstones));
        let mut out = String::new();
        write_canonical(&Value::Object(top), 0, &mut out);
        out.push('\n');
        out.into_bytes()
    }

    /// Parses and validates a manifest (never panics, whatever the bytes); errors name
    /// `manifest.json`.
    pub fn parse(bytes: &[u8]) -> Result<MergeState> {
        Manifest::parse_at(bytes, Path::new("manifest.json"))
    }

    /// [`Manifest::parse`] with errors naming `path`.
    pub fn parse_at(bytes: &[u8], path: &Path) -> Result<MergeState> {
        parse_inner(bytes).map_err(|e| match e {
            ModelError::Format { message, .. } => ModelError::format(path, message),
            other => ModelError::format(path, other.to_string()),
        })
    }
}

fn encode_param(v: &ParamValue) -> Value {
    match v {
        ParamValue::Bool(b) => Value::Bool(*b),
        ParamValue::Num(x) => Value::String(format!("{x}")),
        ParamValue::Text(t) => Value::String(t.clone()),
        ParamValue::List(l) => Value::Array(l.iter().map(encode_param).collect()),
    }
}

/// Writes `v` with sorted object keys (whatever order the map keeps) and fixed indentation.
fn write_canonical(v: &Value, indent: usize, out: &mut String) {
    let pad = |n: usize, out: &mut String| out.extend(std::iter::repeat_n(' ', n));
    match v {
        Value::Object(m) if !m.is_empty() => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                pad(indent + 2, out);
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                if let Some(val) = m.get(*k) {
                    write_canonical(val, indent + 2, out);
                }
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            pad(indent, out);
            out.push('}');
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, val) in a.iter().enumerate() {
                pad(indent + 2, out);
                write_canonical(val, indent + 2, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            pad(indent, out);
            out.push(']');
        }
        // Scalars, `{}` and `[]`: serde_json's compact form (strings escaped, integers exact).
        other => out.push_str(&other.to_string()),
    }
}

fn bad(message: impl Into<String>) -> ModelError {
    ModelError::format("manifest.json", message)
}

fn check_keys(m: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<()> {
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(bad(format!(
                "unknown key `{k}` in {what}; expected only {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn field<'a>(m: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a Value> {
    m.get(key)
        .ok_or_else(|| bad(format!("{what} has no `{key}`")))
}

fn string<'a>(v: &'a Value, what: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| bad(format!("{what}: expected a string, got {}", kind_of(v))))
}

fn integer(v: &Value, what: &str) -> Result<u64> {
    v.as_u64().ok_or_else(|| {
        bad(format!(
            "{what}: expected an integer from 0 to 2^64-1, got {}",
            short(v)
        ))
    })
}

fn id(v: &Value, what: &str) -> Result<ContributionId> {
    let s = string(v, what)?;
    parse_hex(s).ok_or_else(|| bad(format!("{what}: expected 64 hex characters, got {s:?}")))
}

fn number(s: &str, what: &str) -> Result<f64> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(bad(format!(
            "{what}: expected a finite number written as a string, got {s:?}"
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value shortened for messages (a fuzzer's megabyte string should not become the message).
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

fn decode_param(strategy: &str, name: &str, kind: ParamKind, v: &Value) -> Result<ParamValue> {
    let what = format!("parameter `{name}` of `{strategy}`");
    let num = |v: &Value| -> Result<ParamValue> {
        Ok(ParamValue::Num(number(string(v, &what)?, &what)?))
    };
    let text = |v: &Value| -> Result<ParamValue> { Ok(ParamValue::Text(string(v, &what)?.into())) };
    match (kind, v) {
        (ParamKind::Bool, Value::Bool(b)) => Ok(ParamValue::Bool(*b)),
        (ParamKind::Bool, other) => Err(bad(format!(
            "{what}: expected true or false, got {}",
            short(other)
        ))),
        (ParamKind::Num, v) => num(v),
        (ParamKind::Choice(_), v) => text(v),
        (ParamKind::NumList, Value::Array(a)) => {
            Ok(ParamValue::List(a.iter().map(num).collect::<Result<_>>()?))
        }
        (ParamKind::NumList, v) => num(v),
        (ParamKind::TextList, Value::Array(a)) => {
            Ok(ParamValue::List(a.iter().map(text).collect::<Result<_>>()?))
        }
        (ParamKind::TextList, v) => text(v),
    }
}

fn parse_inner(bytes: &[u8]) -> Result<MergeState> {
    let top: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let Value::Object(top) = top else {
        return Err(bad(format!(
            "expected a JSON object, got {}",
            kind_of(&top)
        )));
    };
    check_keys(&top, TOP_KEYS, "the manifest")?;
    let format = string(field(&top, "format", "the manifest")?, "`format`")?;
    if format != FORMAT {
        return Err(bad(format!(
            "`format` is {format:?}; expected {FORMAT:?} (not a crdt-merge model state)"
        )));
    }
    let version = integer(
        field(&top, "format_version", "the manifest")?,
        "`format_version`",
    )?;
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "`format_version` is {version}; this crdt-merge reads version {FORMAT_VERSION}"
        )));
    }
    let strategy_name = string(field(&top, "strategy", "the manifest")?, "`strategy`")?;
    let spec = strategy::lookup(strategy_name)?;
    let seed = integer(field(&top, "seed", "the manifest")?, "`seed`")?;
    let base = match field(&top, "base", "the manifest")? {
        Value::Null => None,
        v => Some(id(v, "`base`")?),
    };
    let Value::Object(pmap) = field(&top, "params", "the manifest")? else {
        return Err(bad("`params`: expected an object"));
    };
    let mut params = Vec::with_capacity(pmap.len());
    for (name, v) in pmap {
        // Callable and per-contribution names are refused by `MergeState::new` with their
        // own messages; they are not declared, so decode them loosely to reach that check.
        let value = match spec.param(name) {
            Ok(p) => decode_param(strategy_name, name, p.kind, v)?,
            Err(_) if super::CALLABLE_PARAMS.contains(&name.as_str()) || name == "weight" => {
                ParamValue::Text(short(v))
            }
            Err(e) => return Err(e),
        };
        params.push((name.clone(), value));
    }
    let Value::Array(raw_entries) = field(&top, "entries", "the manifest")? else {
        return Err(bad("`entries`: expected a list"));
    };
    let mut entries: Vec<(Tag, Entry)> = Vec::with_capacity(raw_entries.len());
    for (i, raw) in raw_entries.iter().enumerate() {
        let what = format!("entry {i}");
        let Value::Object(m) = raw else {
            return Err(bad(format!(
                "{what}: expected an object, got {}",
                kind_of(raw)
            )));
        };
        check_keys(m, ENTRY_KEYS, &what)?;
        let label = string(field(m, "label", &what)?, &format!("{what} `label`"))?.to_string();
        let what = format!("entry {i} (`{label}`)");
        let opt_id = |key: &str| -> Result<Option<ContributionId>> {
            m.get(key)
                .map(|v| id(v, &format!("{what} `{key}`")))
                .transpose()
        };
        let entry = Entry {
            content: id(field(m, "content", &what)?, &format!("{what} `content`"))?,
            version: integer(field(m, "version", &what)?, &format!("{what} `version`"))?,
            weight: number(
                string(field(m, "weight", &what)?, &format!("{what} `weight`"))?,
                &format!("{what} `weight`"),
            )?,
            fisher: opt_id("fisher")?,
            gram: opt_id("gram")?,
            label,
        };
        let tag = id(field(m, "tag", &what)?, &format!("{what} `tag`"))?;
        entries.push((tag, entry));
    }
    let Value::Array(raw_tombs) = field(&top, "tombstones", "the manifest")? else {
        return Err(bad("`tombstones`: expected a list"));
    };
    let tombstones = raw_tombs
        .iter()
        .enumerate()
        .map(|(i, v)| id(v, &format!("tombstone {i}")))
        .collect::<Result<Vec<Tag>>>()?;
    let set = OrSet::from_parts(entries, tombstones)?;
    MergeState::from_parts(strategy_name, &params, seed, base, set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MergeState {
        let mut s = MergeState::new("weight_average", &[], 42, Some([7; 32])).unwrap();
        s.add(Entry {
            label: "team \"a\"".into(),
            content: [1; 32],
            version: 3,
            weight: 0.1 + 0.2,
            fisher: Some([2; 32]),
            gram: None,
        })
        .unwrap();
        s.add(Entry {
            label: "b".into(),
            content: [4; 32],
            version: u64::MAX,
            weight: -1e-300,
            fisher: None,
            gram: Some([5; 32]),
        })
        .unwrap();
        s.add(Entry {
            label: "c".into(),
            content: [6; 32],
            version: 1,
            weight: 1.0,
            fisher: None,
            gram: None,
        })
        .unwrap();
        s.remove("c").unwrap();
        s
    }

    #[test]
    fn round_trip_is_exact_and_stable() {
        let s = sample();
        let bytes = Manifest::encode(&s);
        let back = Manifest::parse(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(Manifest::encode(&back), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("\"weight\": \"0.30000000000000004\""),
            "{text}"
        );
        assert!(text.ends_with("}\n"));
        // Keys are sorted at every level.
        let b = text.find("\"base\"").unwrap();
        let t = text.find("\"tombstones\"").unwrap();
        assert!(b < t);
    }

    #[test]
    fn errors_name_the_problem() {
        let good = String::from_utf8(Manifest::encode(&sample())).unwrap();
        let cases = [
            (good.replace("\"seed\": 42", "\"seed\": -1"), "`seed`"),
            (
                good.replace("\"format_version\": 1", "\"format_version\": 2"),
                "format_version",
            ),
            (good.replace("weight_average", "nope"), "nope"),
            (good.replace("\"0.30000000000000004\"", "0.3"), "weight"),
            (good.replace("\"0.30000000000000004\"", "\"NaN\""), "weight"),
            (good.replace("\"seed\"", "\"sed\""), "sed"),
            (good.replace("\"version\": 3", "\"version\": 4"), "tag"),
            ("[]".to_string(), "object"),
            ("{".to_string(), "JSON"),
        ];
        for (text, want) in cases {
            let e = Manifest::parse_at(text.as_bytes(), Path::new("/x/manifest.json"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(want) && e.contains("/x/manifest.json"),
                "{want}: {e}"
            );
        }
    }

    #[test]
    fn params_round_trip_by_kind() {
        // Every ParamKind: a strategy's declared parameters decide how strings decode.
        let mut checked = 0;
        for spec in strategy::registry() {
            let base = (spec.base == strategy::BaseRule::Required).then_some([9; 32]);
            let Ok(s) = MergeState::new(spec.name, &[], 1, base) else {
                continue; // a strategy with a required parameter
            };
            let bytes = Manifest::encode(&s);
            let back = Manifest::parse(&bytes).unwrap();
            assert_eq!(back, s, "{}", spec.name);
            checked += 1;
        }
        assert!(
            checked * 2 >= strategy::registry().len(),
            "{checked} strategies checked"
        );
    }

    #[test]
    fn every_param_kind_decodes_what_it_encodes() {
        let cases: Vec<(ParamKind, ParamValue)> = vec![
            (ParamKind::Num, ParamValue::Num(0.1 + 0.2)),
            (ParamKind::Num, ParamValue::Num(-1e-300)),
            (ParamKind::Bool, ParamValue::Bool(true)),
            (
                ParamKind::Choice(&["magnitude", "sum"]),
                ParamValue::Text("sum".into()),
            ),
            (ParamKind::NumList, ParamValue::Num(2.5)),
            (
                ParamKind::NumList,
                ParamValue::List(vec![ParamValue::Num(1.0), ParamValue::Num(1e20)]),
            ),
            (ParamKind::NumList, ParamValue::List(vec![])),
            (ParamKind::TextList, ParamValue::Text("m1".into())),
            (
                ParamKind::TextList,
                ParamValue::List(vec![ParamValue::Text("1".into())]),
            ),
        ];
        for (kind, value) in cases {
            let encoded = encode_param(&value);
            let back = decode_param("s", "p", kind, &encoded).unwrap();
            assert_eq!(back, value, "{kind:?}");
        }
        let e = decode_param("s", "p", ParamKind::Bool, &Value::String("true".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("parameter `p`"), "{e}");
    }

    #[test]
    fn given_params_round_trip_for_every_strategy() {
        use crate::params::Default as D;
        let mut checked = 0;
        for spec in strategy::registry() {
            let mut given = Vec::new();
            for p in spec.params {
                let v = match (p.kind, p.default) {
                    (ParamKind::Num, D::Num(x)) => ParamValue::Num(x / 3.0 + 0.1),
                    (ParamKind::Num, _) => ParamValue::Num(0.7),
                    (ParamKind::Bool, D::Bool(b)) => ParamValue::Bool(!b),
                    (ParamKind::Bool, _) => ParamValue::Bool(true),
                    (ParamKind::Choice(c), _) => match c.last() {
                        Some(last) => ParamValue::Text((*last).to_string()),
                        None => continue,
                    },
                    (ParamKind::NumList, _) => {
                        ParamValue::List(vec![ParamValue::Num(0.25), ParamValue::Num(1e-9)])
                    }
                    (ParamKind::TextList, _) => {
                        ParamValue::List(vec![ParamValue::Text("m1".into())])
                    }
                };
                given.push((p.name.to_string(), v));
            }
            if given
                .iter()
                .any(|(n, _)| super::super::CALLABLE_PARAMS.contains(&n.as_str()))
            {
                given.retain(|(n, _)| !super::super::CALLABLE_PARAMS.contains(&n.as_str()));
            }
            let base = (spec.base == strategy::BaseRule::Required).then_some([9; 32]);
            let s = MergeState::new(spec.name, &given, 11, base)
                .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            let back = Manifest::parse(&Manifest::encode(&s)).unwrap();
            assert_eq!(back, s, "{}", spec.name);
            for (name, v) in &given {
                assert_eq!(back.params().get(name), Some(v), "{} {name}", spec.name);
            }
            checked += 1;
        }
        assert_eq!(checked, strategy::registry().len());
    }
}
