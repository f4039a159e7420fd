//! Reading models: one `.safetensors` file, a directory with `model.safetensors`, or a sharded
//! directory with `model.safetensors.index.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::TensorInfo;

/// An opened model: its files and where each tensor lives.
#[derive(Debug)]
pub struct ModelFiles {
    path: PathBuf,
    files: Vec<PathBuf>,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl ModelFiles {
    /// Opens `path` (a `.safetensors` file or a model directory); `.bin` / `.pt` are refused with
    /// a hint to convert.
    pub fn open(path: &Path) -> Result<ModelFiles> {
        let _ = path;
        todo!("io work")
    }
    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The directory holding side files (the input directory, or a file's parent).
    pub fn dir(&self) -> Option<&Path> {
        todo!("io work")
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
    /// The raw little-endian bytes of `count` elements of `name` from element `offset`, appended
    /// to `out`.
    pub fn read_raw(
        &self,
        name: &str,
        offset: usize,
        count: usize,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let _ = (name, offset, count, out);
        todo!("io work")
    }
    /// `out.len()` elements of `name` from element `offset`, widened to f64 (computable types only).
    pub fn read_f64(&self, name: &str, offset: usize, out: &mut [f64]) -> Result<()> {
        let _ = (name, offset, out);
        todo!("io work")
    }
}
