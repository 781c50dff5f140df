//! `run:<id>`: the join with the run token, the fetches, and the checks of the events
//! a worker reports.
//!
//! Checked, beyond keys and types (unknown keys are refused too):
//! - `run:start` once, before any step, never after `run:complete`;
//! - `run:log`: `run_id` is the run, `message` an array, `level` one of
//!   `debug|info|warn|error|success|always`, `source` a string of at most 8
//!   characters, `step_id` (if any) a step of the run; allowed before `run:start`;
//!   and as the plan's options say: no `JOB` line under `job_log_level: "none"`, no
//!   `message` longer (as JSON) than `log_payload_limit_mb`, and under `sanitize`
//!   `remove|summarize|obfuscate` no object (but an Error's `{name, message}`) or
//!   array in `message`; never a `[null]`
//!   message (@openfn/logger drops such a line, which `remove` would otherwise leave);
//! - `step:start` after `run:start`, with no other step open; `step_id` a fresh UUID;
//!   `job_id` a job of the plan, reachable: the starting node, a target of an enabled
//!   edge of the starting trigger, or of an enabled edge from a completed step whose
//!   condition holds (`on_job_success` after success, `on_job_failure` after fail;
//!   JS expressions are not evaluated); `input_dataclip_id` a dataclip of the run;
//! - `step:complete` for the open step with its `job_id`; `reason` one of
//!   `success|fail|crash|kill|exception|cancel`; `error_type` and `error_message`
//!   present, null on success, `error_type` a string otherwise; `output_dataclip` a
//!   JSON string of an object with a fresh UUID `output_dataclip_id`, or neither with
//!   `output_dataclip_error: "DATACLIP_TOO_LARGE"`, and never when the plan says
//!   `output_dataclips: false`; no output holds a key of [`Config::state_props_removed`]
//!   (`configuration`, `response`); `timestamp`, `duration`, `thread_id` (a whole
//!   number) except after a kill; `mem` (if any) `{job, system}` numbers; never
//!   `error_type: "CompileError"` (a run compiles before its first step);
//! - `run:complete` once, with no step open; same `reason`/error rules; `final_state`
//!   an object, required on success and fail, without the removed keys (in each leaf's
//!   state when it is keyed by job id); `final_dataclip_id` (if any) an output
//!   dataclip of the run; without `run:start` only `exception` is allowed; a
//!   `CompileError` only as a `crash` of a run that started no step;
//! - nothing after `run:complete`, and nothing on a lost run.
//!
//! Timestamps must be strings of microseconds since the epoch; they need not increase.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::check::{Fields, kind};
use super::socket::{Answer, Body, Ctx};
use super::{Completed, Run, RunState, Step, World};

/// `run:log` levels.
const LEVELS: [&str; 6] = ["debug", "info", "warn", "error", "success", "always"];
/// Step and run reasons.
const REASONS: [&str; 6] = ["success", "fail", "crash", "kill", "exception", "cancel"];

/// `phx_join` on `run:<id>` with `{token}`.
pub(crate) fn join(w: &mut World, ctx: &Ctx, run_id: &str, payload: &Value) -> Answer {
    let refuse = |w: &mut World, reason: &str, why: &str| {
        w.violation(Some(ctx.socket), Some(run_id), "phx_join", "token", why);
        Answer::error(json!({ "reason": reason }))
    };
    let Some(run) = w.runs.iter().find(|r| r.id == run_id) else {
        return refuse(w, "not_found", "no such run");
    };
    let Some(token) = payload["token"].as_str() else {
        return refuse(w, "unauthorized", "the join payload has no token");
    };
    if run.token.as_deref() != Some(token) {
        return refuse(w, "unauthorized", "not the token this run was claimed with");
    }
    let run = w.run_mut(run_id).expect("found above");
    run.channel = Some(ctx.socket);
    Answer::ok(json!({}))
}

