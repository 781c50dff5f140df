//! Host-side work bounded like guest work: nesting depth, state size, what the host
//! accepts from an adaptor, log volume counted in bytes written, memory refusals.

use std::time::{Duration, Instant};

use adaptor_host::{Limit, Limits};
use serde_json::json;

use crate::util::{limit_of, options, probe, run, with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_is_named_when_the_guest_asks_for_more_than_it_can_address() {
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let outcome = run(probe(), r#"[{"allocate": [4095]}]"#, json!({}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::Memory(64 << 20));
}

/// Runs `job` through the binary with the probe adaptor; returns the exit code, the
/// stderr and the output state's text.
fn cli_probe(job: &serde_json::Value, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let job = crate::util::write_json(dir.path(), "job.json", job);
    let out = dir.path().join("out.json");
    let mut args = vec!["run", &job, "-a", env!("PROBE_WASM"), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = crate::util::cli(&args, &dir.path().join("cache"));
    let written = std::fs::read_to_string(&out).unwrap_or_default();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        written,
    )
}

#[test]
fn a_cursor_nesting_the_state_stops_at_the_depth_limit_instead_of_overflowing_the_stack() {
    // 400 items, each nesting the whole state 100 levels deeper: the host's stack
    // overflowed (exit 134) cloning, masking or printing it.
    let mut value = json!("$");
    for _ in 0..100 {
        value = json!([value]);
    }
    let job = json!([{"each": [vec![0; 400], {"cursor": [value, {"key": "x"}]}]}]);
    let (code, stderr, written) = cli_probe(&job, &["--max-memory", "16"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("nesting depth limit of 200 levels"), "{stderr}");
    let state: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(state["errors"]["job"]["type"], "limit");
}

#[test]
fn a_state_doubling_every_item_stops_at_the_state_size_limit() {
    // x = [x, x] 22 times: 4 million leaves, 1.08 GB resident and 575 MB of output.
    let job = json!([{"each": [(0..22).collect::<Vec<_>>(), {"cursor": [["$.x", "$.x"], {"key": "x"}]}]}]);
    let (code, stderr, written) = cli_probe(&job, &["--max-memory", "16"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("state size limit of 64 MiB") && stderr.contains("--max-state-size"),
        "{stderr}"
    );
    assert!(written.len() < 64 << 20, "output of {} bytes", written.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_nest_at_most_the_nesting_limit() {
    let mut operation = json!({"log": ["innermost"]});
    for _ in 0..40 {
        operation = json!({"combine": [operation]});
    }
    let outcome = run(probe(), &json!([operation]).to_string(), json!({}), &options()).await;
    let message = outcome.state["errors"]["test"]["message"].as_str().unwrap();
    assert!(message.contains("nesting depth limit of 32"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_time_limit_stops_a_loop_of_built_ins_that_never_calls_the_adaptor() {
    // A million steps, no adaptor call and no log line: nothing awaited, so the
    // time-out never got a chance to fire until each yielded between items.
    let job = json!([
        {"cursor": [vec![1; 1000], {"key": "list"}]},
        {"each": ["$.list[*]", {"each": ["$.list[*]", {"fnIf": [false, {"log": ["never"]}]}]}]}
    ]);
    let limits = Limits {
        wall_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let outcome = run(probe(), &job.to_string(), json!({}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::WallTime(Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_limit_counts_the_bytes_of_empty_lines() {
    // Empty messages counted as 0 bytes: --max-log-size 1MiB let a guest write 715 MB.
    let limits = Limits {
        log_bytes: 10_000,
        ..Limits::default()
    };
    let outcome = run(probe(), r#"[{"logFlood": [100000, 0]}]"#, json!({}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::LogBytes(10_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptor_output_of_millions_of_values_is_refused_before_it_is_parsed() {
    // 4 million `{}`: 12 MB of text, 442 MB resident once parsed.
    let body = format!("[{}]", vec!["{}"; 4_000_000].join(","));
    let server =
        simulators::Running::start(axum::Router::new().route("/many", axum::routing::get(move || async move { body })));
    let url = format!("{}/many", server.url());
    let limits = Limits {
        memory_bytes: 1024 << 20,
        ..Limits::default()
    };
    let job = json!([{"fetch": [url]}]).to_string();
    let outcome = run(probe(), &job, json!({"endpoint": url}), &with(limits)).await;
    let message = outcome.state["errors"]["test"]["message"].as_str().unwrap();
    assert!(
        message.contains("state size limit of 64 MiB") && message.contains("--max-state-size"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_limit_counts_the_lines_of_the_log_built_in() {
    let job = json!([
        {"cursor": [vec![1; 1000], {"key": "list"}]},
        {"each": ["$.list[*]", {"log": ["x".repeat(100)]}]}
    ]);
    let limits = Limits {
        log_bytes: 10_000,
        ..Limits::default()
    };
    let outcome = run(probe(), &job.to_string(), json!({}), &with(limits)).await;
    assert_eq!(limit_of(outcome.error), Limit::LogBytes(10_000));
}

#[test]
fn denied_request_warnings_are_shown_a_few_times_then_summarised() {
    // 30 MB of "denied a request" warnings in 10 s, none counted.
    let job = json!([{"fetchMany": ["http://127.0.0.2:9/x", 5000]}]);
    let (_, stderr, _) = cli_probe(&job, &[]);
    let warnings = stderr.lines().filter(|l| l.contains("denied a request")).count();
    assert!((1..=10).contains(&warnings), "{warnings} warnings:\n{stderr}");
    assert!(
        stderr.contains("more warnings and lines about this job were not shown"),
        "{stderr}"
    );
}
