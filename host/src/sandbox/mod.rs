//! The per-job sandbox: the store data every job gets fresh, with its limits, network
//! hooks and log.

pub mod client;
pub mod hooks;
pub mod limits;
pub mod policy;
pub mod resolve;

use std::sync::Arc;

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

/// Bytes of guest stderr kept per job (panic messages end up there).
const STDERR_BYTES: usize = 64 << 10;

/// The store data of one job.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    memory: MemoryLimiter,
    log: GuestLog,
    cpu_ticks: u64,
    max_cpu_ticks: u64,
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
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        // No environment, arguments, preopened directories or sockets: the defaults.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let incidents = Arc::new(Incidents::default());
        let hooks = Hooks::new(
            policy,
            network,
            Arc::clone(&incidents),
            limits.requests,
            limits.response_bytes,
            limits.wall_time,
        );
        let tick_ms = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(1).max(1);
        let max_cpu_ticks = u64::try_from(limits.cpu_time.as_millis()).unwrap_or(u64::MAX) / tick_ms;
        let sandbox = Sandbox {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            memory: MemoryLimiter {
                max: limits.memory_bytes,
                hit: false,
                peak: 0,
            },
            log: GuestLog {
                operation: String::new(),
                log,
                used: 0,
                max: limits.log_bytes,
                hit: false,
            },
            cpu_ticks: 0,
            max_cpu_ticks,
            stderr,
            incidents,
            broken: None,
        };
        let mut store = Store::new(engine, sandbox);
        store.limiter(|s| &mut s.memory);
        // Count the ticks that pass while guest code runs, and yield to the runtime at
        // each one so the job's wall-clock time-out can fire even in a busy loop.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let sandbox = ctx.data_mut();
            sandbox.cpu_ticks += 1;
            if sandbox.cpu_ticks > sandbox.max_cpu_ticks {
                let limit = Limit::CpuTime(std::time::Duration::from_millis(
                    sandbox.max_cpu_ticks * EPOCH_TICK.as_millis() as u64,
                ));
                sandbox.broken = Some(limit);
                return Err(wasmtime::Error::msg(limit.to_string()));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// The largest linear memory the guest reached, in bytes.
    pub fn peak_memory(&self) -> u64 {
        self.memory.peak
    }

    /// Names the operation about to run, for log lines.
    pub fn set_operation(&mut self, operation: &str) {
        self.log.operation = operation.to_string();
    }

    /// The limit that stopped the job, if one did.
    pub fn broken_limit(&self, limits: &Limits) -> Option<Limit> {
        if let Some(limit) = self.broken {
            return Some(limit);
        }
        if self.memory.hit {
            return Some(Limit::Memory(self.memory.max));
        }
        if self.log.hit {
            return Some(Limit::LogBytes(self.log.max));
        }
        if self.incidents.requests_exceeded() {
            return Some(Limit::Requests(limits.requests));
        }
        if self.incidents.response_too_large() {
            return Some(Limit::ResponseBytes(limits.response_bytes));
        }
        None
    }

    /// What the network hooks saw.
    pub fn incidents(&self) -> &Incidents {
        &self.incidents
    }

    /// The guest's stderr so far (redacted), e.g. a panic message.
    pub fn stderr(&self) -> String {
        self.log
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
    use wasmtime_wasi::cli::WasiCli;
    use wasmtime_wasi::p2::bindings::{cli, random};
    use wasmtime_wasi::random::WasiRandom;

    // io, clocks, random, stdin/stdout/stderr
    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_async(linker)?;
    // what Rust's std imports beyond the proxy world
    cli::environment::add_to_linker::<Sandbox, WasiCli>(linker, Sandbox::cli)?;
    cli::exit::add_to_linker::<Sandbox, WasiCli>(linker, Sandbox::cli)?;
    cli::terminal_input::add_to_linker::<Sandbox, WasiCli>(linker, Sandbox::cli)?;
    cli::terminal_output::add_to_linker::<Sandbox, WasiCli>(linker, Sandbox::cli)?;
    cli::terminal_stdin::add_to_linker::<Sandbox, WasiCli>(linker, Sandbox::cli)?;
    cli::terminal_stdout::add_to_linker::<Sandbox, WasiCli>(linker, Sandbox::cli)?;
    cli::terminal_stderr::add_to_linker::<Sandbox, WasiCli>(linker, Sandbox::cli)?;
    random::insecure::add_to_linker::<Sandbox, WasiRandom>(linker, |s| s.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<Sandbox, WasiRandom>(linker, |s| s.ctx().ctx.random())?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    host_log::add_to_linker::<Sandbox, HasSelf<GuestLog>>(linker, |s| &mut s.log)?;
    Ok(())
}

use wasmtime_wasi::cli::WasiCliView as _;

/// Caps linear memory; records that the cap was hit so the error can name it, and the
/// largest size any memory reached (linear memories never shrink, so it is the peak).
struct MemoryLimiter {
    max: u64,
    hit: bool,
    peak: u64,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let desired = u64::try_from(desired).unwrap_or(u64::MAX);
        if desired > self.max {
            self.hit = true;
            return Err(wasmtime::Error::msg(Limit::Memory(self.max).to_string()));
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
    log: JobLog,
    used: u64,
    max: u64,
    hit: bool,
}

impl host_log::Host for GuestLog {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.used += message.len() as u64;
        if self.used > self.max {
            self.hit = true;
            return Err(wasmtime::Error::msg(Limit::LogBytes(self.max).to_string()));
        }
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        let message = if self.operation.is_empty() {
            message
        } else {
            format!("{}: {message}", self.operation)
        };
        self.log.line(level, LogSource::Adaptor, &message);
        Ok(())
    }
}
