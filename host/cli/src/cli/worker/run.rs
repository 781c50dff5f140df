//! One claimed run: join its channel, fetch the plan, the dataclip and the
//! credentials, run it through the library, and report its events one at a time,
//! each after the previous reply, ending with `run:complete` whatever happens.

use std::collections::HashMap;
use std::sync::Arc;

use adaptor_host::events::{Event, EventKind, LogLevel, LogSource, RunReport, StepReport, now_micros};
use adaptor_host::{Cancel, Credentials, FinalState, Host, Plan, Reason, RunRequest};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use super::RunDefaults;
use super::phoenix::{Conn, NoReply, Reply};
use super::plan::{self, Options};

/// What every run shares: the host, the current connection, the worker's defaults.
pub struct Context {
    /// The engine.
    pub host: Arc<Host>,
    /// The open connection whose `worker:queue` is joined, if any.
    pub link: watch::Receiver<Option<Arc<Conn>>>,
    /// What runs get unless their plan says otherwise.
    pub defaults: RunDefaults,
}

/// A claimed run.
pub struct Claimed {
    /// The run id.
    pub id: String,
    /// The run token, to join its channel.
    pub token: String,
    /// The worker slot running it (1 to the capacity; 0 beyond it): `thread_id`.
    pub thread: u32,
}

/// Where one run stands with the server.
struct Channel {
    ctx: Arc<Context>,
    id: String,
    topic: String,
    token: String,
    /// The connection the run channel was joined on.
    joined_on: Option<u64>,
    /// The server refused the join: nothing more can be said about the run.
    refused: bool,
}

/// What the server said to an event.
enum Said {
    Ok(Value),
    Binary(Vec<u8>),
    Refused(String),
}

impl Channel {
    /// Sends `event`, rejoining the run channel on a new connection when the old one
    /// dropped; a push cut off by a dropped connection is sent again.
    ///
    /// A push sent again may have arrived the first time, its reply lost with the
    /// connection: a refusal of the second send is then taken as the first's success.
    async fn push(&mut self, event: &str, payload: Value) -> Said {
        let mut link = self.ctx.link.clone();
        let mut resent = false;
        loop {
            if self.refused {
                return Said::Refused("the run channel refused the join".into());
            }
            let conn = match link.wait_for(Option::is_some).await {
                Ok(conn) => conn.clone().expect("waited for a connection"),
                Err(_) => return Said::Refused("the worker stopped".into()),
            };
            if self.joined_on != Some(conn.id) {
                match conn.join(&self.topic, json!({"token": self.token})).await {
                    Ok(Reply::Ok(_)) => self.joined_on = Some(conn.id),
                    Ok(other) => {
                        tracing::error!(run = self.id, "lightning refused to join the run channel: {other:?}");
                        self.refused = true;
                        continue;
                    }
                    Err(_) => {
                        conn.closed.cancelled().await;
                        continue;
                    }
                }
            }
            match conn.call(&self.topic, event, payload.clone()).await {
                Ok(Reply::Ok(response)) => return Said::Ok(response),
                Ok(Reply::Binary(bytes)) => return Said::Binary(bytes),
                Ok(Reply::Error(response)) if resent => {
                    tracing::info!(
                        run = self.id,
                        event,
                        "sent again after a reconnect and refused ({response}): the first send had arrived"
                    );
                    return Said::Ok(Value::Null);
                }
                Ok(Reply::Error(response)) => {
                    tracing::warn!(run = self.id, event, "lightning answered an error: {response}");
                    return Said::Refused(response.to_string());
                }
                Err(NoReply::Timeout) => {
                    tracing::warn!(run = self.id, event, "lightning did not answer in time");
                    return Said::Refused("no reply in time".into());
                }
                Err(NoReply::Gone) => {
                    resent = true;
                    conn.closed.cancelled().await;
                    // Wait for the next connection rather than retry on this one.
                    let _ = link
                        .wait_for(|current| current.as_ref().is_none_or(|c| c.id != conn.id))
                        .await;
                }
            }
        }
    }

