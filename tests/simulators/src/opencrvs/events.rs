//! Events v2 (1.9 and 2.0): create, notify, one-shot notify, search, read.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Caller;
use super::{Confirmation, ServerVersion, Shared, World, locations, now_iso, trpc_error};

/// The declaration fields of the birth event configuration (Farajaland's, abridged).
const BIRTH_FIELDS: [&str; 12] = [
    "child.name",
    "child.dob",
    "child.gender",
    "child.placeOfBirth",
    "child.birthLocation",
    "child.weightAtBirth",
    "mother.name",
    "mother.dob",
    "mother.nid",
    "mother.address",
    "informant.relation",
    "informant.phoneNo",
];
const EVENT_TYPES: [&str; 2] = ["birth", "death"];

/// Scopes that allow creating and notifying events (1.9: `record.create[...]`,
/// `record.notify[...]`; 2.0: `type=record.*`; the older `notification-api`).
const NOTIFY_SCOPES: [&str; 5] = [
    "notification-api",
    "record.create",
    "record.notify",
    "type=record.create",
    "type=record.notify",
];
/// Scopes that allow searching.
const SEARCH_SCOPES: [&str; 3] = ["recordsearch", "record.search", "type=record.search"];

/// What every events procedure checks first: the caller's scopes (403), then that the
/// body is JSON (400). Returns the body.
fn admit(
    caller: &Caller,
    scopes: &[&str],
    body: Result<Json<Value>, JsonRejection>,
    path: &str,
) -> Result<Value, Response> {
    if !caller.may(scopes) {
        return Err(trpc_error(StatusCode::FORBIDDEN, "FORBIDDEN", path));
    }
    body.map(|Json(body)| body)
        .map_err(|_| trpc_error(StatusCode::BAD_REQUEST, "Input validation failed", path))
}

fn tracking_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_uppercase()
}

/// A registered birth in the v2 index.
pub(crate) fn seeded_event(_world: &mut World, n: usize) -> Value {
    json!({
        "id": format!("7a1d0c2e-0000-4000-9000-{n:012x}"), "type": "birth", "status": "REGISTERED",
        "trackingId": format!("R{n:05}"), "createdAt": "2025-06-02T10:00:00.000Z",
        "updatedAt": format!("2025-06-02T10:{:02}:{:02}.000Z", n / 60 % 60, n % 60),
        "createdAtLocation": locations::OFFICE, "flags": [],
        "legalStatuses": {"REGISTERED": {"acceptedAt": "2025-06-02T10:00:00.000Z", "registrationNumber": format!("BRN{n:07}")}},
        "declaration": {"child.name": {"firstname": format!("Child{n}"), "surname": "Phiri"}, "child.dob": "2025-06-01"},
        "actions": []
    })
}

/// `POST /api/events/events` `{type, transactionId, createdAtLocation?}`: idempotent on
/// the transaction id; 2.0 requires `createdAtLocation` from system clients.
pub(crate) async fn create(
    State(world): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let path = "event.create";
    let body = match admit(&caller, &NOTIFY_SCOPES, body, path) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut world = world.lock().expect("world");
    let (Some(event_type), Some(transaction)) = (body["type"].as_str(), body["transactionId"].as_str()) else {
        return trpc_error(StatusCode::BAD_REQUEST, "Input validation failed", path);
    };
    if !EVENT_TYPES.contains(&event_type) {
        return trpc_error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid event type {event_type}"),
            path,
        );
    }
    let location = body["createdAtLocation"].as_str();
    if world.config.version == ServerVersion::V2_0
        && let Err(response) = check_location(location, path)
    {
        return response;
    }
    if let Some(id) = world.transactions.get(transaction) {
        return Json(world.events[id].clone()).into_response();
    }
    let now = now_iso();
    let id = uuid::Uuid::new_v4().to_string();
    let mut event = json!({
        "id": id, "type": event_type, "status": "CREATED", "createdAt": now, "updatedAt": now, "trackingId": tracking_id(),
        "flags": [], "declaration": {},
        "actions": [{"id": uuid::Uuid::new_v4().to_string(), "type": "CREATE", "transactionId": transaction,
                     "createdByUserType": "system", "createdAt": now, "createdByRole": "HEALTH",
                     "declaration": {}, "status": "Accepted"}]
    });
    // 1.9 strips unknown keys; 2.0 keeps the location.
    if world.config.version == ServerVersion::V2_0 {
        event["createdAtLocation"] = json!(location);
    }
    world.transactions.insert(transaction.to_string(), id.clone());
    world.event_order.push(id.clone());
    world.events.insert(id, event.clone());
    Json(event).into_response()
}

