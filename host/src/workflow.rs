//! Workflows in OpenFn's portable `workflow.json` shape: steps, each one job with its
//! own adaptor and configuration, joined by edges.
//!
//! ```json
//! {"workflow": {"steps": [
//!   {"id": "fetch", "adaptor": "openlmis", "expression": "fetch.json",
//!    "configuration": "openlmis-demo", "next": {"report": "on_job_success", "alert": "on_job_failure"}},
//!   {"id": "report", "adaptor": "@openfn/language-opencrvs@1.2.2", "expression": [{"getLocations": []}],
//!    "configuration": {"domain": "..."}, "next": {"done": "!state.errors"}}
//! ]}, "options": {"start": "fetch"}}
//! ```
//!
//! - `expression` is a job: a JSON list of calls inline, JavaScript inline (a string
//!   that is not a file name), or the path of a `.json` or `.js` job file relative to
//!   the workflow's folder; a step without one (a trigger) passes its state on.
//! - `configuration` is an object, the path of a JSON file, a credential id (or
//!   `{"$CREDENTIALS$": id}`) looked up in the credential map, or absent.
//! - `next` is a step id, or an object of edges: `true`/`"always"`,
//!   `"on_job_success"`, `"on_job_failure"`, a JavaScript expression on the step's
//!   output as OpenFn writes them (`"!state.errors"`, `"state.data.length > 0"`,
//!   evaluated in the JavaScript runtime's sandbox with `state` and `upstreamStepId`
//!   in scope), a JSONPath `"$.data.ok"` (true when it selects a truthy value, checked
//!   in the host), or `{"condition": ..., "disabled": bool}`.
//! - Each step's output loses `configuration` (and the run request's
//!   `state_props_to_remove`, e.g. `response`); a failed step records
//!   `errors.<step id>` and its edges are still followed, so failure paths run.

use std::path::Path;

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use crate::error::{Error, Result};
use crate::job::{Expression, Job};

/// A parsed workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The steps, in file order.
    pub steps: Vec<Step>,
    /// The first step's id.
    pub start: String,
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its id (the key of `errors.<id>`).
    pub id: String,
    /// Its adaptor, as written (`openlmis`, `@openfn/language-openlmis@1.2.2`, a path).
    pub adaptor: Option<String>,
    /// Its job; `None` for a trigger.
    pub job: Option<Expression>,
    /// Where its configuration comes from.
    pub configuration: Configuration,
    /// Default state, under the incoming one.
    pub state: Option<Value>,
    /// Outgoing edges, in order.
    pub next: Vec<Edge>,
}

/// A step's configuration source.
#[derive(Debug, Clone)]
pub enum Configuration {
    /// None: the incoming state's, if any.
    None,
    /// Given in the workflow (or read from a file it names).
    Inline(Value),
    /// A credential id, looked up in the credential map when the step runs.
    Credential(String),
}

/// An edge to a next step.
#[derive(Debug, Clone)]
pub struct Edge {
    /// The target step id.
    pub target: String,
    /// When it is followed.
    pub when: When,
}

/// When an edge is followed.
#[derive(Debug, Clone)]
pub enum When {
    /// Always.
    Always,
    /// When the step succeeded.
    OnSuccess,
    /// When the step failed.
    OnFailure,
    /// When a JSONPath (`$.data.ok`) selects a truthy value in the output (negated
    /// with `!`): checked in the host without JavaScript.
    Condition {
        /// The path.
        path: JsonPath,
        /// Whether the condition is `!...`.
        negated: bool,
    },
    /// When a JavaScript expression (OpenFn's `js_expression`, e.g.
    /// `state.data.length > 0`) is truthy for the step's output; evaluated in the
    /// JavaScript runtime's sandbox.
    JavaScript(String),
    /// Never (a disabled edge, or an object edge without a condition).
    Never,
}

impl Workflow {
    /// Whether JSON text is a workflow (an object with `workflow` or `steps`) rather
    /// than a job (an array).
    pub fn looks_like(value: &Value) -> bool {
        value.get("workflow").is_some() || value.get("steps").is_some()
    }

