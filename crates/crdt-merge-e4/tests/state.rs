//! TrustState laws, derived evidence, the trust function and the gates.

use std::collections::BTreeMap;

use arrow_array::Array;

use crdt_merge_e4::gate;
use crdt_merge_e4::table::{Cell, ColType, TablePayload};
use crdt_merge_e4::*;
use crdt_merge_model::robust::RobustRule;
use proptest::prelude::*;

struct World {
    admin: SigningKey,
    genesis: Genesis,
    pki: Pki,
    authors: Vec<SigningKey>,
    ctx: Context,
}

fn world(n: usize) -> World {
    let admin = SigningKey::from_seed(Alg::Ed25519, &[7; 32]).unwrap();
    let genesis = Genesis::new(1, vec![admin.public().clone()]).unwrap();
    let mut pki = Pki::new(genesis.clone());
    let mut authors = Vec::new();
    for i in 0..n {
        let k = SigningKey::from_seed(Alg::Ed25519, &[i as u8 + 20; 32]).unwrap();
        let level = if i == n - 1 && n > 2 {
            RegisterLevel::Probation
        } else {
            RegisterLevel::Trusted
        };
        let ev = SignedKeyEvent::sign(
            &genesis,
            KeyEventBody::Register {
                key: k.public().clone(),
                level,
            },
            &[&admin],
        )
        .unwrap();
        pki.insert(ev).unwrap();
        authors.push(k);
    }
    World {
        admin,
        genesis,
        pki,
        authors,
        ctx: Context::new("orders/replica-sync").unwrap(),
    }
}

fn payload(rows: &[(i64, i64, &str)]) -> TablePayload {
    TablePayload::new(
        vec![
            ("id".into(), ColType::Int64),
            ("_ts".into(), ColType::Int64),
            ("v".into(), ColType::Utf8),
        ],
        1,
        1,
        rows.iter()
            .map(|(id, ts, v)| vec![Cell::Int(*id), Cell::Int(*ts), Cell::Str(v.to_string())])
            .collect(),
    )
    .unwrap()
}

/// A signed table delta by `key` at `seq` after `prev`.
fn delta(
    w: &World,
    key: &SigningKey,
    seq: u64,
    prev: [u8; 32],
    rows: &[(i64, i64, &str)],
) -> SignedDelta {
    SignedDelta::sign_table(key, w.ctx, seq, prev, &payload(rows)).unwrap()
}

fn contribution(
    w: &World,
    key: &SigningKey,
    seq: u64,
    prev: [u8; 32],
    round: u64,
    content: u8,
    weight: f64,
) -> SignedDelta {
    let params = RoundParams {
        round,
        rule: 0,
        f: 0,
        frac_bits: 0,
        weight,
    };
    SignedDelta::sign_contribution(key, w.ctx, seq, prev, [content; 32], params).unwrap()
}

/// A pool: honest chains for authors 0 and 1, an equivocation and a regression by author 2.
fn pool(w: &World) -> Vec<SignedDelta> {
    let a = &w.authors[0];
    let b = &w.authors[1];
    let e = &w.authors[2];
    let a1 = delta(w, a, 1, [0; 32], &[(1, 10, "a1"), (2, 11, "a1")]);
    let a2 = delta(w, a, 2, a1.id().0, &[(2, 20, "a2")]);
    let b1 = delta(w, b, 1, [0; 32], &[(1, 12, "b1"), (3, 12, "b1")]);
    let e1 = delta(w, e, 1, [0; 32], &[(4, 30, "e1")]);
    let e2x = delta(w, e, 2, e1.id().0, &[(1, 99, "evil-x")]);
    let e2y = delta(w, e, 2, e1.id().0, &[(1, 99, "evil-y")]);
    let e3 = delta(w, e, 3, [7; 32], &[(5, 5, "e3")]); // its own chain broken
    vec![a1, a2, b1, e1, e2x, e2y, e3]
}

