//! OpenFn's common operations that run in the host, not in an adaptor: `each`,
//! `fnIf`, `combine`, `log` and `cursor`. They take operations as arguments
//! (`{"each": ["$.data[*]", {"post": ["stockEvents", "$.data"]}]}`), whose own `$`
//! references resolve against the state each time they run.
//!
//! Host-side work is bounded like guest work: operations nest at most
//! [`MAX_NESTED_OPERATIONS`] deep, every resolved argument and the state after every
//! built-in and every composed output are measured against [`Limits::state_bytes`]
//! and [`MAX_DEPTH`], and `each` yields to the runtime between items so the job's
//! wall-clock limit also stops a loop that never calls an adaptor.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Call;
use super::refs::{self, Unresolved};
use crate::compose::{OperationOutput, compose, initial_state};
use crate::error::{Error, Result};
use crate::redact::Redactor;
use crate::sandbox::limits::{ENTRY_BYTES, JsonSize, Limit, Limits, MAX_DEPTH, VALUE_BYTES, json_size};
use crate::session::{OutputFacts, Session};

/// The built-in operations' names.
pub const NAMES: [&str; 5] = ["each", "fnIf", "combine", "log", "cursor"];

/// How deep operations may nest in one another (`each` in `combine` in `fnIf`...).
pub const MAX_NESTED_OPERATIONS: usize = 32;

/// Characters of a value shown in the `cursor` built-in's log line.
const CURSOR_SHOWN: usize = 200;

/// Runs one job step on `state`, in place: a built-in, or an adaptor operation with
/// its arguments resolved against the state. On failure `state` is the state reached.
/// The state may not grow past `limits.state_bytes` nor nest deeper than
/// [`MAX_DEPTH`]; a state that is not an object starts as OpenFn's initial state.
///
/// `meter` measures the state across the job's steps: the first step measures the
/// whole state, later ones only what they change.
pub async fn run(
    session: &mut Session<'_>,
    step: &Call,
    state: &mut Value,
    meter: &mut Option<Meter>,
    limits: &Limits,
) -> Result<()> {
    if !state.is_object() {
        *state = initial_state(state.take());
        *meter = None;
    }
    let limit = |limit| Error::Limit {
        operation: step.operation.clone(),
        limit,
    };
    let meter = match meter {
        Some(meter) => meter,
        None => meter.insert(Meter::new(state, limits.state_bytes).map_err(limit)?),
    };
    exec(session, step, state, meter, limits, 0).await
}