/// `createdAtLocation` checks, with the server's messages.
fn check_location(location: Option<&str>, path: &str) -> Result<(), Response> {
    let Some(location) = location else {
        return Err(trpc_error(
            StatusCode::BAD_REQUEST,
            "createdAtLocation is required and must be a valid office id",
            path,
        ));
    };
    if uuid::Uuid::parse_str(location).is_err() {
        let issue = json!([{"validation": "uuid", "code": "invalid_string", "message": "Invalid uuid", "path": ["createdAtLocation"]}]);
        return Err(trpc_error(StatusCode::BAD_REQUEST, &issue.to_string(), path));
    }
    match locations::kind(location) {
        Some("CRVS_OFFICE") => Ok(()),
        Some(_) => Err(trpc_error(
            StatusCode::BAD_REQUEST,
            "createdAtLocation must be an office location",
            path,
        )),
        // A foreign-key violation, masked in production.
        None => Err(trpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
            path,
        )),
    }
}

/// The notify action on event `id`: replays of a transaction return the same document.
fn notify(world: &mut World, id: &str, body: &Value, path: &str) -> Response {
    let Some(event) = world.events.get(id).cloned() else {
        return trpc_error(StatusCode::NOT_FOUND, &format!("Event not found with ID: {id}"), path);
    };
    let Some(transaction) = body["transactionId"].as_str() else {
        return trpc_error(StatusCode::BAD_REQUEST, "Input validation failed", path);
    };
    if event["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a["type"] == "NOTIFY" && a["transactionId"] == transaction)
    {
        return Json(event).into_response();
    }
    if let Err(response) = check_location(body["createdAtLocation"].as_str(), path) {
        return response;
    }
    let declaration = body["declaration"].as_object().cloned().unwrap_or_default();
    let unexpected: Vec<Value> = declaration
        .iter()
        .filter(|(k, _)| event["type"] == "birth" && !BIRTH_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| json!({"message": "Unexpected field", "id": k, "value": v}))
        .collect();
    if !unexpected.is_empty() {
        return trpc_error(StatusCode::BAD_REQUEST, &Value::Array(unexpected).to_string(), path);
    }
    if let Some(name) = declaration.get("child.name")
        && !(name.is_object() && name["firstname"].is_string())
    {
        let issue = json!([{"message": "Invalid input", "id": "child.name", "value": name}]);
        return trpc_error(StatusCode::BAD_REQUEST, &issue.to_string(), path);
    }
    let status = event["status"].as_str().unwrap_or_default();
    if status != "CREATED" {
        let message = format!(
            "Action 'NOTIFY' cannot be performed on an event in '{status}' state with [] flags. Available actions: READ"
        );
        return trpc_error(StatusCode::CONFLICT, &message, path);
    }
    let confirmation = world.config.confirmation;
    if confirmation == Confirmation::Fail {
        return trpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected failure from country config action confirmation API",
            path,
        );
    }
    let now = now_iso();
    let stored = world.events.get_mut(id).expect("found above");
    stored["updatedAt"] = json!(now);
    stored["declaration"] = Value::Object(declaration.clone());
    stored["createdAtLocation"] = body["createdAtLocation"].clone();
    let outcome = match confirmation {
        Confirmation::Accept => Some("Accepted"),
        Confirmation::Reject => Some("Rejected"),
        Confirmation::Async | Confirmation::Fail => None,
    };
    if outcome == Some("Accepted") {
        stored["status"] = json!("NOTIFIED");
    }
    let actions = stored["actions"].as_array_mut().expect("actions");
    for status in std::iter::once("Requested").chain(outcome) {
        actions.push(
            json!({"id": uuid::Uuid::new_v4().to_string(), "type": "NOTIFY", "transactionId": transaction,
                            "createdByUserType": "system", "createdAt": now, "createdByRole": "HEALTH",
                            "declaration": declaration, "annotation": body["annotation"], "status": status}),
        );
    }
    Json(stored.clone()).into_response()
}

/// Country config's late answer to an asynchronous confirmation.
pub(crate) fn confirm(world: &mut World, id: &str, accept: bool) {
    let Some(event) = world.events.get_mut(id) else { return };
    let Some(requested) = event["actions"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .rev()
                .find(|a| a["type"] == "NOTIFY" && a["status"] == "Requested")
        })
        .cloned()
    else {
        return;
    };
    let mut answer = requested;
    answer["id"] = json!(uuid::Uuid::new_v4().to_string());
    answer["createdAt"] = json!(now_iso());
    answer["status"] = json!(if accept { "Accepted" } else { "Rejected" });
    if accept {
        event["status"] = json!("NOTIFIED");
    }
    event["actions"].as_array_mut().expect("actions").push(answer);
}

