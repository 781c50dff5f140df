//! FHIR event notifications (OpenCRVS 1.x): `POST {gateway}/notification`.

use kit::Output;
use kit::error::Error;
use kit::wit::types::Method;
use serde_json::{Value, json};

use crate::Service;
use crate::api::Api;
use crate::version::Version;

/// Wraps `entries` in a FHIR document bundle and posts it.
pub fn create_birth_notification(api: &Api, entries: Value) -> Result<Output, Error> {
    if api.server.version == Version::V2_0 {
        return Err(api.server.version.unavailable(
            "createBirthNotification",
            "the FHIR notification route was removed; use submitBirthNotification",
        ));
    }
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "document",
        "meta": {"lastUpdated": now_iso()},
        "entry": entries,
    });
    api.request(Method::Post, Service::Gateway, "notification", Some(&bundle))
}

/// A bundle entry for `resource`: `{fullUrl, resource}`.
pub fn document_entry(resource: Value, full_url: Option<String>) -> Value {
    let full_url = full_url.unwrap_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4()));
    json!({"fullUrl": full_url, "resource": resource})
}

/// The current time as ISO 8601 with milliseconds (`2024-05-01T10:00:00.000Z`).
fn now_iso() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
