//! A simulator of the OpenLMIS v3 API behind its nginx gateway: one origin, every
//! service under `/api`.
//!
//! What it reproduces (see `shared/reference/openlmis-api.md`, §8):
//! - the auth service's `POST /api/oauth/token` (password and client-credentials
//!   grants, HTTP Basic client authentication, Spring Security OAuth2's error bodies,
//!   lockout after repeated failures), sliding token expiry and mass revocation;
//! - resource authentication: `Authorization: Bearer` or `?access_token=` (or the
//!   header only), with 401 `unauthorized` / `invalid_token` bodies;
//! - reference data: programs (a bare array), facilities (2,734) and orderables
//!   (10,234) as Spring pages, lookups by code, `page` without `size` refused;
//!   orderable versions (`PUT` makes a new one, `?versionNumber=` reads an old one)
//!   with `Last-Modified` and `If-Modified-Since` (304);
//! - requisitions: the status machine (initiate, submit, authorize, approve, reject,
//!   batch approve), weak ETags with `If-Match` (409 on a stale version),
//!   `Idempotency-Key` (400 bad format, 409 reuse), search;
//! - stock: stock events that change stock on hand (and are refused when they would
//!   take it below zero), v2 stock card summaries;
//! - the gateway's 1 MB body limit (413);
//! - injected failures ([`Fault`]): 5xx, 429 with `Retry-After`, resets, latency; and
//!   data that changes between page requests.

mod auth;
mod data;
mod faults;
mod paging;
mod reference;
mod requisitions;
mod stock;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::server::Running;

pub use data::{DEMO_FACILITY_COUNT, DEMO_ORDERABLE_COUNT, PROGRAMS, REASONS};
pub use faults::Fault;

/// Who may log in, how long tokens live, and where tokens are accepted.
#[derive(Debug, Clone)]
pub struct Config {
    /// Users and their passwords. Default: the demo's `administrator` / `password`.
    pub users: Vec<(String, String)>,
    /// OAuth clients: id, secret and the grants each may use. Default: the demo's
    /// `user-client` / `changeme` (password grant) and `trusted-client` / `secret`
    /// (client credentials).
    pub clients: Vec<Client>,
    /// Idle time after which a token expires; each use renews it
    /// (`TOKEN_DURATION`, 1800 s in OpenLMIS).
    pub token_ttl: Duration,
    /// Whether resources accept `?access_token=` as well as the header (they do;
    /// turning it off catches clients that rely on the query form).
    pub query_token: bool,
    /// Failed logins in a row after which a user is locked out.
    pub max_failed_logins: u32,
}

/// An OAuth client registration.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client id.
    pub id: String,
    /// The client secret.
    pub secret: String,
    /// The grant types it may use.
    pub grants: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            users: vec![("administrator".into(), "password".into())],
            clients: vec![
                Client {
                    id: "user-client".into(),
                    secret: "changeme".into(),
                    grants: vec!["password".into()],
                },
                Client {
                    id: "trusted-client".into(),
                    secret: "secret".into(),
                    grants: vec!["client_credentials".into()],
                },
            ],
            token_ttl: Duration::from_secs(1800),
            query_token: true,
            max_failed_logins: 5,
        }
    }
}

/// The simulator's mutable world.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) config: Config,
    pub(crate) tokens: HashMap<String, auth::TokenInfo>,
    pub(crate) failed_logins: HashMap<String, u32>,
    pub(crate) facilities: Vec<Value>,
    pub(crate) orderables: Vec<Value>,
    /// Earlier versions of orderables, by id, oldest first.
    pub(crate) orderable_versions: HashMap<String, Vec<Value>>,
    pub(crate) requisitions: requisitions::Store,
    pub(crate) idempotency_keys: HashSet<String>,
    pub(crate) stock: stock::Ledger,
    pub(crate) faults: VecDeque<Fault>,
    /// Resource requests to serve before every token is revoked.
    pub(crate) revoke_after: Option<usize>,
    /// Resource requests to serve before a new facility appears first in the list.
    pub(crate) new_facility_after: Option<usize>,
    /// A clock for `createdDate`/`modifiedDate`, one second per change.
    pub(crate) clock: u64,
}

impl World {
    /// The next timestamp of the simulated clock, ISO 8601.
    pub(crate) fn now(&mut self) -> String {
        self.clock += 1;
        let (minutes, seconds) = (self.clock / 60, self.clock % 60);
        format!(
            "2017-02-01T{:02}:{:02}:{seconds:02}Z",
            (minutes / 60) % 24,
            minutes % 60
        )
    }
}

pub(crate) type Shared = Arc<Mutex<World>>;

/// A running OpenLMIS simulator.
pub struct Simulator {
    running: Running,
    world: Shared,
}

impl Simulator {
    /// Starts a simulator with the demo users and clients.
    pub fn start() -> Simulator {
        Simulator::with_config(Config::default())
    }

    /// Starts a simulator with these users, clients and token rules.
    pub fn with_config(config: Config) -> Simulator {
        let world = Arc::new(Mutex::new(World {
            config,
            tokens: HashMap::new(),
            failed_logins: HashMap::new(),
            facilities: data::facilities(),
            orderables: data::orderables(),
            orderable_versions: HashMap::new(),
            requisitions: requisitions::Store::default(),
            idempotency_keys: HashSet::new(),
            stock: stock::Ledger::default(),
            faults: VecDeque::new(),
            revoke_after: None,
            new_facility_after: None,
            clock: 0,
        }));
        let running = Running::start(router(Arc::clone(&world)));
        Simulator { running, world }
    }

