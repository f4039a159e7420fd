//! Grow-only and positive-negative counters.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::datum::json_object;

/// Grow-only counter: each replica's cumulative count; the join keeps the per-replica maximum
/// and the value is the sum.
///
/// A zero count is the same as no entry and is not stored, so equal counters have equal bytes.
///
/// | input | effect |
/// |---|---|
/// | `observe(r, c)` with `c` ≤ the count held for `r` | none (counts are cumulative, not increments) |
/// | `observe(r, c)` with `c` greater | `r`'s count becomes `c` |
/// | `observe(r, 0)` | none |
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GCounter {
    counts: BTreeMap<String, u64>,
}

impl GCounter {
    /// The empty counter (value 0), the bottom of the lattice.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `replica`'s cumulative count is (at least) `count`; keeps the maximum.
    pub fn observe(&mut self, replica: &str, count: u64) {
        if count == 0 {
            return;
        }
        match self.counts.get_mut(replica) {
            Some(c) => *c = (*c).max(count),
            None => {
                self.counts.insert(replica.to_owned(), count);
            }
        }
    }

    /// Adds `amount` to `replica`'s count (a local increment, as the Python library's
    /// `increment`), saturating at `u64::MAX`.
    pub fn increment(&mut self, replica: &str, amount: u64) {
        let now = self.get(replica).saturating_add(amount);
        self.observe(replica, now);
    }

    /// The join: per-replica maximum.
    pub fn join(&mut self, other: &GCounter) {
        for (r, c) in &other.counts {
            self.observe(r, *c);
        }
    }

    /// The sum of all replicas' counts (a u128 cannot overflow: at most 2^64 replicas of
    /// at most 2^64 - 1 each would be needed).
    pub fn value(&self) -> u128 {
        self.counts.values().map(|c| u128::from(*c)).sum()
    }

    /// The count held for `replica` (0 if none).
    pub fn get(&self, replica: &str) -> u64 {
        self.counts.get(replica).copied().unwrap_or(0)
    }

    /// Per-replica counts in canonical (byte-wise) replica order; no zero entries.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// True when no replica has counted anything.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub(crate) fn counts_json(&self) -> Json {
        json_object(
            self.counts
                .iter()
                .map(|(k, v)| (k.clone(), Json::from(*v)))
                .collect(),
        )
    }

    /// Canonical JSON, the Python library's `to_dict()` with sorted keys:
    /// `{"counts": {replica: n}, "type": "g_counter"}`.
    pub fn to_json(&self) -> Json {
        json_object(vec![
            ("type".into(), Json::from("g_counter")),
            ("counts".into(), self.counts_json()),
        ])
    }
}

/// Positive-negative counter: two [`GCounter`]s, increments `p` and decrements `n`;
/// value = `p - n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PNCounter {
    p: GCounter,
    n: GCounter,
}

impl PNCounter {
    /// The zero counter, the bottom of the lattice.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a counter from its two halves.
    pub fn from_parts(p: GCounter, n: GCounter) -> Self {
        Self { p, n }
    }

    /// Records `replica`'s cumulative increments and/or decrements (each kept as a maximum); a
    /// `None` half is left as is.
    pub fn observe(&mut self, replica: &str, inc: Option<u64>, dec: Option<u64>) {
        if let Some(i) = inc {
            self.p.observe(replica, i);
        }
        if let Some(d) = dec {
            self.n.observe(replica, d);
        }
    }

    /// The join: each half joined on its own.
    pub fn join(&mut self, other: &PNCounter) {
        self.p.join(&other.p);
        self.n.join(&other.n);
    }

    /// Increments minus decrements (cannot overflow an i128).
    pub fn value(&self) -> i128 {
        // Each half is < 2^128 in principle but in practice < 2^64 × replicas; saturating keeps
        // this total even for absurd inputs.
        let p = i128::try_from(self.p.value()).unwrap_or(i128::MAX);
        let n = i128::try_from(self.n.value()).unwrap_or(i128::MAX);
        p - n
    }

    /// The increments half.
    pub fn positive(&self) -> &GCounter {
        &self.p
    }

    /// The decrements half.
    pub fn negative(&self) -> &GCounter {
        &self.n
    }

    /// Canonical JSON, the Python library's `to_dict()` with sorted keys:
    /// `{"neg": <g_counter>, "pos": <g_counter>, "type": "pn_counter"}`.
    pub fn to_json(&self) -> Json {
        json_object(vec![
            ("type".into(), Json::from("pn_counter")),
            ("pos".into(), self.p.to_json()),
            ("neg".into(), self.n.to_json()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcounter_keeps_per_replica_max() {
        let mut a = GCounter::new();
        a.observe("r1", 5);
        a.observe("r1", 3);
        a.observe("r2", 0);
        assert_eq!(a.value(), 5);
        assert_eq!(a.counts().len(), 1);
        let mut b = GCounter::new();
        b.observe("r1", 4);
        b.observe("r2", 7);
        a.join(&b);
        assert_eq!(a.value(), 12);
        a.increment("r2", 1);
        assert_eq!(a.get("r2"), 8);
    }

    #[test]
    fn gcounter_value_does_not_overflow() {
        let mut a = GCounter::new();
        a.observe("a", u64::MAX);
        a.observe("b", u64::MAX);
        assert_eq!(a.value(), 2 * u128::from(u64::MAX));
        assert_eq!(
            a.to_json().to_string(),
            r#"{"counts":{"a":18446744073709551615,"b":18446744073709551615},"type":"g_counter"}"#
        );
    }

    #[test]
    fn pncounter_value_and_json() {
        let mut c = PNCounter::new();
        c.observe("a", Some(10), None);
        c.observe("b", None, Some(15));
        c.observe("a", None, Some(1));
        assert_eq!(c.value(), -6);
        assert_eq!(
            c.to_json().to_string(),
            r#"{"neg":{"counts":{"a":1,"b":15},"type":"g_counter"},"pos":{"counts":{"a":10},"type":"g_counter"},"type":"pn_counter"}"#
        );
    }
}
