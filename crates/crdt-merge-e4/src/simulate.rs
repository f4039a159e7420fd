//! A seeded, replayable Byzantine simulator of trust-state gossip (`trust simulate` and the
//! crate's tests).
//!
//! `n` peers, `f` of them Byzantine (registered insiders), plus unregistered Sybil keys. Every
//! honest peer signs one table delta (a row of its own and a write to a shared key) and one
//! model contribution (a small vector). Each Byzantine peer mixes strategies drawn from the
//! seed:
//! - equivocation (two halves of one sequence number sent to disjoint honest peers) and a
//!   broken link in its own chain (regression);
//! - forgeries: a flipped signature bit, an honest author's name on its own signature;
//! - replays: an honest delta moved into another context, or relabelled as another kind;
//! - bad keys: PKI events registering a small-order or non-canonical key, or a Sybil key
//!   "signed" by the Byzantine peer in an admin's place;
//! - Sybil deltas (unregistered keys), framing attempts (an honest delta paired with a forged
//!   half as "evidence");
//! - clock abuse by an admitted insider (a far-future clock: not defended, the threat model
//!   says so), model poisoning (an admitted contribution of huge values and weight);
//! - resource exhaustion: lengths and counts of 2^32 − 1, truncated and mutated objects,
//!   random bytes behind a valid magic;
//! - eclipse: while any Byzantine peer plays it, one honest victim's own contacts go to
//!   Byzantine peers only for the first 2·log2 n + 4 rounds;
//! - withholding, always: a Byzantine peer never relays anything it received.
//!
//! Honest peers push-pull with `fanout` random peers per synchronous round; what a Byzantine
//! peer sends travels as bytes and is decoded (and so verified) by the receiver.
//!
//! Properties checked, counted in the [`Report`]:
//! - P1 convergence: at quiescence every honest peer has one byte-identical root and one gated
//!   table;
//! - P2 authenticity: no row a forger or Sybil wrote appears in any honest gated table;
//! - P3 detection: every honest peer holds a proof against every peer whose two halves reached
//!   the honest peers;
//! - P4 soundness: no honest peer is ever convicted;
//! - P5 refusal: a refused message leaves the receiver's state byte-identical;
//! - P6 robustness: every honest contribution is admitted at every honest peer, and the
//!   coordinate-wise median of the admitted round stays within the honest values whenever the
//!   poisoners are fewer than the honest peers (with the `model` feature).

use std::collections::BTreeMap;

use arrow_array::Array;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::codec::put_bytes32;
use crate::delta::{payload_hash, DeltaHeader, Kind, RoundParams, SignedDelta, SignedHeader};
use crate::evidence::Evidence;
use crate::gate;
use crate::hash::Context;
use crate::pki::{Genesis, KeyEventBody, Pki, RegisterLevel, SignedKeyEvent};
use crate::policy::TrustPolicy;
use crate::sig::{Alg, KeyId, PublicKey, SignKind, SigningKey};
use crate::state::{Inserted, TrustState};
use crate::table::{Cell, ColType, TablePayload};
use crate::wire::{self, Object};

/// A simulation.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Peers.
    pub n: usize,
    /// Byzantine peers among them (at most n − 2: two honest peers must remain).
    pub f: usize,
    /// The seed.
    pub seed: u64,
    /// Peers each honest peer contacts per round.
    pub fanout: usize,
    /// Rounds after which the run gives up on quiescence.
    pub max_rounds: usize,
}

impl Config {
    /// `n` peers, `f` Byzantine, fan-out 1, at most 64 + 8·log2 n + 4n rounds.
    pub fn new(n: usize, f: usize, seed: u64) -> Config {
        Config {
            n,
            f,
            seed,
            fanout: 1,
            // With f = n − 2 the two honest peers meet once in about n/2 rounds.
            max_rounds: 64 + 8 * (usize::BITS - n.leading_zeros()) as usize + 4 * n,
        }
    }
}

