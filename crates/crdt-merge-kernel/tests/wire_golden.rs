//! Golden wire files: tests/golden/*.crdt decode to the JSON listed in tests/golden/README.md,
//! and the files we write re-encode to identical bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crdt_merge_kernel::wire;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

/// `### name.crdt` headings of the README, each with the first ```json block after it.
fn readme_json() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(golden_dir().join("README.md")).expect("README.md");
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_json = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            current = Some(name.trim().to_owned());
        } else if line.trim() == "```json" {
            in_json = true;
        } else if in_json {
            in_json = false;
            if let Some(name) = current.take() {
                out.insert(name, line.to_owned());
            }
        }
    }
    out
}

fn golden_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(golden_dir())
        .expect("tests/golden")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "crdt"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read golden file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_golden_file_decodes_to_its_readme_json() {
    let listed = readme_json();
    let files = golden_files();
    assert!(
        files.len() >= 20,
        "expected the golden set, found {} files",
        files.len()
    );
    let names: Vec<&String> = files.iter().map(|(n, _)| n).collect();
    let listed_names: Vec<&String> = listed.keys().collect();
    assert_eq!(
        names, listed_names,
        "README.md and the .crdt files disagree"
    );
    for (name, bytes) in &files {
        let state = wire::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(state.to_json().to_string(), listed[name], "{name}");
        assert_eq!(wire::to_json_bytes(bytes).unwrap(), listed[name], "{name}");
    }
}

#[test]
fn our_golden_files_reencode_to_identical_bytes() {
    for (name, bytes) in golden_files() {
        let state = wire::decode(&bytes).unwrap();
        let again = wire::encode(&state);
        if name.starts_with("python_") {
            // Python's bytes are not canonical, but our re-encoding of them is a fixed point.
            assert_eq!(
                wire::encode(&wire::decode(&again).unwrap()),
                again,
                "{name}"
            );
        } else {
            assert_eq!(again, bytes, "{name}: canonical bytes changed");
        }
    }
}

#[test]
fn python_bytes_are_identical_where_python_order_is_canonical() {
    // Python writes the state dict in to_dict() order, as we do; with one replica there is no
    // map order to differ, so the bytes agree exactly.
    let dir = golden_dir();
    let ours = std::fs::read(dir.join("g_counter_i64_max.crdt")).unwrap();
    let state = wire::decode(&ours).unwrap();
    assert_eq!(wire::typeof_bytes(&ours).unwrap(), "g_counter");
    assert_eq!(wire::encode(&state), ours);
}
