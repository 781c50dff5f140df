use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulators::opencrvs::{ServerVersion, Signing};

use crate::batch::Gate;
use crate::util::{canary_crvs_client, crvs_simulator, opencrvs, options, run, write_json};

/// `adaptor-host serve` in a child process; killed on drop.
pub(crate) struct Serve {
    child: Child,
    pub(crate) url: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    pub(crate) fn start(job: &str, credentials: &str, spool: &Path, output: &Path) -> Serve {
        Serve::start_with(job, credentials, spool, output, &[], "")
    }

    /// Like [`Serve::start`] with more flags, run by `sh -c` after `shell` (e.g.
    /// `ulimit -n 128;`) when that is not empty.
    pub(crate) fn start_with(
        job: &str,
        credentials: &str,
        spool: &Path,
        output: &Path,
        flags: &[&str],
        shell: &str,
    ) -> Serve {
        let binary = env!("CARGO_BIN_EXE_adaptor-host");
        let mut command = if shell.is_empty() {
            Command::new(binary)
        } else {
            let mut command = Command::new("sh");
            command.arg("-c").arg(format!("{shell} exec \"$0\" \"$@\"")).arg(binary);
            command
        };
        let mut child = command
            .args([
                "serve",
                job,
                "-a",
                "opencrvs",
                "--credentials",
                credentials,
                "--listen",
                "127.0.0.1:0",
            ])
            .arg("--spool")
            .arg(spool)
            .arg("--output-dir")
            .arg(output)
            .args(flags)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting adaptor-host serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (found, wait) = std::sync::mpsc::channel();
        let log = Arc::clone(&stderr);
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("adaptor-host: listening on ") {
                    let _ = found.send(url.to_string());
                }
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let url = wait
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("serve reports its address: {}", stderr.lock().unwrap()));
        Serve { child, url, stderr }
    }

    /// The `host:port` it listens on.
    pub(crate) fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    pub(crate) fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM, as a service manager stops it.
    pub(crate) fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// Waits for the process to exit: its exit code.
    pub(crate) fn exit_code(&mut self) -> Option<i32> {
        let mut status = None;
        wait_for("serve to exit", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.and_then(|s| s.code())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Subscribes `callback` through the adaptor and checks the simulator lists it.
async fn subscribe(sim: &simulators::opencrvs::Simulator, callback: &str) {
    let mut configuration = sim.configuration(&canary_crvs_client(), true);
    configuration["shaSecret"] = json!(canary_crvs_client().sha_secret);
    let job = json!([
        {"subscribe": [callback, "BIRTH_REGISTERED", "$.configuration.shaSecret"]},
        {"listSubscriptions": []}
    ]);
    let outcome = run(opencrvs(), &job.to_string(), configuration, &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["references"][1], Value::Null, "202 with an empty body");
    assert_eq!(outcome.state["data"][0]["callback"], callback);
    assert_eq!(outcome.state["data"][0]["topic"], "BIRTH_REGISTERED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_deliveries_are_refused_and_a_valid_one_runs_its_job_once() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let dir = tempfile::tempdir().unwrap();
    let mut credentials = sim.configuration(&canary_crvs_client(), true);
    credentials["shaSecret"] = json!(canary_crvs_client().sha_secret);
    let creds = write_json(dir.path(), "creds.json", &credentials);
    let job = write_json(
        dir.path(),
        "on-birth.json",
        &json!([{"createDocumentEntry": ["$.data.event.context[0]"]}]),
    );
    let (spool, output) = (dir.path().join("spool"), dir.path().join("out"));
    let serve = Serve::start(&job, &creds, &spool, &output);
    subscribe(&sim, &format!("{}/opencrvs/births", serve.url)).await;

    for signing in [Signing::Tampered, Signing::Sha1, Signing::Missing] {
        let deliveries = sim.register_birth_signed("Äöå Tampered", signing);
        assert_eq!(deliveries[0].status, Some(401), "{signing:?}");
    }
    let delivered = sim.register_birth("Chikondi Äöå");
    assert_eq!(delivered[0].status, Some(200), "{}", serve.log());
    wait_for("the job's output", || files(&output).len() == 1);
    assert_eq!(delivered[0].repeat(), Some(200), "a repeated delivery is acknowledged");

    std::thread::sleep(Duration::from_millis(300));
    let outputs = files(&output);
    assert_eq!(outputs.len(), 1, "exactly one run: {}", serve.log());
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&outputs[0]).unwrap()).unwrap();
    assert_eq!(
        state["data"]["resource"]["entry"][1]["resource"]["name"][0]["given"][0],
        "Chikondi Äöå"
    );
    assert!(state.get("configuration").is_none());
    assert!(files(&spool.join("pending")).is_empty());
    assert_eq!(files(&spool.join("done")).len(), 1);
    assert_eq!(serve.log().matches("rejected a delivery").count(), 3, "{}", serve.log());

    // Unsubscribing stops deliveries.
    let configuration = sim.configuration(&canary_crvs_client(), true);
    let job = json!([{"listSubscriptions": []}, {"unsubscribe": ["$.data[0].id"]}, {"listSubscriptions": []}]);
    let outcome = run(opencrvs(), &job.to_string(), configuration, &options()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.state["data"], json!([]));
    assert!(sim.register_birth("After unsubscribing").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_bounds_the_body_size_and_needs_the_sha_secret() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let dir = tempfile::tempdir().unwrap();
    let mut credentials = sim.configuration(&canary_crvs_client(), true);
    let job = write_json(dir.path(), "job.json", &json!([{"createDocumentEntry": ["$.data"]}]));
    let without_secret = write_json(dir.path(), "no-secret.json", &credentials);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .args([
            "serve",
            &job,
            "-a",
            "opencrvs",
            "--credentials",
            &without_secret,
            "--listen",
            "127.0.0.1:0",
            "--spool",
        ])
        .arg(dir.path().join("spool"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("configuration.shaSecret is missing"));

    credentials["shaSecret"] = json!(canary_crvs_client().sha_secret);
    let creds = write_json(dir.path(), "creds.json", &credentials);
    let serve = Serve::start(&job, &creds, &dir.path().join("spool"), &dir.path().join("out"));
    assert_eq!(
        post_status(&format!("{}/hook", serve.url), &"x".repeat(2 << 20)),
        "413",
        "{}",
        serve.log()
    );
}

/// POSTs `body` over a plain TCP connection and returns the status code of the
/// answer, which may come before the whole body was sent.
fn post_status(url: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let address = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let head = format!(
        "POST /hook HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may refuse and close before reading everything.
    let _ = stream.write_all(body.as_bytes());
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n])
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_the_spool_run_after_a_restart() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sim = crvs_simulator(ServerVersion::V1_8);
    // The job calls a gateway that hangs the first time and answers afterwards, so the
    // first `serve` is killed with the event accepted but its job unfinished.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let gateway = simulators::Running::start(axum::Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                axum::Json(json!({"answered": n}))
            }
        }),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut credentials = sim.configuration(&canary_crvs_client(), true);
    credentials["shaSecret"] = json!(canary_crvs_client().sha_secret);
    credentials["services"]["gateway"] = json!(gateway.url());
    let creds = write_json(dir.path(), "creds.json", &credentials);
    let job = write_json(dir.path(), "on-birth.json", &json!([{"request": ["GET", "slow"]}]));
    let (spool, output) = (dir.path().join("spool"), dir.path().join("out"));

    let first = Serve::start(&job, &creds, &spool, &output);
    subscribe(&sim, &format!("{}/births", first.url)).await;
    assert_eq!(sim.register_birth("Restart")[0].status, Some(200));
    wait_for("the job to reach the gateway", || calls.load(Ordering::SeqCst) == 1);
    drop(first);
    assert_eq!(
        files(&spool.join("pending")).len(),
        1,
        "the accepted event survived the crash"
    );
    assert!(files(&output).is_empty());

    let second = Serve::start(&job, &creds, &spool, &output);
    wait_for("the replayed job's output", || files(&output).len() == 1);
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&files(&output)[0]).unwrap()).unwrap();
    assert_eq!(state["data"]["answered"], 1, "{}", second.log());
    assert!(files(&spool.join("pending")).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_fails_when_the_callback_does_not_echo_the_challenge() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let silent = simulators::Running::start(axum::Router::new().route("/hook", axum::routing::get(|| async { "no" })));
    let mut configuration = sim.configuration(&canary_crvs_client(), true);
    configuration["shaSecret"] = json!(canary_crvs_client().sha_secret);
    let job =
        json!([{"subscribe": [format!("{}/hook", silent.url()), "BIRTH_REGISTERED", "$.configuration.shaSecret"]}]);
    let outcome = run(opencrvs(), &job.to_string(), configuration.clone(), &options()).await;
    let error = &outcome.state["errors"]["test"];
    assert_eq!(error["details"]["statusCode"], 400);
    assert_eq!(error["details"]["body"], "Subscription callback check failed");
    assert_eq!(
        silent.requests()[0]
            .query
            .as_deref()
            .map(|q| q.starts_with("mode=subscribe&challenge=")),
        Some(true)
    );

    let job = json!([{"subscribe": [format!("{}/hook", silent.url()), "BIRTH_REGISTERED", "wrong-sha"]}]);
    let outcome = run(opencrvs(), &job.to_string(), configuration, &options()).await;
    assert_eq!(
        outcome.state["errors"]["test"]["details"]["body"]["hub"]["reason"],
        "hub.secret is incorrect"
    );
}

