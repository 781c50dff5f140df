//! The stock-management service: `POST /api/stockEvents`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{Shared, message};

/// `POST /api/stockEvents`: validates the event and answers 201 with its id as a bare
/// JSON string.
pub(crate) async fn create_event(State(world): State<Shared>, body: Result<Json<Value>, JsonRejection>) -> Response {
    let bad = |key: &str, text: &str| message(StatusCode::BAD_REQUEST, &format!("stockmanagement.error.{key}"), text);
    let Ok(Json(event)) = body else {
        return bad("event.invalid", "The stock event body is not valid JSON");
    };
    let mut world = world.lock().expect("world");
    let facility = event.get("facilityId").and_then(Value::as_str).unwrap_or_default();
    if !world.facilities.iter().any(|f| f["id"] == facility) {
        return bad(
            "event.facilityId.invalid",
            &format!("Facility id {facility} is invalid"),
        );
    }
    let program = event.get("programId").and_then(Value::as_str).unwrap_or_default();
    if !super::PROGRAMS.iter().any(|(id, ..)| *id == program) {
        return bad("event.programId.invalid", &format!("Program id {program} is invalid"));
    }
    let Some(items) = event
        .get("lineItems")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
    else {
        return bad("event.lineItems.missing", "Stock event line items are missing");
    };
    for item in items {
        if item.get("orderableId").and_then(Value::as_str).is_none() {
            return bad("event.orderableId.missing", "Orderable id is missing");
        }
        if item.get("quantity").and_then(Value::as_i64).is_none_or(|q| q < 0) {
            return bad("event.quantity.invalid", "Quantity must be a number of at least 0");
        }
        if item.get("occurredDate").and_then(Value::as_str).is_none() {
            return bad("event.occurredDate.missing", "Occurred date is missing");
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut stored = event.clone();
    stored["id"] = Value::String(id.clone());
    world.stock_events.push(stored);
    (StatusCode::CREATED, Json(Value::String(id))).into_response()
}
