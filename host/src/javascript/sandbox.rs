//! The JavaScript runtime component in the host: its bindings, its linker (the WASI
//! interfaces Rust's std needs, the host log, `call-operation`; no HTTP), the compiled
//! component (once per engine, from the `.cwasm` cache), and the store data of one job.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::snapshot;
use crate::cache::Source;
use crate::engine::Host;
use crate::error::{Error, Result};
use crate::events::{JobLog, LogLevel, LogSource};
use crate::sandbox::limits::{Limit, Limits};
use crate::sandbox::{MemoryLimiter, add_std_to_linker, meter_cpu};

pub(super) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "openfn:runtime/runtime",
        imports: {
            // The operation runs in the adaptor's own store: the call must await it.
            "openfn:runtime/adaptor.call-operation": async | trappable,
            // `log` traps when the job exceeds its log volume limit.
            default: trappable,
        },
        exports: { default: async },
        with: { "wasi": wasmtime_wasi::p2::bindings },
    });
}

use bindings::openfn::adaptor::host::{self as host_log, Level};
use bindings::openfn::runtime::adaptor::{self as adaptor_import, OperationError};

/// The runtime component, built by `build.rs` from `adaptors/js-runtime`.
pub(crate) const RUNTIME_WASM: &[u8] = include_bytes!(env!("JS_RUNTIME_WASM"));

/// The SHA-256 of [`RUNTIME_WASM`] (hex), computed by `build.rs`.
pub(crate) const RUNTIME_SHA256: &str = env!("JS_RUNTIME_SHA256");

/// Bytes of guest stderr kept per job (panic messages end up there).
const STDERR_BYTES: usize = 64 << 10;

/// The compiled runtime, ready to instantiate once per job.
pub(super) struct Runtime {
    pre: bindings::RuntimePre<JsSandbox>,
}

/// Runtimes compiled so far, one per engine (in practice one per process).
static RUNTIMES: Mutex<Vec<(Engine, Arc<Runtime>)>> = Mutex::new(Vec::new());

impl Runtime {
    /// The runtime for `host`'s engine, compiled (or read from the cache) on first use.
    pub fn get(host: &Host) -> Result<Arc<Runtime>> {
        let mut runtimes = RUNTIMES.lock().expect("runtime cache lock");
        if let Some((_, runtime)) = runtimes.iter().find(|(e, _)| Engine::same(e, &host.engine)) {
            return Ok(Arc::clone(runtime));
        }
        let load_error = |reason: String| Error::Load {
            name: "js-runtime".into(),
            reason,
        };
        // The pre-initialized runtime (see `snapshot`): made and compiled once, cached.
        let engine = &host.engine;
        let source = Source {
            bytes: RUNTIME_WASM,
            digest: Some(RUNTIME_SHA256),
        };
        let component = match host.cache() {
            Some(cache) => cache.compiled(engine, "js-runtime", source, snapshot::VARIANT, || {
                engine.precompile_component(&snapshot::pre_initialize(engine, RUNTIME_WASM)?)
            })?,
            None => snapshot::pre_initialize(engine, RUNTIME_WASM)
                .and_then(|wasm| Component::new(engine, wasm))
                .map_err(|e| load_error(format!("{e:#}")))?,
        };
        let mut linker = Linker::new(&host.engine);
        add_to_linker(&mut linker).map_err(|e| Error::Internal(e.to_string()))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| load_error(format!("{e:#}")))?;
        let pre = bindings::RuntimePre::new(pre).map_err(|e| load_error(format!("{e:#}")))?;
        let runtime = Arc::new(Runtime { pre });
        runtimes.push((host.engine.clone(), Arc::clone(&runtime)));
        Ok(runtime)
    }

    /// A fresh instance of the runtime in `store`.
    pub async fn instantiate(&self, store: &mut Store<JsSandbox>) -> Result<bindings::Runtime> {
        self.pre
            .instantiate_async(store)
            .await
            .map_err(|e| Error::Internal(format!("instantiating the JavaScript runtime: {e:#}")))
    }
}

/// The runtime's imports and nothing else: no `wasi:http`, filesystem or sockets.
fn add_to_linker(linker: &mut Linker<JsSandbox>) -> wasmtime::Result<()> {
    add_std_to_linker(linker)?;
    host_log::add_to_linker::<JsSandbox, HasSelf<JsSandbox>>(linker, |s| s)?;
    adaptor_import::add_to_linker::<JsSandbox, HasSelf<JsSandbox>>(linker, |s| s)?;
    Ok(())
}

/// An operation call on its way from the runtime to the adaptor's session.
pub(super) struct Call {
    pub name: String,
    pub args: Vec<Value>,
    pub reply: oneshot::Sender<Reply>,
}

/// The session's answer to a [`Call`].
pub(super) enum Reply {
    /// The output as JSON text (`{data, response?, earlierData}`).
    Output(String),
    /// The operation failed; the job may catch it.
    Failed(OperationError),
    /// The adaptor broke a limit or crashed: the job stops (the error is kept by the
    /// session's side).
    Fatal,
}

