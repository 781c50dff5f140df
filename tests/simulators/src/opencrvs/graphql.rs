//! GraphQL `searchEvents` (1.x). Not a GraphQL engine: it answers the one query
//! integrations send, reading `advancedSearchParameters`, `count`, `skip` and `sort`
//! from the variables, as the gateway does.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ServerVersion, Shared, auth};

/// A registered birth in the v1 search index.
pub(crate) fn seeded_record(n: usize) -> Value {
    json!({
        "id": format!("5d0f3b1e-0000-4000-8000-{n:012x}"),
        "type": "Birth",
        "registration": {"status": "REGISTERED", "trackingId": format!("B{n:06}"),
                          "registrationNumber": format!("2024B{n:06}"), "createdAt": "1714550400000"},
        "dateOfBirth": "2024-05-01",
        "childName": [{"firstNames": format!("Child{n}"), "familyName": "Banda", "use": "en"}],
        "__typename": "BirthEventSearchSet"
    })
}

fn graphql_errors(status: StatusCode, message: &str, code: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}], "data": {"searchEvents": null}});
    (status, Json(body)).into_response()
}

/// `POST /graphql`.
pub(crate) async fn search(
    State(world): State<Shared>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return graphql_errors(
            StatusCode::BAD_REQUEST,
            "POST body missing, invalid Content-Type, or JSON object has no keys.",
            "BAD_REQUEST",
        );
    };
    let mut world = world.lock().expect("world");
    // Authentication runs in "try" mode: a bad token reaches the resolver.
    let claims = auth::bearer(&headers).and_then(|t| auth::verify(&world.signing_key, world.token_generation, &t).ok());
    let Some(claims) = claims else {
        return graphql_errors(StatusCode::OK, "Unauthorized", "UNAUTHENTICATED");
    };
    // Without a search scope the resolver finds nothing rather than failing.
    let may_search = claims["scope"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s == "recordsearch"));
    if !body["query"].as_str().is_some_and(|q| q.contains("searchEvents")) {
        return graphql_errors(
            StatusCode::BAD_REQUEST,
            "Only searchEvents is simulated",
            "GRAPHQL_VALIDATION_FAILED",
        );
    }
    let variables = &body["variables"];
    let Some(params) = variables["advancedSearchParameters"].as_object() else {
        return graphql_errors(
            StatusCode::BAD_REQUEST,
            "Variable \"$advancedSearchParameters\" of required type \"AdvancedSearchParametersInput!\" was not provided.",
            "BAD_USER_INPUT",
        );
    };
    let count = variables["count"].as_u64().unwrap_or(10) as usize;
    let skip = variables["skip"].as_u64().unwrap_or(0) as usize;
    let matching: Vec<&Value> = world
        .records
        .iter()
        .filter(|_| may_search)
        .filter(|r| {
            params
                .get("event")
                .and_then(Value::as_str)
                .is_none_or(|e| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(e)))
        })
        .filter(|r| {
            params
                .get("registrationStatuses")
                .and_then(Value::as_array)
                .is_none_or(|statuses| statuses.iter().any(|s| *s == r["registration"]["status"]))
        })
        .filter(|r| {
            params
                .get("trackingId")
                .and_then(Value::as_str)
                .is_none_or(|t| r["registration"]["trackingId"] == t)
        })
        .collect();
    let total = matching.len();
    let mut page: Vec<Value> = matching.into_iter().cloned().collect();
    if variables["sort"] == "asc" {
        page.reverse();
    }
    let page: Vec<Value> = page.into_iter().skip(skip).take(count).collect();
    if total > 0 {
        world.searches_with_hits += 1;
        if world.searches_with_hits > world.config.search_quota && world.config.version == ServerVersion::V1_8 {
            let body = json!({"errors": [{"message": "Daily search quota exceeded",
                                          "extensions": {"code": "RATE_LIMIT_EXCEEDED", "http": {"status": 429}}}],
                              "data": {"searchEvents": null}});
            return (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        }
    }
    Json(
        json!({"data": {"searchEvents": {"totalItems": total, "results": page, "__typename": "EventSearchResultSet"}}}),
    )
    .into_response()
}
