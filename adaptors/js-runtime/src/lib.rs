//! The JavaScript runtime component: runs an OpenFn JavaScript job unchanged.
//!
//! `run` compiles the job with [`openfn_compiler`] (OpenFn's compiler 1.2.5 rewrites:
//! lazy `$` state, promise chains, top-level operations, adaptor imports), evaluates it as
//! an ES module in a fresh Boa context whose module loader serves the job's adaptor,
//! `@openfn/language-common` and `@openfn/runtime`, and runs the default export's
//! operations in order as `@openfn/runtime` 1.9 does. Adaptor operations are JavaScript
//! functions that resolve their arguments against the state and call the host's
//! `call-operation`; the next state is composed here, in JavaScript, as
//! `composeNextState` does. The WIT is `wit/deps/openfn-runtime/runtime.wit`.
//!
//! Creating the context and evaluating language-common costs more than most jobs, so
//! `initialize` does it ahead of any job and the host snapshots the instance after it
//! (Wizer): each job's fresh instance starts with the context ready. Nothing a job does
//! can reach the snapshot, and each instance runs one job.

mod json;
mod jsonpath;
mod modules;
mod natives;

use std::cell::RefCell;
use std::rc::Rc;

use boa_engine::builtins::promise::PromiseState;
use boa_engine::context::time::{Clock, JsInstant};
use boa_engine::module::Module;
use boa_engine::{Context, JsError, JsObject, JsValue, Source, js_string};
use serde_json::{Value, json};

use exports::openfn::runtime::job::{Guest, JobFailure, JobOptions};

wit_bindgen::generate!({
    world: "openfn:runtime/runtime",
    path: "../../wit",
    with: {
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
        "wasi:random/random@0.2.12": wasip2::random::random,
        "wasi:random/insecure@0.2.12": wasip2::random::insecure,
        "wasi:random/insecure-seed@0.2.12": wasip2::random::insecure_seed,
        "wasi:cli/environment@0.2.12": wasip2::cli::environment,
        "wasi:cli/exit@0.2.12": wasip2::cli::exit,
        "wasi:cli/stdin@0.2.12": wasip2::cli::stdin,
        "wasi:cli/stdout@0.2.12": wasip2::cli::stdout,
        "wasi:cli/stderr@0.2.12": wasip2::cli::stderr,
        "wasi:cli/terminal-input@0.2.12": wasip2::cli::terminal_input,
        "wasi:cli/terminal-output@0.2.12": wasip2::cli::terminal_output,
        "wasi:cli/terminal-stdin@0.2.12": wasip2::cli::terminal_stdin,
        "wasi:cli/terminal-stdout@0.2.12": wasip2::cli::terminal_stdout,
        "wasi:cli/terminal-stderr@0.2.12": wasip2::cli::terminal_stderr,
        "openfn:adaptor/host@0.2.0": generate,
    },
});

struct Runtime;

impl Guest for Runtime {
    fn run(source: String, state: String, options: JobOptions) -> Result<String, JobFailure> {
        let state: Value = serde_json::from_str(&state)
            .map_err(|e| failure(json!({"name": "RuntimeCrash", "severity": "crash", "message": format!("the input state is not JSON: {e}")}), Value::Null))?;
        let (code, infos) = modules::compile(&source, &options).map_err(|e| {
            failure(
                json!({"name": "CompileError", "severity": "crash", "message": format!("{}: {e}", options.file_name)}),
                Value::Null,
            )
        })?;
        let mut job = match PREPARED.take() {
            Some(job) => job,
            None => Job::new()?,
        };
        job.add_adaptor(&options)?;
        let result = job.run(&code, &infos, &state, &options);
        // The instance ends with its job: collecting the context's garbage would only
        // cost time.
        std::mem::forget(job);
        result
    }

    fn initialize() {
        if PREPARED.with_borrow(Option::is_none) {
            // A failure is left for `run` to report: it prepares the context again.
            PREPARED.set(Job::new().and_then(Job::preloaded).ok());
        }
    }

    fn condition(expression: String, state: String, upstream_step_id: String) -> Result<bool, JobFailure> {
        let fail = |message: String| {
            failure(
                json!({"name": "EdgeConditionError", "severity": "crash", "message": message}),
                Value::Null,
            )
        };
        let state: Value = serde_json::from_str(&state).map_err(|e| fail(format!("the state is not JSON: {e}")))?;
        let mut context = Context::default();
        let context = &mut context;
        let thrown = |e: JsError| fail(e.to_string());
        // `new Function('state', 'upstreamStepId', 'return ' + expression)`, as OpenFn does.
        let constructor = context.intrinsics().constructors().function().constructor();
        let body = JsValue::from(boa_engine::JsString::from(format!("return {expression}").as_str()));
        let function = constructor
            .construct(
                &[js_string!("state").into(), js_string!("upstreamStepId").into(), body],
                None,
                context,
            )
            .map_err(thrown)?;
        let state = JsValue::from_json(&state, context).map_err(thrown)?;
        let upstream = JsValue::from(boa_engine::JsString::from(upstream_step_id.as_str()));
        let result = function
            .call(&JsValue::undefined(), &[state, upstream], context)
            .map_err(thrown)?;
        Ok(result.to_boolean())
    }
}