fn state_of(w: &World, ds: &[SignedDelta]) -> TrustState {
    let mut s = TrustState::new(w.pki.clone(), TrustPolicy::default());
    for d in ds {
        s.insert_delta(d.clone()).unwrap();
    }
    s
}

#[test]
fn equivocation_and_regression_are_derived_and_convict_only_the_guilty() {
    let w = world(4);
    let s = state_of(&w, &pool(&w));
    let convicted = s.convicted();
    assert_eq!(convicted, vec![w.authors[2].id()]);
    let v = s.trust(&w.authors[2].id()).unwrap();
    assert_eq!(v.get(Dimension::Integrity), TrustLevel::Convicted);
    assert_eq!(v.get(Dimension::Causality), TrustLevel::Convicted);
    assert_eq!(v.get(Dimension::Gossip), TrustLevel::Suspect);
    for h in [0, 1] {
        assert_eq!(
            s.trust(&w.authors[h].id()).unwrap().overall(),
            TrustLevel::Trusted
        );
    }
    assert_eq!(
        s.trust(&w.authors[3].id()).unwrap().overall(),
        TrustLevel::Probation
    );
    // Every proof verifies for a third party holding only the PKI.
    for e in s.evidence().values() {
        e.verify(&w.pki).unwrap();
        assert_eq!(Evidence::decode(&e.encode()).unwrap(), *e);
    }
    assert!(s
        .evidence()
        .values()
        .any(|e| e.class() == EvidenceClass::Causality));
}

#[test]
fn honest_writers_with_old_clocks_or_no_clocks_are_never_convicted() {
    let w = world(4);
    let a = &w.authors[0];
    // Rows re-shipped with older clocks, then rows with the same clock: an honest chain.
    let d1 = delta(&w, a, 1, [0; 32], &[(1, 50, "x")]);
    let d2 = delta(&w, a, 2, d1.id().0, &[(2, 10, "y")]);
    let d3 = delta(&w, a, 3, d2.id().0, &[(3, 10, "z")]);
    // Contributions for two rounds, both with clock 0 (what `trust sign --contribution` signs).
    let b = &w.authors[1];
    let c1 = contribution(&w, b, 1, [0; 32], 1, 1, 1.0);
    let c2 = contribution(&w, b, 2, c1.id().0, 2, 2, 1.0);
    assert_eq!((c2.header().hlc_min, c2.header().hlc_max), (0, 0));
    let s = state_of(&w, &[d1, d2, d3, c1, c2]);
    assert!(s.convicted().is_empty(), "{}", s.describe());
    assert_eq!(gate::table(&s, w.ctx, None).unwrap().admitted.len(), 3);
    assert_eq!(gate::model_contributions(&s, w.ctx, 2).admitted.len(), 1);
    // Same content, another weight, same round: a different vote, so equivocation.
    let c3 = contribution(&w, b, 3, [9; 32], 2, 2, 5.0);
    let s = state_of(
        &w,
        &[c3.clone(), contribution(&w, b, 1, [0; 32], 2, 2, 1.0)],
    );
    assert_eq!(s.convicted(), vec![b.id()]);
    // A payload attached by hand that its author did not sign is refused.
    let mut wrong = delta(&w, a, 1, [0; 32], &[(1, 50, "x")]);
    wrong.payload = Some(payload(&[(1, 50, "forged")]).encode());
    let mut s = TrustState::new(w.pki.clone(), TrustPolicy::default());
    assert!(s.insert_delta(wrong).is_err());
}

