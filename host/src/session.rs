//! One job's sandbox and the one entry point for running an operation:
//! adaptor + operation name + JSON arguments + state → next state or error.
//!
//! The JSON job runner uses it; any other front end (a workflow engine, a JavaScript
//! job runtime) calls operations through the same [`Session::call`].

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime::component::{Instance, Type, Val};

use crate::adaptor::Adaptor;
use crate::engine::Host;
use crate::error::{Error, Result};
use crate::names::camel_case;
use crate::redact::Redactor;
use crate::sandbox::Sandbox;
use crate::sandbox::limits::Limits;
use crate::sandbox::policy::Policy;
use crate::values::{self, type_name};

/// A fresh instance of one adaptor in a fresh store, for one job. Nothing in it
/// survives the job: dropping the session drops the store.
pub struct Session<'a> {
    adaptor: &'a Adaptor,
    store: Store<Sandbox>,
    instance: Instance,
    limits: Limits,
    redactor: Arc<Redactor>,
    _permit: OwnedSemaphorePermit,
}

impl<'a> Session<'a> {
    /// Instantiates `adaptor` in a new sandbox with these limits and network policy.
    /// `redactor` masks the job's configuration values in the guest's log lines.
    pub async fn start(
        host: &Host,
        adaptor: &'a Adaptor,
        limits: &Limits,
        policy: Policy,
        redactor: Arc<Redactor>,
    ) -> Result<Session<'a>> {
        let permit = Arc::clone(&host.jobs)
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        let mut store = Sandbox::store(
            &host.engine,
            adaptor.name(),
            limits,
            Arc::new(policy),
            Arc::clone(&redactor),
        );
        let instance = adaptor
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| Error::Internal(anyhow::Error::from(e).context("instantiating the adaptor")))?;
        Ok(Session {
            adaptor,
            store,
            instance,
            limits: limits.clone(),
            redactor,
            _permit: permit,
        })
    }

    /// Runs operation `name` with `args` (JSON, converted by the operation's WIT
    /// parameter types) on `state`, and returns the next state.
    pub async fn call(&mut self, name: &str, args: &[Value], state: &Value) -> Result<Value> {
        let operation = self.adaptor.operation(name)?;
        let op_name = operation.name.clone();
        if args.len() > operation.params.len() {
            return Err(Error::Argument {
                operation: op_name,
                param: format!("#{}", operation.params.len() + 1),
                problem: format!(
                    "too many arguments: {} given, the operation takes {}: {}",
                    args.len(),
                    operation.params.len(),
                    operation.signature()
                ),
            });
        }
        let mut params = vec![Val::String(state.to_string())];
        for (i, param) in operation.params.iter().enumerate() {
            let arg_error = |problem: String| Error::Argument {
                operation: op_name.clone(),
                param: camel_case(&param.name),
                problem: self
                    .redactor
                    .text(&format!("{problem} (WIT type {})", type_name(&param.ty))),
            };
            let val = match args.get(i) {
                Some(value) => values::to_val(value, &param.ty).map_err(arg_error)?,
                None if matches!(param.ty, Type::Option(_)) => Val::Option(None),
                None => return Err(arg_error("missing argument".into())),
            };
            params.push(val);
        }

        let func = self
            .instance
            .get_func(&mut self.store, operation.index)
            .ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "operation {} vanished from the instance",
                    operation.wit_name
                ))
            })?;
        self.store.data_mut().set_operation(&op_name);
        let mut results = [Val::Bool(false)];
        let called = func.call_async(&mut self.store, &params, &mut results).await;

        let sandbox = self.store.data();
        if let Some(limit) = sandbox.broken_limit(&self.limits) {
            return Err(Error::Limit {
                operation: op_name,
                limit,
            });
        }
        if let Err(trap) = called {
            let stderr = sandbox.stderr();
            let mut message = format!("{trap:#}");
            if !stderr.is_empty() {
                message = format!("{message}; stderr: {stderr}");
            }
            return Err(Error::Trap {
                operation: op_name,
                message: self.redactor.text(&message),
            });
        }
        match &results[0] {
            Val::Result(Ok(Some(next))) => match next.as_ref() {
                Val::String(text) => serde_json::from_str(text).map_err(|e| Error::Operation {
                    operation: op_name,
                    kind: "invalid-state".into(),
                    message: format!("the adaptor returned state that is not JSON: {e}"),
                    details: Value::Null,
                }),
                _ => Err(Error::Internal(anyhow::anyhow!(
                    "operation returned a non-string state"
                ))),
            },
            Val::Result(Err(Some(error))) => {
                if let Some(origin) = sandbox.incidents().first_denied() {
                    return Err(Error::Denied {
                        operation: op_name,
                        origin,
                    });
                }
                let mut details = values::to_json(error);
                self.redactor.value(&mut details);
                let (kind, message, details) = describe(details);
                Err(Error::Operation {
                    operation: op_name,
                    kind,
                    message,
                    details,
                })
            }
            other => Err(Error::Internal(anyhow::anyhow!("unexpected result shape {other:?}"))),
        }
    }

    /// Writes a line to the job's log as the adaptor would (masked), for host-side
    /// operations such as `log`.
    pub fn log(&self, message: &str) {
        tracing::info!(adaptor = self.adaptor.name(), "{}", self.redactor.text(message));
    }

    /// HTTP requests this session has sent.
    pub fn requests(&self) -> u32 {
        self.store.data().incidents().requests()
    }
}

