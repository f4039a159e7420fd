//! The PKI: a grow-only set of signed key events rooted in a genesis event that names k-of-n
//! admin keys. Every other event (register, rotate, revoke-from-sequence-number) carries the
//! genesis id and at least k valid admin signatures. Merge is set union; which key may sign an
//! author's sequence number `s` is a pure function of the set ([`Pki::keys_for`]).
//!
//! Revocation is by sequence number, not wall time, so it is deterministic. Admin keys
//! themselves are fixed by the genesis in v1 (rotating an admin set means a new genesis).

use std::collections::BTreeMap;

use crate::codec::{put_bytes32, shift, Reader};
use crate::error::{Result, TrustError};
use crate::hash::contexts;
use crate::sig::{Alg, KeyId, PublicKey, SignKind, SigningKey};
use crate::wire::{self, Object};

/// Most admins in a genesis.
pub const MAX_ADMINS: usize = 64;
/// Most events a PKI decodes.
pub const MAX_EVENTS: usize = 1 << 20;

/// The level an identity is registered at (the only way trust goes up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegisterLevel {
    /// Fully trusted.
    Trusted,
    /// On probation (weighted rules should cap its total weight).
    Probation,
}

/// The root of a PKI: k-of-n admin keys. Its id pins the PKI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// Signatures needed on every other event (1 ≤ k ≤ n).
    pub threshold: u8,
    /// Admin keys, sorted by key id, distinct.
    pub admins: Vec<PublicKey>,
}

/// What a key event does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyEventBody {
    /// Admits an identity; the identity's id is its first key's id.
    Register {
        /// The first key.
        key: PublicKey,
        /// Initial level.
        level: RegisterLevel,
    },
    /// From `from_seq` on, the identity signs with `key` (earlier numbers keep the earlier key).
    Rotate {
        /// The identity.
        identity: KeyId,
        /// First sequence number signed by the new key (≥ 2).
        from_seq: u64,
        /// The new key.
        key: PublicKey,
    },
    /// Deltas of the identity at `from_seq` or later are not admitted.
    Revoke {
        /// The identity.
        identity: KeyId,
        /// First revoked sequence number (≥ 1).
        from_seq: u64,
    },
}

impl KeyEventBody {
    /// The identity the event is about.
    pub fn identity(&self) -> KeyId {
        match self {
            KeyEventBody::Register { key, .. } => key.id(),
            KeyEventBody::Rotate { identity, .. } | KeyEventBody::Revoke { identity, .. } => {
                *identity
            }
        }
    }
}

/// A key event with its admin signatures (by admin index, at most one each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedKeyEvent {
    /// The genesis it belongs to.
    pub genesis: [u8; 32],
    /// What it does.
    pub body: KeyEventBody,
    /// Admin index → signature over the encoded body with [`SignKind::KeyEvent`].
    pub sigs: BTreeMap<u8, Vec<u8>>,
}

const EV_REGISTER: u8 = 1;
const EV_ROTATE: u8 = 2;
const EV_REVOKE: u8 = 3;

fn put_key(out: &mut Vec<u8>, key: &PublicKey) {
    out.push(key.alg.code());
    out.extend_from_slice(&key.bytes);
}

fn get_key(r: &mut Reader<'_>, field: &str) -> Result<PublicKey> {
    let at = r.offset();
    let code = r.u8(field)?;
    let alg = Alg::from_code(code)
        .ok_or_else(|| r.err(at, format!("{field}: unknown algorithm {code}")))?;
    let bytes = r.take(alg.public_len(), field)?.to_vec();
    let key = PublicKey { alg, bytes };
    key.validate()
        .map_err(|e| r.err(at, format!("{field}: {e}")))?;
    Ok(key)
}

