//! The OpenLMIS v3 adaptor: OpenFn's `language-openlmis` operations, and the paging,
//! requisition, stock and lookup operations its users asked for, as a WebAssembly
//! component. The operations are documented in `wit/deps/openfn-openlmis/`.

mod api;
mod login;
mod lookups;
mod pages;
mod requisitions;
mod stock;

use kit::config::field;
use kit::wit::types::{Error, FieldKind, Method, Output, RequestOptions};

use crate::api::Api;

kit::bindings!("openfn:openlmis/adaptor");

use exports::openfn::openlmis::operations::{ActionOptions, GetAllOptions, Guest, Paging, RequisitionSearch};

struct OpenLmis;

impl Guest for OpenLmis {
    fn get(path: String, options: Option<RequestOptions>) -> Result<Output, Error> {
        Api::run(|api| api.request(Method::Get, &path, None, options.as_ref()))
    }

    fn get_all(path: String, options: Option<GetAllOptions>, paging: Option<Paging>) -> Result<Output, Error> {
        let (options, paging) = pages::split_options(options, paging);
        Api::run(|api| pages::get_all(api, &path, &[], options.as_ref(), Some(&paging)))
    }

    fn post(path: String, body: String, options: Option<RequestOptions>) -> Result<Output, Error> {
        Api::run(|api| api.request(Method::Post, &path, Some(body), options.as_ref()))
    }

    fn put(path: String, body: String, options: Option<RequestOptions>) -> Result<Output, Error> {
        Api::run(|api| api.request(Method::Put, &path, Some(body), options.as_ref()))
    }

    fn delete(path: String, options: Option<RequestOptions>) -> Result<Output, Error> {
        Api::run(|api| api.request(Method::Delete, &path, None, options.as_ref()))
    }

    fn request(
        method: Method,
        path: String,
        body: Option<String>,
        options: Option<RequestOptions>,
    ) -> Result<Output, Error> {
        Api::run(|api| api.request(method, &path, body, options.as_ref()))
    }

    fn facility_by_code(code: String) -> Result<Output, Error> {
        Api::run(|api| lookups::facility(api, &code))
    }

    fn program_by_code(code: String) -> Result<Output, Error> {
        Api::run(|api| lookups::program(api, &code))
    }

    fn orderable_by_code(code: String) -> Result<Output, Error> {
        Api::run(|api| lookups::orderable(api, &code))
    }

    fn initiate_requisition(
        program: String,
        facility: String,
        period: String,
        emergency: Option<bool>,
        options: Option<ActionOptions>,
    ) -> Result<Output, Error> {
        Api::run(|api| requisitions::initiate(api, &program, &facility, &period, emergency.unwrap_or(false), options))
    }

    fn get_requisition(id: String) -> Result<Output, Error> {
        Api::run(|api| requisitions::get(api, &id))
    }

    fn update_requisition(id: String, requisition: String, if_match: Option<String>) -> Result<Output, Error> {
        Api::run(|api| requisitions::update(api, &id, requisition, if_match))
    }

    fn search_requisitions(criteria: RequisitionSearch, paging: Option<Paging>) -> Result<Output, Error> {
        Api::run(|api| requisitions::search(api, &criteria, paging.as_ref()))
    }

    fn submit_requisition(id: String, options: Option<ActionOptions>) -> Result<Output, Error> {
        Api::run(|api| requisitions::act(api, &id, "submit", options))
    }

    fn authorize_requisition(id: String, options: Option<ActionOptions>) -> Result<Output, Error> {
        Api::run(|api| requisitions::act(api, &id, "authorize", options))
    }

    fn approve_requisition(id: String, options: Option<ActionOptions>) -> Result<Output, Error> {
        Api::run(|api| requisitions::act(api, &id, "approve", options))
    }

    fn reject_requisition(
        id: String,
        reasons: Option<String>,
        options: Option<ActionOptions>,
    ) -> Result<Output, Error> {
        Api::run(|api| requisitions::reject(api, &id, reasons, options))
    }

    fn batch_approve_requisitions(ids: Vec<String>) -> Result<Output, Error> {
        Api::run(|api| requisitions::batch_approve(api, &ids))
    }

    fn submit_stock_event(event: String) -> Result<Output, Error> {
        Api::run(|api| stock::submit_event(api, event))
    }

    fn stock_card_summaries(facility: String, program: String, paging: Option<Paging>) -> Result<Output, Error> {
        Api::run(|api| stock::summaries(api, &facility, &program, paging.as_ref()))
    }
}

kit::export_configuration!(
    OpenLmis,
    vec![
        field(
            "baseUrl",
            FieldKind::Url,
            true,
            false,
            "The OpenLMIS server, e.g. https://demo-v3.openlmis.org (a path prefix is kept).",
        ),
        field(
            "username",
            FieldKind::Text,
            false,
            false,
            "The user to log in as, e.g. administrator (required unless access_token is set).",
        ),
        field(
            "password",
            FieldKind::Text,
            false,
            true,
            "The user's password (required unless access_token is set).",
        ),
        field(
            "clientId",
            FieldKind::Text,
            false,
            true,
            "The OAuth client id, e.g. user-client (required unless access_token is set).",
        ),
        field(
            "clientSecret",
            FieldKind::Text,
            false,
            true,
            "The OAuth client secret (required unless access_token is set).",
        ),
        field(
            "access_token",
            FieldKind::Text,
            false,
            true,
            "A bearer token to use instead of logging in.",
        ),
    ],
    || login::Server::from_configuration().map(drop)
);

export!(OpenLmis);
