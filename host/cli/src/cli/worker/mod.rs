//! `adaptor-host worker`: a Lightning worker. It connects to Lightning's worker socket,
//! claims runs up to its capacity, runs each through the library's run API and reports
//! its events over the run's channel (see `shared/reference/lightning-worker.md`).
//!
//! Every claimed run ends with `run:complete`: a server error on an event is logged and
//! the run goes on; a dropped connection is reopened with backoff and the run channels
//! are joined again; on SIGTERM or Ctrl-C the worker stops claiming, gives running
//! runs `--grace` seconds, then cancels the rest and reports them as `kill`.

mod phoenix;
mod plan;
mod run;
mod token;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adaptor_host::{Cancel, Host, HostOptions};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify, Semaphore, mpsc, watch};

use phoenix::{Conn, Push, Reply};
use run::{Claimed, Context};

use super::{report, terminated};

/// Flags of `adaptor-host worker` (each also read from OpenFn ws-worker's variable).
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerArgs {
    /// Lightning's worker socket URL.
    #[arg(
        long,
        env = "WORKER_LIGHTNING_SERVICE_URL",
        default_value = "ws://localhost:4000/worker"
    )]
    lightning: String,

    /// The secret shared with Lightning (WORKER_SECRET), the key of the worker token.
    #[arg(long, env = "WORKER_SECRET", hide_env_values = true)]
    secret: String,

    /// How many runs at once.
    #[arg(long, env = "WORKER_CAPACITY", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1024))]
    capacity: u32,

    /// The queues to claim from, in order (`*` last: any other queue).
    #[arg(long, env = "WORKER_QUEUES", default_value = "manual,*", value_delimiter = ',')]
    queues: Vec<String>,

    /// The name Lightning records for this worker (default: none).
    #[arg(long, env = "WORKER_NAME")]
    name: Option<String>,

    /// Seconds between heartbeats (Phoenix: 30); a heartbeat unanswered as long
    /// reopens the connection.
    #[arg(long, env = "WORKER_HEARTBEAT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat: u64,

    /// Seconds to wait for a reply to a message.
    #[arg(long, env = "WORKER_MESSAGE_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    message_timeout: u64,

    /// Seconds running runs get to finish after SIGTERM before they are cancelled and
    /// reported as `kill`.
    #[arg(long, env = "WORKER_GRACE_SECONDS", default_value_t = 30)]
    grace: u64,

    /// Claim backoff after an empty claim, `MIN/MAX` seconds (ws-worker's WORKER_BACKOFF).
    #[arg(long, env = "WORKER_BACKOFF", default_value = "1/10")]
    backoff: String,

    /// Keys each step's output loses before it is sent back and passed to the next
    /// step (`configuration` always goes).
    #[arg(
        long,
        env = "WORKER_STATE_PROPS_TO_REMOVE",
        default_value = "configuration,response",
        value_delimiter = ','
    )]
    state_props_to_remove: Vec<String>,

    /// Megabytes a log line may take; a larger one is sent as a redaction notice
    /// (a run's `log_payload_limit_mb` overrides it).
    #[arg(long, env = "WORKER_MAX_LOG_PAYLOAD_MB", default_value_t = 1)]
    log_payload_memory: u64,
}

/// What the worker runs with, parsed from the flags.
struct Settings {
    url: String,
    secret: String,
    capacity: u32,
    queues: Vec<String>,
    name: Option<String>,
    heartbeat: Duration,
    message_timeout: Duration,
    grace: Duration,
    backoff: (Duration, Duration),
    defaults: RunDefaults,
}

/// What every run gets unless its plan says otherwise.
#[derive(Debug, Clone)]
pub struct RunDefaults {
    /// `--state-props-to-remove`.
    pub state_props_to_remove: Vec<String>,
    /// `--log-payload-memory`, in megabytes.
    pub log_payload_mb: u64,
}

