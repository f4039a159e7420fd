//! The OR-Set of contributions: entries keyed by a tag that is a hash of the entry's fields, and
//! tombstones (a set of tags).
//!
//! Because a tag is a pure function of its entry, two replicas that add the same contribution
//! produce the same tag, and a tombstone for it survives any number of round trips (upstream
//! 0.11 tags with a process-local counter, so its removes stop propagating). The stored form is
//! normalised: an entry whose tag is tombstoned is dropped, so the state is
//! `(entries \ tombstones, tombstones)`, which is still a join-semilattice under union.

use std::collections::{BTreeMap, BTreeSet};

use crate::contribution::{hex, ContributionId};
use crate::error::{ModelError, Result};

/// An entry's tag: `blake3::derive_key("crdt-merge-model v1 tag", canonical fields)`.
pub type Tag = [u8; 32];

/// The key-derivation context of tags (changing it changes every tag).
pub const TAG_CONTEXT: &str = "crdt-merge-model v1 tag";

/// One contribution in a state.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The label (`--id` / `model_id`).
    pub label: String,
    /// The content id of the model's tensors ([`crate::contribution_id`]).
    pub content: ContributionId,
    /// Its version: a higher version wins within a label, and re-adding removed content needs one.
    pub version: u64,
    /// Its weight (finite).
    pub weight: f64,
    /// The content id of its Fisher diagonals, if supplied.
    pub fisher: Option<ContributionId>,
    /// The content id of its Gram matrices, if supplied.
    pub gram: Option<ContributionId>,
}

impl Entry {
    /// The canonical bytes the tag hashes: len(label) u64 LE ‖ label ‖ content (32) ‖ version
    /// u64 LE ‖ weight's f64 bits u64 LE ‖ fisher ‖ gram, each optional id as a byte 0, or a
    /// byte 1 followed by its 32 bytes. Length prefixes and presence bytes make the encoding
    /// injective, so distinct entries never share a tag (short of a blake3 collision).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.label.len() + 32 + 16 + 66);
        out.extend_from_slice(&(self.label.len() as u64).to_le_bytes());
        out.extend_from_slice(self.label.as_bytes());
        out.extend_from_slice(&self.content);
        out.extend_from_slice(&self.version.to_le_bytes());
        // The bits, not a decimal rendering, so -0.0 and 0.0 (or two renderings of one value)
        // can never be confused.
        out.extend_from_slice(&self.weight.to_bits().to_le_bytes());
        for blob in [&self.fisher, &self.gram] {
            match blob {
                None => out.push(0),
                Some(id) => {
                    out.push(1);
                    out.extend_from_slice(id);
                }
            }
        }
        out
    }

    /// Its tag.
    pub fn tag(&self) -> Tag {
        blake3::derive_key(TAG_CONTEXT, &self.canonical_bytes())
    }

    /// Checks the fields a user gives: a non-empty label without control characters (it is
    /// printed by `state show` and written into output metadata) and a finite weight.
    pub fn validate(&self) -> Result<()> {
        validate_label(&self.label)?;
        if !self.weight.is_finite() {
            return Err(ModelError::invalid(format!(
                "contribution `{}`: weight must be a finite number, got {}",
                self.label, self.weight
            )));
        }
        Ok(())
    }

    /// The order in which two entries under one label are resolved: highest version, then the
    /// greater content id, then the greater tag. A total order on entries, so the winner is the
    /// maximum of a set (a join) and never depends on which replica saw which entry first.
    fn rank(&self, tag: &Tag) -> (u64, ContributionId, Tag) {
        (self.version, self.content, *tag)
    }
}

/// Checks a label.
pub fn validate_label(label: &str) -> Result<()> {
    if label.is_empty() {
        return Err(ModelError::invalid(
            "a contribution label must not be empty (give one with --id)",
        ));
    }
    if label.chars().any(char::is_control) {
        return Err(ModelError::invalid(format!(
            "contribution label {label:?} contains a control character"
        )));
    }
    Ok(())
}

/// The OR-Set: entries that are not tombstoned, and the tombstones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrSet {
    entries: BTreeMap<Tag, Entry>,
    tombstones: BTreeSet<Tag>,
}

