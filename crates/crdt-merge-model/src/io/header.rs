//! The safetensors header: parsing with every check a lying file needs, and deterministic writing.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, `n` bytes of JSON (an object:
//! tensor name → `{dtype, shape, data_offsets}`, plus an optional `__metadata__` map of strings),
//! then the data section. Offsets are relative to the data section. We parse the header ourselves
//! because the `safetensors` crate wants the whole file in memory.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dtype::DType;
use crate::error::{ModelError, Result};
use crate::io::Metadata;

/// The largest header we accept (the `safetensors` crate's limit too): a bigger length is a lie or
/// an attack, and we would have to allocate it.
pub const MAX_HEADER_LEN: u64 = 100 * 1024 * 1024;

/// The key of the metadata map.
pub const METADATA_KEY: &str = "__metadata__";

/// One tensor entry of a header, offsets relative to the data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderTensor {
    /// Its element type.
    pub dtype: DType,
    /// Its shape.
    pub shape: Vec<usize>,
    /// First byte, relative to the data section.
    pub begin: u64,
    /// One past the last byte, relative to the data section.
    pub end: u64,
}

/// A parsed, validated header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Every tensor by name.
    pub tensors: BTreeMap<String, HeaderTensor>,
    /// The `__metadata__` map (empty when absent).
    pub metadata: Metadata,
    /// Absolute offset of the data section (8 + header length).
    pub data_start: u64,
    /// Length of the data section (file length − data start).
    pub data_len: u64,
}

/// Checks the 8-byte length prefix against the file length; returns the JSON length.
pub fn header_len(prefix: [u8; 8], file_len: u64, path: &Path) -> Result<u64> {
    let n = u64::from_le_bytes(prefix);
    if n == 0 {
        return Err(ModelError::format(
            path,
            "safetensors header length is 0 (expected a JSON object after the 8-byte length)",
        ));
    }
    if n > MAX_HEADER_LEN {
        return Err(ModelError::format(
            path,
            format!(
                "safetensors header length {n} is larger than the {MAX_HEADER_LEN}-byte limit \
                 (not a safetensors file, or a corrupt one)"
            ),
        ));
    }
    let available = file_len.saturating_sub(8);
    if n > available {
        return Err(ModelError::format(
            path,
            format!(
                "safetensors header length {n} goes beyond the end of the file ({file_len} bytes; \
                 truncated or not a safetensors file)"
            ),
        ));
    }
    Ok(n)
}

/// Parses a header from the first bytes of a file: `prefix` holds at least the 8 length bytes and
/// the JSON (more is ignored); `file_len` is the whole file's length. Pure, so it can be fuzzed.
pub fn parse(prefix: &[u8], file_len: u64, path: &Path) -> Result<Header> {
    if prefix.len() < 8 || file_len < 8 {
        return Err(ModelError::format(
            path,
            format!(
                "file is {file_len} bytes, too short for a safetensors header (expected an 8-byte \
                 length, then JSON)"
            ),
        ));
    }
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&prefix[..8]);
    let n = header_len(len_bytes, file_len, path)?;
    // n ≤ MAX_HEADER_LEN, so it fits in usize.
    let end = 8 + n as usize;
    let json = prefix.get(8..end).ok_or_else(|| {
        ModelError::format(
            path,
            format!(
                "safetensors header length {n} goes beyond the {} bytes given",
                prefix.len()
            ),
        )
    })?;
    parse_json(json, 8 + n, file_len - (8 + n), path)
}

