//! The per-job sandbox: the store data every job gets fresh, with its limits, network
//! hooks and log.

pub mod client;
pub mod hooks;
pub mod limits;
pub mod policy;
pub mod resolve;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use self::client::Network;
use self::hooks::{Hooks, Incidents};
use self::limits::{EPOCH_TICK, Limit, Limits};
use self::policy::Policy;
use crate::events::{JobLog, LogLevel, LogSource};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        interfaces: "import openfn:adaptor/host@0.2.0;",
        // `log` traps when the job exceeds its log volume limit.
        imports: { default: trappable },
    });
}

use bindings::openfn::adaptor::host::{self as host_log, Level};

/// Bytes of guest stderr kept per job (panic messages end up there, and from there in
/// the job's error). Never more than the job's log limit; the guest's stdout is
/// discarded.
const STDERR_BYTES: u64 = 64 << 10;

/// What a log line costs besides its message and fields: timestamp, level, field
/// names and separators as the host's log formats write them.
const LINE_BYTES: u64 = 64;

/// How many warnings of the host about one job are written; the rest are counted and
/// summarised in one line when the job ends.
const SHOWN_WARNINGS: u32 = 10;

/// The store data of one job.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    memory: MemoryLimiter,
    log: GuestLog,
    stderr: MemoryOutputPipe,
    incidents: Arc<Incidents>,
    /// The limit that stopped the job, recorded where it was enforced.
    broken: Option<Limit>,
}

impl Sandbox {
    /// A fresh store for one job, sending its requests through `network` (`None`: no
    /// network, every request is denied) and its log lines to `log`.
    pub fn store(
        engine: &wasmtime::Engine,
        limits: &Limits,
        policy: Arc<Policy>,
        log: JobLog,
        network: Option<Network>,
    ) -> Store<Sandbox> {
        let stderr = MemoryOutputPipe::new(usize::try_from(STDERR_BYTES.min(limits.log_bytes)).unwrap_or(usize::MAX));
        // No environment, arguments, preopened directories or sockets: the defaults.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let incidents = Arc::new(Incidents::default());
        let budget = Arc::new(LogBudget::new(limits.log_bytes, log));
        let hooks = Hooks::new(
            policy,
            network,
            Arc::clone(&incidents),
            Arc::clone(&budget),
            limits.requests,
            limits.response_bytes,
            limits.wall_time,
        );
        let sandbox = Sandbox {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            memory: MemoryLimiter::new(limits.memory_bytes),
            log: GuestLog {
                operation: String::new(),
                budget,
            },
            stderr,
            incidents,
            broken: None,
        };
        let mut store = Store::new(engine, sandbox);
        store.limiter(|s| &mut s.memory);
        meter_cpu(&mut store, limits.cpu_time, |s| &mut s.broken);
        store
    }

    /// Names the operation about to run, for log lines.
    pub fn set_operation(&mut self, operation: &str) {
        self.log.operation = operation.to_string();
    }

    /// The limit that stopped the job, if one did. `failed`: whether the call trapped;
    /// only then does memory the guest could not have count (a guest that asked for room
    /// ahead and did without it broke nothing).
    pub fn broken_limit(&self, limits: &Limits, failed: bool) -> Option<Limit> {
        if let Some(limit) = self.broken {
            return Some(limit);
        }
        if failed && (self.memory.refused || self.guest_out_of_memory()) {
            return Some(Limit::Memory(self.memory.max));
        }
        if self.log.budget.hit() {
            return Some(Limit::LogBytes(self.log.budget.max));
        }
        if self.incidents.requests_exceeded() {
            return Some(Limit::Requests(limits.requests));
        }
        if self.incidents.response_too_large() {
            return Some(Limit::ResponseBytes(limits.response_bytes));
        }
        None
    }

    /// Whether the guest's allocator gave up (Rust's "capacity overflow" for a request
    /// beyond what a 32-bit guest can address, or "memory allocation of N bytes
    /// failed"): the job needed more memory than it may have, though no growth reached
    /// the limiter.
    fn guest_out_of_memory(&self) -> bool {
        let stderr = self.stderr.contents();
        let stderr = String::from_utf8_lossy(&stderr);
        stderr.contains("capacity overflow") || (stderr.contains("memory allocation of ") && stderr.contains(" failed"))
    }

    /// The largest linear memory the guest reached, in bytes.
    pub fn peak_memory(&self) -> u64 {
        self.memory.peak
    }

    /// Writes a log line of the job's own or of the host about it (the `log`
    /// built-in, `cursor`), masked and counted against the job's log limit like the
    /// adaptor's own lines. Past the limit the line is dropped and the limit is broken.
    pub fn host_log(&self, level: LogLevel, source: LogSource, message: &str) -> Result<(), Limit> {
        let budget = &self.log.budget;
        let message = budget.log.redactor().text(message);
        budget
            .charge(line_bytes(&message, ""))
            .map(|()| budget.log.line(level, source, &message))
    }

    /// What the network hooks saw.
    pub fn incidents(&self) -> &Incidents {
        &self.incidents
    }

