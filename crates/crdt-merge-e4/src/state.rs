//! `TrustState`: trust as a CRDT of verifiable evidence.
//!
//! The state is a PKI (a grow-only set of admin-signed key events), a grow-only set of signed
//! deltas (by id; the byte-wise smallest valid signature is kept, since ML-DSA signatures are
//! randomised), a grow-only set of signed state claims, and a policy. Merge is set union, so it
//! is commutative, associative and idempotent; it is all or nothing (one item that does not
//! verify, or a cap exceeded, refuses the whole merge and leaves the state unchanged).
//!
//! Evidence is not stored: it is a pure function of the sets. Whenever both halves of an
//! equivocation (or a regression, a rule-breaking delta, a false claim) are in the state, the
//! state derives the proof itself, in the evidence's canonical orientation and with one proof
//! per slot (the smallest halves), so every honest replica holding the same sets holds the same
//! proofs and the same root, however the halves reached it. Evidence received from a peer is
//! verified and absorbed as its halves. Trust per peer and dimension is a deterministic,
//! monotone non-increasing function of that evidence and the PKI; it admits or excludes, and
//! never enters LWW order or tie-breaks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::codec::{hex, shift, Reader};
use crate::delta::{DeltaId, Kind, Rule, SignedDelta, SignedHeader};
use crate::error::{Result, TrustError};
use crate::evidence::{Evidence, EvidenceClass, SignedClaim};
use crate::hash::{contexts, Context};
use crate::pki::{Pki, RegisterLevel};
use crate::policy::{Mode, TrustLevel, TrustPolicy, TrustVector, POLICY_LEN};
use crate::sig::KeyId;
use crate::table::DecodedTable;
use crate::wire::{self, Object, TRUST_STATE_TAG};

/// Why a stored delta is or is not admitted into merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Admission {
    /// It goes into merges.
    Admitted,
    /// Its signature verifies only under a key the author no longer signs that number with
    /// (a rotated-out key).
    WrongKey,
    /// The PKI revokes the author from this sequence number on.
    Revoked,
    /// The author is convicted (under `prefix`: at or below this sequence number).
    Convicted,
    /// A predecessor along the author's own chain (`prev`) is missing.
    ChainGap,
    /// It breaks a deterministic rule.
    RuleBroken(Rule),
    /// A table delta whose payload has not arrived (only its header travelled).
    PayloadMissing,
}

impl Admission {
    /// A short reason for reports.
    pub fn describe(&self) -> String {
        match self {
            Admission::Admitted => "admitted".into(),
            Admission::WrongKey => "signed with a key rotated out for this sequence number".into(),
            Admission::Revoked => "author revoked from this sequence number".into(),
            Admission::Convicted => "author convicted".into(),
            Admission::ChainGap => "a predecessor in the author's chain is missing".into(),
            Admission::RuleBroken(r) => format!("breaks rule {r:?}"),
            Admission::PayloadMissing => "payload not received".into(),
        }
    }
}

/// What the evidence says about one author.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Conviction {
    classes: BTreeSet<EvidenceClass>,
    /// Per context, the smallest sequence number any evidence implicates.
    first_seq: BTreeMap<Context, u64>,
}

/// The derived part of a state (a pure function of the sets; rebuilt after each change).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Derived {
    /// Evidence by id.
    evidence: BTreeMap<[u8; 32], Evidence>,
    convictions: BTreeMap<KeyId, Conviction>,
    /// Deltas whose own chain reaches seq 1 through valid headers.
    chained: BTreeSet<DeltaId>,
    /// The root.
    root: [u8; 32],
}

/// Per-delta results of pure functions, kept between derivations (a delta's rules and leaf
/// hash depend on its bytes only; its validity on its bytes and the PKI, so a PKI change
/// clears it).
#[derive(Clone, Debug, Default)]
struct Memo {
    rule: BTreeMap<DeltaId, Option<Rule>>,
    /// Table payloads decoded by [`TrustState::insert_deltas`] (which checks their rules with
    /// the same decode), for the gate's merge; a payload is fixed by its id's signed hash.
    table: BTreeMap<DeltaId, Arc<DecodedTable>>,
    valid: BTreeMap<DeltaId, bool>,
    leaf: BTreeMap<DeltaId, [u8; 32]>,
    pki_hash: Option<[u8; 32]>,
}

/// The trust state CRDT.
#[derive(Clone, Debug)]
pub struct TrustState {
    pki: Pki,
    policy: TrustPolicy,
    deltas: BTreeMap<DeltaId, SignedDelta>,
    claims: BTreeMap<[u8; 32], SignedClaim>,
    derived: Derived,
    memo: Memo,
}

