//! Evidence: only what a third party holding the PKI can check, built from the accused's own
//! signatures. Each kind has one canonical orientation, so two observers of the same halves
//! build byte-identical proofs.
//!
//! | evidence | contents | dimension |
//! |---|---|---|
//! | equivocation | two signed headers, same (ctx, author, seq), different ids | integrity |
//! | contribution equivocation | two signed contributions, same (ctx, author, round), different content or round parameters | integrity |
//! | regression | two signed headers, same (ctx, author), seq_b = seq_a + 1 and prev_b ≠ id_a (the author's own chain broken) | causality |
//! | rule violation | a signed header (and the payload it hashes) breaking a [`Rule`] | integrity |
//! | conflicting claims | two signed state claims, same (ctx, author, epoch), different bodies | consistency |
//! | claim contradiction | a signed claim "my head at seq s is X" and the author's signed header at s with another id | consistency |
//!
//! Invalid signatures, unsigned accusations, withholding and future timestamps are not evidence.

use crate::codec::{hex, Reader};
use crate::delta::{payload_hash, Rule, SignedHeader, MAX_PAYLOAD};
use crate::error::{Result, TrustError};
use crate::hash::{contexts, Context};
use crate::pki::Pki;
use crate::sig::{Alg, KeyId, SignKind, SigningKey};
use crate::wire::{self, Object};

/// A signed statement of an author's state at an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateClaim {
    /// Context.
    pub ctx: Context,
    /// The claiming author.
    pub author: KeyId,
    /// Its key's algorithm.
    pub alg: Alg,
    /// The epoch claimed.
    pub epoch: u64,
    /// The author's head sequence number.
    pub head_seq: u64,
    /// The id of the author's delta at `head_seq`.
    pub head: [u8; 32],
    /// The claimed state root.
    pub root: [u8; 32],
}

impl StateClaim {
    /// Body bytes: version 1 | ctx | author | alg | epoch u64 | head_seq u64 | head | root.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1];
        out.extend_from_slice(&self.ctx.0);
        out.extend_from_slice(&self.author.0);
        out.push(self.alg.code());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.head_seq.to_be_bytes());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.root);
        out
    }

    fn read(r: &mut Reader<'_>) -> Result<StateClaim> {
        let at = r.offset();
        if r.u8("version")? != 1 {
            return Err(r.err(at, "claim version is not 1"));
        }
        let at = r.offset();
        let ctx = Context(r.array("ctx")?);
        if ctx.0 == [0; 32] {
            return Err(r.err(at, "ctx is zero"));
        }
        let author = KeyId(r.array("author")?);
        let at = r.offset();
        let a = r.u8("alg")?;
        let alg = Alg::from_code(a).ok_or_else(|| r.err(at, format!("unknown algorithm {a}")))?;
        Ok(StateClaim {
            ctx,
            author,
            alg,
            epoch: r.u64("epoch")?,
            head_seq: r.u64("head_seq")?,
            head: r.array("head")?,
            root: r.array("root")?,
        })
    }

    /// Its id.
    pub fn id(&self) -> [u8; 32] {
        blake3::derive_key(contexts::CLAIM_ID, &self.encode())
    }
}

/// A claim with its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedClaim {
    /// The claim.
    pub claim: StateClaim,
    /// The author's signature ([`SignKind::StateClaim`]).
    pub sig: Vec<u8>,
}

impl SignedClaim {
    /// Signs a claim.
    pub fn sign(claim: StateClaim, key: &SigningKey) -> SignedClaim {
        let sig = key.sign(SignKind::StateClaim, &claim.encode());
        SignedClaim { claim, sig }
    }

    /// Whether it verifies under any key the author ever had (what storage requires: a later
    /// rotation must not make a stored claim undecodable).
    pub fn verify_any_key(&self, pki: &Pki) -> bool {
        let body = self.claim.encode();
        pki.all_keys(&self.claim.author)
            .filter(|k| k.alg == self.claim.alg)
            .any(|k| k.verify(SignKind::StateClaim, &body, &self.sig))
    }

