//! Writing merged models with a fixed header, sharded above a size, atomically.
//!
//! Every tensor's file and offset are fixed at [`OutputWriter::create`], before any data is
//! computed: the header (sorted names, sorted keys, compact JSON padded to 8 bytes) is written
//! first and each file is sized, then tensors arrive by positioned writes from any thread in any
//! order. Equal inputs therefore give byte-identical files whatever the scheduling. Files live
//! under temporary names in the destination directory until [`OutputWriter::finish`] has checked
//! that every byte was written; then they are fsynced and renamed into place.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use crate::dtype::DType;
use crate::error::{ModelError, Result};
use crate::io::header::{self, Layout};
use crate::io::{index_path, is_file_output, Metadata, SIDE_FILES};

/// One output tensor's declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputTensor {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub dtype: DType,
    /// Its shape.
    pub shape: Vec<usize>,
}

/// Where one tensor goes, and which of its elements have been written.
#[derive(Debug)]
struct Slot {
    file: usize,
    /// Absolute byte offset in its file.
    start: u64,
    numel: u64,
    size: usize,
    /// Written element ranges, coalesced (start → end). Ranges rather than a byte counter, so
    /// writing one chunk twice cannot hide a chunk never written.
    written: Mutex<BTreeMap<u64, u64>>,
}

impl Slot {
    fn mark(&self, from: u64, to: u64) {
        if from == to {
            return;
        }
        let mut w = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (mut lo, mut hi) = (from, to);
        // Absorb every range that touches [lo, hi).
        let touching: Vec<(u64, u64)> = w
            .range(..=hi)
            .rev()
            .take_while(|(_, &e)| e >= lo)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            w.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        w.insert(lo, hi);
    }

    /// Elements written so far.
    fn covered(&self) -> u64 {
        let w = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        w.iter().map(|(s, e)| e - s).sum()
    }
}

#[derive(Debug)]
struct OutFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
}

/// An output being written: every tensor's place is fixed at creation.
#[derive(Debug)]
pub struct OutputWriter {
    files: Vec<OutFile>,
    slots: BTreeMap<String, Slot>,
    /// For a sharded output: the index's destination and its bytes.
    index: Option<(PathBuf, Vec<u8>)>,
    /// The destination directory (for fsync and stale-file cleanup of directory outputs).
    dir: PathBuf,
    is_dir_output: bool,
    finished: bool,
}

#[derive(Serialize)]
struct IndexMetadata {
    total_size: u64,
}

#[derive(Serialize)]
struct IndexJson<'a> {
    metadata: IndexMetadata,
    weight_map: BTreeMap<&'a str, &'a str>,
}

fn tensor_bytes(t: &OutputTensor) -> Result<u64> {
    t.shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|n| n.checked_mul(t.dtype.size() as u64))
        .ok_or_else(|| ModelError::tensor(&t.name, format!("shape {:?} overflows", t.shape)))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn tmp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_dir(dest).join(format!(".{name}.tmp"))
}

/// The shard file name HF uses.
fn shard_name(k: usize, n: usize) -> String {
    format!("model-{k:05}-of-{n:05}.safetensors")
}

