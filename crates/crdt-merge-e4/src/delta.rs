//! Signed deltas: the v1 header of `docs/trust.md` (after the research file's §7), its id (the
//! signature excluded) and its signing construction.
//!
//! ```text
//! header := version:u8 (1) | kind:u8 (1 table-delta, 2 contribution, 6 audit-entry)
//!         | ctx:[32] | author:KeyId[32] | alg:u8 | seq:u64 | prev:[32] (zero at seq 1)
//!         | hlc_min:u64 | hlc_max:u64 | schema:[32] | payload_len:u64 | payload:[32]
//!         | contribution only: round:u64 | rule:u8 | f:u32 | frac_bits:u32 | weight:f64 bits u64
//!         | n_deps:u16 | deps:[32]*n (strictly increasing)
//! id     := derive_key("crdt-merge e4 delta v1", header)        -- signature NOT included
//! signed := see crate::sig::signed_bytes with the kind's tag
//! ```
//!
//! Kinds 3 (evidence), 4 (key event) and 5 (state claim) name the signing tags of those
//! objects, whose bodies are not delta headers; a header of such a kind does not decode.

use std::fmt;

use crate::codec::{hex, Reader};
use crate::error::{Result, TrustError};
use crate::hash::{contexts, Context};
use crate::pki::Pki;
use crate::sig::{Alg, KeyId, SignKind, SigningKey};
use crate::wire::{self, Object};

/// Most dependencies in a header.
pub const MAX_DEPS: usize = 1024;
/// Most payload bytes a signed delta carries (decoders refuse more).
pub const MAX_PAYLOAD: u64 = 1 << 30;

/// A delta id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DeltaId(pub [u8; 32]);

impl fmt::Debug for DeltaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeltaId({})", &hex(&self.0)[..16])
    }
}

impl DeltaId {
    /// Hex.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

/// The header kinds that are deltas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Rows of a table (payload: [`crate::table::TablePayload`] bytes).
    TableDelta,
    /// A model contribution (payload hash: the model crate's contribution id).
    Contribution,
    /// An audit entry (payload: the governance layer's entry bytes).
    AuditEntry,
}

impl Kind {
    /// Its signing kind (and code).
    pub fn sign_kind(self) -> SignKind {
        match self {
            Kind::TableDelta => SignKind::TableDelta,
            Kind::Contribution => SignKind::Contribution,
            Kind::AuditEntry => SignKind::AuditEntry,
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::TableDelta),
            2 => Some(Kind::Contribution),
            6 => Some(Kind::AuditEntry),
            _ => None,
        }
    }
}

/// A contribution's round parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundParams {
    /// The round.
    pub round: u64,
    /// The aggregation rule's code (the gate's caller defines the codes; 0 = the model state's
    /// own strategy).
    pub rule: u8,
    /// The number of Byzantine contributions the rule is sized for.
    pub f: u32,
    /// Fixed-point fraction bits (0 for float rules).
    pub frac_bits: u32,
    /// The contribution's weight (finite, ≥ 0; compared by bits).
    pub weight: f64,
}

impl Eq for RoundParams {}

/// A v1 delta header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeltaHeader {
    /// What it is.
    pub kind: Kind,
    /// The signing context.
    pub ctx: Context,
    /// The author's identity (the id of its registered key).
    pub author: KeyId,
    /// The signing key's algorithm.
    pub alg: Alg,
    /// The author's sequence number in this context (from 1).
    pub seq: u64,
    /// The id of the author's delta `seq − 1` (zero at seq 1).
    pub prev: [u8; 32],
    /// Smallest clock (HLC) in the payload.
    pub hlc_min: u64,
    /// Largest clock (HLC) in the payload.
    pub hlc_max: u64,
    /// Schema hash (tables: [`crate::table::TablePayload::schema_hash`]).
    pub schema: [u8; 32],
    /// Payload length in bytes (0 for contributions).
    pub payload_len: u64,
    /// Payload hash (tables: `derive_key("crdt-merge e4 table payload v1", bytes)`;
    /// contributions: the model crate's contribution id).
    pub payload: [u8; 32],
    /// Contributions only.
    pub round: Option<RoundParams>,
    /// Heads of other authors this delta saw (strictly increasing).
    pub deps: Vec<[u8; 32]>,
}

