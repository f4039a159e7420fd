//! Key files and the signer's sequence high-water mark.
//!
//! A secret key file (mode 0600) and its `.pub` companion are four text lines:
//!
//! ```text
//! crdt-merge e4 secret key v1        crdt-merge e4 public key v1
//! alg ed25519                        alg ed25519
//! key-id <64 hex>                    key-id <64 hex>
//! seed <hex>                         public <hex>
//! ```
//!
//! The seed is what [`SigningKey::from_seed`] takes; the key id is checked on every read. The
//! sequence file `KEY.seq` holds one line per context, `<context hex> <last seq>`, after the
//! header line `crdt-merge e4 seq v1`; [`SeqFile::reserve`] writes it (and syncs it) before a
//! signature is made with the number, so a crash can skip a number but never reuse one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::codec::{hex, parse_hex};
use crate::error::{Result, TrustError};
use crate::hash::Context;
use crate::sig::{Alg, PublicKey, SigningKey};

const SECRET_MAGIC: &str = "crdt-merge e4 secret key v1";
const PUBLIC_MAGIC: &str = "crdt-merge e4 public key v1";
const SEQ_MAGIC: &str = "crdt-merge e4 seq v1";

/// The text of a secret key file.
pub fn secret_key_text(key: &SigningKey) -> String {
    format!(
        "{SECRET_MAGIC}\nalg {}\nkey-id {}\nseed {}\n",
        key.alg().name(),
        key.id().hex(),
        hex(key.seed())
    )
}

/// The text of a public key file.
pub fn public_key_text(key: &PublicKey) -> String {
    format!(
        "{PUBLIC_MAGIC}\nalg {}\nkey-id {}\npublic {}\n",
        key.alg.name(),
        key.id().hex(),
        hex(&key.bytes)
    )
}

fn fields<'a>(
    path: &Path,
    text: &'a str,
    magic: &str,
    last: &str,
) -> Result<(Alg, String, &'a str)> {
    let bad = |line: usize, reason: String| TrustError::KeyFile {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != 4 {
        return Err(bad(
            lines.len().min(4) + 1,
            format!("expected 4 lines, found {}", lines.len()),
        ));
    }
    if lines[0] != magic {
        return Err(bad(1, format!("expected `{magic}`")));
    }
    let value = |i: usize, name: &str| -> Result<&'a str> {
        lines[i]
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad(i + 1, format!("expected `{name} <value>`")))
    };
    let alg = Alg::parse(value(1, "alg")?).map_err(|e| bad(2, e.to_string()))?;
    let id = value(2, "key-id")?.to_string();
    Ok((alg, id, value(3, last)?))
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| TrustError::io(path, e))
}

/// Parses a secret key file's text.
///
/// # Errors
/// A malformed line (named), a seed of the wrong length, or a key id that does not match.
pub fn parse_secret_key(path: &Path, text: &str) -> Result<SigningKey> {
    let (alg, id, seed) = fields(path, text, SECRET_MAGIC, "seed")?;
    let bad = |line, reason: String| TrustError::KeyFile {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let seed = parse_hex(seed).ok_or_else(|| bad(4, "seed is not hex".into()))?;
    let key = SigningKey::from_seed(alg, &seed).map_err(|e| bad(4, e.to_string()))?;
    if key.id().hex() != id {
        return Err(bad(3, "key id does not match the seed".into()));
    }
    Ok(key)
}

/// Parses a public key file's text; the key must pass [`PublicKey::validate`].
///
/// # Errors
/// A malformed line, a key id that does not match, or a key the PKI would refuse.
pub fn parse_public_key(path: &Path, text: &str) -> Result<PublicKey> {
    let (alg, id, public) = fields(path, text, PUBLIC_MAGIC, "public")?;
    let bad = |line, reason: String| TrustError::KeyFile {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let bytes = parse_hex(public).ok_or_else(|| bad(4, "public key is not hex".into()))?;
    let key = PublicKey { alg, bytes };
    key.validate().map_err(|e| bad(4, e.to_string()))?;
    if key.id().hex() != id {
        return Err(bad(3, "key id does not match the public key".into()));
    }
    Ok(key)
}

/// Reads a secret key file.
///
/// # Errors
/// I/O errors and [`parse_secret_key`]'s.
pub fn read_secret_key(path: &Path) -> Result<SigningKey> {
    parse_secret_key(path, &read_text(path)?)
}

/// Reads a public key file.
///
/// # Errors
/// I/O errors and [`parse_public_key`]'s.
pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    parse_public_key(path, &read_text(path)?)
}

/// The `.pub` path of a key path (`KEY` → `KEY.pub`).
pub fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// The `.seq` path of a key path (`KEY` → `KEY.seq`).
pub fn seq_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".seq");
    PathBuf::from(p)
}

