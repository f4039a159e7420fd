//! Replays every input the fuzzer ever found (tests/golden/crashers/): each must decode or fail
//! with an error, never panic, and anything that decodes must round-trip.

use std::path::PathBuf;

use crdt_merge_kernel::wire::{self, DecodeOptions};

#[test]
fn fuzz_findings_do_not_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/crashers");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let opts = DecodeOptions {
        max_inflated: 1 << 20,
        max_decoded: 1 << 24,
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let data = std::fs::read(&path).expect("read crasher");
        if let Ok(state) = wire::decode_with(&data, &opts) {
            let bytes = wire::encode(&state);
            assert_eq!(wire::decode(&bytes).unwrap(), state, "{}", path.display());
            assert_eq!(state.join(&state).unwrap(), state, "{}", path.display());
        }
        let _ = wire::decode_batch(&data, &opts);
        if let Some((&k, rest)) = data.split_first() {
            let (a, b) = rest.split_at(usize::from(k).min(rest.len()));
            let _ = wire::merge_bytes(a, b);
        }
    }
}