    async fn leave(&mut self) {
        let current = self.ctx.link.borrow().clone();
        if let Some(conn) = current
            && self.joined_on == Some(conn.id)
        {
            conn.leave(&self.topic).await;
        }
    }
}

/// Runs a claimed run to its `run:complete`; `cancel` stops it (reported as `kill`).
pub async fn execute(ctx: Arc<Context>, claimed: Claimed, cancel: Cancel) {
    let mut channel = Channel {
        ctx: Arc::clone(&ctx),
        topic: format!("run:{}", claimed.id),
        id: claimed.id,
        token: claimed.token,
        joined_on: None,
        refused: false,
    };
    let mut reporter = Reporter::new(&mut channel, claimed.thread);
    let ending = match prepare(&mut reporter).await {
        Ok((request, options, dataclip_id)) => reporter.run(request, options, dataclip_id, &cancel).await,
        Err(ending) => ending,
    };
    reporter.complete(ending).await;
    channel.leave().await;
}

/// How the run ended, as `run:complete` says it.
struct Ending {
    reason: &'static str,
    error_type: Option<String>,
    error_message: Option<String>,
    final_state: Option<Value>,
    final_dataclip_id: Option<String>,
}

impl Ending {
    fn exception(error_type: &str, message: String) -> Ending {
        Ending {
            reason: "exception",
            error_type: Some(error_type.to_string()),
            error_message: Some(message),
            final_state: None,
            final_dataclip_id: None,
        }
    }
}

/// Fetches what the run needs; an `exception` ending when something is missing.
async fn prepare(r: &mut Reporter<'_>) -> Result<(RunRequest, Options, String), Ending> {
    let plan = match r.channel.push("fetch:plan", json!({})).await {
        Said::Ok(plan) => plan,
        other => {
            return Err(Ending::exception(
                "ExecutionError",
                format!("Failed to load plan: {}", said(other)),
            ));
        }
    };
    let dataclip_id = plan["dataclip_id"].as_str().unwrap_or_default().to_string();
    let input = match r.channel.push("fetch:dataclip", json!({"id": dataclip_id})).await {
        Said::Binary(bytes) => serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()),
        other => Err(said(other)),
    };
    let input =
        input.map_err(|e| Ending::exception("DataClipError", format!("Failed to load dataclip {dataclip_id}: {e}")))?;
    let mut credentials = Map::new();
    for job in plan["jobs"].as_array().into_iter().flatten() {
        let Some(id) = job["credential_id"].as_str() else {
            continue;
        };
        match r.channel.push("fetch:credential", json!({"id": id})).await {
            Said::Ok(body) => {
                credentials.insert(id.to_string(), body);
            }
            other => {
                let message = format!("Failed to load credential {id}: {}", said(other));
                return Err(Ending::exception("CredentialLoadError", message));
            }
        }
    }
    for adaptor in plan::adaptors(&plan) {
        if let Err(e) = r.channel.ctx.host.adaptor(&adaptor) {
            // ws-worker fails the same way when it cannot install an adaptor; this
            // worker installs nothing: its adaptors are built in.
            let message = format!("Failed to autoinstall {adaptor}: this worker does not have it ({e})");
            return Err(Ending::exception("AutoinstallError", message));
        }
    }
    let options = match Options::from_plan(&plan, &r.channel.ctx.defaults) {
        Ok(options) => options,
        Err(message) => return Err(Ending::exception("ExecutionError", message)),
    };
    r.log(
        LogLevel::Info,
        "RTE",
        &format!("Memory limit: {}mb", options.memory_mb),
        None,
    )
    .await;
    r.log(
        LogLevel::Info,
        "RTE",
        &format!("Timeout: {}s", options.timeout.as_secs()),
        None,
    )
    .await;
    let workflow = match plan::workflow(&plan) {
        Ok(workflow) => workflow,
        Err(message) => {
            r.start(&plan).await;
            return Err(Ending {
                reason: "crash",
                error_type: Some("ValidationError".into()),
                error_message: Some(message),
                final_state: None,
                final_dataclip_id: None,
            });
        }
    };
    r.plan = plan;
    let mut request = RunRequest::new(r.channel.id.clone(), Plan::Workflow(workflow), input);
    request.credentials = Credentials::Map(credentials);
    request.limits = options.limits();
    request.run_timeout = Some(options.timeout);
    request
        .state_props_to_remove
        .clone_from(&r.channel.ctx.defaults.state_props_to_remove);
    Ok((request, options, dataclip_id))
}

