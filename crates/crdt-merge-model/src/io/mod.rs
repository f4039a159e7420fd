//! Safetensors in and out without whole-file loads: our own header parser (the `safetensors`
//! crate's `read_metadata` wants the whole file), positioned reads of each tensor's byte range, and
//! a writer whose header is fixed before any data is computed (sorted names, `__metadata__` of
//! strings with `"format": "pt"`), so tensors can be written at known offsets in any order and
//! equal merges give byte-identical files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dtype::DType;
use crate::error::Result;

pub mod header;
pub mod reader;
pub mod writer;

pub use header::{Header, HeaderTensor};
pub use reader::ModelFiles;
pub use reader::{parse_index, Index};
pub use writer::{write_safetensors, OutputTensor, OutputWriter};

/// One tensor of a model: where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub dtype: DType,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Index of its file in [`ModelFiles::files`].
    pub file: usize,
    /// Absolute byte offset of its first byte in that file.
    pub start: u64,
    /// Its byte length (numel × dtype size).
    pub len: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Side files copied from the base (else the first model) into a directory output, so
/// `AutoModel.from_pretrained(OUT)` works.
pub const SIDE_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
];

/// Copies the [`SIDE_FILES`] that exist in `from` into `to`; returns the names copied.
pub fn copy_side_files(from: &Path, to: &Path) -> Result<Vec<String>> {
    writer::copy_side_files(from, to)
}

/// Parses a size such as `5GB`, `500MB`, `1.5G`, `128MiB`, `1B` (mergekit's "billions") or a plain
/// byte count.
pub fn parse_size(text: &str) -> Result<u64> {
    writer::parse_size(text)
}

/// The metadata map written into every output header (always with `"format": "pt"`).
pub type Metadata = BTreeMap<String, String>;

/// Where an output goes: one `.safetensors` file, or a directory (sharded above the shard size).
pub fn is_file_output(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// The path of a model directory's weights index.
pub fn index_path(dir: &Path) -> PathBuf {
    dir.join("model.safetensors.index.json")
}
