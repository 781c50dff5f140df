use std::process::Output;

use serde_json::{Value, json};
use simulators::openlmis::Simulator;

use crate::util::{
    CANARY_PASSWORD, assert_no_canary, assert_stderr_has, canary_configuration, canary_simulator, cli, cli_openlmis,
    stderr, write_json,
};

const FAMILY_PLANNING: &str = "dce17f2e-af3e-40ad-8e00-3496adef44c3";
const LEVORA: &str = "d602d0c6-4052-456c-8ccd-61b4ad77bece";
const COMFORT_HEALTH_CLINIC: &str = "e6799d64-d10d-4011-b8c2-0e4d4a3f65ce";

/// Runs `job` with `configuration` through the binary; returns the process output and
/// the output state it wrote, after checking that no canary leaked anywhere.
fn run(job: &Value, configuration: &Value, extra: &[&str]) -> (Output, Value) {
    let (output, written) = cli_openlmis(job, configuration, extra);
    assert_no_canary("stdout", &String::from_utf8_lossy(&output.stdout));
    assert_no_canary("stderr", &stderr(&output));
    assert_no_canary("output state", &written);
    (output, serde_json::from_str(&written).unwrap())
}

#[test]
fn get_then_post_writes_the_next_state_without_configuration_or_secrets() {
    let sim = canary_simulator();
    let job = json!([
        {"get": ["facilities", {"query": {"page": 0, "size": 5}}]},
        {"post": ["/stockEvents", {
            "facilityId": "$.data.content[0].id",
            "programId": FAMILY_PLANNING,
            "lineItems": [{"orderableId": LEVORA, "quantity": 10, "occurredDate": "2017-02-06"}]
        }]}
    ]);
    // --log debug: even the most talkative logs must not leak a secret.
    let (output, state) = run(&job, &canary_configuration(&sim.base_url()), &["--log", "debug"]);
    assert!(output.status.success(), "{}", stderr(&output));

    assert!(state.get("configuration").is_none());
    let event_id = state["data"].as_str().expect("stock event id");
    assert_eq!(state["response"]["statusCode"], 201);
    assert_eq!(state["response"]["method"], "POST");
    assert_eq!(state["response"]["url"], format!("{}/api/stockEvents", sim.base_url()));
    assert!(state["response"].get("body").is_none());
    let references = state["references"].as_array().unwrap();
    assert_eq!(references.len(), 2, "initial data, then the facilities page");
    assert_eq!(references[1]["content"].as_array().unwrap().len(), 5);
    assert_eq!(references[1]["totalElements"], 2734);

    let events = sim.stock_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], event_id);
    assert_eq!(
        events[0]["facilityId"], COMFORT_HEALTH_CLINIC,
        "$.data reference resolved"
    );

    let requests = sim.server().requests();
    let login = requests.iter().find(|r| r.path == "/api/oauth/token").expect("a login");
    assert!(
        !login.query.clone().unwrap_or_default().contains(CANARY_PASSWORD),
        "credentials off the URL"
    );
    assert_eq!(
        requests.iter().filter(|r| r.path == "/api/oauth/token").count(),
        1,
        "token reused within the job"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.path != "/api/oauth/token")
            .all(|r| r.header("authorization").is_some_and(|a| a.starts_with("Bearer ")))
    );
}

