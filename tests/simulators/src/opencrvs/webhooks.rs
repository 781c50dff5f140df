//! Webhooks (1.x): subscriptions verified by a challenge, and signed deliveries.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::Sha256;

use super::auth::Caller;
use super::{Shared, World, now_iso};
use crate::client;

const TOPICS: [&str; 6] = [
    "BIRTH_REGISTERED",
    "DEATH_REGISTERED",
    "BIRTH_CERTIFIED",
    "DEATH_CERTIFIED",
    "BIRTH_CORRECTED",
    "DEATH_CORRECTED",
];

/// What JavaScript's `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// A subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) callback: String,
    pub(crate) topic: String,
    pub(crate) system_id: String,
    pub(crate) created_at: String,
}

fn denied(topic: &str, reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"hub": {"mode": "denied", "topic": topic, "reason": reason}})),
    )
        .into_response()
}

/// `POST /webhooks`: topic, active system, secret and mode checks in that order, then
/// the challenge to the callback; 202 when it echoes.
pub(crate) async fn subscribe(
    State(world): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return denied("", "Invalid request payload JSON format");
    };
    let hub = &body["hub"];
    let topic = hub["topic"].as_str().unwrap_or_default().to_string();
    let callback = hub["callback"].as_str().unwrap_or_default().to_string();
    {
        let world = world.lock().expect("world");
        if !TOPICS.contains(&topic.as_str()) {
            return denied(&topic, &format!("Unsupported topic: {topic}"));
        }
        let Some(client) = world
            .config
            .clients
            .iter()
            .find(|c| c.system_id == caller.system_id && c.active)
        else {
            return denied(
                &topic,
                "Active system details cannot be found.  This system is no longer authorized",
            );
        };
        if hub["secret"].as_str() != Some(client.sha_secret.as_str()) {
            return denied(&topic, "hub.secret is incorrect");
        }
        if hub["mode"] != "subscribe" {
            return denied(&topic, "hub.mode must be set to subscribe");
        }
    }
    // The challenge replaces any query the callback had.
    let challenge = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let base = callback.split('?').next().unwrap_or_default();
    let url = format!(
        "{base}?mode=subscribe&challenge={}&topic={topic}",
        utf8_percent_encode(&challenge, URI_COMPONENT)
    );
    let echoed = client::send("GET", &url, &[("content-type", "application/json".into())], Vec::new())
        .await
        .ok()
        .and_then(|reply| serde_json::from_slice::<Value>(&reply.body).ok())
        .is_some_and(|answer| answer["challenge"] == challenge.as_str());
    if !echoed {
        return (StatusCode::BAD_REQUEST, "Subscription callback check failed").into_response();
    }
    let mut world = world.lock().expect("world");
    let id = format!("{:024x}", rand::random::<u128>() & ((1u128 << 96) - 1));
    world.subscriptions.push(Subscription {
        id,
        callback,
        topic,
        system_id: caller.system_id.clone(),
        created_at: now_iso(),
    });
    StatusCode::ACCEPTED.into_response()
}

/// `GET /webhooks`: the caller's subscriptions, oldest first.
pub(crate) async fn list(State(world): State<Shared>, Extension(caller): Extension<Caller>) -> Response {
    let world = world.lock().expect("world");
    let entries: Vec<Value> = world
        .subscriptions
        .iter()
        .filter(|s| s.system_id == caller.system_id)
        .map(|s| {
            json!({"id": s.id, "callback": s.callback, "createdAt": s.created_at, "topic": s.topic,
                   "createdBy": {"client_id": caller.system_id, "name": "Webhook client", "type": "webhook", "username": "webhook"}})
        })
        .collect();
    Json(json!({"entries": entries})).into_response()
}

/// `DELETE /webhooks/{id}`: 204 whatever the id, with no ownership check.
pub(crate) async fn unsubscribe(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    world.lock().expect("world").subscriptions.retain(|s| s.id != id);
    StatusCode::NO_CONTENT.into_response()
}