    /// Whether it verifies under the author's key for `head_seq`.
    pub fn verify(&self, pki: &Pki) -> bool {
        let body = self.claim.encode();
        pki.keys_for(&self.claim.author, self.claim.head_seq.max(1))
            .iter()
            .filter(|k| k.alg == self.claim.alg)
            .any(|k| k.verify(SignKind::StateClaim, &body, &self.sig))
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.claim.encode());
        out.extend_from_slice(&self.sig);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<SignedClaim> {
        let claim = StateClaim::read(r)?;
        let sig = r.take(claim.alg.signature_len(), "claim sig")?.to_vec();
        Ok(SignedClaim { claim, sig })
    }

    /// Wire object `state claim`.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        self.encode_into(&mut body);
        wire::frame(Object::Claim, &body)
    }

    /// Decodes [`SignedClaim::encode`].
    ///
    /// # Errors
    /// Non-canonical bytes, with the offset.
    pub fn decode(bytes: &[u8]) -> Result<SignedClaim> {
        let mut r = Reader::new("state claim", bytes);
        wire::read_magic(&mut r, Object::Claim)?;
        let c = SignedClaim::read(&mut r)?;
        r.finish()?;
        Ok(c)
    }
}

/// One piece of evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Same (ctx, author, seq), different ids; `a.id < b.id`.
    Equivocation {
        /// The smaller-id half.
        a: SignedHeader,
        /// The larger-id half.
        b: SignedHeader,
    },
    /// Same (ctx, author, round), different contribution ids; `a.id < b.id`.
    ContributionEquivocation {
        /// The smaller-id half.
        a: SignedHeader,
        /// The larger-id half.
        b: SignedHeader,
    },
    /// The author's own chain goes backwards; `a.seq < b.seq`.
    Regression {
        /// The earlier delta.
        a: SignedHeader,
        /// The later delta.
        b: SignedHeader,
    },
    /// A signed delta breaking a deterministic rule.
    RuleViolation {
        /// The rule.
        rule: Rule,
        /// The signed header.
        delta: SignedHeader,
        /// The payload (for payload rules).
        payload: Option<Vec<u8>>,
    },
    /// Two claims for one (ctx, author, epoch); `a.id < b.id`.
    ConflictingClaims {
        /// The smaller-id claim.
        a: SignedClaim,
        /// The larger-id claim.
        b: SignedClaim,
    },
    /// A claim whose head differs from the author's signed delta at that sequence number.
    ClaimContradiction {
        /// The claim.
        claim: SignedClaim,
        /// The delta.
        delta: SignedHeader,
    },
}

/// The trust dimension a piece of evidence lowers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EvidenceClass {
    /// Equivocation and rule violations.
    Integrity,
    /// Clock regression and chain breaks.
    Causality,
    /// False state claims.
    Consistency,
}

fn same_params(x: &crate::delta::RoundParams, y: &crate::delta::RoundParams) -> bool {
    x.rule == y.rule
        && x.f == y.f
        && x.frac_bits == y.frac_bits
        && x.weight.to_bits() == y.weight.to_bits()
}

fn ordered(a: &SignedHeader, b: &SignedHeader) -> bool {
    a.header.id() < b.header.id()
}

impl Evidence {
    /// Builds an equivocation proof from two halves in either order; `None` unless they are
    /// one (ctx, author, seq) with different ids.
    pub fn equivocation(x: &SignedHeader, y: &SignedHeader) -> Option<Evidence> {
        let (hx, hy) = (&x.header, &y.header);
        if hx.ctx != hy.ctx || hx.author != hy.author || hx.seq != hy.seq || hx.id() == hy.id() {
            return None;
        }
        let (a, b) = if ordered(x, y) { (x, y) } else { (y, x) };
        Some(Evidence::Equivocation {
            a: a.clone(),
            b: b.clone(),
        })
    }

    /// A contribution-equivocation proof, or `None`.
    pub fn contribution_equivocation(x: &SignedHeader, y: &SignedHeader) -> Option<Evidence> {
        let (hx, hy) = (&x.header, &y.header);
        let (Some(rx), Some(ry)) = (&hx.round, &hy.round) else {
            return None;
        };
        // Two different contributions for one round: other content, or the same content
        // with other round parameters (a changed weight is a different vote).
        if hx.ctx != hy.ctx
            || hx.author != hy.author
            || rx.round != ry.round
            || (hx.payload == hy.payload && same_params(rx, ry))
        {
            return None;
        }
        let (a, b) = if ordered(x, y) { (x, y) } else { (y, x) };
        Some(Evidence::ContributionEquivocation {
            a: a.clone(),
            b: b.clone(),
        })
    }