/// A job that GETs `gate` for each event, and the credentials it needs (the OpenCRVS
/// simulator's, with `gate` as the gateway): the paths of both.
fn gate_job(sim: &simulators::opencrvs::Simulator, gate: &Gate, dir: &Path) -> (String, String) {
    let mut credentials = sim.configuration(&canary_crvs_client(), true);
    credentials["shaSecret"] = json!(canary_crvs_client().sha_secret);
    credentials["services"]["gateway"] = json!(gate.url());
    let creds = write_json(dir, "creds.json", &credentials);
    let job = write_json(dir, "on-birth.json", &json!([{"request": ["GET", "gate"]}]));
    (job, creds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_events_concurrently_up_to_the_bound() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let gate = Gate::new(4, Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let (job, creds) = gate_job(&sim, &gate, dir.path());
    let (spool, output) = (dir.path().join("spool"), dir.path().join("out"));
    let serve = Serve::start_with(&job, &creds, &spool, &output, &["--concurrency", "4"], "");
    subscribe(&sim, &format!("{}/births", serve.url)).await;
    for n in 0..8 {
        assert_eq!(sim.register_birth(&format!("Concurrent {n}"))[0].status, Some(200));
    }
    wait_for("8 outputs", || files(&output).len() == 8);
    assert_eq!(
        gate.most_in_flight(),
        4,
        "--concurrency 4 runs 4 jobs at once, no more: {}",
        serve.log()
    );
    assert_eq!(files(&spool.join("done")).len(), 8);
    assert!(files(&spool.join("pending")).is_empty());
    drop(serve);

    // One at a time: a second request would open the gate; each waits 300 ms for it.
    let gate = Gate::new(2, Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let (job, creds) = gate_job(&sim, &gate, dir.path());
    let (spool, output) = (dir.path().join("spool"), dir.path().join("out"));
    let serve = Serve::start_with(&job, &creds, &spool, &output, &["--concurrency", "1"], "");
    let secret = canary_crvs_client().sha_secret;
    for n in 0..3 {
        let body = json!({"event": {"hub": {"topic": "BIRTH_REGISTERED"}, "context": [{"n": n}]}}).to_string();
        assert_eq!(deliver(&serve.url, &secret, &body), 200, "{}", serve.log());
    }
    wait_for("3 outputs", || files(&output).len() == 3);
    assert_eq!(gate.most_in_flight(), 1, "--concurrency 1 runs one job at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_about_one_record_run_one_after_another_in_arrival_order() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    // Three requests at once would open the gate; until then each waits 3 s.
    let gate = Gate::new(3, Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let (_, creds) = gate_job(&sim, &gate, dir.path());
    let job = write_json(
        dir.path(),
        "on-event.json",
        &json!([{"request": ["GET", "gate", null, {"params": {"n": "$.data.n"}}]}]),
    );
    let (spool, output) = (dir.path().join("spool"), dir.path().join("out"));
    let serve = Serve::start_with(&job, &creds, &spool, &output, &["--concurrency", "4"], "");
    let secret = canary_crvs_client().sha_secret;
    for (n, record) in [(1, "A"), (2, "B"), (3, "A"), (4, "A")] {
        let task = json!({"resourceType": "Task", "focus": {"reference": format!("Composition/{record}")}});
        let body = json!({"n": n, "event": {"hub": {"topic": "BIRTH_CORRECTED"},
            "context": [{"resourceType": "Bundle", "entry": [{"resource": task}]}]}});
        assert_eq!(deliver(&serve.url, &secret, &body.to_string()), 200, "{}", serve.log());
    }
    wait_for("4 outputs", || files(&output).len() == 4);
    assert_eq!(
        gate.most_in_flight(),
        2,
        "record A's first event beside record B's, never two of A's: {}",
        serve.log()
    );
    let of_a: Vec<String> = gate.answered().into_iter().filter(|query| query != "n=2").collect();
    assert_eq!(of_a, ["n=1", "n=3", "n=4"], "record A's events in arrival order");
}

/// POSTs a signed delivery of `body` to `url`: the status of the answer.
fn deliver(url: &str, secret: &str, body: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let head = format!(
        "POST /births HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Hub-Signature: {}\r\nConnection: close\r\n\r\n",
        body.len(),
        adaptor_host::webhook::sign(secret, body)
    );
    stream.write_all(format!("{head}{body}").as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_lets_running_jobs_finish_within_the_grace_period() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let gate = Gate::new(usize::MAX, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let (job, creds) = gate_job(&sim, &gate, dir.path());
    let (spool, output) = (dir.path().join("spool"), dir.path().join("out"));
    let mut serve = Serve::start_with(&job, &creds, &spool, &output, &["--grace", "60s"], "");
    let secret = canary_crvs_client().sha_secret;
    assert_eq!(deliver(&serve.url, &secret, "{\"finishing\": 1}"), 200);
    wait_for("the job at the gate", || gate.in_flight() == 1);

    serve.terminate();
    let address = serve.address().to_string();
    wait_for("the listener to close", || {
        std::net::TcpStream::connect(&address).is_err()
    });
    assert!(serve.log().contains("stopping"), "{}", serve.log());
    gate.open();
    assert_eq!(serve.exit_code(), Some(0), "{}", serve.log());
    assert_eq!(files(&output).len(), 1, "the running job finished: {}", serve.log());
    assert_eq!(files(&spool.join("done")).len(), 1);
    assert!(files(&spool.join("pending")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_cancels_jobs_after_the_grace_period_and_their_events_run_after_a_restart() {
    let sim = crvs_simulator(ServerVersion::V1_8);
    let gate = Gate::new(usize::MAX, Duration::from_secs(600));
    let dir = tempfile::tempdir().unwrap();
    let (job, creds) = gate_job(&sim, &gate, dir.path());
    let (spool, output) = (dir.path().join("spool"), dir.path().join("out"));
    let flags = ["--concurrency", "2", "--grace", "1s"];
    let mut first = Serve::start_with(&job, &creds, &spool, &output, &flags, "");
    let secret = canary_crvs_client().sha_secret;
    for n in 0..3 {
        assert_eq!(deliver(&first.url, &secret, &format!("{{\"stopped\": {n}}}")), 200);
    }
    wait_for("two jobs at the gate", || gate.in_flight() == 2);
    first.terminate();
    assert_eq!(first.exit_code(), Some(0), "{}", first.log());
    assert!(first.log().contains("--grace is over"), "{}", first.log());
    assert_eq!(files(&spool.join("pending")).len(), 3, "every event is still pending");
    assert!(
        files(&spool.join("attempts")).is_empty(),
        "the cancelled runs gave their attempts back"
    );
    assert!(files(&output).is_empty());

    gate.open();
    let second = Serve::start_with(&job, &creds, &spool, &output, &flags, "");
    wait_for("the replayed jobs' outputs", || files(&output).len() == 3);
    assert_eq!(files(&spool.join("done")).len(), 3, "{}", second.log());
    assert!(files(&spool.join("pending")).is_empty());
    assert!(!second.log().contains("running an event again"), "{}", second.log());
}
