//! One error type for the crate. Every variant that a caller can cause names the file, tensor,
//! model, strategy or parameter it is about, so the CLI can print it as is.

use std::path::PathBuf;

/// Everything that can go wrong while reading, merging or writing models, or handling a state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A file that is not what it claims to be (truncated or lying safetensors header, bad index,
    /// corrupt manifest or blob).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was expected and found.
        message: String,
    },
    /// A tensor that cannot take part in the merge (shape, dtype, missing, non-finite value).
    #[error("tensor `{tensor}`: {message}")]
    Tensor {
        /// The tensor name.
        tensor: String,
        /// What was expected and found (names the files involved).
        message: String,
    },
    /// A strategy name nobody knows.
    #[error("unknown strategy `{name}`; valid strategies: {valid}")]
    UnknownStrategy {
        /// What the caller wrote.
        name: String,
        /// Every valid name, comma separated.
        valid: String,
    },
    /// A parameter that is unknown, missing, of the wrong type or out of range.
    #[error("strategy `{strategy}`: parameter `{param}`: {message}")]
    Param {
        /// The strategy.
        strategy: String,
        /// The parameter.
        param: String,
        /// What was expected.
        message: String,
    },
    /// Any other invalid request (a base-requiring strategy without a base, a weight missing for a
    /// model, states that cannot merge ...).
    #[error("{0}")]
    Invalid(String),
}

impl ModelError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
    /// A format error in `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ModelError::Format {
            path: path.into(),
            message: message.into(),
        }
    }
    /// A problem with tensor `tensor`.
    pub fn tensor(tensor: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Tensor {
            tensor: tensor.into(),
            message: message.into(),
        }
    }
    /// A problem with parameter `param` of `strategy`.
    pub fn param(
        strategy: impl Into<String>,
        param: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ModelError::Param {
            strategy: strategy.into(),
            param: param.into(),
            message: message.into(),
        }
    }
    /// Any other invalid request.
    pub fn invalid(message: impl Into<String>) -> Self {
        ModelError::Invalid(message.into())
    }
}

/// The crate's result type.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
