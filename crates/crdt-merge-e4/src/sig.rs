//! Signature schemes: Ed25519 (ZIP 215 verification, `ed25519-zebra`, batch = single),
//! ML-DSA-44/65/87 (FIPS 204, `fips204`), and the Ed25519 + ML-DSA-65 hybrid where both halves
//! must verify. No fallback of any kind: a missing or unusable key means reject.
//!
//! Every signature is over `TAG(kind) ‖ body` (see [`SignKind`]), so a signature made for one
//! kind of object (a delta, a key event, a state claim) never verifies as another.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use curve25519_dalek::edwards::CompressedEdwardsY;
use fips204::traits::{KeyGen, SerDes, Signer as _, Verifier as _};
use rand_core::{OsRng, RngCore};

use crate::codec::hex;
use crate::error::{Result, TrustError};
use crate::hash::contexts;

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Alg {
    /// Ed25519 (RFC 8032 signing, ZIP 215 verification).
    Ed25519,
    /// ML-DSA-44 (FIPS 204).
    MlDsa44,
    /// ML-DSA-65 (FIPS 204).
    MlDsa65,
    /// ML-DSA-87 (FIPS 204).
    MlDsa87,
    /// Ed25519 and ML-DSA-65, both must verify.
    Hybrid,
}

impl Alg {
    /// Every algorithm.
    pub const ALL: [Alg; 5] = [
        Alg::Ed25519,
        Alg::MlDsa44,
        Alg::MlDsa65,
        Alg::MlDsa87,
        Alg::Hybrid,
    ];

    /// The wire byte.
    pub fn code(self) -> u8 {
        match self {
            Alg::Ed25519 => 1,
            Alg::MlDsa44 => 2,
            Alg::MlDsa65 => 3,
            Alg::MlDsa87 => 4,
            Alg::Hybrid => 5,
        }
    }

    /// The algorithm of a wire byte.
    pub fn from_code(code: u8) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.code() == code)
    }

    /// The CLI / key-file name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Ed25519 => "ed25519",
            Alg::MlDsa44 => "ml-dsa-44",
            Alg::MlDsa65 => "ml-dsa-65",
            Alg::MlDsa87 => "ml-dsa-87",
            Alg::Hybrid => "hybrid",
        }
    }

    /// Parses [`Alg::name`].
    ///
    /// # Errors
    /// An unknown name, listing the valid ones.
    pub fn parse(name: &str) -> Result<Alg> {
        Alg::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                TrustError::Invalid(format!(
                    "unknown algorithm `{name}`; valid: ed25519, ml-dsa-44, ml-dsa-65, ml-dsa-87, hybrid"
                ))
            })
    }

    /// Public key length in bytes.
    pub fn public_len(self) -> usize {
        match self {
            Alg::Ed25519 => 32,
            Alg::MlDsa44 => fips204::ml_dsa_44::PK_LEN,
            Alg::MlDsa65 => fips204::ml_dsa_65::PK_LEN,
            Alg::MlDsa87 => fips204::ml_dsa_87::PK_LEN,
            Alg::Hybrid => 32 + fips204::ml_dsa_65::PK_LEN,
        }
    }

    /// Signature length in bytes.
    pub fn signature_len(self) -> usize {
        match self {
            Alg::Ed25519 => 64,
            Alg::MlDsa44 => fips204::ml_dsa_44::SIG_LEN,
            Alg::MlDsa65 => fips204::ml_dsa_65::SIG_LEN,
            Alg::MlDsa87 => fips204::ml_dsa_87::SIG_LEN,
            Alg::Hybrid => fips204::ml_dsa_65::SIG_LEN + 64,
        }
    }

    /// Secret seed length in bytes (what a key file stores).
    pub fn seed_len(self) -> usize {
        match self {
            Alg::Hybrid => 64,
            _ => 32,
        }
    }

    /// Whether signing is randomised (hedged ML-DSA): two valid signatures over one body are
    /// normal and never count as equivocation.
    pub fn randomised(self) -> bool {
        self != Alg::Ed25519
    }
}

