//! What `run` and `serve` both take: a job, an adaptor, credentials, network rules,
//! limits and the compile cache; read and checked before anything runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::HashMap;

use adaptor_host::workflow::{Step, Workflow};
use adaptor_host::{
    Adaptor, AllowRule, Host, HostOptions, Job, Limits, MAX_MEMORY_BYTES, RunOptions, run_job, run_js_job,
};
use serde_json::{Map, Value, json};

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// The job (a JSON array of operation calls, e.g.
    /// [{"get": ["facilities", {"query": {"size": 10}}]}]) or a workflow.json
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
}

/// The per-job limits, each with the flag its error message names.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Wall-clock limit for the whole job, in seconds (waiting for servers included).
    #[arg(short = 't', long, value_name = "SECONDS", default_value_t = 300.0)]
    timeout: f64,

    /// CPU time the adaptor may use, in seconds (waiting for servers excluded).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    max_cpu: f64,

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
}

impl LimitArgs {
    fn limits(&self) -> Result<Limits, String> {
        let seconds = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!("{flag} must be a positive number of seconds, got {v}"))
            }
        };
        let memory_bytes = self.max_memory << 20;
        if memory_bytes == 0 || memory_bytes > MAX_MEMORY_BYTES {
            return Err(format!(
                "--max-memory must be between 1 and {} MiB, got {}",
                MAX_MEMORY_BYTES >> 20,
                self.max_memory
            ));
        }
        Ok(Limits {
            memory_bytes,
            cpu_time: seconds("--max-cpu", self.max_cpu)?,
            wall_time: seconds("--timeout", self.timeout)?,
            requests: self.max_requests,
            response_bytes: self.max_response_size << 20,
            log_bytes: self.max_log_size << 10,
        })
    }
}

/// What to run.
pub enum Plan {
    /// One job with one adaptor.
    Job { adaptor: Adaptor, job: Job },
    /// One JavaScript job (a `.js` file, as OpenFn users write them) with one adaptor.
    JsJob { adaptor: Adaptor, source: String },
    /// A workflow, with the adaptors its steps name (loaded once each).
    Workflow {
        workflow: Workflow,
        adaptors: HashMap<String, Adaptor>,
    },
}

/// Everything a run needs, read and checked.
pub struct Prepared {
    pub host: Host,
    pub plan: Plan,
    /// From `--credentials`: a job's configuration, or a workflow's credential map.
    pub configuration: Option<Value>,
    pub options: RunOptions,
}

impl Prepared {
    /// Runs the job or workflow on `state`: the output state, and the failure (the
    /// failed steps' messages) if any.
    pub async fn execute(&self, mut state: Value) -> (Value, Option<String>) {
        match &self.plan {
            Plan::Job { adaptor, job } => {
                if let Some(configuration) = &self.configuration {
                    state["configuration"] = configuration.clone();
                }
                let outcome = run_job(&self.host, adaptor, job, state, &self.options).await;
                let failure = outcome.error.is_some().then(|| failures(&outcome.state));
                (outcome.state, failure)
            }
            Plan::JsJob { adaptor, source } => {
                if let Some(configuration) = &self.configuration {
                    state["configuration"] = configuration.clone();
                }
                let outcome = run_js_job(&self.host, adaptor, source, state, &self.options).await;
                let failure = outcome.error.is_some().then(|| failures(&outcome.state));
                (outcome.state, failure)
            }
            Plan::Workflow { workflow, adaptors } => {
                let empty = Map::new();
                let credentials = self.configuration.as_ref().and_then(Value::as_object).unwrap_or(&empty);
                let run = workflow
                    .run(credentials, state, async |step: &Step, input: Value| {
                        let (adaptor, job) = match (&step.adaptor, &step.job) {
                            (Some(name), Some(job)) => (&adaptors[name], job),
                            _ => unreachable!("only steps with a job and an adaptor are run"),
                        };
                        let options = RunOptions {
                            step_id: step.id.clone(),
                            ..self.options.clone()
                        };
                        let outcome = run_job(&self.host, adaptor, job, input, &options).await;
                        let failed = outcome.error.is_some();
                        (outcome.state, failed)
                    })
                    .await;
                match run {
                    Ok((output, false)) => (output, None),
                    Ok((output, true)) => {
                        let message = failures(&output);
                        (output, Some(message))
                    }
                    Err(e) => (
                        json!({"errors": {"workflow": {"type": e.kind(), "message": e.to_string()}}}),
                        Some(e.to_string()),
                    ),
                }
            }
        }
    }
}

/// The messages of `state.errors`, one per failed step.
fn failures(state: &Value) -> String {
    let messages: Vec<String> = state["errors"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(step, e)| format!("{step}: {}", e["message"].as_str().unwrap_or("failed")))
        .collect();
    if messages.is_empty() {
        "the job failed".into()
    } else {
        messages.join("; ")
    }
}

impl JobArgs {
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
        let javascript = self.job.extension().is_some_and(|e| e == "js");
        let value: Value = if javascript {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|e| format!("{}: the job is not valid JSON: {e}", self.job.display()))?
        };
        let configuration = self
            .credentials
            .as_deref()
            .map(|path| parse_object(path, "credentials"))
            .transpose()?;
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        let host = Host::new(HostOptions { cache_dir }).map_err(|e| e.to_string())?;
        let load = |name: &str| host.load_named(name).map_err(|e| e.to_string());
        let plan = if javascript {
            let name = self
                .adaptor
                .as_deref()
                .ok_or("a job needs an adaptor: give -a openlmis, -a opencrvs or -a PATH.wasm")?;
            Plan::JsJob {
                adaptor: load(name)?,
                source: text,
            }
        } else if Workflow::looks_like(&value) {
            let base = self.job.parent().unwrap_or(Path::new("."));
            let workflow = Workflow::from_value(&value, base).map_err(|e| format!("{}: {e}", self.job.display()))?;
            let mut adaptors = HashMap::new();
            for name in workflow
                .steps
                .iter()
                .filter(|s| s.job.is_some())
                .filter_map(|s| s.adaptor.as_deref())
            {
                if !adaptors.contains_key(name) {
                    adaptors.insert(name.to_string(), load(name)?);
                }
            }
            Plan::Workflow { workflow, adaptors }
        } else {
            let job = Job::from_value(&value).map_err(|e| format!("{}: {e}", self.job.display()))?;
            let name = self
                .adaptor
                .as_deref()
                .ok_or("a job needs an adaptor: give -a openlmis, -a opencrvs or -a PATH.wasm")?;
            Plan::Job {
                adaptor: load(name)?,
                job,
            }
        };
        let options = RunOptions {
            limits,
            allow: self.allow_host.clone(),
            step_id: self.step_id(),
        };
        Ok(Prepared {
            host,
            plan,
            configuration,
            options,
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
