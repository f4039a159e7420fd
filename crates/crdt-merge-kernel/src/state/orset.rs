//! Observed-remove set with tombstones.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::datum::{json_object, Datum};
use crate::error::{Error, Result};

/// Observed-remove set (add wins over a concurrent remove; a remove is never undone by
/// merging with a replica that only saw the add).
///
/// Each add creates a tag `"<replica>:<n>"`, where `n` counts that replica's adds (1, 2, ...),
/// so tags are deterministic, unique as long as replica ids are, and survive serialisation. A
/// remove moves every tag it observed for the element to the tombstones; the join is
///
/// ```text
/// live  = (live_a ∪ live_b) \ (tombstones_a ∪ tombstones_b)
/// tombs =  tombstones_a ∪ tombstones_b
/// ```
///
/// so a tag, once tombstoned anywhere, is dead everywhere. An element is present while it has a
/// live tag; an add concurrent with a remove has a tag the remove did not observe, so it wins.
///
/// Elements are hashable [`Datum`]s (not lists, sets or dicts), as in the Python library.
/// Tombstones grow without bound; collecting them needs causal stability, which is out of
/// scope here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrSet {
    live: BTreeMap<Datum, BTreeSet<String>>,
    tombstones: BTreeMap<Datum, BTreeSet<String>>,
}

/// Splits a tag of the form `"<replica>:<n>"`.
fn parse_tag(tag: &str) -> Option<(&str, u64)> {
    let (replica, n) = tag.rsplit_once(':')?;
    // Leading zeros or signs would let two strings name the same counter.
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) || !n.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((replica, n.parse().ok()?))
}

impl OrSet {
    /// The empty set, the bottom of the lattice.
    pub fn new() -> Self {
        Self::default()
    }

    fn check_element(element: &Datum) -> Result<()> {
        if element.is_hashable() {
            Ok(())
        } else {
            Err(Error::type_mismatch(
                "crdt_or_set",
                "element",
                "a scalar (null, bool, number, text or bytes)",
                element.kind_name(),
            ))
        }
    }

    /// Adds `element` on behalf of `replica` and returns the new tag.
    ///
    /// # Errors
    /// A list, set or dict element (the Python library cannot hold one either).
    pub fn add(&mut self, element: Datum, replica: &str) -> Result<String> {
        Self::check_element(&element)?;
        let n = self.last_counter(replica).saturating_add(1);
        let tag = format!("{replica}:{n}");
        self.live.entry(element).or_default().insert(tag.clone());
        Ok(tag)
    }

    /// Highest add counter issued by `replica` and seen here (live or tombstoned).
    fn last_counter(&self, replica: &str) -> u64 {
        self.live
            .values()
            .chain(self.tombstones.values())
            .flatten()
            .filter_map(|t| parse_tag(t))
            .filter(|(r, _)| *r == replica)
            .map(|(_, n)| n)
            .max()
            .unwrap_or(0)
    }

    /// Removes `element`: tombstones every tag observed for it here. Returns whether it was
    /// present.
    pub fn remove(&mut self, element: &Datum) -> bool {
        match self.live.remove(element) {
            Some(tags) => {
                self.tombstones
                    .entry(element.clone())
                    .or_default()
                    .extend(tags);
                true
            }
            None => false,
        }
    }

    /// Inserts raw tags (used by decoders); tags already tombstoned stay dead.
    pub fn insert_tags(
        &mut self,
        element: Datum,
        live: impl IntoIterator<Item = String>,
        tombstoned: impl IntoIterator<Item = String>,
    ) -> Result<()> {
        Self::check_element(&element)?;
        let dead: BTreeSet<String> = tombstoned.into_iter().collect();
        if !dead.is_empty() {
            self.tombstones
                .entry(element.clone())
                .or_default()
                .extend(dead);
        }
        let tombs = self.tombstones.get(&element);
        let alive: BTreeSet<String> = live
            .into_iter()
            .filter(|t| !tombs.is_some_and(|d| d.contains(t)))
            .collect();
        if let Some(existing) = self.live.get_mut(&element) {
            if let Some(d) = tombs {
                existing.retain(|t| !d.contains(t));
            }
            existing.extend(alive);
            if existing.is_empty() {
                self.live.remove(&element);
            }
        } else if !alive.is_empty() {
            self.live.insert(element, alive);
        }
        Ok(())
    }

