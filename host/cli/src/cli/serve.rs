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
//! - Jobs: up to `--concurrency` at once, each event's in its own task and sandbox,
//!   started in arrival order. Events about the same record (the OpenCRVS Task's
//!   focus, see `webhook::record_of`: registered, then certified, then corrected) run
//!   one after another in arrival order, as they did when all jobs ran one at a time.
//!   An event is queued once (the spool refuses a second copy of its body), so its
//!   job never runs twice at once.
//! - Shutdown (SIGTERM or Ctrl-C): no new connections and no new jobs; running jobs get
//!   `--grace` to finish, then are cancelled, their events staying in `pending/` with
//!   the attempt given back; a second signal cancels them at once. Events not started
//!   stay in `pending/`. Everything in `pending/` runs after a restart.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use adaptor_host::webhook::{Attempt, Spool, SpoolOptions, Spooled, record_of, verify};
use adaptor_host::{Cancel, Credentials, Reason, RunOutcome};
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{Id, JoinSet};
use tracing::Instrument as _;

use super::job_args::{JobArgs, Prepared};
use super::units::duration;
use super::{BAD_INPUT, report, terminated};

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

    /// After SIGTERM or Ctrl-C, how long running jobs may take to finish before they
    /// are cancelled (their events stay pending and run after a restart), with a
    /// unit: 30s.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    grace: String,
}

