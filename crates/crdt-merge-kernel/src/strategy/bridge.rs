//! Where the strategies meet the state types and the wire format: counters built by the
//! aggregates leave as wire bytes, and the state functions read and join wire bytes.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::state::{AnyState, GCounter, PNCounter};
use crate::wire;

pub(crate) fn merge_state_bytes(a: &[u8], b: &[u8]) -> Result<Vec<u8>> {
    wire::merge_bytes(a, b).map_err(|e| e.in_function("crdt_state_merge"))
}

pub(crate) fn counter_value(b: &[u8]) -> Result<i64> {
    wire::counter_value(b).map_err(|e| e.in_function("crdt_counter_value"))
}

pub(crate) fn state_type_name(b: &[u8]) -> Result<&'static str> {
    wire::typeof_bytes(b).map_err(|e| e.in_function("crdt_typeof"))
}

pub(crate) fn state_to_json(b: &[u8]) -> Result<String> {
    wire::to_json_bytes(b).map_err(|e| e.in_function("crdt_to_json"))
}

pub(crate) fn gcounter_bytes(p: &BTreeMap<String, u64>) -> Result<Vec<u8>> {
    let mut g = GCounter::new();
    for (k, v) in p {
        g.observe(k, *v);
    }
    Ok(wire::encode(&AnyState::GCounter(g)))
}

pub(crate) fn pncounter_bytes(
    p: &BTreeMap<String, u64>,
    n: &BTreeMap<String, u64>,
) -> Result<Vec<u8>> {
    let mut c = PNCounter::new();
    for k in p.keys().chain(n.keys()) {
        c.observe(k, p.get(k).copied(), n.get(k).copied());
    }
    Ok(wire::encode(&AnyState::PNCounter(c)))
}
