use serde_json::json;

use crate::util::{canary_simulator, run_err, run_ok};

const FAMILY_PLANNING: &str = "dce17f2e-af3e-40ad-8e00-3496adef44c3";
const LEVORA: &str = "d602d0c6-4052-456c-8ccd-61b4ad77bece";
const RECEIPTS: &str = "313f2f5f-0c22-4626-8c49-3554ef763de3";
const CONSUMED: &str = "b5c27da7-bdda-4790-925a-9484c5dfb594";

fn event(facility: &str, reason: &str, quantity: i64, date: &str) -> serde_json::Value {
    json!({"facilityId": facility, "programId": FAMILY_PLANNING, "signature": "test",
           "lineItems": [{"orderableId": LEVORA, "reasonId": reason, "quantity": quantity, "occurredDate": date}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_events_change_stock_on_hand_seen_in_the_summaries() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([
            {"facilityByCode": ["HC02"]},
            {"submitStockEvent": [{"facilityId": "$.data.id", "programId": FAMILY_PLANNING,
              "lineItems": [{"orderableId": LEVORA, "reasonId": RECEIPTS, "quantity": 100, "occurredDate": "2017-02-06"}]}]},
            {"submitStockEvent": [{"facilityId": "$.references[1].id", "programId": FAMILY_PLANNING,
              "lineItems": [{"orderableId": LEVORA, "reasonId": CONSUMED, "quantity": 30, "occurredDate": "2017-02-07"}]}]},
            {"stockCardSummaries": ["$.references[1].id", FAMILY_PLANNING]}
        ]),
    )
    .await;
    let summaries = state["data"].as_array().unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["orderable"]["id"], LEVORA);
    assert_eq!(summaries[0]["stockOnHand"], 70);
    let hc02 = state["references"][1]["id"].as_str().unwrap();
    assert_eq!(sim.stock_on_hand(hc02, FAMILY_PLANNING, LEVORA), Some(70));
    assert_eq!(sim.stock_events().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_would_take_stock_below_zero_is_refused() {
    let sim = canary_simulator();
    let hc01 = "e6799d64-d10d-4011-b8c2-0e4d4a3f65ce";
    let error = run_err(
        &sim,
        json!([
            {"submitStockEvent": [event(hc01, RECEIPTS, 5, "2017-02-06")]},
            {"submitStockEvent": [event(hc01, CONSUMED, 6, "2017-02-07")]}
        ]),
    )
    .await;
    assert_eq!(error["step"], 2);
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "stockmanagement.error.event.debit.quantity.exceed.stockOnHand"
    );
    assert_eq!(sim.stock_on_hand(hc01, FAMILY_PLANNING, LEVORA), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_in_the_future_is_refused() {
    let sim = canary_simulator();
    let error = run_err(
        &sim,
        json!([{"submitStockEvent": [event("e6799d64-d10d-4011-b8c2-0e4d4a3f65ce", RECEIPTS, 5, "2999-01-01")]}]),
    )
    .await;
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "stockmanagement.error.event.occurredDate.in.future"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_data_is_looked_up_by_code() {
    let sim = canary_simulator();
    let state = run_ok(
        &sim,
        json!([{"facilityByCode": ["HC02"]}, {"programByCode": ["PRG004"]}, {"orderableByCode": ["C100"]}]),
    )
    .await;
    assert_eq!(state["references"][1]["name"], "Nandumbo Health Center");
    assert_eq!(state["references"][2]["name"], "EPI");
    assert_eq!(state["data"]["fullProductName"], "Levora");
    let error = run_err(&sim, json!([{"orderableByCode": ["NOPE"]}])).await;
    assert_eq!(error["type"], "not-found");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no orderable has the code \"NOPE\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_event_over_the_gateways_body_limit_is_a_413() {
    let sim = canary_simulator();
    let items: Vec<_> = (0..12_000)
        .map(|_| json!({"orderableId": LEVORA, "reasonId": RECEIPTS, "quantity": 1, "occurredDate": "2017-02-06"}))
        .collect();
    let event =
        json!({"facilityId": "e6799d64-d10d-4011-b8c2-0e4d4a3f65ce", "programId": FAMILY_PLANNING, "lineItems": items});
    let error = run_err(&sim, json!([{"submitStockEvent": [event]}])).await;
    assert_eq!(error["details"]["statusCode"], 413);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("returned 413: Payload Too Large"),
        "{error}"
    );
    assert!(sim.stock_events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderable_versions_and_conditional_gets() {
    let sim = canary_simulator();
    let path = format!("orderables/{LEVORA}");
    let state = run_ok(
        &sim,
        json!([
            {"put": [path, {"id": LEVORA, "productCode": "C100", "fullProductName": "Levora 28"}]},
            {"get": [path, {"query": {"versionNumber": 1}}]},
            {"get": [path]},
            {"get": [path, {"headers": {"If-Modified-Since": "$.response.headers['last-modified']"}}]}
        ]),
    )
    .await;
    assert_eq!(
        state["references"][1]["meta"]["versionNumber"], 2,
        "PUT makes a new version"
    );
    assert_eq!(
        state["references"][2]["fullProductName"], "Levora",
        "version 1 is still there"
    );
    assert_eq!(state["references"][3]["fullProductName"], "Levora 28");
    assert_eq!(state["response"]["statusCode"], 304);
    assert!(state["data"].is_null());
    let error = run_err(&sim, json!([{"put": [path, {"id": "someone-else"}]}])).await;
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "referenceData.error.orderable.idMismatch"
    );
}
