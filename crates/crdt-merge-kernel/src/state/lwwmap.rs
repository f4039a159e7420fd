//! Last-writer-wins map with delete tombstones.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::datum::{json_object, Datum, Timestamp};
use super::register::LwwRegister;

/// Last-writer-wins map: text keys, each an [`LwwRegister`], plus a delete timestamp per
/// deleted key.
///
/// The join joins registers per key and keeps the latest delete per key. A key is visible when
/// its register's timestamp is strictly greater than its delete timestamp: on equal clocks the
/// delete wins (as in the Python library). Tombstones are kept, so a later merge cannot
/// resurrect a deleted key with an older write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LwwMap {
    registers: BTreeMap<String, LwwRegister>,
    tombstones: BTreeMap<String, Timestamp>,
}

impl LwwMap {
    /// The empty map, the bottom of the lattice.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `key` (joined with any write already held for it).
    pub fn set(&mut self, key: &str, value: Datum, timestamp: impl Into<Timestamp>, node_id: &str) {
        self.set_register(key, LwwRegister::with(value, timestamp, node_id));
    }

    /// Joins `register` into the register held for `key`.
    pub fn set_register(&mut self, key: &str, register: LwwRegister) {
        match self.registers.get_mut(key) {
            Some(r) => r.join(&register),
            None => {
                self.registers.insert(key.to_owned(), register);
            }
        }
    }

    /// Deletes `key` as of `timestamp` (the latest delete per key is kept).
    pub fn delete(&mut self, key: &str, timestamp: impl Into<Timestamp>) {
        let ts = timestamp.into().normalized();
        match self.tombstones.get_mut(key) {
            Some(t) => *t = (*t).max(ts),
            None => {
                self.tombstones.insert(key.to_owned(), ts);
            }
        }
    }

    /// The join: registers per key, latest delete per key.
    pub fn join(&mut self, other: &LwwMap) {
        for (k, r) in &other.registers {
            self.set_register(k, r.clone());
        }
        for (k, t) in &other.tombstones {
            self.delete(k, *t);
        }
    }

    /// The visible value of `key`, if it is set and not deleted.
    pub fn get(&self, key: &str) -> Option<&Datum> {
        let r = self.registers.get(key)?;
        match self.tombstones.get(key) {
            Some(t) if r.timestamp() <= *t => None,
            _ => Some(r.value()),
        }
    }

    /// Visible entries in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Datum)> {
        self.registers
            .keys()
            .filter_map(|k| self.get(k).map(|v| (k.as_str(), v)))
    }

    /// All registers, visible or not.
    pub fn registers(&self) -> &BTreeMap<String, LwwRegister> {
        &self.registers
    }

    /// Delete timestamps per key.
    pub fn tombstones(&self) -> &BTreeMap<String, Timestamp> {
        &self.tombstones
    }

    /// Canonical JSON, the Python library's `to_dict()` with sorted keys:
    /// `{"registers": {k: <lww_register>}, "tombstones": {k: ts}, "type": "lww_map"}`.
    pub fn to_json(&self) -> Json {
        json_object(vec![
            ("type".into(), Json::from("lww_map")),
            (
                "registers".into(),
                json_object(
                    self.registers
                        .iter()
                        .map(|(k, r)| (k.clone(), r.to_json()))
                        .collect(),
                ),
            ),
            (
                "tombstones".into(),
                json_object(
                    self.tombstones
                        .iter()
                        .map(|(k, t)| (k.clone(), t.to_json()))
                        .collect(),
                ),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_wins_on_equal_clock_and_newer_write_revives() {
        let mut m = LwwMap::new();
        m.set("k", Datum::Int(1), 5i64, "a");
        m.delete("k", 5i64);
        assert_eq!(m.get("k"), None);
        let mut other = LwwMap::new();
        other.set("k", Datum::Int(2), 6i64, "b");
        m.join(&other);
        assert_eq!(m.get("k"), Some(&Datum::Int(2)));
        // An older write from a third replica cannot resurrect anything.
        let mut old = LwwMap::new();
        old.set("j", Datum::Int(0), 1i64, "c");
        old.delete("j", 2i64);
        m.join(&old);
        assert_eq!(m.get("j"), None);
        assert_eq!(m.entries().count(), 1);
    }
}