impl Genesis {
    /// Canonical bytes: version 1 | threshold u8 | n u8 | n × (alg u8 | public key).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1, self.threshold, self.admins.len() as u8];
        for k in &self.admins {
            put_key(&mut out, k);
        }
        out
    }

    /// Decodes [`Genesis::encode`]'s bytes.
    ///
    /// # Errors
    /// Any non-canonical form, with its offset.
    pub fn decode(bytes: &[u8]) -> Result<Genesis> {
        let mut r = Reader::new("pki genesis", bytes);
        let g = Genesis::read(&mut r)?;
        r.finish()?;
        Ok(g)
    }

    fn read(r: &mut Reader<'_>) -> Result<Genesis> {
        let at = r.offset();
        if r.u8("version")? != 1 {
            return Err(r.err(at, "version is not 1"));
        }
        let at = r.offset();
        let threshold = r.u8("threshold")?;
        let n = r.u8("admin count")? as usize;
        if n == 0 || n > MAX_ADMINS || threshold == 0 || threshold as usize > n {
            return Err(r.err(at, format!("threshold {threshold} of {n} admins")));
        }
        let mut admins: Vec<PublicKey> = Vec::with_capacity(n);
        for _ in 0..n {
            let at = r.offset();
            let k = get_key(r, "admin key")?;
            if let Some(prev) = admins.last() {
                if prev.id() >= k.id() {
                    return Err(r.err(at, "admin keys not sorted by key id, or repeated"));
                }
            }
            admins.push(k);
        }
        Ok(Genesis { threshold, admins })
    }

    /// A genesis of `admins` (sorted here) needing `threshold` signatures.
    ///
    /// # Errors
    /// A bad threshold, repeated or invalid keys.
    pub fn new(threshold: u8, mut admins: Vec<PublicKey>) -> Result<Genesis> {
        for k in &admins {
            k.validate()?;
        }
        admins.sort_by_key(|k| k.id());
        admins.dedup();
        let g = Genesis { threshold, admins };
        Genesis::decode(&g.encode()).map_err(|e| TrustError::Pki(e.to_string()))
    }

    /// Its id: `derive_key("crdt-merge e4 key event v1", encoding)`.
    pub fn id(&self) -> [u8; 32] {
        blake3::derive_key(contexts::KEY_EVENT_ID, &self.encode())
    }
}

impl SignedKeyEvent {
    /// The signed bytes: version 1 | type u8 (1 register, 2 rotate, 3 revoke) | genesis [32] |
    /// register: level u8 | alg u8 | key; rotate: identity [32] | from_seq u64 | alg u8 | key;
    /// revoke: identity [32] | from_seq u64.
    pub fn body_bytes(genesis: &[u8; 32], body: &KeyEventBody) -> Vec<u8> {
        let mut out = vec![1];
        match body {
            KeyEventBody::Register { .. } => out.push(EV_REGISTER),
            KeyEventBody::Rotate { .. } => out.push(EV_ROTATE),
            KeyEventBody::Revoke { .. } => out.push(EV_REVOKE),
        }
        out.extend_from_slice(genesis);
        match body {
            KeyEventBody::Register { key, level } => {
                out.push(match level {
                    RegisterLevel::Trusted => 0,
                    RegisterLevel::Probation => 1,
                });
                put_key(&mut out, key);
            }
            KeyEventBody::Rotate {
                identity,
                from_seq,
                key,
            } => {
                out.extend_from_slice(&identity.0);
                out.extend_from_slice(&from_seq.to_be_bytes());
                put_key(&mut out, key);
            }
            KeyEventBody::Revoke { identity, from_seq } => {
                out.extend_from_slice(&identity.0);
                out.extend_from_slice(&from_seq.to_be_bytes());
            }
        }
        out
    }

    fn read_body(r: &mut Reader<'_>) -> Result<([u8; 32], KeyEventBody)> {
        let at = r.offset();
        if r.u8("version")? != 1 {
            return Err(r.err(at, "version is not 1"));
        }
        let at = r.offset();
        let ty = r.u8("event type")?;
        let genesis = r.array("genesis id")?;
        let body = match ty {
            EV_REGISTER => {
                let at = r.offset();
                let level = match r.u8("level")? {
                    0 => RegisterLevel::Trusted,
                    1 => RegisterLevel::Probation,
                    b => return Err(r.err(at, format!("level {b} is not 0 or 1"))),
                };
                KeyEventBody::Register {
                    key: get_key(r, "key")?,
                    level,
                }
            }
            EV_ROTATE | EV_REVOKE => {
                let identity = KeyId(r.array("identity")?);
                let at = r.offset();
                let from_seq = r.u64("from_seq")?;
                if from_seq < if ty == EV_ROTATE { 2 } else { 1 } {
                    return Err(r.err(at, format!("from_seq {from_seq} too small")));
                }
                if ty == EV_ROTATE {
                    KeyEventBody::Rotate {
                        identity,
                        from_seq,
                        key: get_key(r, "key")?,
                    }
                } else {
                    KeyEventBody::Revoke { identity, from_seq }
                }
            }
            b => return Err(r.err(at, format!("unknown event type {b}"))),
        };
        Ok((genesis, body))
    }

