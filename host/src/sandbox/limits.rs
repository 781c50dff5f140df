//! Per-job limits: what a job may use before the host stops it.

use std::fmt;
use std::time::Duration;

/// The limits of one job. Every job gets a fresh sandbox with these limits; breaking
/// one stops the job with [`Error::Limit`](crate::Error::Limit), naming the limit,
/// its value and the flag that raises it. The host itself keeps running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory of the adaptor instance, in bytes. Default: 64 MiB, ample for
    /// adaptors that hold a page of JSON at a time.
    pub memory_bytes: u64,
    /// Time the guest may spend executing, summed over the job. Default: 30 s; waiting
    /// for servers does not count.
    pub cpu_time: Duration,
    /// Wall-clock time of the whole job, waiting included. Default: 5 minutes, as
    /// OpenFn's CLI.
    pub wall_time: Duration,
    /// HTTP requests per job. Default: 10,000.
    pub requests: u32,
    /// Size of one response body, in bytes. Default: 32 MiB (OpenLMIS requisitions
    /// with embedded orderables run to several MB).
    pub response_bytes: u64,
    /// Bytes of guest log lines per job. Default: 1 MiB.
    pub log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(30),
            wall_time: Duration::from_secs(300),
            requests: 10_000,
            response_bytes: 32 << 20,
            log_bytes: 1 << 20,
        }
    }
}

/// How often the engine's epoch advances: the granularity of CPU-time accounting.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The largest memory limit the engine's instance pool supports.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// A limit that was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::memory_bytes`].
    Memory(u64),
    /// [`Limits::cpu_time`].
    CpuTime(Duration),
    /// [`Limits::wall_time`].
    WallTime(Duration),
    /// [`Limits::requests`].
    Requests(u32),
    /// [`Limits::response_bytes`].
    ResponseBytes(u64),
    /// [`Limits::log_bytes`].
    LogBytes(u64),
    /// The wall-clock limit of a whole run, across its steps.
    RunTime(Duration),
}

impl Limit {
    /// The command-line flag that sets this limit.
    pub fn flag(&self) -> &'static str {
        match self {
            Limit::Memory(_) => "--max-memory",
            Limit::CpuTime(_) => "--max-cpu",
            Limit::WallTime(_) => "--timeout",
            Limit::Requests(_) => "--max-requests",
            Limit::ResponseBytes(_) => "--max-response-size",
            Limit::LogBytes(_) => "--max-log-size",
            Limit::RunTime(_) => "--run-timeout",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = self.flag();
        match self {
            Limit::Memory(b) => write!(f, "memory limit of {} MiB (raise it with {flag})", b >> 20),
            Limit::CpuTime(d) => write!(f, "CPU time limit of {} ms (raise it with {flag})", d.as_millis()),
            Limit::WallTime(d) => write!(f, "time limit of {} ms (raise it with {flag})", d.as_millis()),
            Limit::Requests(n) => write!(f, "limit of {n} HTTP requests per job (raise it with {flag})"),
            Limit::ResponseBytes(b) => {
                write!(f, "response size limit of {b} bytes (raise it with {flag})")
            }
            Limit::LogBytes(b) => write!(f, "log volume limit of {b} bytes (raise it with {flag})"),
            Limit::RunTime(d) => write!(f, "run time limit of {} ms (raise it with {flag})", d.as_millis()),
        }
    }
}
