//! The OpenLMIS v3 adaptor: OpenFn's `language-openlmis` operations, and the paging,
//! requisition, stock and lookup operations its users asked for, as a WebAssembly
//! component. The operations are documented in `wit/deps/openfn-openlmis/`.

mod api;
mod login;
mod lookups;
mod pages;
mod requisitions;
mod stock;

use kit::wit::types::{Error, Method, RequestOptions};

use crate::api::Api;

kit::bindings!("openfn:openlmis/adaptor");

use exports::openfn::openlmis::operations::{ActionOptions, Guest, Paging, RequisitionSearch};

struct OpenLmis;

impl Guest for OpenLmis {
    fn get(state: String, path: String, options: Option<RequestOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            api.request(state, Method::Get, &path, None, options.as_ref())
        })
    }

    fn get_all(
        state: String,
        path: String,
        options: Option<RequestOptions>,
        paging: Option<Paging>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            pages::get_all(api, state, &path, &[], options.as_ref(), paging.as_ref())
        })
    }

    fn post(state: String, path: String, body: String, options: Option<RequestOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            api.request(state, Method::Post, &path, Some(body), options.as_ref())
        })
    }

    fn put(state: String, path: String, body: String, options: Option<RequestOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            api.request(state, Method::Put, &path, Some(body), options.as_ref())
        })
    }

    fn delete(state: String, path: String, options: Option<RequestOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            api.request(state, Method::Delete, &path, None, options.as_ref())
        })
    }

    fn request(
        state: String,
        method: Method,
        path: String,
        body: Option<String>,
        options: Option<RequestOptions>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            api.request(state, method, &path, body, options.as_ref())
        })
    }

    fn facility_by_code(state: String, code: String) -> Result<String, Error> {
        Api::run(&state, |api, state| lookups::facility(api, state, &code))
    }

    fn program_by_code(state: String, code: String) -> Result<String, Error> {
        Api::run(&state, |api, state| lookups::program(api, state, &code))
    }

    fn orderable_by_code(state: String, code: String) -> Result<String, Error> {
        Api::run(&state, |api, state| lookups::orderable(api, state, &code))
    }

    fn initiate_requisition(
        state: String,
        program: String,
        facility: String,
        period: String,
        emergency: Option<bool>,
        options: Option<ActionOptions>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            requisitions::initiate(
                api,
                state,
                &program,
                &facility,
                &period,
                emergency.unwrap_or(false),
                options,
            )
        })
    }

    fn get_requisition(state: String, id: String) -> Result<String, Error> {
        Api::run(&state, |api, state| requisitions::get(api, state, &id))
    }

    fn update_requisition(
        state: String,
        id: String,
        requisition: String,
        if_match: Option<String>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            requisitions::update(api, state, &id, requisition, if_match)
        })
    }

    fn search_requisitions(
        state: String,
        criteria: RequisitionSearch,
        paging: Option<Paging>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            requisitions::search(api, state, &criteria, paging.as_ref())
        })
    }

    fn submit_requisition(state: String, id: String, options: Option<ActionOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            requisitions::act(api, state, &id, "submit", options)
        })
    }

    fn authorize_requisition(state: String, id: String, options: Option<ActionOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            requisitions::act(api, state, &id, "authorize", options)
        })
    }

    fn approve_requisition(state: String, id: String, options: Option<ActionOptions>) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            requisitions::act(api, state, &id, "approve", options)
        })
    }

    fn reject_requisition(
        state: String,
        id: String,
        reasons: Option<String>,
        options: Option<ActionOptions>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            requisitions::reject(api, state, &id, reasons, options)
        })
    }

    fn batch_approve_requisitions(state: String, ids: Vec<String>) -> Result<String, Error> {
        Api::run(&state, |api, state| requisitions::batch_approve(api, state, &ids))
    }

    fn submit_stock_event(state: String, event: String) -> Result<String, Error> {
        Api::run(&state, |api, state| stock::submit_event(api, state, event))
    }

    fn stock_card_summaries(
        state: String,
        facility: String,
        program: String,
        paging: Option<Paging>,
    ) -> Result<String, Error> {
        Api::run(&state, |api, state| {
            stock::summaries(api, state, &facility, &program, paging.as_ref())
        })
    }
}

export!(OpenLmis);
