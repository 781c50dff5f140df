//! The one run API for jobs and workflows: what an engine embeds.
//!
//! [`run`] takes a [`RunRequest`] (the plan, the input state, the credentials, limits),
//! an [`EventSink`] and a [`Cancel`] handle, sends the run's events in order and
//! returns a [`RunOutcome`]: the final state and OpenFn's reason. The CLI, `serve`
//! and the Lightning worker are front ends over it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::cancel::Cancel;
use crate::engine::Host;
use crate::error::Error;
use crate::events::{EventKind, EventSink, JobLog, LogLevel, LogSource, RunReport, StepReport};
use crate::javascript::run_js_job;
use crate::job::Expression;
use crate::job::runner::{RunOptions, run as run_job};
use crate::reason::Reason;
use crate::redact::Redactor;
use crate::sandbox::limits::Limits;
use crate::sandbox::policy::AllowRule;
use crate::workflow::{When, Workflow};

/// The most steps one workflow run executes, against edge cycles.
pub const MAX_STEP_RUNS: usize = 1000;

/// What to run.
#[derive(Debug, Clone)]
pub enum Plan {
    /// One job with one adaptor.
    Job {
        /// The adaptor: a built-in name, OpenFn's package name, or a `.wasm` path.
        adaptor: String,
        /// The job: JSON or JavaScript.
        job: Expression,
        /// Its step id: the key of `errors.<id>` and of its events.
        step_id: String,
    },
    /// A workflow: steps joined by edges, each with its own adaptor.
    Workflow(Workflow),
}

/// Where configurations come from.
#[derive(Clone, Default)]
pub enum Credentials {
    /// None given: each job's configuration is what its input state carries.
    #[default]
    None,
    /// A job's configuration object (OpenFn CLI's `--credentials` for a job).
    Configuration(Value),
    /// A map from credential id to configuration (for a workflow's steps).
    Map(Map<String, Value>),
    /// A lookup by credential id, e.g. a fetch from the engine's credential store.
    Lookup(CredentialLookup),
}

/// Finds the configuration of a credential id ([`Credentials::Lookup`]).
pub type CredentialLookup = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the values: they are secrets.
        f.write_str(match self {
            Credentials::None => "Credentials::None",
            Credentials::Configuration(_) => "Credentials::Configuration(..)",
            Credentials::Map(_) => "Credentials::Map(..)",
            Credentials::Lookup(_) => "Credentials::Lookup(..)",
        })
    }
}

impl Credentials {
    fn lookup(&self, id: &str) -> Option<Value> {
        match self {
            Credentials::Map(map) => map.get(id).cloned(),
            Credentials::Lookup(lookup) => lookup(id),
            Credentials::None | Credentials::Configuration(_) => None,
        }
    }
}

/// One run to do.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The run's id, carried by every event.
    pub run_id: String,
    /// What to run.
    pub plan: Plan,
    /// The input state (`{}` when there is none).
    pub input: Value,
    /// Where configurations come from.
    pub credentials: Credentials,
    /// The limits of each job.
    pub limits: Limits,
    /// A wall-clock limit for the whole run, across its steps.
    pub run_timeout: Option<Duration>,
    /// Origins every job may reach besides those its configuration names.
    pub allow: Vec<AllowRule>,
    /// Keys each step's output loses before it is reported, passed to the next steps
    /// and returned, besides `configuration`, which every output loses. Empty by
    /// default; OpenFn's worker removes `response` too
    /// (`WORKER_STATE_PROPS_TO_REMOVE=configuration,response`).
    pub state_props_to_remove: Vec<String>,
}