    /// The base URL to configure (`baseUrl`): `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.running.url()
    }

    /// The server handle: address and recorded requests.
    pub fn server(&self) -> &Running {
        &self.running
    }

    /// The next `count` resource requests (not logins) fail with `status`.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.inject(count, Fault::Status(status));
    }

    /// The next `count` resource requests meet `fault`.
    pub fn inject(&self, count: usize, fault: Fault) {
        self.world().faults.extend(std::iter::repeat_n(fault, count));
    }

    /// Forgets every issued token, as a restart of the auth service does.
    pub fn revoke_all_tokens(&self) {
        self.world().tokens.clear();
    }

    /// Revokes every token once `requests` more resource requests have been served,
    /// as an auth-service restart in the middle of a job would.
    pub fn revoke_all_tokens_after(&self, requests: usize) {
        self.world().revoke_after = Some(requests);
    }

    /// Adds a facility at the head of the list once `requests` more resource requests
    /// have been served, so a client paging through facilities sees the data move.
    pub fn add_facility_after(&self, requests: usize) {
        self.world().new_facility_after = Some(requests);
    }

    /// The stock events accepted so far.
    pub fn stock_events(&self) -> Vec<Value> {
        self.world().stock.events.clone()
    }

    /// Stock on hand of an orderable at a facility for a program.
    pub fn stock_on_hand(&self, facility: &str, program: &str, orderable: &str) -> Option<i64> {
        self.world().stock.on_hand(facility, program, orderable)
    }

    /// The status of a requisition.
    pub fn requisition_status(&self, id: &str) -> Option<String> {
        self.world().requisitions.status(id)
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("world")
    }
}

fn router(world: Shared) -> Router {
    let resources = Router::new()
        .route("/api/programs", get(reference::programs))
        .route("/api/facilities", get(reference::facilities))
        .route("/api/facilities/{id}", get(reference::facility))
        .route("/api/orderables", get(reference::orderables))
        .route(
            "/api/orderables/{id}",
            get(reference::orderable).put(reference::update_orderable),
        )
        .route("/api/requisitions", post(requisitions::batch))
        .route("/api/requisitions/initiate", post(requisitions::initiate))
        .route("/api/requisitions/search", get(requisitions::search))
        .route(
            "/api/requisitions/{id}",
            get(requisitions::get)
                .put(requisitions::update)
                .delete(requisitions::delete),
        )
        .route("/api/requisitions/{id}/submit", post(requisitions::submit))
        .route("/api/requisitions/{id}/authorize", post(requisitions::authorize))
        .route("/api/requisitions/{id}/approve", post(requisitions::approve))
        .route("/api/requisitions/{id}/reject", put(requisitions::reject))
        .route("/api/stockEvents", post(stock::create_event))
        .route("/api/v2/stockCardSummaries", get(stock::summaries))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&world), gateway))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&world),
            auth::require_token,
        ));
    Router::new()
        .route("/api/oauth/token", post(auth::token).fallback(auth::method_not_allowed))
        .merge(resources)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(body_size_limit))
        .with_state(world)
}

/// nginx's `client_max_body_size` (`CLIENT_MAX_BODY_SIZE`, 1m in OpenLMIS).
const MAX_BODY_BYTES: u64 = 1 << 20;

/// The gateway refuses larger bodies with its 413 page before any service sees them.
async fn body_size_limit(request: Request, next: Next) -> Response {
    let length = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Fault::Status(413).response().expect("a status fault answers");
    }
    next.run(request).await
}

/// What happens to an authenticated request before its service sees it: scheduled
/// revocations and data changes, then injected faults.
async fn gateway(State(world): State<Shared>, request: Request, next: Next) -> Response {
    let fault = {
        let mut world = world.lock().expect("world");
        if let Some(n) = world.revoke_after {
            if n <= 1 {
                world.revoke_after = None;
                world.tokens.clear();
            } else {
                world.revoke_after = Some(n - 1);
            }
        }
        if let Some(n) = world.new_facility_after {
            if n == 0 {
                world.new_facility_after = None;
                let mut facility = world.facilities[0].clone();
                facility["id"] = json!("aaaaaaaa-0000-4000-8000-000000000001");
                facility["code"] = json!("NEW01");
                facility["name"] = json!("Aardvark Health Post (added while paging)");
                world.facilities.insert(0, facility);
            } else {
                world.new_facility_after = Some(n - 1);
            }
        }
        world.faults.pop_front()
    };
    match fault {
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(fault) => fault.response().expect("a replacing fault"),
        None => next.run(request).await,
    }
}

/// OpenLMIS's error body: `{"messageKey": ..., "message": ...}`.
pub(crate) fn message(status: StatusCode, key: &str, text: &str) -> Response {
    (status, axum::Json(json!({"messageKey": key, "message": text}))).into_response()
}

async fn not_found(request: Request) -> Response {
    // Spring's default for an unmapped path behind the gateway.
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            json!({"timestamp": "2017-01-01T00:00:00.000+0000", "status": 404, "error": "Not Found",
                          "message": "No message available", "path": request.uri().path()}),
        ),
    )
        .into_response()
}