export!(Runtime);

thread_local! {
    /// The context `initialize` prepared, which the instance's one job takes. When the
    /// host pre-initializes the component, this is in the snapshot every instance
    /// starts from.
    static PREPARED: RefCell<Option<Job>> = const { RefCell::new(None) };
}

/// One job's JavaScript context and what the runner needs from it.
struct Job {
    context: Context,
    natives: JsObject,
    loader: Rc<modules::Loader>,
}

impl Job {
    /// A context with the natives and language-common evaluated: nothing of any job.
    fn new() -> Result<Job, JobFailure> {
        let loader = Rc::new(modules::Loader::default());
        let mut context = Context::builder()
            .module_loader(loader.clone())
            .clock(Rc::new(InstanceClock))
            .build()
            .map_err(|e| internal(&format!("creating the JavaScript context: {e}")))?;
        let natives = natives::install(&mut context).map_err(|e| internal(&format!("installing natives: {e}")))?;
        loader
            .prepare(&mut context)
            .map_err(|e| internal(&format!("preparing the modules: {e}")))?;
        // Evaluate language-common first: it takes the natives and defines the runner.
        let common = loader.common();
        let mut job = Job {
            context,
            natives,
            loader,
        };
        let loaded = common.load_link_evaluate(&mut job.context);
        if let Err(e) = job.settle_promise(&loaded) {
            return Err(internal(&format!("loading language-common: {}", job.describe(&e))));
        }
        job.loader
            .common_evaluated(&mut job.context)
            .map_err(|e| internal(&format!("reading language-common's exports: {e}")))?;
        Ok(job)
    }

    /// The job with language-common's lazily loaded parts (lodash, date-fns, the
    /// extras, the JSON Schema validator) evaluated, for the snapshot every job starts
    /// from.
    fn preloaded(mut self) -> Result<Job, JobFailure> {
        let common = self.loader.common().namespace(&mut self.context);
        let preload = common
            .get(js_string!("__preload"), &mut self.context)
            .ok()
            .and_then(|f| f.as_callable())
            .ok_or_else(|| internal("language-common has no __preload"))?;
        preload
            .call(&JsValue::undefined(), &[], &mut self.context)
            .map_err(|e| internal(&format!("loading language-common's parts: {e}")))?;
        Ok(self)
    }

    /// Adds the module of the job's adaptor.
    fn add_adaptor(&mut self, options: &JobOptions) -> Result<(), JobFailure> {
        self.loader
            .add_adaptor(&mut self.context, options)
            .map_err(|e| internal(&format!("preparing the adaptor's module: {e}")))
    }

    fn run(&mut self, code: &str, infos: &Value, state: &Value, options: &JobOptions) -> Result<String, JobFailure> {
        let context = &mut self.context;
        let input = JsValue::from_json(state, context).map_err(|e| internal(&format!("reading the state: {e}")))?;
        context
            .global_object()
            .set(js_string!("state"), input.clone(), false, context)
            .map_err(|e| internal(&e.to_string()))?;

        let source = Source::from_bytes(code).with_path(std::path::Path::new(&options.file_name));
        let module = Module::parse(source, None, context)
            .map_err(|e| self.failure_for(Some(e), &JsValue::undefined(), &input))?;
        let entry = self.loader.entry(module).map_err(|e| internal(&e.to_string()))?;
        let evaluated = entry.load_link_evaluate(&mut self.context);
        if let Err(e) = self.settle_promise(&evaluated) {
            return Err(self.failure_for(e, &JsValue::undefined(), &input));
        }
        let context = &mut self.context;
        let namespace = entry.namespace(context);
        let operations = namespace
            .get(js_string!("default"), context)
            .map_err(|e| internal(&e.to_string()))?;
        let infos = JsValue::from_json(infos, context).map_err(|e| internal(&e.to_string()))?;
        let run_job = self
            .natives
            .get(js_string!("runJob"), context)
            .map_err(|e| internal(&e.to_string()))?;
        let run_job = run_job.as_callable().ok_or_else(|| internal("runJob is missing"))?;
        let promise = match run_job.call(&JsValue::undefined(), &[operations, input.clone(), infos], context) {
            Ok(promise) => promise,
            Err(e) => return Err(self.failure_for(Some(e), &JsValue::undefined(), &input)),
        };
        let promise = promise
            .as_promise()
            .ok_or_else(|| internal("runJob did not return a promise"))?;
        let outcome = match self.settle_promise(&promise) {
            Ok(value) => value,
            Err(e) => return Err(self.failure_for(e, &JsValue::undefined(), &input)),
        };
        let context = &mut self.context;
        let outcome = outcome
            .as_object()
            .ok_or_else(|| internal("runJob resolved to a non-object"))?;
        let error = outcome
            .get(js_string!("error"), context)
            .map_err(|e| internal(&e.to_string()))?;
        if !error.is_undefined() {
            return Err(self.failure_for(None, &error, &input));
        }
        let state = outcome
            .get(js_string!("state"), context)
            .map_err(|e| internal(&e.to_string()))?;
        match json::to_json(&state, context) {
            Ok(value) => Ok(value.unwrap_or(Value::Null).to_string()),
            Err(e) => Err(self.failure_for(Some(e), &JsValue::undefined(), &input)),
        }
    }

