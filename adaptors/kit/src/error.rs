//! The WIT `error` variant and constructors for it.
//!
//! Messages name what was wrong and what was expected. They are built from field
//! names, statuses and URLs the kit assembled itself, never from credential values, so
//! no error can carry a secret (the host masks configuration values as well).

pub use crate::wit::types::{AuthFailure, Error, HttpFailure};

/// A missing or malformed configuration field: `configuration.<field> <problem>`.
pub fn configuration(field: &str, problem: &str) -> Error {
    Error::Configuration(format!("configuration.{field} {problem}"))
}

/// An argument or state of the wrong shape.
pub fn invalid_argument(message: impl Into<String>) -> Error {
    Error::InvalidArgument(message.into())
}

/// A body that is not what the operation expects.
pub fn parse(message: impl Into<String>) -> Error {
    Error::Parse(message.into())
}

/// No response arrived.
pub fn transport(message: impl Into<String>) -> Error {
    Error::Transport(message.into())
}
