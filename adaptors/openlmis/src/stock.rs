//! Stock management: stock events and stock card summaries.

use kit::Output;
use kit::error::Error;
use kit::wit::types::Method;

use crate::api::Api;
use crate::exports::openfn::openlmis::operations::Paging;
use crate::pages;

/// `POST /api/stockEvents`; `data` is the new event's id.
pub fn submit_event(api: &Api, event: String) -> Result<Output, Error> {
    let mut call = api.call(Method::Post, api.url("stockEvents")?, Some(event), None)?;
    api.finish(&mut call)
}

/// `GET /api/v2/stockCardSummaries?facilityId=&programId=`, every page.
pub fn summaries(api: &Api, facility: &str, program: &str, paging: Option<&Paging>) -> Result<Output, Error> {
    let query = [("facilityId", facility), ("programId", program)];
    pages::get_all(api, "v2/stockCardSummaries", &query, None, paging)
}