impl RunRequest {
    /// A request for `plan` on `input` with default limits and no credentials.
    pub fn new(run_id: impl Into<String>, plan: Plan, input: Value) -> RunRequest {
        RunRequest {
            run_id: run_id.into(),
            plan,
            input,
            credentials: Credentials::None,
            limits: Limits::default(),
            run_timeout: None,
            allow: Vec::new(),
            state_props_to_remove: Vec::new(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The final state: the last step's output, or each leaf's by step id when
    /// several steps ended the run (as OpenFn's CLI returns them). Never holds
    /// `configuration`; every secret is masked.
    pub state: FinalState,
    /// The step whose output the final state is, when it is one step's
    /// ([`FinalState::One`] after a step ran): a worker names that step's output
    /// dataclip as the run's final one.
    pub final_step: Option<String>,
    /// The run's reason and error, as its `RunComplete` event said.
    pub report: RunReport,
}

/// The final state of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum FinalState {
    /// One leaf (or a single job): its output state.
    One(Value),
    /// Several leaves: each leaf's output by step id.
    Leaves(Map<String, Value>),
}

impl FinalState {
    /// As one JSON value: the state, or `{stepId: state}` for several leaves.
    pub fn into_value(self) -> Value {
        match self {
            FinalState::One(state) => state,
            FinalState::Leaves(leaves) => Value::Object(leaves),
        }
    }
}

/// Runs `request` on `host`: sends its events to `events` in order and returns how it
/// ended. Cancelling through `cancel` stops the current job at once and returns the
/// state reached so far with reason `cancel`.
///
/// Every JavaScript step is compiled before the first one runs, as OpenFn does: a step
/// that does not compile ends the run with `crash`/`CompileError` before any step
/// starts (its input state, with the error in `errors.<step>`, is the final state).
pub async fn run(host: &Host, request: RunRequest, events: Arc<dyn EventSink>, cancel: &Cancel) -> RunOutcome {
    let started = Instant::now();
    let log = JobLog::new(request.run_id.clone(), None, events);
    log.event(EventKind::RunStart);
    let deadline = request.run_timeout.map(|limit| (started + limit, limit));
    let mut runner = Runner {
        host,
        request: &request,
        log: &log,
        cancel,
        deadline,
        fatal: None,
    };
    let compiled = compile_all(&request.plan);
    let (state, final_step, failed_leaf) = match (&request.plan, compiled) {
        (_, Err((step_id, message))) => {
            // As OpenFn compiles every step before the first one runs: no step starts.
            let mut state = input_without_configuration(request.input.clone());
            if !state.is_object() {
                state = json!({});
            }
            if !state["errors"].is_object() {
                state["errors"] = json!({});
            }
            state["errors"][&step_id] = json!({
                "source": "runtime",
                "name": "CompileError",
                "severity": Reason::Crash.name(),
                "message": message,
            });
            let error = ("CompileError".to_string(), message);
            runner.fatal = Some((Reason::Crash, Some(error.clone())));
            (FinalState::One(state), None, Some(error))
        }
        (Plan::Job { adaptor, job, step_id }, Ok(())) => {
            let mut input = request.input.clone();
            if let Credentials::Configuration(configuration) = &request.credentials
                && let Value::Object(map) = &mut input
            {
                map.insert("configuration".into(), configuration.clone());
            } else if let Credentials::Configuration(configuration) = &request.credentials {
                input = json!({"configuration": configuration});
            }
            let step = runner.step(step_id, None, adaptor, job, input).await;
            (FinalState::One(step.state), Some(step_id.clone()), step.error)
        }
        (Plan::Workflow(workflow), Ok(())) => runner.workflow(workflow).await,
    };
    let (reason, error) = match (runner.fatal.take(), failed_leaf) {
        (Some(fatal), _) => fatal,
        (None, Some(error)) => (Reason::Fail, Some(error)),
        (None, None) => (Reason::Success, None),
    };
    let report = RunReport {
        reason,
        error_type: error.as_ref().map(|(t, _)| t.clone()),
        error_message: error.map(|(_, m)| m),
        duration: started.elapsed(),
    };
    log.line(
        if reason == Reason::Success {
            LogLevel::Info
        } else {
            LogLevel::Warn
        },
        LogSource::Host,
        &match &report.error_message {
            Some(message) => format!("run complete with status: {reason} ({message})"),
            None => format!("run complete with status: {reason}"),
        },
    );
    log.event(EventKind::RunComplete(report.clone()));
    RunOutcome {
        state,
        final_step,
        report,
    }
}

/// An error's type and (masked) message.
type ErrorText = (String, String);

/// Compiles every JavaScript step of `plan` (as OpenFn's compiler does, without running
/// anything); the first step that does not compile and the error, named as the runtime
/// names it (`<step>.js: SyntaxError: ... (line:column)`).
fn compile_all(plan: &Plan) -> Result<(), (String, String)> {
    let jobs: Vec<(&str, &Expression)> = match plan {
        Plan::Job { job, step_id, .. } => vec![(step_id.as_str(), job)],
        Plan::Workflow(workflow) => workflow
            .steps
            .iter()
            .filter_map(|step| Some((step.id.as_str(), step.job.as_ref()?)))
            .collect(),
    };
    for (step_id, job) in jobs {
        let Expression::JavaScript(source) = job else {
            continue;
        };
        let options = openfn_compiler::Options {
            adaptor: None,
            exports: &[],
        };
        if let Err(e) = openfn_compiler::compile(source, &options) {
            let file = if step_id.is_empty() { "job" } else { step_id };
            return Err((step_id.to_string(), format!("{file}.js: {e}")));
        }
    }
    Ok(())
}

/// What one step left.
struct StepResult {
    state: Value,
    error: Option<ErrorText>,
}

struct Runner<'a> {
    host: &'a Host,
    request: &'a RunRequest,
    log: &'a JobLog,
    cancel: &'a Cancel,
    deadline: Option<(Instant, Duration)>,
    /// The reason and error that ended the run early (crash, kill, exception, cancel).
    fatal: Option<(Reason, Option<ErrorText>)>,
}

impl Runner<'_> {
    /// Runs one job as step `step_id` on the output of step `upstream`, with its events.
    async fn step(
        &mut self,
        step_id: &str,
        upstream: Option<&str>,
        adaptor_name: &str,
        job: &Expression,
        input: Value,
    ) -> StepResult {
        let log = self.log.for_step(step_id);
        log.event(EventKind::StepStart {
            adaptor: adaptor_name.to_string(),
            upstream: upstream.map(str::to_string),
        });
        let adaptor = match self.host.adaptor(adaptor_name) {
            Ok(adaptor) => adaptor,
            Err(e) => {
                // Nothing of the input's configuration may show, even in this message.
                let redactor = input.get("configuration").map(Redactor::new).unwrap_or_default();
                return self.step_not_run(&log, input_without_configuration(input), &e, &redactor);
            }
        };
        let options = RunOptions {
            limits: self.request.limits.clone(),
            allow: self.request.allow.clone(),
            step_id: step_id.to_string(),
            log: log.clone(),
            cancel: self.cancel.clone(),
            deadline: self.deadline,
        };
        let mut outcome = match job {
            Expression::Json(job) => run_job(self.host, &adaptor, job, input, &options).await,
            Expression::JavaScript(source) => run_js_job(self.host, &adaptor, source, input, &options).await,
        };
        self.remove_props(&mut outcome.state);
        let report = |error: Option<&Error>| StepReport {
            reason: error.map_or(Reason::Success, Error::reason),
            error_type: error.map(|e| e.error_type().to_string()),
            error_message: outcome.state["errors"][step_id]["message"].as_str().map(str::to_string),
            duration: outcome.stats.duration,
            requests: outcome.stats.requests,
            peak_memory: outcome.stats.peak_memory,
            output: outcome.state.clone(),
        };
        let report = report(outcome.error.as_ref());
        let error = outcome.error.as_ref().map(|e| {
            (
                e.error_type().to_string(),
                report.error_message.clone().unwrap_or_default(),
            )
        });
        if report.reason.is_fatal() {
            self.fatal.get_or_insert((report.reason, error.clone()));
        }
        log.event(EventKind::StepComplete(Box::new(report)));
        StepResult {
            state: outcome.state,
            error,
        }
    }

