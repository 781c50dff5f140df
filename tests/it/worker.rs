//! `adaptor-host worker` (the real binary) against the strict Lightning simulator:
//! plans with credentials and dataclips, every reason, limits, dropped connections,
//! server errors, shutdown, and a thousand runs through one worker.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulators::lightning::{Completed, Config, Fault, RunSpec, Simulator, linear_plan};

use crate::util::{assert_no_canary, canary_configuration, canary_simulator};

const SECRET: &str = "worker-test-secret";
const OPENLMIS: &str = "@openfn/language-openlmis@1.2.2";
const WAIT: Duration = Duration::from_secs(60);

/// One compiled-component cache for every worker this process starts.
fn cache() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a cache dir"))
        .path()
        .to_path_buf()
}

/// A worker process, stopped (SIGKILL) when dropped.
struct Worker(Child);

impl Worker {
    fn start(sim: &Simulator, capacity: u32, extra: &[&str]) -> Worker {
        let child = Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
            .args(["worker", "--capacity", &capacity.to_string(), "--backoff", "0.05/0.2"])
            .args(extra)
            .env("WORKER_LIGHTNING_SERVICE_URL", sim.url())
            .env("WORKER_SECRET", SECRET)
            .env("ADAPTOR_HOST_CACHE_DIR", cache())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting adaptor-host worker");
        Worker(child)
    }

    /// Sends SIGTERM and waits for the exit; the exit status.
    fn terminate(mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().expect("waiting") {
                return status;
            }
            assert!(Instant::now() < deadline, "the worker did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sim() -> Simulator {
    Simulator::start(SECRET)
}

/// A run of `plan` on `input` whose every job uses the canary OpenLMIS credential
/// `lmis` for `server` (the OpenLMIS adaptor wants a configuration for any job).
fn lmis_run(server: &simulators::openlmis::Simulator, mut plan: Value, input: Value) -> RunSpec {
    for job in plan["jobs"].as_array_mut().expect("jobs") {
        job["credential_id"] = json!("lmis");
    }
    RunSpec::new(plan, input).credential("lmis", canary_configuration(&server.base_url()))
}

/// Waits for `count` runs to end and checks that none was lost and the worker broke
/// no rule of the protocol.
fn ended(sim: &Simulator, count: usize) -> Vec<Completed> {
    let done = sim.wait_completed(count, WAIT).expect("runs end");
    let violations: Vec<String> = sim.violations().iter().map(ToString::to_string).collect();
    assert!(violations.is_empty(), "protocol violations: {violations:#?}");
    assert!(done.iter().all(|c| c.reason != "lost"), "lost runs: {done:#?}");
    assert!(
        sim.claimed_twice().is_empty(),
        "claimed twice: {:?}",
        sim.claimed_twice()
    );
    done
}

fn by_id<'a>(done: &'a [Completed], id: &str) -> &'a Completed {
    done.iter().find(|c| c.run == id).expect("the run ended")
}

