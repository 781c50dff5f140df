use std::time::{Duration, Instant};

use serde_json::json;
use simulators::openlmis::Fault;

use crate::util::{canary_simulator, count, run_err, run_ok};

const FAST: &str = r#"{"attempts": 3, "baseDelay": 10}"#;

fn fast() -> serde_json::Value {
    serde_json::from_str(FAST).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_is_retried_through_gateway_errors() {
    let sim = canary_simulator();
    sim.fail_next(1, 503);
    sim.fail_next(1, 502);
    let state = run_ok(&sim, json!([{"get": ["programs", {"retry": fast()}]}])).await;
    assert_eq!(state["data"].as_array().unwrap().len(), 6);
    assert_eq!(count(&sim, "/api/programs"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let sim = canary_simulator();
    sim.inject(1, Fault::TooManyRequests { retry_after: 1 });
    let started = Instant::now();
    run_ok(&sim, json!([{"get": ["programs", {"retry": fast()}]}])).await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(count(&sim, "/api/programs"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_mid_response_is_retried() {
    let sim = canary_simulator();
    sim.inject(1, Fault::Reset);
    let state = run_ok(
        &sim,
        json!([{"get": ["facilities", {"query": {"code": "HC01"}, "retry": fast()}]}]),
    )
    .await;
    assert_eq!(state["data"]["content"][0]["code"], "HC01");
    assert_eq!(count(&sim, "/api/facilities"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_their_bound_with_the_last_error() {
    let sim = canary_simulator();
    sim.fail_next(10, 503);
    let error = run_err(
        &sim,
        json!([{"get": ["programs", {"retry": {"attempts": 2, "baseDelay": 10}}]}]),
    )
    .await;
    assert_eq!(error["details"]["statusCode"], 503);
    assert_eq!(count(&sim, "/api/programs"), 3, "the first attempt and two retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_when_the_time_budget_would_be_passed() {
    let sim = canary_simulator();
    sim.inject(5, Fault::TooManyRequests { retry_after: 5 });
    let started = Instant::now();
    let error = run_err(&sim, json!([{"get": ["programs", {"retry": {"maxElapsed": 1000}}]}])).await;
    assert_eq!(error["details"]["statusCode"], 429);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(count(&sim, "/api/programs"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_is_retried_only_with_an_idempotency_key() {
    let sim = canary_simulator();
    sim.fail_next(1, 503);
    let error = run_err(&sim, json!([{"post": ["stockEvents", {}, {"retry": fast()}]}])).await;
    assert_eq!(error["details"]["statusCode"], 503);
    assert_eq!(count(&sim, "/api/stockEvents"), 1, "not retried");

    sim.fail_next(1, 503);
    let headers = json!({"Idempotency-Key": "3c1d0f0e-5b9a-4e7c-8f1e-2d4b6a8c0e13"});
    let error = run_err(
        &sim,
        json!([{"post": ["stockEvents", {}, {"retry": fast(), "headers": headers}]}]),
    )
    .await;
    assert_eq!(
        error["details"]["statusCode"], 400,
        "retried, then refused for its (empty) body"
    );
    assert_eq!(count(&sim, "/api/stockEvents"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_and_500s_are_not_retried() {
    let sim = canary_simulator();
    run_err(&sim, json!([{"get": ["facilities/nope", {"retry": fast()}]}])).await;
    assert_eq!(count(&sim, "/api/facilities/nope"), 1);
    sim.fail_next(1, 500);
    run_err(&sim, json!([{"get": ["programs", {"retry": fast()}]}])).await;
    assert_eq!(count(&sim, "/api/programs"), 1);
}