fn write_synced(path: &Path, text: &str, mode: u32) -> Result<()> {
    let tmp = {
        let mut p = path.as_os_str().to_owned();
        p.push(".tmp");
        PathBuf::from(p)
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp).map_err(|e| TrustError::io(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| TrustError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| TrustError::io(path, e))
}

/// Writes `KEY` (mode 0600) and `KEY.pub` (mode 0644); refuses to overwrite an existing key.
///
/// # Errors
/// An existing file, or an I/O error naming the file.
pub fn write_key_files(path: &Path, key: &SigningKey) -> Result<()> {
    for p in [path.to_path_buf(), pub_path(path)] {
        if p.exists() {
            return Err(TrustError::io(
                &p,
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "refusing to overwrite"),
            ));
        }
    }
    write_synced(path, &secret_key_text(key), 0o600)?;
    write_synced(&pub_path(path), &public_key_text(key.public()), 0o644)
}

/// The signer's persisted sequence high-water marks, one per context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqFile {
    /// Last sequence number reserved per context.
    pub last: BTreeMap<Context, u64>,
    /// Per context, the last signed sequence number and its delta id (the next delta's
    /// `prev`).
    pub prev: BTreeMap<Context, (u64, [u8; 32])>,
}

impl SeqFile {
    /// Reads `path`; a missing file is empty.
    ///
    /// # Errors
    /// I/O errors, or a malformed line (named).
    pub fn read(path: &Path) -> Result<SeqFile> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SeqFile::default()),
            Err(e) => return Err(TrustError::io(path, e)),
        };
        let bad = |line, reason: &str| TrustError::KeyFile {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(SEQ_MAGIC) {
            return Err(bad(1, "expected `crdt-merge e4 seq v1`"));
        }
        let mut out = SeqFile::default();
        for (i, line) in lines.enumerate() {
            let parts: Vec<&str> = line.split(' ').collect();
            let (c, s) = match parts.as_slice() {
                [c, s] | [c, s, _, _] => (*c, *s),
                _ => {
                    return Err(bad(
                        i + 2,
                        "expected `<context hex> <seq> [<signed seq> <delta id hex>]`",
                    ))
                }
            };
            let c: [u8; 32] = parse_hex(c)
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| bad(i + 2, "context is not 64 hex digits"))?;
            let s: u64 = s.parse().map_err(|_| bad(i + 2, "seq is not a number"))?;
            out.last.insert(Context(c), s);
            if let [_, _, at, id] = parts.as_slice() {
                let at: u64 = at
                    .parse()
                    .map_err(|_| bad(i + 2, "signed seq is not a number"))?;
                let id: [u8; 32] = parse_hex(id)
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| bad(i + 2, "delta id is not 64 hex digits"))?;
                out.prev.insert(Context(c), (at, id));
            }
        }
        Ok(out)
    }

    /// Reserves a sequence number for `ctx`: the next one, or `requested` when it is above the
    /// high-water mark, and persists the new mark (synced) before returning it.
    ///
    /// # Errors
    /// A requested number at or below the mark (reusing a number is how honest keys get
    /// convicted of equivocation), or an I/O error.
    pub fn reserve(path: &Path, ctx: Context, requested: Option<u64>) -> Result<u64> {
        let mut file = SeqFile::read(path)?;
        let last = file.last.get(&ctx).copied().unwrap_or(0);
        let seq = match requested {
            Some(n) if n <= last => {
                return Err(TrustError::Invalid(format!(
                    "sequence number {n} is at or below the high-water mark {last} in {}: \
                     signing it again could make two different deltas with one number",
                    path.display()
                )))
            }
            Some(n) => n,
            None => last + 1,
        };
        file.last.insert(ctx, seq);
        file.write(path)?;
        Ok(seq)
    }

    /// Records that `seq` in `ctx` was signed as delta `id` (the next delta's `prev`). Call it
    /// after signing and before releasing the delta.
    ///
    /// # Errors
    /// I/O errors, or a malformed file.
    pub fn record(path: &Path, ctx: Context, seq: u64, id: [u8; 32]) -> Result<()> {
        let mut file = SeqFile::read(path)?;
        file.prev.insert(ctx, (seq, id));
        file.write(path)
    }

    fn write(&self, path: &Path) -> Result<()> {
        let mut text = format!("{SEQ_MAGIC}\n");
        for (c, s) in &self.last {
            text.push_str(&format!("{} {s}", c.hex()));
            if let Some((at, id)) = self.prev.get(c) {
                text.push_str(&format!(" {at} {}", hex(id)));
            }
            text.push('\n');
        }
        write_synced(path, &text, 0o600)
    }
}
