//! Authenticated calls to one OpenLMIS server.

use std::time::Duration;

use kit::Output;
use kit::http::{Request, Response};
use kit::request::Call;
use kit::url::Url;
use kit::wit::types::{Error, Method, Output as WitOutput, RequestOptions};

use crate::login::Server;

/// The configured server, for one operation.
pub struct Api {
    server: Server,
}

impl Api {
    /// Reads the server from the job's configuration, runs `operation` and returns its
    /// output as the WIT export does.
    pub fn run(operation: impl FnOnce(&Api) -> Result<Output, Error>) -> Result<WitOutput, Error> {
        kit::finish(Server::from_configuration().and_then(|server| operation(&Api { server })))
    }

    /// `{baseUrl}/api/{path}`.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        kit::url::join(self.server.base_url(), "api", path)
    }

    /// `{baseUrl}/api/` + the segments, each percent-encoded (for ids in paths).
    pub fn url_of(&self, segments: &[&str]) -> Result<Url, Error> {
        kit::url::join_segments(self.server.base_url(), "api", segments)
    }

    /// A call to `url` with a JSON body (if any) and the job's options.
    pub fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<String>,
        options: Option<&RequestOptions>,
    ) -> Result<Call, Error> {
        let mut request = Request::new(method, url);
        request.body = body.map(String::into_bytes);
        let mut call = Call::new(request, options)?;
        call.set_header("content-type", "application/json");
        Ok(call)
    }

    /// Sends `call` with a bearer token; a 401 gets a new token and one more try (the
    /// OpenLMIS services' own `runWithTokenRetry`).
    pub fn send(&self, call: &mut Call) -> Result<(Response, Duration), Error> {
        kit::auth::send_with_token(call, &self.server, |response| response.status == 401)
    }

    /// One call whose response is the output (OpenFn's `request`).
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        options: Option<&RequestOptions>,
    ) -> Result<Output, Error> {
        let mut call = self.call(method, self.url(path)?, body, options)?;
        let (response, duration) = self.send(&mut call)?;
        call.finish_unparsed(response, duration)
    }

    /// Sends `call` and turns its response into the output.
    pub fn finish(&self, call: &mut Call) -> Result<Output, Error> {
        let (response, duration) = self.send(call)?;
        call.finish(response, duration)
    }
}
