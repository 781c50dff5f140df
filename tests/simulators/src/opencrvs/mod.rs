//! A simulator of an OpenCRVS deployment: every service on one port under a path
//! prefix (`/auth`, `/gateway`, `/register`, `/countryconfig`, `/webhooks`), and also
//! by `Host` header (`<service>.<domain>`), for the generation chosen in [`Config`].
//!
//! What it reproduces (see `shared/reference/opencrvs-api.md`, §9):
//! - the token endpoint and its errors (client credentials in the query; 2.0 on the
//!   gateway only), JWTs with `exp`, `Expired token` 401s, secret rotation and
//!   deactivation;
//! - v1.x FHIR notifications with the gateway's validation and messages, and the
//!   duplicate notice;
//! - GraphQL `searchEvents` with `count`/`skip`, `UNAUTHENTICATED` errors on HTTP 200
//!   and the daily quota (429 `RATE_LIMIT_EXCEEDED`);
//! - events v2 (1.9 and 2.0 routes): idempotent create, notify with `createdAtLocation`
//!   and declaration validation, 409 on a wrong state, REST search with limit/offset,
//!   event reads (2.0), the one-shot notify (2.0), results that shift between pages
//!   ([`Simulator::add_event_after`]);
//! - scopes: 403 `FORBIDDEN` for events without `record.*`/`notification-api`, and
//!   empty GraphQL results without `recordsearch`;
//! - country config's confirmation of notify actions: at once, asynchronously
//!   (`Requested` until [`Simulator::confirm`]), rejected, or failing (500);
//! - locations (FHIR in 1.x, the 2.0 list), an office/district/state hierarchy;
//! - webhooks (1.x): subscription with the challenge, listing, removal, and signed
//!   deliveries ([`Simulator::register_birth`]), tampered ones on request;
//! - gateway faults (502s) on request, and the `X-Version` header.

mod auth;
mod events;
mod graphql;
mod locations;
mod notification;
mod webhooks;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use crate::server::Running;

pub use locations::{DISTRICT, HEALTH_FACILITY, OFFICE, STATE};
pub use webhooks::Delivery;

/// The OpenCRVS generation the simulator behaves as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerVersion {
    /// 1.3: FHIR notifications, GraphQL (old grant-type message), webhooks.
    V1_3,
    /// 1.8: FHIR notifications, GraphQL search with a daily quota, webhooks.
    V1_8,
    /// 1.9: events v2 with `/events/notifications`, REST search; FHIR and GraphQL kept.
    V1_9,
    /// 2.0: `/events/{id}/notify`, one-shot notify, token on the gateway only.
    V2_0,
}

/// A registered system client.
#[derive(Debug, Clone)]
pub struct SystemClient {
    /// The client id (a UUID in OpenCRVS).
    pub id: String,
    /// The client secret.
    pub secret: String,
    /// The SHA secret, which signs webhook deliveries.
    pub sha_secret: String,
    /// Whether the client may get tokens.
    pub active: bool,
    /// The system's own id, the token's `sub`.
    pub system_id: String,
    /// The scopes put in its tokens.
    pub scopes: Vec<String>,
}

impl SystemClient {
    /// An active client with these credentials and the health and search scopes.
    pub fn new(id: &str, secret: &str, sha_secret: &str) -> SystemClient {
        SystemClient {
            id: id.into(),
            secret: secret.into(),
            sha_secret: sha_secret.into(),
            active: true,
            system_id: format!(
                "{:0>24}",
                id.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(24)
                    .collect::<String>()
            ),
            scopes: vec!["notification-api".into(), "recordsearch".into(), "webhook".into()],
        }
    }
}

/// How country config answers core's confirmation request for a notify action
/// (`POST /trigger/events/{type}/actions/NOTIFY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// 200: the action is accepted at once (the default).
    Accept,
    /// 202: the action stays `Requested` until [`Simulator::confirm`].
    Async,
    /// 400: the action is rejected.
    Reject,
    /// Anything else: core answers 500.
    Fail,
}