impl DeltaHeader {
    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 32 * self.deps.len());
        out.push(1);
        out.push(self.kind.sign_kind().code());
        out.extend_from_slice(&self.ctx.0);
        out.extend_from_slice(&self.author.0);
        out.push(self.alg.code());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.prev);
        out.extend_from_slice(&self.hlc_min.to_be_bytes());
        out.extend_from_slice(&self.hlc_max.to_be_bytes());
        out.extend_from_slice(&self.schema);
        out.extend_from_slice(&self.payload_len.to_be_bytes());
        out.extend_from_slice(&self.payload);
        if let Some(r) = &self.round {
            out.extend_from_slice(&r.round.to_be_bytes());
            out.push(r.rule);
            out.extend_from_slice(&r.f.to_be_bytes());
            out.extend_from_slice(&r.frac_bits.to_be_bytes());
            out.extend_from_slice(&r.weight.to_bits().to_be_bytes());
        }
        out.extend_from_slice(&(self.deps.len() as u16).to_be_bytes());
        for d in &self.deps {
            out.extend_from_slice(d);
        }
        out
    }

    /// Decodes a header (the `header` fuzz target).
    ///
    /// # Errors
    /// Every non-canonical form, with its byte offset: a version other than 1, an unknown kind
    /// or algorithm, a zero context, a contribution field block on a non-contribution (or its
    /// absence), unsorted or repeated deps, too many deps, trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<DeltaHeader> {
        let mut r = Reader::new("delta header", bytes);
        let h = DeltaHeader::read(&mut r)?;
        r.finish()?;
        Ok(h)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<DeltaHeader> {
        let at = r.offset();
        if r.u8("version")? != 1 {
            return Err(r.err(at, "version is not 1"));
        }
        let at = r.offset();
        let code = r.u8("kind")?;
        let kind = Kind::from_code(code).ok_or_else(|| {
            r.err(
                at,
                format!("kind {code} is not a delta kind (1 table-delta, 2 contribution, 6 audit-entry)"),
            )
        })?;
        let at = r.offset();
        let ctx = Context(r.array("ctx")?);
        if ctx.0 == [0; 32] {
            return Err(r.err(at, "ctx is zero (a context is never zero)"));
        }
        let author = KeyId(r.array("author")?);
        let at = r.offset();
        let a = r.u8("alg")?;
        let alg = Alg::from_code(a).ok_or_else(|| r.err(at, format!("unknown algorithm {a}")))?;
        let seq = r.u64("seq")?;
        let prev = r.array("prev")?;
        let hlc_min = r.u64("hlc_min")?;
        let hlc_max = r.u64("hlc_max")?;
        let schema = r.array("schema")?;
        let at = r.offset();
        let payload_len = r.u64("payload_len")?;
        if payload_len > MAX_PAYLOAD {
            return Err(r.err(at, format!("payload_len {payload_len} above {MAX_PAYLOAD}")));
        }
        let payload = r.array("payload")?;
        let round = if kind == Kind::Contribution {
            Some(RoundParams {
                round: r.u64("round")?,
                rule: r.u8("rule")?,
                f: r.u32("f")?,
                frac_bits: r.u32("frac_bits")?,
                weight: f64::from_bits(r.u64("weight")?),
            })
        } else {
            None
        };
        let at = r.offset();
        let n = r.u16("n_deps")? as usize;
        if n > MAX_DEPS {
            return Err(r.err(at, format!("{n} deps above the limit {MAX_DEPS}")));
        }
        let mut deps: Vec<[u8; 32]> = Vec::with_capacity(n);
        for _ in 0..n {
            let at = r.offset();
            let d = r.array("dep")?;
            if deps.last().is_some_and(|l| *l >= d) {
                return Err(r.err(at, "deps not strictly increasing"));
            }
            deps.push(d);
        }
        Ok(DeltaHeader {
            kind,
            ctx,
            author,
            alg,
            seq,
            prev,
            hlc_min,
            hlc_max,
            schema,
            payload_len,
            payload,
            round,
            deps,
        })
    }

    /// Its id: `derive_key("crdt-merge e4 delta v1", header)`.
    pub fn id(&self) -> DeltaId {
        DeltaId(blake3::derive_key(contexts::DELTA_ID, &self.encode()))
    }

    /// The header-only rules this header breaks (objective: anyone holding the signed header
    /// can check them).
    pub fn broken_rules(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        if self.seq == 0 {
            out.push(Rule::SeqZero);
        }
        if (self.seq == 1) != (self.prev == [0; 32]) {
            out.push(Rule::PrevLink);
        }
        if self.hlc_min > self.hlc_max {
            out.push(Rule::ClockRange);
        }
        if let Some(r) = &self.round {
            if !r.weight.is_finite() || r.weight < 0.0 || r.weight.to_bits() == (-0.0f64).to_bits()
            {
                out.push(Rule::Weight);
            }
        }
        out
    }
}

