//! One job's sandbox and the one entry point for running an operation:
//! adaptor + operation name + JSON arguments → the operation's output or an error.
//!
//! The session configures its fresh instance once ([`Session::configure`]); each call
//! then passes only the operation's arguments, and the caller composes the next state
//! from the output ([`compose`](crate::compose)). The JSON job runner uses it; any
//! other front end (a workflow engine, a JavaScript job runtime) calls operations
//! through the same [`Session::call`].

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime::component::{Instance, Type, Val};

use crate::adaptor::Adaptor;
use crate::compose::OperationOutput;
use crate::engine::Host;
use crate::error::{Error, Result};
use crate::events::{JobLog, LogLevel, LogSource};
use crate::names::camel_case;
use crate::redact::Redactor;
use crate::sandbox::Sandbox;
use crate::sandbox::limits::{JsonSize, Limits, parse_json};
use crate::sandbox::policy::Policy;
use crate::values::{self, type_name};

/// A fresh instance of one adaptor in a fresh store, for one job. Nothing in it
/// survives the job: dropping the session drops the store.
pub struct Session<'a> {
    adaptor: &'a Adaptor,
    store: Store<Sandbox>,
    instance: Instance,
    limits: Limits,
    log: JobLog,
    _permit: OwnedSemaphorePermit,
}

impl<'a> Session<'a> {
    /// Instantiates `adaptor` in a new sandbox with these limits and network policy,
    /// once one of the host's job slots is free (a wait is logged). Its log lines and
    /// the guest's go to `log`, which also masks the job's secrets.
    pub async fn start(
        host: &Host,
        adaptor: &'a Adaptor,
        limits: &Limits,
        policy: Policy,
        log: JobLog,
    ) -> Result<Session<'a>> {
        let permit = match Arc::clone(&host.jobs).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                log.line(
                    LogLevel::Info,
                    LogSource::Host,
                    &format!(
                        "waiting for a job slot: all {} are in use (HostOptions::max_concurrent_jobs)",
                        host.max_concurrent_jobs()
                    ),
                );
                Arc::clone(&host.jobs)
                    .acquire_owned()
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?
            }
        };
        let mut store = Sandbox::store(
            &host.engine,
            limits,
            Arc::new(policy),
            log.clone(),
            Some(host.network.clone()),
        );
        let instance = adaptor
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| Error::Internal(format!("instantiating the adaptor: {e:#}")))?;
        Ok(Session {
            adaptor,
            store,
            instance,
            limits: limits.clone(),
            log,
            _permit: permit,
        })
    }

    /// Gives the instance the job's configuration (`openfn:adaptor/configuration.configure`),
    /// once, before the first operation. The caller has checked it against the
    /// adaptor's declaration; the adaptor may refuse what a declaration cannot say.
    pub async fn configure(&mut self, configuration: &Value) -> Result<()> {
        let func = self
            .instance
            .get_func(&mut self.store, self.adaptor.configure)
            .ok_or_else(|| Error::Internal("configure vanished from the instance".into()))?;
        self.store.data_mut().set_operation("configure");
        let text = if configuration.is_null() {
            "{}".to_string()
        } else {
            configuration.to_string()
        };
        let mut results = [Val::Bool(false)];
        let called = func
            .call_async(&mut self.store, &[Val::String(text)], &mut results)
            .await;
        self.check_call("configure", called)?;
        match &results[0] {
            Val::Result(Ok(_)) => Ok(()),
            Val::Result(Err(Some(error))) => Err(self.guest_error("configure", error)),
            other => Err(Error::Internal(format!("unexpected result shape {other:?}"))),
        }
    }

    /// Runs operation `name` with `args` (JSON, converted by the operation's WIT
    /// parameter types) and returns what it produced.
    pub async fn call(&mut self, name: &str, args: &[Value]) -> Result<OperationOutput> {
        self.call_measured(name, args).await.map(|(output, _)| output)
    }

    /// [`Session::call`], with the size of each JSON value of the output, counted while
    /// parsing it, and whether it may hold a secret of the job.
    pub(crate) async fn call_measured(&mut self, name: &str, args: &[Value]) -> Result<(OperationOutput, OutputFacts)> {
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
        let mut params = Vec::with_capacity(operation.params.len());
        for (i, param) in operation.params.iter().enumerate() {
            let arg_error = |problem: String| Error::Argument {
                operation: op_name.clone(),
                param: camel_case(&param.name),
                problem: self
                    .log
                    .redactor()
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
            .ok_or_else(|| Error::Internal(format!("operation {} vanished from the instance", operation.wit_name)))?;
        self.store.data_mut().set_operation(&op_name);
        let mut results = [Val::Bool(false)];
        let called = func.call_async(&mut self.store, &params, &mut results).await;
        self.check_call(&op_name, called)?;
        match &results[0] {
            Val::Result(Ok(Some(output))) => {
                output_of(output, self.limits.state_bytes, self.log.redactor()).map_err(|problem| Error::Operation {
                    operation: op_name,
                    kind: "invalid-output".into(),
                    message: format!("the adaptor returned an output the host cannot read: {problem}"),
                    details: Box::new(Value::Null),
                })
            }
            Val::Result(Err(Some(error))) => Err(self.guest_error(&op_name, error)),
            other => Err(Error::Internal(format!("unexpected result shape {other:?}"))),
        }
    }

    /// The broken limit or the trap of a call, if any.
    fn check_call(&self, operation: &str, called: wasmtime::Result<()>) -> Result<()> {
        let sandbox = self.store.data();
        if let Some(limit) = sandbox.broken_limit(&self.limits, called.is_err()) {
            return Err(Error::Limit {
                operation: operation.to_string(),
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
                operation: operation.to_string(),
                message: self.log.redactor().text(&message),
            });
        }
        Ok(())
    }

    /// The guest's WIT `error` as a host error (masked); a request the policy denied
    /// explains the guest's transport error.
    fn guest_error(&self, operation: &str, error: &Val) -> Error {
        if let Some(origin) = self.store.data().incidents().first_denied() {
            return Error::Denied {
                operation: operation.to_string(),
                origin,
            };
        }
        let mut details = values::to_json(error);
        self.log.redactor().value(&mut details);
        let (kind, message, details) = describe(details);
        Error::Operation {
            operation: operation.to_string(),
            kind,
            message,
            details: Box::new(details),
        }
    }

    /// Writes a line to the job's log as the job's own (masked), for host-side
    /// operations such as `log`, counted against the job's log limit.
    pub fn log(&self, message: &str) -> Result<()> {
        self.store
            .data()
            .host_log(LogLevel::Info, LogSource::Job, message)
            .map_err(|limit| Error::Limit {
                operation: "log".into(),
                limit,
            })
    }

    /// The largest linear memory the adaptor's instance reached, in bytes.
    pub fn peak_memory(&self) -> u64 {
        self.store.data().peak_memory()
    }

    /// HTTP requests this session has sent.
    pub fn requests(&self) -> u32 {
        self.store.data().incidents().requests()
    }
}

/// What the host learnt of an output's JSON values while parsing them.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputFacts {
    /// `data`'s size.
    pub data: JsonSize,
    /// Whether `data` may hold a secret ([`Redactor::may_hold_secret`]).
    pub data_secret: bool,
    /// The same for each of `earlier`, in order.
    pub earlier: Vec<(JsonSize, bool)>,
}

