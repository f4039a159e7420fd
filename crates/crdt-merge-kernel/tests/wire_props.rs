//! Decoder robustness without a fuzzer: truncations, byte flips and appended bytes of valid
//! frames never panic, and every error's offset lies within the input.

use crdt_merge_kernel::error::ErrorKind;
use crdt_merge_kernel::state::{
    AnyState, Datum, GCounter, LwwMap, LwwRegister, OrSet, VectorClock,
};
use crdt_merge_kernel::wire::{self, DecodeOptions};
use proptest::prelude::*;

fn frames() -> Vec<Vec<u8>> {
    let mut g = GCounter::new();
    g.observe("a", 5);
    g.observe("b", 1 << 40);
    let mut s = OrSet::new();
    s.add(Datum::str("x"), "r").unwrap();
    s.add(Datum::Int(3), "r").unwrap();
    s.remove(&Datum::Int(3));
    let mut m = LwwMap::new();
    m.set(
        "k",
        Datum::List(vec![Datum::Float(1.5), Datum::None]),
        3i64,
        "n",
    );
    m.delete("j", 2.0);
    let states: Vec<AnyState> = vec![
        g.into(),
        s.into(),
        m.into(),
        LwwRegister::with(Datum::Bytes(vec![1, 2, 3]), 9.5, "z").into(),
        VectorClock::from_counts([("a", 1), ("b", 2)]).into(),
    ];
    states.iter().map(wire::encode).collect()
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let opts = DecodeOptions {
        max_inflated: 1 << 16,
        max_decoded: 1 << 20,
    };
    match wire::decode_with(bytes, &opts) {
        Ok(state) => {
            let again = wire::encode(&state);
            prop_assert_eq!(wire::decode(&again).unwrap(), state);
        }
        Err(e) => match e.kind {
            ErrorKind::Decode { offset, .. } => prop_assert!(offset <= bytes.len(), "{}", e),
            other => prop_assert!(false, "not a decode error: {:?}", other),
        },
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn truncated_frames_are_errors(i in 0usize..5, cut in any::<prop::sample::Index>()) {
        let f = &frames()[i];
        let n = cut.index(f.len());
        let e = wire::decode(&f[..n]).unwrap_err();
        prop_assert!(matches!(e.kind, ErrorKind::Decode { offset, .. } if offset <= n), "{}", e);
    }

    #[test]
    fn flipped_bytes_never_panic(i in 0usize..5, flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut f = frames()[i].clone();
        for (at, b) in flips {
            let n = at.index(f.len());
            f[n] = b;
        }
        check(&f)?;
    }

    #[test]
    fn appended_bytes_are_trailing_errors(i in 0usize..5, extra in prop::collection::vec(any::<u8>(), 1..8)) {
        let f = frames()[i].clone();
        let n = f.len();
        let e = wire::decode(&[f, extra].concat()).unwrap_err();
        prop_assert!(matches!(e.kind, ErrorKind::Decode { offset, .. } if offset == n), "{}", e);
    }

    #[test]
    fn random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..64), tag in any::<u8>()) {
        check(&bytes)?;
        // The same bytes behind a valid header reach the payload decoders.
        let mut f = b"CRDT\x00\x01".to_vec();
        f.push([0x01, 0x02, 0x03, 0x04, 0x05, 0x40, 0x41][usize::from(tag % 7)]);
        f.push(0);
        f.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        f.append(&mut bytes);
        check(&f)?;
        let _ = wire::decode_batch(&f, &DecodeOptions::default());
    }
}
