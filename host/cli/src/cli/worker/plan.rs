//! A LightningPlan (`fetch:plan`) as the library's workflow, and its options as limits.

use std::time::Duration;

use adaptor_host::workflow::{Configuration, Edge, Step, When, Workflow};
use adaptor_host::{Expression, Job, Limits, MASK, MAX_MEMORY_BYTES};
use serde_json::Value;

use super::RunDefaults;

/// What the run's `options` ask for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `run_timeout_ms` (default 300 s).
    pub timeout: Duration,
    /// `run_memory_limit_mb` (default 500).
    pub memory_mb: u64,
    /// `payload_limit_mb` (default 10): larger output dataclips are not sent.
    pub payload_bytes: u64,
    /// `output_dataclips` (default true).
    pub output_dataclips: bool,
    /// `job_log_level: "none"` turns job logs off.
    pub job_logs: bool,
    /// `log_payload_limit_mb` (default `--log-payload-memory`): a larger log line is
    /// sent as a redaction notice.
    pub log_payload_mb: u64,
    /// `sanitize`: what log lines show of the objects and arrays they were written with.
    pub sanitize: Sanitize,
}

impl Options {
    /// Reads `plan.options`, with the worker's defaults for missing keys; an unknown
    /// `sanitize` policy is an error.
    pub fn from_plan(plan: &Value, defaults: &RunDefaults) -> Result<Options, String> {
        let options = &plan["options"];
        let number = |key: &str, default: u64| options[key].as_f64().map_or(default, |n| n.max(0.0) as u64);
        Ok(Options {
            timeout: Duration::from_millis(number("run_timeout_ms", 300_000)),
            memory_mb: number("run_memory_limit_mb", 500),
            payload_bytes: number("payload_limit_mb", 10).saturating_mul(1 << 20),
            output_dataclips: options["output_dataclips"] != false,
            job_logs: options["job_log_level"] != "none",
            log_payload_mb: number("log_payload_limit_mb", defaults.log_payload_mb),
            sanitize: match &options["sanitize"] {
                Value::Null => Sanitize::None,
                Value::String(policy) => Sanitize::parse(policy)?,
                other => return Err(format!("the plan's sanitize option {other} is not a policy")),
            },
        })
    }

    /// The limits of each job: the run's memory limit on the adaptor's memory, and a
    /// log volume that lets a job write lines over the log payload limit (they are
    /// sent as a redaction notice, as ws-worker does) rather than stop it.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::default();
        limits.memory_bytes = self.memory_mb.saturating_mul(1 << 20).clamp(1 << 20, MAX_MEMORY_BYTES);
        limits.wall_time = limits.wall_time.max(self.timeout);
        limits.log_bytes = limits.log_bytes.max(self.log_payload_mb.saturating_mul(4 << 20));
        limits
    }
}

/// OpenFn's `sanitize` policies (@openfn/logger): what a log line shows of the objects
/// and arrays it was written with. Strings, numbers and booleans always show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanitize {
    /// As they are (an object's `configuration` values as `****`).
    None,
    /// `null`; a line of nothing but one such value is not sent.
    Remove,
    /// `(object with keys a, b)`, `(empty object)`, `(array with 3 items)`, `(empty array)`.
    Summarize,
    /// `[object]`, `[array]`.
    Obfuscate,
}

impl Sanitize {
    fn parse(policy: &str) -> Result<Sanitize, String> {
        Ok(match policy {
            "none" => Sanitize::None,
            "remove" => Sanitize::Remove,
            "summarize" => Sanitize::Summarize,
            "obfuscate" => Sanitize::Obfuscate,
            other => {
                return Err(format!(
                    "the plan's sanitize option {other:?} is not one of none, remove, summarize, obfuscate"
                ));
            }
        })
    }

    /// One value of a log line under this policy.
    pub fn value(self, value: Value) -> Value {
        match (self, value) {
            (Sanitize::None, Value::Object(mut object)) => {
                // @openfn/logger hides a configuration's values even without a policy.
                let hidden = match object.get("configuration") {
                    Some(Value::Object(configuration)) => Some(
                        configuration
                            .keys()
                            .map(|key| (key.clone(), Value::from(MASK)))
                            .collect::<serde_json::Map<_, _>>(),
                    ),
                    _ => None,
                };
                if let Some(hidden) = hidden {
                    object.insert("configuration".into(), Value::Object(hidden));
                }
                Value::Object(object)
            }
            (Sanitize::Remove, Value::Object(_) | Value::Array(_)) => Value::Null,
            (Sanitize::Summarize, Value::Array(items)) if items.is_empty() => "(empty array)".into(),
            (Sanitize::Summarize, Value::Array(items)) => format!("(array with {} items)", items.len()).into(),
            (Sanitize::Summarize, Value::Object(object)) if object.is_empty() => "(empty object)".into(),
            (Sanitize::Summarize, Value::Object(object)) => {
                let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
                keys.sort_unstable();
                format!("(object with keys {})", keys.join(", ")).into()
            }
            (Sanitize::Obfuscate, Value::Array(_)) => "[array]".into(),
            (Sanitize::Obfuscate, Value::Object(_)) => "[object]".into(),
            (_, value) => value,
        }
    }
}

