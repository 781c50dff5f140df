use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use adaptor_host::{Adaptor, Error, Host, HostOptions, Job, Limit, Limits, Outcome, RunOptions, run_job};
use serde_json::{Value, json};
use simulators::openlmis::{Client, Config, Simulator};

/// Credentials no other test data contains, so finding one anywhere is a leak.
pub const CANARY_USER: &str = "canary-user-7f3a";
pub const CANARY_PASSWORD: &str = "canary-pass-9c1e";
pub const CANARY_CLIENT: &str = "canary-client-2b8d";
pub const CANARY_SECRET: &str = "canary-secret-5e6f";
pub const CANARIES: [&str; 4] = [CANARY_USER, CANARY_PASSWORD, CANARY_CLIENT, CANARY_SECRET];

/// The one host of this test process (one engine per process, as in production).
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        // Host and adaptor logs (warnings by default, RUST_LOG to change), shown with
        // the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
        Host::new(HostOptions::default()).expect("host")
    })
}

/// The built-in OpenLMIS adaptor, loaded once.
pub fn openlmis() -> &'static Adaptor {
    static ADAPTOR: OnceLock<Adaptor> = OnceLock::new();
    ADAPTOR.get_or_init(|| host().load_builtin("openlmis").expect("openlmis loads"))
}

/// The test-only probe adaptor (misbehaves on request).
pub fn probe() -> &'static Adaptor {
    static ADAPTOR: OnceLock<Adaptor> = OnceLock::new();
    ADAPTOR.get_or_init(|| host().load_file(Path::new(env!("PROBE_WASM"))).expect("probe loads"))
}

/// An OpenLMIS simulator that knows only the canary user and client.
pub fn canary_simulator() -> Simulator {
    Simulator::with_config(canary_simulator_config())
}

/// The configuration of [`canary_simulator`], to adjust before starting one.
pub fn canary_simulator_config() -> Config {
    Config {
        users: vec![(CANARY_USER.into(), CANARY_PASSWORD.into())],
        clients: vec![Client {
            id: CANARY_CLIENT.into(),
            secret: CANARY_SECRET.into(),
            grants: vec!["password".into()],
        }],
        ..Config::default()
    }
}

/// The seed-shaped configuration for `sim`, with the canary credentials.
pub fn canary_configuration(base_url: &str) -> Value {
    json!({
        "baseUrl": base_url,
        "username": CANARY_USER,
        "password": CANARY_PASSWORD,
        "clientId": CANARY_CLIENT,
        "clientSecret": CANARY_SECRET,
    })
}

/// Runs `job` (JSON text) in-process with `options` on `{configuration}`.
pub async fn run(adaptor: &Adaptor, job: &str, configuration: Value, options: &RunOptions) -> Outcome {
    let job = Job::parse(job).expect("test job parses");
    run_job(host(), adaptor, &job, json!({"configuration": configuration}), options).await
}

/// [`options`] with `limits`.
pub fn with(limits: Limits) -> RunOptions {
    RunOptions { limits, ..options() }
}

/// The limit a job was stopped by; any other outcome fails the test.
pub fn limit_of(error: Option<Error>) -> Limit {
    match error {
        Some(Error::Limit { limit, .. }) => limit,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

/// Runs `adaptor-host run JOB -a openlmis --credentials CREDS -o OUT EXTRA...` with
/// `job` and `configuration` written to a scratch directory; returns the process
/// output and the text it wrote to OUT (which it always writes).
pub fn cli_openlmis(job: &Value, configuration: &Value, extra: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let job_path = write_json(dir.path(), "job.json", job);
    let creds = write_json(dir.path(), "creds.json", configuration);
    let out = dir.path().join("out.json");
    let mut args = vec![
        "run",
        &job_path,
        "-a",
        "openlmis",
        "--credentials",
        &creds,
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = cli(&args, &dir.path().join("cache"));
    let written = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("no output ({e}): {}", stderr(&output)));
    (output, written)
}

/// A command's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Fails the test, showing the whole stderr, unless the command's stderr holds `text`.
pub fn assert_stderr_has(output: &Output, text: &str) {
    let stderr = stderr(output);
    assert!(stderr.contains(text), "stderr lacks {text:?}:\n{stderr}");
}

/// Options with a step id of `test`.
pub fn options() -> RunOptions {
    RunOptions {
        step_id: "test".into(),
        ..RunOptions::default()
    }
}

/// Panics if any canary value occurs in `text`.
pub fn assert_no_canary(what: &str, text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "{what} leaks {canary}:\n{text}");
    }
}

