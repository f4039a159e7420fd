//! Envelope and API tests; laws and golden files live in `tests/`.

use super::*;
use crate::state::{
    Datum, DottedVersionVector, GCounter, LwwRegister, OrSet, PNCounter, VectorClock,
};

fn offset_of(e: &Error) -> usize {
    match &e.kind {
        ErrorKind::Decode { offset, .. } => *offset,
        other => panic!("not a decode error: {other:?}"),
    }
}

fn hexbytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn g(pairs: &[(&str, u64)]) -> GCounter {
    let mut g = GCounter::new();
    for (r, c) in pairs {
        g.observe(r, *c);
    }
    g
}

#[test]
fn gcounter_bytes_equal_pythons() {
    // serialize(GCounter with n1 = 5) from crdt-merge 0.11.0: 65 bytes.
    let py = hexbytes("43524454000101000000003508000000020500000004747970650500000009675f636f756e7465720500000006636f756e7473080000000105000000026e310905");
    let state = AnyState::GCounter(g(&[("n1", 5)]));
    assert_eq!(encode(&state), py);
    assert_eq!(decode(&py).unwrap(), state);
}

#[test]
fn register_bytes_equal_pythons() {
    // serialize(LWWRegister("x", 5, "a")).
    let py = hexbytes("4352445400010300000000510800000004050000000474797065050000000c6c77775f7265676973746572050000000576616c7565050000000178050000000974696d657374616d70090505000000076e6f64655f6964050000000161");
    let state = AnyState::LwwRegister(LwwRegister::with(Datum::str("x"), 5i64, "a"));
    assert_eq!(encode(&state), py);
}

#[test]
fn clock_json_matches_python_dumps() {
    let vc = AnyState::VectorClock(VectorClock::from_counts([("b", 2), ("a", 1)]));
    assert_eq!(
        &encode(&vc)[HEADER_LEN..],
        br#"{"type": "vector_clock", "clocks": {"a": 1, "b": 2}}"#
    );
    let dvv = AnyState::DottedVersionVector(DottedVersionVector::from_parts(
        VectorClock::from_counts([("a", 1)]),
        Some(("b".into(), 3)),
    ));
    assert_eq!(
        &encode(&dvv)[HEADER_LEN..],
        br#"{"type": "dotted_version_vector", "base": {"type": "vector_clock", "clocks": {"a": 1}}, "dot": ["b", 3]}"#
    );
    assert_eq!(decode(&encode(&dvv)).unwrap(), dvv);
}

#[test]
fn envelope_errors_carry_offsets() {
    let good = encode(&AnyState::GCounter(g(&[("n1", 5)])));
    let cases: Vec<(Vec<u8>, usize, &str)> = vec![
        (b"CRDX".to_vec(), 3, "bad magic"),
        (b"CR".to_vec(), 2, "truncated"),
        (good[..11].to_vec(), 11, "truncated"),
        (good[..good.len() - 1].to_vec(), 8, "truncated"),
        ([&good[..], &[0]].concat(), good.len(), "trailing"),
        (
            {
                let mut b = good.clone();
                b[5] = 2;
                b
            },
            4,
            "unsupported version 2",
        ),
        (
            {
                let mut b = good.clone();
                b[6] = 0x20;
                b
            },
            6,
            "(generic) is not supported",
        ),
        (
            {
                let mut b = good.clone();
                b[6] = 0x99;
                b
            },
            6,
            "unknown type tag 0x99",
        ),
        (
            {
                let mut b = good.clone();
                b[7] = 0x02;
                b
            },
            7,
            "unknown flag bits",
        ),
        (
            {
                let mut b = good.clone();
                b[7] = 0x01;
                b
            },
            12,
            "corrupt zlib",
        ),
    ];
    for (bytes, offset, msg) in cases {
        let e = decode(&bytes).unwrap_err();
        assert_eq!(offset_of(&e), offset, "{e}");
        assert!(e.to_string().contains(msg), "{e} should mention {msg}");
        assert_eq!(e.function, "crdt_decode");
    }
    // Version 0 is accepted.
    let mut v0 = good.clone();
    v0[5] = 0;
    assert!(decode(&v0).is_ok());
}