impl OutputWriter {
    /// Plans the output at `path` (a `.safetensors` file, or a directory sharded above
    /// `shard_size` bytes) and creates its files under temporary names.
    ///
    /// A directory output replaces a previous output there: after the rename, stale
    /// `model.safetensors`, `model.safetensors.index.json` and `model-NNNNN-of-NNNNN.safetensors`
    /// files that are not part of this output are removed, so loaders cannot pick up old weights.
    pub fn create(
        path: &Path,
        tensors: Vec<OutputTensor>,
        metadata: Metadata,
        shard_size: u64,
    ) -> Result<OutputWriter> {
        if shard_size == 0 {
            return Err(ModelError::invalid("shard size must be at least 1 byte"));
        }
        if is_file_output(path) {
            if path.is_dir() {
                return Err(ModelError::format(
                    path,
                    "is an existing directory; a `.safetensors` output must be a file path",
                ));
            }
            return Self::create_single(path, tensors, metadata, false);
        }
        if path.is_file() {
            return Err(ModelError::format(
                path,
                "is an existing file; an output is a `.safetensors` file or a directory",
            ));
        }
        std::fs::create_dir_all(path).map_err(|e| ModelError::io(path, e))?;
        let mut tensors = tensors;
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        let mut sizes = Vec::with_capacity(tensors.len());
        let mut total: u64 = 0;
        for t in &tensors {
            let s = tensor_bytes(t)?;
            total = total
                .checked_add(s)
                .ok_or_else(|| ModelError::tensor(&t.name, "output exceeds 2^64 bytes"))?;
            sizes.push(s);
        }
        if total <= shard_size {
            let mut w =
                Self::create_single(&path.join("model.safetensors"), tensors, metadata, true)?;
            w.dir = path.to_path_buf();
            return Ok(w);
        }
        // Greedy in sorted-name order: a shard takes tensors while they fit; a tensor larger than
        // a shard gets a shard of its own.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut cur: u64 = 0;
        for (i, &s) in sizes.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if cur + s <= shard_size => {
                    g.push(i);
                    cur += s;
                }
                _ => {
                    groups.push(vec![i]);
                    cur = s;
                }
            }
        }
        let n = groups.len();
        let mut w = OutputWriter {
            files: Vec::with_capacity(n),
            slots: BTreeMap::new(),
            index: None,
            dir: path.to_path_buf(),
            is_dir_output: true,
            finished: false,
        };
        let metadata = with_format(metadata);
        let mut weight_map: BTreeMap<&str, &str> = BTreeMap::new();
        let names: Vec<String> = (1..=n).map(|k| shard_name(k, n)).collect();
        for (k, group) in groups.iter().enumerate() {
            let part: Vec<&OutputTensor> = group.iter().map(|&i| &tensors[i]).collect();
            w.add_file(&path.join(&names[k]), &part, &metadata)?;
            for t in &part {
                weight_map.insert(&t.name, &names[k]);
            }
        }
        let index = IndexJson {
            metadata: IndexMetadata { total_size: total },
            weight_map,
        };
        // Pretty-printed with two spaces and a final newline, as transformers writes it.
        let mut bytes = serde_json::to_vec_pretty(&index)
            .map_err(|e| ModelError::invalid(format!("encoding the index: {e}")))?;
        bytes.push(b'\n');
        w.index = Some((index_path(path), bytes));
        Ok(w)
    }

    fn create_single(
        path: &Path,
        mut tensors: Vec<OutputTensor>,
        metadata: Metadata,
        is_dir_output: bool,
    ) -> Result<OutputWriter> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        let mut w = OutputWriter {
            files: Vec::with_capacity(1),
            slots: BTreeMap::new(),
            index: None,
            dir,
            is_dir_output,
            finished: false,
        };
        let part: Vec<&OutputTensor> = tensors.iter().collect();
        w.add_file(path, &part, &with_format(metadata))?;
        Ok(w)
    }

    /// Creates one file's temp file, writes its header, sizes it and registers its slots.
    fn add_file(&mut self, dest: &Path, part: &[&OutputTensor], metadata: &Metadata) -> Result<()> {
        let layout: Vec<Layout<'_>> = part
            .iter()
            .map(|t| Layout {
                name: &t.name,
                dtype: t.dtype,
                shape: &t.shape,
            })
            .collect();
        let (head, offsets) = header::encode(&layout, metadata)?;
        let tmp = tmp_name(dest);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| ModelError::io(&tmp, e))?;
        let idx = self.files.len();
        // Registered before writing, so Drop removes it if anything below fails.
        self.files.push(OutFile {
            tmp: tmp.clone(),
            dest: dest.to_path_buf(),
            file,
        });
        let f = &self.files[idx].file;
        f.write_all_at(&head, 0)
            .map_err(|e| ModelError::io(&tmp, e))?;
        let data_len = offsets.last().map_or(0, |&(_, e)| e);
        f.set_len(head.len() as u64 + data_len)
            .map_err(|e| ModelError::io(&tmp, e))?;
        for (t, &(b, e)) in part.iter().zip(&offsets) {
            let size = t.dtype.size();
            let slot = Slot {
                file: idx,
                start: head.len() as u64 + b,
                numel: (e - b) / size as u64,
                size,
                written: Mutex::new(BTreeMap::new()),
            };
            if self.slots.insert(t.name.clone(), slot).is_some() {
                return Err(ModelError::tensor(&t.name, "tensor name given twice"));
            }
        }
        Ok(())
    }

    /// Writes `bytes` (little-endian elements) of tensor `name` from element `offset`; any thread,
    /// any order.
    pub fn write(&self, name: &str, offset: usize, bytes: &[u8]) -> Result<()> {
        let slot = self
            .slots
            .get(name)
            .ok_or_else(|| ModelError::tensor(name, "is not declared in this output"))?;
        if !bytes.len().is_multiple_of(slot.size) {
            return Err(ModelError::tensor(
                name,
                format!(
                    "write of {} bytes is not a whole number of {}-byte elements",
                    bytes.len(),
                    slot.size
                ),
            ));
        }
        let count = (bytes.len() / slot.size) as u64;
        let from = offset as u64;
        let to = from
            .checked_add(count)
            .filter(|&e| e <= slot.numel)
            .ok_or_else(|| {
                ModelError::tensor(
                    name,
                    format!(
                        "write of elements {from}..{} is beyond its {} elements",
                        from as u128 + count as u128,
                        slot.numel
                    ),
                )
            })?;
        let out = &self.files[slot.file];
        out.file
            .write_all_at(bytes, slot.start + from * slot.size as u64)
            .map_err(|e| ModelError::io(&out.tmp, e))?;
        slot.mark(from, to);
        Ok(())
    }

    /// Checks every byte was written, then renames the files into place; returns their paths
    /// (shards, then the index).
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        for (name, slot) in &self.slots {
            let covered = slot.covered();
            if covered != slot.numel {
                return Err(ModelError::tensor(
                    name,
                    format!(
                        "only {} of its {} bytes were written",
                        covered * slot.size as u64,
                        slot.numel * slot.size as u64
                    ),
                ));
            }
        }
        for f in &self.files {
            f.file.sync_all().map_err(|e| ModelError::io(&f.tmp, e))?;
        }
        if let Some((dest, bytes)) = &self.index {
            let tmp = tmp_name(dest);
            let file = File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
            // Pushed first so Drop cleans it up on failure.
            self.files.push(OutFile {
                tmp: tmp.clone(),
                dest: dest.clone(),
                file,
            });
            let file = &self.files[self.files.len() - 1].file;
            file.write_all_at(bytes, 0)
                .map_err(|e| ModelError::io(&tmp, e))?;
            file.sync_all().map_err(|e| ModelError::io(&tmp, e))?;
        }
        let mut done = Vec::with_capacity(self.files.len());
        for f in &self.files {
            std::fs::rename(&f.tmp, &f.dest).map_err(|e| ModelError::io(&f.dest, e))?;
            done.push(f.dest.clone());
        }
        self.finished = true;
        // The renames are durable only once the directory itself is synced.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        if self.is_dir_output {
            self.remove_stale(&done)?;
        }
        Ok(done)
    }

    fn remove_stale(&self, keep: &[PathBuf]) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| ModelError::io(&self.dir, e))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if is_output_name(name) && !keep.iter().any(|k| k == &p) {
                std::fs::remove_file(&p).map_err(|e| ModelError::io(&p, e))?;
            }
        }
        Ok(())
    }
}

