//! One HTTP operation end to end: OpenFn's request options, the exchange, the status
//! check against the `errors` map, body parsing and the operation's [`Output`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{self, Error, HttpFailure};
use crate::http::{self, Request, Response};
use crate::output::{Output, ResponseSummary};
use crate::retry;
use crate::url::append_query;
use crate::wit::types::{Method, ParseAs, RequestOptions};

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
    /// How to retry.
    pub retry: retry::Policy,
    /// Leave the query string out of errors and `response.url` (it carries credentials).
    pub hide_query: bool,
}

/// `If-Match: auto`: the ETag of this job's last GET of the same URL.
const IF_MATCH_AUTO: &str = "auto";

thread_local! {
    /// ETags of this instance's (so this job's) successful GETs, by URL.
    static ETAGS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

impl Call {
    /// A call for `request`, shaped by the job's `options`. Query parameters are
    /// appended to the URL, headers added (except the reserved ones, which are
    /// skipped with a warning), and the time-out set (default five minutes).
    pub fn new(mut request: Request, options: Option<&RequestOptions>) -> Result<Call, Error> {
        let mut parse_as = ParseAs::Auto;
        let mut accepted = Vec::new();
        let mut retry = retry::Policy::default();
        request.timeout = Some(DEFAULT_TIMEOUT);
        if let Some(options) = options {
            if let Some(query) = &options.query {
                let query = serde_json::from_str(query).unwrap_or_else(|_| Value::String(query.clone()));
                append_query(&mut request.url, &query, "options.query")?;
            }
            for (name, value) in options.headers.iter().flatten() {
                if RESERVED_HEADERS.iter().any(|r| name.eq_ignore_ascii_case(r)) {
                    crate::log::warn(&format!("ignoring the {name} header in options: the adaptor sets it"));
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
            if let Some(policy) = &options.retry {
                retry = policy.into();
            }
            if let Some(tag) = &options.if_match {
                let tag = if tag.eq_ignore_ascii_case(IF_MATCH_AUTO) {
                    remembered_etag(&request)?
                } else {
                    tag.clone()
                };
                request.headers.push(("if-match".into(), tag));
            }
        }
        Ok(Call {
            request,
            parse_as,
            accepted,
            retry,
            hide_query: false,
        })
    }

    /// Sets a header the adaptor owns, replacing any value with the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.request.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.request.headers.push((name.to_string(), value.to_string()));
    }

    /// Sends the call, retrying as its policy allows, and returns the last response
    /// with the time all attempts took. The ETag of a successful GET or PUT is
    /// remembered for `ifMatch: "auto"`.
    pub fn exchange(&self) -> Result<(Response, Duration), Error> {
        let started = Instant::now();
        let response = retry::send(&self.request, &self.retry).map_err(|e| error::transport(e.message))?;
        if matches!(self.request.method, Method::Get | Method::Put)
            && (200..300).contains(&response.status)
            && let Some(tag) = response.header("etag")
        {
            ETAGS.with(|t| t.borrow_mut().insert(resource_key(&self.request.url), tag.to_string()));
        }
        Ok((response, started.elapsed()))
    }

    /// Turns a response into the operation's output, or into an `http` error when the
    /// status is a redirect or 400 or more and not accepted through `errors`. (A 304
    /// answers a conditional request the job made; it is not a redirect.)
    pub fn finish(&self, response: Response, duration: Duration) -> Result<Output, Error> {
        self.output(response, duration, false)
    }

    /// [`finish`](Self::finish) for operations whose `data` is the body as it came: a
    /// JSON body is checked and handed on as text ([`Output::data_text`]) instead of
    /// being parsed into a `Value` here and serialized again for the host, which
    /// parses it itself.
    pub fn finish_unparsed(&self, response: Response, duration: Duration) -> Result<Output, Error> {
        self.output(response, duration, true)
    }

    fn output(&self, mut response: Response, duration: Duration, unparsed: bool) -> Result<Output, Error> {
        if (is_redirect(response.status) || response.status >= 400) && !self.accepted.contains(&response.status) {
            return Err(Error::Http(self.failure(&response)));
        }
        let (data, data_text) = if unparsed && self.is_json(&response) {
            serde_json::from_slice::<serde::de::IgnoredAny>(&response.body).map_err(|e| self.not_json(&response, e))?;
            // Checked JSON is UTF-8 (serde_json refuses other bytes), so this never fails.
            let text = String::from_utf8(std::mem::take(&mut response.body))
                .map_err(|_| error::parse(format!("{} returned a body that is not UTF-8", self.shown_url())))?;
            (Value::Null, Some(text))
        } else {
            (self.parse_body(&response)?, None)
        };
        Ok(Output {
            data,
            data_text,
            response: Some(self.summary(response, duration)),
            earlier: Vec::new(),
        })
    }

    /// What `state.response` shows of `response` to this call.
    pub fn summary(&self, response: Response, duration: Duration) -> ResponseSummary {
        ResponseSummary {
            url: self.shown_url(),
            method: http::method_name(&self.request.method).to_string(),
            status: response.status,
            headers: response.headers,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            extra: serde_json::Map::new(),
        }
    }

    /// Sends the call and returns its output: [`exchange`](Self::exchange) then
    /// [`finish`](Self::finish).
    pub fn run(&self) -> Result<Output, Error> {
        let (response, duration) = self.exchange()?;
        self.finish(response, duration)
    }

    /// The request URL as errors and state show it: without the query when it carries
    /// credentials.
    pub fn shown_url(&self) -> String {
        let mut url = crate::url::without_userinfo(&self.request.url);
        if self.hide_query {
            url.set_query(None);
        }
        url.to_string()
    }

    /// The `http-failure` record describing `response` to this call.
    pub fn failure(&self, response: &Response) -> HttpFailure {
        let body = match parse_json_or_text(&response.body) {
            Value::Null => None,
            value => Some(value.to_string()),
        };
        HttpFailure {
            method: http::method_name(&self.request.method).to_string(),
            url: self.shown_url(),
            status_code: response.status,
            status_message: http::reason(response.status).to_string(),
            body,
            location: is_redirect(response.status).then(|| response.header("location").unwrap_or("(none)").to_string()),
        }
    }

    /// Whether the body is parsed as JSON (`parseAs`, else the content type); an empty
    /// body and a 204 are `null` whatever they say.
    fn is_json(&self, response: &Response) -> bool {
        if response.body.is_empty() || response.status == 204 {
            return false;
        }
        match self.parse_as {
            ParseAs::Text => false,
            ParseAs::Json => true,
            ParseAs::Auto => response
                .header("content-type")
                .is_some_and(|t| t.to_ascii_lowercase().contains("json")),
        }
    }

    fn parse_body(&self, response: &Response) -> Result<Value, Error> {
        if response.body.is_empty() || response.status == 204 {
            return Ok(Value::Null);
        }
        if !self.is_json(response) {
            return Ok(Value::String(String::from_utf8_lossy(&response.body).into_owned()));
        }
        serde_json::from_slice(&response.body).map_err(|e| self.not_json(response, e))
    }

    /// The error for a body that should be JSON and is not.
    fn not_json(&self, response: &Response, e: serde_json::Error) -> Error {
        error::parse(format!(
            "{} {} returned {} with a body that is not JSON ({e}); use options.parseAs \"text\" to take it as text",
            http::method_name(&self.request.method),
            self.shown_url(),
            response.status
        ))
    }
}

/// Whether `status` sends the client elsewhere (3xx other than 304 Not Modified).
pub fn is_redirect(status: u16) -> bool {
    (300..400).contains(&status) && status != 304
}

/// Request options with nothing set, for operations that set one or two themselves.
pub fn no_options() -> RequestOptions {
    RequestOptions {
        query: None,
        headers: None,
        parse_as: None,
        errors: None,
        timeout: None,
        if_match: None,
        retry: None,
    }
}

/// The URL an ETag belongs to: the resource, without the query.
fn resource_key(url: &url::Url) -> String {
    let mut key = url.clone();
    key.set_query(None);
    key.to_string()
}

/// The ETag this job last saw for `url` (from a GET or PUT), if any.
pub fn known_etag(url: &url::Url) -> Option<String> {
    ETAGS.with(|t| t.borrow().get(&resource_key(url)).cloned())
}

fn remembered_etag(request: &Request) -> Result<String, Error> {
    known_etag(&request.url).ok_or_else(|| {
        error::invalid_argument(format!(
            "options.ifMatch is \"auto\" but this job has not read {} yet: GET it first, or give the ETag",
            resource_key(&request.url)
        ))
    })
}

/// Parses a body as JSON, or keeps it as a JSON string when it is not JSON; empty is
/// `null`.
pub fn parse_json_or_text(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
