//! Reference data by code: facilities, programs and orderables.

use kit::State;
use kit::error::Error;
use kit::wit::types::Method;
use serde_json::Value;

use crate::api::Api;

/// GETs `path?<key>=<code>` and keeps the single match as `data`.
fn lookup(
    api: &Api,
    state: State,
    what: &str,
    path: &str,
    key: &str,
    code: &str,
    pick: impl FnOnce(Value) -> Option<Value>,
) -> Result<State, Error> {
    let mut url = api.url(path)?;
    url.query_pairs_mut().append_pair(key, code);
    let mut call = api.call(Method::Get, url, None, None)?;
    let mut next = api.finish(state, &mut call)?;
    let data = next.data_mut();
    *data = pick(data.take()).ok_or_else(|| Error::NotFound(format!("no {what} has the code {code:?}")))?;
    Ok(next)
}

/// The facility with `code` (a page of matches).
pub fn facility(api: &Api, state: State, code: &str) -> Result<State, Error> {
    lookup(api, state, "facility", "facilities", "code", code, |page| {
        page["content"].as_array()?.iter().find(|f| f["code"] == code).cloned()
    })
}

/// The program with `code` (a bare array of matches).
pub fn program(api: &Api, state: State, code: &str) -> Result<State, Error> {
    lookup(api, state, "program", "programs", "code", code, |list| {
        list.as_array()?.iter().find(|p| p["code"] == code).cloned()
    })
}

/// The newest version of the orderable with product code `code`.
pub fn orderable(api: &Api, state: State, code: &str) -> Result<State, Error> {
    lookup(api, state, "orderable", "orderables", "exactCode", code, |page| {
        page["content"]
            .as_array()?
            .iter()
            .filter(|o| o["productCode"] == code)
            .max_by_key(|o| o["meta"]["versionNumber"].as_u64().unwrap_or(0))
            .cloned()
    })
}