    /// The event id (over the body, never the signatures).
    pub fn id(&self) -> [u8; 32] {
        blake3::derive_key(
            contexts::KEY_EVENT_ID,
            &Self::body_bytes(&self.genesis, &self.body),
        )
    }

    /// Canonical bytes: body_len u32 | body | nsig u8 | nsig × (admin index u8 | signature),
    /// indices strictly increasing, each signature its admin's algorithm's length.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes32(&mut out, &Self::body_bytes(&self.genesis, &self.body));
        out.push(self.sigs.len() as u8);
        for (i, s) in &self.sigs {
            out.push(*i);
            out.extend_from_slice(s);
        }
        out
    }

    /// Decodes one event standalone (the `key event` fuzz target) against a genesis.
    ///
    /// # Errors
    /// Any non-canonical form, with its offset.
    pub fn decode(bytes: &[u8], genesis: &Genesis) -> Result<SignedKeyEvent> {
        let mut r = Reader::new("key event", bytes);
        let ev = Self::read(&mut r, genesis)?;
        r.finish()?;
        Ok(ev)
    }

    fn read(r: &mut Reader<'_>, genesis: &Genesis) -> Result<SignedKeyEvent> {
        let body_at = r.offset() + 4;
        let body = r.bytes32("body", 1 << 16)?;
        let mut br = Reader::new("key event", body);
        let (gid, ev) = Self::read_body(&mut br).map_err(|e| shift(e, body_at))?;
        br.finish().map_err(|e| shift(e, body_at))?;
        let at = r.offset();
        let n = r.u8("signature count")?;
        if n == 0 {
            return Err(r.err(at, "no admin signatures"));
        }
        let mut sigs = BTreeMap::new();
        let mut last: Option<u8> = None;
        for _ in 0..n {
            let at = r.offset();
            let i = r.u8("admin index")?;
            if last.is_some_and(|l| l >= i) {
                return Err(r.err(at, "admin indices not strictly increasing"));
            }
            let admin = genesis
                .admins
                .get(i as usize)
                .ok_or_else(|| r.err(at, format!("admin index {i} out of range")))?;
            let s = r.take(admin.alg.signature_len(), "admin signature")?;
            sigs.insert(i, s.to_vec());
            last = Some(i);
        }
        Ok(SignedKeyEvent {
            genesis: gid,
            body: ev,
            sigs,
        })
    }

    /// Signs a new event with `admins` (each must be a genesis admin).
    ///
    /// # Errors
    /// A signer that is not an admin, or an invalid key in the body.
    pub fn sign(genesis: &Genesis, body: KeyEventBody, admins: &[&SigningKey]) -> Result<Self> {
        let gid = genesis.id();
        match &body {
            KeyEventBody::Register { key, .. } | KeyEventBody::Rotate { key, .. } => {
                key.validate()?
            }
            KeyEventBody::Revoke { .. } => {}
        }
        let bytes = Self::body_bytes(&gid, &body);
        let mut ev = SignedKeyEvent {
            genesis: gid,
            body,
            sigs: BTreeMap::new(),
        };
        for a in admins {
            let i = genesis
                .admins
                .iter()
                .position(|k| k == a.public())
                .ok_or_else(|| TrustError::Pki(format!("key {} is not a genesis admin", a.id())))?;
            ev.sigs.insert(i as u8, a.sign(SignKind::KeyEvent, &bytes));
        }
        Ok(ev)
    }

    /// Adds another admin signature (k-of-n signing passes an event between admins).
    ///
    /// # Errors
    /// A signer that is not an admin.
    pub fn cosign(&mut self, genesis: &Genesis, admin: &SigningKey) -> Result<()> {
        let more = SignedKeyEvent::sign(genesis, self.body.clone(), &[admin])?;
        self.sigs.extend(more.sigs);
        Ok(())
    }

    /// Checks the genesis id and that at least k distinct admins signed validly.
    ///
    /// # Errors
    /// Names what failed.
    pub fn verify(&self, genesis: &Genesis) -> Result<()> {
        if self.genesis != genesis.id() {
            return Err(TrustError::Pki(
                "event belongs to another PKI (genesis id differs)".into(),
            ));
        }
        let bytes = Self::body_bytes(&self.genesis, &self.body);
        let mut good = 0usize;
        for (i, s) in &self.sigs {
            let admin = genesis
                .admins
                .get(*i as usize)
                .ok_or_else(|| TrustError::Pki(format!("admin index {i} out of range")))?;
            if !admin.verify(SignKind::KeyEvent, &bytes, s) {
                return Err(TrustError::Signature(format!(
                    "admin {i}'s signature on key event does not verify"
                )));
            }
            good += 1;
        }
        if good < genesis.threshold as usize {
            return Err(TrustError::Pki(format!(
                "{good} admin signatures, the genesis needs {}",
                genesis.threshold
            )));
        }
        Ok(())
    }
}