/// States are equal when their sets and policy are (everything else derives from them).
impl PartialEq for TrustState {
    fn eq(&self, other: &Self) -> bool {
        self.pki == other.pki
            && self.policy == other.policy
            && self.deltas == other.deltas
            && self.claims == other.claims
    }
}

impl Eq for TrustState {}

/// What one insertion changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// The item is new.
    New,
    /// Known already; a smaller signature or the missing payload was taken.
    Updated,
    /// Known already, nothing changed.
    Known,
}

impl TrustState {
    /// An empty state over `pki` under `policy`.
    pub fn new(pki: Pki, policy: TrustPolicy) -> TrustState {
        let mut s = TrustState {
            pki,
            policy,
            deltas: BTreeMap::new(),
            claims: BTreeMap::new(),
            derived: Derived::default(),
            memo: Memo::default(),
        };
        s.derive();
        s
    }

    /// The PKI.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The policy.
    pub fn policy(&self) -> &TrustPolicy {
        &self.policy
    }

    /// Signed deltas by id.
    pub fn deltas(&self) -> &BTreeMap<DeltaId, SignedDelta> {
        &self.deltas
    }

    /// Signed claims by id.
    pub fn claims(&self) -> &BTreeMap<[u8; 32], SignedClaim> {
        &self.claims
    }

    /// The evidence the state proves, by evidence id.
    pub fn evidence(&self) -> &BTreeMap<[u8; 32], Evidence> {
        &self.derived.evidence
    }

    /// Adds a signed delta that verifies under some key the PKI ever gave its author.
    ///
    /// # Errors
    /// A delta that does not verify (a forgery, an unknown author, another kind's signature),
    /// or the cap on deltas; the state is unchanged.
    pub fn insert_delta(&mut self, d: SignedDelta) -> Result<Inserted> {
        let r = self.put_delta(d, false)?;
        if r != Inserted::Known {
            self.derive();
        }
        Ok(r)
    }

    /// Adds many deltas, deriving once: one result per delta, in order (a refused delta is
    /// left out, the others go in). Table payloads are decoded here, once, and their rows kept
    /// (as Arrow, about the payload's size again) for [`crate::gate::table`].
    pub fn insert_deltas(
        &mut self,
        ds: impl IntoIterator<Item = SignedDelta>,
    ) -> Vec<Result<Inserted>> {
        let ds: Vec<SignedDelta> = ds.into_iter().collect();
        // The costly work on all cores (a signature check is tens of microseconds, so worth
        // threads from a few dozen deltas, or from a few MB of payloads): payload hash,
        // signature, and for a table payload one full decode that both checks its rules and
        // keeps its rows for the gate's merge (a scan now and a decode there would parse the
        // bytes twice). Then the deltas go in, in order.
        let bytes: usize = ds
            .iter()
            .map(|d| d.payload.as_ref().map_or(0, Vec::len))
            .sum();
        type Prepared = Option<(Option<Rule>, Option<Arc<DecodedTable>>)>;
        let prepared = crate::par::map(
            &ds,
            ds.len() >= 32 || bytes >= 1 << 22,
            |d| -> Result<Prepared> {
                self.check_new(d)?;
                let id = d.id();
                let p: Prepared = match &d.payload {
                    Some(p)
                        if d.header().kind == Kind::TableDelta
                            && !self.memo.table.contains_key(&id) =>
                    {
                        let (payload, table) = crate::table::payload_rules_decoded(d.header(), p);
                        let mut rules = d.signed.header.broken_rules();
                        rules.extend(payload);
                        Some((rules.into_iter().min(), table.map(Arc::new)))
                    }
                    _ => None,
                };
                Ok(p)
            },
        );
        let out: Vec<Result<Inserted>> = ds
            .into_iter()
            .zip(prepared)
            .map(|(d, pre)| {
                let pre = pre?;
                let id = d.id();
                let r = self.put_delta(d, true)?;
                if let Some((rule, table)) = pre {
                    self.memo.rule.insert(id, rule);
                    if let Some(t) = table {
                        self.memo.table.insert(id, t);
                    }
                }
                Ok(r)
            })
            .collect();
        if out
            .iter()
            .any(|r| matches!(r, Ok(i) if *i != Inserted::Known))
        {
            self.derive();
        }
        out
    }