#[test]
fn a_multi_step_plan_runs_with_credentials_and_a_dataclip() {
    let lmis = canary_simulator();
    let sim = sim();
    let mut plan = linear_plan(&[
        (
            "job-1",
            OPENLMIS,
            "fn(state => { console.log('password', state.configuration.password); return state; });\n\
             get('programs');\nfn(state => ({ ...state, n: state.data.length }));",
        ),
        (
            "job-2",
            OPENLMIS,
            "fn(state => ({ ...state, doubled: state.n * 2, seed: state.seed }));",
        ),
    ]);
    plan["jobs"][0]["credential_id"] = json!("lmis");
    plan["jobs"][1]["credential_id"] = json!("lmis");
    let spec =
        RunSpec::new(plan, json!({"data": {}, "seed": 42})).credential("lmis", canary_configuration(&lmis.base_url()));
    let id = sim.enqueue(spec);
    let _worker = Worker::start(&sim, 2, &[]);
    let done = ended(&sim, 1);
    let run = by_id(&done, &id);
    assert_eq!(run.reason, "success", "{run:#?}");
    let state = run.final_state.as_ref().expect("a final state");
    assert_eq!(state["n"], 6);
    assert_eq!(state["doubled"], 12);
    assert_eq!(state["seed"], 42);
    assert!(state.get("configuration").is_none() && state.get("response").is_none());
    assert_eq!(run.steps.len(), 2);
    assert_eq!(run.steps[1].input_dataclip_id, run.steps[0].output_dataclip_id);
    assert_eq!(run.final_dataclip_id, run.steps[1].output_dataclip_id);
    assert_eq!(run.steps[0].output.as_ref().expect("an output")["n"], 6);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sim.run_events(&id).iter().any(|e| e == "phx_leave") {
        assert!(Instant::now() < deadline, "the worker left the run channel");
        std::thread::sleep(Duration::from_millis(10));
    }
    let events = sim.run_events(&id);
    let order: Vec<&str> = events.iter().map(String::as_str).filter(|e| *e != "run:log").collect();
    assert_eq!(
        order,
        [
            "phx_join",
            "fetch:plan",
            "fetch:dataclip",
            "fetch:credential",
            "fetch:credential",
            "run:start",
            "step:start",
            "step:complete",
            "step:start",
            "step:complete",
            "run:complete",
            "phx_leave"
        ]
    );
    let frames = sim.frames();
    let start = frames.iter().find(|f| f.event == "run:start").expect("run:start");
    assert_eq!(start.payload["versions"]["@openfn/language-openlmis"], json!(["1.2.2"]));
    let logs: Vec<&Value> = frames
        .iter()
        .filter(|f| f.event == "run:log")
        .map(|f| &f.payload)
        .collect();
    assert!(
        logs.iter().any(|l| l["source"] == "JOB" && l["step_id"].is_string()),
        "{logs:#?}"
    );
    for frame in &frames {
        assert_no_canary(&format!("{} frame", frame.event), &frame.payload.to_string());
    }
}

#[test]
fn failures_crashes_and_missing_adaptors_end_with_their_reasons() {
    let lmis = canary_simulator();
    let sim = sim();
    let fail = sim.enqueue(lmis_run(
        &lmis,
        linear_plan(&[("job-1", OPENLMIS, "fn(() => { throw new Error('nope'); });")]),
        json!({}),
    ));
    let crash = sim.enqueue(lmis_run(
        &lmis,
        linear_plan(&[("job-1", OPENLMIS, "fn(state => { return state +; });")]),
        json!({}),
    ));
    let missing = sim.enqueue(lmis_run(
        &lmis,
        linear_plan(&[("job-1", "@openfn/language-nonexistent@1.0.0", "fn(s => s)")]),
        json!({}),
    ));
    // A failure handled by an on_job_failure branch does not fail the run.
    let mut handled = linear_plan(&[
        ("job-1", OPENLMIS, "fn(() => { throw new Error('nope'); });"),
        ("job-2", OPENLMIS, "fn(state => ({ ...state, handled: true }));"),
    ]);
    handled["edges"][1]["condition"] = json!("on_job_failure");
    let handled = sim.enqueue(lmis_run(&lmis, handled, json!({})));
    let _worker = Worker::start(&sim, 4, &[]);
    let done = ended(&sim, 4);

    let run = by_id(&done, &fail);
    assert_eq!(
        (run.reason.as_str(), run.error_type.as_deref()),
        ("fail", Some("JobError")),
        "{run:#?}"
    );
    assert!(run.final_state.as_ref().expect("a final state")["errors"]["job-1"].is_object());
    let run = by_id(&done, &crash);
    assert_eq!(run.reason, "crash", "{run:#?}");
    let run = by_id(&done, &missing);
    assert_eq!(run.reason, "exception", "{run:#?}");
    assert_eq!(run.error_type.as_deref(), Some("AutoinstallError"));
    assert!(
        run.error_message
            .as_deref()
            .unwrap_or_default()
            .contains("language-nonexistent")
    );
    assert!(run.steps.is_empty());
    let run = by_id(&done, &handled);
    assert_eq!(run.reason, "success", "{run:#?}");
    assert_eq!(run.final_state.as_ref().expect("a final state")["handled"], true);
}

