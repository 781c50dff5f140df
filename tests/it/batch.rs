//! `adaptor-host run JOB --batch FILE`: one input state per line, each run in a fresh
//! sandbox, up to `--concurrency` at once, one output line per input line in input
//! order. The real binary against the OpenLMIS simulator and a gate server that
//! counts the requests in flight.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Uri;
use serde_json::{Value, json};

use crate::util::{
    assert_no_canary, assert_stderr_has, canary_configuration, canary_simulator, cli, cli_openlmis, count, stderr,
    write_json,
};

const COMFORT_HEALTH_CLINIC: &str = "e6799d64-d10d-4011-b8c2-0e4d4a3f65ce";
const NANDUMBO_HEALTH_CENTER: &str = "176c4276-1fb1-4507-8ad2-cdfba0f47445";

/// A loopback server where every request waits at a gate, which records how many
/// requests were in flight at once.
///
/// A request is held until the gate is open and, with `?wait=K`, until K requests have
/// been answered; or until `hold` has passed. The gate opens for good when `opens_at`
/// requests are in flight at once, or on [`Gate::open`]. Any path; the answer is
/// `{"arrival": n, "query": "<the query string>"}`.
pub(crate) struct Gate {
    server: simulators::Running,
    state: Arc<GateState>,
}

struct GateState {
    opens_at: usize,
    hold: Duration,
    open: AtomicBool,
    arrived: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    /// The query strings of the requests answered, in the order they were answered.
    answered: Mutex<Vec<String>>,
    changed: tokio::sync::Notify,
}

/// Counts a request out of the gate however its handler ends (a client that hangs up
/// drops it).
struct InFlight(Arc<GateState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl Gate {
    pub(crate) fn new(opens_at: usize, hold: Duration) -> Gate {
        let state = Arc::new(GateState {
            opens_at,
            hold,
            open: AtomicBool::new(false),
            arrived: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            answered: Mutex::new(Vec::new()),
            changed: tokio::sync::Notify::new(),
        });
        let gate = Arc::clone(&state);
        let server = simulators::Running::start(
            axum::Router::new().fallback(move |uri: Uri| Gate::pass(Arc::clone(&gate), uri)),
        );
        Gate { server, state }
    }

    async fn pass(state: Arc<GateState>, uri: Uri) -> axum::Json<Value> {
        let query = uri.query().unwrap_or_default().to_string();
        let wait: usize = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("wait="))
            .and_then(|k| k.parse().ok())
            .unwrap_or(0);
        let arrival = state.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let in_flight = InFlight(Arc::clone(&state));
        state.most.fetch_max(now, Ordering::SeqCst);
        if now >= state.opens_at {
            state.open.store(true, Ordering::SeqCst);
        }
        state.changed.notify_waiters();
        let deadline = tokio::time::Instant::now() + state.hold;
        loop {
            let changed = state.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let answered = state.answered.lock().unwrap().len();
            if state.open.load(Ordering::SeqCst) && answered >= wait {
                break;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        drop(in_flight);
        state.answered.lock().unwrap().push(query.clone());
        state.changed.notify_waiters();
        axum::Json(json!({"arrival": arrival, "query": query}))
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// Opens the gate for good.
    pub(crate) fn open(&self) {
        self.state.open.store(true, Ordering::SeqCst);
        self.state.changed.notify_waiters();
    }

    /// Requests waiting at the gate now.
    pub(crate) fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests that were in flight at once.
    pub(crate) fn most_in_flight(&self) -> usize {
        self.state.most.load(Ordering::SeqCst)
    }

    /// The query strings of the requests answered, in the order they were answered.
    pub(crate) fn answered(&self) -> Vec<String> {
        self.state.answered.lock().unwrap().clone()
    }
}

/// The output lines, each parsed.
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("an output line is not JSON ({e}): {line}")))
        .collect()
}

/// The OpenLMIS configuration for the gate: a token, so no login.
fn gate_configuration(gate: &Gate) -> Value {
    let mut configuration = canary_configuration(&gate.url());
    configuration["access_token"] = json!("token-for-the-gate");
    configuration
}

