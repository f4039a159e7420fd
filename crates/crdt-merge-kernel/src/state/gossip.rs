//! The gossip store, done lawfully: keys mapped to multi-value registers whose values carry
//! dots, under a causal context per key (a dotted version vector set).
//!
//! Every write at node `n` takes a fresh dot `(n, c)` (`c` one above the greatest counter of
//! `n` the state has seen) and replaces the values its writer has seen; a write the writer has
//! not seen (a concurrent one) stays beside it. The join of two registers keeps a value when
//! both hold it or when the other side has not seen its dot:
//!
//! ```text
//! values = (A ∩ B) ∪ (A \ ctx(B)) ∪ (B \ ctx(A)),   ctx = ctx(A) ⊔ ctx(B)
//! ```
//!
//! which is commutative, associative and idempotent (the causal-CRDT dot store), so replicas
//! converge whatever order, grouping or repetition anti-entropy delivers states in. A delete
//! is a write of a tombstone value, so a delete concurrent with a write keeps both (the key
//! reads as the write) and a later write supersedes the delete.
//!
//! Differences from the Python library's `GossipState` (upstream.md §10): its `merge` takes,
//! for a key on both sides, the value with the larger `str(value)` whatever the clocks say, so
//! a causally newer write loses to a stale one (`"aaa"` written after `"zzz"` was seen still
//! loses to `"zzz"`); here the newer write wins and concurrent writes are both kept. Its node
//! id and fanout are not part of the state (they are arguments of the operations), so
//! `a.join(b) == b.join(a)`.
//!
//! Anti-entropy ships only the keys whose [`GossipState::key_digests`] differ
//! ([`anti_entropy`], [`GossipState::fragment`]): a fragment is a state holding some keys,
//! and joining it is the same join, so a lost, repeated or reordered fragment does no harm.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use super::{Datum, VectorClock};

/// A write's identity: the node that made it and that node's counter.
pub type Dot = (String, u64);

/// One value of a register: what was written, or a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    /// The value written (`None` for a delete).
    pub value: Datum,
    /// A delete.
    pub deleted: bool,
}

/// A multi-value register: the values no write has superseded, by dot, and every dot seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MvRegister {
    context: VectorClock,
    values: BTreeMap<Dot, Sibling>,
}

impl MvRegister {
    /// Every dot this register has seen (the values' dots included).
    pub fn context(&self) -> &VectorClock {
        &self.context
    }

    /// The values, in dot order.
    pub fn values(&self) -> &BTreeMap<Dot, Sibling> {
        &self.values
    }

    /// A register from decoded parts; a value's dot missing from `context` is added to it, so
    /// that every register obeys the join's invariant.
    pub fn from_parts(mut context: VectorClock, values: BTreeMap<Dot, Sibling>) -> Self {
        for (n, c) in values.keys() {
            context.observe(n, *c);
        }
        MvRegister { context, values }
    }

    fn covers(ctx: &VectorClock, dot: &Dot) -> bool {
        ctx.get(&dot.0) >= dot.1
    }

    /// The join (see the module docs). Two values under one dot can only come from forged
    /// input (a dot names one write); the greater, by (deleted, value), is kept.
    pub fn join(&mut self, other: &MvRegister) {
        let mut out = BTreeMap::new();
        for (d, s) in &self.values {
            match other.values.get(d) {
                Some(o) => {
                    let keep = if (o.deleted, &o.value) > (s.deleted, &s.value) {
                        o
                    } else {
                        s
                    };
                    out.insert(d.clone(), keep.clone());
                }
                None if !Self::covers(&other.context, d) => {
                    out.insert(d.clone(), s.clone());
                }
                None => {}
            }
        }
        for (d, s) in &other.values {
            if !self.values.contains_key(d) && !Self::covers(&self.context, d) {
                out.insert(d.clone(), s.clone());
            }
        }
        self.values = out;
        self.context.join(&other.context);
    }

    /// The live values (tombstones left out), in dot order.
    pub fn live(&self) -> Vec<&Datum> {
        self.values
            .values()
            .filter(|s| !s.deleted)
            .map(|s| &s.value)
            .collect()
    }

    pub(crate) fn to_datum(&self) -> Datum {
        let values = self
            .values
            .iter()
            .map(|((n, c), s)| {
                Datum::List(vec![
                    Datum::str(n.clone()),
                    Datum::from_u64(*c),
                    Datum::Bool(s.deleted),
                    s.value.clone(),
                ])
            })
            .collect();
        Datum::Dict(BTreeMap::from([
            (Datum::str("context"), clock_datum(&self.context)),
            (Datum::str("values"), Datum::List(values)),
        ]))
    }

