//! `adaptor-host serve`: receives OpenCRVS webhook deliveries and runs a job for each
//! accepted event, with the event as `state.data`.
//!
//! - `GET <any path>?mode=subscribe&challenge=X&topic=T` answers `{"challenge": X}`,
//!   which OpenCRVS requires before it accepts a subscription.
//! - `POST <any path>` is a delivery: the `X-Hub-Signature` is checked (constant time)
//!   with `configuration.shaSecret`; a missing or wrong one gets 401 and a warning. An
//!   accepted delivery is written to the spool and synced before the 200, so a job
//!   failure or a restart loses nothing; pending events are replayed on start, and a
//!   body already spooled is not run twice (see `webhook::spool`).
//! - Hostile traffic: at most `--max-connections` connections at once (never more than
//!   half the open-file limit), headers within `--header-timeout`, bodies within
//!   `--body-timeout`; a slow or idle connection is closed, not kept.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adaptor_host::webhook::{Attempt, Spool, SpoolOptions, Spooled, verify};
use adaptor_host::{Cancel, Credentials, Reason};
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use super::job_args::{JobArgs, Prepared};
use super::units::duration;
use super::{BAD_INPUT, report};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    job: JobArgs,

    /// Address to listen on (port 0 picks a free port; the address is logged).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Directory of the spool: accepted events wait in pending/ until their job ran,
    /// then move to done/ or failed/ (or dead/, see --max-attempts).
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,

    /// Write each job's output state here, named after its event.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,

    /// Largest delivery body accepted, in KiB (larger ones get 413).
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    max_body_size: usize,

    /// Finished events kept in each of done/ and failed/; older ones are deleted, and
    /// a delivery of one of them is no longer recognised as a duplicate.
    #[arg(long, value_name = "EVENTS", default_value_t = 10_000)]
    retention: usize,

    /// Times an event's job may start without finishing (the process stopped during
    /// it) before the event moves to dead/ and is no longer replayed.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,

    /// Connections served at once; more wait until one closes. Never more than half
    /// the process's open-file limit (RLIMIT_NOFILE), so the spool and the jobs always
    /// have file descriptors left.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,

    /// How long a connection may take to send a request's headers (also how long an
    /// idle connection is kept), with a unit: 10s.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    header_timeout: String,

    /// How long a delivery may take to send its body, with a unit: 30s.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    body_timeout: String,
}

/// What the receiver needs.
struct Receiver {
    secret: String,
    spool: Spool,
    queue: mpsc::UnboundedSender<Spooled>,
    max_body: usize,
    body_timeout: Duration,
}

/// `--max-connections`, bounded by half the open-file limit.
fn connection_cap(wanted: u64) -> usize {
    let cap = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) if soft / 2 < wanted => {
            tracing::warn!(
                wanted,
                open_file_limit = soft,
                "--max-connections is above half the open-file limit; serving at most {} connections at once",
                (soft / 2).max(1)
            );
            (soft / 2).max(1)
        }
        Ok(_) => wanted,
        Err(e) => {
            tracing::warn!("cannot read the open-file limit: {e}");
            wanted
        }
    };
    usize::try_from(cap).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS)
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    let setup = args.job.prepare().and_then(|prepared| {
        let secret = match &prepared.credentials {
            Credentials::Configuration(c) => c["shaSecret"].as_str().map(str::to_string),
            _ => None,
        }
            .ok_or("configuration.shaSecret is missing: expected the client's SHA secret, which signs deliveries (give it with --credentials)")?;
        let header_timeout = duration("--header-timeout", &args.header_timeout)?;
        let body_timeout = duration("--body-timeout", &args.body_timeout)?;
        let options = SpoolOptions {
            retention: args.retention,
            max_attempts: args.max_attempts,
        };
        let spool = Spool::open_with(&args.spool, options)
            .map_err(|e| format!("cannot open the spool {}: {e}", args.spool.display()))?;
        if let Some(dir) = &args.output_dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok((prepared, secret, spool, header_timeout, body_timeout))
    });
    let (prepared, secret, spool, header_timeout, body_timeout) = match setup {
        Ok(ready) => ready,
        Err(message) => {
            report(&message);
            return ExitCode::from(BAD_INPUT);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            report(&format!("cannot listen on {}: {e}", args.listen));
            return ExitCode::from(BAD_INPUT);
        }
    };

    let (queue, events) = mpsc::unbounded_channel();
    let pending = spool.pending().unwrap_or_default();
    if !pending.is_empty() {
        tracing::info!(events = pending.len(), "replaying events left in the spool");
    }
    for event in pending {
        let _ = queue.send(event);
    }
    // The worker runs beside the server in this task (not spawned): one job at a time.
    let worker = work(&prepared, spool.clone(), args.output_dir.clone(), events);

    let receiver = Arc::new(Receiver {
        secret,
        spool,
        queue,
        max_body: args.max_body_size << 10,
        body_timeout,
    });
    let app = Router::new().fallback(receive).with_state(receiver);
    match listener.local_addr() {
        Ok(addr) => eprintln!("adaptor-host: listening on http://{addr}"),
        Err(e) => tracing::warn!("cannot read the listening address: {e}"),
    }
    let connections = Arc::new(Semaphore::new(connection_cap(args.max_connections)));
    let server = accept(listener, app, connections, header_timeout);
    // The worker only ends if the server does (its queue is the server's).
    tokio::select! {
        () = server => {}
        () = worker => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}

