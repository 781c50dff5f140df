//! The one [`Host`] per process: the wasmtime engine, the linker, the epoch ticker and
//! the compiled-component cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::adaptor::Adaptor;
use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::sandbox::{self, Sandbox, limits::MAX_MEMORY_BYTES};

/// How often the epoch advances: the granularity of CPU-time accounting.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Jobs that may run at once in one host; the instance pool is sized for it.
pub const MAX_CONCURRENT_JOBS: u32 = 16;

/// Settings of a [`Host`].
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Where compiled components are cached (`.cwasm`); `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

/// Loads adaptors and runs their jobs. Build one per process and share it.
pub struct Host {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Sandbox>,
    pub(crate) jobs: Arc<Semaphore>,
    cache: Option<Cache>,
    _ticker: EpochTicker,
}

impl Host {
    /// A host with a pooling-allocator engine and epoch interruption.
    pub fn new(options: HostOptions) -> Result<Host> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_CONCURRENT_JOBS)
            .total_core_instances(MAX_CONCURRENT_JOBS * 8)
            .total_memories(MAX_CONCURRENT_JOBS * 2)
            .total_tables(MAX_CONCURRENT_JOBS * 8)
            .total_stacks(MAX_CONCURRENT_JOBS)
            .max_memory_size(usize::try_from(MAX_MEMORY_BYTES).unwrap_or(usize::MAX));
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| Error::Internal(e.into()))?;
        let mut linker = Linker::new(&engine);
        sandbox::add_to_linker(&mut linker).map_err(|e| Error::Internal(e.into()))?;
        let cache = options.cache_dir.map(Cache::new);
        let ticker = EpochTicker::start(engine.clone());
        Ok(Host {
            engine,
            linker,
            jobs: Arc::new(Semaphore::new(MAX_CONCURRENT_JOBS as usize)),
            cache,
            _ticker: ticker,
        })
    }

    /// Loads a WebAssembly component from `bytes`, compiling it or taking the compiled
    /// form from the cache, and checks its imports.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Adaptor> {
        let component = match &self.cache {
            Some(cache) => cache.component(&self.engine, name, bytes)?,
            None => wasmtime::component::Component::new(&self.engine, bytes).map_err(|e| Error::Load {
                name: name.to_string(),
                reason: format!("{e:#}"),
            })?,
        };
        Adaptor::new(self, name, component, crate::docs::Docs::from_component(bytes))
    }

    /// Loads one of the adaptors built into this binary (see [`builtin_adaptors`](crate::builtin_adaptors)).
    pub fn load_builtin(&self, name: &str) -> Result<Adaptor> {
        let bytes = crate::builtin(name).ok_or_else(|| Error::Load {
            name: name.to_string(),
            reason: format!(
                "no built-in adaptor of that name; built in: {} (or give a path to a .wasm component)",
                crate::builtin_adaptors().join(", ")
            ),
        })?;
        self.load(name, bytes)
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

/// Advances the engine's epoch every [`EPOCH_TICK`]; stops and joins on drop.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