/// Reads and parses the header of an open file (reads only the header's bytes).
pub fn read(file: &File, path: &Path) -> Result<Header> {
    let file_len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
    if file_len < 8 {
        return Err(ModelError::format(
            path,
            format!(
                "file is {file_len} bytes, too short for a safetensors header (expected an 8-byte \
                 length, then JSON)"
            ),
        ));
    }
    let mut len_bytes = [0u8; 8];
    file.read_exact_at(&mut len_bytes, 0)
        .map_err(|e| ModelError::io(path, e))?;
    // Checked against the file length before allocating, so a lying length cannot make us
    // allocate more than the file holds.
    let n = header_len(len_bytes, file_len, path)?;
    let mut json = vec![0u8; n as usize];
    file.read_exact_at(&mut json, 8)
        .map_err(|e| ModelError::io(path, e))?;
    parse_json(&json, 8 + n, file_len - (8 + n), path)
}

/// The top-level object, kept as a list so duplicate keys can be refused (a map would silently
/// keep the last one, so two readers could disagree about a tensor's bytes).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_json(json: &[u8], data_start: u64, data_len: u64, path: &Path) -> Result<Header> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ModelError::format(
            path,
            "safetensors header is not a JSON object (expected `{` after the 8-byte length)",
        ));
    }
    let entries: Entries = serde_json::from_slice(json).map_err(|e| {
        ModelError::format(
            path,
            format!("safetensors header is not a valid JSON object: {e}"),
        )
    })?;
    let mut tensors = BTreeMap::new();
    let mut metadata = None;
    for (name, value) in entries.0 {
        if name == METADATA_KEY {
            if metadata.is_some() {
                return Err(ModelError::format(
                    path,
                    "`__metadata__` appears twice in the safetensors header",
                ));
            }
            metadata = Some(parse_metadata(&value, path)?);
            continue;
        }
        if tensors.contains_key(&name) {
            return Err(ModelError::format(
                path,
                format!("tensor `{name}` appears twice in the safetensors header"),
            ));
        }
        let t = parse_tensor(&name, &value, data_len, path)?;
        tensors.insert(name, t);
    }
    check_overlaps(&tensors, path)?;
    Ok(Header {
        tensors,
        metadata: metadata.unwrap_or_default(),
        data_start,
        data_len,
    })
}

fn parse_metadata(value: &Value, path: &Path) -> Result<Metadata> {
    let Value::Object(map) = value else {
        return Err(ModelError::format(
            path,
            format!(
                "`__metadata__` is {} (expected a map of strings to strings)",
                kind(value)
            ),
        ));
    };
    let mut out = Metadata::new();
    for (k, v) in map {
        let Value::String(s) = v else {
            return Err(ModelError::format(
                path,
                format!(
                    "`__metadata__` entry `{k}` is {} (expected a string)",
                    kind(v)
                ),
            ));
        };
        out.insert(k.clone(), s.clone());
    }
    Ok(out)
}