#[test]
fn malformed_state_is_an_input_error_with_the_output_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let job = write_json(dir.path(), "job.json", &json!([{"get": ["programs"]}]));
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"data\": [1, 2").unwrap();
    let out = dir.path().join("out.json");
    let output = cli(
        &[
            "run",
            &job,
            "-a",
            "openlmis",
            "-s",
            state.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &dir.path().join("cache"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("state file") && stderr(&output).contains("not valid JSON"),
        "{}",
        stderr(&output)
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(written["errors"]["job"]["type"], "input");
}

#[test]
fn malformed_job_is_an_input_error() {
    let sim = Simulator::start();
    let (output, state) = run(
        &json!([{"get": "programs"}]),
        &canary_configuration(&sim.base_url()),
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let message = state["errors"]["job"]["message"].as_str().unwrap();
    assert!(
        message.contains("job step 1") && message.contains("must be an array"),
        "{message}"
    );
}

#[test]
fn unknown_operation_lists_the_available_ones() {
    let sim = canary_simulator();
    let (output, state) = run(
        &json!([{"fetchEverything": []}]),
        &canary_configuration(&sim.base_url()),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let error = &state["errors"]["job"];
    assert_eq!(error["type"], "unknown-operation");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("available: approveRequisition, authorizeRequisition, batchApproveRequisitions, delete, facilityByCode, get, getAll,"),
        "{error}"
    );
    assert_eq!(error["step"], 1);
}

#[test]
fn wrong_argument_type_names_the_parameter_and_wit_type() {
    let sim = canary_simulator();
    let job = json!([{"get": ["facilities", {"timeout": "soon"}]}]);
    let (output, state) = run(&job, &canary_configuration(&sim.base_url()), &[]);
    assert_eq!(output.status.code(), Some(1));
    let message = state["errors"]["job"]["message"].as_str().unwrap();
    assert!(message.contains("argument options"), "{message}");
    assert!(
        message.contains("field timeout: expected an integer that fits u32, got a string"),
        "{message}"
    );
    assert!(message.contains("WIT type option<record"), "{message}");
    assert!(sim.server().requests().is_empty(), "nothing was sent");
}

#[test]
fn missing_credentials_are_a_configuration_error() {
    let sim = canary_simulator();
    let mut configuration = canary_configuration(&sim.base_url());
    configuration.as_object_mut().unwrap().remove("password");
    let (output, state) = run(&json!([{"get": ["programs"]}]), &configuration, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(state["errors"]["job"]["type"], "configuration");
    assert_stderr_has(&output, "configuration.password is missing");
}

#[test]
fn wrong_password_is_unauthorized_and_says_so() {
    let sim = canary_simulator();
    let mut configuration = canary_configuration(&sim.base_url());
    configuration["password"] = json!("canary-pass-WRONG");
    let (output, state) = run(&json!([{"get": ["programs"]}]), &configuration, &[]);
    assert_eq!(output.status.code(), Some(1));
    let error = &state["errors"]["job"];
    assert_eq!(error["type"], "unauthorized");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("username or password is wrong"),
        "{error}"
    );
    assert_eq!(error["details"]["exchange"]["statusCode"], 400);
    assert_eq!(error["details"]["exchange"]["body"]["error"], "invalid_grant");
    assert!(!state.to_string().contains("canary-pass-WRONG"));
}

#[test]
fn wrong_client_secret_is_unauthorized_and_says_so() {
    let sim = canary_simulator();
    let mut configuration = canary_configuration(&sim.base_url());
    configuration["clientSecret"] = json!("canary-secret-WRONG");
    let (output, state) = run(&json!([{"get": ["programs"]}]), &configuration, &[]);
    assert_eq!(output.status.code(), Some(1));
    let error = &state["errors"]["job"];
    assert_eq!(error["type"], "unauthorized");
    assert!(
        error["message"].as_str().unwrap().contains("client credentials"),
        "{error}"
    );
    assert_eq!(error["details"]["exchange"]["statusCode"], 401);
}

#[test]
fn not_found_keeps_the_state_reached_so_far() {
    let sim = canary_simulator();
    let job = json!([
        {"get": ["programs"]},
        {"get": ["facilities/00000000-0000-0000-0000-000000000000"]}
    ]);
    let (output, state) = run(&job, &canary_configuration(&sim.base_url()), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        state["data"].as_array().unwrap().len(),
        6,
        "the programs from step 1 are kept"
    );
    let error = &state["errors"]["job"];
    assert_eq!(error["type"], "http");
    assert_eq!(error["step"], 2);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("GET to ")
            && message.contains("/api/facilities/00000000-0000-0000-0000-000000000000 returned 404: Not Found"),
        "{message}"
    );
    assert_eq!(
        error["details"]["body"]["messageKey"],
        "referenceData.error.facility.notFound"
    );
}

#[test]
fn server_error_is_reported_with_its_status() {
    let sim = canary_simulator();
    sim.fail_next(1, 500);
    let (output, state) = run(
        &json!([{"get": ["programs"]}]),
        &canary_configuration(&sim.base_url()),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let error = &state["errors"]["job"];
    assert_eq!(error["details"]["statusCode"], 500);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("returned 500: Internal Server Error"),
        "{error}"
    );
}

#[test]
fn output_goes_to_stdout_without_dash_o() {
    let sim = canary_simulator();
    let dir = tempfile::tempdir().unwrap();
    let job = write_json(dir.path(), "job.json", &json!([{"get": ["programs"]}]));
    let creds = write_json(dir.path(), "creds.json", &canary_configuration(&sim.base_url()));
    let output = cli(
        &[
            "run",
            &job,
            "-a",
            "@openfn/language-openlmis@1.2.2",
            "--credentials",
            &creds,
        ],
        &dir.path().join("c"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let state: Value = serde_json::from_slice(&output.stdout).expect("stdout is the state");
    assert_eq!(state["data"][0]["code"], "PRG001");
    assert_no_canary("stdout", &String::from_utf8_lossy(&output.stdout));
}

#[test]
fn opencrvs_secrets_never_leave_the_sandbox_even_in_debug_logs() {
    use simulators::opencrvs::{OFFICE, ServerVersion};
    let sim = crate::util::crvs_simulator(ServerVersion::V2_0);
    let configuration = sim.configuration(&crate::util::canary_crvs_client(), true);
    let job = json!([
        {"submitBirthNotification": [{"child.name": {"firstname": "Jane", "surname": "Doe"}}, {"createdAtLocation": OFFICE}]},
        {"getEvent": ["$.data.id"]}
    ]);
    let dir = tempfile::tempdir().unwrap();
    let job_path = write_json(dir.path(), "notify.json", &job);
    let creds = write_json(dir.path(), "creds.json", &configuration);
    let out = dir.path().join("out.json");
    let args = [
        "run",
        &job_path,
        "-a",
        "opencrvs",
        "--credentials",
        &creds,
        "-o",
        out.to_str().unwrap(),
        "--log",
        "debug",
    ];
    let output = cli(&args, &dir.path().join("cache"));
    assert!(output.status.success(), "{}", stderr(&output));
    let written = std::fs::read_to_string(&out).unwrap();
    for (what, text) in [
        ("stdout", String::from_utf8_lossy(&output.stdout).into_owned()),
        ("stderr", stderr(&output)),
        ("output", written.clone()),
    ] {
        assert_no_canary(what, &text);
        assert!(
            !text.contains("client_secret"),
            "{what} shows the token request's query:\n{text}"
        );
    }
    let state: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(state["data"]["status"], "NOTIFIED");
    // The token request really carried the secret: it was masked, not missing.
    let token = sim
        .server()
        .requests()
        .into_iter()
        .find(|r| r.path == "/gateway/auth/token")
        .unwrap();
    assert!(token.query.unwrap_or_default().contains(crate::util::CANARY_SECRET));
}

#[test]
fn docs_prints_an_operations_wit_documentation() {
    let dir = tempfile::tempdir().unwrap();
    let output = cli(&["docs", "@openfn/language-opencrvs@1.2.2", "notifyEvent"], dir.path());
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("notifyEvent(eventId: string, declaration: string"),
        "{text}"
    );
    assert!(
        text.contains("2.0 `POST .../events/{id}/notify`, 1.9 `POST .../events/notifications`"),
        "{text}"
    );

    let all = cli(&["docs", "openlmis"], dir.path());
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(
        text.contains("Operations on an OpenLMIS v3 server") && text.contains("submitStockEvent("),
        "{text}"
    );

    let unknown = cli(&["docs", "openlmis", "fly"], dir.path());
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("available: approveRequisition"));
}

#[test]
fn sigterm_cancels_the_run_writes_the_state_and_exits_130() {
    let server = simulators::Running::start(axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "late"
        }),
    ));
    let dir = tempfile::tempdir().unwrap();
    let job = write_json(
        dir.path(),
        "job.json",
        &json!([{"say": ["before"]}, {"fetch": [format!("{}/slow", server.url())]}]),
    );
    let creds = write_json(dir.path(), "creds.json", &json!({"endpoint": server.url()}));
    let out = dir.path().join("out.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .args([
            "run",
            &job,
            "-a",
            env!("PROBE_WASM"),
            "--credentials",
            &creds,
            "-o",
            out.to_str().unwrap(),
        ])
        .env("ADAPTOR_HOST_CACHE_DIR", dir.path().join("cache"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while server.requests().is_empty() {
        assert!(waited.elapsed().as_secs() < 20, "the job never reached the server");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(state["errors"]["job"]["name"], "CancelError", "{state}");
    assert_eq!(
        state["references"],
        json!([{}]),
        "the state reached before the slow request"
    );
}

#[test]
fn openfn_style_flags_work_and_surprising_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let job = write_json(dir.path(), "job.json", &json!([{"say": ["hello"]}]));
    let out = dir.path().join("out.json");
    let out = out.to_str().unwrap();

    // A version other than the built-in adaptor's is refused, naming the built-in one.
    let wrong = cli(
        &["run", &job, "-a", "@openfn/language-openlmis@9.9.9", "-o", out],
        &cache,
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert_stderr_has(&wrong, "version 1.2.2, not 9.9.9");
    assert!(
        std::fs::read_to_string(out).unwrap().contains("errors"),
        "the output records why"
    );

    // openfn's -t is milliseconds: a bare number is refused with a hint, not misread.
    let bare = cli(
        &["run", &job, "-a", env!("PROBE_WASM"), "-t", "300000", "-o", out],
        &cache,
    );
    assert_eq!(bare.status.code(), Some(2));
    assert_stderr_has(&bare, "give a unit");
    let huge = cli(
        &[
            "run",
            &job,
            "-a",
            env!("PROBE_WASM"),
            "--max-memory",
            "17592186044417",
            "-o",
            out,
        ],
        &cache,
    );
    assert_eq!(huge.status.code(), Some(2));
    assert_stderr_has(&huge, "--max-memory must be between 1 and 4096 MiB");

    // -S reads the state from stdin, -O writes the output to stdout, -l none is silent.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_adaptor-host"))
        .args([
            "run",
            &job,
            "-a",
            env!("PROBE_WASM"),
            "-S",
            "-O",
            "-l",
            "none",
            "-t",
            "30s",
        ])
        .env("ADAPTOR_HOST_CACHE_DIR", &cache)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), br#"{"data": {"from": "stdin"}}"#).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let state: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(state["references"], json!([{"from": "stdin"}]));
    assert!(output.stderr.is_empty(), "{}", stderr(&output));
}

#[test]
fn start_end_and_only_select_workflow_steps() {
    let dir = tempfile::tempdir().unwrap();
    let step = |id: &str, next: Value| json!({"id": id, "adaptor": env!("PROBE_WASM"), "expression": [{"say": [id]}], "next": next});
    let wf = write_json(
        dir.path(),
        "wf.json",
        &json!({"steps": [step("a", json!({"b": "always"})), step("b", json!({"c": "always"})), step("c", json!(null))]}),
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["run", &wf];
        args.extend_from_slice(extra);
        let output = cli(&args, &dir.path().join("cache"));
        assert!(output.status.success(), "{}", stderr(&output));
        let state: Value = serde_json::from_slice(&output.stdout).unwrap();
        state["references"].as_array().unwrap().len()
    };
    assert_eq!(run(&[]), 3, "a, b and c");
    assert_eq!(run(&["--only", "b"]), 1);
    assert_eq!(run(&["--start", "b"]), 2, "b and c");
    assert_eq!(run(&["--end", "b"]), 2, "a and b");
    let unknown = cli(&["run", &wf, "--only", "z"], &dir.path().join("cache"));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no such step; steps: a, b, c"));
}