    /// The guest's stderr so far (redacted), e.g. a panic message.
    pub fn stderr(&self) -> String {
        self.log
            .budget
            .log
            .redactor()
            .text(String::from_utf8_lossy(&self.stderr.contents()).trim())
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Adds exactly the imports of the `openfn:adaptor/base` world to `linker`.
pub fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    add_std_to_linker(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    host_log::add_to_linker::<Sandbox, HasSelf<GuestLog>>(linker, |s| &mut s.log)?;
    Ok(())
}

/// The WASI imports every guest has, adaptor or JavaScript runtime: io, clocks,
/// random, stdin/stdout/stderr, and what Rust's std imports beyond the proxy world.
pub(crate) fn add_std_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p2::bindings::{cli, random};
    use wasmtime_wasi::random::WasiRandom;

    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(linker)?;
    cli::environment::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    cli::exit::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(linker, T::cli)?;
    random::insecure::add_to_linker::<T, WasiRandom>(linker, |s| s.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(linker, |s| s.ctx().ctx.random())?;
    Ok(())
}

/// Counts the epoch ticks that pass while guest code runs in `store` and stops it past
/// `cpu_time`, recording the limit where `broken` points; at each tick it yields to the
/// runtime, so the job's wall-clock time-out and cancellation fire even in a busy loop.
/// Every sandbox (an adaptor's, the JavaScript runtime's) is metered by it.
pub(crate) fn meter_cpu<T: 'static>(
    store: &mut Store<T>,
    cpu_time: std::time::Duration,
    broken: fn(&mut T) -> &mut Option<Limit>,
) {
    let tick_ms = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(1).max(1);
    let max_ticks = u64::try_from(cpu_time.as_millis()).unwrap_or(u64::MAX) / tick_ms;
    let mut ticks = 0u64;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |mut ctx| {
        ticks += 1;
        if ticks > max_ticks {
            let limit = Limit::CpuTime(std::time::Duration::from_millis(max_ticks.saturating_mul(tick_ms)));
            *broken(ctx.data_mut()) = Some(limit);
            return Err(wasmtime::Error::msg(limit.to_string()));
        }
        Ok(UpdateDeadline::Yield(1))
    });
}

/// Caps linear memory: a growth past the cap is refused, as WebAssembly's
/// `memory.grow` fails (it returns -1), so a guest may fall back, as Rust's
/// `try_reserve` does; an allocation that cannot fall back aborts the guest. Records
/// that a growth was refused, so the error of a call that then fails can name the
/// limit, and the largest size any memory reached (linear memories never shrink, so it
/// is the peak). Shared by every sandbox.
pub(crate) struct MemoryLimiter {
    pub(crate) max: u64,
    pub(crate) refused: bool,
    pub(crate) peak: u64,
}

