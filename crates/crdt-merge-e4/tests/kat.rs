//! Known answers: RFC 8032 §7.1 tests 2 and 3 (test 1 is in core.rs), the 75 NIST ACVP ML-DSA
//! key-generation vectors shipped in the fips204 package (tests/vectors/ml_dsa_keygen.txt), and
//! our own golden vectors for the Ed25519 + ML-DSA-65 hybrid (deterministic signing).

use crdt_merge_e4::codec::{hex, parse_hex};
use crdt_merge_e4::*;
use sha2::{Digest, Sha256};

#[test]
fn rfc8032_tests_2_and_3() {
    for (sk, pk, msg, sig) in [
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ] {
        let seed = parse_hex(sk).unwrap();
        let key = SigningKey::from_seed(Alg::Ed25519, &seed).unwrap();
        assert_eq!(hex(&key.public().bytes), pk);
        let zk = ed25519_zebra::SigningKey::from(<[u8; 32]>::try_from(seed.as_slice()).unwrap());
        let s: [u8; 64] = zk.sign(&parse_hex(msg).unwrap()).into();
        assert_eq!(hex(&s), sig);
        // The raw RFC signature verifies under ZIP 215 as well.
        let vk = ed25519_zebra::VerificationKey::try_from(key.public().bytes.as_slice()).unwrap();
        vk.verify(&ed25519_zebra::Signature::from(s), &parse_hex(msg).unwrap())
            .unwrap();
    }
}

#[test]
fn nist_ml_dsa_keygen_vectors() {
    let text = include_str!("vectors/ml_dsa_keygen.txt");
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split(' ').collect();
        let alg = Alg::parse(&f[0].to_ascii_lowercase()).unwrap();
        let key = SigningKey::from_seed(alg, &parse_hex(f[2]).unwrap()).unwrap();
        let got = hex(&Sha256::digest(&key.public().bytes));
        assert_eq!(got, f[3], "{} tcId {}", f[0], f[1]);
        assert_eq!(key.public().bytes.len(), alg.public_len());
        n += 1;
    }
    assert_eq!(n, 75);
}

#[test]
fn hybrid_golden_vector() {
    let mut seed = vec![0x11u8; 32];
    seed.extend([0x22u8; 32]);
    let key = SigningKey::from_seed(Alg::Hybrid, &seed)
        .unwrap()
        .deterministic();
    let msg = b"crdt-merge e4 hybrid golden v1";
    let sig = key.sign(SignKind::TableDelta, msg);
    assert_eq!(sig.len(), Alg::Hybrid.signature_len());
    let got = (
        key.id().hex(),
        hex(blake3::hash(&key.public().bytes).as_bytes()),
        hex(blake3::hash(&sig).as_bytes()),
    );
    assert_eq!(
        got,
        (
            "f50f3c05d13ddaefb36b81b84290fa3364c41d271928d9f3aca3695896e0c407".to_string(),
            "a8b82a4a658c67ad23234bc4e82ca4a0d84a79a4dc6d3a746e13c5c8caac373a".to_string(),
            "c978ee5afa84f6b545481dbfff4df23f441fa5bf999a975b0a4f90cef43600b1".to_string()
        ),
        "the hybrid's key id, public key or deterministic signature changed"
    );
    assert!(key.public().verify(SignKind::TableDelta, msg, &sig));
    // Both halves must verify: corrupting either is rejected.
    for at in [3, sig.len() - 3] {
        let mut bad = sig.clone();
        bad[at] ^= 1;
        assert!(
            !key.public().verify(SignKind::TableDelta, msg, &bad),
            "byte {at}"
        );
    }
}
