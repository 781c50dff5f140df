//! OpenFn's common operations that run in the host, not in an adaptor: `each`,
//! `fnIf`, `combine`, `log` and `cursor`. They take operations as arguments
//! (`{"each": ["$.data[*]", {"post": ["stockEvents", "$.data"]}]}`), whose own `$`
//! references resolve against the state each time they run.

use serde_json::{Value, json};

use super::Step;
use super::refs;
use crate::compose::compose;
use crate::error::{Error, Result};
use crate::session::Session;

/// The built-in operations' names.
pub const NAMES: [&str; 5] = ["each", "fnIf", "combine", "log", "cursor"];

/// Runs one job step on `state`, in place: a built-in, or an adaptor operation with
/// its arguments resolved against the state. On failure `state` is the state reached.
pub async fn run(session: &mut Session<'_>, step: &Step, state: &mut Value) -> Result<()> {
    let input = |problem: String| Error::Input(format!("{}: {problem}", step.operation));
    match step.operation.as_str() {
        "each" => {
            let [path, operation] = &step.args[..] else {
                return Err(input(
                    "expected [path, operation], e.g. [\"$.data[*]\", {\"post\": [...]}]".into(),
                ));
            };
            let operation = nested(operation).map_err(input)?;
            let items = match refs::resolve(path, state).map_err(input)? {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                single => vec![single],
            };
            for (index, item) in items.into_iter().enumerate() {
                state["data"] = item;
                state["index"] = json!(index);
                Box::pin(run(session, &operation, state)).await?;
            }
            if let Value::Object(map) = state {
                map.remove("index");
            }
            Ok(())
        }
        "fnIf" => {
            let [condition, operation] = &step.args[..] else {
                return Err(input("expected [condition, operation]".into()));
            };
            let operation = nested(operation).map_err(input)?;
            if truthy(&refs::resolve(condition, state).map_err(input)?) {
                Box::pin(run(session, &operation, state)).await?;
            }
            Ok(())
        }
        "combine" => {
            for operation in &step.args {
                Box::pin(run(session, &nested(operation).map_err(input)?, state)).await?;
            }
            Ok(())
        }
        "log" => {
            let values = step
                .args
                .iter()
                .map(|a| refs::resolve(a, state))
                .collect::<Result<Vec<_>, _>>()
                .map_err(input)?;
            let line: Vec<String> = values
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect();
            session.log(&line.join(" "));
            Ok(())
        }
        "cursor" => {
            let value = step
                .args
                .first()
                .map(|v| refs::resolve(v, state))
                .transpose()
                .map_err(input)?;
            let key = step
                .args
                .get(1)
                .and_then(|o| o["key"].as_str())
                .unwrap_or("cursor")
                .to_string();
            let value = match value {
                Some(Value::String(s)) if s == "now" => {
                    json!(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string())
                }
                Some(Value::Null) | None => step
                    .args
                    .get(1)
                    .map(|o| o["defaultValue"].clone())
                    .unwrap_or(Value::Null),
                Some(other) => other,
            };
            session.log(&format!("setting {key}: {value}"));
            state[key.as_str()] = value;
            Ok(())
        }
        _ => {
            let args = step
                .args
                .iter()
                .map(|a| refs::resolve(a, state))
                .collect::<Result<Vec<_>, _>>()
                .map_err(input)?;
            let output = session.call(&step.operation, &args).await?;
            compose(state, output);
            Ok(())
        }
    }
}

/// An operation given as an argument: `{"name": [args...]}`.
fn nested(value: &Value) -> Result<Step, String> {
    let job = super::Job::from_value(&Value::Array(vec![value.clone()])).map_err(|e| e.to_string())?;
    job.steps
        .into_iter()
        .next()
        .ok_or_else(|| "expected an operation such as {\"post\": [...]}".to_string())
}

/// JavaScript's truthiness, which OpenFn conditions follow.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