    /// [`TrustState::insert_deltas`] from encoded deltas (files, network messages): each is
    /// decoded (on all cores for large inputs) and its payload hashed once, by the insertion's
    /// check, not also by the decoder. One result per item, in order; bytes that do not decode
    /// are that item's error.
    pub fn insert_encoded<B: AsRef<[u8]> + Sync>(&mut self, items: &[B]) -> Vec<Result<Inserted>> {
        let bytes: usize = items.iter().map(|b| b.as_ref().len()).sum();
        let decoded = crate::par::map(items, bytes >= 1 << 22, |b| {
            SignedDelta::decode_unhashed(b.as_ref())
        });
        let mut slots: Vec<Option<Result<Inserted>>> = Vec::with_capacity(items.len());
        let mut good = Vec::new();
        for d in decoded {
            match d {
                Ok(d) => {
                    good.push(d);
                    slots.push(None);
                }
                Err(e) => slots.push(Some(Err(e))),
            }
        }
        let mut inserted = self.insert_deltas(good).into_iter();
        slots
            .into_iter()
            .map(|s| s.unwrap_or_else(|| inserted.next().expect("one result per decoded delta")))
            .collect()
    }

    /// The checks a delta passes before it goes in: its payload (the fields are public: one
    /// attached by hand must be the signed one; a wrong length with the right hash is the
    /// author's own rule violation, kept) and its signature under the PKI.
    fn check_new(&self, d: &SignedDelta) -> Result<()> {
        if let Some(p) = &d.payload {
            if crate::delta::payload_hash(p) != d.header().payload {
                return Err(TrustError::Refused(format!(
                    "delta {}: the payload does not hash to the one its author signed",
                    &d.id().hex()[..16]
                )));
            }
        }
        if self.is_known(d) {
            return Ok(());
        }
        check_delta(&self.pki, d)
    }

    /// The rows of a table delta decoded by [`TrustState::insert_deltas`], if it decoded them.
    pub(crate) fn decoded_table(&self, id: &DeltaId) -> Option<&Arc<DecodedTable>> {
        self.memo.table.get(id)
    }

    fn is_known(&self, d: &SignedDelta) -> bool {
        self.deltas.get(&d.id()).is_some_and(|have| {
            have.signed.sig == d.signed.sig && (have.payload.is_some() || d.payload.is_none())
        })
    }

    fn put_delta(&mut self, d: SignedDelta, checked: bool) -> Result<Inserted> {
        if !checked {
            self.check_new(&d)?;
        }
        if self.is_known(&d) {
            return Ok(Inserted::Known);
        }
        self.put_checked(d)
    }

    /// Inserts a delta already checked against the PKI.
    fn put_checked(&mut self, d: SignedDelta) -> Result<Inserted> {
        let id = d.id();
        match self.deltas.get_mut(&id) {
            Some(have) => {
                let mut changed = false;
                if better(&self.pki, &d.signed, &have.signed) {
                    have.signed.sig = d.signed.sig;
                    self.memo.valid.remove(&id);
                    changed = true;
                }
                if have.payload.is_none() && d.payload.is_some() {
                    have.payload = d.payload;
                    self.memo.rule.remove(&id);
                    changed = true;
                }
                if changed {
                    self.memo.leaf.remove(&id);
                }
                Ok(if changed {
                    Inserted::Updated
                } else {
                    Inserted::Known
                })
            }
            None => {
                if self.deltas.len() >= self.policy.max_deltas as usize {
                    return Err(TrustError::Refused(format!(
                        "the state holds {} deltas, the policy's cap",
                        self.policy.max_deltas
                    )));
                }
                self.deltas.insert(id, d);
                Ok(Inserted::New)
            }
        }
    }

    /// Adds a signed state claim.
    ///
    /// # Errors
    /// A claim that does not verify, or the cap; the state is unchanged.
    pub fn insert_claim(&mut self, c: SignedClaim) -> Result<Inserted> {
        let r = self.put_claim(c)?;
        if r != Inserted::Known {
            self.derive();
        }
        Ok(r)
    }

    fn put_claim(&mut self, c: SignedClaim) -> Result<Inserted> {
        let id = c.claim.id();
        if self.claims.get(&id).is_some_and(|h| h.sig <= c.sig) {
            return Ok(Inserted::Known);
        }
        if !c.verify_any_key(&self.pki) {
            return Err(TrustError::Refused(format!(
                "claim {} (author {}) does not verify",
                &hex(&id)[..16],
                c.claim.author
            )));
        }
        if !self.claims.contains_key(&id) && self.claims.len() >= self.policy.max_claims as usize {
            return Err(TrustError::Refused(format!(
                "the state holds {} claims, the policy's cap",
                self.policy.max_claims
            )));
        }
        let new = self.claims.insert(id, c).is_none();
        Ok(if new {
            Inserted::New
        } else {
            Inserted::Updated
        })
    }