/// What a signature is for: selects the 32-byte NUL-padded ASCII tag in front of the signed
/// body. The codes equal the delta header kinds of `docs/trust.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignKind {
    /// A table delta header.
    TableDelta,
    /// A model contribution header.
    Contribution,
    /// Evidence (reserved: evidence is self-verifying and carries no signature of its own).
    Evidence,
    /// A PKI key event (signed by admins).
    KeyEvent,
    /// A signed state claim.
    StateClaim,
    /// An audit-entry header (governance).
    AuditEntry,
}

impl SignKind {
    /// Every kind.
    pub const ALL: [SignKind; 6] = [
        SignKind::TableDelta,
        SignKind::Contribution,
        SignKind::Evidence,
        SignKind::KeyEvent,
        SignKind::StateClaim,
        SignKind::AuditEntry,
    ];

    /// The wire byte (the header's `kind`).
    pub fn code(self) -> u8 {
        match self {
            SignKind::TableDelta => 1,
            SignKind::Contribution => 2,
            SignKind::Evidence => 3,
            SignKind::KeyEvent => 4,
            SignKind::StateClaim => 5,
            SignKind::AuditEntry => 6,
        }
    }

    /// The kind of a wire byte.
    pub fn from_code(code: u8) -> Option<SignKind> {
        SignKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The ASCII label of the tag.
    pub fn label(self) -> &'static str {
        match self {
            SignKind::TableDelta => "crdt-merge/e4/v1/delta",
            SignKind::Contribution => "crdt-merge/e4/v1/contribution",
            SignKind::Evidence => "crdt-merge/e4/v1/evidence",
            SignKind::KeyEvent => "crdt-merge/e4/v1/key-event",
            SignKind::StateClaim => "crdt-merge/e4/v1/state-claim",
            SignKind::AuditEntry => "crdt-merge/e4/v1/audit-entry",
        }
    }

    /// TAG(kind): the label NUL-padded to 32 bytes.
    pub fn tag(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..self.label().len()].copy_from_slice(self.label().as_bytes());
        out
    }
}

/// The label inside the hybrid's signed bytes, so neither half can be stripped and reused.
pub const HYBRID_LABEL: &[u8] = b"Ed25519+ML-DSA-65";

/// The exact bytes a signature covers, for `trust show` and independent checks. For ML-DSA the
/// FIPS 204 context string is TAG(kind) and the message is `body`; for Ed25519 the message is
/// `TAG ‖ body`; for the hybrid both halves sign `TAG ‖ "Ed25519+ML-DSA-65" ‖ body` (ML-DSA
/// with an empty context string).
pub fn signed_bytes(alg: Alg, kind: SignKind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + HYBRID_LABEL.len() + body.len());
    match alg {
        Alg::MlDsa44 | Alg::MlDsa65 | Alg::MlDsa87 => {}
        Alg::Ed25519 => out.extend_from_slice(&kind.tag()),
        Alg::Hybrid => {
            out.extend_from_slice(&kind.tag());
            out.extend_from_slice(HYBRID_LABEL);
        }
    }
    out.extend_from_slice(body);
    out
}

/// A key id: `derive_key("crdt-merge e4 keyid v1", alg ‖ public key)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct KeyId(pub [u8; 32]);

impl KeyId {
    /// Hex of the 32 bytes.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", &self.hex()[..16])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// A public key: algorithm and its raw bytes (hybrid: Ed25519 ‖ ML-DSA-65).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey {
    /// The algorithm.
    pub alg: Alg,
    /// The raw key bytes, [`Alg::public_len`] long.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {:?})", self.alg.name(), self.id())
    }
}

impl PublicKey {
    /// Its key id.
    pub fn id(&self) -> KeyId {
        let mut h = blake3::Hasher::new_derive_key(contexts::KEY_ID);
        h.update(&[self.alg.code()]);
        h.update(&self.bytes);
        KeyId(*h.finalize().as_bytes())
    }

