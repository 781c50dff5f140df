//! JavaScript jobs: OpenFn jobs as their users write them, run unchanged in a sandboxed
//! JavaScript runtime component (`adaptors/js-runtime`: Boa and OpenFn's compiler,
//! compiled to `wasm32-wasip2`).
//!
//! Each job gets two fresh instances in two stores, in the same task: the runtime, with
//! the job's memory, CPU and log limits and no network at all, and the adaptor, in the
//! same [`Session`] a JSON job uses (configured once, with its network policy, limits and
//! masking). The runtime's one way out is its `call-operation` import, which this module
//! serves by forwarding to [`Session::call`]; the runtime composes the next state itself,
//! as OpenFn's `composeNextState` does. The wall-clock limit covers both.
//!
//! Failures take the shape OpenFn's runtime gives them (`state.errors.<step>`:
//! `{source: "runtime", name, severity, message, ...}`), and the output state is the state
//! the job started with, as OpenFn keeps it. Deviations from OpenFn: a crash (a
//! `ReferenceError`, a compile error) and a broken limit still write the output state,
//! with the error in `errors`; OpenFn writes nothing for them.

pub(crate) mod sandbox;
mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use self::sandbox::{Call, JsSandbox, Reply, Runtime, bindings};
use crate::adaptor::Adaptor;
use crate::compose::initial_state;
use crate::engine::Host;
use crate::error::Error;
use crate::events::JobLog;
use crate::job::runner::{JobStats, Outcome, RunOptions};
use crate::names::camel_case;
use crate::redact::Redactor;
use crate::sandbox::limits::Limit;
use crate::session::Session;

/// Runs the JavaScript job `source` with `adaptor` on `state` (which carries
/// `configuration`), as [`run_job`](crate::run_job) runs a JSON job: the same
/// configuration check, network policy, limits and masking, and the same [`Outcome`]
/// (output state without `configuration`, masked, `errors.<step_id>` on failure).
///
/// The job is compiled as OpenFn's compiler does and may import its adaptor's
/// operations (`@openfn/language-<name>`), language-common's job API and
/// `@openfn/runtime`. The runtime component is compiled once per host (cached as
/// `.cwasm` when the host has a cache).
pub async fn run_js_job(host: &Host, adaptor: &Adaptor, source: &str, state: Value, options: &RunOptions) -> Outcome {
    let state = initial_state(state);
    let configuration = state.get("configuration").cloned().unwrap_or(Value::Null);
    let declaration = match adaptor.declaration().await {
        Ok(declaration) => declaration,
        Err(e) => return host_failure(state, e, &Redactor::new(&configuration), &options.step_id),
    };
    let redactor = Arc::new(declaration.redactor(&configuration));
    if let Err(e) = declaration.check(&configuration) {
        return host_failure(state, e, &redactor, &options.step_id);
    }
    let policy = declaration.policy(&configuration, &options.allow);
    let runtime = match Runtime::get(host) {
        Ok(runtime) => runtime,
        Err(e) => return host_failure(state, e, &redactor, &options.step_id),
    };
    let log = options.log.clone().masked_with(Arc::clone(&redactor));
    let start = Session::start(host, adaptor, &options.limits, policy, log.clone());
    let mut session = tokio::select! {
        started = start => match started {
            Ok(session) => session,
            Err(e) => return host_failure(state, e, &redactor, &options.step_id),
        },
        () = options.cancel.cancelled() => return host_failure(state, Error::Cancelled, &redactor, &options.step_id),
    };
    let started = std::time::Instant::now();
    // The job's own wall-clock limit, or the end of its run if that comes first.
    let (limit, deadline) = match options.deadline {
        Some((end, run_limit)) if end < started + options.limits.wall_time => (Limit::RunTime(run_limit), end),
        _ => (
            Limit::WallTime(options.limits.wall_time),
            started + options.limits.wall_time,
        ),
    };
    let runtime_peak = AtomicU64::new(0);
    let run = run(
        host,
        &runtime,
        &runtime_peak,
        &mut session,
        adaptor,
        source,
        &state,
        options,
        log,
        &redactor,
    );
    let result = tokio::select! {
        result = tokio::time::timeout_at(deadline.into(), run) => match result {
            Ok(result) => result,
            Err(_) => Err(Error::Limit {
                operation: "javascript".into(),
                limit,
            }),
        },
        () = options.cancel.cancelled() => Err(Error::Cancelled),
    };
    let stats = JobStats {
        requests: session.requests(),
        // Both guests' linear memories are live together.
        peak_memory: session.peak_memory() + runtime_peak.load(Ordering::Relaxed),
        duration: started.elapsed(),
    };
    let mut outcome = outcome(result, state, &redactor, &options.step_id);
    outcome.stats = stats;
    outcome
}

