//! Feeds arbitrary bytes to crdt-merge-model's `model.safetensors.index.json` parser: it must
//! return Ok or Err, never panic, and every shard it accepts must be a plain relative path inside
//! the model directory (no absolute paths, no `..`).
#![no_main]

use std::path::{Component, Path};

use crdt_merge_model::io::parse_index;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = parse_index(data, Path::new("model.safetensors.index.json")) else {
        return;
    };
    for file in index.weight_map.values() {
        assert!(!file.is_empty());
        assert!(Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_))));
    }
});
