//! Last-writer-wins register.

use std::cmp::Ordering;

use serde_json::Value as Json;

use super::datum::{json_object, Datum, Timestamp};

/// Last-writer-wins register: one value with the timestamp and replica (node) id of its write.
///
/// The join keeps the greater write under the order
///
/// | rank | key | order |
/// |---|---|---|
/// | 1 | `timestamp` | numeric ([`Timestamp`]) |
/// | 2 | `node_id` | UTF-8 bytes (as the Python library's `str >`) |
/// | 3 | `value` | [`Datum`]'s canonical order |
///
/// The third rank is ours: the Python library keeps its own value when timestamp and node id
/// tie, which makes its merge depend on argument order. A `None` value is an ordinary written
/// value here (the register stores what was written; the SQL `crdt_lww` aggregate is where
/// NULL means "no write").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LwwRegister {
    value: Datum,
    timestamp: Timestamp,
    node_id: String,
}

impl Default for LwwRegister {
    fn default() -> Self {
        Self {
            value: Datum::None,
            timestamp: Timestamp::Float(f64::NEG_INFINITY),
            node_id: String::new(),
        }
    }
}

impl LwwRegister {
    /// The bottom register: value `None`, timestamp `-inf`, node id `""`, below every write.
    ///
    /// The Python library's `LWWRegister()` has timestamp `0.0` instead, which a write with a
    /// negative timestamp would lose to; such a register decodes as written (it is an ordinary
    /// write of `None` at `0.0`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A register holding one write.
    pub fn with(value: Datum, timestamp: impl Into<Timestamp>, node_id: &str) -> Self {
        Self {
            value,
            timestamp: timestamp.into().normalized(),
            node_id: node_id.to_owned(),
        }
    }

    /// Applies a write: the register becomes the join of itself and the write, so an older
    /// write than the one held is ignored.
    pub fn set(&mut self, value: Datum, timestamp: impl Into<Timestamp>, node_id: &str) {
        self.join(&LwwRegister::with(value, timestamp, node_id));
    }

    /// The join: keeps the greater of the two writes (see the type's order table).
    pub fn join(&mut self, other: &LwwRegister) {
        if other.write_cmp(self) == Ordering::Greater {
            *self = other.clone();
        }
    }

    fn write_cmp(&self, other: &LwwRegister) -> Ordering {
        self.timestamp
            .cmp(&other.timestamp)
            .then_with(|| self.node_id.as_bytes().cmp(other.node_id.as_bytes()))
            .then_with(|| self.value.cmp(&other.value))
    }

    /// The current value.
    pub fn value(&self) -> &Datum {
        &self.value
    }

    /// The timestamp of the current value.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The replica id that wrote the current value.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Canonical JSON, the Python library's `to_dict()` with sorted keys:
    /// `{"node_id": .., "timestamp": .., "type": "lww_register", "value": ..}` (the value as
    /// [`Datum::to_json`] renders it).
    pub fn to_json(&self) -> Json {
        json_object(vec![
            ("node_id".into(), Json::from(self.node_id.as_str())),
            ("timestamp".into(), self.timestamp.to_json()),
            ("type".into(), Json::from("lww_register")),
            ("value".into(), self.value.to_json()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_timestamp_then_node_then_value_wins() {
        let mut a = LwwRegister::with(Datum::str("x"), 5i64, "n1");
        a.join(&LwwRegister::with(Datum::str("old"), 4.5, "n9"));
        assert_eq!(a.value(), &Datum::str("x"));
        a.join(&LwwRegister::with(Datum::str("y"), 5i64, "n2"));
        assert_eq!(a.value(), &Datum::str("y"));
        // Same timestamp and node: the greater value wins, whatever the argument order.
        let mut b = LwwRegister::with(Datum::str("a"), 5i64, "n2");
        b.join(&a);
        assert_eq!(b.value(), &Datum::str("y"));
        let mut c = a.clone();
        c.join(&LwwRegister::with(Datum::str("a"), 5i64, "n2"));
        assert_eq!(b, c);
    }

    #[test]
    fn set_ignores_older_writes() {
        let mut r = LwwRegister::new();
        r.set(Datum::Int(1), 10i64, "a");
        r.set(Datum::Int(2), 9i64, "a");
        assert_eq!(r.value(), &Datum::Int(1));
        assert_eq!(
            r.to_json().to_string(),
            r#"{"node_id":"a","timestamp":10,"type":"lww_register","value":1}"#
        );
    }
}