    /// Checks that the key can be registered: the right length; for Ed25519 (and the hybrid's
    /// Ed25519 half) a canonical encoding of a point on the curve that is neither of small
    /// order nor has a torsion component (ZIP 215 verification accepts such keys, so the PKI
    /// must refuse them); for ML-DSA a key `fips204` deserialises.
    ///
    /// # Errors
    /// Names the rule broken.
    pub fn validate(&self) -> Result<()> {
        if self.bytes.len() != self.alg.public_len() {
            return Err(TrustError::Signature(format!(
                "{} public key has {} bytes, expected {}",
                self.alg.name(),
                self.bytes.len(),
                self.alg.public_len()
            )));
        }
        match self.alg {
            Alg::Ed25519 => validate_ed25519(&self.bytes),
            Alg::Hybrid => {
                validate_ed25519(&self.bytes[..32])?;
                MlPublic::parse(Alg::MlDsa65, &self.bytes[32..]).map(|_| ())
            }
            alg => MlPublic::parse(alg, &self.bytes).map(|_| ()),
        }
    }

    /// Verifies `sig` over `body` for `kind`. False (never an error) for any well-formed but
    /// wrong input: a signature of the wrong length, a key that does not parse, a bad signature.
    /// Results are memoised per process (keyed by a hash of key, kind, body and signature).
    pub fn verify(&self, kind: SignKind, body: &[u8], sig: &[u8]) -> bool {
        let key = memo_key(self, kind, body, sig);
        if let Some(hit) = memo_get(&key) {
            return hit;
        }
        let ok = self.verify_uncached(kind, body, sig);
        memo_put(key, ok);
        ok
    }

    /// [`PublicKey::verify`] without the memo (what benchmarks time).
    pub fn verify_uncached(&self, kind: SignKind, body: &[u8], sig: &[u8]) -> bool {
        if sig.len() != self.alg.signature_len() || self.bytes.len() != self.alg.public_len() {
            return false;
        }
        let msg = signed_bytes(self.alg, kind, body);
        match self.alg {
            Alg::Ed25519 => ed_verify(&self.bytes, &msg, sig),
            Alg::Hybrid => {
                let (ml, ed) = sig.split_at(fips204::ml_dsa_65::SIG_LEN);
                ed_verify(&self.bytes[..32], &msg, ed)
                    && MlPublic::parse(Alg::MlDsa65, &self.bytes[32..])
                        .map(|pk| pk.verify(&msg, ml, &[]))
                        .unwrap_or(false)
            }
            alg => MlPublic::parse(alg, &self.bytes)
                .map(|pk| pk.verify(&msg, sig, &kind.tag()))
                .unwrap_or(false),
        }
    }
}

/// Ed25519 keys already found valid in this process: every PKI decode validates every key,
/// and the torsion check is a full scalar multiplication. Only successes are kept (bounded).
fn valid_keys() -> &'static Mutex<std::collections::HashSet<[u8; 32]>> {
    static VALID: OnceLock<Mutex<std::collections::HashSet<[u8; 32]>>> = OnceLock::new();
    VALID.get_or_init(|| Mutex::new(std::collections::HashSet::new()))
}

fn validate_ed25519(bytes: &[u8]) -> Result<()> {
    let mut a = [0u8; 32];
    a.copy_from_slice(bytes);
    if valid_keys().lock().is_ok_and(|m| m.contains(&a)) {
        return Ok(());
    }
    validate_ed25519_uncached(&a)?;
    if let Ok(mut m) = valid_keys().lock() {
        if m.len() >= MEMO_CAP {
            m.clear();
        }
        m.insert(a);
    }
    Ok(())
}