    /// Reports a step that could not start: its adaptor would not load, or its input
    /// could not be assembled (a credential missing). The plan could not run: `crash`.
    fn step_not_run(&mut self, log: &JobLog, mut state: Value, error: &Error, redactor: &Redactor) -> StepResult {
        let message = redactor.text(&error.to_string());
        let step_id = log.step_id().unwrap_or_default().to_string();
        self.remove_props(&mut state);
        if !state.is_object() {
            state = json!({});
        }
        state["errors"] = json!({});
        state["errors"][&step_id] = json!({
            "type": error.kind(),
            "name": match error {
                Error::Input(_) => "InputError",
                other => other.error_type(),
            },
            "severity": Reason::Crash.name(),
            "message": message,
        });
        let error_type = match error {
            Error::Input(_) => "InputError",
            other => other.error_type(),
        };
        let text = (error_type.to_string(), message.clone());
        self.fatal.get_or_insert((Reason::Crash, Some(text.clone())));
        log.event(EventKind::StepComplete(Box::new(StepReport {
            reason: Reason::Crash,
            error_type: Some(text.0.clone()),
            error_message: Some(message),
            duration: Duration::ZERO,
            requests: 0,
            peak_memory: 0,
            output: state.clone(),
        })));
        StepResult {
            state,
            error: Some(text),
        }
    }

