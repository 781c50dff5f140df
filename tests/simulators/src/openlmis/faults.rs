//! Failures a test can inject into resource requests: what an overloaded gateway, a
//! failing downstream service or a flaky network does.

use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The service answers with this status and an OpenLMIS error body (500), or the
    /// gateway with its HTML page (502, 503, 504).
    Status(u16),
    /// The gateway's rate limit: 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The `Retry-After` value, in seconds.
        retry_after: u64,
    },
    /// The connection breaks in the middle of the response.
    Reset,
    /// The answer comes after this delay (then the request is served normally).
    Delay(Duration),
}

impl Fault {
    /// The response for a fault that replaces the real answer (`None` for a delay).
    pub(crate) fn response(self) -> Option<Response> {
        match self {
            Fault::Status(500) => Some(super::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "requisition.error.dataRetrieval",
                "An error occurred while retrieving data (injected by the simulator)",
            )),
            Fault::Status(code) => {
                let status = StatusCode::from_u16(code).expect("a valid status");
                Some(nginx_page(status))
            }
            Fault::TooManyRequests { retry_after } => {
                let mut response = nginx_page(StatusCode::TOO_MANY_REQUESTS);
                response.headers_mut().insert(header::RETRY_AFTER, retry_after.into());
                Some(response)
            }
            Fault::Reset => {
                let broken = broken_body();
                Some((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], broken).into_response())
            }
            Fault::Delay(_) => None,
        }
    }
}

/// nginx's own error page, as the OpenLMIS gateway sends it.
fn nginx_page(status: StatusCode) -> Response {
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    let html = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], html).into_response()
}

/// A body that fails after its first bytes, so the server drops the connection.
fn broken_body() -> Body {
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
        Ok("{\"content\": ["),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        )),
    ];
    Body::from_stream(futures_util::stream::iter(chunks))
}
