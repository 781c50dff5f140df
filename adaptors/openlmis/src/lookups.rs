//! Reference data by code: facilities, programs and orderables.

use kit::Output;
use kit::error::Error;
use kit::wit::types::Method;
use serde_json::Value;

use crate::api::Api;

/// GETs `path?<key>=<code>` and keeps the single match as `data`.
fn lookup(
    api: &Api,
    what: &str,
    path: &str,
    key: &str,
    code: &str,
    pick: impl FnOnce(Value) -> Option<Value>,
) -> Result<Output, Error> {
    let mut url = api.url(path)?;
    url.query_pairs_mut().append_pair(key, code);
    let mut call = api.call(Method::Get, url, None, None)?;
    let mut output = api.finish(&mut call)?;
    output.data =
        pick(output.data.take()).ok_or_else(|| Error::NotFound(format!("no {what} has the code {code:?}")))?;
    Ok(output)
}

/// The facility with `code` (a page of matches).
pub fn facility(api: &Api, code: &str) -> Result<Output, Error> {
    lookup(api, "facility", "facilities", "code", code, |page| {
        page["content"].as_array()?.iter().find(|f| f["code"] == code).cloned()
    })
}

/// The program with `code` (a bare array of matches).
pub fn program(api: &Api, code: &str) -> Result<Output, Error> {
    lookup(api, "program", "programs", "code", code, |list| {
        list.as_array()?.iter().find(|p| p["code"] == code).cloned()
    })
}

/// The newest version of the orderable with product code `code`.
pub fn orderable(api: &Api, code: &str) -> Result<Output, Error> {
    lookup(api, "orderable", "orderables", "exactCode", code, |page| {
        page["content"]
            .as_array()?
            .iter()
            .filter(|o| o["productCode"] == code)
            .max_by_key(|o| o["meta"]["versionNumber"].as_u64().unwrap_or(0))
            .cloned()
    })
}