/// Runs `step`, nested `nesting` operations deep.
async fn exec(
    session: &mut Session<'_>,
    step: &Call,
    state: &mut Value,
    meter: &mut Meter,
    limits: &Limits,
    nesting: usize,
) -> Result<()> {
    let input = |problem: String| Error::Input(format!("{}: {problem}", step.operation));
    let limit = |limit| Error::Limit {
        operation: step.operation.clone(),
        limit,
    };
    let unresolved = |e: Unresolved| match e {
        Unresolved::Path(problem) => input(problem),
        Unresolved::Limit(l) => limit(l),
    };
    let max_bytes = meter.max_bytes;
    let resolve = |arg: &Value, state: &Value| refs::resolve(arg, state, max_bytes).map_err(unresolved);
    if NAMES[..3].contains(&step.operation.as_str()) && nesting >= MAX_NESTED_OPERATIONS {
        return Err(input(format!(
            "operations nest deeper than the nesting depth limit of {MAX_NESTED_OPERATIONS}"
        )));
    }
    match step.operation.as_str() {
        "each" => {
            let [path, operation] = &step.args[..] else {
                return Err(input(
                    "expected [path, operation], e.g. [\"$.data[*]\", {\"post\": [...]}]".into(),
                ));
            };
            let operation = nested(operation).map_err(input)?;
            let items = match resolve(path, state)? {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                single => vec![single],
            };
            for (index, item) in items.into_iter().enumerate() {
                // Lets the job's wall-clock limit fire between items even when no item
                // calls an adaptor.
                tokio::task::yield_now().await;
                state["data"] = item;
                state["index"] = json!(index);
                meter.touch(state, "data").map_err(limit)?;
                meter.touch(state, "index").map_err(limit)?;
                Box::pin(exec(session, &operation, state, meter, limits, nesting + 1)).await?;
            }
            if let Value::Object(map) = state {
                map.remove("index");
            }
            meter.touch(state, "index").map_err(limit)
        }
        "fnIf" => {
            let [condition, operation] = &step.args[..] else {
                return Err(input("expected [condition, operation]".into()));
            };
            let operation = nested(operation).map_err(input)?;
            if truthy(&resolve(condition, state)?) {
                Box::pin(exec(session, &operation, state, meter, limits, nesting + 1)).await?;
            }
            Ok(())
        }
        "combine" => {
            for operation in &step.args {
                let operation = nested(operation).map_err(input)?;
                Box::pin(exec(session, &operation, state, meter, limits, nesting + 1)).await?;
            }
            Ok(())
        }
        "log" => {
            let values = resolve_all(&step.args, state, max_bytes).map_err(unresolved)?;
            // A line longer than the whole log budget breaks it whatever else is logged.
            let max_line = usize::try_from(limits.log_bytes).unwrap_or(usize::MAX);
            let mut line = Cut::new(max_line);
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    line.push(" ");
                }
                match v.as_str() {
                    Some(s) => line.push(s),
                    None => line.push_json(v),
                }
            }
            if line.cut {
                return Err(limit(Limit::LogBytes(limits.log_bytes)));
            }
            session.log(&line.text)?;
            Ok(())
        }
        "cursor" => {
            let value = step.args.first().map(|v| resolve(v, state)).transpose()?;
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
            session.log(&format!("setting {key}: {}", shown(&value)))?;
            state[key.as_str()] = value;
            meter.touch(state, &key).map_err(limit)
        }
        _ => {
            let args = resolve_all(&step.args, state, max_bytes).map_err(unresolved)?;
            let (output, facts) = session.call_measured(&step.operation, &args).await?;
            meter.compose(state, output, facts).map_err(limit)
        }
    }
}

/// Resolves the arguments of one call against one budget: together they may not be
/// larger than `max_bytes`.
fn resolve_all(args: &[Value], state: &Value, max_bytes: u64) -> std::result::Result<Vec<Value>, Unresolved> {
    match refs::resolve(&Value::Array(args.to_vec()), state, max_bytes)? {
        Value::Array(values) => Ok(values),
        other => Ok(vec![other]),
    }
}

/// `value` as JSON text, cut after [`CURSOR_SHOWN`] bytes.
fn shown(value: &Value) -> String {
    let mut text = Cut::new(CURSOR_SHOWN);
    text.push_json(value);
    if text.cut {
        text.text.push_str("...");
    }
    text.text
}

/// Text built up to a maximum length, without ever holding more.
struct Cut {
    text: String,
    max: usize,
    /// Whether something did not fit.
    cut: bool,
}

impl Cut {
    fn new(max: usize) -> Cut {
        Cut {
            text: String::new(),
            max,
            cut: false,
        }
    }

    fn push(&mut self, s: &str) {
        let room = self.max - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&s[..end]);
            self.cut = true;
        }
    }

    /// Appends `value` as JSON text, serializing no further than what fits.
    fn push_json(&mut self, value: &Value) {
        // The writer refuses bytes once the text is full, which ends serialization.
        let _ = serde_json::to_writer(&mut *self, value);
    }
}

