//! Feeds arbitrary bytes to every wire decoder. Beyond "never panics", each state that decodes
//! must re-encode canonically: decode(encode(s)) == s, encoding is stable, and join(s, s) == s.
#![no_main]

use crdt_merge_kernel::wire::{self, DecodeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small cap keeps zlib bombs from dominating the run; the cap logic is what is tested.
    let opts = DecodeOptions {
        max_inflated: 1 << 20,
        max_decoded: 1 << 24,
    };
    if let Ok(state) = wire::decode_with(data, &opts) {
        let bytes = wire::encode(&state);
        let again = wire::decode(&bytes).expect("our own encoding must decode");
        assert_eq!(again, state, "decode(encode(s)) != s");
        assert_eq!(wire::encode(&again), bytes, "encoding is not stable");
        assert_eq!(
            state.join(&state).expect("same type"),
            state,
            "join is not idempotent"
        );
        let _ = state.to_json().to_string();
        let _ = wire::counter_value(&bytes);
    }
    let _ = wire::decode_batch(data, &opts);
    // Two states from one input: split at the first byte's position.
    if let Some((&k, rest)) = data.split_first() {
        let cut = usize::from(k).min(rest.len());
        let (a, b) = rest.split_at(cut);
        if let Ok(m) = wire::merge_bytes(a, b) {
            assert_eq!(wire::merge_bytes(b, a).expect("merge is symmetric"), m);
        }
    }
});