/// The job's outcome from how its run ended.
fn outcome(result: Result<Finished, Error>, state: Value, redactor: &Redactor, step_id: &str) -> Outcome {
    match result {
        Ok(Finished::Done(output)) => {
            let mut output = output;
            if let Value::Object(map) = &mut output {
                map.remove("configuration");
            }
            redactor.value(&mut output);
            Outcome {
                state: output,
                error: None,
                stats: JobStats::default(),
            }
        }
        Ok(Finished::Failed { entry, state: started }) => {
            let started = if started.is_object() { started } else { state };
            let message = entry["message"].as_str().unwrap_or("the job failed").to_string();
            let name = entry["name"].as_str().unwrap_or("JobError").to_string();
            let error = Error::Job {
                name,
                message: redactor.text(&message),
            };
            finish(started, entry, Some(error), redactor, step_id)
        }
        Err(e) => host_failure(state, e, redactor, step_id),
    }
}

/// How the runtime's `run` ended.
enum Finished {
    /// The final state.
    Done(Value),
    /// OpenFn's error entry and the state the job started with.
    Failed { entry: Value, state: Value },
}

#[allow(clippy::too_many_arguments)]
async fn run(
    host: &Host,
    runtime: &Runtime,
    runtime_peak: &AtomicU64,
    session: &mut Session<'_>,
    adaptor: &Adaptor,
    source: &str,
    state: &Value,
    options: &RunOptions,
    log: JobLog,
    redactor: &Redactor,
) -> Result<Finished, Error> {
    let configuration = state.get("configuration").cloned().unwrap_or(Value::Null);
    session.configure(&configuration).await?;

    let (calls, mut requests) = mpsc::channel::<Call>(1);
    let job_options = bindings::exports::openfn::runtime::job::JobOptions {
        adaptor: package_name(adaptor.name()),
        operations: adaptor
            .operations()
            .iter()
            .map(|o| bindings::exports::openfn::runtime::job::Operation {
                name: o.name.clone(),
                params: o.params.iter().map(|p| camel_case(&p.name)).collect(),
            })
            .collect(),
        file_name: if options.step_id.is_empty() {
            "job.js".into()
        } else {
            format!("{}.js", options.step_id)
        },
    };
    let state_text = state.to_string();
    let guest = async {
        let mut store = JsSandbox::store(&host.engine, &options.limits, log, calls);
        let instance = runtime.instantiate(&mut store).await?;
        let result = instance
            .openfn_runtime_job()
            .call_run(&mut store, source, &state_text, &job_options)
            .await;
        let sandbox = store.data();
        runtime_peak.store(sandbox.peak_memory(), Ordering::Relaxed);
        Ok::<_, Error>((sandbox.broken_limit(result.is_err()), result, sandbox.stderr()))
    };
    tokio::pin!(guest);
    // Serve the runtime's operation calls until it finishes; both stores stay in this task.
    let mut fatal = None;
    let (broken, result, stderr) = loop {
        tokio::select! {
            finished = &mut guest => break finished?,
            Some(call) = requests.recv() => {
                let reply = match session.call(&call.name, &call.args).await {
                    Ok(output) => Reply::Output(json!({
                        "data": output.data,
                        "response": output.response,
                        "earlierData": output.earlier,
                    }).to_string()),
                    Err(e @ (Error::Limit { .. } | Error::Trap { .. } | Error::Internal(_))) => {
                        fatal = Some(e);
                        Reply::Fatal
                    }
                    Err(e) => Reply::Failed(bindings::openfn::runtime::adaptor::OperationError {
                        kind: e.kind().to_string(),
                        message: redactor.text(&e.to_string()),
                        details: {
                            let mut details = e.details().cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
                            redactor.value(&mut details);
                            details.to_string()
                        },
                    }),
                };
                // The runtime may have stopped meanwhile; then nobody is waiting.
                let _ = call.reply.send(reply);
            }
        }
    };
    if let Some(e) = fatal {
        return Err(e);
    }
    if let Some(limit) = broken {
        return Err(Error::Limit {
            operation: "javascript".into(),
            limit,
        });
    }
    match result {
        Ok(Ok(text)) => {
            let output = serde_json::from_str(&text)
                .map_err(|e| Error::Internal(format!("the runtime's output state is not JSON: {e}")))?;
            Ok(Finished::Done(output))
        }
        Ok(Err(failure)) => {
            let mut entry = Map::new();
            entry.insert("source".into(), json!("runtime"));
            entry.insert("name".into(), json!(failure.name));
            entry.insert("severity".into(), json!(failure.severity));
            entry.insert("message".into(), json!(failure.message));
            if let Ok(Value::Object(extra)) = serde_json::from_str(&failure.extra) {
                entry.extend(extra);
            }
            let state = serde_json::from_str(&failure.state).unwrap_or(Value::Null);
            Ok(Finished::Failed {
                entry: Value::Object(entry),
                state,
            })
        }
        Err(trap) => {
            let text = format!("{trap:#}");
            if text.contains("call stack exhausted") {
                return Ok(Finished::Failed {
                    entry: json!({"source": "runtime", "name": "RuntimeError", "severity": "fail", "subtype": "RangeError",
                        "message": "RangeError: Maximum call stack size exceeded (the sandbox's stack limit)"}),
                    state: Value::Null,
                });
            }
            let message = if stderr.is_empty() {
                text
            } else {
                format!("{text}; stderr: {stderr}")
            };
            Err(Error::Trap {
                operation: "javascript".into(),
                message: redactor.text(&message),
            })
        }
    }
}