impl std::io::Write for Cut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cut {
            return Err(std::io::Error::other("full"));
        }
        // serde_json writes whole UTF-8 sequences per call except inside strings, where
        // it may split; lossy conversion of a split tail only affects the cut end.
        self.push(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The state's size, kept per top-level key so that each step measures only what it
/// changed: `each` over 10,000 items does not walk the whole state 10,000 times.
/// `references`, which grows by one output per call, is measured by its new items;
/// an adaptor's output is measured as the host parses it, and not walked again.
///
/// It also knows which outputs in the state hold none of the job's secrets (what the
/// parse found), so that masking the output state can skip them ([`Meter::mask`]).
/// Every change of a key but composing an output forgets that of the key.
#[derive(Debug)]
pub struct Meter {
    max_bytes: u64,
    keys: HashMap<String, JsonSize>,
    /// How many items of `references` are counted, and their size.
    references: (usize, JsonSize),
    /// Whether `data` is known to hold no secret.
    data_clean: bool,
    /// For each counted item of `references`, whether it is known to hold no secret.
    references_clean: Vec<bool>,
}

impl Meter {
    /// Measures `state` (an object) against `max_bytes`.
    fn new(state: &Value, max_bytes: u64) -> std::result::Result<Meter, Limit> {
        let mut meter = Meter {
            max_bytes,
            keys: HashMap::new(),
            references: (0, JsonSize::default()),
            data_clean: false,
            references_clean: Vec::new(),
        };
        let keys: Vec<String> = state.as_object().into_iter().flat_map(|m| m.keys().cloned()).collect();
        for key in keys {
            meter.touch(state, &key)?;
        }
        Ok(meter)
    }

    /// Composes `output` into `state` ([`compose`]), measured by what the parse of the
    /// output found instead of walking it, then checks the whole state.
    fn compose(
        &mut self,
        state: &mut Value,
        output: OperationOutput,
        facts: OutputFacts,
    ) -> std::result::Result<(), Limit> {
        // What `data` was, which joins `references` (null when there was none).
        let previous = match self.keys.get("data") {
            Some(size) => (*size, self.data_clean),
            None => (
                JsonSize {
                    bytes: VALUE_BYTES,
                    depth: 1,
                },
                true,
            ),
        };
        let counted = match state.get("references") {
            Some(Value::Array(items)) if items.len() == self.references.0 => Some(items.len()),
            _ => None,
        };
        compose(state, output);
        self.keys.insert("data".into(), facts.data);
        self.data_clean = !facts.data_secret;
        self.touch(state, "response")?;
        let Some(counted) = counted else {
            // `references` was not an array of counted items: measure it whole.
            return self.touch(state, "references");
        };
        let appended = std::iter::once(previous).chain(facts.earlier.iter().map(|(size, secret)| (*size, !secret)));
        let (_, mut size) = self.references;
        if counted == 0 {
            size = JsonSize {
                bytes: VALUE_BYTES,
                depth: 1,
            };
        }
        for (item, clean) in appended {
            size.bytes += item.bytes;
            size.depth = size.depth.max(item.depth + 1);
            self.references_clean.push(clean);
        }
        self.references = (self.references_clean.len(), size);
        self.keys.insert("references".into(), size);
        self.check()
    }

    /// Masks every secret in `state` (an object after its steps; anything else is
    /// masked whole) as [`Redactor::value`] does, skipping the outputs known to hold
    /// none.
    pub fn mask(&self, state: &mut Value, redactor: &Redactor) {
        let Value::Object(map) = state else {
            return redactor.value(state);
        };
        for (key, value) in map.iter_mut() {
            match (key.as_str(), value) {
                ("data", _) if self.data_clean => {}
                ("references", Value::Array(items))
                    if items.len() == self.references.0 && items.len() == self.references_clean.len() =>
                {
                    for (item, clean) in items.iter_mut().zip(&self.references_clean) {
                        if !clean {
                            redactor.value(item);
                        }
                    }
                }
                (_, value) => redactor.value(value),
            }
        }
        redactor.keys(map);
    }

    /// Measures `state[key]` again after it changed, then checks the whole state.
    fn touch(&mut self, state: &Value, key: &str) -> std::result::Result<(), Limit> {
        if key == "data" {
            self.data_clean = false;
        }
        if key == "references" {
            self.references = (0, JsonSize::default());
            self.references_clean.clear();
            return self.appended_references(state);
        }
        match state.get(key) {
            Some(value) => {
                self.keys.insert(key.to_string(), json_size(value, self.max_bytes)?);
            }
            None => {
                self.keys.remove(key);
            }
        }
        self.check()
    }

    /// Measures what was appended to `references` since it was last measured (an
    /// operation's output composed into the state), then checks the whole state.
    fn appended_references(&mut self, state: &Value) -> std::result::Result<(), Limit> {
        match state.get("references") {
            Some(Value::Array(items)) => {
                let (counted, mut size) = self.references;
                let from = if counted > 0 && counted <= items.len() {
                    counted
                } else {
                    size = JsonSize {
                        bytes: VALUE_BYTES,
                        depth: 1,
                    };
                    0
                };
                self.references = (0, JsonSize::default());
                self.references_clean.truncate(from);
                for item in &items[from..] {
                    let item = json_size(item, self.max_bytes)?;
                    size.bytes += item.bytes;
                    size.depth = size.depth.max(item.depth + 1);
                    self.references_clean.push(false);
                }
                self.references = (items.len(), size);
                self.keys.insert("references".into(), size);
            }
            Some(value) => {
                self.references = (0, JsonSize::default());
                self.references_clean.clear();
                self.keys.insert("references".into(), json_size(value, self.max_bytes)?);
            }
            None => {
                self.references = (0, JsonSize::default());
                self.references_clean.clear();
                self.keys.remove("references");
            }
        }
        self.check()
    }

    /// Whether the whole state fits.
    fn check(&self) -> std::result::Result<(), Limit> {
        let mut bytes = VALUE_BYTES;
        let mut depth = 1;
        for (key, size) in &self.keys {
            bytes += ENTRY_BYTES + key.len() as u64 + size.bytes;
            depth = depth.max(size.depth + 1);
        }
        if bytes > self.max_bytes {
            return Err(Limit::StateSize(self.max_bytes));
        }
        if depth > MAX_DEPTH {
            return Err(Limit::Depth(MAX_DEPTH));
        }
        Ok(())
    }
}

/// An operation given as an argument: `{"name": [args...]}`.
fn nested(value: &Value) -> Result<Call, String> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sandbox::limits::parse_json;

    /// An output as the session gives it: parsed, measured and searched for secrets.
    fn output(text: &str, redactor: &Redactor) -> (OperationOutput, OutputFacts) {
        let (data, size) = parse_json(text, u64::MAX).unwrap();
        let facts = OutputFacts {
            data: size,
            data_secret: redactor.may_hold_secret(text),
            earlier: Vec::new(),
        };
        let output = OperationOutput {
            data,
            response: None,
            earlier: Vec::new(),
        };
        (output, facts)
    }

    #[test]
    fn composed_outputs_are_measured_and_masked_as_a_walk_would() {
        let redactor = Redactor::from_secrets(vec!["canary-pass".into()]);
        let mut state = initial_state(json!({"note": "canary-pass"}));
        let mut meter = Meter::new(&state, u64::MAX).unwrap();
        for text in [r#"{"a": ["x", 1]}"#, r#"["canary-pass"]"#, r#"{"b": {"c": null}}"#] {
            let (output, facts) = output(text, &redactor);
            meter.compose(&mut state, output, facts).unwrap();
            assert_eq!(meter.keys["data"], json_size(&state["data"], u64::MAX).unwrap());
            assert_eq!(
                meter.keys["references"],
                json_size(&state["references"], u64::MAX).unwrap()
            );
        }
        // `data` set by anything but an output may hold a secret again.
        let mut touched = state.clone();
        touched["data"] = json!("canary-pass");
        meter.touch(&touched, "data").unwrap();
        let mut expected = touched.clone();
        redactor.value(&mut expected);
        meter.mask(&mut touched, &redactor);
        assert_eq!(touched, expected);
        assert_eq!(
            touched,
            json!({"note": "****", "data": "****", "references": [{}, {"a": ["x", 1]}, ["****"]]})
        );
    }
}
