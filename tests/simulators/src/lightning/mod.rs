//! A simulator of OpenFn Lightning's side of the worker protocol: the Phoenix socket a
//! Lightning worker connects to, the `worker:queue` channel it claims runs on, and the
//! `run:<id>` channels it fetches plans, dataclips and credentials on and reports
//! events to (see `shared/reference/lightning-worker.md`).
//!
//! It is written for Lightning, not for `lightning-mock`, and is stricter than both:
//! - connecting: `GET /worker/websocket?token=…&api_version=…&worker_version=…&vsn=2.0.0`;
//!   the worker JWT is verified as newer Lightning does (HS256 with the configured
//!   secret, claims `iss`, `iat`, `worker_id`), HTTP 401 otherwise; `vsn` must be
//!   `2.0.0` (400 otherwise);
//! - Phoenix V2 framing, `phx_reply`, heartbeats on `phoenix`, `phx_join`/`phx_leave`,
//!   pushes on an unjoined topic answered `{reason:"unmatched topic"}`, sockets dropped
//!   after [`Config::idle_timeout`] of silence (60 s in Phoenix), frames capped at
//!   [`Config::max_frame_bytes`] (11 MB in Lightning);
//! - `worker:queue`: join `{capacity, queues}`, `claim {demand, worker_name, queues}`
//!   answering `{runs:[{id, token}]}` (queue filtering and ordering as Lightning does),
//!   `work-available` pushed on every [`Simulator::enqueue`] (not debounced);
//! - `run:<id>`: join with the run token (`unauthorized` / `not_found`), `fetch:plan`,
//!   `fetch:dataclip` (a binary reply frame), `fetch:credential`, and strict checks of
//!   `run:start`, `run:log`, `step:start`, `step:complete`, `run:complete`: keys,
//!   types, values and order (the list is in `run.rs`).
//!
//! Every breach is recorded as a [`Violation`]. On a channel it is answered with a
//! `phx_reply` `error` whose response is a Lightning changeset error
//! (`{"errors":{"<field>":["<what was wrong>"]}}`), or Phoenix's and Lightning's own
//! errors where they exist (`{reason:"unmatched topic"}`, run joins, `Credential not
//! found!` for a credential no job uses). Some breaches are recorded but answered as
//! Lightning would: claiming beyond the capacity announced at join, `fetch:dataclip`
//! with an id other than the plan's `dataclip_id` (Lightning ignores the id), a
//! missing `api_version`/`worker_version`. Connect breaches get 401 or 400; a frame
//! that is not a V2 array drops the socket, as Phoenix's serializer crashing does.
//!
//! One event at a time: a worker must not push a run event before the previous one on
//! that run was answered. Run events are answered after [`Config::event_reply_delay`]
//! (2 ms by default, a database write's worth) so a worker that pipelines them is
//! caught: the overlapping event is refused and recorded.
//!
//! Lost runs: runs whose `claim` reply could not be delivered (the socket died first)
//! go back to the queue, as Lightning un-claims them. Runs delivered to a worker whose
//! socket then dies before `run:complete` are marked lost ([`RunState::Lost`], and a
//! [`Completed`] with reason `lost` and error type `LostAfterClaim`/`LostAfterStart`,
//! as Lightning's Janitor does) once [`Config::lost_after`] has passed without the run
//! channel being joined again (ws-worker rejoins its channels after reconnecting).
//!
//! Not simulated: `run:batch_logs` (refused as an unknown event), OAuth refresh,
//! credential scrubbing, retention, usage limits, RS256 run tokens (see `token`).

mod check;
mod phoenix;
mod queue;
mod run;
mod socket;
mod token;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use crate::server::Running;

