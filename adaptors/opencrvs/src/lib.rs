//! The OpenCRVS adaptor: OpenFn's `language-opencrvs` operations across OpenCRVS
//! v1.x, v1.9 and v2.0, plus REST search, event reads and webhooks, as a WebAssembly
//! component. The operations are documented in `wit/deps/openfn-opencrvs/`.

mod api;
mod builders;
mod events;
mod fhir;
mod graphql;
mod server;
mod version;
mod webhooks;

use kit::error::Error;
use kit::wit::types::Method;

use crate::api::Api;
use crate::events::parse_json;
use crate::version::Version;

kit::bindings!("openfn:opencrvs/adaptor");

use exports::openfn::opencrvs::operations::{
    Address, BirthNotification, DeathNotification, EventOptions, Guest, HttpOptions, Person, QueryOptions,
    SearchOptions, Service, Topic,
};

struct OpenCrvs;

impl Guest for OpenCrvs {
    fn build_birth_notification(state: String, notification: BirthNotification) -> Result<String, Error> {
        kit::operation(&state, |state| Ok(state.with_data(builders::birth(&notification))))
    }

    fn build_death_notification(state: String, notification: DeathNotification) -> Result<String, Error> {
        kit::operation(&state, |state| Ok(state.with_data(builders::death(&notification))))
    }

    fn create_birth_notification(state: String, entries: String) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            fhir::create_birth_notification(api, state, parse_json(&entries))
        })
    }

    fn query_events(state: String, variables: String, options: Option<QueryOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            graphql::query_events(api, state, parse_json(&variables), options.as_ref())
        })
    }

    fn create_event(state: String, event_type: String, options: Option<EventOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            events::create(api, state, &event_type, options.as_ref())
        })
    }

    fn notify_event(
        state: String,
        event_id: String,
        declaration: String,
        options: Option<EventOptions>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            events::notify(api, state, &event_id, parse_json(&declaration), options.as_ref())
        })
    }

    fn submit_birth_notification(
        state: String,
        declaration: String,
        options: Option<EventOptions>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            events::submit_birth(api, state, parse_json(&declaration), options)
        })
    }

    fn search_events(state: String, query: String, options: Option<SearchOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            events::search(api, state, parse_json(&query), options.as_ref())
        })
    }

    fn get_event(state: String, id: String) -> Result<String, Error> {
        Api::run(&state, |api, state| events::get(api, state, &id))
    }

    fn get_locations(state: String, options: Option<HttpOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            let (default_host, path) = match api.server.version {
                Version::Unspecified => (Service::Countryconfig, "api/events/locations"),
                Version::V2_0 => (Service::Register, "api/events/locations"),
                Version::V1 | Version::V1_9 => (Service::Gateway, "location"),
            };
            let mut options = options.unwrap_or_else(no_http_options);
            options.host = options.host.or(Some(default_host));
            api.generic(state, Method::Get, path, None, Some(options))
        })
    }

    fn create_document_entry(state: String, resource: String, full_url: Option<String>) -> Result<String, Error> {
        kit::operation(&state, |state| {
            Ok(state.with_data(fhir::document_entry(parse_json(&resource), full_url)))
        })
    }

    fn subscribe(state: String, callback: String, topic: Topic, secret: String) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            webhooks::subscribe(api, state, &callback, topic, &secret)
        })
    }

    fn list_subscriptions(state: String) -> Result<String, Error> {
        Api::run(&state, webhooks::list)
    }

    fn unsubscribe(state: String, id: String) -> Result<String, Error> {
        Api::run(&state, |api, state| webhooks::unsubscribe(api, state, &id))
    }

    fn request(
        state: String,
        method: Method,
        path: String,
        body: Option<String>,
        options: Option<HttpOptions>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| api.generic(state, method, &path, body, options))
    }

    fn post(state: String, path: String, body: String, options: Option<HttpOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            api.generic(state, Method::Post, &path, Some(body), options)
        })
    }
}

export!(OpenCrvs);

fn no_http_options() -> HttpOptions {
    HttpOptions {
        host: None,
        params: None,
        headers: None,
        parse_as: None,
        errors: None,
        timeout: None,
        retry: None,
    }
}
