//! Locations: a state, a district in it, and in the district a CRVS office and a
//! health facility. Served as FHIR (1.x) and as the 2.0 list.

use std::collections::HashMap;

use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::hapi_error;

/// Central province (an administrative area).
pub const STATE: &str = "8f7f1b6e-3a1c-4a39-9a0c-6e4a0e4b9a01";
/// Ibombo district (an administrative area in [`STATE`]).
pub const DISTRICT: &str = "0eaa73dd-2aab-4a4d-8c5a-6e4a0e4b9a02";
/// Ibombo District Office (a CRVS office, a leaf, in [`DISTRICT`]).
pub const OFFICE: &str = "028d2c85-ca31-426d-b5d1-2cef545a4902";
/// Ibombo Rural Health Centre (a health facility in [`DISTRICT`]).
pub const HEALTH_FACILITY: &str = "3bb1ec2f-2d69-4b79-a5f8-6e4a0e4b9a03";

/// id, name, type, parent, statistical id.
const LOCATIONS: [(&str, &str, &str, Option<&str>, &str); 4] = [
    (STATE, "Central", "ADMIN_STRUCTURE", None, "FAR1"),
    (DISTRICT, "Ibombo", "ADMIN_STRUCTURE", Some(STATE), "FAR11"),
    (
        OFFICE,
        "Ibombo District Office",
        "CRVS_OFFICE",
        Some(DISTRICT),
        "CRVS_OFFICE_JWMRGwDBXK",
    ),
    (
        HEALTH_FACILITY,
        "Ibombo Rural Health Centre",
        "HEALTH_FACILITY",
        Some(DISTRICT),
        "HF_IBOMBO_1",
    ),
];

/// The type of location `id` (`CRVS_OFFICE`, `HEALTH_FACILITY`, `ADMIN_STRUCTURE`).
pub(crate) fn kind(id: &str) -> Option<&'static str> {
    LOCATIONS.iter().find(|l| l.0 == id).map(|l| l.2)
}

fn fhir_location((id, name, kind, parent, stat): &(&str, &str, &str, Option<&str>, &str)) -> Value {
    json!({
        "resourceType": "Location", "id": id, "name": name, "alias": [name], "status": "active", "mode": "instance",
        "partOf": {"reference": parent.map_or("Location/0".to_string(), |p| format!("Location/{p}"))},
        "type": {"coding": [{"system": "http://opencrvs.org/specs/location-type", "code": kind}]},
        "identifier": [{"system": "http://opencrvs.org/specs/id/statistical-code", "value": stat}],
        "physicalType": {"coding": [{"code": if *kind == "ADMIN_STRUCTURE" { "jdn" } else { "bu" }}]}
    })
}

/// `GET /location?type=&identifier=&status=&_count=` (1.x, public): a FHIR bundle.
/// Joi requires `type` or `identifier`.
pub(crate) async fn fhir(Query(query): Query<HashMap<String, String>>) -> Response {
    if !query.contains_key("type") && !query.contains_key("identifier") {
        return hapi_error(
            StatusCode::BAD_REQUEST,
            "\"value\" must contain at least one of [type, identifier]",
        );
    }
    if query.get("status").is_some_and(|s| s != "active" && s != "inactive") {
        return hapi_error(StatusCode::BAD_REQUEST, "\"status\" must be one of [active, inactive]");
    }
    let entries: Vec<Value> = LOCATIONS
        .iter()
        .filter(|l| query.get("type").is_none_or(|t| l.2 == t))
        .filter(|l| query.get("identifier").is_none_or(|i| l.4 == i))
        .filter(|_| query.get("status").is_none_or(|s| s == "active"))
        .map(|l| json!({"fullUrl": format!("Location/{}", l.0), "resource": fhir_location(l)}))
        .collect();
    Json(json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries}))
        .into_response()
}

/// `GET /api/events/locations?locationType=&isActive=` (2.0, and the JavaScript
/// adaptor's countryconfig route): a plain list.
pub(crate) async fn list(Query(query): Query<HashMap<String, String>>) -> Response {
    let items: Vec<Value> = LOCATIONS
        .iter()
        .filter(|l| query.get("locationType").is_none_or(|t| l.2 == t))
        .map(|(id, name, kind, parent, stat)| {
            json!({"id": id, "name": name, "externalId": stat, "administrativeAreaId": parent,
                   "validUntil": null, "locationType": kind})
        })
        .collect();
    Json(items).into_response()
}