/// The store data of one JavaScript job's runtime instance.
pub(super) struct JsSandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryLimiter,
    broken: Option<Limit>,
    stderr: MemoryOutputPipe,
    log: JobLog,
    log_used: u64,
    log_max: u64,
    calls: mpsc::Sender<Call>,
}

impl JsSandbox {
    /// A fresh store for one job, with its limits; operation calls go to `calls`.
    pub fn store(engine: &Engine, limits: &Limits, log: JobLog, calls: mpsc::Sender<Call>) -> Store<JsSandbox> {
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        let sandbox = JsSandbox {
            // No environment, arguments, directories or sockets.
            wasi: WasiCtx::builder().stderr(stderr.clone()).build(),
            table: ResourceTable::new(),
            memory: MemoryLimiter::new(limits.memory_bytes),
            broken: None,
            stderr,
            log,
            log_used: 0,
            log_max: limits.log_bytes,
            calls,
        };
        let mut store = Store::new(engine, sandbox);
        store.limiter(|s| &mut s.memory);
        meter_cpu(&mut store, limits.cpu_time, |s| &mut s.broken);
        store
    }

    /// The limit that stopped the runtime, if one did. `failed`: whether the call did
    /// not finish as it should; only then does a refused memory growth count.
    pub fn broken_limit(&self, failed: bool) -> Option<Limit> {
        self.broken
            .or((failed && self.memory.refused).then_some(Limit::Memory(self.memory.max)))
    }

    /// The largest linear memory the runtime asked for, in bytes.
    pub fn peak_memory(&self) -> u64 {
        self.memory.peak
    }

    /// The guest's stderr so far (masked), e.g. a panic message.
    pub fn stderr(&self) -> String {
        self.log
            .redactor()
            .text(String::from_utf8_lossy(&self.stderr.contents()).trim())
    }
}

impl WasiView for JsSandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl JsSandbox {
    /// The job wrote more than its log volume limit: the limit is broken.
    fn log_over(&mut self) -> wasmtime::Error {
        let limit = Limit::LogBytes(self.log_max);
        self.broken = Some(limit);
        wasmtime::Error::msg(limit.to_string())
    }
}

impl host_log::Host for JsSandbox {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        // The runtime starts each line with its source: JOB, ADA or R/T; `JOB[]` (etc.)
        // when the rest is the JSON `[text, [values...]]` of a line and the values it
        // was written with. The log volume counts the line as `JOB text`. A line of
        // values carries the text escaped and the values (each at most 6 bytes of JSON
        // per byte of text), so one whose twelfth is already over is not parsed.
        let (tag, rest) = message.split_once(' ').unwrap_or(("", message.as_str()));
        let least = if tag.ends_with("[]") {
            message.len().saturating_sub(64) / 12
        } else {
            message.len()
        } as u64;
        if self.log_used + least > self.log_max {
            return Err(self.log_over());
        }
        let parsed = tag.strip_suffix("[]").and_then(|tag| {
            Some((
                tag,
                serde_json::from_str::<(String, Vec<serde_json::Value>)>(rest).ok()?,
            ))
        });
        let (tag, rest, values) = match parsed {
            Some((tag, (text, values))) => (tag, text, Some(values)),
            None => (tag, rest.to_string(), None),
        };
        // As the plain line `JOB text` would count: never 0, even for an empty text.
        self.log_used += if values.is_some() {
            tag.len() + 1 + rest.len()
        } else {
            message.len()
        } as u64;
        if self.log_used > self.log_max {
            return Err(self.log_over());
        }
        let (source, text) = match tag {
            "ADA" => (LogSource::Adaptor, rest.as_str()),
            "R/T" => (LogSource::Host, rest.as_str()),
            "JOB" => (LogSource::Job, rest.as_str()),
            _ => (LogSource::Job, message.as_str()),
        };
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        match values {
            Some(values) => self.log.values(level, source, text, values),
            None => self.log.line(level, source, text),
        }
        Ok(())
    }
}

impl adaptor_import::Host for JsSandbox {
    async fn call_operation(
        &mut self,
        name: String,
        args: String,
    ) -> wasmtime::Result<std::result::Result<String, OperationError>> {
        let args = match serde_json::from_str::<Value>(&args) {
            Ok(Value::Array(args)) => args,
            _ => {
                return Ok(Err(OperationError {
                    kind: "argument".into(),
                    message: format!("{name}: the arguments are not a JSON array"),
                    details: "{}".into(),
                }));
            }
        };
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(Call { name, args, reply })
            .await
            .map_err(|_| wasmtime::Error::msg("the adaptor session has ended"))?;
        match answer.await {
            Ok(Reply::Output(output)) => Ok(Ok(output)),
            Ok(Reply::Failed(error)) => Ok(Err(error)),
            Ok(Reply::Fatal) | Err(_) => Err(wasmtime::Error::msg("the adaptor stopped the job")),
        }
    }
}