/// Turns the guest's WIT `error` (as JSON) into a kind, a one-line message and the
/// details kept in `state.errors`.
fn describe(error: Value) -> (String, String, Value) {
    let (kind, payload) = match error {
        Value::Object(map) if map.len() == 1 => map.into_iter().next().expect("one entry"),
        Value::String(kind) => (kind, Value::Null),
        other => return ("error".into(), other.to_string(), other),
    };
    let message = match (&kind[..], &payload) {
        ("http", Value::Object(f)) => http_message(f),
        ("graphql", Value::Object(f)) => graphql_message(f),
        ("unauthorized", Value::Object(f)) => {
            let reason = f.get("reason").and_then(Value::as_str).unwrap_or("unauthorized");
            match f.get("exchange") {
                Some(Value::Object(x)) => format!("{reason} ({})", http_message(x)),
                _ => reason.to_string(),
            }
        }
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    };
    let details = match payload {
        Value::Object(mut f) => {
            parse_body(&mut f);
            if let Some(Value::Object(x)) = f.get_mut("exchange") {
                parse_body(x);
            }
            Value::Object(f)
        }
        other => other,
    };
    (kind, message, details)
}

/// OpenFn's message for an HTTP failure: `GET to URL returned 404: Not Found`, plus
/// the server's own message when the body has one.
fn http_message(f: &Map<String, Value>) -> String {
    let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default();
    let status = f.get("status").and_then(Value::as_u64).unwrap_or_default();
    let mut message = format!(
        "{} to {} returned {status}: {}",
        get("method"),
        get("url"),
        get("statusText")
    );
    let body: Option<Value> = f
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok());
    if let Some(body) = body {
        let text = ["message", "error_description", "error"]
            .iter()
            .find_map(|k| body.get(k).and_then(Value::as_str).map(str::to_string));
        if let Some(text) = text {
            message.push_str(&format!(" ({text})"));
        }
    }
    message
}

/// `GraphQL errors from URL: message; message`.
fn graphql_message(f: &Map<String, Value>) -> String {
    let url = f.get("url").and_then(Value::as_str).unwrap_or_default();
    let body: Value = f
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let messages: Vec<String> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| match e["extensions"]["code"].as_str() {
            Some(code) => format!("{} ({code})", e["message"].as_str().unwrap_or("error")),
            None => e["message"].as_str().unwrap_or("error").to_string(),
        })
        .collect();
    format!("GraphQL errors from {url}: {}", messages.join("; "))
}

/// The failure's body arrives as JSON text; keep it as JSON in the details.
fn parse_body(f: &mut Map<String, Value>) {
    if let Some(Value::String(text)) = f.get("body")
        && let Ok(parsed) = serde_json::from_str::<Value>(text)
    {
        f.insert("body".into(), parsed);
    }
}
