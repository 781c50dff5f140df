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