fn parse_tensor(name: &str, value: &Value, data_len: u64, path: &Path) -> Result<HeaderTensor> {
    let err = |msg: String| ModelError::format(path, format!("tensor `{name}`: {msg}"));
    let Value::Object(map) = value else {
        return Err(err(format!(
            "header entry is {} (expected an object with `dtype`, `shape` and `data_offsets`)",
            kind(value)
        )));
    };
    let field = |key: &str| {
        map.get(key)
            .ok_or_else(|| err(format!("header entry has no `{key}`")))
    };
    let dtype_v = field("dtype")?;
    let shape_v = field("shape")?;
    let offsets_v = field("data_offsets")?;

    let Value::String(dtype_s) = dtype_v else {
        return Err(err(format!(
            "`dtype` is {} (expected a string such as \"F32\")",
            kind(dtype_v)
        )));
    };
    let dtype = DType::from_safetensors_name(dtype_s).ok_or_else(|| {
        let valid: Vec<&str> = DType::ALL.iter().map(|d| d.safetensors_name()).collect();
        err(format!(
            "unknown dtype `{dtype_s}` (expected one of {})",
            valid.join(", ")
        ))
    })?;

    let Value::Array(dims) = shape_v else {
        return Err(err(format!(
            "`shape` is {} (expected an array of non-negative integers)",
            kind(shape_v)
        )));
    };
    let mut shape = Vec::with_capacity(dims.len());
    // Every partial product is checked (not just the total), so `TensorInfo::numel` cannot
    // overflow even for shapes with a zero dimension at the end.
    let mut numel: u64 = 1;
    for d in dims {
        let n = d.as_u64().ok_or_else(|| {
            err(format!(
                "`shape` holds {d} (expected non-negative integers)"
            ))
        })?;
        let n_usize = usize::try_from(n)
            .map_err(|_| err(format!("shape dimension {n} does not fit in memory")))?;
        numel = numel
            .checked_mul(n)
            .filter(|&v| usize::try_from(v).is_ok())
            .ok_or_else(|| err(format!("shape {dims:?} has too many elements (overflow)")))?;
        shape.push(n_usize);
    }
    let nbytes = numel.checked_mul(dtype.size() as u64).ok_or_else(|| {
        err(format!(
            "shape {shape:?} × {} bytes overflows",
            dtype.size()
        ))
    })?;

    let offsets = match offsets_v {
        Value::Array(a) if a.len() == 2 => a,
        other => {
            return Err(err(format!(
                "`data_offsets` is {} (expected [begin, end])",
                kind(other)
            )))
        }
    };
    let (Some(begin), Some(end)) = (offsets[0].as_u64(), offsets[1].as_u64()) else {
        return Err(err(format!(
            "`data_offsets` is [{}, {}] (expected two non-negative integers)",
            offsets[0], offsets[1]
        )));
    };
    if begin > end {
        return Err(err(format!(
            "`data_offsets` [{begin}, {end}] begins after it ends"
        )));
    }
    if end > data_len {
        return Err(err(format!(
            "`data_offsets` [{begin}, {end}] end beyond the data section ({data_len} bytes; \
             truncated file?)"
        )));
    }
    if end - begin != nbytes {
        return Err(err(format!(
            "`data_offsets` [{begin}, {end}] span {} bytes, but shape {shape:?} of {} needs {nbytes}",
            end - begin,
            dtype.safetensors_name()
        )));
    }
    Ok(HeaderTensor {
        dtype,
        shape,
        begin,
        end,
    })
}

/// Two tensors sharing a byte would alias each other's data; holes are allowed (padding).
fn check_overlaps(tensors: &BTreeMap<String, HeaderTensor>, path: &Path) -> Result<()> {
    // Empty tensors own no bytes and cannot overlap anything.
    let mut ranges: Vec<(u64, u64, &str)> = tensors
        .iter()
        .filter(|(_, t)| t.end > t.begin)
        .map(|(n, t)| (t.begin, t.end, n.as_str()))
        .collect();
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        let (b0, e0, n0) = w[0];
        let (b1, e1, n1) = w[1];
        if b1 < e0 {
            return Err(ModelError::format(
                path,
                format!(
                    "tensors `{n0}` [{b0}, {e0}] and `{n1}` [{b1}, {e1}] overlap in the data \
                     section"
                ),
            ));
        }
    }
    Ok(())
}

/// One header entry as written: fields in sorted key order (`data_offsets` < `dtype` < `shape`).
#[derive(Serialize)]
struct TensorEntry<'a> {
    data_offsets: [u64; 2],
    dtype: &'a str,
    shape: &'a [usize],
}

#[derive(Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    Meta(&'a Metadata),
    Tensor(TensorEntry<'a>),
}

/// A tensor to lay out in a written header.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its element type.
    pub dtype: DType,
    /// Its shape.
    pub shape: &'a [usize],
}

/// An encoded header (length prefix included) and each tensor's (begin, end) in the data section.
pub type Encoded = (Vec<u8>, Vec<(u64, u64)>);

