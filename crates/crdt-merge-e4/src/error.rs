//! One error type for the crate. Caller errors (a malformed file, a bad argument, a refused
//! merge) are separated by [`TrustError`]'s variants; each names the file, field or byte offset.

use std::path::PathBuf;

/// Result with [`TrustError`].
pub type Result<T> = std::result::Result<T, TrustError>;

/// Everything that can go wrong in E4.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Bytes that are not the one canonical encoding of `what`.
    #[error("{what}: byte {offset}: {reason}")]
    Decode {
        /// The structure being decoded (`delta header`, `key event`, ...).
        what: &'static str,
        /// The offset of the first offending byte.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A signature that does not verify, or a key that is missing or unusable.
    #[error("signature: {0}")]
    Signature(String),
    /// A PKI event or query that the PKI rules refuse.
    #[error("pki: {0}")]
    Pki(String),
    /// A merge or insertion refused as a whole; the state is unchanged.
    #[error("refused: {0}")]
    Refused(String),
    /// A bad argument.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A file that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A key or sequence file with the wrong content.
    #[error("{}: line {line}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// The kernel refused the gated table merge.
    #[error("table merge: {0}")]
    Kernel(#[from] crdt_merge_kernel::Error),
    /// The model crate refused the gated model state.
    #[cfg(feature = "model")]
    #[error("model state: {0}")]
    Model(#[from] crdt_merge_model::ModelError),
}

impl TrustError {
    pub(crate) fn decode(what: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        TrustError::Decode {
            what,
            offset,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrustError::Io {
            path: path.into(),
            source,
        }
    }
}
