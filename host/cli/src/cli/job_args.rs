//! What `run` and `serve` both take: a job, an adaptor, credentials, network rules,
//! limits and the compile cache; read and checked before anything runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use adaptor_host::events::{Event, EventKind, EventSink, LogLevel};
use adaptor_host::workflow::Workflow;
use adaptor_host::{
    AllowRule, Cancel, Credentials, Expression, Host, HostOptions, Job, Limits, MAX_MEMORY_BYTES, Plan, RunOutcome,
    RunRequest,
};
use serde_json::Value;

use super::units::duration;

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// The job: an OpenFn JavaScript job (`.js`), a JSON array of operation calls
    /// (e.g. [{"get": ["facilities", {"query": {"size": 10}}]}]), or a workflow.json
    /// (steps, each naming its adaptor, joined by edges).
    pub job: PathBuf,

    /// The adaptor of a job: a built-in name (see `adaptor-host list`), OpenFn's
    /// package name (@openfn/language-openlmis) or the path of a .wasm component.
    /// Workflow steps name their own.
    #[arg(short, long)]
    adaptor: Option<String>,

    /// For a job, the configuration object (credentials) as OpenFn's seed documents
    /// show it; for a workflow, a map from credential id to configuration. It never
    /// appears in the output.
    #[arg(long, visible_alias = "creds", value_name = "FILE")]
    credentials: Option<PathBuf>,

    /// Also allow requests to this origin (scheme://host[:port] or
    /// scheme://*.domain[:port]). The job may always reach the origins its
    /// configuration names; everything else is denied. Repeatable.
    #[arg(long = "allow-host", value_name = "ORIGIN")]
    allow_host: Vec<AllowRule>,

    #[command(flatten)]
    limits: LimitArgs,

    /// Where compiled adaptors are cached. Default: $XDG_CACHE_HOME/adaptor-host or
    /// ~/.cache/adaptor-host.
    #[arg(long, value_name = "DIR", env = "ADAPTOR_HOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile the adaptor afresh and cache nothing.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,

    /// A PEM file of CA certificates that servers may chain to, besides the
    /// platform's trust store (a private or corporate CA).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,

    /// A workflow's first step (instead of its own start).
    #[arg(long, value_name = "STEP")]
    start: Option<String>,

    /// A workflow's last step: its edges are not followed.
    #[arg(long, value_name = "STEP")]
    end: Option<String>,

    /// Run only this step of a workflow.
    #[arg(long, value_name = "STEP", conflicts_with_all = ["start", "end"])]
    only: Option<String>,

    /// Jobs that may run at once in this process: lines of `run --batch`, events of
    /// `serve`; the rest wait for a slot. The host's job slots are sized from it.
    #[arg(long, value_name = "N", default_value_t = adaptor_host::DEFAULT_CONCURRENT_JOBS,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
}

/// The per-job limits, each with the flag its error message names.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Wall-clock limit for the whole job, with a unit: 300s, 5m, 500ms (waiting for
    /// servers included).
    #[arg(short = 't', long, value_name = "DURATION", default_value = "300s")]
    timeout: String,

    /// CPU time the adaptor may use, with a unit: 30s (waiting for servers excluded).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    max_cpu: String,

    /// Memory the adaptor may use, in MiB (at most 4096).
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_memory: u64,

    /// HTTP requests the job may send.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_requests: u32,

    /// Size of one response body, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 32)]
    max_response_size: u64,

    /// Bytes of adaptor log lines per job, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    max_log_size: u64,

    /// Size of the job's state as it takes in memory, in MiB: a job whose state grows
    /// past it is stopped.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_state_size: u64,

    /// Wall-clock limit for the whole run, across a workflow's steps, with a unit: 10m.
    /// Default: none (each job still has --timeout).
    #[arg(long, value_name = "DURATION")]
    run_timeout: Option<String>,
}

impl LimitArgs {
    fn run_timeout(&self) -> Result<Option<Duration>, String> {
        self.run_timeout
            .as_deref()
            .map(|v| duration("--run-timeout", v))
            .transpose()
    }

