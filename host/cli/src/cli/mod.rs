//! The command line: argument definitions, logging set-up and dispatch.

mod batch;
mod demo;
mod docs;
mod job_args;
mod list;
mod run;
mod serve;
mod units;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Runs OpenFn-style jobs on sandboxed WebAssembly adaptors.
///
/// Exit status: 0 when the job succeeded, 1 when it failed or was stopped by a limit
/// (the output state is still written, with `errors`), 2 when the input was unusable
/// (bad flags or files, an adaptor that does not load), 130 when it was cancelled
/// (Ctrl-C or SIGTERM; the state reached so far is written).
#[derive(Debug, Parser)]
#[command(name = "adaptor-host", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log level, as OpenFn's CLI names them (none, default, info, debug) or error,
    /// warn, trace. `default` is info.
    ///
    /// Logs go to stderr; every configuration value is masked in them.
    #[arg(short = 'l', long, global = true, default_value = "default", value_name = "LEVEL", value_parser = log_level)]
    log: LogLevel,

    /// Write logs as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job against an adaptor.
    Run(run::RunArgs),
    /// List the built-in adaptors, or one adaptor's operations.
    List(list::ListArgs),
    /// Show an adaptor's operations with their documentation.
    Docs(docs::DocsArgs),
    /// Receive OpenCRVS webhook deliveries and run a job for each accepted event.
    Serve(serve::ServeArgs),
    /// Run the examples against local simulators (started and stopped here) and print
    /// their output states.
    Demo(demo::DemoArgs),
    /// Work for OpenFn Lightning: claim runs over its worker socket and run them.
    Worker(worker::WorkerArgs),
}

/// What the binary does.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log, cli.log_json);
    // One run (a job or a workflow) does one thing at a time: a single-threaded runtime
    // starts no worker threads and wakes none across cores (a cached cold run: 5.3 ms
    // against 6.0 ms). Batches, serve, the worker and the demo run jobs concurrently.
    let mut builder = match &cli.command {
        Command::Run(args) if !args.is_batch() => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("adaptor-host: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::List(args) => list::list(args),
            Command::Docs(args) => docs::docs(args).await,
            Command::Demo(args) => demo::demo(args).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Worker(args) => worker::worker(args).await,
        }
    })
}

/// A log level: `None` for OpenFn's `none` (no logs).
#[derive(Debug, Clone, Copy)]
struct LogLevel(Option<tracing::Level>);

/// Parses OpenFn's `none` and `default` (info), or a tracing level.
fn log_level(text: &str) -> Result<LogLevel, String> {
    match text.to_ascii_lowercase().as_str() {
        "none" => Ok(LogLevel(None)),
        "default" => Ok(LogLevel(Some(tracing::Level::INFO))),
        other => other.parse().map(|level| LogLevel(Some(level))).map_err(|_| {
            format!("unknown log level {text:?}: expected none, default, info, debug, warn, error or trace")
        }),
    }
}

fn init_logging(LogLevel(level): LogLevel, json: bool) {
    // The host (and the adaptors' log lines, which it emits) at the chosen level;
    // wasmtime and the HTTP stack only when something is wrong.
    let filter = match level {
        Some(level) => EnvFilter::new(format!("adaptor_host={level},warn")),
        None => EnvFilter::new("off"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}

/// Prints `adaptor-host: message` to stderr.
fn report(message: &str) {
    eprintln!("adaptor-host: {message}");
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. While it waits, neither signal ends the
/// process.
async fn terminated() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// The exit status of a failed job.
const JOB_FAILED: u8 = 1;
/// The exit status of unusable input.
const BAD_INPUT: u8 = 2;
/// The exit status of a cancelled run (128 + SIGINT, as shells report Ctrl-C).
const CANCELLED: u8 = 130;

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