/// The plan as a workflow: each trigger a step without a job, each job a step with its
/// adaptor and its credential id, each edge as its condition says.
pub fn workflow(plan: &Value) -> Result<Workflow, String> {
    let list = |key: &str| plan[key].as_array().cloned().unwrap_or_default();
    let edges = list("edges");
    let next = |source: &str, trigger: bool| -> Vec<Edge> {
        let key = if trigger { "source_trigger_id" } else { "source_job_id" };
        edges
            .iter()
            .filter(|e| e[key] == source)
            .filter(|e| !(trigger && e["enabled"] == false))
            .filter_map(|e| {
                let target = e["target_job_id"].as_str()?.to_string();
                let when = match (&e["enabled"], e["condition"].as_str()) {
                    (Value::Bool(false), _) => When::Never,
                    (_, None | Some("always")) => When::Always,
                    (_, Some("on_job_success")) => When::OnSuccess,
                    (_, Some("on_job_failure")) => When::OnFailure,
                    (_, Some(expression)) => When::JavaScript(expression.to_string()),
                };
                Some(Edge { target, when })
            })
            .collect()
    };
    let mut steps = Vec::new();
    for trigger in list("triggers") {
        let id = trigger["id"].as_str().ok_or("a trigger has no id")?;
        steps.push(Step {
            id: id.to_string(),
            adaptor: None,
            job: None,
            configuration: Configuration::None,
            state: None,
            next: next(id, true),
        });
    }
    for job in list("jobs") {
        let id = job["id"].as_str().ok_or("a job has no id")?;
        let adaptor = job["adaptor"]
            .as_str()
            .ok_or_else(|| format!("job {id} has no adaptor"))?;
        let body = job["body"].as_str().unwrap_or_default();
        steps.push(Step {
            id: id.to_string(),
            adaptor: Some(adaptor.to_string()),
            job: Some(expression(body)),
            configuration: match job["credential_id"].as_str() {
                Some(credential) => Configuration::Credential(credential.to_string()),
                None => Configuration::None,
            },
            state: None,
            next: next(id, false),
        });
    }
    let start = plan["starting_node_id"]
        .as_str()
        .or_else(|| steps.first().map(|s| s.id.as_str()))
        .ok_or("the plan has no steps")?
        .to_string();
    for target in std::iter::once(&start).chain(steps.iter().flat_map(|s| s.next.iter().map(|e| &e.target))) {
        if !steps.iter().any(|s| &s.id == target) {
            return Err(format!("the plan names a node {target:?} it does not have"));
        }
    }
    Ok(Workflow { steps, start })
}

/// A job body: a JSON job (an array of calls) when it parses as one, else JavaScript.
fn expression(body: &str) -> Expression {
    if body.trim_start().starts_with('[')
        && let Ok(job) = Job::parse(body)
    {
        return Expression::Json(job);
    }
    Expression::JavaScript(body.to_string())
}

/// The distinct adaptors of the plan's jobs (`@openfn/language-x@1.2.2`), in order.
pub fn adaptors(plan: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for job in plan["jobs"].as_array().into_iter().flatten() {
        if let Some(name) = job["adaptor"].as_str()
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// `run:start`'s `versions`: the worker's, and each adaptor's version as the plan
/// names it (`{"@openfn/language-openlmis": ["1.2.2"]}`).
pub fn versions(plan: &Value) -> Value {
    let mut versions = serde_json::Map::new();
    versions.insert("worker".into(), env!("CARGO_PKG_VERSION").into());
    versions.insert(
        "engine".into(),
        format!("adaptor-host {}", env!("CARGO_PKG_VERSION")).into(),
    );
    for spec in adaptors(plan) {
        let (name, version) = match spec.rfind('@') {
            Some(at) if at > 0 => (spec[..at].to_string(), spec[at + 1..].to_string()),
            _ => (spec.clone(), "builtin".to_string()),
        };
        let entry = versions.entry(name).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(version.into());
        }
    }
    Value::Object(versions)
}
