//! The stock-management service: stock events change stock on hand; v2 stock card
//! summaries report it.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::paging::PageRequest;
use super::{PROGRAMS, REASONS, Shared, message};

/// Stock events and the stock on hand they add up to.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Accepted events, with their ids.
    pub(crate) events: Vec<Value>,
    /// Stock on hand by (facility, program, orderable), with the last occurred date.
    cards: BTreeMap<(String, String, String), (i64, String)>,
}

impl Ledger {
    /// Stock on hand of one orderable at one facility for one program.
    pub(crate) fn on_hand(&self, facility: &str, program: &str, orderable: &str) -> Option<i64> {
        self.cards
            .get(&(facility.into(), program.into(), orderable.into()))
            .map(|(soh, _)| *soh)
    }
}

fn bad(key: &str, text: &str) -> Response {
    message(StatusCode::BAD_REQUEST, &format!("stockmanagement.error.{key}"), text)
}

/// Today's date as `YYYY-MM-DD` (UTC), for the "occurred in the future" check.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `POST /api/stockEvents`: validates the event like `StockEventValidator`s do, applies
/// it to stock on hand, and answers 201 with the event id as a bare JSON string.
pub(crate) async fn create_event(State(world): State<Shared>, body: Result<Json<Value>, JsonRejection>) -> Response {
    let Ok(Json(event)) = body else {
        return bad("event.invalid", "The stock event body is not valid JSON");
    };
    let mut world = world.lock().expect("world");
    let facility = event
        .get("facilityId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !world.facilities.iter().any(|f| f["id"] == facility.as_str()) {
        return bad(
            "event.facilityId.invalid",
            &format!("Facility id {facility} is invalid"),
        );
    }
    let program = event
        .get("programId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !PROGRAMS.iter().any(|(id, ..)| *id == program) {
        return bad("event.programId.invalid", &format!("Program id {program} is invalid"));
    }
    let Some(items) = event
        .get("lineItems")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
    else {
        return bad("event.lineItems.missing", "Stock event line items are missing");
    };
    let today = today();
    let mut changes: HashMap<String, (i64, String)> = HashMap::new();
    for item in items {
        let Some(orderable) = item.get("orderableId").and_then(Value::as_str) else {
            return bad("event.orderableId.missing", "Orderable id is missing");
        };
        if !world.orderables.iter().any(|o| o["id"] == orderable) {
            return bad(
                "event.orderable.not.in.approvedList",
                &format!("Orderable {orderable} is not in the approved list"),
            );
        }
        let Some(quantity) = item.get("quantity").and_then(Value::as_i64).filter(|q| *q >= 0) else {
            return bad("event.quantity.invalid", "Quantity must be a number of at least 0");
        };
        let Some(occurred) = item.get("occurredDate").and_then(Value::as_str) else {
            return bad("event.occurredDate.missing", "Occurred date is missing");
        };
        if occurred > today.as_str() {
            return bad(
                "event.occurredDate.in.future",
                &format!("Occurred date {occurred} is in the future"),
            );
        }
        let source = item.get("sourceId").is_some_and(|v| !v.is_null());
        let destination = item.get("destinationId").is_some_and(|v| !v.is_null());
        if source && destination {
            return bad(
                "event.source.destination.both.present",
                "A line item cannot have both a source and a destination",
            );
        }
        let reason_type = match item.get("reasonId").and_then(Value::as_str) {
            Some(reason) => match REASONS.iter().find(|(id, ..)| *id == reason) {
                Some((_, _, kind)) => Some(*kind),
                None => {
                    return bad(
                        "event.reason.not.in.validList",
                        &format!("Reason {reason} is not a valid reason"),
                    );
                }
            },
            None => None,
        };
        let key = orderable.to_string();
        let current = changes
            .get(&key)
            .map(|(soh, _)| *soh)
            .or_else(|| world.stock.on_hand(&facility, &program, orderable))
            .unwrap_or(0);
        let next = match (reason_type, source, destination) {
            (Some("DEBIT"), ..) | (None, false, true) => current - quantity,
            (Some(_), ..) | (None, true, false) => current + quantity,
            // No reason, source or destination: a physical count.
            (None, false, false) => quantity,
            (None, true, true) => unreachable!("refused above"),
        };
        if next < 0 {
            return bad(
                "event.debit.quantity.exceed.stockOnHand",
                &format!(
                    "Debit quantity of {quantity} would make the stock on hand of orderable {orderable} below zero ({current})"
                ),
            );
        }
        changes.insert(key, (next, occurred.to_string()));
    }
    for (orderable, change) in changes {
        world
            .stock
            .cards
            .insert((facility.clone(), program.clone(), orderable), change);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut stored = event.clone();
    stored["id"] = json!(id);
    world.stock.events.push(stored);
    (StatusCode::CREATED, Json(Value::String(id))).into_response()
}

/// `GET /api/v2/stockCardSummaries?facilityId=&programId=`: a page of summaries, one
/// per orderable with a stock card there.
pub(crate) async fn summaries(State(world): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let request = match PageRequest::from_query(&query, "stockmanagement") {
        Ok(r) => r,
        Err(response) => return response,
    };
    let Some(facility) = query.get("facilityId") else {
        return bad("facility.id.missing", "Facility id is missing");
    };
    if uuid::Uuid::parse_str(facility).is_err() && !facility.starts_with("fac") {
        return bad(
            "facility.id.invalid",
            &format!("Facility id {facility} is not a valid UUID"),
        );
    }
    let program = query.get("programId");
    let world = world.lock().expect("world");
    let summaries: Vec<Value> = world
        .stock
        .cards
        .iter()
        .filter(|((f, p, _), _)| f == facility && program.is_none_or(|wanted| p == wanted))
        .map(|((_, _, orderable), (soh, occurred))| {
            json!({
                "orderable": {"id": orderable, "href": format!("/api/orderables/{orderable}"), "versionNumber": 1},
                "stockOnHand": soh,
                "canFulfillForMe": [{"stockCard": {"id": orderable, "href": format!("/api/stockCards/{orderable}")},
                                     "orderable": {"id": orderable, "href": format!("/api/orderables/{orderable}")},
                                     "lot": null, "stockOnHand": soh, "occurredDate": occurred, "active": true}]
            })
        })
        .collect();
    Json(request.page(&summaries)).into_response()
}
