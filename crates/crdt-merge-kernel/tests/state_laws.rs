//! Semilattice laws for every state type, and canonical wire bytes:
//! join is commutative, associative and idempotent, bottom is its identity, and
//! decode(encode(x)) == x with encode(decode(encode(x))) == encode(x); equal joins in either
//! order give identical bytes.

use std::collections::{BTreeMap, BTreeSet};

use crdt_merge_kernel::state::{
    anti_entropy, AgentState, AnyState, ClockOrdering, Datum, DottedVersionVector, GCounter,
    GossipState, LwwMap, LwwRegister, OrSet, PNCounter, Timestamp, VectorClock,
};
use crdt_merge_kernel::wire;
use proptest::prelude::*;

fn replica() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c".to_owned()),
        Just("é".to_owned()),
        Just(String::new()),
    ]
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..5, 100u64..200, Just(i64::MAX as u64), Just(u64::MAX)]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(1.0),
        Just(2.5),
        -1e20f64..1e20,
    ]
}

fn scalar() -> impl Strategy<Value = Datum> {
    prop_oneof![
        Just(Datum::None),
        any::<bool>().prop_map(Datum::Bool),
        (-3i64..3).prop_map(Datum::Int),
        any::<i64>().prop_map(Datum::Int),
        any::<u64>().prop_map(Datum::from_u64),
        float().prop_map(Datum::Float),
        prop_oneof![Just(""), Just("x"), Just("1"), Just("ü😀"), Just("a\0b")].prop_map(Datum::str),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Datum::Bytes),
    ]
}

fn datum() -> impl Strategy<Value = Datum> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Datum::List),
            proptest::collection::btree_set(scalar(), 0..4).prop_map(Datum::Set),
            proptest::collection::btree_map(scalar(), inner, 0..4).prop_map(Datum::Dict),
        ]
    })
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (0i64..4).prop_map(Timestamp::from),
        any::<i64>().prop_map(Timestamp::from),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1.0),
            Just(2.0),
            Just(f64::NAN),
            Just(3.5)
        ]
        .prop_map(Timestamp::from),
    ]
}

fn gcounter() -> impl Strategy<Value = GCounter> {
    proptest::collection::vec((replica(), count()), 0..5).prop_map(|obs| {
        let mut g = GCounter::new();
        for (r, c) in obs {
            g.observe(&r, c);
        }
        g
    })
}

fn pncounter() -> impl Strategy<Value = PNCounter> {
    (gcounter(), gcounter()).prop_map(|(p, n)| PNCounter::from_parts(p, n))
}

fn register() -> impl Strategy<Value = LwwRegister> {
    (datum(), timestamp(), replica()).prop_map(|(v, t, n)| LwwRegister::with(v, t, &n))
}

#[derive(Debug, Clone)]
enum SetOp {
    Add(Datum, String),
    Remove(Datum),
}

fn orset() -> impl Strategy<Value = OrSet> {
    let elem = prop_oneof![
        Just(Datum::str("x")),
        Just(Datum::str("1")),
        Just(Datum::Int(1)),
        Just(Datum::Float(1.0)),
        Just(Datum::Bool(true)),
        Just(Datum::None),
    ];
    let op = prop_oneof![
        3 => (elem.clone(), replica()).prop_map(|(e, r)| SetOp::Add(e, r)),
        1 => elem.prop_map(SetOp::Remove),
    ];
    proptest::collection::vec(op, 0..8).prop_map(|ops| {
        let mut s = OrSet::new();
        for op in ops {
            match op {
                SetOp::Add(e, r) => {
                    s.add(e, &r).unwrap();
                }
                SetOp::Remove(e) => {
                    s.remove(&e);
                }
            }
        }
        s
    })
}