impl OrSet {
    /// An empty set.
    pub fn new() -> Self {
        OrSet::default()
    }

    /// Builds a set from stored parts (a manifest), checking each entry against its tag and
    /// dropping entries that are tombstoned (the normal form).
    pub fn from_parts(
        entries: impl IntoIterator<Item = (Tag, Entry)>,
        tombstones: impl IntoIterator<Item = Tag>,
    ) -> Result<Self> {
        let tombstones: BTreeSet<Tag> = tombstones.into_iter().collect();
        let mut map = BTreeMap::new();
        for (tag, entry) in entries {
            entry.validate()?;
            let actual = entry.tag();
            if actual != tag {
                return Err(ModelError::invalid(format!(
                    "contribution `{}`: stored tag {} does not match its fields (tag {})",
                    entry.label,
                    hex(&tag),
                    hex(&actual)
                )));
            }
            if !tombstones.contains(&tag) {
                map.insert(tag, entry);
            }
        }
        Ok(OrSet {
            entries: map,
            tombstones,
        })
    }

    /// Adds an entry; returns its tag. Adding an entry already present is a no-op; adding one
    /// whose tag is tombstoned is an error (the remove observed exactly this entry, so undoing it
    /// needs a new entry: a higher version).
    pub fn add(&mut self, entry: Entry) -> Result<Tag> {
        entry.validate()?;
        let tag = entry.tag();
        if self.tombstones.contains(&tag) {
            return Err(ModelError::invalid(format!(
                "contribution `{}` (content {}, version {}) was removed; re-adding removed content \
                 needs a higher version (--version {})",
                entry.label,
                hex(&entry.content),
                entry.version,
                entry.version.saturating_add(1)
            )));
        }
        self.entries.insert(tag, entry);
        Ok(tag)
    }

