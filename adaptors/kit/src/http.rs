//! Blocking HTTP over `wasi:http/outgoing-handler`, the only network an adaptor has.
//!
//! This is deliberately thin: one request, one response, the whole body in memory. It
//! applies no policy of its own; the host decides which origins a job may reach, caps
//! response sizes and clamps time-outs. What it does take care of is reporting every
//! failure with the `wasi:http` error code translated into words, including a denial by
//! the host, which arrives through the response future rather than from `handle`.

use std::time::Duration;

use url::Url;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method as WasiMethod, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::wit::types::Method;

/// The size of one write to or read from a `wasi:io` stream.
const CHUNK: u64 = 64 * 1024;

/// The most room made ahead for a body from its `content-length`.
const MAX_ANNOUNCED: usize = 16 << 20;

/// An HTTP request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: Url,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// Limit on connecting and on each wait for response bytes.
    pub timeout: Option<Duration>,
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no response arrived. The message names the origin, never a path or query.
#[derive(Debug, Clone)]
pub struct TransportError {
    /// What happened, e.g. `GET http://host:80: connection refused`.
    pub message: String,
    /// Whether trying again may succeed (a connection failure or time-out, not a
    /// request the host denied or a response over the size limit).
    pub retryable: bool,
}

impl Request {
    /// A request without headers, body or time-out.
    pub fn new(method: Method, url: Url) -> Self {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    /// Sends the request and reads the whole response.
    pub fn send(&self) -> Result<Response, TransportError> {
        let origin = crate::url::origin(&self.url);
        let method = method_name(&self.method);
        let fail = |(what, retryable): (String, bool)| TransportError {
            message: format!("{method} {origin}: {what}"),
            retryable,
        };
        let refuse = |what: &str| fail((what.to_string(), false));

        let mut fields: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("content-length"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect();
        // Always say how long the body is. Without it a bodyless POST goes out chunked;
        // a server that answers without reading the final empty chunk then closes with
        // unread data, the kernel resets the connection, and the answer can be lost.
        let length = self.body.as_ref().map_or(0, Vec::len);
        if length > 0 || matches!(self.method, Method::Post | Method::Put | Method::Patch) {
            fields.push(("content-length".into(), length.to_string().into_bytes()));
        }
        let headers = Fields::from_list(&fields).map_err(|e| {
            refuse(&format!(
                "a request header was refused ({e:?}); check the header names in the options"
            ))
        })?;
        let request = OutgoingRequest::new(headers);
        request
            .set_method(&wasi_method(&self.method))
            .map_err(|()| refuse("invalid method"))?;
        let scheme = match self.url.scheme() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => Scheme::Other(other.to_string()),
        };
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| refuse("unsupported URL scheme"))?;
        let authority = match (self.url.host_str(), self.url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => return Err(refuse("the URL has no host")),
        };
        request
            .set_authority(Some(&authority))
            .map_err(|()| refuse("invalid host"))?;
        let mut path = self.url.path().to_string();
        if let Some(query) = self.url.query() {
            path.push('?');
            path.push_str(query);
        }
        request
            .set_path_with_query(Some(&path))
            .map_err(|()| refuse("invalid path"))?;

        let options = RequestOptions::new();
        if let Some(timeout) = self.timeout {
            let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
            // The host may refuse an option it clamps itself; a refusal is not an error.
            let _ = options.set_connect_timeout(Some(nanos));
            let _ = options.set_first_byte_timeout(Some(nanos));
            let _ = options.set_between_bytes_timeout(Some(nanos));
        }

        let body = request.body().map_err(|()| refuse("request body unavailable"))?;
        let future = outgoing_handler::handle(request, Some(options)).map_err(|e| fail(describe(&e)))?;
        // A server may answer (and close) before it has read the body: a failed body
        // write only matters if no response came.
        let sent = write_body(body, self.body.as_deref());
        let response = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => {
                    let (mut message, retryable) = describe(&code);
                    if let Err((body_error, _)) = sent {
                        message = format!("{message} ({body_error})");
                    }
                    return Err(fail((message, retryable)));
                }
                Some(Err(())) => return Err(refuse("response already taken")),
                None => future.subscribe().block(),
            }
        };
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let incoming = response.consume().map_err(|()| refuse("response body unavailable"))?;
        let announced = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .and_then(|(_, value)| value.trim().parse().ok());
        let body = read_body(&incoming, announced).map_err(fail)?;
        IncomingBody::finish(incoming);
        Ok(Response { status, headers, body })
    }
}

