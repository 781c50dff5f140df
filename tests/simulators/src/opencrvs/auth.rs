//! The auth service: `POST /token` (client credentials, parameters in the query; 2.0
//! also reads a body), JWTs with `exp`, and the token check of the resource services.
//!
//! Tokens are signed HS256 with a key the simulator makes at start, where OpenCRVS
//! signs RS256: clients never verify the signature, they only read `exp`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{ServerVersion, Shared, SystemClient, World};

const ERROR_URI: &str = "Refer to https://documentation.opencrvs.org/technology/interoperability/authenticate-a-client";

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description, "error_uri": ERROR_URI});
    (status, [(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Signs `claims` as a compact JWS (HS256).
pub(crate) fn sign(key: &[u8], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    format!(
        "{header}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The claims of a token this simulator signed, or why it is refused
/// (`Invalid token` / `Expired token`).
pub(crate) fn verify(key: &[u8], generation: u64, token: &str) -> Result<Value, &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("Invalid token");
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "Invalid token")?;
    mac.verify_slice(&signature).map_err(|_| "Invalid token")?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Invalid token")?;
    if claims["exp"].as_u64().is_none_or(|exp| exp <= now()) || claims["gen"].as_u64().is_none_or(|g| g < generation) {
        return Err("Expired token");
    }
    Ok(claims)
}

/// `POST /token` (`auth` service) and `POST /auth/token` (gateway).
pub(crate) async fn token(
    State(world): State<Shared>,
    raw_query: axum::extract::RawQuery,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let world = world.lock().expect("world");
    // A repeated key becomes an array in hapi, which no check accepts.
    let repeated = |key: &str| {
        form_urlencoded::parse(raw_query.0.as_deref().unwrap_or_default().as_bytes())
            .filter(|(k, _)| k == key)
            .count()
            > 1
    };
    let mut params = query;
    if world.config.version == ServerVersion::V2_0 {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json && let Ok(Value::Object(payload)) = serde_json::from_slice::<Value>(&body) {
            for (k, v) in payload {
                if let Value::String(v) = v {
                    params.entry(k).or_insert(v);
                }
            }
        }
    }
    let grant = params.get("grant_type").filter(|_| !repeated("grant_type"));
    if grant.map(String::as_str) != Some("client_credentials") {
        let description = if world.config.version == ServerVersion::V1_3 {
            "Invalid grant type. Only client_credentials is supported."
        } else {
            "Invalid or undefined grant type. Only \"client_credentials\" or \"urn:opencrvs:oauth:grant-type:token-exchange\" are supported."
        };
        return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", description);
    }
    let (Some(id), Some(secret)) = (params.get("client_id"), params.get("client_secret")) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request. Check that all required parameters have been provided.",
        );
    };
    let Some(client) = world
        .config
        .clients
        .iter()
        .find(|c| &c.id == id && &c.secret == secret && c.active)
    else {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client id or secret",
        );
    };
    let token = token_for(&world, client);
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({"access_token": token, "token_type": "Bearer"})),
    )
        .into_response()
}

/// A signed token for `client`, living `token_ttl`.
pub(crate) fn token_for(world: &World, client: &SystemClient) -> String {
    let iat = now();
    let claims = json!({
        "scope": client.scopes,
        "iat": iat,
        "exp": iat + world.config.token_ttl.as_secs(),
        "aud": ["opencrvs:auth-user", "opencrvs:gateway-user", "opencrvs:webhooks-user", "opencrvs:notification-api-user"],
        "iss": "opencrvs:auth-service",
        "sub": client.system_id,
        "userType": "system",
        // The simulator's own claim, for expiring tokens early (`expire_tokens_after`).
        "gen": world.token_generation,
    });
    sign(&world.signing_key, &claims)
}

/// hapi-auth-jwt2's refusal.
fn unauthorized(message: &str) -> Response {
    let body =
        json!({"statusCode": 401, "error": "Unauthorized", "message": message, "attributes": {"error": message}});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// The token check of REST resources: 401 `Missing authentication`, `Invalid token`
/// or `Expired token`. The caller's system id goes into the request's extensions.
pub(crate) async fn require_token(State(world): State<Shared>, mut request: Request, next: Next) -> Response {
    let Some(token) = bearer(request.headers()) else {
        return unauthorized("Missing authentication");
    };
    let (key, generation) = {
        let world = world.lock().expect("world");
        (world.signing_key.clone(), world.token_generation)
    };
    match verify(&key, generation, &token) {
        Ok(claims) => {
            request.extensions_mut().insert(Caller {
                system_id: claims["sub"].as_str().unwrap_or_default().to_string(),
                scopes: claims["scope"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            });
            next.run(request).await
        }
        Err(message) => unauthorized(message),
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The system id (`sub`).
    pub(crate) system_id: String,
    /// The token's scopes.
    pub(crate) scopes: Vec<String>,
}

impl Caller {
    /// Whether the token carries any of `scopes` (by prefix, so
    /// `record.notify[event=birth]` counts as `record.notify`).
    pub(crate) fn may(&self, scopes: &[&str]) -> bool {
        self.scopes
            .iter()
            .any(|have| scopes.iter().any(|want| have.starts_with(want)))
    }
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

/// Seconds a token lives, for `Config`.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(600);
