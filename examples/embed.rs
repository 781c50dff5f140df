//! Embedding the adaptor-host library in a Rust program, as a workflow engine would:
//! one `Host` per process, a run of the OpenLMIS example workflow against a local
//! simulator with an event sink that prints one line per event, and a second run that
//! is cancelled while it runs.
//!
//! Run it with `cargo run --release -p adaptor-host --example embed`. `cargo test` runs
//! the same code path (the test at the end).

use std::path::Path;
use std::sync::{Arc, Mutex};

use adaptor_host::events::{Event, EventKind};
use adaptor_host::workflow::Workflow;
use adaptor_host::{Cancel, Credentials, Host, HostOptions, Plan, RunOutcome, RunRequest, run};
use serde_json::json;
use simulators::openlmis::Simulator;

#[tokio::main]
async fn main() {
    let (first, second, lines) = embed().await;
    for line in lines {
        println!("{line}");
    }
    println!(
        "first run: {}; second run: {}",
        first.report.reason, second.report.reason
    );
}

/// Runs the example workflow twice against a fresh simulator: once to the end, once
/// cancelled as soon as its first step starts. Returns both outcomes and the lines the
/// sink printed.
async fn embed() -> (RunOutcome, RunOutcome, Vec<String>) {
    let simulator = Simulator::start();
    let host = Host::new(HostOptions::default()).expect("a host");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    // The OpenLMIS example job as the first step of a workflow; a trigger-less second
    // step that only runs when the first succeeded.
    let workflow = Workflow::from_value(
        &json!({"workflow": {"steps": [
            {"id": "stock", "adaptor": "@openfn/language-openlmis@1.2.2",
             "expression": "openlmis/facilities-and-stock.json", "configuration": "openlmis",
             "next": {"programs": "on_job_success"}},
            {"id": "programs", "adaptor": "openlmis", "expression": [{"get": ["programs"]}],
             "configuration": "openlmis"}
        ]}}),
        &examples,
    )
    .expect("the example workflow reads");
    let mut credentials = serde_json::Map::new();
    credentials.insert(
        "openlmis".into(),
        json!({"baseUrl": simulator.base_url(), "username": "administrator", "password": "password",
               "clientId": "user-client", "clientSecret": "changeme"}),
    );
    let request = |run_id: &str| RunRequest {
        credentials: Credentials::Map(credentials.clone()),
        ..RunRequest::new(run_id, Plan::Workflow(workflow.clone()), json!({}))
    };

    let lines = Arc::new(Mutex::new(Vec::new()));
    let printed = Arc::clone(&lines);
    let printer = Arc::new(move |event: Event| printed.lock().expect("lines").push(line(&event)));
    let first = run(&host, request("run-1"), printer.clone(), &Cancel::new()).await;

    // The second run cancels itself from its sink as soon as a step starts.
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    let sink = Arc::new(move |event: Event| {
        if matches!(event.kind, EventKind::StepStart { .. }) {
            trigger.cancel();
        }
        printer(event);
    });
    let second = run(&host, request("run-2"), sink, &cancel).await;
    let lines = lines.lock().expect("lines").clone();
    (first, second, lines)
}

/// One line per event: time, run, step and what happened.
fn line(event: &Event) -> String {
    let step = event.step_id.as_deref().unwrap_or("-");
    let what = match &event.kind {
        EventKind::RunStart => "run started".to_string(),
        EventKind::StepStart { adaptor, .. } => format!("step started with {adaptor}"),
        EventKind::Log(log) => format!("{} {} {}", log.level.name(), log.source.name(), log.message),
        EventKind::StepComplete(step) => format!(
            "step {} in {} ms, {} requests, {} KiB peak memory",
            step.reason,
            step.duration.as_millis(),
            step.requests,
            step.peak_memory >> 10
        ),
        EventKind::RunComplete(run) => format!("run {} in {} ms", run.reason, run.duration.as_millis()),
    };
    format!("{} {} {step} {what}", event.timestamp, event.run_id)
}

#[cfg(test)]
mod tests {
    use adaptor_host::Reason;
    use serde_json::Value;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_embedding_example_runs_one_workflow_and_cancels_the_other() {
        let (first, second, lines) = embed().await;
        assert_eq!(first.report.reason, Reason::Success, "{:?}", first.report);
        let state: Value = first.state.into_value();
        assert!(state["data"].is_array(), "the last step's programs: {state}");
        assert_eq!(second.report.reason, Reason::Cancel);
        let second_state = second.state.into_value();
        assert_eq!(second_state["errors"]["stock"]["name"], "CancelError", "{second_state}");
        assert!(lines.iter().any(|l| l.contains("run-1 - run success")), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("run-2 - run cancel")), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("run-1 stock step success")),
            "{lines:?}"
        );
    }
}