/// Writes `bytes` (if any) to the outgoing body and finishes it. Without bytes the
/// body stream is never opened: flushing an empty stream races a server that has
/// already answered a bodyless request.
fn write_body(body: OutgoingBody, bytes: Option<&[u8]>) -> Result<(), (String, bool)> {
    if let Some(bytes) = bytes.filter(|b| !b.is_empty()) {
        let stream = body
            .write()
            .map_err(|()| ("request body stream unavailable".to_string(), false))?;
        for chunk in bytes.chunks(CHUNK as usize) {
            let mut rest = chunk;
            while !rest.is_empty() {
                stream.subscribe().block();
                let ready = stream.check_write().map_err(|e| stream_error("sending the body", e))?;
                let n = rest.len().min(usize::try_from(ready).unwrap_or(usize::MAX));
                if n == 0 {
                    continue;
                }
                stream
                    .write(&rest[..n])
                    .map_err(|e| stream_error("sending the body", e))?;
                rest = &rest[n..];
            }
        }
        stream
            .blocking_flush()
            .map_err(|e| stream_error("sending the body", e))?;
    }
    OutgoingBody::finish(body, None).map_err(|e| describe(&e))
}

/// Reads the whole incoming body. `announced` is its `content-length`, room for which
/// (up to [`MAX_ANNOUNCED`]) is made ahead so that the body is not copied each time it
/// outgrows its buffer: the body is that long or the read fails, so the room is not
/// taken on speculation.
fn read_body(body: &IncomingBody, announced: Option<usize>) -> Result<Vec<u8>, (String, bool)> {
    let stream = body
        .stream()
        .map_err(|()| ("response body stream unavailable".to_string(), false))?;
    let mut bytes = Vec::new();
    // A length too large to address is left to the reads to find out.
    let _ = bytes.try_reserve_exact(announced.unwrap_or(0).min(MAX_ANNOUNCED));
    loop {
        match stream.blocking_read(CHUNK) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(e) => return Err(stream_error("reading the response body", e)),
        }
    }
}

fn stream_error(doing: &str, error: StreamError) -> (String, bool) {
    match error {
        StreamError::Closed => (format!("connection closed while {doing}"), true),
        StreamError::LastOperationFailed(e) => match wasip2::http::types::http_error_code(&e) {
            Some(code) => {
                let (what, retryable) = describe(&code);
                (format!("{what} while {doing}"), retryable)
            }
            None => (format!("{} while {doing}", e.to_debug_string()), true),
        },
    }
}

/// Puts a `wasi:http` error code into words, and says whether a retry may help.
fn describe(code: &ErrorCode) -> (String, bool) {
    match code {
        ErrorCode::HttpRequestDenied => (
            "the host's network policy denied this request: the origin is not named by the job's configuration or an --allow-host rule".into(),
            false,
        ),
        ErrorCode::DnsError(_) => ("the host name could not be resolved".into(), false),
        ErrorCode::DnsTimeout => ("timed out resolving the host name".into(), true),
        ErrorCode::ConnectionRefused => ("connection refused".into(), true),
        ErrorCode::ConnectionTerminated => ("the server closed the connection".into(), true),
        ErrorCode::ConnectionReadTimeout => ("timed out waiting for the server to send data".into(), true),
        ErrorCode::ConnectionWriteTimeout => ("timed out sending to the server".into(), true),
        ErrorCode::ConnectionLimitReached => ("connection limit reached".into(), true),
        ErrorCode::ConnectionTimeout => ("timed out connecting".into(), true),
        ErrorCode::HttpResponseTimeout => ("timed out waiting for the response".into(), true),
        ErrorCode::HttpResponseIncomplete => ("the response ended early".into(), true),
        ErrorCode::HttpProtocolError => ("the connection broke off in the middle of the exchange".into(), true),
        ErrorCode::HttpResponseBodySize(limit) => (
            match limit {
                Some(n) => format!("the response body is larger than the host's limit of {n} bytes"),
                None => "the response body is larger than the host's limit".into(),
            },
            false,
        ),
        ErrorCode::HttpRequestUriInvalid => ("invalid request URL".into(), false),
        ErrorCode::InternalError(Some(detail)) => (format!("connection failed ({detail})"), true),
        other => (format!("HTTP error {other:?}"), false),
    }
}

fn wasi_method(method: &Method) -> WasiMethod {
    match method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Patch => WasiMethod::Patch,
        Method::Delete => WasiMethod::Delete,
        Method::Head => WasiMethod::Head,
        Method::Options => WasiMethod::Options,
    }
}

/// The method's name as it goes on the wire, e.g. `GET`.
pub fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
    }
}

/// The canonical reason phrase of a status, e.g. `Not Found` for 404.
pub fn reason(status: u16) -> &'static str {
    ::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}
