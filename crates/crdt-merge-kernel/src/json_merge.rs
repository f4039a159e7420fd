//! `crdt_json_merge(a, b)`: a lawful deep merge of JSON documents.
//!
//! The documents form a join-semilattice, so the merge is commutative, associative and
//! idempotent (on canonical text):
//!
//! * values of different kinds: the greater kind wins whole, in the order
//!   `null < boolean < number < string < array < object` (so `null` is the identity);
//! * two objects: key by key, each key's values merged recursively (a key on one side only is
//!   kept);
//! * two arrays: as **sets**: the union of their elements, each element once, in canonical
//!   order (never `a + b` concatenation, which is neither commutative nor idempotent);
//! * two scalars of one kind: the greater (`false < true`; numbers by value, then by their
//!   text, so `1` and `1.0` are distinct and ordered; strings by their UTF-8 bytes).
//!
//! Output is canonical JSON text: keys sorted by their bytes, no insignificant whitespace.
//! The Python library's `merge_dicts` lets the second argument win scalar conflicts (not
//! commutative) and concatenates lists (not idempotent).

use std::cmp::Ordering;

use serde_json::Value as Json;

use crate::error::{Error, Result};

fn kind(v: &Json) -> u8 {
    match v {
        Json::Null => 0,
        Json::Bool(_) => 1,
        Json::Number(_) => 2,
        Json::String(_) => 3,
        Json::Array(_) => 4,
        Json::Object(_) => 5,
    }
}

fn number_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    let by_value = match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x.cmp(&y),
        (_, _, Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
    };
    by_value.then_with(|| a.to_string().cmp(&b.to_string()))
}

/// The canonical total order of JSON values (kind, then value; arrays and objects by their
/// canonical text): the order arrays are written in and scalar conflicts are decided by.
pub fn cmp(a: &Json, b: &Json) -> Ordering {
    kind(a).cmp(&kind(b)).then_with(|| match (a, b) {
        (Json::Bool(x), Json::Bool(y)) => x.cmp(y),
        (Json::Number(x), Json::Number(y)) => number_cmp(x, y),
        (Json::String(x), Json::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => canonical(a).cmp(&canonical(b)),
    })
}

/// A document in canonical form: arrays as sorted sets, recursively.
pub fn normalise(v: &Json) -> Json {
    match v {
        Json::Array(items) => {
            let mut out: Vec<Json> = items.iter().map(normalise).collect();
            out.sort_by(cmp);
            out.dedup_by(|a, b| cmp(a, b) == Ordering::Equal);
            Json::Array(out)
        }
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), normalise(v))).collect()),
        other => other.clone(),
    }
}

/// The join of two documents (inputs in any form; the result is canonical).
pub fn merge(a: &Json, b: &Json) -> Json {
    match kind(a).cmp(&kind(b)) {
        Ordering::Greater => return normalise(a),
        Ordering::Less => return normalise(b),
        Ordering::Equal => {}
    }
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            let mut out = serde_json::Map::new();
            for (k, v) in x {
                out.insert(
                    k.clone(),
                    match y.get(k) {
                        Some(w) => merge(v, w),
                        None => normalise(v),
                    },
                );
            }
            for (k, w) in y {
                if !x.contains_key(k) {
                    out.insert(k.clone(), normalise(w));
                }
            }
            Json::Object(out)
        }
        (Json::Array(x), Json::Array(y)) => {
            normalise(&Json::Array(x.iter().chain(y.iter()).cloned().collect()))
        }
        _ => {
            if cmp(a, b) == Ordering::Less {
                b.clone()
            } else {
                a.clone()
            }
        }
    }
}

/// Canonical JSON text: object keys sorted by their bytes, no whitespace (whatever map order
/// serde_json was built with).
pub fn canonical(v: &Json) -> String {
    let mut s = String::new();
    write(v, &mut s);
    s
}

fn write(v: &Json, out: &mut String) {
    match v {
        Json::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String((*k).clone()).to_string());
                out.push(':');
                write(&m[k.as_str()], out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Parses argument `argument` of `function` as one JSON document.
///
/// # Errors
/// Not JSON, with serde_json's line and column.
pub fn parse(function: &str, argument: &str, text: &str) -> Result<Json> {
    serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            function,
            argument,
            "one JSON document",
            format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// `crdt_json_merge` over two text arrays (NULL is the identity; two NULLs give NULL).
///
/// # Errors
/// A document that is not JSON.
pub fn invoke(args: &[arrow_array::ArrayRef], n: usize) -> Result<arrow_array::ArrayRef> {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    const F: &str = "crdt_json_merge";
    let text = |i: usize, name: &str| -> Result<arrow_array::StringArray> {
        let a = &args[i];
        match a.data_type() {
            arrow_schema::DataType::Utf8 => Ok(a.as_string::<i32>().clone()),
            arrow_schema::DataType::Null
            | arrow_schema::DataType::LargeUtf8
            | arrow_schema::DataType::Utf8View => {
                Ok(arrow_cast::cast(a, &arrow_schema::DataType::Utf8)?
                    .as_string::<i32>()
                    .clone())
            }
            dt => Err(Error::type_mismatch(F, name, "JSON text", dt)),
        }
    };
    let (a, b) = (text(0, "a")?, text(1, "b")?);
    let out = (0..n)
        .map(|i| {
            let x = a
                .is_valid(i)
                .then(|| parse(F, "a", a.value(i)))
                .transpose()?;
            let y = b
                .is_valid(i)
                .then(|| parse(F, "b", b.value(i)))
                .transpose()?;
            Ok(match (x, y) {
                (None, None) => None,
                (Some(x), None) => Some(canonical(&normalise(&x))),
                (None, Some(y)) => Some(canonical(&normalise(&y))),
                (Some(x), Some(y)) => Some(canonical(&merge(&x, &y))),
            })
        })
        .collect::<Result<arrow_array::StringArray>>()?;
    Ok(std::sync::Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(a: &str, b: &str) -> String {
        canonical(&merge(
            &serde_json::from_str(a).unwrap(),
            &serde_json::from_str(b).unwrap(),
        ))
    }

    #[test]
    fn deep_merge_rules() {
        assert_eq!(
            m(r#"{"a":1,"b":{"x":1}}"#, r#"{"b":{"y":2},"c":3}"#),
            r#"{"a":1,"b":{"x":1,"y":2},"c":3}"#
        );
        assert_eq!(m(r#"{"a":1}"#, r#"{"a":2}"#), r#"{"a":2}"#);
        assert_eq!(m(r#"[3,1]"#, r#"[1,2]"#), "[1,2,3]");
        assert_eq!(m(r#"{"a":"x"}"#, r#"{"a":null}"#), r#"{"a":"x"}"#);
        assert_eq!(m("1", "1.0"), "1.0");
        assert_eq!(m(r#"{"a":[1]}"#, "7"), r#"{"a":[1]}"#);
    }
}
