//! Where the strategies meet the state types and the wire format (crate::state, crate::wire).
//! Temporary: until those modules land, these report an internal error.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

pub(crate) fn merge_bytes(_a: &[u8], _b: &[u8]) -> Result<Vec<u8>> {
    Err(Error::internal("crdt_state_merge", "wire format not built yet"))
}

pub(crate) fn gcounter_bytes(_p: &BTreeMap<String, u64>) -> Result<Vec<u8>> {
    Err(Error::internal("crdt_gcounter", "wire format not built yet"))
}

pub(crate) fn pncounter_bytes(
    _p: &BTreeMap<String, u64>,
    _n: &BTreeMap<String, u64>,
) -> Result<Vec<u8>> {
    Err(Error::internal("crdt_pncounter", "wire format not built yet"))
}
