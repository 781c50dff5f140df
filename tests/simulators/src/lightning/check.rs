//! Checking event payloads key by key, collecting errors as Lightning's changesets do
//! (`{"<field>": ["<message>"]}`).

use serde_json::{Map, Value};

/// The largest plausible microsecond timestamp checks accept (year ~5138).
const MAX_MICROS: u64 = 100_000_000_000_000_000;
/// The smallest: 2001-09-09 in microseconds. Milliseconds or seconds since the epoch
/// are far below it, so the common mistake of sending those is caught.
const MIN_MICROS: u64 = 1_000_000_000_000_000;

/// One payload under check.
pub(crate) struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    pub(crate) errors: Vec<(String, String)>,
}

impl<'a> Fields<'a> {
    /// Starts checking `payload`, which must be a JSON object.
    pub(crate) fn new(payload: &'a Value) -> Fields<'a> {
        let mut fields = Fields {
            map: payload.as_object(),
            errors: Vec::new(),
        };
        if fields.map.is_none() {
            fields.error("payload", "must be a JSON object");
        }
        fields
    }

    /// Records an error on `field`.
    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push((field.to_string(), message.into()));
    }

    /// Whether no error was found.
    pub(crate) fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Refuses keys outside `allowed` (a typo in an optional key would otherwise go
    /// unnoticed; Lightning itself ignores unknown keys).
    pub(crate) fn only(&mut self, allowed: &[&str]) {
        let unknown: Vec<String> = self
            .map
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|k| !allowed.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.error(
                &key,
                format!("is not a key of this event (allowed: {})", allowed.join(", ")),
            );
        }
    }

    /// The value of `key`, if present (null counts as present).
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(key))
    }

    /// The value of a required key.
    pub(crate) fn required(&mut self, key: &str) -> Option<&'a Value> {
        let value = self.get(key);
        if value.is_none() && self.map.is_some() {
            self.error(key, "can't be blank (required key missing)");
        }
        value
    }

    /// A required, non-null string.
    pub(crate) fn string(&mut self, key: &str) -> Option<&'a str> {
        match self.required(key)? {
            Value::String(s) => Some(s),
            other => {
                self.error(key, format!("must be a string, got {}", kind(other)));
                None
            }
        }
    }

    /// An optional string: absent is fine, present must be a string.
    pub(crate) fn opt_string(&mut self, key: &str) -> Option<&'a str> {
        match self.get(key)? {
            Value::String(s) => Some(s),
            other => {
                self.error(key, format!("must be a string when present, got {}", kind(other)));
                None
            }
        }
    }

    /// A required key holding a string or null. `None` when missing or mistyped.
    pub(crate) fn nullable_string(&mut self, key: &str) -> Option<Option<&'a str>> {
        match self.required(key)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s)),
            other => {
                self.error(key, format!("must be a string or null, got {}", kind(other)));
                None
            }
        }
    }

    /// A UUID string (Lightning's ids are `binary_id`s).
    pub(crate) fn uuid(&mut self, key: &str, required: bool) -> Option<&'a str> {
        let value = if required {
            self.string(key)?
        } else {
            self.opt_string(key)?
        };
        if uuid::Uuid::parse_str(value).is_err() {
            self.error(key, format!("must be a UUID, got {value:?}"));
            return None;
        }
        Some(value)
    }

    /// A number (integer or float).
    pub(crate) fn number(&mut self, key: &str, required: bool) -> Option<f64> {
        let value = if required { self.required(key)? } else { self.get(key)? };
        match value.as_f64() {
            Some(n) => Some(n),
            None => {
                self.error(key, format!("must be a number, got {}", kind(value)));
                None
            }
        }
    }

    /// A timestamp: a string of decimal digits, microseconds since the epoch.
    pub(crate) fn timestamp(&mut self, key: &str, required: bool) {
        let value = if required { self.required(key) } else { self.get(key) };
        let Some(value) = value else { return };
        let Value::String(text) = value else {
            self.error(
                key,
                format!("must be a string of microseconds since the epoch, got {}", kind(value)),
            );
            return;
        };
        match text.parse::<u64>() {
            Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) && (MIN_MICROS..MAX_MICROS).contains(&n) => {}
            Ok(_) if text.bytes().all(|b| b.is_ascii_digit()) => self.error(
                key,
                format!("{text:?} is not in microseconds since the epoch (too small or too large)"),
            ),
            _ => self.error(key, format!("{text:?} is not a decimal count of microseconds")),
        }
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
