//! Why a step or a run ended, in OpenFn's words, and how the host's errors map onto
//! them.
//!
//! | reason | when | error types |
//! |---|---|---|
//! | `success` | nothing failed | none |
//! | (JavaScript jobs) | as OpenFn's runtime classifies the error the job's code raised | `JobError`, `RuntimeError`, `AdaptorError` fail; `RuntimeCrash`, `CompileError` crash |
//! | `fail` | the job reported an error: an adaptor operation failed, an argument or a `$` reference did not fit, the configuration was refused | `AdaptorError`, `JobError`, `ConfigurationError` |
//! | `crash` | the plan could not run: the plan or its input is malformed, an adaptor will not load, the job calls an operation that does not exist, the adaptor component crashed | `InputError`, `ImportError`, `RuntimeCrash` |
//! | `kill` | a limit stopped it (the message names the limit and its flag), or the network policy denied a request | `TimeoutError` (wall, CPU or run time), `OOMError`, `LimitError` (requests, response size, log volume), `SecurityError` |
//! | `exception` | the host itself failed | `ExecutionError` |
//! | `cancel` | the run was cancelled through its handle | `CancelError` |
//!
//! A run's reason: the first `crash`, `kill`, `exception` or `cancel` ends it with
//! that reason; otherwise `fail` when a leaf step (one after which no step ran) failed,
//! else `success`. A failure handled by an `on_job_failure` edge does not fail the run.

use std::fmt;

use crate::error::Error;
use crate::sandbox::limits::Limit;

/// OpenFn's reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Nothing failed.
    Success,
    /// The job reported an error; the run goes on along failure edges.
    Fail,
    /// The plan could not run.
    Crash,
    /// A limit stopped it.
    Kill,
    /// The host failed.
    Exception,
    /// It was cancelled.
    Cancel,
}

impl Reason {
    /// The lower-case name OpenFn uses (`success`, `fail`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Reason::Success => "success",
            Reason::Fail => "fail",
            Reason::Crash => "crash",
            Reason::Kill => "kill",
            Reason::Exception => "exception",
            Reason::Cancel => "cancel",
        }
    }

    /// Whether it ends the run at once (not `success` or `fail`).
    pub fn is_fatal(self) -> bool {
        !matches!(self, Reason::Success | Reason::Fail)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Error {
    /// The reason a step that ended with this error ends with.
    pub fn reason(&self) -> Reason {
        match self {
            Error::Operation { .. } | Error::Argument { .. } | Error::Configuration(_) => Reason::Fail,
            Error::Input(_) => Reason::Fail,
            Error::Load { .. }
            | Error::ForbiddenImport { .. }
            | Error::UnknownOperation { .. }
            | Error::Trap { .. } => Reason::Crash,
            Error::Limit { .. } | Error::Denied { .. } => Reason::Kill,
            Error::Cancelled => Reason::Cancel,
            Error::Internal(_) => Reason::Exception,
            Error::Job { name, .. } => match name.as_str() {
                "RuntimeCrash" | "CompileError" | "ImportError" | "ReferenceError" | "SyntaxError" => Reason::Crash,
                "TimeoutError" | "OOMError" | "LimitError" | "SecurityError" | "StateTooLargeError" => Reason::Kill,
                _ => Reason::Fail,
            },
        }
    }

    /// The error's type as OpenFn names such errors (`AdaptorError`, `TimeoutError`,
    /// ...): see the table in [this module](crate::reason).
    pub fn error_type(&self) -> &str {
        match self {
            Error::Job { name, .. } => name,
            Error::Operation { .. } => "AdaptorError",
            Error::Argument { .. } | Error::Input(_) => "JobError",
            Error::Configuration(_) => "ConfigurationError",
            Error::Load { .. } | Error::ForbiddenImport { .. } => "ImportError",
            Error::UnknownOperation { .. } | Error::Trap { .. } => "RuntimeCrash",
            Error::Limit { limit, .. } => match limit {
                Limit::WallTime(_) | Limit::CpuTime(_) | Limit::RunTime(_) => "TimeoutError",
                Limit::Memory(_) => "OOMError",
                _ => "LimitError",
            },
            Error::Denied { .. } => "SecurityError",
            Error::Cancelled => "CancelError",
            Error::Internal(_) => "ExecutionError",
        }
    }
}
