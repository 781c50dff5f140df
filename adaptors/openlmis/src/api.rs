//! Authenticated calls to one OpenLMIS server.

use std::time::Duration;

use kit::State;
use kit::http::{Request, Response};
use kit::request::Call;
use kit::url::Url;
use kit::wit::types::{Error, Method, RequestOptions};

use crate::login::Server;

/// The configured server, for one operation.
pub struct Api {
    server: Server,
}

impl Api {
    /// Parses `state`, reads the server from its configuration, runs `operation` and
    /// returns the next state as JSON text.
    pub fn run(state: &str, operation: impl FnOnce(&Api, State) -> Result<State, Error>) -> Result<String, Error> {
        kit::operation_with(
            state,
            |state| {
                Ok(Api {
                    server: Server::from_configuration(state)?,
                })
            },
            operation,
        )
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

    /// One call whose response becomes the next state (OpenFn's `request`).
    pub fn request(
        &self,
        state: State,
        method: Method,
        path: &str,
        body: Option<String>,
        options: Option<&RequestOptions>,
    ) -> Result<State, Error> {
        let mut call = self.call(method, self.url(path)?, body, options)?;
        self.finish(state, &mut call)
    }

    /// Sends `call` and turns its response into the next state.
    pub fn finish(&self, state: State, call: &mut Call) -> Result<State, Error> {
        let (response, duration) = self.send(call)?;
        call.finish(state, response, duration)
    }
}
