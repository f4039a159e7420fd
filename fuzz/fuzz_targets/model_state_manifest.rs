//! Feeds arbitrary bytes to the model-state manifest parser. Beyond "never panics", every manifest
//! that parses must re-encode canonically: parse(encode(s)) == s, encoding is stable, and
//! merge(s, s) == s.
#![no_main]

use crdt_merge_model::state::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = Manifest::parse(data) {
        let bytes = Manifest::encode(&state);
        let again = Manifest::parse(&bytes).expect("our own encoding must parse");
        assert_eq!(again, state, "parse(encode(s)) != s");
        assert_eq!(Manifest::encode(&again), bytes, "encoding is not stable");
        assert_eq!(
            state.merged(&state).expect("a state merges with itself"),
            state,
            "merge is not idempotent"
        );
        assert_eq!(state.state_hash().len(), 64);
        let _ = state.live();
        let _ = state.summary();
    }
});