    /// Reads a workflow; job and configuration paths are relative to `base`.
    pub fn from_value(value: &Value, base: &Path) -> Result<Workflow> {
        let Value::Object(top) = value else {
            return Err(Error::Input(
                "the workflow must be an object: expected {\"workflow\": {\"steps\": [...]}}".into(),
            ));
        };
        check_keys(top, TOP_KEYS, "the workflow file")?;
        let body = value.get("workflow").unwrap_or(value);
        if let Value::Object(body) = body
            && value.get("workflow").is_some()
        {
            check_keys(body, WORKFLOW_KEYS, "\"workflow\"")?;
        }
        if let Some(Value::Object(options)) = value.get("options") {
            check_keys(options, OPTION_KEYS, "\"options\"")?;
        }
        let Some(steps) = body.get("steps").and_then(Value::as_array) else {
            return Err(Error::Input(
                "the workflow has no steps array: expected {\"workflow\": {\"steps\": [...]}}".into(),
            ));
        };
        let steps = steps
            .iter()
            .enumerate()
            .map(|(i, step)| Step::from_value(i, step, base))
            .collect::<Result<Vec<_>>>()?;
        let start = match value.pointer("/options/start").and_then(Value::as_str) {
            Some(start) => start.to_string(),
            None => steps
                .first()
                .map(|s| s.id.clone())
                .ok_or_else(|| Error::Input("the workflow has no steps".into()))?,
        };
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        for target in std::iter::once(&start).chain(steps.iter().flat_map(|s| s.next.iter().map(|e| &e.target))) {
            if !ids.contains(&target.as_str()) {
                return Err(Error::Input(format!(
                    "the workflow names a step {target:?} it does not have; steps: {}",
                    ids.join(", ")
                )));
            }
        }
        Ok(Workflow { steps, start })
    }

    /// The step `id` (edges were checked when the workflow was read).
    pub(crate) fn step(&self, id: &str) -> &Step {
        self.steps
            .iter()
            .find(|s| s.id == id)
            .expect("edges were checked when the workflow was read")
    }
}

/// The keys OpenFn's `workflow.json` has at its top, in `workflow`, in `options`, in a
/// step and in an edge object. Anything else is refused, naming the nearest key, so
/// that a misspelt `"expresion"` is an error rather than a step without a job.
const TOP_KEYS: &[&str] = &["workflow", "steps", "options", "id", "name", "description", "globals"];
const WORKFLOW_KEYS: &[&str] = &["steps", "id", "name", "description", "globals", "credentials"];
const OPTION_KEYS: &[&str] = &["start", "end", "timeout", "sanitize"];
const STEP_KEYS: &[&str] = &[
    "id",
    "name",
    "adaptor",
    "adaptors",
    "expression",
    "configuration",
    "state",
    "next",
];
const EDGE_KEYS: &[&str] = &["condition", "disabled", "label"];

