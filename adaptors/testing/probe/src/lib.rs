//! A test-only adaptor that misbehaves on request, for the host's sandbox tests.

use kit::http::Request;
use kit::wit::types::{Error, Method};
use kit::{State, error};
use serde_json::json;

kit::bindings!("openfn:probe/probe", "../wit");

use exports::openfn::probe::operations::Guest;

struct Probe;

impl Guest for Probe {
    fn spin(_state: String) -> Result<String, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn allocate(state: String, mebibytes: u32) -> Result<String, Error> {
        let size = usize::try_from(mebibytes).unwrap_or(usize::MAX) << 20;
        let block = std::hint::black_box(vec![1u8; size]);
        with_data(&state, json!({ "allocated": block.len() }))
    }

    fn fetch(state: String, url: String) -> Result<String, Error> {
        let response = get(&url)?.send().map_err(|e| error::transport(e.message))?;
        let body = kit::request::parse_json_or_text(&response.body);
        with_data(&state, json!({ "status": response.status, "body": body }))
    }

    fn fetch_many(
        state: String,
        url: String,
        count: u32,
        method: Option<Method>,
        body: Option<String>,
    ) -> Result<String, Error> {
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
        with_data(&state, json!({ "ok": ok, "failures": failures }))
    }

    fn log_flood(state: String, lines: u32, width: u32) -> Result<String, Error> {
        let line = "x".repeat(usize::try_from(width).unwrap_or(0));
        for _ in 0..lines {
            kit::log::info(&line);
        }
        State::parse(&state).map(|s| s.to_json())
    }

    fn say(state: String, message: String) -> Result<String, Error> {
        kit::log::info(&message);
        State::parse(&state).map(|s| s.to_json())
    }
}

export!(Probe);

fn get(url: &str) -> Result<Request, Error> {
    let url = kit::url::Url::parse(url).map_err(|e| error::invalid_argument(format!("bad url: {e}")))?;
    Ok(Request::new(Method::Get, url))
}

fn with_data(state: &str, data: serde_json::Value) -> Result<String, Error> {
    let mut value: serde_json::Value =
        serde_json::from_str(state).map_err(|e| error::invalid_argument(e.to_string()))?;
    value["data"] = data;
    Ok(value.to_string())
}