fn lwwmap() -> impl Strategy<Value = LwwMap> {
    let key = prop_oneof![Just("k"), Just("j"), Just("")];
    let op = prop_oneof![
        (key.clone(), datum(), timestamp(), replica()).prop_map(|(k, v, t, n)| (
            k,
            Some((v, n)),
            t
        )),
        (key, timestamp()).prop_map(|(k, t)| (k, None, t)),
    ];
    proptest::collection::vec(op, 0..6).prop_map(|ops| {
        let mut m = LwwMap::new();
        for (k, write, t) in ops {
            match write {
                Some((v, n)) => m.set(k, v, t, &n),
                None => m.delete(k, t),
            }
        }
        m
    })
}

fn vclock() -> impl Strategy<Value = VectorClock> {
    proptest::collection::vec((replica(), count()), 0..5).prop_map(VectorClock::from_counts)
}

fn dvv() -> impl Strategy<Value = DottedVersionVector> {
    (vclock(), proptest::option::of((replica(), count())))
        .prop_map(|(b, d)| DottedVersionVector::from_parts(b, d))
}

fn check_laws(
    a: &AnyState,
    b: &AnyState,
    c: &AnyState,
    bottom: &AnyState,
) -> Result<(), TestCaseError> {
    let ab = a.join(b).unwrap();
    let ba = b.join(a).unwrap();
    prop_assert_eq!(&ab, &ba, "commutative");
    prop_assert_eq!(wire::encode(&ab), wire::encode(&ba), "commutative bytes");
    let ab_c = ab.join(c).unwrap();
    let a_bc = a.join(&b.join(c).unwrap()).unwrap();
    prop_assert_eq!(&ab_c, &a_bc, "associative");
    prop_assert_eq!(
        wire::encode(&ab_c),
        wire::encode(&a_bc),
        "associative bytes"
    );
    prop_assert_eq!(&a.join(a).unwrap(), a, "idempotent");
    prop_assert_eq!(&a.join(bottom).unwrap(), a, "bottom is the identity");
    prop_assert_eq!(&bottom.join(a).unwrap(), a, "bottom is the identity");
    for s in [a, &ab, &ab_c] {
        let bytes = wire::encode(s);
        let back = wire::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, s, "decode(encode(x)) == x");
        prop_assert_eq!(wire::encode(&back), bytes, "canonical bytes");
        prop_assert_eq!(wire::typeof_bytes(&wire::encode(s)).unwrap(), s.type_name());
        // merge_bytes is the same join.
        let mb = wire::merge_bytes(&wire::encode(a), &wire::encode(b)).unwrap();
        prop_assert_eq!(mb, wire::encode(&ab));
    }
    Ok(())
}

macro_rules! laws {
    ($name:ident, $strategy:expr, $bottom:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn $name(a in $strategy, b in $strategy, c in $strategy) {
                let (a, b, c) = (AnyState::from(a), AnyState::from(b), AnyState::from(c));
                check_laws(&a, &b, &c, &AnyState::from($bottom))?;
            }
        }
    };
}

laws!(gcounter_laws, gcounter(), GCounter::new());
laws!(pncounter_laws, pncounter(), PNCounter::new());
laws!(lww_register_laws, register(), LwwRegister::new());
laws!(or_set_laws, orset(), OrSet::new());
laws!(lww_map_laws, lwwmap(), LwwMap::new());
laws!(vector_clock_laws, vclock(), VectorClock::new());
laws!(dvv_laws, dvv(), DottedVersionVector::new());