/// Runs `adaptor-host run JOB --batch BATCH -a openlmis --creds CREDS -o OUT FLAGS` and
/// returns the process output and the output lines, after checking that no canary
/// leaked anywhere.
fn batch(job: &Value, configuration: &Value, states: &str, flags: &[&str]) -> (Output, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("states.jsonl");
    std::fs::write(&input, states).unwrap();
    let mut extra = vec!["--batch", input.to_str().unwrap()];
    extra.extend_from_slice(flags);
    let (output, written) = cli_openlmis(job, configuration, &extra);
    assert_no_canary("stdout", &String::from_utf8_lossy(&output.stdout));
    assert_no_canary("stderr", &stderr(&output));
    assert_no_canary("output", &written);
    (output, lines(&written))
}

#[test]
fn every_line_runs_in_its_own_sandbox_and_gets_one_output_line_in_input_order() {
    let sim = canary_simulator();
    let job = json!([{"get": ["$.path"]}]);
    let states = [
        json!({"path": format!("facilities/{COMFORT_HEALTH_CLINIC}")}).to_string(),
        "[1, 2]".to_string(),
        json!({"path": "facilities/00000000-0000-0000-0000-000000000000"}).to_string(),
        "{\"path\": ".to_string(),
        json!({"path": format!("facilities/{NANDUMBO_HEALTH_CENTER}"), "keep": "kept"}).to_string(),
    ]
    .join("\n");
    // --log debug: even the most talkative logs must not leak a secret.
    let (output, lines) = batch(
        &job,
        &canary_configuration(&sim.base_url()),
        &(states + "\n"),
        &["--concurrency", "3", "--log", "debug"],
    );
    assert_eq!(output.status.code(), Some(1), "a line failed: {}", stderr(&output));
    assert_eq!(lines.len(), 5, "one output line per input line: {lines:#?}");

    assert_eq!(lines[0]["data"]["name"], "Comfort Health Clinic", "{}", lines[0]);
    assert_eq!(lines[0]["response"]["statusCode"], 200);
    assert_eq!(
        lines[1]["errors"]["job"]["message"],
        "line 2: expected a JSON object (one input state per line), got an array"
    );
    assert_eq!(lines[1]["errors"]["job"]["name"], "InputError");
    assert_eq!(lines[2]["errors"]["job"]["details"]["statusCode"], 404, "{}", lines[2]);
    assert_eq!(lines[2]["path"], "facilities/00000000-0000-0000-0000-000000000000");
    let broken = lines[3]["errors"]["job"]["message"].as_str().unwrap();
    assert!(
        broken.starts_with("line 4, column 9: not valid JSON")
            && broken.ends_with("expected a JSON object (one input state per line)"),
        "{broken}"
    );
    assert_eq!(lines[4]["data"]["name"], "Nandumbo Health Center", "{}", lines[4]);
    assert_eq!(lines[4]["keep"], "kept", "the rest of the input state is kept");
    for line in &lines {
        assert!(line.get("configuration").is_none(), "{line}");
    }
    // Each of the three jobs logged in itself: nothing (not even the token) is shared
    // between sandboxes.
    assert_eq!(count(&sim, "/api/oauth/token"), 3);
    assert_stderr_has(&output, "batch: 5 lines, 2 succeeded, 3 failed, 5 output lines");
}