/// `adaptor-host worker`: runs until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn worker(args: WorkerArgs) -> ExitCode {
    let backoff = match parse_backoff(&args.backoff) {
        Ok(backoff) => backoff,
        Err(message) => {
            report(&message);
            return ExitCode::from(super::BAD_INPUT);
        }
    };
    let name = args.name.or_else(|| std::env::var("DEPLOYED_POD_NAME").ok());
    let settings = Settings {
        url: args.lightning,
        secret: args.secret,
        capacity: args.capacity,
        queues: args.queues,
        name,
        heartbeat: Duration::from_secs(args.heartbeat),
        message_timeout: Duration::from_secs(args.message_timeout),
        grace: Duration::from_secs(args.grace),
        backoff,
        defaults: RunDefaults {
            state_props_to_remove: args
                .state_props_to_remove
                .into_iter()
                .map(|key| key.trim().to_string())
                .filter(|key| !key.is_empty())
                .collect(),
            log_payload_mb: args.log_payload_memory,
        },
    };
    let host = match Host::new(HostOptions {
        max_concurrent_jobs: settings.capacity,
        ..HostOptions::default()
    }) {
        Ok(host) => Arc::new(host),
        Err(e) => {
            report(&format!("cannot start the engine: {e}"));
            return ExitCode::from(super::BAD_INPUT);
        }
    };
    let stop = Cancel::new();
    let signals = stop.clone();
    tokio::spawn(async move {
        terminated().await;
        tracing::info!("worker: stopping: no more claims; running runs get the grace period");
        signals.cancel();
    });
    serve(settings, host, stop).await;
    ExitCode::SUCCESS
}

/// `MIN/MAX` seconds.
fn parse_backoff(text: &str) -> Result<(Duration, Duration), String> {
    let (min, max) = text.split_once('/').unwrap_or((text, text));
    let seconds = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("--backoff: {text:?} is not MIN/MAX seconds"))
    };
    let (min, max) = (seconds(min)?, seconds(max)?);
    Ok((min, max.max(min)))
}

/// The worker: keeps a connection open, claims and runs, until `stop`; then drains.
async fn serve(settings: Settings, host: Arc<Host>, stop: Cancel) {
    let settings = Arc::new(settings);
    let worker_id = format!("adaptor-host-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let (link_tx, link) = watch::channel::<Option<Arc<Conn>>>(None);
    let ctx = Arc::new(Context {
        host,
        link,
        defaults: settings.defaults.clone(),
    });
    let slots = Arc::new(Semaphore::new(settings.capacity as usize));
    let work = Arc::new(Notify::new());
    let runs: Arc<Mutex<Vec<Cancel>>> = Arc::default();
    let finished = Cancel::new();

    let connection = tokio::spawn(keep_connected(
        Arc::clone(&settings),
        worker_id,
        link_tx,
        Arc::clone(&work),
        finished.clone(),
    ));
    let claimer = tokio::spawn(claim_loop(
        Arc::clone(&settings),
        Arc::clone(&ctx),
        Arc::clone(&slots),
        work,
        Arc::clone(&runs),
        stop.clone(),
    ));

    stop.cancelled().await;
    // Stop claiming (a claim in flight finishes and its runs are run).
    let _ = claimer.await;
    let all = settings.capacity;
    let drained = tokio::time::timeout(settings.grace, slots.acquire_many(all)).await;
    if drained.is_err() {
        let running = runs.lock().await;
        tracing::warn!(
            "worker: the grace period ended; cancelling {} running runs",
            running.iter().filter(|c| !c.is_cancelled()).count()
        );
        for run in running.iter() {
            run.cancel();
        }
        drop(running);
        // Cancelled runs stop at once; their run:complete still has to be sent.
        let _ = tokio::time::timeout(settings.message_timeout * 4, slots.acquire_many(all)).await;
    }
    let current = ctx.link.borrow().clone();
    if let Some(conn) = current {
        conn.leave("worker:queue").await;
        conn.close();
    }
    finished.cancel();
    let _ = connection.await;
}

/// Opens the connection and joins `worker:queue`; opens it again with backoff
/// whenever it drops, until `finished`.
async fn keep_connected(
    settings: Arc<Settings>,
    worker_id: String,
    link: watch::Sender<Option<Arc<Conn>>>,
    work: Arc<Notify>,
    finished: Cancel,
) {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(1);
    let mut tries: u32 = 0;
    while !finished.is_cancelled() {
        if tries > 0 {
            let wait = Duration::from_millis(250 * u64::from(tries)).min(Duration::from_secs(5));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = finished.cancelled() => return,
            }
        }
        tries += 1;
        let token = token::worker_token(&settings.secret, &worker_id);
        let url = format!(
            "{}/websocket?token={token}&api_version=1.2&worker_version={}&vsn=2.0.0",
            settings.url.trim_end_matches('/'),
            env!("CARGO_PKG_VERSION")
        );
        let (push_tx, mut pushes) = mpsc::unbounded_channel::<Push>();
        let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let conn = match Conn::connect(id, &url, settings.heartbeat, settings.message_timeout, push_tx).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("worker: cannot connect to {}: {e}", settings.url);
                continue;
            }
        };
        let slots: Value = json!({ settings.queues.join(">"): settings.capacity });
        let join = conn
            .join("worker:queue", json!({"capacity": settings.capacity, "queues": slots}))
            .await;
        match join {
            Ok(Reply::Ok(_)) => {}
            other => {
                tracing::warn!("worker: joining worker:queue failed: {other:?}");
                conn.close();
                continue;
            }
        }
        tracing::info!("worker: connected to {} as {worker_id}", settings.url);
        tries = 0;
        link.send_replace(Some(Arc::clone(&conn)));
        work.notify_one();
        loop {
            tokio::select! {
                push = pushes.recv() => match push {
                    Some(push) if push.event == "work-available" => work.notify_one(),
                    Some(push) if push.event == "phx_error" || push.event == "phx_close" => {
                        tracing::warn!("worker: the server closed channel {}", push.topic);
                        if push.topic == "worker:queue" { conn.close(); }
                    }
                    Some(_) => {}
                    None => break,
                },
                () = conn.closed.cancelled() => break,
                () = finished.cancelled() => break,
            }
        }
        link.send_replace(None);
        conn.close();
        if !finished.is_cancelled() {
            tracing::warn!("worker: the connection to Lightning dropped; reconnecting");
            tries = 1;
        }
    }
}

