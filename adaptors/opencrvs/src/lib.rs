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

use kit::Output;
use kit::config::field;
use kit::error::Error;
use kit::wit::types::{FieldKind, Method, Output as WitOutput};

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
    fn build_birth_notification(notification: BirthNotification) -> Result<WitOutput, Error> {
        kit::finish(Ok(Output::data(builders::birth(&notification))))
    }

    fn build_death_notification(notification: DeathNotification) -> Result<WitOutput, Error> {
        kit::finish(Ok(Output::data(builders::death(&notification))))
    }

    fn create_birth_notification(entries: String) -> Result<WitOutput, Error> {
        Api::run(|api| fhir::create_birth_notification(api, parse_json(&entries)))
    }

    fn query_events(variables: String, options: Option<QueryOptions>) -> Result<WitOutput, Error> {
        Api::run(|api| graphql::query_events(api, parse_json(&variables), options.as_ref()))
    }

    fn create_event(event_type: String, options: Option<EventOptions>) -> Result<WitOutput, Error> {
        Api::run(|api| events::create(api, &event_type, options.as_ref()))
    }

    fn notify_event(event_id: String, declaration: String, options: Option<EventOptions>) -> Result<WitOutput, Error> {
        Api::run(|api| events::notify(api, &event_id, parse_json(&declaration), options.as_ref()))
    }

    fn submit_birth_notification(declaration: String, options: Option<EventOptions>) -> Result<WitOutput, Error> {
        Api::run(|api| events::submit_birth(api, parse_json(&declaration), options))
    }

    fn search_events(query: String, options: Option<SearchOptions>) -> Result<WitOutput, Error> {
        Api::run(|api| events::search(api, parse_json(&query), options.as_ref()))
    }

    fn get_event(id: String) -> Result<WitOutput, Error> {
        Api::run(|api| events::get(api, &id))
    }

    fn get_locations(options: Option<HttpOptions>) -> Result<WitOutput, Error> {
        Api::run(|api| {
            let (default_host, path) = match api.server.version {
                Version::Unspecified => (Service::Countryconfig, "api/events/locations"),
                Version::V2_0 => (Service::Register, "api/events/locations"),
                Version::V1 | Version::V1_9 => (Service::Gateway, "location"),
            };
            let mut options = options.unwrap_or_else(no_http_options);
            options.host = options.host.or(Some(default_host));
            api.generic(Method::Get, path, None, Some(options))
        })
    }

    fn create_document_entry(resource: String, full_url: Option<String>) -> Result<WitOutput, Error> {
        kit::finish(Ok(Output::data(fhir::document_entry(parse_json(&resource), full_url))))
    }

    fn subscribe(callback: String, topic: Topic, secret: String) -> Result<WitOutput, Error> {
        Api::run(|api| webhooks::subscribe(api, &callback, topic, &secret))
    }

    fn list_subscriptions() -> Result<WitOutput, Error> {
        Api::run(webhooks::list)
    }

    fn unsubscribe(id: String) -> Result<WitOutput, Error> {
        Api::run(|api| webhooks::unsubscribe(api, &id))
    }

    fn request(
        method: Method,
        path: String,
        body: Option<String>,
        options: Option<HttpOptions>,
    ) -> Result<WitOutput, Error> {
        Api::run(|api| api.generic(method, &path, body, options))
    }

    fn post(path: String, body: String, options: Option<HttpOptions>) -> Result<WitOutput, Error> {
        Api::run(|api| api.generic(Method::Post, &path, Some(body), options))
    }
}

kit::export_configuration!(
    OpenCrvs,
    vec![
        field(
            "domain",
            FieldKind::Domain,
            false,
            false,
            "The deployment's domain, e.g. farajaland.opencrvs.org: services are https://<service>.<domain> (required unless services names every service used).",
        ),
        field(
            "clientId",
            FieldKind::Text,
            false,
            true,
            "The system client's id (required unless access_token is set).",
        ),
        field(
            "clientSecret",
            FieldKind::Text,
            false,
            true,
            "The system client's secret (required unless access_token is set).",
        ),
        field(
            "access_token",
            FieldKind::Text,
            false,
            true,
            "A bearer token to use instead of requesting one.",
        ),
        field(
            "services",
            FieldKind::UrlMap,
            false,
            false,
            "A base URL per service (auth, gateway, register, countryconfig, webhooks) for deployments not at https://<service>.<domain>.",
        ),
        field(
            "version",
            FieldKind::Text,
            false,
            false,
            "The OpenCRVS generation: \"1.8\" (or earlier 1.x), \"1.9\" or \"2.0\"; without it, the JavaScript adaptor's routes.",
        ),
        field(
            "shaSecret",
            FieldKind::Text,
            false,
            true,
            "The client's SHA secret, which signs webhook deliveries (for adaptor-host serve).",
        ),
    ],
    || server::Server::from_configuration().map(drop)
);

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
