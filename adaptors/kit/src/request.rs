//! One HTTP operation end to end: OpenFn's request options, the exchange, the status
//! check against the `errors` map, body parsing and the next state.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{self, Error, HttpFailure};
use crate::http::{self, Request, Response};
use crate::state::{ResponseSummary, State};
use crate::wit::types::{ParseAs, RequestOptions};

/// OpenFn common's default time limit for a request: five minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Headers the adaptor owns; options cannot replace them.
const RESERVED_HEADERS: [&str; 2] = ["authorization", "content-type"];

/// A request together with the options it was made with.
#[derive(Debug, Clone)]
pub struct Call {
    /// The request to send.
    pub request: Request,
    /// How to parse the body.
    pub parse_as: ParseAs,
    /// Statuses accepted as data (`errors: {"404": false}`).
    pub accepted: Vec<u16>,
}

impl Call {
    /// A call for `request`, shaped by the job's `options`. Query parameters are
    /// appended to the URL, headers added (except the reserved ones, which are
    /// skipped with a warning), and the time-out set (default five minutes).
    pub fn new(mut request: Request, options: Option<&RequestOptions>) -> Result<Call, Error> {
        let mut parse_as = ParseAs::Auto;
        let mut accepted = Vec::new();
        request.timeout = Some(DEFAULT_TIMEOUT);
        if let Some(options) = options {
            if let Some(query) = &options.query {
                request.url.query_pairs_mut().extend_pairs(query.iter());
            }
            for (name, value) in options.headers.iter().flatten() {
                if RESERVED_HEADERS
                    .iter()
                    .any(|r| name.eq_ignore_ascii_case(r))
                {
                    crate::log::warn(&format!(
                        "ignoring the {name} header in options: the adaptor sets it"
                    ));
                } else {
                    request.headers.push((name.clone(), value.clone()));
                }
            }
            if let Some(p) = options.parse_as {
                parse_as = p;
            }
            for (code, fails) in options.errors.iter().flatten() {
                let status: u16 = code.parse().map_err(|_| {
                    error::invalid_argument(format!(
                        "options.errors key {code:?} is not a status code: expected e.g. {{\"404\": false}}"
                    ))
                })?;
                if !fails {
                    accepted.push(status);
                }
            }
            if let Some(ms) = options.timeout {
                request.timeout = Some(Duration::from_millis(ms.into()));
            }
        }
        Ok(Call {
            request,
            parse_as,
            accepted,
        })
    }

    /// Sets a header the adaptor owns, replacing any value with the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.request
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.request
            .headers
            .push((name.to_string(), value.to_string()));
    }

    /// Sends the call once and returns the raw response with its duration.
    pub fn exchange(&self) -> Result<(Response, Duration), Error> {
        let started = Instant::now();
        let response = self.request.send().map_err(|e| error::transport(e.0))?;
        Ok((response, started.elapsed()))
    }

    /// Turns a response into the next state, or into an `http` error when the status
    /// is 400 or more and not accepted through `errors`.
    pub fn finish(
        &self,
        state: State,
        response: Response,
        duration: Duration,
    ) -> Result<State, Error> {
        if response.status >= 400 && !self.accepted.contains(&response.status) {
            return Err(Error::Http(self.failure(&response)));
        }
        let data = self.parse_body(&response)?;
        let summary = ResponseSummary {
            url: self.request.url.to_string(),
            method: http::method_name(&self.request.method).to_string(),
            status: response.status,
            headers: response.headers,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        };
        Ok(state.next(data, &summary))
    }

    /// Sends the call and returns the next state: [`exchange`](Self::exchange) then
    /// [`finish`](Self::finish).
    pub fn run(&self, state: State) -> Result<State, Error> {
        let (response, duration) = self.exchange()?;
        self.finish(state, response, duration)
    }

    /// The `http-failure` record describing `response` to this call.
    pub fn failure(&self, response: &Response) -> HttpFailure {
        let body = match parse_json_or_text(&response.body) {
            Value::Null => None,
            value => Some(value.to_string()),
        };
        HttpFailure {
            method: http::method_name(&self.request.method).to_string(),
            url: self.request.url.to_string(),
            status: response.status,
            status_text: http::reason(response.status).to_string(),
            body,
        }
    }

    fn parse_body(&self, response: &Response) -> Result<Value, Error> {
        if response.body.is_empty() || response.status == 204 {
            return Ok(Value::Null);
        }
        let is_json = response
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        match (self.parse_as, is_json) {
            (ParseAs::Text, _) | (ParseAs::Auto, false) => {
                Ok(Value::String(String::from_utf8_lossy(&response.body).into_owned()))
            }
            (ParseAs::Json, _) | (ParseAs::Auto, true) => serde_json::from_slice(&response.body).map_err(|e| {
                error::parse(format!(
                    "{} {} returned {} with a body that is not JSON ({e}); use options.parseAs \"text\" to take it as text",
                    http::method_name(&self.request.method),
                    self.request.url,
                    response.status
                ))
            }),
        }
    }
}

/// Parses a body as JSON, or keeps it as a JSON string when it is not JSON; empty is
/// `null`.
pub fn parse_json_or_text(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
