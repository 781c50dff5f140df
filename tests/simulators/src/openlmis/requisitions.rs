//! The requisition service: the status machine, ETags and `If-Match`, idempotency
//! keys, search and batch approval.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::paging::PageRequest;
use super::{PROGRAMS, Shared, World, data, message};

/// Requisitions by id, with their versions.
#[derive(Debug, Default)]
pub(crate) struct Store {
    items: HashMap<String, Requisition>,
    /// Insertion order, for stable search results.
    order: Vec<String>,
}

#[derive(Debug, Clone)]
struct Requisition {
    dto: Value,
    version: u64,
}

impl Store {
    /// The status of requisition `id`.
    pub(crate) fn status(&self, id: &str) -> Option<String> {
        self.items
            .get(id)
            .and_then(|r| r.dto["status"].as_str().map(str::to_string))
    }
}

fn not_found(id: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "requisition.error.requisitionNotFound",
        &format!("Requisition not found for ID: {id}"),
    )
}

fn bad(key: &str, text: &str) -> Response {
    message(StatusCode::BAD_REQUEST, &format!("requisition.error.{key}"), text)
}

/// The full DTO with a weak ETag of its version.
fn with_etag(status: StatusCode, requisition: &Requisition) -> Response {
    let mut response = (status, Json(requisition.dto.clone())).into_response();
    if let Ok(value) = format!("W/{}", requisition.version).parse() {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The `BasicRequisitionDto` the workflow actions and search return.
fn basic(dto: &Value) -> Value {
    json!({
        "id": dto["id"], "emergency": dto["emergency"], "reportOnly": false, "status": dto["status"],
        "createdDate": dto["createdDate"], "modifiedDate": dto["modifiedDate"],
        "statusChanges": dto["statusChanges"], "processingPeriod": dto["processingPeriod"],
        "facility": dto["facility"], "program": dto["program"], "extraData": {}
    })
}

/// Checks an `Idempotency-Key` header: a UUID never used before. Records it.
fn check_key(world: &mut World, headers: &HeaderMap) -> Result<(), Response> {
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    if uuid::Uuid::parse_str(key).is_err() {
        return Err(bad(
            "validation.idempotencyKey.wrongFormat",
            "The idempotency key has a wrong format",
        ));
    }
    if !world.idempotency_keys.insert(key.to_string()) {
        return Err(message(
            StatusCode::CONFLICT,
            "requisition.error.validation.idempotencyKey.alreadyUsed",
            "The same request for this resource has already been sent.",
        ));
    }
    Ok(())
}

/// `POST /api/requisitions/initiate?program=&facility=&suggestedPeriod=&emergency=`.
pub(crate) async fn initiate(
    State(world): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut world = world.lock().expect("world");
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let (program_id, facility_id, period_id) = (get("program"), get("facility"), get("suggestedPeriod"));
    let emergency = get("emergency") == "true";
    let Some(program) = PROGRAMS.iter().find(|p| p.0 == program_id) else {
        return bad(
            "initiate.missingParameters",
            &format!("Program with id {program_id} not found"),
        );
    };
    let Some(facility) = world.facilities.iter().find(|f| f["id"] == facility_id).cloned() else {
        return bad(
            "initiate.missingParameters",
            &format!("Facility with id {facility_id} not found"),
        );
    };
    let periods = data::periods();
    let Some((_, period_name)) = periods.iter().find(|(id, _)| id == period_id) else {
        return bad(
            "initiate.periodNotFound",
            &format!("Processing period with id {period_id} not found"),
        );
    };
    let duplicate = world.requisitions.items.values().any(|r| {
        r.dto["program"]["id"] == program_id
            && r.dto["facility"]["id"] == facility_id
            && r.dto["processingPeriod"]["id"] == period_id
            && r.dto["emergency"] == emergency
    });
    if duplicate && !emergency {
        return bad(
            "duplication",
            "Requisition already exists for the given facility, program and period.",
        );
    }
    if let Err(response) = check_key(&mut world, &headers) {
        return response;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = world.now();
    let line_items: Vec<Value> = world.orderables[..3]
        .iter()
        .map(|o| {
            json!({"id": uuid::Uuid::new_v4().to_string(), "orderable": {"id": o["id"], "productCode": o["productCode"],
                   "fullProductName": o["fullProductName"], "meta": o["meta"]},
                   "beginningBalance": null, "totalReceivedQuantity": null, "totalConsumedQuantity": null,
                   "totalStockoutDays": null, "requestedQuantity": null, "requestedQuantityExplanation": null,
                   "approvedQuantity": null, "remarks": null, "skipped": false, "pricePerPack": 5.225})
        })
        .collect();
    let dto = json!({
        "id": id, "createdDate": now, "modifiedDate": now, "status": "INITIATED", "emergency": emergency,
        "reportOnly": false, "facility": facility,
        "program": {"id": program.0, "code": program.1, "name": program.2, "skipAuthorization": program.4},
        "processingPeriod": {"id": period_id, "name": period_name},
        "supervisoryNode": null, "requisitionLineItems": line_items,
        "statusChanges": {"INITIATED": {"changeDate": now}}, "extraData": {}
    });
    let requisition = Requisition { dto, version: 1 };
    world.requisitions.order.push(id.clone());
    world.requisitions.items.insert(id.clone(), requisition.clone());
    let mut response = with_etag(StatusCode::CREATED, &requisition);
    if headers.contains_key("idempotency-key")
        && let Ok(value) = format!("/api/requisitions/{id}").parse()
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `GET /api/requisitions/{id}`.
pub(crate) async fn get(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    let world = world.lock().expect("world");
    match world.requisitions.items.get(&id) {
        Some(r) => with_etag(StatusCode::OK, r),
        None => not_found(&id),
    }
}

/// `PUT /api/requisitions/{id}`: line-item edits, guarded by `If-Match` and the body's
/// `modifiedDate` (unless `?override=true`).
pub(crate) async fn update(
    State(world): State<Shared>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad("validation.body", "The requisition body is not valid JSON");
    };
    let mut world = world.lock().expect("world");
    let now = world.now();
    let Some(stored) = world.requisitions.items.get_mut(&id) else {
        return not_found(&id);
    };
    if let Some(tag) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let version = tag.trim().trim_start_matches("W/").trim_matches('"');
        if version != stored.version.to_string() {
            return message(
                StatusCode::CONFLICT,
                "requisition.error.validation.versionMismatch",
                "This requisition has a newer version on the server. Refresh the requisition and try again.",
            );
        }
    }
    if query.get("override").map(String::as_str) != Some("true")
        && body
            .get("modifiedDate")
            .is_some_and(|d| *d != stored.dto["modifiedDate"])
    {
        return message(
            StatusCode::CONFLICT,
            "requisition.error.validation.dateModifiedMismatch",
            "This requisition was modified by another user. Refresh the requisition and try again.",
        );
    }
    if !matches!(
        stored.dto["status"].as_str(),
        Some("INITIATED" | "REJECTED" | "SUBMITTED" | "AUTHORIZED" | "IN_APPROVAL")
    ) {
        return bad(
            "validation.cannotUpdateWithStatus",
            "The requisition cannot be updated in its current status",
        );
    }
    const EDITABLE: [&str; 10] = [
        "beginningBalance",
        "totalReceivedQuantity",
        "totalConsumedQuantity",
        "totalStockoutDays",
        "requestedQuantity",
        "requestedQuantityExplanation",
        "approvedQuantity",
        "skipped",
        "remarks",
        "totalLossesAndAdjustments",
    ];
    for edit in body["requisitionLineItems"].as_array().into_iter().flatten() {
        let Some(line) = stored.dto["requisitionLineItems"]
            .as_array_mut()
            .and_then(|items| items.iter_mut().find(|l| l["id"] == edit["id"]))
        else {
            continue;
        };
        for field in EDITABLE {
            if let Some(value) = edit.get(field) {
                if field.ends_with("Quantity") && value.as_i64().is_some_and(|q| q < 0) {
                    let key = format!("requisitionLineItems.{field}");
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(
                            json!({key: {"messageKey": "requisition.error.validation.fieldMustBeNonNegative",
                                          "message": format!("{field} must be a non-negative number")}}),
                        ),
                    )
                        .into_response();
                }
                line[field] = value.clone();
            }
        }
    }
    stored.version += 1;
    stored.dto["modifiedDate"] = json!(now);
    with_etag(StatusCode::OK, stored)
}

/// `DELETE /api/requisitions/{id}`: only INITIATED, SUBMITTED or SKIPPED ones.
pub(crate) async fn delete(State(world): State<Shared>, Path(id): Path<String>) -> Response {
    let mut world = world.lock().expect("world");
    let Some(status) = world.requisitions.status(&id) else {
        return not_found(&id);
    };
    if !matches!(status.as_str(), "INITIATED" | "SUBMITTED" | "SKIPPED") {
        return bad(
            "badStatus.delete",
            &format!("A requisition with status {status} cannot be deleted"),
        );
    }
    world.requisitions.items.remove(&id);
    world.requisitions.order.retain(|r| *r != id);
    StatusCode::NO_CONTENT.into_response()
}

/// Moves requisition `id` from one of `from` to `to`, or says why not.
fn transition(
    world: &mut World,
    id: &str,
    headers: &HeaderMap,
    from: &[&str],
    to: &str,
    error_key: &str,
    error_text: &str,
) -> Response {
    let Some(status) = world.requisitions.status(id) else {
        return not_found(id);
    };
    if !from.contains(&status.as_str()) {
        return bad(error_key, error_text);
    }
    if let Err(response) = check_key(world, headers) {
        return response;
    }
    let now = world.now();
    let stored = world.requisitions.items.get_mut(id).expect("status found it");
    stored.dto["status"] = json!(to);
    stored.dto["modifiedDate"] = json!(now);
    stored.dto["statusChanges"][to] = json!({"changeDate": now});
    stored.version += 1;
    (StatusCode::OK, Json(basic(&stored.dto))).into_response()
}

/// `POST /api/requisitions/{id}/submit`.
pub(crate) async fn submit(State(world): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut world = world.lock().expect("world");
    let skip = world
        .requisitions
        .items
        .get(&id)
        .is_some_and(|r| r.dto["program"]["skipAuthorization"] == true);
    let to = if skip { "AUTHORIZED" } else { "SUBMITTED" };
    let text = "A requisition must be initiated or rejected to be submitted";
    transition(
        &mut world,
        &id,
        &headers,
        &["INITIATED", "REJECTED"],
        to,
        "submit.mustBeInitiatedToBeSubmitted",
        text,
    )
}

/// `POST /api/requisitions/{id}/authorize`.
pub(crate) async fn authorize(State(world): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut world = world.lock().expect("world");
    let text = "A requisition must be submitted to be authorized";
    transition(
        &mut world,
        &id,
        &headers,
        &["SUBMITTED"],
        "AUTHORIZED",
        "authorize.mustBeSubmittedToBeAuthorize",
        text,
    )
}

/// `POST /api/requisitions/{id}/approve`.
pub(crate) async fn approve(State(world): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut world = world.lock().expect("world");
    approve_one(&mut world, &id, &headers)
}

fn approve_one(world: &mut World, id: &str, headers: &HeaderMap) -> Response {
    let text = "A requisition must be authorized or in approval to be approved";
    transition(
        world,
        id,
        headers,
        &["AUTHORIZED", "IN_APPROVAL"],
        "APPROVED",
        "approve.mustBeAuthorizedToBeApproved",
        text,
    )
}

/// `PUT /api/requisitions/{id}/reject`, with optional rejection reasons.
pub(crate) async fn reject(State(world): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut world = world.lock().expect("world");
    let text = "A requisition must be authorized or in approval to be rejected";
    transition(
        &mut world,
        &id,
        &headers,
        &["AUTHORIZED", "IN_APPROVAL"],
        "REJECTED",
        "reject.mustBeAuthorizedOrInApproval",
        text,
    )
}

/// `POST /api/requisitions?approveAll&id=..&id=..`: 200 when all were approved, 400
/// with the same body when any failed.
pub(crate) async fn batch(State(world): State<Shared>, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    if !pairs.iter().any(|(k, _)| k == "approveAll") {
        return bad(
            "batch.unsupported",
            "Only approveAll is supported on POST /api/requisitions",
        );
    }
    let mut world = world.lock().expect("world");
    let (mut approved, mut errors) = (Vec::new(), Vec::new());
    for id in pairs.iter().filter(|(k, _)| k == "id").map(|(_, v)| v) {
        let response = approve_one(&mut world, id, &headers);
        if response.status().is_success() {
            let dto = &world.requisitions.items[id].dto;
            approved.push(
                json!({"id": id, "status": dto["status"], "modifiedDate": dto["modifiedDate"],
                                 "facilityName": dto["facility"]["name"], "periodName": dto["processingPeriod"]["name"],
                                 "requisitionLineItems": dto["requisitionLineItems"]}),
            );
        } else {
            let error = if world.requisitions.items.contains_key(id) {
                json!({"messageKey": "requisition.error.approve.mustBeAuthorizedToBeApproved",
                       "message": "A requisition must be authorized or in approval to be approved"})
            } else {
                json!({"messageKey": "requisition.error.requisitionNotFound", "message": format!("Requisition not found for ID: {id}")})
            };
            errors.push(json!({"requisitionId": id, "errorMessage": error, "fieldErrors": {}}));
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (
        status,
        Json(json!({"requisitionDtos": approved, "requisitionErrors": errors})),
    )
        .into_response()
}

/// `GET /api/requisitions/search`: a page of `BasicRequisitionDto`; unknown parameters
/// are refused.
pub(crate) async fn search(State(world): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    const KNOWN: [&str; 13] = [
        "facility",
        "program",
        "processingPeriod",
        "supervisoryNode",
        "supplyingFacility",
        "requisitionStatus",
        "emergency",
        "initiatedDateFrom",
        "initiatedDateTo",
        "modifiedDateFrom",
        "modifiedDateTo",
        "page",
        "size",
    ];
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    if let Some((unknown, _)) = pairs.iter().find(|(k, _)| !KNOWN.contains(&k.as_str()) && k != "sort") {
        return bad("search.invalidParams", &format!("Invalid search parameter: {unknown}"));
    }
    let single: HashMap<String, String> = pairs.iter().cloned().collect();
    let request = match PageRequest::from_query(&single, "requisition") {
        Ok(r) => r,
        Err(response) => return response,
    };
    let statuses: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "requisitionStatus")
        .map(|(_, v)| v.as_str())
        .collect();
    let world = world.lock().expect("world");
    let matches = |r: &Value| {
        single.get("facility").is_none_or(|f| r["facility"]["id"] == f.as_str())
            && single.get("program").is_none_or(|p| r["program"]["id"] == p.as_str())
            && single
                .get("processingPeriod")
                .is_none_or(|p| r["processingPeriod"]["id"] == p.as_str())
            && single.get("emergency").is_none_or(|e| {
                r["emergency"]
                    .as_bool()
                    .is_some_and(|b| e == if b { "true" } else { "false" })
            })
            && (statuses.is_empty() || statuses.iter().any(|s| r["status"] == *s))
    };
    let found: Vec<Value> = world
        .requisitions
        .order
        .iter()
        .map(|id| &world.requisitions.items[id].dto)
        .filter(|dto| matches(dto))
        .map(basic)
        .collect();
    Json(request.page(&found)).into_response()
}
