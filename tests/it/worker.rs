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
    assert_eq!(
        (run.reason.as_str(), run.error_type.as_deref()),
        ("crash", Some("CompileError")),
        "{run:#?}"
    );
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
    let mut threads = std::collections::BTreeSet::new();
    for id in &ids {
        let run = by_id(&done, id);
        assert_eq!(run.reason, "success", "{run:#?}");
        threads.insert(run.steps[0].thread_id.expect("a thread_id"));
    }
    // Each run reports the worker slot that ran it.
    assert!(
        threads.len() > 1 && threads.iter().all(|t| (1..=8).contains(t)),
        "{threads:?}"
    );
    eprintln!(
        "{RUNS} runs in {elapsed:?}: {:.0} runs/s",
        RUNS as f64 / elapsed.as_secs_f64()
    );
}

/// The `message` of every `run:log` with `source` of run `id`.
fn messages(sim: &Simulator, id: &str, source: &str) -> Vec<Value> {
    sim.run_frames(id)
        .into_iter()
        .filter(|f| f.event == "run:log" && f.payload["source"] == source)
        .map(|f| f.payload["message"].clone())
        .collect()
}

#[test]
fn log_lines_follow_the_sanitize_policy_job_log_level_and_log_payload_limit() {
    let lmis = canary_simulator();
    let sim = sim();
    let body = "fn(state => {\n\
                  console.log('plain', 42, { b: 1, a: { c: 2 } }, [1, 2, 3], {}, []);\n\
                  console.log({ only: 'object' });\n\
                  console.log({ configuration: state.configuration, x: 1 });\n\
                  console.log(null);\n\
                  return state;\n\
                });";
    let policies = ["none", "remove", "summarize", "obfuscate"];
    let ids: Vec<String> = policies
        .iter()
        .map(|policy| {
            let mut plan = linear_plan(&[("job-1", OPENLMIS, body)]);
            plan["options"] = json!({ "sanitize": policy });
            sim.enqueue(lmis_run(&lmis, plan, json!({})))
        })
        .collect();
    let mut quiet = linear_plan(&[("job-1", OPENLMIS, body)]);
    quiet["options"] = json!({"job_log_level": "none"});
    let quiet = sim.enqueue(lmis_run(&lmis, quiet, json!({})));
    let mut big = linear_plan(&[(
        "job-1",
        OPENLMIS,
        "fn(state => { console.log('x'.repeat(1200000)); console.log('small'); return state; });",
    )]);
    big["options"] = json!({"log_payload_limit_mb": 1});
    let big = sim.enqueue(lmis_run(&lmis, big, json!({})));
    let _worker = Worker::start(&sim, 3, &[]);
    let done = ended(&sim, policies.len() + 2);
    for id in ids.iter().chain([&quiet, &big]) {
        assert_eq!(by_id(&done, id).reason, "success", "{:#?}", by_id(&done, id));
    }

    let masked =
        json!({"baseUrl": "****", "username": "****", "password": "****", "clientId": "****", "clientSecret": "****"});
    let expected = [
        vec![
            json!(["plain", 42, {"b": 1, "a": {"c": 2}}, [1, 2, 3], {}, []]),
            json!([{"only": "object"}]),
            json!([{"configuration": masked, "x": 1}]),
        ],
        // A line of one removed value (or one null) is not sent.
        vec![json!(["plain", 42, null, null, null, null])],
        vec![
            json!([
                "plain",
                42,
                "(object with keys a, b)",
                "(array with 3 items)",
                "(empty object)",
                "(empty array)"
            ]),
            json!(["(object with keys only)"]),
            json!(["(object with keys configuration, x)"]),
        ],
        vec![
            json!(["plain", 42, "[object]", "[array]", "[object]", "[array]"]),
            json!(["[object]"]),
            json!(["[object]"]),
        ],
    ];
    for ((policy, id), expected) in policies.iter().zip(&ids).zip(expected) {
        assert_eq!(messages(&sim, id, "JOB"), expected, "sanitize: {policy}");
    }
    assert!(messages(&sim, &quiet, "JOB").is_empty(), "job_log_level: none");
    assert!(!messages(&sim, &quiet, "R/T").is_empty(), "other logs still go");
    assert_eq!(
        messages(&sim, &big, "JOB"),
        [
            json!(["(Log message redacted: exceeds 1mb memory limit)"]),
            json!(["small"])
        ]
    );
    for frame in sim.frames() {
        assert_no_canary(&format!("{} frame", frame.event), &frame.payload.to_string());
    }
}

#[test]
fn a_compile_error_ends_the_run_before_any_step() {
    let lmis = canary_simulator();
    let sim = sim();
    // The first step is fine and would call the server; the second does not compile.
    let plan = linear_plan(&[
        ("job-1", OPENLMIS, "get('programs');"),
        ("job-2", OPENLMIS, "fn(state => {\n  return state +;\n});"),
    ]);
    let id = sim.enqueue(lmis_run(&lmis, plan, json!({})));
    let _worker = Worker::start(&sim, 1, &[]);
    let done = ended(&sim, 1);
    let run = by_id(&done, &id);
    assert_eq!(
        (run.reason.as_str(), run.error_type.as_deref()),
        ("crash", Some("CompileError")),
        "{run:#?}"
    );
    let message = run.error_message.as_deref().unwrap_or_default();
    assert!(
        message.starts_with("job-2.js: SyntaxError:") && message.contains("(2:"),
        "{message}"
    );
    assert!(run.steps.is_empty(), "{run:#?}");
    let events: Vec<String> = sim.run_events(&id).into_iter().filter(|e| e != "run:log").collect();
    assert_eq!(
        events[..events.len().min(7)],
        [
            "phx_join",
            "fetch:plan",
            "fetch:dataclip",
            "fetch:credential",
            "fetch:credential",
            "run:start",
            "run:complete"
        ]
    );
    assert_eq!(lmis.server().requests().len(), 0, "no step ran");
}

