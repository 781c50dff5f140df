//! The requisition workflow: initiate, read, search, submit, authorize, approve,
//! reject, batch approve.

use kit::Output;
use kit::error::Error;
use kit::wit::types::{Method, RequestOptions};
use serde_json::{Value, json};

use crate::api::Api;
use crate::exports::openfn::openlmis::operations::{ActionOptions, Paging, RequisitionSearch};
use crate::pages;

/// Request options carrying the action's `Idempotency-Key`, if any.
fn with_key(options: Option<ActionOptions>) -> Option<RequestOptions> {
    let key = options.and_then(|o| o.idempotency_key)?;
    Some(RequestOptions {
        headers: Some(vec![("Idempotency-Key".into(), key)]),
        ..kit::request::no_options()
    })
}

/// `POST /api/requisitions/initiate?program=&facility=&suggestedPeriod=&emergency=`.
pub fn initiate(
    api: &Api,
    program: &str,
    facility: &str,
    period: &str,
    emergency: bool,
    options: Option<ActionOptions>,
) -> Result<Output, Error> {
    let mut url = api.url("requisitions/initiate")?;
    url.query_pairs_mut()
        .append_pair("program", program)
        .append_pair("facility", facility)
        .append_pair("suggestedPeriod", period)
        .append_pair("emergency", if emergency { "true" } else { "false" });
    let mut call = api.call(Method::Post, url, None, with_key(options).as_ref())?;
    api.finish(&mut call)
}

/// `GET /api/requisitions/{id}`.
pub fn get(api: &Api, id: &str) -> Result<Output, Error> {
    let mut call = api.call(Method::Get, api.url_of(&["requisitions", id])?, None, None)?;
    api.finish(&mut call)
}

/// `PUT /api/requisitions/{id}` guarded by `If-Match`.
pub fn update(api: &Api, id: &str, requisition: String, if_match: Option<String>) -> Result<Output, Error> {
    let url = api.url_of(&["requisitions", id])?;
    let if_match = if_match.or_else(|| kit::request::known_etag(&url));
    let options = RequestOptions {
        if_match,
        ..kit::request::no_options()
    };
    let mut call = api.call(Method::Put, url, Some(requisition), Some(&options))?;
    api.finish(&mut call)
}

/// `GET /api/requisitions/search`, every page.
pub fn search(api: &Api, criteria: &RequisitionSearch, paging: Option<&Paging>) -> Result<Output, Error> {
    let emergency = criteria.emergency.map(|e| e.to_string());
    let mut query: Vec<(&str, &str)> = [
        ("facility", criteria.facility.as_deref()),
        ("program", criteria.program.as_deref()),
        ("processingPeriod", criteria.processing_period.as_deref()),
        ("emergency", emergency.as_deref()),
        ("initiatedDateFrom", criteria.initiated_date_from.as_deref()),
        ("initiatedDateTo", criteria.initiated_date_to.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    for status in criteria.requisition_status.iter().flatten() {
        query.push(("requisitionStatus", status));
    }
    pages::get_all(api, "requisitions/search", &query, None, paging)
}

/// `POST /api/requisitions/{id}/{action}` for submit, authorize and approve.
pub fn act(api: &Api, id: &str, action: &str, options: Option<ActionOptions>) -> Result<Output, Error> {
    let url = api.url_of(&["requisitions", id, action])?;
    let mut call = api.call(Method::Post, url, None, with_key(options).as_ref())?;
    api.finish(&mut call)
}

/// `PUT /api/requisitions/{id}/reject`, with the rejection reasons as the body.
pub fn reject(api: &Api, id: &str, reasons: Option<String>, options: Option<ActionOptions>) -> Result<Output, Error> {
    let url = api.url_of(&["requisitions", id, "reject"])?;
    let mut call = api.call(Method::Put, url, reasons, with_key(options).as_ref())?;
    api.finish(&mut call)
}

/// `POST /api/requisitions?approveAll&id=..`: 200 when all passed, 400 with the same
/// body shape when some failed. Both become `{approved, failed}`.
pub fn batch_approve(api: &Api, ids: &[String]) -> Result<Output, Error> {
    let mut url = api.url("requisitions")?;
    url.query_pairs_mut()
        .append_key_only("approveAll")
        .extend_pairs(ids.iter().map(|id| ("id", id)));
    let mut call = api.call(Method::Post, url, None, None)?;
    call.accepted.push(400);
    let (response, duration) = api.send(&mut call)?;
    let body = kit::request::parse_json_or_text(&response.body);
    let (Some(Value::Array(approved)), Some(Value::Array(errors))) =
        (body.get("requisitionDtos"), body.get("requisitionErrors"))
    else {
        if response.status >= 400 {
            return Err(Error::Http(call.failure(&response)));
        }
        return Err(kit::error::parse(
            "the batch approval response has no requisitionDtos/requisitionErrors",
        ));
    };
    let failed: Vec<Value> = errors
        .iter()
        .map(|e| {
            let id = e["requisitionId"].clone();
            let message = &e["errorMessage"];
            kit::log::warn(&format!(
                "requisition {} was not approved: {}",
                id.as_str().unwrap_or("?"),
                message["message"].as_str().unwrap_or("no message")
            ));
            json!({"requisitionId": id, "messageKey": message["messageKey"], "message": message["message"]})
        })
        .collect();
    let data = json!({"approved": approved, "failed": failed});
    let mut output = call.finish(response, duration)?;
    output.data = data;
    Ok(output)
}