proptest! {
    #[test]
    fn register_bottom_is_below_every_non_negative_write(v in datum(), n in replica()) {
        // Timestamps at or above 0 beat the bottom register (0.0, "", None) unless they are it.
        let r = LwwRegister::with(v, 1i64, &n);
        let mut b = LwwRegister::new();
        b.join(&r);
        prop_assert_eq!(b, r);
    }

    #[test]
    fn datum_order_is_total_and_consistent(a in datum(), b in datum(), c in datum()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        prop_assert_eq!(a == b, a.cmp(&b) == std::cmp::Ordering::Equal);
    }

    #[test]
    fn vector_clock_compare_agrees_with_join(a in vclock(), b in vclock()) {
        let mut j = a.clone();
        j.join(&b);
        let ord = a.compare(&b);
        prop_assert_eq!(ord == ClockOrdering::Equal, a == b);
        prop_assert_eq!(matches!(ord, ClockOrdering::Before | ClockOrdering::Equal), j == b);
        prop_assert_eq!(matches!(ord, ClockOrdering::After | ClockOrdering::Equal), j == a);
        prop_assert_eq!(b.compare(&a), match ord {
            ClockOrdering::Before => ClockOrdering::After,
            ClockOrdering::After => ClockOrdering::Before,
            o => o,
        });
    }
}

