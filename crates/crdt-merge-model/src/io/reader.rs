//! Reading models: one `.safetensors` file, a directory with `model.safetensors`, or a sharded
//! directory with `model.safetensors.index.json`.
//!
//! Only headers are read at open; tensor bytes are read on demand with positioned reads
//! (`read_exact_at`) on files kept open, so several threads can read at once without seeking and
//! memory never holds more than what the caller asked for.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::dtype::{widen, DType};
use crate::error::{ModelError, Result};
use crate::io::{header, index_path, TensorInfo};

/// Extensions of pickled checkpoints, which we refuse (unpickling runs code, and we do not parse
/// them).
const PICKLE_EXTENSIONS: &[&str] = &["bin", "pt", "pth", "ckpt", "pkl"];

/// The largest `model.safetensors.index.json` we read (real ones are well under 1 MiB).
const MAX_INDEX_LEN: u64 = 100 * 1024 * 1024;

/// Bytes read per positioned read in [`ModelFiles::read_f64`] (bounds the temporary buffer).
const READ_CHUNK: usize = 8 << 20;

/// An opened model: its files and where each tensor lives.
#[derive(Debug)]
pub struct ModelFiles {
    path: PathBuf,
    dir: PathBuf,
    files: Vec<PathBuf>,
    handles: Vec<File>,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: BTreeMap<String, String>,
}

fn conversion_hint(path: &Path) -> ModelError {
    ModelError::format(
        path,
        "is a PyTorch pickle checkpoint; only safetensors are read (pickles can run code). \
         Convert it first, e.g. `python -c \"import torch; from safetensors.torch import \
         save_file; save_file(torch.load('IN.bin', map_location='cpu'), 'model.safetensors')\"` \
         (tied or shared tensors need `.clone()`), or with transformers: \
         `AutoModel.from_pretrained(DIR).save_pretrained(OUT, safe_serialization=True)`",
    )
}

fn is_pickle(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| PICKLE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The parsed `model.safetensors.index.json`: tensor name → shard file name, and the declared
/// `metadata.total_size` if any. Pure, so it can be fuzzed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// Tensor name → shard file (relative to the directory).
    pub weight_map: BTreeMap<String, String>,
    /// `metadata.total_size`, when present.
    pub total_size: Option<u64>,
}

/// Parses an index file's bytes (`path` names it in errors).
pub fn parse_index(bytes: &[u8], path: &Path) -> Result<Index> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ModelError::format(path, format!("index is not valid JSON: {e}")))?;
    let Value::Object(top) = value else {
        return Err(ModelError::format(
            path,
            "index is not a JSON object (expected {\"metadata\": {...}, \"weight_map\": {...}})",
        ));
    };
    let total_size = match top.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => match m.get("total_size") {
            None | Some(Value::Null) => None,
            // Some writers emit the count as a float (`1.4e10`); an integral one is accepted.
            Some(v) => Some(
                v.as_u64()
                    .or_else(|| {
                        v.as_f64()
                            .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                            .map(|f| f as u64)
                    })
                    .ok_or_else(|| {
                        ModelError::format(
                            path,
                            format!("index `metadata.total_size` is {v} (expected a byte count)"),
                        )
                    })?,
            ),
        },
        Some(_) => {
            return Err(ModelError::format(
                path,
                "index `metadata` is not an object",
            ))
        }
    };
    let Some(Value::Object(wm)) = top.get("weight_map") else {
        return Err(ModelError::format(
            path,
            "index has no `weight_map` object (expected tensor name → shard file)",
        ));
    };
    let mut weight_map = BTreeMap::new();
    for (name, file) in wm {
        let Value::String(file) = file else {
            return Err(ModelError::format(
                path,
                format!("index `weight_map` entry `{name}` is not a file name string"),
            ));
        };
        // A shard must be a file inside the model directory: no absolute paths, no `..`.
        let p = Path::new(file);
        if file.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(ModelError::format(
                path,
                format!(
                    "index `weight_map` entry `{name}` names `{file}` (expected a file name inside \
                     the model directory)"
                ),
            ));
        }
        weight_map.insert(name.clone(), file.clone());
    }
    Ok(Index {
        weight_map,
        total_size,
    })
}

/// Whether a file that failed to parse is a torch zip (`torch.save`'s format) or a raw pickle
/// under another name: its magic bytes match, and read as a safetensors length they are absurd
/// (so a real safetensors file with a bad header never gets the pickle hint).
fn looks_like_pickle(file: &File) -> bool {
    let mut magic = [0u8; 8];
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    if file.read_exact_at(&mut magic, 0).is_err() {
        return false;
    }
    let n = u64::from_le_bytes(magic);
    let absurd = n > header::MAX_HEADER_LEN || n > len.saturating_sub(8);
    let zip = magic.starts_with(b"PK\x03\x04");
    let pickle = magic[0] == 0x80 && (2..=5).contains(&magic[1]);
    absurd && (zip || pickle)
}