/// Accepts connections while fewer than `connections` permits are taken, and serves
/// each with HTTP/1.1 under a header read timeout (the body's is in [`receive`]). A
/// connection over the cap waits in the kernel's backlog, holding no descriptor of
/// ours, until one closes; slow or idle ones close at the timeout.
async fn accept(listener: tokio::net::TcpListener, app: Router, connections: Arc<Semaphore>, header_timeout: Duration) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let mut full = false;
    loop {
        let permit = match Arc::clone(&connections).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !std::mem::replace(&mut full, true) {
                    tracing::warn!("at --max-connections: new connections wait until one closes");
                }
                Arc::clone(&connections)
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        full = false;
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (another part of the process holds them) or a
                // connection reset before it was accepted: try again shortly.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a connection ended: {e}");
            }
            drop(permit);
        });
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

/// Whether reading a body failed because it was longer than the limit.
fn too_long(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Answers challenges and takes deliveries.
async fn receive(State(receiver): State<Arc<Receiver>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    match parts.method {
        Method::GET => {
            let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
                .map(|q| q.0)
                .unwrap_or_default();
            match (query.get("mode").map(String::as_str), query.get("challenge")) {
                (Some("subscribe"), Some(challenge)) => {
                    tracing::info!(
                        topic = query.get("topic").map(String::as_str),
                        "answered a subscription challenge"
                    );
                    axum::Json(json!({"challenge": challenge})).into_response()
                }
                _ => (StatusCode::BAD_REQUEST, "expected ?mode=subscribe&challenge=...").into_response(),
            }
        }
        Method::POST => {
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > receiver.max_body as u64) {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the delivery is larger than --max-body-size",
                );
            }
            let body = match tokio::time::timeout(receiver.body_timeout, axum::body::to_bytes(body, receiver.max_body))
                .await
            {
                Ok(Ok(body)) => body,
                Ok(Err(e)) if too_long(&e) => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the delivery is larger than --max-body-size",
                    );
                }
                Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, &format!("cannot read the delivery: {e}")),
                Err(_) => {
                    tracing::warn!("closed a connection whose delivery body did not arrive within --body-timeout");
                    return error(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time");
                }
            };
            let signature = parts.headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
            if let Err(why) = verify(&receiver.secret, &body, signature) {
                tracing::warn!("rejected a delivery: {why}");
                return error(StatusCode::UNAUTHORIZED, &why.to_string());
            }
            if serde_json::from_slice::<Value>(&body).is_err() {
                return error(StatusCode::BAD_REQUEST, "the delivery is not JSON");
            }
            let spool = receiver.spool.clone();
            let accepted = tokio::task::spawn_blocking(move || spool.accept(&body))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            match accepted {
                Ok(Some(event)) => {
                    tracing::info!(event = %event.name(), "accepted a delivery");
                    let _ = receiver.queue.send(event);
                    axum::Json(json!({"accepted": true})).into_response()
                }
                Ok(None) => {
                    tracing::info!("a delivery already received came again; not running it twice");
                    axum::Json(json!({"accepted": true, "duplicate": true})).into_response()
                }
                Err(e) => {
                    tracing::error!("cannot write the spool: {e}");
                    error(StatusCode::INTERNAL_SERVER_ERROR, "cannot store the delivery")
                }
            }
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// Runs the job for each event, in order, one at a time.
async fn work(
    prepared: &Prepared,
    spool: Spool,
    output_dir: Option<PathBuf>,
    mut events: mpsc::UnboundedReceiver<Spooled>,
) {
    while let Some(event) = events.recv().await {
        // Counted before the job starts, so a job that takes the process down counts.
        match spool.begin(&event) {
            Ok(Attempt::Run(1)) => {}
            Ok(Attempt::Run(n)) => {
                tracing::warn!(event = %event.name(), attempt = n, "running an event again: its last run never finished")
            }
            Ok(Attempt::Dead(n)) => {
                tracing::error!(
                    event = %event.name(),
                    attempts = n,
                    "an event's job never finished in {n} attempts: moved it to dead/, it will not run again"
                );
                continue;
            }
            Err(e) => {
                tracing::error!(event = %event.name(), "cannot record the attempt, not running it now: {e}");
                continue;
            }
        }
        let data = match std::fs::read(&event.path).map(|b| serde_json::from_slice::<Value>(&b)) {
            Ok(Ok(data)) => data,
            Ok(Err(e)) => {
                tracing::error!(event = %event.name(), "a spooled event is not JSON: {e}");
                let _ = spool.finish(&event, false);
                continue;
            }
            Err(e) => {
                tracing::error!(event = %event.name(), "cannot read a spooled event: {e}");
                continue;
            }
        };
        let outcome = prepared
            .execute(&event.name(), json!({"data": data}), &Cancel::new())
            .await;
        let succeeded = outcome.report.reason == Reason::Success;
        match &outcome.report.error_message {
            None => tracing::info!(event = %event.name(), "the job succeeded"),
            Some(why) => tracing::warn!(
                event = %event.name(),
                reason = %outcome.report.reason,
                "the job failed ({why}); the event is kept in failed/"
            ),
        }
        if let Some(dir) = &output_dir {
            let text = serde_json::to_string_pretty(&outcome.state.into_value()).expect("JSON values serialize");
            if let Err(e) = std::fs::write(dir.join(event.name()), text) {
                tracing::error!("cannot write the output state: {e}");
            }
        }
        if let Err(e) = spool.finish(&event, succeeded) {
            tracing::error!(event = %event.name(), "cannot move the event out of pending/: {e}");
        }
    }
}