/// Claims one run per free slot (demand 1, as ws-worker), at start, on
/// `work-available`, after a run ends, and with backoff after an empty claim.
///
/// Each run holds a slot, numbered 1 to the capacity: its `thread_id` in
/// `step:complete` (ws-worker reports the worker thread that ran the step). A run
/// Lightning gives beyond the capacity has none: 0.
async fn claim_loop(
    settings: Arc<Settings>,
    ctx: Arc<Context>,
    slots: Arc<Semaphore>,
    work: Arc<Notify>,
    runs: Arc<Mutex<Vec<Cancel>>>,
    stop: Cancel,
) {
    let (min, max) = settings.backoff;
    let mut backoff = min;
    let mut link = ctx.link.clone();
    let free: Arc<std::sync::Mutex<BTreeSet<u32>>> = Arc::new(std::sync::Mutex::new((1..=settings.capacity).collect()));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = stop.cancelled() => return,
        };
        let conn = tokio::select! {
            conn = link.wait_for(Option::is_some) => match conn {
                Ok(conn) => conn.clone().expect("waited for a connection"),
                Err(_) => return,
            },
            () = stop.cancelled() => return,
        };
        let payload = json!({"demand": 1, "worker_name": settings.name, "queues": settings.queues});
        let claimed = match conn.call("worker:queue", "claim", payload).await {
            Ok(Reply::Ok(response)) => response["runs"].as_array().cloned().unwrap_or_default(),
            Ok(other) => {
                tracing::warn!("worker: claim refused: {other:?}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let mut permit = Some(permit);
        for run in &claimed {
            let (Some(id), Some(token)) = (run["id"].as_str(), run["token"].as_str()) else {
                tracing::error!("worker: a claimed run without id or token: {run}");
                continue;
            };
            let Some(slot) = permit.take().or_else(|| Arc::clone(&slots).try_acquire_owned().ok()) else {
                tracing::error!("worker: Lightning gave more runs than asked for; run {id} runs over capacity");
                let ctx = Arc::clone(&ctx);
                let claimed = Claimed {
                    id: id.into(),
                    token: token.into(),
                    thread: 0,
                };
                tokio::spawn(run::execute(ctx, claimed, Cancel::new()));
                continue;
            };
            let cancel = Cancel::new();
            {
                let mut list = runs.lock().await;
                list.retain(|c| !c.is_cancelled());
                list.push(cancel.clone());
            }
            let ctx = Arc::clone(&ctx);
            let work = Arc::clone(&work);
            let free = Arc::clone(&free);
            // As many numbers are free as permits: one is there.
            let thread = free.lock().expect("slot numbers").pop_first().unwrap_or(0);
            let claimed = Claimed {
                id: id.into(),
                token: token.into(),
                thread,
            };
            tokio::spawn(async move {
                run::execute(ctx, claimed, cancel.clone()).await;
                // Marks the handle done (dropped from the list on the next claim).
                cancel.cancel();
                free.lock().expect("slot numbers").insert(thread);
                drop(slot);
                work.notify_one();
            });
        }
        if !claimed.is_empty() {
            backoff = min;
            continue;
        }
        drop(permit);
        if stop.is_cancelled() {
            return;
        }
        tokio::select! {
            () = work.notified() => {}
            () = tokio::time::sleep(backoff) => backoff = backoff.mul_f64(1.15).min(max),
            () = stop.cancelled() => return,
        }
    }
}