/// Pushes on a joined `run:<id>`.
pub(crate) fn handle(w: &mut World, ctx: &Ctx, run_id: &str, payload: &Value) -> Answer {
    let Some(index) = w.runs.iter().position(|r| r.id == run_id) else {
        return ctx.reject_one(w, "run", "no such run");
    };
    let run = &w.runs[index];
    if let Some(why) = resent(run, &ctx.event, payload) {
        // A push the server already applied, sent again because its reply was lost
        // with a dropped socket: refused as a duplicate, as Lightning's unique step ids
        // and finished runs refuse it, but no protocol violation by the worker.
        return Answer::error(json!({"errors": {"id": [why]}}));
    }
    if run.finished() {
        let why = match &run.state {
            RunState::Lost => "the run was marked lost".to_string(),
            _ => "run:complete was already received; nothing may follow it".to_string(),
        };
        return ctx.reject_one(w, "order", why);
    }
    let mut errors = Vec::new();
    let answer = match ctx.event.as_str() {
        "fetch:plan" => return Answer::ok(run.plan.clone()),
        "fetch:dataclip" => return fetch_dataclip(w, ctx, index, payload),
        "fetch:credential" => return fetch_credential(w, ctx, index, payload),
        "run:start" => run_start(&mut w.runs[index], payload, &mut errors),
        "run:log" => run_log(&w.runs[index], payload, &mut errors),
        "step:start" => step_start(&mut w.runs[index], payload, &mut errors),
        "step:complete" => {
            let removed = w.config.state_props_removed.clone();
            step_complete(&mut w.runs[index], payload, &removed, &mut errors)
        }
        "run:complete" => {
            let removed = w.config.state_props_removed.clone();
            run_complete(&mut w.runs[index], payload, &removed, &mut errors)
        }
        other => {
            errors.push(("event".into(), format!("a run channel has no {other:?} event")));
            None
        }
    };
    match answer {
        Some(response) if errors.is_empty() => {
            if ctx.event == "run:complete" {
                let run = &w.runs[index];
                let completed = Completed {
                    run: run.id.clone(),
                    reason: payload["reason"].as_str().unwrap_or_default().to_string(),
                    error_type: payload["error_type"].as_str().map(str::to_string),
                    error_message: payload["error_message"].as_str().map(str::to_string),
                    final_state: payload.get("final_state").cloned(),
                    final_dataclip_id: payload["final_dataclip_id"].as_str().map(str::to_string),
                    steps: run.steps.clone(),
                };
                w.completed.push(completed);
            }
            Answer::ok(response)
        }
        _ => ctx.reject(w, &errors),
    }
}

fn fetch_dataclip(w: &mut World, ctx: &Ctx, index: usize, payload: &Value) -> Answer {
    let mut fields = Fields::new(payload);
    fields.only(&["id"]);
    let id = fields.string("id").map(str::to_string);
    if !fields.ok() {
        return ctx.reject(w, &fields.errors);
    }
    let run = &w.runs[index];
    let bytes = run.input.to_string().into_bytes();
    if id.as_deref() != Some(run.dataclip_id()) {
        // Lightning ignores the id and answers with the run's input anyway.
        let message = format!("{:?} is not the plan's dataclip_id {:?}", id, run.dataclip_id());
        w.violation(Some(ctx.socket), ctx.run(), &ctx.event, "id", &message);
    }
    Answer {
        ok: true,
        body: Body::Binary(bytes),
        after: super::socket::AfterSend::Nothing,
    }
}

fn fetch_credential(w: &mut World, ctx: &Ctx, index: usize, payload: &Value) -> Answer {
    let mut fields = Fields::new(payload);
    fields.only(&["id"]);
    let id = fields.string("id").map(str::to_string);
    if !fields.ok() {
        return ctx.reject(w, &fields.errors);
    }
    let id = id.expect("checked");
    let run = &w.runs[index];
    let not_found = Answer::error(json!({"errors": {"id": ["Credential not found!"]}}));
    let used = run.plan["jobs"]
        .as_array()
        .is_some_and(|jobs| jobs.iter().any(|j| j["credential_id"] == id.as_str()));
    if !used {
        let message = format!("no job of the plan uses credential {id:?}");
        w.violation(Some(ctx.socket), ctx.run(), &ctx.event, "id", &message);
        return not_found;
    }
    match run.credentials.get(&id) {
        Some(body) => Answer::ok(body.clone()),
        None => not_found,
    }
}