    /// Tombstones every tag seen for `label`; returns how many. An error if no entry has it.
    pub fn remove(&mut self, label: &str) -> Result<usize> {
        let tags: Vec<Tag> = self
            .entries
            .iter()
            .filter(|(_, e)| e.label == label)
            .map(|(t, _)| *t)
            .collect();
        if tags.is_empty() {
            let known = self.labels();
            return Err(ModelError::invalid(format!(
                "no live contribution is labelled `{label}`; live labels: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        for tag in &tags {
            self.entries.remove(tag);
            self.tombstones.insert(*tag);
        }
        Ok(tags.len())
    }

    /// Set union of entries and of tombstones, then the normal form.
    pub fn merge(&mut self, other: &OrSet) {
        self.tombstones.extend(other.tombstones.iter().copied());
        for (tag, entry) in &other.entries {
            self.entries.entry(*tag).or_insert_with(|| entry.clone());
        }
        let tombstones = &self.tombstones;
        self.entries.retain(|tag, _| !tombstones.contains(tag));
    }

    /// Every entry that is not tombstoned (possibly several per label), by tag.
    pub fn entries(&self) -> &BTreeMap<Tag, Entry> {
        &self.entries
    }

    /// The tombstones.
    pub fn tombstones(&self) -> &BTreeSet<Tag> {
        &self.tombstones
    }

    /// The distinct labels of the entries, sorted.
    pub fn labels(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.entries.values().map(|e| e.label.as_str()).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// One winner per label ([`Entry::rank`]), sorted by content id, then label (the order the
    /// driver merges in; the label breaks ties between one content added under two labels).
    pub fn live(&self) -> Vec<(Tag, &Entry)> {
        let mut best: BTreeMap<&str, (Tag, &Entry)> = BTreeMap::new();
        for (tag, entry) in &self.entries {
            match best.get(entry.label.as_str()) {
                Some((btag, bentry)) if bentry.rank(btag) >= entry.rank(tag) => {}
                _ => {
                    best.insert(entry.label.as_str(), (*tag, entry));
                }
            }
        }
        let mut live: Vec<(Tag, &Entry)> = best.into_values().collect();
        live.sort_by(|a, b| (a.1.content, &a.1.label).cmp(&(b.1.content, &b.1.label)));
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str, content: u8, version: u64) -> Entry {
        Entry {
            label: label.into(),
            content: [content; 32],
            version,
            weight: 1.0,
            fisher: None,
            gram: None,
        }
    }

    #[test]
    fn tag_depends_on_every_field() {
        let e = entry("a", 1, 1);
        let mut variants = vec![e.clone()];
        variants.push(Entry {
            label: "b".into(),
            ..e.clone()
        });
        variants.push(Entry {
            content: [2; 32],
            ..e.clone()
        });
        variants.push(Entry {
            version: 2,
            ..e.clone()
        });
        variants.push(Entry {
            weight: 0.5,
            ..e.clone()
        });
        variants.push(Entry {
            weight: -0.0,
            ..entry("a", 1, 1)
        });
        variants.push(Entry {
            weight: 0.0,
            ..entry("a", 1, 1)
        });
        variants.push(Entry {
            fisher: Some([0; 32]),
            ..e.clone()
        });
        variants.push(Entry {
            gram: Some([0; 32]),
            ..e.clone()
        });
        let tags: BTreeSet<Tag> = variants.iter().map(Entry::tag).collect();
        assert_eq!(tags.len(), variants.len());
        // Stable: a fixed known answer guards against accidental changes of the encoding.
        assert_eq!(e.tag(), entry("a", 1, 1).tag());
        assert_eq!(
            hex(&e.tag()),
            hex(&blake3::derive_key(TAG_CONTEXT, &{
                let mut b = 1u64.to_le_bytes().to_vec();
                b.push(b'a');
                b.extend_from_slice(&[1; 32]);
                b.extend_from_slice(&1u64.to_le_bytes());
                b.extend_from_slice(&1.0f64.to_bits().to_le_bytes());
                b.extend_from_slice(&[0, 0]);
                b
            }))
        );
    }

    #[test]
    fn label_splitting_cannot_collide() {
        // Without the length prefix, ("ab", content starting with c) and ("abc", ...) could meet.
        let a = Entry {
            label: "ab".into(),
            ..entry("x", 1, 1)
        };
        let b = Entry {
            label: "ab\u{1}".into(),
            ..entry("x", 1, 1)
        };
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn winner_is_highest_version_then_content_then_tag() {
        let mut s = OrSet::new();
        s.add(entry("a", 9, 1)).unwrap();
        s.add(entry("a", 1, 2)).unwrap();
        assert_eq!(s.live()[0].1.version, 2);
        s.add(entry("a", 5, 2)).unwrap();
        assert_eq!(s.live()[0].1.content, [5; 32]);
        let w = Entry {
            weight: 3.0,
            ..entry("a", 5, 2)
        };
        s.add(w.clone()).unwrap();
        let expect = if w.tag() > entry("a", 5, 2).tag() {
            3.0
        } else {
            1.0
        };
        assert_eq!(s.live().len(), 1);
        assert_eq!(s.live()[0].1.weight, expect);
    }

    #[test]
    fn remove_then_readd() {
        let mut s = OrSet::new();
        s.add(entry("a", 1, 1)).unwrap();
        s.add(entry("a", 2, 1)).unwrap();
        assert_eq!(s.remove("a").unwrap(), 2);
        assert!(s.live().is_empty());
        let e = s.add(entry("a", 1, 1)).unwrap_err().to_string();
        assert!(e.contains("higher version") && e.contains('a'), "{e}");
        s.add(entry("a", 1, 2)).unwrap();
        assert_eq!(s.live().len(), 1);
        let e = s.remove("zz").unwrap_err().to_string();
        assert!(e.contains("zz") && e.contains("live labels: a"), "{e}");
    }

    #[test]
    fn bad_fields_are_refused() {
        let mut s = OrSet::new();
        assert!(s.add(entry("", 1, 1)).is_err());
        assert!(s.add(entry("a\nb", 1, 1)).is_err());
        let e = s
            .add(Entry {
                weight: f64::NAN,
                ..entry("a", 1, 1)
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("weight"), "{e}");
        let t = entry("a", 1, 1).tag();
        let e = OrSet::from_parts([(t, entry("a", 1, 2))], [])
            .unwrap_err()
            .to_string();
        assert!(e.contains("tag"), "{e}");
    }
}
