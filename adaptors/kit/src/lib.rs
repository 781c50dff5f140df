//! The guest-side library every adaptor is built on.
//!
//! An adaptor crate generates its bindings with [`bindings!`], implements its
//! `operations` as thin functions over this kit, and keeps nothing else:
//!
//! - [`http`]: blocking HTTP over `wasi:http` (the only network an adaptor has);
//! - [`url`]: joining a configured base URL and an operation's path, keeping the base
//!   path, and refusing absolute URLs where a path was expected;
//! - [`request`]: one HTTP operation end to end: options, status check, body parsing
//!   and the operation's [`Output`];
//! - [`config`]: the job's configuration, received once, and the
//!   `openfn:adaptor/configuration` export ([`export_configuration!`]);
//! - [`output`]: what an operation returns (`data` and the exchange); the host composes
//!   OpenFn state from it;
//! - [`retry`]: bounded retries with backoff for requests that may be repeated;
//! - [`auth`]: the per-instance token cache;
//! - [`error`]: the WIT `error` and constructors that never carry a secret;
//! - [`log`]: the host's structured log.
//!
//! Nothing here is specific to one API.

pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod log;
pub mod output;
pub mod request;
pub mod retry;
pub mod url;
pub mod wit;

pub use error::Error;
pub use output::Output;

/// An operation's result as the WIT export returns it.
pub fn finish(result: Result<Output, Error>) -> Result<wit::types::Output, Error> {
    result.map(Output::into_wit)
}

#[doc(hidden)]
pub mod __private {
    pub use wasip2;
    pub use wit_bindgen;
}

/// Generates an adaptor's bindings for `world`, reusing the kit's shared types and
/// `wasip2`'s WASI bindings so that every adaptor speaks the same Rust types.
///
/// `path` defaults to the repository's `wit/` folder as seen from `adaptors/<name>`.
#[macro_export]
macro_rules! bindings {
    ($world:literal) => {
        $crate::bindings!($world, "../../wit");
    };
    ($world:literal, $path:literal) => {
        $crate::__private::wit_bindgen::generate!({
            world: $world,
            path: $path,
            runtime_path: "::kit::__private::wit_bindgen::rt",
            with: {
                "openfn:adaptor/types@0.2.0": ::kit::wit::types,
                "openfn:adaptor/host@0.2.0": ::kit::wit::host,
                "wasi:io/error@0.2.12": ::kit::__private::wasip2::io::error,
                "wasi:io/poll@0.2.12": ::kit::__private::wasip2::io::poll,
                "wasi:io/streams@0.2.12": ::kit::__private::wasip2::io::streams,
                "wasi:clocks/monotonic-clock@0.2.12": ::kit::__private::wasip2::clocks::monotonic_clock,
                "wasi:clocks/wall-clock@0.2.12": ::kit::__private::wasip2::clocks::wall_clock,
                "wasi:random/random@0.2.12": ::kit::__private::wasip2::random::random,
                "wasi:random/insecure@0.2.12": ::kit::__private::wasip2::random::insecure,
                "wasi:random/insecure-seed@0.2.12": ::kit::__private::wasip2::random::insecure_seed,
                "wasi:cli/environment@0.2.12": ::kit::__private::wasip2::cli::environment,
                "wasi:cli/exit@0.2.12": ::kit::__private::wasip2::cli::exit,
                "wasi:cli/stdin@0.2.12": ::kit::__private::wasip2::cli::stdin,
                "wasi:cli/stdout@0.2.12": ::kit::__private::wasip2::cli::stdout,
                "wasi:cli/stderr@0.2.12": ::kit::__private::wasip2::cli::stderr,
                "wasi:cli/terminal-input@0.2.12": ::kit::__private::wasip2::cli::terminal_input,
                "wasi:cli/terminal-output@0.2.12": ::kit::__private::wasip2::cli::terminal_output,
                "wasi:cli/terminal-stdin@0.2.12": ::kit::__private::wasip2::cli::terminal_stdin,
                "wasi:cli/terminal-stdout@0.2.12": ::kit::__private::wasip2::cli::terminal_stdout,
                "wasi:cli/terminal-stderr@0.2.12": ::kit::__private::wasip2::cli::terminal_stderr,
                "wasi:http/types@0.2.12": ::kit::__private::wasip2::http::types,
                "wasi:http/outgoing-handler@0.2.12": ::kit::__private::wasip2::http::outgoing_handler,
            },
        });
    };
}
