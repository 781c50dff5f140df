//! The one [`Host`] per process: the wasmtime engine, the linker, the epoch ticker,
//! the compiled-component cache and the guests' pooled HTTP client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::adaptor::Adaptor;
use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::sandbox::client::{Network, NetworkOptions};
use crate::sandbox::limits::{EPOCH_TICK, MAX_MEMORY_BYTES};
use crate::sandbox::resolve::{Resolve, SystemResolver};
use crate::sandbox::{self, Sandbox};

/// Jobs that may run at once in one host unless [`HostOptions::max_concurrent_jobs`]
/// says otherwise.
pub const DEFAULT_CONCURRENT_JOBS: u32 = 16;

/// Bytes of a linear memory kept resident between the jobs that use its slot: enough
/// for a small JavaScript job's runtime and adaptor memories (an adaptor alone peaks
/// at 1.2 MiB), so the next job in the slot takes no page faults there.
const KEEP_RESIDENT: usize = 8 << 20;

/// Bytes of each pooled table kept resident between jobs.
const TABLE_KEEP_RESIDENT: usize = 1 << 20;

/// The default of [`HostOptions::connect_timeout`].
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default of [`HostOptions::first_byte_timeout`].
const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of a [`Host`].
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Where compiled components are cached (`.cwasm`); `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Jobs that may run at once; more wait for a slot (and say so in their log).
    /// The instance pool is sized from it. Default: 16.
    pub max_concurrent_jobs: u32,
    /// A PEM file of CA certificates that adaptors' HTTPS servers may chain to, besides
    /// the platform's trust store (a private or corporate CA).
    pub extra_ca_file: Option<PathBuf>,
    /// Longest wait for a new connection (look-up, TCP and TLS handshakes); a guest
    /// may ask for less. `None`: 10 s.
    pub connect_timeout: Option<Duration>,
    /// Longest wait for a response's head, and between two pieces of its body; a guest
    /// may ask for less. `None`: 60 s.
    pub first_byte_timeout: Option<Duration>,
    /// Looks up the host names adaptors connect to. `None`: the system resolver.
    pub resolver: Option<Arc<dyn Resolve>>,
}

impl Default for HostOptions {
    fn default() -> HostOptions {
        HostOptions {
            cache_dir: None,
            max_concurrent_jobs: DEFAULT_CONCURRENT_JOBS,
            extra_ca_file: None,
            connect_timeout: None,
            first_byte_timeout: None,
            resolver: None,
        }
    }
}

/// Loads adaptors and runs their jobs. Build one per process and share it.
pub struct Host {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Sandbox>,
    pub(crate) jobs: Arc<Semaphore>,
    max_jobs: u32,
    /// The one HTTP client of every job: connections are kept alive across jobs.
    pub(crate) network: Network,
    cache: Option<Cache>,
    loaded: Mutex<HashMap<String, Arc<Adaptor>>>,
    _ticker: EpochTicker,
}

impl Host {
    /// A host with a pooling-allocator engine and epoch interruption. Fails if the
    /// extra CA file cannot be read or holds no usable certificate.
    pub fn new(options: HostOptions) -> Result<Host> {
        let max_jobs = options.max_concurrent_jobs.max(1);
        // Two instances per job (a JavaScript job's runtime beside its adaptor) and a
        // few spare for reading adaptors' configuration declarations.
        let instances = max_jobs.saturating_mul(2).saturating_add(4);
        let network = Network::new(NetworkOptions {
            extra_ca_file: options.extra_ca_file,
            connect_timeout: options.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            first_byte_timeout: options.first_byte_timeout.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT),
            resolver: options.resolver.unwrap_or_else(|| Arc::new(SystemResolver)),
        })
        .map_err(Error::Input)?;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(8))
            .total_stacks(instances)
            .max_memory_size(usize::try_from(MAX_MEMORY_BYTES).unwrap_or(usize::MAX))
            // A finished job's memory is reset by rewriting the pages it dirtied (found
            // with PAGEMAP_SCAN where the kernel has it) up to this size, instead of
            // unmapping them: the next job in the slot takes no page faults there (a
            // quarter of a small JavaScript job's time in the runtime went to faulting its
            // pre-initialized memory back in). Each slot is still reset to its image.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.epoch_interruption(true);
        // `ADAPTOR_HOST_PERF_MAP=1` writes /tmp/perf-<pid>.map, so `perf report` names
        // the guests' functions (docs/PERFORMANCE.md).
        if std::env::var_os("ADAPTOR_HOST_PERF_MAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| Error::Internal(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        sandbox::add_to_linker(&mut linker).map_err(|e| Error::Internal(e.to_string()))?;
        let cache = options.cache_dir.map(Cache::new);
        let ticker = EpochTicker::start(engine.clone());
        Ok(Host {
            engine,
            linker,
            jobs: Arc::new(Semaphore::new(max_jobs as usize)),
            max_jobs,
            network,
            cache,
            loaded: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// How many jobs may run at once.
    pub fn max_concurrent_jobs(&self) -> u32 {
        self.max_jobs
    }

    /// The adaptor `name` (as [`load_named`](Self::load_named) takes it), loaded the
    /// first time and shared afterwards: what a run uses for its steps.
    pub fn adaptor(&self, name: &str) -> Result<Arc<Adaptor>> {
        let key = crate::builtin_name(name).unwrap_or(name).to_string();
        if let Some(adaptor) = self.loaded.lock().expect("adaptor map").get(&key) {
            return Ok(Arc::clone(adaptor));
        }
        let adaptor = Arc::new(self.load_named(name)?);
        self.loaded
            .lock()
            .expect("adaptor map")
            .insert(key, Arc::clone(&adaptor));
        Ok(adaptor)
    }

    /// Loads a WebAssembly component from `bytes`, compiling it or taking the compiled
    /// form from the cache, and checks its imports.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Adaptor> {
        self.load_digested(name, bytes, None)
    }

    /// [`load`](Self::load), given the SHA-256 of `bytes` (hex) if it is known already.
    fn load_digested(&self, name: &str, bytes: &[u8], digest: Option<&str>) -> Result<Adaptor> {
        let component = match &self.cache {
            Some(cache) => cache.component(&self.engine, name, bytes, digest)?,
            None => wasmtime::component::Component::new(&self.engine, bytes).map_err(|e| Error::Load {
                name: name.to_string(),
                reason: format!("{e:#}"),
            })?,
        };
        Adaptor::new(self, name, component, crate::docs::Docs::from_component(bytes))
    }

    /// Loads one of the adaptors built into this binary (see [`builtin_adaptors`](crate::builtin_adaptors)).
    pub fn load_builtin(&self, name: &str) -> Result<Adaptor> {
        let (bytes, digest) = crate::builtin_with_digest(name).ok_or_else(|| Error::Load {
            name: name.to_string(),
            reason: format!(
                "no built-in adaptor of that name; built in: {} (or give a path to a .wasm component)",
                crate::builtin_adaptors().join(", ")
            ),
        })?;
        self.load_digested(name, bytes, Some(digest))
    }

    /// Loads `name`: the path of a `.wasm` component (a name ending in `.wasm`, or with
    /// a `/` that is not an npm scope), else a built-in adaptor.
    pub fn load_named(&self, name: &str) -> Result<Adaptor> {
        let is_path = name.ends_with(".wasm") || name.contains('/') && !name.starts_with('@');
        if is_path {
            self.load_file(std::path::Path::new(name))
        } else {
            self.load_builtin(name)
        }
    }

    /// Loads a component from a `.wasm` file.
    pub fn load_file(&self, path: &std::path::Path) -> Result<Adaptor> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::Load {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        self.load(&name, &bytes)
    }

    /// The compiled-component cache, if the host has one.
    pub(crate) fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`]; stops and joins on drop without
/// waiting out the current tick (the thread waits on a channel that dropping closes).
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> EpochTicker {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