/// The deployment the simulator plays.
#[derive(Debug, Clone)]
pub struct Config {
    /// The generation. Default: 1.9.
    pub version: ServerVersion,
    /// System clients. Default: one, `demo-client` / `demo-secret` / `demo-sha-secret`.
    pub clients: Vec<SystemClient>,
    /// Token lifetime (`CONFIG_SYSTEM_TOKEN_EXPIRY_SECONDS`, 600 s).
    pub token_ttl: Duration,
    /// The domain the `Host` header routing answers for. Default: `farajaland.test`.
    pub domain: String,
    /// GraphQL searches with hits allowed per day (`RECORD_SEARCH_QUOTA`, 2000).
    pub search_quota: usize,
    /// Registered birth records in the search indexes at start.
    pub seeded_records: usize,
    /// How country config confirms notify actions.
    pub confirmation: Confirmation,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: ServerVersion::V1_9,
            clients: vec![SystemClient::new("demo-client", "demo-secret", "demo-sha-secret")],
            token_ttl: auth::DEFAULT_TTL,
            domain: "farajaland.test".into(),
            search_quota: 2000,
            seeded_records: 25,
            confirmation: Confirmation::Accept,
        }
    }
}

/// The simulator's mutable world.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) config: Config,
    pub(crate) signing_key: Vec<u8>,
    /// FHIR notifications accepted (v1.x), as saved bundles.
    pub(crate) notifications: Vec<Value>,
    /// The v1 search index (GraphQL results).
    pub(crate) records: Vec<Value>,
    /// Events v2 documents by id, and the event id of each create transaction.
    pub(crate) events: HashMap<String, Value>,
    pub(crate) event_order: Vec<String>,
    pub(crate) transactions: HashMap<String, String>,
    pub(crate) searches_with_hits: usize,
    pub(crate) subscriptions: Vec<webhooks::Subscription>,
    pub(crate) faults: VecDeque<u16>,
    pub(crate) base_url: String,
    /// Requests to serve before every token issued so far counts as expired.
    pub(crate) expire_after: Option<usize>,
    /// Tokens carry the generation they were issued in; older generations are expired.
    pub(crate) token_generation: u64,
    /// Requests to serve before a new registration appears (newest, so first).
    pub(crate) new_event_after: Option<usize>,
}

pub(crate) type Shared = Arc<Mutex<World>>;

/// A running OpenCRVS simulator.
pub struct Simulator {
    running: Running,
    world: Shared,
}

impl Simulator {
    /// Starts a 1.9 deployment with the demo client.
    pub fn start() -> Simulator {
        Simulator::with_config(Config::default())
    }

    /// Starts a deployment as `config` describes.
    pub fn with_config(config: Config) -> Simulator {
        let seeded = config.seeded_records;
        let world = Arc::new(Mutex::new(World {
            config,
            signing_key: rand::random::<[u8; 32]>().to_vec(),
            notifications: Vec::new(),
            records: (0..seeded).map(graphql::seeded_record).collect(),
            events: HashMap::new(),
            event_order: Vec::new(),
            transactions: HashMap::new(),
            searches_with_hits: 0,
            subscriptions: Vec::new(),
            faults: VecDeque::new(),
            base_url: String::new(),
            expire_after: None,
            token_generation: 0,
            new_event_after: None,
        }));
        for n in 0..seeded {
            let mut world = world.lock().expect("world");
            let event = events::seeded_event(&mut world, n);
            let id = event["id"].as_str().expect("id").to_string();
            world.event_order.push(id.clone());
            world.events.insert(id, event);
        }
        let running = Running::start(router(Arc::clone(&world)));
        world.lock().expect("world").base_url = running.url();
        Simulator { running, world }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.running.url()
    }

    /// The base URL of one service, e.g. `http://127.0.0.1:<port>/gateway`.
    pub fn service_url(&self, service: &str) -> String {
        format!("{}/{service}", self.running.url())
    }

    /// The server handle: address and recorded requests.
    pub fn server(&self) -> &Running {
        &self.running
    }

    /// A job configuration for `client` with every service named explicitly and
    /// `version` set to match the simulator (leave it out with `versioned: false`).
    pub fn configuration(&self, client: &SystemClient, versioned: bool) -> Value {
        let mut services = serde_json::Map::new();
        for service in ["auth", "gateway", "register", "countryconfig", "webhooks"] {
            services.insert(service.into(), json!(self.service_url(service)));
        }
        let mut config = json!({
            "domain": self.world().config.domain,
            "clientId": client.id,
            "clientSecret": client.secret,
            "services": services,
        });
        if versioned {
            config["version"] = json!(match self.world().config.version {
                ServerVersion::V1_3 => "1.3",
                ServerVersion::V1_8 => "1.8",
                ServerVersion::V1_9 => "1.9",
                ServerVersion::V2_0 => "2.0",
            });
        }
        config
    }

