//! Known answers, key validation, PKI rules and the exhaustive tamper test.

use crdt_merge_e4::codec::parse_hex;
use crdt_merge_e4::*;

fn h(s: &str) -> Vec<u8> {
    parse_hex(s).unwrap()
}

#[test]
fn rfc8032_test1_keygen_and_signature() {
    let sk = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let key = SigningKey::from_seed(Alg::Ed25519, &sk).unwrap();
    assert_eq!(
        key.public().bytes,
        h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    );
    let zk = ed25519_zebra::SigningKey::from(<[u8; 32]>::try_from(sk.as_slice()).unwrap());
    let sig: [u8; 64] = zk.sign(b"").into();
    assert_eq!(sig.to_vec(), h("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"));
    // Our construction signs TAG ‖ body with the same key.
    let s = key.sign(SignKind::TableDelta, b"x");
    let mut msg = SignKind::TableDelta.tag().to_vec();
    msg.push(b'x');
    assert_eq!(s, <[u8; 64]>::from(zk.sign(&msg)).to_vec());
    assert!(key.public().verify(SignKind::TableDelta, b"x", &s));
    assert!(
        !key.public().verify(SignKind::KeyEvent, b"x", &s),
        "cross-kind replay"
    );
}

#[test]
fn weak_and_non_canonical_ed25519_keys_are_refused() {
    for bad in [
        "0100000000000000000000000000000000000000000000000000000000000000", // identity
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2, y = -1
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p
        "0000000000000000000000000000000000000000000000000000000000000080", // x=0, sign bit
    ] {
        let k = PublicKey {
            alg: Alg::Ed25519,
            bytes: h(bad),
        };
        assert!(k.validate().is_err(), "{bad} accepted");
    }
}

#[test]
fn every_algorithm_signs_and_rejects_a_flipped_bit() {
    for alg in Alg::ALL {
        let key = SigningKey::generate(alg);
        key.public().validate().unwrap();
        let mut sig = key.sign(SignKind::Contribution, b"body");
        assert_eq!(sig.len(), alg.signature_len());
        assert!(key.public().verify(SignKind::Contribution, b"body", &sig));
        sig[3] ^= 1;
        assert!(
            !key.public().verify(SignKind::Contribution, b"body", &sig),
            "{alg:?}"
        );
    }
}

fn setup(alg: Alg) -> (SigningKey, Pki, SigningKey) {
    let admin = SigningKey::from_seed(Alg::Ed25519, &[7; 32]).unwrap();
    let genesis = Genesis::new(1, vec![admin.public().clone()]).unwrap();
    let mut pki = Pki::new(genesis.clone());
    let author = SigningKey::from_seed(alg, &vec![9; alg.seed_len()])
        .unwrap()
        .deterministic();
    let ev = SignedKeyEvent::sign(
        &genesis,
        KeyEventBody::Register {
            key: author.public().clone(),
            level: RegisterLevel::Trusted,
        },
        &[&admin],
    )
    .unwrap();
    pki.insert(ev).unwrap();
    (admin, pki, author)
}

fn header(author: &SigningKey) -> DeltaHeader {
    DeltaHeader {
        kind: Kind::Contribution,
        ctx: Context::new("study-1/run-1").unwrap(),
        author: author.id(),
        alg: author.alg(),
        seq: 2,
        prev: [3; 32],
        hlc_min: 10,
        hlc_max: 20,
        schema: [4; 32],
        payload_len: 0,
        payload: [5; 32],
        round: Some(RoundParams {
            round: 1,
            rule: 0,
            f: 1,
            frac_bits: 16,
            weight: 0.5,
        }),
        deps: vec![[1; 32], [2; 32]],
    }
}