/// One replica of a simulated OR-Set system.
#[derive(Debug, Clone)]
enum Step {
    Add(usize, u8),
    Remove(usize, u8),
    Sync(usize, usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let op = prop_oneof![
        (0usize..3, 0u8..3).prop_map(|(r, e)| Step::Add(r, e)),
        (0usize..3, 0u8..3).prop_map(|(r, e)| Step::Remove(r, e)),
        (0usize..3, 0usize..3).prop_map(|(a, b)| Step::Sync(a, b)),
    ];
    proptest::collection::vec(op, 0..30)
}

proptest! {
    /// Three replicas with distinct ids add, remove and sync at random; after a final full sync
    /// all agree, and an element is present iff some add of it was not observed by a remove.
    #[test]
    fn or_set_replicas_converge_and_removes_stick(steps in steps()) {
        let ids = ["r0", "r1", "r2"];
        let mut reps = vec![OrSet::new(); 3];
        // Every tag ever added and every tag ever tombstoned, as the ground truth.
        let mut added: BTreeMap<u8, BTreeSet<String>> = BTreeMap::new();
        let mut removed: BTreeSet<String> = BTreeSet::new();
        for s in steps {
            match s {
                Step::Add(r, e) => {
                    let tag = reps[r].add(Datum::Int(i64::from(e)), ids[r]).unwrap();
                    added.entry(e).or_default().insert(tag);
                }
                Step::Remove(r, e) => {
                    if let Some(tags) = reps[r].live_tags().get(&Datum::Int(i64::from(e))) {
                        removed.extend(tags.iter().cloned());
                    }
                    reps[r].remove(&Datum::Int(i64::from(e)));
                }
                Step::Sync(a, b) => {
                    let from = reps[b].clone();
                    reps[a].join(&from);
                }
            }
        }
        let mut all = OrSet::new();
        for r in &reps {
            all.join(r);
        }
        for r in reps.iter_mut() {
            r.join(&all);
        }
        prop_assert!(reps.iter().all(|r| *r == all));
        let all_bytes = wire::encode(&AnyState::from(all.clone()));
        for r in &reps {
            prop_assert_eq!(wire::encode(&AnyState::from(r.clone())), all_bytes.clone());
        }
        for (e, tags) in added {
            let alive = tags.iter().any(|t| !removed.contains(t));
            prop_assert_eq!(all.contains(&Datum::Int(i64::from(e))), alive, "element {}", e);
        }
    }
}

/// One step of a gossip history: replica `at` writes, deletes, or joins another replica's state.
#[derive(Debug, Clone)]
enum GossipStep {
    Write(usize, u8, Datum),
    Delete(usize, u8),
    Join(usize, usize),
}

fn gossip_steps() -> impl Strategy<Value = Vec<GossipStep>> {
    let step = prop_oneof![
        3 => (0usize..3, 0u8..4, scalar()).prop_map(|(r, k, v)| GossipStep::Write(r, k, v)),
        1 => (0usize..3, 0u8..4).prop_map(|(r, k)| GossipStep::Delete(r, k)),
        2 => (0usize..3, 0usize..3).prop_map(|(r, s)| GossipStep::Join(r, s)),
    ];
    proptest::collection::vec(step, 0..24)
}

/// The three replicas after a history (replica i writes as node "n<i>").
fn gossip_run(steps: &[GossipStep]) -> [GossipState; 3] {
    let mut r: [GossipState; 3] = Default::default();
    for s in steps {
        match s {
            GossipStep::Write(i, k, v) => {
                r[*i].write(&format!("n{i}"), &format!("k{k}"), v.clone());
            }
            GossipStep::Delete(i, k) => {
                r[*i].delete(&format!("n{i}"), &format!("k{k}"));
            }
            GossipStep::Join(i, j) => {
                let other = r[*j].clone();
                r[*i].join(&other);
            }
        }
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The laws on states with shared, concurrent and superseded writes.
    #[test]
    fn gossip_laws(steps in gossip_steps()) {
        let [a, b, c] = gossip_run(&steps);
        let (a, b, c) = (AnyState::from(a), AnyState::from(b), AnyState::from(c));
        check_laws(&a, &b, &c, &AnyState::from(GossipState::new()))?;
    }

    /// Anti-entropy by key digests: shipping only the differing keys both ways leaves both
    /// replicas equal to their join, and a value every replica saw superseded stays gone.
    #[test]
    fn gossip_anti_entropy_reaches_the_join(steps in gossip_steps()) {
        let [mut a, mut b, _] = gossip_run(&steps);
        let mut want = a.clone();
        want.join(&b);
        let d = anti_entropy(&a.key_digests(), &b.key_digests());
        let (to_b, to_a) = (a.fragment(d.to_send()), b.fragment(d.to_fetch()));
        a.join(&to_a);
        b.join(&to_b);
        prop_assert_eq!(a.digest(), want.digest());
        prop_assert_eq!(b.digest(), want.digest());
        prop_assert_eq!(a.entries(), want.entries());
    }
}

/// One step of an agents history: replica `at` writes a fact, tags, untags, counts, posts a
/// message, or joins another replica's state.
#[derive(Debug, Clone)]
enum AgentStep {
    Fact(usize, u8, Datum, i64, u8),
    Tag(usize, u8),
    Untag(usize, u8),
    Count(usize, u8, i64),
    Message(usize, u8, i64),
    Join(usize, usize),
}

fn agent_steps() -> impl Strategy<Value = (Vec<u64>, Vec<AgentStep>)> {
    let step = prop_oneof![
        3 => (0usize..3, 0u8..4, scalar(), 0i64..6, 0u8..3).prop_map(|(r, k, v, t, c)| AgentStep::Fact(r, k, v, t, c)),
        1 => (0usize..3, 0u8..3).prop_map(|(r, t)| AgentStep::Tag(r, t)),
        1 => (0usize..3, 0u8..3).prop_map(|(r, t)| AgentStep::Untag(r, t)),
        1 => (0usize..3, 0u8..2, -3i64..4).prop_map(|(r, n, a)| AgentStep::Count(r, n, a)),
        3 => (0usize..3, 0u8..4, 0i64..5).prop_map(|(r, c, t)| AgentStep::Message(r, c, t)),
        2 => (0usize..3, 0usize..3).prop_map(|(r, s)| AgentStep::Join(r, s)),
    ];
    // Caps of 1 to 3 keep most histories at or over the cap.
    (
        proptest::collection::vec(prop_oneof![1u64..4, Just(1000)], 3),
        proptest::collection::vec(step, 0..30),
    )
}

fn agent_run(caps: &[u64], steps: &[AgentStep]) -> [AgentState; 3] {
    let mut r: [AgentState; 3] =
        [0, 1, 2].map(|i| AgentState::new(&format!("agent{i}"), caps[i]).unwrap());
    for s in steps {
        match s {
            AgentStep::Fact(i, k, v, t, c) => {
                let agent = r[*i].agent_ids().iter().next().cloned();
                r[*i]
                    .add_fact(
                        &format!("k{k}"),
                        v.clone(),
                        f64::from(*c) / 2.0,
                        Some(Timestamp::from(*t)),
                        agent.as_deref(),
                    )
                    .unwrap();
            }
            AgentStep::Tag(i, t) => {
                if r[*i].agent_ids().len() == 1 {
                    r[*i].add_tag(Datum::str(format!("t{t}"))).unwrap();
                }
            }
            AgentStep::Untag(i, t) => {
                r[*i].remove_tag(&Datum::str(format!("t{t}")));
            }
            AgentStep::Count(i, n, a) => {
                if r[*i].agent_ids().len() == 1 {
                    r[*i].increment(&format!("c{n}"), *a).unwrap();
                }
            }
            AgentStep::Message(i, c, t) => {
                if r[*i].agent_ids().len() == 1 {
                    r[*i]
                        .add_message(
                            &format!("m{c}"),
                            "user",
                            Some(Timestamp::from(*t)),
                            Datum::None,
                        )
                        .unwrap();
                }
            }
            AgentStep::Join(i, j) => {
                let other = r[*j].clone();
                r[*i].join(&other);
            }
        }
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The laws at and over the message cap, with caps that differ between replicas.
    #[test]
    fn agent_state_laws((caps, steps) in agent_steps()) {
        let [a, b, c] = agent_run(&caps, &steps);
        prop_assert!(a.messages().count() as u64 <= a.max_messages());
        let (a, b, c) = (AnyState::from(a), AnyState::from(b), AnyState::from(c));
        check_laws(&a, &b, &c, &AnyState::from(AgentState::default()))?;
    }
}

#[test]
fn agent_state_keeps_the_newest_messages_and_stamps_missing_times() {
    let mut a = AgentState::new("a", 2).unwrap();
    let mut b = AgentState::new("b", 3).unwrap();
    for t in 1..=3 {
        a.add_message(
            &format!("a{t}"),
            "user",
            Some(Timestamp::from(t)),
            Datum::None,
        )
        .unwrap();
        b.add_message(
            &format!("b{t}"),
            "user",
            Some(Timestamp::from(t + 10)),
            Datum::None,
        )
        .unwrap();
    }
    let mut ab = a.clone();
    ab.join(&b);
    let kept: Vec<&str> = ab.messages().map(|m| m.content.as_str()).collect();
    assert_eq!(kept, vec!["b2", "b3"], "min cap 2, greatest by (ts, id)");
    assert_eq!(
        ab.agent_ids().iter().cloned().collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    // A fact without a timestamp gets an HLC above every integer time the state holds.
    let mut c = AgentState::new("c", 10).unwrap();
    c.add_fact(
        "k",
        Datum::Int(1),
        1.0,
        Some(Timestamp::from(i64::MAX / 2)),
        None,
    )
    .unwrap();
    let t = c.add_fact("k", Datum::Int(2), 1.0, None, None).unwrap();
    assert!(t > Timestamp::from(i64::MAX / 2));
    assert_eq!(c.fact("k").unwrap().value, Datum::Int(2));
    // Confidence breaks the last tie, the same way on every replica.
    let mut x = AgentState::new("x", 10).unwrap();
    let mut y = x.clone();
    x.add_fact("f", Datum::Int(7), 0.2, Some(Timestamp::from(5)), None)
        .unwrap();
    y.add_fact("f", Datum::Int(7), 0.9, Some(Timestamp::from(5)), None)
        .unwrap();
    let mut xy = x.clone();
    xy.join(&y);
    let mut yx = y.clone();
    yx.join(&x);
    assert_eq!(xy, yx);
    assert_eq!(xy.fact("f").unwrap().confidence, 0.9);
    // A merged state refuses writes that need one agent.
    assert!(ab.add_tag(Datum::str("t")).is_err());
    assert!(AgentState::new("", 1).is_err() && AgentState::new("a", 0).is_err());
}
