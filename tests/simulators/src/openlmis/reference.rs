//! The reference-data service: programs and facilities.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::paging::PageRequest;
use super::{Shared, data, message};

/// `GET /api/programs`: a bare array, optionally filtered by `code` or `name`.
pub(crate) async fn programs(Query(query): Query<HashMap<String, String>>) -> Response {
    let programs: Vec<_> = data::programs()
        .into_iter()
        .filter(|p| query.get("code").is_none_or(|c| p["code"] == c.as_str()))
        .filter(|p| {
            query
                .get("name")
                .is_none_or(|n| p["name"].as_str().is_some_and(|v| v.contains(n.as_str())))
        })
        .collect();
    Json(programs).into_response()
}

/// `GET /api/facilities`: a page of `BasicFacilityDto`, filterable by `code` and
/// `name` (contains, case-insensitive).
pub(crate) async fn facilities(State(world): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let request = match PageRequest::from_query(&query, "referenceData") {
        Ok(r) => r,
        Err(response) => return response,
    };
    let world = world.lock().expect("world");
    let name = query.get("name").map(|n| n.to_lowercase());
    let matching: Vec<_> = world
        .facilities
        .iter()
        .filter(|f| query.get("code").is_none_or(|c| f["code"] == c.as_str()))
        .filter(|f| {
            name.as_ref().is_none_or(|n| {
                f["name"]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(n.as_str()))
            })
        })
        .collect::<Vec<_>>();
    Json(request.page(&matching)).into_response()
}

/// `GET /api/facilities/{id}`.
pub(crate) async fn facility(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    let world = world.lock().expect("world");
    match world.facilities.iter().find(|f| f["id"] == id.as_str()) {
        Some(f) => Json(f.clone()).into_response(),
        None => message(
            StatusCode::NOT_FOUND,
            "referenceData.error.facility.notFound",
            &format!("Facility with id {id} not found"),
        ),
    }
}

/// `GET /api/orderables`: a page, filterable by `exactCode` and `code` (contains) and
/// `name` (contains, case-insensitive); `exactCode` and `id` may repeat.
pub(crate) async fn orderables(State(world): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let single: HashMap<String, String> = pairs.iter().cloned().collect();
    let request = match PageRequest::from_query(&single, "referenceData") {
        Ok(r) => r,
        Err(response) => return response,
    };
    let all = |key: &str| {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    let (exact, ids) = (all("exactCode"), all("id"));
    let code = single.get("code");
    let name = single.get("name").map(|n| n.to_lowercase());
    let world = world.lock().expect("world");
    let matching: Vec<_> = world
        .orderables
        .iter()
        .filter(|o| {
            exact.is_empty()
                || exact
                    .iter()
                    .any(|c| o["productCode"].as_str().is_some_and(|p| p.eq_ignore_ascii_case(c)))
        })
        .filter(|o| ids.is_empty() || ids.iter().any(|id| o["id"] == *id))
        .filter(|o| code.is_none_or(|c| o["productCode"].as_str().is_some_and(|p| p.contains(c.as_str()))))
        .filter(|o| {
            name.as_ref().is_none_or(|n| {
                o["fullProductName"]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(n.as_str()))
            })
        })
        .collect::<Vec<_>>();
    Json(request.page(&matching)).into_response()
}

/// `meta.lastUpdated` (ISO 8601) as an HTTP date.
fn http_date(iso: &str) -> Option<String> {
    humantime::parse_rfc3339(iso).ok().map(httpdate::fmt_http_date)
}

/// `GET /api/orderables/{id}?versionNumber=`: the newest version or the one asked
/// for, with `Last-Modified`; `If-Modified-Since` not older than it gets 304.
pub(crate) async fn orderable(
    State(world): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let world = world.lock().expect("world");
    let Some(newest) = world.orderables.iter().find(|o| o["id"] == id.as_str()) else {
        return message(
            StatusCode::NOT_FOUND,
            "referenceData.error.orderable.notFound",
            &format!("Orderable with id {id} not found"),
        );
    };
    let found = match query.get("versionNumber").map(|v| v.parse::<u64>()) {
        None => Some(newest),
        Some(Ok(n)) => std::iter::once(newest)
            .chain(world.orderable_versions.get(&id).into_iter().flatten())
            .find(|o| o["meta"]["versionNumber"] == n),
        Some(Err(_)) => None,
    };
    let Some(found) = found else {
        return message(
            StatusCode::NOT_FOUND,
            "referenceData.error.orderable.notFound",
            "Orderable version not found",
        );
    };
    let modified = found["meta"]["lastUpdated"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
    let since = headers
        .get(axum::http::header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    if let (Some(modified), Some(since)) = (modified, since)
        && modified <= since
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut response = Json(found.clone()).into_response();
    if let Some(date) = found["meta"]["lastUpdated"].as_str().and_then(http_date)
        && let Ok(value) = date.parse()
    {
        response.headers_mut().insert(axum::http::header::LAST_MODIFIED, value);
    }
    response
}

/// `PUT /api/orderables/{id}`: a new version (the body's id must be the path's).
pub(crate) async fn update_orderable(
    State(world): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(mut orderable)) = body else {
        return message(
            StatusCode::BAD_REQUEST,
            "referenceData.error.orderable.invalid",
            "The orderable is not valid JSON",
        );
    };
    if orderable["id"] != id.as_str() {
        return message(
            StatusCode::BAD_REQUEST,
            "referenceData.error.orderable.idMismatch",
            "Orderable id in the body does not match the id in the path",
        );
    }
    let mut world = world.lock().expect("world");
    let Some(index) = world.orderables.iter().position(|o| o["id"] == id.as_str()) else {
        return message(
            StatusCode::NOT_FOUND,
            "referenceData.error.orderable.notFound",
            &format!("Orderable with id {id} not found"),
        );
    };
    let previous = world.orderables[index].clone();
    let version = previous["meta"]["versionNumber"].as_u64().unwrap_or(1) + 1;
    // Second resolution, like the HTTP dates clients compare it with; a new version
    // is always at least a second newer.
    let previous_time = previous["meta"]["lastUpdated"]
        .as_str()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
    let now = std::time::SystemTime::now()
        .max(previous_time.map_or(std::time::UNIX_EPOCH, |t| t + std::time::Duration::from_secs(1)));
    orderable["meta"] = serde_json::json!({"versionNumber": version, "lastUpdated": humantime::format_rfc3339_seconds(now).to_string()});
    world.orderable_versions.entry(id).or_default().push(previous);
    world.orderables[index] = orderable.clone();
    Json(orderable).into_response()
}
