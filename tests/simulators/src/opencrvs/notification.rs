//! FHIR event notifications (1.x): `POST /notification` with the gateway's schema
//! check (Joi) and semantic checks, in the server's order and with its messages.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Shared, hapi_error, locations, now_iso};

const LATER_TYPES: [&str; 5] = [
    "Patient",
    "RelatedPerson",
    "Encounter",
    "Observation",
    "QuestionnaireResponse",
];
const REG_LAST_OFFICE: &str = "http://opencrvs.org/specs/extension/regLastOffice";

fn bad(message: &str) -> Response {
    hapi_error(StatusCode::BAD_REQUEST, message)
}

fn could_not_process(why: &str) -> Response {
    hapi_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("Could not process the Event Notification, as {why}"),
    )
}

/// The Joi schema: a document bundle whose entries are Composition, Task, then people,
/// encounters and observations.
fn schema(bundle: &Value) -> Result<&Vec<Value>, Response> {
    if bundle["resourceType"] != "Bundle" {
        return Err(bad("\"resourceType\" must be [Bundle]"));
    }
    if bundle["type"] != "document" {
        return Err(bad("\"type\" must be [document]"));
    }
    if !bundle["meta"]["lastUpdated"].is_string() {
        return Err(bad("\"meta.lastUpdated\" is required"));
    }
    let Some(entries) = bundle["entry"].as_array() else {
        return Err(bad("\"entry\" is required"));
    };
    for (i, entry) in entries.iter().enumerate() {
        if !entry["fullUrl"].is_string() {
            return Err(bad(&format!("\"entry[{i}].fullUrl\" is required")));
        }
        let kind = entry["resource"]["resourceType"].as_str().unwrap_or_default();
        let fits = match i {
            0 => kind == "Composition",
            1 => kind == "Task",
            _ => LATER_TYPES.contains(&kind),
        };
        if !fits {
            let expected = match i {
                0 => "[Composition]".to_string(),
                1 => "[Task]".to_string(),
                _ => format!("one of [{}]", LATER_TYPES.join(", ")),
            };
            return Err(bad(&format!("\"entry[{i}].resource.resourceType\" must be {expected}")));
        }
    }
    Ok(entries)
}

fn reference_id(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// `POST /notification`.
pub(crate) async fn create(State(world): State<Shared>, body: Result<Json<Value>, JsonRejection>) -> Response {
    let Ok(Json(bundle)) = body else {
        return bad("Invalid request payload JSON format");
    };
    let entries = match schema(&bundle) {
        Ok(entries) => entries,
        Err(response) => return response,
    };
    let composition = &entries[0];
    let task = &entries[1]["resource"];
    if task["status"] != "draft" {
        return bad("Task status should be draft");
    }
    if task["focus"]["reference"] != composition["fullUrl"] {
        return bad("Task must reference the composition entry");
    }
    let Some(extensions) = task["extension"].as_array() else {
        return bad("Task extensions not found");
    };
    let Some(office) = extensions.iter().find(|e| e["url"] == REG_LAST_OFFICE) else {
        return could_not_process("office id was not provided");
    };
    let office = office["valueReference"]["reference"].as_str().unwrap_or_default();
    if locations::kind(reference_id(office)) != Some("CRVS_OFFICE") {
        return could_not_process(&format!("the provided office with id {office} was not found"));
    }
    let patients: Vec<&Value> = entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .collect();
    if patients.is_empty() {
        return could_not_process("there were no Person found!");
    }
    let Some(encounter) = entries.iter().find(|e| e["resource"]["resourceType"] == "Encounter") else {
        return hapi_error(StatusCode::INTERNAL_SERVER_ERROR, "Encounter entry not found!!");
    };
    let Some(place) = encounter["resource"]["location"][0]["location"]["reference"].as_str() else {
        return hapi_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Encounter location not found! in bundle!",
        );
    };
    if locations::kind(reference_id(place)).is_none() {
        return hapi_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("Encounter location with id {place} not found!"),
        );
    }
    for patient in &patients {
        for address in patient["resource"]["address"].as_array().into_iter().flatten() {
            let country = address["country"].as_str().unwrap_or_default();
            if country != "FAR" && (country.len() != 3 || !country.chars().all(|c| c.is_ascii_uppercase())) {
                return could_not_process(&format!("the supplied country code {country} was incorrect"));
            }
            for key in ["district", "state"] {
                if let Some(id) = address[key].as_str()
                    && locations::kind(id) != Some("ADMIN_STRUCTURE")
                {
                    return could_not_process(&format!("the location with id {id} not found!"));
                }
            }
        }
    }

    let child = &patients[0]["resource"];
    let name = child["name"][0]["family"].as_str().unwrap_or_default().to_string();
    let birth_date = child["birthDate"].clone();
    let mut world = world.lock().expect("world");
    let tracking_id = format!("B{}", &uuid::Uuid::new_v4().simple().to_string()[..6].to_uppercase());
    let duplicate = world.notifications.iter().any(|saved| {
        saved["entry"][2]["resource"]["name"][0]["family"] == name.as_str()
            && saved["entry"][2]["resource"]["birthDate"] == birth_date
    });
    if duplicate {
        let composition_id = uuid::Uuid::new_v4().to_string();
        return Json(
            json!({"compositionId": composition_id, "trackingId": tracking_id, "isPotentiallyDuplicate": true}),
        )
        .into_response();
    }
    let mut saved = bundle.clone();
    saved["entry"][0]["resource"]["id"] = json!(uuid::Uuid::new_v4().to_string());
    saved["entry"][1]["resource"]["businessStatus"] =
        json!({"coding": [{"system": "http://opencrvs.org/specs/reg-status", "code": "IN_PROGRESS"}]});
    saved["entry"][1]["resource"]["identifier"] = json!([
        {"system": "http://opencrvs.org/specs/id/birth-tracking-id", "value": tracking_id},
        {"system": "http://opencrvs.org/specs/id/system_identifier", "value": "{\"name\":\"Health system\",\"type\":\"HEALTH\"}"}
    ]);
    saved["meta"]["lastUpdated"] = json!(now_iso());
    world.notifications.push(saved.clone());
    (StatusCode::OK, Json(saved)).into_response()
}
