//! `MergeState`, the CRDT of contributions.
//!
//! A state is a header that every replica must agree on (strategy, every resolved parameter,
//! seed, base id) plus an OR-Set of contributions ([`orset`]). Merging two states is set union of
//! entries and tombstones, so it is commutative, associative and idempotent; states whose headers
//! differ do not merge (an error naming the field). Resolving is a pure function of the set:
//! [`MergeState::live`] gives one winner per label, sorted by content id, which is the order the
//! driver merges in, so any order, grouping or number of round trips gives the same tensors.
//!
//! On disk ([`dir::StateDir`]) a state is `manifest.json` (canonical JSON, [`manifest`]) plus
//! content-addressed safetensors blobs.

use std::collections::BTreeSet;

use crate::contribution::{hex, ContributionId};
use crate::error::{ModelError, Result};
use crate::params::{ParamValue, Params};
use crate::strategy::{self, BaseRule};

pub mod dir;
pub mod manifest;
pub mod orset;

pub use dir::StateDir;
pub use manifest::Manifest;
pub use orset::{Entry, OrSet, Tag};

/// Parameters that take a function in the Python API; a state (data only, shared between
/// machines) cannot hold them.
pub const CALLABLE_PARAMS: &[&str] = &["fitness_fn", "eval_fn"];

/// The CRDT of contributions.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeState {
    strategy: String,
    params: Params,
    seed: u64,
    base: Option<ContributionId>,
    set: OrSet,
}

impl MergeState {
    /// A new empty state. `params` are checked against the strategy and filled with its defaults,
    /// so the state records every resolved value; unknown strategies and parameters, callable
    /// parameters and a missing base for a base-requiring strategy are errors.
    pub fn new(
        strategy: &str,
        params: &[(String, ParamValue)],
        seed: u64,
        base: Option<ContributionId>,
    ) -> Result<Self> {
        let spec = strategy::lookup(strategy)?;
        for (name, _) in params {
            if CALLABLE_PARAMS.contains(&name.as_str()) {
                return Err(ModelError::param(
                    strategy,
                    name,
                    "takes a function, which exists only in the Python API; a state holds data \
                     only and cannot store it",
                ));
            }
            if name == "weight" {
                return Err(ModelError::param(
                    strategy,
                    name,
                    "is per contribution in a state: give it with `state add ... --weight W`",
                ));
            }
        }
        if spec.base == BaseRule::Required && base.is_none() {
            return Err(ModelError::invalid(format!(
                "strategy `{strategy}` needs a base model (--base)"
            )));
        }
        let params = spec.resolve(params, None)?;
        Ok(MergeState {
            strategy: strategy.to_string(),
            params,
            seed,
            base,
            set: OrSet::new(),
        })
    }

    /// Rebuilds a state from stored parts (a manifest), with the same checks as [`Self::new`].
    pub(crate) fn from_parts(
        strategy: &str,
        params: &[(String, ParamValue)],
        seed: u64,
        base: Option<ContributionId>,
        set: OrSet,
    ) -> Result<Self> {
        let mut state = MergeState::new(strategy, params, seed, base)?;
        state.set = set;
        Ok(state)
    }

    /// The strategy name.
    pub fn strategy(&self) -> &str {
        &self.strategy
    }

    /// Every resolved parameter.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The seed for random strategies.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The base model's content id.
    pub fn base(&self) -> Option<&ContributionId> {
        self.base.as_ref()
    }

    /// The OR-Set.
    pub fn set(&self) -> &OrSet {
        &self.set
    }

    /// Adds a contribution; returns its tag. See [`OrSet::add`]; also refused: content that is
    /// live under another label (a merge takes each model once, so the resolve would fail).
    pub fn add(&mut self, entry: Entry) -> Result<Tag> {
        if let Some(other) = self
            .live()
            .into_iter()
            .find(|e| e.content == entry.content && e.label != entry.label)
        {
            return Err(ModelError::invalid(format!(
                "contribution `{}` has the same content (id {}) as the live contribution `{}`; \
                 a merge takes each model once",
                entry.label,
                hex(&entry.content),
                other.label
            )));
        }
        self.set.add(entry)
    }

    /// An error if two live contributions have the same content (possible after merging states
    /// that added one model under two labels): the driver takes each model once.
    pub fn check_distinct_content(&self) -> Result<()> {
        let live = self.live();
        // `live` is sorted by content id, so equal contents are neighbours.
        for w in live.windows(2) {
            if w[0].content == w[1].content {
                return Err(ModelError::invalid(format!(
                    "contributions `{}` and `{}` have the same content (id {}); remove one \
                     (`state remove DIR LABEL`) before resolving",
                    w[0].label,
                    w[1].label,
                    hex(&w[0].content)
                )));
            }
        }
        Ok(())
    }

    /// Tombstones every tag seen for `label`; returns how many. See [`OrSet::remove`].
    pub fn remove(&mut self, label: &str) -> Result<usize> {
        self.set.remove(label)
    }

    /// Checks that `other` has the same header (strategy, every parameter value, seed, base);
    /// the error names the first field that differs.
    pub fn check_compatible(&self, other: &MergeState) -> Result<()> {
        let differs = |field: &str, here: String, there: String| {
            Err(ModelError::invalid(format!(
                "cannot merge states: {field} differs ({here} here, {there} in the other state)"
            )))
        };
        if self.strategy != other.strategy {
            return differs(
                "strategy",
                format!("`{}`", self.strategy),
                format!("`{}`", other.strategy),
            );
        }
        let names: BTreeSet<&String> = self
            .params
            .values
            .keys()
            .chain(other.params.values.keys())
            .collect();
        for name in names {
            let (a, b) = (self.params.get(name), other.params.get(name));
            if a != b {
                let show = |v: Option<&ParamValue>| v.map_or("unset".to_string(), |v| v.render());
                return differs(&format!("parameter `{name}`"), show(a), show(b));
            }
        }
        if self.seed != other.seed {
            return differs("seed", self.seed.to_string(), other.seed.to_string());
        }
        if self.base != other.base {
            let show = |b: &Option<ContributionId>| b.as_ref().map_or("no base".to_string(), hex);
            return differs("base", show(&self.base), show(&other.base));
        }
        Ok(())
    }

