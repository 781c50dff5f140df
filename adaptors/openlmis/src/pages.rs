//! Walking Spring Data pages (`page`, `size`, `content`, `last`, `totalPages`).
//!
//! Items are copied out of each page body as JSON text: the body is parsed once to
//! find them and check it is JSON, but no item becomes a `Value` that would be
//! serialized again for the host, which parses `data` itself. A `getAll` of 10,000
//! orderables spent most of its guest time building and re-serializing those values.

use std::collections::HashSet;
use std::fmt;

use kit::Output;
use kit::error::{self, Error};
use kit::wit::types::{Method, RequestOptions};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::api::Api;
use crate::exports::openfn::openlmis::operations::{GetAllOptions, Paging};
/// Items per page unless the job says otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The most [`Items`] reserves ahead from a page's `totalElements`, which the server
/// states and the adaptor cannot check: a quarter of the default guest memory.
const MAX_EXPECTED_BYTES: usize = 16 << 20;

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
    let limit = paging.and_then(|p| p.limit).map_or(usize::MAX, |l| l as usize);
    let mut items = Items::new();
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
        let not_json =
            |e: serde_json::Error| error::parse(format!("{} returned a body that is not JSON ({e})", call.shown_url()));
        let last = match response.body.iter().find(|b| !b.is_ascii_whitespace()) {
            // Not paged: the whole collection at once.
            Some(b'[') => {
                let all: Vec<&RawValue> = serde_json::from_slice(&response.body).map_err(not_json)?;
                items = Items::new();
                all.into_iter().take(limit).for_each(|item| items.push(item));
                true
            }
            Some(b'{') => {
                let page_body: Page = serde_json::from_slice(&response.body).map_err(not_json)?;
                let Some(content) = page_body.content else {
                    return Err(error::parse(format!(
                        "{} returned neither a page (with content) nor an array",
                        call.shown_url()
                    )));
                };
                let total = page_body.total_elements;
                match first_total {
                    None => {
                        first_total = total;
                        items.expect(&content, total.unwrap_or(0).min(limit as u64));
                    }
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
                    if string_id(item).is_some_and(|id| !seen.insert(id)) {
                        repeated += 1;
                    } else if items.len < limit {
                        items.push(item);
                    }
                }
                let total_pages = page_body.total_pages.unwrap_or(0);
                kit::log::info(&format!(
                    "page {} of {total_pages}: {} items{} ({} so far)",
                    page + 1,
                    received,
                    if repeated > 0 {
                        format!(", {repeated} repeated")
                    } else {
                        String::new()
                    },
                    items.len
                ));
                received == 0 || page_body.last.unwrap_or(false) || u64::from(page) + 1 >= total_pages
            }
            _ => {
                serde_json::from_slice::<IgnoredAny>(&response.body).map_err(not_json)?;
                return Err(error::parse(format!(
                    "{} returned neither a page nor an array",
                    call.shown_url()
                )));
            }
        };
        if last || items.len >= limit {
            return Ok(finish(items, &call, response, duration, page + 1));
        }
        page += 1;
    }
}

fn finish(
    items: Items,
    call: &kit::request::Call,
    response: kit::http::Response,
    duration: std::time::Duration,
    pages: u32,
) -> Output {
    let mut output = Output {
        data: Value::Null,
        data_text: Some(items.into_json()),
        response: Some(call.summary(response, duration)),
        earlier: Vec::new(),
    };
    output.set_response_field("pages", json!(pages));
    output
}

/// The items collected so far, as the text of a JSON array.
struct Items {
    text: String,
    len: usize,
}

impl Items {
    fn new() -> Items {
        Items {
            text: String::from("["),
            len: 0,
        }
    }

    /// Makes room for `count` items the size of `sample`'s on average, so that the text
    /// is not copied again each time it outgrows its buffer; at most
    /// [`MAX_EXPECTED_BYTES`], whatever total the server states. (Room past the
    /// sandbox's memory limit is refused, and the text then grows as items come: an
    /// overstated total costs nothing.)
    fn expect(&mut self, sample: &[&RawValue], count: u64) {
        let Some(average) = sample
            .iter()
            .map(|item| item.get().len() + 1)
            .sum::<usize>()
            .checked_div(sample.len())
        else {
            return;
        };
        let bytes = usize::try_from(count).unwrap_or(usize::MAX).saturating_mul(average);
        let _ = self.text.try_reserve(bytes.min(MAX_EXPECTED_BYTES));
    }

    fn push(&mut self, item: &RawValue) {
        if self.len > 0 {
            self.text.push(',');
        }
        self.text.push_str(item.get());
        self.len += 1;
    }

    fn into_json(mut self) -> String {
        self.text.push(']');
        self.text
    }
}

/// What paging needs of a Spring page: its items as JSON text (`None` when `content`
/// is missing or not an array) and the counters, each `None` unless of the right type.
#[derive(Default)]
struct Page<'a> {
    content: Option<Vec<&'a RawValue>>,
    total_elements: Option<u64>,
    total_pages: Option<u64>,
    last: Option<bool>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Page<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PageVisitor)
    }
}

struct PageVisitor;

impl<'de> Visitor<'de> for PageVisitor {
    type Value = Page<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page<'de>, A::Error> {
        let mut page = Page::default();
        // Repeated keys: the last one counts, as when parsing into a `Value`.
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "content" => page.content = map.next_value_seed(Content)?,
                "totalElements" => page.total_elements = map.next_value::<Value>()?.as_u64(),
                "totalPages" => page.total_pages = map.next_value::<Value>()?.as_u64(),
                "last" => page.last = map.next_value::<Value>()?.as_bool(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

/// A page's `content`: its items as JSON text if it is an array, else `None`.
struct Content;

impl<'de> DeserializeSeed<'de> for Content {
    type Value = Option<Vec<&'de RawValue>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Content {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<&RawValue>()? {
            items.push(item);
        }
        Ok(Some(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The item's `id` when the item is an object whose `id` is a string. Only the
/// members up to `id` are read (OpenLMIS writes it first): the item was checked to be
/// JSON when the page was read, so the rest of it need not be scanned again.
fn string_id(item: &RawValue) -> Option<String> {
    // The common case read directly: `id` first and written without escapes. The item
    // is known to be JSON, so the first quote after the opening one ends the string.
    if let Some(rest) = item.get().strip_prefix(r#"{"id":""#)
        && let Some(end) = rest.find(['"', '\\'])
        && rest.as_bytes()[end] == b'"'
    {
        return Some(rest[..end].to_string());
    }
    let mut id = None;
    let mut deserializer = serde_json::Deserializer::from_str(item.get());
    // Stopping at `id` ends the read with an error; `id` is what it was stopped for.
    let _ = deserializer.deserialize_map(StringIdVisitor { id: &mut id });
    id
}

/// Reads an object's members until its `id`, which it keeps if it is a string; then
/// stops (with an error, the only way out of a map before its end).
struct StringIdVisitor<'a> {
    id: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for StringIdVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(is_id) = map.next_key_seed(IsId)? {
            if is_id {
                if let Value::String(id) = map.next_value::<Value>()? {
                    *self.id = Some(id);
                }
                return Err(serde::de::Error::custom("stopped at the id"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Whether a member's name is `id`, read without copying it.
struct IsId;

impl<'de> DeserializeSeed<'de> for IsId {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsId {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<bool, E> {
        Ok(name == "id")
    }
}