/// Evaluates a workflow edge's JavaScript condition (OpenFn's `js_expression`) on
/// the upstream step's `output`, as OpenFn does: `return <expression>` with `state`
/// and `upstreamStepId` in scope, truthy or not. Runs in the JavaScript runtime's
/// sandbox with `limits` (a fresh store; the wall-clock limit by timeout). Every error
/// names the expression.
pub(crate) async fn condition(
    host: &Host,
    expression: &str,
    upstream: &str,
    output: &Value,
    limits: &crate::sandbox::limits::Limits,
) -> Result<bool, Error> {
    let named = |message: String| Error::Input(format!("the edge condition {expression:?}: {message}"));
    let runtime = Runtime::get(host)?;
    let state = output.to_string();
    let evaluate = async {
        // No operations: the channel's receiver is gone, so a call could only fail.
        let (calls, _) = mpsc::channel::<Call>(1);
        let mut store = JsSandbox::store(&host.engine, limits, JobLog::default(), calls);
        let instance = runtime.instantiate(&mut store).await?;
        let result = instance
            .openfn_runtime_job()
            .call_condition(&mut store, expression, &state, upstream)
            .await;
        let sandbox = store.data();
        if let Some(limit) = sandbox.broken_limit(result.is_err()) {
            return Err(named(format!("stopped by the {limit}")));
        }
        match result {
            Ok(Ok(holds)) => Ok(holds),
            Ok(Err(failure)) => Err(named(failure.message)),
            Err(trap) => Err(named(format!("the JavaScript runtime crashed: {trap:#}"))),
        }
    };
    match tokio::time::timeout(limits.wall_time, evaluate).await {
        Ok(result) => result,
        Err(_) => Err(named(format!("stopped by the {}", Limit::WallTime(limits.wall_time)))),
    }
}

/// The npm package jobs import the adaptor from: `@openfn/language-openlmis` for the
/// built-in `openlmis`, OpenFn's package names as given, `language-<stem>` for a path.
fn package_name(name: &str) -> String {
    let name = name.strip_prefix("@openfn/").unwrap_or(name);
    let name = name.split('@').next().unwrap_or(name);
    let name = name.strip_prefix("language-").unwrap_or(name);
    let stem = std::path::Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_string(), |s| s.to_string_lossy().into_owned());
    format!("@openfn/language-{stem}")
}

/// The outcome of a failure the host saw (configuration, limits, crashes): the state
/// the job started with and an OpenFn-shaped entry naming the error.
fn host_failure(state: Value, error: Error, redactor: &Redactor, step_id: &str) -> Outcome {
    let (name, severity) = match &error {
        Error::Limit {
            limit: Limit::WallTime(_) | Limit::CpuTime(_),
            ..
        } => ("TimeoutError", "kill"),
        Error::Limit {
            limit: Limit::Memory(_),
            ..
        } => ("OOMError", "kill"),
        Error::Limit { .. } => ("LimitError", "kill"),
        Error::Configuration(_) | Error::Input(_) | Error::Denied { .. } => ("AdaptorError", "fail"),
        _ => ("RuntimeCrash", "crash"),
    };
    let entry = json!({
        "source": "runtime",
        "name": name,
        "severity": severity,
        "message": redactor.text(&error.to_string()),
        "type": error.kind(),
    });
    finish(state, entry, Some(error), redactor, step_id)
}

/// The output state on failure: `configuration` removed, `errors.<step_id>` set, masked.
fn finish(mut state: Value, entry: Value, error: Option<Error>, redactor: &Redactor, step_id: &str) -> Outcome {
    if !state.is_object() {
        state = json!({});
    }
    let map = state.as_object_mut().expect("made an object above");
    map.remove("configuration");
    let errors = map.entry("errors").or_insert_with(|| json!({}));
    if !errors.is_object() {
        *errors = json!({});
    }
    errors[step_id] = entry;
    redactor.value(&mut state);
    Outcome {
        state,
        error,
        stats: JobStats::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::package_name;

    #[test]
    fn package_names() {
        assert_eq!(package_name("openlmis"), "@openfn/language-openlmis");
        assert_eq!(
            package_name("@openfn/language-opencrvs@1.2.2"),
            "@openfn/language-opencrvs"
        );
        assert_eq!(package_name("/x/y/dhis2.wasm"), "@openfn/language-dhis2");
    }
}