struct Builder {
    files: Vec<PathBuf>,
    handles: Vec<File>,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: Option<BTreeMap<String, String>>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            files: Vec::new(),
            handles: Vec::new(),
            tensors: BTreeMap::new(),
            metadata: None,
        }
    }

    /// Opens one safetensors file, adds its tensors; returns the file's index and its header.
    fn add_file(&mut self, path: &Path) -> Result<(usize, header::Header)> {
        if is_pickle(path) {
            return Err(conversion_hint(path));
        }
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let h = header::read(&file, path).map_err(|e| {
            if looks_like_pickle(&file) {
                conversion_hint(path)
            } else {
                e
            }
        })?;
        let idx = self.files.len();
        for (name, t) in &h.tensors {
            if let Some(prev) = self.tensors.get(name) {
                return Err(ModelError::tensor(
                    name.clone(),
                    format!(
                        "is in both {} and {}",
                        self.files[prev.file].display(),
                        path.display()
                    ),
                ));
            }
            self.tensors.insert(
                name.clone(),
                TensorInfo {
                    name: name.clone(),
                    dtype: t.dtype,
                    shape: t.shape.clone(),
                    file: idx,
                    start: h.data_start + t.begin,
                    len: t.end - t.begin,
                },
            );
        }
        if self.metadata.is_none() {
            self.metadata = Some(h.metadata.clone());
        }
        self.files.push(path.to_path_buf());
        self.handles.push(file);
        Ok((idx, h))
    }
}

impl ModelFiles {
    /// Opens `path` (a `.safetensors` file or a model directory); `.bin` / `.pt` are refused with
    /// a hint to convert.
    pub fn open(path: &Path) -> Result<ModelFiles> {
        let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
        let mut b = Builder::new();
        let dir;
        if meta.is_dir() {
            dir = path.to_path_buf();
            let index = index_path(path);
            let single = path.join("model.safetensors");
            if index.is_file() {
                Self::open_sharded(&mut b, path, &index)?;
            } else if single.is_file() {
                b.add_file(&single)?;
            } else {
                let mut found = Vec::new();
                let mut pickles = Vec::new();
                let entries = std::fs::read_dir(path).map_err(|e| ModelError::io(path, e))?;
                for entry in entries {
                    let entry = entry.map_err(|e| ModelError::io(path, e))?;
                    let p = entry.path();
                    if !p.is_file() {
                        continue;
                    }
                    if p.extension().is_some_and(|e| e == "safetensors") {
                        found.push(p);
                    } else if is_pickle(&p) {
                        pickles.push(p);
                    }
                }
                found.sort();
                pickles.sort();
                if found.is_empty() {
                    return Err(match pickles.first() {
                        Some(p) => conversion_hint(p),
                        None => ModelError::format(
                            path,
                            "holds no model: expected model.safetensors.index.json, \
                             model.safetensors or *.safetensors files",
                        ),
                    });
                }
                for f in &found {
                    b.add_file(f)?;
                }
            }
        } else {
            dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            b.add_file(path)?;
        }
        Ok(ModelFiles {
            path: path.to_path_buf(),
            dir,
            files: b.files,
            handles: b.handles,
            tensors: b.tensors,
            metadata: b.metadata.unwrap_or_default(),
        })
    }