#[test]
fn an_old_key_cannot_displace_the_honest_signature_after_a_rotation() {
    let w = world(4);
    let k1 = &w.authors[0];
    let k2 = SigningKey::from_seed(Alg::Ed25519, &[77; 32]).unwrap();
    let mut rotated = w.pki.clone();
    rotated
        .insert(
            SignedKeyEvent::sign(
                &w.genesis,
                KeyEventBody::Rotate {
                    identity: k1.id(),
                    from_seq: 2,
                    key: k2.public().clone(),
                },
                &[&w.admin],
            )
            .unwrap(),
        )
        .unwrap();
    let d1 = delta(&w, k1, 1, [0; 32], &[(1, 1, "a")]);
    // The honest seq 2, signed with the new key; the same header signed by whoever kept K1.
    let mut honest = delta(&w, k1, 2, d1.id().0, &[(2, 2, "b")]);
    let body = honest.signed.header.encode();
    let mut stolen = honest.clone();
    stolen.signed.sig = k1.sign(Kind::TableDelta.sign_kind(), &body);
    honest.signed.sig = k2.sign(Kind::TableDelta.sign_kind(), &body);
    let policy = TrustPolicy::default();
    let mut want = TrustState::new(rotated.clone(), policy);
    want.insert_delta(d1.clone()).unwrap();
    want.insert_delta(honest.clone()).unwrap();
    assert_eq!(gate::table(&want, w.ctx, None).unwrap().admitted.len(), 2);
    // Either order, with the rotation known.
    for order in [[&stolen, &honest], [&honest, &stolen]] {
        let mut s = TrustState::new(rotated.clone(), policy);
        s.insert_delta(d1.clone()).unwrap();
        for d in order {
            s.insert_delta((*d).clone()).unwrap();
        }
        assert_eq!(s.root(), want.root());
    }
    // A replica that took the old key's signature before it heard of the rotation converges
    // when it merges one that holds the honest signature.
    let mut early = TrustState::new(w.pki.clone(), policy);
    early.insert_delta(d1.clone()).unwrap();
    early.insert_delta(stolen.clone()).unwrap();
    assert_eq!(early.merged(&want).unwrap().root(), want.root());
    assert_eq!(want.merged(&early).unwrap().root(), want.root());
}

#[test]
fn table_gate_merges_only_admitted_rows_and_a_conviction_retracts() {
    let w = world(4);
    let p = pool(&w);
    // Before the second half arrives, e2x is admitted and wins key 1 at clock 99.
    let s = state_of(&w, &p[..5]);
    let out = gate::table(&s, w.ctx, None).unwrap();
    let v = out.merge.batch.column_by_name("v").unwrap();
    let v = v
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert_eq!(v.value(0), "evil-x");
    // The other half convicts author 2 and its rows leave.
    let s = state_of(&w, &p);
    let out = gate::table(&s, w.ctx, None).unwrap();
    let v = out.merge.batch.column_by_name("v").unwrap();
    let v = v
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    let got: Vec<&str> = (0..v.len()).map(|i| v.value(i)).collect();
    assert_eq!(got, vec!["b1", "a2", "b1"]);
    assert_eq!(out.admitted.len(), 3);
    assert_eq!(out.refused.len(), 4);
    assert!(out.refused.iter().all(|r| r.why == Admission::Convicted));
    assert_eq!(out.receipt.convicted, vec![w.authors[2].id()]);
    // Prefix keeps what the equivocator signed before seq 2.
    let mut s = TrustState::new(
        w.pki.clone(),
        TrustPolicy {
            mode: Mode::Prefix,
            ..TrustPolicy::default()
        },
    );
    for d in &p {
        s.insert_delta(d.clone()).unwrap();
    }
    let out = gate::table(&s, w.ctx, None).unwrap();
    assert_eq!(out.admitted.len(), 4, "a1, a2, b1 and e1");
}

#[test]
fn gate_output_is_the_same_in_every_delivery_order() {
    let w = world(4);
    let p = pool(&w);
    let reference = state_of(&w, &p);
    let want = gate::table(&reference, w.ctx, None).unwrap();
    let mut rng = 0x9e3779b97f4a7c15u64;
    for _ in 0..64 {
        let mut order = p.clone();
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        let s = state_of(&w, &order);
        assert_eq!(s.root(), reference.root());
        let got = gate::table(&s, w.ctx, None).unwrap();
        assert_eq!(got.merge.batch, want.merge.batch);
        assert_eq!(got.receipt, want.receipt);
    }
}

