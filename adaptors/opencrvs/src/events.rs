//! Events v2 (OpenCRVS 1.9 and 2.0): create, notify, search, read.

use kit::Output;
use kit::error::{self, Error};
use kit::wit::types::Method;
use serde_json::{Map, Value, json};

use crate::api::Api;
use crate::version::Version;
use crate::{EventOptions, SearchOptions, Service};

/// Events v2 calls live on the register host, which forwards `/api/*` to the gateway.
const EVENTS: &str = "api/events/events";

fn transaction_id(options: Option<&EventOptions>) -> String {
    options
        .and_then(|o| o.transaction_id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn require_events(api: &Api, operation: &str) -> Result<(), Error> {
    match api.server.version {
        Version::V1 => Err(api
            .server
            .version
            .unavailable(operation, "events v2 arrived in 1.9; use createBirthNotification")),
        _ => Ok(()),
    }
}

/// `POST {register}/api/events/events` `{type, transactionId, createdAtLocation?}`.
pub fn create(api: &Api, event_type: &str, options: Option<&EventOptions>) -> Result<Output, Error> {
    require_events(api, "createEvent")?;
    let mut body = json!({"type": event_type, "transactionId": transaction_id(options)});
    // 1.9 strips createdAtLocation from create (it belongs on notify); 2.0 requires it.
    if api.server.version != Version::V1_9
        && let Some(location) = options.and_then(|o| o.created_at_location.clone())
    {
        body["createdAtLocation"] = json!(location);
    }
    api.request(Method::Post, Service::Register, EVENTS, Some(&body))
}

/// Notify: 2.0 (and the JavaScript adaptor) `POST .../events/{id}/notify`; 1.9
/// `POST .../events/notifications` with the `eventId` in the body.
pub fn notify(api: &Api, event_id: &str, declaration: Value, options: Option<&EventOptions>) -> Result<Output, Error> {
    require_events(api, "notifyEvent")?;
    let mut body = json!({
        "type": "NOTIFY",
        "transactionId": transaction_id(options),
        "declaration": declaration,
        "annotation": options.and_then(|o| o.annotation.as_deref()).map_or(json!({}), parse_json),
    });
    if let Some(location) = options.and_then(|o| o.created_at_location.clone()) {
        body["createdAtLocation"] = json!(location);
    }
    let url = if api.server.version == Version::V1_9 {
        body["eventId"] = json!(event_id);
        api.server.url(Service::Register, &format!("{EVENTS}/notifications"))?
    } else {
        let mut url = api.server.url(Service::Register, EVENTS)?;
        url.path_segments_mut()
            .map_err(|()| error::invalid_argument("bad register URL"))?
            .extend([event_id, "notify"]);
        url
    };
    let call = api.call(Method::Post, url, Some(&body), None)?;
    api.finish(call)
}

/// `create("birth")` then `notify`, as the JavaScript adaptor's
/// `submitBirthNotification` (a new transaction id for each step).
pub fn submit_birth(api: &Api, declaration: Value, options: Option<EventOptions>) -> Result<Output, Error> {
    let created = create(api, "birth", options.as_ref())?;
    let Some(id) = created.data["id"].as_str().map(str::to_string) else {
        return Err(error::parse(
            "submitBirthNotification: createEvent response did not include an id",
        ));
    };
    let notify_options = options.map(|o| EventOptions {
        transaction_id: None,
        ..o
    });
    let mut notified = notify(api, &id, declaration, notify_options.as_ref())?;
    notified.earlier.push(created.data);
    Ok(notified)
}

/// `POST {register}/api/events/events/search` `{query, limit, offset, sort}`; with
/// `all`, every page. `data` is the results, `response.total` the server's total.
pub fn search(api: &Api, query: Value, options: Option<&SearchOptions>) -> Result<Output, Error> {
    require_events(api, "searchEvents")?;
    let limit = options.and_then(|o| o.limit).unwrap_or(100).max(1);
    let mut offset = options.and_then(|o| o.offset).unwrap_or(0);
    let sort = options.and_then(|o| o.sort.as_deref()).map(parse_json);
    let all = options.and_then(|o| o.all).unwrap_or(false);
    let url = api.server.url(Service::Register, &format!("{EVENTS}/search"))?;
    let mut results: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let mut body = Map::new();
        body.insert("query".into(), query.clone());
        body.insert("limit".into(), json!(limit));
        body.insert("offset".into(), json!(offset));
        if let Some(sort) = &sort {
            body.insert("sort".into(), sort.clone());
        }
        let mut call = api.call(Method::Post, url.clone(), Some(&Value::Object(body)), None)?;
        let (response, duration) = api.send(&mut call)?;
        if kit::request::is_redirect(response.status) || response.status >= 400 {
            return Err(Error::Http(call.failure(&response)));
        }
        let page: Value = serde_json::from_slice(&response.body)
            .map_err(|e| error::parse(format!("the search response is not JSON ({e})")))?;
        let total = page["total"].as_u64().unwrap_or(0);
        let Some(page_results) = page["results"].as_array() else {
            return Err(error::parse("the search response has no results array"));
        };
        let received = page_results.len();
        for item in page_results {
            // Records can shift between pages while paging; keep each once.
            if item["id"].as_str().is_none_or(|id| seen.insert(id.to_string())) {
                results.push(item.clone());
            }
        }
        kit::log::info(&format!("search: {received} results at offset {offset} of {total}"));
        offset += limit;
        if !all || received == 0 || u64::from(offset) >= total {
            let mut output = call.finish(response, duration)?;
            output.data = Value::Array(results);
            output.set_response_field("total", json!(total));
            return Ok(output);
        }
    }
}

/// `GET {register}/api/events/events/{id}` (2.0).
pub fn get(api: &Api, id: &str) -> Result<Output, Error> {
    if matches!(api.server.version, Version::V1 | Version::V1_9) {
        return Err(api
            .server
            .version
            .unavailable("getEvent", "reading events needs OpenCRVS 2.0"));
    }
    let mut url = api.server.url(Service::Register, EVENTS)?;
    url.path_segments_mut()
        .map_err(|()| error::invalid_argument("bad register URL"))?
        .push(id);
    let call = api.call(Method::Get, url, None, None)?;
    api.finish(call)
}

/// Parses a `json` argument; a plain string stays a string.
pub fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}
