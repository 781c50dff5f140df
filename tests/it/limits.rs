use std::time::{Duration, Instant};

use adaptor_host::{Limit, Limits};
use serde_json::json;

use crate::util::{limit_of, options, probe, run, with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_stops_the_job_and_the_host_runs_the_next_one() {
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let outcome = run(probe(), r#"[{"allocate": [128]}]"#, json!({}), &with(limits.clone())).await;
    assert_eq!(limit_of(outcome.error), Limit::Memory(32 << 20));
    let message = outcome.state["errors"]["test"]["message"].as_str().unwrap();
    assert!(
        message.contains("memory limit of 32 MiB") && message.contains("--max-memory"),
        "{message}"
    );

    let next = run(probe(), r#"[{"allocate": [4]}]"#, json!({}), &with(limits)).await;
    assert!(next.error.is_none(), "{:?}", next.error);
    assert_eq!(next.state["data"]["allocated"], 4 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_limit_stops_a_busy_loop() {
    let limits = Limits {
        cpu_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let outcome = run(probe(), r#"[{"spin": []}]"#, json!({}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::CpuTime(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        outcome.state["errors"]["test"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-cpu")
    );

    let next = run(probe(), r#"[{"say": ["still here"]}]"#, json!({}), &options()).await;
    assert!(next.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_time_limit_stops_a_busy_loop_before_its_cpu_limit() {
    let limits = Limits {
        wall_time: Duration::from_millis(400),
        ..Limits::default()
    };
    let outcome = run(probe(), r#"[{"spin": []}]"#, json!({}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::WallTime(Duration::from_millis(400)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_time_limit_stops_a_job_waiting_on_a_server_that_never_answers() {
    // Accepts connections and never answers: the guest sits in a host call, where
    // epoch interruption cannot reach it; the outer time-out must.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hang", listener.local_addr().unwrap());
    let limits = Limits {
        wall_time: Duration::from_millis(500),
        ..Limits::default()
    };
    let started = Instant::now();
    let job = json!([{"fetch": [url]}]).to_string();
    let outcome = run(probe(), &job, json!({"endpoint": url}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::WallTime(Duration::from_millis(500)));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_limit_refuses_requests_past_it() {
    let server = simulators::Running::start(axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" })));
    let url = format!("{}/ok", server.url());
    let limits = Limits {
        requests: 3,
        ..Limits::default()
    };
    let job = json!([{"fetchMany": [url, 5]}]).to_string();
    // fetch-many counts failures itself and succeeds; the host still names the limit.
    let outcome = run(probe(), &job, json!({"endpoint": url}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::Requests(3));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_size_limit_cuts_off_large_bodies() {
    let big = "x".repeat(200_000);
    let server =
        simulators::Running::start(axum::Router::new().route("/big", axum::routing::get(move || async move { big })));
    let url = format!("{}/big", server.url());
    let limits = Limits {
        response_bytes: 64 << 10,
        ..Limits::default()
    };
    let job = json!([{"fetch": [url]}]).to_string();
    let outcome = run(probe(), &job, json!({"endpoint": url}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::ResponseBytes(64 << 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_volume_limit_stops_a_chatty_adaptor() {
    let limits = Limits {
        log_bytes: 10_000,
        ..Limits::default()
    };
    let outcome = run(probe(), r#"[{"logFlood": [1000, 100]}]"#, json!({}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::LogBytes(10_000));
}