    /// Runs the job queue until `promise` settles: its value, or why it did not.
    fn settle_promise(
        &mut self,
        promise: &boa_engine::object::builtins::JsPromise,
    ) -> Result<JsValue, Option<JsError>> {
        self.context.run_jobs().map_err(Some)?;
        match promise.state() {
            PromiseState::Fulfilled(value) => Ok(value),
            PromiseState::Rejected(reason) => Err(Some(JsError::from_opaque(reason))),
            PromiseState::Pending => Err(None),
        }
    }

    /// A thrown error's text, for internal failures.
    fn describe(&mut self, error: &Option<JsError>) -> String {
        match error {
            Some(e) => e.to_string(),
            None => "it never settled".into(),
        }
    }

    /// The failure for a thrown `error` (or an `entry` the runner already classified),
    /// with the state the job started from.
    fn failure_for(&mut self, error: Option<JsError>, entry: &JsValue, input: &JsValue) -> JobFailure {
        let context = &mut self.context;
        let entry = if !entry.is_undefined() {
            json::to_json(entry, context).ok().flatten().unwrap_or(Value::Null)
        } else {
            match error {
                None => json!({"name": "RuntimeCrash", "severity": "crash",
                    "message": "the job's promise never settled: nothing in the sandbox could resume it (no timers, no I/O but the adaptor's operations)"}),
                Some(e) => match e.into_opaque(context) {
                    Ok(value) => self.classify(&value),
                    // Uncatchable engine errors: Boa's recursion and stack limits.
                    Err(e) => {
                        let text = e.to_string();
                        let first = text.lines().next().unwrap_or_default();
                        json!({"name": "RuntimeError", "severity": "fail", "subtype": "RangeError",
                            "message": format!("RangeError: Maximum call stack size exceeded ({first})")})
                    }
                },
            }
        };
        let context = &mut self.context;
        let state = json::to_json(input, context).ok().flatten().unwrap_or(Value::Null);
        failure(entry, state)
    }

    fn classify(&mut self, value: &JsValue) -> Value {
        let context = &mut self.context;
        let classified = self
            .natives
            .get(js_string!("classify"), context)
            .ok()
            .and_then(|f| f.as_callable())
            .and_then(|f| f.call(&JsValue::undefined(), std::slice::from_ref(value), context).ok());
        match classified {
            Some(entry) => json::to_json(&entry, context).ok().flatten().unwrap_or(Value::Null),
            None => json!({"name": "JobError", "severity": "fail", "message": value.display().to_string()}),
        }
    }
}

/// The engine's clock, read when asked: Boa's default clock reads the monotonic clock
/// when the context is created, which would be stale in a pre-initialized instance.
struct InstanceClock;

impl Clock for InstanceClock {
    fn now(&self) -> JsInstant {
        let nanos = wasip2::clocks::monotonic_clock::now();
        JsInstant::new(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
    }

    fn system_time_millis(&self) -> i64 {
        let now = wasip2::clocks::wall_clock::now();
        (now.seconds as i64).saturating_mul(1000) + i64::from(now.nanoseconds / 1_000_000)
    }
}

/// A [`JobFailure`] from an OpenFn error entry (`name`, `severity`, `message`, more).
fn failure(entry: Value, state: Value) -> JobFailure {
    let Value::Object(mut entry) = entry else {
        return internal("the error entry is not an object");
    };
    entry.remove("source");
    let mut take = |key: &str| match entry.remove(key) {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let name = take("name");
    let severity = take("severity");
    let message = take("message");
    JobFailure {
        name,
        severity,
        message,
        extra: Value::Object(entry).to_string(),
        state: state.to_string(),
    }
}

/// A failure of the runtime itself (a bug here, not in the job).
fn internal(message: &str) -> JobFailure {
    JobFailure {
        name: "RuntimeCrash".into(),
        severity: "crash".into(),
        message: format!("internal error in the JavaScript runtime: {message}"),
        extra: "{}".into(),
        state: "null".into(),
    }
}