    /// Verifies evidence from a peer and absorbs it as its halves (the state then derives the
    /// same proof, or a smaller one of the same slot).
    ///
    /// # Errors
    /// Evidence that does not verify; the state is unchanged.
    pub fn insert_evidence(&mut self, e: &Evidence) -> Result<Inserted> {
        e.verify(&self.pki)?;
        let mut next = self.clone();
        let mut changed = false;
        let mut header = |h: &SignedHeader, payload: Option<Vec<u8>>| -> Result<()> {
            let r = next.put_delta(
                SignedDelta {
                    signed: h.clone(),
                    payload,
                },
                false,
            )?;
            changed |= r != Inserted::Known;
            Ok(())
        };
        match e {
            Evidence::Equivocation { a, b }
            | Evidence::ContributionEquivocation { a, b }
            | Evidence::Regression { a, b } => {
                header(a, None)?;
                header(b, None)?;
            }
            Evidence::RuleViolation { delta, payload, .. } => header(delta, payload.clone())?,
            Evidence::ClaimContradiction { claim, delta } => {
                header(delta, None)?;
                changed |= next.put_claim(claim.clone())? != Inserted::Known;
            }
            Evidence::ConflictingClaims { a, b } => {
                changed |= next.put_claim(a.clone())? != Inserted::Known;
                changed |= next.put_claim(b.clone())? != Inserted::Known;
            }
        }
        if !changed {
            return Ok(Inserted::Known);
        }
        next.derive();
        *self = next;
        Ok(Inserted::New)
    }

    /// Adds a key event (a registration, rotation or revocation signed by the admins).
    ///
    /// # Errors
    /// An event that does not verify; the state is unchanged.
    pub fn insert_key_event(&mut self, ev: crate::pki::SignedKeyEvent) -> Result<bool> {
        let changed = self.pki.insert(ev)?;
        if changed {
            self.pki_changed();
            self.derive();
        }
        Ok(changed)
    }

    /// Merges `other` into `self`: the union of the PKIs, deltas and claims. All or nothing.
    ///
    /// # Errors
    /// Another genesis or policy, an item that does not verify, a cap exceeded; `self` is
    /// unchanged.
    pub fn merge(&mut self, other: &TrustState) -> Result<bool> {
        if other.pki.genesis().id() != self.pki.genesis().id() {
            return Err(TrustError::Refused(
                "the states have different PKI geneses".into(),
            ));
        }
        if other.policy != self.policy {
            return Err(TrustError::Refused(format!(
                "the states have different policies ({} vs {})",
                hex(&self.policy.hash()[..8]),
                hex(&other.policy.hash()[..8])
            )));
        }
        let same_pki = other
            .pki
            .events()
            .iter()
            .all(|(id, ev)| self.pki.events().get(id) == Some(ev));
        // Check everything against the merged PKI first; only then change `self`.
        let merged_pki = if same_pki {
            None
        } else {
            let mut p = self.pki.clone();
            p.merge(&other.pki)?;
            Some(p)
        };
        let pki = merged_pki.as_ref().unwrap_or(&self.pki);
        // What `other` holds that `self` does not (most gossip brings little that is new).
        let new_deltas: Vec<&SignedDelta> = other
            .deltas
            .iter()
            .filter(|(id, d)| {
                self.deltas.get(id).is_none_or(|h| {
                    better(pki, &d.signed, &h.signed)
                        || (h.payload.is_none() && d.payload.is_some())
                })
            })
            .map(|(_, d)| d)
            .collect();
        let new_claims: Vec<&SignedClaim> = other
            .claims
            .iter()
            .filter(|(id, c)| self.claims.get(*id).is_none_or(|h| c.sig < h.sig))
            .map(|(_, c)| c)
            .collect();
        if new_deltas.is_empty() && new_claims.is_empty() && same_pki {
            return Ok(false);
        }
        let mut fresh = 0usize;
        for d in &new_deltas {
            check_delta(pki, d)?;
            fresh += usize::from(!self.deltas.contains_key(&d.id()));
        }
        if self.deltas.len() + fresh > self.policy.max_deltas as usize {
            return Err(TrustError::Refused(format!(
                "the merge would hold {} deltas, above the policy's cap {}",
                self.deltas.len() + fresh,
                self.policy.max_deltas
            )));
        }
        let mut fresh_claims = 0usize;
        for c in &new_claims {
            if !c.verify_any_key(pki) {
                return Err(TrustError::Refused(format!(
                    "claim {} (author {}) does not verify",
                    &hex(&c.claim.id())[..16],
                    c.claim.author
                )));
            }
            fresh_claims += usize::from(!self.claims.contains_key(&c.claim.id()));
        }
        if self.claims.len() + fresh_claims > self.policy.max_claims as usize {
            return Err(TrustError::Refused(format!(
                "the merge would hold more claims than the policy's cap {}",
                self.policy.max_claims
            )));
        }
        let mut changed = false;
        if let Some(p) = merged_pki {
            changed |= p != self.pki;
            self.pki = p;
            self.pki_changed();
        }
        for d in new_deltas {
            changed |= self.put_checked(d.clone())? != Inserted::Known;
        }
        for c in new_claims {
            let id = c.claim.id();
            self.claims.insert(id, c.clone());
            changed = true;
        }
        if changed {
            self.derive();
        }
        Ok(changed)
    }