#[test]
fn forgeries_are_refused_and_leave_the_state_unchanged() {
    let w = world(4);
    let p = pool(&w);
    let mut s = state_of(&w, &p[..3]);
    let before = s.root();
    // A bit flip in the signature, a header re-labelled to another context, an unknown key.
    let mut flipped = p[3].clone();
    flipped.signed.sig[5] ^= 1;
    let mut replayed = p[0].clone();
    replayed.signed.header.ctx = Context::new("other").unwrap();
    let stranger = SigningKey::from_seed(Alg::Ed25519, &[99; 32]).unwrap();
    let sybil = delta(&w, &stranger, 1, [0; 32], &[(1, 1000, "sybil")]);
    for bad in [flipped.clone(), replayed, sybil] {
        assert!(s.insert_delta(bad.clone()).is_err());
        assert_eq!(s.root(), before);
    }
    // Smuggled inside a state's bytes: decoding verifies every delta and names the offset.
    let good = state_of(&w, &p[3..4]).encode();
    let sig = &p[3].signed.sig;
    let at = good
        .windows(sig.len())
        .position(|x| x == sig.as_slice())
        .unwrap();
    let mut forged = good.clone();
    forged[at + 5] ^= 1;
    let err = TrustState::decode(&forged).unwrap_err().to_string();
    assert!(err.contains("does not verify"), "{err}");
    // A refused merge (another policy) leaves the state byte-identical.
    let other = TrustState::new(
        w.pki.clone(),
        TrustPolicy {
            mode: Mode::Prefix,
            ..TrustPolicy::default()
        },
    );
    assert!(s.merge(&other).is_err());
    assert_eq!(s.root(), before);
    let _ = flipped;
}

#[test]
fn framing_is_impossible() {
    let w = world(4);
    let a = &w.authors[0];
    let d = delta(&w, a, 1, [0; 32], &[(1, 1, "x")]);
    // One delta paired with itself is no evidence.
    assert!(Evidence::equivocation(&d.signed, &d.signed).is_none());
    // A second "half" signed by someone else does not verify.
    let mut fake = delta(&w, &w.authors[1], 1, [0; 32], &[(1, 1, "y")]);
    fake.signed.header.author = a.id();
    let e = Evidence::equivocation(&d.signed, &fake.signed).unwrap();
    assert!(e.verify(&w.pki).is_err());
    let mut s = state_of(&w, std::slice::from_ref(&d));
    assert!(s.insert_evidence(&e).is_err());
    assert!(s.convicted().is_empty());
    // After a revocation, a thief's equivocation with the stolen key frames nobody.
    let mut pki = w.pki.clone();
    pki.insert(
        SignedKeyEvent::sign(
            &w.genesis,
            KeyEventBody::Revoke {
                identity: a.id(),
                from_seq: 2,
            },
            &[&w.admin],
        )
        .unwrap(),
    )
    .unwrap();
    let x = delta(&w, a, 2, d.id().0, &[(1, 5, "thief-x")]);
    let y = delta(&w, a, 2, d.id().0, &[(1, 5, "thief-y")]);
    let mut s = TrustState::new(pki.clone(), TrustPolicy::default());
    for v in [&d, &x, &y] {
        s.insert_delta(v.clone()).unwrap();
    }
    assert!(s.convicted().is_empty());
    assert!(Evidence::equivocation(&x.signed, &y.signed)
        .unwrap()
        .verify(&pki)
        .is_err());
    let out = gate::table(&s, w.ctx, None).unwrap();
    assert_eq!(out.admitted, vec![d.id()]);
}

#[test]
fn evidence_from_a_peer_is_absorbed_as_its_halves() {
    let w = world(4);
    let p = pool(&w);
    let e = Evidence::equivocation(&p[4].signed, &p[5].signed).unwrap();
    let mut s = state_of(&w, &p[..3]);
    assert_eq!(s.insert_evidence(&e).unwrap(), Inserted::New);
    assert_eq!(s.convicted(), vec![w.authors[2].id()]);
    assert_eq!(s.insert_evidence(&e).unwrap(), Inserted::Known);
    // The halves arrived without payloads: they are headers only.
    assert!(s.deltas().values().filter(|d| d.payload.is_none()).count() == 2);
}

