//! A test-only adaptor that misbehaves on request, for the host's sandbox tests.

use kit::config::field;
use kit::error;
use kit::http::Request;
use kit::wit::types::{Error, FieldKind, Method, Output};
use serde_json::json;

kit::bindings!("openfn:probe/probe", "../wit");

use exports::openfn::probe::operations::Guest;

struct Probe;

impl Guest for Probe {
    fn spin() -> Result<Output, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn allocate(mebibytes: u32) -> Result<Output, Error> {
        let size = usize::try_from(mebibytes).unwrap_or(usize::MAX) << 20;
        let block = std::hint::black_box(vec![1u8; size]);
        with_data(json!({ "allocated": block.len() }))
    }

    fn fetch(url: String) -> Result<Output, Error> {
        let response = get(&url)?.send().map_err(|e| error::transport(e.message))?;
        let body = kit::request::parse_json_or_text(&response.body);
        with_data(json!({ "status": response.status, "body": body }))
    }

    fn fetch_many(url: String, count: u32, method: Option<Method>, body: Option<String>) -> Result<Output, Error> {
        let mut request = get(&url)?;
        request.method = method.unwrap_or(Method::Get);
        request.body = body.map(String::into_bytes);
        let mut ok = 0;
        let mut failures = Vec::new();
        for _ in 0..count {
            match request.send() {
                Ok(r) if r.status == 200 => ok += 1,
                Ok(r) => failures.push(format!("status {}", r.status)),
                Err(e) => failures.push(e.message),
            }
        }
        with_data(json!({ "ok": ok, "failures": failures }))
    }

    fn log_flood(lines: u32, width: u32) -> Result<Output, Error> {
        let line = "x".repeat(usize::try_from(width).unwrap_or(0));
        for _ in 0..lines {
            kit::log::info(&line);
        }
        with_data(serde_json::Value::Null)
    }

    fn say(message: String) -> Result<Output, Error> {
        kit::log::info(&message);
        with_data(serde_json::Value::Null)
    }

    fn join(values: Vec<String>) -> Result<Output, Error> {
        with_data(serde_json::Value::String(values.join("-")))
    }
}

// A declaration unlike either real adaptor's: the host must derive policy and masking
// from it without knowing this component.
kit::export_configuration!(
    Probe,
    vec![
        field(
            "endpoint",
            FieldKind::Url,
            false,
            false,
            "A server the probe may reach."
        ),
        field("mirrors", FieldKind::UrlMap, false, false, "More servers, by name."),
        field(
            "zone",
            FieldKind::Domain,
            false,
            false,
            "A domain whose https subdomains the probe may reach."
        ),
        field(
            "region",
            FieldKind::Text,
            false,
            false,
            "A label shown in logs as it is."
        ),
        field(
            "apiKey",
            FieldKind::Text,
            false,
            true,
            "A credential that must never be shown."
        ),
        field("retries", FieldKind::Number, false, false, "A number, to check kinds."),
    ],
    || Ok(())
);

export!(Probe);

fn get(url: &str) -> Result<Request, Error> {
    let url = kit::url::Url::parse(url).map_err(|e| error::invalid_argument(format!("bad url: {e}")))?;
    Ok(Request::new(Method::Get, url))
}

fn with_data(data: serde_json::Value) -> Result<Output, Error> {
    kit::finish(Ok(kit::Output::data(data)))
}