    /// The merge of two states as a new state (see [`TrustState::merge`]).
    ///
    /// # Errors
    /// As [`TrustState::merge`].
    pub fn merged(&self, other: &TrustState) -> Result<TrustState> {
        let mut out = self.clone();
        out.merge(other)?;
        Ok(out)
    }

    /// Whether the header verifies under the key the PKI assigns its sequence number and that
    /// number is not revoked: only such headers are evidence or admitted.
    fn valid(&self, h: &SignedHeader) -> bool {
        h.verify(&self.pki) && !self.pki.revoked(&h.header.author, h.header.seq)
    }

    fn pki_changed(&mut self) {
        self.memo.valid.clear();
        self.memo.pki_hash = None;
    }

    /// Fills the memo for every delta (validity, smallest broken rule, leaf hash).
    fn fill_memo(&mut self) {
        let mut memo = std::mem::take(&mut self.memo);
        // Rules scan every payload: on all cores.
        let todo: Vec<(&DeltaId, &SignedDelta)> = self
            .deltas
            .iter()
            .filter(|(id, _)| !memo.rule.contains_key(id))
            .collect();
        let bytes: usize = todo
            .iter()
            .map(|(_, d)| d.payload.as_ref().map_or(0, Vec::len))
            .sum();
        let rules = crate::par::map(&todo, bytes >= 1 << 22, |(_, d)| {
            d.broken_rules().into_iter().min()
        });
        for ((id, _), rule) in todo.into_iter().zip(rules) {
            memo.rule.insert(*id, rule);
        }
        for (id, d) in &self.deltas {
            if !memo.valid.contains_key(id) {
                memo.valid.insert(*id, self.valid(&d.signed));
            }
            if !memo.leaf.contains_key(id) {
                // The signed header and whether the payload is here: the payload itself is
                // bound by the header's payload hash (checked whenever one is attached), so
                // hashing its bytes again (tens of MB in a table gate) would add nothing.
                let mut body = Vec::new();
                d.signed.encode_into(&mut body);
                body.push(u8::from(d.payload.is_some()));
                memo.leaf.insert(*id, *blake3::hash(&body).as_bytes());
            }
        }
        if memo.pki_hash.is_none() {
            memo.pki_hash = Some(*blake3::hash(&self.pki.encode()).as_bytes());
        }
        self.memo = memo;
    }

    /// The root over the PKI's hash, the policy, and the leaf hashes of the deltas and claims
    /// in id order.
    fn compute_root(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key(contexts::STATE_ROOT);
        h.update(&self.memo.pki_hash.expect("filled"));
        h.update(&self.policy.encode());
        h.update(&(self.deltas.len() as u64).to_be_bytes());
        for id in self.deltas.keys() {
            h.update(&id.0);
            h.update(&self.memo.leaf[id]);
        }
        h.update(&(self.claims.len() as u64).to_be_bytes());
        let mut one = Vec::new();
        for c in self.claims.values() {
            one.clear();
            c.encode_into(&mut one);
            h.update(blake3::hash(&one).as_bytes());
        }
        *h.finalize().as_bytes()
    }

