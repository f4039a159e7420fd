//! Vector clocks and dotted version vectors.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::datum::json_object;

/// Causal order between two clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClockOrdering {
    /// The first happened before the second (≤ everywhere, < somewhere).
    Before,
    /// The first happened after the second.
    After,
    /// Identical clocks.
    Equal,
    /// Neither dominates.
    Concurrent,
}

impl ClockOrdering {
    /// `"before"`, `"after"`, `"equal"` or `"concurrent"` (the Python library's names).
    pub fn as_str(self) -> &'static str {
        match self {
            ClockOrdering::Before => "before",
            ClockOrdering::After => "after",
            ClockOrdering::Equal => "equal",
            ClockOrdering::Concurrent => "concurrent",
        }
    }
}

/// Vector clock: a counter per node; the join is the element-wise maximum. A zero counter is the
/// same as an absent one and is not stored (as in the Python library).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct VectorClock {
    clocks: BTreeMap<String, u64>,
}

impl VectorClock {
    /// The empty clock (no events seen).
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock from `(node, counter)` pairs; zeros are dropped, a repeated node keeps its
    /// maximum.
    pub fn from_counts<I, S>(counts: I) -> Self
    where
        I: IntoIterator<Item = (S, u64)>,
        S: Into<String>,
    {
        let mut c = Self::new();
        for (n, v) in counts {
            c.observe(&n.into(), v);
        }
        c
    }

    /// Raises `node`'s counter to at least `counter`.
    pub fn observe(&mut self, node: &str, counter: u64) {
        if counter == 0 {
            return;
        }
        match self.clocks.get_mut(node) {
            Some(c) => *c = (*c).max(counter),
            None => {
                self.clocks.insert(node.to_owned(), counter);
            }
        }
    }

    /// `node`'s counter (0 when never seen).
    pub fn get(&self, node: &str) -> u64 {
        self.clocks.get(node).copied().unwrap_or(0)
    }

    /// Records one more event of `node` (saturating at `u64::MAX`).
    pub fn increment(&mut self, node: &str) {
        let next = self.get(node).saturating_add(1);
        self.observe(node, next);
    }

    /// The join: element-wise maximum.
    pub fn join(&mut self, other: &VectorClock) {
        for (n, c) in &other.clocks {
            self.observe(n, *c);
        }
    }

    /// Causal comparison of `self` with `other`.
    pub fn compare(&self, other: &VectorClock) -> ClockOrdering {
        let mut less = false;
        let mut greater = false;
        for n in self.clocks.keys().chain(other.clocks.keys()) {
            match self.get(n).cmp(&other.get(n)) {
                std::cmp::Ordering::Less => less = true,
                std::cmp::Ordering::Greater => greater = true,
                std::cmp::Ordering::Equal => {}
            }
        }
        match (less, greater) {
            (false, false) => ClockOrdering::Equal,
            (true, false) => ClockOrdering::Before,
            (false, true) => ClockOrdering::After,
            (true, true) => ClockOrdering::Concurrent,
        }
    }

    /// True when `self` has seen everything `other` has (after or equal).
    pub fn dominates(&self, other: &VectorClock) -> bool {
        matches!(
            self.compare(other),
            ClockOrdering::After | ClockOrdering::Equal
        )
    }

    /// Counters per node in canonical order; no zeros.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.clocks
    }

    pub(crate) fn counts_json(&self) -> Json {
        json_object(
            self.clocks
                .iter()
                .map(|(k, v)| (k.clone(), Json::from(*v)))
                .collect(),
        )
    }

    /// Canonical JSON, the Python library's `to_dict()` with sorted keys:
    /// `{"clocks": {node: n}, "type": "vector_clock"}`.
    pub fn to_json(&self) -> Json {
        json_object(vec![
            ("type".into(), Json::from("vector_clock")),
            ("clocks".into(), self.counts_json()),
        ])
    }
}

/// Dotted version vector: a base [`VectorClock`] plus at most one outstanding event (the dot)
/// not yet folded into it.
///
/// The join of two different DVVs folds both dots into the element-wise maximum of the bases
/// and has no dot (as the Python library's `merge`); the join of a DVV with itself is itself.
/// That makes it a semilattice (x ≤ y iff x = y, x is empty, or y has no dot and y's base
/// dominates x's effective clock), where the Python library's merge drops the dot even of `merge(x, x)`. The
/// effective clocks ([`DottedVersionVector::effective`]) always agree with the Python library.
/// The empty DVV (no counters, no dot) is the bottom: joining it returns the other side
/// unchanged, dot included. A dot with counter 0 names no event and is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DottedVersionVector {
    base: VectorClock,
    dot: Option<(String, u64)>,
}

