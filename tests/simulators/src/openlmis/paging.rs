//! Spring Data paging as OpenLMIS configures it: `page` is zero-based, no `size`
//! means everything in one page (`size` 2147483647), and `page` without `size` is
//! refused (OLMIS-6408).

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::message;

/// What a request asked for.
pub(crate) struct PageRequest {
    page: usize,
    size: Option<usize>,
}

impl PageRequest {
    /// Reads `page` and `size`; `prefix` is the service's message-key prefix
    /// (`referenceData`, `stockmanagement`, ...).
    pub(crate) fn from_query(query: &HashMap<String, String>, prefix: &str) -> Result<PageRequest, Response> {
        let number = |name: &str| -> Result<Option<i64>, Response> {
            match query.get(name) {
                None => Ok(None),
                Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                    message(
                        StatusCode::BAD_REQUEST,
                        &format!("{prefix}.error.pageable.{name}.invalid"),
                        &format!("The page {name} is not a number"),
                    )
                }),
            }
        };
        let page = number("page")?;
        let size = number("size")?;
        match (page, size) {
            (Some(_), None) => Err(message(
                StatusCode::BAD_REQUEST,
                &format!("{prefix}.error.pageable.size.null"),
                "The page size is not specified",
            )),
            (Some(_), Some(s)) if s < 1 => Err(message(
                StatusCode::BAD_REQUEST,
                &format!("{prefix}.error.pageable.size.notPositive"),
                "The page size should be a positive number",
            )),
            // size=0 without page falls back to "everything".
            (None, Some(s)) if s < 1 => Ok(PageRequest { page: 0, size: None }),
            (page, size) => Ok(PageRequest {
                page: usize::try_from(page.unwrap_or(0).max(0)).unwrap_or(0),
                size: size.map(|s| usize::try_from(s).unwrap_or(usize::MAX)),
            }),
        }
    }

    /// The Spring `Page` body for `items` (already filtered); only the requested page's
    /// items are copied.
    pub(crate) fn page<T: std::borrow::Borrow<Value>>(&self, items: &[T]) -> Value {
        let total = items.len();
        let size = self.size.unwrap_or(i32::MAX as usize);
        let start = self.page.saturating_mul(size).min(total);
        let end = start.saturating_add(size).min(total);
        let content: Vec<&Value> = items[start..end].iter().map(|v| v.borrow()).collect();
        let total_pages = if total == 0 { 0 } else { total.div_ceil(size) };
        json!({
            "content": content,
            "pageable": {"sort": [], "offset": start, "pageNumber": self.page, "pageSize": size, "paged": true, "unpaged": false},
            "totalPages": total_pages,
            "totalElements": total,
            "last": self.page + 1 >= total_pages,
            "size": size,
            "number": self.page,
            "sort": [],
            "numberOfElements": content.len(),
            "first": self.page == 0,
            "empty": content.is_empty(),
        })
    }
}