    /// A regression proof from two headers in either order, or `None`.
    pub fn regression(x: &SignedHeader, y: &SignedHeader) -> Option<Evidence> {
        let (a, b) = if x.header.seq < y.header.seq {
            (x, y)
        } else {
            (y, x)
        };
        let (ha, hb) = (&a.header, &b.header);
        if ha.ctx != hb.ctx || ha.author != hb.author || ha.seq >= hb.seq {
            return None;
        }
        // Only the chain link is objective. Clock ranges are the rows' own clocks (user data:
        // an honest writer may sign older rows later, or a contribution with no clock at
        // all), so a clock that goes backwards proves nothing and is never evidence.
        let chain = hb.seq == ha.seq + 1 && hb.prev != ha.id().0;
        chain.then(|| Evidence::Regression {
            a: a.clone(),
            b: b.clone(),
        })
    }

    /// The accused author.
    pub fn accused(&self) -> KeyId {
        match self {
            Evidence::Equivocation { a, .. }
            | Evidence::ContributionEquivocation { a, .. }
            | Evidence::Regression { a, .. }
            | Evidence::RuleViolation { delta: a, .. } => a.header.author,
            Evidence::ConflictingClaims { a, .. } => a.claim.author,
            Evidence::ClaimContradiction { claim, .. } => claim.claim.author,
        }
    }

    /// The context it happened in.
    pub fn ctx(&self) -> Context {
        match self {
            Evidence::Equivocation { a, .. }
            | Evidence::ContributionEquivocation { a, .. }
            | Evidence::Regression { a, .. }
            | Evidence::RuleViolation { delta: a, .. } => a.header.ctx,
            Evidence::ConflictingClaims { a, .. } => a.claim.ctx,
            Evidence::ClaimContradiction { claim, .. } => claim.claim.ctx,
        }
    }

    /// The dimension it lowers.
    pub fn class(&self) -> EvidenceClass {
        match self {
            Evidence::Equivocation { .. }
            | Evidence::ContributionEquivocation { .. }
            | Evidence::RuleViolation { .. } => EvidenceClass::Integrity,
            Evidence::Regression { .. } => EvidenceClass::Causality,
            Evidence::ConflictingClaims { .. } | Evidence::ClaimContradiction { .. } => {
                EvidenceClass::Consistency
            }
        }
    }

    /// The first sequence number it implicates (for the `prefix` policy: deltas below it stay
    /// admitted). Claims implicate from their head sequence number.
    pub fn first_seq(&self) -> u64 {
        match self {
            Evidence::Equivocation { a, .. } | Evidence::RuleViolation { delta: a, .. } => {
                a.header.seq
            }
            Evidence::ContributionEquivocation { a, b } => a.header.seq.min(b.header.seq),
            Evidence::Regression { b, .. } => b.header.seq,
            // The claimed head numbers are the author's own choice: they cannot bound harm.
            Evidence::ConflictingClaims { .. } => 1,
            Evidence::ClaimContradiction { claim, delta } => {
                claim.claim.head_seq.min(delta.header.seq)
            }
        }
    }

    /// The slot the evidence fills: one proof per (accused, class, ctx, sequence/round/epoch)
    /// is kept (the smallest id), which caps the k(k−1)/2 proofs k halves could make.
    pub fn slot(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key(contexts::EVIDENCE_ID);
        h.update(b"slot");
        h.update(&self.accused().0);
        h.update(&self.ctx().0);
        let (ty, n) = match self {
            Evidence::Equivocation { a, .. } => (1u8, a.header.seq),
            Evidence::ContributionEquivocation { a, .. } => {
                (2, a.header.round.map_or(0, |r| r.round))
            }
            Evidence::Regression { b, .. } => (3, b.header.seq),
            Evidence::RuleViolation { delta, .. } => (4, delta.header.seq),
            Evidence::ConflictingClaims { a, .. } => (5, a.claim.epoch),
            Evidence::ClaimContradiction { claim, .. } => (6, claim.claim.head_seq),
        };
        h.update(&[ty]);
        h.update(&n.to_be_bytes());
        EvidenceSlot(*h.finalize().as_bytes()).0
    }