    fn to_json(&self) -> Json {
        let values: Vec<Json> = self
            .values
            .iter()
            .map(|((n, c), s)| {
                json!({"node": n, "counter": c, "deleted": s.deleted, "value": s.value.to_json()})
            })
            .collect();
        json!({"context": self.context.counts_json(), "values": values})
    }
}

pub(crate) fn clock_datum(vc: &VectorClock) -> Datum {
    Datum::Dict(
        vc.counts()
            .iter()
            .map(|(n, c)| (Datum::str(n.clone()), Datum::from_u64(*c)))
            .collect(),
    )
}

/// A gossip store: keys to multi-value registers, and the greatest counter seen per node (so
/// that a node's next dot is fresh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GossipState {
    clock: VectorClock,
    entries: BTreeMap<String, MvRegister>,
}

/// What two digests say about two replicas (the Python library's `anti_entropy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Difference {
    /// Keys only the remote side has.
    pub missing_local: Vec<String>,
    /// Keys only the local side has.
    pub missing_remote: Vec<String>,
    /// Keys both have, with different registers.
    pub different: Vec<String>,
}

impl Difference {
    /// Keys the local side should send (its own and the differing ones).
    pub fn to_send(&self) -> impl Iterator<Item = &str> {
        self.missing_remote
            .iter()
            .chain(&self.different)
            .map(String::as_str)
    }

    /// Keys the local side should ask for.
    pub fn to_fetch(&self) -> impl Iterator<Item = &str> {
        self.missing_local
            .iter()
            .chain(&self.different)
            .map(String::as_str)
    }

    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        self.missing_local.is_empty() && self.missing_remote.is_empty() && self.different.is_empty()
    }
}

/// Compares two replicas by their key digests ([`GossipState::key_digests`]).
pub fn anti_entropy(
    local: &BTreeMap<String, [u8; 32]>,
    remote: &BTreeMap<String, [u8; 32]>,
) -> Difference {
    let mut d = Difference::default();
    for (k, h) in local {
        match remote.get(k) {
            None => d.missing_remote.push(k.clone()),
            Some(r) if r != h => d.different.push(k.clone()),
            Some(_) => {}
        }
    }
    d.missing_local = remote
        .keys()
        .filter(|k| !local.contains_key(*k))
        .cloned()
        .collect();
    d
}

impl GossipState {
    /// The empty store (bottom).
    pub fn new() -> Self {
        Self::default()
    }

    /// A state from decoded parts; `clock` is raised to cover every register's context.
    pub fn from_parts(mut clock: VectorClock, entries: BTreeMap<String, MvRegister>) -> Self {
        for r in entries.values() {
            clock.join(&r.context);
        }
        GossipState { clock, entries }
    }

    /// The greatest counter seen per node.
    pub fn clock(&self) -> &VectorClock {
        &self.clock
    }

    /// Every key's register (deleted keys too), in key order.
    pub fn entries(&self) -> &BTreeMap<String, MvRegister> {
        &self.entries
    }

    fn put(&mut self, node: &str, key: &str, sibling: Sibling) -> Dot {
        self.clock.increment(node);
        let dot = (node.to_string(), self.clock.get(node));
        let reg = self.entries.entry(key.to_string()).or_default();
        // The writer has seen every value it holds: the new one replaces them.
        reg.values.clear();
        reg.values.insert(dot.clone(), sibling);
        reg.context.observe(node, dot.1);
        dot
    }

    /// Writes `value` under `key` at `node`; returns the write's dot.
    pub fn write(&mut self, node: &str, key: &str, value: Datum) -> Dot {
        self.put(
            node,
            key,
            Sibling {
                value,
                deleted: false,
            },
        )
    }

    /// Deletes `key` at `node` (a tombstone write); returns its dot.
    pub fn delete(&mut self, node: &str, key: &str) -> Dot {
        self.put(
            node,
            key,
            Sibling {
                value: Datum::None,
                deleted: true,
            },
        )
    }

    /// The live values of `key`: none when it is absent or deleted, several when concurrent
    /// writes have not been superseded yet.
    pub fn get(&self, key: &str) -> Vec<&Datum> {
        self.entries
            .get(key)
            .map(MvRegister::live)
            .unwrap_or_default()
    }

    /// The join.
    pub fn join(&mut self, other: &GossipState) {
        self.clock.join(&other.clock);
        for (k, r) in &other.entries {
            match self.entries.get_mut(k) {
                Some(mine) => mine.join(r),
                None => {
                    self.entries.insert(k.clone(), r.clone());
                }
            }
        }
    }