    /// The join (see the type's docs).
    pub fn join(&mut self, other: &OrSet) {
        for (e, dead) in &other.tombstones {
            self.tombstones
                .entry(e.clone())
                .or_default()
                .extend(dead.iter().cloned());
        }
        for (e, tags) in &other.live {
            self.live
                .entry(e.clone())
                .or_default()
                .extend(tags.iter().cloned());
        }
        let tombstones = &self.tombstones;
        self.live.retain(|e, tags| {
            if let Some(dead) = tombstones.get(e) {
                tags.retain(|t| !dead.contains(t));
            }
            !tags.is_empty()
        });
    }

    /// True when `element` has a live tag.
    pub fn contains(&self, element: &Datum) -> bool {
        self.live.contains_key(element)
    }

    /// The present elements, in canonical order.
    pub fn elements(&self) -> impl Iterator<Item = &Datum> {
        self.live.keys()
    }

    /// Number of present elements.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// True when no element is present.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Live tags per present element.
    pub fn live_tags(&self) -> &BTreeMap<Datum, BTreeSet<String>> {
        &self.live
    }

    /// Tombstoned tags per element.
    pub fn tombstones(&self) -> &BTreeMap<Datum, BTreeSet<String>> {
        &self.tombstones
    }

    /// Canonical JSON, the Python library's `to_dict()` with sorted keys:
    /// `{"element_types": {key: type}, "elements": {key: [tag]}, "tombstones": {key: [tag]},
    /// "type": "or_set"}`. Keys are the elements' Python `str()` forms (`42`, `2.5`, `True`,
    /// `None`); `"element_types"` names the Python type of each non-text element and is left
    /// out when there is none, and so is `"tombstones"` (ours) when empty. As in Python, two
    /// elements with the same text form (the int 1 and the text "1") share a key here; the
    /// wire bytes keep them apart.
    pub fn to_json(&self) -> Json {
        let mut types = Vec::new();
        let mut tag_map = |m: &BTreeMap<Datum, BTreeSet<String>>| {
            json_object(
                m.iter()
                    .map(|(e, tags)| {
                        let (key, type_name) = e.python_str();
                        if let Some(t) = type_name {
                            types.push((key.clone(), Json::from(t)));
                        }
                        let tags = tags.iter().map(|t| Json::from(t.as_str())).collect();
                        (key, Json::Array(tags))
                    })
                    .collect(),
            )
        };
        let mut fields = vec![
            ("type".into(), Json::from("or_set")),
            ("elements".into(), tag_map(&self.live)),
        ];
        if !self.tombstones.is_empty() {
            fields.push(("tombstones".into(), tag_map(&self.tombstones)));
        }
        if !types.is_empty() {
            types.sort_by(|a, b| a.0.cmp(&b.0));
            types.dedup_by(|a, b| a.0 == b.0);
            fields.push(("element_types".into(), json_object(types)));
        }
        json_object(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_deterministic_per_replica() {
        let mut s = OrSet::new();
        assert_eq!(s.add(Datum::str("x"), "r1").unwrap(), "r1:1");
        assert_eq!(s.add(Datum::str("y"), "r1").unwrap(), "r1:2");
        assert_eq!(s.add(Datum::str("x"), "r2").unwrap(), "r2:1");
        s.remove(&Datum::str("x"));
        // Counters keep counting past tombstoned tags, so a re-add gets a fresh tag.
        assert_eq!(s.add(Datum::str("x"), "r1").unwrap(), "r1:3");
        assert!(s.add(Datum::List(vec![]), "r1").is_err());
    }

    #[test]
    fn remove_is_not_undone_by_a_replica_that_saw_the_add() {
        let mut a = OrSet::new();
        a.add(Datum::str("x"), "a").unwrap();
        let b = a.clone();
        a.remove(&Datum::str("x"));
        let mut m = a.clone();
        m.join(&b);
        assert!(!m.contains(&Datum::str("x")));
        let mut m2 = b.clone();
        m2.join(&a);
        assert_eq!(m, m2);
    }

    #[test]
    fn concurrent_add_wins_over_remove() {
        let mut a = OrSet::new();
        a.add(Datum::str("x"), "a").unwrap();
        let mut b = a.clone();
        a.remove(&Datum::str("x"));
        b.add(Datum::str("x"), "b").unwrap();
        a.join(&b);
        assert!(a.contains(&Datum::str("x")));
        assert_eq!(a.live_tags()[&Datum::str("x")].len(), 1);
    }

    #[test]
    fn tag_parsing() {
        assert_eq!(parse_tag("a:b:12"), Some(("a:b", 12)));
        assert_eq!(parse_tag("a:012"), None);
        assert_eq!(parse_tag("a:"), None);
        assert_eq!(parse_tag("66f33cb59e7a"), None);
    }
}