#[test]
fn a_javascript_job_reads_its_batch_from_stdin_and_writes_to_stdout() {
    let sim = canary_simulator();
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("lookup.js");
    std::fs::write(
        &job,
        "get($.path);\nfn(state => ({ ...state, name: state.data.name }));\n",
    )
    .unwrap();
    let creds = write_json(dir.path(), "creds.json", &canary_configuration(&sim.base_url()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .args(["run", job.to_str().unwrap(), "-a", "openlmis", "--creds", &creds])
        .args(["--batch", "-", "-O", "--concurrency", "2"])
        .env_remove("RUST_LOG")
        .env("ADAPTOR_HOST_CACHE_DIR", dir.path().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let states = [COMFORT_HEALTH_CLINIC, NANDUMBO_HEALTH_CENTER]
        .map(|id| json!({"path": format!("facilities/{id}")}).to_string())
        .join("\n");
    // No newline after the last line: it still counts.
    child.stdin.take().unwrap().write_all(states.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_no_canary("stdout", &stdout);
    assert_no_canary("stderr", &stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let names: Vec<Value> = lines(&stdout).iter().map(|line| line["name"].clone()).collect();
    assert_eq!(names, [json!("Comfort Health Clinic"), json!("Nandumbo Health Center")]);
}

#[test]
fn jobs_overlap_up_to_the_concurrency_and_no_further() {
    // 20 is above the host's default of 16 job slots: the slots follow --concurrency.
    let gate = Gate::new(20, Duration::from_secs(30));
    let states: String = (1..=30).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    let (output, lines) = batch(
        &json!([{"get": ["gate"]}]),
        &gate_configuration(&gate),
        &states,
        &["--concurrency", "20"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(lines.len(), 30);
    assert_eq!(
        gate.most_in_flight(),
        20,
        "--concurrency 20 runs 20 jobs at once, no more: {}",
        stderr(&output)
    );

    // One at a time: a second request would open the gate; each waits 300 ms for it.
    let gate = Gate::new(2, Duration::from_millis(300));
    let (output, lines) = batch(
        &json!([{"get": ["gate"]}]),
        &gate_configuration(&gate),
        "{}\n{}\n{}\n",
        &["--concurrency", "1"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(lines.len(), 3);
    assert_eq!(gate.most_in_flight(), 1, "--concurrency 1 runs one job at a time");
}

#[test]
fn output_keeps_the_input_order_when_jobs_finish_out_of_order() {
    let gate = Gate::new(1, Duration::from_secs(30));
    // Line 1's request is answered only after the 5 others.
    let states: String = (1..=6)
        .map(|line| format!("{}\n", json!({"line": line, "wait": if line == 1 { 5 } else { 0 }})))
        .collect();
    let job = json!([{"get": ["gate", {"query": {"line": "$.line", "wait": "$.wait"}}]}]);
    let (output, lines) = batch(&job, &gate_configuration(&gate), &states, &["--concurrency", "3"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let answered = gate.answered();
    assert_eq!(answered.len(), 6);
    assert!(answered[5].starts_with("line=1&"), "line 1 finished last: {answered:?}");
    let queries: Vec<&str> = lines
        .iter()
        .map(|line| line["data"]["query"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=6)
        .map(|line| format!("line={line}&wait={}", if line == 1 { 5 } else { 0 }))
        .collect();
    assert_eq!(queries, expected, "in input order");
}

#[test]
fn cancelling_a_batch_still_writes_a_line_for_every_line_read() {
    let gate = Gate::new(usize::MAX, Duration::from_secs(600));
    let dir = tempfile::tempdir().unwrap();
    let job = write_json(dir.path(), "job.json", &json!([{"get": ["gate"]}]));
    let creds = write_json(dir.path(), "creds.json", &gate_configuration(&gate));
    let input = dir.path().join("states.jsonl");
    std::fs::write(&input, "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n").unwrap();
    let input = input.to_str().unwrap();
    let out = dir.path().join("out.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .args(["run", &job, "-a", "openlmis", "--creds", &creds, "--batch", input])
        .args(["--concurrency", "2", "-o", out.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .env("ADAPTOR_HOST_CACHE_DIR", dir.path().join("cache"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::webhooks::wait_for("two jobs at the gate", || gate.in_flight() == 2);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let lines = lines(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for line in &lines {
        assert_eq!(line["errors"]["job"]["name"], "CancelError", "{line}");
    }
}

#[test]
fn a_batch_that_cannot_be_read_is_unusable_input() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let job = write_json(dir.path(), "job.json", &json!([{"get": ["programs"]}]));
    let missing = dir.path().join("missing.jsonl");
    let output = cli(
        &["run", &job, "-a", "openlmis", "--batch", missing.to_str().unwrap()],
        &cache,
    );
    assert_eq!(output.status.code(), Some(2));
    assert_stderr_has(&output, &format!("cannot read the batch file {}", missing.display()));
    assert!(output.stdout.is_empty(), "no line ran");

    let state = write_json(dir.path(), "state.json", &json!({}));
    let output = cli(&["run", &job, "-a", "openlmis", "--batch", "-", "-s", &state], &cache);
    assert_eq!(output.status.code(), Some(2));
    assert_stderr_has(&output, "cannot be used with");
}