    fn limits(&self) -> Result<Limits, String> {
        Ok(Limits {
            memory_bytes: scaled("--max-memory", self.max_memory, 20, 1, MAX_MEMORY_BYTES >> 20, "MiB")?,
            cpu_time: duration("--max-cpu", &self.max_cpu)?,
            wall_time: duration("--timeout", &self.timeout)?,
            requests: self.max_requests,
            response_bytes: scaled("--max-response-size", self.max_response_size, 20, 1, MAX_MIB, "MiB")?,
            log_bytes: scaled("--max-log-size", self.max_log_size, 10, 1, MAX_MIB << 10, "KiB")?,
            state_bytes: scaled("--max-state-size", self.max_state_size, 20, 1, MAX_MIB, "MiB")?,
        })
    }
}

/// The largest size flag in MiB: 1 TiB, far above what a job can use, and far below
/// where shifting to bytes would wrap.
const MAX_MIB: u64 = 1 << 20;

/// `value` (in units of `1 << shift` bytes) in bytes, when it lies in `min..=max`.
fn scaled(flag: &str, value: u64, shift: u32, min: u64, max: u64, unit: &str) -> Result<u64, String> {
    if (min..=max).contains(&value) {
        Ok(value << shift)
    } else {
        Err(format!("{flag} must be between {min} and {max} {unit}, got {value}"))
    }
}

/// Everything a run needs, read and checked.
pub struct Prepared {
    pub host: Host,
    pub plan: Plan,
    /// From `--credentials`: a job's configuration, or a workflow's credential map.
    pub credentials: Credentials,
    pub limits: Limits,
    pub run_timeout: Option<Duration>,
    pub allow: Vec<AllowRule>,
}

impl Prepared {
    /// The run request for `input` (the state the job starts from).
    pub fn request(&self, run_id: &str, input: Value) -> RunRequest {
        RunRequest {
            run_id: run_id.to_string(),
            plan: self.plan.clone(),
            input,
            credentials: self.credentials.clone(),
            limits: self.limits.clone(),
            run_timeout: self.run_timeout,
            allow: self.allow.clone(),
            state_props_to_remove: Vec::new(),
        }
    }

    /// Runs the job or workflow on `input` with the CLI's log output: the output state
    /// and how the run ended.
    pub async fn execute(&self, run_id: &str, input: Value, cancel: &Cancel) -> RunOutcome {
        adaptor_host::run(&self.host, self.request(run_id, input), Arc::new(LogSink), cancel).await
    }
}

/// Writes a run's log lines to the CLI's log (stderr), with their source and step.
struct LogSink;

impl EventSink for LogSink {
    fn send(&self, event: Event) {
        let step = event.step_id.as_deref().unwrap_or("-");
        match &event.kind {
            EventKind::Log(line) => {
                let source = line.source.name();
                let message = &line.message;
                match line.level {
                    LogLevel::Trace => tracing::trace!(step, source, "{message}"),
                    LogLevel::Debug => tracing::debug!(step, source, "{message}"),
                    LogLevel::Info => tracing::info!(step, source, "{message}"),
                    LogLevel::Warn => tracing::warn!(step, source, "{message}"),
                    LogLevel::Error => tracing::error!(step, source, "{message}"),
                }
            }
            EventKind::StepComplete(report) => match &report.error_message {
                None => tracing::info!(
                    step,
                    ms = report.duration.as_millis() as u64,
                    requests = report.requests,
                    "step complete"
                ),
                Some(message) => tracing::warn!(step, reason = %report.reason, "{step}: {message}"),
            },
            EventKind::RunStart | EventKind::StepStart { .. } | EventKind::RunComplete(_) => {}
        }
    }
}

/// Refuses `@openfn/language-x@V` when the built-in adaptor matches another version
/// (`latest` and `next` are taken as the built-in one).
fn check_version(name: &str) -> Result<(), String> {
    let Some(rest) = name.strip_prefix("@openfn/") else {
        return Ok(());
    };
    let (Some((_, asked)), Some(built_in)) = (rest.split_once('@'), adaptor_host::builtin_version(name)) else {
        return Ok(());
    };
    if asked == built_in || asked == "latest" || asked == "next" {
        return Ok(());
    }
    let package = rest.split('@').next().unwrap_or(rest);
    Err(format!(
        "-a {name}: the built-in @openfn/{package} is version {built_in}, not {asked}: give @openfn/{package}@{built_in} \
         (or no version), or the path of another .wasm build"
    ))
}