/// What the receiver needs.
struct Receiver {
    secret: String,
    spool: Spool,
    queue: mpsc::UnboundedSender<Queued>,
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
        let grace = duration("--grace", &args.grace)?;
        let options = SpoolOptions {
            retention: args.retention,
            max_attempts: args.max_attempts,
        };
        let spool = Spool::open_with(&args.spool, options)
            .map_err(|e| format!("cannot open the spool {}: {e}", args.spool.display()))?;
        if let Some(dir) = &args.output_dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok((prepared, secret, spool, (header_timeout, body_timeout, grace)))
    });
    let (prepared, secret, spool, (header_timeout, body_timeout, grace)) = match setup {
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

    // From here on a signal stops the receiver instead of killing the process.
    let (stop, kill) = (Cancel::new(), Cancel::new());
    tokio::spawn(stop_on_signals(stop.clone(), kill.clone()));

    let (queue, events) = mpsc::unbounded_channel();
    let pending = spool.pending().unwrap_or_default();
    if !pending.is_empty() {
        tracing::info!(events = pending.len(), "replaying events left in the spool");
    }
    for event in pending {
        let _ = queue.send(Queued::read(event));
    }
    // The host's job slots were sized from --concurrency: a job never waits for one.
    let slots = prepared.host.max_concurrent_jobs() as usize;
    let jobs = Arc::new(Jobs {
        prepared,
        spool: spool.clone(),
        output_dir: args.output_dir.clone(),
    });
    let worker = tokio::spawn(work(jobs, events, slots, stop.clone(), kill, grace));

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
    tokio::select! {
        () = server => {}
        () = stop.cancelled() => {}
    }
    // The listener is closed: new connections are refused. A delivery still arriving on
    // an open connection is spooled and waits in pending/ for the next start.
    if let Err(e) = worker.await {
        tracing::error!("the job runner failed: {e}");
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Sets `stop` at the first SIGTERM or Ctrl-C and `kill` at the second.
async fn stop_on_signals(stop: Cancel, kill: Cancel) {
    terminated().await;
    tracing::info!(
        "stopping: no new connections or jobs; running jobs get --grace to finish (a second signal cancels them)"
    );
    stop.cancel();
    terminated().await;
    tracing::warn!("a second signal: cancelling the running jobs");
    kill.cancel();
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
            let record = match serde_json::from_slice::<Value>(&body) {
                Ok(data) => record_of(&data),
                Err(_) => return error(StatusCode::BAD_REQUEST, "the delivery is not JSON"),
            };
            let spool = receiver.spool.clone();
            let accepted = tokio::task::spawn_blocking(move || spool.accept(&body))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            match accepted {
                Ok(Some(event)) => {
                    tracing::info!(event = %event.name(), "accepted a delivery");
                    let _ = receiver.queue.send(Queued { event, record });
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

/// What each event's job needs.
struct Jobs {
    prepared: Prepared,
    spool: Spool,
    output_dir: Option<PathBuf>,
}

/// An accepted event waiting for its job, with the record it is about ([`record_of`]).
struct Queued {
    event: Spooled,
    record: Option<String>,
}

impl Queued {
    /// The event at `event.path`, with the record its body names (read from disk: for
    /// events replayed on start).
    fn read(event: Spooled) -> Queued {
        let body = std::fs::read(&event.path).ok();
        let record = body
            .and_then(|body| serde_json::from_slice::<Value>(&body).ok())
            .and_then(|data| record_of(&data));
        Queued { event, record }
    }
}

/// Which events may start: in arrival order, one event per record at a time.
#[derive(Default)]
struct Lanes {
    /// Events that may start now, in arrival order.
    ready: VecDeque<Queued>,
    /// Records with an event ready or running, each with its later events in arrival
    /// order.
    busy: HashMap<String, VecDeque<Spooled>>,
}

impl Lanes {
    /// Queues an event: ready, unless an earlier event about the same record is ready
    /// or running (then it waits for that one's job to end).
    fn push(&mut self, queued: Queued) {
        let Some(record) = &queued.record else {
            self.ready.push_back(queued);
            return;
        };
        match self.busy.get_mut(record) {
            Some(later) => later.push_back(queued.event),
            None => {
                self.busy.insert(record.clone(), VecDeque::new());
                self.ready.push_back(queued);
            }
        }
    }

    /// The job of an event about `record` ended: the record's next event becomes ready,
    /// or the record is free.
    fn done(&mut self, record: String) {
        let next = self.busy.get_mut(&record).and_then(VecDeque::pop_front);
        match next {
            Some(event) => self.ready.push_back(Queued {
                event,
                record: Some(record),
            }),
            None => {
                self.busy.remove(&record);
            }
        }
    }
}

/// Takes events as they come and starts each one's job in its own task while fewer
/// than `slots` run, in arrival order but never two about the same record at once,
/// until `stop`. Then gives the running jobs `grace` to finish and cancels those left
/// (through `kill`, which a second signal sets earlier). Events not started stay in
/// pending/.
async fn work(
    jobs: Arc<Jobs>,
    mut events: mpsc::UnboundedReceiver<Queued>,
    slots: usize,
    stop: Cancel,
    kill: Cancel,
    grace: Duration,
) {
    let mut lanes = Lanes::default();
    let mut running = JoinSet::new();
    let mut records: HashMap<Id, String> = HashMap::new();
    loop {
        while running.len() < slots {
            let Some(next) = lanes.ready.pop_front() else { break };
            let span = tracing::info_span!("event", name = %next.event.name());
            let (jobs, kill, event) = (Arc::clone(&jobs), kill.clone(), next.event);
            let task = running.spawn(async move { run_event(&jobs, event, &kill).await }.instrument(span));
            if let Some(record) = next.record {
                records.insert(task.id(), record);
            }
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            Some(ended) = running.join_next_with_id() => {
                if let Some(record) = records.remove(&task_id(ended)) {
                    lanes.done(record);
                }
            }
            queued = events.recv() => match queued {
                Some(queued) => lanes.push(queued),
                None => break,
            },
        }
    }
    if running.is_empty() {
        return;
    }
    tracing::info!(jobs = running.len(), "waiting up to --grace for the running jobs");
    if tokio::time::timeout(grace, drain(&mut running)).await.is_err() {
        tracing::warn!(
            jobs = running.len(),
            "--grace is over: cancelling the running jobs; their events stay in pending/"
        );
        kill.cancel();
        drain(&mut running).await;
    }
}

/// Waits for every task in `running`.
async fn drain(running: &mut JoinSet<()>) {
    while let Some(ended) = running.join_next_with_id().await {
        task_id(ended);
    }
}

/// The id of a job task that ended; logs one that panicked (its event stays in
/// pending/ with its attempt counted, as after a crash, and runs after a restart).
fn task_id(ended: Result<(Id, ()), tokio::task::JoinError>) -> Id {
    match ended {
        Ok((id, ())) => id,
        Err(e) => {
            tracing::error!("an event's job task failed; the event stays in pending/: {e}");
            e.id()
        }
    }
}

/// Runs one event's job and records how it ended: the event moves to done/ or failed/,
/// or stays in pending/ with its attempt given back when `kill` cancelled it.
async fn run_event(jobs: &Jobs, event: Spooled, kill: &Cancel) {
    let name = event.name();
    let spool = jobs.spool.clone();
    let started = tokio::task::spawn_blocking(move || start(&spool, &event).map(|data| (event, data))).await;
    let (event, data) = match started {
        Ok(Some(started)) => started,
        Ok(None) => return,
        Err(e) => {
            tracing::error!("cannot start the event's job: {e}");
            return;
        }
    };
    let outcome = jobs.prepared.execute(&name, json!({"data": data}), kill).await;
    let spool = jobs.spool.clone();
    if outcome.report.reason == Reason::Cancel {
        let released = tokio::task::spawn_blocking(move || spool.release(&event))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match released {
            Ok(()) => tracing::warn!("the shutdown cancelled the job; the event stays in pending/"),
            Err(e) => tracing::error!("the shutdown cancelled the job; cannot give its attempt back: {e}"),
        }
        return;
    }
    let output_dir = jobs.output_dir.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || finish(&spool, &event, output_dir.as_deref(), outcome)).await {
        tracing::error!("cannot record the end of the job: {e}");
    }
}

/// Records the attempt and reads the event: its data, or `None` when it must not run
/// now (dead-lettered, unreadable, not JSON).
fn start(spool: &Spool, event: &Spooled) -> Option<Value> {
    // Counted before the job starts, so a job that takes the process down counts.
    match spool.begin(event) {
        Ok(Attempt::Run(1)) => {}
        Ok(Attempt::Run(n)) => {
            tracing::warn!(attempt = n, "running an event again: its last run never finished")
        }
        Ok(Attempt::Dead(n)) => {
            tracing::error!(
                attempts = n,
                "an event's job never finished in {n} attempts: moved it to dead/, it will not run again"
            );
            return None;
        }
        Err(e) => {
            tracing::error!("cannot record the attempt, not running it now: {e}");
            return None;
        }
    }
    match std::fs::read(&event.path).map(|b| serde_json::from_slice::<Value>(&b)) {
        Ok(Ok(data)) => Some(data),
        Ok(Err(e)) => {
            tracing::error!("a spooled event is not JSON: {e}");
            let _ = spool.finish(event, false);
            None
        }
        Err(e) => {
            tracing::error!("cannot read a spooled event: {e}");
            None
        }
    }
}

/// Logs how the job ended, writes its output state and moves the event to done/ or
/// failed/.
fn finish(spool: &Spool, event: &Spooled, output_dir: Option<&std::path::Path>, outcome: RunOutcome) {
    let succeeded = outcome.report.reason == Reason::Success;
    match &outcome.report.error_message {
        None => tracing::info!("the job succeeded"),
        Some(why) => tracing::warn!(
            reason = %outcome.report.reason,
            "the job failed ({why}); the event is kept in failed/"
        ),
    }
    if let Some(dir) = output_dir {
        let text = serde_json::to_string_pretty(&outcome.state.into_value()).expect("JSON values serialize");
        if let Err(e) = std::fs::write(dir.join(event.name()), text) {
            tracing::error!("cannot write the output state: {e}");
        }
    }
    if let Err(e) = spool.finish(event, succeeded) {
        tracing::error!("cannot move the event out of pending/: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(name: &str, record: Option<&str>) -> Queued {
        Queued {
            event: Spooled {
                path: PathBuf::from(name),
            },
            record: record.map(str::to_string),
        }
    }

    fn ready(lanes: &mut Lanes) -> Vec<String> {
        lanes.ready.drain(..).map(|q| q.event.name()).collect()
    }

    #[test]
    fn one_event_per_record_at_a_time_in_arrival_order() {
        let mut lanes = Lanes::default();
        for (name, record) in [
            ("a1", Some("A")),
            ("b1", Some("B")),
            ("a2", Some("A")),
            ("x", None),
            ("a3", Some("A")),
            ("y", None),
        ] {
            lanes.push(queued(name, record));
        }
        assert_eq!(ready(&mut lanes), ["a1", "b1", "x", "y"]);
        lanes.done("B".to_string());
        assert!(lanes.ready.is_empty(), "B has nothing more");
        lanes.push(queued("b2", Some("B")));
        lanes.done("A".to_string());
        assert_eq!(ready(&mut lanes), ["b2", "a2"]);
        lanes.done("A".to_string());
        assert_eq!(ready(&mut lanes), ["a3"]);
        lanes.done("A".to_string());
        lanes.done("B".to_string());
        assert!(lanes.busy.is_empty(), "every record is free again");
        lanes.push(queued("a4", Some("A")));
        assert_eq!(ready(&mut lanes), ["a4"]);
    }
}