/// 1.9: `POST /api/events/events/notifications` with `eventId` in the body.
pub(crate) async fn notify_v1_9(
    State(world): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let path = "event.actions.notify.request";
    let body = match admit(&caller, &NOTIFY_SCOPES, body, path) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(id) = body["eventId"].as_str().map(str::to_string) else {
        return trpc_error(StatusCode::BAD_REQUEST, "Input validation failed", path);
    };
    notify(&mut world.lock().expect("world"), &id, &body, path)
}

/// 2.0: `POST /api/events/events/{id}/notify`.
pub(crate) async fn notify_v2(
    State(world): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let path = "event.actions.notify.request";
    let body = match admit(&caller, &NOTIFY_SCOPES, body, path) {
        Ok(body) => body,
        Err(response) => return response,
    };
    notify(&mut world.lock().expect("world"), &id, &body, path)
}

/// 2.0: `POST /api/events/events/notify`, create and notify in one call.
pub(crate) async fn create_and_notify(
    State(world): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let path = "event.createAndNotify";
    let body = match admit(&caller, &NOTIFY_SCOPES, body, path) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let event_type = body["eventType"].as_str().unwrap_or_default();
    if !EVENT_TYPES.contains(&event_type) {
        return trpc_error(
            StatusCode::BAD_REQUEST,
            &format!("No configuration found for event type: {event_type}"),
            path,
        );
    }
    let Some(transaction) = body["transactionId"].as_str() else {
        return trpc_error(StatusCode::BAD_REQUEST, "Input validation failed", path);
    };
    if let Err(response) = check_location(body["createdAtLocation"].as_str(), path) {
        return response;
    }
    let mut world = world.lock().expect("world");
    let create_key = format!("{transaction}:create");
    let id = match world.transactions.get(&create_key) {
        Some(id) => id.clone(),
        None => {
            let now = now_iso();
            let id = uuid::Uuid::new_v4().to_string();
            let event = json!({"id": id, "type": event_type, "status": "CREATED", "createdAt": now, "updatedAt": now,
                               "trackingId": tracking_id(), "flags": [], "declaration": {}, "actions": []});
            world.transactions.insert(create_key, id.clone());
            world.event_order.push(id.clone());
            world.events.insert(id.clone(), event);
            id
        }
    };
    notify(&mut world, &id, &body, path)
}

/// `POST /api/events/events/search` `{query, limit, offset, sort}`: `{results, total}`,
/// newest `updatedAt` first.
pub(crate) async fn search(
    State(world): State<Shared>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let path = "event.search";
    let body = match admit(&caller, &SEARCH_SCOPES, body, path) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let query = match &body["query"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    let Some(clauses) = query["clauses"].as_array() else {
        return trpc_error(StatusCode::BAD_REQUEST, "Input validation failed", path);
    };
    if clauses.iter().any(|c| c.as_object().is_none_or(|o| o.is_empty())) {
        return trpc_error(
            StatusCode::BAD_REQUEST,
            "At least one query field must be specified.",
            path,
        );
    }
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    let offset = body["offset"].as_u64().unwrap_or(0) as usize;
    if offset + limit > 10_000 {
        return trpc_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error", path);
    }
    let world = world.lock().expect("world");
    let matches = |event: &Value| {
        clauses.iter().any(|clause| {
            clause["eventType"].as_str().is_none_or(|t| event["type"] == t)
                && clause["status"]["term"].as_str().is_none_or(|s| event["status"] == s)
                && clause["trackingId"]["term"]
                    .as_str()
                    .is_none_or(|t| event["trackingId"] == t)
        })
    };
    let mut found: Vec<&Value> = world
        .event_order
        .iter()
        .map(|id| &world.events[id])
        .filter(|e| matches(e))
        .collect();
    found.sort_by(|a, b| b["updatedAt"].as_str().cmp(&a["updatedAt"].as_str()));
    let total = found.len();
    let results: Vec<Value> = found.into_iter().skip(offset).take(limit).cloned().collect();
    Json(json!({"results": results, "total": total})).into_response()
}

/// `GET /api/events/events/{id}`: 2.0 only (1.9 refuses system clients).
pub(crate) async fn get(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    let world = world.lock().expect("world");
    if world.config.version == ServerVersion::V1_9 {
        return trpc_error(StatusCode::FORBIDDEN, "FORBIDDEN", "event.get");
    }
    match world.events.get(&id) {
        Some(event) => Json(event.clone()).into_response(),
        None => trpc_error(
            StatusCode::NOT_FOUND,
            &format!("Event not found with ID: {id}"),
            "event.get",
        ),
    }
}