fn fail(errors: &mut Vec<(String, String)>, field: &str, message: impl Into<String>) -> Option<Value> {
    errors.push((field.to_string(), message.into()));
    None
}

/// `error_type` and `error_message`: present; null on success, a type otherwise.
fn check_error_fields(fields: &mut Fields, reason: Option<&str>) {
    let error_type = fields.nullable_string("error_type");
    let error_message = fields.nullable_string("error_message");
    match reason {
        Some("success") => {
            if matches!(error_type, Some(Some(_))) {
                fields.error("error_type", "must be null on success");
            }
            if matches!(error_message, Some(Some(_))) {
                fields.error("error_message", "must be null on success");
            }
        }
        Some(_) if error_type == Some(None) => fields.error("error_type", "is required unless the reason is success"),
        _ => {}
    }
}

fn reason<'a>(fields: &mut Fields<'a>) -> Option<&'a str> {
    let reason = fields.string("reason")?;
    if !REASONS.contains(&reason) {
        fields.error("reason", format!("{reason:?} is not one of {}", REASONS.join("|")));
        return None;
    }
    Some(reason)
}

fn run_start(run: &mut Run, payload: &Value, errors: &mut Vec<(String, String)>) -> Option<Value> {
    if run.state == RunState::Started {
        return fail(errors, "order", "run:start was already received");
    }
    let mut fields = Fields::new(payload);
    fields.only(&["versions", "timestamp"]);
    fields.timestamp("timestamp", true);
    match fields.required("versions") {
        Some(Value::Object(versions)) => {
            for (name, version) in versions {
                let fine = match version {
                    Value::String(_) => true,
                    Value::Array(list) => list.iter().all(Value::is_string),
                    _ => false,
                };
                if !fine {
                    fields.error(
                        "versions",
                        format!("{name:?} must be a version string or a list of them"),
                    );
                }
            }
        }
        Some(other) => fields.error("versions", format!("must be an object, got {}", kind(other))),
        None => {}
    }
    if !fields.ok() {
        errors.append(&mut fields.errors);
        return None;
    }
    run.state = RunState::Started;
    Some(json!({}))
}

fn run_log(run: &Run, payload: &Value, errors: &mut Vec<(String, String)>) -> Option<Value> {
    let mut fields = Fields::new(payload);
    fields.only(&["run_id", "message", "level", "source", "timestamp", "step_id"]);
    if let Some(id) = fields.string("run_id")
        && id != run.id
    {
        fields.error("run_id", format!("{id:?} is not this run ({:?})", run.id));
    }
    match fields.required("message") {
        Some(Value::Array(_)) | None => {}
        Some(other) => fields.error("message", format!("must be an array, got {}", kind(other))),
    }
    if let Some(level) = fields.string("level")
        && !LEVELS.contains(&level)
    {
        fields.error("level", format!("{level:?} is not one of {}", LEVELS.join("|")));
    }
    if let Some(source) = fields.string("source")
        && source.chars().count() > 8
    {
        fields.error("source", format!("{source:?} is longer than 8 characters"));
    }
    fields.timestamp("timestamp", true);
    if let Some(step) = fields.opt_string("step_id")
        && !run.steps.iter().any(|s| s.step_id == step)
    {
        fields.error("step_id", format!("{step:?} is not a step of this run"));
    }
    check_log_options(&mut fields, &run.plan["options"]);
    if !fields.ok() {
        errors.append(&mut fields.errors);
        return None;
    }
    Some(json!({ "log_line_id": uuid::Uuid::new_v4().to_string() }))
}