    fn open_sharded(b: &mut Builder, dir: &Path, index_file: &Path) -> Result<()> {
        // An index lists names and file names only; a huge one is a lie we should not load.
        let len = std::fs::metadata(index_file)
            .map_err(|e| ModelError::io(index_file, e))?
            .len();
        if len > MAX_INDEX_LEN {
            return Err(ModelError::format(
                index_file,
                format!("index is {len} bytes, more than the {MAX_INDEX_LEN}-byte limit"),
            ));
        }
        let bytes = std::fs::read(index_file).map_err(|e| ModelError::io(index_file, e))?;
        let index = parse_index(&bytes, index_file)?;
        // Shards in sorted name order, each opened once.
        let mut shards: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, file) in &index.weight_map {
            shards.entry(file.as_str()).or_default().push(name.as_str());
        }
        for (file, names) in &shards {
            let shard = dir.join(file);
            if !shard.is_file() {
                return Err(ModelError::format(
                    index_file,
                    format!(
                        "shard {} (listed for tensor `{}`) does not exist",
                        shard.display(),
                        names[0]
                    ),
                ));
            }
            let (_, h) = b.add_file(&shard)?;
            for name in names {
                if !h.tensors.contains_key(*name) {
                    return Err(ModelError::format(
                        &shard,
                        format!(
                            "tensor `{name}` is listed in {} for this shard but is not in it",
                            index_file.display()
                        ),
                    ));
                }
            }
            for name in h.tensors.keys() {
                match index.weight_map.get(name) {
                    Some(f) if f == file => {}
                    Some(f) => {
                        return Err(ModelError::format(
                            &shard,
                            format!(
                                "holds tensor `{name}`, which {} places in {f}",
                                index_file.display()
                            ),
                        ))
                    }
                    None => {
                        return Err(ModelError::format(
                            &shard,
                            format!(
                                "holds tensor `{name}`, which {} does not list",
                                index_file.display()
                            ),
                        ))
                    }
                }
            }
        }
        if let Some(total) = index.total_size {
            let actual: u64 = b.tensors.values().map(|t| t.len).sum();
            if actual != total {
                return Err(ModelError::format(
                    index_file,
                    format!(
                        "`metadata.total_size` is {total}, but the shards' tensors hold {actual} \
                         bytes"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The directory holding side files (the input directory, or a file's parent).
    pub fn dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
    /// Every file, indexed by [`TensorInfo::file`].
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
    /// Every tensor by name.
    pub fn tensors(&self) -> &BTreeMap<String, TensorInfo> {
        &self.tensors
    }
    /// The `__metadata__` of the (first) file.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// One tensor, or an error naming it and this model.
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .get(name)
            .ok_or_else(|| ModelError::tensor(name, format!("is not in {}", self.path.display())))
    }

    /// Checks `offset..offset + count` lies in the tensor; returns its absolute byte range.
    fn byte_range(&self, t: &TensorInfo, offset: usize, count: usize) -> Result<(u64, usize)> {
        let numel = t.numel();
        if offset.checked_add(count).is_none_or(|end| end > numel) {
            return Err(ModelError::tensor(
                &t.name,
                format!(
                    "elements {offset}..{} requested, but it has {numel} (in {})",
                    offset as u128 + count as u128,
                    self.files[t.file].display()
                ),
            ));
        }
        let size = t.dtype.size();
        // In bounds of a tensor whose byte length was checked at open, so no overflow.
        Ok((t.start + (offset * size) as u64, count * size))
    }

    fn pread(&self, t: &TensorInfo, at: u64, buf: &mut [u8]) -> Result<()> {
        self.handles[t.file].read_exact_at(buf, at).map_err(|e| {
            ModelError::tensor(
                &t.name,
                format!(
                    "reading {} bytes at offset {at} of {}: {e}",
                    buf.len(),
                    self.files[t.file].display()
                ),
            )
        })
    }

    /// The raw little-endian bytes of `count` elements of `name` from element `offset`, appended
    /// to `out`.
    pub fn read_raw(
        &self,
        name: &str,
        offset: usize,
        count: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let t = self.tensor(name)?;
        let (at, len) = self.byte_range(t, offset, count)?;
        let old = out.len();
        out.resize(old + len, 0);
        let res = self.pread(t, at, &mut out[old..]);
        if res.is_err() {
            out.truncate(old);
        }
        res
    }

    /// `out.len()` elements of `name` from element `offset`, widened to f64 (computable types only).
    pub fn read_f64(&self, name: &str, offset: usize, out: &mut [f64]) -> Result<()> {
        let t = self.tensor(name)?;
        if !t.dtype.is_computable() {
            return Err(ModelError::tensor(
                name,
                format!(
                    "has dtype {} in {}, which is not a float type (expected F64, F32, F16 or BF16)",
                    t.dtype.safetensors_name(),
                    self.files[t.file].display()
                ),
            ));
        }
        let (at, len) = self.byte_range(t, offset, out.len())?;
        let size = t.dtype.size();
        let per_chunk = READ_CHUNK / size;
        let mut buf = vec![0u8; len.min(per_chunk * size)];
        let mut done = 0usize;
        for chunk in out.chunks_mut(per_chunk) {
            let bytes = &mut buf[..chunk.len() * size];
            self.pread(t, at + (done * size) as u64, bytes)?;
            widen(t.dtype, bytes, chunk);
            done += chunk.len();
        }
        Ok(())
    }

    /// The dtype of `name`, or an error naming it.
    pub fn dtype(&self, name: &str) -> Result<DType> {
        Ok(self.tensor(name)?.dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_parse_errors_name_the_problem() {
        let p = Path::new("d/model.safetensors.index.json");
        let e = |s: &str| parse_index(s.as_bytes(), p).unwrap_err().to_string();
        assert!(e("[]").contains("not a JSON object"));
        assert!(e("{}").contains("no `weight_map`"));
        assert!(e(r#"{"weight_map":{"a":1}}"#).contains("`a` is not a file name"));
        assert!(e(r#"{"weight_map":{"a":"../x.safetensors"}}"#).contains("inside"));
        assert!(e(r#"{"weight_map":{"a":"/x.safetensors"}}"#).contains("inside"));
        assert!(e(r#"{"metadata":{"total_size":-1},"weight_map":{}}"#).contains("total_size"));
        assert!(e(r#"{"metadata":{"total_size":8.5},"weight_map":{}}"#).contains("total_size"));
        assert!(e(r#"{"metadata":{"total_size":"8"},"weight_map":{}}"#).contains("total_size"));
        let float = parse_index(br#"{"metadata":{"total_size":8.0},"weight_map":{}}"#, p);
        assert_eq!(float.unwrap().total_size, Some(8));
        let ok = parse_index(
            br#"{"metadata":{"total_size":8},"weight_map":{"a":"m-1.safetensors"}}"#,
            p,
        )
        .unwrap();
        assert_eq!(ok.total_size, Some(8));
        assert_eq!(ok.weight_map["a"], "m-1.safetensors");
    }
}