/// What a run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Rounds until quiescence.
    pub rounds: usize,
    /// Whether quiescence was reached within `max_rounds`.
    pub quiescent: bool,
    /// Byzantine peers that equivocated or regressed with both halves delivered.
    pub guilty: usize,
    /// Of those, how many every honest peer convicts at the end (P3 wants all).
    pub detected: usize,
    /// Honest convictions seen at any honest peer at any time (P4 wants 0).
    pub honest_convicted: usize,
    /// Rows by forgers or Sybils in honest gated tables (P2 wants 0).
    pub forged_rows: usize,
    /// Messages refused (forgeries, Sybils, framing).
    pub refused: usize,
    /// Refused messages that changed the receiver's state (P5 wants 0).
    pub refused_changed: usize,
    /// Distinct honest roots at the end (P1 wants 1).
    pub honest_roots: usize,
    /// Distinct honest gated tables at the end (P1 wants 1).
    pub honest_tables: usize,
    /// Poisoned contributions admitted at the end (valid signatures: the gate admits them; the
    /// robust rule must contain them).
    pub poisoned: usize,
    /// Honest contributions missing from an honest peer's model gate at the end (P6 wants 0).
    pub honest_contrib_missing: usize,
    /// Honest peers whose median left the honest range with poisoners in the minority (P6
    /// wants 0).
    pub robust_escaped: usize,
    /// Rounds the eclipse lasted (0: none).
    pub eclipse_rounds: usize,
    /// Per guilty peer: the first round any honest peer held a proof.
    pub t_first: Vec<usize>,
    /// Per guilty peer: the round by which every honest peer held a proof.
    pub detection: Vec<usize>,
}

impl Report {
    /// Whether P1–P5 hold.
    pub fn ok(&self) -> bool {
        self.quiescent
            && self.detected == self.guilty
            && self.honest_convicted == 0
            && self.forged_rows == 0
            && self.refused_changed == 0
            && self.honest_roots == 1
            && self.honest_tables == 1
            && self.honest_contrib_missing == 0
            && self.robust_escaped == 0
    }

