//! Seeded mutation fuzzing of every E4 decoder (the `e4_decode` cargo-fuzz target runs the same
//! checks unbounded, outside CI): for thousands of mutations of valid encodings (bit flips,
//! byte replacements, truncations, insertions, deletions, length-field edits), each decoder
//! returns Ok or Err and never panics, and whatever it accepts re-encodes to exactly the input
//! (one encoding per value: nothing non-canonical is accepted).

use crdt_merge_e4::table::{Cell, ColType, TablePayload};
use crdt_merge_e4::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut b = src.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(b.len());
        match rng.below(7) {
            0 if !b.is_empty() => b[at] ^= 1 << rng.below(8),
            1 if !b.is_empty() => b[at] = rng.next() as u8,
            2 => b.truncate(at),
            3 => b.insert(at, rng.next() as u8),
            4 if !b.is_empty() => {
                b.remove(at);
            }
            // A plausible length: a small number written over four bytes.
            5 if b.len() >= at + 4 => {
                b[at..at + 4].copy_from_slice(&(rng.below(600) as u32).to_be_bytes())
            }
            _ if !b.is_empty() => b[at] = [0x00, 0x01, 0xff, 0x7f, 0x80][rng.below(5)],
            _ => {}
        }
    }
    b
}

struct Fixture {
    genesis: Genesis,
    objects: Vec<(&'static str, Vec<u8>)>,
}

fn fixture() -> Fixture {
    let admin = SigningKey::from_seed(Alg::Ed25519, &[1; 32]).unwrap();
    let genesis = Genesis::new(1, vec![admin.public().clone()]).unwrap();
    let mut pki = Pki::new(genesis.clone());
    let author = SigningKey::from_seed(Alg::Ed25519, &[2; 32]).unwrap();
    let reg = SignedKeyEvent::sign(
        &genesis,
        KeyEventBody::Register {
            key: author.public().clone(),
            level: RegisterLevel::Trusted,
        },
        &[&admin],
    )
    .unwrap();
    pki.insert(reg.clone()).unwrap();
    let payload = TablePayload::new(
        vec![
            ("id".into(), ColType::Int64),
            ("_ts".into(), ColType::Int64),
            ("v".into(), ColType::Utf8),
            ("f".into(), ColType::Float64),
            ("b".into(), ColType::Boolean),
            ("x".into(), ColType::Binary),
        ],
        1,
        1,
        vec![
            vec![
                Cell::Int(1),
                Cell::Int(5),
                Cell::Str("a".into()),
                Cell::Float(0.5),
                Cell::Bool(true),
                Cell::Bytes(vec![1, 2]),
            ],
            vec![
                Cell::Int(2),
                Cell::Int(6),
                Cell::Null,
                Cell::Null,
                Cell::Bool(false),
                Cell::Null,
            ],
        ],
    )
    .unwrap();
    let pb = payload.encode();
    let ctx = Context::new("fuzz").unwrap();
    let mk = |seq: u64, prev: [u8; 32], bytes: &[u8], p: &TablePayload| {
        let header = DeltaHeader {
            kind: Kind::TableDelta,
            ctx,
            author: author.id(),
            alg: Alg::Ed25519,
            seq,
            prev,
            hlc_min: p.clock_range().0,
            hlc_max: p.clock_range().1,
            schema: p.schema_hash(),
            payload_len: bytes.len() as u64,
            payload: delta::payload_hash(bytes),
            round: None,
            deps: vec![[3; 32]],
        };
        SignedDelta {
            signed: SignedHeader::sign(header, &author).unwrap(),
            payload: Some(bytes.to_vec()),
        }
    };
    let d1 = mk(1, [0; 32], &pb, &payload);
    let d1b = {
        let mut p2 = payload.clone();
        p2.rows.truncate(1);
        let b = p2.encode();
        mk(1, [0; 32], &b, &p2)
    };
    let ev = Evidence::equivocation(&d1.signed, &d1b.signed).unwrap();
    let claim = SignedClaim::sign(
        StateClaim {
            ctx,
            author: author.id(),
            alg: Alg::Ed25519,
            epoch: 3,
            head_seq: 1,
            head: d1.id().0,
            root: [9; 32],
        },
        &author,
    );
    let mut state = TrustState::new(pki.clone(), TrustPolicy::default());
    state.insert_delta(d1.clone()).unwrap();
    state.insert_delta(d1b.clone()).unwrap();
    state.insert_claim(claim.clone()).unwrap();
    Fixture {
        genesis: genesis.clone(),
        objects: vec![
            ("header", d1.signed.header.encode()),
            ("delta", d1.encode()),
            ("payload", pb),
            ("pki", pki.encode()),
            ("genesis", genesis.encode()),
            ("key event", reg.encode()),
            ("evidence", ev.encode()),
            ("claim", claim.encode()),
            ("state", state.encode()),
            ("state frame", state.to_frame()),
        ],
    }
}

/// Ok(re-encoded bytes) or Err, for one decoder.
fn decode(kind: &str, genesis: &Genesis, b: &[u8]) -> Option<Vec<u8>> {
    match kind {
        "header" => DeltaHeader::decode(b).ok().map(|h| h.encode()),
        "delta" => SignedDelta::decode(b).ok().map(|d| d.encode()),
        "payload" => TablePayload::decode(b).ok().map(|p| p.encode()),
        "pki" => Pki::decode(b).ok().map(|p| p.encode()),
        "genesis" => Genesis::decode(b).ok().map(|g| g.encode()),
        "key event" => SignedKeyEvent::decode(b, genesis).ok().map(|e| e.encode()),
        "evidence" => Evidence::decode(b).ok().map(|e| e.encode()),
        "claim" => SignedClaim::decode(b).ok().map(|c| c.encode()),
        "state" => TrustState::decode(b).ok().map(|s| s.encode()),
        "state frame" => TrustState::decode(b).ok().map(|s| s.to_frame()),
        _ => unreachable!(),
    }
}

#[test]
fn every_decoder_accepts_only_canonical_bytes_and_never_panics() {
    let f = fixture();
    let mut rng = Rng(0x005e_ede4);
    for (kind, bytes) in &f.objects {
        assert_eq!(
            decode(kind, &f.genesis, bytes).as_deref(),
            Some(bytes.as_slice()),
            "{kind}: the valid encoding does not round-trip"
        );
        let rounds = if kind.starts_with("state") { 600 } else { 2500 };
        let mut accepted = 0;
        for _ in 0..rounds {
            let m = mutate(&mut rng, bytes);
            if let Some(back) = decode(kind, &f.genesis, &m) {
                accepted += 1;
                assert_eq!(back, m, "{kind}: a non-canonical form was accepted");
            }
        }
        // Only mutations that keep a canonical form (a changed signature byte in an evidence
        // half fails later, in verify; policy bytes in a state are unsigned) may pass.
        assert!(accepted < rounds, "{kind}: every mutation decoded");
    }
}

#[test]
fn hostile_lengths_are_refused_without_allocating() {
    // A state claiming 2^32-1 deltas, a PKI claiming 2^32-1 events, a delta claiming a 1 TiB
    // payload: each is an error naming the offset, at once.
    let f = fixture();
    for (kind, bytes) in &f.objects {
        for at in 0..bytes.len().saturating_sub(4) {
            let mut b = bytes.clone();
            b[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
            let _ = decode(kind, &f.genesis, &b);
        }
    }
}