#[test]
fn state_bytes_round_trip_and_reject_non_canonical_forms() {
    let w = world(4);
    let s = state_of(&w, &pool(&w));
    let bytes = s.encode();
    let back = TrustState::decode(&bytes).unwrap();
    assert_eq!(back, s);
    assert_eq!(TrustState::decode(&s.to_frame()).unwrap(), s);
    let mut t = bytes.clone();
    t.push(0);
    assert!(TrustState::decode(&t)
        .unwrap_err()
        .to_string()
        .contains("trailing"));
    for cut in [5, 20, bytes.len() / 2, bytes.len() - 1] {
        assert!(TrustState::decode(&bytes[..cut]).is_err());
    }
    // Flipping any single byte never changes a signed item: it fails to decode, or (in the
    // policy, local configuration that nobody signs) changes only the policy.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        if let Ok(other) = TrustState::decode(&b) {
            assert_eq!(other.pki(), s.pki(), "byte {i}");
            assert_eq!(other.deltas(), s.deltas(), "byte {i}");
            assert_eq!(other.claims(), s.claims(), "byte {i}");
            assert_ne!(other.policy(), s.policy(), "byte {i}");
        }
    }
}

#[test]
fn contribution_gate_keeps_one_signed_entry_per_author_and_caps_probation() {
    let w = world(4);
    let (a, b, c, p) = (&w.authors[0], &w.authors[1], &w.authors[2], &w.authors[3]);
    let ds = vec![
        contribution(&w, a, 1, [0; 32], 7, 1, 1.0),
        contribution(&w, b, 1, [0; 32], 7, 2, 1.0),
        contribution(&w, c, 1, [0; 32], 7, 3, 1.0),
        contribution(&w, p, 1, [0; 32], 7, 4, 6.0),
    ];
    let c2 = contribution(&w, c, 2, ds[2].id().0, 7, 5, 1.0); // a second entry for round 7
    let mut all = ds.clone();
    all.push(c2);
    let s = state_of(&w, &all);
    assert_eq!(s.convicted(), vec![c.id()]);
    let out = gate::model_contributions(&s, w.ctx, 7);
    let mut authors: Vec<KeyId> = out.admitted.iter().map(|x| x.author).collect();
    authors.sort();
    let mut want = vec![a.id(), b.id(), p.id()];
    want.sort();
    assert_eq!(authors, want);
    // The probation author's 6 of 8 is capped at half the total.
    let wts = gate::capped_weights(&out.admitted, 0.5);
    let probation: f64 = out
        .admitted
        .iter()
        .zip(&wts)
        .filter(|(x, _)| x.probation)
        .map(|(_, w)| w)
        .sum();
    let total: f64 = wts.iter().sum();
    assert!((probation / total - 0.5).abs() < 1e-12);
    // Robust median over the admitted vectors; the convicted author's outlier never enters.
    let mut vectors = BTreeMap::new();
    vectors.insert([1; 32], vec![1.0, 1.0]);
    vectors.insert([2; 32], vec![2.0, 2.0]);
    vectors.insert([3; 32], vec![1e9, 1e9]);
    vectors.insert([4; 32], vec![3.0, 3.0]);
    let (r, out) = gate::model_robust(&s, w.ctx, 7, RobustRule::Median, 1, &vectors).unwrap();
    assert_eq!(r.values, vec![2.0, 2.0]);
    assert_eq!(out.receipt.population_bound_met, Some(true));
}

