//! Running a job: one session, the steps in order, the wall-clock limit around all of
//! them, and the output state: configuration removed, secrets masked, `errors` filled
//! in when a step failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Job;
use super::builtins::{self, Meter};
use crate::adaptor::Adaptor;
use crate::cancel::Cancel;
use crate::compose::initial_state;
use crate::engine::Host;
use crate::error::Error;
use crate::events::JobLog;
use crate::redact::Redactor;
use crate::sandbox::limits::{Limit, Limits};
use crate::sandbox::policy::AllowRule;
use crate::session::Session;

/// How to run one job.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The job's limits.
    pub limits: Limits,
    /// Origins allowed besides those the configuration names (`--allow-host`).
    pub allow: Vec<AllowRule>,
    /// The key of this job's entry in `state.errors` (a workflow step id, or the job
    /// file's name).
    pub step_id: String,
    /// Where the job's log lines go (by default, to `tracing`).
    pub log: JobLog,
    /// Cancels the job.
    pub cancel: Cancel,
    /// The end of the whole run this job belongs to, and that run's limit: the job
    /// stops there even if its own wall-clock limit is further.
    pub deadline: Option<(Instant, Duration)>,
}

/// What a job produced.
#[derive(Debug)]
pub struct Outcome {
    /// The output state: no `configuration`, every configuration value masked, and
    /// `errors.<step_id>` describing the failure if there was one.
    pub state: Value,
    /// The failure, if a step failed (its message already masked).
    pub error: Option<Error>,
    /// What the job used.
    pub stats: JobStats,
}

/// What one job used of its sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobStats {
    /// HTTP requests the adaptor sent.
    pub requests: u32,
    /// The largest linear memory the adaptor reached, in bytes.
    pub peak_memory: u64,
    /// How long the job ran, from getting its sandbox to the end (waiting for a job
    /// slot not included).
    pub duration: std::time::Duration,
}

/// Runs `job` with `adaptor` on `state` (which carries `configuration`).
///
/// The configuration is checked against the adaptor's declaration before anything
/// runs, which also gives the job's network policy and masking; the adaptor receives
/// it once, and each operation's output is composed into the state here. The
/// wall-clock limit starts once the job has its sandbox, not while it waits for a slot.
pub async fn run(host: &Host, adaptor: &Adaptor, job: &Job, state: Value, options: &RunOptions) -> Outcome {
    let state = initial_state(state);
    let configuration = state.get("configuration").cloned().unwrap_or(Value::Null);
    let fail = |state, error, redactor: &Redactor| finish(state, Some(error), None, redactor, None, &options.step_id);
    let declaration = match adaptor.declaration().await {
        Ok(declaration) => declaration,
        Err(e) => return fail(state, e, &Redactor::new(&configuration)),
    };
    let redactor = Arc::new(declaration.redactor(&configuration));
    if let Err(e) = declaration.check(&configuration) {
        return fail(state, e, &redactor);
    }
    let policy = declaration.policy(&configuration, &options.allow);
    let log = options.log.clone().masked_with(Arc::clone(&redactor));
    let start = Session::start(host, adaptor, &options.limits, policy, log);
    let mut session = tokio::select! {
        started = start => match started {
            Ok(session) => session,
            Err(e) => return fail(state, e, &redactor),
        },
        () = options.cancel.cancelled() => return fail(state, Error::Cancelled, &redactor),
    };
    let started = Instant::now();
    let mut state = state;
    let mut current = None;
    let mut meter = None;
    // The job's own wall-clock limit, or the end of its run if that comes first.
    let (limit, deadline) = match options.deadline {
        Some((end, run_limit)) if end < started + options.limits.wall_time => (Limit::RunTime(run_limit), end),
        _ => (
            Limit::WallTime(options.limits.wall_time),
            started + options.limits.wall_time,
        ),
    };
    let steps = run_steps(
        &mut session,
        job,
        &mut state,
        &configuration,
        &options.limits,
        &mut meter,
        &mut current,
    );
    let error = tokio::select! {
        result = tokio::time::timeout_at(deadline.into(), steps) => match result {
            Ok(result) => result.err(),
            Err(_) => Some(Error::Limit {
                operation: current.as_ref().map(|(_, name)| name.clone()).unwrap_or_default(),
                limit,
            }),
        },
        () = options.cancel.cancelled() => Some(Error::Cancelled),
    };
    let stats = JobStats {
        requests: session.requests(),
        peak_memory: session.peak_memory(),
        duration: started.elapsed(),
    };
    let failed = error.as_ref().and(current);
    let mut outcome = finish(state, error, failed, &redactor, meter.as_ref(), &options.step_id);
    outcome.stats = stats;
    outcome
}

async fn run_steps(
    session: &mut Session<'_>,
    job: &Job,
    state: &mut Value,
    configuration: &Value,
    limits: &Limits,
    meter: &mut Option<Meter>,
    current: &mut Option<(usize, String)>,
) -> Result<(), Error> {
    session.configure(configuration).await?;
    for (i, step) in job.steps.iter().enumerate() {
        *current = Some((i, step.operation.clone()));
        builtins::run(session, step, state, meter, limits)
            .await
            .map_err(|e| match e {
                Error::Input(message) => Error::Input(format!("job step {}: {message}", i + 1)),
                other => other,
            })?;
    }
    *current = None;
    Ok(())
}
/// The output state: configuration removed, `errors.<step_id>` added on failure
/// (with the failing step's number and operation), every secret masked (but in the
/// outputs `meter` knows to hold none).
fn finish(
    mut state: Value,
    error: Option<Error>,
    failed: Option<(usize, String)>,
    redactor: &Redactor,
    meter: Option<&Meter>,
    step_id: &str,
) -> Outcome {
    if let Value::Object(map) = &mut state {
        map.remove("configuration");
    }
    if let Some(error) = &error {
        let mut entry = json!({
            "type": error.kind(),
            "name": error.error_type(),
            "severity": error.reason().name(),
            "message": redactor.text(&error.to_string()),
        });
        if let Some((index, operation)) = failed {
            entry["step"] = json!(index + 1);
            entry["operation"] = json!(operation);
        }
        if let Some(details) = error.details() {
            entry["details"] = details.clone();
        }
        if !state.is_object() {
            state = json!({});
        }
        let errors = state
            .as_object_mut()
            .expect("object")
            .entry("errors")
            .or_insert_with(|| json!({}));
        if !errors.is_object() {
            *errors = json!({});
        }
        errors[step_id] = entry;
    }
    match meter {
        Some(meter) => meter.mask(&mut state, redactor),
        None => redactor.value(&mut state),
    }
    Outcome {
        state,
        error,
        stats: JobStats::default(),
    }
}
