//! Where the strategies meet the state types and the wire format (crate::state, crate::wire).
//! Temporary: until those modules land, these report an internal error.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

fn not_yet(f: &str) -> Error {
    Error::internal(f, "wire format not built yet")
}

pub(crate) fn merge_state_bytes(_a: &[u8], _b: &[u8]) -> Result<Vec<u8>> {
    Err(not_yet("crdt_state_merge"))
}

pub(crate) fn counter_value(_b: &[u8]) -> Result<i64> {
    Err(not_yet("crdt_counter_value"))
}

pub(crate) fn state_type_name(_b: &[u8]) -> Result<&'static str> {
    Err(not_yet("crdt_typeof"))
}

pub(crate) fn state_to_json(_b: &[u8]) -> Result<String> {
    Err(not_yet("crdt_to_json"))
}

pub(crate) fn gcounter_bytes(_p: &BTreeMap<String, u64>) -> Result<Vec<u8>> {
    Err(not_yet("crdt_gcounter"))
}

pub(crate) fn pncounter_bytes(
    _p: &BTreeMap<String, u64>,
    _n: &BTreeMap<String, u64>,
) -> Result<Vec<u8>> {
    Err(not_yet("crdt_pncounter"))
}