fn said(said: Said) -> String {
    match said {
        Said::Ok(value) => format!("unexpected reply {value}"),
        Said::Binary(_) => "unexpected binary reply".into(),
        Said::Refused(why) => why,
    }
}

/// A step reported to the server.
struct OpenStep {
    step_id: String,
    job_id: String,
    /// Whether the server accepted its `step:start`.
    accepted: bool,
}

/// Turns the library's events into the run's protocol events.
struct Reporter<'a> {
    channel: &'a mut Channel,
    plan: Value,
    started: bool,
    step: Option<OpenStep>,
    /// The id of the output dataclip the server holds for each job's last run, by
    /// job id (empty when it was not sent).
    outputs: HashMap<String, String>,
    /// The worker slot running the run: `thread_id`.
    thread: u32,
}

impl<'a> Reporter<'a> {
    fn new(channel: &'a mut Channel, thread: u32) -> Reporter<'a> {
        Reporter {
            channel,
            plan: Value::Null,
            started: false,
            step: None,
            outputs: HashMap::new(),
            thread,
        }
    }

    async fn log(&mut self, level: LogLevel, source: &str, message: &str, step_id: Option<&str>) {
        self.send_log(level, source, vec![message.into()], step_id).await;
    }

    /// Sends a `run:log` whose `message` is `message`.
    async fn send_log(&mut self, level: LogLevel, source: &str, message: Vec<Value>, step_id: Option<&str>) {
        let level = match level {
            LogLevel::Trace | LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        let mut payload = json!({
            "run_id": self.channel.id,
            "message": message,
            "level": level,
            "source": source,
            "timestamp": now(),
        });
        if let Some(step_id) = step_id {
            payload["step_id"] = json!(step_id);
        }
        self.channel.push("run:log", payload).await;
    }

    async fn start(&mut self, plan: &Value) {
        let payload = json!({"versions": plan::versions(plan), "timestamp": now()});
        self.started = true;
        self.channel.push("run:start", payload).await;
    }

    /// Runs the request through the library, reporting each event as it comes.
    async fn run(&mut self, request: RunRequest, options: Options, dataclip_id: String, cancel: &Cancel) -> Ending {
        let (tx, mut events) = mpsc::unbounded_channel::<Event>();
        let sink = Arc::new(move |event: Event| {
            let _ = tx.send(event);
        });
        let host = Arc::clone(&self.channel.ctx.host);
        let running_cancel = cancel.clone();
        let running = tokio::spawn(async move { adaptor_host::run(&host, request, sink, &running_cancel).await });
        let mut report = None;
        while let Some(event) = events.recv().await {
            match event.kind {
                EventKind::RunStart => {
                    let plan = self.plan.clone();
                    self.start(&plan).await;
                    let limit = format!("Payload limit: {}mb", options.payload_bytes >> 20);
                    self.log(LogLevel::Info, "RTE", &limit, None).await;
                }
                EventKind::StepStart { upstream, .. } => {
                    let job_id = event.step_id.unwrap_or_default();
                    self.step_start(job_id, upstream.as_deref(), &dataclip_id).await;
                }
                EventKind::Log(line) => {
                    if line.source == LogSource::Job && !options.job_logs {
                        continue;
                    }
                    let Some(message) = log_message(line.message, line.args, &options) else {
                        continue;
                    };
                    let step = self.step.as_ref().filter(|s| s.accepted).map(|s| s.step_id.clone());
                    let source = match (line.source, &step) {
                        (LogSource::Job, _) => "JOB",
                        (LogSource::Adaptor, _) => "ADA",
                        (LogSource::Host, Some(_)) => "R/T",
                        (LogSource::Host, None) => "RTE",
                    };
                    self.send_log(line.level, source, message, step.as_deref()).await;
                }
                EventKind::StepComplete(report) => self.step_complete(*report, &options).await,
                EventKind::RunComplete(run) => {
                    report = Some(run);
                    break;
                }
            }
        }
        let outcome = running.await;
        self.close_open_step().await;
        match (outcome, report) {
            (Ok(outcome), Some(report)) => self.ending(outcome.state, outcome.final_step, &report),
            (Ok(outcome), None) => self.ending(outcome.state, outcome.final_step, &outcome.report),
            (Err(e), _) => Ending::exception("ExecutionError", format!("the run failed inside the worker: {e}")),
        }
    }

    async fn step_start(&mut self, job_id: String, upstream: Option<&str>, dataclip_id: &str) {
        let step_id = uuid::Uuid::new_v4().to_string();
        let mut payload = json!({"step_id": step_id, "job_id": job_id, "timestamp": now()});
        // The upstream job's output, or the run's input after a trigger (or at the start);
        // none when that output was not sent.
        let input = match upstream.and_then(|up| self.outputs.get(up)) {
            Some(id) => id.as_str(),
            None => dataclip_id,
        };
        if !input.is_empty() {
            payload["input_dataclip_id"] = json!(input);
        }
        let accepted = matches!(self.channel.push("step:start", payload).await, Said::Ok(_));
        self.step = Some(OpenStep {
            step_id,
            job_id,
            accepted,
        });
    }

    async fn step_complete(&mut self, report: StepReport, options: &Options) {
        let Some(step) = self.step.take() else { return };
        if !step.accepted {
            return;
        }
        let reason = wire_reason(report.reason);
        let text = clean(report.output).to_string();
        let output_id = uuid::Uuid::new_v4().to_string();
        let mut payload = json!({
            "step_id": step.step_id,
            "job_id": step.job_id,
            "reason": reason,
            "error_type": report.error_type.clone().filter(|_| reason != "success"),
            "error_message": report.error_message.clone().filter(|_| reason != "success"),
        });
        if reason != "success" && payload["error_type"].is_null() {
            payload["error_type"] = json!(report.reason.name());
        }
        let too_large = text.len() as u64 > options.payload_bytes;
        let mut sent_id = String::new();
        if too_large {
            let message = "Dataclip exceeds payload limit: output will not be sent back to the app.";
            self.log(LogLevel::Info, "R/T", message, Some(&step.step_id)).await;
            payload["output_dataclip_error"] = json!("DATACLIP_TOO_LARGE");
        } else {
            if options.output_dataclips {
                payload["output_dataclip"] = json!(if reason == "kill" { "{}".to_string() } else { text });
            }
            payload["output_dataclip_id"] = json!(output_id);
            sent_id = output_id;
        }
        if reason != "kill" {
            payload["duration"] = json!(report.duration.as_millis() as u64);
            payload["thread_id"] = json!(self.thread);
            payload["timestamp"] = json!(now());
            if reason == "success" {
                payload["mem"] = json!({"job": report.peak_memory, "system": resident_bytes()});
            }
        }
        if !matches!(self.channel.push("step:complete", payload).await, Said::Ok(_)) {
            sent_id.clear();
        }
        self.outputs.insert(step.job_id, sent_id);
    }

    /// A step left open (the run stopped inside it): closed as crashed, so that
    /// `run:complete` is accepted.
    async fn close_open_step(&mut self) {
        let Some(step) = self.step.take().filter(|s| s.accepted) else {
            return;
        };
        let payload = json!({
            "step_id": step.step_id,
            "job_id": step.job_id,
            "reason": "crash",
            "error_type": "ExecutionError",
            "error_message": "the step ended without a report",
            "output_dataclip": "{}",
            "output_dataclip_id": uuid::Uuid::new_v4().to_string(),
            "duration": 0,
            "thread_id": self.thread,
            "timestamp": now(),
        });
        self.channel.push("step:complete", payload).await;
    }

    /// How the run ended, for `run:complete`: `final_step` is the step whose output
    /// the final state is, if one step's; its dataclip, if sent, is the final one.
    fn ending(&self, state: FinalState, final_step: Option<String>, report: &RunReport) -> Ending {
        let reason = wire_reason(report.reason);
        let mut ending = Ending {
            reason,
            error_type: report.error_type.clone().filter(|_| reason != "success"),
            error_message: report.error_message.clone().filter(|_| reason != "success"),
            final_state: None,
            final_dataclip_id: None,
        };
        if reason != "success" && ending.error_type.is_none() {
            ending.error_type = Some(report.reason.name().to_string());
        }
        if !matches!(reason, "success" | "fail") {
            return ending;
        }
        match state {
            FinalState::One(state) => {
                ending.final_dataclip_id = final_step
                    .and_then(|step| self.outputs.get(&step))
                    .filter(|id| !id.is_empty())
                    .cloned();
                ending.final_state = Some(clean(state));
            }
            FinalState::Leaves(leaves) => {
                let leaves: Map<String, Value> = leaves
                    .into_iter()
                    .map(|(id, state)| (id, clean(state)))
                    .filter(|(_, state)| *state != json!({}) && *state != json!({"data": {}}))
                    .collect();
                ending.final_state = Some(Value::Object(leaves));
            }
        }
        ending
    }

    /// Sends `run:complete` (after `run:start` unless the run ended with an
    /// exception before it).
    async fn complete(&mut self, ending: Ending) {
        if !self.started && ending.reason != "exception" {
            let plan = self.plan.clone();
            self.start(&plan).await;
        }
        let mut status = format!("Run complete with status: {}", ending.reason);
        if let (Some(kind), Some(message)) = (&ending.error_type, &ending.error_message) {
            status.push_str(&format!("\n{kind}: {message}"));
        }
        self.log(LogLevel::Info, "R/T", &status, None).await;
        let mut payload = json!({
            "reason": ending.reason,
            "error_type": ending.error_type,
            "error_message": ending.error_message,
            "timestamp": now(),
        });
        if let Some(state) = ending.final_state {
            payload["final_state"] = state;
        }
        if let Some(id) = ending.final_dataclip_id {
            payload["final_dataclip_id"] = json!(id);
        }
        if let Said::Refused(why) = self.channel.push("run:complete", payload).await {
            tracing::error!(run = self.channel.id, "run:complete was refused: {why}");
        }
    }
}

/// The reason Lightning takes: a cancelled run (the worker shutting down) is `kill`.
fn wire_reason(reason: Reason) -> &'static str {
    match reason {
        Reason::Cancel => "kill",
        other => other.name(),
    }
}

/// A state as the worker sends it back: always an object (the library already took
/// `configuration` and the `--state-props-to-remove` keys out).
fn clean(state: Value) -> Value {
    if state.is_object() { state } else { json!({}) }
}

/// A log line's `message` as ws-worker sends it: the values it was written with (else
/// its text) under the run's `sanitize` policy; `None` for a line of one `null` (as
/// @openfn/logger drops it, so that `sanitize: "remove"` leaves no empty line); a
/// notice instead of a line over the log payload limit.
fn log_message(text: String, args: Vec<Value>, options: &Options) -> Option<Vec<Value>> {
    let message: Vec<Value> = if args.is_empty() {
        vec![text.into()]
    } else {
        args.into_iter().map(|arg| options.sanitize.value(arg)).collect()
    };
    if message == [Value::Null] {
        return None;
    }
    let size = serde_json::to_string(&message).map_or(0, |text| text.len() as u64);
    if size > options.log_payload_mb.saturating_mul(1 << 20) {
        let notice = format!(
            "(Log message redacted: exceeds {}mb memory limit)",
            options.log_payload_mb
        );
        return Some(vec![notice.into()]);
    }
    Some(message)
}

/// The process's resident memory in bytes (0 where /proc is not there).
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Now, as Lightning's timestamps: a string of microseconds since the epoch.
fn now() -> String {
    now_micros().to_string()
}
