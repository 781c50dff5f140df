//! A wasmtime host for OpenFn-style adaptors compiled to WebAssembly components.
//!
//! Adaptors are components whose world includes `openfn:adaptor/base` (outgoing HTTP,
//! a log, and nothing else) and export an `operations` interface of functions
//! `name: func(state: json, ...) -> result<json, error>`. The host discovers the
//! operations by reflection, so a new adaptor needs no host change.
//!
//! Every job runs in a fresh sandbox: a new store and instance, a memory limit, a CPU
//! and wall-clock limit, caps on requests, response size and log volume, and a
//! network policy that lets it reach only the origins its configuration names.
//! Configuration values never reach the output state, logs or error messages.
//!
//! ```no_run
//! # async fn example() -> Result<(), adaptor_host::Error> {
//! use adaptor_host::{Host, HostOptions, Job, RunOptions, run_job};
//! use serde_json::json;
//!
//! let host = Host::new(HostOptions::default())?;
//! let adaptor = host.load_builtin("openlmis")?;
//! let job = Job::parse(r#"[{"get": ["programs"]}]"#)?;
//! let state = json!({"configuration": {
//!     "baseUrl": "https://demo-v3.openlmis.org", "username": "administrator",
//!     "password": "password", "clientId": "user-client", "clientSecret": "changeme"}});
//! let outcome = run_job(&host, &adaptor, &job, state, &RunOptions::default()).await;
//! println!("{}", outcome.state);
//! # Ok(()) }
//! ```

mod adaptor;
mod cache;
mod engine;
mod error;
mod job;
mod names;
mod redact;
mod sandbox;
mod session;
mod values;
pub mod webhook;
pub mod workflow;

pub use adaptor::{ALLOWED_IMPORTS, Adaptor, Operation, Param};
pub use engine::{Host, HostOptions, MAX_CONCURRENT_JOBS};
pub use error::{Error, Result};
pub use job::builtins::NAMES as BUILTIN_OPERATIONS;
pub use job::runner::{Outcome, RunOptions, run as run_job};
pub use job::{Job, Step};
pub use redact::{MASK, Redactor};
pub use sandbox::limits::{Limit, Limits, MAX_MEMORY_BYTES};
pub use sandbox::policy::{AllowRule, Policy};
pub use session::Session;

/// The adaptors compiled into this binary by `build.rs`, by short name.
const BUILTIN: [(&str, &[u8]); 2] = [
    ("openlmis", include_bytes!(env!("OPENLMIS_WASM"))),
    ("opencrvs", include_bytes!(env!("OPENCRVS_WASM"))),
];

/// The WIT doc comments of the built-in adaptors, from `build.rs`.
const DOCS: &str = include_str!(concat!(env!("OUT_DIR"), "/docs.json"));

/// The documentation of a built-in adaptor (by short name): its interface's doc
/// comment, and each operation's by WIT name. Components carry no docs, so adaptors
/// loaded from a path have none.
pub fn builtin_docs(name: &str) -> Option<(String, Vec<(String, String)>)> {
    let all: serde_json::Value = serde_json::from_str(DOCS).expect("build.rs writes valid JSON");
    let name = name.strip_prefix("@openfn/").unwrap_or(name);
    let name = name.split('@').next().unwrap_or(name);
    let docs = &all[name.strip_prefix("language-").unwrap_or(name)];
    let operations = docs["operations"]
        .as_object()?
        .iter()
        .map(|(op, text)| (op.clone(), text.as_str().unwrap_or_default().to_string()))
        .collect();
    Some((docs["interface"].as_str().unwrap_or_default().to_string(), operations))
}

/// The names of the built-in adaptors.
pub fn builtin_adaptors() -> Vec<&'static str> {
    BUILTIN.iter().map(|(name, _)| *name).collect()
}

/// The component of a built-in adaptor. Accepts the short name (`openlmis`) and
/// OpenFn's package names (`@openfn/language-openlmis`, with or without `@version`).
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    let name = name.strip_prefix("@openfn/").unwrap_or(name);
    let name = name.split('@').next().unwrap_or(name);
    let name = name.strip_prefix("language-").unwrap_or(name);
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}