impl DottedVersionVector {
    /// The empty DVV.
    pub fn new() -> Self {
        Self::default()
    }

    /// A DVV from its parts (a dot with counter 0 is dropped).
    pub fn from_parts(base: VectorClock, dot: Option<(String, u64)>) -> Self {
        Self {
            base,
            dot: dot.filter(|(_, c)| *c > 0),
        }
    }

    /// True for the bottom: no counters and no dot.
    pub fn is_empty(&self) -> bool {
        self.dot.is_none() && self.base.counts().is_empty()
    }

    /// The base clock.
    pub fn base(&self) -> &VectorClock {
        &self.base
    }

    /// The outstanding dot, if any.
    pub fn dot(&self) -> Option<(&str, u64)> {
        self.dot.as_ref().map(|(n, c)| (n.as_str(), *c))
    }

    /// A new event of `node`: the dot becomes `(node, base[node] + 1)`; the base is unchanged.
    pub fn advance(&mut self, node: &str) {
        let next = self.base.get(node).saturating_add(1);
        self.dot = Some((node.to_owned(), next));
    }

    /// The base with the dot folded in.
    pub fn effective(&self) -> VectorClock {
        let mut e = self.base.clone();
        if let Some((n, c)) = &self.dot {
            e.observe(n, *c);
        }
        e
    }

    /// The join (see the type's docs).
    pub fn join(&mut self, other: &DottedVersionVector) {
        if self == other || other.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = other.clone();
            return;
        }
        let mut base = self.effective();
        base.join(&other.effective());
        self.base = base;
        self.dot = None;
    }

    /// True when `self`'s effective clock dominates `other`'s (the Python library's
    /// `descends`).
    pub fn descends(&self, other: &DottedVersionVector) -> bool {
        self.effective().dominates(&other.effective())
    }

    /// Causal comparison of the effective clocks.
    pub fn compare(&self, other: &DottedVersionVector) -> ClockOrdering {
        self.effective().compare(&other.effective())
    }

    /// Canonical JSON, the Python library's `to_dict()` with sorted keys:
    /// `{"base": <vector_clock>, "dot": [node, n], "type": "dotted_version_vector"}`, without
    /// `"dot"` when there is none.
    pub fn to_json(&self) -> Json {
        let mut fields = vec![
            ("type".into(), Json::from("dotted_version_vector")),
            ("base".into(), self.base.to_json()),
        ];
        if let Some((n, c)) = &self.dot {
            fields.push((
                "dot".into(),
                Json::Array(vec![Json::from(n.as_str()), Json::from(*c)]),
            ));
        }
        json_object(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_covers_all_four_cases() {
        let a = VectorClock::from_counts([("a", 1), ("b", 2)]);
        let b = VectorClock::from_counts([("a", 2), ("b", 2)]);
        let c = VectorClock::from_counts([("a", 0), ("b", 3)]);
        assert_eq!(a.compare(&b), ClockOrdering::Before);
        assert_eq!(b.compare(&a), ClockOrdering::After);
        assert_eq!(a.compare(&a.clone()), ClockOrdering::Equal);
        assert_eq!(b.compare(&c), ClockOrdering::Concurrent);
        assert_eq!(
            VectorClock::new().compare(&VectorClock::new()),
            ClockOrdering::Equal
        );
        assert_eq!(c.counts().len(), 1);
        assert_eq!(ClockOrdering::Concurrent.as_str(), "concurrent");
    }

    #[test]
    fn dvv_advance_and_join() {
        let mut x = DottedVersionVector::from_parts(VectorClock::from_counts([("a", 1)]), None);
        x.advance("b");
        assert_eq!(x.dot(), Some(("b", 1)));
        let same = x.clone();
        x.join(&same);
        assert_eq!(x, same, "join with itself keeps the dot");
        let mut y = DottedVersionVector::new();
        y.advance("a");
        y.advance("a");
        x.join(&y);
        assert_eq!(x.dot(), None);
        assert_eq!(x.base(), &VectorClock::from_counts([("a", 1), ("b", 1)]));
        assert!(x.descends(&y));
        assert_eq!(x.compare(&same), ClockOrdering::Equal);
    }
}
