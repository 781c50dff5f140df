use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adaptor_host::events::{Event, EventKind, LogSource};
use adaptor_host::workflow::Workflow;
use adaptor_host::{
    Cancel, Credentials, FinalState, Host, HostOptions, Job, Limits, Plan, Reason, RunOutcome, RunRequest, run,
};
use serde_json::{Value, json};

use crate::util::{canary_configuration, canary_simulator, host};

/// Collects a run's events.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    /// The event kinds in order, as short names (logs left out).
    fn shape(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::RunStart => Some("run-start".to_string()),
                EventKind::StepStart { .. } => Some(format!("step-start {}", e.step_id.as_deref().unwrap())),
                EventKind::StepComplete(r) => {
                    Some(format!("step-complete {} {}", e.step_id.as_deref().unwrap(), r.reason))
                }
                EventKind::RunComplete(r) => Some(format!("run-complete {}", r.reason)),
                EventKind::Log(_) => None,
            })
            .collect()
    }
}

async fn run_recorded(host: &Host, request: RunRequest, cancel: &Cancel) -> (RunOutcome, Recorder) {
    let recorder = Recorder::default();
    let sink = recorder.clone();
    let outcome = run(host, request, Arc::new(move |e| sink.0.lock().unwrap().push(e)), cancel).await;
    (outcome, recorder)
}

fn job(adaptor: &str, job: Value, step_id: &str) -> Plan {
    Plan::Job {
        adaptor: adaptor.into(),
        job: Job::from_value(&job).unwrap().into(),
        step_id: step_id.into(),
    }
}

fn request(plan: Plan, configuration: Value) -> RunRequest {
    RunRequest {
        credentials: Credentials::Configuration(configuration),
        ..RunRequest::new("run-1", plan, json!({}))
    }
}