/// Whether `name` is one of the weight files a directory output consists of.
fn is_output_name(name: &str) -> bool {
    if name == "model.safetensors" || name == "model.safetensors.index.json" {
        return true;
    }
    // model-NNNNN-of-NNNNN.safetensors
    let Some(mid) = name
        .strip_prefix("model-")
        .and_then(|r| r.strip_suffix(".safetensors"))
    else {
        return false;
    };
    let Some((a, b)) = mid.split_once("-of-") else {
        return false;
    };
    let digits = |s: &str| s.len() >= 5 && s.bytes().all(|c| c.is_ascii_digit());
    digits(a) && digits(b)
}

impl Drop for OutputWriter {
    fn drop(&mut self) {
        if !self.finished {
            for f in &self.files {
                let _ = std::fs::remove_file(&f.tmp);
            }
        }
    }
}

/// Adds `"format": "pt"` when absent (transformers refuses safetensors files without a format).
fn with_format(mut metadata: Metadata) -> Metadata {
    metadata
        .entry("format".to_string())
        .or_insert_with(|| "pt".to_string());
    metadata
}

/// Writes one safetensors file at `path` (whatever its extension) with the same deterministic
/// header as [`OutputWriter`], atomically; for tests, fixtures and the state's blobs.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, DType, Vec<usize>, Vec<u8>)],
    metadata: Metadata,
) -> Result<PathBuf> {
    let decl: Vec<OutputTensor> = tensors
        .iter()
        .map(|(name, dtype, shape, _)| OutputTensor {
            name: name.clone(),
            dtype: *dtype,
            shape: shape.clone(),
        })
        .collect();
    for ((name, _, _, bytes), d) in tensors.iter().zip(&decl) {
        let want = tensor_bytes(d)?;
        if want != bytes.len() as u64 {
            return Err(ModelError::tensor(
                name,
                format!(
                    "has {} bytes of data, but shape {:?} of {} needs {want}",
                    bytes.len(),
                    d.shape,
                    d.dtype.safetensors_name()
                ),
            ));
        }
    }
    let w = OutputWriter::create_single(path, decl, metadata, false)?;
    for (name, _, _, bytes) in tensors {
        w.write(name, 0, bytes)?;
    }
    let mut paths = w.finish()?;
    paths
        .pop()
        .ok_or_else(|| ModelError::invalid("writer produced no file"))
}

