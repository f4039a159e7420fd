//! Feeds arbitrary bytes to every E4 decoder (delta header, signed delta, table payload, PKI,
//! genesis, key event, evidence, state claim, trust state): each returns Ok or Err, never
//! panics, and whatever it accepts re-encodes to exactly the input (one encoding per value).
//! The first byte picks the decoder. `crates/crdt-merge-e4/tests/decoders.rs` replays seeded
//! mutations of valid encodings on every `cargo test`.
#![no_main]

use crdt_merge_e4::table::TablePayload;
use crdt_merge_e4::{
    Alg, DeltaHeader, Evidence, Genesis, Pki, SignedClaim, SignedDelta, SignedKeyEvent,
    SigningKey, TrustState,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, b)) = data.split_first() else {
        return;
    };
    let back = match which % 9 {
        0 => DeltaHeader::decode(b).ok().map(|h| h.encode()),
        1 => SignedDelta::decode(b).ok().map(|d| d.encode()),
        2 => TablePayload::decode(b).ok().map(|p| p.encode()),
        3 => Pki::decode(b).ok().map(|p| p.encode()),
        4 => Genesis::decode(b).ok().map(|g| g.encode()),
        5 => {
            let admin = SigningKey::from_seed(Alg::Ed25519, &[1; 32]).expect("seed");
            let g = Genesis::new(1, vec![admin.public().clone()]).expect("genesis");
            SignedKeyEvent::decode(b, &g).ok().map(|e| e.encode())
        }
        6 => Evidence::decode(b).ok().map(|e| e.encode()),
        7 => SignedClaim::decode(b).ok().map(|c| c.encode()),
        _ => TrustState::decode(b).ok().map(|s| {
            if b.starts_with(b"CRDT") {
                s.to_frame()
            } else {
                s.encode()
            }
        }),
    };
    if let Some(back) = back {
        assert_eq!(back, b, "a non-canonical form was accepted");
    }
});
