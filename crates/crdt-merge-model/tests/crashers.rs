//! Replays every fuzz finding of the model targets (`tests/golden/crashers/model_*`, written by
//! `scripts/fuzz.sh SECONDS TARGET`) through its parser: each must parse or fail cleanly.

use std::path::{Path, PathBuf};

use crdt_merge_model::io::header;
use crdt_merge_model::io::reader::parse_index;
use crdt_merge_model::state::manifest::Manifest;

#[test]
fn model_fuzz_findings_do_not_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/crashers");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let data = std::fs::read(&path).expect("read crasher");
        let p = Path::new("crasher");
        if name.starts_with("model_safetensors_header-") {
            let _ = header::parse(&data, data.len() as u64, p);
        } else if name.starts_with("model_index-") {
            let _ = parse_index(&data, p);
        } else if name.starts_with("model_state_manifest-") {
            let _ = Manifest::parse(&data);
        }
    }
}
