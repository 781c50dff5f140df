//! Authenticated calls to the services of one OpenCRVS deployment.

use std::time::Duration;

use kit::Output;
use kit::error::Error;
use kit::http::{Request, Response};
use kit::request::Call;
use kit::url::Url;
use kit::wit::types::{Method, Output as WitOutput, RequestOptions};
use serde_json::Value;

use crate::server::Server;
use crate::{HttpOptions, Service};

/// The deployment, for one operation.
pub struct Api {
    pub server: Server,
}

impl Api {
    /// Reads the deployment from the job's configuration, runs `operation` and returns
    /// its output as the WIT export does.
    pub fn run(operation: impl FnOnce(&Api) -> Result<Output, Error>) -> Result<WitOutput, Error> {
        kit::finish(Server::from_configuration().and_then(|server| operation(&Api { server })))
    }

    /// A JSON call to `url` with `body`, shaped by `options`.
    pub fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        options: Option<&RequestOptions>,
    ) -> Result<Call, Error> {
        let mut request = Request::new(method, url);
        request.body = body.map(|b| b.to_string().into_bytes());
        let mut call = Call::new(request, options)?;
        call.set_header("content-type", "application/json");
        Ok(call)
    }

    /// Sends `call` with a bearer token. A 401 (`Expired token`), or a GraphQL
    /// `UNAUTHENTICATED` error (GraphQL answers 200 for those), gets a new token and one
    /// more try.
    pub fn send(&self, call: &mut Call) -> Result<(Response, Duration), Error> {
        kit::auth::send_with_token(call, &self.server, |response| {
            response.status == 401 || graphql_unauthenticated(response)
        })
    }

    /// Sends `call`; its response is the output.
    pub fn finish(&self, mut call: Call) -> Result<Output, Error> {
        let (response, duration) = self.send(&mut call)?;
        call.finish(response, duration)
    }

    /// A JSON `method` request to `path` on `service` whose response is the output.
    pub fn request(&self, method: Method, service: Service, path: &str, body: Option<&Value>) -> Result<Output, Error> {
        let call = self.call(method, self.server.url(service, path)?, body, None)?;
        self.finish(call)
    }

    /// The generic `request`/`post` operations: `options.host` picks the service.
    pub fn generic(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        options: Option<HttpOptions>,
    ) -> Result<Output, Error> {
        let service = options.as_ref().and_then(|o| o.host).unwrap_or(Service::Gateway);
        let url = self.server.url(service, path)?;
        let mut request = Request::new(method, url);
        request.body = body.map(String::into_bytes);
        let call_options = options.map(request_options);
        let mut call = Call::new(request, call_options.as_ref())?;
        call.set_header("content-type", "application/json");
        self.finish(call)
    }
}

/// The kit's request options from the adaptor's (`params` are the query).
pub fn request_options(options: HttpOptions) -> RequestOptions {
    RequestOptions {
        query: options.params,
        headers: options.headers,
        parse_as: options.parse_as,
        errors: options.errors,
        timeout: options.timeout,
        retry: options.retry,
        ..kit::request::no_options()
    }
}

fn graphql_unauthenticated(response: &Response) -> bool {
    response.status == 200
        && serde_json::from_slice::<Value>(&response.body).is_ok_and(|body| {
            body["errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().any(|e| e["extensions"]["code"] == "UNAUTHENTICATED"))
        })
}