/// What the PKI says about one identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Its registered level (the worst, if admins registered it twice at different levels).
    pub level: RegisterLevel,
    /// Keys by first sequence number (1 for the registered key); ties keep every key.
    pub keys: BTreeMap<u64, Vec<PublicKey>>,
    /// First revoked sequence number, if any (the smallest revocation).
    pub revoked_from: Option<u64>,
}

/// The PKI: genesis plus a grow-only set of verified key events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pki {
    genesis: Genesis,
    events: BTreeMap<[u8; 32], SignedKeyEvent>,
    identities: BTreeMap<KeyId, Identity>,
}

impl Pki {
    /// An empty PKI rooted at `genesis`.
    pub fn new(genesis: Genesis) -> Pki {
        Pki {
            genesis,
            events: BTreeMap::new(),
            identities: BTreeMap::new(),
        }
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The events by id.
    pub fn events(&self) -> &BTreeMap<[u8; 32], SignedKeyEvent> {
        &self.events
    }

    /// The identities.
    pub fn identities(&self) -> &BTreeMap<KeyId, Identity> {
        &self.identities
    }

    /// Adds a verified event (signatures of a known event are unioned, the smallest per admin).
    ///
    /// # Errors
    /// An event that does not verify; the PKI is unchanged.
    pub fn insert(&mut self, ev: SignedKeyEvent) -> Result<bool> {
        let id = ev.id();
        if self.events.get(&id) == Some(&ev) {
            // Exactly what is held (every signature already verified): nothing to check.
            return Ok(false);
        }
        ev.verify(&self.genesis)?;
        let changed = match self.events.get_mut(&id) {
            Some(have) => {
                let mut changed = false;
                for (i, s) in ev.sigs {
                    match have.sigs.get(&i) {
                        Some(h) if *h <= s => {}
                        _ => {
                            have.sigs.insert(i, s);
                            changed = true;
                        }
                    }
                }
                changed
            }
            None => {
                self.events.insert(id, ev);
                true
            }
        };
        self.rebuild();
        Ok(changed)
    }

    /// Merges `other` (same genesis) into `self`, all or nothing.
    ///
    /// # Errors
    /// Another genesis, or an event of `other` that does not verify; `self` is unchanged.
    pub fn merge(&mut self, other: &Pki) -> Result<()> {
        if other.genesis != self.genesis {
            return Err(TrustError::Refused("PKIs have different geneses".into()));
        }
        if other
            .events
            .iter()
            .all(|(id, ev)| self.events.get(id) == Some(ev))
        {
            return Ok(());
        }
        let mut next = self.clone();
        for ev in other.events.values() {
            next.insert(ev.clone())?;
        }
        *self = next;
        Ok(())
    }

    fn rebuild(&mut self) {
        let mut ids: BTreeMap<KeyId, Identity> = BTreeMap::new();
        for ev in self.events.values() {
            if let KeyEventBody::Register { key, level } = &ev.body {
                let e = ids.entry(key.id()).or_insert_with(|| Identity {
                    level: *level,
                    keys: BTreeMap::new(),
                    revoked_from: None,
                });
                e.level = e.level.max(*level);
                e.keys.entry(1).or_default().push(key.clone());
            }
        }
        for ev in self.events.values() {
            match &ev.body {
                KeyEventBody::Rotate {
                    identity,
                    from_seq,
                    key,
                } => {
                    if let Some(e) = ids.get_mut(identity) {
                        e.keys.entry(*from_seq).or_default().push(key.clone());
                    }
                }
                KeyEventBody::Revoke { identity, from_seq } => {
                    if let Some(e) = ids.get_mut(identity) {
                        e.revoked_from =
                            Some(e.revoked_from.map_or(*from_seq, |r| r.min(*from_seq)));
                    }
                }
                KeyEventBody::Register { .. } => {}
            }
        }
        for e in ids.values_mut() {
            for ks in e.keys.values_mut() {
                ks.sort();
                ks.dedup();
            }
        }
        self.identities = ids;
    }

    /// The keys that may sign `author`'s sequence number `seq` (the latest rotation at or
    /// below `seq`). Empty for an unknown author: a missing key means reject.
    pub fn keys_for(&self, author: &KeyId, seq: u64) -> &[PublicKey] {
        self.identities
            .get(author)
            .and_then(|i| i.keys.range(..=seq).next_back())
            .map(|(_, k)| k.as_slice())
            .unwrap_or(&[])
    }

    /// Every key the author has ever had (what a stored delta must verify under).
    pub fn all_keys(&self, author: &KeyId) -> impl Iterator<Item = &PublicKey> {
        self.identities
            .get(author)
            .into_iter()
            .flat_map(|i| i.keys.values().flatten())
    }

    /// Whether `author`'s `seq` is revoked.
    pub fn revoked(&self, author: &KeyId, seq: u64) -> bool {
        self.identities
            .get(author)
            .and_then(|i| i.revoked_from)
            .is_some_and(|r| seq >= r)
    }

    /// Canonical bytes (wire object `pki`): genesis_len u32 | genesis | n u32 | events sorted
    /// by id, each [`SignedKeyEvent::encode`].
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_bytes32(&mut body, &self.genesis.encode());
        body.extend_from_slice(&(self.events.len() as u32).to_be_bytes());
        for ev in self.events.values() {
            body.extend_from_slice(&ev.encode());
        }
        wire::frame(Object::Pki, &body)
    }

