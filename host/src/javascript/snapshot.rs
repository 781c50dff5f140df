//! Pre-initializing the JavaScript runtime with Wizer: the runtime component as it is
//! after its `initialize` export ran (the Boa context created, the natives installed,
//! language-common parsed and evaluated), so that each job's fresh instance starts
//! there instead of paying for it (about 85% of a small job's time in the runtime).
//!
//! Wizer instruments the component with accessors for its memories and globals, this
//! module runs `initialize` in an instance of it of its own, and Wizer writes what the
//! accessors read back as the data segments and global values of a new component. The
//! snapshot is the same for every job and holds nothing of any job: it is made before
//! any job, from the runtime's own code. Each job still gets a fresh instance of it.
//!
//! `initialize` may call only `wasi:random/insecure-seed` (Rust's `HashMap` keys, which
//! the snapshot then fixes for every job; they guard nothing across jobs, as no two jobs
//! share an instance) and the monotonic clock's `now` (Boa's job queue compares its
//! timers with it; a monotonic reading means nothing outside the instance that made
//! it). Every other import traps: a resource handle, a date or random bytes taken
//! during initialization would be stale or shared in every job, so the snapshot is
//! refused instead. language-common must therefore read no date, write no log and draw
//! no random number while it loads.

use std::pin::pin;
use std::task::{Poll, Waker};
use std::time::Instant;

use wasmtime::component::{Component, Instance, Lift, Linker, WasmList};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::bindings::random;
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use crate::sandbox::MemoryLimiter;
use crate::sandbox::limits::{EPOCH_TICK, Limits};

/// How the cache names the pre-initialized runtime (its key also covers the runtime's
/// wasm); a change to how the snapshot is made must change it.
pub(super) const VARIANT: &str = "wizer 48 initialize, insecure-seed and monotonic now";

/// The interface of the monotonic clock's `now` (any 0.2 version matches).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The export that prepares the runtime.
const INTERFACE: &str = "openfn:runtime/job@0.1.0";
const INITIALIZE: &str = "initialize";

/// The store data of the instance that is snapshotted.
struct Init {
    wasi: WasiCtx,
    memory: MemoryLimiter,
}

/// The runtime component `wasm` with `initialize` already run, as a new component.
pub(super) fn pre_initialize(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Vec<u8>> {
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer.instrument_component(wasm)?;
    let component = Component::new(engine, &instrumented)?;
    let mut linker = Linker::<Init>::new(engine);
    random::insecure_seed::add_to_linker::<Init, WasiRandom>(&mut linker, |s| s.wasi.random())?;
    let started = Instant::now();
    linker.instance(MONOTONIC_CLOCK)?.func_wrap("now", move |_, ()| {
        Ok((u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),))
    })?;
    linker.define_unknown_imports_as_traps(&component)?;

    let limits = Limits::default();
    let mut store = Store::new(
        engine,
        Init {
            wasi: WasiCtx::builder().build(),
            memory: MemoryLimiter::new(limits.memory_bytes),
        },
    );
    store.limiter(|s| &mut s.memory);
    // The engine interrupts by epoch: without a deadline the first check would trap.
    let tick_ms = EPOCH_TICK.as_millis().max(1);
    store.set_epoch_deadline(u64::try_from(limits.cpu_time.as_millis() / tick_ms).unwrap_or(u64::MAX));

    let instance = linker.instantiate(&mut store, &component)?;
    let interface = instance
        .get_export_index(&mut store, None, INTERFACE)
        .ok_or_else(|| wasmtime::Error::msg(format!("the runtime does not export {INTERFACE}")))?;
    let initialize = instance
        .get_export_index(&mut store, Some(&interface), INITIALIZE)
        .ok_or_else(|| wasmtime::Error::msg(format!("the runtime's {INTERFACE} has no {INITIALIZE}")))?;
    instance
        .get_typed_func::<(), ()>(&mut store, initialize)?
        .call(&mut store, ())
        .map_err(|e| {
            e.context(
                "the runtime's initialize trapped (while it loads, language-common may not read a clock, \
                 log or draw a random number: see host/src/javascript/snapshot.rs)",
            )
        })?;

    let mut access = Access {
        store: &mut store,
        instance,
        failed: None,
    };
    let snapshot = at_once(wizer.snapshot_component(&cx, &mut access))?;
    match access.failed {
        Some(e) => Err(e.context("reading the initialized runtime's state")),
        None => snapshot,
    }
}

/// Reads the instrumented instance's state for Wizer: each accessor is a synchronous
/// call of an export of `wasmtime:wizer/access`. The trait cannot fail, so the first
/// error is kept here (and a zero value returned) for [`pre_initialize`] to report.
struct Access<'a> {
    store: &'a mut Store<Init>,
    instance: Instance,
    failed: Option<wasmtime::Error>,
}

impl Access<'_> {
    fn call<R: Lift + 'static>(&mut self, interface: &str, func: &str) -> Option<R> {
        if self.failed.is_some() {
            return None;
        }
        let called = (|| {
            let parent = self
                .instance
                .get_export_index(&mut *self.store, None, interface)
                .ok_or_else(|| wasmtime::Error::msg(format!("no export {interface}")))?;
            let index = self
                .instance
                .get_export_index(&mut *self.store, Some(&parent), func)
                .ok_or_else(|| wasmtime::Error::msg(format!("no export {interface}#{func}")))?;
            let typed = self.instance.get_typed_func::<(), (R,)>(&mut *self.store, index)?;
            Ok::<_, wasmtime::Error>(typed.call(&mut *self.store, ())?.0)
        })();
        called.map_err(|e| self.failed = Some(e)).ok()
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(&mut self, instance: &str, func: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.call::<WasmList<u8>>(instance, func) {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            None => contents(&[]),
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).unwrap_or_default()
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).unwrap_or_default()
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func).unwrap_or_default().to_bits()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func).unwrap_or_default().to_bits()
    }
}

/// The output of `future`, which must complete on its first poll: Wizer's snapshot is
/// `async` for embedders whose accessors are, and [`Access`]'s are not.
fn at_once<F: Future>(future: F) -> wasmtime::Result<F::Output> {
    let mut context = std::task::Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(wasmtime::Error::msg("the snapshot waited for something")),
    }
}
