//! OpenFn state: `{configuration, data, references, response, ...}`.
//!
//! An operation receives the state as JSON text and returns the next state. The kit
//! keeps every key it does not own, so host-side additions survive a guest call.

use serde_json::{Map, Value, json};

use crate::error::{self, Error};

/// One job's state.
#[derive(Debug, Clone)]
pub struct State(Map<String, Value>);

/// What `state.response` records of an HTTP exchange (never the body).
#[derive(Debug, Clone)]
pub struct ResponseSummary {
    /// The request URL.
    pub url: String,
    /// The request method.
    pub method: String,
    /// The status code.
    pub status: u16,
    /// Response headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Milliseconds from sending the request to having the whole body.
    pub duration_ms: u64,
}

impl State {
    /// Parses state JSON text; it must be an object.
    pub fn parse(text: &str) -> Result<State, Error> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(State(map)),
            Ok(other) => Err(error::invalid_argument(format!(
                "state must be a JSON object, got {}",
                kind(&other)
            ))),
            Err(e) => Err(error::invalid_argument(format!("state is not valid JSON: {e}"))),
        }
    }

    /// `state.configuration`, or an empty object when there is none.
    pub fn configuration(&self) -> Configuration<'_> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self.0.get("configuration") {
            Some(Value::Object(map)) => Configuration(map),
            _ => Configuration(EMPTY.get_or_init(Map::new)),
        }
    }

    /// The next state after an HTTP exchange, as OpenFn's `composeNextState`: `data`
    /// becomes `data`, the previous `data` is appended to `references`, and `response`
    /// describes the exchange.
    pub fn next(self, data: Value, response: &ResponseSummary) -> State {
        let mut next = self.with_data(data);
        let headers: Map<String, Value> = response
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect();
        next.0.insert(
            "response".into(),
            json!({
                "url": response.url,
                "method": response.method,
                "statusCode": response.status,
                "statusMessage": crate::http::reason(response.status),
                "headers": headers,
                "duration": response.duration_ms,
            }),
        );
        next
    }

    /// The next state without an HTTP exchange: `data` becomes `data` and the previous
    /// `data` is appended to `references` (OpenFn's `composeNextState`).
    pub fn with_data(mut self, data: Value) -> State {
        let previous = self.0.remove("data").unwrap_or(Value::Null);
        let references = self.0.entry("references").or_insert_with(|| json!([]));
        match references {
            Value::Array(items) => items.push(previous),
            other => *other = json!([other.take(), previous]),
        }
        self.0.insert("data".into(), data);
        self
    }

    /// `state.data`, for an operation that reshapes what the server returned.
    pub fn data_mut(&mut self) -> &mut Value {
        self.0.entry("data").or_insert(Value::Null)
    }

    /// Sets `response.<key>`, for what an operation adds to the exchange's summary.
    pub fn set_response_field(&mut self, key: &str, value: Value) {
        if let Some(Value::Object(response)) = self.0.get_mut("response") {
            response.insert(key.to_string(), value);
        }
    }

    /// The state as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("JSON values serialize")
    }
}

/// A view of `state.configuration`.
#[derive(Debug, Clone, Copy)]
pub struct Configuration<'a>(&'a Map<String, Value>);

impl<'a> Configuration<'a> {
    /// The raw value of a field, if present.
    pub fn value(&self, field: &str) -> Option<&'a Value> {
        self.0.get(field)
    }

    /// A non-empty string field, or `None` when it is absent, null or empty.
    pub fn optional(&self, field: &str) -> Result<Option<&'a str>, Error> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(error::configuration(
                field,
                &format!("must be a string, got {}", kind(other)),
            )),
        }
    }

    /// A required non-empty string field; `expected` says what it should hold.
    pub fn required(&self, field: &str, expected: &str) -> Result<&'a str, Error> {
        self.optional(field)?
            .ok_or_else(|| error::configuration(field, &format!("is missing: expected {expected}")))
    }
}

/// The JSON kind of a value, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