    /// Merges `other` into `self`: set union of entries and tombstones. `self` is unchanged on
    /// error.
    pub fn merge(&mut self, other: &MergeState) -> Result<()> {
        self.check_compatible(other)?;
        self.set.merge(&other.set);
        Ok(())
    }

    /// The merge of `self` and `other` as a new state.
    pub fn merged(&self, other: &MergeState) -> Result<MergeState> {
        let mut out = self.clone();
        out.merge(other)?;
        Ok(out)
    }

    /// One winner per label (highest version, then greater content id, then greater tag),
    /// sorted by content id: the contributions a resolve merges, in the order it merges them.
    pub fn live(&self) -> Vec<&Entry> {
        self.set.live().into_iter().map(|(_, e)| e).collect()
    }

    /// The canonical manifest bytes ([`Manifest::encode`]).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        Manifest::encode(self)
    }

    /// blake3 of the canonical manifest (strategy, parameters, seed, base id, entries,
    /// tombstones), as 64 lower-case hex characters.
    pub fn state_hash(&self) -> String {
        blake3::hash(&self.canonical_bytes()).to_hex().to_string()
    }

    /// A human summary for `state show`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "strategy: {}", self.strategy);
        if self.params.values.is_empty() {
            let _ = writeln!(s, "parameters: none");
        } else {
            let _ = writeln!(s, "parameters:");
            for (k, v) in &self.params.values {
                let _ = writeln!(s, "  {k} = {}", v.render());
            }
        }
        let _ = writeln!(s, "seed: {}", self.seed);
        let _ = writeln!(
            s,
            "base: {}",
            self.base.as_ref().map_or("none".to_string(), hex)
        );
        let live = self.live();
        let _ = writeln!(s, "live contributions: {}", live.len());
        for e in &live {
            let _ = write!(
                s,
                "  {}  version {}  weight {}  id {}",
                e.label,
                e.version,
                e.weight,
                hex(&e.content)
            );
            if let Some(f) = &e.fisher {
                let _ = write!(s, "  fisher {}", hex(f));
            }
            if let Some(g) = &e.gram {
                let _ = write!(s, "  gram {}", hex(g));
            }
            s.push('\n');
        }
        let shadowed = self.set.entries().len() - live.len();
        if shadowed > 0 {
            let _ = writeln!(
                s,
                "superseded entries (lower version under a live label): {shadowed}"
            );
        }
        let _ = writeln!(s, "tombstones: {}", self.set.tombstones().len());
        let _ = writeln!(s, "state hash: {}", self.state_hash());
        s
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
    fn init_checks_the_strategy_and_parameters() {
        let e = MergeState::new("nope", &[], 0, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("linear"), "{e}");
        let e = MergeState::new(
            "weight_average",
            &[("fitness_fn".into(), ParamValue::Text("f".into()))],
            0,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fitness_fn"), "{e}");
        let e = MergeState::new(
            "weight_average",
            &[("eval_fn".into(), ParamValue::Text("f".into()))],
            0,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("eval_fn"), "{e}");
        let e = MergeState::new(
            "weight_average",
            &[("bogus".into(), ParamValue::Num(1.0))],
            0,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = MergeState::new(
            "linear",
            &[("weight".into(), ParamValue::Num(1.0))],
            0,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("weight") && e.contains("--weight"), "{e}");
    }

    #[test]
    fn merge_names_the_differing_field() {
        let a = MergeState::new("weight_average", &[], 0, None).unwrap();
        let b = MergeState::new("linear", &[], 0, None).unwrap();
        let e = a.merged(&b).unwrap_err().to_string();
        assert!(e.contains("strategy"), "{e}");
        let c = MergeState::new("weight_average", &[], 7, None).unwrap();
        let e = a.merged(&c).unwrap_err().to_string();
        assert!(e.contains("seed") && e.contains('7'), "{e}");
        let d = MergeState::new("weight_average", &[], 0, Some([3; 32])).unwrap();
        let e = a.merged(&d).unwrap_err().to_string();
        assert!(e.contains("base") && e.contains("0303"), "{e}");
        let mut p = a.clone();
        p.params.set("density", ParamValue::Num(0.5));
        let e = a.merged(&p).unwrap_err().to_string();
        assert!(e.contains("parameter `density`"), "{e}");
    }

    #[test]
    fn state_hash_is_64_hex_and_tracks_content() {
        let mut a = MergeState::new("weight_average", &[], 0, None).unwrap();
        let h0 = a.state_hash();
        assert_eq!(h0.len(), 64);
        assert!(h0.bytes().all(|b| b.is_ascii_hexdigit()));
        a.add(entry("x", 1, 1)).unwrap();
        let h1 = a.state_hash();
        assert_ne!(h0, h1);
        a.remove("x").unwrap();
        assert_ne!(a.state_hash(), h0, "a tombstone is part of the state");
        let s = a.summary();
        assert!(
            s.contains("tombstones: 1") && s.contains(&a.state_hash()),
            "{s}"
        );
    }
}