/// A plan: trigger → `job-1`, then an edge from `job-1` to each `(target, condition)`;
/// every job's body is `bodies` by id.
fn branching_plan(bodies: &[(&str, &str)], edges: &[(&str, &str)]) -> Value {
    let mut plan = linear_plan(
        &bodies
            .iter()
            .take(1)
            .map(|(id, body)| (*id, OPENLMIS, *body))
            .collect::<Vec<_>>(),
    );
    for (id, body) in &bodies[1..] {
        plan["jobs"]
            .as_array_mut()
            .expect("jobs")
            .push(json!({"id": id, "name": id, "adaptor": OPENLMIS, "credential_id": null, "body": body}));
    }
    for (n, (target, condition)) in edges.iter().enumerate() {
        plan["edges"].as_array_mut().expect("edges").push(json!({
            "id": format!("branch-{n}"), "source_trigger_id": null, "source_job_id": "job-1",
            "target_job_id": target, "condition": condition, "enabled": true,
        }));
    }
    plan
}

#[test]
fn javascript_edge_conditions_choose_the_branches_and_a_throwing_one_crashes() {
    let lmis = canary_simulator();
    let sim = sim();
    let jobs = [
        ("job-1", "fn(state => ({ ...state, data: [1, 2, 3] }));"),
        ("job-2", "fn(state => ({ ...state, took: 'yes' }));"),
        ("job-3", "fn(state => ({ ...state, took: 'no' }));"),
    ];
    let branching = sim.enqueue(lmis_run(
        &lmis,
        branching_plan(
            &jobs,
            &[("job-2", "state.data.length > 0"), ("job-3", "state.data.length > 5")],
        ),
        json!({}),
    ));
    let throwing = sim.enqueue(lmis_run(
        &lmis,
        branching_plan(&jobs[..2], &[("job-2", "state.data.nothing.length > 0")]),
        json!({}),
    ));
    let _worker = Worker::start(&sim, 2, &[]);
    let done = ended(&sim, 2);

    let run = by_id(&done, &branching);
    assert_eq!(run.reason, "success", "{run:#?}");
    let ran: Vec<&str> = run.steps.iter().map(|s| s.job_id.as_str()).collect();
    assert_eq!(ran, ["job-1", "job-2"], "only the true branch runs");
    assert_eq!(run.steps[1].input_dataclip_id, run.steps[0].output_dataclip_id);
    assert_eq!(run.final_state.as_ref().expect("a final state")["took"], "yes");
    assert_eq!(
        run.final_dataclip_id, run.steps[1].output_dataclip_id,
        "the leaf's output is the final one"
    );

    let run = by_id(&done, &throwing);
    assert_eq!(
        (run.reason.as_str(), run.error_type.as_deref()),
        ("crash", Some("EdgeConditionError")),
        "{run:#?}"
    );
    assert!(
        run.error_message.as_deref().unwrap_or_default().contains("TypeError"),
        "{run:#?}"
    );
    let ran: Vec<&str> = run.steps.iter().map(|s| s.job_id.as_str()).collect();
    assert_eq!(ran, ["job-1"]);
}

#[test]
fn outputs_lose_configuration_and_response_between_steps() {
    // Step 1's get sets `response`; step 2 records whether its input had it.
    let jobs = [
        ("job-1", OPENLMIS, "get('programs');"),
        (
            "job-2",
            OPENLMIS,
            "fn(state => ({ ...state, hadResponse: 'response' in state, programs: state.data.length }));",
        ),
    ];
    let lmis = canary_simulator();
    let sim = sim();
    let id = sim.enqueue(lmis_run(&lmis, linear_plan(&jobs), json!({})));
    let _worker = Worker::start(&sim, 1, &[]);
    let done = ended(&sim, 1);
    let run = by_id(&done, &id);
    assert_eq!(run.reason, "success", "{run:#?}");
    let state = run.final_state.as_ref().expect("a final state");
    assert_eq!(
        (state["hadResponse"].clone(), state["programs"].clone()),
        (json!(false), json!(6))
    );
    for step in &run.steps {
        let output = step.output.as_ref().expect("an output");
        assert!(
            output.get("response").is_none() && output.get("configuration").is_none(),
            "{output}"
        );
    }
    assert!(state.get("response").is_none());
    for frame in sim.frames() {
        assert_no_canary(&format!("{} frame", frame.event), &frame.payload.to_string());
    }

    // WORKER_STATE_PROPS_TO_REMOVE=configuration keeps `response`.
    let mut config = Config::new(SECRET);
    config.state_props_removed = vec!["configuration".into()];
    let sim = Simulator::with_config(config);
    let id = sim.enqueue(lmis_run(&lmis, linear_plan(&jobs), json!({})));
    let _worker = Worker::start(&sim, 1, &["--state-props-to-remove", "configuration"]);
    let done = ended(&sim, 1);
    let run = by_id(&done, &id);
    assert_eq!(run.reason, "success", "{run:#?}");
    assert_eq!(run.final_state.as_ref().expect("a final state")["hadResponse"], true);
    assert!(run.steps[0].output.as_ref().expect("an output")["response"].is_object());
    for frame in sim.frames() {
        assert_no_canary(&format!("{} frame", frame.event), &frame.payload.to_string());
    }
}