#[test]
fn a_run_over_its_timeout_is_killed() {
    let lmis = canary_simulator();
    let sim = sim();
    let mut plan = linear_plan(&[("job-1", OPENLMIS, "fn(state => { while (true) {} });")]);
    plan["options"] = json!({"run_timeout_ms": 500});
    let id = sim.enqueue(lmis_run(&lmis, plan, json!({})));
    let _worker = Worker::start(&sim, 1, &[]);
    let done = ended(&sim, 1);
    let run = by_id(&done, &id);
    assert_eq!(run.reason, "kill", "{run:#?}");
    assert_eq!(run.error_type.as_deref(), Some("TimeoutError"));
    assert_eq!(run.steps[0].reason.as_deref(), Some("kill"));
}

#[test]
fn an_output_over_the_payload_limit_is_not_sent() {
    let lmis = canary_simulator();
    let sim = sim();
    let mut plan = linear_plan(&[
        (
            "job-1",
            OPENLMIS,
            "fn(state => ({ ...state, big: 'x'.repeat(1500000) }));",
        ),
        ("job-2", OPENLMIS, "fn(state => ({ size: state.big.length }));"),
    ]);
    plan["options"] = json!({"payload_limit_mb": 1});
    let id = sim.enqueue(lmis_run(&lmis, plan, json!({})));
    // And a plan whose outputs must not be sent at all.
    let mut erased = linear_plan(&[("job-1", OPENLMIS, "fn(state => ({ ...state, x: 1 }));")]);
    erased["options"] = json!({"output_dataclips": false});
    let erased = sim.enqueue(lmis_run(&lmis, erased, json!({})));
    let _worker = Worker::start(&sim, 2, &[]);
    let done = ended(&sim, 2);
    let run = by_id(&done, &id);
    assert_eq!(run.reason, "success", "{run:#?}");
    assert_eq!(
        run.steps[0].output_dataclip_error.as_deref(),
        Some("DATACLIP_TOO_LARGE")
    );
    assert!(run.steps[0].output_dataclip_id.is_none());
    assert!(run.steps[1].input_dataclip_id.is_none());
    assert_eq!(
        run.final_state.as_ref().expect("a final state")["size"],
        1_500_000,
        "the real state passed on"
    );
    let run = by_id(&done, &erased);
    assert_eq!(run.reason, "success", "{run:#?}");
    assert!(run.steps[0].output.is_none());
}

/// A job that keeps the CPU busy for `ms` milliseconds, emitting nothing meanwhile.
fn busy(ms: u64) -> String {
    format!(
        "fn(state => {{ const end = Date.now() + {ms}; while (Date.now() < end) {{}} return {{ ...state, done: true }}; }});"
    )
}

