//! Jobs: a list of operation calls in JSON, run in order on one state.
//!
//! ```json
//! [
//!   {"get": ["facilities", {"query": {"page": 0, "size": 10}}]},
//!   {"post": ["stockEvents", "$.references[0].content"]}
//! ]
//! ```
//! Each step names one operation (camelCase) and gives its arguments after `state`.
//! A string argument beginning with `$.` is a JSONPath resolved against the state
//! when the step runs (OpenFn's lazy `$` references). The common operations `each`,
//! `fnIf`, `combine`, `log` and `cursor` run in the host ([`builtins`]).

pub mod builtins;
pub mod refs;
pub mod runner;

use serde_json::Value;

use crate::error::{Error, Result};

/// A job as a plan gives it: a JSON list of operation calls, or an OpenFn JavaScript
/// job (run in the JavaScript runtime component).
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    /// A JSON job.
    Json(Job),
    /// JavaScript source, as OpenFn users write jobs.
    JavaScript(String),
}

impl From<Job> for Expression {
    fn from(job: Job) -> Expression {
        Expression::Json(job)
    }
}

/// One call of a job: an operation name and its JSON arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The operation, as written in the job.
    pub operation: String,
    /// The arguments after `state`.
    pub args: Vec<Value>,
}

/// A parsed job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The steps, in order.
    pub steps: Vec<Call>,
}

impl Job {
    /// Parses job JSON text.
    pub fn parse(text: &str) -> Result<Job> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::Input(format!("the job is not valid JSON: {e}")))?;
        Job::from_value(&value)
    }

    /// Reads a job from a JSON value: an array of `{"operation": [args...]}` objects.
    pub fn from_value(value: &Value) -> Result<Job> {
        let shape = "expected an array of steps like [{\"get\": [\"facilities\"]}]";
        let Value::Array(items) = value else {
            return Err(Error::Input(format!("the job is not an array: {shape}")));
        };
        let steps = items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) if map.len() == 1 => {
                    let (operation, args) = map.iter().next().expect("one entry");
                    match args {
                        Value::Array(args) => Ok(Call { operation: operation.clone(), args: args.clone() }),
                        _ => Err(Error::Input(format!(
                            "job step {}: the arguments of {operation} must be an array, e.g. {{\"{operation}\": [\"facilities\"]}}",
                            i + 1
                        ))),
                    }
                }
                _ => Err(Error::Input(format!(
                    "job step {}: expected an object with exactly one operation name, e.g. {{\"get\": [\"facilities\"]}}",
                    i + 1
                ))),
            })
            .collect::<Result<_>>()?;
        Ok(Job { steps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_and_refuses_bad_shapes() {
        let job = Job::parse(r#"[{"get": ["a", {"query": {"size": 1}}]}, {"post": ["b", "$.data"]}]"#).unwrap();
        assert_eq!(job.steps.len(), 2);
        assert_eq!(job.steps[1].operation, "post");
        for bad in [
            r#"{"get": []}"#,
            r#"[{"get": "a"}]"#,
            r#"[{"get": [], "post": []}]"#,
            "[1]",
            "[{",
        ] {
            assert!(matches!(Job::parse(bad), Err(Error::Input(_))), "{bad}");
        }
    }
}
