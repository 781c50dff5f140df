use adaptor_host::{AllowRule, Error, RunOptions};
use serde_json::json;

use crate::util::{canary_configuration, canary_simulator, openlmis, options, probe, run};

fn ok_server() -> simulators::Running {
    simulators::Running::start(axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" })))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_denies_an_origin_the_configuration_does_not_name() {
    let allowed = ok_server();
    let other = ok_server();
    // The probe has no URL guard of its own: only the host stands in the way.
    let job = json!([{"fetch": [format!("{}/ok", other.url())]}]).to_string();
    let outcome = run(probe(), &job, json!({"endpoint": allowed.url()}), &options()).await;
    match outcome.error {
        Some(Error::Denied { origin, .. }) => {
            assert_eq!(origin, format!("http://{}", other.addr()))
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(other.requests().is_empty(), "the denied server saw nothing");
    assert!(
        outcome.state["errors"]["test"]["message"]
            .as_str()
            .unwrap()
            .contains("--allow-host")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_passes_when_the_configuration_names_the_origin() {
    let server = ok_server();
    let job = json!([{"fetch": [format!("{}/ok", server.url())]}]).to_string();
    let outcome = run(probe(), &job, json!({"endpoint": server.url()}), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["status"], 200);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_host_rules_open_an_origin_explicitly() {
    let server = ok_server();
    let rule: AllowRule = server.url().parse().unwrap();
    let job = json!([{"fetch": [format!("{}/ok", server.url())]}]).to_string();
    let outcome = run(
        probe(),
        &job,
        json!({}),
        &RunOptions {
            allow: vec![rule],
            ..options()
        },
    )
    .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_port_on_the_same_host_is_denied() {
    let allowed = ok_server();
    let other = ok_server();
    assert_ne!(allowed.addr().port(), other.addr().port());
    let job = json!([{"fetch": [format!("http://127.0.0.1:{}/ok", other.addr().port())]}]).to_string();
    let outcome = run(probe(), &job, json!({"endpoint": allowed.url()}), &options()).await;
    assert!(
        matches!(outcome.error, Some(Error::Denied { .. })),
        "{:?}",
        outcome.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openlmis_adaptor_refuses_absolute_urls_itself() {
    let sim = canary_simulator();
    let other = ok_server();
    let job = json!([{"get": [format!("{}/ok", other.url())]}]).to_string();
    let outcome = run(openlmis(), &job, canary_configuration(&sim.base_url()), &options()).await;
    let error = &outcome.state["errors"]["test"];
    assert_eq!(error["type"], "invalid-argument");
    assert!(
        error["message"].as_str().unwrap().contains("unexpected absolute URL"),
        "{error}"
    );
    assert!(other.requests().is_empty());
}