    /// Checks the evidence: both signatures under the PKI's keys for the sequence numbers
    /// involved and the contradiction itself. A missing key means the check fails.
    ///
    /// # Errors
    /// Names what does not hold.
    pub fn verify(&self, pki: &Pki) -> Result<()> {
        let bad = |m: &str| Err(TrustError::Refused(format!("evidence: {m}")));
        // A revoked sequence number proves nothing about the identity: its key may be the
        // stolen one the revocation was for (framing after revocation).
        let sigs = |hs: &[&SignedHeader]| {
            hs.iter()
                .all(|h| h.verify(pki) && !pki.revoked(&h.header.author, h.header.seq))
        };
        let claim_ok = |c: &SignedClaim| {
            c.verify(pki) && !pki.revoked(&c.claim.author, c.claim.head_seq.max(1))
        };
        match self {
            Evidence::Equivocation { a, b } => {
                if Evidence::equivocation(a, b).as_ref() != Some(self) {
                    return bad("not an equivocation in canonical orientation");
                }
                if !sigs(&[a, b]) {
                    return bad("a half does not verify");
                }
            }
            Evidence::ContributionEquivocation { a, b } => {
                if Evidence::contribution_equivocation(a, b).as_ref() != Some(self) {
                    return bad("not a contribution equivocation in canonical orientation");
                }
                if !sigs(&[a, b]) {
                    return bad("a half does not verify");
                }
            }
            Evidence::Regression { a, b } => {
                if Evidence::regression(a, b).as_ref() != Some(self) {
                    return bad("not a regression in canonical orientation");
                }
                if !sigs(&[a, b]) {
                    return bad("a half does not verify");
                }
            }
            Evidence::RuleViolation {
                rule,
                delta,
                payload,
            } => {
                if !sigs(&[delta]) {
                    return bad("the delta does not verify");
                }
                let broken = match (rule.needs_payload(), payload) {
                    (false, None) => delta.header.broken_rules().contains(rule),
                    (true, Some(p)) => {
                        payload_hash(p) == delta.header.payload
                            && crate::table::payload_rules(&delta.header, p).contains(rule)
                    }
                    _ => false,
                };
                if !broken {
                    return bad("the rule is not broken");
                }
            }
            Evidence::ConflictingClaims { a, b } => {
                let (ca, cb) = (&a.claim, &b.claim);
                if ca.ctx != cb.ctx
                    || ca.author != cb.author
                    || ca.epoch != cb.epoch
                    || ca.id() >= cb.id()
                {
                    return bad("not two claims for one epoch in canonical orientation");
                }
                if !claim_ok(a) || !claim_ok(b) {
                    return bad("a claim does not verify");
                }
            }
            Evidence::ClaimContradiction { claim, delta } => {
                let (c, h) = (&claim.claim, &delta.header);
                if c.ctx != h.ctx
                    || c.author != h.author
                    || c.head_seq != h.seq
                    || c.head == h.id().0
                {
                    return bad("the claim does not contradict the delta");
                }
                if !claim_ok(claim) || !sigs(&[delta]) {
                    return bad("a signature does not verify");
                }
            }
        }
        Ok(())
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Evidence::Equivocation { a, b }
            | Evidence::ContributionEquivocation { a, b }
            | Evidence::Regression { a, b } => {
                out.push(match self {
                    Evidence::Equivocation { .. } => 1,
                    Evidence::ContributionEquivocation { .. } => 2,
                    _ => 3,
                });
                a.encode_into(&mut out);
                b.encode_into(&mut out);
            }
            Evidence::RuleViolation {
                rule,
                delta,
                payload,
            } => {
                out.push(4);
                out.push(rule.code());
                delta.encode_into(&mut out);
                match payload {
                    None => out.push(0),
                    Some(p) => {
                        out.push(1);
                        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
                        out.extend_from_slice(p);
                    }
                }
            }
            Evidence::ConflictingClaims { a, b } => {
                out.push(5);
                a.encode_into(&mut out);
                b.encode_into(&mut out);
            }
            Evidence::ClaimContradiction { claim, delta } => {
                out.push(6);
                claim.encode_into(&mut out);
                delta.encode_into(&mut out);
            }
        }
        out
    }

    /// Its id: `derive_key("crdt-merge e4 evidence v1", body)`.
    pub fn id(&self) -> [u8; 32] {
        blake3::derive_key(contexts::EVIDENCE_ID, &self.body())
    }

    /// Wire object `evidence`: type u8 | fields (see `docs/wire-format.md`).
    pub fn encode(&self) -> Vec<u8> {
        wire::frame(Object::Evidence, &self.body())
    }

    /// Length-prefixed body (u32 BE), as evidence sits inside other objects.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let b = self.body();
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&b);
    }

    /// Decodes [`Evidence::encode`] (the `evidence` fuzz target). Canonical orientation is
    /// part of the encoding; signatures are checked by [`Evidence::verify`].
    ///
    /// # Errors
    /// Non-canonical bytes, with the offset.
    pub fn decode(bytes: &[u8]) -> Result<Evidence> {
        let mut r = Reader::new("evidence", bytes);
        wire::read_magic(&mut r, Object::Evidence)?;
        let e = Evidence::read_body(&mut r)?;
        r.finish()?;
        Ok(e)
    }

    #[allow(dead_code)]
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Evidence> {
        let at = r.offset() + 4;
        let b = r.bytes32("evidence", 1 << 31)?;
        let mut br = Reader::new("evidence", b);
        let e = Evidence::read_body(&mut br).and_then(|e| br.finish().map(|_| e));
        e.map_err(|e| match e {
            TrustError::Decode { offset, reason, .. } => r.err(at + offset, reason),
            e => e,
        })
    }

    fn read_body(r: &mut Reader<'_>) -> Result<Evidence> {
        let at = r.offset();
        let ty = r.u8("evidence type")?;
        let e = match ty {
            1..=3 => {
                let a = SignedHeader::read(r)?;
                let b = SignedHeader::read(r)?;
                let e = match ty {
                    1 => Evidence::equivocation(&a, &b),
                    2 => Evidence::contribution_equivocation(&a, &b),
                    _ => Evidence::regression(&a, &b),
                };
                match e {
                    Some(
                        e @ (Evidence::Equivocation { .. }
                        | Evidence::ContributionEquivocation { .. }
                        | Evidence::Regression { .. }),
                    ) if e.halves() == Some((&a, &b)) => e,
                    _ => {
                        return Err(r.err(
                            at,
                            "the two halves do not form this evidence in canonical orientation",
                        ))
                    }
                }
            }
            4 => {
                let rat = r.offset();
                let c = r.u8("rule")?;
                let rule =
                    Rule::from_code(c).ok_or_else(|| r.err(rat, format!("unknown rule {c}")))?;
                let delta = SignedHeader::read(r)?;
                let pat = r.offset();
                let payload = if r.bool("has_payload")? {
                    let n = r.u64("payload length")?;
                    if n > MAX_PAYLOAD {
                        return Err(r.err(pat, "payload too large"));
                    }
                    Some(r.take(n as usize, "payload")?.to_vec())
                } else {
                    None
                };
                if rule.needs_payload() != payload.is_some() {
                    return Err(r.err(pat, "payload present exactly when the rule needs it"));
                }
                Evidence::RuleViolation {
                    rule,
                    delta,
                    payload,
                }
            }
            5 => {
                let a = SignedClaim::read(r)?;
                let b = SignedClaim::read(r)?;
                if a.claim.id() >= b.claim.id() {
                    return Err(r.err(at, "claims not in canonical (id) order"));
                }
                Evidence::ConflictingClaims { a, b }
            }
            6 => Evidence::ClaimContradiction {
                claim: SignedClaim::read(r)?,
                delta: SignedHeader::read(r)?,
            },
            t => return Err(r.err(at, format!("unknown evidence type {t}"))),
        };
        Ok(e)
    }

    fn halves(&self) -> Option<(&SignedHeader, &SignedHeader)> {
        match self {
            Evidence::Equivocation { a, b }
            | Evidence::ContributionEquivocation { a, b }
            | Evidence::Regression { a, b } => Some((a, b)),
            _ => None,
        }
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        let kind = match self {
            Evidence::Equivocation { .. } => "equivocation",
            Evidence::ContributionEquivocation { .. } => "contribution equivocation",
            Evidence::Regression { .. } => "regression",
            Evidence::RuleViolation { .. } => "rule violation",
            Evidence::ConflictingClaims { .. } => "conflicting claims",
            Evidence::ClaimContradiction { .. } => "claim contradiction",
        };
        format!(
            "{kind} by {} from seq {} (evidence {})",
            self.accused(),
            self.first_seq(),
            &hex(&self.id())[..16]
        )
    }
}

struct EvidenceSlot([u8; 32]);