/// The output of `adaptor-host ARGS`, run with a private cache directory and no
/// inherited logging configuration.
pub fn cli(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("ADAPTOR_HOST_CACHE_DIR", cache)
        .output()
        .expect("running adaptor-host")
}

/// Writes `value` as JSON to `dir/name` and returns the path as a string.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).expect("writing a test file");
    path.display().to_string()
}

/// Runs `job` with the OpenLMIS adaptor and the canary configuration for `sim`.
async fn run_openlmis(sim: &Simulator, job: Value) -> Outcome {
    run(
        openlmis(),
        &job.to_string(),
        canary_configuration(&sim.base_url()),
        &options(),
    )
    .await
}

/// Runs `job` like [`run_openlmis`] and returns the output state after checking that
/// it succeeded.
pub async fn run_ok(sim: &Simulator, job: Value) -> Value {
    let outcome = run_openlmis(sim, job).await;
    assert!(
        outcome.error.is_none(),
        "{:?}\n{}",
        outcome.error,
        outcome.state["errors"]
    );
    outcome.state
}

/// Like [`run_ok`], for a job that must fail: returns `errors.test` of the output.
pub async fn run_err(sim: &Simulator, job: Value) -> Value {
    let outcome = run_openlmis(sim, job).await;
    assert!(outcome.error.is_some(), "expected a failure: {}", outcome.state);
    outcome.state["errors"]["test"].clone()
}

/// How many requests `sim` received for `path`.
pub fn count(sim: &Simulator, path: &str) -> usize {
    sim.server().requests().iter().filter(|r| r.path == path).count()
}

/// The built-in OpenCRVS adaptor, loaded once.
pub fn opencrvs() -> &'static Adaptor {
    static ADAPTOR: OnceLock<Adaptor> = OnceLock::new();
    ADAPTOR.get_or_init(|| host().load_builtin("opencrvs").expect("opencrvs loads"))
}

/// An OpenCRVS system client with canary credentials.
pub fn canary_crvs_client() -> simulators::opencrvs::SystemClient {
    simulators::opencrvs::SystemClient::new(CANARY_CLIENT, CANARY_SECRET, "canary-sha-3d9a")
}

/// An OpenCRVS simulator of `version` knowing only the canary client.
pub fn crvs_simulator(version: simulators::opencrvs::ServerVersion) -> simulators::opencrvs::Simulator {
    simulators::opencrvs::Simulator::with_config(simulators::opencrvs::Config {
        version,
        clients: vec![canary_crvs_client()],
        ..simulators::opencrvs::Config::default()
    })
}

/// Runs `job` with the OpenCRVS adaptor against `sim` (with `version` in the
/// configuration when `versioned`).
pub async fn run_crvs(sim: &simulators::opencrvs::Simulator, job: Value, versioned: bool) -> Outcome {
    let configuration = sim.configuration(&canary_crvs_client(), versioned);
    let outcome = run(opencrvs(), &job.to_string(), configuration, &options()).await;
    assert_no_canary("output state", &outcome.state.to_string());
    outcome
}

/// The paths `sim` received, in order.
pub fn paths(server: &simulators::Running) -> Vec<String> {
    server.requests().into_iter().map(|r| r.path).collect()
}
