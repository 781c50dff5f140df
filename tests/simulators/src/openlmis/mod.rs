//! A simulator of the OpenLMIS v3 API behind its nginx gateway: one origin, every
//! service under `/api`.
//!
//! What it reproduces (see `shared/reference/openlmis-api.md`):
//! - the auth service's `POST /api/oauth/token` (password and client-credentials
//!   grants, HTTP Basic client authentication, Spring Security OAuth2's error bodies),
//!   sliding token expiry and mass revocation ([`Simulator::revoke_all_tokens`]);
//! - resource authentication: `Authorization: Bearer` or `?access_token=`, with 401
//!   `unauthorized` / `invalid_token` bodies;
//! - reference data: `/api/programs` (a bare array), `/api/facilities` (a Spring page
//!   over the demo's 2,734 facilities), `/api/facilities/{id}`;
//! - stock management: `POST /api/stockEvents` with its validation;
//! - injected failures ([`Simulator::fail_next`]).

mod auth;
mod data;
mod paging;
mod reference;
mod stock;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::server::Running;

pub use data::{DEMO_FACILITY_COUNT, PROGRAMS};

/// Who may log in, and how long tokens live.
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
        }
    }
}

/// The simulator's mutable world.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) config: Config,
    pub(crate) tokens: HashMap<String, auth::TokenInfo>,
    pub(crate) facilities: Vec<Value>,
    pub(crate) stock_events: Vec<Value>,
    pub(crate) faults: VecDeque<StatusCode>,
    /// Resource requests to serve before every token is revoked.
    pub(crate) revoke_after: Option<usize>,
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

    /// Starts a simulator with these users, clients and token lifetime.
    pub fn with_config(config: Config) -> Simulator {
        let world = Arc::new(Mutex::new(World {
            config,
            tokens: HashMap::new(),
            facilities: data::facilities(),
            stock_events: Vec::new(),
            faults: VecDeque::new(),
            revoke_after: None,
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

    /// The next `count` resource requests (not logins) fail with `status`, as a
    /// downstream failure or an overloaded gateway would.
    pub fn fail_next(&self, count: usize, status: u16) {
        let status = StatusCode::from_u16(status).expect("a valid status");
        self.world
            .lock()
            .expect("world")
            .faults
            .extend(std::iter::repeat_n(status, count));
    }

    /// Forgets every issued token, as a restart of the auth service does.
    pub fn revoke_all_tokens(&self) {
        self.world.lock().expect("world").tokens.clear();
    }

    /// Revokes every token once `requests` more resource requests have been served,
    /// as an auth-service restart in the middle of a job would.
    pub fn revoke_all_tokens_after(&self, requests: usize) {
        self.world.lock().expect("world").revoke_after = Some(requests);
    }

    /// The stock events accepted so far.
    pub fn stock_events(&self) -> Vec<Value> {
        self.world.lock().expect("world").stock_events.clone()
    }
}

fn router(world: Shared) -> Router {
    let resources = Router::new()
        .route("/api/programs", get(reference::programs))
        .route("/api/facilities", get(reference::facilities))
        .route("/api/facilities/{id}", get(reference::facility))
        .route("/api/stockEvents", post(stock::create_event))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&world),
            auth::require_token,
        ));
    Router::new()
        .route("/api/oauth/token", post(auth::token).fallback(auth::method_not_allowed))
        .merge(resources)
        .fallback(not_found)
        .with_state(world)
}

/// OpenLMIS's error body: `{"messageKey": ..., "message": ...}`.
pub(crate) fn message(status: StatusCode, key: &str, text: &str) -> Response {
    (status, axum::Json(json!({"messageKey": key, "message": text}))).into_response()
}

async fn not_found() -> Response {
    // Spring's default for an unmapped path behind the gateway.
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"timestamp": "2017-01-01T00:00:00.000+0000", "status": 404, "error": "Not Found", "message": "No message available"})),
    )
        .into_response()
}