fn validate_ed25519_uncached(a: &[u8; 32]) -> Result<()> {
    let a = *a;
    let point = CompressedEdwardsY(a).decompress().ok_or_else(|| {
        TrustError::Signature("Ed25519 public key is not a point on the curve".into())
    })?;
    if point.compress().0 != a {
        return Err(TrustError::Signature(
            "Ed25519 public key is a non-canonical encoding (y ≥ p, or x = 0 with the sign bit set)"
                .into(),
        ));
    }
    if point.is_small_order() {
        return Err(TrustError::Signature(
            "Ed25519 public key has small order (a weak key that verifies forged signatures)"
                .into(),
        ));
    }
    if !point.is_torsion_free() {
        return Err(TrustError::Signature(
            "Ed25519 public key has a torsion component (mixed order)".into(),
        ));
    }
    Ok(())
}

fn ed_verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (Ok(vk), Ok(sig)) = (
        ed25519_zebra::VerificationKey::try_from(pk),
        ed25519_zebra::Signature::try_from(sig),
    ) else {
        return false;
    };
    vk.verify(&sig, msg).is_ok()
}

enum MlPublic {
    L44(Box<fips204::ml_dsa_44::PublicKey>),
    L65(Box<fips204::ml_dsa_65::PublicKey>),
    L87(Box<fips204::ml_dsa_87::PublicKey>),
}

impl MlPublic {
    fn parse(alg: Alg, bytes: &[u8]) -> Result<MlPublic> {
        let bad = |_| TrustError::Signature(format!("{} public key does not parse", alg.name()));
        let len = |_| TrustError::Signature(format!("{} public key length", alg.name()));
        Ok(match alg {
            Alg::MlDsa44 => MlPublic::L44(Box::new(
                fips204::ml_dsa_44::PublicKey::try_from_bytes(bytes.try_into().map_err(len)?)
                    .map_err(bad)?,
            )),
            Alg::MlDsa65 => MlPublic::L65(Box::new(
                fips204::ml_dsa_65::PublicKey::try_from_bytes(bytes.try_into().map_err(len)?)
                    .map_err(bad)?,
            )),
            Alg::MlDsa87 => MlPublic::L87(Box::new(
                fips204::ml_dsa_87::PublicKey::try_from_bytes(bytes.try_into().map_err(len)?)
                    .map_err(bad)?,
            )),
            _ => return Err(TrustError::Signature("not an ML-DSA algorithm".into())),
        })
    }

    fn verify(&self, msg: &[u8], sig: &[u8], ctx: &[u8]) -> bool {
        match self {
            MlPublic::L44(pk) => sig.try_into().is_ok_and(|s| pk.verify(msg, s, ctx)),
            MlPublic::L65(pk) => sig.try_into().is_ok_and(|s| pk.verify(msg, s, ctx)),
            MlPublic::L87(pk) => sig.try_into().is_ok_and(|s| pk.verify(msg, s, ctx)),
        }
    }
}

enum MlSecret {
    L44(Box<fips204::ml_dsa_44::PrivateKey>),
    L65(Box<fips204::ml_dsa_65::PrivateKey>),
    L87(Box<fips204::ml_dsa_87::PrivateKey>),
}

impl MlSecret {
    fn from_seed(alg: Alg, xi: &[u8; 32]) -> (Vec<u8>, MlSecret) {
        match alg {
            Alg::MlDsa44 => {
                let (pk, sk) = fips204::ml_dsa_44::KG::keygen_from_seed(xi);
                (pk.into_bytes().to_vec(), MlSecret::L44(Box::new(sk)))
            }
            Alg::MlDsa87 => {
                let (pk, sk) = fips204::ml_dsa_87::KG::keygen_from_seed(xi);
                (pk.into_bytes().to_vec(), MlSecret::L87(Box::new(sk)))
            }
            _ => {
                let (pk, sk) = fips204::ml_dsa_65::KG::keygen_from_seed(xi);
                (pk.into_bytes().to_vec(), MlSecret::L65(Box::new(sk)))
            }
        }
    }