#[test]
fn a_dropped_connection_mid_run_loses_nothing() {
    let mut config = Config::new(SECRET);
    config.lost_after = Duration::from_secs(20);
    let sim = Simulator::with_config(config);
    let lmis = canary_simulator();
    let ids: Vec<String> = (0..8)
        .map(|_| {
            sim.enqueue(lmis_run(
                &lmis,
                linear_plan(&[("job-1", OPENLMIS, &busy(1500))]),
                json!({}),
            ))
        })
        .collect();
    let worker = Worker::start(&sim, 4, &[]);
    // Drop the socket while four runs are inside their step and nothing is in flight
    // (a push whose reply is lost with the socket cannot be told apart from one
    // that never arrived).
    let deadline = Instant::now() + WAIT;
    while sim.frames().iter().filter(|f| f.event == "step:start").count() < 4 {
        assert!(Instant::now() < deadline, "four runs started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(400));
    sim.disconnect_all();
    let done = ended(&sim, ids.len());
    for id in &ids {
        assert_eq!(by_id(&done, id).reason, "success", "{:#?}", by_id(&done, id));
    }
    assert!(sim.connections().len() >= 2, "reconnected");
    assert!(worker.terminate(Duration::from_secs(10)).success());
}

#[test]
fn unanswered_and_refused_events_still_end_with_run_complete() {
    let lmis = canary_simulator();
    let sim = sim();
    // The socket drops when the first step:complete arrives (unhandled): it is sent
    // again after the reconnect. A run:log and a step:start are answered with errors.
    sim.inject("step:complete", Fault::Disconnect);
    sim.inject_after("run:log", 3, Fault::Error);
    sim.inject_after("step:start", 1, Fault::Error);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let body = format!("fn(state => ({{ ...state, i: {i} }}));");
            sim.enqueue(lmis_run(&lmis, linear_plan(&[("job-1", OPENLMIS, &body)]), json!({})))
        })
        .collect();
    // Capacity 1: one run in flight at a time, so the dropped socket cuts off nothing else.
    let _worker = Worker::start(&sim, 1, &[]);
    let done = ended(&sim, ids.len());
    for (i, id) in ids.iter().enumerate() {
        let run = by_id(&done, id);
        assert_eq!(run.reason, "success", "{run:#?}");
        assert_eq!(run.final_state.as_ref().expect("a final state")["i"], i);
    }
    assert!(sim.connections().len() >= 2, "reconnected");
}

#[test]
fn sigterm_lets_short_runs_finish_and_kills_the_rest() {
    let lmis = canary_simulator();
    let sim = sim();
    let slow = sim.enqueue(lmis_run(
        &lmis,
        linear_plan(&[("job-1", OPENLMIS, "fn(state => { while (true) {} });")]),
        json!({}),
    ));
    let worker = Worker::start(&sim, 2, &["--grace", "1"]);
    let deadline = Instant::now() + WAIT;
    while !sim.run_events(&slow).iter().any(|e| e == "step:start") {
        assert!(Instant::now() < deadline, "the slow run started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let quick = sim.enqueue(lmis_run(
        &lmis,
        linear_plan(&[("job-1", OPENLMIS, "fn(state => ({ ...state, quick: true }));")]),
        json!({}),
    ));
    std::thread::sleep(Duration::from_millis(300));
    let status = worker.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}");
    let done = ended(&sim, 2);
    let run = by_id(&done, &slow);
    assert_eq!(run.reason, "kill", "{run:#?}");
    assert_eq!(by_id(&done, &quick).reason, "success");
    let frames = sim.frames();
    assert!(
        frames
            .iter()
            .any(|f| f.topic == "worker:queue" && f.event == "phx_leave")
    );
}

#[test]
fn a_thousand_runs_through_one_worker_at_capacity_8() {
    const RUNS: usize = 1000;
    let lmis = canary_simulator();
    let sim = sim();
    let ids: Vec<String> = (0..RUNS)
        .map(|i| {
            let plan = linear_plan(&[("job-1", OPENLMIS, "fn(state => ({ ...state, ok: true }));")]);
            sim.enqueue(lmis_run(&lmis, plan, json!({"data": {"i": i}})))
        })
        .collect();
    let started = Instant::now();
    let _worker = Worker::start(&sim, 8, &[]);
    let done = ended(&sim, RUNS);
    let elapsed = started.elapsed();
    assert_eq!(done.len(), RUNS);
    for id in &ids {
        let run = by_id(&done, id);
        assert_eq!(run.reason, "success", "{run:#?}");
    }
    eprintln!(
        "{RUNS} runs in {elapsed:?}: {:.0} runs/s",
        RUNS as f64 / elapsed.as_secs_f64()
    );
}