/// Encodes a deterministic header: tensors laid out back to back in the order given (callers
/// sort by name), keys sorted (a `BTreeMap`, whatever serde_json's features), compact JSON padded
/// with spaces so the data section starts at a multiple of 8. Returns the bytes (length prefix
/// included) and each tensor's (begin, end) relative to the data section.
pub fn encode(tensors: &[Layout<'_>], metadata: &Metadata) -> Result<Encoded> {
    let mut offsets = Vec::with_capacity(tensors.len());
    let mut at: u64 = 0;
    for t in tensors {
        let numel = t
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let len = numel
            .and_then(|n| n.checked_mul(t.dtype.size() as u64))
            .ok_or_else(|| ModelError::tensor(t.name, format!("shape {:?} overflows", t.shape)))?;
        let end = at
            .checked_add(len)
            .ok_or_else(|| ModelError::tensor(t.name, "output exceeds 2^64 bytes"))?;
        offsets.push((at, end));
        at = end;
    }
    let mut map: BTreeMap<&str, Entry<'_>> = BTreeMap::new();
    if !metadata.is_empty() {
        map.insert(METADATA_KEY, Entry::Meta(metadata));
    }
    for (t, &(b, e)) in tensors.iter().zip(&offsets) {
        if t.name == METADATA_KEY {
            return Err(ModelError::tensor(
                t.name,
                "a tensor cannot be named `__metadata__`",
            ));
        }
        let entry = Entry::Tensor(TensorEntry {
            data_offsets: [b, e],
            dtype: t.dtype.safetensors_name(),
            shape: t.shape,
        });
        if map.insert(t.name, entry).is_some() {
            return Err(ModelError::tensor(t.name, "tensor name given twice"));
        }
    }
    let mut json = serde_json::to_vec(&map)
        .map_err(|e| ModelError::invalid(format!("encoding a safetensors header: {e}")))?;
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    // Readers (ours and the reference one) refuse bigger headers, so never write one.
    if json.len() as u64 > MAX_HEADER_LEN {
        return Err(ModelError::invalid(format!(
            "the safetensors header of {} tensors would be {} bytes, more than the \
             {MAX_HEADER_LEN}-byte limit readers accept",
            tensors.len(),
            json.len()
        )));
    }
    let mut out = Vec::with_capacity(8 + json.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    Ok((out, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str, data: usize) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v.resize(v.len() + data, 0);
        v
    }

    fn err(bytes: &[u8]) -> String {
        parse(bytes, bytes.len() as u64, Path::new("x.safetensors"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn encode_parse_round_trip() {
        let mut md = Metadata::new();
        md.insert("format".into(), "pt".into());
        let shape_a = [2usize, 3];
        let shape_b: [usize; 0] = [];
        let t = [
            Layout {
                name: "a",
                dtype: DType::BF16,
                shape: &shape_a,
            },
            Layout {
                name: "b",
                dtype: DType::F64,
                shape: &shape_b,
            },
        ];
        let (bytes, offs) = encode(&t, &md).unwrap();
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(offs, vec![(0, 12), (12, 20)]);
        let mut f = bytes.clone();
        f.resize(bytes.len() + 20, 0);
        let h = parse(&f, f.len() as u64, Path::new("x")).unwrap();
        assert_eq!(h.metadata, md);
        assert_eq!(h.data_start, bytes.len() as u64);
        assert_eq!(h.tensors["a"].shape, vec![2, 3]);
        assert_eq!(h.tensors["b"].begin, 12);
        let json = std::str::from_utf8(&bytes[8..]).unwrap().trim_end();
        assert_eq!(
            json,
            r#"{"__metadata__":{"format":"pt"},"a":{"data_offsets":[0,12],"dtype":"BF16","shape":[2,3]},"b":{"data_offsets":[12,20],"dtype":"F64","shape":[]}}"#
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let j = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
        assert!(err(&file(j, 2)).contains("`a` appears twice"));
    }

    #[test]
    fn zero_dim_after_huge_dims_does_not_overflow() {
        let j = r#"{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}"#;
        assert!(err(&file(j, 0)).contains("overflow"));
        let j = r#"{"a":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#;
        let f = file(j, 0);
        assert!(parse(&f, f.len() as u64, Path::new("x")).is_ok());
    }
}