    fn derive(&mut self) {
        self.fill_memo();
        let mut groups: BTreeMap<(Context, KeyId), Vec<&SignedDelta>> = BTreeMap::new();
        for (id, d) in &self.deltas {
            if self.memo.valid[id] {
                groups
                    .entry((d.header().ctx, d.header().author))
                    .or_default()
                    .push(d);
            }
        }
        let mut found: Vec<Evidence> = Vec::new();
        let mut chained = BTreeSet::new();
        for ds in groups.values() {
            // `ds` is in id order, so each seq's list is too.
            let mut by_seq: BTreeMap<u64, Vec<&SignedDelta>> = BTreeMap::new();
            let mut by_round: BTreeMap<u64, Vec<&SignedDelta>> = BTreeMap::new();
            for d in ds {
                by_seq.entry(d.header().seq).or_default().push(d);
                if let (Kind::Contribution, Some(r)) = (d.header().kind, &d.header().round) {
                    by_round.entry(r.round).or_default().push(d);
                }
                if let Some(rule) = self.memo.rule[&d.id()] {
                    found.push(Evidence::RuleViolation {
                        rule,
                        delta: d.signed.clone(),
                        payload: if rule.needs_payload() {
                            d.payload.clone()
                        } else {
                            None
                        },
                    });
                }
            }
            for v in by_seq.values() {
                if v.len() >= 2 {
                    found.extend(Evidence::equivocation(&v[0].signed, &v[1].signed));
                }
            }
            let reps: Vec<&SignedDelta> = by_seq.values().map(|v| v[0]).collect();
            for w in reps.windows(2) {
                found.extend(Evidence::regression(&w[0].signed, &w[1].signed));
            }
            for v in by_round.values() {
                let a = v[0];
                if let Some(e) = v
                    .iter()
                    .find_map(|b| Evidence::contribution_equivocation(&a.signed, &b.signed))
                {
                    found.push(e);
                }
            }
            // The chain: seq 1 without a predecessor, then each seq whose prev is chained.
            let mut prev_ok: BTreeSet<[u8; 32]> = BTreeSet::new();
            for (expect, (seq, v)) in (1u64..).zip(&by_seq) {
                if *seq != expect {
                    break;
                }
                let mut here = BTreeSet::new();
                for d in v {
                    let ok = if *seq == 1 {
                        d.header().prev == [0; 32]
                    } else {
                        prev_ok.contains(&d.header().prev)
                    };
                    if ok {
                        here.insert(d.id().0);
                        chained.insert(d.id());
                    }
                }
                if here.is_empty() {
                    break;
                }
                prev_ok = here;
            }
        }
        // Claims: conflicting claims per (ctx, author, epoch), and claims contradicted by the
        // author's own delta at the claimed head.
        let mut by_epoch: BTreeMap<(Context, KeyId, u64), Vec<&SignedClaim>> = BTreeMap::new();
        for c in self.claims.values() {
            // Evidence only from claims valid under today's PKI (stored ones may predate a
            // rotation or revocation).
            if self.pki.revoked(&c.claim.author, c.claim.head_seq.max(1)) || !c.verify(&self.pki) {
                continue;
            }
            by_epoch
                .entry((c.claim.ctx, c.claim.author, c.claim.epoch))
                .or_default()
                .push(c);
            if let Some(ds) = groups.get(&(c.claim.ctx, c.claim.author)) {
                if let Some(d) = ds
                    .iter()
                    .find(|d| d.header().seq == c.claim.head_seq && d.id().0 != c.claim.head)
                {
                    found.push(Evidence::ClaimContradiction {
                        claim: c.clone(),
                        delta: d.signed.clone(),
                    });
                }
            }
        }
        for v in by_epoch.values() {
            if v.len() >= 2 {
                found.push(Evidence::ConflictingClaims {
                    a: v[0].clone(),
                    b: v[1].clone(),
                });
            }
        }
        // One proof per slot: the smallest id.
        let mut slots: BTreeMap<[u8; 32], ([u8; 32], Evidence)> = BTreeMap::new();
        for e in found {
            let (slot, id) = (e.slot(), e.id());
            match slots.get(&slot) {
                Some((have, _)) if *have <= id => {}
                _ => {
                    slots.insert(slot, (id, e));
                }
            }
        }
        let mut derived = Derived {
            chained,
            root: self.compute_root(),
            ..Derived::default()
        };
        for (_, (id, e)) in slots {
            let c = derived.convictions.entry(e.accused()).or_default();
            c.classes.insert(e.class());
            let s = c.first_seq.entry(e.ctx()).or_insert(u64::MAX);
            *s = (*s).min(e.first_seq());
            derived.evidence.insert(id, e);
        }
        self.derived = derived;
    }