fn zlib(payload: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(payload).unwrap();
    e.finish().unwrap()
}

fn frame(tag: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = b"CRDT\x00\x01".to_vec();
    out.push(tag);
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn compressed_payloads_and_the_inflate_cap() {
    let state = AnyState::GCounter(g(&[("n1", 5), ("n2", 300)]));
    let plain = encode(&state);
    let z = frame(0x01, 1, &zlib(&plain[HEADER_LEN..]));
    assert_eq!(decode(&z).unwrap(), state);
    let small = DecodeOptions {
        max_inflated: 20,
        ..Default::default()
    };
    let e = decode_with(&z, &small).unwrap_err();
    assert!(e.to_string().contains("oversized"), "{e}");
    let e = decode_with(&plain, &small).unwrap_err();
    assert!(e.to_string().contains("oversized"), "{e}");
    // A zlib bomb: 64 MiB of zeros behind a tiny frame stops at the cap.
    let bomb = frame(0x01, 1, &zlib(&vec![0u8; 64 << 20]));
    let e = decode_with(
        &bomb,
        &DecodeOptions {
            max_inflated: 1 << 20,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("oversized"), "{e}");
    // Bytes after the zlib stream, inside the payload.
    let mut extra = zlib(&plain[HEADER_LEN..]);
    let end = HEADER_LEN + extra.len();
    extra.push(0);
    let e = decode(&frame(0x01, 1, &extra)).unwrap_err();
    assert_eq!(offset_of(&e), end, "{e}");
    // Errors inside an inflated payload name the inflated offset.
    let e = decode(&frame(0x01, 1, &zlib(&[0x08, 0, 0, 0, 1]))).unwrap_err();
    assert!(e.to_string().contains("of the inflated payload"), "{e}");
}

#[test]
fn payload_errors() {
    // A dict where a state is expected to be a dict of the right shape.
    let e = decode(&frame(0x01, 0, &[0x09, 1])).unwrap_err();
    assert!(e.to_string().contains("expected a dict"), "{e}");
    // A negative G-Counter count.
    let mut w = Writer::default();
    w.len(codec::T_DICT, 1);
    w.str("counts");
    w.len(codec::T_DICT, 1);
    w.str("a");
    w.int(-1);
    let e = decode(&frame(0x01, 0, &w.buf)).unwrap_err();
    assert!(e.to_string().contains("negative count -1"), "{e}");
    // The payload's "type" must agree with the header.
    let g = encode(&AnyState::GCounter(GCounter::new()));
    let mut wrong = g.clone();
    wrong[6] = 0x02;
    let e = decode(&wrong).unwrap_err();
    assert!(e.to_string().contains("type tag says pn_counter"), "{e}");
    // Trailing bytes inside the payload.
    let mut p = g[HEADER_LEN..].to_vec();
    p.push(0);
    let e = decode(&frame(0x01, 0, &p)).unwrap_err();
    assert_eq!(offset_of(&e), g.len());
    // Bad JSON for a clock.
    let e = decode(&frame(0x40, 0, b"{\"clocks\": {\"a\": -1}}")).unwrap_err();
    assert!(e.to_string().contains("non-negative"), "{e}");
    let e = decode(&frame(0x40, 0, b"{\"clocks\": ")).unwrap_err();
    assert!(e.to_string().contains("invalid JSON"), "{e}");
}

#[test]
fn sql_entry_points() {
    let mut a = PNCounter::new();
    a.observe("r1", Some(10), Some(3));
    let mut b = PNCounter::new();
    b.observe("r2", Some(1), None);
    let (ea, eb) = (encode(&a.clone().into()), encode(&b.clone().into()));
    let m = merge_bytes(&ea, &eb).unwrap();
    assert_eq!(m, merge_bytes(&eb, &ea).unwrap());
    assert_eq!(counter_value(&m).unwrap(), 8);
    assert_eq!(typeof_bytes(&m).unwrap(), "pn_counter");
    assert_eq!(
        to_json_bytes(&m).unwrap(),
        r#"{"neg":{"counts":{"r1":3},"type":"g_counter"},"pos":{"counts":{"r1":10,"r2":1},"type":"g_counter"},"type":"pn_counter"}"#
    );
    let e = merge_bytes(&ea, &encode(&GCounter::new().into())).unwrap_err();
    assert_eq!(e.function, "crdt_state_merge");
    assert!(matches!(e.kind, ErrorKind::TypeMismatch { .. }));
    let e = merge_bytes(&ea, b"junk").unwrap_err();
    assert!(e.to_string().contains("second state: bad magic"), "{e}");
    let e = counter_value(&encode(&OrSet::new().into())).unwrap_err();
    assert_eq!(e.function, "crdt_counter_value");
    let big = encode(&g(&[("a", u64::MAX)]).into());
    let e = counter_value(&big).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Overflow(_)), "{e}");
    let mut neg = PNCounter::new();
    neg.observe("a", None, Some(u64::MAX));
    assert!(counter_value(&encode(&neg.into())).is_err());
    let mut exact = PNCounter::new();
    exact.observe("a", None, Some(1 << 63));
    assert_eq!(counter_value(&encode(&exact.into())).unwrap(), i64::MIN);
}

