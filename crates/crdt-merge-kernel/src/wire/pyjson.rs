//! JSON text payloads (vector clock, DVV), written exactly as Python's `json.dumps` writes them
//! (`", "` and `": "` separators, `ensure_ascii`), with map keys sorted.

use serde_json::Value as Json;

use crate::error::{Error, Result};

/// Appends `s` as a JSON string literal the way Python's `json.dumps` does (non-ASCII as
/// `\uXXXX`, UTF-16 surrogate pairs above the BMP).
pub(crate) fn string(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Appends `{"k": v, ...}` for sorted `(key, count)` pairs.
pub(crate) fn counts<'a>(out: &mut String, entries: impl Iterator<Item = (&'a String, &'a u64)>) {
    out.push('{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        string(out, k);
        out.push_str(": ");
        out.push_str(&v.to_string());
    }
    out.push('}');
}

/// Memory one parsed JSON value may take, as an upper bound: the value, its slot in an array or
/// object, and an object key (serde_json's `Value` is 32 bytes; map entries cost more).
const JSON_VALUE_COST: usize = 4 * std::mem::size_of::<Json>();

/// Refuses a JSON payload whose parsed form could take more than `budget` bytes, before
/// parsing it: `[0,0,...]` is 2 bytes of text per 32-byte value, so text size alone does not
/// bound memory. Counts the places a value can start (outside strings) and charges each.
pub(crate) fn check_budget(
    payload: &[u8],
    base: usize,
    budget: usize,
    function: &str,
) -> Result<()> {
    let mut values = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in payload {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' | b',' | b':' => values += 1,
            _ => {}
        }
    }
    let cost = values
        .saturating_mul(JSON_VALUE_COST)
        .saturating_add(payload.len());
    if cost > budget {
        return Err(Error::decode(
            function,
            base,
            format!(
                "oversized: the JSON payload holds up to {values} values, more than the \
                 {budget}-byte decode limit allows"
            ),
        ));
    }
    Ok(())
}

/// Parses a JSON payload, reporting a syntax error at its absolute byte offset.
pub(crate) fn parse(payload: &[u8], base: usize, inflated: bool, function: &str) -> Result<Json> {
    serde_json::from_slice(payload).map_err(|e| {
        let at = offset_of(payload, e.line(), e.column());
        let reason = format!("invalid JSON payload: {e}");
        if inflated {
            Error::decode(
                function,
                base,
                format!("{reason} (at offset {at} of the inflated payload)"),
            )
        } else {
            Error::decode(function, base + at, reason)
        }
    })
}

/// Byte offset of serde_json's 1-based line and column (column counts bytes).
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => break,
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_python() {
        let mut s = String::new();
        string(&mut s, "a\"\\\n\u{1}é😀");
        assert_eq!(s, r#""a\"\\\n\u0001\u00e9\ud83d\ude00""#);
    }

    #[test]
    fn syntax_errors_give_offsets() {
        let e = parse(b"{\"a\":\n x}", 12, false, "t").unwrap_err();
        assert!(e.to_string().contains("offset 19"), "{e}");
    }
}
