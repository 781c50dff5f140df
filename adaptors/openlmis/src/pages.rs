//! Walking Spring Data pages (`page`, `size`, `content`, `last`, `totalPages`).

use std::collections::HashSet;

use kit::Output;
use kit::error::{self, Error};
use kit::wit::types::{Method, RequestOptions};
use serde_json::{Value, json};

use crate::api::Api;
use crate::exports::openfn::openlmis::operations::{GetAllOptions, Paging};

/// Items per page unless the job says otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// `getAll`'s options split into the request options of each page and the paging.
pub fn split_options(options: Option<GetAllOptions>, paging: Option<Paging>) -> (Option<RequestOptions>, Paging) {
    let paging = paging.unwrap_or(Paging {
        page_size: None,
        limit: None,
    });
    let Some(o) = options else {
        return (None, paging);
    };
    let request = RequestOptions {
        query: o.query,
        headers: o.headers,
        errors: o.errors,
        timeout: o.timeout,
        retry: o.retry,
        ..kit::request::no_options()
    };
    let paging = Paging {
        page_size: o.page_size.or(paging.page_size),
        limit: o.limit.or(paging.limit),
    };
    (Some(request), paging)
}

/// GETs every item of `path` (with `query` added to the job's own options), page by
/// page; `data` is the array of items.
pub fn get_all(
    api: &Api,
    path: &str,
    query: &[(&str, &str)],
    options: Option<&RequestOptions>,
    paging: Option<&Paging>,
) -> Result<Output, Error> {
    let page_size = paging.and_then(|p| p.page_size).unwrap_or(DEFAULT_PAGE_SIZE).max(1);
    let limit = paging.and_then(|p| p.limit).map(|l| l as usize);
    let mut items: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    let mut first_total = None;
    let mut page = 0u32;
    loop {
        let mut url = api.url(path)?;
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair("page", &page.to_string())
            .append_pair("size", &page_size.to_string());
        let mut call = api.call(Method::Get, url, None, options)?;
        let (response, duration) = api.send(&mut call)?;
        if kit::request::is_redirect(response.status) || response.status >= 400 {
            return Err(Error::Http(call.failure(&response)));
        }
        let body: Value = serde_json::from_slice(&response.body)
            .map_err(|e| error::parse(format!("{} returned a body that is not JSON ({e})", call.shown_url())))?;
        let last = match body {
            // Not paged: the whole collection at once.
            Value::Array(all) => {
                items = all;
                true
            }
            Value::Object(mut page_body) => {
                let Some(Value::Array(content)) = page_body.remove("content") else {
                    return Err(error::parse(format!(
                        "{} returned neither a page (with content) nor an array",
                        call.shown_url()
                    )));
                };
                let total = page_body.get("totalElements").and_then(Value::as_u64);
                match first_total {
                    None => first_total = total,
                    Some(first) if total.is_some_and(|t| t != first) => {
                        kit::log::warn(&format!(
                            "the collection changed while paging (totalElements {first} -> {}); repeated items are kept once",
                            total.unwrap_or_default()
                        ));
                        first_total = total;
                    }
                    Some(_) => {}
                }
                let mut repeated = 0;
                let received = content.len();
                for item in content {
                    match item.get("id").and_then(Value::as_str) {
                        Some(id) if !seen.insert(id.to_string()) => repeated += 1,
                        _ => items.push(item),
                    }
                }
                let total_pages = page_body.get("totalPages").and_then(Value::as_u64).unwrap_or(0);
                kit::log::info(&format!(
                    "page {} of {total_pages}: {} items{} ({} so far)",
                    page + 1,
                    received,
                    if repeated > 0 {
                        format!(", {repeated} repeated")
                    } else {
                        String::new()
                    },
                    items.len()
                ));
                received == 0
                    || page_body.get("last").and_then(Value::as_bool).unwrap_or(false)
                    || u64::from(page) + 1 >= total_pages
            }
            _ => {
                return Err(error::parse(format!(
                    "{} returned neither a page nor an array",
                    call.shown_url()
                )));
            }
        };
        if let Some(limit) = limit
            && items.len() >= limit
        {
            items.truncate(limit);
            return Ok(finish(items, &call, response, duration, page + 1));
        }
        if last {
            return Ok(finish(items, &call, response, duration, page + 1));
        }
        page += 1;
    }
}

fn finish(
    items: Vec<Value>,
    call: &kit::request::Call,
    response: kit::http::Response,
    duration: std::time::Duration,
    pages: u32,
) -> Output {
    let mut output = Output {
        data: Value::Array(items),
        response: Some(call.summary(response, duration)),
        earlier: Vec::new(),
    };
    output.set_response_field("pages", json!(pages));
    output
}
