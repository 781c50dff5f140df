//! A wasmtime host for OpenFn-style adaptors compiled to WebAssembly components.
//!
//! Adaptors are components whose world includes `openfn:adaptor/adaptor@0.2.0`:
//! outgoing HTTP and a log as imports and nothing else, the `configuration` export
//! (its declaration, and `configure`, which receives a job's configuration once), and
//! an `operations` interface of functions `name: func(...typed args) -> result<output,
//! error>`. The host discovers the operations by reflection, derives network policy
//! and masking from the declaration, and composes OpenFn state from each output, so a
//! new adaptor needs no host change.
//!
//! Every job runs in a fresh sandbox: a new store and instance, a memory limit, a CPU
//! and wall-clock limit, caps on requests, response size and log volume, and a
//! network policy that lets it reach only the origins its configuration names.
//! Configuration values never reach the output state, logs or error messages.
//!
//! The run API takes a plan (a job or a workflow), sends events to a sink and can be
//! cancelled; `examples/embed.rs` is a complete program.
//!
//! ```no_run
//! # async fn example() -> Result<(), adaptor_host::Error> {
//! use std::sync::Arc;
//!
//! use adaptor_host::events::Event;
//! use adaptor_host::{Cancel, Credentials, Host, HostOptions, Job, Plan, RunRequest, run};
//! use serde_json::json;
//!
//! let host = Host::new(HostOptions::default())?;
//! let plan = Plan::Job {
//!     adaptor: "@openfn/language-openlmis".into(),
//!     job: Job::parse(r#"[{"get": ["programs"]}]"#)?.into(),
//!     step_id: "programs".into(),
//! };
//! let request = RunRequest {
//!     credentials: Credentials::Configuration(json!({
//!         "baseUrl": "https://demo-v3.openlmis.org", "username": "administrator",
//!         "password": "password", "clientId": "user-client", "clientSecret": "changeme"})),
//!     ..RunRequest::new("run-1", plan, json!({}))
//! };
//! let sink = Arc::new(|event: Event| println!("{} {:?}", event.timestamp, event.kind));
//! let outcome = run(&host, request, sink, &Cancel::new()).await;
//! println!("{}: {}", outcome.report.reason, outcome.state.into_value());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod adaptor;
mod cache;
mod cancel;
mod compose;
mod declaration;
mod docs;
mod engine;
mod error;
pub mod events;
mod javascript;
mod job;
mod names;
mod reason;
mod redact;
pub mod run;
mod sandbox;
mod session;
mod values;
pub mod webhook;
pub mod workflow;

pub use adaptor::{ALLOWED_IMPORTS, Adaptor, Operation, Param};
pub use cancel::Cancel;
pub use compose::{OperationOutput, compose, initial_state};
pub use declaration::{Declaration, Field, FieldKind};
pub use docs::Docs;
pub use engine::{DEFAULT_CONCURRENT_JOBS, Host, HostOptions};
pub use error::{Error, Result};
pub use javascript::run_js_job;
pub use job::builtins::NAMES as BUILTIN_OPERATIONS;
pub use job::runner::{JobStats, Outcome, RunOptions, run as run_job};
pub use job::{Call, Expression, Job};
pub use reason::Reason;
pub use redact::{MASK, Redactor};
pub use run::{CredentialLookup, Credentials, FinalState, Plan, RunOutcome, RunRequest, run};
pub use sandbox::limits::{Limit, Limits, MAX_MEMORY_BYTES};
pub use sandbox::policy::{AllowRule, Policy};
pub use sandbox::resolve::{Resolve, Resolving, StaticResolver, SystemResolver};
pub use session::Session;

/// The adaptors compiled into this binary by `build.rs`, by short name, each with the
/// SHA-256 of its bytes (hex), computed by `build.rs` as well.
const BUILTIN: [(&str, &[u8], &str); 3] = [
    (
        "openlmis",
        include_bytes!(env!("OPENLMIS_WASM")),
        env!("OPENLMIS_SHA256"),
    ),
    (
        "opencrvs",
        include_bytes!(env!("OPENCRVS_WASM")),
        env!("OPENCRVS_SHA256"),
    ),
    ("common", include_bytes!(env!("COMMON_WASM")), env!("COMMON_SHA256")),
];

/// The version of OpenFn's JavaScript adaptor each built-in adaptor matches (its
/// operations and their behaviour), by short name.
const BUILTIN_VERSIONS: [(&str, &str); 3] = [("openlmis", "1.2.2"), ("opencrvs", "1.2.2"), ("common", "3.3.4")];

/// The OpenFn adaptor version a built-in adaptor matches (`1.2.2` for `openlmis`), by
/// any name [`builtin`] takes.
pub fn builtin_version(name: &str) -> Option<&'static str> {
    let name = builtin_name(name)?;
    BUILTIN_VERSIONS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The names of the built-in adaptors.
pub fn builtin_adaptors() -> Vec<&'static str> {
    BUILTIN.iter().map(|(name, _, _)| *name).collect()
}

/// The component of a built-in adaptor. Accepts the short name (`openlmis`) and
/// OpenFn's package names (`@openfn/language-openlmis`, with or without `@version`).
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    builtin_with_digest(name).map(|(bytes, _)| bytes)
}

/// A built-in adaptor's component and the SHA-256 of it (hex).
fn builtin_with_digest(name: &str) -> Option<(&'static [u8], &'static str)> {
    let name = builtin_name(name)?;
    BUILTIN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, bytes, digest)| (*bytes, *digest))
}

/// The short name of a built-in adaptor named as `builtin` takes it.
fn builtin_name(name: &str) -> Option<&str> {
    let name = name.strip_prefix("@openfn/").unwrap_or(name);
    let name = name.split('@').next().unwrap_or(name);
    let name = name.strip_prefix("language-").unwrap_or(name);
    BUILTIN.iter().any(|(n, _, _)| *n == name).then_some(name)
}