    /// Hedged (OS randomness) unless `seed` is given (deterministic FIPS 204 signing).
    fn sign(&self, msg: &[u8], ctx: &[u8], seed: Option<&[u8; 32]>) -> Vec<u8> {
        macro_rules! go {
            ($sk:expr) => {
                match seed {
                    Some(s) => $sk.try_sign_with_seed(s, msg, ctx),
                    None => $sk.try_sign_with_rng(&mut OsRng, msg, ctx),
                }
                .expect("ctx ≤ 255 bytes and a key from keygen_from_seed")
                .to_vec()
            };
        }
        match self {
            MlSecret::L44(sk) => go!(sk),
            MlSecret::L65(sk) => go!(sk),
            MlSecret::L87(sk) => go!(sk),
        }
    }
}

/// A secret signing key, stored as its seed (32 bytes; the hybrid's 64 are the Ed25519 seed ‖
/// the ML-DSA-65 ξ). Debug output never shows the seed.
pub struct SigningKey {
    alg: Alg,
    seed: Vec<u8>,
    public: PublicKey,
    ed: Option<ed25519_zebra::SigningKey>,
    ml: Option<MlSecret>,
    deterministic: bool,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, {:?})", self.alg.name(), self.public.id())
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        let mut k = SigningKey::from_seed(self.alg, &self.seed).expect("seed was valid");
        k.deterministic = self.deterministic;
        k
    }
}

impl SigningKey {
    /// A fresh key from the OS random number generator.
    pub fn generate(alg: Alg) -> SigningKey {
        let mut seed = vec![0u8; alg.seed_len()];
        OsRng.fill_bytes(&mut seed);
        SigningKey::from_seed(alg, &seed).expect("seed of the right length")
    }

    /// The key of a seed ([`Alg::seed_len`] bytes).
    ///
    /// # Errors
    /// A seed of the wrong length.
    pub fn from_seed(alg: Alg, seed: &[u8]) -> Result<SigningKey> {
        if seed.len() != alg.seed_len() {
            return Err(TrustError::Invalid(format!(
                "{} seed has {} bytes, expected {}",
                alg.name(),
                seed.len(),
                alg.seed_len()
            )));
        }
        let ed_of = |s: &[u8]| {
            let s: [u8; 32] = s.try_into().expect("32 bytes");
            ed25519_zebra::SigningKey::from(s)
        };
        let (public, ed, ml) = match alg {
            Alg::Ed25519 => {
                let ed = ed_of(seed);
                let pk: [u8; 32] = ed25519_zebra::VerificationKey::from(&ed).into();
                (pk.to_vec(), Some(ed), None)
            }
            Alg::Hybrid => {
                let ed = ed_of(&seed[..32]);
                let pk: [u8; 32] = ed25519_zebra::VerificationKey::from(&ed).into();
                let (mpk, ml) =
                    MlSecret::from_seed(Alg::MlDsa65, seed[32..].try_into().expect("32"));
                let mut bytes = pk.to_vec();
                bytes.extend_from_slice(&mpk);
                (bytes, Some(ed), Some(ml))
            }
            alg => {
                let (pk, ml) = MlSecret::from_seed(alg, seed.try_into().expect("32"));
                (pk, None, Some(ml))
            }
        };
        Ok(SigningKey {
            alg,
            seed: seed.to_vec(),
            public: PublicKey { alg, bytes: public },
            ed,
            ml,
            deterministic: false,
        })
    }

    /// Makes ML-DSA signing deterministic (FIPS 204 with a zero `rnd`), for golden vectors and
    /// replayable simulations. Ed25519 is always deterministic.
    pub fn deterministic(mut self) -> SigningKey {
        self.deterministic = true;
        self
    }