    /// The digest of each key's register: blake3 (`derive_key("crdt-merge gossip key v1")`)
    /// of the key and the register's canonical bytes.
    pub fn key_digests(&self) -> BTreeMap<String, [u8; 32]> {
        self.entries
            .iter()
            .map(|(k, r)| (k.clone(), key_digest(k, r)))
            .collect()
    }

    /// One digest of the whole store: equal stores, equal digests (the clock is left out: it
    /// only decides the next dot).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key("crdt-merge gossip state v1");
        for (k, r) in &self.entries {
            h.update(k.as_bytes());
            h.update(&[0]);
            h.update(&key_digest(k, r));
        }
        *h.finalize().as_bytes()
    }

    /// The state holding only `keys` (and the whole clock): what anti-entropy ships.
    pub fn fragment<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> GossipState {
        let keys: BTreeSet<&str> = keys.into_iter().collect();
        GossipState {
            clock: self.clock.clone(),
            entries: self
                .entries
                .iter()
                .filter(|(k, _)| keys.contains(k.as_str()))
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect(),
        }
    }

    pub(crate) fn to_datum(&self) -> Datum {
        Datum::Dict(BTreeMap::from([
            (Datum::str("type"), Datum::str("gossip_state")),
            (Datum::str("clock"), clock_datum(&self.clock)),
            (
                Datum::str("entries"),
                Datum::Dict(
                    self.entries
                        .iter()
                        .map(|(k, r)| (Datum::str(k.clone()), r.to_datum()))
                        .collect(),
                ),
            ),
        ]))
    }

    /// Canonical JSON: `{"clock": {node: n}, "entries": {key: {"context": {...}, "values":
    /// [{"counter", "deleted", "node", "value"}]}}, "type": "gossip_state"}`.
    pub fn to_json(&self) -> Json {
        let entries: serde_json::Map<String, Json> = self
            .entries
            .iter()
            .map(|(k, r)| (k.clone(), r.to_json()))
            .collect();
        json!({"type": "gossip_state", "clock": self.clock.counts_json(), "entries": entries})
    }
}

fn key_digest(key: &str, r: &MvRegister) -> [u8; 32] {
    let mut w = crate::wire::codec_writer();
    w.datum(&Datum::str(key));
    w.datum(&r.to_datum());
    *blake3::Hasher::new_derive_key("crdt-merge gossip key v1")
        .update(&w.buf)
        .finalize()
        .as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_write_beats_a_stale_greater_value() {
        // The Python library's counterexample: "zzz" is seen, then overwritten by "aaa".
        let mut a = GossipState::new();
        a.write("n1", "k", Datum::str("zzz"));
        let mut b = a.clone();
        b.write("n2", "k", Datum::str("aaa"));
        let mut ab = a.clone();
        ab.join(&b);
        let mut ba = b.clone();
        ba.join(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.get("k"), vec![&Datum::str("aaa")]);
    }

    #[test]
    fn concurrent_writes_are_kept_and_a_later_write_supersedes_them() {
        let mut a = GossipState::new();
        let mut b = GossipState::new();
        a.write("n1", "k", Datum::Int(1));
        b.write("n2", "k", Datum::Int(2));
        a.join(&b);
        assert_eq!(a.get("k"), vec![&Datum::Int(1), &Datum::Int(2)]);
        a.write("n1", "k", Datum::Int(3));
        b.join(&a);
        assert_eq!(b.get("k"), vec![&Datum::Int(3)]);
        // A delete concurrent with a write: the key still reads as the write.
        let mut c = b.clone();
        c.delete("n3", "k");
        b.write("n2", "k", Datum::Int(4));
        c.join(&b);
        assert_eq!(c.get("k"), vec![&Datum::Int(4)]);
        c.delete("n3", "k");
        assert!(c.get("k").is_empty());
    }

    #[test]
    fn fragments_of_differing_keys_converge() {
        let mut a = GossipState::new();
        let mut b = GossipState::new();
        a.write("a", "x", Datum::Int(1));
        a.write("a", "y", Datum::Int(2));
        b.write("b", "y", Datum::Int(3));
        b.write("b", "z", Datum::Int(4));
        let d = anti_entropy(&a.key_digests(), &b.key_digests());
        assert_eq!(d.missing_remote, vec!["x"]);
        assert_eq!(d.missing_local, vec!["z"]);
        assert_eq!(d.different, vec!["y"]);
        let to_b = a.fragment(d.to_send());
        let to_a = b.fragment(d.to_fetch());
        a.join(&to_a);
        b.join(&to_b);
        assert_eq!(a.digest(), b.digest());
        assert!(anti_entropy(&a.key_digests(), &b.key_digests()).is_empty());
    }
}
