//! Trust policy and the trust function's output types: levels, dimensions, vectors.
//!
//! The policy is pure data and part of a trust state (it is in the state's root, and states
//! with different policies do not merge). Trust is a deterministic, monotone non-increasing
//! function of the evidence: per dimension `Trusted > Probation > Suspect > Convicted`, and
//! only a key event (the level an identity is registered at) can put a peer higher.

use std::fmt;

use crate::codec::Reader;
use crate::error::Result;
use crate::hash::contexts;

/// What a conviction does to a convicted author's deltas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every delta of a convicted author leaves the merge (the default).
    Exclude,
    /// Deltas below the first sequence number the evidence implicates, in the context of the
    /// evidence, stay admitted ("finite harm": what the author did before it misbehaved).
    Prefix,
}

impl Mode {
    /// `exclude` or `prefix`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Exclude => "exclude",
            Mode::Prefix => "prefix",
        }
    }

    /// Parses [`Mode::name`].
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "exclude" => Some(Mode::Exclude),
            "prefix" => Some(Mode::Prefix),
            _ => None,
        }
    }
}

/// A trust policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrustPolicy {
    /// What a conviction does.
    pub mode: Mode,
    /// Most signed deltas a state holds; a merge or insertion past it is refused as a whole.
    pub max_deltas: u32,
    /// Most signed state claims a state holds.
    pub max_claims: u32,
    /// The largest share (0..=1) of the total weight that contributions of identities
    /// registered on probation may carry in a weighted model rule.
    pub probation_weight_cap: f64,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        TrustPolicy {
            mode: Mode::Exclude,
            max_deltas: 1 << 20,
            max_claims: 1 << 16,
            probation_weight_cap: 0.5,
        }
    }
}

impl Eq for TrustPolicy {}

/// Encoded length of a policy.
pub(crate) const POLICY_LEN: usize = 18;

impl TrustPolicy {
    /// Bytes: version 1 | mode u8 (1 exclude, 2 prefix) | max_deltas u32 | max_claims u32 |
    /// probation_weight_cap f64 bits u64 (big-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(POLICY_LEN);
        out.push(1);
        out.push(match self.mode {
            Mode::Exclude => 1,
            Mode::Prefix => 2,
        });
        out.extend_from_slice(&self.max_deltas.to_be_bytes());
        out.extend_from_slice(&self.max_claims.to_be_bytes());
        out.extend_from_slice(&self.probation_weight_cap.to_bits().to_be_bytes());
        out
    }

    /// Its hash (`derive_key("crdt-merge e4 policy v1", bytes)`).
    pub fn hash(&self) -> [u8; 32] {
        blake3::derive_key(contexts::POLICY, &self.encode())
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<TrustPolicy> {
        let at = r.offset();
        if r.u8("policy version")? != 1 {
            return Err(r.err(at, "policy version is not 1"));
        }
        let at = r.offset();
        let mode = match r.u8("policy mode")? {
            1 => Mode::Exclude,
            2 => Mode::Prefix,
            m => {
                return Err(r.err(
                    at,
                    format!("policy mode {m} is not 1 (exclude) or 2 (prefix)"),
                ))
            }
        };
        let max_deltas = r.u32("max_deltas")?;
        let max_claims = r.u32("max_claims")?;
        let at = r.offset();
        let cap = f64::from_bits(r.u64("probation_weight_cap")?);
        if !(0.0..=1.0).contains(&cap) || cap.to_bits() == (-0.0f64).to_bits() {
            return Err(r.err(at, "probation_weight_cap must be in [0, 1]"));
        }
        Ok(TrustPolicy {
            mode,
            max_deltas,
            max_claims,
            probation_weight_cap: cap,
        })
    }
}

/// A trust level; the order is badness (`min` is the worse level).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustLevel {
    /// Proven to have misbehaved in this dimension (permanent).
    Convicted,
    /// Convicted in another dimension.
    Suspect,
    /// Registered on probation.
    Probation,
    /// Registered as trusted, no evidence.
    Trusted,
}

impl TrustLevel {
    /// The Python library's score for the level: 1.0, 0.5, 0.25, 0.0 (its probation default
    /// is 0.5; convicted is what it calls reject).
    pub fn score(self) -> f64 {
        match self {
            TrustLevel::Trusted => 1.0,
            TrustLevel::Probation => 0.5,
            TrustLevel::Suspect => 0.25,
            TrustLevel::Convicted => 0.0,
        }
    }

    /// The Python library's verification level for the score: 0 (signature only), 1, 2
    /// (full) or 3 (reject). Here every delta is always fully verified; the level is reported
    /// for users migrating from it.
    pub fn verification_level(self) -> u8 {
        match self {
            TrustLevel::Trusted => 0,
            TrustLevel::Probation => 1,
            TrustLevel::Suspect => 2,
            TrustLevel::Convicted => 3,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            TrustLevel::Trusted => "trusted",
            TrustLevel::Probation => "probation",
            TrustLevel::Suspect => "suspect",
            TrustLevel::Convicted => "convicted",
        }
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The Python library's six trust dimensions. Only the first three have objective evidence
/// (integrity: equivocation and rule violations; causality: regressions; consistency: false
/// state claims); gossip, model and context have none that a third party could check, so they
/// move only when the peer is convicted elsewhere (to `suspect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// Equivocation, contribution equivocation, rule-breaking deltas.
    Integrity,
    /// Regressions along the author's own chain.
    Causality,
    /// Conflicting or contradicted state claims.
    Consistency,
    /// No objective evidence.
    Gossip,
    /// No objective evidence (statistical outliers are not evidence).
    Model,
    /// No objective evidence.
    Context,
}

impl Dimension {
    /// Every dimension, in vector order.
    pub const ALL: [Dimension; 6] = [
        Dimension::Integrity,
        Dimension::Causality,
        Dimension::Consistency,
        Dimension::Gossip,
        Dimension::Model,
        Dimension::Context,
    ];

    /// Lower-case name (the Python library's).
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Integrity => "integrity",
            Dimension::Causality => "causality",
            Dimension::Consistency => "consistency",
            Dimension::Gossip => "gossip",
            Dimension::Model => "model",
            Dimension::Context => "context",
        }
    }
}

/// A peer's level per dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrustVector(pub [TrustLevel; 6]);

impl TrustVector {
    /// The level in one dimension.
    pub fn get(&self, d: Dimension) -> TrustLevel {
        self.0[d as usize]
    }

    /// The worst level over the dimensions.
    pub fn overall(&self) -> TrustLevel {
        self.0.iter().copied().min().expect("six dimensions")
    }

    /// Whether any dimension is convicted.
    pub fn convicted(&self) -> bool {
        self.overall() == TrustLevel::Convicted
    }

    /// `integrity=trusted causality=trusted ...`.
    pub fn describe(&self) -> String {
        Dimension::ALL
            .iter()
            .map(|d| format!("{}={}", d.name(), self.get(*d)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