    /// The algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The seed (what the key file stores).
    pub fn seed(&self) -> &[u8] {
        &self.seed
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key id.
    pub fn id(&self) -> KeyId {
        self.public.id()
    }

    /// Signs `body` for `kind`.
    pub fn sign(&self, kind: SignKind, body: &[u8]) -> Vec<u8> {
        let msg = signed_bytes(self.alg, kind, body);
        let rnd = self.deterministic.then_some(&[0u8; 32]);
        match self.alg {
            Alg::Ed25519 => {
                let s: [u8; 64] = self.ed.as_ref().expect("ed key").sign(&msg).into();
                s.to_vec()
            }
            Alg::Hybrid => {
                let mut out = self.ml.as_ref().expect("ml key").sign(&msg, &[], rnd);
                let s: [u8; 64] = self.ed.as_ref().expect("ed key").sign(&msg).into();
                out.extend_from_slice(&s);
                out
            }
            _ => self
                .ml
                .as_ref()
                .expect("ml key")
                .sign(&msg, &kind.tag(), rnd),
        }
    }
}

/// One signature to check in a batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The key.
    pub key: &'a PublicKey,
    /// What the signature is for.
    pub kind: SignKind,
    /// The body.
    pub body: &'a [u8],
    /// The signature.
    pub sig: &'a [u8],
}

/// Verifies many signatures: the Ed25519 ones in one ZIP 215 batch (which by construction
/// accepts exactly what single verification accepts; on failure each is rechecked singly to
/// find the bad ones), the others one by one. Returns one verdict per item, in order.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<bool> {
    let mut out = vec![false; items.len()];
    let mut batch = ed25519_zebra::batch::Verifier::new();
    let mut queued = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let key = memo_key(it.key, it.kind, it.body, it.sig);
        if let Some(hit) = memo_get(&key) {
            out[i] = hit;
            continue;
        }
        if it.key.alg == Alg::Ed25519 && it.sig.len() == 64 && it.key.bytes.len() == 32 {
            let vk: [u8; 32] = it.key.bytes[..].try_into().expect("32");
            let sig = ed25519_zebra::Signature::try_from(it.sig).expect("64 bytes");
            let msg = signed_bytes(Alg::Ed25519, it.kind, it.body);
            batch.queue((ed25519_zebra::VerificationKeyBytes::from(vk), sig, &msg));
            queued.push((i, key));
        } else {
            out[i] = it.key.verify(it.kind, it.body, it.sig);
        }
    }
    if queued.is_empty() {
        return out;
    }
    if batch.verify(BatchRng).is_ok() {
        for (i, key) in queued {
            out[i] = true;
            memo_put(key, true);
        }
    } else {
        for (i, _) in queued {
            let it = &items[i];
            out[i] = it.key.verify(it.kind, it.body, it.sig);
        }
    }
    out
}

/// The batch verifier's random coefficients: OS randomness (they must be unpredictable to
/// whoever chose the signatures).
struct BatchRng;

impl rand_core_010::TryRng for BatchRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        Ok(OsRng.next_u32())
    }

    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        Ok(OsRng.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        OsRng.fill_bytes(dst);
        Ok(())
    }
}

impl rand_core_010::TryCryptoRng for BatchRng {}

type MemoKey = [u8; 32];

fn memo() -> &'static Mutex<HashMap<MemoKey, bool>> {
    static MEMO: OnceLock<Mutex<HashMap<MemoKey, bool>>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

fn memo_key(pk: &PublicKey, kind: SignKind, body: &[u8], sig: &[u8]) -> MemoKey {
    let mut h = blake3::Hasher::new();
    h.update(&[pk.alg.code(), kind.code()]);
    h.update(&(pk.bytes.len() as u64).to_be_bytes());
    h.update(&pk.bytes);
    h.update(&(body.len() as u64).to_be_bytes());
    h.update(body);
    h.update(sig);
    *h.finalize().as_bytes()
}

fn memo_get(key: &MemoKey) -> Option<bool> {
    memo().lock().ok()?.get(key).copied()
}

/// Entries kept before the memo is cleared (bounded memory).
const MEMO_CAP: usize = 1 << 20;

fn memo_put(key: MemoKey, ok: bool) {
    if let Ok(mut m) = memo().lock() {
        if m.len() >= MEMO_CAP {
            m.clear();
        }
        m.insert(key, ok);
    }
}