impl JobArgs {
    /// Applies --start, --end and --only to a workflow.
    fn select_steps(&self, workflow: &mut Workflow) -> Result<(), String> {
        let ids: Vec<String> = workflow.steps.iter().map(|s| s.id.clone()).collect();
        let known = |id: &str, flag: &str| {
            if ids.iter().any(|known| known == id) {
                Ok(())
            } else {
                Err(format!(
                    "{flag} {id}: the workflow has no such step; steps: {}",
                    ids.join(", ")
                ))
            }
        };
        let stop_after = |workflow: &mut Workflow, id: &str| {
            if let Some(step) = workflow.steps.iter_mut().find(|s| s.id == id) {
                step.next.clear();
            }
        };
        if let Some(only) = &self.only {
            known(only, "--only")?;
            workflow.start = only.clone();
            stop_after(workflow, only);
        }
        if let Some(start) = &self.start {
            known(start, "--start")?;
            workflow.start = start.clone();
        }
        if let Some(end) = &self.end {
            known(end, "--end")?;
            stop_after(workflow, end);
        }
        Ok(())
    }

    /// The job's name: its file name without `.json`, the key of `errors.<name>`.
    pub fn step_id(&self) -> String {
        self.job
            .file_stem()
            .map_or_else(|| "job".to_string(), |s| s.to_string_lossy().into_owned())
    }

    /// Reads and checks every input before anything runs.
    pub fn prepare(&self) -> Result<Prepared, String> {
        let limits = self.limits.limits()?;
        let text = read(&self.job, "job")?;
        // A `.js` file is an OpenFn JavaScript job; anything else is JSON (a job or a
        // workflow).
        let value: Option<Value> = if self.job.extension().is_some_and(|e| e == "js") {
            None
        } else {
            Some(
                serde_json::from_str(&text)
                    .map_err(|e| format!("{}: the job is not valid JSON: {e}", self.job.display()))?,
            )
        };
        let credentials = self
            .credentials
            .as_deref()
            .map(|path| parse_object(path, "credentials"))
            .transpose()?;
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        let host = Host::new(HostOptions {
            cache_dir,
            extra_ca_file: self.ca_file.clone(),
            max_concurrent_jobs: self.concurrency,
            ..HostOptions::default()
        })
        .map_err(|e| e.to_string())?;
        // Every adaptor loads (and compiles) before anything runs: a bad name or a
        // refused component is unusable input, not a failed job.
        let load = |name: &str| {
            check_version(name)?;
            host.adaptor(name).map(drop).map_err(|e| e.to_string())
        };
        let (plan, credentials) = if let Some(value) = value.as_ref().filter(|v| Workflow::looks_like(v)) {
            let base = self.job.parent().unwrap_or(Path::new("."));
            let mut workflow = Workflow::from_value(value, base).map_err(|e| format!("{}: {e}", self.job.display()))?;
            self.select_steps(&mut workflow)?;
            for step in workflow.steps.iter().filter(|s| s.job.is_some()) {
                if let Some(name) = step.adaptor.as_deref() {
                    load(name)?;
                }
            }
            let credentials = match credentials {
                Some(Value::Object(map)) => Credentials::Map(map),
                _ => Credentials::None,
            };
            (Plan::Workflow(workflow), credentials)
        } else {
            let job = match value {
                None => Expression::JavaScript(text),
                Some(value) => {
                    Expression::Json(Job::from_value(&value).map_err(|e| format!("{}: {e}", self.job.display()))?)
                }
            };
            let name = self
                .adaptor
                .as_deref()
                .ok_or("a job needs an adaptor: give -a openlmis, -a opencrvs or -a PATH.wasm")?;
            load(name)?;
            let plan = Plan::Job {
                adaptor: name.to_string(),
                job,
                step_id: self.step_id(),
            };
            (plan, credentials.map_or(Credentials::None, Credentials::Configuration))
        };
        Ok(Prepared {
            host,
            plan,
            credentials,
            limits,
            run_timeout: self.limits.run_timeout()?,
            allow: self.allow_host.clone(),
        })
    }
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))
}

/// Reads a file that must hold a JSON object.
pub fn parse_object(path: &Path, what: &str) -> Result<Value, String> {
    let text = read(path, what)?;
    match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(format!("the {what} file {} must hold a JSON object", path.display())),
        Err(e) => Err(format!("the {what} file {} is not valid JSON: {e}", path.display())),
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("adaptor-host"))
}