/// A `run:log` as the plan's `job_log_level`, `log_payload_limit_mb` and `sanitize`
/// options allow.
fn check_log_options(fields: &mut Fields, options: &Value) {
    if options["job_log_level"] == "none" && fields.get("source").is_some_and(|s| s == "JOB") {
        fields.error(
            "source",
            "job logs are off: the run's options say job_log_level: \"none\"",
        );
    }
    let Some(Value::Array(message)) = fields.get("message") else {
        return;
    };
    if let Some(limit) = options["log_payload_limit_mb"].as_u64() {
        let size = Value::Array(message.clone()).to_string().len() as u64;
        if size > limit << 20 {
            fields.error(
                "message",
                format!("{size} bytes is over the run's log_payload_limit_mb ({limit})"),
            );
        }
    }
    if message.as_slice() == [Value::Null] {
        fields.error(
            "message",
            "a line of one null is not sent (as after sanitize: \"remove\")",
        );
    }
    let policy = options["sanitize"].as_str().unwrap_or("none");
    // An Error is logged as {name, message} whatever the policy (@openfn/logger
    // serializes errors before it sanitizes).
    let error = |m: &Value| {
        m.as_object()
            .is_some_and(|o| o.len() == 2 && o["name"].is_string() && o["message"].is_string())
    };
    if policy != "none" && message.iter().any(|m| (m.is_object() && !error(m)) || m.is_array()) {
        fields.error(
            "message",
            format!("holds an object or array although the run's options say sanitize: {policy:?}"),
        );
    }
}

/// Errors for the keys of `state` the worker should have removed.
fn check_removed(fields: &mut Fields, field: &str, state: &Value, removed: &[String]) {
    for key in removed {
        if state.get(key).is_some() {
            fields.error(
                field,
                format!("holds {key:?}, which a worker removes from every step's output"),
            );
        }
    }
}

/// Whether `job` may start now, by the plan's edges and the steps completed.
fn reachable(run: &Run, job: &str) -> Result<(), String> {
    let plan = &run.plan;
    let start = plan["starting_node_id"].as_str().unwrap_or_default();
    if start == job {
        return Ok(());
    }
    let done: HashMap<&str, &str> = run
        .steps
        .iter()
        .filter_map(|s| Some((s.job_id.as_str(), s.reason.as_deref()?)))
        .collect();
    let edges = plan["edges"].as_array().map(Vec::as_slice).unwrap_or_default();
    let fires = |edge: &Value| {
        if edge["target_job_id"] != job || edge["enabled"] == false {
            return false;
        }
        if edge["source_trigger_id"].as_str() == Some(start) {
            return true;
        }
        let Some(reason) = edge["source_job_id"].as_str().and_then(|s| done.get(s)) else {
            return false;
        };
        match edge["condition"].as_str() {
            Some("on_job_success") => *reason == "success",
            Some("on_job_failure") => *reason == "fail",
            // `always`, a missing condition, or a JS expression (not evaluated here).
            _ => true,
        }
    };
    if edges.iter().any(fires) {
        Ok(())
    } else {
        Err(format!(
            "job {job:?} is not the starting node and no enabled edge whose condition holds leads to it from \
             the starting trigger or a completed step"
        ))
    }
}

/// Why a push repeats one already applied (`run:start` of a started run, a step id
/// already started or completed, `run:complete` of a completed run), if it does.
fn resent(run: &Run, event: &str, payload: &Value) -> Option<String> {
    let step_id = payload["step_id"].as_str();
    let step = step_id.and_then(|id| run.steps.iter().find(|s| s.step_id == id));
    match event {
        "run:start" if run.state == RunState::Started => Some("this run was already started".into()),
        "step:start" if step.is_some() => Some("this step was already started".into()),
        "step:complete" if step.is_some_and(|s| s.reason.is_some()) => Some("this step was already completed".into()),
        "run:complete" if matches!(run.state, RunState::Finished(_)) => Some("this run was already completed".into()),
        _ => None,
    }
}

