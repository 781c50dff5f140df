//! `adaptor-host serve`: receives OpenCRVS webhook deliveries and runs a job for each
//! accepted event, with the event as `state.data`.
//!
//! - `GET <any path>?mode=subscribe&challenge=X&topic=T` answers `{"challenge": X}`,
//!   which OpenCRVS requires before it accepts a subscription.
//! - `POST <any path>` is a delivery: the `X-Hub-Signature` is checked (constant time)
//!   with `configuration.shaSecret`; a missing or wrong one gets 401 and a warning. An
//!   accepted delivery is written to the spool and synced before the 200, so a job
//!   failure or a restart loses nothing; pending events are replayed on start, and a
//!   body already spooled is not run twice.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use adaptor_host::webhook::{Spool, Spooled, verify};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::job_args::{JobArgs, Prepared};
use super::{BAD_INPUT, report};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    job: JobArgs,

    /// Address to listen on (port 0 picks a free port; the address is logged).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Directory of the spool: accepted events wait in pending/ until their job ran,
    /// then move to done/ or failed/.
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,

    /// Write each job's output state here, named after its event.
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,

    /// Largest delivery body accepted, in KiB (larger ones get 413).
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    max_body_size: usize,
}

/// What the receiver needs.
struct Receiver {
    secret: String,
    spool: Spool,
    queue: mpsc::UnboundedSender<Spooled>,
}

pub async fn serve(args: ServeArgs) -> ExitCode {
    let setup = args.job.prepare().and_then(|prepared| {
        let secret = prepared
            .configuration
            .as_ref()
            .and_then(|c| c["shaSecret"].as_str())
            .map(str::to_string)
            .ok_or("configuration.shaSecret is missing: expected the client's SHA secret, which signs deliveries (give it with --credentials)")?;
        let spool = Spool::open(&args.spool).map_err(|e| format!("cannot open the spool {}: {e}", args.spool.display()))?;
        if let Some(dir) = &args.output_dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok((prepared, secret, spool))
    });
    let (prepared, secret, spool) = match setup {
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

    let receiver = Arc::new(Receiver { secret, spool, queue });
    let app = Router::new()
        .fallback(receive)
        .layer(DefaultBodyLimit::max(args.max_body_size << 10))
        .with_state(receiver);
    match listener.local_addr() {
        Ok(addr) => eprintln!("adaptor-host: listening on http://{addr}"),
        Err(e) => tracing::warn!("cannot read the listening address: {e}"),
    }
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    // The worker only ends if the server does (its queue is the server's).
    let served = tokio::select! {
        served = server => served,
        () = worker => Ok(()),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&format!("the server stopped: {e}"));
            ExitCode::from(BAD_INPUT)
        }
    }
}

/// Answers challenges and takes deliveries.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    method: Method,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match method {
        Method::GET => match (query.get("mode").map(String::as_str), query.get("challenge")) {
            (Some("subscribe"), Some(challenge)) => {
                tracing::info!(
                    topic = query.get("topic").map(String::as_str),
                    "answered a subscription challenge"
                );
                axum::Json(json!({"challenge": challenge})).into_response()
            }
            _ => (StatusCode::BAD_REQUEST, "expected ?mode=subscribe&challenge=...").into_response(),
        },
        Method::POST => {
            let signature = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
            if let Err(why) = verify(&receiver.secret, &body, signature) {
                tracing::warn!("rejected a delivery: {why}");
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": why.to_string()}))).into_response();
            }
            if serde_json::from_slice::<Value>(&body).is_err() {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": "the delivery is not JSON"})),
                )
                    .into_response();
            }
            match receiver.spool.accept(&body) {
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
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        axum::Json(json!({"error": "cannot store the delivery"})),
                    )
                        .into_response()
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
        let (output, failure) = prepared.execute(json!({"data": data})).await;
        let succeeded = failure.is_none();
        match failure {
            None => tracing::info!(event = %event.name(), "the job succeeded"),
            Some(why) => tracing::warn!(event = %event.name(), "the job failed ({why}); the event is kept in failed/"),
        }
        if let Some(dir) = &output_dir {
            let text = serde_json::to_string_pretty(&output).expect("JSON values serialize");
            if let Err(e) = std::fs::write(dir.join(event.name()), text) {
                tracing::error!("cannot write the output state: {e}");
            }
        }
        if let Err(e) = spool.finish(&event, succeeded) {
            tracing::error!(event = %event.name(), "cannot move the event out of pending/: {e}");
        }
    }
}