/// A deterministic validity rule a signed delta can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// `seq` is 0.
    SeqZero,
    /// `prev` is zero exactly when `seq` is 1 (a first delta with a predecessor, or a later
    /// one without).
    PrevLink,
    /// `hlc_min > hlc_max`.
    ClockRange,
    /// A contribution weight that is negative, −0, NaN or infinite.
    Weight,
    /// The table payload's schema hash differs from the header's.
    PayloadSchema,
    /// A row clock outside `[hlc_min, hlc_max]`.
    PayloadClock,
    /// The payload (whose hash the author signed) is not a canonical table payload.
    PayloadEncoding,
    /// The payload's length differs from the signed `payload_len`.
    PayloadLength,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 8] = [
        Rule::SeqZero,
        Rule::PrevLink,
        Rule::ClockRange,
        Rule::Weight,
        Rule::PayloadSchema,
        Rule::PayloadClock,
        Rule::PayloadEncoding,
        Rule::PayloadLength,
    ];

    /// Wire byte.
    pub fn code(self) -> u8 {
        Rule::ALL.iter().position(|r| *r == self).expect("listed") as u8 + 1
    }

    /// Rule of a wire byte.
    pub fn from_code(c: u8) -> Option<Rule> {
        Rule::ALL.get((c as usize).checked_sub(1)?).copied()
    }

    /// Whether checking the rule needs the payload.
    pub fn needs_payload(self) -> bool {
        matches!(
            self,
            Rule::PayloadSchema | Rule::PayloadClock | Rule::PayloadEncoding | Rule::PayloadLength
        )
    }
}

/// A header with its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeader {
    /// The header.
    pub header: DeltaHeader,
    /// The signature over it.
    pub sig: Vec<u8>,
}

impl SignedHeader {
    /// Signs `header` with `key` (whose algorithm must be the header's).
    ///
    /// # Errors
    /// An algorithm mismatch.
    pub fn sign(header: DeltaHeader, key: &SigningKey) -> Result<SignedHeader> {
        if header.alg != key.alg() {
            return Err(TrustError::Invalid(format!(
                "header says {}, key is {}",
                header.alg.name(),
                key.alg().name()
            )));
        }
        let sig = key.sign(header.kind.sign_kind(), &header.encode());
        Ok(SignedHeader { header, sig })
    }

    /// Whether the signature verifies under one of the keys the PKI assigns to the author's
    /// sequence number (with the header's algorithm). A missing key means false.
    pub fn verify(&self, pki: &Pki) -> bool {
        let body = self.header.encode();
        pki.keys_for(&self.header.author, self.header.seq)
            .iter()
            .filter(|k| k.alg == self.header.alg)
            .any(|k| k.verify(self.header.kind.sign_kind(), &body, &self.sig))
    }

    /// Whether it verifies under any key the author ever had (what storage requires).
    pub fn verify_any_key(&self, pki: &Pki) -> bool {
        let body = self.header.encode();
        pki.all_keys(&self.header.author)
            .filter(|k| k.alg == self.header.alg)
            .any(|k| k.verify(self.header.kind.sign_kind(), &body, &self.sig))
    }

    /// Canonical bytes: header_len u16 | header | sig_len u32 | sig.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let h = self.header.encode();
        out.extend_from_slice(&(h.len() as u16).to_be_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&(self.sig.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.sig);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<SignedHeader> {
        let at = r.offset();
        let n = r.u16("header_len")? as usize;
        let hb = r.take(n, "header")?;
        let mut hr = Reader::new("delta header", hb);
        let header = DeltaHeader::read(&mut hr).and_then(|h| hr.finish().map(|_| h));
        let header = header.map_err(|e| match e {
            TrustError::Decode { offset, reason, .. } => r.err(at + 2 + offset, reason),
            e => e,
        })?;
        let at = r.offset();
        let sl = r.u32("sig_len")? as usize;
        if sl != header.alg.signature_len() {
            return Err(r.err(
                at,
                format!(
                    "sig_len {sl}, {} signatures are {} bytes",
                    header.alg.name(),
                    header.alg.signature_len()
                ),
            ));
        }
        let sig = r.take(sl, "sig")?.to_vec();
        Ok(SignedHeader { header, sig })
    }
}

/// A signed delta: header, signature and, unless withheld, its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedDelta {
    /// Header and signature.
    pub signed: SignedHeader,
    /// The payload bytes (hash- and length-checked against the header when present).
    pub payload: Option<Vec<u8>>,
}

/// The payload hash of bytes.
pub fn payload_hash(bytes: &[u8]) -> [u8; 32] {
    blake3::derive_key(contexts::TABLE_PAYLOAD, bytes)
}

impl SignedDelta {
    /// The header.
    pub fn header(&self) -> &DeltaHeader {
        &self.signed.header
    }

    /// The id.
    pub fn id(&self) -> DeltaId {
        self.signed.header.id()
    }

