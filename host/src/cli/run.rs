//! `adaptor-host run`: one job, OpenFn CLI style.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use adaptor_host::{AllowRule, Host, HostOptions, Job, Limits, MAX_MEMORY_BYTES, RunOptions, run_job};
use serde_json::{Value, json};

use super::{BAD_INPUT, JOB_FAILED, report};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The job: a JSON file holding an array of operation calls, e.g.
    /// [{"get": ["facilities", {"query": {"size": 10}}]}].
    job: PathBuf,

    /// The adaptor: a built-in name (see `adaptor-host list`), OpenFn's package name
    /// (@openfn/language-openlmis) or the path of a .wasm component.
    #[arg(short, long)]
    adaptor: String,

    /// The initial state, a JSON object. Default: {}.
    #[arg(short, long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// The configuration object (credentials), as OpenFn's seed documents show it;
    /// it becomes state.configuration and never appears in the output.
    #[arg(long, visible_alias = "creds", value_name = "FILE")]
    credentials: Option<PathBuf>,

    /// Write the output state here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

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

pub async fn run(args: RunArgs) -> ExitCode {
    let step_id = args
        .job
        .file_stem()
        .map_or_else(|| "job".to_string(), |s| s.to_string_lossy().into_owned());
    let (state, job, adaptor_host, limits) = match prepare(&args) {
        Ok(prepared) => prepared,
        Err(message) => {
            // Nothing ran; the output still records why.
            let state = json!({"errors": {step_id: {"type": "input", "message": message}}});
            report(&message);
            let _ = write_output(&args.output, &state);
            return ExitCode::from(BAD_INPUT);
        }
    };
    let (host, adaptor) = adaptor_host;
    let options = RunOptions {
        limits,
        allow: args.allow_host.clone(),
        step_id: step_id.clone(),
    };
    let outcome = run_job(&host, &adaptor, &job, state, &options).await;
    if outcome.error.is_some() {
        let message = outcome.state["errors"][&step_id]["message"]
            .as_str()
            .unwrap_or("the job failed");
        report(message);
    }
    match write_output(&args.output, &outcome.state) {
        Ok(_) if outcome.error.is_some() => ExitCode::from(JOB_FAILED),
        Ok(code) => code,
        Err(code) => code,
    }
}

type Prepared = (Value, Job, (Host, adaptor_host::Adaptor), Limits);

/// Reads and checks every input before anything runs.
fn prepare(args: &RunArgs) -> Result<Prepared, String> {
    let limits = args.limits.limits()?;
    let job = Job::parse(&read(&args.job, "job")?).map_err(|e| format!("{}: {e}", args.job.display()))?;
    let mut state = match &args.state {
        Some(path) => parse_object(path, "state")?,
        None => json!({}),
    };
    if let Some(path) = &args.credentials {
        state["configuration"] = parse_object(path, "credentials")?;
    }
    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(default_cache_dir)
    };
    let host = Host::new(HostOptions { cache_dir }).map_err(|e| e.to_string())?;
    let adaptor = if args.adaptor.ends_with(".wasm") || args.adaptor.contains('/') && !args.adaptor.starts_with('@') {
        host.load_file(Path::new(&args.adaptor))
    } else {
        host.load_builtin(&args.adaptor)
    }
    .map_err(|e| e.to_string())?;
    Ok((state, job, (host, adaptor), limits))
}

fn read(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the {what} file {}: {e}", path.display()))
}

fn parse_object(path: &Path, what: &str) -> Result<Value, String> {
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

/// Writes the state (pretty JSON) to `path` or stdout.
fn write_output(path: &Option<PathBuf>, state: &Value) -> Result<ExitCode, ExitCode> {
    let text = serde_json::to_string_pretty(state).expect("JSON values serialize") + "\n";
    match path {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            report(&format!("cannot write the output state to {}: {e}", path.display()));
            ExitCode::from(BAD_INPUT)
        })?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