    /// The trust vector of `author`; `None` for an identity the PKI does not know (it has no
    /// trust at all: nothing it signs is admitted).
    pub fn trust(&self, author: &KeyId) -> Option<TrustVector> {
        let id = self.pki.identities().get(author)?;
        let base = match id.level {
            RegisterLevel::Trusted => TrustLevel::Trusted,
            RegisterLevel::Probation => TrustLevel::Probation,
        };
        let mut v = TrustVector([base; 6]);
        if let Some(c) = self.derived.convictions.get(author) {
            for l in v.0.iter_mut() {
                *l = (*l).min(TrustLevel::Suspect);
            }
            for class in &c.classes {
                let d = match class {
                    EvidenceClass::Integrity => 0,
                    EvidenceClass::Causality => 1,
                    EvidenceClass::Consistency => 2,
                };
                v.0[d] = TrustLevel::Convicted;
            }
        }
        Some(v)
    }

    /// Authors with evidence against them, in id order.
    pub fn convicted(&self) -> Vec<KeyId> {
        self.derived.convictions.keys().copied().collect()
    }

    /// Why `d` (a delta of this state) is or is not admitted.
    pub fn admission(&self, d: &SignedDelta) -> Admission {
        self.admission_of(&d.id(), d)
    }

    /// [`TrustState::admission`] of `d`, whose id is `id`.
    fn admission_of(&self, id: &DeltaId, d: &SignedDelta) -> Admission {
        let h = d.header();
        // The memo holds validity under the current PKI for the stored signature only (the
        // id leaves the signature out).
        let memo_valid = self.memo.valid.get(id) == Some(&true)
            && self
                .deltas
                .get(id)
                .is_some_and(|x| x.signed.sig == d.signed.sig);
        if !memo_valid {
            if !d.signed.verify(&self.pki) {
                return Admission::WrongKey;
            }
            if self.pki.revoked(&h.author, h.seq) {
                return Admission::Revoked;
            }
        }
        if let Some(c) = self.derived.convictions.get(&h.author) {
            let hit = match self.policy.mode {
                Mode::Exclude => true,
                Mode::Prefix => c.first_seq.get(&h.ctx).is_some_and(|s| h.seq >= *s),
            };
            if hit {
                return Admission::Convicted;
            }
        }
        let rule = match self.memo.rule.get(id) {
            Some(r) => *r,
            None => d.broken_rules().into_iter().min(),
        };
        if let Some(rule) = rule {
            return Admission::RuleBroken(rule);
        }
        if !self.derived.chained.contains(id) {
            return Admission::ChainGap;
        }
        if h.kind == Kind::TableDelta && d.payload.is_none() {
            return Admission::PayloadMissing;
        }
        Admission::Admitted
    }

    /// The admitted deltas of one kind in one context, in id order.
    pub fn admitted(&self, ctx: Context, kind: Kind) -> Vec<&SignedDelta> {
        self.deltas
            .iter()
            .filter(|(_, d)| d.header().ctx == ctx && d.header().kind == kind)
            .filter(|(id, d)| self.admission_of(id, d) == Admission::Admitted)
            .map(|(_, d)| d)
            .collect()
    }

    /// The deltas of one kind in one context that are not admitted, with the reason.
    pub fn refused(&self, ctx: Context, kind: Kind) -> Vec<(&SignedDelta, Admission)> {
        self.deltas
            .iter()
            .filter(|(_, d)| d.header().ctx == ctx && d.header().kind == kind)
            .map(|(id, d)| (d, self.admission_of(id, d)))
            .filter(|(_, a)| *a != Admission::Admitted)
            .collect()
    }

    /// The root: `derive_key("crdt-merge e4 state root v1")` over blake3(PKI bytes) ‖ policy ‖
    /// n_deltas u64 ‖ per delta in id order its id ‖ blake3(its signed header ‖ has_payload u8)
    /// ‖ n_claims u64 ‖ per claim
    /// blake3(its bytes). Honest replicas holding the same sets have the same root.
    pub fn root(&self) -> [u8; 32] {
        self.derived.root
    }