/// How a delivery is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// `X-Hub-Signature: sha256=<hmac>` over the body, as OpenCRVS signs.
    Correct,
    /// Correctly signed, then the body is changed.
    Tampered,
    /// The documentation's (wrong) `sha1=` header.
    Sha1,
    /// No signature header.
    Missing,
}

/// What one callback answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The callback URL.
    pub callback: String,
    /// Its answer's status, or `None` when it could not be reached (after 3 tries).
    pub status: Option<u16>,
    /// The body that was sent.
    pub body: String,
    /// The `X-Hub-Signature` that was sent, if any.
    pub signature: Option<String>,
}

impl Delivery {
    /// Sends the same body with the same signature again, as OpenCRVS does after a
    /// network error; returns the callback's status.
    pub fn repeat(&self) -> Option<u16> {
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(signature) = &self.signature {
            headers.push(("x-hub-signature", signature.clone()));
        }
        client::send_blocking("POST", &self.callback, headers, self.body.clone().into_bytes())
            .ok()
            .map(|r| r.status)
    }
}

/// `"sha256=" + hex(HMAC_SHA256(sha_secret, "sha256:" + encodeURIComponent(body)))`.
pub(crate) fn signature(sha_secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(sha_secret.as_bytes()).expect("any key length");
    mac.update(format!("sha256:{}", utf8_percent_encode(body, URI_COMPONENT)).as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Registers a record and POSTs the event to every subscriber of `topic`. Only network
/// errors are retried (3 attempts); any HTTP answer counts as delivered.
pub(crate) fn deliver(world: &Arc<Mutex<World>>, topic: &str, child_name: &str, signing: Signing) -> Vec<Delivery> {
    let targets: Vec<(String, String, String)> = {
        let world = world.lock().expect("world");
        world
            .subscriptions
            .iter()
            .filter(|s| s.topic == topic)
            .filter_map(|s| {
                let client = world.config.clients.iter().find(|c| c.system_id == s.system_id)?;
                Some((s.id.clone(), s.callback.clone(), client.sha_secret.clone()))
            })
            .collect()
    };
    let record = json!({"resourceType": "Bundle", "type": "document", "entry": [
        {"fullUrl": "urn:uuid:task", "resource": {"resourceType": "Task", "businessStatus": {"coding": [{"code": "REGISTERED"}]},
          "identifier": [{"system": "http://opencrvs.org/specs/id/birth-registration-number", "value": "2025BFAR0001"}]}},
        {"fullUrl": "urn:uuid:child", "resource": {"resourceType": "Patient", "name": [{"use": "en", "given": [child_name], "family": "Banda"}]}}
    ]});
    targets
        .into_iter()
        .map(|(id, callback, secret)| {
            let body =
                json!({"timestamp": now_iso(), "id": id, "event": {"hub": {"topic": topic}, "context": [record]}})
                    .to_string();
            let mut headers = vec![("content-type", "application/json".to_string())];
            let sent_body = match signing {
                Signing::Correct => {
                    headers.push(("x-hub-signature", signature(&secret, &body)));
                    body.clone()
                }
                Signing::Tampered => {
                    headers.push(("x-hub-signature", signature(&secret, &body)));
                    body.replace(child_name, "Mallory")
                }
                Signing::Sha1 => {
                    headers.push(("x-hub-signature", format!("sha1={}", &signature(&secret, &body)[7..47])));
                    body.clone()
                }
                Signing::Missing => body.clone(),
            };
            let mut status = None;
            for _ in 0..3 {
                if let Ok(reply) =
                    client::send_blocking("POST", &callback, headers.clone(), sent_body.clone().into_bytes())
                {
                    status = Some(reply.status);
                    break;
                }
            }
            let signature = headers
                .iter()
                .find(|(n, _)| *n == "x-hub-signature")
                .map(|(_, v)| v.clone());
            Delivery {
                callback,
                status,
                body: sent_body,
                signature,
            }
        })
        .collect()
}
