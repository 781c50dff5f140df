//! The host library's errors, sorted by who must act on them.

use serde_json::Value;

use crate::sandbox::limits::Limit;

/// Why loading an adaptor or running a job failed.
///
/// Every message names what was wrong and what was expected. Messages built from job
/// input or guest output pass through the job's [`Redactor`](crate::Redactor) before
/// they are shown, so they carry no configuration value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input the user gave (job, state, credentials, flags) has the wrong shape.
    #[error("{0}")]
    Input(String),

    /// The job's configuration does not fit the adaptor's declaration (a field missing,
    /// or of the wrong kind), or the adaptor refused it. Nothing was sent.
    #[error("{0}")]
    Configuration(String),

    /// An adaptor could not be found, read or compiled.
    #[error("cannot load adaptor {name}: {reason}")]
    Load {
        /// The adaptor's name or path.
        name: String,
        /// What went wrong.
        reason: String,
    },

    /// An adaptor imports an interface outside the `openfn:adaptor/base` world.
    #[error(
        "adaptor {adaptor} imports {import}, which adaptors may not use: only outgoing HTTP, \
         the host log and the WASI interfaces of the openfn:adaptor/base world are allowed ({allowed})"
    )]
    ForbiddenImport {
        /// The adaptor's name or path.
        adaptor: String,
        /// The refused import.
        import: String,
        /// The allowed interfaces.
        allowed: String,
    },

    /// A job names an operation the adaptor does not export.
    #[error("adaptor {adaptor} has no operation {operation:?}; available: {available}")]
    UnknownOperation {
        /// The adaptor.
        adaptor: String,
        /// The name in the job.
        operation: String,
        /// The adaptor's operations, comma-separated.
        available: String,
    },

    /// A job argument does not fit the operation's WIT parameter.
    #[error("{operation}: argument {param}: {problem}")]
    Argument {
        /// The operation.
        operation: String,
        /// The parameter's name.
        param: String,
        /// What was wrong and what the WIT type expects.
        problem: String,
    },

    /// The operation ran and returned its WIT `error`.
    #[error("{operation}: {message}")]
    Operation {
        /// The operation.
        operation: String,
        /// The error's case (`http`, `unauthorized`, `configuration`, ...).
        kind: String,
        /// A one-line description.
        message: String,
        /// The error's payload as JSON (status, URL, body for HTTP failures); boxed so
        /// that every `Result` of the host stays small.
        details: Box<Value>,
    },

    /// The job broke one of its limits and was stopped.
    #[error("{operation}: stopped by the {limit}")]
    Limit {
        /// The operation that was running.
        operation: String,
        /// The limit, its value and the flag that raises it.
        limit: Limit,
    },

    /// The host's network policy denied a request; the guest's own error follows.
    #[error(
        "{operation}: the network policy denied a request to {origin}: it is not named by the job's \
         configuration (pass --allow-host {origin} to allow it)"
    )]
    Denied {
        /// The operation.
        operation: String,
        /// The denied origin.
        origin: String,
    },

    /// The guest trapped (a bug in the adaptor, e.g. a panic).
    #[error("{operation}: the adaptor crashed: {message}")]
    Trap {
        /// The operation.
        operation: String,
        /// The trap and the guest's stderr, if any.
        message: String,
    },

    /// The run was cancelled through its handle.
    #[error("cancelled")]
    Cancelled,
    /// A JavaScript job failed: its code threw, an adaptor operation failed, or the
    /// runtime refused the job; `name` is OpenFn's error class (`JobError`,
    /// `RuntimeError`, `AdaptorError`, `RuntimeCrash`, `CompileError`, ...).
    #[error("{name}: {message}")]
    Job {
        /// OpenFn's error class.
        name: String,
        /// What went wrong (masked).
        message: String,
    },

    /// Something failed in the host itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The error's kind as a short stable word, for `state.errors`.
    pub fn kind(&self) -> &str {
        match self {
            Error::Input(_) => "input",
            Error::Configuration(_) => "configuration",
            Error::Load { .. } => "load",
            Error::ForbiddenImport { .. } => "forbidden-import",
            Error::UnknownOperation { .. } => "unknown-operation",
            Error::Argument { .. } => "argument",
            Error::Operation { kind, .. } => kind,
            Error::Limit { .. } => "limit",
            Error::Denied { .. } => "denied",
            Error::Trap { .. } => "trap",
            Error::Cancelled => "cancelled",
            Error::Job { .. } => "job",
            Error::Internal(_) => "internal",
        }
    }

    /// Structured details for `state.errors` (HTTP status, URL, body...), if any.
    pub fn details(&self) -> Option<&Value> {
        match self {
            Error::Operation { details, .. } => Some(details.as_ref()),
            _ => None,
        }
    }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