    /// A token for `client_id`, as the token endpoint would issue it.
    pub fn issue_token(&self, client_id: &str) -> Option<String> {
        let world = self.world();
        let client = world.config.clients.iter().find(|c| c.id == client_id)?;
        Some(auth::token_for(&world, client))
    }

    /// Replaces a client's secret; tokens already issued stay valid until they expire.
    pub fn rotate_secret(&self, client_id: &str, secret: &str) {
        let mut world = self.world();
        if let Some(c) = world.config.clients.iter_mut().find(|c| c.id == client_id) {
            c.secret = secret.into();
        }
    }

    /// The next `count` requests to services (not to the token endpoint) get a 502 from
    /// the gateway.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.world().faults.extend(std::iter::repeat_n(status, count));
    }

    /// Every token issued so far expires once `requests` more requests (not token
    /// requests) have been served, as the ten-minute lifetime does in a long job.
    pub fn expire_tokens_after(&self, requests: usize) {
        self.world().expire_after = Some(requests);
    }

    /// A birth is registered (the newest record, so first in search order) once
    /// `requests` more requests have been served: a client paging through search
    /// results sees them shift.
    pub fn add_event_after(&self, requests: usize) {
        self.world().new_event_after = Some(requests);
    }

    /// Country config's late answer to a notify action it took asynchronously: the
    /// action becomes `Accepted` (the event `NOTIFIED`) or `Rejected`.
    pub fn confirm(&self, event_id: &str, accept: bool) {
        events::confirm(&mut self.world(), event_id, accept);
    }

    /// The FHIR notifications accepted so far.
    pub fn notifications(&self) -> Vec<Value> {
        self.world().notifications.clone()
    }

    /// An event document by id.
    pub fn event(&self, id: &str) -> Option<Value> {
        self.world().events.get(id).cloned()
    }

    /// How many events exist (seeded ones included).
    pub fn event_count(&self) -> usize {
        self.world().events.len()
    }

    /// The webhook subscriptions, as `(id, callback, topic)`.
    pub fn subscriptions(&self) -> Vec<(String, String, String)> {
        self.world()
            .subscriptions
            .iter()
            .map(|s| (s.id.clone(), s.callback.clone(), s.topic.clone()))
            .collect()
    }

    /// Registers a birth and delivers `BIRTH_REGISTERED` to every subscriber, signed
    /// with the subscriber's SHA secret; returns what each callback answered.
    pub fn register_birth(&self, child_name: &str) -> Vec<Delivery> {
        webhooks::deliver(&self.world, "BIRTH_REGISTERED", child_name, webhooks::Signing::Correct)
    }

    /// The same delivery, but with `signing` gone wrong: a tampered body, a sha1
    /// header, or none.
    pub fn register_birth_signed(&self, child_name: &str, signing: webhooks::Signing) -> Vec<Delivery> {
        webhooks::deliver(&self.world, "BIRTH_REGISTERED", child_name, signing)
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("world")
    }
}

pub use webhooks::Signing;

fn router(world: Shared) -> Router<()> {
    let version = world.lock().expect("world").config.version;
    let authenticated = axum::middleware::from_fn_with_state(Arc::clone(&world), auth::require_token);
    let mut app = Router::new();

    // Token endpoints: auth.<d>/token in 1.x; gateway /auth/token from 1.7 (and only there in 2.0).
    if version != ServerVersion::V2_0 {
        app = app.route("/auth/token", post(auth::token));
    }
    if version != ServerVersion::V1_3 {
        app = app.route("/gateway/auth/token", post(auth::token));
    }

    // v1.x: FHIR notifications, GraphQL, FHIR locations (public), webhooks.
    if version != ServerVersion::V2_0 {
        app = app
            .route(
                "/gateway/notification",
                post(notification::create).layer(authenticated.clone()),
            )
            .route("/gateway/graphql", post(graphql::search))
            .route("/gateway/location", get(locations::fhir))
            .route("/gateway/locations", get(locations::fhir))
            .route(
                "/webhooks/webhooks",
                get(webhooks::list)
                    .post(webhooks::subscribe)
                    .layer(authenticated.clone()),
            )
            .route(
                "/webhooks/webhooks/{id}",
                delete(webhooks::unsubscribe).layer(authenticated.clone()),
            );
    }

    // Events v2 (1.9+), on the register host's /api prefix.
    if matches!(version, ServerVersion::V1_9 | ServerVersion::V2_0) {
        let mut events_routes = Router::new()
            .route("/register/api/events/events", post(events::create))
            .route("/register/api/events/events/search", post(events::search))
            .route("/register/api/events/events/{id}", get(events::get));
        events_routes = if version == ServerVersion::V1_9 {
            events_routes.route("/register/api/events/events/notifications", post(events::notify_v1_9))
        } else {
            events_routes
                .route("/register/api/events/events/{id}/notify", post(events::notify_v2))
                .route("/register/api/events/events/notify", post(events::create_and_notify))
                .route("/register/api/events/locations", get(locations::list))
        };
        app = app.merge(events_routes.layer(authenticated.clone()));
    }
    // The JavaScript adaptor's locations route.
    app = app.route(
        "/countryconfig/api/events/locations",
        get(locations::list).layer(authenticated),
    );

    let app = app
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&world), gateway_faults))
        .with_state(Arc::clone(&world));
    // Host-header routing: `gateway.<domain>/x` is `/gateway/x`.
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&world), route_by_host))
        .layer(axum::middleware::from_fn_with_state(world, version_header))
}

