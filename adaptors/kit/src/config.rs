//! The job's configuration, received once through `openfn:adaptor/configuration`.
//!
//! The host gives every job a fresh instance and calls `configure` on it before the
//! first operation, so the configuration kept here belongs to exactly one job. It never
//! leaves the instance: operations read it, and nothing writes it to their output.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::error::{self, Error};
use crate::wit::types::{Field, FieldKind};

thread_local! {
    static CONFIGURATION: RefCell<Rc<Map<String, Value>>> = RefCell::new(Rc::new(Map::new()));
}

/// Stores the job's configuration (JSON text of an object). What the host checked
/// against the declaration is not checked again here.
pub fn configure(text: &str) -> Result<(), Error> {
    let map = match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            return Err(Error::Configuration(format!(
                "the configuration must be a JSON object, got {}",
                kind(&other)
            )));
        }
        Err(e) => {
            return Err(Error::Configuration(format!(
                "the configuration is not valid JSON: {e}"
            )));
        }
    };
    CONFIGURATION.with(|c| *c.borrow_mut() = Rc::new(map));
    Ok(())
}

/// The job's configuration (empty before `configure`).
pub fn get() -> Configuration {
    Configuration(CONFIGURATION.with(|c| Rc::clone(&c.borrow())))
}

/// One field of a configuration declaration, for an adaptor's `schema`.
pub fn field(name: &str, kind: FieldKind, required: bool, secret: bool, description: &str) -> Field {
    Field {
        name: name.to_string(),
        description: description.to_string(),
        kind,
        required,
        secret,
    }
}

/// A view of the job's configuration.
#[derive(Debug, Clone)]
pub struct Configuration(Rc<Map<String, Value>>);

impl Configuration {
    /// The raw value of a field, if present.
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }

    /// A non-empty string field, or `None` when it is absent, null or empty.
    pub fn optional(&self, field: &str) -> Result<Option<&str>, Error> {
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
    pub fn required(&self, field: &str, expected: &str) -> Result<&str, Error> {
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

/// Implements the `openfn:adaptor/configuration` export for `$adaptor`: `schema`
/// returns `$fields` (a `Vec<Field>` expression) and `configure` stores the
/// configuration for [`get`], then runs `$check` (a `fn() -> Result<(), Error>` that
/// checks what the declaration cannot say). Use it in the adaptor crate, after
/// [`bindings!`](crate::bindings).
#[macro_export]
macro_rules! export_configuration {
    ($adaptor:ty, $fields:expr, $check:expr) => {
        impl exports::openfn::adaptor::configuration::Guest for $adaptor {
            fn schema() -> Vec<$crate::wit::types::Field> {
                $fields
            }

            fn configure(configuration: String) -> Result<(), $crate::wit::types::Error> {
                $crate::config::configure(&configuration)?;
                $check()
            }
        }
    };
}