pub(crate) fn copy_side_files(from: &Path, to: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(to).map_err(|e| ModelError::io(to, e))?;
    let mut copied = Vec::new();
    for name in SIDE_FILES {
        let src = from.join(name);
        if !src.is_file() {
            continue;
        }
        let dest = to.join(name);
        let tmp = tmp_name(&dest);
        let res = std::fs::copy(&src, &tmp)
            .map_err(|e| ModelError::io(&src, e))
            .and_then(|_| std::fs::rename(&tmp, &dest).map_err(|e| ModelError::io(&dest, e)));
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        copied.push((*name).to_string());
    }
    Ok(copied)
}

const SIZE_FORMS: &str = "a byte count (`1000000`), or a number with a unit: K/KB, M/MB, G/GB, \
                          T/TB (powers of 1000), KiB/MiB/GiB/TiB (powers of 1024), or B \
                          (mergekit's billions: `5B` = 5 GB); fractions allowed (`1.5GB`)";

pub(crate) fn parse_size(text: &str) -> Result<u64> {
    let bad =
        |why: &str| ModelError::invalid(format!("size `{text}`: {why}; expected {SIZE_FORMS}"));
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let mult: u128 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" | "b" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad("unknown unit")),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad("no number"));
    }
    if frac.contains('.') || frac.len() > 18 || int.len() > 20 {
        return Err(bad("not a number"));
    }
    let int_v: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad("not a number"))?
    };
    let frac_v: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad("not a number"))?
    };
    let scale = 10u128.pow(frac.len() as u32);
    if unit.is_empty() && frac_v != 0 {
        return Err(bad("a byte count must be a whole number"));
    }
    // Exact decimal arithmetic; a fraction of a byte is dropped.
    let bytes = int_v
        .checked_mul(mult)
        .and_then(|v| v.checked_add(frac_v * mult / scale))
        .ok_or_else(|| bad("too large"))?;
    let bytes = u64::try_from(bytes).map_err(|_| bad("too large"))?;
    if bytes == 0 {
        return Err(bad("must be at least 1 byte"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5GB").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("5G").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("5B").unwrap(), 5_000_000_000);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert_eq!(parse_size("500m").unwrap(), 500_000_000);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("128MiB").unwrap(), 128 << 20);
        assert_eq!(parse_size("2KiB").unwrap(), 2048);
        assert_eq!(parse_size("3K").unwrap(), 3000);
        assert_eq!(parse_size("1TB").unwrap(), 1_000_000_000_000);
        assert_eq!(parse_size(" 1000 ").unwrap(), 1000);
        assert_eq!(parse_size("1 GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size(".5K").unwrap(), 500);
        for bad in [
            "",
            "GB",
            "5XB",
            "1.5",
            "0",
            "-5GB",
            "1.2.3G",
            "99999999999TB",
            "5 G B",
        ] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            assert!(e.contains("KiB"), "{e}");
        }
    }

    #[test]
    fn range_tracking_detects_double_writes_hiding_a_gap() {
        let s = Slot {
            file: 0,
            start: 0,
            numel: 10,
            size: 1,
            written: Mutex::new(BTreeMap::new()),
        };
        s.mark(0, 5);
        s.mark(0, 5);
        assert_eq!(s.covered(), 5);
        s.mark(7, 10);
        s.mark(4, 8);
        assert_eq!(s.covered(), 10);
        assert_eq!(s.written.lock().unwrap().len(), 1);
    }

    #[test]
    fn output_names() {
        assert!(is_output_name("model-00001-of-00002.safetensors"));
        assert!(is_output_name("model.safetensors.index.json"));
        assert!(!is_output_name("model-1-of-2.safetensors"));
        assert!(!is_output_name("adapter_model.safetensors"));
    }
}
