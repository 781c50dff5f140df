//! The OpenLMIS v3 adaptor: OpenFn's `language-openlmis` operations as a WebAssembly
//! component. The operations are documented in `wit/deps/openfn-openlmis/`.

mod login;

use kit::State;
use kit::http::Request;
use kit::request::Call;
use kit::wit::types::{Error, Method, RequestOptions};

use crate::login::Server;

kit::bindings!("openfn:openlmis/adaptor");

use exports::openfn::openlmis::operations::Guest;

struct OpenLmis;

impl Guest for OpenLmis {
    fn get(state: String, path: String, options: Option<RequestOptions>) -> Result<String, Error> {
        call(&state, Method::Get, &path, None, options)
    }

    fn post(
        state: String,
        path: String,
        body: String,
        options: Option<RequestOptions>,
    ) -> Result<String, Error> {
        call(&state, Method::Post, &path, Some(body), options)
    }

    fn put(
        state: String,
        path: String,
        body: String,
        options: Option<RequestOptions>,
    ) -> Result<String, Error> {
        call(&state, Method::Put, &path, Some(body), options)
    }

    fn delete(
        state: String,
        path: String,
        options: Option<RequestOptions>,
    ) -> Result<String, Error> {
        call(&state, Method::Delete, &path, None, options)
    }

    fn request(
        state: String,
        method: Method,
        path: String,
        body: Option<String>,
        options: Option<RequestOptions>,
    ) -> Result<String, Error> {
        call(&state, method, &path, body, options)
    }
}

export!(OpenLmis);

/// One authenticated call to `{baseUrl}/api/{path}`. A token the server rejects
/// with 401 is dropped and, when the adaptor logged in itself, the login and the
/// request are repeated once (the OpenLMIS services' own `runWithTokenRetry`).
fn call(
    state: &str,
    method: Method,
    path: &str,
    body: Option<String>,
    options: Option<RequestOptions>,
) -> Result<String, Error> {
    let state = State::parse(state)?;
    let server = Server::from_configuration(&state)?;
    let mut request = Request::new(method, kit::url::join(server.base_url(), "api", path)?);
    request.body = body.map(String::into_bytes);
    let mut call = Call::new(request, options.as_ref())?;
    call.set_header("content-type", "application/json");
    call.set_header("authorization", &format!("Bearer {}", server.token()?));
    let (mut response, mut duration) = call.exchange()?;
    if response.status == 401 && server.can_login() {
        kit::log::info("the server rejected the token (401); logging in again and retrying once");
        server.forget_token();
        call.set_header("authorization", &format!("Bearer {}", server.token()?));
        (response, duration) = call.exchange()?;
    }
    Ok(call.finish(state, response, duration)?.to_json())
}