    /// Decodes [`Pki::encode`]'s bytes, verifying every event.
    ///
    /// # Errors
    /// Any non-canonical form (events out of id order, repeated, trailing bytes), with its
    /// offset, or an event that does not verify.
    pub fn decode(bytes: &[u8]) -> Result<Pki> {
        let mut r = Reader::new("pki", bytes);
        wire::read_magic(&mut r, Object::Pki)?;
        let pki = Pki::read(&mut r)?;
        r.finish()?;
        Ok(pki)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Pki> {
        let g_at = r.offset() + 4;
        let g = r.bytes32("genesis", 1 << 20)?;
        let mut gr = Reader::new("pki genesis", g);
        let genesis = Genesis::read(&mut gr).map_err(|e| shift(e, g_at))?;
        gr.finish().map_err(|e| shift(e, g_at))?;
        let at = r.offset();
        let n = r.u32("event count")? as usize;
        if n > MAX_EVENTS {
            return Err(r.err(at, format!("{n} events above the limit {MAX_EVENTS}")));
        }
        let mut pki = Pki::new(genesis);
        let mut last: Option<[u8; 32]> = None;
        for _ in 0..n {
            let at = r.offset();
            let ev = SignedKeyEvent::read(r, &pki.genesis)?;
            let id = ev.id();
            if last.is_some_and(|l| l >= id) {
                return Err(r.err(at, "events not sorted by id, or repeated"));
            }
            last = Some(id);
            ev.verify(&pki.genesis)
                .map_err(|e| r.err(at, format!("event does not verify: {e}")))?;
            pki.events.insert(id, ev);
        }
        pki.rebuild();
        Ok(pki)
    }
}