/// The WIT `output` record as the host's [`OperationOutput`]: `data` parsed, the
/// `response-info` as the object OpenFn puts in `state.response` (headers as an object,
/// repeated names joined with `, `, `extra` fields merged in). Each JSON text is
/// measured as it is parsed and searched once for the job's secrets (`redactor`).
fn output_of(
    output: &Val,
    max_bytes: u64,
    redactor: &Redactor,
) -> std::result::Result<(OperationOutput, OutputFacts), String> {
    let Val::Record(fields) = output else {
        return Err("not a record".into());
    };
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let json_text = |val: &Val| match val {
        Val::String(text) => parse_json(text, max_bytes)
            .map(|(value, size)| (value, size, redactor.may_hold_secret(text)))
            .map_err(|e| format!("data refused: {e}")),
        _ => Err("data is not a string".into()),
    };
    let (data, data_size, data_secret) = json_text(get("data").ok_or("no data field")?)?;
    let response = match get("response") {
        Some(Val::Option(Some(info))) => Some(response_of(info)?),
        _ => None,
    };
    let mut facts = OutputFacts {
        data: data_size,
        data_secret,
        earlier: Vec::new(),
    };
    let mut earlier = Vec::new();
    if let Some(Val::List(items)) = get("earlier-data") {
        for item in items {
            let (value, size, secret) = json_text(item)?;
            earlier.push(value);
            facts.earlier.push((size, secret));
        }
    }
    let output = OperationOutput {
        data,
        response,
        earlier,
    };
    Ok((output, facts))
}

fn response_of(info: &Val) -> std::result::Result<Value, String> {
    let Val::Record(fields) = info else {
        return Err("response is not a record".into());
    };
    let mut response = Map::new();
    let mut extra = None;
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("headers", Val::List(pairs)) => {
                let mut headers = Map::new();
                for pair in pairs {
                    if let Val::Tuple(kv) = pair
                        && let [Val::String(k), Val::String(v)] = &kv[..]
                    {
                        match headers.get_mut(k) {
                            Some(Value::String(existing)) => {
                                existing.push_str(", ");
                                existing.push_str(v);
                            }
                            _ => {
                                headers.insert(k.clone(), Value::String(v.clone()));
                            }
                        }
                    }
                }
                response.insert("headers".into(), Value::Object(headers));
            }
            ("extra", Val::Option(Some(text))) => extra = Some(text),
            ("extra", _) => {}
            (name, value) => {
                response.insert(camel_case(name), values::to_json(value));
            }
        }
    }
    if let Some(Val::String(text)) = extra.map(|b| &**b) {
        match serde_json::from_str(text) {
            Ok(Value::Object(more)) => response.extend(more),
            _ => return Err("response.extra is not a JSON object".into()),
        }
    }
    Ok(Value::Object(response))
}

/// Turns the guest's WIT `error` (as JSON) into a kind (kebab-case, as WIT spells it), a one-line message and the
/// details kept in `state.errors`.
fn describe(error: Value) -> (String, String, Value) {
    let (kind, payload) = match error {
        Value::Object(map) if map.len() == 1 => map.into_iter().next().expect("one entry"),
        Value::String(kind) => (kind, Value::Null),
        other => return ("error".into(), other.to_string(), other),
    };
    // The WIT case name (`invalid-argument`), as the host's own kinds are spelt.
    let kind = crate::names::kebab_case(&kind);
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
            if f.get("location").is_some_and(Value::is_null) {
                f.remove("location");
            }
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
    let status = f.get("statusCode").and_then(Value::as_u64).unwrap_or_default();
    let mut message = format!(
        "{} to {} returned {status}: {}",
        get("method"),
        get("url"),
        get("statusMessage")
    );
    if let Some(location) = f.get("location").and_then(Value::as_str) {
        message.push_str(&format!(
            " (a redirect to {location:?}, which adaptors do not follow: configure the address it points to)"
        ));
    }
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