    /// Runs a workflow from its start step; returns the final state and the error of a
    /// failed leaf, if any.
    /// Runs the workflow's steps from its start; returns the final state, the step
    /// that produced it when it is one step's output, and a failed leaf's error.
    async fn workflow(&mut self, workflow: &Workflow) -> (FinalState, Option<String>, Option<ErrorText>) {
        let mut queue: VecDeque<(String, Option<String>, Value)> =
            VecDeque::from([(workflow.start.clone(), None, self.request.input.clone())]);
        let mut leaves: Vec<(String, Value, Option<ErrorText>)> = Vec::new();
        let mut runs = 0;
        let mut last = (String::new(), Value::Null, None);
        while let Some((id, upstream, input)) = queue.pop_front() {
            if self.fatal.is_some() {
                break;
            }
            runs += 1;
            if runs > MAX_STEP_RUNS {
                let error = Error::Input(format!(
                    "the workflow ran {MAX_STEP_RUNS} steps: do its edges form a cycle?"
                ));
                self.fatal = Some((Reason::Crash, Some(("InputError".into(), error.to_string()))));
                break;
            }
            let step = workflow.step(&id);
            let result = match step.assemble(input, |credential| self.configuration(credential)) {
                Err(error) => {
                    let log = self.log.for_step(&id);
                    log.event(EventKind::StepStart {
                        adaptor: step.adaptor.clone().unwrap_or_default(),
                        upstream: upstream.clone(),
                    });
                    self.step_not_run(&log, json!({}), &error, &Redactor::default())
                }
                Ok(state) => match (&step.adaptor, &step.job) {
                    (Some(adaptor), Some(job)) => self.step(&id, upstream.as_deref(), adaptor, job, state).await,
                    // A trigger: no job, the state passes on.
                    _ => StepResult {
                        state: input_without_configuration(state),
                        error: None,
                    },
                },
            };
            let mut followed = false;
            for edge in &step.next {
                let holds = match edge.when.holds(result.error.is_some(), &result.state) {
                    Some(holds) => holds,
                    None => match self.javascript_condition(&edge.when, &id, &result.state).await {
                        Ok(holds) => holds,
                        Err(error) => {
                            let text = ("EdgeConditionError".to_string(), error.to_string());
                            self.fatal.get_or_insert((Reason::Crash, Some(text)));
                            break;
                        }
                    },
                };
                if holds {
                    queue.push_back((edge.target.clone(), Some(id.clone()), result.state.clone()));
                    followed = true;
                }
            }
            if !followed {
                leaves.push((id.clone(), result.state.clone(), result.error.clone()));
            }
            last = (id, result.state, result.error);
        }
        if leaves.is_empty() {
            // Stopped early (or a cycle): the last step's output.
            let (id, state, error) = last;
            return (FinalState::One(state), Some(id).filter(|id| !id.is_empty()), error);
        }
        let failed = leaves.iter().find_map(|(_, _, error)| error.clone());
        if leaves.len() == 1 {
            let (id, state, _) = leaves.remove(0);
            return (FinalState::One(state), Some(id), failed);
        }
        let mut by_id = Map::new();
        for (id, state, _) in leaves {
            by_id.insert(id, state);
        }
        (FinalState::Leaves(by_id), None, failed)
    }

    /// Evaluates a JavaScript edge condition on the upstream step's output, in the
    /// JavaScript runtime's sandbox (with `state` and `upstreamStepId` in scope).
    async fn javascript_condition(&self, when: &When, upstream: &str, output: &Value) -> Result<bool, Error> {
        let When::JavaScript(expression) = when else {
            return Ok(false);
        };
        crate::javascript::condition(self.host, expression, upstream, output, &self.request.limits).await
    }

    /// Removes the request's [`RunRequest::state_props_to_remove`] from a step's output.
    fn remove_props(&self, state: &mut Value) {
        if let Value::Object(map) = state {
            for key in &self.request.state_props_to_remove {
                map.remove(key);
            }
        }
    }

    /// A credential by id, from the request's credentials.
    fn configuration(&self, id: &str) -> Option<Value> {
        self.request.credentials.lookup(id)
    }
}

fn input_without_configuration(mut state: Value) -> Value {
    if let Value::Object(map) = &mut state {
        map.remove("configuration");
    }
    state
}