/// The gateway's `X-Version` header on every answer that is not an error, which
/// clients can use to detect the version.
async fn version_header(State(world): State<Shared>, request: Request, next: Next) -> Response {
    let version = match world.lock().expect("world").config.version {
        ServerVersion::V1_3 => "v1.3.5",
        ServerVersion::V1_8 => "v1.8.3",
        ServerVersion::V1_9 => "v1.9.15",
        ServerVersion::V2_0 => "v2.0.0",
    };
    let mut response = next.run(request).await;
    if !response.status().is_client_error() && !response.status().is_server_error() {
        response
            .headers_mut()
            .insert("x-version", axum::http::HeaderValue::from_static(version));
    }
    response
}

/// Rewrites `Host: <service>.<domain>` requests to the service's path prefix.
async fn route_by_host(State(world): State<Shared>, mut request: Request, next: Next) -> Response {
    let domain = world.lock().expect("world").config.domain.clone();
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    if let Some(service) = host.strip_suffix(&format!(".{domain}")) {
        let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
        if let Ok(uri) = format!("/{service}{path_and_query}").parse() {
            *request.uri_mut() = uri;
        }
    }
    next.run(request).await
}

/// Injected gateway failures (not on token requests).
async fn gateway_faults(State(world): State<Shared>, request: Request, next: Next) -> Response {
    if !request.uri().path().ends_with("/token") {
        let mut world = world.lock().expect("world");
        match world.expire_after {
            Some(n) if n <= 1 => {
                world.expire_after = None;
                world.token_generation += 1;
            }
            Some(n) => world.expire_after = Some(n - 1),
            None => {}
        }
        match world.new_event_after {
            Some(0) => {
                world.new_event_after = None;
                let n = world.events.len();
                let mut event = events::seeded_event(&mut world, n);
                event["updatedAt"] = json!(now_iso());
                let id = event["id"].as_str().expect("id").to_string();
                world.event_order.push(id.clone());
                world.events.insert(id, event);
            }
            Some(n) => world.new_event_after = Some(n - 1),
            None => {}
        }
        if let Some(status) = world.faults.pop_front() {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, status.canonical_reason().unwrap_or("Bad Gateway")).into_response();
        }
    }
    next.run(request).await
}

/// hapi's 404.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"})),
    )
        .into_response()
}

/// hapi's error body: `{statusCode, error, message}`.
pub(crate) fn hapi_error(status: StatusCode, message: &str) -> Response {
    let error = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "An internal server error occurred"
    } else {
        status.canonical_reason().unwrap_or("Error")
    };
    (
        status,
        axum::Json(json!({"statusCode": status.as_u16(), "error": error, "message": message})),
    )
        .into_response()
}

/// The trpc-to-openapi error body of the events service.
pub(crate) fn trpc_error(status: StatusCode, message: &str, path: &str) -> Response {
    let code = match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        _ => "INTERNAL_SERVER_ERROR",
    };
    let body =
        json!({"message": message, "code": code, "data": {"code": code, "httpStatus": status.as_u16(), "path": path}});
    (status, axum::Json(body)).into_response()
}

/// The current time, ISO 8601 with milliseconds.
pub(crate) fn now_iso() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