    /// `key=value` counters on one line.
    pub fn describe(&self) -> String {
        format!(
            "rounds={} quiescent={} guilty={} detected={} honest_convicted={} forged_rows={} \
             refused={} refused_changed={} honest_roots={} honest_tables={} poisoned={} \
             honest_contrib_missing={} robust_escaped={} eclipse_rounds={} detection={:?}",
            self.rounds,
            self.quiescent,
            self.guilty,
            self.detected,
            self.honest_convicted,
            self.forged_rows,
            self.refused,
            self.refused_changed,
            self.honest_roots,
            self.honest_tables,
            self.poisoned,
            self.honest_contrib_missing,
            self.robust_escaped,
            self.eclipse_rounds,
            self.detection
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    Equivocate,
    Regress,
    Forge,
    Replay,
    BadKey,
    Sybil,
    Frame,
    Insider,
    Poison,
    Exhaust,
    Eclipse,
}

const STRATEGIES: [Strategy; 11] = [
    Strategy::Equivocate,
    Strategy::Regress,
    Strategy::Forge,
    Strategy::Replay,
    Strategy::BadKey,
    Strategy::Sybil,
    Strategy::Frame,
    Strategy::Insider,
    Strategy::Poison,
    Strategy::Exhaust,
    Strategy::Eclipse,
];

/// Dimensions of the simulated model contributions.
const DIM: usize = 4;

struct Byz {
    key: SigningKey,
    strategies: Vec<Strategy>,
    /// Messages sent to honest peers of one half / the other (equivocation, regression).
    half_a: Option<Vec<Vec<u8>>>,
    half_b: Option<Vec<Vec<u8>>>,
    /// Honest peers that got each half (the halves go to disjoint sets).
    got_a: Vec<bool>,
    got_b: Vec<bool>,
    /// Bytes of its valid insider chain.
    insider: Option<Vec<u8>>,
    /// Its signed poisoned contribution.
    poison: Option<Vec<u8>>,
}

fn seed_of(seed: u64, what: &str, i: usize) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("crdt-merge e4 simulator v1");
    h.update(&seed.to_be_bytes());
    h.update(what.as_bytes());
    h.update(&(i as u64).to_be_bytes());
    *h.finalize().as_bytes()
}

fn table_delta(
    ctx: Context,
    key: &SigningKey,
    author: KeyId,
    seq: u64,
    prev: [u8; 32],
    rows: &[(i64, i64, String)],
) -> SignedDelta {
    let p = TablePayload::new(
        vec![
            ("id".into(), ColType::Int64),
            ("_ts".into(), ColType::Int64),
            ("v".into(), ColType::Utf8),
        ],
        1,
        1,
        rows.iter()
            .map(|(k, ts, v)| vec![Cell::Int(*k), Cell::Int(*ts), Cell::Str(v.clone())])
            .collect(),
    )
    .expect("canonical rows");
    let bytes = p.encode();
    let (lo, hi) = p.clock_range();
    let header = DeltaHeader {
        kind: Kind::TableDelta,
        ctx,
        author,
        alg: key.alg(),
        seq,
        prev,
        hlc_min: lo,
        hlc_max: hi,
        schema: p.schema_hash(),
        payload_len: bytes.len() as u64,
        payload: payload_hash(&bytes),
        round: None,
        deps: vec![],
    };
    // Signing under another author's name is a forgery the receiver must refuse: sign the
    // header directly, bypassing the key-id check a real signer would make.
    let sig = key.sign(Kind::TableDelta.sign_kind(), &header.encode());
    SignedDelta {
        signed: SignedHeader { header, sig },
        payload: Some(bytes),
    }
}

/// `key`'s contribution `content` for round 1 of `ctx` (its first delta there).
fn contribution(ctx: Context, key: &SigningKey, content: [u8; 32], weight: f64) -> SignedDelta {
    let round = RoundParams {
        round: 1,
        rule: 0,
        f: 0,
        frac_bits: 0,
        weight,
    };
    SignedDelta::sign_contribution(key, ctx, 1, [0; 32], content, round).expect("own key")
}

/// Honest peer `i`'s vector: close to its neighbours', never equal for peers i mod 7 apart.
fn honest_vector(i: usize) -> Vec<f64> {
    (0..DIM)
        .map(|c| 1.0 + 0.01 * (i % 7) as f64 + 0.1 * c as f64)
        .collect()
}

fn state_bytes(pki: &Pki, deltas: &[&SignedDelta]) -> Vec<u8> {
    let mut s = TrustState::new(pki.clone(), TrustPolicy::default());
    for d in deltas {
        // Byzantine peers send only what verifies here (forgeries are spliced in as bytes).
        let _ = s.insert_delta((*d).clone());
    }
    s.encode()
}

/// Runs one simulation.
pub fn run(cfg: Config) -> Report {
    assert!(
        cfg.n >= 2 && cfg.f + 2 <= cfg.n,
        "need at least two honest peers"
    );
    let mut rng = ChaCha8Rng::from_seed(seed_of(cfg.seed, "rng", 0));
    let ctx = Context::new("simulator/table").expect("non-empty");
    let admin = SigningKey::from_seed(Alg::Ed25519, &seed_of(cfg.seed, "admin", 0)).expect("seed");
    let genesis = Genesis::new(1, vec![admin.public().clone()]).expect("one admin");
    let mut pki = Pki::new(genesis.clone());
    let keys: Vec<SigningKey> = (0..cfg.n)
        .map(|i| SigningKey::from_seed(Alg::Ed25519, &seed_of(cfg.seed, "peer", i)).expect("seed"))
        .collect();
    for k in &keys {
        let ev = SignedKeyEvent::sign(
            &genesis,
            KeyEventBody::Register {
                key: k.public().clone(),
                level: RegisterLevel::Trusted,
            },
            &[&admin],
        )
        .expect("admin signs");
        pki.insert(ev).expect("registers");
    }
    // Which peers are Byzantine: a seeded choice.
    let mut ids: Vec<usize> = (0..cfg.n).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let byz_ids: Vec<usize> = ids[..cfg.f].to_vec();
    let honest_ids: Vec<usize> = ids[cfg.f..].to_vec();
    let is_byz = |i: usize| byz_ids.contains(&i);
    let h = honest_ids.len();
    let mctx = Context::new("simulator/model").expect("non-empty");
    // Contribution id → vector, for the robust rule (what a peer would read from the files).
    let mut vectors: BTreeMap<[u8; 32], Vec<f64>> = BTreeMap::new();

    // Honest writes.
    let mut honest: Vec<TrustState> = Vec::with_capacity(h);
    let mut honest_deltas = Vec::with_capacity(h);
    for &i in &honest_ids {
        let k = &keys[i];
        let d = table_delta(
            ctx,
            k,
            k.id(),
            1,
            [0; 32],
            &[
                (i as i64 + 1, 100, format!("h{i}")),
                (0, 100 + i as i64, format!("h{i}")),
            ],
        );
        let mut s = TrustState::new(pki.clone(), TrustPolicy::default());
        s.insert_delta(d.clone()).expect("own delta");
        let c = contribution(mctx, k, seed_of(cfg.seed, "contribution", i), 1.0);
        vectors.insert(c.header().payload, honest_vector(i));
        s.insert_delta(c).expect("own contribution");
        honest.push(s);
        honest_deltas.push(d);
    }

    // Byzantine plans.
    let mut byz: Vec<Byz> = Vec::new();
    for (bi, &i) in byz_ids.iter().enumerate() {
        let key = keys[i].clone();
        let mut strategies: Vec<Strategy> = STRATEGIES
            .iter()
            .copied()
            .filter(|_| rng.next_u32().is_multiple_of(2))
            .collect();
        if strategies.is_empty() {
            strategies.push(STRATEGIES[(rng.next_u32() as usize) % STRATEGIES.len()]);
        }
        let mut b = Byz {
            key,
            strategies,
            half_a: None,
            half_b: None,
            got_a: vec![false; h],
            got_b: vec![false; h],
            insider: None,
            poison: None,
        };
        let id = b.key.id();
        let first = table_delta(
            ctx,
            &b.key,
            id,
            1,
            [0; 32],
            &[(0, 5_000, format!("byz{bi}"))],
        );
        if b.strategies.contains(&Strategy::Equivocate) {
            let other = table_delta(
                ctx,
                &b.key,
                id,
                1,
                [0; 32],
                &[(0, 5_000, format!("byz{bi}-other"))],
            );
            b.half_a = Some(vec![first.encode()]);
            b.half_b = Some(vec![other.encode()]);
        } else if b.strategies.contains(&Strategy::Regress) {
            // Its own chain broken: seq 2 names a predecessor that is not its seq 1.
            let later = table_delta(
                ctx,
                &b.key,
                id,
                2,
                [0x5a; 32],
                &[(0, 6_000, format!("byz{bi}-regress"))],
            );
            b.half_a = Some(vec![first.encode()]);
            // One time in four as a state (the decoder's path for whole states), else as the
            // two signed deltas.
            b.half_b = Some(if rng.next_u32().is_multiple_of(4) {
                vec![state_bytes(&pki, &[&first, &later])]
            } else {
                vec![first.encode(), later.encode()]
            });
        } else if b.strategies.contains(&Strategy::Insider) {
            // A valid, admitted writer abusing its clock (not defended: the threat model says so).
            let d = table_delta(
                ctx,
                &b.key,
                id,
                1,
                [0; 32],
                &[(0, (1 << 47) - 1, format!("byz{bi}-future"))],
            );
            b.insider = Some(state_bytes(&pki, &[&d]));
        }
        if b.strategies.contains(&Strategy::Poison) {
            // A validly signed contribution far outside the honest values, with a huge weight:
            // admitted (its signature is good), to be contained by the robust rule.
            let c = contribution(mctx, &b.key, seed_of(cfg.seed, "poison", bi), 1e12);
            let v = (0..DIM)
                .map(|d| if d % 2 == 0 { 1e9 } else { -1e9 })
                .collect();
            vectors.insert(c.header().payload, v);
            b.poison = Some(c.encode());
        }
        byz.push(b);
    }

    let mut report = Report::default();
    // Eclipse: the victim's own contacts go to Byzantine peers only, for a while (others may
    // still contact it: that is how it gets out).
    let log2n = (usize::BITS - cfg.n.leading_zeros()) as usize;
    let eclipse = byz
        .iter()
        .any(|b| b.strategies.contains(&Strategy::Eclipse));
    let victim = (rng.next_u64() % h as u64) as usize;
    report.eclipse_rounds = if eclipse { 2 * log2n + 4 } else { 0 };
    let proof_against = |s: &TrustState, who: &KeyId| s.convicted().contains(who);
    let guilty: Vec<usize> = (0..byz.len())
        .filter(|&b| byz[b].half_a.is_some())
        .collect();
    let mut first_any = vec![usize::MAX; byz.len()];
    let mut first_all = vec![usize::MAX; byz.len()];
    let honest_keys: Vec<KeyId> = honest_ids.iter().map(|&i| keys[i].id()).collect();

    let deliver = |s: &mut TrustState, bytes: &[u8], report: &mut Report| -> bool {
        let before = s.root();
        let object = bytes.get(5).copied();
        let r = if object == Some(Object::Evidence as u8) {
            Evidence::decode(bytes)
                .and_then(|e| s.insert_evidence(&e))
                .map(|i| i != Inserted::Known)
        } else if object == Some(Object::Delta as u8) {
            SignedDelta::decode(bytes)
                .and_then(|d| s.insert_delta(d))
                .map(|i| i != Inserted::Known)
        } else if object == Some(Object::Pki as u8) {
            // Key events travel as a PKI; all of it or nothing.
            Pki::decode(bytes).and_then(|p| {
                let mut t = s.clone();
                let mut changed = false;
                for ev in p.events().values() {
                    changed |= t.insert_key_event(ev.clone())?;
                }
                *s = t;
                Ok(changed)
            })
        } else {
            TrustState::decode(bytes).and_then(|o| s.merge(&o))
        };
        match r {
            Ok(changed) => changed,
            Err(_) => {
                report.refused += 1;
                if s.root() != before {
                    report.refused_changed += 1;
                }
                false
            }
        }
    };

    let mut quiet_rounds = 0;
    for round in 0..cfg.max_rounds {
        let mut changed = false;
        for hi in 0..h {
            for _ in 0..cfg.fanout {
                let j = if hi == victim && round < report.eclipse_rounds {
                    byz_ids[(rng.next_u64() % byz_ids.len() as u64) as usize]
                } else {
                    loop {
                        let j = (rng.next_u64() % cfg.n as u64) as usize;
                        if j != honest_ids[hi] {
                            break j;
                        }
                    }
                };
                if is_byz(j) {
                    let b = byz_ids.iter().position(|&x| x == j).expect("byzantine");
                    let msgs = byzantine_messages(
                        &mut byz[b],
                        hi,
                        &honest_deltas,
                        &honest_keys,
                        &pki,
                        ctx,
                        &mut rng,
                    );
                    for m in msgs {
                        changed |= deliver(&mut honest[hi], &m, &mut report);
                    }
                } else {
                    let hj = honest_ids.iter().position(|&x| x == j).expect("honest");
                    let (a, b) = if hi < hj {
                        let (l, r) = honest.split_at_mut(hj);
                        (&mut l[hi], &mut r[0])
                    } else {
                        let (l, r) = honest.split_at_mut(hi);
                        (&mut r[0], &mut l[hj])
                    };
                    // Push-pull: each takes the other's sets (honest states merge in memory;
                    // every new item is still verified).
                    // a ∪ (b ∪ a) = a ∪ b: no snapshot of b needed.
                    changed |= b.merge(a).expect("honest states merge");
                    changed |= a.merge(b).expect("honest states merge");
                }
            }
        }
        // Byzantine peers push too: each sends its halves to one random honest peer (an
        // equivocator wants both halves out, to disjoint sets).
        for b in byz.iter_mut() {
            if b.half_a.is_some() {
                let hi = (rng.next_u64() % h as u64) as usize;
                for m in halves_for(b, hi) {
                    changed |= deliver(&mut honest[hi], &m, &mut report);
                }
            }
        }
        for s in &honest {
            report.honest_convicted += s
                .convicted()
                .iter()
                .filter(|k| honest_keys.contains(k))
                .count();
        }
        for &g in &guilty {
            let who = byz[g].key.id();
            let holders = honest.iter().filter(|s| proof_against(s, &who)).count();
            if holders > 0 && first_any[g] == usize::MAX {
                first_any[g] = round;
            }
            if holders == h && first_all[g] == usize::MAX {
                first_all[g] = round;
            }
        }
        report.rounds = round + 1;
        let both_sent = guilty
            .iter()
            .all(|&g| byz[g].got_a.iter().any(|x| *x) && byz[g].got_b.iter().any(|x| *x));
        let roots_equal = honest.windows(2).all(|w| w[0].root() == w[1].root());
        if !changed && roots_equal && both_sent {
            quiet_rounds += 1;
            if quiet_rounds >= 2 {
                report.quiescent = true;
                break;
            }
        } else {
            quiet_rounds = 0;
        }
    }

    for &g in &guilty {
        let delivered = byz[g].got_a.iter().any(|x| *x) && byz[g].got_b.iter().any(|x| *x);
        if delivered {
            report.guilty += 1;
            let who = byz[g].key.id();
            if honest.iter().all(|s| proof_against(s, &who)) {
                report.detected += 1;
                report.t_first.push(first_any[g]);
                report.detection.push(first_all[g]);
            }
        }
    }
    let mut roots: Vec<[u8; 32]> = honest.iter().map(|s| s.root()).collect();
    roots.sort();
    roots.dedup();
    report.honest_roots = roots.len();
    let mut tables = Vec::new();
    for s in &honest {
        let out = gate::table(s, ctx, None).expect("honest deltas are admitted");
        let v = out.merge.batch.column_by_name("v").expect("v");
        let v = v
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .expect("utf8");
        report.forged_rows += (0..v.len())
            .filter(|&i| v.value(i).starts_with("forged") || v.value(i).starts_with("sybil"))
            .count();
        tables.push(format!("{:?}", out.merge.batch));
    }
    tables.sort();
    tables.dedup();
    report.honest_tables = tables.len();
    check_contributions(&honest, mctx, &vectors, h, &mut report);
    report
}

/// P6 at every honest peer: each honest contribution admitted; the median within the honest
/// range whenever the poisoners are fewer than the honest peers.
fn check_contributions(
    honest: &[TrustState],
    mctx: Context,
    vectors: &BTreeMap<[u8; 32], Vec<f64>>,
    h: usize,
    report: &mut Report,
) {
    for s in honest {
        let out = gate::model_contributions(s, mctx, 1);
        let admitted_honest = out
            .admitted
            .iter()
            .filter(|a| vectors.get(&a.content).is_some_and(|v| v[0].abs() < 1e6))
            .count();
        report.honest_contrib_missing += h - admitted_honest;
        let poisoned = out.admitted.len() - admitted_honest;
        report.poisoned = report.poisoned.max(poisoned);
        #[cfg(feature = "model")]
        if poisoned < admitted_honest {
            let honest_vectors: Vec<&Vec<f64>> =
                vectors.values().filter(|v| v[0].abs() < 1e6).collect();
            let (r, _) = gate::model_robust(
                s,
                mctx,
                1,
                crdt_merge_model::robust::RobustRule::Median,
                poisoned,
                vectors,
            )
            .expect("every admitted contribution has a vector");
            let inside = (0..DIM).all(|c| {
                let lo = honest_vectors
                    .iter()
                    .map(|v| v[c])
                    .fold(f64::INFINITY, f64::min);
                let hi = honest_vectors
                    .iter()
                    .map(|v| v[c])
                    .fold(f64::NEG_INFINITY, f64::max);
                (lo..=hi).contains(&r.values[c])
            });
            if !inside {
                report.robust_escaped += 1;
            }
        }
    }
}

/// The half of `b`'s equivocation (or regression) honest peer `hi` gets. Halves go to
/// disjoint honest sets: the first contact decides which half a peer gets, and it only ever
/// gets that one.
fn halves_for(b: &mut Byz, hi: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let (Some(a), Some(bb)) = (&b.half_a, &b.half_b) {
        let give_a = if b.got_a[hi] {
            true
        } else if b.got_b[hi] {
            false
        } else {
            let a_count = b.got_a.iter().filter(|x| **x).count();
            let b_count = b.got_b.iter().filter(|x| **x).count();
            a_count <= b_count
        };
        if give_a {
            b.got_a[hi] = true;
            out.extend(a.iter().cloned());
        } else {
            b.got_b[hi] = true;
            out.extend(bb.iter().cloned());
        }
    }
    out
}

/// What Byzantine peer `b` sends to honest peer `hi` when contacted.
fn byzantine_messages(
    b: &mut Byz,
    hi: usize,
    honest_deltas: &[SignedDelta],
    honest_keys: &[KeyId],
    pki: &Pki,
    ctx: Context,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<u8>> {
    let mut out = halves_for(b, hi);
    if let Some(m) = &b.insider {
        out.push(m.clone());
    }
    if let Some(m) = &b.poison {
        out.push(m.clone());
    }
    let victim = (rng.next_u64() % honest_deltas.len() as u64) as usize;
    let n_rows = 1 + (rng.next_u32() % 3) as usize;
    let rows: Vec<(i64, i64, String)> = (0..n_rows)
        .map(|r| (r as i64, 1_000_000, format!("forged-{r}")))
        .collect();
    for s in b.strategies.clone() {
        match s {
            Strategy::Forge => {
                // 1. Its own signature under an honest author's name.
                let d = table_delta(ctx, &b.key, honest_keys[victim], 1, [0; 32], &rows);
                out.push(wrap(pki, &honest_deltas[victim], &d, rng));
                // 2. An honest delta with a flipped signature bit.
                let mut f = honest_deltas[victim].clone();
                let bit = (rng.next_u32() as usize) % (f.signed.sig.len() * 8);
                f.signed.sig[bit / 8] ^= 1 << (bit % 8);
                out.push(wrap(pki, &honest_deltas[victim], &f, rng));
            }
            Strategy::Replay => {
                // An honest delta replayed into another context.
                let mut r = honest_deltas[victim].clone();
                r.signed.header.ctx = Context::new("simulator/other").expect("non-empty");
                out.push(wrap(pki, &honest_deltas[victim], &r, rng));
                // The same delta relabelled as a model contribution (cross-kind).
                let mut k = honest_deltas[victim].clone();
                k.signed.header.kind = Kind::Contribution;
                k.signed.header.round = Some(RoundParams {
                    round: 1,
                    rule: 0,
                    f: 0,
                    frac_bits: 0,
                    weight: 1.0,
                });
                out.push(k.encode());
            }
            Strategy::BadKey => out.extend(bad_keys(b, pki, ctx, &rows, rng)),
            Strategy::Exhaust => out.extend(exhaustion(pki, &honest_deltas[victim], rng)),
            Strategy::Sybil => {
                let sybil = SigningKey::from_seed(Alg::Ed25519, &{
                    let mut s = [0u8; 32];
                    rng.fill_bytes(&mut s);
                    s
                })
                .expect("seed");
                let rows: Vec<(i64, i64, String)> = rows
                    .iter()
                    .map(|(k, ts, _)| (*k, *ts, "sybil".to_string()))
                    .collect();
                let d = table_delta(ctx, &sybil, sybil.id(), 1, [0; 32], &rows);
                out.push(wrap(pki, &honest_deltas[victim], &d, rng));
            }
            Strategy::Frame => {
                // "Evidence" pairing an honest delta with a half it never signed.
                let fake = table_delta(ctx, &b.key, honest_keys[victim], 1, [0; 32], &rows);
                if let Some(e) = Evidence::equivocation(&honest_deltas[victim].signed, &fake.signed)
                {
                    out.push(e.encode());
                }
            }
            _ => {}
        }
    }
    out
}

/// A PKI object holding one Register event that `signer` signed in admin 0's place.
fn forged_pki(pki: &Pki, signer: &SigningKey, key: PublicKey) -> Vec<u8> {
    let g = pki.genesis();
    let gid = g.id();
    let body = KeyEventBody::Register {
        key,
        level: RegisterLevel::Trusted,
    };
    let sig = signer.sign(SignKind::KeyEvent, &SignedKeyEvent::body_bytes(&gid, &body));
    let ev = SignedKeyEvent {
        genesis: gid,
        body,
        sigs: BTreeMap::from([(0u8, sig)]),
    };
    let mut body = Vec::new();
    put_bytes32(&mut body, &g.encode());
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&ev.encode());
    wire::frame(Object::Pki, &body)
}

/// Bad-key attacks: registering a weak or non-canonical key, a Sybil key "admitted" by a
/// non-admin, and the weak-key forgery itself (the identity point as public key verifies
/// the signature (R = identity, s = 0) on any message under ZIP 215).
fn bad_keys(
    b: &Byz,
    pki: &Pki,
    ctx: Context,
    rows: &[(i64, i64, String)],
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<u8>> {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = match rng.next_u32() % 3 {
        0 => identity.to_vec(),
        // Order 2 (y = −1).
        1 => {
            let mut k = [0xff; 32];
            k[0] = 0xec;
            k[31] = 0x7f;
            k.to_vec()
        }
        // y = p: non-canonical.
        _ => {
            let mut k = [0xff; 32];
            k[0] = 0xed;
            k[31] = 0x7f;
            k.to_vec()
        }
    };
    let weak = PublicKey {
        alg: Alg::Ed25519,
        bytes: weak,
    };
    let sybil = SigningKey::from_seed(Alg::Ed25519, &{
        let mut s = [0u8; 32];
        rng.fill_bytes(&mut s);
        s
    })
    .expect("seed");
    let mut forged = table_delta(ctx, &b.key, weak.id(), 1, [0; 32], rows);
    let mut sig = identity.to_vec();
    sig.extend_from_slice(&[0; 32]);
    forged.signed.sig = sig;
    vec![
        forged_pki(pki, &b.key, weak),
        forged_pki(pki, &b.key, sybil.public().clone()),
        forged.encode(),
    ]
}

/// Resource-exhaustion attempts built on an honest delta: a 2^32 − 1 length, a truncation, a
/// 4-byte window of 0xff in the delta and in a state, random bytes behind a valid magic.
fn exhaustion(pki: &Pki, good: &SignedDelta, rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let bytes = good.encode();
    let mut out = Vec::new();
    let mut huge = bytes[..6].to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.extend_from_slice(&bytes[10..]);
    out.push(huge);
    let cut = 1 + (rng.next_u64() % (bytes.len() as u64 - 1)) as usize;
    out.push(bytes[..cut].to_vec());
    // A whole state costs the receiver a PKI decode: one time in four.
    let mut targets = vec![bytes.clone()];
    if rng.next_u32().is_multiple_of(4) {
        targets.push(state_bytes(pki, &[good]));
    }
    for b in targets {
        let at = 6 + (rng.next_u64() % (b.len() as u64 - 10)) as usize;
        let mut w = b.clone();
        w[at..at + 4].copy_from_slice(&[0xff; 4]);
        if w != b {
            out.push(w);
        }
    }
    let objects = [Object::Delta, Object::Pki, Object::Evidence, Object::State];
    let object = objects[(rng.next_u32() as usize) % objects.len()];
    let mut junk = vec![0u8; (rng.next_u32() % 4096) as usize];
    rng.fill_bytes(&mut junk);
    out.push(wire::frame(object, &junk));
    out
}

/// A forged delta as the bytes of a signed delta, or one time in eight spliced into a state.
fn wrap(pki: &Pki, good: &SignedDelta, bad: &SignedDelta, rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.next_u32().is_multiple_of(8) {
        splice(pki, good, bad)
    } else {
        bad.encode()
    }
}

/// A state's bytes holding `bad` where a valid state holds `good`: the receiver's decoder must
/// find the forgery (signatures are checked on decode).
fn splice(pki: &Pki, good: &SignedDelta, bad: &SignedDelta) -> Vec<u8> {
    let bytes = state_bytes(pki, &[good]);
    let mut g = Vec::new();
    good.encode_body(&mut g);
    let mut b = Vec::new();
    bad.encode_body(&mut b);
    let at = bytes
        .windows(g.len())
        .position(|w| w == g.as_slice())
        .expect("the good delta is in its state");
    let mut out = bytes[..at - 4].to_vec();
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(&b);
    out.extend_from_slice(&bytes[at + g.len()..]);
    out
}
