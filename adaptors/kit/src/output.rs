//! What an operation produced: `data`, and the HTTP exchange behind it. The host
//! composes the next OpenFn state from it; an adaptor never sees or returns state.

use serde_json::{Map, Value};

use crate::wit::types;

/// An operation's result.
#[derive(Debug, Clone)]
pub struct Output {
    /// Becomes `state.data`.
    pub data: Value,
    /// `state.data` as JSON text, when the operation copied it out of response bodies
    /// without building a [`Value`] (`getAll`'s thousands of items): sent as it is,
    /// instead of `data`. The host parses and checks it like any output.
    pub data_text: Option<String>,
    /// Becomes `state.response`.
    pub response: Option<ResponseSummary>,
    /// Results of earlier exchanges, oldest first, each composed into the state before
    /// `data` (so they land in `references`).
    pub earlier: Vec<Value>,
}

/// What `state.response` records of an HTTP exchange (never the body).
#[derive(Debug, Clone)]
pub struct ResponseSummary {
    /// The request URL, as errors may show it.
    pub url: String,
    /// The request method.
    pub method: String,
    /// The status code.
    pub status: u16,
    /// Response headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Milliseconds from sending the request to having the whole body.
    pub duration_ms: u64,
    /// More fields of `state.response` (`pages`, `totalItems`, ...).
    pub extra: Map<String, Value>,
}

impl Output {
    /// An output of `data` alone, for operations that send nothing.
    pub fn data(data: Value) -> Output {
        Output {
            data,
            data_text: None,
            response: None,
            earlier: Vec::new(),
        }
    }

    /// Sets `response.<key>`, for what an operation adds to the exchange's summary.
    pub fn set_response_field(&mut self, key: &str, value: Value) {
        if let Some(response) = &mut self.response {
            response.extra.insert(key.to_string(), value);
        }
    }

    /// The WIT record the host receives.
    pub fn into_wit(self) -> types::Output {
        types::Output {
            data: self.data_text.unwrap_or_else(|| self.data.to_string()),
            response: self.response.map(|r| types::ResponseInfo {
                status_message: crate::http::reason(r.status).to_string(),
                url: r.url,
                method: r.method,
                status_code: r.status,
                headers: r.headers,
                duration: r.duration_ms,
                extra: (!r.extra.is_empty()).then(|| Value::Object(r.extra).to_string()),
            }),
            earlier_data: self.earlier.iter().map(Value::to_string).collect(),
        }
    }
}