fn step_start(run: &mut Run, payload: &Value, errors: &mut Vec<(String, String)>) -> Option<Value> {
    if run.state != RunState::Started {
        return fail(errors, "order", "step:start before run:start");
    }
    if let Some(open) = run.steps.iter().find(|s| s.reason.is_none()) {
        let message = format!("step {:?} has not completed; steps run one at a time", open.step_id);
        return fail(errors, "order", message);
    }
    let mut fields = Fields::new(payload);
    fields.only(&["step_id", "job_id", "timestamp", "input_dataclip_id"]);
    let step_id = fields.uuid("step_id", true);
    if let Some(id) = step_id
        && run.steps.iter().any(|s| s.step_id == id)
    {
        fields.error("step_id", format!("{id:?} was already used by another step"));
    }
    let job_id = fields.string("job_id");
    if let Some(job) = job_id {
        let known = run.plan["jobs"]
            .as_array()
            .is_some_and(|jobs| jobs.iter().any(|j| j["id"] == job));
        if !known {
            fields.error("job_id", format!("{job:?} is not a job of this run's workflow"));
        } else if let Err(why) = reachable(run, job) {
            fields.error("job_id", why);
        }
    }
    fields.timestamp("timestamp", true);
    let input = fields.opt_string("input_dataclip_id");
    if let Some(input) = input {
        let known =
            input == run.dataclip_id() || run.steps.iter().any(|s| s.output_dataclip_id.as_deref() == Some(input));
        if !known {
            fields.error(
                "input_dataclip_id",
                format!("{input:?} is neither the run's input nor an output of one of its steps"),
            );
        }
    }
    if !fields.ok() {
        errors.append(&mut fields.errors);
        return None;
    }
    let step_id = step_id.expect("checked").to_string();
    run.steps.push(Step {
        step_id: step_id.clone(),
        job_id: job_id.expect("checked").to_string(),
        input_dataclip_id: input.map(str::to_string),
        reason: None,
        error_type: None,
        error_message: None,
        output: None,
        output_dataclip_id: None,
        output_dataclip_error: None,
        thread_id: None,
    });
    Some(json!({ "step_id": step_id }))
}

fn step_complete(
    run: &mut Run,
    payload: &Value,
    removed: &[String],
    errors: &mut Vec<(String, String)>,
) -> Option<Value> {
    let mut fields = Fields::new(payload);
    fields.only(&[
        "step_id",
        "job_id",
        "reason",
        "error_type",
        "error_message",
        "output_dataclip",
        "output_dataclip_id",
        "mem",
        "duration",
        "thread_id",
        "timestamp",
        "webhook_response",
        "output_dataclip_error",
    ]);
    let step_id = fields.string("step_id");
    let open = match step_id {
        Some(id) => match run.steps.iter().position(|s| s.step_id == id) {
            Some(i) if run.steps[i].reason.is_none() => Some(i),
            Some(_) => {
                fields.error("step_id", format!("step {id:?} was already completed"));
                None
            }
            None => {
                fields.error("step_id", format!("no step:start was received for step {id:?}"));
                None
            }
        },
        None => None,
    };
    if let Some(job) = fields.string("job_id")
        && let Some(i) = open
        && run.steps[i].job_id != job
    {
        let message = format!("{job:?} is not the job of step:start ({:?})", run.steps[i].job_id);
        fields.error("job_id", message);
    }
    let reason = reason(&mut fields);
    check_error_fields(&mut fields, reason);
    if fields.get("error_type").is_some_and(|t| t == "CompileError") {
        fields.error(
            "error_type",
            "a CompileError ends the run before its first step (run:complete, no step:*)",
        );
    }
    let killed = reason == Some("kill");
    fields.timestamp("timestamp", !killed);
    fields.number("duration", !killed);
    let thread_id = fields.number("thread_id", !killed);
    if let Some(n) = thread_id
        && (n < 0.0 || n.fract() != 0.0)
    {
        fields.error("thread_id", format!("{n} is not a whole number"));
    }
    match fields.get("mem") {
        None => {}
        Some(Value::Object(mem))
            if mem.get("job").is_some_and(Value::is_number) && mem.get("system").is_some_and(Value::is_number) => {}
        Some(other) => fields.error("mem", format!("must be {{job, system}} (bytes), got {other}")),
    }
    match fields.get("webhook_response") {
        None | Some(Value::Object(_)) => {}
        Some(other) => fields.error("webhook_response", format!("must be an object, got {}", kind(other))),
    }
    let output_error = fields.opt_string("output_dataclip_error");
    let output = fields.get("output_dataclip");
    let output_id = fields.get("output_dataclip_id");
    let mut parsed = None;
    if let Some(error) = output_error {
        if error != "DATACLIP_TOO_LARGE" {
            fields.error("output_dataclip_error", format!("{error:?} is not DATACLIP_TOO_LARGE"));
        }
        if output.is_some() || output_id.is_some() {
            fields.error("output_dataclip", "must be left out with output_dataclip_error");
        }
    } else if run.plan["options"]["output_dataclips"] == false {
        if output.is_some() {
            fields.error(
                "output_dataclip",
                "must not be sent: the run's options say output_dataclips: false",
            );
        }
    } else {
        if let Some(text) = fields.string("output_dataclip") {
            match serde_json::from_str::<Value>(text) {
                Ok(value @ Value::Object(_)) => {
                    check_removed(&mut fields, "output_dataclip", &value, removed);
                    parsed = Some(value);
                }
                Ok(other) => fields.error(
                    "output_dataclip",
                    format!("must encode an object, got {}", kind(&other)),
                ),
                Err(e) => fields.error("output_dataclip", format!("is not a JSON string: {e}")),
            }
        }
        if let Some(id) = fields.uuid("output_dataclip_id", true) {
            let taken =
                id == run.dataclip_id() || run.steps.iter().any(|s| s.output_dataclip_id.as_deref() == Some(id));
            if taken {
                fields.error(
                    "output_dataclip_id",
                    format!("{id:?} is already a dataclip of this run"),
                );
            }
        }
    }
    if !fields.ok() {
        errors.append(&mut fields.errors);
        return None;
    }
    let step = &mut run.steps[open.expect("checked")];
    step.reason = reason.map(str::to_string);
    step.error_type = payload["error_type"].as_str().map(str::to_string);
    step.error_message = payload["error_message"].as_str().map(str::to_string);
    step.output = parsed;
    step.output_dataclip_id = payload["output_dataclip_id"].as_str().map(str::to_string);
    step.output_dataclip_error = output_error.map(str::to_string);
    step.thread_id = payload["thread_id"].as_u64();
    Some(json!({ "step_id": step.step_id }))
}