/// A server whose `/slow` answers after `delay`.
fn slow_server(delay: Duration) -> simulators::Running {
    simulators::Running::start(axum::Router::new().route(
        "/slow",
        axum::routing::get(move || async move {
            tokio::time::sleep(delay).await;
            "late"
        }),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_job_sends_its_events_in_order_with_ids_and_stats() {
    let sim = canary_simulator();
    let plan = job("openlmis", json!([{"get": ["programs"]}, {"log": ["done"]}]), "fetch");
    let (outcome, recorder) = run_recorded(
        host(),
        request(plan, canary_configuration(&sim.base_url())),
        &Cancel::new(),
    )
    .await;
    assert_eq!(
        recorder.shape(),
        [
            "run-start",
            "step-start fetch",
            "step-complete fetch success",
            "run-complete success"
        ]
    );
    let events = recorder.events();
    assert!(events.iter().all(|e| e.run_id == "run-1"));
    assert!(
        events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "timestamps in order"
    );
    assert!(
        events[0].timestamp > 1_700_000_000_000_000,
        "microseconds since the epoch"
    );
    let sources: Vec<LogSource> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Log(line) if e.step_id.as_deref() == Some("fetch") => Some(line.source),
            _ => None,
        })
        .collect();
    assert!(sources.contains(&LogSource::Adaptor), "the adaptor's own lines (login)");
    assert!(sources.contains(&LogSource::Job), "the job's log operation");
    let Some(EventKind::StepComplete(step)) = events
        .iter()
        .map(|e| &e.kind)
        .find(|k| matches!(k, EventKind::StepComplete(_)))
    else {
        panic!("no step-complete");
    };
    assert_eq!(step.requests, 2, "login and GET");
    assert!(
        step.peak_memory > 0 && step.peak_memory < 64 << 20,
        "{}",
        step.peak_memory
    );
    assert!(step.error_type.is_none() && step.error_message.is_none());
    assert_eq!(outcome.report.reason, Reason::Success);
    let FinalState::One(state) = outcome.state else {
        panic!("one state")
    };
    assert!(
        state["data"].is_array() && state.get("configuration").is_none(),
        "{state}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_reports_fail_with_its_error() {
    let sim = canary_simulator();
    let plan = job("openlmis", json!([{"facilityByCode": ["NOPE"]}]), "find");
    let (outcome, recorder) = run_recorded(
        host(),
        request(plan, canary_configuration(&sim.base_url())),
        &Cancel::new(),
    )
    .await;
    assert_eq!(
        recorder.shape(),
        [
            "run-start",
            "step-start find",
            "step-complete find fail",
            "run-complete fail"
        ]
    );
    assert_eq!(outcome.report.reason, Reason::Fail);
    assert_eq!(outcome.report.error_type.as_deref(), Some("AdaptorError"));
    assert!(
        outcome
            .report
            .error_message
            .unwrap()
            .contains("no facility has the code")
    );
    let state = outcome.state.into_value();
    assert_eq!(state["errors"]["find"]["name"], "AdaptorError");
    assert_eq!(state["errors"]["find"]["severity"], "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_killed_by_a_limit_ends_the_run_with_kill() {
    let plan = Plan::Workflow(
        Workflow::from_value(
            &json!({"steps": [
                {"id": "spin", "adaptor": env!("PROBE_WASM"), "expression": [{"spin": []}], "next": {"after": "always"}},
                {"id": "after", "adaptor": env!("PROBE_WASM"), "expression": [{"say": ["never"]}]},
            ]}),
            std::path::Path::new("."),
        )
        .unwrap(),
    );
    let request = RunRequest {
        limits: Limits {
            cpu_time: Duration::from_millis(300),
            ..Limits::default()
        },
        ..RunRequest::new("run-1", plan, json!({}))
    };
    let (outcome, recorder) = run_recorded(host(), request, &Cancel::new()).await;
    assert_eq!(
        recorder.shape(),
        [
            "run-start",
            "step-start spin",
            "step-complete spin kill",
            "run-complete kill"
        ],
        "a kill ends the run: the next step never starts"
    );
    assert_eq!(outcome.report.error_type.as_deref(), Some("TimeoutError"));
    assert!(outcome.report.error_message.unwrap().contains("--max-cpu"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_a_slow_request_stops_at_once_and_keeps_the_state() {
    let server = slow_server(Duration::from_secs(30));
    let plan = job(
        env!("PROBE_WASM"),
        json!([{"say": ["first"]}, {"fetch": [format!("{}/slow", server.url())]}]),
        "slow",
    );
    let request = RunRequest {
        input: json!({"data": {"kept": true}}),
        ..request(plan, json!({"endpoint": server.url()}))
    };
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    let cancelled_at = Arc::new(Mutex::new(None));
    let at = Arc::clone(&cancelled_at);
    let server_saw = {
        let server = &server;
        async move {
            while server.requests().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let (outcome, recorder) = tokio::join!(run_recorded(host(), request, &cancel), async move {
        server_saw.await;
        *at.lock().unwrap() = Some(Instant::now());
        trigger.cancel();
    })
    .0;
    let stopped_after = cancelled_at.lock().unwrap().unwrap().elapsed();
    println!("the run returned {} ms after the cancel", stopped_after.as_millis());
    assert!(
        stopped_after < Duration::from_secs(2),
        "{stopped_after:?}: it waited for the server"
    );
    assert_eq!(outcome.report.reason, Reason::Cancel);
    assert_eq!(
        recorder.shape(),
        [
            "run-start",
            "step-start slow",
            "step-complete slow cancel",
            "run-complete cancel"
        ]
    );
    let state = outcome.state.into_value();
    assert_eq!(
        state["data"],
        json!(null),
        "the state reached: after `say`, before `fetch`"
    );
    assert_eq!(state["references"], json!([{"kept": true}]));
    assert_eq!(state["errors"]["slow"]["name"], "CancelError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_is_not_timed_out_while_it_waits_for_a_slot() {
    // One slot: the second job waits for the first, longer than its own time limit.
    let host = Host::new(HostOptions {
        max_concurrent_jobs: 1,
        ..HostOptions::default()
    })
    .unwrap();
    let server = slow_server(Duration::from_millis(1500));
    let slow = request(
        job(
            env!("PROBE_WASM"),
            json!([{"fetch": [format!("{}/slow", server.url())]}]),
            "first",
        ),
        json!({"endpoint": server.url()}),
    );
    let quick = RunRequest {
        run_id: "run-2".into(),
        limits: Limits {
            wall_time: Duration::from_secs(1),
            ..Limits::default()
        },
        ..request(job(env!("PROBE_WASM"), json!([{"say": ["hi"]}]), "second"), json!({}))
    };
    let cancel = Cancel::new();
    let (first, (second, recorder)) = tokio::join!(run_recorded(&host, slow, &cancel), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        run_recorded(&host, quick, &cancel).await
    });
    assert_eq!(first.0.report.reason, Reason::Success);
    assert_eq!(second.report.reason, Reason::Success, "{:?}", second.report);
    let waited = recorder.events().into_iter().any(|e| match e.kind {
        EventKind::Log(line) => line.source == LogSource::Host && line.message.contains("waiting for a job slot"),
        _ => false,
    });
    assert!(waited, "the wait shows in the run's log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_timeout_stops_a_workflow_across_its_steps() {
    // a and b answer in 0.4 s each, well inside the 2 s run timeout; c would take 30 s.
    // Only a budget spanning the steps stops c (its own job limit is minutes), and the
    // slack before c starts (about 1.2 s) leaves room for a loaded machine.
    let fast = slow_server(Duration::from_millis(400));
    let stuck = slow_server(Duration::from_secs(30));
    let step = |id: &str, server: &simulators::Running, next: Value| {
        json!({"id": id, "adaptor": env!("PROBE_WASM"), "configuration": {"endpoint": server.url()},
               "expression": [{"fetch": [format!("{}/slow", server.url())]}], "next": next})
    };
    let workflow = json!({"steps": [
        step("a", &fast, json!({"b": "always"})),
        step("b", &fast, json!({"c": "always"})),
        step("c", &stuck, json!(null)),
    ]});
    let request = RunRequest {
        run_timeout: Some(Duration::from_millis(2000)),
        ..RunRequest::new(
            "run-1",
            Plan::Workflow(Workflow::from_value(&workflow, std::path::Path::new(".")).unwrap()),
            json!({}),
        )
    };
    let (outcome, recorder) = run_recorded(host(), request, &Cancel::new()).await;
    assert_eq!(outcome.report.reason, Reason::Kill);
    assert!(outcome.report.error_message.unwrap().contains("--run-timeout"));
    assert_eq!(
        recorder.shape(),
        [
            "run-start",
            "step-start a",
            "step-complete a success",
            "step-start b",
            "step-complete b success",
            "step-start c",
            "step-complete c kill",
            "run-complete kill"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_with_two_leaves_returns_each_by_step_id() {
    let say = |id: &str, text: &str| json!({"id": id, "adaptor": env!("PROBE_WASM"), "expression": [{"say": [text]}]});
    let workflow = json!({"steps": [
        {"id": "start", "next": {"left": true, "right": "always"}},
        say("left", "l"), say("right", "r"),
    ]});
    let plan = Plan::Workflow(Workflow::from_value(&workflow, std::path::Path::new(".")).unwrap());
    let (outcome, recorder) = run_recorded(
        host(),
        RunRequest::new("run-1", plan, json!({"data": {"x": 1}})),
        &Cancel::new(),
    )
    .await;
    assert_eq!(outcome.report.reason, Reason::Success);
    let FinalState::Leaves(leaves) = outcome.state else {
        panic!("two leaves")
    };
    assert_eq!(leaves.keys().collect::<Vec<_>>(), ["left", "right"]);
    assert_eq!(leaves["left"]["references"], json!([{"x": 1}]));
    assert!(recorder.shape().contains(&"step-complete right success".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptor_that_does_not_load_crashes_the_run_without_running_anything() {
    let plan = job(env!("FS_PROBE_WASM"), json!([{"readFile": ["/etc/passwd"]}]), "files");
    let (outcome, recorder) = run_recorded(host(), RunRequest::new("run-1", plan, json!({})), &Cancel::new()).await;
    assert_eq!(outcome.report.reason, Reason::Crash);
    assert_eq!(outcome.report.error_type.as_deref(), Some("ImportError"));
    assert_eq!(
        recorder.shape(),
        [
            "run-start",
            "step-start files",
            "step-complete files crash",
            "run-complete crash"
        ]
    );
}
