//! GraphQL record search (OpenCRVS 1.x): `searchEvents`.

use kit::Output;
use kit::error::{self, Error};
use kit::wit::types::Method;
use serde_json::{Value, json};

use crate::api::Api;
use crate::version::Version;
use crate::{QueryOptions, Service};

/// The `searchEvents` query: the fields integrations use, birth and death specifics.
const SEARCH_EVENTS: &str = "query searchEvents($advancedSearchParameters: AdvancedSearchParametersInput!, \
$sort: String, $count: Int, $skip: Int) { searchEvents(advancedSearchParameters: $advancedSearchParameters, \
sort: $sort, count: $count, skip: $skip) { totalItems results { id type registration { status contactNumber \
trackingId registrationNumber registeredLocationId duplicates createdAt modifiedAt } \
... on BirthEventSearchSet { dateOfBirth childName { firstNames familyName use } } \
... on DeathEventSearchSet { dateOfDeath deceasedName { firstNames familyName use } } } } }";

/// Default results per page (the server's default too).
const DEFAULT_COUNT: u32 = 10;

/// `POST {gateway}/graphql` `searchEvents`, with `count`, `skip` and `sort` in the
/// variables; `data` is the results and `response.totalItems` the total. GraphQL
/// errors are errors.
pub fn query_events(api: &Api, variables: Value, options: Option<&QueryOptions>) -> Result<Output, Error> {
    if api.server.version == Version::V2_0 {
        return Err(api
            .server
            .version
            .unavailable("queryEvents", "GraphQL search was removed; use searchEvents"));
    }
    let count = options.and_then(|o| o.count).unwrap_or(DEFAULT_COUNT).max(1);
    let mut skip = options.and_then(|o| o.skip).unwrap_or(0);
    let sort = options.and_then(|o| o.sort.clone());
    let all = options.and_then(|o| o.all).unwrap_or(false);
    let url = api.server.url(Service::Gateway, "graphql")?;
    let mut results = Vec::new();
    loop {
        let body = json!({
            "operationName": "searchEvents",
            "query": SEARCH_EVENTS,
            "variables": {"advancedSearchParameters": variables, "count": count, "skip": skip, "sort": sort},
        });
        let mut call = api.call(Method::Post, url.clone(), Some(&body), None)?;
        let (response, duration) = api.send(&mut call)?;
        // GraphQL errors come with 200 (UNAUTHENTICATED, bad input) or with the status
        // they stand for (429 RATE_LIMIT_EXCEEDED): either way they are the story.
        let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if answer["errors"].as_array().is_some_and(|e| !e.is_empty()) {
            return Err(Error::Graphql(call.failure(&response)));
        }
        if kit::request::is_redirect(response.status) || response.status >= 400 {
            return Err(Error::Http(call.failure(&response)));
        }
        if !answer.is_object() {
            return Err(error::parse("the GraphQL response is not a JSON object"));
        }
        let search = &answer["data"]["searchEvents"];
        let total = search["totalItems"].as_u64().unwrap_or(0);
        let page = search["results"].as_array().cloned().unwrap_or_default();
        let received = page.len();
        results.extend(page);
        kit::log::info(&format!("searchEvents: {received} results at skip {skip} of {total}"));
        skip += count;
        if !all || received == 0 || u64::from(skip) >= total {
            let mut output = call.finish(response, duration)?;
            output.data = Value::Array(results);
            output.set_response_field("totalItems", json!(total));
            return Ok(output);
        }
    }
}