fn run_complete(
    run: &mut Run,
    payload: &Value,
    removed: &[String],
    errors: &mut Vec<(String, String)>,
) -> Option<Value> {
    if let Some(open) = run.steps.iter().find(|s| s.reason.is_none()) {
        let message = format!("step {:?} has no step:complete yet", open.step_id);
        return fail(errors, "order", message);
    }
    let mut fields = Fields::new(payload);
    fields.only(&[
        "reason",
        "error_type",
        "error_message",
        "timestamp",
        "final_state",
        "final_dataclip_id",
    ]);
    let reason = reason(&mut fields);
    check_error_fields(&mut fields, reason);
    fields.timestamp("timestamp", false);
    if run.state != RunState::Started && reason.is_some_and(|r| r != "exception") {
        fields.error(
            "reason",
            "without run:start a run can only end with an exception (DataClipError, CredentialLoadError)",
        );
    }
    if fields.get("error_type").is_some_and(|t| t == "CompileError") {
        if reason != Some("crash") {
            fields.error("reason", "a CompileError is a crash");
        }
        if !run.steps.is_empty() {
            fields.error(
                "error_type",
                "a CompileError ends the run before its first step, but steps were reported",
            );
        }
    }
    match fields.get("final_state") {
        Some(state @ Value::Object(map)) => {
            let jobs: Vec<&str> = run.plan["jobs"]
                .as_array()
                .map(|jobs| jobs.iter().filter_map(|j| j["id"].as_str()).collect())
                .unwrap_or_default();
            let leaves = !map.is_empty() && map.keys().all(|k| jobs.contains(&k.as_str()));
            if leaves {
                for leaf in map.values() {
                    check_removed(&mut fields, "final_state", leaf, removed);
                }
            } else {
                check_removed(&mut fields, "final_state", state, removed);
            }
        }
        Some(other) => fields.error("final_state", format!("must be an object, got {}", kind(other))),
        None if matches!(reason, Some("success" | "fail")) => {
            fields.error("final_state", "is required when the run ends with success or fail")
        }
        None => {}
    }
    if let Some(id) = fields.opt_string("final_dataclip_id")
        && !run.steps.iter().any(|s| s.output_dataclip_id.as_deref() == Some(id))
    {
        fields.error(
            "final_dataclip_id",
            format!("{id:?} is not an output dataclip of this run"),
        );
    }
    if !fields.ok() {
        errors.append(&mut fields.errors);
        return None;
    }
    run.state = RunState::Finished(reason.expect("checked").to_string());
    Some(json!({}))
}