#[test]
fn batches() {
    let states: Vec<AnyState> = vec![
        g(&[("a", 1)]).into(),
        VectorClock::from_counts([("x", 2)]).into(),
    ];
    let b = encode_batch(&states);
    assert_eq!(decode_batch(&b, &DecodeOptions::default()).unwrap(), states);
    let e = decode_batch(&[&b[..], &[0]].concat(), &DecodeOptions::default()).unwrap_err();
    assert_eq!(offset_of(&e), b.len());
    let e = decode_batch(&[0xff, 0xff, 0xff, 0xff], &DecodeOptions::default()).unwrap_err();
    assert!(e.to_string().contains("declares 4294967295 frames"), "{e}");
    let mut bad = b.clone();
    bad[4 + 4] = b'X';
    let e = decode_batch(&bad, &DecodeOptions::default()).unwrap_err();
    assert_eq!(offset_of(&e), 8);
    assert!(decode_batch(&[0, 0, 0, 0], &DecodeOptions::default())
        .unwrap()
        .is_empty());
}

/// The HLL fast path reads exactly what the general decoder reads, and declines (None) whatever
/// the general decoder would refuse or read differently.
#[test]
fn hll_fast_path_agrees_with_the_general_decoder() {
    use crate::sketch::hash::{murmur3_x64_128, MURMUR3_SEED};
    use crate::sketch::{Family, Hll, Sketch};
    let general = |payload: &[u8]| {
        let mut r = Reader::with_budget(payload, HEADER_LEN, false, "t", usize::MAX);
        r.whole()
            .and_then(|d| Ctx { reader: &r }.binary_state(TAG_HLL, &d))
    };
    let mut frames = Vec::new();
    for (p, fam) in [
        (4, Family::Murmur3),
        (10, Family::PgHll),
        (14, Family::Upstream),
        (18, Family::Murmur3),
    ] {
        let mut h = Hll::new("t", p, fam).unwrap();
        for i in 0..3000i64 {
            let (a, b) = murmur3_x64_128(&i.to_le_bytes(), MURMUR3_SEED);
            h.add_hash(a, b);
        }
        frames.push(encode(&AnyState::Sketch(Sketch::Hll(h))));
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for f in frames.clone() {
        for k in 0..300 {
            let mut b = f.clone();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = HEADER_LEN + (seed >> 33) as usize % (b.len() - HEADER_LEN);
            b[at] ^= (seed >> 8) as u8 | 1;
            if k % 3 == 0 {
                b.truncate(at);
            }
            frames.push(b);
        }
    }
    for f in &frames {
        let payload = &f[HEADER_LEN.min(f.len())..];
        if let Some(h) = super::sketch::fast_hll(payload) {
            assert_eq!(
                general(payload).ok(),
                Some(AnyState::Sketch(Sketch::Hll(h)))
            );
        }
    }
}
