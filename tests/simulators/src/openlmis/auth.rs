//! The auth service: `POST /api/oauth/token` and the token check every resource makes.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::Shared;

/// An issued token.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub(crate) expires_at: Instant,
}

/// The demo administrator's reference-data user id.
const ADMIN_USER_ID: &str = "a337ec45-31a0-4f2b-9b2e-a105c4b669bb";

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `POST /api/oauth/token`. Grant parameters may come in the query string (as the
/// RAML documents) or a form body.
pub(crate) async fn token(
    State(world): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params = query;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        for (k, v) in pairs(&body) {
            params.entry(k).or_insert(v);
        }
    }
    let mut world = world.lock().expect("world");

    let Some((client_id, client_secret)) = basic_credentials(&headers) else {
        return unauthorized_client();
    };
    let Some(client) = world
        .config
        .clients
        .iter()
        .find(|c| c.id == client_id && c.secret == client_secret)
        .cloned()
    else {
        return unauthorized_client();
    };
    let grant = match params.get("grant_type") {
        None => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing grant type");
        }
        Some(g) => g.clone(),
    };
    if !matches!(
        grant.as_str(),
        "password" | "client_credentials" | "authorization_code" | "refresh_token"
    ) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Unsupported grant type: {grant}"),
        );
    }
    if !client.grants.contains(&grant) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            &format!("Unauthorized grant type: {grant}"),
        );
    }
    let ttl = world.config.token_ttl;
    let token = uuid::Uuid::new_v4().to_string();
    let expires_in = ttl.as_secs().saturating_sub(1);
    if grant == "client_credentials" {
        world.tokens.insert(
            token.clone(),
            TokenInfo {
                expires_at: Instant::now() + ttl,
            },
        );
        return axum::Json(
            json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in, "scope": "read write"}),
        )
        .into_response();
    }
    // Usernames are case-insensitive (OLMIS-3537).
    let username = params.get("username").cloned().unwrap_or_default();
    let password = params.get("password").cloned().unwrap_or_default();
    let failures = world.failed_logins.get(&username.to_lowercase()).copied().unwrap_or(0);
    if failures >= world.config.max_failed_logins {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Too many failed login attempts. You can't access this page right now. Please try again later.",
        );
    }
    let Some((user, _)) = world
        .config
        .users
        .iter()
        .find(|(u, p)| u.eq_ignore_ascii_case(&username) && *p == password)
        .cloned()
    else {
        *world.failed_logins.entry(username.to_lowercase()).or_default() += 1;
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad credentials");
    };
    world.failed_logins.remove(&username.to_lowercase());
    world.tokens.insert(
        token.clone(),
        TokenInfo {
            expires_at: Instant::now() + ttl,
        },
    );
    axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "scope": "read write",
        "referenceDataUserId": ADMIN_USER_ID,
        "username": user,
    }))
    .into_response()
}

/// Any other method on the token endpoint.
pub(crate) async fn method_not_allowed() -> Response {
    oauth_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Request method not supported",
    )
}

fn unauthorized_client() -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "unauthorized", "Bad credentials");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Basic realm=\"oauth2/client\"".parse().expect("static header"),
    );
    response
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

/// Resource services' token check: a live token in `Authorization: Bearer` or the
/// `access_token` query parameter, renewed on every use (sliding expiry).
pub(crate) async fn require_token(State(world): State<Shared>, request: Request, next: Next) -> Response {
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::to_string);
    let query_allowed = world.lock().expect("world").config.query_token;
    let from_query = request.uri().query().filter(|_| query_allowed).and_then(|q| {
        pairs(q.as_bytes())
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    });
    let Some(token) = from_header.or(from_query) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Full authentication is required to access this resource",
        );
    };
    {
        let mut world = world.lock().expect("world");
        let ttl = world.config.token_ttl;
        let now = Instant::now();
        match world.tokens.get_mut(&token) {
            Some(info) if info.expires_at > now => info.expires_at = now + ttl,
            _ => {
                world.tokens.remove(&token);
                let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", &token);
                let challenge =
                    format!("Bearer realm=\"openlmis\", error=\"invalid_token\", error_description=\"{token}\"");
                if let Ok(value) = challenge.parse() {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
                }
                return response;
            }
        }
    }
    next.run(request).await
}