#[test]
fn flipping_any_byte_of_a_signed_header_is_rejected() {
    for alg in [Alg::Ed25519, Alg::MlDsa44] {
        let (_, pki, author) = setup(alg);
        let signed = SignedHeader::sign(header(&author), &author).unwrap();
        assert!(signed.verify(&pki));
        let bytes = signed.header.encode();
        for i in 0..bytes.len() {
            for bit in [1u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                if let Ok(hd) = DeltaHeader::decode(&b) {
                    let t = SignedHeader {
                        header: hd,
                        sig: signed.sig.clone(),
                    };
                    assert!(!t.verify(&pki), "{alg:?}: byte {i} bit {bit} accepted");
                }
            }
        }
    }
}

#[test]
fn missing_key_means_reject() {
    let (_, pki, _) = setup(Alg::Ed25519);
    let stranger = SigningKey::from_seed(Alg::Ed25519, &[1; 32]).unwrap();
    let s = SignedHeader::sign(header(&stranger), &stranger).unwrap();
    assert!(!s.verify(&pki));
}

#[test]
fn pki_roundtrip_and_non_canonical_rejection() {
    let (admin, mut pki, author) = setup(Alg::Ed25519);
    let g = pki.genesis().clone();
    let rot = SigningKey::from_seed(Alg::Ed25519, &[11; 32]).unwrap();
    pki.insert(
        SignedKeyEvent::sign(
            &g,
            KeyEventBody::Rotate {
                identity: author.id(),
                from_seq: 5,
                key: rot.public().clone(),
            },
            &[&admin],
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(pki.keys_for(&author.id(), 4)[0], *author.public());
    assert_eq!(pki.keys_for(&author.id(), 5)[0], *rot.public());
    let bytes = pki.encode();
    assert_eq!(Pki::decode(&bytes).unwrap(), pki);
    let mut t = bytes.clone();
    t.push(0);
    let e = Pki::decode(&t).unwrap_err().to_string();
    assert!(e.contains("trailing"), "{e}");
    // An event not signed by an admin is refused.
    let fake = SignedKeyEvent::sign(
        &g,
        KeyEventBody::Revoke {
            identity: author.id(),
            from_seq: 1,
        },
        &[&admin],
    )
    .unwrap();
    let mut forged = fake.clone();
    forged.sigs.values_mut().next().unwrap()[0] ^= 1;
    assert!(pki.insert(forged).is_err());
    assert!(!pki.revoked(&author.id(), 1));
}

#[test]
fn signed_delta_roundtrip_and_equivocation() {
    let (_, pki, author) = setup(Alg::Ed25519);
    let mut h1 = header(&author);
    h1.kind = Kind::TableDelta;
    h1.round = None;
    let a = SignedHeader::sign(h1.clone(), &author).unwrap();
    let d = SignedDelta {
        signed: a.clone(),
        payload: None,
    };
    assert_eq!(SignedDelta::decode(&d.encode()).unwrap(), d);
    let mut h2 = h1.clone();
    h2.payload = [6; 32];
    let b = SignedHeader::sign(h2, &author).unwrap();
    let ev = Evidence::equivocation(&b, &a).unwrap();
    ev.verify(&pki).unwrap();
    assert_eq!(Evidence::decode(&ev.encode()).unwrap(), ev);
    assert!(
        Evidence::equivocation(&a, &a).is_none(),
        "framing with one delta"
    );
}

#[test]
fn table_payload_is_canonical() {
    use crdt_merge_e4::table::{Cell, ColType, TablePayload};
    let p = TablePayload::new(
        vec![
            ("id".into(), ColType::Int64),
            ("_ts".into(), ColType::Int64),
            ("v".into(), ColType::Utf8),
        ],
        1,
        1,
        vec![
            vec![Cell::Int(2), Cell::Int(5), Cell::Str("b".into())],
            vec![Cell::Int(1), Cell::Int(6), Cell::Null],
        ],
    )
    .unwrap();
    let bytes = p.encode();
    assert_eq!(TablePayload::decode(&bytes).unwrap(), p);
    assert_eq!(p.to_record_batch().unwrap().num_rows(), 2);
    let mut t = bytes.clone();
    t.push(1);
    assert!(TablePayload::decode(&t).is_err());
}