    /// Canonical bytes (wire object `signed delta`): signed header | has_payload u8 | if 1:
    /// payload_len u64 | payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        self.encode_body(&mut body);
        wire::frame(Object::Delta, &body)
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        self.signed.encode_into(out);
        match &self.payload {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                out.extend_from_slice(&(p.len() as u64).to_be_bytes());
                out.extend_from_slice(p);
            }
        }
    }

    /// Decodes [`SignedDelta::encode`]'s bytes.
    ///
    /// # Errors
    /// Every non-canonical form with its offset; a payload whose hash is not the signed one
    /// (it is not this delta's payload).
    pub fn decode(bytes: &[u8]) -> Result<SignedDelta> {
        let mut r = Reader::new("signed delta", bytes);
        wire::read_magic(&mut r, Object::Delta)?;
        let d = SignedDelta::read(&mut r)?;
        r.finish()?;
        Ok(d)
    }

    /// Decodes without hashing the payload: for [`crate::TrustState::insert_encoded`], whose
    /// insertion checks the payload hash anyway (hashing twice is most of a large table
    /// delta's admission cost).
    pub(crate) fn decode_unhashed(bytes: &[u8]) -> Result<SignedDelta> {
        let mut r = Reader::new("signed delta", bytes);
        wire::read_magic(&mut r, Object::Delta)?;
        let d = SignedDelta::read_with(&mut r, false)?;
        r.finish()?;
        Ok(d)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<SignedDelta> {
        SignedDelta::read_with(r, true)
    }

    fn read_with(r: &mut Reader<'_>, check_hash: bool) -> Result<SignedDelta> {
        let signed = SignedHeader::read(r)?;
        let payload = if r.bool("has_payload")? {
            let at = r.offset();
            let n = r.u64("payload length")?;
            if n > MAX_PAYLOAD {
                return Err(r.err(at, format!("payload of {n} bytes above {MAX_PAYLOAD}")));
            }
            let at = r.offset();
            let p = r.take(n as usize, "payload")?;
            if signed.header.kind == Kind::Contribution {
                return Err(r.err(at, "a contribution carries no payload bytes"));
            }
            if check_hash && payload_hash(p) != signed.header.payload {
                return Err(r.err(at, "payload does not hash to the signed payload hash"));
            }
            Some(p.to_vec())
        } else {
            None
        };
        Ok(SignedDelta { signed, payload })
    }

    /// Signs `payload` as `key`'s table delta number `seq` in `ctx` after `prev` (zero at seq 1):
    /// the header's clock range, schema hash, length and hash come from the payload.
    ///
    /// # Errors
    /// As [`SignedHeader::sign`].
    pub fn sign_table(
        key: &SigningKey,
        ctx: Context,
        seq: u64,
        prev: [u8; 32],
        payload: &crate::table::TablePayload,
    ) -> Result<SignedDelta> {
        let bytes = payload.encode();
        let (hlc_min, hlc_max) = payload.clock_range();
        let header = DeltaHeader {
            kind: Kind::TableDelta,
            ctx,
            author: key.id(),
            alg: key.alg(),
            seq,
            prev,
            hlc_min,
            hlc_max,
            schema: payload.schema_hash(),
            payload_len: bytes.len() as u64,
            payload: payload_hash(&bytes),
            round: None,
            deps: vec![],
        };
        Ok(SignedDelta {
            signed: SignedHeader::sign(header, key)?,
            payload: Some(bytes),
        })
    }

    /// Signs the model contribution `content` (the model crate's contribution id) as `key`'s
    /// delta number `seq` in `ctx` after `prev`, with its round parameters (no payload bytes,
    /// no clock).
    ///
    /// # Errors
    /// As [`SignedHeader::sign`].
    pub fn sign_contribution(
        key: &SigningKey,
        ctx: Context,
        seq: u64,
        prev: [u8; 32],
        content: [u8; 32],
        round: RoundParams,
    ) -> Result<SignedDelta> {
        let header = DeltaHeader {
            kind: Kind::Contribution,
            ctx,
            author: key.id(),
            alg: key.alg(),
            seq,
            prev,
            hlc_min: 0,
            hlc_max: 0,
            schema: [0; 32],
            payload_len: 0,
            payload: content,
            round: Some(round),
            deps: vec![],
        };
        Ok(SignedDelta {
            signed: SignedHeader::sign(header, key)?,
            payload: None,
        })
    }

    /// The rules the delta breaks: the header's, and, with a payload, the payload's.
    pub fn broken_rules(&self) -> Vec<Rule> {
        let mut out = self.signed.header.broken_rules();
        if let Some(p) = &self.payload {
            out.extend(crate::table::payload_rules(&self.signed.header, p));
        }
        out
    }
}