/// Refuses the keys of `map` that are not `allowed`, naming the nearest allowed one.
fn check_keys(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<()> {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let nearest = allowed
                .iter()
                .min_by_key(|known| strsim::damerau_levenshtein(key, known))
                .expect("allowed is not empty");
            return Err(Error::Input(format!(
                "{what} has an unknown key {key:?}: did you mean {nearest:?}? (known keys: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

impl Step {
    fn from_value(index: usize, value: &Value, base: &Path) -> Result<Step> {
        let at = |what: &str| format!("workflow step {}: {what}", index + 1);
        let Value::Object(fields) = value else {
            return Err(Error::Input(at("must be an object with an id")));
        };
        check_keys(fields, STEP_KEYS, &format!("workflow step {}", index + 1))?;
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Input(at("has no id")))?
            .to_string();
        let adaptor = value.get("adaptor").and_then(Value::as_str).map(str::to_string);
        let job = match value.get("expression") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if is_job_file(text) => {
                let path = base.join(text);
                let source = std::fs::read_to_string(&path)
                    .map_err(|e| Error::Input(at(&format!("cannot read the job {}: {e}", path.display()))))?;
                Some(if text.ends_with(".js") {
                    Expression::JavaScript(source)
                } else {
                    Expression::Json(Job::parse(&source).map_err(|e| Error::Input(at(&e.to_string())))?)
                })
            }
            Some(Value::String(source)) => Some(Expression::JavaScript(source.clone())),
            Some(inline) => Some(Expression::Json(
                Job::from_value(inline).map_err(|e| Error::Input(at(&e.to_string())))?,
            )),
        };
        if job.is_some() && adaptor.is_none() {
            return Err(Error::Input(at(&format!("{id} has an expression but no adaptor"))));
        }
        let configuration = match value.get("configuration") {
            None | Some(Value::Null) => Configuration::None,
            Some(Value::Object(map)) if map.contains_key("$CREDENTIALS$") => {
                Configuration::Credential(map["$CREDENTIALS$"].as_str().unwrap_or_default().to_string())
            }
            Some(Value::Object(_)) => Configuration::Inline(value["configuration"].clone()),
            Some(Value::String(s)) if s.ends_with(".json") => {
                let path = base.join(s);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| Error::Input(at(&format!("cannot read the configuration {}: {e}", path.display()))))?;
                Configuration::Inline(
                    serde_json::from_str(&text)
                        .map_err(|e| Error::Input(at(&format!("{} is not JSON: {e}", path.display()))))?,
                )
            }
            Some(Value::String(id)) => Configuration::Credential(id.clone()),
            Some(_) => {
                return Err(Error::Input(at(
                    "configuration must be an object, a .json path or a credential id",
                )));
            }
        };
        let next = match value.get("next") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(target)) => vec![Edge {
                target: target.clone(),
                when: When::Always,
            }],
            Some(Value::Object(edges)) => edges
                .iter()
                .map(|(target, edge)| {
                    Ok(Edge {
                        target: target.clone(),
                        when: When::parse(edge).map_err(|e| Error::Input(at(&e)))?,
                    })
                })
                .collect::<Result<_>>()?,
            Some(_) => return Err(Error::Input(at("next must be a step id or an object of edges"))),
        };
        Ok(Step {
            id,
            adaptor,
            job,
            configuration,
            state: value.get("state").cloned(),
            next,
        })
    }

    /// The step's input: the incoming state over the step's default state, with the
    /// step's configuration (merged over the incoming one, as OpenFn does).
    pub(crate) fn assemble(&self, input: Value, credential: impl Fn(&str) -> Option<Value>) -> Result<Value> {
        let mut state = match input {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if let Some(Value::Object(defaults)) = &self.state {
            for (key, value) in defaults {
                match state.get(key) {
                    None | Some(Value::Null) => {
                        state.insert(key.clone(), value.clone());
                    }
                    _ => {}
                }
            }
        }
        let configuration = match &self.configuration {
            Configuration::None => None,
            Configuration::Inline(value) => Some(value.clone()),
            Configuration::Credential(id) => Some(credential(id).ok_or_else(|| {
                Error::Input(format!(
                    "step {}: no credential {id:?}: give it in the credential map (--credentials)",
                    self.id
                ))
            })?),
        };
        if let Some(Value::Object(configuration)) = configuration {
            let merged = state
                .entry("configuration")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(existing) = merged {
                existing.extend(configuration);
            }
        }
        Ok(Value::Object(state))
    }
}

/// Whether an `expression` string names a job file rather than holding JavaScript.
fn is_job_file(text: &str) -> bool {
    !text.contains(['\n', '(', ' ']) && (text.ends_with(".js") || text.ends_with(".json"))
}

impl When {
    fn parse(edge: &Value) -> std::result::Result<When, String> {
        match edge {
            Value::Bool(true) => Ok(When::Always),
            Value::Bool(false) => Ok(When::Never),
            Value::String(s) => When::condition(s),
            Value::Object(map) => {
                check_keys(map, EDGE_KEYS, "an edge").map_err(|e| e.to_string())?;
                if map.get("disabled").and_then(Value::as_bool) == Some(true) {
                    return Ok(When::Never);
                }
                match map.get("condition") {
                    Some(Value::String(s)) => When::condition(s),
                    Some(Value::Bool(b)) => When::parse(&Value::Bool(*b)),
                    _ => Ok(When::Never),
                }
            }
            other => Err(format!("an edge must be true, a condition or an object, got {other}")),
        }
    }

    fn condition(text: &str) -> std::result::Result<When, String> {
        let text = text.trim();
        match text {
            "always" | "true" => return Ok(When::Always),
            "on_job_success" | "on_upstream_success" => return Ok(When::OnSuccess),
            "on_job_failure" | "on_upstream_fail" => return Ok(When::OnFailure),
            "" => {
                return Err(
                    "an edge condition is empty: give always, on_job_success, on_job_failure or an expression".into(),
                );
            }
            _ => {}
        }
        // A JSONPath (`$.data.ok`, `!$.errors`) is checked in the host; anything else is
        // JavaScript, as OpenFn's `js_expression` edges are.
        let (negated, rest) = match text.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, text),
        };
        if rest.starts_with('$') {
            return JsonPath::parse(rest)
                .map(|path| When::Condition { path, negated })
                .map_err(|e| format!("condition {text:?} is not a valid JSONPath: {e}"));
        }
        Ok(When::JavaScript(text.to_string()))
    }

    /// Whether the edge is followed after a step that `failed` with `output`; `None`
    /// for a JavaScript condition, which the runtime component evaluates.
    pub(crate) fn holds(&self, failed: bool, output: &Value) -> Option<bool> {
        Some(match self {
            When::JavaScript(_) => return None,
            When::Always => true,
            When::OnSuccess => !failed,
            When::OnFailure => failed,
            When::Never => false,
            When::Condition { path, negated } => {
                let truthy = path
                    .query(output)
                    .all()
                    .first()
                    .is_some_and(|v| crate::job::builtins::truthy(v));
                truthy != *negated
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Workflow> {
        Workflow::from_value(&value, Path::new("."))
    }

    #[test]
    fn reads_edges_with_javascript_and_jsonpath_conditions() {
        let wf = parse(json!({"workflow": {"steps": [
            {"id": "a", "adaptor": "openlmis", "expression": [{"get": ["programs"]}],
             "next": {"b": "on_job_success", "c": {"condition": "!state.errors"}, "d": {"condition": "x", "disabled": true}}},
            {"id": "b"}, {"id": "c"}, {"id": "d"}
        ]}}))
        .unwrap();
        assert_eq!(wf.start, "a");
        let whens: Vec<_> = wf.steps[0]
            .next
            .iter()
            .map(|e| {
                format!("{:?}", e.when)
                    .split([' ', '{', '('])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(whens, ["OnSuccess", "JavaScript", "Never"]);
        let js = parse(json!({"steps": [{"id": "a", "next": {"b": "state.data.length > 2", "c": "!$.errors"}}, {"id": "b"}, {"id": "c"}]}))
            .unwrap();
        assert!(matches!(&js.steps[0].next[0].when, When::JavaScript(e) if e == "state.data.length > 2"));
        assert!(matches!(
            js.steps[0].next[1].when,
            When::Condition { negated: true, .. }
        ));
        let dangling = parse(json!({"steps": [{"id": "a", "next": "nope"}]}));
        assert!(dangling.unwrap_err().to_string().contains("does not have"));
    }

    #[test]
    fn unknown_keys_are_refused_naming_the_nearest_known_one() {
        let misspelt = parse(json!({"steps": [{"id": "a", "adaptor": "openlmis", "expresion": [{"get": ["x"]}]}]}));
        let message = misspelt.unwrap_err().to_string();
        assert!(
            message.contains("workflow step 1 has an unknown key \"expresion\": did you mean \"expression\"?"),
            "{message}"
        );
        let edge = parse(json!({"steps": [{"id": "a", "next": {"b": {"condtion": "always"}}}, {"id": "b"}]}));
        assert!(edge.unwrap_err().to_string().contains("did you mean \"condition\"?"));
        let top = parse(json!({"workflow": {"steps": [{"id": "a"}]}, "option": {"start": "a"}}));
        assert!(top.unwrap_err().to_string().contains("did you mean \"options\"?"));
        let options = parse(json!({"workflow": {"steps": [{"id": "a"}]}, "options": {"strat": "a"}}));
        assert!(options.unwrap_err().to_string().contains("did you mean \"start\"?"));
    }

    #[test]
    fn conditions_follow_javascript_truthiness() {
        let when = When::condition("!$.errors").unwrap();
        assert_eq!(when.holds(false, &json!({"data": 1})), Some(true));
        assert_eq!(when.holds(false, &json!({"errors": {"a": {}}})), Some(false));
        assert_eq!(
            When::condition("!state.errors").unwrap().holds(false, &json!({})),
            None,
            "JavaScript"
        );
        let ok = When::condition("$.data.ok").unwrap();
        assert_eq!(ok.holds(false, &json!({"data": {"ok": "yes"}})), Some(true));
        assert_eq!(ok.holds(false, &json!({"data": {"ok": 0}})), Some(false));
    }
}
