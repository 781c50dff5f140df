use serde_json::json;

use crate::util::{options, probe, run};

#[tokio::test]
async fn a_thousand_sequential_requests_have_no_spurious_failures() {
    let server = simulators::Running::start(
        axum::Router::new().route("/ok", axum::routing::get(|| async { axum::Json(json!({"ok": true})) })),
    );
    let url = format!("{}/ok", server.url());
    let job = json!([{"fetchMany": [url, 1000]}]).to_string();
    let outcome = run(probe(), &job, json!({"url": url}), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["failures"], json!([]));
    assert_eq!(outcome.state["data"]["ok"], 1000);
    assert_eq!(server.requests().len(), 1000);
}