impl MemoryLimiter {
    /// A limiter of `max` bytes.
    pub(crate) fn new(max: u64) -> MemoryLimiter {
        MemoryLimiter {
            max,
            refused: false,
            peak: 0,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let desired = u64::try_from(desired).unwrap_or(u64::MAX);
        if desired > self.max {
            self.refused = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The job's log as the guest writes it through `openfn:adaptor/host.log`: counted
/// against the log limit, then sent (masked) as the run's `adaptor` lines.
pub struct GuestLog {
    operation: String,
    budget: Arc<LogBudget>,
}

impl host_log::Host for GuestLog {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let message = self.budget.log.redactor().text(&message);
        let message = if self.operation.is_empty() {
            message
        } else {
            format!("{}: {message}", self.operation)
        };
        if let Err(limit) = self.budget.charge(line_bytes(&message, "")) {
            return Err(wasmtime::Error::msg(limit.to_string()));
        }
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.budget.log.line(level, LogSource::Adaptor, &message);
        Ok(())
    }
}

/// What writing one line costs against the log limit: the message, its fields and
/// the line's fixed part, so that empty lines are not free.
fn line_bytes(message: &str, fields: &str) -> u64 {
    (message.len() + fields.len()) as u64 + LINE_BYTES
}

/// The bytes one job may cause to be logged ([`Limits::log_bytes`]), shared by the
/// adaptor's log, the host's lines about the job and its warnings, with the job's
/// masking.
#[derive(Debug)]
pub struct LogBudget {
    log: JobLog,
    max: u64,
    used: AtomicU64,
    hit: AtomicBool,
    /// Warnings and request lines not shown: past [`SHOWN_WARNINGS`] or the limit.
    hidden: AtomicU32,
    warnings: AtomicU32,
}

impl LogBudget {
    fn new(max: u64, log: JobLog) -> LogBudget {
        LogBudget {
            log,
            max,
            used: AtomicU64::new(0),
            hit: AtomicBool::new(false),
            hidden: AtomicU32::new(0),
            warnings: AtomicU32::new(0),
        }
    }

    /// Takes `bytes` from the budget for one line, or breaks the limit (and the line
    /// must not be written).
    fn charge(&self, bytes: u64) -> Result<(), Limit> {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        if used > self.max {
            self.hit.store(true, Ordering::Relaxed);
            return Err(Limit::LogBytes(self.max));
        }
        Ok(())
    }

    /// Whether the job tried to log more than the limit.
    fn hit(&self) -> bool {
        self.hit.load(Ordering::Relaxed)
    }

    /// Writes a warning of the host about the job (a denied request, a refused one),
    /// masked: the first [`SHOWN_WARNINGS`], within the log limit; the others are
    /// counted and summarised in one line when the job ends. A job cannot flood the
    /// host's log by provoking warnings, and repeating them never breaks its limit.
    pub fn warn(&self, message: &str) {
        let shown = self.warnings.fetch_add(1, Ordering::Relaxed) < SHOWN_WARNINGS;
        let message = self.log.redactor().text(message);
        if shown && self.take(line_bytes(&message, "")) {
            self.log.line(LogLevel::Warn, LogSource::Host, &message);
        } else {
            self.hidden.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the debug line of one request the job sends, its path masked (a path
    /// may hold a secret the job put there), within the log limit.
    pub fn request(&self, method: &str, origin: &str, path: &str) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let path = self.log.redactor().text(path);
        let fields = format!("{method}{origin}");
        if self.take(line_bytes(&path, &fields)) {
            tracing::debug!(%method, %origin, path, "request");
        } else {
            self.hidden.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes `bytes` for a line of the host's if they fit, without breaking the limit.
    fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + bytes <= self.max).then_some(used + bytes)
            })
            .is_ok()
    }
}

impl Drop for LogBudget {
    fn drop(&mut self) {
        let hidden = *self.hidden.get_mut();
        if hidden > 0 {
            self.log.line(
                LogLevel::Warn,
                LogSource::Host,
                &format!("{hidden} more warnings and lines about this job were not shown"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;

    fn masked(secret: &str) -> JobLog {
        JobLog::default().masked_with(Arc::new(Redactor::from_secrets(vec![secret.into()])))
    }

    #[test]
    fn every_line_costs_its_bytes_and_the_fixed_part() {
        let budget = LogBudget::new(10 * LINE_BYTES, JobLog::default());
        for _ in 0..10 {
            budget.charge(line_bytes("", "")).unwrap();
        }
        assert_eq!(budget.charge(line_bytes("", "")), Err(Limit::LogBytes(10 * LINE_BYTES)));
        assert!(budget.hit());
    }

    #[test]
    fn warnings_are_shown_up_to_a_count_then_only_counted() {
        let budget = LogBudget::new(1 << 20, masked("s3cret"));
        for _ in 0..1000 {
            budget.warn("denied a request");
        }
        assert_eq!(budget.hidden.load(Ordering::Relaxed), 1000 - SHOWN_WARNINGS);
        assert_eq!(
            budget.used.load(Ordering::Relaxed),
            u64::from(SHOWN_WARNINGS) * line_bytes("denied a request", "")
        );
        assert!(!budget.hit(), "warnings the job provoked never break its limit");
        let small = LogBudget::new(LINE_BYTES, JobLog::default());
        small.warn("a warning longer than what is left");
        assert_eq!(small.hidden.load(Ordering::Relaxed), 1);
    }

    /// Collects what a tracing subscriber writes.
    #[derive(Clone, Default)]
    struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn request_lines_and_warnings_are_masked_and_within_the_limit() {
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            // Another test's thread may have hit these callsites first, while no
            // subscriber of its own existed, and cached "never" for them; ask again now
            // that this thread's subscriber is registered.
            tracing::callsite::rebuild_interest_cache();
            let budget = LogBudget::new(4 * LINE_BYTES, masked("s3cret pass"));
            budget.request("GET", "http://127.0.0.1:9", "/api/s3cret%20pass");
            budget.warn("denied a request to /s3cret pass");
            for _ in 0..100 {
                budget.request("GET", "http://127.0.0.1:9", "/api/x");
            }
            assert!(budget.used.load(Ordering::Relaxed) <= 4 * LINE_BYTES);
            assert!(!budget.hit());
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("path=\"/api/****\"") && text.contains("denied a request to /****"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        assert!(
            text.contains("more warnings and lines about this job were not shown"),
            "{text}"
        );
        assert!(text.lines().count() < 10, "{text}");
    }

    #[test]
    fn host_lines_share_the_budget_with_the_guest() {
        let engine = wasmtime::Engine::default();
        let limits = Limits {
            log_bytes: 3 * LINE_BYTES,
            ..Limits::default()
        };
        let store = Sandbox::store(
            &engine,
            &limits,
            Arc::new(Policy::new(Vec::new())),
            JobLog::default(),
            None,
        );
        let line = |text| store.data().host_log(LogLevel::Info, LogSource::Job, text);
        line("one").unwrap();
        line("two").unwrap();
        assert_eq!(line("three"), Err(Limit::LogBytes(3 * LINE_BYTES)));
        assert_eq!(
            store.data().broken_limit(&limits, false),
            Some(Limit::LogBytes(3 * LINE_BYTES))
        );
    }
}