fn arb_subset(n: usize) -> impl Strategy<Value = Vec<bool>> {
    proptest::collection::vec(any::<bool>(), n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Merge is commutative, associative and idempotent (compared by root and by value), and
    /// trust is monotone: a merged state never trusts anyone more than either side.
    #[test]
    fn merge_is_a_join(xs in arb_subset(7), ys in arb_subset(7), zs in arb_subset(7)) {
        let w = world(4);
        let p = pool(&w);
        let pick = |m: &[bool]| -> Vec<SignedDelta> {
            p.iter().zip(m).filter(|(_, k)| **k).map(|(d, _)| d.clone()).collect()
        };
        let (a, b, c) = (state_of(&w, &pick(&xs)), state_of(&w, &pick(&ys)), state_of(&w, &pick(&zs)));
        let ab = a.merged(&b).unwrap();
        let ba = b.merged(&a).unwrap();
        prop_assert_eq!(ab.root(), ba.root());
        prop_assert_eq!(&ab, &ba);
        let abc1 = ab.merged(&c).unwrap();
        let abc2 = a.merged(&b.merged(&c).unwrap()).unwrap();
        prop_assert_eq!(abc1.root(), abc2.root());
        prop_assert_eq!(a.merged(&a).unwrap().root(), a.root());
        for k in &w.authors {
            let t = ab.trust(&k.id()).unwrap().0;
            let ta = a.trust(&k.id()).unwrap().0;
            let tb = b.trust(&k.id()).unwrap().0;
            for i in 0..6 {
                prop_assert!(t[i] <= ta[i] && t[i] <= tb[i]);
            }
        }
    }
}

/// `insert_deltas` checks a table payload's rules with the decode it keeps for the gate; the
/// state, the evidence, the admitted set and the merged rows equal those of one-by-one inserts
/// (which scan the payload), including for a delta whose rows break its signed clock range.
#[test]
fn a_batch_insert_admits_and_merges_exactly_what_single_inserts_do() {
    let w = world(5);
    let mut p = pool(&w);
    let k = &w.authors[3];
    let honest = delta(&w, k, 1, [0; 32], &[(6, 50, "x")]);
    let mut h = honest.header().clone();
    h.hlc_min = 0;
    h.hlc_max = 40; // the row's clock, 50, lies outside the signed range
    let broken = SignedDelta {
        signed: SignedHeader::sign(h, k).unwrap(),
        payload: honest.payload.clone(),
    };
    p.push(broken.clone());
    let single = state_of(&w, &p);
    let mut batch = TrustState::new(w.pki.clone(), TrustPolicy::default());
    for r in batch.insert_deltas(p.clone()) {
        r.unwrap();
    }
    assert_eq!(batch, single);
    assert_eq!(batch.root(), single.root());
    assert_eq!(batch.evidence(), single.evidence());
    let want = gate::table(&single, w.ctx, None).unwrap();
    let got = gate::table(&batch, w.ctx, None).unwrap();
    assert_eq!(got.merge.batch, want.merge.batch);
    assert_eq!(got.admitted, want.admitted);
    assert_eq!(got.receipt, want.receipt);
    assert!(!got.admitted.contains(&broken.id()));
    // Its author broke a deterministic rule: convicted in both.
    assert!(
        batch.convicted().contains(&k.id()),
        "{:?}",
        batch.evidence()
    );
}

/// `insert_encoded` hashes each payload once, in the insertion: a payload that does not hash to
/// the signed one is still refused, bytes that do not decode are their item's error, and the
/// others go in exactly as through `insert_deltas`.
#[test]
fn insert_encoded_refuses_what_decode_would_and_admits_the_rest() {
    let w = world(4);
    let p = pool(&w);
    let mut bytes: Vec<Vec<u8>> = p.iter().map(|d| d.encode()).collect();
    // A flipped payload byte (the last byte of the frame is the payload's) and junk.
    let mut tampered = bytes[0].clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(SignedDelta::decode(&tampered).is_err());
    bytes.push(tampered);
    bytes.push(b"CME4 not a delta".to_vec());
    let mut s = TrustState::new(w.pki.clone(), TrustPolicy::default());
    let out = s.insert_encoded(&bytes);
    assert_eq!(out.len(), bytes.len());
    assert!(out[..p.len()].iter().all(|r| r.is_ok()));
    let e = out[p.len()].as_ref().unwrap_err().to_string();
    assert!(e.contains("does not hash"), "{e}");
    assert!(out[p.len() + 1].is_err());
    assert_eq!(s, state_of(&w, &p));
}
