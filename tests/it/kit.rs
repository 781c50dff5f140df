use serde_json::{Value, json};

use crate::util::{options, probe, run};

/// Sends `count` requests of `method` (with `body`) through the kit to `path` on a
/// loopback server and checks that every one succeeded. The server reads POST bodies
/// on `/ok` and ignores them on `/ack`, as the OpenLMIS workflow actions do.
async fn sequential(path: &str, method: &str, body: Option<&str>, count: u32) {
    let routes = axum::Router::new()
        .route(
            "/ok",
            axum::routing::get(|| async { axum::Json(json!({"ok": true})) })
                .post(|body: String| async move { axum::Json(json!({"received": body.len()})) }),
        )
        .route(
            "/ack",
            axum::routing::post(|| async { axum::Json(json!({"ok": true})) }),
        );
    let server = simulators::Running::start(routes);
    let url = format!("{}{path}", server.url());
    let job = json!([{"fetchMany": [url, count, method, body]}]).to_string();
    let outcome = run(probe(), &job, json!({"endpoint": url}), &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"]["failures"], json!([]));
    assert_eq!(outcome.state["data"]["ok"], Value::from(count));
    assert_eq!(server.requests().len(), count as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sequential_gets_have_no_spurious_failures() {
    sequential("/ok", "GET", None, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_posts_with_a_body_have_no_spurious_failures() {
    sequential("/ok", "POST", Some(r#"{"facilityId": "HC01", "lineItems": []}"#), 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_bodyless_posts_have_no_spurious_failures() {
    // A handler that reads nothing: without `content-length: 0` the request goes out
    // chunked, and the server's close with the last chunk unread can reset the answer.
    sequential("/ack", "POST", None, 500).await;
}