pub use phoenix::{BinaryReply, decode_binary_reply};
pub use token::{WORKER_ISSUER, sign_worker_claims, worker_token};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WORKER_SECRET`: the key of the workers' HS256 tokens.
    pub secret: String,
    /// Silence after which a socket is dropped (Phoenix: 60 s).
    pub idle_timeout: Duration,
    /// How long run events (`run:start`, `run:log`, `step:*`, `run:complete`) take to
    /// be answered. Above zero, a worker that does not wait for replies is caught.
    pub event_reply_delay: Duration,
    /// How long the un-answered event of a [`Fault::NoReply`] stays pending: the next
    /// event on that run before then is an overlap (ws-worker waits 30 s).
    pub event_timeout: Duration,
    /// How long after its socket died a started or claimed run is marked lost, unless
    /// its channel is joined again.
    pub lost_after: Duration,
    /// The largest websocket message accepted (Lightning: 11 MB).
    pub max_frame_bytes: usize,
    /// Lifetime of run tokens, in seconds.
    pub run_token_lifetime_secs: u64,
    /// The keys no output dataclip or final state may hold: ws-worker's
    /// `WORKER_STATE_PROPS_TO_REMOVE` (`configuration`, `response`).
    pub state_props_removed: Vec<String>,
}

impl Config {
    /// Defaults, with `secret` as `WORKER_SECRET`.
    pub fn new(secret: &str) -> Config {
        Config {
            secret: secret.to_string(),
            idle_timeout: Duration::from_secs(60),
            event_reply_delay: Duration::from_millis(2),
            event_timeout: Duration::from_secs(30),
            lost_after: Duration::from_secs(10),
            max_frame_bytes: 11 << 20,
            run_token_lifetime_secs: 7200,
            state_props_removed: vec!["configuration".into(), "response".into()],
        }
    }
}

/// A run to enqueue: its plan, its input dataclip and the credentials it may fetch.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// A LightningPlan. Missing `id`, `dataclip_id`, `project_id` (fresh UUIDs),
    /// `starting_node_id` (the first trigger), `triggers`, `edges` and `options` keys
    /// are filled in at enqueue; [`Simulator::enqueue`] returns the run id.
    pub plan: Value,
    /// The input dataclip, in initial-state form (e.g. `{"data": {...}}`).
    pub input: Value,
    /// Credential bodies by id. A job's `credential_id` missing here answers
    /// `Credential not found!`.
    pub credentials: HashMap<String, Value>,
    /// The run's queue: `default` (the default), `fast_lane` or `manual`.
    pub queue: String,
}

impl RunSpec {
    /// A run of `plan` on `input`, without credentials, on the `default` queue.
    pub fn new(plan: Value, input: Value) -> RunSpec {
        RunSpec {
            plan,
            input,
            credentials: HashMap::new(),
            queue: "default".into(),
        }
    }

    /// Adds a credential body under `id`.
    pub fn credential(mut self, id: &str, body: Value) -> RunSpec {
        self.credentials.insert(id.to_string(), body);
        self
    }

    /// Puts the run on `queue`.
    pub fn queue(mut self, queue: &str) -> RunSpec {
        self.queue = queue.to_string();
        self
    }
}

/// A plan of jobs run one after another: trigger `trigger` → first job (`always`), then
/// each job → the next (`on_job_success`). Each job is `(id, adaptor, body)`, with
/// `name` = id and `credential_id` null (set `plan["jobs"][i]["credential_id"]` to
/// give one a credential).
pub fn linear_plan(jobs: &[(&str, &str, &str)]) -> Value {
    let mut edges = Vec::new();
    let mut source = json!({"source_trigger_id": "trigger", "source_job_id": null, "condition": "always"});
    for (n, (id, _, _)) in jobs.iter().enumerate() {
        let mut edge = source.clone();
        edge["id"] = json!(format!("edge-{}", n + 1));
        edge["target_job_id"] = json!(id);
        edge["enabled"] = json!(true);
        edges.push(edge);
        source = json!({"source_trigger_id": null, "source_job_id": id, "condition": "on_job_success"});
    }
    json!({
        "triggers": [{"id": "trigger", "type": "webhook"}],
        "starting_node_id": "trigger",
        "jobs": jobs.iter().map(|(id, adaptor, body)| json!({
            "id": id, "name": id, "adaptor": adaptor, "credential_id": null, "body": body,
        })).collect::<Vec<_>>(),
        "edges": edges,
    })
}

/// The options Lightning sends when the plan gives none.
fn default_options() -> Value {
    json!({
        "run_timeout_ms": 300_000,
        "run_memory_limit_mb": 500,
        "output_dataclips": true,
        "payload_limit_mb": 10,
        "log_payload_limit_mb": 1,
        "sanitize": "none",
    })
}

/// What a test can make the simulator do to the next message with a given event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer `error` with `{"errors":{"simulator":["injected fault"]}}` instead of
    /// handling the message (a `claim` then claims nothing, an event changes nothing).
    Error,
    /// Drop the socket on receiving the message, without answering (a crash of the
    /// server or the network).
    Disconnect,
    /// Handle the message, but answer after this delay.
    Delay(Duration),
    /// Handle the message and never answer (a `claim` is then un-claimed).
    NoReply,
}

/// A frame the simulator received, in arrival order.
#[derive(Debug, Clone)]
pub struct Received {
    /// The socket it came on (see [`Connection::id`]).
    pub socket: u64,
    /// When it arrived.
    pub at: Instant,
    /// `join_ref`.
    pub join_ref: Option<String>,
    /// `ref`.
    pub reference: Option<String>,
    /// The topic, e.g. `run:<id>`.
    pub topic: String,
    /// The event, e.g. `step:start`.
    pub event: String,
    /// The payload.
    pub payload: Value,
}

/// A breach of the protocol by the worker.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The socket, if the breach happened on one.
    pub socket: Option<u64>,
    /// The run concerned, if any.
    pub run: Option<String>,
    /// The event (or `connect`, `frame`).
    pub event: String,
    /// The key or aspect at fault (`job_id`, `order`, `reply`, …).
    pub field: String,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.event)?;
        if let Some(run) = &self.run {
            write!(f, " (run {run})")?;
        }
        write!(f, ": {}: {}", self.field, self.message)
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Enqueued, waiting for a claim.
    Available,
    /// Handed to a worker.
    Claimed,
    /// `run:start` received.
    Started,
    /// `run:complete` received, with this reason.
    Finished(String),
    /// Its worker went away before `run:complete`.
    Lost,
}

/// A step as the worker reported it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The worker's step id.
    pub step_id: String,
    /// The job it ran.
    pub job_id: String,
    /// `input_dataclip_id` of `step:start`.
    pub input_dataclip_id: Option<String>,
    /// The reason of `step:complete`; `None` while the step runs.
    pub reason: Option<String>,
    /// `error_type` of `step:complete`.
    pub error_type: Option<String>,
    /// `error_message` of `step:complete`.
    pub error_message: Option<String>,
    /// `output_dataclip`, parsed.
    pub output: Option<Value>,
    /// `output_dataclip_id`.
    pub output_dataclip_id: Option<String>,
    /// `output_dataclip_error` (`DATACLIP_TOO_LARGE`).
    pub output_dataclip_error: Option<String>,
    /// `thread_id` of `step:complete`.
    pub thread_id: Option<u64>,
}

/// A run that ended: by `run:complete`, or lost.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The run id.
    pub run: String,
    /// `success`, `fail`, `crash`, `kill`, `exception`, `cancel`, or `lost`.
    pub reason: String,
    /// `error_type` (`LostAfterClaim` / `LostAfterStart` for a lost run).
    pub error_type: Option<String>,
    /// `error_message`.
    pub error_message: Option<String>,
    /// `final_state` of `run:complete`.
    pub final_state: Option<Value>,
    /// `final_dataclip_id` of `run:complete`.
    pub final_dataclip_id: Option<String>,
    /// The steps reported, in order.
    pub steps: Vec<Step>,
}

/// A websocket connection, open or closed.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The simulator's id for the socket (in [`Received::socket`]).
    pub id: u64,
    /// `worker_id` of the worker token.
    pub worker_id: String,
    /// `api_version` of the query.
    pub api_version: Option<String>,
    /// `worker_version` of the query.
    pub worker_version: Option<String>,
    /// Whether it is still open.
    pub open: bool,
    /// Why it closed: `client closed`, `idle timeout`, `fault`, `disconnect_all`, …
    pub closed: Option<String>,
}

/// A run the simulator holds.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) id: String,
    pub(crate) plan: Value,
    pub(crate) input: Value,
    pub(crate) credentials: HashMap<String, Value>,
    pub(crate) queue: String,
    pub(crate) state: RunState,
    pub(crate) token: Option<String>,
    /// The socket that claimed it, and whether the claim reply was delivered.
    pub(crate) claimed_by: Option<(u64, bool)>,
    pub(crate) worker_id: Option<String>,
    pub(crate) claim_count: usize,
    /// The socket on which `run:<id>` is joined.
    pub(crate) channel: Option<u64>,
    pub(crate) steps: Vec<Step>,
    /// Refs of run events not answered yet.
    pub(crate) pending: Vec<String>,
}

impl Run {
    pub(crate) fn finished(&self) -> bool {
        matches!(self.state, RunState::Finished(_) | RunState::Lost)
    }

    pub(crate) fn dataclip_id(&self) -> &str {
        self.plan["dataclip_id"].as_str().unwrap_or_default()
    }
}

/// A socket the simulator serves.
#[derive(Debug)]
pub(crate) struct SocketEntry {
    pub(crate) tx: socket::Tx,
    pub(crate) worker_id: String,
    /// `join_ref` of `worker:queue`, once joined.
    pub(crate) queue_join_ref: Option<String>,
    pub(crate) capacity: u64,
}

/// A fault waiting for its event.
#[derive(Debug)]
pub(crate) struct Armed {
    pub(crate) event: String,
    pub(crate) skip: usize,
    pub(crate) fault: Fault,
}

/// The simulator's state.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) config: Config,
    pub(crate) run_key: Vec<u8>,
    pub(crate) runs: Vec<Run>,
    pub(crate) frames: Vec<Received>,
    pub(crate) violations: Vec<Violation>,
    pub(crate) claims: usize,
    pub(crate) faults: Vec<Armed>,
    pub(crate) sockets: BTreeMap<u64, SocketEntry>,
    pub(crate) connections: Vec<Connection>,
    pub(crate) completed: Vec<Completed>,
}

impl World {
    pub(crate) fn run_mut(&mut self, id: &str) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.id == id)
    }

    /// Records a violation.
    pub(crate) fn violation(
        &mut self,
        socket: Option<u64>,
        run: Option<&str>,
        event: &str,
        field: &str,
        message: &str,
    ) {
        tracing::warn!(
            socket,
            run,
            event,
            field,
            message,
            "lightning simulator: protocol violation"
        );
        self.violations.push(Violation {
            socket,
            run: run.map(str::to_string),
            event: event.to_string(),
            field: field.to_string(),
            message: message.to_string(),
        });
    }

    /// The fault armed for this `event`, if its turn has come.
    pub(crate) fn take_fault(&mut self, event: &str) -> Option<Fault> {
        let index = self.faults.iter().position(|a| a.event == event)?;
        if self.faults[index].skip > 0 {
            self.faults[index].skip -= 1;
            return None;
        }
        Some(self.faults.remove(index).fault)
    }

    /// Pushes `work-available` to every socket that joined `worker:queue`.
    pub(crate) fn work_available(&self) {
        for entry in self.sockets.values() {
            if let Some(join_ref) = &entry.queue_join_ref {
                let frame = phoenix::push(Some(join_ref), "worker:queue", "work-available", json!({}));
                let _ = entry.tx.send(socket::Out::Frame(frame, socket::AfterSend::Nothing));
            }
        }
    }

    /// Marks a run lost, as Lightning's Janitor does.
    pub(crate) fn mark_lost(&mut self, id: &str) {
        let Some(run) = self.run_mut(id) else { return };
        if run.finished() {
            return;
        }
        let error_type = if run.state == RunState::Started {
            "LostAfterStart"
        } else {
            "LostAfterClaim"
        };
        run.state = RunState::Lost;
        let completed = Completed {
            run: id.to_string(),
            reason: "lost".into(),
            error_type: Some(error_type.into()),
            error_message: None,
            final_state: None,
            final_dataclip_id: None,
            steps: run.steps.clone(),
        };
        self.completed.push(completed);
    }
}

pub(crate) type Shared = Arc<Mutex<World>>;

/// A running Lightning simulator. Dropping it stops the server.
pub struct Simulator {
    running: Running,
    world: Shared,
}

impl Simulator {
    /// Starts a simulator whose `WORKER_SECRET` is `secret`, with default timings.
    pub fn start(secret: &str) -> Simulator {
        Simulator::with_config(Config::new(secret))
    }

    /// Starts a simulator with `config`.
    pub fn with_config(config: Config) -> Simulator {
        let world = Arc::new(Mutex::new(World {
            config,
            run_key: rand::random::<[u8; 32]>().to_vec(),
            runs: Vec::new(),
            frames: Vec::new(),
            violations: Vec::new(),
            claims: 0,
            faults: Vec::new(),
            sockets: BTreeMap::new(),
            connections: Vec::new(),
            completed: Vec::new(),
        }));
        let router = Router::new()
            .route("/worker/websocket", get(socket::connect))
            .with_state(Arc::clone(&world));
        Simulator {
            running: Running::start(router),
            world,
        }
    }

    /// `WORKER_LIGHTNING_SERVICE_URL`: `ws://127.0.0.1:<port>/worker`.
    pub fn url(&self) -> String {
        format!("ws://{}/worker", self.running.addr())
    }

    /// The URL ws-worker connects to with `token`
    /// (`…/worker/websocket?token=…&api_version=1.2&worker_version=1.25.0&vsn=2.0.0`).
    pub fn socket_url(&self, token: &str) -> String {
        format!(
            "{}/websocket?token={token}&api_version=1.2&worker_version=1.25.0&vsn=2.0.0",
            self.url()
        )
    }

    /// A valid worker token for `worker_id`, signed with the configured secret.
    pub fn worker_token(&self, worker_id: &str) -> String {
        worker_token(&self.world().config.secret, worker_id)
    }

    /// The server handle (address, HTTP requests seen).
    pub fn server(&self) -> &Running {
        &self.running
    }

    /// Enqueues a run and tells connected workers (`work-available`). Returns its id.
    ///
    /// Panics on a plan that is not a LightningPlan (no `jobs` array, a job without
    /// `id`), since that is a mistake in the test.
    pub fn enqueue(&self, spec: RunSpec) -> String {
        let mut plan = spec.plan;
        assert!(plan.is_object(), "a LightningPlan is a JSON object");
        assert!(
            plan["jobs"]
                .as_array()
                .is_some_and(|jobs| jobs.iter().all(|j| j["id"].is_string())),
            "a LightningPlan has jobs, each with an id"
        );
        let fresh = || json!(uuid::Uuid::new_v4().to_string());
        for key in ["id", "dataclip_id", "project_id"] {
            if !plan[key].is_string() {
                plan[key] = fresh();
            }
        }
        for key in ["triggers", "edges"] {
            if !plan[key].is_array() {
                plan[key] = json!([]);
            }
        }
        if plan.get("starting_node_id").is_none() {
            let first = plan["triggers"][0]["id"].clone();
            plan["starting_node_id"] = if first.is_null() {
                plan["jobs"][0]["id"].clone()
            } else {
                first
            };
        }
        let mut options = default_options();
        if let Some(given) = plan["options"].as_object() {
            for (key, value) in given {
                options[key] = value.clone();
            }
        }
        plan["options"] = options;
        let id = plan["id"].as_str().expect("an id").to_string();
        let mut world = self.world();
        assert!(world.runs.iter().all(|r| r.id != id), "run {id} is already enqueued");
        world.runs.push(Run {
            id: id.clone(),
            plan,
            input: spec.input,
            credentials: spec.credentials,
            queue: spec.queue,
            state: RunState::Available,
            token: None,
            claimed_by: None,
            worker_id: None,
            claim_count: 0,
            channel: None,
            steps: Vec::new(),
            pending: Vec::new(),
        });
        world.work_available();
        id
    }

    /// The next message with `event` (`claim`, `fetch:plan`, `step:complete`,
    /// `heartbeat`, `phx_join`, …) on any socket meets `fault`.
    pub fn inject(&self, event: &str, fault: Fault) {
        self.inject_after(event, 0, fault);
    }

    /// The message with `event` after the next `skip` ones meets `fault`.
    pub fn inject_after(&self, event: &str, skip: usize, fault: Fault) {
        self.world().faults.push(Armed {
            event: event.to_string(),
            skip,
            fault,
        });
    }

    /// Drops every open socket now.
    pub fn disconnect_all(&self) {
        for entry in self.world().sockets.values() {
            let _ = entry.tx.send(socket::Out::Close("disconnect_all"));
        }
    }

    /// Every frame received, in order.
    pub fn frames(&self) -> Vec<Received> {
        self.world().frames.clone()
    }

    /// The frames received on `run:<run>`, in order.
    pub fn run_frames(&self, run: &str) -> Vec<Received> {
        let topic = format!("run:{run}");
        self.world()
            .frames
            .iter()
            .filter(|f| f.topic == topic)
            .cloned()
            .collect()
    }

    /// The events received on `run:<run>`, in order (`phx_join`, `fetch:plan`, …).
    pub fn run_events(&self, run: &str) -> Vec<String> {
        self.run_frames(run).into_iter().map(|f| f.event).collect()
    }

    /// The runs that ended (completed or lost), in the order they ended.
    pub fn completed(&self) -> Vec<Completed> {
        self.world().completed.clone()
    }

    /// Where run `id` is.
    pub fn run_state(&self, id: &str) -> Option<RunState> {
        self.world().runs.iter().find(|r| r.id == id).map(|r| r.state.clone())
    }

    /// The steps of run `id` reported so far.
    pub fn steps(&self, id: &str) -> Vec<Step> {
        self.world()
            .runs
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.steps.clone())
            .unwrap_or_default()
    }

    /// Every protocol violation, in order.
    pub fn violations(&self) -> Vec<Violation> {
        self.world().violations.clone()
    }

    /// How many `claim` messages were received.
    pub fn claims(&self) -> usize {
        self.world().claims
    }

    /// Runs handed out by more than one claim (after an un-claim).
    pub fn claimed_twice(&self) -> Vec<String> {
        let world = self.world();
        world
            .runs
            .iter()
            .filter(|r| r.claim_count > 1)
            .map(|r| r.id.clone())
            .collect()
    }

    /// Every connection, open or closed, in order of connection.
    pub fn connections(&self) -> Vec<Connection> {
        self.world().connections.clone()
    }

    /// How many sockets are open now.
    pub fn connected(&self) -> usize {
        self.world().sockets.len()
    }

    /// Waits (blocking) until `count` runs have ended; returns them, or says how many
    /// had ended when `timeout` ran out.
    pub fn wait_completed(&self, count: usize, timeout: Duration) -> Result<Vec<Completed>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(done) = self.ended(count) {
                return done;
            }
            if Instant::now() >= deadline {
                return Err(self.not_yet(count, timeout));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// [`Simulator::wait_completed`] for async tests.
    pub async fn completed_within(&self, count: usize, timeout: Duration) -> Result<Vec<Completed>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(done) = self.ended(count) {
                return done;
            }
            if Instant::now() >= deadline {
                return Err(self.not_yet(count, timeout));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn ended(&self, count: usize) -> Option<Result<Vec<Completed>, String>> {
        let world = self.world();
        (world.completed.len() >= count).then(|| Ok(world.completed.clone()))
    }

    fn not_yet(&self, count: usize, timeout: Duration) -> String {
        let world = self.world();
        format!(
            "{} of {count} runs ended within {timeout:?}; {} violations: {:?}",
            world.completed.len(),
            world.violations.len(),
            world.violations.iter().map(ToString::to_string).collect::<Vec<_>>()
        )
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("world")
    }
}
