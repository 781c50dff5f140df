//! What a run reports while it runs: events, in order, each with its run id, step id
//! and a timestamp, delivered to an [`EventSink`] the embedder provides.
//!
//! The order of one run: [`EventKind::RunStart`]; for each step
//! [`EventKind::StepStart`], its [`EventKind::Log`] lines, [`EventKind::StepComplete`];
//! then [`EventKind::RunComplete`]; a run whose JavaScript does not compile has no
//! steps. Log lines are masked with the job's configuration before they are sent.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::reason::Reason;
use crate::redact::Redactor;

/// One event of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The run it belongs to.
    pub run_id: String,
    /// The step it belongs to (`None` for run-level events).
    pub step_id: Option<String>,
    /// When it happened, in microseconds since the Unix epoch.
    pub timestamp: u64,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The run started.
    RunStart,
    /// A step started, with this adaptor.
    StepStart {
        /// The adaptor as the plan names it.
        adaptor: String,
        /// The step whose output is this step's input; `None` for the first step, whose
        /// input is the run's.
        upstream: Option<String>,
    },
    /// A log line.
    Log(LogLine),
    /// A step ended.
    StepComplete(Box<StepReport>),
    /// The run ended.
    RunComplete(RunReport),
}

/// One log line of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// Who wrote it.
    pub source: LogSource,
    /// The text, masked.
    pub message: String,
    /// The values the line was written from, masked, when its writer gave them
    /// (`console.log('n', {a: 1})` gives `["n", {"a": 1}]`; Errors come as `{name,
    /// message}`): what OpenFn's JSON logger sends and its `sanitize` policies work
    /// on. Empty for a line written as text.
    pub args: Vec<serde_json::Value>,
}

/// The severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Fine detail.
    Trace,
    /// What an operation is doing.
    Debug,
    /// Progress.
    Info,
    /// Something unexpected that was worked around.
    Warn,
    /// A failure.
    Error,
}

/// Who wrote a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The host (limits, policy, progress of the run).
    Host,
    /// The adaptor component (its `openfn:adaptor/host.log` and stderr).
    Adaptor,
    /// The job itself (the `log` operation, `console.log` in JavaScript).
    Job,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// OpenFn's reason.
    pub reason: Reason,
    /// The error's type (`AdaptorError`, `TimeoutError`, ...), unless it succeeded.
    pub error_type: Option<String>,
    /// The error's message (masked), unless it succeeded.
    pub error_message: Option<String>,
    /// From getting its sandbox to its end.
    pub duration: Duration,
    /// HTTP requests the adaptor sent.
    pub requests: u32,
    /// The largest linear memory the adaptor reached, in bytes.
    pub peak_memory: u64,
    /// The step's output state (no `configuration`, secrets masked), as the next
    /// steps receive it.
    pub output: serde_json::Value,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// OpenFn's reason.
    pub reason: Reason,
    /// The error's type, unless it succeeded.
    pub error_type: Option<String>,
    /// The error's message (masked), unless it succeeded.
    pub error_message: Option<String>,
    /// From start to end.
    pub duration: Duration,
}

/// Receives a run's events. Implemented for closures `Fn(Event)`; the events of one
/// run arrive in order, from the run's task. Keep it quick: a slow sink slows the run.
pub trait EventSink: Send + Sync {
    /// Takes one event.
    fn send(&self, event: Event);
}

impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn send(&self, event: Event) {
        self(event)
    }
}

/// A sink that forwards log lines to `tracing` (target `adaptor_host::job`) and drops
/// the other events: what a job run without an embedder's sink reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn send(&self, event: Event) {
        if let EventKind::Log(line) = &event.kind {
            let step = event.step_id.as_deref().unwrap_or_default();
            let source = line.source.name();
            let message = &line.message;
            match line.level {
                LogLevel::Trace => tracing::trace!(target: "adaptor_host::job", step, source, "{message}"),
                LogLevel::Debug => tracing::debug!(target: "adaptor_host::job", step, source, "{message}"),
                LogLevel::Info => tracing::info!(target: "adaptor_host::job", step, source, "{message}"),
                LogLevel::Warn => tracing::warn!(target: "adaptor_host::job", step, source, "{message}"),
                LogLevel::Error => tracing::error!(target: "adaptor_host::job", step, source, "{message}"),
            }
        }
    }
}

impl LogSource {
    /// A short name: `host`, `adaptor` or `job`.
    pub fn name(self) -> &'static str {
        match self {
            LogSource::Host => "host",
            LogSource::Adaptor => "adaptor",
            LogSource::Job => "job",
        }
    }
}

impl LogLevel {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Where one job's log lines go: its run and step ids, the sink and the masking.
#[derive(Clone)]
pub struct JobLog {
    run_id: String,
    step_id: Option<String>,
    sink: Arc<dyn EventSink>,
    redactor: Arc<Redactor>,
}

impl std::fmt::Debug for JobLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLog")
            .field("run_id", &self.run_id)
            .field("step_id", &self.step_id)
            .finish_non_exhaustive()
    }
}

impl Default for JobLog {
    /// Lines to `tracing`, no ids.
    fn default() -> JobLog {
        JobLog::new(String::new(), None, Arc::new(TracingSink))
    }
}

impl JobLog {
    /// Log lines of step `step_id` of run `run_id`, to `sink`.
    pub fn new(run_id: String, step_id: Option<String>, sink: Arc<dyn EventSink>) -> JobLog {
        JobLog {
            run_id,
            step_id,
            sink,
            redactor: Arc::new(Redactor::default()),
        }
    }

    /// The same log, masking with `redactor`.
    pub(crate) fn masked_with(mut self, redactor: Arc<Redactor>) -> JobLog {
        self.redactor = redactor;
        self
    }

    /// The same log for another step.
    pub(crate) fn for_step(&self, step_id: &str) -> JobLog {
        JobLog {
            step_id: Some(step_id.to_string()),
            ..self.clone()
        }
    }

    /// Writes a line (masked).
    pub fn line(&self, level: LogLevel, source: LogSource, message: &str) {
        self.event(EventKind::Log(LogLine {
            level,
            source,
            message: self.redactor.text(message),
            args: Vec::new(),
        }));
    }

    /// Writes a line (masked) with the values it was written from (masked).
    pub fn values(&self, level: LogLevel, source: LogSource, message: &str, mut args: Vec<serde_json::Value>) {
        for arg in &mut args {
            self.redactor.value(arg);
        }
        self.event(EventKind::Log(LogLine {
            level,
            source,
            message: self.redactor.text(message),
            args,
        }));
    }

    /// Sends an event of this run and step, stamped now.
    pub(crate) fn event(&self, kind: EventKind) {
        self.sink.send(Event {
            run_id: self.run_id.clone(),
            step_id: self.step_id.clone(),
            timestamp: now_micros(),
            kind,
        });
    }

    /// The step this log belongs to.
    pub(crate) fn step_id(&self) -> Option<&str> {
        self.step_id.as_deref()
    }

    /// The masking in force.
    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
