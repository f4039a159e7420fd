//! The kernel's one error type.
//!
//! Caller errors (a bad argument, a type mismatch, undecodable bytes, an unknown strategy) are kept
//! apart from [`ErrorKind::Internal`], which only a kernel bug can produce. Every host maps the
//! first group to its "invalid argument" error and the second to its "internal error".

use std::fmt;

/// Result alias used throughout the kernel.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error raised by a kernel function, always naming the function it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// SQL-level name of the function that failed (for example `crdt_lww`), or a kernel entry point.
    pub function: String,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong; see [`Error`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument has a value the function does not accept.
    #[error("argument `{argument}`: expected {expected}, found {found}")]
    InvalidArgument {
        /// Argument name as the catalogue spells it.
        argument: String,
        /// What the function accepts.
        expected: String,
        /// What it was given.
        found: String,
    },
    /// An argument has a type the function does not accept.
    #[error("argument `{argument}`: expected type {expected}, found {found}")]
    TypeMismatch {
        /// Argument name as the catalogue spells it.
        argument: String,
        /// Accepted type(s).
        expected: String,
        /// The type given.
        found: String,
    },
    /// The function was called with the wrong number of arguments.
    #[error("expected {expected} arguments, found {found}")]
    Arity {
        /// Accepted argument count(s), for example `2 or 3`.
        expected: String,
        /// Number given.
        found: usize,
    },
    /// Bytes could not be decoded; `offset` is where decoding stopped.
    #[error("cannot decode state bytes at byte offset {offset}: {reason}")]
    Decode {
        /// Byte offset of the problem.
        offset: usize,
        /// What was wrong there.
        reason: String,
    },
    /// A strategy name that does not exist.
    #[error("unknown strategy `{name}`; valid strategies are: {valid}")]
    UnknownStrategy {
        /// The name given.
        name: String,
        /// Comma-separated valid names.
        valid: String,
    },
    /// An arithmetic result that does not fit the output type.
    #[error("overflow: {0}")]
    Overflow(String),
    /// A query (MergeQL) could not be parsed.
    #[error("syntax error at position {position}: expected {expected}, found {found}")]
    Syntax {
        /// Character offset (0-based) in the query text.
        position: usize,
        /// What the parser expected there.
        expected: String,
        /// What it found.
        found: String,
    },
    /// A kernel bug: the caller did nothing wrong.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl Error {
    /// Builds an error for `function`.
    pub fn new(function: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            function: function.into(),
            kind,
        }
    }

    /// The same error with the found type written in a host's vocabulary (`VARCHAR` rather than
    /// Arrow's `Utf8`): users read their engine's type names, not the kernel's.
    pub fn with_type_names(mut self, name: impl Fn(&arrow_schema::DataType) -> String) -> Self {
        if let ErrorKind::TypeMismatch { found, .. } = &mut self.kind {
            if let Ok(dt) = found.parse::<arrow_schema::DataType>() {
                *found = name(&dt);
            }
        }
        self
    }

    /// Shorthand for [`ErrorKind::InvalidArgument`].
    pub fn invalid(
        function: impl Into<String>,
        argument: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self::new(
            function,
            ErrorKind::InvalidArgument {
                argument: argument.into(),
                expected: expected.into(),
                found: found.into(),
            },
        )
    }

    /// Shorthand for [`ErrorKind::TypeMismatch`].
    pub fn type_mismatch(
        function: impl Into<String>,
        argument: impl Into<String>,
        expected: impl Into<String>,
        found: impl fmt::Display,
    ) -> Self {
        Self::new(
            function,
            ErrorKind::TypeMismatch {
                argument: argument.into(),
                expected: expected.into(),
                found: found.to_string(),
            },
        )
    }

    /// Shorthand for [`ErrorKind::Decode`].
    pub fn decode(function: impl Into<String>, offset: usize, reason: impl Into<String>) -> Self {
        Self::new(
            function,
            ErrorKind::Decode {
                offset,
                reason: reason.into(),
            },
        )
    }

    /// Shorthand for [`ErrorKind::Internal`].
    pub fn internal(function: impl Into<String>, what: impl Into<String>) -> Self {
        Self::new(function, ErrorKind::Internal(what.into()))
    }

    /// True when the caller's input caused the error (as opposed to a kernel bug).
    pub fn is_caller_error(&self) -> bool {
        !matches!(self.kind, ErrorKind::Internal(_))
    }

    /// Re-attributes the error to another function name (used when a shared kernel runs on behalf
    /// of a named SQL function).
    pub fn in_function(mut self, function: impl Into<String>) -> Self {
        self.function = function.into();
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.function, self.kind)
    }
}

impl std::error::Error for Error {}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::internal("arrow", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_function_argument_and_expectation() {
        let e = Error::invalid(
            "crdt_priority",
            "levels",
            "a constant list",
            "a varying list",
        );
        assert_eq!(
            e.to_string(),
            "crdt_priority: argument `levels`: expected a constant list, found a varying list"
        );
        assert!(e.is_caller_error());
        assert!(!Error::internal("x", "y").is_caller_error());
    }
}