    /// Canonical bytes (wire object `trust state`): pki_len u32 | pki | policy (18 bytes) |
    /// n_deltas u32 | deltas in id order, each len u32 | signed delta body | n_claims u32 |
    /// claims in id order, each claim body | signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        crate::codec::put_bytes32(&mut body, &self.pki.encode());
        body.extend_from_slice(&self.policy.encode());
        body.extend_from_slice(&(self.deltas.len() as u32).to_be_bytes());
        let mut one = Vec::new();
        for d in self.deltas.values() {
            one.clear();
            d.encode_body(&mut one);
            crate::codec::put_bytes32(&mut body, &one);
        }
        body.extend_from_slice(&(self.claims.len() as u32).to_be_bytes());
        for c in self.claims.values() {
            c.encode_into(&mut body);
        }
        wire::frame(Object::State, &body)
    }

    /// The state in a kernel wire frame (tag `0x79`), as SQL functions and files carry it.
    pub fn to_frame(&self) -> Vec<u8> {
        wire::kernel_frame(TRUST_STATE_TAG, &self.encode())
    }

    /// Decodes [`TrustState::encode`] or [`TrustState::to_frame`] bytes, verifying every key
    /// event, delta and claim (a state from a peer is never taken on trust).
    ///
    /// # Errors
    /// Every non-canonical form (items out of order or repeated, trailing bytes) with its byte
    /// offset, an item that does not verify, a cap exceeded.
    pub fn decode(bytes: &[u8]) -> Result<TrustState> {
        let bytes = if bytes.starts_with(b"CRDT") {
            wire::read_kernel_frame(TRUST_STATE_TAG, bytes)?
        } else {
            bytes
        };
        let mut r = Reader::new("trust state", bytes);
        wire::read_magic(&mut r, Object::State)?;
        let at = r.offset() + 4;
        let pki_bytes = r.bytes32("pki", 1 << 30)?;
        let pki = Pki::decode(pki_bytes).map_err(|e| shift(e, at))?;
        let pat = r.offset();
        let policy = TrustPolicy::read(&mut r)?;
        debug_assert_eq!(r.offset() - pat, POLICY_LEN);
        let mut s = TrustState::new(pki, policy);
        let at = r.offset();
        let n = r.u32("delta count")?;
        if n > policy.max_deltas {
            return Err(r.err(at, format!("{n} deltas above the policy's cap")));
        }
        let mut last: Option<DeltaId> = None;
        for _ in 0..n {
            let at = r.offset();
            let b = r.bytes32("delta", 1 << 31)?;
            let mut dr = Reader::new("trust state delta", b);
            let d = SignedDelta::read(&mut dr)
                .and_then(|d| dr.finish().map(|_| d))
                .map_err(|e| shift(e, at + 4))?;
            let id = d.id();
            if last.is_some_and(|l| l >= id) {
                return Err(r.err(at, "deltas not in id order, or repeated"));
            }
            last = Some(id);
            // The reader checked the payload hash; the ids are distinct.
            check_delta(&s.pki, &d)
                .and_then(|_| s.put_checked(d))
                .map_err(|e| r.err(at, e.to_string()))?;
        }
        let at = r.offset();
        let n = r.u32("claim count")?;
        if n > policy.max_claims {
            return Err(r.err(at, format!("{n} claims above the policy's cap")));
        }
        let mut last: Option<[u8; 32]> = None;
        for _ in 0..n {
            let at = r.offset();
            let c = SignedClaim::read(&mut r)?;
            let id = c.claim.id();
            if last.is_some_and(|l| l >= id) {
                return Err(r.err(at, "claims not in id order, or repeated"));
            }
            last = Some(id);
            s.put_claim(c).map_err(|e| r.err(at, e.to_string()))?;
        }
        r.finish()?;
        s.derive();
        Ok(s)
    }

    /// A multi-line summary: sizes, root, and each identity's trust.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "trust state: {} key events, {} deltas, {} claims, {} evidence, policy {}\nroot {}\n",
            self.pki.events().len(),
            self.deltas.len(),
            self.claims.len(),
            self.derived.evidence.len(),
            self.policy.mode.name(),
            hex(&self.root())
        );
        for id in self.pki.identities().keys() {
            let v = self.trust(id).expect("known identity");
            out.push_str(&format!("{} {} ({})\n", id, v.overall(), v.describe()));
        }
        for e in self.derived.evidence.values() {
            out.push_str(&format!("evidence: {}\n", e.describe()));
        }
        out
    }
}

/// Which of two signatures of one delta a state keeps: one that verifies under the key the PKI
/// gives the author for that sequence number beats one by a rotated-out key (whoever holds an
/// old key cannot displace the honest signature); otherwise the byte-wise smaller.
fn better(pki: &Pki, new: &SignedHeader, have: &SignedHeader) -> bool {
    // The common case in gossip: the same signature on both sides (nothing to verify).
    if new.sig == have.sig {
        return false;
    }
    let (vn, vh) = (new.verify(pki), have.verify(pki));
    if vn != vh {
        return vn;
    }
    new.sig < have.sig
}

fn check_delta(pki: &Pki, d: &SignedDelta) -> Result<()> {
    if d.signed.verify_any_key(pki) {
        return Ok(());
    }
    Err(TrustError::Refused(format!(
        "delta {} (author {}, seq {}) does not verify under any key the PKI gives its author",
        &d.id().hex()[..16],
        d.header().author,
        d.header().seq
    )))
}
